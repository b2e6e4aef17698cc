"""Periodic Django tasks, declared in code next to the task (``taskhub.tasks_api.periodic``):
in beat's schedule once the app is finalized, each tick a result like any other. (The
database scheduler's rows: tests/worker/test_beat.py.)"""

from datetime import timedelta

import pytest

from taskhub import task_names
from taskhub.models import DjangoTaskResult
from taskhub.tasks import enqueue_django_task
from taskhub.tasks_api import periodic
from taskhub.tasks_api.compat import TaskResultStatus
from tests import api_tasks
from tests.celery_apps import new_app

JOB = "django task: add every five minutes"


def test_a_declared_job_joins_beat_schedule_when_the_app_is_finalized():
    app = new_app()
    assert JOB not in app.conf.beat_schedule
    app.finalize()
    entry = app.conf.beat_schedule[JOB]
    assert entry["task"] == task_names.ENQUEUE_DJANGO_TASK
    assert entry["schedule"] == timedelta(minutes=5)
    assert entry["args"] == [api_tasks.add_periodically.module_path, [2, 3], {}]


def test_a_hosts_job_of_the_same_name_wins(settings):
    settings.CELERY_BEAT_SCHEDULE = {JOB: {"task": "mine.job", "schedule": 60}}
    app = new_app()
    app.finalize()
    assert app.conf.beat_schedule[JOB]["task"] == "mine.job"


def test_two_tasks_under_one_name_are_refused():
    with pytest.raises(ValueError, match="two periodic Django tasks are named"):
        periodic.periodic(60, name="add every five minutes")(api_tasks.add)


@pytest.mark.django_db
def test_each_tick_enqueues_the_task_and_its_run_is_a_result():
    result_id = enqueue_django_task.delay(*periodic.SCHEDULE[JOB]["args"]).get()
    result = api_tasks.add_periodically.get_result(result_id)
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "error"),
    [("tests.api_tasks.no_such_task", ImportError), ("tests.api_tasks.Path", TypeError)],
)
def test_a_tick_for_a_path_that_is_no_django_task_fails_clearly(path, error):
    with pytest.raises(error):
        periodic.enqueue(path, [], {})
    assert not DjangoTaskResult.objects.exists()
