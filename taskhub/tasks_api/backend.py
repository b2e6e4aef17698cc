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
- ``task_class`` is ``CeleryTask``: retries with backoff and time limits, as options of
  ``@task(...)`` (``taskhub.tasks_api.options``).
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
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from celery import current_app
from django.core import checks
from django.db import transaction
from django.utils import timezone

from taskhub.delivery import fanout, outbox
from taskhub.delivery.django_tasks import celery_queue, message_options, worker_options
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
from taskhub.tasks_api.options import CeleryTask, validate
from taskhub.tasks_api.results import to_task_result
from taskhub.tasks_api.tasks import run_django_task
from taskhub.worker.queues import queue_names

logger = logging.getLogger(__name__)
#: One call's arguments: ``(args, kwargs)``.
Call = tuple[Sequence[Any], dict[str, Any]]
#: Result rows per INSERT in ``enqueue_many``.
BULK_BATCH = 1000


# The annotations naming Task and TaskResult are quoted: Django's are not generic at run
# time (the backport's TaskResult takes one parameter).
class CeleryBackend(BaseTaskBackend):
    task_class = CeleryTask
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
        validate(task)

    def enqueue(self, task: "Task[Any, Any]", args: Any, kwargs: Any) -> "TaskResult[Any, Any]":
        self.validate_task(task)
        record = new_record(task, self.alias, args, kwargs)
        options = options_for(task)
        record.save(force_insert=True)
        if current_app.conf.task_always_eager:
            return self.run_inline(task, record, options)
        if transaction.get_connection().in_atomic_block:
            outbox.enqueue_with_options(
                run_django_task, [record.id], {}, task_id=record.id, **options
            )
        else:
            run_django_task.apply_async((record.id,), task_id=record.id, retry=False, **options)
        result = to_task_result(record, task)
        task_enqueued.send(sender=type(self), task_result=result)
        return result

    def enqueue_many(
        self, task: "Task[Any, Any]", calls: Iterable[Call]
    ) -> "list[TaskResult[Any, Any]]":
        """``task.enqueue(*args, **kwargs)`` for every ``(args, kwargs)``, at a fraction
        of the cost (``taskhub.tasks_api.bulk.enqueue_many``): every call checked before
        anything is written, the rows in one bulk insert, the messages through taskhub's
        fan-out once the transaction commits (at once outside one). A broker that is
        down leaves the rows READY for the relay to send (``tasks_api.unstarted``)."""
        self.validate_task(task)
        calls = list(calls)
        records = [new_record(task, self.alias, args, kwargs) for args, kwargs in each_call(calls)]
        options = options_for(task)
        if current_app.conf.task_always_eager:
            ran = []
            for record in records:  # each saved, then run, as enqueue does
                record.save(force_insert=True)
                ran.append(self.run_inline(task, record, options))
            return ran
        DjangoTaskResult.objects.bulk_create(records, batch_size=BULK_BATCH)
        ids = [record.id for record in records]
        transaction.on_commit(partial(publish_many, ids, options))
        results = [to_task_result(record, task) for record in records]
        for result in results:
            task_enqueued.send(sender=type(self), task_result=result)
        return results

    def run_inline(
        self, task: "Task[Any, Any]", record: DjangoTaskResult, options: dict[str, Any]
    ) -> "TaskResult[Any, Any]":
        """Eager mode, as ImmediateBackend: enqueued (READY), then run, then the result."""
        task_enqueued.send(sender=type(self), task_result=to_task_result(record, task))
        run_django_task.apply_async((record.id,), task_id=record.id, **options)
        record.refresh_from_db()
        return to_task_result(record, task)

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


def new_record(task: "Task[Any, Any]", alias: str, args: Any, kwargs: Any) -> DjangoTaskResult:
    """A READY result row for one call, its arguments as they will arrive."""
    return DjangoTaskResult(
        id=str(uuid.uuid4()),
        task_path=task.module_path,
        backend=alias,
        queue_name=task.queue_name,
        priority=task.priority,
        run_after=task.run_after,
        args=json_value(task, "arguments", list(args)),
        kwargs=json_value(task, "keyword arguments", dict(kwargs)),
        status=TaskResultStatus.READY,
        enqueued_at=timezone.now(),
    )


def options_for(task: "Task[Any, Any]") -> dict[str, Any]:
    """The Celery message options of a run of ``task``."""
    return message_options(task.queue_name, task.priority, task.run_after, worker_options(task))


def each_call(calls: list[Any]) -> Iterator[Call]:
    for number, call in enumerate(calls):
        if not (isinstance(call, list | tuple) and len(call) == 2 and isinstance(call[1], dict)):
            raise TypeError(f"call {number} is not (args, kwargs): {call!r}")
        yield call[0], call[1]


def publish_many(ids: list[str], options: dict[str, Any]) -> None:
    calls: Iterator[fanout.IdentifiedCall] = ((id_, (id_,), {}) for id_ in ids)
    try:
        fanout.send_with_ids(run_django_task, calls, **options)
    except outbox.BROKER_ERRORS as exc:
        logger.warning(
            "broker unreachable: %d Django tasks stay READY for the relay to send: %s",
            len(ids),
            exc,
        )
