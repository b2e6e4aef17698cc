"""Recent failures of both kinds of work, for the status page and ``taskhub_status``:
Celery tasks (their stored results) and Django Tasks API tasks (``DjangoTaskResult``)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django_celery_results.models import TaskResult

from taskhub.models import DjangoTaskResult


@dataclass(frozen=True)
class Failure:
    api: str  # "celery" or "django"
    task_id: str
    task: str
    error: str
    when: datetime | None


def celery_failures() -> QuerySet[TaskResult]:
    return TaskResult.objects.filter(status="FAILURE").order_by("-date_done")


def django_task_failures() -> QuerySet[DjangoTaskResult]:
    return DjangoTaskResult.objects.filter(status="FAILED").order_by("-finished_at")


def last_error(result: DjangoTaskResult) -> str:
    """The last line of the last attempt's traceback: ``ValueError: bad input``."""
    if not result.errors:
        return ""
    lines = result.errors[-1]["traceback"].strip().splitlines()
    return lines[-1] if lines else result.errors[-1]["exception_class_path"]


def recent(limit: int) -> list[Failure]:
    """The ``limit`` newest failures of either kind, newest first."""
    found = [
        Failure("celery", r.task_id, r.task_name or "", r.result or "", r.date_done)
        for r in celery_failures().only("task_id", "task_name", "result", "date_done")[:limit]
    ] + [
        Failure("django", r.id, r.task_path, last_error(r), r.finished_at)
        for r in django_task_failures()[:limit]
    ]
    found.sort(key=lambda f: f.when.timestamp() if f.when else 0, reverse=True)
    return found[:limit]
