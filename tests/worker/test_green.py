"""A worker on gevent (``-P gevent``), for queues of work that waits on the network: what
taskhub sets for it, and real gevent workers on Redis under the faults the other pools
are tested with (many greenlets acknowledging at once, SIGKILL, a Redis restart, a
poison message that takes the whole process down), plus its soft time limit."""

import logging
import time
from types import SimpleNamespace

import pytest
from celery import Celery
from django.db import transaction
from django_celery_results.models import TaskResult

from taskhub.celery import configure
from taskhub.delivery import outbox
from taskhub.worker import green
from tests.figures import report_figures
from tests.probe_tasks import effects, hang, record, runs
from tests.workers import (
    SHORT_VISIBILITY,
    broker_connection,
    outboxed_through_a_redis_restart,
    poisoned_until_dead_lettered,
    publishing_to,
    redis_client,
    redis_database,
    relayed_effects,
    running_worker,
)
from tools.workers import wait_for

GEVENT = ("--pool", "gevent")


@pytest.mark.parametrize(
    ("pool", "expected"),
    [("gevent", True), ("taskhub.worker.green:TaskPool", True), ("eventlet", False),
     ("threads", False), ("prefork", False), ("solo", False),
     ("taskhub.worker.pool:TaskPool", False)],
)  # fmt: skip
def test_gevent_pools_are_told_apart_by_their_class(pool, expected):
    assert green.is_gevent(pool) is expected


def green_worker(broker_url: str, concurrency: int = 200, **conf) -> SimpleNamespace:
    app = Celery("host", set_as_current=False)
    app.conf.update(broker_url=broker_url, **conf)
    configure(app)
    return SimpleNamespace(app=app, pool_cls="gevent", concurrency=concurrency)


def host_set(*keys: str):
    return lambda key: key in keys


def test_a_green_worker_gets_a_connection_per_greenlet_and_then_some(monkeypatch):
    monkeypatch.setattr(green, "is_patched", lambda: True)
    worker = green_worker("redis://127.0.0.1:6379/12", result_backend="redis://127.0.0.1/3")
    green.configure_worker(worker, host_set())
    conf = worker.app.conf
    assert conf.broker_transport_options["max_connections"] == 200 + green.HEADROOM
    assert conf.broker_transport_options["visibility_timeout"], "taskhub's options kept"
    assert (conf.redis_max_connections, conf.broker_pool_limit) == (216, 200)


def test_a_hosts_own_cap_is_kept_and_a_cap_too_low_is_said(monkeypatch, caplog):
    monkeypatch.setattr(green, "is_patched", lambda: True)
    worker = green_worker(
        "redis://127.0.0.1:6379/12", broker_transport_options={"max_connections": 20}
    )
    with caplog.at_level(logging.WARNING, logger=green.__name__):
        green.configure_worker(worker, host_set("broker_transport_options"))
    assert worker.app.conf.broker_transport_options == {"max_connections": 20}
    assert "max_connections=20 is below the 216 this worker's 200 greenlets need" in caplog.text


def test_a_green_pool_in_an_unpatched_process_refuses_to_start(monkeypatch):
    monkeypatch.setattr(green, "is_patched", lambda: False)
    with pytest.raises(SystemExit, match="not monkey-patched"):
        green.configure_worker(green_worker("redis://127.0.0.1:6379/12"), host_set())


def test_other_pools_are_left_as_they_are():
    worker = green_worker("redis://127.0.0.1:6379/12")
    worker.pool_cls = "threads"
    green.configure_worker(worker, host_set())
    assert "max_connections" not in worker.app.conf.broker_transport_options


def test_postgresql_without_a_pool_is_said_with_the_fix():
    databases = {
        "default": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}},
        "pooled": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"pool": True}},
        "local": {"ENGINE": "django.db.backends.sqlite3"},
    }
    [warning] = green.pool_warnings(200, databases)
    assert "'default': up to 200 PostgreSQL connections at once" in warning
    assert "['OPTIONS']['pool']" in warning


@pytest.fixture
def redis_url(settings, tmp_path):
    with redis_database(13) as url, publishing_to(settings, url, tmp_path):
        yield url


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_hundred_greenlets_acknowledge_every_message_once(redis_url, tmp_path, probe_dir):
    """B3 on gevent: 1,753 failed acks and 644 redeliveries in two minutes before."""
    sent = 600
    with broker_connection(redis_url, tmp_path) as connection:
        for i in range(sent):
            record.apply_async((str(probe_dir), f"k{i:04d}", 0.2), connection=connection)
    with running_worker("normal", redis_url, tmp_path, concurrency=200,
                        extra_args=GEVENT) as worker:  # fmt: skip
        wait_for(lambda: len(effects(probe_dir)) == sent, 90, "every task done")
        log = worker.log()
    assert "Couldn't ack" not in log and "Too many connections" not in log, log[-3000:]
    assert runs(probe_dir) == sent, "no message came back: each was run once"
    report_figures(
        "16. gevent -c 200, 600 tasks", sent=sent, ran=runs(probe_dir),
        effects=len(effects(probe_dir)), failed_acks=log.count("Couldn't ack"),
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_green_tasks_soft_time_limit_stops_it(redis_url, tmp_path, probe_dir):
    """Celery's gevent pool enforces the hard limit only; taskhub adds the soft one."""
    with broker_connection(redis_url, tmp_path) as connection:
        hang.apply_async((str(probe_dir), "stuck", 60), task_id="stuck", soft_time_limit=1,
                         time_limit=10, connection=connection)  # fmt: skip
    with running_worker("normal", redis_url, tmp_path, concurrency=10, extra_args=GEVENT):
        wait_for(
            lambda: TaskResult.objects.filter(task_id="stuck", status="FAILURE").exists(),
            30,
            "the stuck task recorded as failed",
        )
    assert (probe_dir / "stuck.soft-limit").read_text() == "stopped by the soft time limit"
    assert "SoftTimeLimitExceeded" in TaskResult.objects.get(task_id="stuck").result


def unacknowledged(url: str, folder) -> str:
    """What a failed wait on Redis shows: effects, runs, and how old each message is
    that waits unacknowledged (one older than the visibility timeout was never swept)."""
    client = redis_client(url)
    now = time.time()
    ages = sorted(
        round(now - at) for _, at in client.zrange("unacked_index", 0, -1, withscores=True)
    )
    lists = {k.decode(): client.llen(k) for k in client.scan_iter() if client.type(k) == b"list"}
    return f"{len(effects(folder))} effects, {runs(folder)} runs; unacked ages {ages}; {lists}"


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_sigkill_of_a_green_worker_loses_nothing(redis_url, settings, tmp_path, probe_dir):
    """Every greenlet's message is unacknowledged when the process dies: all of them
    come back (liveness), and each effect happens once."""
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 8
    with transaction.atomic():
        for i in range(300):
            outbox.enqueue(record, str(probe_dir), f"k{i:04d}", 0.5)
    with running_worker("normal", redis_url, tmp_path, concurrency=100, env=SHORT_VISIBILITY,
                        extra_args=GEVENT) as worker:  # fmt: skip
        wait_for(lambda: len(effects(probe_dir)) >= 50, 60, "some work done")
        worker.kill()
    assert len(effects(probe_dir)) < 300, "killed with work in flight"
    with running_worker("normal", redis_url, tmp_path, concurrency=100, env=SHORT_VISIBILITY,
                        extra_args=GEVENT):  # fmt: skip
        wait_for(lambda: relayed_effects(probe_dir) == 300, 90, "all 300 effects",
                 lambda: unacknowledged(redis_url, probe_dir))  # fmt: skip
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(300)]
    report_figures("17. SIGKILL of a gevent worker", sent=300, ran=runs(probe_dir),
                   effects=len(effects(probe_dir)), lost=300 - len(effects(probe_dir)))  # fmt: skip


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_under_a_green_worker_loses_nothing(settings, tmp_path, probe_dir):
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 20
    outboxed_through_a_redis_restart(
        settings, tmp_path, probe_dir, record, 300, 0.2,
        explain=lambda url, worker: unacknowledged(url, probe_dir),
        concurrency=100, extra_args=GEVENT,
    )  # fmt: skip
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(300)]


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_poison_message_that_kills_the_green_process_is_dead_lettered(
    redis_url, tmp_path, probe_dir
):
    """On gevent a task that kills its process takes every greenlet with it: the
    supervisor (here, this loop) starts the worker again, the message comes back, and
    after MAX_DELIVERIES it is dead-lettered instead of run, so the queue moves on."""
    poisoned_until_dead_lettered(redis_url, tmp_path, probe_dir, extra_args=GEVENT)
