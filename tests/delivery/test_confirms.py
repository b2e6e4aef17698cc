"""On RabbitMQ, a request's tasks are confirmed together at its end (``confirms.collected``):
each is with the broker, or in the outbox, when the block ends."""

import socket

import pytest
from amqp import Channel, spec
from amqp.exceptions import ConnectionForced
from django.core.signals import request_finished
from django.http import HttpResponse
from kombu import Exchange, Queue

from taskhub.delivery import confirms
from taskhub.middleware import PublishAfterResponseMiddleware
from taskhub.models import OutboxMessage
from taskhub.tasks import welcome
from tests.probe_tasks import record
from tests.redis_server import free_port
from tests.workers import broker_connection, publishing_to, queue_length

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def on_rabbitmq(rabbitmq_url, settings, tmp_path):
    with publishing_to(settings, rabbitmq_url, tmp_path):
        yield rabbitmq_url


@pytest.fixture
def confirms_awaited_one_by_one(monkeypatch):
    """Every wait for one publish's confirm (kombu's ``confirm_publish``: py-amqp's
    ``basic_publish_confirm`` waits for a ``basic.ack`` after each message)."""
    waited: list[object] = []
    wait = Channel.wait

    def counted(channel, method, *args, **kwargs):
        if spec.Basic.Ack in (method if isinstance(method, list) else [method]):
            waited.append(method)
        return wait(channel, method, *args, **kwargs)

    monkeypatch.setattr(Channel, "wait", counted)
    return waited


def test_a_blocks_tasks_wait_once_for_their_confirms_and_all_arrive(
    on_rabbitmq, tmp_path, confirms_awaited_one_by_one
):
    channels = []
    for block in range(2):
        with confirms.collected():
            for number in range(30):
                record.delay("unused", f"{block}-{number}")
            channels.append(confirms.collecting().confirmed)  # type: ignore[union-attr]
    assert queue_length(on_rabbitmq, tmp_path, "normal") == 60
    assert confirms_awaited_one_by_one == []
    assert channels[0] is channels[1], "the second block reuses the first one's channel"
    assert not channels[0].pending
    assert not OutboxMessage.objects.exists()
    record.delay("unused", "outside")
    assert len(confirms_awaited_one_by_one) == 1, "outside a block, a publish waits"


def test_tasks_the_broker_refuses_are_kept_in_the_outbox(on_rabbitmq, tmp_path):
    full = Queue(
        "taskhub-test-full",
        Exchange("taskhub-test-full", type="direct"),
        routing_key="taskhub-test-full",
        queue_arguments={"x-max-length": 10, "x-overflow": "reject-publish"},
    )
    try:
        with confirms.collected():
            sent = [record.apply_async(("unused", f"k{i}"), queue=full).id for i in range(25)]
        assert queue_length(on_rabbitmq, tmp_path, full.name) == 10
        kept = OutboxMessage.objects.all()
        assert sorted(str(m.task_id) for m in kept) == sorted(sent[10:])
        assert {m.options["queue"] for m in kept} == {full.name}
        reason = "NotConfirmed: 1 message(s) not confirmed by the broker (refused)"
        assert kept[0].last_error == f"{reason}: {kept[0].task_id}"
    finally:
        with broker_connection(on_rabbitmq, tmp_path) as connection:
            full.bind(connection.default_channel).delete()


def test_a_connection_lost_while_waiting_keeps_every_unconfirmed_task(
    on_rabbitmq, tmp_path, monkeypatch
):
    """At least once: what the broker may have taken, unconfirmed, is kept all the same.
    (py-amqp reads confirms as it writes: the earlier tasks may be confirmed already.)"""
    with confirms.collected():
        sent = [record.delay("unused", f"k{i}").id for i in range(20)]
        confirmed = confirms.collecting().confirmed  # type: ignore[union-attr]
        unconfirmed = set(confirmed.pending.values())  # type: ignore[union-attr]
        connection = confirmed.channel.connection  # type: ignore[union-attr]

        def lost(**kwargs):
            connection.sock.shutdown(socket.SHUT_RDWR)
            raise ConnectionForced("(0, 0): (320) CONNECTION_FORCED - broker shutdown")

        monkeypatch.setattr(connection, "drain_events", lost)
    assert sent[-1] in unconfirmed, "its confirm cannot have been read: nothing read since"
    kept = OutboxMessage.objects.all()
    assert {str(m.task_id) for m in kept} == unconfirmed
    assert all(m.published_at is None for m in kept)
    assert kept[0].last_error.startswith("ConnectionForced: ")
    in_queue = queue_length(on_rabbitmq, tmp_path, "normal")
    assert in_queue >= 20 - len(kept), "every task not kept is with the broker"
    record.delay("unused", "after")
    assert queue_length(on_rabbitmq, tmp_path, "normal") == in_queue + 1, "a new connection"


def test_a_publish_failing_in_a_block_loses_nothing_and_the_rest_go_as_usual(on_rabbitmq, tmp_path):
    """The connection breaks after five tasks: the sixth, whose publish fails, is kept in
    the outbox at once; the next ones are published as outside a block; the five
    unconfirmed ones are kept at the block's end; the next block opens a new connection."""
    with confirms.collected():
        sent = [record.delay("unused", f"k{i}").id for i in range(5)]
        confirmed = confirms.collecting().confirmed  # type: ignore[union-attr]
        confirmed.channel.connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        sent += [record.delay("unused", f"after{i}").id for i in range(3)]
    kept = {str(m.task_id) for m in OutboxMessage.objects.all()}
    assert sent[5] in kept and not kept & set(sent[6:])
    in_queue = queue_length(on_rabbitmq, tmp_path, "normal")
    assert in_queue >= len(set(sent) - kept), "every task not kept is with the broker"
    with confirms.collected():
        record.delay("unused", "next block")
        assert confirms.collecting().confirmed is not confirmed  # type: ignore[union-attr]
    assert queue_length(on_rabbitmq, tmp_path, "normal") == in_queue + 1


def test_a_view_that_raises_still_has_its_tasks_confirmed(on_rabbitmq, tmp_path, rf):
    def view(request):
        record.delay("unused", "a")
        record.delay("unused", "b")
        raise ValueError("the view's own error")

    with pytest.raises(ValueError, match="the view's own error"):
        PublishAfterResponseMiddleware(view)(rf.post("/send"))
    request_finished.send(sender=None)
    assert queue_length(on_rabbitmq, tmp_path, "normal") == 2
    assert not OutboxMessage.objects.exists()


def test_on_redis_a_block_publishes_as_usual(redis_broker, tmp_path):
    with confirms.collected():
        for number in range(3):
            record.delay("unused", str(number))
        assert confirms.collecting().confirmed is None  # type: ignore[union-attr]
    assert queue_length(redis_broker, tmp_path, "normal") == 3


def test_taskhubs_middleware_confirms_a_views_tasks_before_its_response(
    on_rabbitmq, tmp_path, rf, confirms_awaited_one_by_one
):
    def view(request):
        for number in range(3):
            record.delay("unused", str(number))
        assert confirms.collecting() is not None
        return HttpResponse("sent")

    response = PublishAfterResponseMiddleware(view)(rf.post("/send"))
    request_finished.send(sender=None)
    assert response.content == b"sent"
    assert queue_length(on_rabbitmq, tmp_path, "normal") == 3
    assert confirms_awaited_one_by_one == []
    assert confirms.collecting() is None


def test_a_task_sent_while_rabbitmq_is_down_is_kept_in_a_block_too(settings, tmp_path):
    with publishing_to(settings, f"amqp://guest:guest@127.0.0.1:{free_port()}//", tmp_path):
        with confirms.collected():
            result = welcome.delay("ada")
        assert str(OutboxMessage.objects.get().task_id) == result.id
