"""What every benchmark shares: the environment, real workers, statistics, the table.

The benchmarks use the machine's real servers: Redis database 7 (flushed) and a
PostgreSQL database of their own (``BENCH_DATABASE_URL``, created when missing). The
broker is Redis, or with ``BENCH_BROKER=rabbitmq`` a RabbitMQ virtual host of their own
(``RABBITMQ_VHOST``, made fresh for each run by ``benchmarks.__main__``); the tasks'
counters and stamps stay in Redis either way.
"""

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tools.workers import Worker, celery_worker, purge_rabbitmq_queues

if TYPE_CHECKING:
    import redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/taskhub_bench"
)
RABBITMQ_VHOST = "taskhub-bench"
RABBITMQ_URL = f"amqp://guest:guest@127.0.0.1:5672/{RABBITMQ_VHOST}"
BROKERS = {"redis": ("Redis", REDIS_URL), "rabbitmq": ("RabbitMQ", RABBITMQ_URL)}
BROKER = os.environ.get("BENCH_BROKER", "redis")
BROKER_NAME, BROKER_URL = BROKERS[BROKER]
#: Every queue a benchmark sends to: taskhub's, and Celery's default for the baseline.
QUEUES = ("high", "normal", "low", "celery")
VAR_DIR = ROOT / "var" / "bench"


def environment(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts (and of the benchmark)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmarks-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BENCH_BROKER": BROKER,
        "CELERY_BROKER_URL": BROKER_URL,
        "DATABASE_URL": DATABASE_URL,
        "TASKHUB_VAR_DIR": str(VAR_DIR),
        "MEDIA_ROOT": str(VAR_DIR / "media"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def create_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(**extra: str) -> None:
    """Configure Django in this process as the workers are, migrated and ready."""
    os.environ.update(environment(**extra))
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    create_database()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def in_fresh_process(module: str, *args: str, python: str = sys.executable, **env: str) -> dict:
    """``python -m <module> --one <args>`` in a process of its own (so that its peak RSS is
    its own), with ``env`` on top of the benchmarks' environment; the JSON object on its
    last line of output. ``python`` is another interpreter, for what cannot run on this
    one (B12's django-vtasks)."""
    output = subprocess.run(
        [python, "-m", module, "--one", *args],
        env=environment(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def peak_rss_mb(pid: int | str = "self") -> int:
    """A process's peak RSS (this one's by default). Not ``getrusage``'s ``ru_maxrss``:
    Linux carries it across ``exec``, so a child started by a large parent reports the
    parent's peak."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


_redis_client: "redis.Redis | None" = None


def redis_client() -> "redis.Redis":
    """This process's client of the benchmarks' Redis database (the tasks' counters)."""
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(REDIS_URL)
    return _redis_client


def flush(broker_url: str | None = None) -> None:
    """Empty Redis database 7 (the counters, and the queues when Redis is the broker)
    and, on RabbitMQ, every queue of ``QUEUES`` that exists."""
    redis_client().flushdb()
    broker_url = broker_url or BROKER_URL
    if broker_url.startswith("amqp"):
        purge_rabbitmq_queues(broker_url, QUEUES)


def queue_length(queue: str) -> int:
    """Messages waiting in ``queue`` on the benchmark's broker (as /health/ counts them)."""
    from kombu import Connection

    from taskhub.ops.health import queue_depth

    with Connection(BROKER_URL, connect_timeout=10) as connection:
        return queue_depth(connection, queue)


@contextmanager
def worker(
    app: str = "project",
    queues: str = "high,normal,low",
    concurrency: int = 1,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Worker]:
    """A real ``celery worker`` process (``tools.workers``, as the tests start them), ready
    when this yields, stopped after."""
    if app == "benchmarks.baseline":
        from benchmarks.baseline import WORKER_ENV

        env = {**WORKER_ENV, **(env or {})}
    extra_args = ("-c", str(concurrency), "--include", "benchmarks.tasks", *args)
    with celery_worker(
        sys.executable, app, queues, ROOT, environment(**(env or {})), VAR_DIR, extra_args,
        stop_timeout=30, name="bench",
    ) as started:  # fmt: skip
        yield started
    started.logfile.unlink(missing_ok=True)
    started.logfile.with_suffix(".out").unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass
class Result:
    """One scenario's figures: rows of (what, figures), a verdict line per target."""

    scenario: str
    rows: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    #: Raw figures by name, for a comparison across brokers (``benchmarks.__main__``).
    measured: dict[str, float] = field(default_factory=dict)

    def add(self, label: str, **figures: str) -> None:
        self.rows.append((label, figures))

    def add_costs(self, costs: dict[str, list[float]], baseline: str, digits: int = 2) -> float:
        """A row per variant of its per-call costs (µs), each against ``baseline``'s
        median; that median."""
        floor = median(costs[baseline])
        for label, values in costs.items():
            self.add(
                label,
                **{
                    "µs per call (median)": f"{median(values):.0f}",
                    "runs": ", ".join(f"{v:.0f}" for v in values),
                    "x baseline": f"{median(values) / floor:.{digits}f}",
                },
            )
        return floor

    def target(self, description: str, met: bool, measured: str) -> None:
        self.verdicts.append(f"{'met' if met else 'MISSED'}: {description} (measured {measured})")

    def markdown(self) -> str:
        columns = list(dict.fromkeys(k for _, figures in self.rows for k in figures))
        lines = [f"### {self.scenario}", "", "| | " + " | ".join(columns) + " |"]
        lines.append("|---" * (len(columns) + 1) + "|")
        for label, figures in self.rows:
            lines.append(f"| {label} | " + " | ".join(figures.get(c, "") for c in columns) + " |")
        lines += [""] + [f"- {verdict}" for verdict in self.verdicts]
        return "\n".join(lines) + "\n"


def machine() -> str:
    import psutil

    return (
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total // 2**30} GiB, Python {platform.python_version()}"
    )
