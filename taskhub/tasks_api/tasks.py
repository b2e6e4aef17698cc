"""The one Celery task that runs every Django task enqueued on ``CeleryBackend``.

(The results module is imported inside, not above: it needs the Tasks API, an optional
dependency, ``taskhub[tasks]``, and this task is registered on every worker.)"""

from typing import Any, cast

from celery import shared_task

from taskhub import task_names
from taskhub.delivery.base import DatabaseTask


class DjangoTaskRun(DatabaseTask):
    #: Celery's strategy, with a token bucket per rate-limited Django task.
    Strategy = "taskhub.worker.rate_limits:strategy"

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Called in the worker's main process too when it ends a run at its hard time
        limit: the result the run left RUNNING is failed with that error."""
        from taskhub.tasks_api import results

        results.fail_unfinished(args[0], exc)
        super().on_failure(exc, task_id, args, kwargs, einfo)


@shared_task(
    base=DjangoTaskRun,
    name=task_names.RUN_DJANGO_TASK,
    bind=True,
    family="django_tasks",
    ignore_result=True,
    track_started=False,
)
def run_django_task(self: DjangoTaskRun, result_id: str) -> str:
    """A Django Tasks API task (``taskhub.backends.CeleryBackend``): its queue, priority,
    ETA and time limits come with the message; its outcome is its ``DjangoTaskResult``
    row, so Celery's own result and STARTED state would be two more commits per task
    (B9). Its retries follow the Django task's own options, not Celery's count; in eager
    mode they run at once, inline (Celery's eager retry raises when errors propagate)."""
    from taskhub.tasks_api import results

    while True:
        try:
            # A worker's request names its host, as does apply's (eager mode).
            return results.run(result_id, worker_id=cast(str, self.request.hostname))
        except results.RetryLater as later:
            if not self.request.is_eager:
                retries = self.request.retries + 1
                raise self.retry(countdown=later.seconds, max_retries=retries) from None


@shared_task(
    base=DatabaseTask,
    name=task_names.ENQUEUE_DJANGO_TASK,
    family="django_tasks",
    ignore_result=True,
)
def enqueue_django_task(task_path: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """A tick of a periodic Django task (``taskhub.tasks_api.periodic``): enqueue it."""
    from taskhub.tasks_api import periodic

    return periodic.enqueue(task_path, args, kwargs)
