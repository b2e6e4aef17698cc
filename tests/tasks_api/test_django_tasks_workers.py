"""Django's Tasks API through real Celery workers on Redis (and priority on RabbitMQ):
enqueued from this process, run by a worker, read back here (another process than the
one that ran it)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from taskhub.delivery.django_tasks import broker_priority
from taskhub.tasks import run_django_task
from taskhub.tasks_api.compat import TaskResultStatus
from tests import api_tasks
from tests.workers import publishing_to, running_worker
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(results) -> bool:
    for result in results:
        result.refresh()
    return all(result.is_finished for result in results)


def test_tasks_run_on_a_worker_and_their_results_are_read_from_another_process(
    redis_broker, tmp_path
):
    added = api_tasks.add.enqueue(20, 22)
    failed = api_tasks.fail.enqueue("bad input")
    described = api_tasks.describe.using(priority=50).enqueue("ctx")
    assert added.status == TaskResultStatus.READY and added.enqueued_at is not None
    with running_worker("high,normal,low", redis_broker, tmp_path, concurrency=2):
        wait_for(lambda: finished([added, failed, described]), 60, "three results")
    assert added.status == TaskResultStatus.SUCCESSFUL and added.return_value == 42
    assert added.worker_ids and added.worker_ids[0].startswith("test-")
    assert added.enqueued_at <= added.started_at <= added.finished_at
    assert added.last_attempted_at == added.started_at
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[0].exception_class is ValueError
    assert "bad input" in failed.errors[0].traceback
    assert described.return_value == {"label": "ctx", "attempt": 1, "id": described.id}


def test_run_after_is_the_earliest_start(redis_broker, tmp_path):
    not_before = timezone.now() + timedelta(seconds=3)
    result = api_tasks.add.using(run_after=not_before).enqueue(1, 1)
    with running_worker("normal", redis_broker, tmp_path):
        wait_for(lambda: finished([result]), 60, "the deferred task")
    assert result.started_at >= not_before


def test_higher_priority_runs_first_from_a_waiting_queue(redis_broker, tmp_path):
    folder = tmp_path / "touched"
    folder.mkdir()
    low = [api_tasks.touch.using(priority=-100).enqueue(str(folder), f"low{i}") for i in range(3)]
    high = [api_tasks.touch.using(priority=100).enqueue(str(folder), f"high{i}") for i in range(3)]
    with running_worker("normal", redis_broker, tmp_path, concurrency=1):
        wait_for(lambda: finished(low + high), 60, "six tasks")
    order = [r.return_value for r in sorted(low + high, key=lambda r: r.started_at)]
    assert sorted(order[:3]) == ["high0", "high1", "high2"], order


def test_on_rabbitmq_priority_travels_with_the_message_and_the_task_runs(
    rabbitmq_url, settings, tmp_path
):
    """Quorum queues act on priority only from RabbitMQ 4.0 (the tests' is older), so
    what is checked here is that it arrives, in RabbitMQ's direction, and the task runs."""
    from project.celery import app

    with publishing_to(settings, rabbitmq_url, tmp_path), app.connection_for_write() as conn:
        app.amqp.queues["normal"].bind(conn.default_channel).declare()
        urgent = api_tasks.add.using(priority=100).enqueue(2, 3)
        message = conn.default_channel.basic_get("normal")
        conn.default_channel.basic_reject(message.delivery_tag, requeue=True)
    assert message.headers["id"] == urgent.id
    assert message.properties["priority"] == broker_priority(100, rabbitmq_url) == 9
    with running_worker("normal", rabbitmq_url, tmp_path):
        wait_for(lambda: finished([urgent]), 60, "the task")
    assert urgent.status == TaskResultStatus.SUCCESSFUL and urgent.return_value == 5


def test_async_tasks_await_together_in_one_worker_process(redis_broker, tmp_path):
    results = [api_tasks.overlap.enqueue(0.5) for _ in range(8)]
    with running_worker(
        "normal", redis_broker, tmp_path, concurrency=8, extra_args=("--pool", "threads")
    ):
        wait_for(lambda: finished(results), 60, "eight async tasks")
    runs = [r.return_value for r in results]
    assert len({run["pid"] for run in runs}) == 1, "one worker process"
    assert max(run["running_at_start"] for run in runs) > 1, "coroutines awaited at once"
    assert len({run["loop"] for run in runs}) == 1, "on one event loop"


def test_a_redelivered_finished_task_is_not_run_again(redis_broker, tmp_path):
    folder = tmp_path / "touched"
    folder.mkdir()
    result = api_tasks.touch.enqueue(str(folder), "once")
    succeeded = f"taskhub.run_django_task[{result.id}] succeeded"
    with running_worker("normal", redis_broker, tmp_path) as worker:
        wait_for(lambda: finished([result]), 60, "the task")
        (folder / "once").unlink()
        run_django_task.apply_async((result.id,), task_id=result.id, queue="normal")
        wait_for(lambda: worker.log().count(succeeded) == 2, 30, "the second delivery")
    assert not (folder / "once").exists(), "the second delivery did not run it"
    result.refresh()
    assert result.attempts == 1
