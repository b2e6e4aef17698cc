"""RabbitMQ nodes of the test's own on loopback. Scale-out, for real: a 3-node cluster,
taskhub's quorum queues on it, and the node that leads the queue being worked stopped
mid-run (docs/scaling.md). And single nodes that a test can restart, or whose
consumer_timeout it can change, without touching the shared RabbitMQ. Figures go to
test-artifacts/reliability.json."""

import pytest
from django.db import transaction

from taskhub.delivery import outbox
from tests.figures import report_figures
from tests.probe_tasks import effects, record, runs
from tests.rabbitmq_cluster import rabbitmq_cluster
from tests.workers import publishing_to, running_worker
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

TASKS = 200


def test_losing_the_node_that_leads_a_quorum_queue_loses_nothing(settings, tmp_path):
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    with rabbitmq_cluster(tmp_path / "cluster") as cluster:
        url = cluster.url
        with (
            running_worker("normal", url, tmp_path, concurrency=2),
            running_worker("normal", url, tmp_path, concurrency=2),
        ):
            with publishing_to(settings, url, tmp_path):
                for i in range(TASKS):
                    record.delay(str(probe_dir), f"k{i:04d}", 0.05)
            wait_for(lambda: len(effects(probe_dir)) >= 40, 60, "work under way")
            leader = cluster.queue_leader("/", "normal")
            leader.stop()
            left_at = len(effects(probe_dir))
            wait_for(lambda: len(effects(probe_dir)) == TASKS, 120, "every task done")
            new_leader = cluster.queue_leader("/", "normal")
    assert new_leader is not leader
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(TASKS)], "nothing lost"
    report_figures(
        "14. RabbitMQ 3-node cluster, the queue's leader node stopped",
        sent=TASKS,
        done_when_stopped=left_at,
        ran=runs(probe_dir),
        effects=len(effects(probe_dir)),
        lost=TASKS - len(effects(probe_dir)),
    )


def test_a_task_longer_than_rabbitmqs_consumer_timeout_runs_again_until_it_is_raised(
    settings, tmp_path
):
    """RabbitMQ closes the channel of a delivery not acknowledged within its
    consumer_timeout (30 min by default, shorter than a report's 50 min hard limit). The
    worker then stops ("Unrecoverable error: PRECONDITION_FAILED") and the task, never
    acknowledged, comes back. With the timeout above the task's length (as
    docker-compose.rabbitmq.yml sets it above the longest hard limit), it runs once.
    Check taskhub.W002 tells a host whose declared timeout is too short."""
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    with rabbitmq_cluster(tmp_path / "node", size=1) as cluster:
        node = cluster.nodes[0]

        def set_rabbit(key: str, value: int) -> None:
            done = node.ctl("eval", f"application:set_env(rabbit, {key}, {value}).")
            assert done.returncode == 0, done.stderr

        set_rabbit("channel_tick_interval", 500)  # how often RabbitMQ looks: 60 s by default
        set_rabbit("consumer_timeout", 2000)
        with publishing_to(settings, cluster.url, tmp_path):
            record.delay(str(probe_dir), "long", 8)
        with running_worker("normal", cluster.url, tmp_path) as first:
            exit_code = first.exit_code(60)
        assert exit_code != 0 and "PRECONDITION_FAILED - delivery acknowledgement" in first.log()
        assert runs(probe_dir) == 1 and effects(probe_dir) == ["long"], "it ran to its end"
        runs_before = runs(probe_dir)
        set_rabbit("consumer_timeout", 60_000)
        with running_worker("normal", cluster.url, tmp_path) as second:
            wait_for(lambda: "succeeded" in second.log(), 60, "the task, back, run again")
            assert second.process.poll() is None, "the worker lives"
    runs_after_raising = runs(probe_dir) - runs_before
    assert runs_after_raising == 1, "the unacknowledged task came back, and ran once"
    report_figures(
        "15. A task longer than RabbitMQ's consumer_timeout",
        task_seconds=8,
        consumer_timeout_seconds=2,
        worker_stopped=exit_code != 0,
        runs=runs(probe_dir),
        effects=len(effects(probe_dir)),
        runs_with_the_timeout_raised_to_60_seconds=runs_after_raising,
    )


def test_a_rabbitmq_restart_under_a_consuming_worker_loses_nothing(settings, tmp_path):
    """Row 4 on RabbitMQ: the node is stopped and started again while a worker consumes
    100 tasks sent through the outbox. The quorum queue is on disk; what the worker held
    unacknowledged comes back; the worker reconnects by itself."""
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    with rabbitmq_cluster(tmp_path / "node", size=1) as cluster:
        node = cluster.nodes[0]
        with running_worker("normal", cluster.url, tmp_path, concurrency=2) as worker:
            with publishing_to(settings, cluster.url, tmp_path), transaction.atomic():
                for i in range(100):
                    outbox.enqueue(record, str(probe_dir), f"k{i:04d}", 0.02)
            wait_for(lambda: len(effects(probe_dir)) >= 20, 60, "work under way")
            node.stop()
            stopped_at = len(effects(probe_dir))
            node.start()
            node.wait_started()
            wait_for(lambda: len(effects(probe_dir)) == 100, 90, "every task done")
            assert worker.process.poll() is None, "the worker reconnected by itself"
    assert effects(probe_dir) == [f"k{i:04d}" for i in range(100)], "nothing lost"
    report_figures(
        "16. RabbitMQ restart under a consuming worker",
        sent=100,
        done_when_stopped=stopped_at,
        ran=runs(probe_dir),
        effects=len(effects(probe_dir)),
        lost=100 - len(effects(probe_dir)),
    )


def test_on_a_new_broker_a_countdown_task_reaches_a_queue_whose_worker_never_started(
    settings, tmp_path
):
    """Celery's native delayed delivery routes a due message through a binding each
    worker makes at start, for every queue: a queue not declared yet could not be bound,
    and a message due for it was dropped. Every worker now declares all of taskhub's
    queues first (``taskhub.worker.delayed_delivery``)."""
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    with rabbitmq_cluster(tmp_path / "node", size=1) as cluster:
        with running_worker("normal", cluster.url, tmp_path) as first:
            with publishing_to(settings, cluster.url, tmp_path):
                record.apply_async((str(probe_dir), "to-high", 0), countdown=2, queue="high")
                record.apply_async((str(probe_dir), "to-normal", 0), countdown=2)
            wait_for(lambda: effects(probe_dir) == ["to-normal"], 30, "the normal one")
        assert "Failed to bind" not in first.log(), first.log()[-3000:]
        with running_worker("high", cluster.url, tmp_path):
            wait_for(lambda: len(effects(probe_dir)) == 2, 30, "the high one, kept for it")
    assert effects(probe_dir) == ["to-high", "to-normal"]
