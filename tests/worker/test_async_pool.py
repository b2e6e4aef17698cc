"""The asyncio pool (``taskhub.worker.async_pool``): its parts alone, then real workers on
Redis running Celery and Django ``async def`` tasks, many awaiting at once in one
process, and the faults every pool is tested with (SIGKILL, a Redis restart)."""

import asyncio
import threading

import pytest
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded, Terminated, TimeLimitExceeded
from django.db import transaction
from django_celery_results.models import TaskResult

from taskhub.delivery import outbox
from taskhub.tasks_api.compat import TaskResultStatus
from taskhub.worker import async_pool, coroutines
from tests import api_tasks
from tests.probe_tasks import await_hang, await_record, await_whoami, effects, runs
from tests.workers import (
    SHORT_VISIBILITY,
    broker_connection,
    outboxed_through_a_redis_restart,
    poisoned_until_dead_lettered,
    relayed_effects,
    running_worker,
)
from tools.workers import wait_for

ASYNC_POOL = {
    "env": {"CELERY_CUSTOM_WORKER_POOL": "taskhub.worker.async_pool:TaskPool"},
    "extra_args": ("--pool", "custom"),
}


async def sleep_and_return(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


def test_a_coroutine_outside_a_pool_run_is_run_on_the_process_loop():
    assert coroutines.run_coroutine(sleep_and_return(0, "done")) == "done"


def test_a_coroutine_handed_over_from_the_loops_own_thread_is_refused():
    loop = coroutines.event_loop()
    outcome = {}

    def on_the_loop():
        try:
            coroutines.run_coroutine(sleep_and_return(0, "never"))
        except RuntimeError as exc:
            outcome["error"] = str(exc)

    loop.call_soon_threadsafe(on_the_loop)
    wait_for(lambda: "error" in outcome, 5, "the refusal")
    assert "would wait for itself" in outcome["error"]


def test_async_celery_tasks_are_made_runnable_and_others_are_left_alone():
    app = Celery("host", set_as_current=False)

    @app.task(name="host.fetch")
    async def fetch(value: str) -> str:
        return await sleep_and_return(0, value)

    @app.task(name="host.plain")
    def plain() -> str:
        return "plain"

    plain_run = app.tasks["host.plain"].run
    async_pool.serve_async_tasks(app)
    assert app.tasks["host.fetch"].run("fetched") == "fetched"
    assert app.tasks["host.plain"].run is plain_run


def limited(soft: float | None, hard: float | None, awaited: float):
    async def run():
        limits = async_pool.TimeLimits(soft, hard, asyncio.get_running_loop().time())
        return await limits.within(asyncio.sleep(awaited, "in time"))

    return asyncio.run(run())


def test_an_await_past_the_soft_limit_raises_it_and_past_the_hard_one_that():
    assert limited(None, None, 0) == "in time"
    assert limited(5, 10, 0) == "in time"
    assert limited(5, 5, 0) == "in time", "equal limits are two deadlines, not a crash"
    with pytest.raises(SoftTimeLimitExceeded):
        limited(0.05, 10, 5)
    with pytest.raises(TimeLimitExceeded):
        limited(None, 0.05, 5)


def test_a_coroutines_own_timeout_is_its_error_not_a_time_limit():
    async def run():
        limits = async_pool.TimeLimits(10, 20, asyncio.get_running_loop().time())
        return await limits.within(asyncio.wait_for(asyncio.sleep(5), 0.01))

    with pytest.raises(TimeoutError):
        asyncio.run(run())


def test_a_run_terminated_while_it_waits_for_a_slot_is_given_back_not_run():
    """With one slot, the second run waits; terminated there (a revoke, a lost
    connection), it never starts, and Celery hears it was terminated, so the message
    is not acknowledged."""
    pool = async_pool.TaskPool(limit=1, app=Celery("host", set_as_current=False))
    pool.start()
    outcomes, ran = [], []

    def target(name):
        def run():
            ran.append(name)
            return coroutines.run_coroutine(sleep_and_return(0.3, name))

        return run

    pool.apply_async(target("first"), callback=outcomes.append)
    waiting = pool.apply_async(target("second"), callback=outcomes.append)
    waiting.terminate()
    wait_for(lambda: len(outcomes) == 2, 10, "both answers")
    failed, info, _ = outcomes[0]
    assert failed and isinstance(info.exception.exc, Terminated), "as Celery unwraps it"
    assert outcomes[1] == "first" and ran == ["first"]
    pool.stop()


def test_a_run_hands_its_coroutine_to_the_loop_and_gets_its_result_or_error():
    """Two runs on the pool's loop without a worker: each awaits on the loop while the
    other goes on, and an error is raised in the run where it awaited."""
    app = Celery("host", set_as_current=False)
    pool = async_pool.TaskPool(limit=10, app=app)
    pool.start()
    outcomes: list[tuple[str, object]] = []
    started = threading.Event()

    def job(name: str, coroutine_factory):
        def target():
            try:
                started.set()
                return coroutines.run_coroutine(coroutine_factory())
            except ValueError as exc:
                return exc

        return target

    async def fails():
        await asyncio.sleep(0.01)
        raise ValueError("bad input")

    pool.apply_async(job("slow", lambda: sleep_and_return(0.3, "slow")),
                     callback=lambda value: outcomes.append(("slow", value)))  # fmt: skip
    pool.apply_async(job("fails", fails), callback=lambda value: outcomes.append(("fails", value)))
    wait_for(lambda: len(outcomes) == 2, 10, "both runs")
    (first, error), (second, value) = outcomes
    assert (first, second, value) == ("fails", "slow", "slow"), "the fast one ended first"
    assert isinstance(error, ValueError) and str(error) == "bad input"
    pool.stop()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_hundred_async_celery_tasks_await_at_once_in_one_process(
    redis_broker, tmp_path, probe_dir
):
    """Each awaits 1 s; on the threads pool ``-c 16`` at most 16 would be in flight."""
    sent = 100
    with broker_connection(redis_broker, tmp_path) as connection:
        for i in range(sent):
            await_record.apply_async((str(probe_dir), f"k{i:03d}", 1.0), task_id=f"k{i:03d}",
                                     connection=connection)  # fmt: skip
    with running_worker("normal", redis_broker, tmp_path, concurrency=100, **ASYNC_POOL) as w:
        wait_for(lambda: len(effects(probe_dir)) == sent, 60, "every task done")
        wait_for(lambda: TaskResult.objects.filter(status="SUCCESS").count() == sent, 30,
                 "every result stored", lambda: w.log()[-3000:])  # fmt: skip
    returned = [result.result for result in TaskResult.objects.all()]
    assert len({value for value in returned if '"pid"' in value}) == sent
    awaiting = [TaskResult.objects.get(task_id=f"k{i:03d}").result for i in range(sent)]
    assert max(int(value.split('"awaiting_at_start": ')[1].rstrip("}")) for value in awaiting) > 16
    assert runs(probe_dir) == sent, "each message run once and acknowledged"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_async_celery_task_knows_its_request_and_logs_under_its_name(redis_broker, tmp_path):
    """Its coroutine runs in the loop's own greenlet: Celery's request, current task and
    the log line's task name and id are still the task's own there."""
    with broker_connection(redis_broker, tmp_path) as connection:
        for n in range(3):
            await_whoami.apply_async((0.2,), task_id=f"who-{n}", connection=connection)
    with running_worker("normal", redis_broker, tmp_path, concurrency=10, **ASYNC_POOL) as w:
        done = TaskResult.objects.filter(status="SUCCESS")
        wait_for(lambda: done.count() == 3, 30, "three results", lambda: w.log()[-3000:])
        log = w.log()
    assert sorted(r.result for r in done) == ['"who-0"', '"who-1"', '"who-2"']
    for n in range(3):
        assert f"probe.await_whoami[who-{n}] tests.probe: awaited as who-{n}" in log, log[-3000:]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_async_django_tasks_await_together_and_their_results_are_stored(redis_broker, tmp_path):
    results = [api_tasks.overlap.enqueue(0.5) for _ in range(30)]
    failed = api_tasks.fail.enqueue("bad input")
    with running_worker("normal", redis_broker, tmp_path, concurrency=50, **ASYNC_POOL):
        wait_for(lambda: all(r.refresh() or r.is_finished for r in [*results, failed]), 60,
                 "31 Django tasks")  # fmt: skip
    assert {r.status for r in results} == {TaskResultStatus.SUCCESSFUL}
    assert max(r.return_value["running_at_start"] for r in results) > 16
    assert len({r.return_value["loop"] for r in results}) == 1, "on one event loop"
    assert failed.status == TaskResultStatus.FAILED and "bad input" in failed.errors[0].traceback


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_async_tasks_soft_limit_cancels_it_where_it_awaits(redis_broker, tmp_path, probe_dir):
    with broker_connection(redis_broker, tmp_path) as connection:
        await_hang.apply_async((str(probe_dir), "stuck", 60), task_id="stuck", soft_time_limit=1,
                               time_limit=10, connection=connection)  # fmt: skip
        await_record.apply_async((str(probe_dir), "beside", 0), connection=connection)
    with running_worker("normal", redis_broker, tmp_path, concurrency=10, **ASYNC_POOL):
        wait_for(
            lambda: TaskResult.objects.filter(task_id="stuck", status="FAILURE").exists(),
            30,
            "the stuck task recorded as failed",
        )
    assert (probe_dir / "stuck.cancelled").read_text() == "cancelled where it awaited"
    assert "SoftTimeLimitExceeded" in TaskResult.objects.get(task_id="stuck").result
    assert effects(probe_dir) == ["beside"], "the task beside it ran meanwhile"


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_sigkill_of_an_async_worker_loses_nothing(redis_broker, settings, tmp_path, probe_dir):
    """Every message in flight is unacknowledged when the process dies: all come back
    (liveness), and each effect happens once."""
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 8
    with transaction.atomic():
        for i in range(300):
            outbox.enqueue(await_record, str(probe_dir), f"k{i:04d}", 0.5)
    options = {"concurrency": 100, "env": {**SHORT_VISIBILITY, **ASYNC_POOL["env"]},
               "extra_args": ASYNC_POOL["extra_args"]}  # fmt: skip
    with running_worker("normal", redis_broker, tmp_path, **options) as worker:
        wait_for(lambda: len(effects(probe_dir)) >= 50, 60, "some work done")
        worker.kill()
    assert len(effects(probe_dir)) < 300, "killed with work in flight"
    with running_worker("normal", redis_broker, tmp_path, **options):
        wait_for(lambda: relayed_effects(probe_dir) == 300, 90, "all 300 effects")
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(300)]


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_under_an_async_worker_loses_nothing(settings, tmp_path, probe_dir):
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 20
    outboxed_through_a_redis_restart(
        settings, tmp_path, probe_dir, await_record, 300, 1.0, concurrency=100, **ASYNC_POOL
    )
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(300)]


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_poison_message_that_kills_the_async_process_is_dead_lettered(
    redis_broker, tmp_path, probe_dir
):
    poisoned_until_dead_lettered(redis_broker, tmp_path, probe_dir, **ASYNC_POOL)
