"""The outbox relay, as a task: beat runs it every 30 s, and every worker when it starts."""

from typing import cast

from celery import shared_task

from taskhub import task_names
from taskhub.delivery import outbox
from taskhub.delivery.base import TaskhubTask


@shared_task(base=TaskhubTask, name=task_names.RELAY_OUTBOX)
def relay_outbox() -> dict[str, int]:
    """The outbox's waiting and lost messages, after what the receivers of
    ``outbox.relay_starting`` handed it."""
    counts: dict[str, int] = {}
    for _, handed_over in outbox.relay_starting.send(sender=relay_outbox):
        # A receiver's return value; django-stubs types it as str | None.
        counts |= cast(dict[str, int], handed_over)
    return {**outbox.relay_pending(), **counts}
