"""The host's Celery app, named as cookiecutter-django names it:
``celery -A config.celery_app worker -l INFO``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
