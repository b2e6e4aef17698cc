"""taskhub in a project shaped like the ones people run: a Django 6.1 host generated as
cookiecutter-django generates one (``config`` package, ``config/celery_app.py``, an
email-login user model with no ``username``, its own Celery tasks, broker, Redis result
backend, login, file emails and public media), set up by following the tutorial
(``docs/tutorial.md``), then checked point by point with the host's usual
worker command (no ``-Q``) running. Templates of the host's files: tests/hosts/realhost/.
"""

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts import TEMPLATES, Host, guide_blocks, make_venv, run, write_pins
from tests.workers import ROOT, redis_client, redis_database
from tools.workers import Worker, wait_for

pytestmark = pytest.mark.integration

PACKAGE = "config"
DJANGO = "6.1.3"
BROKER_DB, RESULTS_DB = 14, 15
#: It has a broker, sends email and has a login; django-celery-beat does not install on 6.1.
TRAITS: set[str] = set()
HOST_WORKER = "celery -A config.celery_app worker -l INFO"
DRIVER = "real_host_driver.py"
BACKLOG = 20


def copy_stage(stage: str, root: Path) -> None:
    """The host's files of one stage: ``*.append`` files are appended to the file of
    that name, the others copied."""
    source = TEMPLATES / "realhost" / stage
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = root / path.relative_to(source)
        if target.suffix == ".append":
            target = target.with_suffix("")
            target.write_text(target.read_text() + "\n" + path.read_text())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def generate(host: Host) -> None:
    """The host before taskhub: Django and Celery, ``startproject config .``, its users
    and shop apps, migrated."""
    host.pip(f"Django=={DJANGO}", "celery[redis]")
    run([str(host.bin / "django-admin"), "startproject", PACKAGE, "."], host.root, host.env)
    copy_stage("before", host.root)
    host.manage("makemigrations", "users")
    host.manage("migrate", "--noinput")


def send_backlog(host: Host, broker_url: str) -> None:
    """The host's own tasks, sent with no worker running: they wait on ``celery``."""
    code = f"from shop.tasks import ping\nfor n in range({BACKLOG}):\n    ping.delay(n)\n"
    host.manage("shell", "-c", code)
    assert redis_client(broker_url).llen("celery") == BACKLOG


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def host(wheel, tmp_path_factory) -> Iterator[Host]:
    """The host on Django 6.1, its backlog waiting, then set up as the tutorial says for a
    project that has a broker, email and a login, and given its view that uses taskhub."""
    base = tmp_path_factory.mktemp("realhost")
    path = run([str(ROOT / "tools" / "python-path")], ROOT, dict(os.environ)).strip()
    python = shutil.which("python3.13", path=path)
    venv = make_venv(python, base / "venv")
    with redis_database(BROKER_DB) as broker, redis_database(RESULTS_DB) as results:
        root = base / "project"
        root.mkdir()
        made = Host(
            root,
            venv,
            PACKAGE,
            pins=write_pins(base / "constraints.txt", DJANGO),
            celery_module="celery_app",
            env={"BROKER_URL": broker, "REDIS_URL": results},
        )
        generate(made)
        send_backlog(made, broker)
        made.apply_all(guide_blocks(TRAITS), wheel)
        copy_stage("after", root)
        yield made


@pytest.fixture(scope="module")
def worker(host, tmp_path_factory) -> Iterator[Worker]:
    """The host's usual worker command, as it was before taskhub."""
    with host.worker(HOST_WORKER, tmp_path_factory.mktemp("realhost-logs")) as running:
        yield running


def pings(host: Host) -> set[str]:
    folder = host.root / "pings"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def emails_to(host: Host, address: str) -> int:
    """Messages to ``address`` written by the file email backend."""
    folder = host.root / "emails"
    files = folder.iterdir() if folder.exists() else ()
    return sum(f.read_text().count(f"\nTo: {address}\n") for f in files)


def test_the_readme_steps_leave_the_host_checked_and_migrated(host):
    host.manage("check", "--fail-level", "WARNING")
    host.manage("makemigrations", "--check", "--dry-run")
    assert "No migrations to apply." in host.manage("migrate", "--noinput")
    assert "taskhub.celery.configure(app)" in (host.root / "config/celery_app.py").read_text()


def test_a_the_hosts_backlog_and_new_tasks_run_on_its_usual_worker(host, worker):
    backlog = {str(n) for n in range(BACKLOG)}
    wait_for(lambda: backlog <= pings(host), 60, "the backlog of the host's own tasks")
    host.drive(DRIVER, "ping")
    wait_for(lambda: "100" in pings(host), 30, "a new task of the host's", worker.log)


def test_b_welcome_goes_to_the_email_of_an_email_login_user(host, worker):
    found = host.drive(DRIVER, "welcome")
    assert found["username"] == "ada@example.com"
    wait_for(lambda: emails_to(host, "ada@example.com") == 1, 30, "the welcome", worker.log)


def test_c_d_f_the_signups_report_follows_the_user_model_is_private_and_expires(host, worker):
    found = host.drive(DRIVER, "report")
    assert found["report"]["status"] == "done", found["report"]
    assert found["csv"][0] == "email,date_joined"
    assert found["owner"] == [200, "text/csv"]
    assert found["media_files"] == []
    assert set(found["media"].values()) == {404}, found["media"]
    for status, location in (found["anonymous"], found["other"]):
        assert status == 404 or location.startswith("/accounts/login/"), (status, location)
    results = redis_client(host.env["REDIS_URL"])
    key = f"celery-task-meta-{found['task_id']}"
    wait_for(lambda: results.exists(key), 30, f"the result {key}")
    assert results.ttl(key) > 0


def test_e_a_failure_reaches_the_status_page_with_a_redis_result_backend(host, worker):
    found = host.drive(DRIVER, "failure")
    assert found["task_id"] in found["recent"]
    assert found["status_page"] == 200
    assert "taskhub.welcome" in found["failures_section"]
    assert found["task_id"] in found["failures_section"]


def test_g_a_host_view_answers_while_the_broker_is_down_and_the_outbox_keeps_it(host, worker):
    down = host.root / PACKAGE / "settings_broker_down.py"
    down.write_text(
        f"from {PACKAGE}.settings import *  # noqa\n\n"
        f'CELERY_BROKER_URL = "redis://127.0.0.1:{closed_port()}/0"\n'
    )
    found = host.drive(DRIVER, "broker_down", f"{PACKAGE}.settings_broker_down")
    assert found["status"] == 200, found["body"]
    assert ["bea@example.com"] in found["kept"]
    host.drive(DRIVER, "relay")
    wait_for(lambda: emails_to(host, "bea@example.com") == 1, 30, "the kept welcome", worker.log)


def test_h_health_tells_an_anonymous_caller_its_status_only(host, worker):
    found = host.drive(DRIVER, "health")
    assert list(found["body"]) == ["healthy"]
    assert found["status"] == (200 if found["body"]["healthy"] else 503)
