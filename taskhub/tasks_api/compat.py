"""Django's Tasks API, from Django (6.0+) or from the ``django-tasks`` backport (5.2).

One place imports it, so the rest of taskhub names ``InvalidTask`` and the others the
same way on both; Django 6.0 renamed the backport's ``InvalidTaskError``.
"""

from dataclasses import fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Typed as Django's own (django-stubs); the backport has the same API.
    from django import tasks as package
    from django.tasks import base, exceptions, signals
    from django.tasks.backends import base as backends
    from django.utils import json as json_utils

    InvalidTask = exceptions.InvalidTask
else:
    try:
        from django import tasks as package
        from django.tasks import base, exceptions, signals
        from django.tasks.backends import base as backends
        from django.utils import json as json_utils

        InvalidTask = exceptions.InvalidTask
    except ImportError:
        try:
            import django_tasks as package
            from django_tasks import base, exceptions, signals
            from django_tasks import utils as json_utils
            from django_tasks.backends import base as backends
        except ImportError as exc:
            raise ImportError(
                "taskhub's Django Tasks backend needs Django 6.0+ or the django-tasks "
                'backport: pip install "taskhub[tasks]"'
            ) from exc
        InvalidTask = exceptions.InvalidTaskError

BaseTaskBackend = backends.BaseTaskBackend
DEFAULT_TASK_BACKEND_ALIAS = base.DEFAULT_TASK_BACKEND_ALIAS
DEFAULT_TASK_PRIORITY = base.DEFAULT_TASK_PRIORITY
DEFAULT_TASK_QUEUE_NAME = base.DEFAULT_TASK_QUEUE_NAME
Task = base.Task
TaskContext = base.TaskContext
TaskError = base.TaskError
TaskResult = base.TaskResult
TaskResultStatus = base.TaskResultStatus
TaskResultDoesNotExist = exceptions.TaskResultDoesNotExist
task = package.task
task_backends = package.task_backends
default_task_backend = package.default_task_backend
task_enqueued = signals.task_enqueued
task_started = signals.task_started
task_finished = signals.task_finished
#: Arguments as Django's reference backends take them: ``TypeError`` (``ValueError`` for
#: bytes that are not UTF-8) for what JSON cannot hold.
normalize_json = json_utils.normalize_json

#: A task that finished without error: ``SUCCESSFUL`` in Django 6.0 and the backport,
#: ``SUCCEEDED`` in later Django.
SUCCEEDED = getattr(TaskResultStatus, "SUCCEEDED", None) or TaskResultStatus.SUCCESSFUL
#: The fields ``TaskResult`` takes (later Django adds ``metadata``).
RESULT_FIELDS = {f.name for f in fields(TaskResult)}
