"""B12's Django Tasks, the same for every backend, so nothing here needs more than
Django's Tasks API and redis-py, and nothing is ``async`` (huey's backend refuses
coroutines when a task is defined). Each leaves a count behind, so that the benchmark
knows when all are done; the workers import them by path."""

import time

from benchmarks.harness import redis_client
from taskhub.tasks_api.compat import task

#: The count of finished tasks, in the benchmarks' Redis database.
DONE = "b12:done"


@task(queue_name="normal")
def counted_noop() -> None:
    redis_client().incr(DONE)


@task(queue_name="normal")
def counted_wait(seconds: float) -> None:
    """Blocking I/O, as most task bodies do it: a sleep, then the count."""
    time.sleep(seconds)
    redis_client().incr(DONE)
