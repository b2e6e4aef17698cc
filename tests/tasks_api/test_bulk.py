"""``enqueue_many``: many Django tasks at once, each with its result row, commit-safe,
through taskhub's fan-out (``taskhub.tasks_api.bulk``, ``CeleryBackend.enqueue_many``)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from taskhub.models import DjangoTaskResult, OutboxMessage
from taskhub.tasks_api.bulk import enqueue_many
from taskhub.tasks_api.compat import TaskResultStatus
from taskhub.tasks_api.unstarted import send_unstarted
from tests import api_tasks
from tests.workers import publishing_to, queued_task_ids, running_worker
from tools.workers import wait_for

try:
    from django.tasks.backends.immediate import ImmediateBackend
except ImportError:
    from django_tasks.backends.immediate import ImmediateBackend


@pytest.mark.django_db
def test_in_eager_mode_each_runs_inline_and_the_results_come_back_in_order():
    results = enqueue_many(api_tasks.add, [((n, n), {}) for n in range(5)] + [((1,), {"b": 1})])
    assert [r.return_value for r in results] == [0, 2, 4, 6, 8, 2]
    assert all(r.status == TaskResultStatus.SUCCESSFUL for r in results)


@pytest.mark.django_db
def test_on_djangos_own_backend_it_is_a_loop_of_enqueue(settings):
    settings.TASKS = {
        "default": {"BACKEND": f"{ImmediateBackend.__module__}.ImmediateBackend",
                    "QUEUES": ["normal"]}
    }  # fmt: skip
    assert [r.return_value for r in enqueue_many(api_tasks.add, [((1, 2), {})] * 3)] == [3] * 3


@pytest.mark.parametrize(
    ("calls", "error", "message"),
    [
        ([((1, 2), {}), ((object(), 1), {})], TypeError, "not JSON-serialisable"),
        ([((1, 2), {}), (1, 2)], TypeError, r"call 1 is not \(args, kwargs\): \(1, 2\)"),
        ([((b"\xff", 1), {})], ValueError, "not JSON-serialisable"),
    ],
)
@pytest.mark.django_db
def test_a_bad_call_anywhere_refuses_them_all_and_nothing_is_written_or_run(
    calls, error, message, tmp_path
):
    with pytest.raises(error, match=message):
        enqueue_many(api_tasks.add, calls)
    assert not DjangoTaskResult.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_the_messages_go_at_commit_under_the_results_ids(redis_broker):
    with transaction.atomic():
        results = enqueue_many(
            api_tasks.add.using(queue_name="high"), [((n, 1), {}) for n in range(300)]
        )
        assert DjangoTaskResult.objects.count() == 300
        assert queued_task_ids(redis_broker, "high") == [], "nothing before the commit"
    assert sorted(queued_task_ids(redis_broker, "high")) == sorted(r.id for r in results)
    assert all(r.status == TaskResultStatus.READY for r in results)
    assert not OutboxMessage.objects.exists(), "one fan-out, no outbox row per task"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(redis_broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_many(api_tasks.add, [((1, 1), {})] * 10)
        raise RuntimeError("the view failed")
    assert not DjangoTaskResult.objects.exists()
    assert queued_task_ids(redis_broker, "normal") == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_leaves_them_ready_for_the_relay(settings, tmp_path, caplog):
    with publishing_to(settings, "redis://127.0.0.1:1/0", tmp_path):
        results = enqueue_many(api_tasks.add, [((1, 1), {})] * 5)
    assert [r.status for r in results] == [TaskResultStatus.READY] * 5
    assert "broker unreachable: 5 Django tasks stay READY" in caplog.text
    DjangoTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(hours=1))
    assert send_unstarted(timedelta(minutes=1)) == 5
    sent = {str(task_id) for task_id in OutboxMessage.objects.values_list("task_id", flat=True)}
    assert sent == {r.id for r in results}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_every_one_of_them(redis_broker, tmp_path):
    results = enqueue_many(api_tasks.add, [((n, n), {}) for n in range(200)])

    def finished() -> bool:
        return not DjangoTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists()

    with running_worker("normal", redis_broker, tmp_path, concurrency=2):
        wait_for(finished, 60, "200 results")
    for n, result in enumerate(results):
        result.refresh()
        assert result.return_value == 2 * n
