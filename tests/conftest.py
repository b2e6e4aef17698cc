from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from taskhub.worker.queues import QUORUM_QUEUES
from tests.hosts import build_wheel
from tests.workers import publishing_to, redis_database
from tools.workers import purge_rabbitmq_queues, rabbitmq_vhost


@pytest.fixture(autouse=True)
def eager_and_private_media(request, settings, tmp_path):
    """Tasks run inline unless a test starts real workers; files go to a temp folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    if request.node.get_closest_marker("integration") is None:
        settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("ada", "ada@example.com", "correct horse 42")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("alan", "alan@example.com", "correct horse 42")


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        "grace", "grace@example.com", "correct horse 42", is_staff=True
    )


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def redis_broker(settings, tmp_path):
    """Redis database 12, flushed, with this process's Celery app publishing to it."""
    with redis_database(12) as url, publishing_to(settings, url, tmp_path):
        yield url


@pytest.fixture(scope="session")
def rabbitmq_session_url():
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture
def rabbitmq_url(rabbitmq_session_url):
    """This session's RabbitMQ virtual host, with taskhub's queues purged before and
    after each test (a queue not declared yet has nothing to purge)."""

    names = [queue.name for queue in QUORUM_QUEUES]
    purge_rabbitmq_queues(rabbitmq_session_url, names)
    yield rabbitmq_session_url
    purge_rabbitmq_queues(rabbitmq_session_url, names)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """taskhub's wheel, built once for every test that installs it in a host project."""
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def probe_dir(tmp_path) -> Path:
    """Where ``tests.probe_tasks`` record their runs and effects."""
    folder = tmp_path / "probe"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def health_check_forgets_the_workers():
    """The health check remembers how many workers answered it and its last answer
    (taskhub.ops.health), in Django's cache, which the tests' live servers share: each
    test starts without."""
    from django.core.cache import cache

    from taskhub.ops.health import LAST_REPORT, WORKERS_SEEN

    cache.delete_many([WORKERS_SEEN, LAST_REPORT])
