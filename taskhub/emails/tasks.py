"""The email tasks: ``welcome.delay(username)`` and any templated email."""

from typing import Any, cast

from celery import shared_task
from django.db import OperationalError

from taskhub import conf, task_names
from taskhub.delivery.base import RetriedTask
from taskhub.emails import sending


class EmailTask(RetriedTask):
    """An email's outcome is its SentEmail row: its task result, and its STARTED state,
    would be two more commits per email (benchmark B3). Failures are still stored
    (``task_store_errors_even_if_ignored``) for the status page."""

    family = "email"
    ignore_result = True
    track_started = False
    autoretry_for = (sending.EmailTemporarilyFailed, OperationalError)

    # Read-only on purpose, as TaskhubTask's time limits are.
    @property
    def max_retries(self) -> int:  # type: ignore[override]
        return cast(int, conf.get("EMAIL_MAX_RETRIES"))

    @property
    def rate_limit(self) -> str | None:  # type: ignore[override]
        return cast(str | None, conf.get("EMAIL_RATE_LIMIT"))


@shared_task(base=EmailTask, name=task_names.WELCOME)
def welcome(username: str) -> str:
    return sending.send_welcome(username).value


@shared_task(base=EmailTask, name=task_names.SEND_EMAIL, bind=True)
def send_email(
    self: EmailTask, to: str, template: str, context: dict[str, Any], key: str = ""
) -> str:
    """Any templated email. Without a key, the task id makes redeliveries send once."""
    return sending.send_once(
        key=key or f"task:{self.request.id}",
        kind=template,
        to=to,
        template=template,
        context=context,
    ).value
