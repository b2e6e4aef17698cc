"""Real worker processes and brokers for integration tests."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings
from kombu import Connection

from project.settings import filesystem_broker_options
from taskhub import celery as taskhub_celery
from taskhub.health import queue_depth

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/{db}"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/{vhost}"


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until ``timeout``; on failure, say what ``explain`` finds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    details = f"\n{explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{details}")


def database_url() -> str:
    """The test database, as a URL a worker process can open."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def broker_transport_options(url: str, var_dir: Path) -> dict:
    """What a worker of the demo project uses for ``url``: the project's folders for the
    filesystem broker, taskhub's defaults for the others."""
    if url.startswith("filesystem:"):
        return filesystem_broker_options(var_dir)
    return taskhub_celery.broker_transport_options(url)


def broker_connection(url: str, var_dir: Path) -> Connection:
    return Connection(url, transport_options=broker_transport_options(url, var_dir))


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def queue_length(url: str, var_dir: Path, queue: str) -> int:
    with broker_connection(url, var_dir) as conn:
        return queue_depth(conn, queue)


class Worker:
    def __init__(self, process: subprocess.Popen, logfile: Path) -> None:
        self.process = process
        self.logfile = logfile

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def output(self) -> str:
        """What the worker wrote to stdout and stderr (Python's own logging errors)."""
        out = self.logfile.with_suffix(".out")
        return out.read_text(errors="replace") if out.exists() else ""

    def signal(self, signum: int) -> None:
        """Signal the main process only (a deploy's SIGTERM, say)."""
        self.process.send_signal(signum)

    def exit_code(self, timeout: float) -> int:
        """Wait for the worker to exit; if it does not, fail with what it was doing."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the worker did not exit within {timeout}s\n--- stacks\n{self.stacks()}"
                f"\n--- end of its log\n{self.log()[-6000:]}"
            ) from None

    def stacks(self) -> str:
        """Every thread's Python stack, in the main process and its pool children."""
        pids = subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        dumps = [
            subprocess.run(
                [str(Path(sys.executable).with_name("py-spy")), "dump", "--pid", pid],
                capture_output=True,
                text=True,
                timeout=30,
            )
            for pid in pids
        ]
        return "\n".join(d.stdout + d.stderr for d in dumps)

    def kill(self) -> None:
        """SIGKILL the main process and its pool children at once, as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def celery_worker(
    python: str,
    app: str,
    queues: str,
    cwd: Path,
    env: dict[str, str],
    log_dir: Path,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Worker]:
    """``<python> -m celery -A <app> worker -Q <queues>`` in ``cwd``, until it is ready;
    stopped (SIGTERM, then SIGKILL) at exit. Any project's app: the demo or a host."""
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    logfile = log_dir / f"worker-{name.split('@')[0]}.log"
    command = [
        python, "-m", "celery", "-A", app, "worker", "-Q", queues, "-n", name,
        "--without-mingle", "--without-gossip", "--loglevel", "INFO", "--logfile", str(logfile),
        *extra_args,
    ]  # fmt: skip
    output = logfile.with_suffix(".out")
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(process, logfile)
    try:
        wait_for(
            lambda: " ready." in worker.log() or process.poll() is not None, 60, "worker start"
        )
        assert process.poll() is None, (
            f"worker exited:\n{worker.log()}\n{output.read_text(errors='replace')}"
        )
        yield worker
    finally:
        worker.stop()


@contextmanager
def running_worker(
    queues: str,
    broker_url: str,
    var_dir: Path,
    *,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Worker]:
    """``celery -A project worker -Q <queues>`` against the test database, until exit."""
    process_env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": database_url(),
        "TASKHUB_VAR_DIR": str(var_dir),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(var_dir / "emails"),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    args = ("--concurrency", str(concurrency), "--include", "tests.probe_tasks", *extra_args)
    with celery_worker(
        sys.executable, "project", queues, ROOT, process_env, var_dir, args
    ) as worker:
        yield worker


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    """``rabbitmqctl`` of the shared RabbitMQ (it needs root, as in CI), bounded."""
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=True
    )


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A virtual host of the caller's own on the shared RabbitMQ, deleted at the end: no
    queue declared by anything else (a classic queue named ``high``, say) can clash with
    taskhub's quorum queues, and nothing is left behind."""
    name = f"taskhub-test-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield RABBITMQ_URL.format(vhost=name)
    finally:
        rabbitmqctl("delete_vhost", name)


def emails_sent(var_dir: Path) -> int:
    """Messages written by the file email backend of the workers (one file each)."""
    folder = var_dir / "emails"
    if not folder.exists():
        return 0
    return sum(f.read_text().count("\nMessage-ID: ") for f in folder.iterdir())


@contextmanager
def publishing_to(settings, url: str, var_dir: Path) -> Iterator[None]:
    """Make this process's Celery app (views, ``.delay()``) publish to ``url``."""
    from project.celery import app

    settings.CELERY_BROKER_URL = url
    if url.startswith("filesystem:"):
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(var_dir)
    elif hasattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS"):
        del settings.CELERY_BROKER_TRANSPORT_OPTIONS  # taskhub's defaults apply
    forget_broker(app)
    try:
        yield
    finally:
        forget_broker(app)


def forget_broker(app) -> None:
    """Forget pooled connections (as Celery does in a forked child) and the queues
    built for the broker (``app.amqp`` caches them; taskhub's depend on the broker)."""
    app._after_fork()
    app.__dict__.pop("amqp", None)


@contextmanager
def redis_database(number: int) -> Iterator[str]:
    """The URL of a Redis database of the test's own, flushed before and after."""
    url = REDIS_URL.format(db=number)
    client = redis_client(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
