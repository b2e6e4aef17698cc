"""The health check, ``GET /health/``, ``manage.py taskhub_status`` and the status page,
against real brokers and a real worker."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_results.models import TaskResult
from kombu import Connection, Queue

from project.celery import app
from taskhub.models import DjangoTaskResult, TaskFailure
from taskhub.ops import failures, health
from taskhub.tasks import make_thumbnails, welcome
from taskhub.worker.queues import QUORUM_QUEUES
from taskhub.worker.schedule import BEAT_SCHEDULE, CELERY_SCHEDULER
from tests.redis_server import free_port
from tests.workers import publishing_to, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dead_broker(settings, tmp_path):
    """Nothing listens on this port; the URL carries a password that must not leak."""
    url = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    with publishing_to(settings, url, tmp_path):
        yield url


def queue(report: health.Health, name: str) -> health.QueueHealth:
    return next(q for q in report.queues if q.name == name)


def test_depths_are_counted_and_a_queue_without_a_worker_is_a_problem(redis_broker):
    for image_id in (1, 2, 3):
        make_thumbnails.delay(image_id)
    report = health.check(timeout=0.5)
    assert report.broker == "redis"
    assert report.broker_reachable
    assert [(q.name, q.depth, q.workers) for q in report.queues] == [
        ("high", 0, []),
        ("normal", 0, []),
        ("low", 3, []),
    ]
    assert report.problems == [
        "no worker consumes 'high'",
        "no worker consumes 'normal'",
        "no worker consumes 'low'",
    ]
    assert not report.healthy


def test_workers_answer_the_ping_with_the_queues_they_consume(
    redis_broker, tmp_path, client, staff_user
):
    client.force_login(staff_user)
    with (
        running_worker("high", redis_broker, tmp_path),
        running_worker("normal,low", redis_broker, tmp_path),
    ):
        report = health.check(timeout=1)
        response = client.get(reverse("taskhub:health"))
    assert report.healthy, report.problems
    assert sorted(report.workers.values()) == [["high"], ["low", "normal"]]
    assert len(queue(report, "high").workers) == 1
    assert queue(report, "low").workers == queue(report, "normal").workers
    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True
    assert body["problems"] == []
    assert {q["name"]: q["depth"] for q in body["queues"]} == {"high": 0, "normal": 0, "low": 0}


def test_a_queue_deeper_than_the_threshold_is_a_problem(redis_broker, settings):
    settings.TASKHUB_HEALTH_MAX_QUEUE_DEPTH = 2
    for username in ("a", "b", "c"):
        welcome.delay(username)
    report = health.check(timeout=0.2)
    assert "'high' holds 3 messages (over 2)" in report.problems


def test_an_unreachable_broker_answers_503_quickly_and_leaks_nothing(
    dead_broker, client, staff_user
):
    client.force_login(staff_user)
    started = time.monotonic()
    response = client.get(reverse("taskhub:health"))
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["healthy"] is False
    assert body["broker_reachable"] is False
    assert body["problems"][0].startswith("broker unreachable (")
    assert [q["depth"] for q in body["queues"]] == [None, None, None]
    assert elapsed < 5, f"the probe took {elapsed:.1f}s"
    text = response.content.decode()
    assert "s3cret" not in text
    assert "127.0.0.1" not in text


def test_a_broker_that_never_answers_is_given_up_on_within_the_timeout(settings, tmp_path):
    """An address that drops packets: the connect must time out, not hang."""
    with publishing_to(settings, "amqp://guest:guest@10.255.255.1:5672//", tmp_path):
        started = time.monotonic()
        report = health.check(timeout=1)
        elapsed = time.monotonic() - started
    assert not report.broker_reachable
    assert elapsed < 4, f"the check took {elapsed:.1f}s"


def test_the_filesystem_broker_depth_is_its_file_count(settings, tmp_path):
    with publishing_to(settings, "filesystem://localhost/", tmp_path):
        make_thumbnails.delay(1)
        make_thumbnails.delay(2)
        report = health.check(timeout=0.3)
    assert report.broker == "filesystem"
    assert queue(report, "low").depth == 2


def test_rabbitmq_depth_is_a_passive_declare(settings, tmp_path, rabbitmq_url):
    with publishing_to(settings, rabbitmq_url, tmp_path):
        with app.connection_for_write() as connection:
            for declared in QUORUM_QUEUES:
                declared(connection.default_channel).declare()
                declared(connection.default_channel).purge()
        welcome.delay("ada")
        report = health.check(timeout=0.3)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("high")
    assert report.broker == "amqp"
    assert queue(report, "high").depth == 1


def test_a_rabbitmq_queue_nobody_declared_holds_nothing_and_the_connection_survives(
    rabbitmq_url,
):
    with Connection(rabbitmq_url, connect_timeout=5) as connection:
        assert health.queue_depth(connection, f"taskhub-never-{uuid.uuid4().hex}") == 0
        Queue("taskhub-health-probe", auto_delete=True)(connection.default_channel).declare()
        assert health.queue_depth(connection, "taskhub-health-probe") == 0


def test_the_status_command_prints_a_table_and_exits_1_when_unhealthy(redis_broker, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("taskhub_status", "--timeout", "0.2")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "taskhub: UNHEALTHY" in out
    assert "broker:  redis, reachable" in out
    assert "PROBLEM: no worker consumes 'high'" in out


def test_the_status_command_json_and_exit_0_when_healthy(redis_broker, tmp_path, capsys):
    failed_django_task(finished_at=timezone.now())
    with running_worker("high,normal,low", redis_broker, tmp_path):
        call_command("taskhub_status", "--json", "--timeout", "1")
    body = json.loads(capsys.readouterr().out)
    assert body["healthy"] is True
    assert [q["name"] for q in body["queues"]] == ["high", "normal", "low"]
    [failure] = body["recent_failures"]
    assert (failure["api"], failure["task"]) == ("django", "tests.api_tasks.fail")
    assert failure["error"] == "ValueError: no such invoice"


def failed_django_task(**fields) -> DjangoTaskResult:
    traceback = "Traceback (most recent call last):\n  ...\nValueError: no such invoice\n"
    return DjangoTaskResult.objects.create(
        id=str(uuid.uuid4()),
        task_path="tests.api_tasks.fail",
        backend="default",
        queue_name="normal",
        status="FAILED",
        errors=[{"exception_class_path": "builtins.ValueError", "traceback": traceback}],
        worker_ids=["celery@host"],
        **fields,
    )


def test_recent_failures_of_both_apis_are_listed_newest_first(db):
    now = timezone.now()
    failed_django_task(finished_at=now - timedelta(minutes=5))
    TaskFailure.objects.create(
        task_id="c-1", task_name="taskhub.generate_report", exception="LookupError"
    )
    failed_django_task(finished_at=now - timedelta(minutes=10))
    assert [(f.api, f.task_id) for f in failures.recent(2)] == [
        ("celery", "c-1"),
        ("django", DjangoTaskResult.objects.order_by("-finished_at")[0].id),
    ]
    assert [f.api for f in failures.recent(10)] == ["celery", "django", "django"]


def test_the_status_page_is_for_staff_only(redis_broker, client, user, staff_user):
    url = reverse("taskhub:status")
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/"), "the site's login, not the admin's"
    client.force_login(user)
    assert client.get(url).status_code == 403, "not staff: forbidden"


def test_the_status_page_shows_failures_jobs_and_links_without_asking_the_workers(
    redis_broker, client, staff_user, monkeypatch
):
    TaskFailure.objects.create(
        task_id="f-1",
        task_name="taskhub.make_thumbnails",
        exception="LookupError",
        message="image 7 does not exist",
    )
    TaskResult.objects.create(
        task_id="r-1", task_name="taskhub.relay_outbox", status="SUCCESS", date_done=timezone.now()
    )
    failed_django_task(finished_at=timezone.now())
    health.check()  # a probe's, a moment ago: what the page shows at once
    monkeypatch.setattr(health, "broker_facts", None)  # the page must not ask the broker
    client.force_login(staff_user)
    response = client.get(reverse("taskhub:status"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "image 7 does not exist" in html
    assert "tests.api_tasks.fail" in html and "no such invoice" in html
    assert "taskhub.make_thumbnails" in html
    assert 'href="http://127.0.0.1:5555/"' in html
    assert reverse("taskhub:health") in html, "the queues are refreshed after the page loads"
    jobs = {job.name: job for job in response.context["jobs"]}
    assert jobs["taskhub: relay the outbox"].last_run_at is not None, "from its result"


def test_without_django_celery_beat_the_jobs_show_as_celerys_scheduler_runs_them(db, settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django_celery_beat"]
    TaskResult.objects.create(
        task_id="r-2", task_name="taskhub.relay_outbox", status="SUCCESS", date_done=timezone.now()
    )
    assert app.conf.beat_scheduler == CELERY_SCHEDULER
    jobs = {job.name: job for job in health.beat_facts()}
    assert set(BEAT_SCHEDULE) <= set(jobs) == set(app.conf.beat_schedule)
    assert {job.state for job in jobs.values()} == {"yes"}, "Celery's scheduler runs them all"
    assert jobs["taskhub: relay the outbox"].last_run_at is not None, "from its newest result"


def test_health_tells_anonymous_callers_the_verdict_only(
    redis_broker, client, staff_user, settings
):
    anonymous = client.get(reverse("taskhub:health"))
    assert anonymous.status_code == 503
    assert anonymous.json() == {"healthy": False}, "no hostnames, queues or jobs"
    settings.TASKHUB_HEALTH_TOKEN = "s3cret-token"
    wrong = client.get(reverse("taskhub:health"), headers={"Authorization": "Bearer nope"})
    assert wrong.json() == {"healthy": False}
    monitor = client.get(
        reverse("taskhub:health"), headers={"Authorization": "Bearer s3cret-token"}
    )
    assert "no worker consumes 'high'" in monitor.json()["problems"]
    client.force_login(staff_user)
    assert "queues" in client.get(reverse("taskhub:health")).json()


class Broadcast:
    """``app.control.inspect`` as the health check calls it, answering from ``workers``
    and noting each ``limit`` it was given."""

    def __init__(self, workers: dict[str, list[str]]) -> None:
        self.workers, self.limits = workers, []

    def __call__(self, timeout, connection, limit):
        self.limits.append(limit)
        answers = list(self.workers.items())[: limit or None]
        answer = {name: [{"name": q} for q in queues] for name, queues in answers}
        return type("Inspect", (), {"active_queues": lambda self: answer})()


def test_the_broadcast_stops_at_as_many_workers_as_answered_last_time(monkeypatch):
    """The fast path of ``/health/``: without it every check waited its whole timeout."""
    from django.core.cache import cache

    cache.delete(health.WORKERS_SEEN)
    broadcast = Broadcast({"a": ["high"], "b": ["normal", "low"]})
    monkeypatch.setattr(app.control, "inspect", broadcast)
    queues = ["high", "normal", "low"]
    assert health.worker_queues(None, 1.0, queues) == {"a": ["high"], "b": ["low", "normal"]}
    assert health.worker_queues(None, 1.0, queues) == {"a": ["high"], "b": ["low", "normal"]}
    assert broadcast.limits == [None, 2], "the second asks for the two that answered before"
    broadcast.workers = {"c": ["high"], "a": ["high"], "b": ["normal", "low"]}
    assert set(health.worker_queues(None, 1.0, queues)) == {"a", "b", "c"}
    assert broadcast.limits[2:] == [2, None], "a queue left uncovered asks everyone again"
    assert health.cached(health.WORKERS_SEEN) == 3
