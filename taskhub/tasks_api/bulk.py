"""Bulk enqueue, which Django's Tasks API leaves for later (DEP 14):

    from taskhub.tasks_api.bulk import enqueue_many

    results = enqueue_many(send_invoice, [((order.pk,), {}) for order in orders])

On ``CeleryBackend`` it is ``CeleryBackend.enqueue_many``: one bulk insert of the
result rows and one fan-out of the messages (``taskhub.fanout``), commit-safe inside
``transaction.atomic()``. On any other backend, the same results from a loop of
``enqueue``, so code that uses it runs on Django's own backends too.
"""

from collections.abc import Iterable, Sequence
from typing import Any, cast

from taskhub.tasks_api.compat import Task, TaskResult


def enqueue_many(
    task: "Task[Any, Any]", calls: Iterable[tuple[Sequence[Any], dict[str, Any]]]
) -> "list[TaskResult[Any, Any]]":
    """``task.enqueue(*args, **kwargs)`` for every ``(args, kwargs)``, in order."""
    backend = task.get_backend()
    if hasattr(backend, "enqueue_many"):  # CeleryBackend's, typed there
        return cast("list[TaskResult[Any, Any]]", backend.enqueue_many(task, calls))
    return [task.enqueue(*args, **kwargs) for args, kwargs in calls]
