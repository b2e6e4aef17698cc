"""Celery entry points. Each one unpacks ids, calls one service, and decides retry or fail.

Retried: what may work later (SMTP or network trouble, a locked database), with
exponential backoff and jitter, a bounded number of times. Failed at once: what never
will (a missing row, a broken image, a refused address). Queues are chosen in
``taskhub.queues``; time limits, retries and rate limits are read from ``TASKHUB_*``
settings when a task is sent or run, never frozen at import.
"""

from datetime import date, timedelta
from typing import Any

from celery import shared_task, uuid
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult
from celery.signals import worker_ready
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.utils import timezone

from taskhub import conf, deliveries, emails, outbox, reports, retention, thumbnails
from taskhub.celery import is_configured
from taskhub.models import Image, Report


def redelivered(request: Any) -> bool:
    """The broker marks a message it gives again after the run that had it is gone."""
    return bool((request.delivery_info or {}).get("redelivered"))


class DeadLettered(Exception):
    """The task came back too many times; it is failed instead of run again."""


class TaskhubTask(DjangoTask):
    """Base of every taskhub task.

    - Its time limits (of its ``family``) and retry limits are read on access.
    - It refuses to be sent by an app that ``taskhub.celery.configure`` never saw: the
      message would go to a queue no taskhub worker consumes, and stay there.
    - It dead-letters a message that keeps killing workers, and tells the outbox that a
      message it published has started. Only a delivery the broker marks as redelivered
      is counted, and only a message carrying the outbox header is marked, so other
      runs pay nothing for this.
    """

    family = "maintenance"

    @property
    def time_limit(self) -> int:
        return conf.time_limit(self.family).hard

    @property
    def soft_time_limit(self) -> int:
        return conf.time_limit(self.family).soft

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Send the task; when the broker cannot be reached, keep it in the outbox for the
        relay and return its result all the same: ``.delay()`` from a view never fails
        the request, nor loses the task, because the broker is down. (The outbox's own
        publishes, marked by its header, get the error: they keep their row anyway.)"""
        app = self._get_app()
        if not is_configured(app):
            raise ImproperlyConfigured(
                f"{self.name} was sent by a Celery app that taskhub.celery.configure(app) "
                "was not called on: add that line to your celery.py (see taskhub.E001)"
            )
        if app.conf.task_always_eager or outbox.HEADER in (options.get("headers") or {}):
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or uuid()
        try:
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        except outbox.BROKER_ERRORS as exc:
            outbox.keep(self, args, kwargs, task_id, options, exc)
            return self.AsyncResult(task_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if outbox.came_from_outbox(self.request):
            outbox.mark_started(self.request.id)
        if redelivered(self.request):
            limit = conf.get("MAX_DELIVERIES")
            count = deliveries.record_redelivery(self.request.id, self.name, args, kwargs, limit)
            if count is not None:
                raise DeadLettered(f"{self.name}[{self.request.id}] delivered {count} times")
        return super().__call__(*args, **kwargs)


class RetriedTask(TaskhubTask):
    """Retried (for the errors its subclass names) with exponential backoff and jitter,
    at most 5 min apart."""

    retry_backoff = True
    retry_backoff_max = 300
    retry_jitter = True


class DatabaseTask(RetriedTask):
    """Retried when the database is briefly unavailable (a lock, a failover)."""

    autoretry_for = (OperationalError,)
    max_retries = 3


class EmailTask(RetriedTask):
    """An email's outcome is its SentEmail row: its task result, and its STARTED state,
    would be two more commits per email (benchmark B3). Failures are still stored
    (``task_store_errors_even_if_ignored``) for the status page."""

    family = "email"
    ignore_result = True
    track_started = False
    autoretry_for = (emails.EmailTemporarilyFailed, OperationalError)

    @property
    def max_retries(self) -> int:
        return conf.get("EMAIL_MAX_RETRIES")

    @property
    def rate_limit(self) -> str | None:
        return conf.get("EMAIL_RATE_LIMIT")


@shared_task(base=EmailTask, name="taskhub.welcome")
def welcome(username: str) -> str:
    return emails.send_welcome(username).value


@shared_task(base=EmailTask, name="taskhub.send_email", bind=True)
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
    base=DatabaseTask,
    name="taskhub.run_django_task",
    bind=True,
    family="django_tasks",
    ignore_result=True,
    track_started=False,
)
def run_django_task(self, result_id: str) -> str:
    """A Django Tasks API task (``taskhub.backends.CeleryBackend``): its queue, priority
    and ETA come with the message; its outcome is its ``DjangoTaskResult`` row, so
    Celery's own result and STARTED state would be two more commits per task (B9).
    (Imported here: the Tasks API is an optional dependency, ``taskhub[tasks]``.)"""
    from taskhub import task_runs

    return task_runs.run(result_id, worker_id=self.request.hostname)


@shared_task(base=DatabaseTask, name="taskhub.make_thumbnails", family="thumbnails")
def make_thumbnails(image_id: int) -> dict[str, Any]:
    image = Image.objects.filter(pk=image_id, deleted_at__isnull=True).first()
    if image is None:
        raise LookupError(f"image {image_id} does not exist")
    image = thumbnails.make_thumbnails(image)
    return {"image": image.pk, "status": image.status, "thumbnails": image.thumbnails.count()}


def email_report_ready(report: Report) -> None:
    """Queue the owner's "your report is ready" email, in the report's transaction."""
    if report.owner and emails.email_address(report.owner):
        outbox.enqueue(send_email, **emails.report_ready_message(report))


@shared_task(base=DatabaseTask, name="taskhub.generate_report", family="reports", bind=True)
def generate_report(self, report_id: int) -> dict[str, Any]:
    report = Report.objects.select_related("owner").filter(pk=report_id).first()
    if report is None:
        raise LookupError(f"report {report_id} does not exist")
    if not reports.claim(report, takeover=redelivered(self.request)):
        return {"report": report.pk, "status": report.status, "skipped": True}
    try:
        report = reports.generate(report, on_done=email_report_ready)
    except reports.ReportCancelled:
        return {"report": report.pk, "status": "cancelled"}
    return {"report": report.pk, "status": report.status, "rows": report.row_count}


def email_daily_report(report: Report) -> None:
    """Queue the daily report's emails, in the report's transaction."""
    for message in emails.daily_report_messages(report, conf.get("DAILY_REPORT_RECIPIENTS")):
        outbox.enqueue(send_email, **message)


@shared_task(base=DatabaseTask, name="taskhub.send_daily_reports", family="reports")
def send_daily_reports(day: str = "") -> dict[str, Any]:
    """Yesterday's report of every kind registered as ``daily`` (in ``TIME_ZONE``),
    each made once and emailed to ``TASKHUB_DAILY_REPORT_RECIPIENTS``."""
    when = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    made = {}
    for kind in reports.kinds().values():
        if kind.daily:
            _, made[kind.name] = reports.daily(kind, when, on_done=email_daily_report)
    return {"day": when.isoformat(), "made": made}


@shared_task(base=TaskhubTask, name="taskhub.relay_outbox")
def relay_outbox() -> dict[str, int]:
    """The outbox's waiting and lost messages, after handing it the Django Tasks that
    were enqueued outside a transaction and never started (with ``CeleryBackend`` on)."""
    resent = 0
    if uses_celery_backend():
        from taskhub import backends  # the Tasks API is optional: taskhub[tasks]

        resent = backends.send_unstarted(timedelta(seconds=conf.get("OUTBOX_REDELIVER_AFTER")))
    return {**outbox.relay_pending(), "django_tasks_resent": resent}


def uses_celery_backend() -> bool:
    backends = getattr(settings, "TASKS", {}).values()
    return any(backend.get("BACKEND") == "taskhub.backends.CeleryBackend" for backend in backends)


@worker_ready.connect
def relay_outbox_when_a_worker_starts(**kwargs: Any) -> None:
    """Whatever waited in the outbox while the broker was down goes out now."""
    relay_outbox.delay()


@shared_task(base=TaskhubTask, name="taskhub.purge_task_results")
def purge_task_results() -> int:
    return retention.purge_task_results(conf.get("RESULT_RETENTION_DAYS"))


@shared_task(base=TaskhubTask, name="taskhub.purge_expired_files")
def purge_expired_files() -> dict[str, int]:
    return retention.purge_expired_files(conf.get("FILE_RETENTION_DAYS"))
