"""Real worker processes of the demo project and brokers for integration tests (the
worker launcher itself, shared with the benchmarks, is ``tools.workers``)."""

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from kombu import Connection

from project.settings import filesystem_broker_options
from taskhub import celery as taskhub_celery
from taskhub.ops.health import queue_depth
from tools.workers import Worker, celery_worker, wait_for

if TYPE_CHECKING:
    from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/{db}"

#: Redis: redeliver what no live worker has re-stamped for 8 s (taskhub.worker.liveness:
#: every 2 s), sweeping every second: the shortest timeout the checks allow
#: (taskhub.E003), to keep the fault tests short. The test of how soon a killed
#: worker's tasks come back uses the shipped settings.
SHORT_VISIBILITY = {
    "CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(
        {"visibility_timeout": 8, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
    ),
}


def database_url() -> str:
    """The test database, as a URL a worker process can open."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def broker_transport_options(url: str, var_dir: Path) -> dict:
    """What a worker of the demo project uses for ``url``: the project's folders for the
    filesystem broker, taskhub's defaults for the others."""
    if url.startswith("filesystem:"):
        return filesystem_broker_options(var_dir)
    return taskhub_celery.broker_transport_options(url)


def broker_connection(url: str, var_dir: Path) -> Connection:
    return Connection(url, transport_options=broker_transport_options(url, var_dir))


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def queued_task_ids(url: str, queue: str) -> list[str]:
    """Task ids waiting in ``queue`` on Redis, in each of its priority steps' lists."""
    client = redis_client(url)
    lists = [key for key in client.keys(f"{queue}*") if client.type(key) == b"list"]
    return [json.loads(raw)["headers"]["id"] for key in lists for raw in client.lrange(key, 0, -1)]


def queue_length(url: str, var_dir: Path, queue: str) -> int:
    with broker_connection(url, var_dir) as conn:
        return queue_depth(conn, queue)


@contextmanager
def running_worker(
    queues: str,
    broker_url: str,
    var_dir: Path,
    *,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Worker]:
    """``celery -A project worker -Q <queues>`` against the test database, until exit."""
    process_env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": database_url(),
        "TASKHUB_VAR_DIR": str(var_dir),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(var_dir / "emails"),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    args = ("--concurrency", str(concurrency), "--include", "tests.probe_tasks", *extra_args)
    with celery_worker(
        sys.executable, "project", queues, ROOT, process_env, var_dir, args
    ) as worker:
        yield worker


def emails_sent(var_dir: Path) -> int:
    """Messages written by the file email backend of the workers (one file each)."""
    folder = var_dir / "emails"
    if not folder.exists():
        return 0
    return sum(f.read_text().count("\nMessage-ID: ") for f in folder.iterdir())


@contextmanager
def publishing_to(settings, url: str, var_dir: Path) -> Iterator[None]:
    """Make this process's Celery app (views, ``.delay()``) publish to ``url``."""
    from project.celery import app

    settings.CELERY_BROKER_URL = url
    if url.startswith("filesystem:"):
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(var_dir)
    elif hasattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS"):
        del settings.CELERY_BROKER_TRANSPORT_OPTIONS  # taskhub's defaults apply
    forget_broker(app)
    try:
        yield
    finally:
        forget_broker(app)


def forget_broker(app) -> None:
    """Forget pooled connections (as Celery does in a forked child) and the queues
    built for the broker (``app.amqp`` caches them; taskhub's depend on the broker)."""
    app._after_fork()
    app.__dict__.pop("amqp", None)


@contextmanager
def redis_database(number: int) -> Iterator[str]:
    """The URL of a Redis database of the test's own, flushed before and after."""
    url = REDIS_URL.format(db=number)
    client = redis_client(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()


def relayed_effects(folder: Path) -> int:
    """``tests.probe_tasks``' effects so far, after the outbox relay (which beat runs
    every 30 s) has had its turn: it publishes again what no worker started."""
    from taskhub.delivery import outbox
    from tests.probe_tasks import effects

    outbox.relay_pending()
    return len(effects(folder))


def through_a_redis_restart(
    server: "RedisServer",
    var_dir: Path,
    started: Callable[[], bool],
    done: Callable[[], bool],
    explain: Callable[[Worker], str] | None = None,
    concurrency: int = 2,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> None:
    """A ``normal`` worker on ``server``; once ``started()``, Redis is restarted; the
    worker runs until ``done()``, and never dies of it (kombu's Redis transport used to
    crash it: see taskhub.worker.redis_broker). Its warm stop lets a run still going end."""
    env = {**SHORT_VISIBILITY, **(env or {})}
    with running_worker("normal", server.url, var_dir, concurrency=concurrency,
                        env=env, extra_args=extra_args) as w:  # fmt: skip
        wait_for(started, 30, "work under way")
        server.stop()
        time.sleep(1)
        server.start()
        wait_for(
            lambda: done() or w.process.poll() is not None,
            60,
            "the work done after the restart",
            explain and (lambda: explain(w)),
        )
        assert w.process.poll() is None, f"the worker died:\n{w.log()[-4000:]}"


def outboxed_through_a_redis_restart(
    settings: Any, var_dir: Path, folder: Path, task: Any, count: int, seconds: float,
    explain: Callable[[str, Worker], str] | None = None, **worker: Any,
) -> None:  # fmt: skip
    """``count`` runs of a probe ``task`` (``record``, ``await_record``) sent through the
    outbox, as views do, to a Redis server of the test's own, which is restarted under a
    ``normal`` worker (``through_a_redis_restart``, with ``worker``'s options) once a
    fifth of them is done. Returns when every effect exists."""
    from django.db import transaction

    from taskhub.delivery import outbox
    from tests.probe_tasks import effects
    from tests.redis_server import RedisServer

    server = RedisServer(var_dir / "redis")
    server.start()
    try:
        with publishing_to(settings, server.url, var_dir):
            with transaction.atomic():
                for i in range(count):
                    outbox.enqueue(task, str(folder), f"k{i:04d}", seconds)
            through_a_redis_restart(
                server, var_dir,
                started=lambda: len(effects(folder)) >= count // 5,
                done=lambda: relayed_effects(folder) == count,
                explain=explain and (lambda w: explain(server.url, w)),
                **worker,
            )  # fmt: skip
    finally:
        server.stop()


#: What ``running_worker`` raises for a worker that died before it was ready (of the
#: poison message, taken as soon as it connected).
WorkerDiedStarting = AssertionError


def poisoned_until_dead_lettered(
    url: str, var_dir: Path, folder: Path, extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """A poison message (``probe.crash``, which kills its process) and a task behind it,
    on a ``normal`` worker that the supervisor (here, this loop) starts again each time
    it dies, until the poison is dead-lettered after ``MAX_DELIVERIES`` runs and the task
    behind it has run. (The two can come back in either order after a death, so the task
    behind may run first.)"""
    from taskhub.models import DeliveryCount
    from tests.probe_tasks import crash, effects, record, runs

    with broker_connection(url, var_dir) as connection:
        crash.apply_async((str(folder), "poison"), task_id="poison", connection=connection)
        record.apply_async((str(folder), "after"), connection=connection)
    dead = DeliveryCount.objects.filter(task_id="poison", dead_lettered_at__isnull=False)

    def moved_on() -> bool:
        return bool(effects(folder)) and dead.exists()

    for _ in range(6):
        if moved_on():
            break
        with (
            contextlib.suppress(WorkerDiedStarting),
            running_worker("normal", url, var_dir, concurrency=10,
                           env={**SHORT_VISIBILITY, **(env or {})},
                           extra_args=extra_args) as worker,
        ):  # fmt: skip
            wait_for(lambda: worker.process.poll() is not None or moved_on(), 60,
                     "the worker to die of the poison, or the queue to move on")  # fmt: skip
    assert effects(folder) == ["after"], "the task queued after the poison ran"
    assert dead.exists(), "the poison was dead-lettered"
    assert runs(folder, "poison") == 3, "it ran MAX_DELIVERIES times, then never again"
