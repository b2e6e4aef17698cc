"""How many messages a worker process takes at a time, by the kind of work it consumes.

taskhub's default is one per process (``worker_prefetch_multiplier = 1``): with acks
late, a message a busy process holds is one no other worker can start, and a long
report must never sit behind another. That costs short tasks a round trip to the broker
per message: on RabbitMQ a busy worker of no-op tasks ran at 0.58x Celery's defaults
(B7). A worker that consumes only short-task queues (``high``, ``normal``, a host's
own) takes ``SHORT_WORK`` per process instead, Celery's own default: what a dead
worker held comes back by itself (quorum queues requeue it; on Redis, liveness), and no
long task is among it. A worker that consumes ``low`` (reports, thumbnails) keeps 1.
A worker on the asyncio pool keeps 1 too: its ``-c`` is already the tasks it has in
flight at once (hundreds), and each message more it held would be memory, and work no
other worker can start.
"""

import sys
from typing import Any

from celery.concurrency import get_implementation

from taskhub.worker.queues import LOW

SHORT_WORK = 4


def consumed_queues(app: Any) -> set[str]:
    """The queues a worker of ``app`` consumes: those of ``-Q``, or all it declares."""
    return set(app.amqp.queues.consume_from)


def choose(worker: Any, host_chose: bool) -> None:
    """Set ``worker.prefetch_multiplier`` (a ``WorkController`` at ``worker_init``, before
    its consumer exists) by the kind of work it consumes, unless the host chose one in
    its settings (``host_chose``) or on the command line (a value other than its
    settings'). ``--prefetch-multiplier 1`` is the settings' own value: to keep 1 on a
    short-task worker, set ``CELERY_WORKER_PREFETCH_MULTIPLIER = 1``."""
    if host_chose or worker.prefetch_multiplier != worker.app.conf.worker_prefetch_multiplier:
        return
    if LOW not in consumed_queues(worker.app) and not runs_coroutines(worker.pool_cls):
        worker.prefetch_multiplier = SHORT_WORK


def runs_coroutines(pool_cls: Any) -> bool:
    """Whether ``pool_cls`` (a class, a ``module:Class`` path or an alias) is taskhub's
    asyncio pool (imported with the class, if it is one: greenlet is optional)."""
    implementation = get_implementation(pool_cls)
    module = sys.modules.get("taskhub.worker.async_pool")
    return (
        module is not None
        and isinstance(implementation, type)
        and issubclass(implementation, module.TaskPool)
    )
