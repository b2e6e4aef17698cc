"""The three queues and which task goes to which: the only place that says so.

A worker consumes the queues named by ``-Q``: ``celery -A project worker -Q high`` never
sees a ``low`` task. ``taskhub.celery.configure(app)`` puts ``route_task`` after the
host's own ``CELERY_TASK_ROUTES``, so a host's route for a taskhub task wins.
"""

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from taskhub import task_names

LOW = "low"
NORMAL = "normal"
HIGH = "high"

NAMES = (HIGH, NORMAL, LOW)

EXCHANGE = Exchange("taskhub", type="direct")
TASK_QUEUES = tuple(Queue(name, EXCHANGE, routing_key=name) for name in NAMES)

#: RabbitMQ: quorum queues (replicated across a cluster's nodes, a leader elected again
#: when its node goes), bound to a topic exchange: the type Celery's native delayed
#: delivery needs to hold ETA and countdown messages in the broker, not in a worker.
TOPIC_EXCHANGE = Exchange("taskhub.topic", type="topic")
QUORUM_QUEUES = tuple(
    Queue(name, TOPIC_EXCHANGE, routing_key=name, queue_arguments={"x-queue-type": "quorum"})
    for name in NAMES
)
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
#: kombu's Redis transports: plain, TLS, a Unix socket, and Redis Sentinel.
REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "sentinel")


def broker_scheme(broker_url: str | None) -> str:
    """``redis``, ``amqp``, ``filesystem``...: what taskhub's broker defaults go by."""
    return (broker_url or "").split(":", 1)[0]


def is_redis(broker_url: str | None) -> bool:
    """The one test of "this broker is Redis" (Sentinel included), for the transport
    options, liveness, the checks, priorities and health."""
    return broker_scheme(broker_url) in REDIS_SCHEMES


def for_broker(broker_url: str, host_default: Queue | None = None) -> tuple[Queue, ...]:
    """Quorum queues on RabbitMQ; on Redis and the others, plain ones. The host's default
    queue comes first, as the host declared it, unless it is one of taskhub's."""
    own = QUORUM_QUEUES if broker_scheme(broker_url) in AMQP_SCHEMES else TASK_QUEUES
    if host_default is None or host_default.name in NAMES:
        return own
    return (host_default, *own)


ROUTES: dict[str, str] = {
    task_names.WELCOME: HIGH,
    task_names.SEND_EMAIL: NORMAL,
    task_names.MAKE_THUMBNAILS: LOW,
    task_names.GENERATE_REPORT: LOW,
    task_names.SEND_DAILY_REPORTS: LOW,
    task_names.PURGE_TASK_RESULTS: LOW,
    task_names.PURGE_EXPIRED_FILES: LOW,
    task_names.RELAY_OUTBOX: HIGH,
    # Each message names its own queue (the Django task's queue_name); this is the fallback.
    task_names.RUN_DJANGO_TASK: NORMAL,
    # A periodic Django task's tick: it enqueues the task, which goes to its own queue.
    task_names.ENQUEUE_DJANGO_TASK: NORMAL,
}


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any):
    """Celery router: the queue of a taskhub task, or None to let the next router decide."""
    queue = ROUTES.get(name)
    return {"queue": queue} if queue else None


def host_default_queue(app: Celery) -> Queue:
    """The queue the host's own unrouted tasks go to (``celery`` unless it set
    ``task_default_queue``), declared exactly as Celery declares it when no
    ``task_queues`` are set: declaring taskhub's queues must not strand it."""
    conf = app.conf
    arguments = {"x-queue-type": "quorum"} if conf.task_default_queue_type == "quorum" else None
    return Queue(
        conf.task_default_queue,
        Exchange(conf.task_default_exchange, conf.task_default_exchange_type),
        routing_key=conf.task_default_routing_key,
        queue_arguments=arguments,
    )


def queue_names(app: Celery) -> tuple[str, ...]:
    """The queues ``app`` declares, as configured (the host may declare its own)."""
    queues = app.conf.task_queues
    return tuple(q.name for q in queues) if queues else (app.conf.task_default_queue,)
