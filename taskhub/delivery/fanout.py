"""Send one task many times (a newsletter to 100,000 users) at a fraction of the cost of
a ``.delay()`` loop.

``.delay()`` does per message what only needs doing once: it resolves the route, reads
a dozen settings (through Django's settings, missing ones by exception), builds a
``saferepr`` of the arguments and fires the publish signals. ``send_many`` resolves the
route and builds Celery's message headers once, then per call only serialises the
arguments and publishes. Workers cannot tell these messages from ``.delay()``'s. What
is skipped: routers that look at the arguments, the ``before/after_task_publish``
signals, and the arguments' preview that Flower shows (``argsrepr`` is left empty).
A ``countdown`` is counted from the start of the call, for every message.

On Redis, ``batch_size`` messages go in one ``LPUSH`` (see ``redis_messages``), with
their ring (``taskhub.worker.redis_broker``); on any other broker, through kombu's
``Producer.batch``.

This is not the outbox: call it after your transaction has committed (from a task, or
``transaction.on_commit``). If the broker fails midway, the exception propagates and
the unsent batch is dropped; the tasks are idempotent, so send the whole list again.
"""

import json
from base64 import b64encode
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, cast

import amqp
from celery import Task
from celery.utils.nodenames import anon_nodename
from kombu import Queue
from kombu.serialization import dumps as serialize
from kombu.utils.uuid import uuid

from taskhub.delivery import confirms
from taskhub.worker import redis_broker

Call = tuple[tuple[Any, ...], dict[str, Any]]
IdentifiedCall = tuple[str, tuple[Any, ...], dict[str, Any]]
# Options that go into the message itself rather than to the broker.
MESSAGE_OPTIONS = ("countdown", "eta", "expires", "time_limit", "soft_time_limit")
# Stand-ins in the message template, replaced per message; none needs JSON escaping.
TASK_ID, BODY, DELIVERY_TAG = "@taskhub-task-id@", "@taskhub-body@", "@taskhub-delivery-tag@"


def send_many(
    task: Task[Any, Any], calls: Iterable[Call], batch_size: int = 1000, **options: Any
) -> int:
    """Publish ``task(*args, **kwargs)`` for every ``(args, kwargs)``; return how many.

    ``options`` (``queue``, ``countdown``, ``priority``...) apply to every message; in
    eager mode each call runs inline, as ``.delay()`` would.
    """
    if task.app.conf.task_always_eager:
        calls = list(calls)
        for args, kwargs in calls:
            task.apply_async(args, kwargs, **options)
        return len(calls)
    return send_with_ids(
        task, ((uuid(), args, kwargs) for args, kwargs in calls), batch_size, **options
    )


def send_with_ids(
    task: Task[Any, Any], calls: Iterable[IdentifiedCall], batch_size: int = 1000, **options: Any
) -> int:
    """``send_many`` for ``(task_id, args, kwargs)``: each message under the id given
    (a Django task's result id, say), never run inline."""
    app = task.app
    route = app.amqp.router.route(dict(options), task.name, (), {})
    queue = route.pop("queue")
    extra_headers = route.pop("headers", None) or {}
    message_options = {
        "time_limit": task.time_limit,
        "soft_time_limit": task.soft_time_limit,
        **{k: route.pop(k) for k in MESSAGE_OPTIONS if k in route},
    }
    # Celery's own message for this task, with stand-ins for what differs per call.
    headers, properties, (_, _, embed), _ = app.amqp.as_task_v2(
        TASK_ID,
        task.name,
        argsrepr="",
        kwargsrepr="",
        origin=anon_nodename(),
        ignore_result=task.ignore_result,
        reply_to=app.thread_oid,
        **message_options,
    )
    message = Message({**headers, **extra_headers}, properties, embed, app.conf.task_serializer)
    with app.producer_or_acquire() as producer:
        producer.maybe_declare(queue)
        if lpush_ready(producer, queue, route):
            return push_to_redis(producer.channel, queue.name, message, calls, batch_size)
        if confirms.awaited(producer.connection):
            return publish_confirmed(producer, queue, route, message, calls, batch_size)
        return publish_in_batches(producer, queue, route, message, calls, batch_size)


class Message:
    """One task's message, filled in per call with a new task id and the arguments."""

    def __init__(
        self,
        headers: dict[str, Any],
        properties: dict[str, Any],
        embed: dict[str, Any],
        serializer: str,
    ) -> None:
        self.headers = headers
        self.properties = properties
        self.embed = embed
        self.serializer = serializer

    def body(self, args: Any, kwargs: Any) -> Any:
        if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
            raise TypeError(
                f"each call must be (args tuple, kwargs dict), not {args!r}, {kwargs!r}"
            )
        return (args, kwargs, self.embed)

    def filled(self, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Headers and properties for ``task_id``."""
        headers = {k: task_id if v == TASK_ID else v for k, v in self.headers.items()}
        properties = {k: task_id if v == TASK_ID else v for k, v in self.properties.items()}
        return headers, properties


def lpush_ready(producer: Any, queue: Queue, route: dict[str, Any]) -> bool:
    """Whether messages for ``queue`` can be written straight into its Redis list.

    Only in the case kombu's Redis transport itself writes one plain ``LPUSH``: a direct
    exchange (so the list is the queue's name), no priority (which picks another list)
    and no queue expiry (which adds a ``PEXPIRE``), on a client that never replays a
    command it is unsure about (kombu's own condition for batching).
    """
    return (
        producer.connection.transport.driver_type == "redis"
        and queue.exchange.type == "direct"
        and not route.get("priority")
        and not queue.expires  # type: ignore[attr-defined]  # kombu-stubs lack Queue.expires
        and producer.channel.supports_batch_publish
    )


def push_to_redis(
    channel: Any,
    queue_name: str,
    message: Message,
    calls: Iterable[IdentifiedCall],
    batch_size: int,
) -> int:
    sent = 0
    encoded = redis_messages(message, queue_name, calls)
    while batch := list(islice(encoded, batch_size)):
        with channel.client.pipeline(transaction=False) as pipe:
            pipe.lpush(queue_name, *batch)
            if redis_broker.rings(channel):
                redis_broker.ring(pipe, channel, queue_name, len(batch))
            pipe.execute()
        sent += len(batch)
    return sent


def redis_messages(
    message: Message, queue_name: str, calls: Iterable[IdentifiedCall]
) -> Iterator[str]:
    """Each call's message as kombu's Redis transport stores it in a queue's list.

    The same JSON object ``Producer.publish`` makes (the body serialised, then base64,
    within an envelope of headers and properties), written once as a template and
    filled in per message; ``tests/delivery/test_fanout.py`` compares it with kombu's, so a change
    in kombu's format fails a test instead of a worker. A delivery tag only has to be
    unique (it keys the transport's unacknowledged set): one random prefix per call and
    a counter make it so.
    """
    content_type, content_encoding, _ = serialize((), serializer=message.serializer)
    template = json.dumps(
        {
            "body": BODY,
            "content-encoding": content_encoding,
            "content-type": content_type,
            "headers": message.headers,
            "properties": {
                **message.properties,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue_name},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": DELIVERY_TAG,
            },
        }
    )
    tag_prefix = uuid()
    for number, (task_id, args, kwargs) in enumerate(calls):
        _, _, data = serialize(message.body(args, kwargs), serializer=message.serializer)
        body = b64encode(data.encode() if isinstance(data, str) else data).decode()
        yield (
            template.replace(TASK_ID, task_id)
            .replace(BODY, body)
            .replace(DELIVERY_TAG, f"{tag_prefix}.{number}")
        )


def destination(queue: Queue) -> tuple[str, str, int]:
    """The exchange, routing key and delivery mode a message for ``queue`` goes with: a
    direct exchange's queue by its own name through the default exchange, as kombu does."""
    direct = queue.exchange.type == "direct"
    exchange = "" if direct else queue.exchange.name
    routing_key = queue.name if direct else queue.routing_key
    return exchange, routing_key, queue.exchange.delivery_mode or 2


def publish_confirmed(
    producer: Any,
    queue: Queue,
    route: dict[str, Any],
    message: Message,
    calls: Iterable[IdentifiedCall],
    batch_size: int,
) -> int:
    """RabbitMQ with publisher confirms: ``batch_size`` messages, then one wait for all
    their confirms (``taskhub.delivery.confirms``), where kombu waits for each."""
    exchange, routing_key, delivery_mode = destination(queue)
    properties_for = PropertiesTemplate(producer.channel, route, message, delivery_mode)
    sent = 0
    calls = iter(calls)
    with confirms.ConfirmedChannel(producer.connection) as confirmed:
        while batch := list(islice(calls, batch_size)):
            outgoing = []
            for task_id, args, kwargs in batch:
                content_type, encoding, body = serialize(
                    message.body(args, kwargs), serializer=message.serializer
                )
                data = body.encode(encoding) if isinstance(body, str) else body
                prepared = Preserialized(data, properties_for(task_id, content_type, encoding))
                outgoing.append((task_id, prepared, exchange, routing_key))
            confirmed.publish(outgoing)
            sent += len(batch)
    return sent


class Preserialized(amqp.Message):
    """An AMQP message whose properties (Celery's headers among them) are already
    serialized: py-amqp's frame writer asks the message for them."""

    def __init__(self, body: bytes, serialized_properties: bytes) -> None:
        super().__init__(body)
        self.serialized_properties = serialized_properties

    def _serialize_properties(self) -> bytes:
        return self.serialized_properties


#: A shorter task id is put in by serializing its message's properties: a short random
#: stand-in could also match other bytes of them.
MIN_STAND_IN = 16


class PropertiesTemplate:
    """The serialized AMQP properties of a batch's messages, which differ only in their
    task id. py-amqp's pure-Python encoding of Celery's header table was half the cost
    of a message (B2); here it is done once per id length, with a random stand-in id of
    that length, and each message gets a copy with its own id in the stand-in's place
    (same length, so every length prefix stays right)."""

    def __init__(self, channel: Any, route: dict[str, Any], message: Message, mode: int) -> None:
        self.channel = channel
        self.priority = route.get("priority")
        self.message = message
        self.delivery_mode = mode
        self.serialized: dict[tuple[int, str, str], tuple[bytes, bytes]] = {}

    def __call__(self, task_id: str, content_type: str, encoding: str) -> bytes:
        raw_id = task_id.encode()
        if len(raw_id) < MIN_STAND_IN:
            return self.serialize(task_id, content_type, encoding)
        key = (len(raw_id), content_type, encoding)
        if key not in self.serialized:
            stand_in = (uuid().replace("-", "") * (len(raw_id) // 32 + 1))[: len(raw_id)]
            template = self.serialize(stand_in, content_type, encoding)
            self.serialized[key] = (stand_in.encode(), template)
        stand_in_bytes, template = self.serialized[key]
        return template.replace(stand_in_bytes, raw_id)

    def serialize(self, task_id: str, content_type: str, encoding: str) -> bytes:
        headers, properties = self.message.filled(task_id)
        properties = {**properties, "delivery_mode": self.delivery_mode}
        prepared = self.channel.prepare_message(
            b"", self.priority, content_type, encoding, headers, properties
        )
        return cast(bytes, prepared._serialize_properties())


def publish_in_batches(
    producer: Any,
    queue: Queue,
    route: dict[str, Any],
    message: Message,
    calls: Iterable[IdentifiedCall],
    batch_size: int,
) -> int:
    exchange, routing_key, delivery_mode = destination(queue)
    publish_options = {
        "exchange": exchange,
        "routing_key": routing_key,
        "serializer": message.serializer,
        "delivery_mode": delivery_mode,
        **route,
    }
    sent = 0
    with producer.batch(max_size=batch_size):
        for task_id, args, kwargs in calls:
            headers, properties = message.filled(task_id)
            body = message.body(args, kwargs)
            producer.publish(body, headers=headers, **properties, **publish_options)
            sent += 1
    return sent
