"""taskhub's own settings (``TASKHUB_*``) and their defaults.

Values are read from ``django.conf.settings`` on access rather than copied at import,
so ``override_settings`` in tests and per-deploy settings modules both just work.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class TimeLimit:
    """A soft limit (the task may record why it stopped) and a hard one (the kill)."""

    soft: int
    hard: int


DEFAULTS: dict[str, Any] = {
    # Days a finished task result is kept before the nightly purge deletes it.
    "RESULT_RETENTION_DAYS": 30,
    # Longest side, in pixels, of each thumbnail; never upscaled.
    "THUMBNAIL_SIZES": (128, 256, 512),
    # Each thumbnail is written in each of these formats: Pillow's format name and its
    # save options.
    "THUMBNAIL_FORMATS": {"jpeg": {"quality": 85}, "webp": {"quality": 80, "method": 4}},
    # Bytes: a larger image upload is refused (413) instead of being stored.
    "MAX_UPLOAD_BYTES": 20 * 1024 * 1024,
    # Days a report file, or the files of a deleted image, are kept.
    "FILE_RETENTION_DAYS": 7,
    # Seconds a signed download URL of a report file lives, on a storage that signs its
    # URLs (S3): long enough to start the download, too short to be passed around.
    "DOWNLOAD_URL_SECONDS": 5 * 60,
    # Per worker: Celery's rate_limit string for the email tasks.
    "EMAIL_RATE_LIMIT": "10/s",
    # Times an email task runs again after a temporary failure (the mail server down or
    # asking to come back later, a locked database), with exponential backoff, before it
    # is recorded as failed.
    "EMAIL_MAX_RETRIES": 5,
    # A task delivered more often than this (each time its worker died under it) is
    # dead-lettered: recorded as failed and acknowledged, so the queue moves on.
    "MAX_DELIVERIES": 3,
    # Seconds after which an outbox message published but never started is published
    # again (the broker lost it). Far longer than Redis takes to bring back a dead
    # worker's messages (about 20 s, taskhub.worker.liveness); a message that merely waits
    # longer than this in a backlog gets one duplicate per period, which its idempotent
    # task makes a no-op.
    "OUTBOX_REDELIVER_AFTER": 15 * 60,
    # Seconds of RabbitMQ's consumer_timeout on your broker (rabbitmq.conf; RabbitMQ's own
    # default is 30 min). A delivery not acknowledged by then makes RabbitMQ close the
    # worker's channel; check taskhub.W002 compares it with the longest hard time limit.
    "RABBITMQ_CONSUMER_TIMEOUT": 30 * 60,
    # A secret that lets a monitor read /health/'s details (workers, queues, problems) as
    # ``Authorization: Bearer <token>``; without it, only staff see them. Empty: none.
    "HEALTH_TOKEN": "",
    # Seconds the health check gives the broker to answer, and the workers to ping back.
    "HEALTH_TIMEOUT": 1.0,
    # A queue deeper than this makes /health/ answer 503.
    "HEALTH_MAX_QUEUE_DEPTH": 10_000,
    # Seconds an unpublished outbox message may wait before the health check warns.
    "HEALTH_OUTBOX_MAX_AGE": 120,
    # Linked from the status page.
    "FLOWER_URL": "http://127.0.0.1:5555/",
    # The host's logout, a URL name or a path, for the pages' Log out button (allauth's
    # is "account_logout"); no button when it does not resolve.
    "LOGOUT_URL": "logout",
    # Who receives the reports of the kinds registered as daily, every night.
    "DAILY_REPORT_RECIPIENTS": (),
    # Absolute links in emails (a report's download link) start with this.
    "SITE_URL": "http://127.0.0.1:8000",
    # Seconds (soft, hard) per family of tasks.
    "TIME_LIMITS": {
        "email": (30, 60),
        "thumbnails": (60, 90),
        "reports": (45 * 60, 50 * 60),
        "maintenance": (10 * 60, 12 * 60),
        "django_tasks": (10 * 60, 12 * 60),
    },
}


def get(name: str) -> Any:
    """The value of ``TASKHUB_<name>``, or its default."""
    return getattr(settings, f"TASKHUB_{name}", DEFAULTS[name])


def time_limit(family: str) -> TimeLimit:
    soft, hard = get("TIME_LIMITS")[family]
    return TimeLimit(soft=soft, hard=hard)


def longest_time_limit() -> tuple[str, TimeLimit]:
    """The family whose hard limit is the longest, and its limits: what a broker's
    redelivery timer must outlast."""
    family = max(get("TIME_LIMITS"), key=lambda name: time_limit(name).hard)
    return family, time_limit(family)
