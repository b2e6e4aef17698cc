"""The periodic jobs run by Celery Beat: the only place that declares them.

``taskhub.celery.configure(app)`` adds them to the host's ``beat_schedule`` (an entry
of the host's with the same name wins). Crontabs are read in ``settings.TIME_ZONE``
unless ``CELERY_TIMEZONE`` says otherwise. django-celery-beat's
DatabaseScheduler copies these entries into its tables when beat starts, where
operators see them, and can pause them, in the admin.
"""

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

#: Every job's name starts with this; a row so named that is not listed is retired.
PREFIX = "taskhub: "

BEAT_SCHEDULE = {
    "taskhub: relay the outbox": {
        "task": "taskhub.relay_outbox",
        "schedule": timedelta(seconds=30),
    },
    "taskhub: daily reports": {
        "task": "taskhub.send_daily_reports",
        "schedule": crontab(hour=1, minute=0),
    },
    "taskhub: purge expired files": {
        "task": "taskhub.purge_expired_files",
        "schedule": crontab(minute=15),
    },
    "taskhub: purge old task results": {
        "task": "taskhub.purge_task_results",
        "schedule": crontab(hour=3, minute=30),
    },
}


def disable_retired_jobs(**kwargs: Any) -> None:
    """``beat_init`` receiver: a taskhub job that an older version scheduled, and this
    one no longer lists, is disabled rather than left running (its task may be gone)."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    retired = PeriodicTask.objects.filter(name__startswith=PREFIX, enabled=True).exclude(
        name__in=list(BEAT_SCHEDULE)
    )
    if retired.update(enabled=False):
        PeriodicTasks.update_changed()
