"""Broker, worker and queue checks."""

from kombu import Connection
from kombu.transport import virtual


def queue_depth(connection: Connection, queue: str) -> int:
    """Messages waiting in ``queue``: LLEN on Redis, a file count on the filesystem broker,
    a passive declare on AMQP (which fails if the queue does not exist)."""
    virtual_transport = isinstance(connection.transport, virtual.Transport)
    channel = connection.default_channel
    return channel.queue_declare(queue=queue, passive=not virtual_transport).message_count
