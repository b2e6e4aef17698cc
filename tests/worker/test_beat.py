"""The periodic jobs of taskhub/schedule.py load into django-celery-beat's tables."""

from datetime import timedelta

import pytest
from celery.signals import beat_init
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from project.celery import app
from taskhub.worker.queues import ROUTES
from taskhub.worker.schedule import BEAT_SCHEDULE

# The scheduler closes database connections, which a wrapping test transaction cannot survive.
pytestmark = pytest.mark.django_db(transaction=True)


def test_every_periodic_job_names_a_routed_task():
    assert BEAT_SCHEDULE
    for entry in BEAT_SCHEDULE.values():
        assert entry["task"] in ROUTES


def test_the_database_scheduler_loads_the_schedule_in_the_project_time_zone(settings):
    DatabaseScheduler(app=app)
    rows = {row.name: row for row in PeriodicTask.objects.select_related("crontab", "interval")}
    assert set(BEAT_SCHEDULE) <= set(rows)
    for name, entry in BEAT_SCHEDULE.items():
        row, schedule = rows[name], entry["schedule"]
        assert row.task == entry["task"]
        assert row.enabled
        if isinstance(schedule, timedelta):
            assert (row.interval.every, row.interval.period) == (schedule.seconds, "seconds")
        else:
            assert str(row.crontab.timezone) == settings.TIME_ZONE
            assert row.crontab.hour == str(schedule._orig_hour)
            assert row.crontab.minute == str(schedule._orig_minute)


def test_a_job_paused_in_the_admin_stays_paused_when_beat_restarts():
    DatabaseScheduler(app=app)
    PeriodicTask.objects.filter(name="taskhub: daily reports").update(enabled=False)
    DatabaseScheduler(app=app)
    assert not PeriodicTask.objects.get(name="taskhub: daily reports").enabled


def test_a_job_schedule_py_no_longer_lists_is_disabled_when_beat_starts():
    interval = IntervalSchedule.objects.create(every=1, period="days")
    for name, task in [("taskhub: nightly sales report", "taskhub.gone"), ("mine", "my.job")]:
        PeriodicTask.objects.create(name=name, task=task, interval=interval)
    beat_init.send(sender=None)
    DatabaseScheduler(app=app)
    assert not PeriodicTask.objects.get(name="taskhub: nightly sales report").enabled
    assert PeriodicTask.objects.get(name="mine").enabled, "a host's own job is left alone"
    assert PeriodicTask.objects.get(name="taskhub: daily reports").enabled
