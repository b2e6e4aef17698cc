"""Task logs name their task; a failure is logged once, at ERROR, with its traceback;
SENTRY_DSN sends errors to Sentry (a local endpoint stands in for sentry.io)."""

import json
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskhub.tasks import make_thumbnails, welcome
from tests.workers import ROOT, database_url, emails_sent, running_worker
from tools.workers import wait_for


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_log_lines_carry_the_task_and_a_failure_is_logged_once(redis_broker, tmp_path, user):
    sent = welcome.delay(user.username)
    missing = make_thumbnails.delay(999_999)
    with running_worker("high,low", redis_broker, tmp_path) as worker:
        wait_for(lambda: worker.log().count(" succeeded in ") >= 1, 30, "the welcome email")
        wait_for(lambda: "raised unexpected" in worker.log(), 30, "the failure")
        log = worker.log()
    assert emails_sent(tmp_path) == 1
    service_line = next(line for line in log.splitlines() if "taskhub.emails.sending: sent" in line)
    assert f"taskhub.welcome[{sent.id}]" in service_line, "a service's line names its task"
    errors = [line for line in log.splitlines() if "ERROR/" in line]
    assert len(errors) == 1, errors
    assert f"taskhub.make_thumbnails[{missing.id}]" in errors[0]
    assert "LookupError: image 999999 does not exist" in log
    assert log.index("Traceback (most recent call last)") > log.index(errors[0])


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_warm_shutdown_logs_no_logging_error_and_prints_are_not_warnings(
    redis_broker, tmp_path, user
):
    welcome.delay(user.username)
    with running_worker("high", redis_broker, tmp_path, concurrency=2) as worker:
        wait_for(lambda: " succeeded in " in worker.log(), 30, "the welcome email")
        worker.stop()
        assert worker.process.returncode == 0
    everything = worker.log() + worker.output()
    assert "Logging error" not in everything
    assert "KeyError" not in everything
    assert "WARNING/" not in worker.log(), worker.log()
    assert "Warm shutdown" in worker.output()
    ready = next(line for line in worker.log().splitlines() if line.endswith(" ready."))
    assert " -[-] celery.apps.worker: " in ready, "outside a task, the task fields are blank"


class SentryEndpoint(BaseHTTPRequestHandler):
    envelopes: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        self.envelopes.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh process with the project's settings and ``env``."""
    setup = "import django; django.setup(); import sentry_sdk\n"
    clean = {k: v for k, v in os.environ.items() if k != "SENTRY_DSN"}
    return subprocess.run(
        [sys.executable, "-c", setup + code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_sentry_dsn_nothing_changes():
    result = run_django("print(sentry_sdk.get_client().is_active())")
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.django_db(transaction=True)
def test_with_sentry_dsn_a_failing_task_is_reported_with_its_exception():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SentryEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    code = (
        "client = sentry_sdk.get_client()\n"
        "print(sorted(client.integrations))\n"
        "from taskhub.tasks import make_thumbnails\n"
        "make_thumbnails.apply(args=(999999,), throw=False)\n"
        "sentry_sdk.flush(5)\n"
    )
    try:
        result = run_django(
            code, SENTRY_DSN=dsn, CELERY_TASK_ALWAYS_EAGER="1", DATABASE_URL=database_url()
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    integrations = result.stdout.splitlines()[0]
    assert "'celery'" in integrations and "'django'" in integrations
    events = [
        json.loads(line)
        for envelope in SentryEndpoint.envelopes
        for line in envelope.splitlines()
        if line.startswith(b'{"exception"') or b'"exception":' in line
    ]
    [event] = [e for e in events if "exception" in e]
    [exception] = event["exception"]["values"]
    assert exception["type"] == "LookupError"
    assert exception["value"] == "image 999999 does not exist"
