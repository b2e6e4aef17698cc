"""B10: what ``enqueue()`` through ``taskhub.backends.CeleryBackend`` costs against a
plain ``.delay()`` of a task that does the same, from one producer, outside any
transaction, on PostgreSQL and Redis. enqueue commits its result row, then publishes;
``.delay()`` only publishes. And ``enqueue_many`` per task, in batches of ``COUNT``
inside ``atomic()`` (one bulk insert, one fan-out after the commit): the issue's
"thousands per second"."""

import time

from benchmarks import harness

COUNT = 2000
REPEATS = 3


def per_call_us(function) -> float:
    harness.flush()
    started = time.perf_counter()
    for _ in range(COUNT):
        function()
    return (time.perf_counter() - started) / COUNT * 1e6


def run() -> harness.Result:
    harness.setup_django()
    from django.db import transaction

    from benchmarks.api_tasks import noop
    from benchmarks.tasks import count
    from project.celery import app
    from taskhub.models import DjangoTaskResult, OutboxMessage
    from taskhub.tasks_api.bulk import enqueue_many

    delay = app.tasks[count.name].delay
    runs = {"plain .delay() (baseline)": lambda: delay(), "Django task enqueue()": noop.enqueue}

    def bulk_per_task_us() -> float:
        harness.flush()
        started = time.perf_counter()
        with transaction.atomic():
            enqueue_many(noop, [((), {})] * COUNT)
        return (time.perf_counter() - started) / COUNT * 1e6

    for function in runs.values():
        function()  # connections open, caches warm
    costs = {label: [per_call_us(f) for _ in range(REPEATS)] for label, f in runs.items()}
    costs["enqueue_many() in atomic(), per task"] = [bulk_per_task_us() for _ in range(REPEATS)]
    harness.flush()
    DjangoTaskResult.objects.all().delete()
    OutboxMessage.objects.all().delete()
    result = harness.Result(f"B10 enqueue cost, {COUNT} calls x {REPEATS}, PostgreSQL + Redis")
    baseline = result.add_costs(costs, "plain .delay() (baseline)")
    ratio = harness.median(costs["Django task enqueue()"]) / baseline
    result.target("enqueue() <= 1.2x a plain .delay()", ratio <= 1.2, f"{ratio:.2f}x")
    per_second = 1e6 / harness.median(costs["enqueue_many() in atomic(), per task"])
    result.target("enqueue_many: thousands of tasks/s", per_second >= 1000, f"{per_second:,.0f}/s")
    return result
