"""What Django leaves to backends, as options of ``@task(...)`` on ``CeleryBackend``:
retries with backoff, time limits and completion hooks (``taskhub.tasks_api.options``),
eager and on a real worker."""

import inspect
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.utils import timezone

from taskhub.models import DjangoTaskResult, OutboxMessage
from taskhub.tasks_api import compat
from taskhub.tasks_api.compat import InvalidTask, TaskResultStatus, task_finished
from taskhub.tasks_api.options import CeleryTask, retry_delay, task
from taskhub.tasks_api.unstarted import send_unstarted
from tests import api_tasks
from tests.workers import running_worker
from tools.workers import wait_for


def options(**given) -> CeleryTask:
    return task(queue_name="normal", **given)(api_tasks.add.func)


@pytest.mark.django_db
def test_a_retried_error_runs_again_and_each_attempt_shows_in_the_result(tmp_path):
    result = api_tasks.flaky.enqueue(str(tmp_path), 2)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3
    assert result.attempts == 3 == len(result.worker_ids)
    assert [e.exception_class for e in result.errors] == [ConnectionError, ConnectionError]


@pytest.mark.django_db
def test_retries_stop_at_max_retries_and_the_result_fails_with_every_error(tmp_path):
    result = api_tasks.flaky.enqueue(str(tmp_path), 10)
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 4, "the first attempt and max_retries=3 more"
    assert len(result.errors) == 4
    assert "attempt 4 failed" in result.errors[-1].traceback


@pytest.mark.django_db
def test_an_error_not_in_retry_on_fails_at_once():
    result = api_tasks.flaky.enqueue(None, 0)  # Path(None): TypeError, not retried
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1
    assert result.errors[0].exception_class is TypeError


def test_the_backoff_doubles_up_to_its_cap_with_jitter_below_it():
    steady = options(retry_on=(OSError,), max_retries=5, retry_backoff=2,
                     retry_backoff_max=10, retry_jitter=False)  # fmt: skip
    assert [retry_delay(steady, OSError(), n) for n in range(1, 7)] == [2, 4, 8, 10, 10, None]
    assert retry_delay(steady, ValueError(), 1) is None
    jittered = options(retry_on=(OSError,), retry_backoff=8)
    assert all(0 <= retry_delay(jittered, OSError(), 1) <= 8 for _ in range(50))
    assert retry_delay(api_tasks.add, OSError(), 1) is None, "a plain Task never retries"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"retry_on": ("ConnectionError",)}, "retry_on must be a tuple of exception classes"),
        ({"max_retries": -1}, "max_retries must be a whole number"),
        ({"retry_backoff": 10, "retry_backoff_max": 5}, "retry_backoff_max no less"),
        ({"time_limit": 0}, "time_limit must be a number of seconds above 0"),
        ({"soft_time_limit": 5, "time_limit": 5}, "soft_time_limit must be below time_limit"),
        ({"on_success": 42}, "on_success must be a Django task or its dotted path"),
        ({"rate_limit": "fast"}, "rate_limit must be tasks per second, minute or hour"),
        ({"rate_limit": "10/d"}, "like '10/s', '100/m' or '1000/h'"),
        ({"rate_limit": "0/s"}, "above 0"),
        ({"rate_limit": 10}, "rate_limit must be"),
    ],
)
def test_options_that_cannot_work_are_refused_when_the_task_is_defined(given, message):
    with pytest.raises(InvalidTask, match=message):
        options(**given)


def test_djangos_own_decorator_takes_the_options_where_it_passes_them_on():
    """Django 6.1 and the backport pass ``@task(**kwargs)`` to the backend's task_class;
    Django 6.0's ``@task`` takes none, and ``taskhub.tasks_api.options.task`` is the
    same call on every version."""
    passes_options = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(compat.task).parameters.values()
    )
    given = {"queue_name": "normal", "retry_on": (OSError,), "time_limit": 5}
    if passes_options:
        defined = compat.task(**given)(api_tasks.add.func)
        assert isinstance(defined, CeleryTask)
        assert (defined.retry_on, defined.time_limit) == ((OSError,), 5)
    else:
        with pytest.raises(TypeError, match="retry_on"):
            compat.task(**given)
    assert options(retry_on=(OSError,)).using(priority=10).retry_on == (OSError,)


@pytest.mark.django_db
@pytest.mark.parametrize(("fail", "outcome"), [(False, "SUCCESSFUL"), (True, "FAILED")])
def test_a_hook_runs_after_the_task_with_its_result(tmp_path, fail, outcome):
    seen = []
    task_finished.connect(receiver := lambda sender, task_result, **kw: seen.append(task_result))
    try:
        result = api_tasks.succeed_or_fail.enqueue(str(tmp_path), fail)
    finally:
        task_finished.disconnect(receiver)
    assert result.status == outcome
    assert (tmp_path / "outcome").read_text() == f"succeed_or_fail {outcome}"
    assert [r.task.name for r in seen] == ["succeed_or_fail", "record_outcome"], (
        "the hook is enqueued after the task's own task_finished"
    )
    hook_run = DjangoTaskResult.objects.get(task_path="tests.api_tasks.record_outcome")
    assert hook_run.args == [result.id]


@pytest.mark.django_db
def test_a_hook_that_names_no_task_is_logged_and_the_result_stands(caplog):
    result = api_tasks.fail_with_a_lost_hook.enqueue()
    assert result.status == TaskResultStatus.FAILED
    assert "its hook tests.api_tasks.no_such_hook" in caplog.text


@pytest.mark.django_db
def test_time_limits_travel_with_the_message_and_with_a_resend(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    published = []
    monkeypatch.setattr("taskhub.delivery.outbox.publish", published.append)
    with django_capture_on_commit_callbacks(execute=True):
        from django.db import transaction

        with transaction.atomic():
            result = api_tasks.overrun.enqueue(1, False)
    message = OutboxMessage.objects.get(task_id=result.id)
    assert (message.options["soft_time_limit"], message.options["time_limit"]) == (0.5, 2)
    OutboxMessage.objects.all().delete()
    DjangoTaskResult.objects.filter(pk=result.id).update(
        enqueued_at=timezone.now() - timedelta(hours=1)
    )
    assert send_unstarted(timedelta(minutes=1)) == 1
    resent = OutboxMessage.objects.get(task_id=result.id)
    assert (resent.options["soft_time_limit"], resent.options["time_limit"]) == (0.5, 2)


@pytest.mark.django_db(transaction=True)
def test_a_rate_limit_travels_in_headers_on_every_way_out(settings, monkeypatch):
    """``enqueue`` outside a transaction, inside one (the outbox), ``enqueue_many`` (the
    fan-out) and the relay's resend all carry it; a task without one carries none."""
    from django.db import transaction

    from taskhub.delivery import fanout
    from taskhub.tasks import run_django_task

    settings.CELERY_TASK_ALWAYS_EAGER = False
    published, fanned_out = [], []
    monkeypatch.setattr(run_django_task, "apply_async", lambda *a, **kw: published.append(kw))
    monkeypatch.setattr(fanout, "send_with_ids", lambda task, calls, **kw: fanned_out.append(kw))
    monkeypatch.setattr("taskhub.delivery.outbox.publish", lambda message: True)
    expected = {"taskhub_django_task": "tests.api_tasks.limited", "taskhub_rate_limit": "2/s"}
    api_tasks.limited.enqueue("direct")
    with transaction.atomic():
        in_transaction = api_tasks.limited.enqueue("in a transaction")
        compat.default_task_backend.enqueue_many(api_tasks.limited, [(["bulk"], {})])
    api_tasks.add.enqueue(1, 2)
    stored = OutboxMessage.objects.get(task_id=in_transaction.id).options
    assert [published[0]["headers"], stored["headers"], fanned_out[0]["headers"]] == [expected] * 3
    assert "headers" not in published[1], "no limit, no headers"
    OutboxMessage.objects.all().delete()
    DjangoTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(hours=1))
    assert send_unstarted(timedelta(minutes=1)) == 4
    resent = {m.args[0]: m.options.get("headers") for m in OutboxMessage.objects.all()}
    assert sorted(resent.values(), key=bool) == [None, expected, expected, expected]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_a_worker_a_rate_limited_task_is_spaced_and_others_pass_it(redis_broker, tmp_path):
    """Six runs at 2/s take 2.5 s at least; a task of no limit sent after them is not
    held behind them; each run still happens once."""
    limited = [api_tasks.limited.enqueue(f"run {i}") for i in range(6)]
    free = api_tasks.add.enqueue(1, 1)
    everything = [*limited, free]
    with running_worker("normal", redis_broker, tmp_path, concurrency=4):
        wait_for(lambda: all(r.refresh() or r.is_finished for r in everything), 60, "7 results")
    starts = sorted(r.started_at for r in limited)
    assert starts[-1] - starts[0] >= timedelta(seconds=2.4), starts
    assert free.started_at < starts[-1], "the free task ran while the limited ones waited"
    assert {r.status for r in everything} == {TaskResultStatus.SUCCESSFUL}
    assert all(r.attempts == 1 for r in everything)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_a_worker_retries_wait_their_backoff_and_time_limits_end_runs(redis_broker, tmp_path):
    flaky = api_tasks.flaky.enqueue(str(tmp_path), 2)
    gives_up = api_tasks.overrun.enqueue(3, False)
    stubborn = api_tasks.overrun.enqueue(10, True)
    hooked = api_tasks.succeed_or_fail.enqueue(str(tmp_path), True)
    results = [flaky, gives_up, stubborn, hooked]

    def finished() -> bool:
        for result in results:
            result.refresh()
        return all(result.is_finished for result in results)

    def explain() -> str:
        states = [
            (r.task.name, r.status, [e.exception_class_path for e in r.errors]) for r in results
        ]
        return f"{states}\n{worker.log()[-3000:]}"

    with running_worker("normal", redis_broker, tmp_path, concurrency=2) as worker:
        wait_for(finished, 60, "the four results", explain)
        outcome = tmp_path / "outcome"
        wait_for(outcome.exists, 30, "the failure hook")
    assert flaky.status == TaskResultStatus.SUCCESSFUL and flaky.return_value == 3
    assert flaky.attempts == 3
    assert flaky.finished_at - flaky.enqueued_at >= timedelta(seconds=0.2 + 0.4)
    assert gives_up.status == TaskResultStatus.FAILED
    assert [e.exception_class for e in gives_up.errors] == [SoftTimeLimitExceeded]
    assert stubborn.status == TaskResultStatus.FAILED
    assert [e.exception_class for e in stubborn.errors] == [TimeLimitExceeded]
    assert stubborn.finished_at - stubborn.started_at < timedelta(seconds=5)
    assert outcome.read_text() == "succeed_or_fail FAILED"
