"""On PostgreSQL, reports are written by COPY (``taskhub.reports.pg_copy``): the same
rows, cell for cell, as the Python writer, formula injection neutralised the same way."""

import json
import os
import subprocess
import sys

import psycopg
import pytest

from tests.workers import ROOT

pytestmark = pytest.mark.integration

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "taskhub_test_reports"


@pytest.fixture
def postgres_url(tmp_path):
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def test_copy_writes_what_the_python_writer_writes(postgres_url, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.pg_reports_check"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": postgres_url,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "TASKHUB_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["vendor"] == "postgresql"
    assert found["same"] == {"orders": True, "sales_by_day": True, "signups": True}, found
    assert found["found"]["orders"]["rows"] == 33
    assert found["found"]["signups"]["rows"] == 33
    assert found["found"]["orders"]["progress"] == [], "33 rows take less than a progress interval"
    assert found["report"] == ["done", 33, 100]
