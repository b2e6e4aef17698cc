"""taskhub's own work as Django Tasks, for code written against Django's Tasks API:
``taskhub.django_tasks.welcome.enqueue(username)``. Same services, same queues (from
``taskhub.queues``), same idempotence as the Celery tasks (``welcome.delay(username)``).

Import this module only with ``taskhub.backends.CeleryBackend`` as the ``default``
backend in ``TASKS`` and these queues in its ``QUEUES``: Django validates a task
against its backend when the task is defined.
"""

from typing import Any

from taskhub import emails, queues, tasks
from taskhub.tasks_api import task


@task(queue_name=queues.ROUTES["taskhub.welcome"])
def welcome(username: str) -> str:
    return emails.send_welcome(username).value


@task(queue_name=queues.ROUTES["taskhub.make_thumbnails"])
def make_thumbnails(image_id: int) -> dict[str, Any]:
    return tasks.make_thumbnails.run(image_id)


@task(queue_name=queues.ROUTES["taskhub.generate_report"])
def generate_report(report_id: int) -> dict[str, Any]:
    return tasks.generate_report.run(report_id)
