"""Service: what staff do to the work by hand, from the status page or the admin.

Requeue a dead-lettered or failed task with its original arguments (through the outbox,
so under a new task id and a new delivery count), republish a stuck outbox message now,
requeue a failed Django task (as a new result) and
cancel a queued or running one. Each is recorded (``OperatorAction``: who, when, to
what), refused with the reason when it no longer applies, and idempotent: a requeue is
done once however often it is asked for, a cancel cancels once.
"""

import logging
import uuid
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from taskhub import task_names
from taskhub.actions import ActionRefused, record
from taskhub.delivery import outbox
from taskhub.delivery.django_tasks import resend_options
from taskhub.models import (
    DeliveryCount,
    DjangoTaskResult,
    OperatorAction,
    OutboxMessage,
    TaskFailure,
)

logger = logging.getLogger(__name__)


class Cancelled(Exception):
    """The error a Django task's result records when staff cancel it (Django's results
    have no cancelled status: it is FAILED, with this error saying who and when)."""


#: Django's statuses, spelled out: the Tasks API itself is optional here.
READY, RUNNING, FAILED = "READY", "RUNNING", "FAILED"


def _task(name: str) -> Any:
    if name not in current_app.tasks:
        raise ActionRefused(
            f"No task named {name} is registered any more: deploy it, then try again."
        )
    return current_app.tasks[name]


def dead_letter_target_of(task_name: str, task_id: str) -> str:
    return f"dead letter {task_name}[{task_id}]"


def dead_letter_target(delivery: DeliveryCount) -> str:
    return dead_letter_target_of(delivery.task_name, delivery.task_id)


def failure_target_of(task_name: str, task_id: str) -> str:
    return f"failed {task_name}[{task_id}]"


def failure_target(failure: TaskFailure) -> str:
    return failure_target_of(failure.task_name, failure.task_id)


def requeues(targets: list[str], sent_as: list[str]) -> list[OperatorAction]:
    """The requeues of these targets, and those that sent work again as one of the ids
    ``sent_as`` (an action's ``detail`` is the id the work was sent again as)."""
    found = OperatorAction.objects.filter(verb=OperatorAction.Verb.REQUEUE).filter(
        Q(target__in=targets) | Q(detail__in=sent_as)
    )
    return list(found.select_related("actor"))


def requeue_dead_letter(delivery: DeliveryCount, actor: Any) -> OutboxMessage:
    """Send a dead-lettered task again, once, with its original arguments."""
    if delivery.dead_lettered_at is None:
        raise ActionRefused("This task is not dead-lettered: there is nothing to requeue.")
    return _requeue(delivery, dead_letter_target(delivery), actor)


def requeue_failure(failure: TaskFailure, actor: Any) -> OutboxMessage:
    """Send a failed task again, once, with its original arguments."""
    return _requeue(failure, failure_target(failure), actor)


def _requeue(row: DeliveryCount | TaskFailure, target: str, actor: Any) -> OutboxMessage:
    """Send ``row``'s task again through the outbox with its arguments; once per target."""
    task = _task(row.task_name)
    with transaction.atomic():
        message = outbox.enqueue_with_options(task, row.args, row.kwargs, **_options_of(row))
        record(OperatorAction.Verb.REQUEUE, target, actor, str(message.task_id), once=True)
    return message


def _options_of(row: DeliveryCount | TaskFailure) -> dict[str, Any]:
    """A Django task's run goes back to its own queue, with its priority and what its
    options ask of the worker; any other task follows its route."""
    if row.task_name != task_names.RUN_DJANGO_TASK or not row.args:
        return {}
    result = DjangoTaskResult.objects.filter(pk=row.args[0]).first()
    if result is None:
        return {}
    return resend_options(result.queue_name, result.priority, result.task_path)


def republish(message: OutboxMessage, actor: Any) -> bool:
    """Publish a message that no worker has started, now; False if the broker is down.

    Published again under the same task id: the task is idempotent, so a message that
    was only slow, not lost, still has its effect once.
    """
    message.refresh_from_db()
    if message.started_at is not None:
        raise ActionRefused(
            "This message has been started by a worker: there is nothing to republish."
        )
    _task(message.task_name)
    record(OperatorAction.Verb.REPUBLISH, str(message.task_id), actor, "", once=False)
    return outbox.publish(message)


def django_task_target_of(task_path: str, result_id: str) -> str:
    return f"Django task {task_path}[{result_id}]"


def django_task_target(result: DjangoTaskResult) -> str:
    return django_task_target_of(result.task_path, result.id)


def requeue_django_task(result: DjangoTaskResult, actor: Any) -> DjangoTaskResult:
    """Run a failed Django task again, once: a new result (READY) of the same task, queue,
    priority and arguments, sent through the outbox. The failed one stays as it was."""
    if result.status != FAILED:
        raise ActionRefused(
            f"Only a failed task can be requeued; this one is {result.status.lower()}."
        )
    with transaction.atomic():
        again = DjangoTaskResult.objects.create(
            id=str(uuid.uuid4()),
            task_path=result.task_path,
            backend=result.backend,
            queue_name=result.queue_name,
            priority=result.priority,
            args=result.args,
            kwargs=result.kwargs,
            status=READY,
            enqueued_at=timezone.now(),
        )
        options = resend_options(again.queue_name, again.priority, again.task_path)
        outbox.enqueue_with_options(
            task_names.RUN_DJANGO_TASK, [again.id], {}, task_id=again.id, **options
        )
        record(OperatorAction.Verb.REQUEUE, django_task_target(result), actor, again.id, once=True)
    return again


def cancel_django_task(result: DjangoTaskResult, actor: Any) -> DjangoTaskResult:
    """Cancel a queued or running Django task: its result is FAILED with ``Cancelled``
    (who, when), so no worker starts it and a run that goes on cannot finish it
    (``tasks_api.results``); a running one is also stopped where the pool allows
    (Celery's revoke with terminate: prefork). The revoke is best-effort: without a
    broker, the result alone already stops it."""
    now = timezone.now()
    with transaction.atomic():
        locked = DjangoTaskResult.objects.select_for_update().filter(pk=result.pk).first()
        if locked is None or locked.status not in (READY, RUNNING):
            raise ActionRefused("This task has finished: it cannot be cancelled.")
        was_running = locked.status == RUNNING
        who = getattr(actor, "get_username", lambda: "someone")() or "someone"
        locked.errors = [*locked.errors, {
            "exception_class_path": f"{Cancelled.__module__}.{Cancelled.__qualname__}",
            "traceback": f"Cancelled by {who} at {now:%Y-%m-%d %H:%M:%S}",
        }]  # fmt: skip
        locked.status, locked.finished_at = FAILED, now
        locked.save(update_fields=["status", "errors", "finished_at"])
        record(OperatorAction.Verb.CANCEL, django_task_target(locked), actor, "", once=True)
    try:
        current_app.control.revoke(locked.id, terminate=was_running)
    except outbox.BROKER_ERRORS as exc:
        logger.warning("%s cancelled; the broker is unreachable, so no revoke: %s",
                       django_task_target(locked), exc)  # fmt: skip
    return locked
