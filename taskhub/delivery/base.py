"""The base classes of taskhub's tasks: what every one of them does on the way to a
worker and at its start, whatever its family.

Retried: what may work later (SMTP or network trouble, a locked database), with
exponential backoff and jitter, a bounded number of times. Failed at once: what never
will (a missing row, a broken image, a refused address). Time limits, retries and rate
limits are read from ``TASKHUB_*`` settings when a task is sent or run, never frozen at
import.
"""

from typing import Any, cast

from celery import uuid
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError

from taskhub import conf
from taskhub.delivery import confirms, dead_letters, outbox
from taskhub.worker.configured import is_configured


def redelivered(request: Any) -> bool:
    """The broker marks a message it gives again after the run that had it is gone."""
    return bool((request.delivery_info or {}).get("redelivered"))


class DeadLettered(Exception):
    """The task came back too many times; it is failed instead of run again."""


class TaskhubTask(DjangoTask[Any, Any]):
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

    # Celery declares these as attributes; taskhub's are read-only on purpose, read from
    # the settings on access.
    @property
    def time_limit(self) -> int:  # type: ignore[override]
        return conf.time_limit(self.family).hard

    @property
    def soft_time_limit(self) -> int:  # type: ignore[override]
        return conf.time_limit(self.family).soft

    def apply_async(  # type: ignore[override]  # Celery's options pass through **options
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        """Send the task; when the broker cannot be reached, keep it in the outbox for the
        relay and return its result all the same: ``.delay()`` from a view never fails
        the request, nor loses the task, because the broker is down. (The outbox's own
        publishes, marked by its header, get the error: they keep their row anyway.)
        In a ``confirms.collected()`` block (a request) on RabbitMQ, the broker's confirm
        is awaited at the block's end, with the others'."""
        # What Celery's own apply_async calls (it binds the task); not in celery-types.
        app = self._get_app()  # type: ignore[attr-defined]
        if not is_configured(app):
            raise ImproperlyConfigured(
                f"{self.name} was sent by a Celery app that taskhub.celery.configure(app) "
                "was not called on: add that line to your celery.py (see taskhub.E001)"
            )
        if app.conf.task_always_eager or outbox.HEADER in (options.get("headers") or {}):
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or uuid()
        collector = confirms.collecting()
        try:
            producer = None
            if collector is not None and "producer" not in options:
                producer = collector.producer_for(app)
            if producer is None:
                return super().apply_async(args, kwargs, task_id=task_id, **options)
            # Not retried on the block's connection: a failed publish goes to the outbox.
            options = {**options, "retry": False}
            with collector.sending(confirms.Sent(self, args, kwargs, task_id, options)):  # type: ignore[union-attr]
                return super().apply_async(
                    args, kwargs, task_id=task_id, producer=producer, **options
                )
        except outbox.BROKER_ERRORS as exc:
            outbox.keep(self, args, kwargs, task_id, options, exc)
            return self.AsyncResult(task_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Both tests below are true only of a request from a message, which has its id.
        if outbox.came_from_outbox(self.request):
            outbox.mark_started(cast(str, self.request.id))
        if redelivered(self.request):
            limit = conf.get("MAX_DELIVERIES")
            task_id = cast(str, self.request.id)
            count = dead_letters.record_redelivery(task_id, self.name, args, kwargs, limit)
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
