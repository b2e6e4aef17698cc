"""Service: CSV exports that stream from the database in constant memory, for every
report kind registered with ``register``.

A kind says which parameters it takes and which rows it yields: a ``QuerySet`` (of
``values_list``) or raw ``SQL``. ``generate`` streams those rows into a temporary file
(never a list of all rows): on PostgreSQL with ``COPY ... TO STDOUT``
(``taskhub.pg_copy``, used automatically when psycopg is installed), elsewhere row by
row; then it hands the file to taskhub's private storage (``taskhub.storage``), so a
retried report starts a new file instead of appending to a half-written one.

A host registers its own kinds, typically from its ``AppConfig.ready()``::

    reports.register(reports.ReportKind(
        name="orders", title="Orders", columns=("number", "created_at", "amount"),
        rows=lambda params: Order.objects.filter(
            created_at__range=reports.date_range(params)
        ).values_list("number", "created_at", "amount"),
    ))
"""

import csv
import io
import itertools
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from taskhub import conf, pg_copy
from taskhub.models import Report, WorkStatus

MAX_RANGE_DAYS = 3660
PROGRESS_UPDATES = 50
CHUNK_SIZE = 5000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ReportParamsError(ValueError):
    """The kind or the parameters of a report request are not acceptable."""


class ReportCancelled(Exception):
    """Someone cancelled the report while it was being made."""


@dataclass(frozen=True)
class SQL:
    """Rows from raw SQL, with placeholders (``%s``) for ``params``. Never format a
    request's values into ``sql``: pass them as ``params``."""

    sql: str
    params: Sequence[Any] = ()


Rows = QuerySet | SQL


def validate_date_range(params: Any) -> dict[str, str]:
    """``{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}``: both inclusive, at most
    ``MAX_RANGE_DAYS`` apart. The default parameters of a report kind."""
    if not isinstance(params, dict):
        raise ReportParamsError("params must be an object")
    unknown = set(params) - {"start", "end"}
    if unknown:
        raise ReportParamsError(f"unknown params: {sorted(unknown)}")
    dates = {}
    for name in ("start", "end"):
        value = params.get(name)
        if not isinstance(value, str):
            raise ReportParamsError(f"params.{name} is required, as YYYY-MM-DD")
        try:
            dates[name] = date.fromisoformat(value)
        except ValueError:
            raise ReportParamsError(f"params.{name}={value!r} is not a YYYY-MM-DD date") from None
        if dates[name] in (date.min, date.max):
            raise ReportParamsError(f"params.{name}={value!r} is out of range")
    if dates["end"] < dates["start"]:
        raise ReportParamsError("params.end is before params.start")
    if (dates["end"] - dates["start"]).days > MAX_RANGE_DAYS:
        raise ReportParamsError(f"the range is longer than {MAX_RANGE_DAYS} days")
    return {name: value.isoformat() for name, value in dates.items()}


def date_range(params: dict[str, str]) -> tuple[datetime, datetime]:
    """The half-open datetime interval, in the current time zone, of two inclusive dates."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(date.fromisoformat(params["start"]), time.min, tz)
    end = datetime.combine(date.fromisoformat(params["end"]) + timedelta(days=1), time.min, tz)
    return start, end


@dataclass(frozen=True)
class ReportKind:
    """What a report of this kind contains.

    ``rows(params)`` gets the parameters ``validate`` cleaned; it yields the columns
    ``header()`` names, in that order. A ``daily`` kind is made
    every night for the day before, and sent to ``TASKHUB_DAILY_REPORT_RECIPIENTS``.
    """

    name: str
    title: str
    columns: tuple[str, ...] | Callable[[], tuple[str, ...]]
    rows: Callable[[dict[str, Any]], Rows]
    validate: Callable[[Any], dict[str, Any]] = field(default=validate_date_range)
    daily: bool = False

    def header(self) -> tuple[str, ...]:
        """The CSV's header: ``columns``, or what it returns when it is a function (read
        when a report is made, for columns that depend on the project, like its user
        model's fields)."""
        return self.columns() if callable(self.columns) else self.columns


_registry: dict[str, ReportKind] = {}


def register(kind: ReportKind) -> ReportKind:
    """Make ``kind`` available to the API, the pages and the workers.

    Registering the same name twice replaces the kind (a host may replace taskhub's).
    """
    _registry[kind.name] = kind
    return kind


def kinds() -> dict[str, ReportKind]:
    return dict(_registry)


def get_kind(name: Any) -> ReportKind:
    if not isinstance(name, str) or name not in _registry:
        raise ReportParamsError(f"unknown report kind {name!r}; choose one of {sorted(_registry)}")
    return _registry[name]


def validate(kind: Any, params: Any) -> dict[str, Any]:
    """Clean the parameters of a report request of ``kind``, or ReportParamsError."""
    return get_kind(kind).validate(params)


def signup_columns() -> tuple[str, ...]:
    """The user model's login field, its address field and, if it has one,
    ``date_joined``: ``username,email,date_joined`` for Django's own model,
    ``email,date_joined`` for an email-login one."""
    model = get_user_model()
    names = dict.fromkeys([model.USERNAME_FIELD, model.get_email_field_name(), "date_joined"])
    present = {field.name for field in model._meta.get_fields()}
    return tuple(name for name in names if name in present)


def _signups(params: dict[str, str]) -> QuerySet:
    start, end = date_range(params)
    users = get_user_model()._default_manager.filter(date_joined__gte=start, date_joined__lt=end)
    return users.order_by("date_joined", "pk").values_list(*signup_columns())


def validate_signups(params: Any) -> dict[str, str]:
    """A date range, over a user model that records when each user joined."""
    if "date_joined" not in signup_columns():
        raise ReportParamsError("sign-up reports need a date_joined field on the user model")
    return validate_date_range(params)


register(ReportKind("signups", "Sign-ups", signup_columns, _signups, validate_signups))


def cell(value: Any) -> Any:
    """A CSV cell: text made inert in spreadsheets (OWASP CSV injection), and amounts
    with two decimals (SQLite sums decimals without their scale)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def sql_with_params(rows: Rows) -> tuple[str, Sequence[Any]]:
    if isinstance(rows, SQL):
        return rows.sql, tuple(rows.params)
    return rows.query.sql_with_params()


def count(rows: Rows) -> int:
    if isinstance(rows, QuerySet):
        return rows.count()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({rows.sql}) AS q", rows.params)  # noqa: S608
        return cursor.fetchone()[0]


def iterate(rows: Rows) -> Iterator[list[Any]]:
    """Every row as a list of CSV cells, fetched ``CHUNK_SIZE`` at a time."""
    if connection.vendor == "sqlite":
        yield from iterate_in_separate_queries(rows)
        return
    if isinstance(rows, QuerySet):
        for row in rows.iterator(chunk_size=CHUNK_SIZE):
            yield [cell(value) for value in row]
        return
    with connection.cursor() as cursor:
        cursor.execute(rows.sql, rows.params)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            for row in chunk:
                yield [cell(value) for value in row]


def iterate_in_separate_queries(rows: Rows) -> Iterator[list[Any]]:
    """On SQLite, one query per chunk, so that no read stays open while progress is
    written: in WAL mode, a connection whose read began before another connection's
    commit cannot write ("database is locked" at once, not after the busy timeout), and
    workers commit all the time. Rows added meanwhile may shift a chunk: SQLite is the
    development default; production runs on PostgreSQL, which streams."""
    for offset in itertools.count(0, CHUNK_SIZE):
        if isinstance(rows, QuerySet):
            chunk = list(rows[offset : offset + CHUNK_SIZE])
        else:
            with connection.cursor() as cursor:
                page = f"SELECT * FROM ({rows.sql}) AS q LIMIT %s OFFSET %s"  # noqa: S608
                cursor.execute(page, [*rows.params, CHUNK_SIZE, offset])
                chunk = cursor.fetchall()
        for row in chunk:
            yield [cell(value) for value in row]
        if len(chunk) < CHUNK_SIZE:
            return


def write_csv(
    header: Iterable[str],
    rows: Iterable[list[Any]],
    out: Any,
    total: int,
    on_progress: Callable[[int, int], None],
) -> int:
    """Write rows to ``out``, calling ``on_progress(done, total)`` at most ~50 times."""
    writer = csv.writer(out)
    writer.writerow(header)
    step = max(total // PROGRESS_UPDATES, 1)
    done = 0
    for done, row in enumerate(rows, start=1):
        writer.writerow(row)
        if done % step == 0:
            on_progress(done, total)
    return done


def report_file_name(report: Report) -> str:
    return f"reports/{report.pk}/{report.kind}-{report.pk}.csv"


def claim(report: Report, *, takeover: bool = False) -> bool:
    """Take ``report`` for this run, or answer False when another run has it or it is done.

    A report is claimed when pending or failed; when running, by a redelivery of its
    message (``takeover``), or once its run started longer ago than the reports' hard
    time limit. The broker redelivers a message only when the run that had it is gone:
    its worker died (on Redis, stopped re-stamping it: ``taskhub.liveness``) or lost the
    broker and cancelled it (``worker_cancel_long_running_tasks_on_connection_loss``).
    The conditional UPDATE lets exactly one of two concurrent deliveries win.
    """
    now = timezone.now()
    abandoned = now - timedelta(seconds=conf.time_limit("reports").hard)
    running = Q(status=WorkStatus.RUNNING)
    if not takeover:
        running &= Q(started_at__lt=abandoned)
    return bool(
        Report.objects.filter(pk=report.pk)
        .filter(Q(status__in=[WorkStatus.PENDING, WorkStatus.FAILED]) | running)
        .update(status=WorkStatus.RUNNING, started_at=now, progress=0, row_count=0, error="")
    )


def generate(
    report: Report,
    on_done: Callable[[Report], None] = lambda report: None,
) -> Report:
    """Build the CSV of a claimed ``report``; on any error, record it as failed and re-raise.

    ``on_done(report)`` runs in the transaction that marks the report done: what follows
    from it (an email through the outbox) is committed with it, or not at all. A report
    cancelled meanwhile stops at its next progress update, or at the end, leaving no
    file behind: ``ReportCancelled``.
    """
    running = Report.objects.filter(pk=report.pk, status=WorkStatus.RUNNING)
    storage = report.file.storage  # taskhub's private one (taskhub.storage)

    def on_progress(done: int, total: int) -> None:
        if not running.update(progress=min(99, done * 100 // max(total, 1)), row_count=done):
            raise ReportCancelled(f"report {report.pk} was cancelled")

    try:
        kind = get_kind(report.kind)
        rows = kind.rows(kind.validate(report.params))
        with tempfile.TemporaryFile() as raw:
            if pg_copy.available():
                sql, params = sql_with_params(rows)
                written = pg_copy.copy_csv(
                    sql, params, kind.header(), raw, on_progress, PROGRESS_UPDATES
                )
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                written = write_csv(kind.header(), iterate(rows), text, count(rows), on_progress)
                text.flush()
                text.detach()
            raw.seek(0)
            name = report_file_name(report)
            storage.delete(name)
            saved = storage.save(name, File(raw, name=name))
    except ReportCancelled:
        raise
    except Exception as exc:
        report.status, report.error = WorkStatus.FAILED, f"{type(exc).__name__}: {exc}"
        running.update(status=report.status, error=report.error)
        raise
    done = {"file": saved, "status": WorkStatus.DONE, "progress": 100, "row_count": written}
    done |= {"error": "", "finished_at": timezone.now()}
    with transaction.atomic():
        if not running.update(**done):
            storage.delete(saved)
            raise ReportCancelled(f"report {report.pk} was cancelled")
        report.refresh_from_db()
        on_done(report)
    return report


def daily(
    kind: ReportKind, day: date, on_done: Callable[[Report], None] = lambda report: None
) -> tuple[Report, bool]:
    """The one report of ``kind`` for ``day``, made now unless it already was.

    The report is found by its unique ``dedupe_key``, so a beat job fired twice, or two
    deliveries of it, produce one report; the second call answers ``made=False``.
    """
    report, _ = Report.objects.get_or_create(
        dedupe_key=f"daily:{kind.name}:{day.isoformat()}",
        defaults={
            "kind": kind.name,
            "params": {"start": day.isoformat(), "end": day.isoformat()},
        },
    )
    if not claim(report):
        return report, False
    return generate(report, on_done=on_done), True
