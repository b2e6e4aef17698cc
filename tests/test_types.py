"""A host's type checker sees taskhub's types: mypy, run on a host's module as a host runs
it (``--strict``, without the django-stubs plugin), reads taskhub as an installed package,
through ``taskhub/py.typed``, and a call against taskhub's signatures is an error."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HOST = """\
from typing import Any

from celery import Celery
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

import taskhub.celery
from taskhub import reports
from taskhub.tasks import welcome

app = Celery("mysite")
app.config_from_object("django.conf:settings", namespace="CELERY")
taskhub.celery.configure(app)

welcome.delay("ada")


def staff(params: dict[str, Any]) -> QuerySet[Any, Any]:
    start, end = reports.date_range(params)
    return (
        get_user_model()
        .objects.filter(is_staff=True, date_joined__gte=start, date_joined__lt=end)
        .order_by("username")
        .values_list("username", "email", "date_joined")
    )


kind: reports.ReportKind = reports.register(
    reports.ReportKind("staff", "Staff members", ("username", "email", "joined"), staff)
)
"""

MISTAKES = """\
import taskhub.celery
from taskhub import reports

taskhub.celery.configure("mysite")
reports.register(reports.ReportKind("staff", "Staff members", ("username",), rows=42))
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One mypy cache for both runs: the second reads the stubs the first analysed."""
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(tmp_path: Path, cache_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    """mypy on ``code``, a host's module, with an empty configuration (not this
    repository's). This tree is on the interpreter's path, where mypy looks for installed
    packages: it reads taskhub only for its ``py.typed`` and silences taskhub's own errors.
    On mypy's own path (``MYPYPATH``, its working directory) taskhub would be checked as
    the host's code instead."""
    (tmp_path / "host.py").write_text(code)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    inherited = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *inherited])}
    env.pop("MYPYPATH", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--cache-dir",
            str(cache_dir),
            "--strict",
            "--no-color-output",
            "host.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_host_using_taskhub_as_documented_type_checks(tmp_path, cache_dir):
    checked = mypy(tmp_path, cache_dir, HOST)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_host_calling_taskhub_wrongly_gets_errors(tmp_path, cache_dir):
    checked = mypy(tmp_path, cache_dir, MISTAKES)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    errors = [line for line in checked.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 2, checked.stdout
    configure, register = errors
    assert configure.startswith("host.py:4: error: ")
    assert '"configure" has incompatible type "str"; expected "Celery' in configure
    assert register.startswith("host.py:5: error: ")
    assert '"rows" to "ReportKind" has incompatible type "int"' in register
