"""Redis: a dead worker's messages run elsewhere in seconds; a live worker's, never.

kombu's Redis transport keeps each unacknowledged message in a hash, with the time it
was delivered in a sorted set (``unacked_index``). Every worker sweeps that set and
puts back on its queue any message older than ``visibility_timeout``. With one fixed
timeout, a killed worker's tasks wait that long (Celery's usual advice is hours), and a
task that runs longer than it is handed to a second worker while the first still runs.

Here the timeout is short (``taskhub.worker.redis_broker.VISIBILITY_TIMEOUT``) and each worker
proves it is alive by re-stamping, every quarter of it, the messages it holds: running,
reserved and ETA. A live worker's messages are never old, however long they run; a
dead (or cut-off) worker's stop being re-stamped, and the next sweep of any worker
restores them. The stamp is a ``ZADD XX`` on kombu's own index, from the worker's event
loop: nothing to fork in kombu, no key of taskhub's own.
"""

import logging
import time
from typing import Any

from celery import bootsteps

logger = logging.getLogger(__name__)

#: Stamps per visibility timeout: three may be missed before a live worker's message
#: is taken for a dead one's.
STAMPS_PER_TIMEOUT = 4


def stamp(qos: Any) -> int:
    """Mark every message ``qos`` holds unacknowledged as delivered now; how many.

    ``qos._delivered`` is kombu's own record of what this channel holds unacknowledged
    (the virtual transport's QoS); ``XX`` leaves alone a tag acknowledged meanwhile.
    """
    tags = list(qos._delivered)
    if not tags:
        return 0
    with qos.pipe_or_acquire() as pipe:
        pipe.zadd(qos.unacked_index_key, dict.fromkeys(tags, time.time()), xx=True)
        pipe.execute()
    return len(tags)


def stamp_or_log(channel: Any) -> None:
    """A timer callback must not raise: a broker that is down is the consumer's to
    handle (it reconnects, and restores what it held)."""
    transport = channel.connection
    try:
        stamp(channel.qos)
    except (*transport.connection_errors, *transport.channel_errors) as exc:
        logger.warning("could not re-stamp the messages this worker holds: %s", exc)


def sweep(channel: Any) -> None:
    """Put back on their queues the messages no live worker has stamped for a
    visibility timeout (kombu's own sweep; it logs what it cannot reach)."""
    channel.connection.cycle.maybe_restore_messages()


class RedisLiveness(bootsteps.StartStopStep):
    """A consumer step (``taskhub.celery.configure`` adds it): on Redis, re-stamp the
    messages of the task consumer's channel every quarter of its visibility timeout.
    Restarted with the consumer, so a reconnection stamps the new channel.

    A worker without an event loop (a green pool: ``-P gevent``) also sweeps on a timer.
    kombu sweeps on the event loop's timer, or else only after a poll that found
    nothing; a waiting ``BRPOP`` always answers, if only that it timed out, so such a
    worker never swept, and a dead worker's messages stayed unacknowledged for good."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timers: list[Any] = []

    def start(self, consumer: Any) -> None:
        if consumer.connection.transport.driver_type != "redis":
            return
        channel = consumer.task_consumer.channel
        interval = channel.visibility_timeout / STAMPS_PER_TIMEOUT
        self.timers.append(consumer.timer.call_repeatedly(interval, stamp_or_log, (channel,)))
        if consumer.hub is None:
            every = channel.unacked_restore_interval
            self.timers.append(consumer.timer.call_repeatedly(every, sweep, (channel,)))

    def stop(self, consumer: Any) -> None:
        while self.timers:
            self.timers.pop().cancel()

    shutdown = stop
