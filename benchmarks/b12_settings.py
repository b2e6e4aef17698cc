"""Settings of B12's contenders other than taskhub, which runs on the project's own:
the backend that ``B12_BACKEND`` names, its app and its ``TASKS``, and nothing else.

They share the benchmarks' PostgreSQL database and Redis database 7 (one contender
runs at a time, and each phase starts from both emptied), and keep database
connections for a minute, as the project does: ``db_worker`` closes a connection
older than ``CONN_MAX_AGE`` after every task, so 0 would reconnect for each one.
"""

import os

import dj_database_url
import django

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": dj_database_url.config(conn_max_age=60, conn_health_checks=True)}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")

BACKEND = os.environ["B12_BACKEND"]
#: Per backend: its apps and its ``TASKS`` entry.
BACKENDS = {
    "django_tasks_db": (["django_tasks_db"], "django_tasks_db.DatabaseBackend", {}),
    "django_tasks_rq": (["django_rq", "django_tasks_rq"], "django_tasks_rq.RQBackend", {}),
    # After commit inside a transaction, as the others that write elsewhere than the
    # caller's database do (huey's default enqueues at once, even if it rolls back).
    "huey": (
        ["huey.contrib.djhuey"],
        "huey.contrib.djhuey.tasks_backend.HueyBackend",
        {"ENQUEUE_ON_COMMIT": True},
    ),
    "django_vtasks": (
        ["django_vtasks", "django_vtasks.db"],
        "django_vtasks.backends.db.DatabaseTaskBackend",
        {},
    ),
}
apps, backend, params = BACKENDS[BACKEND]
# Django 6.0 has the Tasks API built in; on 5.2 it comes from the django-tasks backport.
INSTALLED_APPS = [*(["django_tasks"] if django.VERSION < (6, 0) else []), *apps]
TASKS = {"default": {"BACKEND": backend, "QUEUES": ["normal"], **params}}

RQ_QUEUES = {"normal": {"URL": REDIS_URL}}
HUEY = {"name": "b12", "connection": {"url": REDIS_URL}, "immediate": False}
VTASKS_QUEUES = ["normal"]
