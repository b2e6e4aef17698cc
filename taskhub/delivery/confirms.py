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
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from struct import pack
from time import monotonic
from typing import Any, cast

from amqp import spec
from amqp.exceptions import RecoverableConnectionError
from amqp.method_framing import FRAME_OVERHEAD
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
    confirms them as it takes them, often before they are all written (py-amqp's
    ``basic_publish`` reads the socket before each message): each message is numbered
    (``track``) before it is sent."""

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
        """Write the frames of ``pending``; a write that times out leaves part of a
        frame on the socket, so the connection is lost, as py-amqp says of its own."""
        if pending:
            try:
                connection.transport.write(b"".join(pending))
            except TimeoutError:
                raise RecoverableConnectionError("publish: write timed out") from None
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


class BlockConnection:
    """A thread's own broker connection for its blocks, with its channel in confirm mode
    and a producer on it, kept for the thread's next block: opening them costs three
    round trips. It is not the app's pool's: a block holds its connection until its end,
    and blocks holding every pooled connection could wait for one more."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.connection = app.connection_for_write()
        try:
            self.confirmed = LaterConfirmedChannel(self.connection, timeout)
        except BaseException:
            self.discard()
            raise
        self.producer = Producer(self.confirmed.channel)

    def usable(self) -> bool:
        """Open, in step with the broker's numbering, and nothing left unconfirmed."""
        channel = self.confirmed.channel
        return bool(channel.is_open and channel.connection) and not self.confirmed.pending

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.collect()


#: A thread's ``BlockConnection`` per app and broker URL; None for a broker that confirms
#: nothing (Redis).
_threads = threading.local()
_UNCONFIRMED = object()


def block_connection(app: Any, timeout: float) -> BlockConnection | None:
    """This thread's connection for a block of ``app``'s, opened when needed; None when
    its broker confirms nothing."""
    kept: dict[tuple[int, str], Any] = _threads.__dict__.setdefault("connections", {})
    key = (id(app), str(app.conf.broker_url))
    block = kept.get(key)
    if block is _UNCONFIRMED:
        return None
    if block is None or not block.usable():
        if block is not None:
            block.discard()
        kept.pop(key, None)
        if not awaited(app.connection_for_write()):
            kept[key] = _UNCONFIRMED
            return None
        block = kept[key] = BlockConnection(app, timeout)
    block.confirmed.timeout = timeout
    return cast(BlockConnection, block)


@dataclass
class Sent:
    """What ``outbox.keep`` needs of a task sent in a block."""

    task: Any
    args: Any
    kwargs: Any
    task_id: str
    options: dict[str, Any]


class Collector:
    """The confirms a block has to wait for, on its thread's connection, which it holds
    until its end (no other publish may take the confirms of its messages). Once a
    publish in the block has failed, the block's later tasks are published as usual."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.sent: dict[str, Sent] = {}
        self.block: BlockConnection | None = None
        self.unconfirmed_broker = False
        self.failed: BaseException | None = None

    @property
    def confirmed(self) -> LaterConfirmedChannel | None:
        return self.block.confirmed if self.block is not None else None

    def producer_for(self, app: Any) -> Producer | None:
        """The producer this block publishes with; None when the broker confirms nothing
        (Redis), or a publish in the block has failed: then publishes go as usual."""
        if self.failed is not None or self.unconfirmed_broker:
            return None
        if self.block is None:
            try:
                self.block = block_connection(app, self.timeout)
            except Exception as error:
                self.failed = error
                return None
            if self.block is None:
                self.unconfirmed_broker = True
                return None
        return self.block.producer

    @contextlib.contextmanager
    def sending(self, sent: Sent) -> Iterator[None]:
        """Publish ``sent``'s task, and wait for its confirm at the end of the block;
        if the publish fails, the task is not the block's (the caller keeps it in the
        outbox), and the connection is not trusted again."""
        confirmed = self.confirmed
        assert confirmed is not None
        previous, confirmed.sending = confirmed.sending, sent.task_id
        self.sent.setdefault(sent.task_id, sent)
        if len(self.sent) % PRUNE_EVERY == 0:
            self.forget_confirmed()
        try:
            yield
        except BaseException as error:
            if self.sent.get(sent.task_id) is sent:
                del self.sent[sent.task_id]
            self.failed = error
            raise
        finally:
            confirmed.sending = previous

    def forget_confirmed(self) -> None:
        """Drop what ``outbox.keep`` would need of the tasks already confirmed: a block
        around a script's million tasks holds only those still unconfirmed."""
        confirmed = self.confirmed
        assert confirmed is not None
        unsettled = {*confirmed.pending.values(), *confirmed.refused}
        self.sent = {task_id: s for task_id, s in self.sent.items() if task_id in unsettled}

    def wait(self) -> None:
        """Wait for every confirm; keep in the outbox what the broker refused, did not
        confirm, or may have lost (a publish or the wait failed). Whatever happens, the
        connection is let go: kept for the next block only when in step."""
        confirmed = self.confirmed
        if confirmed is None:
            return
        try:
            if self.failed is not None:
                self.keep([*confirmed.refused, *confirmed.pending.values()], self.failed)
                return
            try:
                confirmed.wait()
            except NotConfirmed as error:
                if error.reason != REFUSED:
                    self.failed = error  # late confirms may still come on this channel
                self.keep(error.ids, error)
            except Exception as error:
                self.keep([*confirmed.refused, *confirmed.pending.values()], error)
        finally:
            self.release()

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
                outbox.keep(sent.task, sent.args, sent.kwargs, task_id, sent.options, error=own)

    def release(self) -> None:
        """A connection out of step with the broker (anything left pending, a publish
        that failed) is dropped; the next block opens a new one."""
        block, self.block = self.block, None
        if block is not None and (self.failed is not None or not block.usable()):
            block.confirmed.pending.clear()
            block.discard()


#: How many tasks a block sends between two ``forget_confirmed``.
PRUNE_EVERY = 1000

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
