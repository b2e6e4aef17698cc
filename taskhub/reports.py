"""Service: CSV exports that stream from the database in constant memory.

A report kind says which parameters it takes and which rows it yields. ``generate``
streams those rows into a temporary file (never a list of all rows): on PostgreSQL with
``COPY ... TO STDOUT`` (``taskhub.pg_copy``), elsewhere through ``QuerySet.iterator()``;
then it hands the file to Django's storage, so a retried report starts a new
file instead of appending to a half-written one.
"""

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from taskhub import conf, pg_copy
from taskhub.models import Order, Report, WorkStatus

MAX_RANGE_DAYS = 3660
PROGRESS_UPDATES = 50
CHUNK_SIZE = 5000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ReportParamsError(ValueError):
    """The kind or the parameters of a report request are not acceptable."""


@dataclass(frozen=True)
class ReportKind:
    title: str
    header: tuple[str, ...]
    queryset: Callable[[datetime, datetime], QuerySet]


def _orders(start: datetime, end: datetime) -> QuerySet:
    return (
        Order.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "pk")
        .values_list("number", "created_at", "customer_name", "customer_email", "amount")
    )


def _sales_by_day(start: datetime, end: datetime) -> QuerySet:
    return (
        Order.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(orders=Count("pk"), revenue=Sum("amount"))
        .order_by("day")
        .values_list("day", "orders", "revenue")
    )


def _signups(start: datetime, end: datetime) -> QuerySet:
    return (
        get_user_model()
        .objects.filter(date_joined__gte=start, date_joined__lt=end)
        .order_by("date_joined", "pk")
        .values_list("username", "email", "date_joined")
    )


KINDS: dict[str, ReportKind] = {
    "orders": ReportKind(
        "Orders", ("number", "created_at", "customer", "email", "amount"), _orders
    ),
    "sales_by_day": ReportKind("Sales by day", ("day", "orders", "revenue"), _sales_by_day),
    "signups": ReportKind("Sign-ups", ("username", "email", "date_joined"), _signups),
}


def validate(kind: Any, params: Any) -> dict[str, str]:
    """Clean report parameters: ``{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}``.

    Both dates are inclusive; the range is at most ``MAX_RANGE_DAYS`` long.
    """
    if kind not in KINDS:
        raise ReportParamsError(f"unknown report kind {kind!r}; choose one of {sorted(KINDS)}")
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


def cell(value: Any) -> Any:
    """A CSV cell: text made inert in spreadsheets (OWASP CSV injection), and amounts
    with two decimals (SQLite sums decimals without their scale)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _rows(queryset: QuerySet) -> Iterator[list[Any]]:
    for row in queryset.iterator(chunk_size=CHUNK_SIZE):
        yield [cell(value) for value in row]


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
    count = 0
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % step == 0:
            on_progress(count, total)
    return count


def report_file_name(report: Report) -> str:
    return f"reports/{report.pk}/{report.kind}-{report.pk}.csv"


def claim(report: Report) -> bool:
    """Take ``report`` for this run, or answer False when another run has it or it is done.

    A report is claimed when pending or failed, or when its run started longer ago than
    the reports' hard time limit (that worker died). The conditional UPDATE lets exactly
    one of two concurrent deliveries win.
    """
    now = timezone.now()
    abandoned = now - timedelta(seconds=conf.time_limit("reports").hard)
    return bool(
        Report.objects.filter(pk=report.pk)
        .filter(
            Q(status__in=[WorkStatus.PENDING, WorkStatus.FAILED])
            | Q(status=WorkStatus.RUNNING, started_at__lt=abandoned)
        )
        .update(status=WorkStatus.RUNNING, started_at=now, progress=0, row_count=0, error="")
    )


def generate(report: Report, storage: Any = default_storage) -> Report:
    """Build the CSV of a claimed ``report``; on any error, record it as failed and re-raise."""
    kind = KINDS[report.kind]

    def on_progress(done: int, total: int) -> None:
        Report.objects.filter(pk=report.pk).update(
            progress=min(99, done * 100 // max(total, 1)), row_count=done
        )

    try:
        queryset = kind.queryset(*date_range(validate(report.kind, report.params)))
        with tempfile.TemporaryFile() as raw:
            if pg_copy.available():
                rows = pg_copy.copy_csv(queryset, kind.header, raw, on_progress, PROGRESS_UPDATES)
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                rows = write_csv(kind.header, _rows(queryset), text, queryset.count(), on_progress)
                text.flush()
                text.detach()
            raw.seek(0)
            name = report_file_name(report)
            storage.delete(name)
            saved = storage.save(name, File(raw, name=name))
    except Exception as exc:
        report.status, report.error = WorkStatus.FAILED, f"{type(exc).__name__}: {exc}"
        report.save(update_fields=["status", "error"])
        raise
    report.file.name = saved
    report.status, report.progress, report.row_count = WorkStatus.DONE, 100, rows
    report.error, report.finished_at = "", timezone.now()
    report.save(update_fields=["file", "status", "progress", "row_count", "error", "finished_at"])
    return report


def daily_sales(day: date) -> tuple[Report, bool]:
    """The one "sales by day" report of ``day``, made now unless it already was.

    The report is found by its unique ``dedupe_key``, so a beat job fired twice, or two
    deliveries of it, produce one report; the second call answers ``made=False``.
    """
    report, _ = Report.objects.get_or_create(
        dedupe_key=f"daily_sales:{day.isoformat()}",
        defaults={
            "kind": "sales_by_day",
            "params": {"start": day.isoformat(), "end": day.isoformat()},
        },
    )
    if not claim(report):
        return report, False
    return generate(report), True
