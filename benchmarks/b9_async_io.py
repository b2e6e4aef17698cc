"""B9: 1,000 Django Tasks that each wait 200 ms on a loopback sink, on one worker
process: ``async def`` tasks awaiting together on its event loop, against the same work
as plain ``def`` tasks on the threads pool ``-c 16``, in the same run. Tasks/s from the
worker being ready to the last result stored; the worker's peak RSS.

The async worker is a threads pool too (``ASYNC_CONCURRENCY`` slots, each waiting on a
coroutine of the one loop): Celery's pool decides how many messages a process takes, and
a task holds its slot until it ends. So sync tasks on as many slots are measured too:
they show how much of the gain is the coroutines and how much the slots.
"""

import subprocess
import sys
import time

from benchmarks import harness
from tools.workers import wait_for

COUNT = 1000
SYNC_CONCURRENCY = 16
ASYNC_CONCURRENCY = 32
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


def measure(task, port: int, concurrency: int) -> dict[str, float]:
    from taskhub.models import DjangoTaskResult
    from taskhub.tasks_api.compat import SUCCEEDED

    DjangoTaskResult.objects.all().delete()
    harness.flush()
    for _ in range(COUNT):
        task.enqueue(port)
    args = ("--pool", "threads")
    with harness.worker(queues="normal", concurrency=concurrency, args=args) as worker:
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
        sync = measure(fetch_sync, port, SYNC_CONCURRENCY)
        asynchronous = measure(fetch_async, port, ASYNC_CONCURRENCY)
        sync_as_wide = measure(fetch_sync, port, ASYNC_CONCURRENCY)
    finally:
        sink.terminate()
    result = harness.Result(f"B9 async I/O, {COUNT} tasks of 200 ms each, one worker process")
    for label, figures in [
        (f"sync def, threads pool -c {SYNC_CONCURRENCY} (baseline)", sync),
        (f"async def, one event loop, threads pool -c {ASYNC_CONCURRENCY}", asynchronous),
        (f"sync def, threads pool -c {ASYNC_CONCURRENCY} (as many slots)", sync_as_wide),
    ]:
        result.add(
            label,
            **{
                "tasks/s": f"{figures['rate']:.1f}",
                "seconds": f"{figures['seconds']:.1f}",
                "peak RSS MB": str(figures["rss"]),
                "failed": str(figures["failed"]),
            },
        )
    ratio = asynchronous["rate"] / sync["rate"]
    result.target("async >= 1.5x the threads pool's tasks/s", ratio >= 1.5, f"{ratio:.2f}x")
    result.target(
        "async uses no more memory",
        asynchronous["rss"] <= sync["rss"],
        f"{asynchronous['rss']} MB vs {sync['rss']} MB",
    )
    return result
