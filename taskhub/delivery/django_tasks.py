"""A Django task's queue, priority, ETA, time limits and rate limit as the Celery
message's options.

Needs nothing of the Tasks API itself, so the outbox relay can resend a stored result
(``taskhub.tasks_api.unstarted``), and staff requeue one (``taskhub.ops.operations``),
in processes that never import it.
"""

from datetime import datetime
from typing import Any

from celery import current_app
from django.utils.module_loading import import_string

from taskhub.worker.queues import is_redis
from taskhub.worker.rate_limits import headers_for

#: Django's name for the queue a task gets when it names none.
DJANGO_DEFAULT_QUEUE = "default"


def message_options(
    queue_name: str, priority: int, run_after: datetime | None, for_worker: dict[str, Any]
) -> dict[str, Any]:
    """``for_worker``: the task's ``worker_options``."""
    return {
        "queue": celery_queue(queue_name),
        "priority": broker_priority(priority, current_app.conf.broker_url),
        "eta": run_after,
        **for_worker,
    }


def celery_queue(queue_name: str) -> str:
    if queue_name == DJANGO_DEFAULT_QUEUE:
        return current_app.conf.task_default_queue
    return queue_name


def broker_priority(priority: int, broker_url: str | None) -> int:
    """Django's -100..100 as Celery's 0..9, in the direction the broker reads it."""
    urgency = round((priority + 100) * 9 / 200)
    return 9 - urgency if is_redis(broker_url) else urgency


def worker_options(task: object) -> dict[str, Any]:
    """What a task's ``CeleryTask`` options ask of the worker, as message options: its
    ``soft_time_limit`` and ``time_limit``, and its ``rate_limit`` (two headers, read by
    ``taskhub.worker.rate_limits``); none for a task without them."""
    limits = {
        "soft_time_limit": getattr(task, "soft_time_limit", None),
        "time_limit": getattr(task, "time_limit", None),
    }
    return {
        **{option: seconds for option, seconds in limits.items() if seconds is not None},
        **headers_for(getattr(task, "module_path", ""), getattr(task, "rate_limit", None)),
    }


def resend_options(queue_name: str, priority: int, task_path: str) -> dict[str, Any]:
    """The message options of a stored result sent again (the relay, a staff requeue):
    its queue and priority, no ETA, and what its task's code asks of the worker now."""
    return message_options(queue_name, priority, None, worker_options_of(task_path))


def worker_options_of(task_path: str) -> dict[str, Any]:
    """The options of the task at ``task_path`` as its code defines them now; none if it
    cannot be imported (the worker then records that error as the task's)."""
    try:
        return worker_options(import_string(task_path))
    except ImportError:
        return {}
