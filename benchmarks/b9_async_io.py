"""B9: 1,000 Django Tasks that each wait 200 ms on a loopback sink, on one worker
process: ``async def`` tasks on taskhub's asyncio pool (``taskhub.worker.async_pool``,
one event loop, ``-c`` tasks in flight), against the same work as plain ``def`` tasks on
the threads pool ``-c 16``, in the same run. Tasks/s from the worker being ready to the
last result stored; the worker's peak RSS.

Also measured, to show where the gain comes from: the ``async def`` tasks on the threads
pool (each slot waits on its coroutine, so ``-c`` still bounds what awaits at once), and
``def`` tasks on the threads pool ``-c 64``.
"""

import subprocess
import sys
import time

from benchmarks import harness
from tools.workers import wait_for

COUNT = 1000
THREADS = ("--pool", "threads")
ASYNC_POOL = ("--pool", "custom")
ASYNC_POOL_ENV = {"CELERY_CUSTOM_WORKER_POOL": "taskhub.worker.async_pool:TaskPool"}
SINK = """
import asyncio, sys

async def answer(reader, writer):
    await reader.readline()
    await asyncio.sleep(0.2)
    writer.write(b"pong\\n")
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def measure(
    task, port: int, concurrency: int, args=THREADS, env: dict[str, str] | None = None
) -> dict[str, float]:
    from taskhub.models import DjangoTaskResult
    from taskhub.tasks_api.compat import SUCCEEDED

    DjangoTaskResult.objects.all().delete()
    harness.flush()
    for _ in range(COUNT):
        task.enqueue(port)
    with harness.worker(queues="normal", concurrency=concurrency, args=args, env=env) as worker:
        started = time.perf_counter()
        finished = DjangoTaskResult.objects.filter(status__in=[SUCCEEDED, "FAILED"])
        wait_for(lambda: finished.count() == COUNT, 600, "tasks", poll=0.1)
        elapsed = time.perf_counter() - started
        rss = harness.peak_rss_mb(worker.process.pid)
    failed = DjangoTaskResult.objects.filter(status="FAILED").count()
    return {"rate": COUNT / elapsed, "seconds": elapsed, "rss": rss, "failed": failed}


def run() -> harness.Result:
    harness.setup_django()
    from benchmarks.api_tasks import fetch_async, fetch_sync

    port = harness.free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    try:
        wait_for(lambda: harness.answers(port), 10, "the sink")
        runs = [
            ("sync def, threads pool -c 16 (baseline)", measure(fetch_sync, port, 16)),
            ("async def, asyncio pool -c 200", measure(fetch_async, port, 200, ASYNC_POOL,
                                                       ASYNC_POOL_ENV)),
            ("async def, asyncio pool -c 500", measure(fetch_async, port, 500, ASYNC_POOL,
                                                       ASYNC_POOL_ENV)),
            ("async def, threads pool -c 32", measure(fetch_async, port, 32)),
            ("sync def, threads pool -c 64", measure(fetch_sync, port, 64)),
        ]  # fmt: skip
    finally:
        sink.terminate()
    result = harness.Result(f"B9 async I/O, {COUNT} tasks of 200 ms each, one worker process")
    for label, figures in runs:
        result.add(
            label,
            **{
                "tasks/s": f"{figures['rate']:.1f}",
                "seconds": f"{figures['seconds']:.1f}",
                "peak RSS MB": str(figures["rss"]),
                "failed": str(figures["failed"]),
            },
        )
    baseline, best = runs[0][1], max((figures for _, figures in runs[1:3]), key=rate)
    ratio = best["rate"] / baseline["rate"]
    result.target("asyncio pool >= 5x the threads pool -c 16", ratio >= 5, f"{ratio:.2f}x")
    result.target(
        "at no more peak RSS",
        best["rss"] <= baseline["rss"],
        f"{best['rss']} MB vs {baseline['rss']} MB",
    )
    return result


def rate(figures: dict[str, float]) -> float:
    return figures["rate"]
