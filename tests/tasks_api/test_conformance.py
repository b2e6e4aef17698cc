"""The same cases against Django's reference backend (ImmediateBackend) and against
``CeleryBackend``, eager and on a real worker: the same exception for the same mistake,
the same statuses, return values and error classes, and the same signals at the same
moments. Code written for any backend behaves the same on taskhub's."""

from collections.abc import Callable
from typing import Any

import pytest

from taskhub.tasks_api.compat import (
    InvalidTask,
    TaskResult,
    TaskResultStatus,
    task_enqueued,
    task_finished,
    task_started,
)
from tests import api_tasks
from tests.workers import running_worker
from tools.workers import wait_for

try:
    from django.tasks.backends.immediate import ImmediateBackend
except ImportError:
    from django_tasks.backends.immediate import ImmediateBackend

QUEUES = ["high", "normal", "low"]
IMMEDIATE = {"BACKEND": f"{ImmediateBackend.__module__}.ImmediateBackend", "QUEUES": QUEUES}
CELERY = {"BACKEND": "taskhub.backends.CeleryBackend", "QUEUES": QUEUES}

CASES: dict[str, Callable[[], TaskResult]] = {
    "returns a value": lambda: api_tasks.add.enqueue(1, 2),
    "tuples arrive as lists": lambda: api_tasks.describe.enqueue(("a", "b")),
    "raises": lambda: api_tasks.fail.enqueue("bad input"),
    "returns what JSON cannot hold": lambda: api_tasks.not_json.enqueue(),
    "takes its context": lambda: api_tasks.describe.enqueue("ctx"),
    "is a coroutine": lambda: api_tasks.wait_and_return.enqueue(0.01, "done"),
    "an argument JSON cannot hold": lambda: api_tasks.add.enqueue(object(), 1),
    "a set as an argument": lambda: api_tasks.add.enqueue({1, 2}, 1),
    "bytes that are not UTF-8": lambda: api_tasks.add.enqueue(b"\xff", 1),
    "bytes that are UTF-8": lambda: api_tasks.describe.enqueue(b"ctx"),
    "an unknown keyword": lambda: api_tasks.add.enqueue(1, 2, c=3),
    "a priority out of range": lambda: api_tasks.add.using(priority=101).enqueue(1, 2),
    "a queue not in QUEUES": lambda: api_tasks.add.using(queue_name="urgent").enqueue(1, 2),
}


class Signals:
    """Which of Django's task signals fired, in order, with the status each carried."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.handlers = [
            (signal, self.recorder(name))
            for signal, name in [
                (task_enqueued, "enqueued"),
                (task_started, "started"),
                (task_finished, "finished"),
            ]
        ]

    def recorder(self, name: str) -> Callable[..., None]:
        def record(sender: Any, task_result: TaskResult, **kwargs: Any) -> None:
            self.seen.append((name, str(task_result.status)))

        return record

    def __enter__(self) -> "Signals":
        for signal, handler in self.handlers:
            signal.connect(handler)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signal, handler in self.handlers:
            signal.disconnect(handler)


def enqueue_each() -> dict[str, tuple[Any, list[tuple[str, str]]]]:
    """Each case's result (or the exception class it raised) and the signals it fired."""
    enqueued = {}
    for name, case in CASES.items():
        with Signals() as signals:
            try:
                outcome: Any = case()
            except Exception as exc:
                outcome = type(exc)
        enqueued[name] = (outcome, signals.seen)
    return enqueued


def outcome(result: Any) -> tuple:
    """What a caller can see of a case: the exception class raised at enqueue, or the
    result's arguments, status and return value or error class."""
    if isinstance(result, type):
        return ("raised", result)
    seen: tuple = (result.args, result.kwargs, result.status)
    if result.status == TaskResultStatus.FAILED:
        with pytest.raises(ValueError):
            result.return_value  # noqa: B018 (Django raises for a result without one)
        return (*seen, [error.exception_class for error in result.errors])
    value = result.return_value
    if isinstance(value, dict) and value.get("id") == result.id:
        value = {**value, "id": "<its own id>"}
    return (*seen, value)


def observed(backend: dict, settings) -> dict[str, tuple]:
    settings.TASKS = {"default": backend}
    return {name: (outcome(result), seen) for name, (result, seen) in enqueue_each().items()}


@pytest.mark.django_db
def test_eager_celery_backend_does_what_immediate_backend_does(settings):
    expected = observed(IMMEDIATE, settings)
    assert observed(CELERY, settings) == expected
    assert expected["returns a value"] == (
        ([1, 2], {}, TaskResultStatus.SUCCESSFUL, 3),
        [("enqueued", "READY"), ("started", "RUNNING"), ("finished", "SUCCESSFUL")],
    )
    assert expected["an argument JSON cannot hold"] == (("raised", TypeError), [])
    assert expected["bytes that are not UTF-8"] == (("raised", ValueError), [])
    assert expected["a queue not in QUEUES"] == (("raised", InvalidTask), [])


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_a_real_worker_callers_see_what_immediate_backend_shows(
    settings, redis_broker, tmp_path
):
    """The worker runs the tasks in another process, so this process sees only
    ``task_enqueued`` (READY, as ImmediateBackend sends it); what the worker's signals
    carry is the eager test's, the same code."""
    expected = observed(IMMEDIATE, settings)
    settings.TASKS = {"default": CELERY}
    enqueued = enqueue_each()
    results = [result for result, _ in enqueued.values() if isinstance(result, TaskResult)]

    def all_finished() -> bool:
        for result in results:
            result.refresh()
        return all(result.is_finished for result in results)

    with running_worker("high,normal,low", redis_broker, tmp_path, concurrency=2):
        wait_for(all_finished, 60, "every enqueued case")
    for name, (result, seen) in enqueued.items():
        expected_outcome, expected_signals = expected[name]
        assert outcome(result) == expected_outcome, name
        assert seen == [s for s in expected_signals if s[0] == "enqueued"], name
