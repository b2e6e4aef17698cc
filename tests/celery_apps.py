"""The one factory of Celery apps for tests: what project/celery.py does, on demand."""

from celery import Celery

import taskhub.celery


def new_app(*, configure: bool = True) -> Celery:
    """A Celery app read from the current Django settings, as a host's celery.py makes
    it: with ``taskhub.celery.configure(app)``, or without it (a host that forgot)."""
    app = Celery("tests", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    if configure:
        taskhub.celery.configure(app)
    return app
