"""Every taskhub task lands on its queue; the rest on ``normal``; settings can override."""

import pytest
from celery import Celery

from project.celery import app
from taskhub import task_names
from taskhub.worker.queues import HIGH, LOW, NORMAL, ROUTES, TASK_QUEUES
from tests.celery_apps import new_app


@pytest.fixture(autouse=True, scope="module")
def discovered_tasks():
    """What a worker does at start: import every installed app's tasks module."""
    app.loader.import_default_modules()


def queue_of(celery_app: Celery, name: str) -> str:
    return celery_app.amqp.router.route({}, name)["queue"].name


def test_three_queues_are_declared():
    assert [q.name for q in TASK_QUEUES] == [HIGH, NORMAL, LOW]
    assert {q.routing_key for q in TASK_QUEUES} == {HIGH, NORMAL, LOW}


@pytest.mark.parametrize(("task", "queue"), sorted(ROUTES.items()))
def test_every_route_names_a_registered_task_and_resolves_to_its_queue(task, queue):
    assert task in app.tasks
    assert queue_of(app, task) == queue


def test_every_taskhub_task_has_a_route_and_its_name_is_spelled_in_one_place():
    registered = {name for name in app.tasks if name.startswith(task_names.PREFIX)}
    spelled = {value for key, value in vars(task_names).items() if key.isupper()} - {
        task_names.PREFIX
    }
    assert registered == set(ROUTES) == spelled


def test_the_email_a_user_waits_for_is_high_and_bulk_work_is_low():
    assert ROUTES["taskhub.welcome"] == HIGH
    assert ROUTES["taskhub.make_thumbnails"] == LOW
    assert ROUTES["taskhub.generate_report"] == LOW


def test_an_unrouted_task_goes_to_normal():
    assert queue_of(app, "someone_else.unrouted") == NORMAL


@pytest.mark.parametrize(
    "router", ["taskhub.worker.queues.route_task", "taskhub.queues.route_task"]
)
def test_a_settings_override_wins_over_taskhub_routes(settings, router):
    """The router listed by the host, under its name or its name before 0.2 (older
    READMEs showed it), keeps its place after the host's own route."""
    settings.CELERY_TASK_ROUTES = [{"taskhub.welcome": {"queue": NORMAL}}, router]
    overridden = new_app()
    assert queue_of(overridden, "taskhub.welcome") == NORMAL
    assert queue_of(overridden, "taskhub.make_thumbnails") == LOW
    assert overridden.conf.task_routes[-1] == "taskhub.worker.queues.route_task"


def test_a_host_routes_table_alone_keeps_taskhubs_routes_behind_it(settings):
    settings.CELERY_TASK_ROUTES = {"taskhub.welcome": {"queue": NORMAL}, "myapp.*": {"queue": LOW}}
    composed = new_app()
    assert queue_of(composed, "taskhub.welcome") == NORMAL
    assert queue_of(composed, "myapp.export") == LOW
    assert queue_of(composed, "taskhub.make_thumbnails") == LOW, "taskhub's router still applies"
