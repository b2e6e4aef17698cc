"""Tasks that only exist in tests: workers load them with ``--include tests.probe_tasks``.

Each records its effect as a file created with O_EXCL under a unique key, so an effect
exists once however often its task runs, and every run is also appended to a log, so
the tests can count duplicates (runs) apart from effects (keys).
"""

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from taskhub.tasks import TaskhubTask

HOARD: list[bytearray] = []


def effects(directory: str | Path) -> list[str]:
    """The keys whose effect exists, sorted."""
    path = Path(directory) / "effects"
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def runs(directory: str | Path, key: str | None = None) -> int:
    """How many runs were noted, of ``key`` or of all keys."""
    log = Path(directory) / "runs.log"
    lines = log.read_text().split() if log.exists() else []
    return len(lines) if key is None else lines.count(key)


def note_run(directory: str, key: str) -> None:
    with open(Path(directory) / "runs.log", "a") as log:
        log.write(f"{key}\n")


@shared_task(base=TaskhubTask, name="probe.record")
def record(directory: str, key: str, seconds: float = 0.0) -> int:
    note_run(directory, key)
    time.sleep(seconds)
    make_effect(directory, key)
    return os.getpid()


def make_effect(directory: str, key: str) -> None:
    effects = Path(directory) / "effects"
    effects.mkdir(exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(effects / key, os.O_CREAT | os.O_EXCL | os.O_WRONLY))


#: ``await_record`` runs awaiting at once in this process (one loop: no lock needed).
_awaiting = 0


@shared_task(base=TaskhubTask, name="probe.await_record")
async def await_record(directory: str, key: str, seconds: float = 0.0) -> dict:
    """``record`` as a coroutine; says how many were awaiting when it started."""
    global _awaiting
    note_run(directory, key)
    _awaiting += 1
    awaiting_at_start = _awaiting
    try:
        await asyncio.sleep(seconds)
    finally:
        _awaiting -= 1
    make_effect(directory, key)
    return {"pid": os.getpid(), "awaiting_at_start": awaiting_at_start}


@shared_task(base=TaskhubTask, name="probe.await_whoami", bind=True)
async def await_whoami(self, seconds: float) -> str | None:
    """Its own task id, read after an await, and a log line written there."""
    await asyncio.sleep(seconds)
    logging.getLogger("tests.probe").warning("awaited as %s", self.request.id)
    return self.request.id


@shared_task(base=TaskhubTask, name="probe.await_hang")
async def await_hang(directory: str, key: str, seconds: float) -> None:
    note_run(directory, key)
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        (Path(directory) / f"{key}.cancelled").write_text("cancelled where it awaited")
        raise


@shared_task(base=TaskhubTask, name="probe.crash")
def crash(directory: str, key: str) -> None:
    """A poison message: kills the process that runs it, every time."""
    note_run(directory, key)
    os._exit(1)


@shared_task(base=TaskhubTask, name="probe.hang")
def hang(directory: str, key: str, seconds: float) -> None:
    note_run(directory, key)
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        (Path(directory) / f"{key}.soft-limit").write_text("stopped by the soft time limit")
        raise


@shared_task(base=TaskhubTask, name="probe.hog")
def hog(megabytes: int) -> int:
    """Keep ``megabytes`` more memory for the life of the process."""
    HOARD.append(bytearray(os.urandom(1024) * (megabytes * 1024)))
    return os.getpid()


def finished_runs(directory: str | Path) -> list[str]:
    """The keys of the ``span`` runs that got to their end, one line per run."""
    log = Path(directory) / "finished.log"
    return log.read_text().split() if log.exists() else []


@shared_task(base=TaskhubTask, name="probe.span")
def span(directory: str, key: str, seconds: float) -> None:
    """``record``, and a line in ``finished.log`` when the run gets to its end: a run
    stopped half-way (cancelled, killed) leaves none."""
    record.run(directory, key, seconds)
    with open(Path(directory) / "finished.log", "a") as log:
        log.write(f"{key}\n")


@shared_task(name="host.fails")
def failing_host_task() -> None:
    """A host's own task (not a taskhub one) that fails."""
    raise OSError("host task failed")
