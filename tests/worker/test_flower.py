"""Flower, started as the Procfile and compose start it, or from any other directory,
never answers without a password."""

import base64
import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import free_port
from tests.workers import ROOT
from tools.workers import wait_for

pytestmark = pytest.mark.integration


def flower(port: int, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", "flower",
         "--address=127.0.0.1", f"--port={port}"],
        cwd=cwd,
        env={**clean, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/12",
             "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def status(port: int, path: str, credentials: str | None = None) -> int:
    """The HTTP status Flower answers, or 0 while nothing listens."""
    headers = {}
    if credentials:
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_flower_refuses_to_start_without_credentials(where, tmp_path):
    process = flower(free_port(), ROOT if where == "checkout" else tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "Flower never runs without authentication" in output


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_flower_answers_401_without_credentials_and_200_with_them(where, tmp_path):
    port = free_port()
    cwd = ROOT if where == "checkout" else tmp_path
    process = flower(port, cwd, FLOWER_BASIC_AUTH="admin:a-long-secret")
    try:
        wait_for(lambda: status(port, "/healthcheck") == 200, 60, "Flower to listen")
        assert status(port, "/") == 401
        assert status(port, "/tasks") == 401
        assert status(port, "/", "admin:wrong") == 401
        assert status(port, "/", "admin:a-long-secret") == 200
        # Flower serves Prometheus metrics without a password (it exempts /metrics and
        # /healthcheck): keep port 5555 on the private network, as compose does.
        assert status(port, "/metrics") == 200
    finally:
        process.terminate()
        process.wait(20)
