"""B8: a task sent to an idle dedicated worker, one at a time: submit-to-start and
submit-to-done latency, p50/p99. Baselines: a bare redis-py BLPOP loop (the limit, on
Redis only) and Celery with its default settings."""

import subprocess
import sys
import time

import redis

from benchmarks import harness

COUNT = 1000
BLPOP_LOOP = """
import sys, time, redis
r = redis.Redis.from_url(sys.argv[1])
while True:
    _, sent = r.blpop("bench:requests")
    started = time.time()
    r.rpush("bench:stamps", sent + b" " + str(started).encode())
"""


def measure(send, client: redis.Redis, count: int) -> tuple[list[float], list[float]]:
    to_start, to_done = [], []
    for _ in range(count):
        sent = time.time()
        send(sent)
        popped = client.blpop("bench:stamps", timeout=10)
        if popped is None:
            raise TimeoutError("no task started within 10 s of being sent")
        _, value = popped
        done = time.time()
        sent_s, started_s = value.split()
        to_start.append((float(started_s) - float(sent_s)) * 1000)
        to_done.append((done - sent) * 1000)
    return to_start, to_done


def blpop_loop(client: redis.Redis) -> tuple[list[float], list[float]]:
    harness.flush()
    loop = subprocess.Popen([sys.executable, "-c", BLPOP_LOOP, harness.REDIS_URL])
    try:

        def request(sent: float) -> None:
            client.rpush("bench:requests", str(sent))

        measure(request, client, 50)
        return measure(request, client, COUNT)
    finally:
        loop.terminate()


def run() -> harness.Result:
    harness.setup_django()
    from benchmarks.baseline import app as baseline
    from project.celery import app as taskhub

    client = redis.Redis.from_url(harness.REDIS_URL)
    figures = {}
    if harness.BROKER == "redis":
        figures["redis-py BLPOP loop (limit)"] = blpop_loop(client)
    runs = [
        ("Celery defaults", "benchmarks.baseline", baseline, {"queue": "celery"}),
        ("taskhub (high worker)", "project", taskhub, {"queue": "high"}),
    ]
    for label, app_name, app, options in runs:
        harness.flush()
        with harness.worker(app_name, queues=options["queue"]):

            def send(sent: float, app=app, options=options) -> None:
                app.send_task("bench.stamp", (sent,), **options)

            measure(send, client, 50)
            figures[label] = measure(send, client, COUNT)

    result = harness.Result(f"B8 idle round trip, {COUNT} tasks one at a time (ms)")
    for label, (start, done) in figures.items():
        result.add(
            label,
            **{
                "start p50": f"{harness.median(start):.2f}",
                "start p99": f"{harness.percentile(start, 99):.2f}",
                "done p50": f"{harness.median(done):.2f}",
                "done p99": f"{harness.percentile(done, 99):.2f}",
            },
        )
    p50 = harness.median(figures["taskhub (high worker)"][0])
    result.target("submit-to-start p50 <= 2 ms", p50 <= 2, f"{p50:.2f} ms")
    return result


if __name__ == "__main__":
    print(run().markdown())
