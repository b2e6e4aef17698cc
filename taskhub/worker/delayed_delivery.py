"""RabbitMQ: a countdown or ETA task reaches its queue, whichever workers ever started.

With quorum queues, Celery's native delayed delivery keeps a countdown message in the
broker and, when it is due, routes it to its queue through a binding that each worker
makes at start, for every queue of the app. A queue that does not exist yet cannot be
bound: the worker logs "Native delayed delivery will not be available", and a message
due for that queue is dropped by the broker. Measured on a new broker: a countdown
task for ``high``, sent while only a ``normal`` worker had ever started, was lost. So
every worker of a taskhub app first declares all of the app's queues (when it starts:
``taskhub.apps``), and each binding then succeeds.
"""

import logging

from celery import Celery
from celery.utils.quorum_queues import detect_quorum_queues
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def declare_all_queues(app: Celery) -> None:
    """Declare every queue of ``app`` on RabbitMQ (quorum queues), before the worker's
    delayed-delivery step binds them. A broker that does not answer is logged: the
    worker's own connection retries then take over."""
    with app.connection_for_write() as connection:
        if not detect_quorum_queues(app, connection.transport.driver_type)[0]:
            return
        try:
            channel = connection.default_channel
            for queue in app.amqp.queues.values():
                queue.bind(channel).declare()
        # mypy joins the starred tuple's items to object; they are exception classes.
        except (OperationalError, OSError, *connection.channel_errors) as exc:  # type: ignore[misc]
            logger.warning("could not declare the queues for delayed delivery: %s", exc)
