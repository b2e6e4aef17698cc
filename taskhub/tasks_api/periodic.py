"""Django tasks on Celery Beat, declared in code next to the task:

    from celery.schedules import crontab
    from taskhub.tasks_api.periodic import periodic

    @periodic(crontab(hour=3, minute=0), name="nightly cleanup")
    @task(queue_name="low")
    def cleanup() -> int: ...

At each tick beat sends ``taskhub.enqueue_django_task``, and a worker enqueues the task
through its backend, so each run is a result like any other (``get_result``, the status
page, retry and cancel). The jobs join ``beat_schedule`` as ``django task: <name>``
when beat's Celery app is finalized, after it has imported the tasks modules (an app's
``tasks.py``, which ``app.autodiscover_tasks()`` finds, or ``CELERY_IMPORTS``): so
declare them there. With django-celery-beat, they are in the admin like taskhub's own
jobs, pausable there; one no longer declared is disabled when beat starts.
"""

from collections.abc import Callable, Sequence
from typing import Any

from taskhub import task_names
from taskhub.worker.schedule import DJANGO_TASK_PREFIX as PREFIX

#: The jobs declared so far in this process: beat's schedule entries by name.
SCHEDULE: dict[str, dict[str, Any]] = {}


def periodic(
    schedule: Any,
    *,
    name: str | None = None,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
) -> Callable[[Any], Any]:
    """Run the decorated Django task on ``schedule`` (a ``crontab``, a ``timedelta``, a
    number of seconds), with ``args`` and ``kwargs``; ``name`` defaults to its path."""

    def register(task: Any) -> Any:
        path = task.module_path
        entry = PREFIX + (name or path)
        if entry in SCHEDULE and SCHEDULE[entry]["args"][0] != path:
            raise ValueError(f"two periodic Django tasks are named {entry!r}")
        SCHEDULE[entry] = {
            "task": task_names.ENQUEUE_DJANGO_TASK,
            "schedule": schedule,
            "args": [path, list(args), dict(kwargs or {})],
        }
        return task

    return register


def add_to_beat_schedule(sender: Any, **kwargs: Any) -> None:
    """``on_after_finalize`` receiver (``taskhub.celery.configure``): the jobs declared
    in the modules imported so far join the app's ``beat_schedule``; a job of the host's
    with the same name wins."""
    for name, entry in SCHEDULE.items():
        sender.conf.beat_schedule.setdefault(name, entry)


def enqueue(task_path: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """Enqueue the Django task at ``task_path``: a run of a periodic job. Returns its
    result's id. (The Tasks API is imported here: it is an optional dependency.)"""
    from taskhub.tasks_api.results import defined_task

    return str(defined_task(task_path).enqueue(*args, **kwargs).id)
