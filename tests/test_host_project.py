"""taskhub as a reusable app: its wheel, installed into a fresh virtualenv with a freshly
generated ``django-admin startproject`` host, set up by following the tutorial
(``docs/tutorial.md``) block by block, on SQLite and the real Redis."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.hosts import Host, guide_blocks, make_venv, run, write_pins
from tests.workers import ROOT, emails_sent, redis_client, redis_database
from tools.workers import wait_for

pytestmark = pytest.mark.integration

HOST = "mysite"
REDIS_DB = 13
DJANGO = re.search(r"^Django==(.+)$", (ROOT / "requirements.txt").read_text(), re.M)[1]
#: A blank project has no broker, sends no email, has no login, and wants beat's scheduler.
TRAITS = {"no-broker", "no-email", "no-media", "no-auth", "beat"}
DRIVER = "host_driver.py"


@pytest.fixture(scope="module")
def host(wheel, tmp_path_factory):
    """A fresh virtualenv and ``startproject mysite``, set up as the tutorial says."""
    base = tmp_path_factory.mktemp("host")
    venv = make_venv(sys.executable, base / "venv")
    with redis_database(REDIS_DB) as url:
        project = base / "project"
        project.mkdir()
        pins = write_pins(base / "constraints.txt", DJANGO)
        made = Host(project, venv, HOST, pins=pins, redis_url=url)
        install, *blocks = guide_blocks(TRAITS)
        made.apply(install, wheel)  # pip install: django-admin comes with it
        run([str(made.bin / "django-admin"), "startproject", HOST, "."], project, made.env)
        made.manage("startapp", "shop")
        made.apply_all(blocks, wheel)
        settings = project / HOST / "settings.py"
        settings.write_text(
            settings.read_text()
            + "\n# The test's own: emails to files, uploads under the project.\n"
            + 'EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"\n'
            + 'EMAIL_FILE_PATH = BASE_DIR / "emails"\nMEDIA_ROOT = BASE_DIR / "media"\n'
        )
        yield made


def test_the_wheel_holds_taskhub_only_with_its_templates_and_migrations(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "taskhub",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "taskhub/templates/taskhub/base.html" in names
    assert "taskhub/migrations/0001_initial.py" in names
    assert "taskhub/templates/taskhub/email/welcome.txt" in names
    assert not any(n.startswith(("project/", "tests/", "benchmarks/")) for n in names)


def test_the_sdist_holds_the_tests_and_docs_and_twine_passes_both(wheel):
    [sdist] = wheel.parent.glob("taskhub-*.tar.gz")
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    for path in ["taskhub/__init__.py", "tests/conftest.py", "docs/reliability.md",
                 "CHANGELOG.md", "noxfile.py", "requirements-dev.txt"]:  # fmt: skip
        assert f"{top}/{path}" in names
    assert not any("__pycache__" in name for name in names)
    run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        ROOT, dict(os.environ))  # fmt: skip


def test_the_host_imports_taskhub_from_the_wheel_with_its_version(host):
    out = run([host.python, "-c", "import taskhub; print(taskhub.__version__, taskhub.__file__)"],
              Path("/"), host.env)  # fmt: skip
    version, location = out.split()
    assert (
        version == re.search(r'__version__ = "(.+)"', (ROOT / "taskhub/__init__.py").read_text())[1]
    )
    assert "site-packages" in location


def test_the_tutorials_steps_pass_the_checks_and_start_both_workers(host):
    host.manage("check", "--fail-level", "WARNING")
    queues = [line.split("-Q")[1].split()[0] for line in host.workers]
    assert queues == ["high", "celery,normal,low"]


def test_email_thumbnail_and_a_host_report_run_on_the_hosts_workers(host, tmp_path):
    with host.worker(host.workers[0], tmp_path), host.worker(host.workers[1], tmp_path) as bulk:
        found = host.drive(DRIVER, "workers")
        wait_for(lambda: emails_sent(host.root) >= 2, 60, "the welcome and report emails")
        wait_for(lambda: bulk.log().count("taskhub.send_email[") >= 2, 30, "the report email")
    assert emails_sent(host.root) == 2, "one welcome although sent twice, one report email"
    assert set(found["pages"].values()) == {200}, found["pages"]
    assert found["anonymous"] == [302, "/accounts/login/?next=/tasks/reports/"]
    assert found["image"]["status"] == "done"
    assert len(found["image"]["thumbnails"]) == 6
    assert found["report"]["status"] == "done"
    assert found["csv"][0] == "username,email,joined"
    assert found["csv"][1].startswith("alice,alice@example.com,")
    emails = "".join(p.read_text() for p in (host.root / "emails").iterdir())
    assert "Subject: Welcome" in emails
    assert "Your Staff members report is ready" in emails


def test_celery_always_eager_runs_inline_and_raises(host):
    eager = host.root / HOST / "eager_settings.py"
    eager.write_text(f"from {HOST}.settings import *  # noqa\n\nCELERY_ALWAYS_EAGER = True\n")
    found = host.drive(DRIVER, "eager", f"{HOST}.eager_settings")
    assert found["missing_user"] == "EmailRejected: welcome: no user named 'nobody'"
    assert (found["state"], found["value"]) == ("SUCCESS", "sent")


def test_a_host_that_forgets_the_line_gets_the_check_error_not_a_stranded_message(host, tmp_path):
    forgot = tmp_path / "forgot"
    shutil.copytree(host.root, forgot)
    celery_py = forgot / HOST / "celery.py"
    celery_py.write_text(celery_py.read_text().replace("taskhub.celery.configure(app)\n", ""))
    broken = Host(forgot, host.bin.parent, HOST, pins=host.pins, redis_url=host.redis_url)
    check = subprocess.run([broken.python, "manage.py", "check"], cwd=forgot, env=broken.env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode == 1
    assert "taskhub.E001" in check.stderr
    worker = subprocess.run(
        [broken.python, "-m", "celery", "-A", HOST, "worker", "-Q", "high"],
        cwd=forgot, env=broken.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert worker.returncode != 0
    assert "taskhub refuses to start this worker" in worker.stderr
    assert "taskhub.E001" in worker.stderr
    found = broken.drive(DRIVER, "forgot")
    assert found["sent"] is False
    assert "configure(app) was not called" in found["error"]
    client = redis_client(host.redis_url)
    queues = [key for key in client.scan_iter() if client.type(key) == b"list"]
    assert queues == [], "no message was sent to any queue"
