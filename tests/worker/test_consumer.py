"""A rate-limited task keeps its rate however many of its messages the worker holds
(taskhub.worker.consumer): one timer entry per token bucket, not one per message."""

import time
from datetime import timedelta
from unittest.mock import Mock

import pytest
from celery.worker import state
from celery.worker.consumer import Consumer as CeleryConsumer
from django.contrib.auth import get_user_model
from kombu.asynchronous.timer import Timer
from kombu.utils.limits import TokenBucket

from taskhub.models import SentEmail
from taskhub.tasks import welcome
from taskhub.worker.consumer import Consumer
from tests.celery_apps import new_app
from tests.workers import emails_sent, running_worker
from tools.workers import wait_for


class Request:
    """What Celery's worker state keeps of a request: its id (and a weak reference)."""

    def __init__(self, number: int) -> None:
        self.id = str(number)


@pytest.fixture
def moved():
    """The requests a consumer hands to its pool, in order; the worker state left clean."""
    handed: list[Request] = []
    yield handed
    state.requests.clear()
    state.reserved_requests.clear()


def consumer_of(cls, moved: list[Request]):
    return cls(moved.append, app=new_app(), timer=Timer(), hub=None, pool=Mock(), controller=Mock())


def hold(consumer, bucket: TokenBucket, count: int) -> None:
    for number in range(count):
        consumer._limit_task(Request(number), bucket, 1)


def test_celery_alone_schedules_a_timer_entry_for_every_message_held(moved):
    """The cause (celery#5927): kombu's loop fires 10 due entries a turn, then sleeps 1 s."""
    consumer = consumer_of(CeleryConsumer, moved)
    hold(consumer, TokenBucket(10, capacity=1), 30)
    assert len(consumer.timer.queue) == 29


def test_a_bucket_holding_many_messages_has_one_timer_entry_and_keeps_their_order(moved):
    consumer = consumer_of(Consumer, moved)
    bucket = TokenBucket(1000, capacity=1)
    hold(consumer, bucket, 30)
    assert [r.id for r in moved] == ["0"], "the first had the bucket's token"
    assert len(consumer.timer.queue) == 1
    deadline = time.monotonic() + 10
    while consumer.timer.queue and time.monotonic() < deadline:
        delay, entry = next(iter(consumer.timer))
        if entry is None:
            time.sleep(delay)
        else:
            entry()
            assert len(consumer.timer.queue) <= 1
    assert [r.id for r in moved] == [str(n) for n in range(30)]
    assert not bucket.contents and not consumer.bucket_entries


def test_a_bucket_whose_entry_was_cancelled_waits_on_a_new_one(moved):
    """A lost connection: Celery's ``on_close`` empties the buckets (the broker delivers
    their messages again) and cancels the connection's timer entries. A bucket left
    waiting on a cancelled entry would hold every later message for good."""
    consumer = consumer_of(Consumer, moved)
    bucket = TokenBucket(0.001, capacity=1)
    consumer.task_buckets["limited"] = bucket
    hold(consumer, bucket, 3)
    consumer.on_close()
    for entry in list(consumer.bucket_entries.values()):
        consumer.timer.cancel(entry)
    assert not bucket.contents
    bucket._tokens = 1.0
    consumer._limit_task(Request(99), bucket, 1)
    assert moved[-1].id == "99"
    consumer._limit_task(Request(100), bucket, 1)
    assert [entry.canceled for entry in consumer.bucket_entries.values()] == [False]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_shipped_high_worker_sends_emails_at_their_rate_limit(redis_broker, tmp_path):
    """``-P threads -c 16`` (the shipped ``worker-high``) holds up to 64 messages; at
    20/s, 30 emails spread over 1.45 s. Celery's consumer alone sent about one a second."""
    users = get_user_model()
    for number in range(30):
        users.objects.create_user(f"user{number}", f"user{number}@example.com", "x")
        welcome.delay(f"user{number}")
    with running_worker(
        "high",
        redis_broker,
        tmp_path,
        concurrency=16,
        env={"EMAIL_RATE_LIMIT": "20/s"},
        extra_args=("--pool", "threads"),
    ):
        wait_for(lambda: emails_sent(tmp_path) == 30, 60, "30 welcome emails")
    sent = sorted(SentEmail.objects.values_list("sent_at", flat=True))
    spread = sent[-1] - sent[0]
    assert timedelta(seconds=1.4) <= spread < timedelta(seconds=8), spread
