"""Django's Tasks API on taskhub's CeleryBackend, without a worker: eager mode runs a
task inline with ImmediateBackend's semantics; without it, enqueue goes through the
outbox in the caller's transaction, and outside one publishes at once (the outbox keeping
what an unreachable broker refused). Real workers: tests/tasks_api/test_django_tasks_workers.py."""

import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.checks import INFO, run_checks
from django.db import transaction
from django.utils import timezone

from taskhub import conf
from taskhub.delivery import outbox
from taskhub.delivery.django_tasks import broker_priority
from taskhub.models import DjangoTaskResult, OutboxMessage
from taskhub.tasks_api.compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    default_task_backend,
    task,
    task_enqueued,
    task_finished,
    task_started,
)
from taskhub.tasks_api.unstarted import send_unstarted
from taskhub.worker import queues
from tests import api_tasks
from tests.workers import publishing_to, queued_task_ids, redis_database

pytestmark = pytest.mark.django_db


def test_an_eager_task_runs_inline_and_its_result_is_stored():
    result = api_tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.attempts == 1
    assert result.enqueued_at <= result.started_at <= result.finished_at
    stored = api_tasks.add.get_result(result.id)
    assert (stored.status, stored.return_value, stored.worker_ids) == (
        TaskResultStatus.SUCCESSFUL,
        5,
        result.worker_ids,
    )


@pytest.mark.parametrize("name", ["CELERY_ALWAYS_EAGER", "CELERY_TASK_ALWAYS_EAGER"])
def test_both_names_of_eager_mode_run_tasks_inline(settings, name):
    del settings.CELERY_TASK_ALWAYS_EAGER
    setattr(settings, name, True)
    assert api_tasks.add.enqueue(1, 1).status == TaskResultStatus.SUCCESSFUL


def test_a_failing_eager_task_is_failed_with_its_error_recorded_not_raised():
    result = api_tasks.fail.enqueue("no such customer")
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "no such customer" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


def test_a_return_value_that_is_not_json_fails_the_task():
    result = api_tasks.not_json.enqueue()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TypeError


def test_a_task_taking_context_gets_its_attempt_and_own_result():
    result = api_tasks.describe.enqueue("x")
    assert result.return_value == {"label": "x", "attempt": 1, "id": result.id}


def test_an_async_task_runs_as_a_coroutine():
    assert api_tasks.wait_and_return.enqueue(0.01, "done").return_value == "done"


def test_arguments_that_are_not_json_are_refused_and_nothing_is_written_or_sent():
    with pytest.raises(
        TypeError, match=r"tests\.api_tasks\.add: arguments are not JSON-serialisable"
    ):
        api_tasks.add.enqueue(object(), 1)
    assert not DjangoTaskResult.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_an_unknown_queue_is_refused_when_defined_and_when_enqueued():
    with pytest.raises(InvalidTask, match="'urgent' is not one of this backend's QUEUES"):
        task(queue_name="urgent")(api_tasks.add.func)
    with pytest.raises(InvalidTask, match="QUEUES"):
        api_tasks.add.using(queue_name="urgent")


def test_a_queue_in_queues_but_not_declared_to_celery_is_refused(settings):
    settings.TASKS = {
        "default": {"BACKEND": "taskhub.backends.CeleryBackend", "QUEUES": ["normal", "bulk"]}
    }
    with pytest.raises(InvalidTask, match="no Celery queue named 'bulk' is declared"):
        task(queue_name="bulk")(api_tasks.add.func)


def test_an_unknown_result_id_is_a_clear_error():
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("no-such-id")


def test_signals_fire_at_enqueue_start_and_finish():
    seen = []

    def receiver(signal):
        return lambda sender, task_result, **kw: seen.append((signal, task_result.status))

    handlers = [(s, receiver(n)) for s, n in [(task_enqueued, "enqueued"),
                (task_started, "started"), (task_finished, "finished")]]  # fmt: skip
    for signal, handler in handlers:
        signal.connect(handler)
    try:
        api_tasks.add.enqueue(1, 2)
    finally:
        for signal, handler in handlers:
            signal.disconnect(handler)
    assert seen == [
        ("enqueued", TaskResultStatus.READY),
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.SUCCESSFUL),
    ]


def test_enqueue_in_a_transaction_goes_through_the_outbox_with_queue_priority_and_eta(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    published = []
    monkeypatch.setattr("taskhub.delivery.outbox.publish", published.append)
    later = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        result = api_tasks.add.using(queue_name="high", priority=100, run_after=later).enqueue(1, 2)
        assert result.status == TaskResultStatus.READY
        assert published == []
    assert len(callbacks) == 1
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.args, str(message.task_id)) == (
        "taskhub.run_django_task",
        [result.id],
        result.id,
    )
    assert message.options["queue"] == "high"
    assert message.options["priority"] == broker_priority(100, settings.CELERY_BROKER_URL)
    assert message.options["eta"] == later.isoformat()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_enqueue_publishes_at_once_and_writes_no_outbox_row(redis_broker):
    result = api_tasks.add.using(queue_name="high").enqueue(1, 2)
    assert DjangoTaskResult.objects.get(pk=result.id).status == TaskResultStatus.READY
    assert not OutboxMessage.objects.exists()
    assert queued_task_ids(redis_broker, "high") == [result.id]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_unreachable_broker_keeps_the_task_in_the_outbox(
    settings, tmp_path
):
    with publishing_to(settings, "redis://127.0.0.1:1/0", tmp_path):
        started = time.monotonic()
        result = api_tasks.add.enqueue(1, 2)
    assert time.monotonic() - started < 5, "the caller does not wait on retries"
    assert result.status == TaskResultStatus.READY
    message = OutboxMessage.objects.get()
    assert (str(message.task_id), message.args, message.published_at) == (
        result.id,
        [result.id],
        None,
    )
    assert "refused" in message.last_error.lower()
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    with redis_database(12) as url, publishing_to(settings, url, tmp_path):
        assert outbox.relay_pending() == {"published": 1, "waiting": 0}
        assert queued_task_ids(url, "normal") == [result.id]


def stored_result(ago: timedelta, **fields) -> DjangoTaskResult:
    return DjangoTaskResult.objects.create(
        id=str(uuid.uuid4()),
        task_path="tests.api_tasks.add",
        backend="default",
        queue_name="high",
        priority=100,
        args=[1, 2],
        enqueued_at=timezone.now() - ago,
        **fields,
    )


def test_a_result_never_started_is_handed_to_the_outbox_once(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    lost = stored_result(timedelta(minutes=20))
    stored_result(timedelta(minutes=1))  # young: its message may still be on its way
    stored_result(timedelta(minutes=20), run_after=timezone.now() + timedelta(hours=1))
    stored_result(timedelta(minutes=20), status=TaskResultStatus.RUNNING)
    in_outbox = stored_result(timedelta(minutes=20))
    OutboxMessage.objects.create(task_name="taskhub.run_django_task", task_id=in_outbox.id)
    after = timedelta(seconds=conf.get("OUTBOX_REDELIVER_AFTER"))

    assert send_unstarted(after) == 1
    message = OutboxMessage.objects.exclude(task_id=in_outbox.id).get()
    assert (str(message.task_id), message.task_name, message.args) == (
        lost.id,
        "taskhub.run_django_task",
        [lost.id],
    )
    assert message.options == {
        "queue": "high",
        "priority": broker_priority(100, settings.CELERY_BROKER_URL),
    }
    assert send_unstarted(after) == 0, "the outbox has it now, and resends it if lost again"


def test_a_rolled_back_transaction_leaves_no_task(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with pytest.raises(RuntimeError), transaction.atomic():
        api_tasks.add.enqueue(1, 2)
        raise RuntimeError("the view failed")
    assert not DjangoTaskResult.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(("priority", "rabbitmq", "redis"), [(-100, 0, 9), (0, 4, 5), (100, 9, 0)])
def test_priority_maps_to_the_broker_direction(priority, rabbitmq, redis):
    assert broker_priority(priority, "amqp://guest@localhost//") == rabbitmq
    assert broker_priority(priority, "redis://localhost:6379/0") == redis
    assert broker_priority(priority, "redis+socket:///run/redis.sock") == redis


def test_taskhub_offers_its_own_work_as_django_tasks(user, mailoutbox):
    from taskhub import django_tasks

    assert django_tasks.welcome.queue_name == queues.ROUTES["taskhub.welcome"]
    first = django_tasks.welcome.enqueue(user.username)
    second = django_tasks.welcome.enqueue(user.username)
    assert (first.return_value, second.return_value) == ("sent", "already sent")
    assert len(mailoutbox) == 1


def test_a_queue_no_worker_consumes_is_a_system_check_error(settings):
    settings.TASKS = {
        "default": {"BACKEND": "taskhub.backends.CeleryBackend", "QUEUES": ["normal", "bulk"]}
    }
    errors = [m for m in run_checks() if m.id == "taskhub.E008"]
    assert [e.msg for e in errors] == [
        "TASKS['default']['QUEUES'] names 'bulk', and no Celery queue named 'bulk' is "
        "declared: no worker would run it."
    ]


def test_the_demo_projects_tasks_settings_pass_the_checks():
    assert [m for m in run_checks() if m.id.startswith("taskhub.") and m.level > INFO] == []


def test_aenqueue_and_arefresh_from_async_code():
    async def view_code():
        result = await api_tasks.add.aenqueue(4, 5)
        await result.arefresh()
        fetched = await api_tasks.add.aget_result(result.id)
        return result, fetched

    result, fetched = async_to_sync(view_code)()
    assert result.return_value == fetched.return_value == 9
