"""Every log line says which task it belongs to, including those of the services,
which know nothing of Celery: a filter reads the task running in this process."""

import logging
from typing import Any

from celery import current_task
from celery.signals import after_setup_logger


class TaskContextFilter(logging.Filter):
    """Adds ``task_name`` and ``task_id`` to each record ("-" outside a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_task.request if current_task else None
        running = request is not None and request.id is not None
        record.task_name = current_task.name if running else "-"
        record.task_id = request.id if running else "-"
        return True


@after_setup_logger.connect
def add_task_context_to_worker_logs(logger: logging.Logger, **kwargs: Any) -> None:
    """The worker replaces the root logger's handlers; give the new ones the filter."""
    for handler in logger.handlers:
        handler.addFilter(TaskContextFilter())
