"""Settings for the taskhub project.

Every deploy-specific value comes from the environment. With nothing set, the project
runs on embedded defaults that need no server: SQLite and kombu's filesystem broker,
both under ``var/``. docker-compose and production set ``DATABASE_URL`` and
``CELERY_BROKER_URL`` to PostgreSQL and Redis.
"""

import json
import os
from importlib.util import find_spec
from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

from taskhub.worker.log import LOG_FORMAT

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TASKHUB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-development-only-key-never-used-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Check ids to silence, comma-separated (e.g. taskhub.E003 for a deliberately short
# Redis visibility timeout in a fault test).
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS")

# Django 6.0 has the Tasks API built in; on 5.2 it comes from the django-tasks backport.
TASKS_BACKPORT_APP = ["django_tasks"] if django.VERSION < (6, 0) else []
# Periodic jobs paused and edited in the admin, where django-celery-beat installs (its 2.9
# release declares Django<6.1); without it, Celery's own scheduler runs the same jobs.
BEAT_DATABASE_APP = ["django_celery_beat"] if find_spec("django_celery_beat") else []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *BEAT_DATABASE_APP,
    "django_celery_results",
    *TASKS_BACKPORT_APP,
    "taskhub",
    "project.demo",
]

# Django's Tasks API on taskhub's workers.
TASKS = {
    "default": {
        "BACKEND": "taskhub.backends.CeleryBackend",
        "QUEUES": ["high", "normal", "low"],
    }
}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "taskhub.middleware.PublishAfterResponseMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default; WAL and IMMEDIATE transactions let the web process, the workers
# and beat write to the same file without "database is locked" errors. Connections are
# kept for a minute (health-checked): a new PostgreSQL connection per request was 14% of
# the signup view's time (B1).
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# A process of many greenlets (a gevent worker, -P gevent) would hold one PostgreSQL
# connection per running task: DATABASE_POOL_SIZE gives it a pool of that many instead
# (psycopg_pool, from psycopg[pool]; taskhub.worker.green says so when it is missing).
if env_int("DATABASE_POOL_SIZE", 0) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 1, "max_size": env_int("DATABASE_POOL_SIZE", 0), "timeout": 60}
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that worker processes started by the tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "demo:home"
LOGOUT_REDIRECT_URL = "demo:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Email: the console in development, SMTP as soon as EMAIL_HOST is set.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "emails"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "taskhub <noreply@localhost>")

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# One configuration for the web, the workers and beat (project/celery.py hands it to
# Celery), in taskhub's format: every record names its task ("-" outside a task).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # One line per request: the server's (gunicorn's access log, runserver's
    # django.server) says each 4xx; django.request adds 5xx with their traceback. Django's
    # own console handler would print every django.* line a second time.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"level": "ERROR"},
    },
}


def filesystem_broker_options(var_dir: Path) -> dict[str, str | float]:
    """kombu's filesystem broker, the embedded default: its queues under ``var/broker/``
    (created here, on demand)."""
    folders = {
        "data_folder_in": var_dir / "broker" / "queues",
        "data_folder_out": var_dir / "broker" / "queues",
        "control_folder": var_dir / "broker" / "control",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {**{name: str(folder) for name, folder in folders.items()}, "polling_interval": 0.1}


def celery_settings_from_environment() -> dict[str, object]:
    """Every ``CELERY_*`` environment variable, as the Celery setting of that name: JSON
    when it parses as JSON (``1``, ``true``, ``{"visibility_timeout": 10800}``), else the
    text. taskhub.celery.configure(app) fills in whatever is left unset."""
    found: dict[str, object] = {}
    for name, value in os.environ.items():
        if name.startswith("CELERY_") and value:
            try:
                found[name] = json.loads(value)
            except json.JSONDecodeError:
                found[name] = value
    return found


# Celery: project/celery.py reads these through namespace="CELERY". Only what differs
# from taskhub's defaults (taskhub/celery.py) is here: the embedded broker for
# development, and whatever the environment sets. Setting CELERY_ALWAYS_EAGER (the old
# name) or CELERY_TASK_ALWAYS_EAGER (the new one) runs tasks inline.
CELERY_BROKER_URL = "filesystem://localhost/"
# The demo has no tasks of its own: what is unrouted goes to taskhub's `normal`, which its
# workers consume (a host keeps Celery's `celery`, or whatever it had).
CELERY_TASK_DEFAULT_QUEUE = "normal"
globals().update(celery_settings_from_environment())
if (
    CELERY_BROKER_URL.startswith("filesystem:")
    and "CELERY_BROKER_TRANSPORT_OPTIONS" not in globals()
):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)

# Errors to Sentry when SENTRY_DSN is set (web requests and tasks); unset, nothing changes.
if SENTRY_DSN := os.environ.get("SENTRY_DSN"):
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
        send_default_pii=False,
    )

# taskhub's own settings; see taskhub/conf.py for all of them and their defaults (set
# here only when the environment gives them, so that the defaults live in one place).
if os.environ.get("SITE_URL"):
    TASKHUB_SITE_URL = os.environ["SITE_URL"]
if os.environ.get("FLOWER_URL"):
    TASKHUB_FLOWER_URL = os.environ["FLOWER_URL"]
TASKHUB_DAILY_REPORT_RECIPIENTS = env_list("DAILY_REPORT_RECIPIENTS")
if os.environ.get("EMAIL_RATE_LIMIT"):
    TASKHUB_EMAIL_RATE_LIMIT = os.environ["EMAIL_RATE_LIMIT"]
if os.environ.get("RABBITMQ_CONSUMER_TIMEOUT"):
    TASKHUB_RABBITMQ_CONSUMER_TIMEOUT = int(os.environ["RABBITMQ_CONSUMER_TIMEOUT"])
