"""B12: Django Tasks API backends, one run, same machine, same work: taskhub's
``CeleryBackend`` (Redis broker, PostgreSQL results, the project's settings) against
django-tasks-db (``db_worker``), django-tasks-rq (``rqworker``), django-vtasks (its
database backend, ``runworker``) and huey's backend (``run_huey``).

Each contender runs in a process of its own with its own ``TASKS``
(``benchmarks.b12_settings`` for all but taskhub), and is measured the same way:

- enqueue cost per call (``B12_ENQUEUE`` calls, median of ``REPEATS``), outside a
  transaction and with each call in a ``transaction.atomic()`` of its own (the commit
  included, and what the backend does on it);
- no-op tasks/s: ``B12_NOOP`` tasks enqueued, then the workers started, all at once;
  the tasks finished after the first poll that saw one, over the time from that poll to
  the last (so no contender's start-up counts); on 2 worker processes or the closest
  the backend has;
- the same for ``B12_IO`` tasks that each block 200 ms (``time.sleep``: one plain
  ``def`` for every backend); each backend on the workers a user would run for I/O;
- the peak of the summed RSS of the workers' process trees, sampled every 250 ms.

A task is finished when its body has counted it in Redis (the backends store their
results just after). Every phase starts from empty queues and result tables.
django-vtasks needs Python 3.12+ and Django 6.0+, so it runs from a venv of its own
(``make bench`` makes it); a contender that cannot run is named with the reason.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from benchmarks import harness
from tools.workers import Worker

NOOP = int(os.environ.get("B12_NOOP", 5000))
IO = int(os.environ.get("B12_IO", 1000))
ENQUEUE = int(os.environ.get("B12_ENQUEUE", 2000))
REPEATS = 3
IO_SECONDS = 0.2
RSS_EVERY = 0.25
PY313 = harness.VAR_DIR / "py313" / "bin" / "python"


@dataclass(frozen=True)
class Workers:
    """``processes`` copies of ``command`` (after the interpreter; ``{i}`` is the copy's
    number), started at once, and what they are, for the table."""

    command: tuple[str, ...]
    processes: int
    described: str


@dataclass(frozen=True)
class Contender:
    label: str
    noop: Workers
    io: Workers
    #: Where an enqueued task is kept ("PostgreSQL" or "Redis"): what makes it durable.
    store: str
    #: What one enqueue writes, and what a worker does per task: for the table, and for
    #: what limits taskhub where it is beaten.
    writes: str
    per_task: str
    #: A module it needs, checked before it runs on this interpreter.
    needs: str
    #: Models whose rows are the queue or the results, emptied before every phase.
    tables: tuple[str, ...] = ()
    #: The environment of its measuring process and workers (its settings).
    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable


def celery(*args: str) -> tuple[str, ...]:
    return (
        "-m", "celery", "-A", "project", "worker", "-Q", "normal", "-n", "b12-{i}@%h",
        "--without-mingle", "--without-gossip", "--loglevel", "WARNING", *args,
    )  # fmt: skip


def django(*args: str) -> tuple[str, ...]:
    return ("-m", "django", *args)


def settings_for(backend: str) -> dict[str, str]:
    return {"DJANGO_SETTINGS_MODULE": "benchmarks.b12_settings", "B12_BACKEND": backend}


def twice(command: tuple[str, ...], slots: str) -> Workers:
    return Workers(command, 2, f"2 processes, {slots}")


#: The same workers for both workloads: each runs one task at a time per process.
DB_WORKERS = twice(django("db_worker", "--queue-name", "normal"), "one task at a time each")
RQ_WORKERS = twice(
    django("rqworker", "normal", "--job-class", "django_tasks_rq.Job"),
    "one job at a time each, a forked work horse per job",
)

CONTENDERS = {
    "taskhub": Contender(
        "taskhub CeleryBackend",
        noop=Workers(
            celery("-c", "2"),
            1,
            "celery prefork -c 2 (worker-default's pool), a pipe to each child",
        ),
        io=twice(
            celery("--pool", "threads", "-c", "16"),
            "threads pool -c 16 each (the shipped worker-high's pool)",
        ),
        store="PostgreSQL",
        writes="PostgreSQL: the result row (INSERT, COMMIT); Redis: the message. In atomic(): "
        "+ an outbox row; on commit the message, then the row's published mark",
        per_task="Redis: the take (one script) and the ack; PostgreSQL: the claim (SELECT FOR "
        "UPDATE, UPDATE, COMMIT) and the final UPDATE",
        needs="celery",
        tables=("taskhub.DjangoTaskResult", "taskhub.OutboxMessage"),
    ),
    "django_tasks_db": Contender(
        "django-tasks-db 0.13.0",
        noop=DB_WORKERS,
        io=DB_WORKERS,
        store="PostgreSQL",
        writes="PostgreSQL: the result row (INSERT, COMMIT outside atomic())",
        per_task="PostgreSQL: the claim (SELECT FOR UPDATE SKIP LOCKED, UPDATE, COMMIT) and "
        "the final UPDATE",
        tables=("django_tasks_database.DBTaskResult",),
        env=settings_for("django_tasks_db"),
        needs="django_tasks_db",
    ),
    "django_tasks_rq": Contender(
        "django-tasks-rq 0.12.0 (rq 3.0.0)",
        noop=RQ_WORKERS,
        io=RQ_WORKERS,
        store="Redis",
        writes="Redis: a new connection (django-rq's get_queue builds a client per call), "
        "then the job and the queue push (11 commands)",
        per_task="a forked work horse; Redis: the dequeue, the job's status and result",
        env=settings_for("django_tasks_rq"),
        needs="django_tasks_rq",
    ),
    "huey": Contender(
        "huey 3.5.4 HueyBackend",
        noop=Workers(django("run_huey", "-k", "process", "-w", "2"), 1, "run_huey -k process -w 2"),
        io=twice(django("run_huey", "-k", "thread", "-w", "16"), "run_huey -k thread -w 16 each"),
        store="Redis",
        writes="Redis: the result record, then the queue push (both on commit in atomic())",
        per_task="Redis: the dequeue, the record's read, its RUNNING and final writes",
        env=settings_for("huey"),
        needs="huey",
    ),
    "django_vtasks": Contender(
        "django-vtasks 3.2.0 (database backend)",
        noop=twice(
            django("runworker", "--queue", "normal"),
            "asyncio, concurrency 20 each; sync tasks on asyncio's default thread pool",
        ),
        io=twice(
            django("runworker", "--queue", "normal"),
            "asyncio, concurrency 20 each; sync tasks on asyncio's default thread pool "
            f"({min(32, (os.cpu_count() or 1) + 4)} threads here)",
        ),
        store="PostgreSQL",
        writes="PostgreSQL: the queued task row (INSERT, COMMIT outside atomic())",
        per_task="PostgreSQL: the claim (SELECT FOR UPDATE SKIP LOCKED, UPDATE, COMMIT) and "
        "a DELETE (no result is kept)",
        tables=("db.QueuedTask",),
        env=settings_for("django_vtasks"),
        python=str(PY313),
        needs="django_vtasks",
    ),
}


# --- In the contender's own process -------------------------------------------------


def clear(contender: Contender) -> None:
    """Empty the queues, the counter and the contender's result tables."""
    from django.apps import apps
    from django.db import connection

    harness.flush()
    if contender.tables:
        names = ", ".join(apps.get_model(label)._meta.db_table for label in contender.tables)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {names}")


def per_call_us(contender: Contender, call: Callable[[], object]) -> float:
    clear(contender)
    started = time.perf_counter()
    for _ in range(ENQUEUE):
        call()
    return (time.perf_counter() - started) / ENQUEUE * 1e6


def enqueue_costs(contender: Contender, task) -> dict[str, list[float]]:
    """µs per ``task.enqueue()`` outside a transaction and in one of its own, the two
    interleaved repeat by repeat."""
    from django.db import transaction

    def in_transaction() -> None:
        with transaction.atomic():
            task.enqueue()

    calls = {"outside": task.enqueue, "atomic": in_transaction}
    for call in calls.values():
        call()  # connections open, caches warm
    costs: dict[str, list[float]] = {way: [] for way in calls}
    for _ in range(REPEATS):
        for way, call in calls.items():
            costs[way].append(per_call_us(contender, call))
    return costs


def tree_rss(roots: list[Worker]) -> int:
    """Bytes resident in the workers' processes and all their descendants, now."""
    import psutil

    total = 0
    for worker in roots:
        with suppress(psutil.NoSuchProcess):
            root = psutil.Process(worker.process.pid)
            for process in [root, *root.children(recursive=True)]:
                with suppress(psutil.NoSuchProcess):
                    total += process.memory_info().rss
    return total


@contextmanager
def started(name: str, contender: Contender, workers: Workers) -> Iterator[list[Worker]]:
    """Every process of ``workers`` started at once, each in a process group of its own;
    each stopped after (SIGTERM, then SIGKILL to its group), its log deleted if all
    went well."""
    env = harness.environment(**contender.env)
    running = []
    with ExitStack() as stack:
        for i in range(workers.processes):
            logfile = harness.VAR_DIR / f"b12-{name}-{i}.log"
            with logfile.open("wb") as out:
                process = subprocess.Popen(
                    [contender.python, *(part.format(i=i) for part in workers.command)],
                    cwd=harness.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            worker = Worker(process, logfile)
            stack.callback(stop, worker)
            running.append(worker)
        yield running
    for worker in running:
        worker.logfile.unlink(missing_ok=True)


def stop(worker: Worker) -> None:
    worker.stop(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(worker.process.pid, signal.SIGKILL)  # what its main process left behind


def finish(running: list[Worker], count: int, timeout: float) -> dict[str, float]:
    """Wait until ``count`` tasks are counted: tasks/s from the first counted to the
    last, and the workers' peak RSS (MB). A worker that exits fails the run."""
    from benchmarks.b12_tasks import DONE

    done = harness.redis_client()
    start = time.monotonic()
    deadline = start + timeout
    first, counted_first = start, 0
    peak = 0
    next_sample = 0.0
    while (counted := int(done.get(DONE) or 0)) < count:
        now = time.monotonic()
        if not counted_first and counted:
            first, counted_first = now, counted
        if now >= next_sample:
            peak, next_sample = max(peak, tree_rss(running)), now + RSS_EVERY
        if now > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s, {counted} of {count} done")
        for worker in running:
            if worker.process.poll() is not None:
                raise AssertionError(
                    f"a worker exited ({worker.process.returncode}), {counted} of {count} "
                    f"done:\n{worker.log()[-3000:]}"
                )
        time.sleep(0.01)
    rate = (count - counted_first) / (time.monotonic() - first)
    return {"rate": rate, "rss": max(peak, tree_rss(running)) / 2**20}


def drain(name: str, contender: Contender, workers: Workers, count: int, task, *args) -> dict:
    """``count`` of ``task(*args)`` enqueued, then ``workers`` started: their figures.
    Bounded as if each task took its wait (``args``) or 100 ms (rq forks one process per
    job), one at a time."""
    clear(contender)
    for _ in range(count):
        task.enqueue(*args)
    with started(name, contender, workers) as running:
        return finish(running, count, timeout=120 + count * max([0.1, *args]))


def one(name: str) -> dict:
    contender = CONTENDERS[name]
    harness.setup_django(**contender.env)
    from benchmarks.b12_tasks import counted_noop, counted_wait

    figures = {
        "enqueue": enqueue_costs(contender, counted_noop),
        "noop": drain(name, contender, contender.noop, NOOP, counted_noop),
        "io": drain(name, contender, contender.io, IO, counted_wait, IO_SECONDS),
    }
    clear(contender)
    return figures


# --- In the benchmark's process ------------------------------------------------------


def unavailable(contender: Contender) -> str | None:
    """Why ``contender`` cannot run here, or None."""
    if not Path(contender.python).exists():
        return (
            f"needs Python 3.12+ and Django 6.0+ (its Requires-Python >=3.12, Requires-Dist "
            f"django>=6.0; the project's venv is Python 3.11 with Django 5.2.19), and "
            f"{contender.python} is missing: `make bench` makes it"
        )
    if contender.python == sys.executable and find_spec(contender.needs) is None:
        return f"{contender.needs} is not installed: `make bench` installs it"
    return None


def measure(name: str, contender: Contender) -> dict | str:
    """The contender's figures from a process of its own, or why it did not run."""
    reason = unavailable(contender)
    if reason:
        return reason
    try:
        return harness.in_fresh_process(
            "benchmarks.b12_tasks_backends", name, python=contender.python, **contender.env
        )
    except subprocess.CalledProcessError as error:
        lines = [line for line in error.stderr.splitlines() if line.strip()]
        return f"failed: {lines[-1] if lines else f'exit {error.returncode}'}"


@cache
def durable(store: str) -> bool:
    """Whether a write that returned survives a crash of the server, as configured here:
    PostgreSQL with ``fsync`` and ``synchronous_commit`` on; Redis with an append-only
    file synced on every write."""
    if store == "PostgreSQL":
        import psycopg

        with psycopg.connect(harness.DATABASE_URL) as connection:
            fsync = connection.execute("SHOW fsync").fetchone()[0]
            commit = connection.execute("SHOW synchronous_commit").fetchone()[0]
        return fsync == "on" and commit != "off"
    config = harness.redis_client().config_get("append*")
    return config.get("appendonly") == "yes" and config.get("appendfsync") == "always"


def add_row(result: harness.Result, contender: Contender, figures: dict | str) -> None:
    persisted = "yes" if durable(contender.store) else "no"
    common = {"durable enqueue": f"{persisted} ({contender.store})"}
    if isinstance(figures, str):
        result.add(contender.label, **common, **{"did not run": figures})
        return
    enqueue = figures["enqueue"]
    result.add(
        contender.label,
        **common,
        **{
            "enqueue µs": f"{harness.median(enqueue['outside']):.0f}",
            "enqueue µs in atomic()": f"{harness.median(enqueue['atomic']):.0f}",
            "no-op tasks/s": f"{figures['noop']['rate']:,.0f}",
            "no-op peak RSS MB": f"{figures['noop']['rss']:.0f}",
            f"{IO_SECONDS * 1000:.0f} ms I/O tasks/s": f"{figures['io']['rate']:,.1f}",
            "I/O peak RSS MB": f"{figures['io']['rss']:.0f}",
            "workers: no-op / I/O": f"{contender.noop.described} / {contender.io.described}",
            "what one enqueue writes": contender.writes,
            "per task, a worker": contender.per_task,
        },
    )


def what_limits(name: str, workload: str) -> str:
    """What ``name`` does that bounds its figure in ``workload`` ("enqueue", "noop", "io")."""
    contender = CONTENDERS[name]
    if workload == "enqueue":
        return contender.writes
    return f"{getattr(contender, workload).described}; per task, {contender.per_task}"


def against(
    result: harness.Result, target: str, met: bool, measured: str, rival: str, workload: str
) -> None:
    """A verdict; where taskhub is beaten, what bounds it and its rival."""
    if not met:
        measured += (
            f". What limits it: taskhub: {what_limits('taskhub', workload)}. "
            f"{CONTENDERS[rival].label}: {what_limits(rival, workload)}"
        )
    result.target(target, met, measured)


def throughput_target(result: harness.Result, ran: dict[str, dict], workload: str) -> None:
    title = {"noop": "no-op", "io": f"{IO_SECONDS * 1000:.0f} ms I/O"}[workload]
    target = f"taskhub > every other backend, {title} tasks/s"
    rates = {name: figures[workload]["rate"] for name, figures in ran.items()}
    others = set(rates) - {"taskhub"}
    if not others:
        result.target(target, False, "no other backend ran")
        return
    rival = max(others, key=rates.get)
    ours, theirs = rates["taskhub"], rates[rival]
    measured = f"{ours:,.1f} against {CONTENDERS[rival].label}'s {theirs:,.1f}"
    against(result, target, ours > theirs, measured, rival, workload)


def enqueue_target(result: harness.Result, ran: dict[str, dict], way: str) -> None:
    costs = {
        name: harness.median(figures["enqueue"][way])
        for name, figures in ran.items()
        if name == "taskhub" or durable(CONTENDERS[name].store)
    }
    rival = min(costs, key=costs.get)
    ratio = costs["taskhub"] / costs[rival]
    target = (
        f"taskhub's enqueue{' in atomic()' if way == 'atomic' else ''} <= 1.2x the cheapest "
        "durable enqueue"
    )
    measured = f"{ratio:.2f}x {CONTENDERS[rival].label}'s {costs[rival]:.0f} µs"
    against(result, target, ratio <= 1.2, measured, rival, "enqueue")


def run() -> harness.Result:
    figures = {name: measure(name, contender) for name, contender in CONTENDERS.items()}
    result = harness.Result(
        f"B12 Django Tasks backends: enqueue {ENQUEUE} x {REPEATS}, {NOOP} no-op tasks, "
        f"{IO} tasks of {IO_SECONDS * 1000:.0f} ms blocking I/O; PostgreSQL + Redis"
    )
    for name, contender in CONTENDERS.items():
        add_row(result, contender, figures[name])
    ran = {name: f for name, f in figures.items() if isinstance(f, dict)}
    if "taskhub" not in ran:
        result.target("taskhub ran", False, figures["taskhub"])
        return result
    throughput_target(result, ran, "noop")
    throughput_target(result, ran, "io")
    enqueue_target(result, ran, "outside")
    enqueue_target(result, ran, "atomic")
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(sys.argv[2])))
    else:
        print(run().markdown())
