"""``make run``: the Procfile under honcho, with a stop grace a Celery worker can keep.

On Ctrl-C honcho sends SIGTERM to every process, then SIGKILLs whatever is still running
5 s after the first one stopped: a constant (``honcho.manager.KILL_WAIT``) it has no
option for. A Celery worker's warm shutdown waits for the tasks it is running, and even
an idle prefork worker on the embedded broker needs 6-9 s (a 2 s blocking drain, then
billiard joins its pool threads and children, which sleep up to 1 s each). So the grace
is ``RUN_GRACE`` seconds, 30 unless set, the ``stop_grace_period`` docker-compose.yml
gives the workers.
"""

import os
import sys

import honcho.manager
from honcho.command import main

DEFAULT_GRACE = 30


def grace() -> int:
    value = os.environ.get("RUN_GRACE", str(DEFAULT_GRACE))
    if not value.isdigit():
        raise SystemExit(f"RUN_GRACE must be a whole number of seconds, not {value!r}")
    return int(value)


if __name__ == "__main__":
    honcho.manager.KILL_WAIT = grace()
    main(["start", "-f", "Procfile", *sys.argv[1:]])
