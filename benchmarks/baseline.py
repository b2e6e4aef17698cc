"""Celery with its default settings, for the baselines (``celery -A benchmarks.baseline``)."""

import os

from celery import Celery

app = Celery(
    "baseline",
    broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
    set_as_current=False,
)
