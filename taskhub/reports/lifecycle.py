"""Service: a report's life. Requested (its parameters checked, its row saved and its
task queued, together), claimed by one run, generated into taskhub's private storage
(``taskhub.storage``) in constant memory, and done, failed or cancelled (by its owner or
staff: ``cancel_report``).

``generate`` streams the kind's rows into a temporary file (never a list of all rows):
on PostgreSQL with ``COPY ... TO STDOUT`` (``taskhub.reports.pg_copy``, used
automatically when psycopg is installed), elsewhere row by row
(``taskhub.reports.csv_writer``); then it hands the file to the storage, so a retried
report starts a new file instead of appending to a half-written one.
"""

import io
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from taskhub import conf, task_names
from taskhub.actions import ActionRefused, record
from taskhub.delivery import outbox
from taskhub.models import OperatorAction, Report, WorkStatus
from taskhub.reports import csv_writer, pg_copy
from taskhub.reports.registry import ReportKind, ReportParamsError, get_kind, validate

FAILED_ON_OUR_SIDE = (
    "This report could not be made because of an error on our side. Try again later."
)


class ReportCancelled(Exception):
    """Someone cancelled the report while it was being made."""


def request_report(owner: Any, kind: Any, params: Any) -> Report:
    """A report of ``kind`` for ``owner``, saved with its task queued (through the
    outbox, in one transaction); ``ReportParamsError`` when the kind or the parameters
    are not acceptable (a host kind's ``validate`` may raise any ``ValueError``)."""
    try:
        cleaned = validate(kind, params)
    except ReportParamsError:
        raise
    except ValueError as exc:
        raise ReportParamsError(str(exc)) from exc
    with transaction.atomic():
        report = Report.objects.create(owner=owner, kind=kind, params=cleaned)
        outbox.enqueue(task_names.GENERATE_REPORT, report.pk)
    return report


def report_file_name(report: Report) -> str:
    return f"reports/{report.pk}/{report.kind}-{report.pk}.csv"


def claim(report: Report, *, takeover: bool = False) -> bool:
    """Take ``report`` for this run, or answer False when another run has it or it is done.

    A report is claimed when pending or failed; when running, by a redelivery of its
    message (``takeover``), or once its run started longer ago than the reports' hard
    time limit. The broker redelivers a message only when the run that had it is gone:
    its worker died (on Redis, stopped re-stamping it: ``taskhub.worker.liveness``) or lost the
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

    The parameters are checked again: a row written some other way (the admin, the
    daily job, a kind changed since) fails with the reason rather than querying with them.

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
                sql, params = csv_writer.sql_with_params(rows)
                written = pg_copy.copy_csv(
                    sql, params, kind.header(), raw, on_progress, csv_writer.PROGRESS_UPDATES
                )
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                rows_out = csv_writer.iterate(rows)
                total = csv_writer.count(rows)
                written = csv_writer.write_csv(kind.header(), rows_out, text, total, on_progress)
                text.flush()
                text.detach()
            raw.seek(0)
            name = report_file_name(report)
            storage.delete(name)
            saved = storage.save(name, File(raw, name=name))
    except ReportCancelled:
        raise
    except Exception as exc:
        report.status, report.error = WorkStatus.FAILED, failure_for_people(exc)
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


def failure_for_people(error: Exception) -> str:
    """What the report's owner reads: the reason when it is theirs to fix (its
    parameters), else that it failed on our side. The error itself is raised on, to the
    worker's log and the staff pages (the task's failure record)."""
    return str(error) if isinstance(error, ReportParamsError) else FAILED_ON_OUR_SIDE


def report_target(report: Report) -> str:
    """How an ``OperatorAction`` names ``report``."""
    return f"report {report.pk}"


def cancel_report(report: Report, actor: Any) -> Report:
    """Cancel a pending or running report (its owner or staff), once; ``ActionRefused``
    when it has finished. A running one stops at its next progress update (within
    seconds) and deletes its partial file."""
    cancellable = [WorkStatus.PENDING, WorkStatus.RUNNING]
    with transaction.atomic():
        changed = Report.objects.filter(pk=report.pk, status__in=cancellable).update(
            status=WorkStatus.CANCELLED, finished_at=timezone.now(), error="cancelled"
        )
        if not changed:
            report.refresh_from_db()
            raise ActionRefused(f"This report is {report.status}: it cannot be cancelled.")
        record(OperatorAction.Verb.CANCEL, report_target(report), actor, "", once=True)
    report.refresh_from_db()
    return report


def cancelled_by(report: Report) -> str | None:
    """Who cancelled ``report``, as its owner may be told: ``"owner"`` or ``"staff"``
    (never a staff member's name or address); None when it was not cancelled."""
    if report.status != WorkStatus.CANCELLED:
        return None
    action = OperatorAction.objects.filter(
        verb=OperatorAction.Verb.CANCEL, target=report_target(report)
    ).first()
    if action is not None and action.actor_id is not None and action.actor_id == report.owner_id:
        return "owner"
    return "staff"


def make_daily(
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
