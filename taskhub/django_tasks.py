"""taskhub's own work as Django Tasks, for code written against Django's Tasks API:
``taskhub.django_tasks.welcome.enqueue(username)``. Same services, same queues (from
``taskhub.worker.queues``), same idempotence as the Celery tasks (``welcome.delay(username)``).

Import this module only with ``taskhub.backends.CeleryBackend`` as the ``default``
backend in ``TASKS`` and these queues in its ``QUEUES``: Django validates a task
against its backend when the task is defined.
"""

from typing import Any, cast

from taskhub import task_names
from taskhub.emails import sending
from taskhub.images.tasks import make_thumbnails as thumbnails_task
from taskhub.reports.tasks import generate_report as report_task
from taskhub.tasks_api.compat import task
from taskhub.worker import queues


@task(queue_name=queues.ROUTES[task_names.WELCOME])
def welcome(username: str) -> str:
    return sending.send_welcome(username).value


# celery-types type a task made with base= as its base class, whose run returns Any.
@task(queue_name=queues.ROUTES[task_names.MAKE_THUMBNAILS])
def make_thumbnails(image_id: int) -> dict[str, Any]:
    return cast(dict[str, Any], thumbnails_task.run(image_id))


@task(queue_name=queues.ROUTES[task_names.GENERATE_REPORT])
def generate_report(report_id: int) -> dict[str, Any]:
    return cast(dict[str, Any], report_task.run(report_id))
