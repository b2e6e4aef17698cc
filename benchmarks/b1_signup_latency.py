"""B1: latency of the signup view over real HTTP (gunicorn, PostgreSQL, Redis), 500
requests one after another, p50/p99: taskhub's view (the welcome email enqueued through
the outbox) against the same view sending the email in the request, through an SMTP sink
on loopback that answers each message after 50 ms (aiosmtpd)."""

import http.client
import re
import subprocess
import sys
import time
import urllib.parse
import uuid

from benchmarks import harness
from benchmarks.smtp_sink import running_sink
from tools.workers import wait_for

REQUESTS = 500
WARMUP = 20
PATHS = {
    "taskhub (enqueue)": "/accounts/signup/",
    "synchronous SMTP": "/bench/signup-sync/",
    "no email at all (floor)": "/bench/signup-no-email/",
}


class Client:
    """One keep-alive HTTP connection with the CSRF cookie and token of a first GET."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.request("GET", "/accounts/signup/")
        response = self.connection.getresponse()
        body = response.read().decode()
        self.cookie = response.getheader("Set-Cookie").split(";", 1)[0]
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)

    def signup(self, path: str) -> float:
        name = f"b{uuid.uuid4().hex[:12]}"
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": self.token,
                "username": name,
                "email": f"{name}@example.com",
                "password1": "a long enough passphrase",
                "password2": "a long enough passphrase",
            }
        )
        headers = {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        self.connection.request("POST", path, body=form, headers=headers)
        response = self.connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 302:
            raise RuntimeError(f"{path} answered {response.status}")
        return elapsed


def run() -> harness.Result:
    harness.setup_django()
    from django.core.management import call_command

    # DEBUG=0, as in production, serves static files by their manifest: build it as the
    # Dockerfile does, or the signup page fails.
    call_command("collectstatic", interactive=False, verbosity=0)
    port = harness.free_port()
    with running_sink() as (_, smtp_port):
        env = harness.environment(
            DJANGO_SETTINGS_MODULE="benchmarks.settings",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_port),
            SECURE_SSL_REDIRECT="0",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "project.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--log-level", "warning"],
            cwd=harness.ROOT, env=env,
        )  # fmt: skip
        try:
            wait_for(lambda: harness.answers(port), 30, "gunicorn", poll=0.1)
            client = Client(port)
            figures = {label: [] for label in PATHS}
            for path in PATHS.values():
                for _ in range(WARMUP):
                    client.signup(path)
            for _ in range(REQUESTS):
                for label, path in PATHS.items():
                    figures[label].append(client.signup(path))
        finally:
            server.terminate()
            server.wait(20)
    result = harness.Result(f"B1 signup over HTTP, {REQUESTS} requests each, interleaved (ms)")
    for label, values in figures.items():
        result.add(
            label,
            **{
                "p50": f"{harness.median(values):.2f}",
                "p99": f"{harness.percentile(values, 99):.2f}",
            },
        )
    ours, sync, floor = (harness.median(v) for v in figures.values())
    result.target("enqueue adds < 2 ms at p50", ours - floor < 2, f"{ours - floor:+.2f} ms")
    result.target("> 25x faster than synchronous at p50", sync > 25 * ours, f"{sync / ours:.1f}x")
    return result


if __name__ == "__main__":
    print(run().markdown())
