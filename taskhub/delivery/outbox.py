"""Transactional outbox: a task is enqueued in the same transaction as its rows.

``enqueue`` writes an ``OutboxMessage`` and publishes it once the transaction commits.
If the broker is down then, the request still succeeds (nothing waits on retries) and
the message stays in the table; ``relay_pending`` publishes what is left, every few
seconds from beat and whenever a worker starts. A view never 500s because Redis blinked.

In a request (with ``taskhub.middleware.PublishAfterResponseMiddleware``), the publish
waits until the response has been sent: the user never waits on the broker, and a
process that dies in between leaves the row for the relay, as a dead broker would.

The row also outlives the broker's own guarantees: a task started from the outbox marks
its row, and a message published but not started after ``OUTBOX_REDELIVER_AFTER`` is
published again. That closes the one window where kombu's Redis transport loses a
message (a worker SIGKILLed between ``BRPOP`` and writing the message to its
unacknowledged set).
"""

import logging
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import partial
from itertools import chain
from typing import Any

from celery import Task, current_app
from celery.app.task import Context
from celery.exceptions import NotRegistered
from django.db import transaction
from django.db.models import F, QuerySet
from django.dispatch import Signal
from django.utils import timezone
from kombu import Queue
from kombu.exceptions import OperationalError as BrokerError

from taskhub import conf
from taskhub.models import OutboxMessage

logger = logging.getLogger(__name__)

#: A message younger than this is left to the publish its own commit triggered.
GRACE = timedelta(seconds=10)
BROKER_ERRORS = (BrokerError, ConnectionError, TimeoutError, OSError)
#: The message header that tells a worker the task came from the outbox.
HEADER = "taskhub_outbox"
#: Messages committed during the current request, to publish once its response is sent.
after_response: ContextVar[list[OutboxMessage] | None] = ContextVar(
    "taskhub_outbox_after_response", default=None
)
#: Sent before each relay. A receiver hands the outbox what it knows was lost and the
#: outbox does not (``taskhub.tasks_api.unstarted``), and returns its counts as a dict.
relay_starting = Signal()


def task_name(task: Task[Any, Any] | str) -> str:
    """A task's name; a name must be a registered task's, or ``NotRegistered`` now, in
    the caller's code, rather than when the message is published after commit."""
    if isinstance(task, Task):
        return task.name
    if task not in current_app.tasks:
        raise NotRegistered(task)
    return task


def enqueue(task: Task[Any, Any] | str, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Send ``task(*args, **kwargs)`` after the current transaction commits, never lost.
    ``task`` is a task or its name: a service enqueues by name, never importing a task."""
    return enqueue_with_options(task, args, kwargs)


def enqueue_with_options(
    task: Task[Any, Any] | str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    task_id: str | None = None,
    queue: str | None = None,
    priority: int | None = None,
    eta: datetime | None = None,
    soft_time_limit: float | None = None,
    time_limit: float | None = None,
    headers: dict[str, Any] | None = None,
) -> OutboxMessage:
    """``enqueue``, with the ``apply_async`` options a message keeps until it is sent."""
    limits = {"soft_time_limit": soft_time_limit, "time_limit": time_limit}
    message = OutboxMessage.objects.create(
        task_name=task_name(task),
        args=list(args),
        kwargs=kwargs,
        options=stored_options(queue=queue, priority=priority, eta=eta, headers=headers, **limits),
        **({"task_id": task_id} if task_id else {}),
    )
    transaction.on_commit(partial(publish_or_defer, message))
    return message


def keep(
    task: Task[Any, Any],
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    task_id: str,
    options: dict[str, Any],
    error: BaseException,
) -> OutboxMessage:
    """A message the broker did not take (``.delay()`` while it is down): kept here,
    pending, with the error, for the relay to publish under the same task id. Its
    queue, priority, ETA (a countdown as its ETA), time limits and headers are kept;
    other options are not."""
    eta = options.get("eta")
    if eta is None and options.get("countdown") is not None:
        eta = timezone.now() + timedelta(seconds=options["countdown"])
    message = OutboxMessage.objects.create(
        task_name=task.name,
        args=list(args or ()),
        kwargs=dict(kwargs or {}),
        options=stored_options(
            eta=eta, **{name: options.get(name) for name in KEPT_OPTIONS if name != "eta"}
        ),
        task_id=task_id,
        attempts=1,
        last_error=f"{type(error).__name__}: {error}"[:1000],
    )
    logger.warning(
        "the broker did not take %s[%s], kept in the outbox: %s", task.name, task_id, error
    )
    return message


#: The ``apply_async`` options a message row keeps.
KEPT_OPTIONS = ("queue", "priority", "eta", "soft_time_limit", "time_limit", "headers")


def stored_options(**options: Any) -> dict[str, Any]:
    """``apply_async`` options as a message row keeps them: the ETA as text, a kombu
    ``Queue`` by its name, no Nones."""
    if isinstance(options.get("queue"), Queue):
        options["queue"] = options["queue"].name
    if options.get("eta") is not None:
        options["eta"] = options["eta"].isoformat()
    return {name: value for name, value in options.items() if value is not None}


def publish_or_defer(message: OutboxMessage) -> None:
    """Publish now, or after the response when in a request (not in eager mode, where
    the task runs inline and its exceptions belong to the request)."""
    deferred = after_response.get()
    if deferred is None or current_app.conf.task_always_eager:
        publish(message)
    else:
        deferred.append(message)


def defer_until_response_sent() -> None:
    after_response.set([])


def publish_deferred(**kwargs: Any) -> None:
    """``request_finished`` receiver: publish what the request committed; when the
    broker is down, stop at the first failure (the relay has the rest)."""
    deferred = after_response.get()
    after_response.set(None)
    for message in deferred or ():
        if not publish(message):
            break


def publish(message: OutboxMessage) -> bool:
    """Publish one message now, without retrying; False if the broker is unreachable.

    In eager mode the task runs here, inline, and its exceptions propagate.
    """
    task = current_app.tasks[message.task_name]
    options = publish_options(message.options)
    headers = {HEADER: True, **options.pop("headers", {})}
    try:
        task.apply_async(
            message.args,
            message.kwargs,
            task_id=str(message.task_id),
            retry=False,
            headers=headers,
            **options,
        )
    except BROKER_ERRORS as exc:
        record_failure(message, f"{type(exc).__name__}: {exc}")
        logger.warning("broker unreachable, %s stays in the outbox: %s", message, exc)
        return False
    OutboxMessage.objects.filter(pk=message.pk).update(
        published_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )
    return True


def publish_options(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored options as ``apply_async`` takes them (the ETA was kept as text)."""
    if "eta" in stored:
        return {**stored, "eta": datetime.fromisoformat(stored["eta"])}
    return dict(stored)


def record_failure(message: OutboxMessage, error: str) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        attempts=F("attempts") + 1, last_error=error[:1000]
    )


def came_from_outbox(request: Context) -> bool:
    """A worker puts a message's own headers on the request; eager mode nests them."""
    return bool(getattr(request, HEADER, False) or (request.headers or {}).get(HEADER))


def mark_started(task_id: str) -> None:
    OutboxMessage.objects.filter(task_id=task_id, started_at__isnull=True).update(
        started_at=timezone.now()
    )


def pending(older_than: timedelta = GRACE) -> QuerySet[OutboxMessage]:
    """Messages never published, written more than ``older_than`` ago."""
    return OutboxMessage.objects.filter(
        published_at__isnull=True, created_at__lt=timezone.now() - older_than
    )


def lost(older_than: timedelta | None = None) -> QuerySet[OutboxMessage]:
    """Messages published more than ``older_than`` ago that no worker has started."""
    if older_than is None:
        older_than = timedelta(seconds=conf.get("OUTBOX_REDELIVER_AFTER"))
    return OutboxMessage.objects.filter(
        started_at__isnull=True, published_at__lt=timezone.now() - older_than
    )


def relay_pending(limit: int = 1000, older_than: timedelta = GRACE) -> dict[str, int]:
    """Publish up to ``limit`` waiting or lost messages, oldest first; stop when the
    broker fails. A message naming a task this process does not know (renamed or removed
    since it was written) is left in the table with the reason, and the relay goes on.

    Two relays running at once may publish a message twice, with the same task id; the
    tasks are idempotent, so that costs a no-op, never a second effect.
    """
    published = 0
    for message in chain(pending(older_than)[:limit], lost()[:limit]):
        if published == limit:
            break
        if message.task_name not in current_app.tasks:
            record_failure(message, f"NotRegistered: no task named {message.task_name!r}")
            logger.error("%s names no registered task; it stays in the outbox", message)
            continue
        if not publish(message):
            break
        published += 1
    return {"published": published, "waiting": pending(timedelta(0)).count()}
