"""B3: welcome emails through an SMTP sink on loopback that answers each message after
50 ms (aiosmtpd), emails/s: the workers taskhub ships for the ``high`` queue, read from
``docker-compose.yml`` (its pool options and replicas; one SMTP connection kept per
thread; one of them alone is measured too) against a default prefork worker of 2
processes running the same tasks.

The per-worker email rate limit (``EMAIL_RATE_LIMIT``, 10/s by default, a policy for
your provider) is lifted for both, or it would be all that is measured.
"""

import time
from contextlib import ExitStack

import yaml

from benchmarks import harness
from benchmarks.smtp_sink import SlowSink, running_sink
from tools.workers import wait_for

EMAILS = 5000
BASELINE_EMAILS = 500
DEFAULT = ("--pool", "prefork", "--concurrency", "2")


def shipped_email_workers() -> tuple[tuple[str, ...], int]:
    """The pool options and the number of processes of compose's ``worker-high``."""
    compose = yaml.safe_load((harness.ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["worker-high"]
    command = service["command"]
    pool = command.index("--pool")
    concurrency = command.index("--concurrency")
    options = tuple(command[pool : pool + 2] + command[concurrency : concurrency + 2])
    return options, service.get("deploy", {}).get("replicas", 1)


def users(count: int) -> list[str]:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    names = [f"b3-{i:05d}" for i in range(count)]
    existing = set(model.objects.filter(username__in=names).values_list("username", flat=True))
    model.objects.bulk_create(
        model(username=name, email=f"{name}@example.com") for name in names if name not in existing
    )
    return names


def rate(
    args: tuple[str, ...],
    names: list[str],
    sink: SlowSink,
    env: dict[str, str],
    processes: int = 1,
) -> float:
    from taskhub.delivery import fanout
    from taskhub.models import SentEmail
    from taskhub.tasks import welcome

    harness.flush()
    SentEmail.objects.filter(kind="welcome").delete()
    before = sink.received
    with ExitStack() as workers:
        for _ in range(processes):
            workers.enter_context(harness.worker(queues="high", args=args, env=env))
        started = time.monotonic()
        fanout.send_many(welcome, (((name,), {}) for name in names))
        wait_for(lambda: sink.received - before >= len(names), 900, "emails", poll=0.02)
        elapsed = time.monotonic() - started
    return len(names) / elapsed


def run() -> harness.Result:
    harness.setup_django()
    with running_sink() as (sink, smtp_port):
        env = {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_RATE_LIMIT": "100000/s",
        }
        names = users(EMAILS)
        shipped, processes = shipped_email_workers()
        pool = " ".join(shipped)
        figures = {
            f"default prefork -c 2, {BASELINE_EMAILS} emails": rate(
                DEFAULT, names[:BASELINE_EMAILS], sink, env
            ),
            f"one taskhub high worker ({pool}), {EMAILS} emails": rate(shipped, names, sink, env),
            f"taskhub high workers as shipped ({processes} x {pool}), {EMAILS} emails": rate(
                shipped, names, sink, env, processes
            ),
        }
    result = harness.Result("B3 welcome emails through a 50 ms SMTP sink")
    for label, value in figures.items():
        result.add(label, **{"emails/s": f"{value:,.1f}"})
    baseline, _, ours = figures.values()
    result.target(
        ">= 10x the default prefork worker", ours >= 10 * baseline, f"{ours / baseline:.1f}x"
    )
    return result


if __name__ == "__main__":
    print(run().markdown())
