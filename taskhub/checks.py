"""Django system checks (``taskhub.E001``...): a misconfigured host hears about it at
``manage.py check``, ``migrate`` or ``runserver``, and a worker refuses to start
(``apps.py``) instead of consuming the wrong queue."""

import difflib
from pathlib import Path
from typing import Any

from celery import Celery, current_app
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.files.storage import FileSystemStorage
from kombu.serialization import registry  # type: ignore[attr-defined]  # not in kombu-stubs

from taskhub import conf, storage, task_names
from taskhub.worker import redis_broker, schedule
from taskhub.worker.configured import is_configured
from taskhub.worker.queues import AMQP_SCHEMES, broker_scheme, is_redis, queue_names

REQUIRED_APPS = (
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_celery_results",
)
MIDDLEWARE = "taskhub.middleware.PublishAfterResponseMiddleware"
PICKLE = {"pickle", registry.name_to_type["pickle"]}
#: What kombu's Redis and SQS transports use when ``visibility_timeout`` is not set.
KOMBU_VISIBILITY_TIMEOUT = 3600
#: Redis: below this, a live worker's liveness stamps (``taskhub.worker.liveness``) have too
#: little margin over a busy moment of its event loop.
MIN_REDIS_VISIBILITY_TIMEOUT = 8


def celery_app() -> Celery:
    # current_app is a Proxy, which celery-types types as the Celery app itself.
    return current_app._get_current_object()  # type: ignore[attr-defined]


def check_celery(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return celery_errors(celery_app())


def celery_errors(app: Celery) -> list[checks.CheckMessage]:
    """What is wrong with ``app``, the Celery app of this process."""
    if not is_configured(app):
        return [
            checks.Error(
                f"taskhub.celery.configure(app) was not called on the Celery app {app.main!r}: "
                "taskhub's tasks would go to a queue no taskhub worker consumes.",
                hint="In your celery.py, right after app.config_from_object(...), add "
                "`import taskhub.celery` and `taskhub.celery.configure(app)`.",
                id="taskhub.E001",
            )
        ]
    return [*check_routes(app), *check_delivery(app)]


def check_scheduler(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Which scheduler runs the periodic jobs, and whether it can."""
    scheduler = celery_app().conf.beat_scheduler
    if not schedule.is_database_scheduler(scheduler):
        return [
            checks.Info(
                f"Periodic jobs run on Celery's own scheduler ({scheduler}).",
                hint="For django-celery-beat's database scheduler (jobs paused and edited in "
                "the admin), pip install 'taskhub[beat]' and add 'django_celery_beat' to "
                "INSTALLED_APPS.",
                id="taskhub.I001",
            )
        ]
    if not schedule.database_scheduler_installed():
        return [
            checks.Error(
                f"CELERY_BEAT_SCHEDULER is {scheduler!r}, but 'django_celery_beat' is not in "
                "INSTALLED_APPS: beat would not start.",
                hint="pip install 'taskhub[beat]' and add 'django_celery_beat' to "
                "INSTALLED_APPS, or remove CELERY_BEAT_SCHEDULER to use Celery's scheduler.",
                id="taskhub.E006",
            )
        ]
    return [
        checks.Info(
            "Periodic jobs run on django-celery-beat's database scheduler.",
            id="taskhub.I001",
        )
    ]


def check_routes(app: Celery) -> list[checks.CheckMessage]:
    """Every taskhub task routed (as Celery would route it) to a declared queue."""
    declared = set(queue_names(app))
    errors: list[checks.CheckMessage] = []
    for name in sorted(app.tasks):
        if not name.startswith(task_names.PREFIX):
            continue
        queue = app.amqp.router.route({}, name)["queue"].name
        if queue not in declared:
            errors.append(
                checks.Error(
                    f"{name} is routed to the queue {queue!r}, which is not declared "
                    f"(CELERY_TASK_QUEUES: {sorted(declared)}): no worker would consume it.",
                    hint="Route it to a declared queue in CELERY_TASK_ROUTES, or declare it.",
                    id="taskhub.E002",
                )
            )
    return errors


def check_delivery(app: Celery) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    scheme = broker_scheme(app.conf.broker_url)
    options = app.conf.broker_transport_options or {}
    own_transport = app.conf.broker_transport in redis_broker.TRANSPORT_NAMES
    default = redis_broker.VISIBILITY_TIMEOUT if own_transport else KOMBU_VISIBILITY_TIMEOUT
    timeout = options.get("visibility_timeout", default)
    if is_redis(app.conf.broker_url) and timeout < MIN_REDIS_VISIBILITY_TIMEOUT:
        errors.append(
            checks.Error(
                f"The broker's visibility_timeout ({timeout}s) is under "
                f"{MIN_REDIS_VISIBILITY_TIMEOUT}s: a live worker's re-stamps (every quarter "
                "of it) could come too late, and its running tasks go to a second worker.",
                hint="Raise CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], or leave "
                f"it to taskhub ({redis_broker.VISIBILITY_TIMEOUT}s).",
                id="taskhub.E003",
            )
        )
    elif scheme == "sqs":
        _, longest = conf.longest_time_limit()
        if timeout <= longest.hard:
            errors.append(
                checks.Error(
                    f"The broker's visibility_timeout ({timeout}s) is not longer than the "
                    f"longest hard time limit ({longest.hard}s): a running task would be handed "
                    "to a second worker.",
                    hint="Raise CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], or "
                    "lower TASKHUB_TIME_LIMITS.",
                    id="taskhub.E003",
                )
            )
    if scheme in AMQP_SCHEMES:
        errors += check_consumer_timeout()
    if not app.conf.task_acks_late:
        errors.append(
            checks.Error(
                "CELERY_TASK_ACKS_LATE is off: a worker that dies mid-task loses the task.",
                hint="Remove the setting: taskhub's tasks are idempotent for at-least-once.",
                id="taskhub.E004",
            )
        )
    serializers = {
        *(app.conf.accept_content or ()),
        *(app.conf.result_accept_content or ()),
        app.conf.task_serializer,
        app.conf.result_serializer,
    }
    if serializers & PICKLE:
        errors.append(
            checks.Error(
                "Pickle is accepted or used: a message from the broker could run code.",
                hint="Remove pickle from CELERY_ACCEPT_CONTENT, CELERY_RESULT_ACCEPT_CONTENT "
                "and the serializers; taskhub sends JSON only.",
                id="taskhub.E005",
            )
        )
    return errors


def check_installed_apps(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"{name!r} is missing from INSTALLED_APPS; taskhub needs it.",
            id="taskhub.E006",
        )
        for name in REQUIRED_APPS
        if not apps.is_installed(name)
    ]


def check_report_storage(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report files hold people's data: never where the host serves its media."""
    if storage.REPORTS_ALIAS in settings.STORAGES:
        chosen = storage.reports_storage()
        location = chosen.location if isinstance(chosen, FileSystemStorage) else None
    elif not settings.MEDIA_ROOT:
        return [
            checks.Error(
                "MEDIA_ROOT is not set, so taskhub has no place beside it for its private "
                "report files.",
                hint=f"Set MEDIA_ROOT, or STORAGES[{storage.REPORTS_ALIAS!r}] to a private "
                "storage of your own.",
                id="taskhub.E009",
            )
        ]
    else:
        location = str(storage.private_root())
    media = settings.MEDIA_ROOT and Path(settings.MEDIA_ROOT).resolve()
    if location is None or not media or not Path(location).resolve().is_relative_to(media):
        return []
    return [
        checks.Error(
            f"Report files are stored under MEDIA_ROOT ({location}), which is served as "
            "media: anyone with a file's URL could read it.",
            hint=f"Point STORAGES[{storage.REPORTS_ALIAS!r}] at a folder outside MEDIA_ROOT "
            "(or a private bucket).",
            id="taskhub.E009",
        )
    ]


def check_setting_names(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for setting in dir(settings):
        name = setting.removeprefix("TASKHUB_")
        if setting.startswith("TASKHUB_") and name not in conf.DEFAULTS:
            close = difflib.get_close_matches(name, conf.DEFAULTS, n=1)
            errors.append(
                checks.Error(
                    f"{setting} is not a taskhub setting; it has no effect.",
                    hint=f"Did you mean TASKHUB_{close[0]}?"
                    if close
                    else "See taskhub/conf.py for the settings.",
                    id="taskhub.E007",
                )
            )
    return errors


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [
        checks.Warning(
            f"{MIDDLEWARE} is not in MIDDLEWARE: the outbox publishes inside the request, "
            "so users wait for the broker.",
            hint=f"Add {MIDDLEWARE!r} to MIDDLEWARE.",
            id="taskhub.W001",
        )
    ]


def check_consumer_timeout() -> list[checks.CheckMessage]:
    """RabbitMQ's consumer_timeout is the broker's; the host says what it is."""
    timeout = conf.get("RABBITMQ_CONSUMER_TIMEOUT")
    family, longest = conf.longest_time_limit()
    if timeout > longest.hard:
        return []
    return [
        checks.Warning(
            f"RabbitMQ's consumer_timeout ({timeout}s, TASKHUB_RABBITMQ_CONSUMER_TIMEOUT) is "
            f"not longer than the longest hard time limit ({longest.hard}s, {family}): a task "
            "still running then makes RabbitMQ close the worker's channel, the worker stops "
            "('Unrecoverable error: PRECONDITION_FAILED') and the task runs again, and again.",
            hint="Raise consumer_timeout in rabbitmq.conf (milliseconds) above the longest "
            "hard time limit and set TASKHUB_RABBITMQ_CONSUMER_TIMEOUT to it (seconds), as "
            "docker-compose.rabbitmq.yml does, or lower TASKHUB_TIME_LIMITS.",
            id="taskhub.W002",
        )
    ]


ALL = (
    check_installed_apps,
    check_setting_names,
    check_celery,
    check_middleware,
    check_report_storage,
    check_scheduler,
)


def register() -> None:
    for check in ALL:
        checks.register(check, "taskhub")


def errors_for_worker() -> list[checks.CheckMessage]:
    """The errors a worker must not start with (silenced ones left out)."""
    silenced = set(settings.SILENCED_SYSTEM_CHECKS)
    return [
        message
        for check in ALL
        for message in check()
        if message.is_serious() and message.id not in silenced
    ]
