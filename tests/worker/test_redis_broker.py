"""taskhub's Redis transport against a real Redis: a message is recorded as
unacknowledged in the step that takes it, in kombu's own format; a gone server never
crashes a closing connection. The restarts under a worker are in
tests/delivery/test_redis_restarts.py."""

import contextlib
import logging
import time

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.transport.redis import Transport as KombuTransport

from project.celery import app
from taskhub.celery import broker_transport_options
from taskhub.worker import redis_broker
from tests.redis_server import RedisServer
from tests.workers import redis_client, redis_database

QUEUE = Queue("atomic", Exchange("atomic", type="direct"), routing_key="atomic")


@pytest.fixture
def redis_url():
    with redis_database(10) as url:
        yield url


def connection(url: str, transport=redis_broker.Transport, **options) -> Connection:
    return Connection(
        url, transport=transport, transport_options={**broker_transport_options(url), **options}
    )


def publish(conn: Connection, *bodies) -> None:
    producer = Producer(conn.default_channel)
    for body in bodies:
        producer.publish(body, exchange=QUEUE.exchange, routing_key="atomic", declare=[QUEUE])


def consume_one(conn: Connection, timeout: float = 5) -> list:
    got = []
    with Consumer(conn, [QUEUE], callbacks=[lambda body, message: got.append((body, message))]):
        conn.drain_events(timeout=timeout)
    return got


def test_a_message_taken_is_already_recorded_as_unacknowledged(redis_url):
    """What the worker's BRPOP used to leave unrecorded: here the record exists before
    the reply reaches the worker, so a worker (or Redis) gone at that moment loses
    nothing. The record is kombu's: its own restore puts the message back."""
    with connection(redis_url) as conn:
        publish(conn, {"n": 1})
        client = redis_client(redis_url)
        assert client.llen(redis_broker.ring_key("atomic")) == 1, "one ring per message"
        [(body, message)] = consume_one(conn)
        assert body == {"n": 1}
        tag = message.delivery_tag
        assert client.hexists("unacked", tag) and client.zscore("unacked_index", tag)
        assert client.llen("atomic") == 0
        message.channel.qos.restore_by_tag(tag)
        assert client.llen("atomic") == 1 and not client.hexists("unacked", tag)
        [(again, redelivered)] = consume_one(conn)
        assert again == {"n": 1} and redelivered.delivery_info["redelivered"]
        redelivered.ack()
        assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0


def test_a_reply_lost_on_the_way_leaves_the_message_to_the_sweep(redis_url):
    """The script runs, and the worker never reads its reply (it died, or Redis closed
    the connection): the message is in the unacknowledged set, and the visibility sweep
    of any worker puts it back on its queue."""
    with connection(redis_url, visibility_timeout=1, unacked_restore_throttle=1) as conn:
        publish(conn, {"n": 2})
        channel = conn.default_channel
        keys = [channel.unacked_key, channel.unacked_index_key, redis_broker.MALFORMED_KEY]
        keys += ["atomic", redis_broker.ring_key("atomic")]
        client = redis_client(redis_url)
        client.eval(redis_broker.FETCH, len(keys), *keys, time.time() - 5, "1")
        assert client.llen("atomic") == 0 and client.hlen("unacked") == 1
        channel.qos.restore_visible(num=10, interval=1)
        assert client.llen("atomic") == 1 and client.hlen("unacked") == 0
        [(body, message)] = consume_one(conn)
        assert body == {"n": 2}
        message.ack()


def test_priorities_and_queues_are_taken_in_kombus_order(redis_url):
    """Priority first (kombu's lower steps first), across the worker's queues."""
    with connection(redis_url) as conn:
        producer = Producer(conn.default_channel)
        for n, priority in enumerate([9, 0, 6, 3]):
            producer.publish(
                {"n": n}, exchange=QUEUE.exchange, routing_key="atomic", declare=[QUEUE],
                priority=priority,
            )  # fmt: skip
        order = []
        for _ in range(4):
            [(body, message)] = consume_one(conn)
            order.append(body["n"])
            message.ack()
        assert order == [1, 3, 2, 0]


def test_a_message_that_is_not_kombus_json_is_kept_aside_and_the_queue_moves_on(redis_url, caplog):
    client = redis_client(redis_url)
    with connection(redis_url) as conn:
        publish(conn, {"n": 3})
        client.rpush("atomic", b"not json")  # the next one taken
        with caplog.at_level(logging.ERROR, logger=redis_broker.__name__):
            [(body, message)] = consume_one(conn)
        assert body == {"n": 3}
        message.ack()
    assert client.lrange(redis_broker.MALFORMED_KEY, 0, -1) == [b"not json"]
    assert "not kombu's JSON" in caplog.text and redis_broker.MALFORMED_KEY in caplog.text


def test_a_waiting_consumer_is_rung_at_once(redis_url):
    """A consumer waiting on the rings takes a message published meanwhile in far less
    than the 1 s it would take to look again unrung."""
    with connection(redis_url) as conn, connection(redis_url) as publisher:
        got = []
        with Consumer(conn, [QUEUE], callbacks=[lambda body, m: got.append(time.monotonic())]):
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=0.3)  # looked, found nothing: waits on the ring
            sent = time.monotonic()
            publish(publisher, {"n": 4})
            conn.drain_events(timeout=5)
        assert got and got[0] - sent < 0.5


def test_a_message_from_a_publisher_without_rings_is_found_within_a_second(redis_url):
    with connection(redis_url) as conn, connection(redis_url, transport=KombuTransport) as plain:
        got = []
        with Consumer(conn, [QUEUE], callbacks=[lambda body, m: got.append(body) or m.ack()]):
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=0.3)
            publish(plain, {"n": 5})
            deadline = time.monotonic() + 3
            while not got and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.5)
        assert got == [{"n": 5}]
    assert redis_client(redis_url).llen(redis_broker.ring_key("atomic")) == 0


def test_rings_are_capped_when_no_consumer_takes_them(redis_url):
    """Messages whose consumers are not taskhub's (a host that opted out on its workers
    only) leave their rings: a few thousand publishes leave about ``RING_CAP``."""
    with connection(redis_url) as conn:
        publish(conn, *({"n": n} for n in range(3000)))
    length = redis_client(redis_url).llen(redis_broker.ring_key("atomic"))
    assert redis_broker.RING_CAP <= length < redis_broker.RING_CAP + 10 * redis_broker.TRIM_EVERY


def test_a_global_key_prefix_applies_to_every_key(redis_url):
    client = redis_client(redis_url)
    with connection(redis_url, global_keyprefix="host:") as conn:
        publish(conn, {"n": 6})
        assert client.llen("host:atomic") == 1
        assert client.llen("host:" + redis_broker.ring_key("atomic")) == 1
        [(_, message)] = consume_one(conn)
        assert client.hlen("host:unacked") == 1 and client.llen("host:atomic") == 0
        message.ack()
    assert all(key.startswith(b"host:") for key in client.keys("*")), client.keys("*")


def crash_of_a_closing_connection(tmp_path, transport) -> Exception | None:
    """kombu's sequence when a consumer loses Redis while holding a message and
    consuming a fanout queue (the worker's remote control): ``collect()``, then
    ``close()``. Returns what escaped the close, which Celery does not catch."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        conn = connection(server.url, transport=transport)
        broadcast = Queue("bcast", Exchange("bcast", type="fanout"), auto_delete=True)
        channel = conn.default_channel
        Consumer(channel, [broadcast], callbacks=[lambda body, m: None]).consume()
        consumer = Consumer(channel, [QUEUE], callbacks=[lambda body, m: None])
        consumer.consume()
        publish(conn, {"n": 7})
        conn.drain_events(timeout=5)
        conn.default_channel.connection.cycle.on_poll_start()  # a read is outstanding
    finally:
        server.stop()
    try:
        conn.collect()
        conn.close()
    except Exception as exc:
        return exc
    return None


def test_closing_a_connection_to_a_gone_redis_never_crashes(tmp_path):
    crash = crash_of_a_closing_connection(tmp_path / "kombu", KombuTransport)
    assert isinstance(crash, AttributeError) and "hostname" in str(crash), (
        "kombu's own transport crashes this way; if it no longer does, say so in "
        f"docs/reliability.md (got {crash!r})"
    )
    assert crash_of_a_closing_connection(tmp_path / "taskhub", redis_broker.Transport) is None


@pytest.mark.parametrize(
    ("url", "use_ssl", "expected"),
    [
        ("redis://127.0.0.1:6379/0", None, "taskhub_redis"),
        ("sentinel://127.0.0.1:26379", None, "taskhub_sentinel"),
        ("rediss://127.0.0.1:6380/0", {"ssl_cert_reqs": "required"}, "taskhub_redis"),
        ("rediss://127.0.0.1:6380/0", None, None),
        ("redis+socket:///run/redis.sock", None, None),
        ("amqp://guest@127.0.0.1//", None, None),
        ("filesystem://localhost/", None, None),
    ],
)
def test_configure_picks_the_transport_by_broker(settings, url, use_ssl, expected):
    assert redis_broker.transport_for(url, use_ssl) == expected


def test_a_host_naming_its_own_transport_keeps_it(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    assert app.conf.broker_transport == "taskhub_redis"
    settings.CELERY_BROKER_TRANSPORT = "redis"
    assert app.conf.broker_transport == "redis"


def test_the_hosts_transport_options_win_key_by_key_and_taskhubs_fill_the_rest(redis_url):
    """A Sentinel host must set ``master_name`` in its options: it keeps taskhub's
    visibility timeout, sweep and fail-fast publishing all the same."""
    options = {"visibility_timeout": 30, "master_name": "mymaster"}
    with Connection(redis_url, transport=redis_broker.Transport, transport_options=options) as c:
        channel = c.default_channel
        assert channel.visibility_timeout == 30
        assert channel.unacked_restore_interval == redis_broker.RESTORE_INTERVAL
        assert c.transport_options["max_retries"] == 0


def test_switching_to_the_next_broker_of_a_list_keeps_taskhubs_transport():
    """A worker switches URL at every failed reconnection; kombu would take the next
    URL's scheme (``sentinel``) as its transport, and consume the old way."""
    urls = "sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380"
    conn = app.connection_for_read(urls)
    assert isinstance(conn, redis_broker.Connection)
    conn.transport_cls = "taskhub_sentinel"
    conn.maybe_switch_next()
    assert conn.hostname == "127.0.0.1" and conn.port == 26380
    assert conn.transport_cls == "taskhub_sentinel"
    plain = Connection(urls, transport="taskhub_sentinel")
    plain.maybe_switch_next()
    assert plain.transport_cls == "sentinel", "kombu's own connection, for comparison"


def test_a_redis_that_forgot_the_script_is_given_it_again(redis_url):
    """A restarted Redis has no scripts: the look that meets NOSCRIPT loads it again."""
    with connection(redis_url) as conn:
        publish(conn, {"n": 8})
        [(_, first)] = consume_one(conn)
        first.ack()
        redis_client(redis_url).script_flush()
        publish(conn, {"n": 9})
        [(body, second)] = consume_one(conn)
        assert body == {"n": 9}
        second.ack()
