"""Service: the emails a report sends when it is done, queued through the outbox in the
transaction that marks it done (``lifecycle.generate``'s ``on_done``)."""

from typing import Any

from django.urls import reverse

from taskhub import conf, task_names
from taskhub.delivery import outbox
from taskhub.emails.sending import email_address
from taskhub.models import Report
from taskhub.reports.registry import get_kind


def absolute_url(path: str) -> str:
    return conf.get("SITE_URL").rstrip("/") + path


def download_url(report: Report) -> str:
    return absolute_url(reverse("taskhub:report-download", args=[report.pk]))


def report_ready_message(report: Report) -> dict[str, Any]:
    """The ``send_email`` arguments of the owner's "your report is ready" email."""
    return {
        "to": email_address(report.owner),
        "template": "report_ready",
        "context": {
            "kind": get_kind(report.kind).title,
            "rows": report.row_count,
            "url": download_url(report),
        },
        "key": f"report_ready:{report.pk}",
    }


def daily_report_messages(report: Report, recipients: list[str]) -> list[dict[str, Any]]:
    """The ``send_email`` arguments of a daily report's email to each recipient."""
    day = report.params["start"]
    context = {
        "title": get_kind(report.kind).title,
        "day": day,
        "rows": report.row_count,
        "url": download_url(report),
    }
    return [
        {
            "to": recipient,
            "template": "daily_report",
            "context": context,
            "key": f"daily:{report.kind}:{day}:{recipient}",
        }
        for recipient in recipients
    ]


def email_report_ready(report: Report) -> None:
    """Queue the owner's "your report is ready" email, if the owner has an address."""
    if report.owner and email_address(report.owner):
        outbox.enqueue(task_names.SEND_EMAIL, **report_ready_message(report))


def email_daily_report(report: Report) -> None:
    """Queue the daily report's email to each of ``TASKHUB_DAILY_REPORT_RECIPIENTS``."""
    for message in daily_report_messages(report, conf.get("DAILY_REPORT_RECIPIENTS")):
        outbox.enqueue(task_names.SEND_EMAIL, **message)
