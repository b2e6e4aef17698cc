"""The prefork pool, with one hang at shutdown taken out.

On a broker without asynchronous I/O (the embedded filesystem broker, SQS), Celery's
prefork worker runs billiard's blocking ``Pool``. At exit it drains the pool's inqueue
under the queue's read lock, a semaphore the pool processes share, and waits for that
lock without a bound. When the whole process group gets SIGTERM (systemd's default
``KillMode=control-group``, honcho, ``kill -- -PGID``), a pool process can die holding
it: the signal lands between the lock's acquire and the ``with`` block that would have
released it (CPython's bpo-29988), or, after billiard's handler reset SIGTERM to its
default, a second one lands anywhere. The main process then waits forever in
``_help_stuff_finish``: 1 stop in 15 hung here (py-spy showed it), 5 in 20 in an earlier
check. Celery's asynchronous pool (Redis, RabbitMQ) already drains without the lock.

``configure(app)`` makes this the default ``worker_pool``: the same pool, which waits
for the lock a bounded time and, failing that, knows its holder is gone and skips the
drain (nothing is left to hand those messages to: the broker gives them back, as for
any worker that stops with them unacknowledged).
"""

import logging
import time
from typing import Any

from billiard.pool import Pool as BlockingPool
from celery.concurrency import prefork

logger = logging.getLogger(__name__)

#: A live pool process holds the read lock for one receive: microseconds.
LOCK_WAIT = 2.0


class StoppingBlockingPool(BlockingPool):
    @staticmethod
    def _help_stuff_finish(inqueue: Any, task_handler: Any, _pool: Any) -> None:
        """billiard's drain of the inqueue, with a bounded wait for its read lock."""
        if not inqueue._rlock.acquire(timeout=LOCK_WAIT):
            logger.warning(
                "a pool process died holding the pool's queue lock: stopping without "
                "draining (its unacknowledged messages go back to the broker)"
            )
            return
        while task_handler.is_alive() and inqueue._reader.poll():
            inqueue._reader.recv()
            time.sleep(0)


class TaskPool(prefork.TaskPool):
    """Celery's prefork pool (``-P prefork``), stopping on every broker."""

    BlockingPool = StoppingBlockingPool
