"""Is work flowing? Broker, workers, queue depths, beat and the outbox, in bounded time.

``check()`` is the one function behind ``GET /health/``, ``manage.py taskhub_status``
and the staff page. It never waits longer than about twice its timeout, even with the
broker down (three times, once, after a worker was added): the connection is given
``timeout`` to open and the workers ``timeout`` to answer the broadcast. Nothing in the
answer names a host or a password.

A broadcast has no end: it waits its whole timeout for workers that may not exist. So
the check remembers (in Django's default cache) how many workers answered last time and
stops as soon as that many have: a few milliseconds when all is well. It waits the
whole timeout only when fewer answer (one died: the answer is then news), or asks again
in full when the first answers leave a queue uncovered (a new worker answered first);
the count is trusted for a minute, so a worker added is listed within one. The last
answer is kept too: the status page shows it at once (``last_known``), and asks itself
only when there is none recent, so a broker that is down does not hold the page.
"""

import contextlib
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone
from django_celery_results.models import TaskResult
from kombu import Connection
from kombu.transport import virtual

from taskhub import conf
from taskhub.delivery import outbox
from taskhub.worker import schedule
from taskhub.worker.queues import broker_scheme, queue_names


def queue_depth(connection: Connection, queue: str) -> int:
    """Messages waiting in ``queue``: LLEN on Redis, a file count on the filesystem broker,
    a passive declare on AMQP (a queue nobody declared yet holds nothing)."""
    virtual_transport = isinstance(connection.transport, virtual.Transport)
    with connection.channel() as channel:
        try:
            # kombu-stubs give StdChannel no queue_declare; every transport's channel has it.
            return channel.queue_declare(queue=queue, passive=not virtual_transport).message_count  # type: ignore[attr-defined]
        except connection.channel_errors:
            return 0


@dataclass
class QueueHealth:
    name: str
    depth: int | None
    workers: list[str]


@dataclass
class JobHealth:
    """A periodic job. With django-celery-beat's database scheduler, ``loaded`` is False
    until beat has started once and copied the job to its table, and ``enabled`` is
    False while it is paused; Celery's own scheduler runs every job it is given."""

    name: str
    task: str
    loaded: bool
    enabled: bool
    last_run_at: datetime | None

    @property
    def state(self) -> str:
        return "not loaded" if not self.loaded else "yes" if self.enabled else "paused"


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
    checked_at: datetime | None = None

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
            # kombu-stubs want an int timeout; kombu takes any number of seconds.
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)  # type: ignore[arg-type]
            for queue in names:
                depths[queue] = queue_depth(connection, queue)
            workers = worker_queues(connection, timeout, names)
    except Exception as exc:  # whatever it is, the broker cannot be used
        return False, depths, {}, type(exc).__name__
    return True, depths, workers, ""


def worker_queues(
    connection: Connection, timeout: float, names: Collection[str]
) -> dict[str, list[str]]:
    """The queues each live worker consumes, from a broadcast that stops once as many
    workers have answered as last time (see the module's docstring)."""
    expected = cached(WORKERS_SEEN)

    def ask(limit: int | None) -> dict[str, list[str]]:
        inspect = current_app.control.inspect(timeout=timeout, connection=connection, limit=limit)
        answers = inspect.active_queues() or {}
        return {name: sorted(q["name"] for q in queues) for name, queues in answers.items()}

    workers = ask(expected)
    covered = {queue for queues in workers.values() for queue in queues}
    if expected and len(workers) == expected and not covered.issuperset(names):
        workers = ask(None)
    remember(WORKERS_SEEN, len(workers))
    return workers


#: The cache keys of how many workers answered the last broadcast, and of the last
#: answer; for how long (s) they are trusted: a worker added since is seen within a minute.
WORKERS_SEEN = "taskhub:health:workers-seen"
LAST_REPORT = "taskhub:health:last"
REMEMBERED_FOR = 60


def cached(key: str) -> Any:
    """``key`` from the default cache; None when it is not there or the cache is down."""
    try:
        return cache.get(key)
    except Exception:  # a cache server that is down only makes the check slower
        return None


def remember(key: str, value: Any) -> None:
    with contextlib.suppress(Exception):  # as above: the cache is an optimisation only
        cache.set(key, value, timeout=REMEMBERED_FOR)


def beat_facts() -> list[JobHealth]:
    """Every job of the app's schedule, with its last run: the later of the database
    scheduler's own record (written every few minutes) and its task's newest result."""
    jobs = current_app.conf.beat_schedule
    tasks = {entry["task"] for entry in jobs.values()}
    results = dict(
        TaskResult.objects.filter(task_name__in=tasks)
        .values("task_name")
        .annotate(last=Max("date_created"))
        .values_list("task_name", "last")
    )
    rows = database_rows(list(jobs))
    facts = []
    for name, entry in jobs.items():
        last_result = results.get(entry["task"])
        if rows is None:
            facts.append(JobHealth(name, entry["task"], True, True, last_result))
            continue
        row = rows.get(name)
        runs = [t for t in (row and row.last_run_at, last_result) if t]
        enabled = row is not None and row.enabled
        facts.append(
            JobHealth(name, entry["task"], row is not None, enabled, max(runs, default=None))
        )
    return facts


def database_rows(names: list[str]) -> dict[str, Any] | None:
    """The database scheduler's rows of these jobs, or None when another scheduler runs
    them (django-celery-beat is optional: imported only when it is the scheduler)."""
    if not schedule.is_database_scheduler(current_app.conf.beat_scheduler):
        return None
    from django_celery_beat.models import PeriodicTask

    return {row.name: row for row in PeriodicTask.objects.filter(name__in=names)}


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
    report = Health(
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
        checked_at=timezone.now(),
    )
    remember(LAST_REPORT, report)
    return report


def last_known(max_age: timedelta) -> Health | None:
    """The last check's answer, from any process sharing the cache, if it is at most
    ``max_age`` old; None otherwise."""
    report = cached(LAST_REPORT)
    if not isinstance(report, Health) or report.checked_at is None:
        return None
    return report if timezone.now() - report.checked_at <= max_age else None
