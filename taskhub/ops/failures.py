"""Recent failures of both kinds of work, for the status page and ``taskhub_status``:
taskhub's Celery tasks (``TaskFailure`` rows, which the worker writes itself, whatever
the result backend) and Django Tasks API tasks (``DjangoTaskResult``)."""

import json
import logging
import traceback as tb
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Task
from django.db import DatabaseError
from django.db.models import QuerySet

from taskhub import task_names
from taskhub.models import DjangoTaskResult, TaskFailure

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    api: str  # "celery" or "django"
    task_id: str
    task: str
    error: str
    when: datetime | None


def json_safe(value: Any) -> Any:
    """Arguments as stored: JSON as they came (messages are JSON only); an eager call's
    odd value as its text rather than a lost record."""
    return json.loads(json.dumps(value, default=str))


def record(
    sender: Task | None = None,
    task_id: str = "",
    exception: BaseException | None = None,
    args: Any = (),
    kwargs: Any = None,
    einfo: Any = None,
    **extra: Any,
) -> None:
    """``task_failure`` receiver: one row per failed taskhub task (a second failure of
    the same id updates it). A database that is down loses the record, never the
    worker: the error is logged."""
    name = getattr(sender, "name", "") or ""
    if not name.startswith(task_names.PREFIX) or exception is None:
        return
    trace = str(einfo) if einfo else "".join(tb.format_exception(exception))
    try:
        TaskFailure.objects.update_or_create(
            task_id=task_id,
            defaults={
                "task_name": name,
                "args": json_safe(list(args or ())),
                "kwargs": json_safe(dict(kwargs or {})),
                "exception": type(exception).__name__,
                "message": str(exception)[:2000],
                "traceback": trace[-20_000:],
            },
        )
    except DatabaseError:
        logger.exception("could not record the failure of %s[%s]", name, task_id)


def celery_failures() -> QuerySet[TaskFailure]:
    return TaskFailure.objects.order_by("-failed_at")


def django_task_failures() -> QuerySet[DjangoTaskResult]:
    return DjangoTaskResult.objects.filter(status="FAILED").order_by("-finished_at")


def last_error(result: DjangoTaskResult) -> str:
    """The last line of the last attempt's traceback: ``ValueError: bad input``."""
    if not result.errors:
        return ""
    lines = result.errors[-1]["traceback"].strip().splitlines()
    return lines[-1] if lines else result.errors[-1]["exception_class_path"]


def message_of(error: str) -> str:
    """The message of ``ValueError: bad input``, for people: ``bad input`` (the whole
    line when it has no message)."""
    return error.partition(": ")[2] or error


def recent(limit: int) -> list[Failure]:
    """The ``limit`` newest failures of either kind, newest first."""
    found = [
        Failure("celery", f.task_id, f.task_name, f"{f.exception}: {f.message}", f.failed_at)
        for f in celery_failures()[:limit]
    ] + [
        Failure("django", r.id, r.task_path, last_error(r), r.finished_at)
        for r in django_task_failures()[:limit]
    ]
    found.sort(key=lambda f: f.when.timestamp() if f.when else 0, reverse=True)
    return found[:limit]
