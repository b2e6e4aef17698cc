"""The periodic jobs run by Celery Beat: the only place that declares them.

``taskhub.celery.configure(app)`` adds them to the host's ``beat_schedule`` (an entry
of the host's with the same name wins). Crontabs are read in ``settings.TIME_ZONE``
unless ``CELERY_TIMEZONE`` says otherwise.

Who runs them: django-celery-beat's DatabaseScheduler when the host lists
``django_celery_beat`` in ``INSTALLED_APPS`` (the ``taskhub[beat]`` extra; it copies
these entries into its tables when beat starts, where operators see and pause them in
the admin), else Celery's own PersistentScheduler, from the same declarations. A host's
``CELERY_BEAT_SCHEDULER`` wins over both; check ``taskhub.I001`` says which is in use.
"""

from datetime import timedelta
from typing import Any

from celery import current_app
from celery.schedules import crontab
from django.conf import settings
from django.db.models import Q

from taskhub import task_names

DATABASE_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_SCHEDULER = "celery.beat:PersistentScheduler"

#: Every job's name starts with this; a row so named that is not listed is retired.
PREFIX = "taskhub: "
#: The same for the periodic Django tasks a host declares (``taskhub.tasks_api.periodic``).
DJANGO_TASK_PREFIX = "django task: "

BEAT_SCHEDULE = {
    "taskhub: relay the outbox": {
        "task": task_names.RELAY_OUTBOX,
        "schedule": timedelta(seconds=30),
    },
    "taskhub: daily reports": {
        "task": task_names.SEND_DAILY_REPORTS,
        "schedule": crontab(hour=1, minute=0),
    },
    "taskhub: purge expired files": {
        "task": task_names.PURGE_EXPIRED_FILES,
        "schedule": crontab(minute=15),
    },
    "taskhub: purge old task results": {
        "task": task_names.PURGE_TASK_RESULTS,
        "schedule": crontab(hour=3, minute=30),
    },
}


def database_scheduler_installed() -> bool:
    """django-celery-beat is in ``INSTALLED_APPS`` (read from settings: beat asks for its
    scheduler before Django's app registry is ready)."""
    return any(
        app == "django_celery_beat" or app.startswith("django_celery_beat.")
        for app in settings.INSTALLED_APPS
    )


def scheduler() -> str:
    """taskhub's default ``beat_scheduler``."""
    return DATABASE_SCHEDULER if database_scheduler_installed() else CELERY_SCHEDULER


def is_database_scheduler(beat_scheduler: Any) -> bool:
    """Whether ``beat_scheduler`` (a path or a class) is django-celery-beat's, whose tables
    say which jobs are loaded and paused."""
    path = beat_scheduler if isinstance(beat_scheduler, str) else beat_scheduler.__module__
    return path.startswith("django_celery_beat")


def disable_retired_jobs(**kwargs: Any) -> None:
    """``beat_init`` receiver: a taskhub job that an older version scheduled, and this
    one no longer lists, or a periodic Django task no longer declared, is disabled
    rather than left running (its task may be gone). Connected only with the database
    scheduler: django-celery-beat is an optional dependency, imported here for that
    reason."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    ours = Q(name__startswith=PREFIX) | Q(name__startswith=DJANGO_TASK_PREFIX)
    retired = PeriodicTask.objects.filter(ours, enabled=True).exclude(
        name__in=list(current_app.conf.beat_schedule)
    )
    if retired.update(enabled=False):
        PeriodicTasks.update_changed()
