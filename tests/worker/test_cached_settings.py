"""Celery's reads of its configuration are kept, and forgotten when a setting changes."""

from django.test import override_settings

from project.celery import app
from taskhub.celery import DB_REUSE_MAX
from taskhub.worker import green
from taskhub.worker.cached_settings import CachedConfiguration
from tests.celery_apps import new_app


def test_the_app_reads_its_configuration_through_the_cache():
    app.conf.task_always_eager  # noqa: B018 - the first read configures the app
    assert type(app.conf) is CachedConfiguration
    assert type(new_app(configure=False).conf) is not CachedConfiguration


def test_a_changed_django_setting_is_read_anew(settings):
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


def test_every_change_to_the_view_is_read_anew():
    conf = new_app().conf
    assert conf.task_default_priority is None
    conf.task_default_priority = 3
    assert conf["task_default_priority"] == 3
    conf.update(task_default_priority=4)
    assert conf.task_default_priority == 4
    del conf["task_default_priority"]
    assert conf.task_default_priority is None
    conf.add_defaults({"task_default_priority": 6})
    assert conf.task_default_priority == 6
    assert "host_setting" not in conf.changes
    conf.setdefault("host_setting", 1)
    assert conf.host_setting == 1
    conf.pop("host_setting")
    assert conf.get("host_setting") is None
    other = new_app().conf
    other.task_default_priority = 8
    conf.swap_with(other)
    assert conf.task_default_priority == 8


def test_a_copy_caches_apart_from_its_original():
    conf = new_app().conf
    assert conf.task_default_priority is None
    copied = conf.copy()
    copied.task_default_priority = 2
    assert (conf.task_default_priority, copied.task_default_priority) == (None, 2)


def test_a_computed_default_is_computed_on_every_read(monkeypatch):
    """Database connections are kept across tasks, unless gevent patched the process:
    that follows the process, not a setting."""
    conf = new_app().conf
    assert conf.CELERY_DB_REUSE_MAX == DB_REUSE_MAX
    monkeypatch.setattr(green, "is_patched", lambda: True)
    assert conf.CELERY_DB_REUSE_MAX is None
