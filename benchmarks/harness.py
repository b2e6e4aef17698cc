"""What every benchmark shares: the environment, real workers, statistics, the table.

The benchmarks use the machine's real servers: Redis database 7 (flushed) and a
PostgreSQL database of their own (``BENCH_DATABASE_URL``, created when missing).
"""

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/taskhub_bench"
)
VAR_DIR = ROOT / "var" / "bench"


def environment(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts (and of the benchmark)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmarks-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CELERY_BROKER_URL": REDIS_URL,
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


def in_fresh_process(module: str, *args: str) -> dict:
    """``python -m <module> --one <args>`` in a process of its own (so that its peak RSS is
    its own); the JSON object on its last line of output."""
    output = subprocess.run(
        [sys.executable, "-m", module, "--one", *args],
        env=environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def peak_rss_mb() -> int:
    """This process's own peak RSS. Not ``getrusage``'s ``ru_maxrss``: Linux carries it
    across ``exec``, so a child started by a large parent reports the parent's peak."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


@contextmanager
def worker(
    app: str = "project",
    queues: str = "high,normal,low",
    concurrency: int = 1,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` process, ready when this yields, stopped after."""
    name = f"bench-{uuid.uuid4().hex[:6]}@%h"
    logfile = VAR_DIR / f"{name.split('@')[0]}.log"
    output = logfile.with_suffix(".out")
    if app == "benchmarks.baseline":
        from benchmarks.baseline import WORKER_ENV

        env = {**WORKER_ENV, **(env or {})}
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "-n", name,
        "-c", str(concurrency), "--without-mingle", "--without-gossip", "-l", "INFO",
        "--logfile", str(logfile), "--include", "benchmarks.tasks", *args,
    ]  # fmt: skip
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment(**(env or {})), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            said = [f.read_text()[-2000:] for f in (logfile, output) if f.exists()]
            raise RuntimeError("worker exited: " + "\n".join(said))
        return logfile.exists() and " ready." in logfile.read_text()

    try:
        wait(ready, 60)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        logfile.unlink(missing_ok=True)
        output.unlink(missing_ok=True)


def wait(condition: Callable[[], bool], timeout: float, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout}s")
        time.sleep(poll)


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

    def add(self, label: str, **figures: str) -> None:
        self.rows.append((label, figures))

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
