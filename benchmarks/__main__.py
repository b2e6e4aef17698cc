"""``python -m benchmarks [b1 b2 ...]``: run the scenarios (all by default), print each
table as it finishes, and write them to ``benchmarks/results.md`` as they come."""

import importlib
import sys
from datetime import UTC, datetime

from benchmarks import harness

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
}


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
        module = importlib.import_module(f"benchmarks.{SCENARIOS[name]}")
        section = module.run().markdown()
        print(section, flush=True)
        sections.append(section)
        results.write_text(header + "\n".join(sections))


if __name__ == "__main__":
    main(sys.argv[1:])
