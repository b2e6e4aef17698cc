"""What Django's Tasks API leaves to backends, as options of the task itself: retries
with backoff, time limits, a rate limit, and tasks to run when it succeeds or fails for
good.

    from taskhub.tasks_api.options import task

    @task(queue_name="normal", retry_on=(ConnectionError,), max_retries=5,
          retry_backoff=2, soft_time_limit=50, time_limit=60, rate_limit="10/s",
          on_failure="billing.tasks.alert_finance")
    def fetch(url: str) -> int: ...

``CeleryBackend.task_class`` is ``CeleryTask``, so on Django 6.1 and the django-tasks
backport, Django's own ``@task(...)`` takes the same options. Django 6.0's ``@task``
takes no others: ``taskhub.tasks_api.options.task`` reads the same on every version.

- ``retry_on``: the exceptions that make an attempt run again, up to ``max_retries``
  more times (3), the first ``retry_backoff`` seconds later (1), each wait twice the
  last, at most ``retry_backoff_max`` (600), a random part of it with
  ``retry_jitter`` (on), as Celery's ``autoretry_for`` does. Between attempts the
  result is READY; each attempt adds its worker to ``worker_ids`` (``attempts``) and
  its error to ``errors``.
- ``soft_time_limit`` raises ``SoftTimeLimitExceeded`` in the task (which it may catch
  to clean up); ``time_limit`` ends the worker process running it, and the result is
  FAILED with ``TimeLimitExceeded``. Seconds. As Celery's own, they hold on a prefork
  worker on Linux and on gevent (``taskhub.worker.green`` adds the soft one); the
  threads pool enforces none; taskhub's asyncio pool raises either where an ``async
  def`` task awaits (``taskhub.worker.async_pool``), never in synchronous code, and
  its ``time_limit`` ends the run there, not the process.
- ``rate_limit``: at most that many runs of this task a second, minute or hour per
  worker (``"10/s"``, ``"100/m"``, ``"1000/h"``), as Celery's own ``rate_limit``: the
  worker holds a message until the task's token bucket has a token, and other tasks
  run meanwhile (``taskhub.worker.rate_limits``).
- ``on_success`` and ``on_failure``: a Django task (or its dotted path), enqueued with
  the finished result's id when this one succeeds, or fails for good (retries spent,
  time limit), after ``task_finished``. It reads the result with ``get_result``.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskhub.tasks_api.compat import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_PRIORITY,
    DEFAULT_TASK_QUEUE_NAME,
    InvalidTask,
    Task,
    task_backends,
)
from taskhub.worker.rate_limits import per_second


# Django's Task is not generic at run time (the backport's is), so no parameters here;
# annotations naming it are quoted for the same reason.
@dataclass(frozen=True, slots=True, kw_only=True)
class CeleryTask(Task):  # type: ignore[type-arg]
    retry_on: tuple[type[BaseException], ...] = ()
    max_retries: int = 3
    retry_backoff: float = 1.0
    retry_backoff_max: float = 600.0
    retry_jitter: bool = True
    soft_time_limit: float | None = None
    time_limit: float | None = None
    rate_limit: str | None = None
    on_success: "str | Task | None" = None  # type: ignore[type-arg]
    on_failure: "str | Task | None" = None  # type: ignore[type-arg]


def task(
    function: Callable[..., Any] | None = None,
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    takes_context: bool = False,
    **options: Any,
) -> Any:
    """Django's ``@task``, passing ``options`` to the backend's ``task_class``, as Django
    6.1 does, on every version."""

    def wrapper(func: Callable[..., Any]) -> "Task[Any, Any]":
        return task_backends[backend].task_class(
            func=func,
            priority=priority,
            queue_name=queue_name,
            backend=backend,
            takes_context=takes_context,
            run_after=None,  # required in Django 6.0's Task
            **options,
        )

    return wrapper(function) if function else wrapper


def validate(task: "Task[Any, Any]") -> None:
    """A clear error for options that cannot work, when the task is defined."""
    if not isinstance(task, CeleryTask):
        return
    name = task.module_path
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in task.retry_on):
        raise InvalidTask(f"{name}: retry_on must be a tuple of exception classes")
    if not isinstance(task.max_retries, int) or task.max_retries < 0:
        raise InvalidTask(f"{name}: max_retries must be a whole number, 0 or more")
    if task.retry_backoff < 0 or task.retry_backoff_max < task.retry_backoff:
        raise InvalidTask(f"{name}: retry_backoff must be 0 or more, and retry_backoff_max no less")
    for limit in ("soft_time_limit", "time_limit"):
        seconds = getattr(task, limit)
        if seconds is not None and not seconds > 0:
            raise InvalidTask(f"{name}: {limit} must be a number of seconds above 0")
    if task.soft_time_limit and task.time_limit and task.soft_time_limit >= task.time_limit:
        raise InvalidTask(f"{name}: soft_time_limit must be below time_limit")
    if task.rate_limit is not None and not per_second(task.rate_limit):
        raise InvalidTask(
            f"{name}: rate_limit must be tasks per second, minute or hour above 0, "
            "like '10/s', '100/m' or '1000/h'"
        )
    for hook in ("on_success", "on_failure"):
        value = getattr(task, hook)
        if not (value is None or isinstance(value, Task) or "." in str(value)):
            raise InvalidTask(f"{name}: {hook} must be a Django task or its dotted path")


def hook_path(task: "Task[Any, Any]", succeeded: bool) -> str | None:
    """The dotted path of the task to enqueue now that ``task`` has finished, if any."""
    hook = getattr(task, "on_success" if succeeded else "on_failure", None)
    return hook.module_path if isinstance(hook, Task) else hook


def retry_delay(task: "Task[Any, Any]", error: BaseException, attempts: int) -> float | None:
    """Seconds until the next attempt after ``attempts`` ended in ``error``, or None
    when the error is final."""
    if not isinstance(task, CeleryTask) or not isinstance(error, task.retry_on):
        return None
    if attempts > task.max_retries:
        return None
    delay = min(task.retry_backoff * 2 ** (attempts - 1), task.retry_backoff_max)
    return random.uniform(0, delay) if task.retry_jitter else delay  # noqa: S311 (jitter)
