"""RabbitMQ: publish messages, then wait once for the broker's confirms of all of them.

With ``confirm_publish`` kombu waits for each message's confirm before it sends the
next: a round trip per message (B2: 2,087 messages/s). A ``ConfirmedChannel`` is a
channel in confirm mode whose publishes are numbered, and one wait collects every
confirm (the broker confirms several at once, ``multiple``). A nack, or no confirm in
time, raises ``NotConfirmed`` naming the messages concerned: the others are with the
broker, and those can be sent again (the tasks are idempotent).

Two users:

- ``fanout.send_many`` publishes a batch, then waits for it.
- ``collected()``, a block (every request, through taskhub's middleware), in which a
  taskhub task's ``.delay()`` publishes at once, and the block's end waits for every
  confirm: one wait for a view's tasks, at the end of the view rather than in the
  middle of it. A message the broker refuses, or does not confirm in time, or lost
  with its connection, is then kept in the outbox, as a ``.delay()`` is while the
  broker is down: when the block ends, each of its tasks is with the broker or in the
  database.
"""

import contextlib
import socket
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from struct import pack
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from amqp import spec
from amqp.exceptions import RecoverableConnectionError
from amqp.serialization import dumps
from kombu import Producer

from taskhub.delivery import outbox

#: How long a batch, or a block, may wait for its confirms.
CONFIRM_TIMEOUT = 30.0

REFUSED = "refused"

#: py-amqp's argument signature of ``basic.publish``: ticket, exchange, routing key,
#: mandatory, immediate.
PUBLISH_SIGNATURE = "Bssbb"
PUBLISH_METHOD = pack(">HH", *spec.Basic.Publish)
FRAME_END = b"\xce"
#: What py-amqp's frame writer counts beside a message's arguments, properties and body.
FRAME_OVERHEAD = 40

#: A message to publish: its id (for errors), the AMQP message, exchange, routing key.
Outgoing = tuple[str, Any, str, str]


class NotConfirmed(Exception):
    """The broker did not confirm some messages of a batch (``ids``)."""

    def __init__(self, reason: str, ids: Sequence[str]) -> None:
        self.reason = reason
        self.ids = list(ids)
        shown = ", ".join(self.ids[:10]) + (", ..." if len(self.ids) > 10 else "")
        count = len(self.ids)
        super().__init__(f"{count} message(s) not confirmed by the broker ({reason}): {shown}")


def awaited(connection: Any) -> bool:
    """Whether publishes on this kombu ``connection`` wait for the broker's confirm."""
    return connection.transport.driver_type == "amqp" and bool(
        connection.transport_options.get("confirm_publish")
    )


def frames(channel_id: int, arguments: bytes, message: Any, largest: int) -> bytes | None:
    """A publish's method, header and body frames, as py-amqp's frame writer packs them
    (AMQP 0-9-1: type, channel, size, payload, end octet); None for a message larger
    than a frame holds."""
    body = message.body
    properties = message._serialize_properties()
    if len(arguments) + len(properties) + len(body) + FRAME_OVERHEAD > largest:
        return None
    method = PUBLISH_METHOD + arguments
    header = pack(">HHQ", spec.Basic.Publish[0], 0, len(body)) + properties
    parts = [
        pack(">BHI", 1, channel_id, len(method)), method, FRAME_END,
        pack(">BHI", 2, channel_id, len(header)), header, FRAME_END,
    ]  # fmt: skip
    if body:
        parts += [pack(">BHI", 3, channel_id, len(body)), body, FRAME_END]
    return b"".join(parts)


class ConfirmedChannel:
    """A channel of its own in confirm mode. The broker numbers its messages from 1, and
    confirms them as it takes them, often while a batch is still being written (py-amqp
    reads the broker's frames as it writes): each message is numbered (``track``) before
    it is sent."""

    def __init__(self, connection: Any, timeout: float = CONFIRM_TIMEOUT) -> None:
        self.channel = connection.channel()
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.timeout = timeout
        self.published = 0
        self.pending: dict[int, str] = {}
        self.refused: list[str] = []

    def __enter__(self) -> "ConfirmedChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()

    def _settle(self, delivery_tag: int, multiple: bool, refused: bool) -> None:
        tags = [t for t in self.pending if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            message_id = self.pending.pop(tag, None)
            if refused and message_id is not None:
                self.refused.append(message_id)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, refused=False)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, refused=True)

    def track(self, message_id: str) -> None:
        """Number the message about to be published on this channel."""
        self.published += 1
        self.pending[self.published] = message_id

    def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish ``outgoing``; return once the broker has confirmed every message of
        it, or raise ``NotConfirmed``.

        The messages' frames are written as py-amqp writes them, many to a write, with
        the publish method's arguments encoded once per destination. py-amqp's
        ``basic_publish`` makes a system call to write each message, reads the socket
        before each for a "connection blocked" notice, and sets its timeout twice: half
        a message's cost (B2). A blocked connection still shows, in the wait that
        follows every batch. A message too large for one frame goes through py-amqp,
        which splits it."""
        connection = self.channel.connection
        if connection is None:
            raise RecoverableConnectionError("connection already closed")
        channel_id, largest = self.channel.channel_id, connection.frame_max - 8
        arguments: dict[tuple[str, str], bytes] = {}
        pending: list[bytes] = []
        for message_id, message, exchange, routing_key in outgoing:
            self.track(message_id)
            destination = (exchange, routing_key)
            if destination not in arguments:
                arguments[destination] = dumps(PUBLISH_SIGNATURE, (0, *destination, False, False))
            written = frames(channel_id, arguments[destination], message, largest)
            if written is not None:
                pending.append(written)
                continue
            self.write(connection, pending)
            try:
                connection.frame_writer(
                    1, channel_id, spec.Basic.Publish, arguments[destination], message
                )
            except StopIteration:
                raise RecoverableConnectionError("connection already closed") from None
        self.write(connection, pending)
        self.wait()

    @staticmethod
    def write(connection: Any, pending: list[bytes]) -> None:
        if pending:
            connection.transport.write(b"".join(pending))
            connection.bytes_sent += len(pending)
            pending.clear()

    def wait(self) -> None:
        """Return once every message published is confirmed, or raise ``NotConfirmed``."""
        deadline = monotonic() + self.timeout
        while self.pending:
            remaining = deadline - monotonic()
            if remaining <= 0:
                unconfirmed = [*self.refused, *self.pending.values()]
                self.pending, self.refused = {}, []
                raise NotConfirmed(f"none within {self.timeout:g} s", unconfirmed)
            with contextlib.suppress(socket.timeout):
                self.channel.connection.drain_events(timeout=remaining)
        if self.refused:
            refused, self.refused = self.refused, []
            raise NotConfirmed(REFUSED, refused)


class LaterConfirmedChannel(ConfirmedChannel):
    """A ``ConfirmedChannel`` for Celery's own publishes (``Producer.publish``), each
    numbered as the message of the task being sent, and confirmed later (``wait``)."""

    def __init__(self, connection: Any, timeout: float = CONFIRM_TIMEOUT) -> None:
        super().__init__(connection, timeout)
        self.sending = ""
        self.channel.basic_publish = self._publish

    def _publish(self, *args: Any, **kwargs: Any) -> Any:
        self.track(self.sending)
        return self.channel._basic_publish(*args, **kwargs)


#: A block's channel per broker connection (py-amqp's), kept for the next block on that
#: connection: opening a channel and selecting confirm mode cost two round trips.
_channels: "WeakKeyDictionary[Any, LaterConfirmedChannel]" = WeakKeyDictionary()


@dataclass
class Sent:
    """What ``outbox.keep`` needs of a task sent in a block."""

    task: Any
    args: Any
    kwargs: Any
    task_id: str
    options: dict[str, Any]


class Collector:
    """The confirms a block has to wait for, on a broker connection it holds until its
    end (no other publish may take the confirms of its messages)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.sent: dict[str, Sent] = {}
        self.unconfirmed_broker = False
        self.pooled: Any = None
        self.confirmed: LaterConfirmedChannel | None = None
        self.producer: Producer | None = None

    def producer_for(self, app: Any) -> Producer | None:
        """The producer this block publishes with; None when the broker confirms nothing
        (Redis), and publishes go as usual."""
        if self.producer is None and not self.unconfirmed_broker:
            pooled = app.producer_pool.acquire(
                block=True, timeout=app.conf.broker_pool_acquire_timeout
            )
            if not awaited(pooled.connection):
                pooled.release()
                self.unconfirmed_broker = True
                return None
            self.pooled = pooled
            try:
                self.confirmed = channel_on(pooled.connection, self.timeout)
            except BaseException:
                self.release(broken=True)
                raise
            self.producer = Producer(self.confirmed.channel)
        return self.producer

    @contextlib.contextmanager
    def sending(self, sent: Sent) -> Iterator[None]:
        """Publish ``sent``'s task, and wait for its confirm at the end of the block;
        if the publish fails, the task is not the block's."""
        assert self.confirmed is not None
        self.confirmed.sending = sent.task_id
        self.sent[sent.task_id] = sent
        try:
            yield
        except BaseException:
            del self.sent[sent.task_id]
            raise

    def wait(self) -> None:
        """Wait for every confirm; keep in the outbox what the broker refused or did not
        confirm, then give the connection back."""
        if self.confirmed is None:
            return
        try:
            self.confirmed.wait()
        except NotConfirmed as error:
            self.keep(error.ids, error)
            self.release(broken=error.reason != REFUSED)
        except outbox.BROKER_ERRORS as error:
            self.keep(list(self.confirmed.pending.values()), error)
            self.release(broken=True)
        else:
            self.release(broken=False)

    def keep(self, task_ids: Sequence[str], error: BaseException) -> None:
        """Keep each task in the outbox, with its own error."""
        for task_id in dict.fromkeys(task_ids):
            sent = self.sent.get(task_id)
            if sent is not None:
                own = (
                    NotConfirmed(error.reason, [task_id])
                    if isinstance(error, NotConfirmed)
                    else error
                )
                outbox.keep(sent.task, sent.args, sent.kwargs, task_id, sent.options, own)

    def release(self, broken: bool) -> None:
        """Give the connection back to the pool; a broken one closed first, with its
        channel forgotten (its numbering no longer matches the broker's)."""
        if broken:
            with contextlib.suppress(Exception):
                _channels.pop(self.pooled.connection.connection, None)
                self.pooled.connection.close()
        self.pooled.release()
        self.confirmed = self.producer = None


def channel_on(connection: Any, timeout: float) -> LaterConfirmedChannel:
    """The block channel of this kombu ``connection``: the one kept, or a new one."""
    connection.default_channel  # noqa: B018 - (re)connects, as a publish would
    transport_connection = connection.connection
    confirmed = _channels.get(transport_connection)
    if confirmed is None or not confirmed.channel.is_open:
        confirmed = _channels[transport_connection] = LaterConfirmedChannel(connection, timeout)
    confirmed.timeout = timeout
    return confirmed


_collecting: ContextVar[Collector | None] = ContextVar("taskhub_confirms", default=None)


def collecting() -> Collector | None:
    """The block this code runs in, if any."""
    return _collecting.get()


@contextlib.contextmanager
def collected(timeout: float = CONFIRM_TIMEOUT) -> Iterator[None]:
    """A block in which a taskhub task's ``.delay()`` does not wait for its confirm: the
    block's end waits once for all of them (module docstring). Blocks nest: an inner
    block's tasks are the outer block's."""
    if _collecting.get() is not None:
        yield
        return
    collector = Collector(timeout)
    token = _collecting.set(collector)
    try:
        yield
    finally:
        _collecting.reset(token)
        collector.wait()
