"""``taskhub.fanout.send_many``: many messages per round trip, the same messages as
``.delay()``, routed the same, consumed by a real worker."""

import json
import time
from types import SimpleNamespace

import amqp
import pytest
import redis
from amqp import spec
from amqp.method_framing import frame_writer
from amqp.serialization import dumps
from kombu import Exchange, Queue

from taskhub.delivery import confirms, fanout, outbox
from taskhub.tasks import make_thumbnails, send_email, welcome
from tests.probe_tasks import effects, record
from tests.workers import broker_connection, publishing_to, queue_length, running_worker
from tools.workers import wait_for


def test_in_eager_mode_each_call_runs_inline(tmp_path):
    calls = [((str(tmp_path), f"k{i}"), {}) for i in range(5)]
    assert fanout.send_many(record, calls) == 5
    assert effects(tmp_path) == [f"k{i}" for i in range(5)]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_batched_messages_are_routed_like_delay_and_all_consumed(redis_broker, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    assert fanout.send_many(welcome, ((("u",), {}) for _ in range(3)), batch_size=2) == 3
    assert fanout.send_many(make_thumbnails, [((1,), {})]) == 1
    assert fanout.send_many(make_thumbnails, [((2,), {})], queue="high") == 1
    calls = (((str(probe), f"k{i:04d}"), {}) for i in range(1200))
    assert fanout.send_many(record, calls, batch_size=500) == 1200
    depths = {q: queue_length(redis_broker, tmp_path, q) for q in ("high", "normal", "low")}
    assert depths == {"high": 4, "normal": 1200, "low": 1}
    with running_worker("normal", redis_broker, tmp_path, concurrency=2):
        wait_for(lambda: len(effects(probe)) == 1200, 60, "all")
    assert queue_length(redis_broker, tmp_path, "normal") == 0


@pytest.mark.integration
def test_each_message_is_the_one_apply_async_would_store_but_for_the_args_preview(
    redis_broker, monkeypatch
):
    task_id = "f0e1d2c3-0000-4000-8000-000000000000"
    args, kwargs = ("to@example.com", "newsletter", {"n": 1.5, "day": "2026-11-23"}), {"key": "k"}
    send_email.apply_async(args, kwargs, task_id=task_id)
    monkeypatch.setattr(fanout, "uuid", lambda: task_id)
    fanout.send_many(send_email, [(args, kwargs)])
    monkeypatch.setattr(fanout, "lpush_ready", lambda *_: False)
    fanout.send_many(send_email, [(args, kwargs)])
    client = redis.Redis.from_url(redis_broker)
    celerys, redis_fast_path, other_brokers_path = (
        json.loads(raw) for raw in reversed(client.lrange("normal", 0, -1))
    )
    assert celerys["headers"].pop("argsrepr") == repr(args)
    assert celerys["headers"].pop("kwargsrepr") == repr(kwargs)
    tags = set()
    for message in (celerys, redis_fast_path, other_brokers_path):
        tags.add(message["properties"].pop("delivery_tag"))
    assert len(tags) == 3
    for message in (redis_fast_path, other_brokers_path):
        assert message["headers"].pop("argsrepr") == message["headers"].pop("kwargsrepr") == ""
        assert message == celerys


@pytest.mark.integration
def test_options_for_the_message_go_into_it(redis_broker):
    fanout.send_many(send_email, [(("to@example.com", "t", {}), {})], time_limit=5, queue="low")
    [raw] = redis.Redis.from_url(redis_broker).lrange("low", 0, -1)
    headers = json.loads(raw)["headers"]
    assert headers["timelimit"] == [5, send_email.soft_time_limit]


@pytest.mark.integration
def test_a_call_that_is_not_args_and_kwargs_is_refused_and_its_batch_not_sent(
    redis_broker, tmp_path
):
    with pytest.raises(TypeError, match=r"each call must be \(args tuple, kwargs dict\)"):
        fanout.send_many(welcome, [(("ada",), {}), ("bob", {})])
    assert queue_length(redis_broker, tmp_path, "high") == 0


@pytest.mark.integration
def test_an_unreachable_broker_raises_at_once(settings, tmp_path):
    with publishing_to(settings, "redis://127.0.0.1:1/0", tmp_path):
        started = time.monotonic()
        with pytest.raises(outbox.BROKER_ERRORS):
            fanout.send_many(welcome, [(("u",), {})])
    assert time.monotonic() - started < 5


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_rabbitmq_each_batch_waits_once_for_its_confirms_and_all_run(
    rabbitmq_url, settings, tmp_path, probe_dir
):
    with publishing_to(settings, rabbitmq_url, tmp_path):
        calls = (((str(probe_dir), f"k{i:04d}"), {}) for i in range(450))
        assert fanout.send_many(record, calls, batch_size=200) == 450
        assert queue_length(rabbitmq_url, tmp_path, "normal") == 450
        with running_worker("normal", rabbitmq_url, tmp_path, concurrency=2):
            wait_for(lambda: len(effects(probe_dir)) == 450, 60, "all")


@pytest.mark.integration
def test_on_rabbitmq_a_message_larger_than_a_frame_goes_out_in_its_turn(
    rabbitmq_url, settings, tmp_path
):
    labels = ["small", "x" * 300_000, "last"]
    with publishing_to(settings, rabbitmq_url, tmp_path):
        assert fanout.send_many(record, [(("unused", label), {}) for label in labels]) == 3
    with broker_connection(rabbitmq_url, tmp_path) as connection:
        channel = connection.default_channel
        bodies = [json.loads(channel.basic_get("normal", no_ack=True).body) for _ in labels]
    assert [body[0][1] for body in bodies] == labels


@pytest.mark.integration
def test_on_rabbitmq_messages_the_broker_refuses_are_named(rabbitmq_url, settings, tmp_path):
    """A queue that refuses what exceeds its length (``reject-publish``) nacks the rest
    of a batch: the error names each of those messages, the others are in the queue."""
    full = Queue(
        "taskhub-test-full",
        Exchange("taskhub-test-full", type="direct"),
        routing_key="taskhub-test-full",
        queue_arguments={"x-max-length": 10, "x-overflow": "reject-publish"},
    )
    with publishing_to(settings, rabbitmq_url, tmp_path):
        try:
            with pytest.raises(confirms.NotConfirmed) as refused:
                fanout.send_many(record, [(("x", f"k{i}"), {}) for i in range(25)], queue=full)
            assert len(refused.value.ids) == 15
            assert "15 message(s) not confirmed by the broker (refused)" in str(refused.value)
            assert queue_length(rabbitmq_url, tmp_path, full.name) == 10
        finally:
            with broker_connection(rabbitmq_url, tmp_path) as connection:
                full.bind(connection.default_channel).delete()


@pytest.mark.parametrize("body", [b"", b"[[1], {}, {}]", b"x" * 5000])
def test_a_batchs_frames_are_those_py_amqp_writes(body):
    """``confirms.frames`` packs a publish as py-amqp's own frame writer does."""
    written: list[bytes] = []
    connection = SimpleNamespace(frame_max=131072, bytes_sent=0)
    write_frame = frame_writer(
        connection, SimpleNamespace(write=lambda b: written.append(bytes(b)))
    )
    message = amqp.Message(body, content_type="application/json", application_headers={"id": "a"})
    arguments = dumps(confirms.PUBLISH_SIGNATURE, (0, "taskhub.topic", "normal", False, False))
    write_frame(1, 7, spec.Basic.Publish, arguments, message)
    assert confirms.frames(7, arguments, message, connection.frame_max - 8) == written[0]


def test_a_message_larger_than_a_frame_is_left_to_py_amqp():
    message = amqp.Message(b"x" * 200_000)
    assert confirms.frames(7, b"", message, 131072 - 8) is None
