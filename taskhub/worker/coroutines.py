"""Where a task's coroutine runs: one event loop per process, on a thread of its own.

A synchronous caller (Celery's tracer, a Django task's run) hands the coroutine of an
``async def`` task to ``run_coroutine`` and gets its result. On the asyncio pool
(``taskhub.worker.async_pool``) the task's run is a greenlet on the loop's own thread:
it sets ``awaiter``, and the coroutine is awaited by the loop beside every other task's
while nothing else waits. On any other pool the calling thread (a pool thread, a
prefork child) waits for the loop, holding its slot.
"""

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

#: Set inside a task run of the asyncio pool: hands a coroutine to the pool's loop and
#: returns its result (or raises its error) once the loop has awaited it.
awaiter: ContextVar[Callable[[Coroutine[Any, Any, Any]], Any] | None] = ContextVar(
    "taskhub_awaiter", default=None
)

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_thread: threading.Thread | None = None
_loop_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's one event loop, running on a thread of its own. Made on first use
    in each process: a forked pool child has no copy of its parent's loop thread."""
    global _loop, _loop_pid, _loop_thread
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            _loop_thread = threading.Thread(
                target=_loop.run_forever, name="taskhub-event-loop", daemon=True
            )
            _loop_thread.start()
        return _loop


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` on this process's loop and return its result."""
    wait_for = awaiter.get()
    if wait_for is not None:
        return wait_for(coroutine)
    loop = event_loop()
    if threading.current_thread() is _loop_thread:
        coroutine.close()
        raise RuntimeError(
            "a coroutine was handed to the event loop from the loop's own thread outside "
            "a task run: it would wait for itself"
        )
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()
