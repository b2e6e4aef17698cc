"""The asyncio pool, for queues of ``async def`` tasks: a task that awaits holds no slot.

Start it with Celery's hook for a pool of its own::

    CELERY_CUSTOM_WORKER_POOL=taskhub.worker.async_pool:TaskPool \\
        celery -A project worker -P custom -Q io -c 200 --loglevel INFO

**Why.** On Celery's pools a task holds its slot (a process, a thread, a greenlet) until
it ends, awaiting included: 32 slots wait on 32 requests at most. Here one event loop
per worker process awaits the coroutines of up to ``-c`` tasks at once, and takes the
next message while they wait. ``-c`` bounds the tasks in flight, and the prefetch
(``-c`` x the multiplier) what the process holds; every message is acknowledged only
when its task has ended, so acks late, liveness and redelivery work as on any pool.

**How.** Celery's tracer, which stores the result, sends the signals and decides a
retry, is synchronous, and so is a Django task's run. Each task runs in a greenlet on
the loop's thread (``TaskRun``): the tracer goes on until the task hands its coroutine
to ``coroutines.run_coroutine``; the greenlet then switches back to the loop, which
awaits the coroutine beside the others and switches back with its result or error (the
bridge SQLAlchemy's asyncio support uses). Code between awaits (the tracer, the
result's writes, a ``def`` task's whole body) runs on the loop's thread and holds up
the others for that long: send only ``async def`` tasks to this pool.

It serves Django Tasks API ``async def`` tasks and Celery ``async def`` tasks alike
(``serve_async_tasks``). Time limits hold at the task's awaits: at its soft limit its
coroutine is cancelled (``CancelledError`` where it awaits, so its ``finally`` blocks
run) and the task fails with ``SoftTimeLimitExceeded``; at the hard limit, with
``TimeLimitExceeded``.

**Why our own.** celery-aio-pool (AGPL-3.0, a release candidate) runs one task at a
time per worker and has no time limits; the asyncio pool proposed upstream (celery
#10634) is not merged. This is Celery's own pool interface (``BasePool``).
"""

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery._state import _task_stack  # type: ignore[attr-defined]  # Celery's own stack
from celery.concurrency.base import BasePool, apply_target
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from greenlet import GreenletExit, getcurrent, greenlet

from taskhub.worker import coroutines
from taskhub.worker.green import killable, terminated

logger = logging.getLogger(__name__)


class TaskRun(greenlet):
    """One task's run, from its tracer's start to its callback, on the loop's thread."""

    def __init__(self, job: Callable[[], Any]) -> None:
        super().__init__(self._start)
        self.job = job

    def _start(self, *_first_switch: Any) -> Any:
        coroutines.awaiter.set(self.wait_for)
        return self.job()

    def wait_for(self, awaitable: Awaitable[Any]) -> Any:
        """Back to the loop until ``awaitable`` is done: its result, or its error raised."""
        return self.parent.switch(awaitable)


class TimeLimits:
    """A task's soft and hard limits as deadlines on the loop's clock, the nearest first."""

    def __init__(self, soft: float | None, hard: float | None, now: float) -> None:
        self.pending = sorted(
            (
                (now + seconds, error)
                for seconds, error in [
                    (soft, SoftTimeLimitExceeded(f"soft time limit ({soft}s) exceeded")),
                    (hard, TimeLimitExceeded(hard)),
                ]
                if seconds
            ),
            key=lambda pending: pending[0],
        )

    async def within(self, awaitable: Awaitable[Any]) -> Any:
        """Await ``awaitable``; past the nearest deadline, cancel it and raise that
        limit's error (each limit fires once)."""
        if not self.pending:
            return await awaitable
        deadline, error = self.pending[0]
        try:
            async with asyncio.timeout_at(deadline) as timeout:
                return await awaitable
        except TimeoutError:
            if not timeout.expired():
                raise  # the coroutine's own
            self.pending.pop(0)
            raise error from None


@contextmanager
def no_running_loop() -> Iterator[None]:
    """While a run's synchronous code goes on, the loop is not "running" for it: Django
    refuses database calls from a thread whose event loop runs (``async_unsafe``), and
    this code is synchronous, between two awaits."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


def serve_async_tasks(app: Celery) -> None:
    """Make each ``async def`` Celery task of ``app`` runnable by Celery's synchronous
    tracer: its ``run`` hands the coroutine to ``coroutines.run_coroutine``."""
    for task in app.tasks.values():
        if inspect.iscoroutinefunction(task.run):
            task.run = _awaited(task.run)  # type: ignore[method-assign]  # the tracer's


def _awaited(run: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(run)
    def awaited_run(*args: Any, **kwargs: Any) -> Any:
        return coroutines.run_coroutine(run(*args, **kwargs))

    return awaited_run


class TaskPool(BasePool):
    """Celery's pool interface over one event loop: ``-c`` tasks in flight at once."""

    body_can_be_buffer = True
    signal_safe = False

    def on_start(self) -> None:
        self.loop = coroutines.event_loop()
        self.slots = asyncio.Semaphore(self.limit or 1)
        self.runs: set[asyncio.Task[None]] = set()
        serve_async_tasks(self.app)
        for stack in [_task_stack, *(task.request_stack for task in self.app.tasks.values())]:
            stack.__ident_func__ = run_ident

    def on_apply(  # type: ignore[override]  # the stubs say None; Celery keeps what it returns
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        soft_timeout: float | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> "Run":
        run = Run(self.loop)
        job = functools.partial(
            apply_target, killable(target), args, kwargs, callback, accept_callback
        )
        self.loop.call_soon_threadsafe(self.begin, run, job, callback, soft_timeout, timeout)
        return run

    def begin(
        self, run: "Run", job: Callable[[], Any], callback: Callable[..., Any] | None,
        soft: float | None, hard: float | None,
    ) -> None:  # fmt: skip
        """On the loop: the run's asyncio task, unless it was terminated on its way."""
        if run.terminated:
            self.never_started(callback)
            return
        run.task = self.loop.create_task(self.drive(run, job, soft, hard))
        self.runs.add(run.task)
        run.task.add_done_callback(functools.partial(self.finished, run, callback))

    def finished(
        self, run: "Run", callback: Callable[..., Any] | None, task: "asyncio.Task[None]"
    ) -> None:
        self.runs.discard(task)
        if task.cancelled():
            if not run.started:
                self.never_started(callback)
        elif task.exception() is not None:
            logger.error("the asyncio pool failed a run", exc_info=task.exception())

    @staticmethod
    def never_started(callback: Callable[..., Any] | None) -> None:
        """A run terminated before it had a slot (a revoke, a lost connection): Celery
        hears it was terminated, and leaves its message to the broker."""
        if callback is not None:
            callback(terminated("it was terminated before it started"))

    async def drive(
        self, run: "Run", job: Callable[[], Any], soft: float | None, hard: float | None
    ) -> None:
        """Run ``job`` in a greenlet, awaiting each coroutine it hands over, within its
        time limits."""
        await self.slots.acquire()
        run.started = True
        task_run = TaskRun(job)
        this = asyncio.current_task()
        _driving[this] = task_run
        try:
            limits = TimeLimits(soft, hard, self.loop.time())
            value: Any = None
            error: BaseException | None = None
            while True:
                with no_running_loop():
                    awaitable = task_run.switch(value) if error is None else task_run.throw(error)
                if task_run.dead:
                    return
                value, error = None, None
                try:
                    value = await limits.within(awaitable)
                except BaseException as exc:  # the coroutine's own error, raised where it awaited
                    outside = isinstance(exc, asyncio.CancelledError) and stopped_from_outside()
                    error = GreenletExit() if outside else exc
        finally:
            _driving.pop(this, None)
            self.slots.release()

    def terminate_job(self, pid: int, signal: Any = None) -> None:
        """Every task of this pool runs in the same process: the job is ended by its
        own ``Run.terminate``, which Celery calls next."""

    def on_stop(self) -> None:
        """A warm shutdown: the tasks in flight finish (as the threads pool's do)."""
        asyncio.run_coroutine_threadsafe(self.drain(), self.loop).result()

    async def drain(self) -> None:
        while self.runs:
            await asyncio.wait(set(self.runs))

    def on_terminate(self) -> None:
        self.loop.call_soon_threadsafe(self.cancel_all)

    def cancel_all(self) -> None:
        for task in self.runs:
            task.cancel()

    def _get_info(self) -> dict[str, Any]:
        info: dict[str, Any] = super()._get_info()  # type: ignore[misc]  # untyped in stubs
        return {**info, "in-flight": len(self.runs)}


class Run:
    """What Celery keeps of a task it gave the pool: ``terminate`` (Celery's revoke with
    terminate, a connection loss) cancels the run, from any thread, before or after the
    loop started it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: asyncio.Task[None] | None = None
        self.terminated = False
        self.started = False

    def terminate(self, signal: Any = None) -> None:
        self.loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        self.terminated = True
        if self.task is not None:
            self.task.cancel()


def stopped_from_outside() -> bool:
    """Whether the current run was cancelled from outside (``Run.terminate``, a cold
    shutdown), not by a coroutine of its own."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


#: The task run each of the pool's asyncio tasks drives.
_driving: "dict[asyncio.Task[Any] | None, TaskRun]" = {}


def run_ident() -> object:
    """Celery's per-task state (``self.request``, ``current_task``, and so the task name
    and id on log lines) is kept per greenlet. A run's coroutine runs in the loop's own
    greenlet, inside the asyncio task that drives the run: there, it is that run's."""
    current = getcurrent()
    if isinstance(current, TaskRun):
        return current
    try:
        driving = asyncio.current_task()
    except RuntimeError:  # no loop runs in this thread
        return current
    return _driving.get(driving, current)
