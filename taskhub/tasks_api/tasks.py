"""The one Celery task that runs every Django task enqueued on ``CeleryBackend``."""

from typing import cast

from celery import shared_task

from taskhub import task_names
from taskhub.delivery.base import DatabaseTask


@shared_task(
    base=DatabaseTask,
    name=task_names.RUN_DJANGO_TASK,
    bind=True,
    family="django_tasks",
    ignore_result=True,
    track_started=False,
)
def run_django_task(self: DatabaseTask, result_id: str) -> str:
    """A Django Tasks API task (``taskhub.backends.CeleryBackend``): its queue, priority
    and ETA come with the message; its outcome is its ``DjangoTaskResult`` row, so
    Celery's own result and STARTED state would be two more commits per task (B9).
    (The results module is imported here, not above: it needs the Tasks API, an
    optional dependency, ``taskhub[tasks]``, and this task is registered on every
    worker.)"""
    from taskhub.tasks_api import results

    # A worker's request names its host, as does apply's (eager mode).
    return results.run(result_id, worker_id=cast(str, self.request.hostname))
