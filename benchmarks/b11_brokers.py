"""B11: the same taskhub work on Redis and on RabbitMQ (quorum queues, publisher
confirms), side by side in the same run: publish rate of a ``send_task`` loop, drain
rate of no-op tasks on 2 worker processes, and an idle worker's submit-to-start p50.
Not a target: the figures behind "Redis or RabbitMQ" (docs/howto/brokers.md)."""

import os
import time

import redis
from celery import Celery

from benchmarks import harness
from benchmarks.b8_idle_round_trip import measure
from tools.workers import rabbitmq_vhost, wait_for

COUNT = 5000
ROUND_TRIPS = 300


def taskhub_app() -> Celery:
    """An app configured as the demo's, on the broker ``CELERY_BROKER_URL`` names (that
    variable wins over any setting, in Celery): its queues and transport options follow
    that broker, as a host's would."""
    import taskhub.celery

    app = Celery("bench-broker", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    return taskhub.celery.configure(app)


def broker_figures(url: str, client: redis.Redis) -> dict[str, float]:
    harness.flush(url)
    os.environ["CELERY_BROKER_URL"] = url
    app = taskhub_app()
    env = {"CELERY_BROKER_URL": url}
    with app.producer_or_acquire() as producer:
        app.send_task("bench.count", queue="normal", producer=producer)  # declare, connect
        client.delete("bench:done")
        started = time.perf_counter()
        for _ in range(COUNT):
            app.send_task("bench.count", queue="normal", producer=producer)
        publish_rate = COUNT / (time.perf_counter() - started)
    with harness.worker(queues="normal", concurrency=2, env=env):
        started = time.monotonic()
        wait_for(lambda: int(client.get("bench:done") or 0) >= COUNT, 600, "tasks", poll=0.005)
        drain_rate = COUNT / (time.monotonic() - started)
    with harness.worker(queues="high", env=env):

        def send(sent: float) -> None:
            app.send_task("bench.stamp", (sent,), queue="high")

        measure(send, client, 30)
        to_start, _ = measure(send, client, ROUND_TRIPS)
    return {
        "publish": publish_rate,
        "drain": drain_rate,
        "start_p50": harness.median(to_start),
        "start_p99": harness.percentile(to_start, 99),
    }


def run() -> harness.Result:
    harness.setup_django()
    client = redis.Redis.from_url(harness.REDIS_URL)
    figures = {"Redis": broker_figures(harness.REDIS_URL, client)}
    with rabbitmq_vhost(harness.RABBITMQ_VHOST) as url:
        figures["RabbitMQ, quorum queues, publisher confirms"] = broker_figures(url, client)
    os.environ["CELERY_BROKER_URL"] = harness.REDIS_URL
    harness.flush(harness.REDIS_URL)
    result = harness.Result(f"B11 Redis and RabbitMQ, {COUNT} tasks, taskhub's settings")
    for label, f in figures.items():
        result.add(
            label,
            **{
                "publish tasks/s": f"{f['publish']:,.0f}",
                "drain tasks/s (2 processes)": f"{f['drain']:,.0f}",
                "idle start p50 ms": f"{f['start_p50']:.2f}",
                "idle start p99 ms": f"{f['start_p99']:.2f}",
            },
        )
    return result
