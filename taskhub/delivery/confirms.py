"""RabbitMQ: publish a batch of messages, then wait once for the broker's confirms of
all of them.

With ``confirm_publish`` kombu waits for each message's confirm before it sends the
next: a round trip per message (B2: 2,087 messages/s). Here a batch goes out on a
channel of its own in confirm mode, and one wait collects every confirm (the broker
confirms several at once, ``multiple``). A
nack, or no confirm in time, raises ``NotConfirmed`` naming the messages concerned:
the others are with the broker, and those can be sent again (the tasks are
idempotent).
"""

import contextlib
import socket
from collections.abc import Sequence
from time import monotonic
from typing import Any

#: How long a batch may wait for its confirms.
CONFIRM_TIMEOUT = 30.0

#: A message to publish: its id (for errors), the AMQP message, exchange, routing key.
Outgoing = tuple[str, Any, str, str]


class NotConfirmed(Exception):
    """The broker did not confirm some messages of a batch (``ids``)."""

    def __init__(self, reason: str, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        shown = ", ".join(self.ids[:10]) + (", ..." if len(self.ids) > 10 else "")
        count = len(self.ids)
        super().__init__(f"{count} message(s) not confirmed by the broker ({reason}): {shown}")


def awaited(connection: Any) -> bool:
    """Whether publishes on this kombu ``connection`` wait for the broker's confirm."""
    return connection.transport.driver_type == "amqp" and bool(
        connection.transport_options.get("confirm_publish")
    )


class ConfirmedChannel:
    """A channel of its own in confirm mode, for one sender's batches. The broker numbers
    its messages from 1, and confirms them as it takes them, often while the batch is
    still being written (py-amqp reads the broker's frames as it writes): each message
    is awaited before it is sent."""

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

    def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish ``outgoing``; return once the broker has confirmed every message of
        it, or raise ``NotConfirmed``."""
        for message_id, message, exchange, routing_key in outgoing:
            self.published += 1
            self.pending[self.published] = message_id
            self.channel._basic_publish(message, exchange=exchange, routing_key=routing_key)
        deadline = monotonic() + self.timeout
        while self.pending:
            remaining = deadline - monotonic()
            if remaining <= 0:
                unconfirmed, self.pending = list(self.pending.values()), {}
                raise NotConfirmed(f"none within {self.timeout:g} s", unconfirmed)
            with contextlib.suppress(socket.timeout):
                self.channel.connection.drain_events(timeout=remaining)
        if self.refused:
            refused, self.refused = self.refused, []
            raise NotConfirmed("refused", refused)
