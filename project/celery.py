"""The Celery application: ``celery -A project worker -Q high``.

The standard file from Celery's Django guide, plus the one line taskhub asks of a host,
and, as cookiecutter-django does, Django's LOGGING for the workers and beat.
"""

import os

from celery import Celery
from celery.signals import setup_logging

import taskhub.celery
import taskhub.worker.log

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
taskhub.celery.configure(app)
app.autodiscover_tasks()
setup_logging.connect(taskhub.worker.log.use_django_logging)
