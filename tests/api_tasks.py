"""Django Tasks API tasks for the tests, at module level as Django requires. A worker
imports them by path (``tests.api_tasks.add``) when it runs one."""

import asyncio
import os
import time
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded

from taskhub.tasks_api.compat import TaskContext, task
from taskhub.tasks_api.options import task as task_with_options


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
