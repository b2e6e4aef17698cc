"""A Django Tasks API backend that runs tasks on taskhub's Celery workers.

    TASKS = {"default": {"BACKEND": "taskhub.backends.CeleryBackend",
                         "QUEUES": ["high", "normal", "low"]}}

- ``queue_name`` is the Celery queue (``"default"`` is Celery's default queue). A name
  that is not in ``QUEUES``, or that no declared Celery queue has, is refused when the
  task is defined or enqueued.
- ``priority`` (-100..100) becomes the message priority 0..9: higher runs first on
  RabbitMQ (where taskhub's quorum queues act on it only from RabbitMQ 4.0); on Redis,
  kombu's priority steps, where a lower number runs first, so the scale is turned over.
- ``run_after`` becomes the message's ETA.
- Results live in ``DjangoTaskResult`` rows, readable from any process.
- Inside ``transaction.atomic()``, enqueueing goes through the outbox: the task is sent
  only if and after the transaction commits (after the response, in a request), and if
  no worker ever starts it, it is sent again (``OUTBOX_REDELIVER_AFTER``). Outside a
  transaction, the result row is committed and the task published at once, as
  ``.delay()`` does (B10); a result that no worker started ``OUTBOX_REDELIVER_AFTER``
  later goes to the outbox (``taskhub.tasks_api.unstarted``, before each relay). Either way a broker
  that is down delays the task (it waits in the outbox for the relay) instead of failing
  the caller. In eager mode
  (``CELERY_ALWAYS_EAGER`` or ``CELERY_TASK_ALWAYS_EAGER``) it runs at once, inline, as
  Django's ImmediateBackend would.
"""

import json
import uuid
from collections.abc import Iterable
from typing import Any

from celery import current_app
from django.core import checks
from django.db import transaction
from django.utils import timezone

from taskhub.delivery import outbox
from taskhub.models import DjangoTaskResult
from taskhub.tasks_api.compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task_enqueued,
)
from taskhub.tasks_api.messages import celery_queue, message_options
from taskhub.tasks_api.results import to_task_result
from taskhub.tasks_api.tasks import run_django_task
from taskhub.worker.queues import queue_names


# The annotations naming Task and TaskResult are quoted: Django's are not generic at run
# time (the backport's TaskResult takes one parameter).
class CeleryBackend(BaseTaskBackend):
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def validate_task(self, task: "Task[Any, Any]") -> None:
        if self.queues and task.queue_name not in self.queues:
            raise InvalidTask(
                f"{task.module_path}: queue {task.queue_name!r} is not one of this "
                f"backend's QUEUES ({', '.join(sorted(self.queues))})"
            )
        queue = celery_queue(task.queue_name)
        declared = queue_names(current_app)
        if queue not in declared:
            raise InvalidTask(
                f"{task.module_path}: no Celery queue named {queue!r} is declared "
                f"(declared: {', '.join(sorted(declared))})"
            )
        super().validate_task(task)

    def enqueue(self, task: "Task[Any, Any]", args: Any, kwargs: Any) -> "TaskResult[Any, Any]":
        self.validate_task(task)
        record = DjangoTaskResult(
            id=str(uuid.uuid4()),
            task_path=task.module_path,
            backend=self.alias,
            queue_name=task.queue_name,
            priority=task.priority,
            run_after=task.run_after,
            args=json_value(task, "arguments", list(args)),
            kwargs=json_value(task, "keyword arguments", dict(kwargs)),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
        )
        options = message_options(task.queue_name, task.priority, task.run_after)
        record.save(force_insert=True)
        if current_app.conf.task_always_eager:
            # As ImmediateBackend: enqueued (READY), then run, then the result returned.
            task_enqueued.send(sender=type(self), task_result=to_task_result(record))
            run_django_task.apply_async((record.id,), task_id=record.id, **options)
            record.refresh_from_db()
            return to_task_result(record)
        if transaction.get_connection().in_atomic_block:
            outbox.enqueue_with_options(
                run_django_task, [record.id], {}, task_id=record.id, **options
            )
        else:
            run_django_task.apply_async((record.id,), task_id=record.id, retry=False, **options)
        result = to_task_result(record)
        task_enqueued.send(sender=type(self), task_result=result)
        return result

    # Django iterates what check returns (the backport says Iterable); django-stubs say list.
    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:  # type: ignore[override]
        declared = queue_names(current_app)
        for name in sorted(self.queues):
            if celery_queue(name) not in declared:
                yield checks.Error(
                    f"TASKS[{self.alias!r}]['QUEUES'] names {name!r}, and no Celery queue "
                    f"named {celery_queue(name)!r} is declared: no worker would run it.",
                    hint=f"Use declared queues: {', '.join(declared)}.",
                    id="taskhub.E008",
                )

    def get_result(self, result_id: str) -> "TaskResult[Any, Any]":
        record = DjangoTaskResult.objects.filter(pk=result_id).first()
        if record is None:
            raise TaskResultDoesNotExist(result_id)
        return to_task_result(record)


def json_value(task: "Task[Any, Any]", what: str, value: Any) -> Any:
    """``value`` as it will arrive (tuples become lists, keys strings), or, before
    anything is written or sent, the error Django's own backends raise: ``TypeError``
    (``ValueError`` for bytes that are not UTF-8), with the task's name."""
    try:
        return json.loads(json.dumps(normalize_json(value)))
    except (TypeError, ValueError) as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(f"{task.module_path}: {what} are not JSON-serialisable: {exc}") from exc
