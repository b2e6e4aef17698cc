"""Django Tasks API tasks for the tests, at module level as Django requires. A worker
imports them by path (``tests.api_tasks.add``) when it runs one."""

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded

from taskhub.tasks_api.compat import TaskContext, default_task_backend, task
from taskhub.tasks_api.options import task as task_with_options
from taskhub.tasks_api.periodic import periodic


@task(queue_name="normal")
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="normal")
def fail(message: str) -> None:
    raise ValueError(message)


@task(queue_name="normal")
def not_json() -> object:
    return object()


@task(queue_name="normal", takes_context=True)
def describe(context: TaskContext, label: str) -> dict:
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}


@task(queue_name="normal")
async def wait_and_return(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


@task(queue_name="normal")
def touch(folder: str, name: str) -> str:
    (Path(folder) / name).write_text(name)
    return name


_running = 0


@task(queue_name="normal")
async def overlap(seconds: float) -> dict:
    """How many of these were awaiting when this one started, in which process and loop
    (all on one loop's thread, so the counter needs no lock)."""
    global _running
    _running += 1
    running_at_start = _running
    try:
        await asyncio.sleep(seconds)
    finally:
        _running -= 1
    loop = id(asyncio.get_running_loop())
    return {"pid": os.getpid(), "loop": loop, "running_at_start": running_at_start}


@task_with_options(
    queue_name="normal",
    retry_on=(ConnectionError,),
    max_retries=3,
    retry_backoff=0.2,
    retry_jitter=False,
)
def flaky(folder: str, failures: int) -> int:
    """Fails its first ``failures`` attempts with ConnectionError, counted in a file so
    that attempts in other processes count too; returns the attempt that succeeded."""
    counter = Path(folder) / "attempts"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= failures:
        raise ConnectionError(f"attempt {attempt} failed")
    return attempt


@task_with_options(queue_name="normal", soft_time_limit=0.5, time_limit=2)
def overrun(seconds: float, stubborn: bool) -> str:
    """Runs ``seconds``; when ``stubborn``, past its soft time limit too."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            if not stubborn:
                raise
    return "done"


@task_with_options(
    queue_name="normal",
    on_success="tests.api_tasks.record_outcome",
    on_failure="tests.api_tasks.record_outcome",
)
def succeed_or_fail(folder: str, fail: bool) -> str:
    if fail:
        raise ValueError("asked to fail")
    return "ok"


@task_with_options(queue_name="normal", rate_limit="2/s")
def limited(label: str) -> str:
    return label


@task_with_options(queue_name="normal", on_failure="tests.api_tasks.no_such_hook")
def fail_with_a_lost_hook() -> None:
    raise ValueError("asked to fail")


@task(queue_name="normal")
def record_outcome(result_id: str) -> str:
    """A hook: writes what it was told of into the finished task's folder."""
    finished = default_task_backend.get_result(result_id)
    (Path(finished.args[0]) / "outcome").write_text(f"{finished.task.name} {finished.status}")
    return str(finished.status)


@periodic(timedelta(minutes=5), name="add every five minutes", args=[2, 3])
@task(queue_name="normal")
def add_periodically(a: int, b: int) -> int:
    return a + b


@task(queue_name="normal")
def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


@task(queue_name="normal", takes_context=True)
def cancelled_while_running(context: TaskContext) -> str:
    """Staff cancel it while it runs: what it returns afterwards must not count."""
    from taskhub.models import DjangoTaskResult
    from taskhub.ops import operations

    result = DjangoTaskResult.objects.get(pk=context.task_result.id)
    operations.cancel_django_task(result, None)
    return "finished anyway"
