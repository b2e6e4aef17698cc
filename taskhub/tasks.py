"""Every taskhub task, importable from here as the documentation shows
(``from taskhub.tasks import welcome``). Each is defined in its wing's ``tasks`` module;
its name (``taskhub.<verb_noun>``) never changes, so queued messages stay valid.
Importing this module registers them all (``taskhub.apps`` does, in every process)."""

from taskhub.delivery.base import DatabaseTask, RetriedTask, TaskhubTask
from taskhub.delivery.tasks import relay_outbox
from taskhub.emails.tasks import EmailTask, send_email, welcome
from taskhub.images.tasks import make_thumbnails
from taskhub.ops.tasks import purge_expired_files, purge_task_results
from taskhub.reports.tasks import generate_report, send_daily_reports
from taskhub.tasks_api.tasks import enqueue_django_task, run_django_task

__all__ = [
    "DatabaseTask",
    "EmailTask",
    "RetriedTask",
    "TaskhubTask",
    "enqueue_django_task",
    "generate_report",
    "make_thumbnails",
    "purge_expired_files",
    "purge_task_results",
    "relay_outbox",
    "run_django_task",
    "send_daily_reports",
    "send_email",
    "welcome",
]
