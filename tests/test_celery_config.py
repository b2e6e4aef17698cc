"""How the Celery app is configured: eager mode under both names, and the safe defaults."""

import pytest
from celery import Celery

from project.celery import app
from project.settings import broker_transport_options
from taskhub import conf, emails
from taskhub.tasks import purge_task_results, welcome


def fresh_app() -> Celery:
    """A Celery app configured from the current settings, the way project/celery.py does."""
    new = Celery("check", set_as_current=False)
    new.config_from_object("django.conf:settings", namespace="CELERY")
    return new


@pytest.mark.django_db
def test_new_name_runs_tasks_inline(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    result = purge_task_results.delay()
    assert result.successful()
    assert result.get() == 0


@pytest.mark.django_db
def test_old_name_celery_always_eager_runs_tasks_inline(settings):
    del settings.CELERY_TASK_ALWAYS_EAGER
    settings.CELERY_ALWAYS_EAGER = True
    assert app.conf.task_always_eager is True
    assert purge_task_results.delay().successful()


@pytest.mark.django_db
def test_without_either_name_tasks_are_sent_to_the_broker(settings):
    del settings.CELERY_TASK_ALWAYS_EAGER
    assert app.conf.task_always_eager is False


def test_old_name_mixed_with_new_style_settings_does_not_crash(settings):
    del settings.CELERY_TASK_ALWAYS_EAGER
    settings.CELERY_ALWAYS_EAGER = True
    mixed = fresh_app()
    assert mixed.conf.task_always_eager is True
    assert mixed.conf.task_default_queue == "normal"
    assert mixed.conf.accept_content == ["json"]


@pytest.mark.django_db
def test_exceptions_propagate_in_eager_mode():
    with pytest.raises(emails.EmailRejected, match="no user named 'nobody'"):
        welcome.delay("nobody")


def test_only_json_is_accepted():
    assert app.conf.accept_content == ["json"]
    assert app.conf.result_accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert "pickle" not in app.conf.accept_content


def test_at_least_once_delivery_defaults():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.task_default_queue == "normal"
    assert app.conf.result_backend == "django-db"


def test_redis_visibility_timeout_outlasts_the_longest_task(tmp_path):
    options = broker_transport_options("redis://127.0.0.1:6379/0", tmp_path)
    longest = max(conf.time_limit(family).hard for family in conf.DEFAULTS["TIME_LIMITS"])
    assert options["visibility_timeout"] > longest


def test_filesystem_broker_lives_under_var_and_is_created_on_demand(tmp_path):
    options = broker_transport_options("filesystem://", tmp_path / "var")
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        assert options[key].startswith(str(tmp_path / "var" / "broker"))
        assert (tmp_path / "var" / "broker").is_dir()


@pytest.mark.parametrize(
    ("task", "family"),
    [
        ("taskhub.welcome", "email"),
        ("taskhub.send_email", "email"),
        ("taskhub.make_thumbnails", "thumbnails"),
        ("taskhub.generate_report", "reports"),
        ("taskhub.send_daily_sales_report", "reports"),
        ("taskhub.purge_task_results", "maintenance"),
        ("taskhub.relay_outbox", "maintenance"),
    ],
)
def test_every_task_has_the_time_limits_of_its_family(task, family):
    app.loader.import_default_modules()
    limit = conf.time_limit(family)
    assert (app.tasks[task].soft_time_limit, app.tasks[task].time_limit) == (
        limit.soft,
        limit.hard,
    )
    assert limit.soft < limit.hard
