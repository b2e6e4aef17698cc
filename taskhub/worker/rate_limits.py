"""A rate limit per Django task (``rate_limit="10/s"``), as Celery keeps one per Celery task.

Every Django task runs as one Celery task, ``taskhub.run_django_task``, so Celery's own
token buckets, one per Celery task name, would put them all under a single limit. The
message of a limited Django task carries its path and its limit in two headers
(``headers_for``). The worker's strategy for ``run_django_task`` (``strategy``) hands
each limited message to Celery's own strategy with that task's bucket, and Celery holds
it in the worker until a token is free, as it does for any rate-limited task.

Like Celery's, a limit holds per worker, not across workers; and a message held for a
token counts against the worker's prefetch, so a queue of limited tasks can hold up a
worker's other work: give them a queue of their own.
"""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from celery.utils.time import rate
from celery.worker.strategy import default
from kombu.utils.limits import TokenBucket

TASK_HEADER = "taskhub_django_task"
RATE_HEADER = "taskhub_rate_limit"


def per_second(rate_limit: object) -> float:
    """Tasks a second that ``rate_limit`` (``"10/s"``, ``"100/m"``, ``"1000/h"``) allows;
    0 for anything else."""
    if not isinstance(rate_limit, str):
        return 0.0
    try:
        return float(rate(rate_limit))
    except (ValueError, KeyError):
        return 0.0


def headers_for(path: str, rate_limit: str | None) -> dict[str, Any]:
    """The ``apply_async`` option that carries a Django task's limit; none without one."""
    return {"headers": {TASK_HEADER: path, RATE_HEADER: rate_limit}} if rate_limit else {}


class WithBucket:
    """The worker's consumer as Celery's strategy sees it, with ``bucket`` as every task's
    token bucket."""

    def __init__(self, consumer: Any, bucket: TokenBucket) -> None:
        self.consumer = consumer
        self.task_buckets: defaultdict[str, TokenBucket] = defaultdict(lambda: bucket)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consumer, name)


def strategy(task: Any, app: Any, consumer: Any, **options: Any) -> Callable[..., Any]:
    """``run_django_task``'s strategy: Celery's own, with a bucket per limited Django task."""
    unlimited = default(task, app, consumer, **options)
    limited: dict[tuple[str, str], Callable[..., Any]] = {}

    def on_message(
        message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **kw: Any
    ) -> Any:
        headers = message.headers or {}
        limit = headers.get(RATE_HEADER)
        if not limit:
            return unlimited(message, body, ack, reject, callbacks, **kw)
        key = (str(headers.get(TASK_HEADER, "")), str(limit))
        handle = limited.get(key)
        if handle is None:
            handle = limited[key] = limited_handler(key) or unlimited
        return handle(message, body, ack, reject, callbacks, **kw)

    def limited_handler(key: tuple[str, str]) -> Callable[..., Any] | None:
        """Celery's strategy with the bucket of ``key``'s limit; None for a limit that
        is not one (a message from elsewhere): such a message runs unlimited."""
        rate_per_second = per_second(key[1])
        if not rate_per_second:
            return None
        bucket = TokenBucket(rate_per_second, capacity=1)
        # Among the worker's own buckets, so that a lost connection drops the messages it
        # holds (Consumer.on_close), as for Celery's: the broker delivers them again.
        consumer.task_buckets[f"{task.name}[{key[0]} {key[1]}]"] = bucket
        return default(task, app, WithBucket(consumer, bucket), **options)

    return on_message
