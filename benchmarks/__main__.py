"""``python -m benchmarks [b1 b2 ...]``: run the scenarios (all by default), print each
table as it finishes, and write them to ``benchmarks/results.md`` as they come.

Each scenario runs in a process of its own. B1-B4, B7 and B8 run twice, on Redis and
then on RabbitMQ (``BENCH_BROKER``), and print as one table, each row beside its twin; a
scenario's ``across_brokers(result)``, if it has one, adds the targets that compare them.
B5 and B6 measure the thumbnail and report services alone, with no broker; B9, B10 and
B12 run on Redis; B11 compares the brokers itself.
"""

import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from benchmarks import harness
from tools.workers import rabbitmq_vhost

SCENARIOS = {
    "b1": "b1_signup_latency",
    "b2": "b2_enqueue_throughput",
    "b3": "b3_email_fanout",
    "b4": "b4_priority",
    "b5": "b5_thumbnails",
    "b6": "b6_report",
    "b7": "b7_engine_overhead",
    "b8": "b8_idle_round_trip",
    "b9": "b9_async_io",
    "b10": "b10_enqueue_cost",
    "b11": "b11_brokers",
    "b12": "b12_tasks_backends",
    "b13": "b13_delay_fallback",
    "b14": "b14_health",
}
ON_BOTH_BROKERS = {"b1", "b2", "b3", "b4", "b7", "b8", "b13"}


def run_one(module: str, broker: str) -> harness.Result:
    """The scenario's ``run()`` in a fresh process on ``broker``; its Result."""
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--one", module],
        env={**os.environ, "BENCH_BROKER": broker},
        cwd=harness.ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    fields = json.loads(output.strip().splitlines()[-1])
    return harness.Result(**{**fields, "rows": [tuple(row) for row in fields["rows"]]})


def side_by_side(results: dict[str, harness.Result]) -> harness.Result:
    """One table of several brokers' runs: each row beside its twins, by label."""
    names = {broker: harness.BROKERS[broker][0] for broker in results}
    first = next(iter(results.values()))
    merged = harness.Result(f"{first.scenario}; on {' and '.join(names.values())}")
    labels = dict.fromkeys(label for result in results.values() for label, _ in result.rows)
    for label in labels:
        for broker, result in results.items():
            for row_label, figures in result.rows:
                if row_label == label:
                    merged.add(f"{names[broker]}: {label}", **figures)
    for broker, result in results.items():
        merged.verdicts += [f"{names[broker]}: {verdict}" for verdict in result.verdicts]
        merged.measured |= {f"{broker}:{k}": v for k, v in result.measured.items()}
    return merged


def run(name: str) -> harness.Result:
    module = f"benchmarks.{SCENARIOS[name]}"
    if name not in ON_BOTH_BROKERS:
        return run_one(module, "redis")
    with rabbitmq_vhost(harness.RABBITMQ_VHOST):
        merged = side_by_side({broker: run_one(module, broker) for broker in harness.BROKERS})
    compare = getattr(importlib.import_module(module), "across_brokers", None)
    if compare is not None:
        compare(merged)
    return merged


def main(names: list[str]) -> None:
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios {sorted(unknown)}; choose from {sorted(SCENARIOS)}")
    header = (
        f"# Benchmark results\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {harness.machine()}, "
        f"`{' '.join(['python -m benchmarks', *names])}`.\n\n"
    )
    results = harness.ROOT / "benchmarks" / "results.md"
    sections = []
    for name in names or SCENARIOS:
        section = run(name).markdown()
        print(section, flush=True)
        sections.append(section)
        results.write_text(header + "\n".join(sections))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        result = importlib.import_module(sys.argv[2]).run()
        print(json.dumps(result.__dict__))
    else:
        main(sys.argv[1:])
