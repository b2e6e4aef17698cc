"""B6: the "orders" CSV export on PostgreSQL, rows/s and peak RSS, at ~100,000 and
1,000,000 rows. Baseline: PostgreSQL's own ``COPY (same query) TO STDOUT WITH CSV``
into a file (the limit). Each run is a fresh process, so its peak RSS is its own."""

import json
import sys
import tempfile
import time
from datetime import timedelta

from benchmarks import harness

ORDERS = 1_000_000
DAYS = 1000
REPEATS = 3
#: (label, first day offset, last day offset) into the seeded range.
SLICES = (("~100k rows", 0, 99), ("1M rows", 0, DAYS))


def seed() -> None:
    from django.core.management import call_command

    from project.demo.models import Order

    if Order.objects.count() != ORDERS:
        Order.objects.all().delete()
        call_command("seed_orders", ORDERS, "--days", str(DAYS), "--seed", "1")


def params(first: int, last: int) -> dict[str, str]:
    from django.db.models import Min
    from django.utils import timezone

    from project.demo.models import Order

    oldest = timezone.localdate(Order.objects.aggregate(Min("created_at"))["created_at__min"])
    return {
        "start": (oldest + timedelta(days=first)).isoformat(),
        "end": (oldest + timedelta(days=last)).isoformat(),
    }


def taskhub_export(report_params: dict[str, str]) -> int:
    from taskhub.models import Report
    from taskhub.reports import lifecycle

    report = Report.objects.create(kind="orders", params=report_params)
    lifecycle.claim(report)
    rows = lifecycle.generate(report).row_count
    report.file.delete()
    report.delete()
    return rows


def copy_export(report_params: dict[str, str]) -> int:
    from django.db import connection

    from taskhub import reports
    from taskhub.reports import csv_writer

    sql, sql_params = csv_writer.sql_with_params(reports.get_kind("orders").rows(report_params))
    rows = 0
    with connection.cursor() as cursor, tempfile.TemporaryFile() as out:
        query = cursor.mogrify(sql, sql_params)
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH CSV HEADER") as copy:
            for data in copy:
                out.write(data)
                rows += bytes(data).count(b"\n")
    return rows - 1


def one(which: str, report_params: dict[str, str]) -> dict:
    harness.setup_django()
    function = {"taskhub": taskhub_export, "copy": copy_export}[which]
    started = time.perf_counter()
    rows = function(report_params)
    seconds = time.perf_counter() - started
    peak = harness.peak_rss_mb()
    return {"rows": rows, "seconds": seconds, "peak_mb": peak}


def measure(which: str, report_params: dict[str, str]) -> dict:
    return harness.in_fresh_process("benchmarks.b6_report", which, json.dumps(report_params))


def run() -> harness.Result:
    harness.setup_django()
    seed()
    result = harness.Result(f"B6 report export on PostgreSQL, median of {REPEATS} runs")
    peaks = []
    for label, first, last in SLICES:
        report_params = params(first, last)
        runs = {"copy": [], "taskhub": []}
        for _ in range(REPEATS):
            for which in runs:
                runs[which].append(measure(which, report_params))
        rates = {}
        for which, figures in runs.items():
            rows = figures[0]["rows"]
            rate = rows / harness.median([f["seconds"] for f in figures])
            peak = max(f["peak_mb"] for f in figures)
            rates[which] = rate
            name = "PostgreSQL COPY (limit)" if which == "copy" else "taskhub generate()"
            result.add(
                f"{name}, {label}",
                **{"rows": f"{rows:,}", "rows/s": f"{rate:,.0f}", "peak RSS (MB)": str(peak)},
            )
            if which == "taskhub":
                peaks.append(peak)
        share = rates["taskhub"] / rates["copy"]
        result.target(f">= 50% of COPY at {label}", share >= 0.5, f"{share:.0%}")
    result.target("peak RSS < 150 MB", max(peaks) < 150, f"{max(peaks)} MB")
    result.target(
        "the same peak RSS at 100k and 1M rows (within 10%)",
        max(peaks) <= 1.1 * min(peaks),
        " and ".join(f"{p} MB" for p in peaks),
    )
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        print(run().markdown())
