"""B14: ``GET /health/``'s check with a live worker, 50 times: its latency, p50/p99.
Baseline, in the same run: the same check with nothing remembered, as it was before it
kept how many workers answered (each call waits the broadcast's whole timeout)."""

import time

from benchmarks import harness

CALLS = 50


def timed(check, forget) -> list[float]:
    latencies = []
    for _ in range(CALLS):
        forget()
        started = time.perf_counter()
        report = check()
        latencies.append((time.perf_counter() - started) * 1000)
        if not report.healthy:
            raise RuntimeError(f"the check found problems: {report.problems}")
    return latencies


def run() -> harness.Result:
    harness.setup_django()
    from django.core.cache import cache

    from taskhub.ops import health

    harness.flush()
    figures = {}
    with harness.worker(queues="high,normal,low"):
        health.check()  # the first answer is remembered
        figures["nothing remembered (before)"] = timed(
            health.check, lambda: cache.delete(health.WORKERS_SEEN)
        )
        health.check()
        figures["taskhub: stops at the workers seen last"] = timed(health.check, lambda: None)
    result = harness.Result(f"B14 /health/ check, {CALLS} calls, one worker (ms)")
    for label, latencies in figures.items():
        result.add(
            label,
            **{
                "p50": f"{harness.median(latencies):.1f}",
                "p99": f"{harness.percentile(latencies, 99):.1f}",
            },
        )
    p50 = harness.median(figures["taskhub: stops at the workers seen last"])
    result.target("/health/ p50 < 100 ms", p50 < 100, f"{p50:.1f} ms")
    return result


if __name__ == "__main__":
    print(run().markdown())
