"""B13: what the outbox fallback of a taskhub task's ``apply_async`` costs a ``.delay()``
while the broker is up (issue 17: "costs nothing measurable"). The same task class is
published with the fallback and without it, interleaved run by run, from one producer."""

import time

from benchmarks import harness

COUNT = 3000
REPEATS = 5


def per_call_us(function) -> float:
    started = time.perf_counter()
    for _ in range(COUNT):
        function()
    elapsed = time.perf_counter() - started
    harness.flush()
    return elapsed / COUNT * 1e6


def run() -> harness.Result:
    harness.setup_django()
    from benchmarks.tasks import guarded, unguarded
    from taskhub.models import OutboxMessage

    runs = {"without the fallback (baseline)": unguarded.delay, "with the fallback": guarded.delay}
    for function in runs.values():
        function()  # connections open, caches warm
    costs: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(REPEATS):
        for label, function in runs.items():
            costs[label].append(per_call_us(function))
    assert not OutboxMessage.objects.exists(), "the broker was up: nothing may be kept"
    result = harness.Result(f"B13 .delay() with the outbox fallback, {COUNT} calls x {REPEATS}")
    baseline = result.add_costs(costs, "without the fallback (baseline)", digits=3)
    ratio = harness.median(costs["with the fallback"]) / baseline
    result.target(
        "the fallback costs <= 1.05x a .delay() without it", ratio <= 1.05, f"{ratio:.3f}x"
    )
    return result
