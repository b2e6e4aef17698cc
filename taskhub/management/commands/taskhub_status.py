"""``manage.py taskhub_status``: the health check and the recent failures (Celery's and
Django Tasks'), as a table, or JSON with ``--json``.

Exits 1 when unhealthy, so a cron job or a deploy script can act on it.
"""

import json

from django.core.management.base import BaseCommand, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from taskhub.ops import failures, health

RECENT_FAILURES = 10


class Command(BaseCommand):
    help = "Broker, workers, queue depths, periodic jobs and outbox; exit 1 when unhealthy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--timeout", type=float, default=None, help="seconds per check")

    def handle(self, *args, as_json: bool, timeout: float | None, **options) -> None:
        report = health.check(timeout)
        recent = failures.recent(RECENT_FAILURES)
        if as_json:
            failed = [failure.__dict__ for failure in recent]
            self.stdout.write(dumps({**report.as_dict(), "recent_failures": failed}))
        else:
            self.stdout.write(table(report) + "\n" + failures_table(recent))
        if not report.healthy:
            raise SystemExit(1)


def dumps(value: dict) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2)


def table(report: health.Health) -> str:
    verdict = "healthy" if report.healthy else "UNHEALTHY"
    reachable = "reachable" if report.broker_reachable else "UNREACHABLE"
    lines = [
        f"taskhub: {verdict} (checked in {report.checked_in_ms} ms)",
        f"broker:  {report.broker}, {reachable}",
        "",
        f"{'queue':<8} {'waiting':>8}  workers",
    ]
    for queue in report.queues:
        depth = "?" if queue.depth is None else str(queue.depth)
        lines.append(f"{queue.name:<8} {depth:>8}  {', '.join(queue.workers) or '-'}")
    lines += ["", f"{'periodic job':<36} {'last run':<26} enabled"]
    for job in report.beat:
        last = job.last_run_at.isoformat(timespec="seconds") if job.last_run_at else "never"
        enabled = ("yes" if job.enabled else "no") if job.loaded else "not loaded"
        lines.append(f"{job.name:<36} {last:<26} {enabled}")
    lines += ["", f"outbox:  {report.outbox_waiting} waiting"]
    lines += [f"PROBLEM: {problem}" for problem in report.problems]
    lines += [f"warning: {warning}" for warning in report.warnings]
    return "\n".join(lines)


def failures_table(recent: list[failures.Failure]) -> str:
    lines = ["", f"recent failures ({len(recent)})"]
    for failure in recent:
        when = failure.when.isoformat(timespec="seconds") if failure.when else "?"
        error = failure.error.replace("\n", " ")[:100]
        lines.append(f"{when}  {failure.api:<6} {failure.task}  {error}")
    return "\n".join(lines)
