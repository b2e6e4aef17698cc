from typing import Any

from django.apps import AppConfig


class TaskhubConfig(AppConfig):
    """Connects every signal taskhub listens to, and registers its system checks."""

    name = "taskhub"
    verbose_name = "Task hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import beat_init, task_failure, worker_init
        from django.core.signals import request_finished

        from taskhub import checks, failures, log, outbox, schedule, tasks  # noqa: F401

        checks.register()
        log.install()
        request_finished.connect(outbox.publish_deferred, dispatch_uid="taskhub_outbox")
        worker_init.connect(refuse_misconfigured_worker, dispatch_uid="taskhub_checks")
        task_failure.connect(failures.record, dispatch_uid="taskhub_failures", weak=False)
        if schedule.database_scheduler_installed():
            beat_init.connect(schedule.disable_retired_jobs, dispatch_uid="taskhub_retired_jobs")


def refuse_misconfigured_worker(**kwargs: Any) -> None:
    """A worker on a misconfigured host stops with the checks' messages instead of
    consuming the wrong queue (Celery runs the checks too, but only logs them)."""
    from taskhub import checks

    errors = checks.errors_for_worker()
    if errors:
        raise SystemExit("taskhub refuses to start this worker:\n" + "\n".join(map(str, errors)))
