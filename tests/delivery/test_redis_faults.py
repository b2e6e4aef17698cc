"""Redis restarted again and again, and a Sentinel-watched primary killed, under a
consuming worker, with plain publishes (no outbox): every message Redis took runs, and
the worker survives every fault.

A few rounds run in ``make test``; ``REDIS_RESTARTS=50 SENTINEL_FAILOVERS=3`` (``make
soak``) is the soak whose figures are in docs/reliability.md.
"""

import json
import os
import random
import threading
import time
from collections.abc import Callable

import pytest
from kombu import Connection
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from project.celery import app
from tests.figures import report_figures
from tests.probe_tasks import effects, runs
from tests.redis_server import RedisServer, SentinelGroup
from tests.workers import SHORT_VISIBILITY, broker_connection, redis_client, running_worker
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

RESTARTS = int(os.environ.get("REDIS_RESTARTS", "3"))
FAILOVERS = int(os.environ.get("SENTINEL_FAILOVERS", "1"))


class Publisher(threading.Thread):
    """Sends ``probe.record`` with ``send_task``, as a plain ``.delay()`` of a host's
    would, until stopped. A key counts as sent once Redis took it; one whose publish
    failed is sent again (the caller's retry), so a key may be sent twice."""

    def __init__(self, connect: Callable[[], Connection], folder) -> None:
        super().__init__(daemon=True)
        self.connect, self.folder = connect, folder
        self.sent: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with self.connect() as connection:
            number = 0
            while not self.stopping.is_set():
                key = f"k{number:05d}"
                try:
                    app.send_task(
                        "probe.record",
                        (str(self.folder), key, 0.005),
                        queue="normal",
                        connection=connection,
                    )
                except (OperationalError, RedisError, *connection.recoverable_connection_errors):
                    time.sleep(0.05)
                    continue
                self.sent.append(key)
                number += 1
                time.sleep(0.02)

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join(10)
        assert not self.is_alive(), "the publisher did not stop"
        return sorted(set(self.sent))


def test_plain_publishes_survive_redis_restarts(tmp_path, probe_dir):
    server = RedisServer(tmp_path / "redis")
    server.start()
    publisher = Publisher(lambda: broker_connection(server.url, tmp_path), probe_dir)
    try:
        with running_worker(
            "normal", server.url, tmp_path, concurrency=2, env=SHORT_VISIBILITY
        ) as worker:
            publisher.start()
            for _ in range(RESTARTS):
                seen = len(effects(probe_dir))
                wait_for(
                    lambda s=seen: len(effects(probe_dir)) >= s + 20 or worker.process.poll(),
                    30,
                    "work under way",
                )
                server.stop()
                time.sleep(random.uniform(0, 0.5))
                server.start()
            sent = publisher.stop()
            wait_for(
                lambda: set(sent) <= set(effects(probe_dir)) or worker.process.poll() is not None,
                60,
                "every message sent to run",
                lambda: (
                    f"{len(sent) - len(set(sent) & set(effects(probe_dir)))} missing, "
                    f"queue {redis_client(server.url).llen('normal')}, "
                    f"unacked {redis_client(server.url).hlen('unacked')}\n{worker.log()[-4000:]}"
                ),
            )
            alive = worker.process.poll() is None
            log = worker.log()
    finally:
        publisher.stopping.set()
        server.stop()
    lost = sorted(set(sent) - set(effects(probe_dir)))
    report_figures(
        "19. Redis restarts, plain publishes",
        restarts=RESTARTS,
        sent=len(sent),
        effects=len(effects(probe_dir)),
        lost=len(lost),
        runs_more_than_once=runs(probe_dir) - len(effects(probe_dir)),
        worker_crashed=int(not alive),
    )
    assert alive, f"the worker died:\n{log[-6000:]}"
    assert not lost, f"{len(lost)} lost: {lost[:10]}"


def test_tasks_go_on_after_sentinel_fails_the_primary_over(tmp_path, probe_dir):
    """The primary is killed (SIGKILL) while a worker consumes; the Sentinels promote the
    replica, and the worker and the publisher follow them there. The killed server comes
    back as the new primary's replica before the next round."""
    group = SentinelGroup(tmp_path / "redis")
    options = {**json.loads(SHORT_VISIBILITY["CELERY_BROKER_TRANSPORT_OPTIONS"])}
    options["master_name"] = group.MASTER

    def connect() -> Connection:
        return Connection(group.url, transport="taskhub_sentinel", transport_options=options)

    env = {"CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(options)}
    publisher = Publisher(connect, probe_dir)
    resumed = []
    try:
        group.start()
        with running_worker("normal", group.url, tmp_path, concurrency=2, env=env) as worker:
            publisher.start()
            for _ in range(FAILOVERS):
                seen = len(effects(probe_dir))
                wait_for(lambda s=seen: len(effects(probe_dir)) >= s + 20, 30, "work under way")
                primary = group.primary()
                primary.kill()
                killed, at_kill = time.monotonic(), len(effects(probe_dir))
                wait_for(
                    lambda n=at_kill: len(effects(probe_dir)) >= n + 10,
                    30,
                    "consuming on the new primary",
                    lambda: worker.log()[-4000:],
                )
                resumed.append(round(time.monotonic() - killed, 1))
                primary.start()
                wait_for(group.replicated, 30, "the old primary back as a replica")
            sent = publisher.stop()
            wait_for(
                lambda: set(sent) <= set(effects(probe_dir)),
                60,
                "every message sent to run",
                lambda: f"{len(set(sent) - set(effects(probe_dir)))} missing",
            )
            alive = worker.process.poll() is None
    finally:
        publisher.stopping.set()
        group.stop()
    report_figures(
        "20. Sentinel failover",
        failovers=FAILOVERS,
        sent=len(sent),
        effects=len(effects(probe_dir)),
        lost=len(set(sent) - set(effects(probe_dir))),
        runs_more_than_once=runs(probe_dir) - len(effects(probe_dir)),
        slowest_resume_s=max(resumed),
    )
    assert alive
    assert max(resumed) <= 30
