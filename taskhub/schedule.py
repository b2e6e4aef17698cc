"""The periodic jobs run by Celery Beat: the only place that declares them.

Crontabs are read in ``settings.TIME_ZONE`` (``CELERY_TIMEZONE``). django-celery-beat's
DatabaseScheduler copies these entries into its tables when beat starts, where
operators see them, and can pause them, in the admin.
"""

from datetime import timedelta

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "taskhub: relay the outbox": {
        "task": "taskhub.relay_outbox",
        "schedule": timedelta(seconds=30),
    },
    "taskhub: nightly sales report": {
        "task": "taskhub.send_daily_sales_report",
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
