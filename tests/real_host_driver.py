"""Run by tests/test_real_host.py with the cookiecutter-shaped host's own Python (taskhub
installed from its wheel): acts as that host's code would, prints one JSON line.

    python real_host_driver.py ping|welcome|report|failure|broker_down|relay|health
"""

import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from driver_support import finished, until  # noqa: E402  (this script's own folder)
from shop.tasks import ping  # noqa: E402

from taskhub.delivery import outbox  # noqa: E402
from taskhub.models import OutboxMessage, Report  # noqa: E402
from taskhub.ops import failures  # noqa: E402
from taskhub.tasks import welcome  # noqa: E402

TIMEOUT = 60


def user(email: str, **extra: Any) -> Any:
    """The user of that address, created with the host's own manager the first time."""
    found = get_user_model().objects.filter(email=email).first()
    return found or get_user_model().objects.create_user(email=email, password="pw", **extra)


def client(who: Any = None) -> Client:
    browser = Client(HTTP_HOST="localhost", raise_request_exception=False)
    if who is not None:
        browser.force_login(who)
    return browser


def sent_ping() -> dict:
    return {"task_id": ping.delay(100).id}


def sent_welcome() -> dict:
    ada = user("ada@example.com")
    welcome.delay(ada.get_username())
    return {"username": ada.get_username()}


def report() -> dict:
    """The ``signups`` report through the API as staff; who may download its file."""
    grace = user("grace@example.com", is_staff=True)
    today = date.today().isoformat()
    body = {"kind": "signups", "params": {"start": today, "end": today}}
    staff = client(grace)
    created = staff.post("/tasks/api/reports/", body, content_type="application/json")
    assert created.status_code == 202, created.content
    status_url = created.json()["status_url"]
    done = until("the report", lambda: finished(staff.get(status_url).json()), TIMEOUT)
    download = done["download_url"]
    owner = staff.get(download)
    row = Report.objects.get(pk=done["id"])
    message = OutboxMessage.objects.get(task_name="taskhub.generate_report", args=[row.pk])
    return {
        "report": done,
        "csv": b"".join(owner.streaming_content).decode().splitlines(),
        "owner": [owner.status_code, owner["Content-Type"]],
        "anonymous": answer(client().get(download)),
        "other": answer(client(user("alan@example.com")).get(download)),
        "media_files": [str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()],
        "media": {url: client().get(url).status_code for url in media_urls(row.file.name)},
        "task_id": str(message.task_id),
    }


def answer(response: Any) -> list:
    return [response.status_code, response.get("Location", "")]


def media_urls(name: str) -> list[str]:
    """Where public media would serve the report's file: by its stored name, and by
    its file name alone."""
    return [f"{settings.MEDIA_URL}{name}", f"{settings.MEDIA_URL}{Path(name).name}"]


def failure() -> dict:
    """A welcome to no user fails in the worker; where staff see it."""
    task_id = welcome.delay("nobody@example.com").id
    recent = until(
        "the failure in failures.recent()",
        lambda: [f.task_id for f in failures.recent(10) if str(f.task_id) == task_id],
        TIMEOUT,
    )
    page = client(user("grace@example.com", is_staff=True)).get("/tasks/taskhub/")
    html = page.content.decode()
    section = html.split('id="failures"', 1)[-1].split("</table>", 1)[0]
    return {
        "task_id": task_id,
        "recent": [str(t) for t in recent],
        "status_page": page.status_code,
        "failures_section": section,
    }


def broker_down() -> dict:
    """The host's view, run with a broker nobody listens on."""
    bea = user("bea@example.com")
    response = client().get(f"/signup-ping/{bea.email}/")
    kept = OutboxMessage.objects.filter(task_name="taskhub.welcome", published_at__isnull=True)
    return {
        "status": response.status_code,
        "body": response.content.decode(errors="replace")[-2000:],
        "kept": [m.args for m in kept],
    }


def relay() -> dict:
    return outbox.relay_pending(older_than=timedelta(0))


def health() -> dict:
    response = client().get("/tasks/health/")
    return {"status": response.status_code, "body": response.json()}


if __name__ == "__main__":
    modes = {
        "ping": sent_ping,
        "welcome": sent_welcome,
        "report": report,
        "failure": failure,
        "broker_down": broker_down,
        "relay": relay,
        "health": health,
    }
    print(json.dumps(modes[sys.argv[1]](), default=str))
