"""``.delay()`` of a taskhub task never fails its caller, nor loses the task, because the
broker is down: the message is kept in the outbox, and the relay publishes it later
under the same task id."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from taskhub.delivery import outbox
from taskhub.models import OutboxMessage
from taskhub.tasks import make_thumbnails, welcome
from tests.redis_server import free_port
from tests.workers import publishing_to, redis_client, redis_database

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dead_broker(settings, tmp_path):
    with publishing_to(settings, f"redis://127.0.0.1:{free_port()}/0", tmp_path):
        yield


def test_delay_with_the_broker_down_answers_at_once_and_keeps_the_message(dead_broker):
    started = time.monotonic()
    result = welcome.delay("ada@example.com")
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"the caller waited {elapsed:.1f}s"
    [kept] = OutboxMessage.objects.all()
    assert str(kept.task_id) == result.id, "the caller's task id is the one published later"
    assert (kept.task_name, kept.args, kept.published_at) == (
        "taskhub.welcome",
        ["ada@example.com"],
        None,
    )
    assert kept.last_error.startswith("OperationalError")


def test_apply_async_keeps_its_queue_priority_and_countdown(dead_broker):
    before = timezone.now()
    make_thumbnails.apply_async((7,), queue="high", priority=3, countdown=60)
    [kept] = OutboxMessage.objects.all()
    assert (kept.options["queue"], kept.options["priority"]) == ("high", 3)
    eta = outbox.publish_options(kept.options)["eta"]
    assert before + timedelta(seconds=59) < eta < timezone.now() + timedelta(seconds=61)


def test_the_relay_publishes_a_kept_message_once_the_broker_is_back(settings, tmp_path):
    with publishing_to(settings, f"redis://127.0.0.1:{free_port()}/0", tmp_path):
        kept = welcome.delay("ada")
    with redis_database(12) as url, publishing_to(settings, url, tmp_path):
        assert outbox.relay_pending(older_than=timedelta(0)) == {"published": 1, "waiting": 0}
        [queued] = redis_client(url).lrange("high", 0, -1)
    assert kept.id.encode() in queued
    assert OutboxMessage.objects.get(task_id=kept.id).published_at is not None


def test_with_the_broker_up_delay_publishes_and_keeps_nothing(redis_broker):
    result = welcome.delay("ada")
    assert redis_client(redis_broker).llen("high") == 1
    assert not OutboxMessage.objects.exists()
    assert result.id
