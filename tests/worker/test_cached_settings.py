"""Celery's reads of Django's settings are kept, and forgotten when a setting changes."""

from django.test import override_settings

from project.celery import app
from taskhub.worker.cached_settings import CachedSettings


def test_the_app_reads_djangos_settings_through_the_cache():
    app.conf.task_always_eager  # noqa: B018 - the first read configures the app
    assert any(isinstance(m, CachedSettings) for m in app.conf.maps)


def test_a_changed_setting_is_read_anew(settings):
    assert app.conf.task_default_priority is None
    settings.CELERY_TASK_DEFAULT_PRIORITY = 5
    assert app.conf.task_default_priority == 5
    with override_settings(CELERY_TASK_DEFAULT_PRIORITY=7):
        assert app.conf.task_default_priority == 7
    assert app.conf.task_default_priority == 5
    del settings.CELERY_TASK_DEFAULT_PRIORITY
    assert app.conf.task_default_priority is None


def test_the_old_setting_names_still_count(settings):
    settings.CELERY_ALWAYS_EAGER = True
    assert app.conf.task_always_eager is True
