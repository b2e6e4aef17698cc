"""How many messages a worker process takes at a time, by the kind of work it consumes.

taskhub's default is one per process (``worker_prefetch_multiplier = 1``): with acks
late, a message a busy process holds is one no other worker can start, and a long
report must never sit behind another. That costs short tasks a round trip to the broker
per message: on RabbitMQ a busy worker of no-op tasks ran at 0.58x Celery's defaults
(B7). A worker that consumes only short-task queues (``high``, ``normal``, a host's
own) takes ``SHORT_WORK`` per process instead, Celery's own default: what a dead
worker held comes back by itself (quorum queues requeue it; on Redis, liveness), and no
long task is among it. A worker that consumes ``low`` (reports, thumbnails) keeps 1.
"""

from typing import Any

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
    if LOW not in consumed_queues(worker.app):
        worker.prefetch_multiplier = SHORT_WORK
