"""The transactional outbox: eager mode, a publisher that fails, and when a request publishes."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from celery.exceptions import NotRegistered
from django.db import transaction
from django.http import HttpResponse
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from taskhub.delivery import outbox
from taskhub.middleware import PublishAfterResponseMiddleware
from taskhub.models import OutboxMessage
from tests.probe_tasks import effects, record
from tests.workers import queue_length

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(record, "apply_async", refuse)


def age(message: OutboxMessage, **fields_ago: timedelta) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        **{field: timezone.now() - ago for field, ago in fields_ago.items()}
    )


def test_a_message_is_published_only_when_its_transaction_commits(
    tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox.enqueue(record, str(tmp_path), "a")
        assert effects(tmp_path) == [], "nothing runs before the commit"
    assert effects(tmp_path) == ["a"]
    message.refresh_from_db()
    assert message.published_at is not None
    assert message.started_at is not None, "the task marked its own row as started"
    assert message.attempts == 1


def test_a_rolled_back_transaction_publishes_nothing(tmp_path, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox.enqueue(record, str(tmp_path), "a")
        raise RuntimeError("the view failed")
    assert OutboxMessage.objects.count() == 0
    assert effects(tmp_path) == []


def test_a_broker_error_keeps_the_message_with_its_reason(
    tmp_path, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = outbox.enqueue(record, str(tmp_path), "a")
    message.refresh_from_db()
    assert message.published_at is None
    assert message.attempts == 1
    assert "Connection refused" in message.last_error


def test_the_relay_publishes_what_waited_once_the_broker_is_back(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    with monkeypatch.context() as patch:
        patch.setattr(record, "apply_async", lambda *a, **k: (_ for _ in ()).throw(OSError()))
        with django_capture_on_commit_callbacks(execute=True):
            message = outbox.enqueue(record, str(tmp_path), "late")
    assert outbox.relay_pending() == {"published": 0, "waiting": 1}, "still in its grace period"
    age(message, created_at=timedelta(minutes=1))
    assert outbox.relay_pending() == {"published": 1, "waiting": 0}
    assert effects(tmp_path) == ["late"]
    assert outbox.relay_pending() == {"published": 0, "waiting": 0}, "published once"


def test_the_relay_stops_at_the_first_failure(tmp_path, broker_down):
    for key in "abc":
        message = OutboxMessage.objects.create(task_name=record.name, args=[str(tmp_path), key])
        age(message, created_at=timedelta(minutes=1))
    assert outbox.relay_pending() == {"published": 0, "waiting": 3}
    assert sorted(OutboxMessage.objects.values_list("attempts", flat=True)) == [0, 0, 1]


def test_a_message_published_but_never_started_is_published_again(tmp_path, settings):
    settings.TASKHUB_OUTBOX_REDELIVER_AFTER = 60
    lost = OutboxMessage.objects.create(task_name=record.name, args=[str(tmp_path), "lost"])
    waiting = OutboxMessage.objects.create(task_name=record.name, args=[str(tmp_path), "queued"])
    done = OutboxMessage.objects.create(task_name=record.name, args=[str(tmp_path), "done"])
    age(lost, created_at=timedelta(hours=1), published_at=timedelta(minutes=2))
    age(waiting, created_at=timedelta(hours=1), published_at=timedelta(seconds=30))
    age(
        done,
        created_at=timedelta(hours=1),
        published_at=timedelta(minutes=2),
        started_at=timedelta(minutes=2),
    )
    assert list(outbox.lost()) == [lost]
    assert outbox.relay_pending()["published"] == 1
    assert effects(tmp_path) == ["lost"], "only the lost one ran again"


def test_a_message_naming_an_unknown_task_is_kept_with_the_reason_and_the_relay_goes_on(
    tmp_path,
):
    renamed = OutboxMessage.objects.create(task_name="taskhub.renamed_since", args=[1])
    good = OutboxMessage.objects.create(task_name=record.name, args=[str(tmp_path), "after"])
    for message in (renamed, good):
        age(message, created_at=timedelta(minutes=1))
    assert outbox.relay_pending() == {"published": 1, "waiting": 1}
    assert effects(tmp_path) == ["after"]
    renamed.refresh_from_db()
    assert renamed.published_at is None
    assert renamed.last_error == "NotRegistered: no task named 'taskhub.renamed_since'"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_in_a_request_the_message_is_published_once_the_response_is_sent(
    redis_broker, rf, tmp_path
):
    def view(request):
        with transaction.atomic():
            outbox.enqueue(record, str(tmp_path), "a")
        return HttpResponse("created")

    response = PublishAfterResponseMiddleware(view)(rf.post("/"))
    [message] = OutboxMessage.objects.all()
    assert message.published_at is None, "the response is not held up by the broker"
    assert queue_length(redis_broker, tmp_path, "normal") == 0
    response.close()  # what the WSGI server does once it has sent the response
    message.refresh_from_db()
    assert message.published_at is not None
    assert queue_length(redis_broker, tmp_path, "normal") == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_outside_a_request_the_message_is_published_at_commit(redis_broker, tmp_path):
    with transaction.atomic():
        message = outbox.enqueue(record, str(tmp_path), "a")
    message.refresh_from_db()
    assert message.published_at is not None
    assert queue_length(redis_broker, tmp_path, "normal") == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_under_asgi_too_the_message_is_published_when_the_request_finishes(redis_broker, tmp_path):
    response = async_to_sync(AsyncClient().post)(
        reverse("demo:signup"),
        {
            "username": "asgi",
            "email": "asgi@example.com",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert response.status_code == 302
    assert OutboxMessage.objects.get().published_at is not None
    assert queue_length(redis_broker, tmp_path, "high") == 1


def test_a_service_enqueues_by_name_and_a_name_no_task_has_is_refused_at_once():
    """Services name the task they send; a typo fails in the caller, before any row is
    written, instead of after commit when the message is published."""
    message = outbox.enqueue("probe.record", "by-name")
    assert message.task_name == "probe.record"
    with pytest.raises(NotRegistered, match=r"probe\.recrod"):
        outbox.enqueue("probe.recrod", "typo")
    assert list(OutboxMessage.objects.values_list("task_name", flat=True)) == ["probe.record"]
