"""Real ``celery worker`` processes and RabbitMQ virtual hosts and queues, for the tests
and the benchmarks alike. Nothing here imports Django: any project's app can be started."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kombu import Connection

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/{vhost}"


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    explain: Callable[[], str] | None = None,
    poll: float = 0.05,
) -> None:
    """Poll ``condition`` until ``timeout``; on failure, say what ``explain`` finds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    details = f"\n{explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{details}")


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
    queues: str | None,
    cwd: Path,
    env: dict[str, str],
    log_dir: Path,
    extra_args: Sequence[str] = (),
    stop_timeout: float = 20,
    name: str = "test",
) -> Iterator[Worker]:
    """``<python> -m celery -A <app> worker -Q <queues>`` in ``cwd`` (no ``-Q`` for None:
    every queue the app declares, as a host's usual command), until it is ready;
    stopped (SIGTERM, then SIGKILL after ``stop_timeout``) at exit. Its node name is
    ``<name>-<random>@<host>``; its log and output stay in ``log_dir``."""
    name = f"{name}-{uuid.uuid4().hex[:8]}@%h"
    logfile = log_dir / f"{name.split('@')[0]}.log"
    command = [
        python, "-m", "celery", "-A", app, "worker", *(["-Q", queues] if queues else []),
        "-n", name,
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
        assert process.poll() is None, f"worker exited:\n{worker.log()}\n{worker.output()}"
        yield worker
    finally:
        worker.stop(stop_timeout)


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    """``rabbitmqctl`` of the shared RabbitMQ (it needs root, as in CI), bounded; a
    failure raises with rabbitmqctl's own error."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
    return done


@contextmanager
def rabbitmq_vhost(name: str | None = None) -> Iterator[str]:
    """A virtual host of the caller's own on the shared RabbitMQ (a fresh one: ``name``
    is deleted first if it exists), deleted at the end: no queue declared by anything
    else (a classic queue named ``high``, say) can clash with taskhub's quorum queues,
    and nothing is left behind."""
    name = name or f"taskhub-test-{uuid.uuid4().hex[:8]}"
    if name in rabbitmqctl("list_vhosts", "--no-table-headers").stdout.split():
        rabbitmqctl("delete_vhost", name)
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield RABBITMQ_URL.format(vhost=name)
    finally:
        rabbitmqctl("delete_vhost", name)


def purge_rabbitmq_queues(url: str, names: Iterable[str]) -> None:
    """Empty each queue of ``names`` on the RabbitMQ at ``url``; a queue not declared yet
    has nothing to purge."""
    with Connection(url, connect_timeout=5) as connection:
        for name in names:
            channel = connection.channel()
            try:
                channel.queue_purge(name)
            except connection.channel_errors:
                continue  # not declared yet: the error closed the channel
            channel.close()
