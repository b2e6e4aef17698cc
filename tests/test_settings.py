"""Settings come from the environment; with nothing set they run on embedded defaults."""

import json
import os
import subprocess
import sys

from taskhub.worker.redis_broker import VISIBILITY_TIMEOUT
from tests.workers import ROOT

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "taskhub.example.com",
    "DATABASE_URL": "postgres://taskhub:secret@db.example.com:5432/taskhub",
    "CELERY_BROKER_URL": "redis://:secret@redis.example.com:6379/0",
}
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "from project.celery import app; "
    "print(json.dumps({'broker': s.CELERY_BROKER_URL, 'engine': s.DATABASES['default']['ENGINE'], "
    "'debug': s.DEBUG, 'options': app.conf.broker_transport_options}))"
)


def run(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_"))}
    for name in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"):
        clean.pop(name, None)
    clean |= {"DJANGO_SETTINGS_MODULE": "project.settings", "TASKHUB_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean | env, capture_output=True, text=True
    )


def test_nothing_set_means_sqlite_and_the_filesystem_broker(tmp_path):
    result = run(["-c", PROBE], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["broker"] == "filesystem://localhost/"
    assert facts["engine"] == "django.db.backends.sqlite3"
    assert facts["options"]["data_folder_in"].startswith(str(tmp_path / "broker"))
    assert facts["debug"] is True


def test_redis_url_with_a_password_is_taken_as_is(tmp_path):
    url = "redis://:s3cret@127.0.0.1:6379/3"
    result = run(["-c", PROBE], {"CELERY_BROKER_URL": url}, tmp_path)
    facts = json.loads(result.stdout)
    assert facts["broker"] == url
    assert facts["options"]["visibility_timeout"] == VISIBILITY_TIMEOUT


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run(["-c", PROBE], env, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_malformed_boolean_is_a_clear_error(tmp_path):
    result = run(["-c", PROBE], {"DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_deploy_check_passes_with_production_environment(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_pool_size_gives_postgresql_a_connection_pool_for_green_workers(tmp_path):
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(json.dumps([d['CONN_MAX_AGE'], d['OPTIONS']]))"
    )
    pooled = {"DATABASE_URL": PRODUCTION["DATABASE_URL"], "DATABASE_POOL_SIZE": "20"}
    result = run(["-c", probe], pooled, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        0,
        {"pool": {"min_size": 1, "max_size": 20, "timeout": 60}},
    ]
    sqlite = run(["-c", probe], {"DATABASE_POOL_SIZE": "20"}, tmp_path)
    assert "pool" not in json.loads(sqlite.stdout)[1], "SQLite has no pool to give"
