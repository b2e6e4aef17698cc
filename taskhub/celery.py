"""``configure(app)``: the one line a host project adds to its ``celery.py``.

::

    app = Celery("mysite")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    taskhub.celery.configure(app)
    app.autodiscover_tasks()

It gives the app taskhub's queues, routes, periodic jobs and safe delivery defaults,
without overriding anything the host set: taskhub's values sit *below* the host's
configuration (its ``CELERY_*`` settings, under new or old names, and any
``app.conf.update``) and above Celery's own defaults, so a host setting wins even when it
changes later (``override_settings``). Values that depend on others (the SQS
visibility timeout on the time limits) are computed when read.
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from celery import Celery
from django.conf import settings

from taskhub import conf
from taskhub.tasks_api import periodic
from taskhub.worker import configured, flower, green, queues, redis_broker, schedule
from taskhub.worker.cached_settings import cache_configuration
from taskhub.worker.liveness import RedisLiveness
from taskhub.worker.log import LOG_FORMAT

ROUTER = "taskhub.worker.queues.route_task"
#: Where the router lived before 0.2, as older READMEs told hosts to list it.
OLD_ROUTER = "taskhub.queues.route_task"
#: django-celery-results' database backend, whose old rows taskhub's nightly job purges.
DATABASE_RESULT_BACKEND = "django-db"

#: Tasks a worker runs on one database connection before Celery closes it (not gevent).
DB_REUSE_MAX = 100

#: SQS: at least this long, and at least twice the longest hard time limit.
MIN_VISIBILITY_TIMEOUT = 2 * 60 * 60

STATIC_DEFAULTS: dict[str, Any] = {
    "task_routes": (ROUTER,),
    # At-least-once: acknowledged after the task ran, given back if its worker dies.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    # A worker that loses the broker cannot acknowledge what it runs, and the broker
    # gives those messages again: the worker stops them, so a redelivery always means
    # the run that had it is gone and a report may be taken over (reports.lifecycle.claim).
    # Celery 6 makes this the default.
    "worker_cancel_long_running_tasks_on_connection_loss": True,
    # One message per process: a long report never sits on a message another worker
    # could run now. A worker of short tasks only takes more (taskhub.worker.prefetch).
    "worker_prefetch_multiplier": 1,
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    "task_eager_propagates": True,
    "broker_connection_retry_on_startup": True,
    "result_backend": DATABASE_RESULT_BACKEND,
    "result_extended": True,
    "task_track_started": True,
    "task_store_errors_even_if_ignored": True,
    # A pool process is replaced after this many tasks, or once past this many KiB:
    # no worker grows without bound (Pillow and big querysets fragment heaps). A
    # replacement forks a Django process; one per 1,000 tasks took 30% of a busy
    # worker's main process (benchmark B7), hence 10,000.
    "worker_max_tasks_per_child": 10_000,
    "worker_max_memory_per_child": 512 * 1024,
    # Celery's prefork pool, which also stops when its whole process group gets SIGTERM
    # (taskhub.worker.pool); -P threads and the others are unchanged.
    "worker_pool": "taskhub.worker.pool:TaskPool",
    # Celery's consumer, whose rate limits keep their rate with many messages held
    # (taskhub.worker.consumer).
    "worker_consumer": "taskhub.worker.consumer:Consumer",
    # What a task prints (the console email backend, say) is logged at INFO, not WARNING.
    "worker_redirect_stdouts_level": "INFO",
    # When Celery sets up the worker's logging itself: every line names its task.
    "worker_log_format": LOG_FORMAT,
    "worker_task_log_format": LOG_FORMAT,
}


def visibility_timeout() -> int:
    """SQS: longer than any task may run, so a running task is never handed to a second
    worker: at least 2 h, and twice the longest hard time limit."""
    return max(MIN_VISIBILITY_TIMEOUT, 2 * conf.longest_time_limit()[1].hard)


def result_expires(result_backend: str | None) -> timedelta | None:
    """How long a result is kept: on django-celery-results' database backend taskhub's
    nightly job purges old rows (Celery's cleanup would do it twice); any other backend
    (Redis, say) expires each result itself after ``RESULT_RETENTION_DAYS``."""
    if result_backend == DATABASE_RESULT_BACKEND:
        return None
    return timedelta(days=conf.get("RESULT_RETENTION_DAYS"))


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    """taskhub's transport options for ``broker_url`` when the host sets none.

    On Redis and RabbitMQ, a publisher that finds no broker gives up at once instead of
    retrying for seconds inside a web request: the outbox keeps the message for later.
    Workers and beat reconnect with their own, unbounded, retry loops.
    """
    scheme = queues.broker_scheme(broker_url)
    if queues.is_redis(broker_url):
        return dict(redis_broker.OPTIONS)
    if scheme == "sqs":
        return {"visibility_timeout": visibility_timeout()}
    if scheme in queues.AMQP_SCHEMES:
        # The broker confirms each message it has taken, so a publish that returns was
        # not lost on the way (a quorum queue confirms once a majority has it). A
        # publisher that finds no broker gives up at once, as on Redis.
        return {"confirm_publish": True, "max_retries": 0}
    return {}


class TaskhubDefaults(Mapping[str, Any]):
    """taskhub's defaults as one of the app configuration's maps, consulted only for
    keys the host did not set. Computed values are computed on every read."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.computed: dict[str, Callable[[], Any]] = {
            "broker_transport_options": lambda: broker_transport_options(self.app.conf.broker_url),
            "broker_transport": lambda: redis_broker.transport_for(
                self.app.conf.broker_url, self.app.conf.broker_use_ssl
            ),
            "task_queues": lambda: queues.for_broker(
                self.app.conf.broker_url, queues.host_default_queue(self.app)
            ),
            "timezone": lambda: settings.TIME_ZONE,
            "result_expires": lambda: result_expires(self.app.conf.result_backend),
            "beat_scheduler": schedule.scheduler,
            # Celery closes the database connection around every task unless told to
            # reuse it; with 32 email threads on PostgreSQL that was most of the worker's
            # time (B3). Not on gevent: a greenlet's connection dies with it.
            "CELERY_DB_REUSE_MAX": lambda: None if green.is_patched() else DB_REUSE_MAX,
        }

    def __getitem__(self, key: str) -> Any:
        if key in self.computed:
            return self.computed[key]()
        return STATIC_DEFAULTS[key]

    def __iter__(self) -> Iterator[str]:
        yield from STATIC_DEFAULTS
        yield from self.computed

    def __len__(self) -> int:
        return len(STATIC_DEFAULTS) + len(self.computed)


def configure(app: Celery) -> Celery:
    """Give ``app`` taskhub's queues, routes, periodic jobs and safe defaults, and its
    workers the liveness stamps of Redis (``taskhub.worker.liveness``); make
    ``celery -A <project> flower`` refuse to run without authentication. What a worker
    of ``app`` does when it starts is in ``taskhub.apps``."""
    flower.require_authentication()
    app.steps["consumer"].add(RedisLiveness)
    redis_broker.use_connection_class(app)
    app.on_after_finalize.connect(periodic.add_to_beat_schedule, sender=app, weak=False)
    if app.configured:  # type: ignore[attr-defined]  # celery-types lacks Celery.configured
        _install(app)
    else:
        app.on_after_configure.connect(_on_after_configure, sender=app, weak=False)
    configured.mark(app)
    return app


def _on_after_configure(sender: Celery, **kwargs: Any) -> None:
    _install(sender)


def set_by_host(app: Celery, key: str) -> bool:
    """Whether the host set ``key`` (under any of its names), rather than taskhub's
    defaults or Celery's."""
    app.conf[key]  # the first read configures the app
    view = app.conf
    assert view.maps is not None  # ChainMap.__init__ sets it
    for mapping in view.maps:
        if isinstance(mapping, TaskhubDefaults):
            return False
        if any(name in mapping for name in view._to_keys(key)):
            return True
    return False


def with_taskhub_router(routes: Any) -> tuple[Any, ...]:
    """The host's routes (``CELERY_TASK_ROUTES`` in any form Celery takes), then
    taskhub's router: the host's route for a task wins. A host that lists the router
    itself, by its name or its name before 0.2, keeps it where it put it."""
    if routes is None:
        routes = ()
    elif not isinstance(routes, list | tuple):
        routes = (routes,)
    routes = tuple(ROUTER if route == OLD_ROUTER else route for route in routes)
    return routes if ROUTER in routes else (*routes, ROUTER)


def _install(app: Celery) -> None:
    """Put taskhub's defaults just above Celery's own, below everything the host set;
    add taskhub's router after the host's routes, and the periodic jobs the host's
    schedule does not already name; keep Celery's reads of its configuration
    (``taskhub.worker.cached_settings``)."""
    view = app.conf
    assert view.maps is not None and view.defaults is not None  # ChainMap.__init__ sets both
    if not any(isinstance(m, TaskhubDefaults) for m in view.maps):
        defaults = TaskhubDefaults(app)
        view.defaults.insert(len(view.defaults) - 1, defaults)
        view.maps.insert(len(view.maps) - 1, defaults)
    if view.task_routes is not STATIC_DEFAULTS["task_routes"]:
        view.task_routes = with_taskhub_router(view.task_routes)
    beat_schedule = view.beat_schedule
    for name, entry in schedule.BEAT_SCHEDULE.items():
        beat_schedule.setdefault(name, entry)
    cache_configuration(view)
