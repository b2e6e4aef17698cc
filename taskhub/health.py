"""Is work flowing? Broker, workers, queue depths, beat and the outbox, in bounded time.

``check()`` is the one function behind ``GET /health/``, ``manage.py taskhub_status``
and the staff page. It never waits longer than about twice its timeout, even with the
broker down: the connection is given ``timeout`` to open and the workers ``timeout``
to answer the broadcast. Nothing in the answer names a host or a password.
"""

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import DatabaseError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu import Connection
from kombu.transport import virtual

from taskhub import conf, outbox
from taskhub.celery import queue_names
from taskhub.queues import broker_scheme


def queue_depth(connection: Connection, queue: str) -> int:
    """Messages waiting in ``queue``: LLEN on Redis, a file count on the filesystem broker,
    a passive declare on AMQP (a queue nobody declared yet holds nothing)."""
    virtual_transport = isinstance(connection.transport, virtual.Transport)
    with connection.channel() as channel:
        try:
            return channel.queue_declare(queue=queue, passive=not virtual_transport).message_count
        except connection.channel_errors:
            return 0


@dataclass
class QueueHealth:
    name: str
    depth: int | None
    workers: list[str]


@dataclass
class JobHealth:
    """``loaded`` is False until beat has started once and copied the job to its table."""

    name: str
    loaded: bool
    enabled: bool
    last_run_at: datetime | None


@dataclass
class Health:
    """``problems`` make the answer unhealthy (503); ``warnings`` are shown only."""

    broker: str
    broker_reachable: bool
    queues: list[QueueHealth]
    workers: dict[str, list[str]]
    beat: list[JobHealth]
    outbox_waiting: int
    outbox_oldest_seconds: int | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked_in_ms: int = 0

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, **asdict(self)}


def broker_facts(timeout: float) -> tuple[bool, dict[str, int | None], dict[str, list[str]], str]:
    """Reachable?, depth per queue, queues per worker, and why not when unreachable."""
    names = queue_names(current_app)
    depths: dict[str, int | None] = dict.fromkeys(names)
    try:
        with current_app.connection_for_write(connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            for queue in names:
                depths[queue] = queue_depth(connection, queue)
            inspect = current_app.control.inspect(timeout=timeout, connection=connection)
            answers = inspect.active_queues() or {}
    except Exception as exc:  # whatever it is, the broker cannot be used
        return False, depths, {}, type(exc).__name__
    workers = {name: sorted(q["name"] for q in queues) for name, queues in answers.items()}
    return True, depths, workers, ""


def beat_facts() -> list[JobHealth]:
    schedule = current_app.conf.beat_schedule
    rows = {t.name: t for t in PeriodicTask.objects.filter(name__in=list(schedule))}
    return [
        JobHealth(name, True, rows[name].enabled, rows[name].last_run_at)
        if name in rows
        else JobHealth(name, False, False, None)
        for name in schedule
    ]


def outbox_facts() -> tuple[int, int | None]:
    waiting = outbox.pending(timedelta(0))
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    age = None if oldest is None else int((timezone.now() - oldest).total_seconds())
    return waiting.count(), age


def check(timeout: float | None = None) -> Health:
    """Everything an operator asks first, and what is wrong with it."""
    started = time.monotonic()
    timeout = conf.get("HEALTH_TIMEOUT") if timeout is None else timeout
    reachable, depths, workers, broker_error = broker_facts(timeout)
    problems, warnings = [], []
    if not reachable:
        problems.append(f"broker unreachable ({broker_error})")
    queues = [
        QueueHealth(name, depth, sorted(w for w, qs in workers.items() if name in qs))
        for name, depth in depths.items()
    ]
    max_depth = conf.get("HEALTH_MAX_QUEUE_DEPTH")
    for queue in queues:
        if reachable and not queue.workers:
            problems.append(f"no worker consumes {queue.name!r}")
        if queue.depth is not None and queue.depth > max_depth:
            problems.append(f"{queue.name!r} holds {queue.depth} messages (over {max_depth})")
    try:
        beat = beat_facts()
        waiting, oldest = outbox_facts()
    except DatabaseError as exc:
        problems.append(f"database unreachable ({type(exc).__name__})")
        beat, waiting, oldest = [], 0, None
    if waiting and oldest is not None and oldest > conf.get("HEALTH_OUTBOX_MAX_AGE"):
        warnings.append(f"{waiting} outbox messages unpublished, the oldest for {oldest}s")
    if beat and not any(job.loaded for job in beat):
        warnings.append("beat has never started: no periodic job is in its table")
    warnings += [
        f"periodic job {job.name!r} is paused" for job in beat if job.loaded and not job.enabled
    ]
    return Health(
        broker=broker_scheme(current_app.conf.broker_url),
        broker_reachable=reachable,
        queues=queues,
        workers=workers,
        beat=beat,
        outbox_waiting=waiting,
        outbox_oldest_seconds=oldest,
        problems=problems,
        warnings=warnings,
        checked_in_ms=round((time.monotonic() - started) * 1000),
    )
