"""The periodic jobs of taskhub/schedule.py load into django-celery-beat's tables, and
the health report reads them there. (django-celery-beat 2.9 declares Django<6.1, so the
Django 6.1 cells of the matrix leave this module out.)"""

import json
from datetime import timedelta

import pytest
from celery.signals import beat_init
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from project.celery import app
from taskhub import checks
from taskhub.models import OutboxMessage
from taskhub.ops import health
from taskhub.worker.queues import ROUTES
from taskhub.worker.schedule import BEAT_SCHEDULE, DATABASE_SCHEDULER
from tests.celery_apps import new_app

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


def test_beat_runs_and_the_outbox_backlog_are_reported(redis_broker):
    DatabaseScheduler(app=app)
    ran_at = timezone.now() - timedelta(minutes=1)
    PeriodicTask.objects.filter(name="taskhub: relay the outbox").update(last_run_at=ran_at)
    PeriodicTask.objects.filter(name="taskhub: daily reports").update(enabled=False)
    message = OutboxMessage.objects.create(task_name="taskhub.welcome", args=["ada"])
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    report = health.check(timeout=0.2)
    jobs = {job.name: job for job in report.beat}
    assert jobs["taskhub: relay the outbox"].last_run_at == ran_at
    assert jobs["taskhub: purge old task results"].last_run_at is None
    assert report.outbox_waiting == 1
    assert 590 < report.outbox_oldest_seconds < 700
    assert report.warnings[1:] == ["periodic job 'taskhub: daily reports' is paused"]
    assert any(w.startswith("1 outbox messages unpublished") for w in report.warnings)


def test_before_beat_first_starts_its_jobs_are_reported_not_loaded(redis_broker):
    report = health.check(timeout=0.2)
    assert {(job.loaded, job.enabled, job.last_run_at) for job in report.beat} == {
        (False, False, None)
    }
    assert report.warnings == ["beat has never started: no periodic job is in its table"]


def test_installed_it_is_the_scheduler_and_i001_says_so():
    assert new_app().conf.beat_scheduler == DATABASE_SCHEDULER
    [info] = checks.check_scheduler()
    assert (info.id, info.level) == ("taskhub.I001", 20)
    assert "django-celery-beat's database scheduler" in info.msg


def test_a_periodic_django_task_is_a_row_to_pause_and_one_no_longer_declared_is_disabled():
    from taskhub.tasks_api import periodic
    from tests import api_tasks

    job = "django task: add every five minutes"
    periodic.add_to_beat_schedule(app)
    try:
        DatabaseScheduler(app=app)
        row = PeriodicTask.objects.get(name=job)
        assert (row.task, row.enabled) == ("taskhub.enqueue_django_task", True)
        assert json.loads(row.args) == [api_tasks.add_periodically.module_path, [2, 3], {}]
        interval = IntervalSchedule.objects.create(every=1, period="days")
        PeriodicTask.objects.create(name="django task: gone", task="x", interval=interval)
        beat_init.send(sender=None)
        assert not PeriodicTask.objects.get(name="django task: gone").enabled
        assert PeriodicTask.objects.get(name=job).enabled
    finally:
        del app.conf.beat_schedule[job]  # the project's app outlives this test
