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
        #: Buckets with a timer entry pending, which will move what they hold.
        self.buckets_on_timer: set[TokenBucket] = set()
        # Without an event loop (the filesystem broker) the timer runs on its own
        # thread, beside the consumer's.
        self.buckets_lock = threading.RLock()

    def _schedule_bucket_request(self, bucket: TokenBucket) -> None:
        with self.buckets_lock:
            self.buckets_on_timer.discard(bucket)
            super()._schedule_bucket_request(bucket)  # type: ignore[misc]
            # Celery's loop ends with its bucket empty, or with a timer entry scheduled.
            if bucket.contents:  # type: ignore[attr-defined]
                self.buckets_on_timer.add(bucket)

    def _limit_task(self, request: Any, bucket: TokenBucket, tokens: int) -> None:
        with self.buckets_lock:
            bucket.add((request, tokens))
            if bucket not in self.buckets_on_timer:
                self._schedule_bucket_request(bucket)

    def _limit_post_eta(self, request: Any, bucket: TokenBucket, tokens: int) -> None:
        self.qos.decrement_eventually()  # type: ignore[attr-defined]
        self._limit_task(request, bucket, tokens)

    def on_close(self) -> None:
        """A lost connection empties every bucket (Celery's ``on_close``): nothing is
        left for a pending entry to move."""
        with self.buckets_lock:
            super().on_close()
            self.buckets_on_timer.clear()
