"""B2: enqueue throughput from one producer, tasks/s: a ``.delay()`` loop, taskhub's
``fanout.send_many`` (a newsletter to 100,000 users), against raw pipelined Redis
``LPUSH`` of same-sized payloads (the limit the target names, on Redis only) and Celery's
defaults' ``.delay()``, and a taskhub task's ``.delay()`` loop in one request's block
(``confirms.collected``, which taskhub's middleware opens: on RabbitMQ the block's end
waits once for every confirm). ``send_many`` writes 1,000 messages per ``LPUSH`` command on
Redis, so the same raw payloads pushed 1,000 per command are measured too: that is its
real ceiling.
"""

import time

import redis

from benchmarks import harness

COUNT = 100_000
DELAY_COUNT = 20_000
REPEATS = 3
LIMIT = "raw Redis LPUSH, pipelined (limit)"
IN_A_REQUEST = "taskhub task .delay() loop in one request (confirms collected)"
BASELINE = "Celery defaults .delay() loop"


def timed(function, count: int) -> float:
    harness.flush()
    started = time.perf_counter()
    function(count)
    return count / (time.perf_counter() - started)


def run() -> harness.Result:
    harness.setup_django()
    from benchmarks.baseline import app as baseline
    from benchmarks.tasks import stamp
    from project.celery import app as taskhub
    from taskhub.delivery import confirms, fanout

    taskhub_stamp = taskhub.tasks[stamp.name]
    guarded = taskhub.tasks["bench.guarded"]

    def send_many(count: int) -> None:
        fanout.send_many(taskhub_stamp, (((float(i),), {}) for i in range(count)))

    def delay_loop(count: int) -> None:
        for i in range(count):
            taskhub_stamp.delay(float(i))

    def delay_in_a_request(count: int) -> None:
        with confirms.collected():
            for _ in range(count):
                guarded.delay()

    baseline_stamp = baseline.tasks[stamp.name]

    def baseline_delay(count: int) -> None:
        for i in range(count):
            baseline_stamp.delay(float(i))

    def baseline_send_task(count: int) -> None:
        for i in range(count):
            baseline.send_task("bench.stamp", (float(i),))

    runs = {
        **(raw_redis_runs(taskhub_stamp) if harness.BROKER == "redis" else {}),
        "taskhub fanout.send_many": (send_many, COUNT),
        "taskhub .delay() loop": (delay_loop, DELAY_COUNT),
        IN_A_REQUEST: (delay_in_a_request, DELAY_COUNT),
        BASELINE: (baseline_delay, DELAY_COUNT),
        "Celery defaults send_task() loop (no Task.apply_async)": (baseline_send_task, DELAY_COUNT),
    }
    rates = {label: [timed(f, n) for _ in range(REPEATS)] for label, (f, n) in runs.items()}
    harness.flush()
    result = harness.Result("B2 enqueue throughput, one producer")
    limit = harness.median(rates.get(LIMIT, [0]))
    for label, values in rates.items():
        result.add(
            label,
            **{
                "tasks": f"{runs[label][1]:,}",
                "tasks/s (median)": f"{harness.median(values):,.0f}",
                **({"of the limit": f"{harness.median(values) / limit:.0%}"} if limit else {}),
            },
        )
    # Issue 23: as cheap as Celery's on Redis; on RabbitMQ, with confirms, 0.8x.
    floor = 0.8 if harness.BROKER == "rabbitmq" else 1.0
    baseline_rate = harness.median(rates[BASELINE])
    for label in ("taskhub .delay() loop", IN_A_REQUEST):
        ratio = harness.median(rates[label]) / baseline_rate
        result.target(f"{label} >= {floor}x Celery's defaults", ratio >= floor, f"{ratio:.2f}x")
    bulk = harness.median(rates["taskhub fanout.send_many"])
    result.target("send_many >= 20,000 tasks/s", bulk >= 20_000, f"{bulk:,.0f}/s")
    if limit:
        result.target("send_many >= 20% of raw LPUSH", bulk >= 0.2 * limit, f"{bulk / limit:.0%}")
    return result


def raw_redis_runs(task) -> dict:
    """Raw pipelined LPUSH of a message as taskhub sends it: the limit on Redis."""
    client = redis.Redis.from_url(harness.REDIS_URL)
    harness.flush()
    task.delay(0.0)
    [payload] = client.lrange("normal", 0, 0)

    def raw_lpush(count: int) -> None:
        pipe = client.pipeline(transaction=False)
        for i in range(count):
            pipe.lpush("normal", payload)
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()

    def raw_multi_lpush(count: int) -> None:
        for start in range(0, count, 1000):
            client.lpush("normal", *[payload] * min(1000, count - start))

    return {
        LIMIT: (raw_lpush, COUNT),
        "raw Redis LPUSH, 1,000 values per command": (raw_multi_lpush, COUNT),
    }


if __name__ == "__main__":
    print(run().markdown())
