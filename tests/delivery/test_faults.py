"""Faults that must lose nothing and do nothing twice, with real workers and brokers.

Each test counts effects (files created once per key by ``tests.probe_tasks``, rows,
emails), not log lines, and writes its figures to ``test-artifacts/reliability.json``
for docs/reliability.md. Timeouts are shortened through settings, never slept through.
"""

import json
import signal
import time
import uuid
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse
from django_celery_results.models import TaskResult

from taskhub import storage
from taskhub.delivery import outbox
from taskhub.models import DeliveryCount, Image, OutboxMessage, Report, Thumbnail
from taskhub.tasks import generate_report, make_thumbnails, send_daily_reports
from tests.figures import report_figures
from tests.image_files import image_bytes, stored_image
from tests.orders import make_orders
from tests.probe_tasks import crash, effects, finished_runs, hang, hog, record, runs, span
from tests.rabbitmq_cluster import Cluster
from tests.redis_server import RedisServer
from tests.workers import (
    SHORT_VISIBILITY,
    broker_connection,
    emails_sent,
    outboxed_through_a_redis_restart,
    publishing_to,
    redis_client,
    redis_database,
    relayed_effects,
    running_worker,
    through_a_redis_restart,
)
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def probe_figures(scenario: str, sent: int, folder: Path) -> None:
    made = len(effects(folder))
    report_figures(scenario, sent=sent, ran=runs(folder), effects=made, lost=sent - made)


@pytest.fixture
def redis_url():
    with redis_database(13) as url:
        yield url


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request, settings, tmp_path):
    """A scenario on both brokers. This process's app publishes to the one under test,
    so its queues follow that broker (quorum queues on RabbitMQ)."""
    url = request.getfixturevalue(f"{request.param}_url")
    with publishing_to(settings, url, tmp_path):
        yield url


def broker_name(url: str) -> str:
    return "rabbitmq" if url.startswith("amqp") else "redis"


def send_records(url: str, var_dir: Path, folder: Path, count: int, seconds: float) -> None:
    with broker_connection(url, var_dir) as connection:
        for i in range(count):
            record.apply_async((str(folder), f"k{i:04d}", seconds), connection=connection)


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_sigkill_mid_work_loses_nothing_and_does_nothing_twice(
    broker, request, settings, tmp_path, probe_dir
):
    """Sent through the outbox, as views do: the broker redelivers what a killed worker
    had started, and the outbox republishes what it took but never started (kombu's
    Redis transport drops a message killed between BRPOP and its unacked write)."""
    url = request.getfixturevalue(f"{broker}_url")
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 8
    with publishing_to(settings, url, tmp_path):
        with transaction.atomic():
            for i in range(200):
                outbox.enqueue(record, str(probe_dir), f"k{i:04d}", 0.02)
        with running_worker("normal", url, tmp_path, concurrency=2, env=SHORT_VISIBILITY) as w:
            wait_for(lambda: len(effects(probe_dir)) >= 40, 60, "some work done")
            w.kill()
        assert len(effects(probe_dir)) < 200, "the worker was killed before it finished"
        with running_worker("normal", url, tmp_path, concurrency=2, env=SHORT_VISIBILITY):
            wait_for(lambda: relayed_effects(probe_dir) == 200, 60, "all 200 effects")
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(200)]
    probe_figures(f"1. SIGKILL mid-work ({broker})", 200, probe_dir)


#: Issue 11's bound on a SIGKILLed worker's tasks starting on another, shipped settings.
KILL_RECOVERY_SECONDS = {"redis": 30, "rabbitmq": 5}


def test_a_killed_workers_tasks_run_on_another_within_the_brokers_bound(
    broker_url, tmp_path, probe_dir
):
    """Shipped settings. Worker A starts two tasks and, on Redis, holds one for its ETA
    (RabbitMQ keeps a countdown task in the broker until due); worker B is up and idle.
    A is SIGKILLed. On Redis nobody re-stamps A's messages, and B's sweep puts them back
    once ``redis_broker.VISIBILITY_TIMEOUT`` old; on RabbitMQ the broker requeues them as
    soon as A's connection drops. The ETA task runs on B once due."""
    broker = broker_name(broker_url)
    keys = ["running-1", "running-2", "eta"]
    with running_worker("normal", broker_url, tmp_path, concurrency=2) as a:
        due = time.monotonic() + 8
        eta = record.apply_async((str(probe_dir), "eta", 0), countdown=8)
        for key in keys[:2]:
            record.apply_async((str(probe_dir), key, 30))
        wait_for(lambda: runs(probe_dir) == 2, 30, "A running two tasks")
        held = f"probe.record[{eta.id}] received" in a.log()
        assert held == (broker == "redis"), "Redis hands A the ETA task; RabbitMQ keeps it"
        assert runs(probe_dir, "eta") == 0, "not yet due"
        with running_worker("normal", broker_url, tmp_path, concurrency=3):
            a.kill()
            killed = time.monotonic()
            wait_for(lambda: runs(probe_dir) - runs(probe_dir, "eta") == 4, 60, "both again on B")
            recovered = time.monotonic() - killed
            wait_for(lambda: runs(probe_dir, "eta") == 1, 60, "the ETA task on B")
            eta_recovered = time.monotonic() - max(killed, due)
            wait_for(lambda: effects(probe_dir) == sorted(keys), 60, "their effects")
    bound = KILL_RECOVERY_SECONDS[broker]
    assert recovered < bound, f"A's running tasks started on B after {recovered:.1f}s"
    assert eta_recovered < bound, f"A's ETA task started {eta_recovered:.1f}s after it could"
    report_figures(
        f"10. SIGKILL with a second worker up, shipped settings ({broker})",
        tasks=3,
        seconds_to_restart_the_running=round(recovered, 1),
        seconds_from_kill_or_due_to_the_eta_start=round(eta_recovered, 1),
        effects=len(effects(probe_dir)),
        lost=3 - len(effects(probe_dir)),
    )


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_countdown_tasks_survive_the_worker_that_took_them(
    broker, request, settings, tmp_path, probe_dir
):
    """20 tasks due in 10 s; the worker up when they were sent is SIGKILLed before then.
    On Redis it held them (reserved, unacknowledged) and liveness gives them back; on
    RabbitMQ's quorum queues they wait in the broker (Celery's native delayed delivery),
    never in a worker. Either way all 20 run, once each, at or after their ETA."""
    url = request.getfixturevalue(f"{broker}_url")
    with running_worker("normal", url, tmp_path, concurrency=2) as first:
        sent_at = time.time()
        with publishing_to(settings, url, tmp_path):
            ids = [
                record.apply_async((str(probe_dir), f"k{i:02d}", 0), countdown=10).id
                for i in range(20)
            ]
        if broker == "redis":
            wait_for(lambda: first.log().count("] received") == 20, 30, "the worker holding all")
        first.kill()
    assert runs(probe_dir) == 0, "none was due yet"
    held = sum(f"[{task_id}] received" in first.log() for task_id in ids)
    assert held == (20 if broker == "redis" else 0)
    with running_worker("normal", url, tmp_path, concurrency=2):
        wait_for(lambda: len(effects(probe_dir)) == 20, 60, "all 20 countdown tasks")
    assert runs(probe_dir) == 20, "each ran once"
    assert time.time() - sent_at >= 10
    report_figures(
        f"13. Countdown tasks, their worker SIGKILLed ({broker})",
        sent=20,
        held_by_the_killed_worker=held,
        ran=runs(probe_dir),
        effects=len(effects(probe_dir)),
    )


def test_a_live_workers_long_task_is_never_handed_to_another(redis_url, tmp_path, probe_dir):
    """A task running 3x the visibility timeout, with a second worker sweeping: its
    worker's stamps keep it from being redelivered."""
    send_records(redis_url, tmp_path, probe_dir, 1, 25)
    with running_worker("normal", redis_url, tmp_path, env=SHORT_VISIBILITY):
        wait_for(lambda: runs(probe_dir) == 1, 30, "the long task started")
        with running_worker("normal", redis_url, tmp_path, env=SHORT_VISIBILITY):
            wait_for(lambda: len(effects(probe_dir)) == 1, 60, "the long task done")
    assert runs(probe_dir) == 1, "it ran once"
    report_figures("11. Task longer than the visibility timeout", seconds=25, runs=runs(probe_dir))


def test_sigterm_lets_work_in_flight_finish_or_come_back(broker_url, tmp_path, probe_dir):
    send_records(broker_url, tmp_path, probe_dir, 40, 0.3)
    with running_worker("normal", broker_url, tmp_path, concurrency=2, env=SHORT_VISIBILITY) as w:
        wait_for(lambda: len(effects(probe_dir)) >= 4, 30, "work in flight")
        w.signal(signal.SIGTERM)
        assert w.exit_code(30) == 0, "warm shutdown exits cleanly"
    with running_worker("normal", broker_url, tmp_path, concurrency=2, env=SHORT_VISIBILITY):
        wait_for(lambda: len(effects(probe_dir)) == 40, 60, "all 40 effects after the deploy")
    probe_figures(f"2. SIGTERM (deploy) ({broker_name(broker_url)})", 40, probe_dir)


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_signup_while_the_broker_is_down_succeeds_and_its_email_goes_out_later(
    broker, client, settings, tmp_path
):
    """The broker is one of the test's own, not started yet: nothing listens at its
    address. (RabbitMQ: a one-node cluster of the test's own.)"""
    if broker == "redis":
        server = RedisServer(tmp_path / "redis")
    else:
        server = Cluster(tmp_path / "rabbitmq", size=1)
    with publishing_to(settings, server.url, tmp_path):
        started = time.monotonic()
        response = client.post(
            reverse("demo:signup"),
            {
                "username": "offline",
                "email": "offline@example.com",
                "password1": "a long enough passphrase",
                "password2": "a long enough passphrase",
            },
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 302, "the signup succeeds with the broker down"
    assert elapsed < 5, f"the request waited {elapsed:.1f}s on a dead broker"
    [message] = OutboxMessage.objects.all()
    assert message.published_at is None
    assert "Error" in message.last_error
    # The broker has been down a while: older than the outbox grace period.
    OutboxMessage.objects.update(created_at=message.created_at.replace(year=2000))

    server.start()
    try:
        with running_worker("high,normal,low", server.url, tmp_path):
            wait_for(lambda: emails_sent(tmp_path) == 1, 60, "the welcome email")
    finally:
        server.stop()
    assert OutboxMessage.objects.get().published_at is not None
    report_figures(
        f"3. Broker down during signup ({broker})",
        signups=1,
        request_ms=round(elapsed * 1000),
        emails=emails_sent(tmp_path),
        lost=1 - emails_sent(tmp_path),
    )


def test_a_redis_restart_under_a_consuming_worker_loses_nothing(settings, tmp_path, probe_dir):
    """Sent through the outbox, as views do. The worker reconnects by itself. A message
    it held when Redis went down stays in the unacknowledged set, re-stamped by no one:
    the sweep brings it back after the 8 s visibility timeout, before the outbox's 20 s.
    The outbox has nothing to publish again: no message is taken without being recorded
    (taskhub.worker.redis_broker). Plain publishes: tests/delivery/test_redis_restarts.py."""
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 20
    outboxed_through_a_redis_restart(
        settings, tmp_path, probe_dir, record, 100, 0.02,
        explain=lambda url, worker: redis_state(url, probe_dir, worker),
    )  # fmt: skip
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(100)]
    report_figures(
        "4. Redis restart",
        sent=100,
        ran=runs(probe_dir),
        effects=len(effects(probe_dir)),
        lost=100 - len(effects(probe_dir)),
        republished_by_outbox=OutboxMessage.objects.filter(attempts__gt=1).count(),
    )


def test_a_redis_restart_under_long_tasks_stops_them_and_runs_each_to_its_end_once(
    tmp_path, probe_dir
):
    """The worker loses Redis while two 15 s tasks run: longer than the visibility
    timeout, and the messages taken before the loss are re-stamped by no one after it,
    so Redis gives them again. The worker stops them at the loss
    (``worker_cancel_long_running_tasks_on_connection_loss``): each runs again, and only
    one run of each gets to its end. That is what lets a redelivered report take over.
    (With the setting off, both ran to their end twice, at the same time.)"""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        with broker_connection(server.url, tmp_path) as connection:
            for key in ("long-1", "long-2"):
                span.apply_async((str(probe_dir), key, 15), connection=connection)
        through_a_redis_restart(
            server,
            tmp_path,
            started=lambda: runs(probe_dir) == 2,
            done=lambda: len(finished_runs(probe_dir)) >= 2,
        )
    finally:
        server.stop()
    assert sorted(finished_runs(probe_dir)) == ["long-1", "long-2"], "each ended once"
    assert runs(probe_dir) == 4, "the runs at the loss were stopped, and ran again"
    report_figures(
        "12. Redis restart under two 15 s tasks",
        tasks=2,
        runs=runs(probe_dir),
        runs_to_the_end=len(finished_runs(probe_dir)),
        effects=len(effects(probe_dir)),
    )


def redis_state(url: str, probe_dir: Path, worker) -> str:
    """What a stuck Redis scenario holds: effects, queue, unacked, and the worker."""
    client = redis_client(url)
    return (
        f"effects={len(effects(probe_dir))} queue={client.llen('normal')} "
        f"unacked={client.hlen('unacked')}\n--- stacks\n{worker.stacks()}"
        f"\n--- end of log\n{worker.log()[-4000:]}"
    )


def test_tasks_delivered_twice_have_their_effect_once(broker_url, tmp_path, user, settings):
    image = stored_image(user, image_bytes(1600, 1200))
    make_orders(500)
    report = Report.objects.create(
        owner=user, kind="orders", params={"start": "2026-03-14", "end": "2026-03-14"}
    )
    with broker_connection(broker_url, tmp_path) as connection:
        for _ in range(2):
            same_id = {"connection": connection}
            make_thumbnails.apply_async((image.pk,), task_id=f"thumbs-{image.pk}", **same_id)
            generate_report.apply_async((report.pk,), task_id=f"report-{report.pk}", **same_id)
    with running_worker("high,normal,low", broker_url, tmp_path, concurrency=2) as worker:
        wait_for(lambda: worker.log().count("succeeded") >= 5, 60, "both deliveries and email")
    thumbs = Path(settings.MEDIA_ROOT) / "images" / "thumbnails" / str(image.pk)
    reports = storage.private_root() / "reports" / str(report.pk)
    measured = {
        "deliveries": 4,
        "thumbnail_rows": Thumbnail.objects.filter(image=image).count(),
        "thumbnail_files": len(list(thumbs.iterdir())),
        "report_files": len(list(reports.iterdir())),
        "emails": emails_sent(tmp_path),
    }
    report_figures(f"5. Same task delivered twice ({broker_name(broker_url)})", **measured)
    assert measured == {
        "deliveries": 4,
        "thumbnail_rows": 6,
        "thumbnail_files": 6,
        "report_files": 1,
        "emails": 1,
    }


def test_a_periodic_job_fired_twice_makes_one_report(broker_url, tmp_path):
    with broker_connection(broker_url, tmp_path) as connection:
        for _ in range(2):
            send_daily_reports.apply_async(connection=connection)
    env = {"DAILY_REPORT_RECIPIENTS": "boss@example.com"}
    with running_worker("high,normal,low", broker_url, tmp_path, concurrency=2, env=env) as w:
        wait_for(lambda: w.log().count("succeeded") >= 3, 60, "two jobs and one email")
    report_figures(
        f"6. Beat fires a job twice ({broker_name(broker_url)})",
        jobs_sent=2,
        reports=Report.objects.count(),
        emails=emails_sent(tmp_path),
    )
    [report] = Report.objects.filter(dedupe_key__startswith="daily:sales_by_day:")
    assert report.status == "done"
    assert emails_sent(tmp_path) == 1


def test_a_poison_message_is_dead_lettered_and_the_queue_moves_on(broker_url, tmp_path, probe_dir):
    with broker_connection(broker_url, tmp_path) as connection:
        crash.apply_async((str(probe_dir), "poison"), task_id="poison", connection=connection)
        record.apply_async((str(probe_dir), "after"), connection=connection)
    with running_worker("normal", broker_url, tmp_path, concurrency=1, env=SHORT_VISIBILITY):
        wait_for(lambda: len(effects(probe_dir)) == 1, 120, "the task queued after the poison")
        wait_for(
            lambda: TaskResult.objects.filter(task_id="poison", status="FAILURE").exists(),
            30,
            "the poison message recorded as failed",
        )
    dead = DeliveryCount.objects.get(task_id="poison")
    assert dead.dead_lettered_at is not None
    assert "delivered 4 times" in TaskResult.objects.get(task_id="poison").result
    report_figures(
        f"7. Poison message ({broker_name(broker_url)})",
        poison_runs=runs(probe_dir, "poison"),
        dead_lettered=DeliveryCount.objects.filter(dead_lettered_at__isnull=False).count(),
        later_tasks_done=len(effects(probe_dir)),
    )
    assert runs(probe_dir, "poison") == 3, "it ran MAX_DELIVERIES times, then never again"


def test_a_stuck_task_is_stopped_by_its_soft_time_limit_and_recorded(
    broker_url, tmp_path, probe_dir
):
    with broker_connection(broker_url, tmp_path) as connection:
        hang.apply_async(
            (str(probe_dir), "stuck", 60),
            task_id="stuck",
            soft_time_limit=1,
            time_limit=5,
            connection=connection,
        )
    with running_worker("normal", broker_url, tmp_path):
        wait_for(
            lambda: TaskResult.objects.filter(task_id="stuck", status="FAILURE").exists(),
            30,
            "the stuck task recorded as failed",
        )
    assert (probe_dir / "stuck.soft-limit").read_text() == "stopped by the soft time limit"
    assert "SoftTimeLimitExceeded" in TaskResult.objects.get(task_id="stuck").result
    report_figures(
        f"8. Stuck task ({broker_name(broker_url)})",
        stuck=1,
        recorded_failed=TaskResult.objects.filter(task_id="stuck", status="FAILURE").count(),
        soft_limit_handled=int((probe_dir / "stuck.soft-limit").exists()),
    )


def test_a_pool_process_is_replaced_before_it_grows_without_bound(broker_url, tmp_path):
    env = {"CELERY_WORKER_MAX_MEMORY_PER_CHILD": str(150 * 1024)}
    ids = [str(uuid.uuid4()) for _ in range(6)]
    with broker_connection(broker_url, tmp_path) as connection:
        for task_id in ids:
            hog.apply_async((60,), task_id=task_id, connection=connection)
    with running_worker("normal", broker_url, tmp_path, concurrency=1, env=env) as worker:
        wait_for(lambda: worker.log().count("succeeded") >= 6, 60, "six memory hogs")
    pids = {
        json.loads(r)
        for r in TaskResult.objects.filter(task_id__in=ids).values_list("result", flat=True)
    }
    report_figures(
        f"9. Memory growth ({broker_name(broker_url)})", tasks=6, pool_processes=len(pids)
    )
    assert len(pids) >= 3, f"pool processes were recycled: {pids}"


def test_a_pickled_message_is_refused_not_executed(broker_url, tmp_path, probe_dir):
    with broker_connection(broker_url, tmp_path) as connection:
        record.apply_async((str(probe_dir), "pickled"), serializer="pickle", connection=connection)
        record.apply_async((str(probe_dir), "json"), connection=connection)
    with running_worker("normal", broker_url, tmp_path) as worker:
        wait_for(lambda: len(effects(probe_dir)) == 1, 30, "the JSON task")
        wait_for(lambda: "Refusing to deserialize" in worker.log(), 10, "the refusal")
    assert [p.name for p in (probe_dir / "effects").iterdir()] == ["json"]
    assert runs(probe_dir, "pickled") == 0


def test_an_image_whose_file_vanished_fails_without_retry(broker_url, tmp_path, user):
    image = stored_image(user, image_bytes())
    image.original.storage.delete(image.original.name)
    with broker_connection(broker_url, tmp_path) as connection:
        make_thumbnails.apply_async((image.pk,), connection=connection)
    with running_worker("low", broker_url, tmp_path) as worker:
        wait_for(lambda: Image.objects.get(pk=image.pk).status == "failed", 30, "failure")
        assert worker.process.poll() is None, "the worker survives"
    assert "no longer in storage" in Image.objects.get(pk=image.pk).error
