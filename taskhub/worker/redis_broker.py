"""Redis: a message is recorded as unacknowledged in the same server-side step that
takes it off its queue, and a worker outlives Redis going away.

kombu's Redis transport takes a message with ``BRPOP`` and only then, in a second
command, records it in its unacknowledged hash (``unacked``, scored in
``unacked_index``). When Redis stops between the two, the message has left its queue
and is recorded nowhere: lost, whether it was sent with ``.delay()``, ``send_task`` or
by beat (kombu#305, open since 2014). Here one Lua script (``FETCH``) pops and records
at once, over kombu's own keys and in kombu's own format, so the visibility sweep, a
restore and taskhub's liveness stamps (``taskhub.worker.liveness``) work unchanged.

A script cannot block, so a worker with nothing to do waits on a doorbell: one list per
queue (``_taskhub.ring.<queue>``), to which the publishers of this transport push one
entry with each message, in the same round trip. A waiting worker ``BRPOP``s the rings
of its queues, then takes a message with the script; a ring entry lost or left over
costs a wake-up, never a message. Every ``brpop_timeout`` (1 s) a waiting worker also
looks without being rung, for messages from publishers without taskhub.

``configure(app)`` makes this the transport of a Redis (or Sentinel) broker unless the
host names its own ``broker_transport``; the host opts out by naming kombu's
(``CELERY_BROKER_TRANSPORT = "redis"``). Its URL shows as ``taskhub_redis://``.
"""

import contextlib
import logging
import random
from collections.abc import Iterator
from queue import Empty
from time import monotonic, time
from typing import TYPE_CHECKING, Any

import celery
import celery.app.amqp
import kombu
from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads
from redis.exceptions import NoScriptError

from taskhub.worker.queues import broker_scheme

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    # What the mixins below are mixed into, for the type checker; at run time they stay
    # plain mixins, and the classes made of them name kombu's as their other base.
    _ChannelBase = kombu_redis.Channel
    _TransportBase = kombu_redis.Transport
else:
    _ChannelBase = _TransportBase = object

RING_PREFIX = "_taskhub.ring."
#: A ring only has to wake the workers waiting on its queue; what a worker finds when it
#: looks, it keeps taking until the queue is empty. Capped, so that a queue whose
#: consumers are not this transport's (rings no one takes) costs at most this many.
RING_CAP = 1000
#: The cap is kept by a ``LTRIM`` with one publish in this many (at random), not with
#: every one: a third command in each ``.delay()`` cost 3% of it (B2).
TRIM_EVERY = 100
#: Where a message that is not kombu's JSON is moved to, kept for a person to look at.
MALFORMED_KEY = "_taskhub.malformed"

#: KEYS: the unacknowledged hash and its index, the malformed list, then for each list
#: to try, in order, the list and its queue's ring. ARGV: the time to score the
#: message with, and "1" when the worker was not rung (it takes a ring entry with the
#: message, so rings and messages stay even). Returns the KEYS index of the list a
#: message came from and the message; a negative index for a malformed one; {} when
#: every list is empty. The record is kombu's: ``[message, exchange, routing_key]``,
#: with the message's JSON as it came (not decoded and encoded again).
FETCH = """
for i = 4, #KEYS, 2 do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local ok, message = pcall(cjson.decode, item)
    local properties = ok and type(message) == 'table' and message['properties']
    local info = type(properties) == 'table' and properties['delivery_info']
    local tag = type(properties) == 'table' and properties['delivery_tag']
    if type(info) ~= 'table' or type(tag) ~= 'string' then
      redis.call('LPUSH', KEYS[3], item)
      return {-i, item}
    end
    redis.call('ZADD', KEYS[2], ARGV[1], tag)
    redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. cjson.encode(info['exchange'])
      .. ',' .. cjson.encode(info['routing_key']) .. ']')
    if ARGV[2] == '1' then
      redis.call('RPOP', KEYS[i + 1])
    end
    return {i, item}
  end
end
return {}
"""

#: Redis: a message its worker has not re-stamped for this long is its dead worker's
#: (``taskhub.worker.liveness``), and the sweep every ``RESTORE_INTERVAL`` seconds puts
#: it back on its queue: a killed worker's tasks run elsewhere within about 25 s.
VISIBILITY_TIMEOUT = 20
RESTORE_INTERVAL = 2
#: taskhub's transport options on Redis. A publisher that finds no broker gives up at
#: once (``max_retries``) instead of retrying for seconds inside a web request: the
#: outbox keeps the message. This transport fills in each one the host's options leave
#: out, so a Sentinel host, whose options must name the master, keeps the others.
OPTIONS: dict[str, Any] = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": RESTORE_INTERVAL,
    "unacked_restore_throttle": 1,
    "max_retries": 0,
    "socket_connect_timeout": 2,
}

#: What a channel sends next when it may consume: look for a message (after a wake-up,
#: or with a ring entry when it was not rung), or wait on the rings.
LOOK, LOOK_RUNG, WAIT = "look", "look-rung", "wait"


def ring_key(queue: str) -> str:
    return f"{RING_PREFIX}{queue}"


def ring_commands(channel: Any, queue: str, count: int = 1) -> list[tuple[str, tuple[Any, ...]]]:
    """The commands that ring ``queue`` for ``count`` messages pushed to it, trimming
    the ring now and then. kombu's client adds its ``global_keyprefix`` to ``LPUSH``'s
    key but not to ``LTRIM``'s."""
    key = ring_key(queue)
    commands: list[tuple[str, tuple[Any, ...]]] = [("lpush", (key, *("1",) * min(count, RING_CAP)))]
    if random.random() < count / TRIM_EVERY:  # noqa: S311 - a sampling rate, not a secret
        trimmed = (channel.global_keyprefix or "") + key
        commands.append(("ltrim", (trimmed, 0, RING_CAP - 1)))
    return commands


def ring(pipe: Any, channel: Any, queue: str, count: int = 1) -> None:
    """Add to a Redis pipeline the ring for ``count`` messages pushed to ``queue``."""
    for name, args in ring_commands(channel, queue, count):
        getattr(pipe, name)(*args)


def rings(channel: Any) -> bool:
    """Whether ``channel`` is this transport's (kombu's own consumers wait on the queues
    themselves, and a ring for them is waste)."""
    return isinstance(channel, AtomicFetch)


class QoS(kombu_redis.QoS):
    channel: "AtomicFetch"

    def append(self, message: Any, delivery_tag: str) -> None:
        """A message ``FETCH`` took is recorded already; one ``basic_get`` took is not."""
        if delivery_tag in self.channel.fetched:
            self.channel.fetched.discard(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def restore_unacked(self, client: Any = None) -> None:
        """Put back what this channel holds; when Redis is gone, leave it where it is.

        Every message a worker holds is in the unacknowledged set, so one that cannot be
        put back now is put back by the sweep of any worker once its visibility timeout
        passes without a live worker re-stamping it. kombu raises here instead, in the
        middle of closing a connection (see ``Channel.close``).
        """
        transport = self.channel.connection
        if transport is None or transport.client is None:
            self._leave_to_the_sweep("its connection is closed")
            return
        try:
            super().restore_unacked(client)
        except self.channel.connection_errors as exc:
            self._leave_to_the_sweep(repr(exc))

    def _leave_to_the_sweep(self, why: str) -> None:
        assert self._delivered is not None  # set by QoS.__init__
        if self._delivered:
            logger.warning(
                "could not put back %d message(s) this worker held (%s): they come back "
                "once their visibility timeout passes",
                len(self._delivered),
                why,
            )
        self._delivered.clear()


class AtomicFetch(_ChannelBase):
    """What this transport's channels do differently from kombu's (a mixin, for the
    plain and the Sentinel channel alike)."""

    QoS = QoS

    if TYPE_CHECKING:
        # kombu's Redis channel internals this mixin builds on, which kombu's stubs
        # (celery-types) leave out.
        connection: kombu_redis.Transport
        connection_errors: tuple[type[BaseException], ...]
        _queue_cycle: Any
        _expires: dict[str, int]

        def _q_for_pri(self, queue: str, pri: int) -> str: ...
        def _create_client(self, asynchronous: bool = False) -> Any: ...
        def _flush_brpop_reauth(self) -> None: ...
        def _disconnect_pools(self) -> None: ...
        def _close_clients(self) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Tags ``FETCH`` recorded, until the consumer's QoS takes them.
        self.fetched: set[str] = set()
        self._next = LOOK
        self._sent: tuple[str, list[str]] = (LOOK, [])
        self._fetch_sha: str | None = None
        self._sync_client: Any = None

    # Consuming ----------------------------------------------------------------------

    def _brpop_start(self, timeout: int | None = None) -> None:
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        connection = self.client.connection
        prefix = self.global_keyprefix or ""
        if self._next == WAIT:
            rings = [prefix + ring_key(queue) for queue in queues]
            command = ["BRPOP", *rings, self.brpop_timeout if timeout is None else timeout]
        else:
            command = self._fetch_command(queues, prefix, rung=self._next == LOOK_RUNG)
        self._sent = (self._next, queues)
        self._in_poll = connection
        self._brpop_sent_at = monotonic()
        connection.send_command(*command)

    def _fetch_command(self, queues: list[str], prefix: str, rung: bool) -> list[Any]:
        if self._fetch_sha is None:
            self._fetch_sha = self.client.script_load(FETCH)
        keys = [self.unacked_key, self.unacked_index_key, MALFORMED_KEY]
        for pri in self.priority_steps:
            for queue in queues:
                keys += [self._q_for_pri(queue, pri), ring_key(queue)]
        args = [time(), "0" if rung else "1"]
        return ["EVALSHA", self._fetch_sha, len(keys), *(prefix + k for k in keys), *args]

    def _brpop_read(self, **options: Any) -> bool:
        sent, queues = self._sent
        connection = self.client.connection
        try:
            command = "BRPOP" if sent == WAIT else "EVALSHA"
            try:
                reply = self.client.parse_response(connection, command, **options)
            except self.connection_errors:
                connection.disconnect()
                raise
            except NoScriptError:
                # Redis restarted and forgot the script: load it with the next look.
                self._fetch_sha = None
                self._next = sent
                raise Empty() from None
            if sent == WAIT:
                self._next = LOOK_RUNG if reply else LOOK
                raise Empty()
            return self._take(reply, queues)
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _take(self, reply: list[Any], queues: list[str]) -> bool:
        if not reply:
            self._next = WAIT
            raise Empty()
        self._next = LOOK
        index, item = reply
        # FETCH's KEYS after the first three: (list, ring) pairs, priority by priority,
        # each over ``queues`` in order (``_fetch_command``).
        queue = queues[(abs(index) - 4) // 2 % len(queues)]
        if index < 0:
            logger.error(
                "a message on queue %r is not kombu's JSON; it was moved to the Redis list %r: %r",
                queue,
                MALFORMED_KEY,
                bytes_to_str(item)[:200],
            )
            raise Empty()
        payload = loads(bytes_to_str(item))
        self.fetched.add(payload["properties"]["delivery_tag"])
        self._queue_cycle.rotate(queue)
        self.connection._deliver(payload, queue)
        return True

    def _poll_error(self, type: str, **options: Any) -> None:
        if type == "BRPOP":
            with contextlib.suppress(Empty):
                self._brpop_read(**options)
        else:
            super()._poll_error(type, **options)  # type: ignore[misc]  # kombu internal, unstubbed

    # Publishing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu builds a new client for every command it sends outside the event loop
        (every publish), copying its 170 response callbacks each time: a third of a
        ``.delay()`` (B2). One client per connection pool serves them all."""
        if client is not None:
            yield client
            return
        pool = self.pool
        if self._sync_client is None or self._sync_client.connection_pool is not pool:
            self._sync_client = self._create_client()
        yield self._sync_client

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        """kombu's ``LPUSH``, and the queue's ring in the same round trip."""
        batch = kwargs.get("_publish_batch")
        if batch is not None:
            super()._put(queue, message, **kwargs)
            for name, args in ring_commands(self, queue):
                batch.add(name, *args)
            return
        pri = self._get_message_priority(message, reverse=False)
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            pipe.lpush(self._q_for_pri(queue, pri), dumps(message))
            if self._expires and queue in self._expires:
                for p in self.priority_steps:
                    pipe.pexpire(self._q_for_pri(queue, p), self._expires[queue])
            ring(pipe, self, queue)
            pipe.execute()

    def _do_restore_message(
        self, payload: Any, exchange: str, routing_key: str, pipe: Any, leftmost: bool = False
    ) -> None:
        """kombu's restore, ringing each queue the message goes back to."""
        super()._do_restore_message(  # type: ignore[misc]  # kombu internal, unstubbed
            payload, exchange, routing_key, pipe, leftmost
        )
        for queue in self._lookup(exchange, routing_key):
            ring(pipe, self, queue)

    def _purge(self, queue: str) -> int:
        with self.conn_or_acquire() as client:
            client.delete(ring_key(queue))
        return super()._purge(queue)

    # Closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close, even when Redis is gone.

        kombu's close stops at the first command a gone server fails (reading the last
        ``BRPOP``, deleting a fanout queue), before the channel is marked closed. Its
        connection, closing every channel, then stops at that one and leaves the rest
        open; ``collect()`` clears the transport's client; and the next close of the
        connection reaches a channel still open, whose restore builds a connection pool
        from that cleared client: ``AttributeError: 'NoneType' object has no attribute
        'hostname'``, which is not a connection error, and the worker dies of it
        (kombu#582, kombu#970). Here a close that meets a gone server finishes without
        it, and what the channel held is left to the sweep (``QoS.restore_unacked``).
        """
        try:
            super().close()
        except self.connection_errors as exc:
            logger.info("closing a channel without Redis: %r", exc)
            self._close_without_server()

    def _close_without_server(self) -> None:
        self._in_poll = None
        if self.connection is not None:
            assert self.connection.cycle is not None  # set by kombu's Redis Transport.__init__
            self.connection.cycle.discard(self)
        self._disconnect_pools()
        self._close_clients()
        if not self.closed:
            virtual.Channel.close(self)
        elif self.connection is not None:
            self.connection.close_channel(self)


class Channel(AtomicFetch, kombu_redis.Channel):
    pass


class SentinelChannel(AtomicFetch, kombu_redis.SentinelChannel):
    pass


class DefaultOptions(_TransportBase):
    def __init__(self, client: Any, **kwargs: Any) -> None:
        for name, value in OPTIONS.items():
            client.transport_options.setdefault(name, value)
        super().__init__(client, **kwargs)


class Transport(DefaultOptions, kombu_redis.Transport):
    Channel = Channel


class SentinelTransport(DefaultOptions, kombu_redis.SentinelTransport):
    Channel = SentinelChannel


#: The names ``configure(app)`` gives this module's transports (``broker_transport``).
TRANSPORT_NAMES = {"taskhub_redis": "Transport", "taskhub_sentinel": "SentinelTransport"}
for _name, _class in TRANSPORT_NAMES.items():
    TRANSPORT_ALIASES.setdefault(_name, f"{__name__}:{_class}")


def transport_for(broker_url: str | None, use_ssl: Any = None) -> str | None:
    """The ``broker_transport`` ``configure(app)`` gives ``broker_url``: this module's
    for ``redis://``, ``sentinel://`` and ``rediss://`` with ``broker_use_ssl`` set.
    None (kombu's own) for the rest: ``rediss://`` without TLS options gets kombu's
    insecure default only under kombu's own name, and ``redis+socket://`` names its
    transport in the URL."""
    scheme = broker_scheme(broker_url)
    if scheme == "sentinel":
        return "taskhub_sentinel"
    if scheme == "redis" or (scheme == "rediss" and use_ssl):
        return "taskhub_redis"
    return None


class Connection(kombu.Connection):
    """kombu's connection, whose switch to the next URL of a broker list (a worker's
    every failed reconnection: with ``sentinel://`` the list is that of the Sentinels)
    keeps this module's transport; kombu's takes the transport from the URL's scheme,
    and would consume the old way until the worker's next reconnection."""

    def switch(self, conn_str: str) -> None:
        chosen = self.transport_cls
        super().switch(conn_str)
        if chosen in TRANSPORT_NAMES and transport_for(conn_str, self.ssl) == chosen:
            self.transport_cls = chosen


class AMQP(celery.app.amqp.AMQP):
    """Celery's AMQP (its connections, producers and queues), with ``Connection``."""

    Connection = Connection


def use_connection_class(app: celery.Celery) -> None:
    """Give ``app`` this module's ``Connection``, unless the host gave it its own AMQP."""
    if app.amqp_cls == celery.Celery.amqp_cls:
        app.amqp_cls = f"{__name__}:AMQP"
        if "amqp" in app.__dict__:
            app.amqp.Connection = Connection
