"""Tasks that exist only for the benchmarks; workers load them with ``--include``."""

import time

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from benchmarks.harness import redis_client as client
from taskhub.tasks import TaskhubTask


@shared_task(name="bench.count", ignore_result=True)
def count() -> None:
    """A no-op that leaves a count behind, so the benchmark knows when all are done."""
    client().incr("bench:done")


@shared_task(name="bench.stamp", ignore_result=True)
def stamp(sent: float, busy_ms: float = 0) -> None:
    """Record when the task started, relative to when it was sent."""
    started = time.time()
    if busy_ms:
        time.sleep(busy_ms / 1000)
    client().rpush("bench:stamps", f"{sent} {started}")


@shared_task(name="bench.busy", ignore_result=True)
def busy(milliseconds: float) -> None:
    time.sleep(milliseconds / 1000)


class UnguardedTask(TaskhubTask):
    """A taskhub task without the outbox fallback of ``apply_async``: B13's baseline."""

    apply_async = DjangoTask.apply_async


@shared_task(base=TaskhubTask, name="bench.guarded", ignore_result=True)
def guarded() -> None:
    """B13: published with taskhub's fallback to the outbox."""


@shared_task(base=UnguardedTask, name="bench.unguarded", ignore_result=True)
def unguarded() -> None:
    """B13: published as Celery publishes, with no fallback."""
