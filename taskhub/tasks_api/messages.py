"""A Django task's queue, priority and ETA as the Celery message's options.

Needs nothing of the Tasks API itself, so the outbox relay can resend a stored result
(``taskhub.tasks_api.unstarted``) on a host without it installed.
"""

from datetime import datetime
from typing import Any

from celery import current_app

from taskhub.worker.queues import is_redis

#: Django's name for the queue a task gets when it names none.
DJANGO_DEFAULT_QUEUE = "default"


def message_options(queue_name: str, priority: int, run_after: datetime | None) -> dict[str, Any]:
    return {
        "queue": celery_queue(queue_name),
        "priority": broker_priority(priority, current_app.conf.broker_url),
        "eta": run_after,
    }


def celery_queue(queue_name: str) -> str:
    if queue_name == DJANGO_DEFAULT_QUEUE:
        return current_app.conf.task_default_queue
    return queue_name


def broker_priority(priority: int, broker_url: str | None) -> int:
    """Django's -100..100 as Celery's 0..9, in the direction the broker reads it."""
    urgency = round((priority + 100) * 9 / 200)
    return 9 - urgency if is_redis(broker_url) else urgency
