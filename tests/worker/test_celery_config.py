"""``taskhub.celery.configure(app)``: queues, routes, beat, safe defaults, eager mode under
both names; the host's own settings always win; taskhub's settings read on access."""

import pytest
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from project.celery import app
from taskhub import conf
from taskhub.celery import MIN_VISIBILITY_TIMEOUT, broker_transport_options
from taskhub.emails import sending as emails
from taskhub.tasks import make_thumbnails, purge_task_results, welcome
from taskhub.worker import redis_broker
from taskhub.worker.liveness import RedisLiveness
from taskhub.worker.schedule import BEAT_SCHEDULE, CELERY_SCHEDULER
from tests.celery_apps import new_app


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
    mixed = new_app()
    assert mixed.conf.task_always_eager is True
    assert mixed.conf.task_default_queue == "normal"
    assert mixed.conf.accept_content == ["json"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["CELERY_ALWAYS_EAGER", "CELERY_TASK_ALWAYS_EAGER"])
def test_exceptions_propagate_in_eager_mode_under_either_name(settings, name):
    del settings.CELERY_TASK_ALWAYS_EAGER
    setattr(settings, name, True)
    with pytest.raises(emails.EmailRejected, match="no user named 'nobody'"):
        welcome.delay("nobody")


def test_only_json_is_accepted():
    assert app.conf.accept_content == ["json"]
    assert app.conf.result_accept_content == ["json"]
    assert app.conf.task_serializer == "json"


def test_at_least_once_delivery_defaults():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.task_default_queue == "normal"
    assert app.conf.result_backend == "django-db"
    assert app.conf.task_eager_propagates is True


def test_an_app_without_configure_has_none_of_it():
    bare = new_app(configure=False)
    assert bare.conf.task_acks_late is False
    assert bare.conf.task_queues is None


def test_the_hosts_default_queue_stays_and_is_declared_beside_taskhubs(settings):
    """A host's unrouted tasks (and a backlog of them) stay on Celery's ``celery`` queue,
    and a worker with no -Q consumes it with taskhub's three."""
    del settings.CELERY_TASK_DEFAULT_QUEUE  # the demo's own choice
    configured = new_app()
    assert configured.conf.task_default_queue == "celery"
    assert [q.name for q in configured.conf.task_queues] == ["celery", "high", "normal", "low"]
    assert configured.amqp.router.route({}, "host.unrouted")["queue"].name == "celery"
    assert configured.amqp.router.route({}, "taskhub.welcome")["queue"].name == "high"
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    host_queue, *own = new_app().conf.task_queues
    assert (host_queue.name, host_queue.queue_arguments) == ("celery", None), "as Celery has it"
    assert host_queue.exchange.name == "celery"
    assert {q.queue_arguments["x-queue-type"] for q in own} == {"quorum"}


def test_results_expire_on_any_backend_but_the_one_taskhub_purges(settings):
    assert new_app().conf.result_expires is None, "django-db: the nightly purge"
    settings.CELERY_RESULT_BACKEND = "redis://127.0.0.1:6379/1"
    assert new_app().conf.result_expires.days == conf.get("RESULT_RETENTION_DAYS")
    settings.TASKHUB_RESULT_RETENTION_DAYS = 3
    assert new_app().conf.result_expires.days == 3


def test_without_django_celery_beat_the_scheduler_is_celerys_own(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django_celery_beat"]
    assert new_app().conf.beat_scheduler == CELERY_SCHEDULER
    settings.CELERY_BEAT_SCHEDULER = "myproject.schedulers:Mine"
    assert new_app().conf.beat_scheduler == "myproject.schedulers:Mine", "the host's wins"


@pytest.mark.parametrize(
    ("setting", "key", "value"),
    [
        ("CELERY_TASK_ACKS_LATE", "task_acks_late", False),
        ("CELERY_ACKS_LATE", "task_acks_late", False),  # the old name
        ("CELERY_WORKER_PREFETCH_MULTIPLIER", "worker_prefetch_multiplier", 4),
        ("CELERY_TASK_DEFAULT_QUEUE", "task_default_queue", "high"),
        ("CELERY_BROKER_TRANSPORT_OPTIONS", "broker_transport_options", {"x": 1}),
        ("CELERY_TIMEZONE", "timezone", "Europe/Paris"),
    ],
)
def test_a_setting_the_host_sets_wins_even_when_it_changes_later(settings, setting, key, value):
    configured = new_app()
    assert configured.conf[key] != value
    setattr(settings, setting, value)
    assert configured.conf[key] == value


def test_the_timezone_follows_django(settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    assert new_app().conf.timezone == "Pacific/Auckland"


def test_redis_recovers_by_liveness_and_sqs_outlasts_the_longest_task(settings):
    options = broker_transport_options("redis://127.0.0.1:6379/0")
    assert options["visibility_timeout"] == redis_broker.VISIBILITY_TIMEOUT
    assert options["unacked_restore_interval"] == redis_broker.RESTORE_INTERVAL
    assert options["unacked_restore_throttle"] == 1, "every sweep scans"
    assert options["max_retries"] == 0, "a publisher fails fast; the outbox keeps the message"
    longest = max(conf.time_limit(family).hard for family in conf.DEFAULTS["TIME_LIMITS"])
    assert broker_transport_options("sqs://")["visibility_timeout"] == MIN_VISIBILITY_TIMEOUT
    assert longest < MIN_VISIBILITY_TIMEOUT
    settings.TASKHUB_TIME_LIMITS = {**conf.DEFAULTS["TIME_LIMITS"], "reports": (3600, 3 * 3600)}
    assert broker_transport_options("sqs://")["visibility_timeout"] == 6 * 3600
    redis_timeout = broker_transport_options("redis://h/0")["visibility_timeout"]
    assert redis_timeout == redis_broker.VISIBILITY_TIMEOUT
    assert broker_transport_options("amqp://h//") == {"confirm_publish": True, "max_retries": 0}
    assert broker_transport_options("filesystem://") == {}


def test_rabbitmq_gets_quorum_queues_on_a_topic_exchange_and_publisher_confirms(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    del settings.CELERY_BROKER_TRANSPORT_OPTIONS  # the demo's, for its filesystem broker
    conf = new_app().conf
    assert [q.queue_arguments for q in conf.task_queues] == [{"x-queue-type": "quorum"}] * 3
    assert {q.exchange.type for q in conf.task_queues} == {"topic"}, "native delayed delivery"
    assert conf.broker_transport_options == {"confirm_publish": True, "max_retries": 0}
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    assert [q.queue_arguments for q in new_app().conf.task_queues] == [None] * 3


def test_workers_of_a_configured_app_stamp_their_redis_messages():
    assert RedisLiveness in new_app().steps["consumer"]


def test_the_periodic_jobs_are_merged_with_the_hosts_own(settings):
    mine = {"task": "myapp.tick", "schedule": 60}
    own_relay = {"task": "taskhub.relay_outbox", "schedule": 5}
    settings.CELERY_BEAT_SCHEDULE = {"myapp: tick": mine, "taskhub: relay the outbox": own_relay}
    schedule = new_app().conf.beat_schedule
    assert schedule["myapp: tick"] == mine
    assert schedule["taskhub: relay the outbox"] == own_relay, "the host's entry wins"
    assert set(BEAT_SCHEDULE) <= set(schedule)
    assert isinstance(schedule["taskhub: daily reports"]["schedule"], crontab)


@pytest.mark.django_db
def test_a_task_sent_through_an_app_that_was_never_configured_is_refused(settings):
    del settings.CELERY_TASK_ALWAYS_EAGER
    bare = new_app(configure=False)
    with pytest.raises(ImproperlyConfigured, match=r"configure\(app\) was not called"):
        bare.tasks["taskhub.welcome"].delay("ada")


@pytest.mark.parametrize(
    ("task", "family"),
    [
        ("taskhub.welcome", "email"),
        ("taskhub.send_email", "email"),
        ("taskhub.make_thumbnails", "thumbnails"),
        ("taskhub.generate_report", "reports"),
        ("taskhub.send_daily_reports", "reports"),
        ("taskhub.purge_task_results", "maintenance"),
        ("taskhub.relay_outbox", "maintenance"),
    ],
)
def test_every_task_has_the_time_limits_of_its_family(task, family):
    limit = conf.time_limit(family)
    assert (app.tasks[task].soft_time_limit, app.tasks[task].time_limit) == (
        limit.soft,
        limit.hard,
    )
    assert limit.soft < limit.hard


def test_limits_retries_and_rate_limits_are_read_when_used(settings):
    settings.TASKHUB_TIME_LIMITS = {**conf.DEFAULTS["TIME_LIMITS"], "thumbnails": (5, 7)}
    settings.TASKHUB_EMAIL_RATE_LIMIT = "2/m"
    settings.TASKHUB_EMAIL_MAX_RETRIES = 9
    assert (make_thumbnails.soft_time_limit, make_thumbnails.time_limit) == (5, 7)
    assert welcome.rate_limit == "2/m"
    assert welcome.max_retries == 9
