"""Service: what staff do to the work by hand, from the status page or the admin.

Requeue a dead-lettered or failed task with its original arguments (through the outbox,
so under a new task id and a new delivery count), republish a stuck outbox message now,
cancel a queued or running report; requeue a failed Django task (as a new result) and
cancel a queued or running one. Each is recorded (``OperatorAction``: who, when, to
what), refused with the reason when it no longer applies, and idempotent: a requeue is
done once however often it is asked for, a cancel cancels once.
"""

import logging
import uuid
from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from taskhub import task_names
from taskhub.delivery import outbox
from taskhub.delivery.django_tasks import message_options, time_limits_of
from taskhub.models import (
    DeliveryCount,
    DjangoTaskResult,
    OperatorAction,
    OutboxMessage,
    Report,
    TaskFailure,
    WorkStatus,
)

logger = logging.getLogger(__name__)


class ActionRefused(Exception):
    """The action does not apply (any more); the message says why."""


class Cancelled(Exception):
    """The error a Django task's result records when staff cancel it (Django's results
    have no cancelled status: it is FAILED, with this error saying who and when)."""


#: Django's statuses, spelled out: the Tasks API itself is optional here.
READY, RUNNING, FAILED = "READY", "RUNNING", "FAILED"


def _record(verb: str, target: str, actor: Any, detail: str, once: bool) -> OperatorAction:
    """Record the action; with ``once``, refuse it if it was done already."""
    actor = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            return OperatorAction.objects.create(
                verb=verb,
                target=target,
                once_key=f"{verb}:{target}" if once else None,
                actor=actor,
                detail=detail,
            )
    except IntegrityError:
        done = OperatorAction.objects.get(once_key=f"{verb}:{target}")
        raise ActionRefused(
            f"{target} was already {verb}d by {done.actor or 'someone'} "
            f"at {done.created_at:%Y-%m-%d %H:%M:%S}"
        ) from None


def _task(name: str) -> Any:
    if name not in current_app.tasks:
        raise ActionRefused(f"no task named {name!r} is registered any more")
    return current_app.tasks[name]


def dead_letter_target(delivery: DeliveryCount) -> str:
    return f"dead letter {delivery.task_name}[{delivery.task_id}]"


def failure_target(failure: TaskFailure) -> str:
    return f"failed {failure.task_name}[{failure.task_id}]"


def requeued_targets() -> set[str]:
    """What has been requeued already, by its target."""
    requeues = OperatorAction.objects.filter(verb=OperatorAction.Verb.REQUEUE)
    return set(requeues.values_list("target", flat=True))


def requeue_dead_letter(delivery: DeliveryCount, actor: Any) -> OutboxMessage:
    """Send a dead-lettered task again, once, with its original arguments."""
    if delivery.dead_lettered_at is None:
        raise ActionRefused(f"{delivery.task_name}[{delivery.task_id}] is not dead-lettered")
    return _requeue(delivery, dead_letter_target(delivery), actor)


def requeue_failure(failure: TaskFailure, actor: Any) -> OutboxMessage:
    """Send a failed task again, once, with its original arguments."""
    return _requeue(failure, failure_target(failure), actor)


def _requeue(row: DeliveryCount | TaskFailure, target: str, actor: Any) -> OutboxMessage:
    """Send ``row``'s task again through the outbox with its arguments; once per target."""
    task = _task(row.task_name)
    with transaction.atomic():
        _record(OperatorAction.Verb.REQUEUE, target, actor, "", once=True)
        return outbox.enqueue(task, *row.args, **row.kwargs)


def republish(message: OutboxMessage, actor: Any) -> bool:
    """Publish a message that no worker has started, now; False if the broker is down.

    Published again under the same task id: the task is idempotent, so a message that
    was only slow, not lost, still has its effect once.
    """
    message.refresh_from_db()
    if message.started_at is not None:
        raise ActionRefused(f"{message} has started: there is nothing to republish")
    _task(message.task_name)
    _record(OperatorAction.Verb.REPUBLISH, str(message.task_id), actor, "", once=False)
    return outbox.publish(message)


def cancel_report(report: Report, actor: Any) -> Report:
    """Cancel a pending or running report. A running one stops at its next progress
    update (within seconds) and deletes its partial file."""
    cancellable = [WorkStatus.PENDING, WorkStatus.RUNNING]
    with transaction.atomic():
        changed = Report.objects.filter(pk=report.pk, status__in=cancellable).update(
            status=WorkStatus.CANCELLED, finished_at=timezone.now(), error="cancelled"
        )
        if not changed:
            report.refresh_from_db()
            raise ActionRefused(f"report {report.pk} is {report.status}: it cannot be cancelled")
        _record(OperatorAction.Verb.CANCEL, f"report {report.pk}", actor, "", once=True)
    report.refresh_from_db()
    return report


def django_task_target(result: DjangoTaskResult) -> str:
    return f"Django task {result.task_path}[{result.id}]"


def requeue_django_task(result: DjangoTaskResult, actor: Any) -> DjangoTaskResult:
    """Run a failed Django task again, once: a new result (READY) of the same task, queue,
    priority and arguments, sent through the outbox. The failed one stays as it was."""
    if result.status != FAILED:
        raise ActionRefused(f"{django_task_target(result)} is {result.status}, not failed")
    with transaction.atomic():
        _record(OperatorAction.Verb.REQUEUE, django_task_target(result), actor, "", once=True)
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
        options = message_options(
            again.queue_name, again.priority, None, time_limits_of(again.task_path)
        )
        outbox.enqueue_with_options(
            task_names.RUN_DJANGO_TASK, [again.id], {}, task_id=again.id, **options
        )
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
            status = locked.status if locked else "gone"
            raise ActionRefused(f"{django_task_target(result)} is {status}: it cannot be cancelled")
        was_running = locked.status == RUNNING
        who = getattr(actor, "get_username", lambda: "someone")() or "someone"
        locked.errors = [*locked.errors, {
            "exception_class_path": f"{Cancelled.__module__}.{Cancelled.__qualname__}",
            "traceback": f"Cancelled by {who} at {now:%Y-%m-%d %H:%M:%S}",
        }]  # fmt: skip
        locked.status, locked.finished_at = FAILED, now
        locked.save(update_fields=["status", "errors", "finished_at"])
        _record(OperatorAction.Verb.CANCEL, django_task_target(locked), actor, "", once=True)
    try:
        current_app.control.revoke(locked.id, terminate=was_running)
    except outbox.BROKER_ERRORS as exc:
        logger.warning("%s cancelled; the broker is unreachable, so no revoke: %s",
                       django_task_target(locked), exc)  # fmt: skip
    return locked
