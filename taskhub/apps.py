"""The app config, and the one place that connects the signals taskhub listens to
(``docs/architecture.md`` lists them). Imports of taskhub's modules wait for ``ready``:
models cannot be imported before the app registry is."""

from typing import Any

from django.apps import AppConfig


class TaskhubConfig(AppConfig):
    """Registers taskhub's tasks and system checks, and connects every signal taskhub
    listens to: this is the one place that does."""

    name = "taskhub"
    verbose_name = "Task hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import beat_init, task_failure, worker_init, worker_ready
        from django.core.signals import request_finished

        from taskhub import checks, tasks  # noqa: F401 (importing tasks registers them)
        from taskhub.delivery import outbox
        from taskhub.ops import failures
        from taskhub.tasks_api import unstarted
        from taskhub.worker import log, schedule

        checks.register()
        log.install()
        request_finished.connect(outbox.publish_deferred, dispatch_uid="taskhub_outbox")
        outbox.relay_starting.connect(unstarted.before_relay, dispatch_uid="taskhub_unstarted")
        task_failure.connect(failures.record, dispatch_uid="taskhub_failures", weak=False)
        worker_init.connect(worker_starting, dispatch_uid="taskhub_worker_starting")
        worker_ready.connect(worker_started, dispatch_uid="taskhub_worker_started")
        if schedule.database_scheduler_installed():
            beat_init.connect(schedule.disable_retired_jobs, dispatch_uid="taskhub_retired_jobs")


def worker_starting(sender: Any = None, **kwargs: Any) -> None:
    """``worker_init``: what a worker does before it consumes anything.

    - On a misconfigured host it stops with the checks' messages instead of consuming the
      wrong queue (Celery runs the checks too, but only logs them).
    - On RabbitMQ it declares every queue of its app before delayed delivery binds them
      (``taskhub.worker.delayed_delivery``).
    - It takes more than one message at a time if it runs only short tasks
      (``taskhub.worker.prefetch``).
    - On a green pool (``-P gevent``), it has the connections and soft time limits its
      greenlets need (``taskhub.worker.green``).
    """
    from taskhub import checks
    from taskhub.celery import set_by_host
    from taskhub.worker import green, prefetch
    from taskhub.worker.configured import is_configured
    from taskhub.worker.delayed_delivery import declare_all_queues

    errors = checks.errors_for_worker()
    if errors:
        raise SystemExit("taskhub refuses to start this worker:\n" + "\n".join(map(str, errors)))
    if sender is not None and is_configured(sender.app):
        declare_all_queues(sender.app)
        prefetch.choose(sender, set_by_host(sender.app, "worker_prefetch_multiplier"))
        green.configure_worker(sender, lambda key: set_by_host(sender.app, key))


def worker_started(**kwargs: Any) -> None:
    """``worker_ready``: whatever waited in the outbox while the broker was down goes out
    now."""
    from taskhub.delivery.tasks import relay_outbox

    relay_outbox.delay()
