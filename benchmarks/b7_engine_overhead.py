"""B7: no-op tasks on 2 worker processes, tasks/s: taskhub's settings (acks late, reject
on worker lost, prefetch 1, JSON only, task events for Flower, child recycling) against
Celery with its default settings. The queue is filled first, then drained."""

import time

import redis

from benchmarks import harness
from tools.workers import wait_for

COUNT = 10_000
REPEATS = 5


def fill(app, queue: str, count: int) -> None:
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            app.send_task("bench.count", queue=queue, producer=producer)


def drain_rate(app_name: str, app, queue: str, client: redis.Redis) -> float:
    harness.flush()
    fill(app, queue, COUNT)
    with harness.worker(app_name, queues=queue, concurrency=2):
        started = time.monotonic()
        wait_for(lambda: int(client.get("bench:done") or 0) >= COUNT, 600, "tasks", poll=0.005)
        return COUNT / (time.monotonic() - started)


def run() -> harness.Result:
    harness.setup_django()
    from benchmarks.baseline import app as baseline
    from project.celery import app as taskhub

    client = redis.Redis.from_url(harness.REDIS_URL)
    rates: dict[str, list[float]] = {"Celery defaults": [], "taskhub": []}
    for _ in range(REPEATS):
        rates["Celery defaults"].append(
            drain_rate("benchmarks.baseline", baseline, "celery", client)
        )
        rates["taskhub"].append(drain_rate("project", taskhub, "normal", client))
    result = harness.Result(f"B7 engine overhead, {COUNT} no-op tasks, 2 processes")
    for label, values in rates.items():
        result.add(
            label,
            **{
                "tasks/s (median)": f"{harness.median(values):,.0f}",
                "runs": ", ".join(f"{v:,.0f}" for v in values),
            },
        )
    result.measured = {label: harness.median(values) for label, values in rates.items()}
    ratio = result.measured["taskhub"] / result.measured["Celery defaults"]
    result.target("taskhub >= 1.0x Celery defaults", ratio >= 1.0, f"{ratio:.2f}x")
    return result


def across_brokers(result: harness.Result) -> None:
    """taskhub on RabbitMQ against Celery's defaults on Redis, the common starting point."""
    ratio = result.measured["rabbitmq:taskhub"] / result.measured["redis:Celery defaults"]
    result.target(
        "taskhub on RabbitMQ >= 1.5x Celery defaults on Redis", ratio >= 1.5, f"{ratio:.2f}x"
    )


if __name__ == "__main__":
    print(run().markdown())
