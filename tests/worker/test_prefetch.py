"""A worker of short tasks only takes several messages per process; one that consumes
``low`` (long reports) takes one; the host's choice always wins."""

from types import SimpleNamespace

import pytest

from project.celery import app as project_app
from taskhub.celery import set_by_host
from taskhub.worker import prefetch
from tests.celery_apps import new_app
from tests.workers import publishing_to, redis_database, running_worker


def worker_on(queues: list[str], multiplier: int = 1, pool: str = "prefork"):
    app = new_app()
    app.amqp.queues.select(queues)
    return SimpleNamespace(app=app, prefetch_multiplier=multiplier, pool_cls=pool)


@pytest.mark.parametrize(
    ("queues", "expected"),
    [(["high"], prefetch.SHORT_WORK), (["high", "normal"], prefetch.SHORT_WORK),
     (["normal", "low"], 1), (["low"], 1)],
)  # fmt: skip
def test_prefetch_follows_the_kind_of_work(queues, expected):
    worker = worker_on(queues)
    prefetch.choose(worker, host_chose=False)
    assert worker.prefetch_multiplier == expected


def test_a_worker_of_every_queue_consumes_low_and_takes_one():
    worker = SimpleNamespace(app=new_app(), prefetch_multiplier=1, pool_cls="prefork")
    prefetch.choose(worker, host_chose=False)
    assert worker.prefetch_multiplier == 1


@pytest.mark.parametrize(
    ("pool", "expected"),
    [("taskhub.worker.async_pool:TaskPool", 1), ("threads", prefetch.SHORT_WORK),
     ("gevent", prefetch.SHORT_WORK)],
)  # fmt: skip
def test_an_asyncio_pool_takes_what_it_runs_and_no_more(pool, expected):
    """Its ``-c`` is already hundreds of tasks in flight."""
    worker = worker_on(["high"], pool=pool)
    prefetch.choose(worker, host_chose=False)
    assert worker.prefetch_multiplier == expected


def test_the_hosts_choice_wins(settings):
    worker = worker_on(["high"])
    prefetch.choose(worker, host_chose=True)
    assert worker.prefetch_multiplier == 1
    on_the_command_line = worker_on(["high"], multiplier=2)
    prefetch.choose(on_the_command_line, host_chose=False)
    assert on_the_command_line.prefetch_multiplier == 2


def test_set_by_host_sees_the_hosts_settings_under_any_name(settings):
    app = new_app()
    assert not set_by_host(app, "worker_prefetch_multiplier")
    settings.CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    assert set_by_host(app, "worker_prefetch_multiplier")
    del settings.CELERY_WORKER_PREFETCH_MULTIPLIER
    settings.CELERYD_PREFETCH_MULTIPLIER = 1
    assert set_by_host(app, "worker_prefetch_multiplier")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_real_workers_report_their_prefetch(settings, tmp_path):
    with redis_database(11) as url, publishing_to(settings, url, tmp_path):
        for queues, per_process in (("high", prefetch.SHORT_WORK), ("normal,low", 1)):
            with running_worker(queues, url, tmp_path, concurrency=2):
                stats = project_app.control.inspect(timeout=5).stats() or {}
                assert [s["prefetch_count"] for s in stats.values()] == [2 * per_process]
