"""Every log record says which task it belongs to, including those of the services,
which know nothing of Celery.

A log record factory (not a filter on some handlers) adds ``task_name`` and ``task_id``
to every record, so a format that uses them works on every handler: the worker's, the
pool processes', billiard's own, and the host's. Outside a task both are ``-``.
"""

import logging
from collections.abc import Callable
from typing import Any

from celery import current_task

OUTSIDE = "-"
#: ``task_name`` and ``task_id`` are on every record, "-" outside tasks. A constant a
#: settings module may import (``LOGGING``'s formatter): this module imports nothing of
#: taskhub's.
LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s] %(name)s: %(message)s"
)


def task_fields() -> tuple[str, str]:
    """The running task's name and id in this thread, or ``-`` twice."""
    task = current_task
    request = task.request if task else None
    if request is None or request.id is None:
        return OUTSIDE, OUTSIDE
    return task.name, request.id


def with_task_fields(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.task_name, record.task_id = task_fields()
        return record

    make_record.taskhub = True  # type: ignore[attr-defined]  # the mark install() looks for
    return make_record


def install() -> None:
    """Wrap the current record factory, once per process."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "taskhub", False):
        logging.setLogRecordFactory(with_task_fields(factory))


def use_django_logging(loglevel: Any = None, logfile: str | None = None, **kwargs: Any) -> None:
    """Celery's ``setup_logging`` receiver: the worker and beat log through Django's
    ``LOGGING``, one configuration for every process (as cookiecutter-django does).
    ``--loglevel`` still sets the root level and ``--logfile`` adds a file, in the format
    of the root's first handler."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    root = logging.getLogger()
    if loglevel:
        root.setLevel(loglevel)
    if logfile:
        handler = logging.FileHandler(logfile)
        if root.handlers:
            handler.setFormatter(root.handlers[0].formatter)
        root.addHandler(handler)
