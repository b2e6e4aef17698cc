"""Celery's consumer, with a rate limit that holds its rate however many messages wait.

Celery holds a rate-limited task's messages in its token bucket, and schedules a timer
entry to move them to the pool when a token is free: one entry for every message held,
all due at once (celery#5927). Each entry that finds no token schedules itself again.
kombu's event loop fires at most 10 due entries a turn and then sleeps its 1 s default,
so as soon as more than 10 messages waited (a threads worker's prefetch, say), a
"10/s" task ran about once a second: 30 welcome emails took 22 s on ``-P threads -c 16``.

Here a bucket has at most one timer entry: a message that arrives while its bucket
waits for a token joins the bucket, and that entry moves it in turn. ``configure(app)``
makes this the default ``worker_consumer``.
"""

import threading
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.utils.limits import TokenBucket


class Consumer(CeleryConsumer):
    # The type stubs of Celery and kombu leave out the rate-limit internals used here.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Each waiting bucket's timer entry, which will move what the bucket holds.
        self.bucket_entries: dict[TokenBucket, Any] = {}
        # Without an event loop (the filesystem broker) the timer runs on its own
        # thread, beside the consumer's.
        self.buckets_lock = threading.RLock()

    def _schedule_bucket_request(self, bucket: TokenBucket) -> None:
        """Celery's: move what ``bucket`` holds to the pool while it has tokens, then
        wait for the next token on one timer entry, kept as the bucket's."""
        with self.buckets_lock:
            self.bucket_entries.pop(bucket, None)
            while True:
                try:
                    request, tokens = bucket.pop()
                except IndexError:
                    return
                if bucket.can_consume(tokens):
                    self._limit_move_to_pool(request)  # type: ignore[attr-defined]
                    continue
                bucket.contents.appendleft((request, tokens))  # type: ignore[attr-defined]
                order = self._limit_order = (self._limit_order + 1) % 10  # type: ignore[has-type]
                self.bucket_entries[bucket] = self.timer.call_after(
                    bucket.expected_time(tokens),
                    self._schedule_bucket_request,
                    (bucket,),
                    priority=order,
                )
                return

    def _limit_task(self, request: Any, bucket: TokenBucket, tokens: int) -> None:
        with self.buckets_lock:
            bucket.add((request, tokens))
            entry = self.bucket_entries.get(bucket)
            # Celery cancels a lost connection's timer entries: a bucket whose entry
            # was cancelled waits on a new one.
            if entry is None or getattr(entry, "canceled", False):
                self._schedule_bucket_request(bucket)

    def _limit_post_eta(self, request: Any, bucket: TokenBucket, tokens: int) -> None:
        self.qos.decrement_eventually()  # type: ignore[attr-defined]
        self._limit_task(request, bucket, tokens)
