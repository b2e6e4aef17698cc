"""The report tasks: one report on request, and every night the daily ones."""

from datetime import date, timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from taskhub import task_names
from taskhub.delivery.base import DatabaseTask, redelivered
from taskhub.models import Report
from taskhub.reports import lifecycle, notices
from taskhub.reports.registry import kinds


@shared_task(base=DatabaseTask, name=task_names.GENERATE_REPORT, family="reports", bind=True)
def generate_report(self: DatabaseTask, report_id: int) -> dict[str, Any]:
    report = Report.objects.select_related("owner").filter(pk=report_id).first()
    if report is None:
        raise LookupError(f"report {report_id} does not exist")
    if not lifecycle.claim(report, takeover=redelivered(self.request)):
        return {"report": report.pk, "status": report.status, "skipped": True}
    try:
        report = lifecycle.generate(report, on_done=notices.email_report_ready)
    except lifecycle.ReportCancelled:
        return {"report": report.pk, "status": "cancelled"}
    return {"report": report.pk, "status": report.status, "rows": report.row_count}


@shared_task(base=DatabaseTask, name=task_names.SEND_DAILY_REPORTS, family="reports")
def send_daily_reports(day: str = "") -> dict[str, Any]:
    """Yesterday's report of every kind registered as ``daily`` (in ``TIME_ZONE``),
    each made once and emailed to ``TASKHUB_DAILY_REPORT_RECIPIENTS``."""
    when = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    made = {}
    for kind in kinds().values():
        if kind.daily:
            _, made[kind.name] = lifecycle.make_daily(
                kind, when, on_done=notices.email_daily_report
            )
    return {"day": when.isoformat(), "made": made}
