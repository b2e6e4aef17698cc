"""System checks protect every host: each misconfiguration is an error with its id,
and a worker on a misconfigured host refuses to start."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from kombu import Queue

from taskhub import checks
from tests.celery_apps import new_app


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_the_demo_project_passes_every_check():
    call_command("check", "--fail-level", "WARNING")
    assert checks.celery_errors(new_app()) == []


def test_an_app_that_configure_never_saw_is_e001():
    assert ids(checks.celery_errors(new_app(configure=False))) == ["taskhub.E001"]


def test_a_taskhub_task_routed_to_an_undeclared_queue_is_e002(settings):
    settings.CELERY_TASK_ROUTES = [{"taskhub.welcome": {"queue": "emails"}}]
    errors = checks.celery_errors(new_app())
    assert ids(errors) == ["taskhub.E002"]
    assert "taskhub.welcome is routed to the queue 'emails'" in errors[0].msg


def test_queues_declared_by_the_host_without_taskhubs_are_e002(settings):
    settings.CELERY_TASK_QUEUES = [Queue("normal"), Queue("low")]
    errors = checks.celery_errors(new_app())
    assert set(ids(errors)) == {"taskhub.E002"}
    assert any("'high'" in e.msg for e in errors)


@pytest.mark.parametrize(("timeout", "errors"), [(5, ["taskhub.E003"]), (8, []), (7200, [])])
def test_a_redis_visibility_timeout_too_short_for_liveness_is_e003(settings, timeout, errors):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": timeout}
    assert ids(checks.celery_errors(new_app())) == errors


@pytest.mark.parametrize("timeout", [600, 50 * 60])
def test_an_sqs_visibility_timeout_not_above_the_longest_hard_limit_is_e003(settings, timeout):
    settings.CELERY_BROKER_URL = "sqs://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": timeout}
    assert ids(checks.celery_errors(new_app())) == ["taskhub.E003"]


@pytest.mark.parametrize("scheme", ["amqp", "pyamqp"])
@pytest.mark.parametrize(("timeout", "warnings"), [(None, ["taskhub.W002"]), (7200, [])])
def test_rabbitmqs_consumer_timeout_not_above_the_longest_hard_limit_is_w002(
    settings, scheme, timeout, warnings
):
    settings.CELERY_BROKER_URL = f"{scheme}://guest:guest@127.0.0.1:5672//"
    if timeout:
        settings.TASKHUB_RABBITMQ_CONSUMER_TIMEOUT = timeout
    messages = checks.celery_errors(new_app())
    assert ids(messages) == warnings
    if warnings:
        assert not messages[0].is_serious(), "a worker still starts: the broker may be right"
        assert "(1800s, TASKHUB_RABBITMQ_CONSUMER_TIMEOUT)" in messages[0].msg
        assert "(3000s, reports)" in messages[0].msg


def test_kombus_own_visibility_timeout_counts_when_the_host_sets_none(settings):
    settings.CELERY_BROKER_URL = "sqs://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    assert checks.celery_errors(new_app()) == [], "kombu's 1 h outlasts the 50 min reports"
    settings.TASKHUB_TIME_LIMITS = {"email": (1, 2), "reports": (3000, 3600)}
    assert ids(checks.celery_errors(new_app())) == ["taskhub.E003"]


def test_on_redis_taskhubs_transport_fills_in_the_visibility_timeout(settings):
    """A Sentinel host's options name the master and nothing else: taskhub's transport
    brings its 20 s, which passes; kombu's own transport would bring an hour."""
    settings.CELERY_BROKER_URL = "sentinel://127.0.0.1:26379"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"master_name": "mymaster"}
    assert checks.celery_errors(new_app()) == []
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"master_name": "x", "visibility_timeout": 5}
    assert ids(checks.celery_errors(new_app())) == ["taskhub.E003"]


def test_acks_late_off_is_e004(settings):
    settings.CELERY_TASK_ACKS_LATE = False
    assert ids(checks.celery_errors(new_app())) == ["taskhub.E004"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("CELERY_ACCEPT_CONTENT", ["json", "pickle"]),
        ("CELERY_RESULT_ACCEPT_CONTENT", ["application/x-python-serialize"]),
        ("CELERY_TASK_SERIALIZER", "pickle"),
    ],
)
def test_pickle_anywhere_is_e005(settings, setting, value):
    setattr(settings, setting, value)
    assert "taskhub.E005" in ids(checks.celery_errors(new_app()))


def test_a_missing_required_app_is_e006(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django_celery_results"]
    errors = checks.check_installed_apps()
    assert ids(errors) == ["taskhub.E006"]
    assert "'django_celery_results'" in errors[0].msg


def test_django_celery_beat_is_optional_and_i001_says_which_scheduler_runs(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django_celery_beat"]
    assert checks.check_installed_apps() == []
    [info] = checks.check_scheduler()
    assert (info.id, info.level) == ("taskhub.I001", 20)
    assert "Celery's own scheduler (celery.beat:PersistentScheduler)" in info.msg
    settings.CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
    [error] = checks.check_scheduler()
    assert error.id == "taskhub.E006"
    assert "'django_celery_beat' is not in INSTALLED_APPS" in error.msg


def test_report_files_under_media_root_are_e009(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    assert checks.check_report_storage() == [], "the default folder is beside MEDIA_ROOT"
    public = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    settings.STORAGES = {
        **settings.STORAGES,
        "taskhub_reports": {**public, "OPTIONS": {"location": tmp_path / "media" / "reports"}},
    }
    [error] = checks.check_report_storage()
    assert error.id == "taskhub.E009"
    assert "served as media" in error.msg
    settings.STORAGES["taskhub_reports"]["OPTIONS"]["location"] = tmp_path / "private"
    settings.STORAGES = dict(settings.STORAGES)
    assert checks.check_report_storage() == []
    del settings.STORAGES["taskhub_reports"]
    settings.STORAGES = dict(settings.STORAGES)
    settings.MEDIA_ROOT = ""
    assert ids(checks.check_report_storage()) == ["taskhub.E009"]


def test_a_misspelt_taskhub_setting_is_e007_with_a_suggestion(settings):
    settings.TASKHUB_EMAIL_RATELIMIT = "1/s"
    [error] = checks.check_setting_names()
    assert error.id == "taskhub.E007"
    assert error.hint == "Did you mean TASKHUB_EMAIL_RATE_LIMIT?"


def test_the_outbox_without_its_middleware_is_w001(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != checks.MIDDLEWARE]
    assert ids(checks.check_middleware()) == ["taskhub.W001"]


def test_manage_py_check_fails_on_an_error(settings):
    settings.CELERY_TASK_ACKS_LATE = False
    with pytest.raises(SystemCheckError, match=r"taskhub\.E004"):
        call_command("check")


def test_a_worker_refuses_to_start_and_says_why(settings):
    from taskhub.apps import worker_starting

    settings.CELERY_TASK_ACKS_LATE = False
    with pytest.raises(
        SystemExit, match=r"(?s)taskhub refuses to start this worker:.*taskhub.E004"
    ):
        worker_starting()
    settings.SILENCED_SYSTEM_CHECKS = ["taskhub.E004"]
    worker_starting()
