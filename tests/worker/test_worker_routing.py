"""A real ``celery -A project worker -Q high`` consumes high tasks and never low ones."""

import pytest

from taskhub.models import SentEmail
from taskhub.tasks import purge_task_results, welcome
from tests.workers import (
    broker_connection,
    emails_sent,
    queue_length,
    running_worker,
)
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_high_worker_runs_the_high_task_and_leaves_the_low_one_queued(broker_url, tmp_path, user):
    with running_worker("high", broker_url, tmp_path) as worker:
        with broker_connection(broker_url, tmp_path) as connection:
            purge_task_results.apply_async(connection=connection)
            welcome.apply_async(("ada",), connection=connection)
        wait_for(
            lambda: SentEmail.objects.filter(key=f"welcome:{user.pk}", status="sent").exists(),
            30,
            "the welcome email",
        )
        assert queue_length(broker_url, tmp_path, "high") == 0
        assert queue_length(broker_url, tmp_path, "low") == 1
        assert "taskhub.purge_task_results" not in worker.log()
    assert emails_sent(tmp_path) == 1
