"""Scale-out on RabbitMQ, for real: a 3-node cluster of the test's own on loopback,
taskhub's quorum queues on it, and the node that leads the queue being worked stopped
mid-run. Figures go to test-artifacts/reliability.json (docs/scaling.md)."""

import pytest

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
