"""Celery with its default settings, for the baselines (``celery -A benchmarks.baseline``)."""

import os

from celery import Celery

#: taskhub's worker checks refuse an app that ``taskhub.celery.configure`` never saw
#: (E001) and one without acks late (E004): exactly what this baseline is, on purpose. It
#: runs only the benchmarks' own tasks.
WORKER_ENV = {"SILENCED_SYSTEM_CHECKS": "taskhub.E001,taskhub.E004"}

app = Celery(
    "baseline",
    broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
    set_as_current=False,
)
