"""A worker on a green pool (``-P gevent``): hundreds of tasks in one process, each in a
greenlet, for work that mostly waits on the network (email, webhooks).

What such a worker needs that a prefork or threads worker does not, found with B3 on
``-P gevent -c 200`` (1,753 failed acks and 644 redeliveries in two minutes before):

- **Connections to Redis.** Each greenlet acknowledges its own message, on a socket of
  the consumer channel's pool, which kombu caps at 10 (``max_connections``): the 11th
  raised ``MaxConnectionsError``, the ack was lost and the message came back. The cap
  becomes the concurrency plus ``HEADROOM`` (the deliveries, the sweep, the liveness
  stamps); the same for a Redis result backend and the producer pool.
- **Soft time limits.** Celery's gevent pool enforces the hard limit (``gevent.Timeout``)
  and drops the soft one without a word; here a ``gevent.Timeout`` raises
  ``SoftTimeLimitExceeded`` in the task's greenlet, as a soft limit does elsewhere.
- **Database connections.** Django's are per greenlet, so keeping one across tasks
  (``CELERY_DB_REUSE_MAX``) leaves one open per task: off in a patched process
  (``taskhub.celery``); Celery then closes each task's connection after it. With
  PostgreSQL, each running greenlet holds a connection: ``pool_warnings`` says so.
- **A killed greenlet.** When a worker loses the broker, Celery stops the tasks it runs
  (``worker_cancel_long_running_tasks_on_connection_loss``), so that the broker's
  redelivery is the only run left. Celery's gevent pool counts a killed greenlet as a
  success, and acknowledged its message once the broker was back: the task was lost
  (25 to 30 of 300 in a Redis restart). ``TaskPool`` counts it as terminated, so the
  message is left for the broker to deliver again; ``configure_worker`` puts it in
  place of Celery's.
- **Monkey-patching.** ``celery worker -P gevent`` patches the standard library before
  anything is imported; ``worker_pool = "gevent"`` in the settings does not, and its
  greenlets would block one another: ``configure_worker`` refuses to start it.
"""

import logging
import sys
from collections.abc import Mapping
from typing import Any

from billiard.einfo import ExceptionInfo
from celery.concurrency import get_implementation
from celery.concurrency.gevent import TaskPool as GeventPool
from celery.exceptions import SoftTimeLimitExceeded, Terminated
from celery.signals import task_postrun, task_prerun
from django.conf import settings

from taskhub.worker.queues import is_redis

logger = logging.getLogger(__name__)

#: Connections beyond one per greenlet: deliveries, the visibility sweep, liveness.
HEADROOM = 16
#: kombu's Redis transport's own cap on a channel's connections.
KOMBU_MAX_CONNECTIONS = 10


class TaskPool(GeventPool):
    """Celery's gevent pool, except that a task whose greenlet was killed ends as
    terminated (``Terminated``), not as a success: its message is not acknowledged."""

    @staticmethod
    def _make_killable_target(target: Any) -> Any:
        return killable(target)


def killable(target: Any) -> Any:
    """``target`` (Celery's tracer), ending as terminated when its greenlet is killed:
    its message is not acknowledged, and the broker delivers it again. (The asyncio
    pool's runs are greenlets too.)"""

    def killable_target(*args: Any, **kwargs: Any) -> Any:
        from greenlet import GreenletExit

        try:
            return target(*args, **kwargs)
        except GreenletExit:
            return terminated("its greenlet was killed")

    return killable_target


def terminated(reason: str) -> tuple[bool, ExceptionInfo, None]:
    """The tracer's answer for a run stopped from outside: failed, as ``Terminated``,
    which Celery does not acknowledge (the broker delivers the message again)."""
    try:
        raise Terminated(reason) from None
    except Terminated:
        return True, ExceptionInfo(), None


def is_gevent(pool_cls: Any) -> bool:
    """Whether ``pool_cls`` (a class, a ``module:Class`` path or an alias) is Celery's
    gevent pool or taskhub's. (eventlet, the other green pool, is left as it is.)"""
    return issubclass(get_implementation(pool_cls), GeventPool)


def is_patched() -> bool:
    """Whether gevent has patched this process's standard library (``-P gevent``)."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


def connections_needed(concurrency: int) -> int:
    return concurrency + HEADROOM


def configure_worker(worker: Any, host_set: Any) -> None:
    """At ``worker_init``, before its consumer connects: give a green worker of
    ``worker.concurrency`` greenlets the connections and soft limits it needs, or stop
    one whose process is not patched. ``host_set(key)`` says whether the host set a
    setting, which is then left as it is, with a warning when it is too small."""
    if not is_gevent(worker.pool_cls):
        return
    if not is_patched():
        raise SystemExit(
            "taskhub refuses to start this worker: its pool is gevent's but the process is "
            "not monkey-patched, so its greenlets would block one another. Start it with "
            "`celery -A <project> worker -P gevent`, not with worker_pool in the settings."
        )
    if get_implementation(worker.pool_cls) is GeventPool:
        worker.pool_cls = TaskPool
    conf = worker.app.conf
    need = connections_needed(worker.concurrency)
    if is_redis(conf.broker_url):
        options = dict(conf.broker_transport_options or {})
        given = options.get("max_connections", KOMBU_MAX_CONNECTIONS)
        if "max_connections" in options and host_set("broker_transport_options"):
            if given < need:
                logger.warning(
                    "broker_transport_options max_connections=%s is below the %s this "
                    "worker's %s greenlets need to acknowledge their messages: raise it "
                    "to %s, or acks fail and messages come back",
                    given, need, worker.concurrency, need,
                )  # fmt: skip
        else:
            conf.broker_transport_options = {**options, "max_connections": need}
    redis_results = str(conf.result_backend or "").startswith("redis")
    if redis_results and not host_set("redis_max_connections"):
        conf.redis_max_connections = need
    if not host_set("broker_pool_limit"):
        conf.broker_pool_limit = worker.concurrency
    task_prerun.connect(start_soft_limit, dispatch_uid="taskhub_green_soft_limit")
    task_postrun.connect(stop_soft_limit, dispatch_uid="taskhub_green_soft_limit_end")
    for warning in pool_warnings(worker.concurrency, settings.DATABASES):
        logger.warning("%s", warning)


def soft_limit_of(task: Any) -> float | None:
    """The task's soft time limit: its message's, else its own, else the app's."""
    sent = getattr(task.request, "timelimit", None) or (None, None)
    return sent[1] or task.soft_time_limit or task.app.conf.task_soft_time_limit


#: The soft limit of each task running in this process, by task id.
_soft_limits: dict[str, Any] = {}


def start_soft_limit(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    """``task_prerun`` (in the task's greenlet): raise ``SoftTimeLimitExceeded`` there
    once its soft limit has passed."""
    seconds = soft_limit_of(task) if task is not None else None
    if not seconds:
        return
    import gevent

    limit = gevent.Timeout(seconds, SoftTimeLimitExceeded(f"soft time limit ({seconds}s)"))
    limit.start()
    _soft_limits[task_id] = limit


def stop_soft_limit(task_id: str = "", **kwargs: Any) -> None:
    """``task_postrun``: the task ended within its soft limit."""
    limit = _soft_limits.pop(task_id, None)
    if limit is not None:
        limit.close()


def pool_warnings(concurrency: int, databases: Mapping[str, Any]) -> list[str]:
    """What taskhub cannot set for a green worker itself: a PostgreSQL database (of
    ``DATABASES``) without a connection pool takes one connection per running greenlet."""
    return [
        f"database {alias!r}: up to {concurrency} PostgreSQL connections at once, one per "
        f"greenlet. Give it a pool: DATABASES[{alias!r}]['OPTIONS']['pool'] = "
        f"{{'min_size': 2, 'max_size': 20}} (psycopg[pool]; CONN_MAX_AGE = 0)."
        for alias, database in databases.items()
        if database["ENGINE"].endswith("postgresql") and not database.get("OPTIONS", {}).get("pool")
    ]
