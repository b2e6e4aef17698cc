"""The image's static files: built the way the Dockerfile builds them, then served with
DEBUG off, as the image runs (the manifest of hashed names must exist)."""

import os
import re
import shlex
import subprocess
import sys

from tests.workers import ROOT

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-static-check-0123456789",
    "ALLOWED_HOSTS": "testserver",
}
PROBE = (
    "import django; django.setup(); from django.test import Client; "
    "r = Client().get('/admin/login/', secure=True); "
    "print(r.status_code); print(r.content.decode())"
)


def dockerfile_collectstatic() -> tuple[dict[str, str], list[str]]:
    """The environment and the command of the Dockerfile's collectstatic step."""
    line = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if "collectstatic" in line
    )
    words = shlex.split(line.removeprefix("RUN "))
    env = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    return env, [sys.executable if w == "python" else w for w in words if "=" not in w]


def test_the_admin_login_is_served_with_debug_off_after_the_dockerfiles_collectstatic(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    base |= {"DJANGO_SETTINGS_MODULE": "project.settings", "TASKHUB_VAR_DIR": str(tmp_path)}
    env, command = dockerfile_collectstatic()
    assert env["DEBUG"] == "0", "static files are built as the image runs: DEBUG off"
    subprocess.run(command, cwd=ROOT, env=base | env, check=True, capture_output=True)
    page = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=base | PRODUCTION,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert page.returncode == 0, page.stderr
    status, html = page.stdout.split("\n", 1)
    assert status == "200"
    assert re.search(r'href="/static/admin/css/base\.[0-9a-f]{12}\.css"', html), "hashed names"
