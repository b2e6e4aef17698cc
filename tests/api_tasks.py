"""Django Tasks API tasks for the tests, at module level as Django requires. A worker
imports them by path (``tests.api_tasks.add``) when it runs one."""

import asyncio
import os
from pathlib import Path

from taskhub.tasks_api.compat import TaskContext, task


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
