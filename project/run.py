"""``make run``: the Procfile under honcho, stopped the way a process supervisor stops.

On Ctrl-C honcho stops every process, and it does two things a Celery worker does not
survive well:

- It sends SIGTERM to each process's whole group, so a prefork worker's pool processes
  die at the same time as their parent's warm shutdown begins: the tasks they were
  running are cut short and come back, instead of finishing. (One of them could also
  die holding the pool's queue lock, and the main process then waited on it forever:
  ``taskhub.worker.pool`` now bounds that wait.) Here SIGTERM goes to the main process
  only, as systemd (``KillMode=mixed``), Docker and Kubernetes send it; the worker then
  lets its tasks finish and stops its pool itself (10 stops in 10 took 6.0-6.2 s).
- It SIGKILLs whatever is still running 5 s after the first process stopped. A warm
  shutdown waits for the tasks that are running, and even an idle prefork worker on the
  embedded broker takes about 6 s (a 2 s blocking drain, then billiard joins its pool).
  Here the grace is ``RUN_GRACE`` seconds (30 unless set), the ``stop_grace_period``
  docker-compose.yml gives the workers. Past it, the whole group is SIGKILLed.

honcho offers no option for either, so both are set on its manager module before it
starts. The Procfile ``exec``s each command, so the process honcho holds is the program
itself, not a shell in front of it.

Ctrl-C is the way to stop it, so it ends quietly, with exit status 0. A terminal sends
Ctrl-C's SIGINT to its whole foreground process group, ``make`` included, and ``make``
then reports "Interrupt" and fails. So in a terminal this process takes the foreground
in a process group of its own (as a shell's job control does) and gives it back on exit.
"""

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

import honcho.manager
from honcho.command import main

DEFAULT_GRACE = 30


def grace() -> int:
    value = os.environ.get("RUN_GRACE", str(DEFAULT_GRACE))
    if not value.isdigit():
        raise SystemExit(f"RUN_GRACE must be a whole number of seconds, not {value!r}")
    return int(value)


class MainProcessFirst(honcho.manager.ProcessManager):
    """SIGTERM to the main process only; SIGKILL (honcho's, after the grace) to the
    whole group."""

    def terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def set_foreground(terminal: int, group: int) -> None:
    """Make ``group`` the terminal's foreground (SIGTTOU, which a background group gets
    for this, is ignored meanwhile)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


@contextlib.contextmanager
def own_foreground_group() -> Iterator[None]:
    """Ctrl-C for this process alone while it runs, when it runs in the foreground of
    a terminal; nothing otherwise."""
    if sys.stdin is None or not os.isatty(sys.stdin.fileno()):
        yield
        return
    terminal = sys.stdin.fileno()
    if os.tcgetpgrp(terminal) != os.getpgrp():
        yield
        return
    caller = os.getpgrp()
    os.setpgid(0, 0)
    set_foreground(terminal, os.getpgrp())
    # Ctrl-Z would stop this group alone, and make's shell would never get the terminal
    # back: the stack stops with Ctrl-C only.
    suspend = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, suspend)
        set_foreground(terminal, caller)


def run(arguments: list[str]) -> int:
    """honcho's exit status, except 0 for a stop by Ctrl-C (honcho's 130)."""
    honcho.manager.KILL_WAIT = grace()
    honcho.manager.ProcessManager = MainProcessFirst
    try:
        main(["start", "-f", "Procfile", *arguments])
    except SystemExit as stop:
        code = stop.code or 0
        if not isinstance(code, int):
            return 1
        return 0 if code == 128 + signal.SIGINT else code
    return 0


if __name__ == "__main__":
    with own_foreground_group():
        status = run(sys.argv[1:])
    sys.exit(status)
