"""Celery entry points. Each one unpacks ids, calls one service, and decides retry or fail.

Retried: what may work later (SMTP or network trouble, a locked database), with
exponential backoff and jitter, a bounded number of times. Failed at once: what never
will (a missing row, a broken image, a refused address). Queues are chosen in
``taskhub.queues``, by the names given here.
"""

from datetime import date, timedelta
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.signals import worker_ready
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from taskhub import conf, deliveries, emails, outbox, reports, retention, thumbnails
from taskhub.models import Image, Report


class DeadLettered(Exception):
    """The task came back too many times; it is failed instead of run again."""


class TaskhubTask(DjangoTask):
    """Base of every taskhub task: dead-letters a message that keeps killing workers,
    and tells the outbox that a message it published has started.

    Only a delivery the broker marks as redelivered is counted, and only a message
    carrying the outbox header is marked, so other tasks' runs pay nothing for this.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if outbox.came_from_outbox(self.request):
            outbox.mark_started(self.request.id)
        if (self.request.delivery_info or {}).get("redelivered"):
            limit = conf.get("MAX_DELIVERIES")
            count = deliveries.record_redelivery(self.request.id, self.name, args, kwargs, limit)
            if count is not None:
                raise DeadLettered(f"{self.name}[{self.request.id}] delivered {count} times")
        return super().__call__(*args, **kwargs)


def limits(family: str) -> dict[str, int]:
    limit = conf.time_limit(family)
    return {"soft_time_limit": limit.soft, "time_limit": limit.hard}


BACKOFF = {"retry_backoff": True, "retry_backoff_max": 300, "retry_jitter": True}
# An email's outcome is its SentEmail row: its task result, and its STARTED state, would
# be two more commits per email (B3). Failures are still stored
# (CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED) for the status page.
EMAIL_OPTIONS = {
    **limits("email"),
    "ignore_result": True,
    "track_started": False,
    **BACKOFF,
    "autoretry_for": (emails.EmailTemporarilyFailed, OperationalError),
    "max_retries": conf.get("EMAIL_MAX_RETRIES"),
    "rate_limit": conf.get("EMAIL_RATE_LIMIT"),
}
DATABASE_RETRY = {**BACKOFF, "autoretry_for": (OperationalError,), "max_retries": 3}


def absolute_url(path: str) -> str:
    return conf.get("SITE_URL").rstrip("/") + path


@shared_task(base=TaskhubTask, name="taskhub.welcome", **EMAIL_OPTIONS)
def welcome(username: str) -> str:
    return emails.send_welcome(username).value


@shared_task(base=TaskhubTask, name="taskhub.send_email", bind=True, **EMAIL_OPTIONS)
def send_email(self, to: str, template: str, context: dict[str, Any], key: str = "") -> str:
    """Any templated email. Without a key, the task id makes redeliveries send once."""
    return emails.send_once(
        key=key or f"task:{self.request.id}",
        kind=template,
        to=to,
        template=template,
        context=context,
    ).value


@shared_task(
    base=TaskhubTask, name="taskhub.make_thumbnails", **limits("thumbnails"), **DATABASE_RETRY
)
def make_thumbnails(image_id: int) -> dict[str, Any]:
    image = Image.objects.filter(pk=image_id, deleted_at__isnull=True).first()
    if image is None:
        raise LookupError(f"image {image_id} does not exist")
    image = thumbnails.make_thumbnails(image)
    return {"image": image.pk, "status": image.status, "thumbnails": image.thumbnails.count()}


@shared_task(
    base=TaskhubTask, name="taskhub.generate_report", **limits("reports"), **DATABASE_RETRY
)
def generate_report(report_id: int) -> dict[str, Any]:
    report = Report.objects.select_related("owner").filter(pk=report_id).first()
    if report is None:
        raise LookupError(f"report {report_id} does not exist")
    if not reports.claim(report):
        return {"report": report.pk, "status": report.status, "skipped": True}
    report = reports.generate(report)
    if report.owner and report.owner.email:
        send_email.delay(
            to=report.owner.email,
            template="report_ready",
            context={
                "kind": reports.KINDS[report.kind].title,
                "rows": report.row_count,
                "url": absolute_url(reverse("taskhub:report-download", args=[report.pk])),
            },
            key=f"report_ready:{report.pk}",
        )
    return {"report": report.pk, "status": report.status, "rows": report.row_count}


@shared_task(
    base=TaskhubTask, name="taskhub.send_daily_sales_report", **limits("reports"), **DATABASE_RETRY
)
def send_daily_sales_report(day: str = "") -> dict[str, Any]:
    """Yesterday's sales (in ``TIME_ZONE``), made once and emailed to the recipients."""
    when = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    report, made = reports.daily_sales(when)
    url = absolute_url(reverse("taskhub:report-download", args=[report.pk]))
    for recipient in conf.get("DAILY_REPORT_RECIPIENTS") if made else ():
        send_email.delay(
            to=recipient,
            template="daily_sales",
            context={"day": when.isoformat(), "rows": report.row_count, "url": url},
            key=f"daily_sales:{when.isoformat()}:{recipient}",
        )
    return {"report": report.pk, "day": when.isoformat(), "made": made}


@shared_task(base=TaskhubTask, name="taskhub.relay_outbox", **limits("maintenance"))
def relay_outbox() -> dict[str, int]:
    return outbox.relay_pending()


@worker_ready.connect
def relay_outbox_when_a_worker_starts(**kwargs: Any) -> None:
    """Whatever waited in the outbox while the broker was down goes out now."""
    relay_outbox.delay()


@shared_task(base=TaskhubTask, name="taskhub.purge_task_results", **limits("maintenance"))
def purge_task_results() -> int:
    return retention.purge_task_results(conf.get("RESULT_RETENTION_DAYS"))


@shared_task(base=TaskhubTask, name="taskhub.purge_expired_files", **limits("maintenance"))
def purge_expired_files() -> dict[str, int]:
    return retention.purge_expired_files(conf.get("FILE_RETENTION_DAYS"))
