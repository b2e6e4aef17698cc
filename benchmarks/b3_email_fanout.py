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
from dataclasses import dataclass

import yaml

from benchmarks import harness
from benchmarks.smtp_sink import SlowSink, running_sink
from tools.workers import wait_for

EMAILS = 5000
BASELINE_EMAILS = 500
DEFAULT = ("--pool", "prefork", "--concurrency", "2")
#: The pools for I/O-bound work, side by side (issue: which to ship for email).
POOLS = {
    "threads -c 16": ("--pool", "threads", "--concurrency", "16"),
    "threads -c 64": ("--pool", "threads", "--concurrency", "64"),
    "gevent -c 100": ("--pool", "gevent", "--concurrency", "100"),
    "gevent -c 500": ("--pool", "gevent", "--concurrency", "500"),
}


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


@dataclass
class Run:
    rate: float  # emails/s
    rss_mb: int  # peak RSS, all the run's worker processes together
    failed_acks: int
    redelivered: int  # emails the claim found sent already: a message that came back


def rate(
    args: tuple[str, ...],
    names: list[str],
    sink: SlowSink,
    env: dict[str, str],
    processes: int = 1,
) -> Run:
    from taskhub.delivery import fanout
    from taskhub.models import SentEmail
    from taskhub.tasks import welcome

    harness.flush()
    SentEmail.objects.filter(kind="welcome").delete()
    before = sink.received
    with ExitStack() as workers:
        started_workers = [
            workers.enter_context(harness.worker(queues="high", args=args, env=env))
            for _ in range(processes)
        ]
        started = time.monotonic()
        fanout.send_many(welcome, (((name,), {}) for name in names))
        wait_for(lambda: sink.received - before >= len(names), 900, "emails", poll=0.02)
        elapsed = time.monotonic() - started
        rss = sum(harness.peak_rss_mb(worker.process.pid) for worker in started_workers)
        logs = "".join(worker.log() for worker in started_workers)
    return Run(len(names) / elapsed, rss, logs.count("Couldn't ack"), logs.count("already sent"))


def run() -> harness.Result:
    harness.setup_django()
    with running_sink() as (sink, smtp_port):
        env = {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_RATE_LIMIT": "100000/s",
        }
        # A gevent worker's greenlets share a pool of PostgreSQL connections; threads
        # keep one connection each, as shipped.
        pooled = {**env, "DATABASE_POOL_SIZE": "20"}
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
        for label, args in POOLS.items():
            green = "gevent" in args
            run_env = pooled if green else env
            figures[f"one worker {label}, {EMAILS} emails"] = rate(args, names, sink, run_env)
    result = harness.Result("B3 welcome emails through a 50 ms SMTP sink")
    for label, run in figures.items():
        result.add(
            label,
            **{
                "emails/s": f"{run.rate:,.1f}",
                "peak RSS MB": str(run.rss_mb),
                "failed acks": str(run.failed_acks),
                "redelivered": str(run.redelivered),
            },
        )
    baseline, _, ours, *_ = figures.values()
    result.target(
        ">= 15x the default prefork worker", ours.rate >= 15 * baseline.rate,
        f"{ours.rate / baseline.rate:.1f}x",
    )  # fmt: skip
    return result


if __name__ == "__main__":
    print(run().markdown())
