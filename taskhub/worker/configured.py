"""Which Celery apps ``taskhub.celery.configure`` was called on. A taskhub task sent by
any other app would go to a queue no taskhub worker consumes: the task refuses to be
sent (``taskhub.delivery.base``) and check ``taskhub.E001`` fails."""

import weakref

from celery import Celery

_configured: "weakref.WeakSet[Celery]" = weakref.WeakSet()


def mark(app: Celery) -> None:
    _configured.add(app)


def is_configured(app: Celery) -> bool:
    return app in _configured
