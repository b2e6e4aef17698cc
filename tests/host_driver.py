"""Run by tests/test_host_project.py with a blank ``startproject`` host's own Python
(taskhub installed from its wheel, not this checkout): acts as that host's code would,
prints one JSON line.

    python host_driver.py workers|eager|forgot
"""

import io
import json
import sys
from datetime import date

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from driver_support import finished, until  # noqa: E402  (this script's own folder)
from PIL import Image  # noqa: E402

from taskhub.emails import sending as emails  # noqa: E402
from taskhub.tasks import welcome  # noqa: E402

TIMEOUT = 90


def poll(client: Client, url: str) -> dict:
    return until(url, lambda: finished(client.get(url).json()), TIMEOUT)


def png() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "red.png"
    return buffer


def with_workers() -> dict:
    alice = get_user_model().objects.create_user("alice", "alice@example.com", "pw", is_staff=True)
    first, second = welcome.delay("alice"), welcome.delay("alice")
    client = Client(HTTP_HOST="localhost")
    client.force_login(alice)
    image = client.post("/tasks/api/images/", {"file": png()}).json()
    image = poll(client, image["url"])
    today = date.today().isoformat()
    body = {"kind": "staff", "params": {"start": today, "end": today}}
    created = client.post("/tasks/api/reports/", body, content_type="application/json")
    report = poll(client, created.json()["status_url"])
    csv = b"".join(client.get(report["download_url"]).streaming_content).decode()
    pages = ["/tasks/reports/", f"/tasks/reports/{report['id']}/", "/tasks/taskhub/"]
    anonymous = Client(HTTP_HOST="localhost").get("/tasks/reports/")
    return {
        "pages": {page: client.get(page).status_code for page in pages},
        "anonymous": [anonymous.status_code, anonymous["Location"]],
        "welcome_ids": [first.id, second.id],
        "image": image,
        "report": report,
        "csv": csv.splitlines(),
    }


def eager() -> dict:
    get_user_model().objects.create_user("bob", "bob@example.com", "pw")
    try:
        welcome.delay("nobody")
        missing = "no error"
    except emails.EmailRejected as exc:
        missing = f"EmailRejected: {exc}"
    result = welcome.delay("bob")
    return {"missing_user": missing, "state": result.state, "value": result.get()}


def forgot() -> dict:
    try:
        welcome.delay("alice")
        return {"sent": True}
    except Exception as exc:  # what a host's view would see
        return {"sent": False, "error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    mode = sys.argv[1]
    print(json.dumps({"workers": with_workers, "eager": eager, "forgot": forgot}[mode]()))
