"""Run by tests/reports/test_reports_postgres.py in a process of its own, on PostgreSQL: every
report kind, written by ``pg_copy`` and by the Python writer, must parse to the same rows.
Prints one JSON line with what it found."""

import csv
import io
import json
import tempfile
from datetime import UTC, datetime
from decimal import Decimal

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from project.demo.models import Order  # noqa: E402
from taskhub import reports  # noqa: E402
from taskhub.models import Report  # noqa: E402
from taskhub.reports import (  # noqa: E402
    csv_writer,
    lifecycle,
    pg_copy,
)

TRICKY = ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tTab", "\rCR", "Comma, Name",
          'Quote "q"', "Line\nBreak", "Ünïcödé", "plain"]  # fmt: skip


def python_rows(rows, header) -> list[list[str]]:
    out = io.StringIO(newline="")
    csv_writer.write_csv(
        header, csv_writer.iterate(rows), out, csv_writer.count(rows), lambda d, t: None
    )
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def copy_rows(rows, header) -> tuple[list[list[str]], int, list[int]]:
    progress: list[int] = []
    sql, params = csv_writer.sql_with_params(rows)
    with tempfile.TemporaryFile() as raw:
        count = pg_copy.copy_csv(sql, params, header, raw, lambda d, t: progress.append(d), 4)
        raw.seek(0)
        text = raw.read().decode()
    return list(csv.reader(io.StringIO(text, newline=""))), count, progress


def main() -> dict:
    call_command("migrate", verbosity=0)
    Order.objects.all().delete()
    Report.objects.all().delete()
    get_user_model().objects.all().delete()
    for i, name in enumerate(TRICKY * 3):
        Order.objects.create(
            number=f"N{i:03d}",
            customer_name=name,
            customer_email=f"{i}@example.com",
            amount=Decimal("1.10") * (i + 1),
            created_at=datetime(2026, 3, 14, 9, i, i, 123456 if i % 2 else 0, tzinfo=UTC),
        )
        get_user_model().objects.create_user(f"=user{i}", f"u{i}@example.com", "x")
    same = {}
    found = {}
    for kind_name, kind in reports.kinds().items():
        today = datetime.now(UTC).date().isoformat()
        day = "2026-03-14" if kind_name != "signups" else today
        rows = kind.rows({"start": day, "end": day})
        expected = python_rows(rows, kind.header())
        got, count, progress = copy_rows(rows, kind.header())
        same[kind_name] = got == expected
        found[kind_name] = {"rows": count, "progress": progress}
        if got != expected:
            found[kind_name]["diff"] = [
                (a, b) for a, b in zip(expected, got, strict=False) if a != b
            ][:3]
    report = Report.objects.create(
        kind="orders", params={"start": "2026-03-14", "end": "2026-03-14"}
    )
    lifecycle.claim(report)
    report = lifecycle.generate(report)
    return {
        "vendor": pg_copy.connection.vendor,
        "same": same,
        "found": found,
        "report": [report.status, report.row_count, report.progress],
    }


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
