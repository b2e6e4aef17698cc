"""Django Tasks API results, stored in ``DjangoTaskResult``, and running one on a worker.

The service behind ``taskhub.run_django_task`` (``taskhub.tasks_api.tasks``): it knows
nothing of Celery. A run claims its stored result (READY, or RUNNING left behind by a
worker that died), calls the function (with its context when it takes one), stores the
return value or the error, and sends Django's ``task_started`` and ``task_finished``
signals. A result already SUCCESSFUL or FAILED is not run again, so a redelivered
message is a no-op.
"""

import json
import logging
import traceback
from dataclasses import replace
from inspect import iscoroutinefunction
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from taskhub.models import DjangoTaskResult
from taskhub.tasks_api.compat import (
    RESULT_FIELDS,
    SUCCEEDED,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    task_backends,
    task_finished,
    task_started,
)
from taskhub.tasks_api.options import hook_path, retry_delay
from taskhub.worker import coroutines

FINISHED = (SUCCEEDED, TaskResultStatus.FAILED)
logger = logging.getLogger(__name__)


class RetryLater(Exception):
    """The attempt failed with an error its task retries on (``retry_on``): the result
    is READY again, and the next attempt is due ``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"next attempt in {seconds:.1f} s")
        self.seconds = seconds


def defined_task(path: str) -> "Task[Any, Any]":
    """The Django task defined at ``path``: ``ImportError`` if nothing is there,
    ``TypeError`` if what is there is not a task."""
    defined = import_string(path)
    if not isinstance(defined, Task):
        raise TypeError(f"{path} is not a Django task (decorate it with @task)")
    return defined


def to_task_result(record: DjangoTaskResult, defined: Task | None = None) -> TaskResult:
    """The API's ``TaskResult`` for a stored row, its task as it was enqueued (``defined``
    when the caller has it at hand, saving an import per row). The task is rebuilt, and
    validated again, only where the row differs from its definition (``.using()``)."""
    defined = defined or defined_task(record.task_path)
    enqueued: dict[str, Any] = {
        "queue_name": record.queue_name,
        "priority": record.priority,
        "run_after": record.run_after,
        "backend": record.backend,
    }
    differs = any(getattr(defined, field) != value for field, value in enqueued.items())
    task = replace(defined, **enqueued) if differs else defined
    extra: dict[str, Any] = {"metadata": {}} if "metadata" in RESULT_FIELDS else {}
    result: TaskResult[Any, Any] = TaskResult(
        **extra,
        task=task,
        id=record.id,
        status=TaskResultStatus(record.status),
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        last_attempted_at=record.last_attempted_at,
        args=record.args,
        kwargs=record.kwargs,
        backend=record.backend,
        errors=[TaskError(**error) for error in record.errors],
        worker_ids=list(record.worker_ids),
    )
    object.__setattr__(result, "_return_value", record.return_value)
    return result


def claim(result_id: str, worker_id: str) -> DjangoTaskResult | None:
    """Mark the result RUNNING for this attempt; None if it already finished."""
    with transaction.atomic():
        # No ORDER BY (.first(), the model's ordering) and no .save() (its signals): once per
        # task, on the asyncio pool's loop thread, where every query holds up the others.
        locked = DjangoTaskResult.objects.select_for_update().filter(pk=result_id).order_by()
        record = next(iter(locked), None)
        if record is None:
            raise LookupError(f"no stored Django task result {result_id}")
        if record.status in FINISHED:
            return None
        now = timezone.now()
        record.status = TaskResultStatus.RUNNING
        record.started_at = record.started_at or now
        record.last_attempted_at = now
        record.worker_ids = [*record.worker_ids, worker_id]
        fields = ["status", "started_at", "last_attempted_at", "worker_ids"]
        locked.update(**{field: getattr(record, field) for field in fields})
    return record


def run(result_id: str, worker_id: str) -> str:
    """Run a stored task once; return its final status."""
    record = claim(result_id, worker_id)
    if record is None:
        return DjangoTaskResult.objects.values_list("status", flat=True).get(pk=result_id)
    result = to_task_result(record)
    sender = type(task_backends[record.backend])
    task_started.send(sender=sender, task_result=result)
    try:
        value = json.loads(json.dumps(call(result)))
    except Exception as exc:  # any error of the task is its outcome, as in Django
        record.errors = [*record.errors, error_of(exc)]
        delay = retry_delay(result.task, exc, attempts=len(record.worker_ids))
        if delay is not None:
            record.status = TaskResultStatus.READY
            if not still_running(record, "status", "errors"):
                return cancelled(record)
            raise RetryLater(delay) from exc
        record.status = TaskResultStatus.FAILED
    else:
        record.status = SUCCEEDED
        record.return_value = value
    record.finished_at = timezone.now()
    if not still_running(record, "status", "errors", "return_value", "finished_at"):
        return cancelled(record)
    task_finished.send(sender=sender, task_result=to_task_result(record))
    enqueue_hook(result.task, record)
    return record.status


def still_running(record: DjangoTaskResult, *fields: str) -> bool:
    """Write the run's outcome unless staff cancelled the result while it ran (which
    made it FAILED): a run that went on cannot bring it back."""
    running = DjangoTaskResult.objects.filter(pk=record.pk, status=TaskResultStatus.RUNNING)
    return bool(running.update(**{field: getattr(record, field) for field in fields}))


def cancelled(record: DjangoTaskResult) -> str:
    record.refresh_from_db()
    return str(record.status)


def fail_unfinished(result_id: str, error: BaseException) -> None:
    """A run the worker ended from outside (its hard ``time_limit``) left its result
    RUNNING: it is FAILED with that error, and ``task_finished`` sent."""
    with transaction.atomic():
        running = DjangoTaskResult.objects.select_for_update().filter(
            pk=result_id, status=TaskResultStatus.RUNNING
        )
        record = running.first()
        if record is None:
            return
        record.status = TaskResultStatus.FAILED
        record.errors = [*record.errors, error_of(error)]
        record.finished_at = timezone.now()
        record.save(update_fields=["status", "errors", "finished_at"])
    sender = type(task_backends[record.backend])
    finished = to_task_result(record)
    task_finished.send(sender=sender, task_result=finished)
    enqueue_hook(finished.task, record)


def enqueue_hook(task: "Task[Any, Any]", record: DjangoTaskResult) -> None:
    """Enqueue the finished task's ``on_success`` or ``on_failure`` with its result's
    id. The result is final whatever happens here: a hook that cannot be enqueued (its
    path imports nothing, or names no Django task) is logged as an error."""
    path = hook_path(task, succeeded=record.status == SUCCEEDED)
    if path is None:
        return
    try:
        defined_task(path).enqueue(record.id)
    except (ImportError, TypeError, ValueError) as exc:
        logger.error("%s[%s] finished %s; its hook %s: %s", task.module_path, record.id,
                     record.status, path, exc)  # fmt: skip


def call(result: TaskResult) -> Any:
    task = result.task
    args = [TaskContext(task_result=result), *result.args] if task.takes_context else result.args
    if iscoroutinefunction(task.func):
        return coroutines.run_coroutine(task.func(*args, **result.kwargs))
    return task.func(*args, **result.kwargs)


def error_of(exc: BaseException) -> dict[str, str]:
    cls = type(exc)
    return {
        "exception_class_path": f"{cls.__module__}.{cls.__qualname__}",
        "traceback": "".join(traceback.format_exception(exc)),
    }
