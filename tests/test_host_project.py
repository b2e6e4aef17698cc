"""taskhub as a reusable app: its wheel, installed into a fresh virtualenv with a freshly
generated ``django-admin startproject`` host, set up by following the README's "Install
in your project" section block by block, on SQLite and the real Redis."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.workers import ROOT, emails_sent, redis_client, redis_database
from tools.workers import celery_worker, wait_for

pytestmark = pytest.mark.integration

HOST = "mysite"
REDIS_DB = 13
BLOCK = re.compile(r"<!-- host: (?P<target>\S+) -->\n```\w*\n(?P<code>.*?)```", re.S)
APPENDED = ("settings.py", "urls.py")


def readme_blocks() -> list[tuple[str, str]]:
    """The install section's blocks, in order: ("shell" or a path, code)."""
    text = (ROOT / "README.md").read_text()
    return [(m["target"], m["code"]) for m in BLOCK.finditer(text)]


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Host:
    """A generated project in ``root``, with its own virtualenv and environment."""

    def __init__(self, root: Path, venv: Path, redis_url: str) -> None:
        self.root = root
        self.bin = venv / "bin"
        self.redis_url = redis_url
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(root)),
            "LANG": "C.UTF-8",
        }
        self.workers: list[str] = []

    def pins(self) -> Path:
        """The demo's pinned versions as pip constraints (which take no extras): the host
        gets the versions CI tests, from pip's cache."""
        lines = (ROOT / "requirements.txt").read_text().splitlines()
        pins = self.root.parent / "constraints.txt"
        pins.write_text("\n".join(re.sub(r"\[.*?\]", "", line) for line in lines) + "\n")
        return pins

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    def apply(self, target: str, code: str, wheel: Path) -> None:
        code = code.replace("redis://127.0.0.1:6379/0", self.redis_url)
        if target != "shell":
            path = self.root / target
            if path.name in APPENDED:
                path.write_text(path.read_text() + "\n" + code)
            else:
                path.write_text(code)
            return
        for line in code.strip().splitlines():
            if line.startswith("celery ") and " worker " in line:
                self.workers.append(line)
            elif line.startswith("pip install "):
                spec = line.split(" ", 2)[2].strip('"').replace("taskhub", str(wheel), 1)
                pip = [self.python, "-m", "pip", "install", "--quiet", spec]
                run([*pip, "--constraint", str(self.pins())], self.root, self.env)
            elif line.startswith("python "):
                run([self.python, *line.split()[1:]], self.root, self.env)

    def drive(self, mode: str, settings: str = f"{HOST}.settings") -> dict:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(self.root)}
        script = str(ROOT / "tests" / "host_driver.py")
        out = run([self.python, script, mode], self.root, env, timeout=180)
        return json.loads(out.strip().splitlines()[-1])

    def worker(self, line: str, log_dir: Path):
        """The README's ``celery -A mysite worker -Q ...`` line, as the host runs it."""
        args = line.split()[1:]
        app, queues = args[args.index("-A") + 1], args[args.index("-Q") + 1]
        rest = tuple(a for a in args[1:] if a not in ("-A", app, "worker", "-Q", queues))
        return celery_worker(self.python, app, queues, self.root, self.env, log_dir, rest)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # sdist, then the wheel from it: what a release builds, and nothing left in ROOT.
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], out, dict(os.environ))
    [built] = out.glob("taskhub-*.whl")
    return built


@pytest.fixture(scope="module")
def host(wheel, tmp_path_factory):
    """A fresh virtualenv and ``startproject mysite``, set up as the README says."""
    base = tmp_path_factory.mktemp("host")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)], base, dict(os.environ))
    with redis_database(REDIS_DB) as url:
        project = base / "project"
        project.mkdir()
        made = Host(project, venv, url)
        blocks = readme_blocks()
        made.apply(*blocks[0], wheel)  # pip install: django-admin comes with it
        run([str(venv / "bin" / "django-admin"), "startproject", HOST, "."], project, made.env)
        run([made.python, "manage.py", "startapp", "shop"], project, made.env)
        for target, code in blocks[1:]:
            made.apply(target, code, wheel)
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


def test_the_host_imports_taskhub_from_the_wheel_with_its_version(host):
    out = run([host.python, "-c", "import taskhub; print(taskhub.__version__, taskhub.__file__)"],
              Path("/"), host.env)  # fmt: skip
    version, location = out.split()
    assert (
        version == re.search(r'__version__ = "(.+)"', (ROOT / "taskhub/__init__.py").read_text())[1]
    )
    assert "site-packages" in location


def test_the_readme_steps_pass_the_checks_and_start_both_workers(host):
    run([host.python, "manage.py", "check", "--fail-level", "WARNING"], host.root, host.env)
    assert [line.split("-Q")[1].split()[0] for line in host.workers] == ["high", "normal,low"]


def test_email_thumbnail_and_a_host_report_run_on_the_hosts_workers(host, tmp_path):
    with host.worker(host.workers[0], tmp_path), host.worker(host.workers[1], tmp_path) as bulk:
        found = host.drive("workers")
        wait_for(lambda: emails_sent(host.root) >= 2, 60, "the welcome and report emails")
        wait_for(lambda: bulk.log().count("taskhub.send_email[") >= 2, 30, "the report email")
    assert emails_sent(host.root) == 2, "one welcome although sent twice, one report email"
    assert set(found["pages"].values()) == {200}, found["pages"]
    assert found["anonymous"] == [302, "/accounts/login/?next=/tasks/gallery/"]
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
    found = host.drive("eager", f"{HOST}.eager_settings")
    assert found["missing_user"] == "EmailRejected: welcome: no user named 'nobody'"
    assert (found["state"], found["value"]) == ("SUCCESS", "sent")


def test_a_host_that_forgets_the_line_gets_the_check_error_not_a_stranded_message(host, tmp_path):
    forgot = tmp_path / "forgot"
    shutil.copytree(host.root, forgot)
    celery_py = forgot / HOST / "celery.py"
    celery_py.write_text(celery_py.read_text().replace("taskhub.celery.configure(app)\n", ""))
    broken = Host(forgot, host.bin.parent, host.redis_url)
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
    found = broken.drive("forgot")
    assert found["sent"] is False
    assert "configure(app) was not called" in found["error"]
    client = redis_client(host.redis_url)
    queues = [key for key in client.scan_iter() if client.type(key) == b"list"]
    assert queues == [], "no message was sent to any queue"
