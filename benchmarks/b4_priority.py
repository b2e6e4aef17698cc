"""B4: 20,000 tasks of ~10 ms queued on ``low``, then 100 ``high`` tasks submitted over
time; the submit-to-start latency of the high ones, p50/p99. With a dedicated high
worker (the compose layout) and with one worker consuming all three queues."""

import contextlib
import time

import redis

from benchmarks import harness

FLOOD = 20_000
HIGH = 100
INTERVAL = 0.05
LAYOUTS = {
    "dedicated: -Q high -c 1 and -Q normal,low -c 2": (("high", 1), ("normal,low", 2)),
    "shared: -Q high,normal,low -c 2": (("high,normal,low", 2),),
}


def latencies(app, client: redis.Redis) -> list[float]:
    from benchmarks.tasks import stamp

    client.delete("bench:stamps")
    for _ in range(HIGH):
        app.send_task(stamp.name, (time.time(),), queue="high")
        time.sleep(INTERVAL)
    values = []
    for _ in range(HIGH):
        _, value = client.blpop("bench:stamps", timeout=60)
        sent, started = map(float, value.split())
        values.append((started - sent) * 1000)
    return values


def run() -> harness.Result:
    harness.setup_django()
    from benchmarks.tasks import busy
    from project.celery import app
    from taskhub.delivery import fanout

    client = redis.Redis.from_url(harness.REDIS_URL)
    result = harness.Result(f"B4 priority: {HIGH} high tasks behind {FLOOD:,} low tasks of 10 ms")
    figures = {}
    for label, workers in LAYOUTS.items():
        harness.flush()
        fanout.send_many(app.tasks[busy.name], (((10,), {}) for _ in range(FLOOD)), queue="low")
        with contextlib.ExitStack() as stack:
            for queues, concurrency in workers:
                stack.enter_context(harness.worker(queues=queues, concurrency=concurrency))
            time.sleep(1)
            figures[label] = latencies(app, client)
            left = harness.queue_length("low")
        result.add(
            label,
            **{
                "p50 (ms)": f"{harness.median(figures[label]):.1f}",
                "p99 (ms)": f"{harness.percentile(figures[label], 99):.1f}",
                "low still queued": f"{left:,}",
            },
        )
    harness.flush()
    dedicated, shared = (harness.percentile(v, 99) for v in figures.values())
    result.target("p99 < 100 ms dedicated", dedicated < 100, f"{dedicated:.1f} ms")
    result.target("p99 < 1 s shared", shared < 1000, f"{shared:.1f} ms")
    return result


if __name__ == "__main__":
    print(run().markdown())
