"""Every API refusal and every error page a person can meet, read for Python's
internals (a repr, an exception's class, a traceback, a parameter path): none may show.
The pages themselves, in a real browser at desktop and phone widths, are in
``test_browser.py``; this walks what a browser cannot easily reach."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views import defaults

from taskhub.models import Image, Report
from tests.image_files import image_bytes
from tests.internals import internals_in

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
IMAGES = reverse("taskhub:api-images")
REPORTS = reverse("taskhub:api-reports")
DATES = {"start": "2026-01-01", "end": "2026-01-31"}


def report_request(body: object) -> tuple[str, str, dict]:
    text = body if isinstance(body, str) else json.dumps(body)
    return ("post", REPORTS, {"data": text, "content_type": "application/json"})


def upload(name: str, content: bytes, **extra: object) -> tuple[str, str, dict]:
    return ("post", IMAGES, {"data": {"file": SimpleUploadedFile(name, content), **extra}})


REFUSALS = {
    "no file": ("post", IMAGES, {"data": {}}),
    "an empty file": upload("a.jpg", b""),
    "a text file": upload("notes.csv", b"name,amount\n"),
    "a truncated header": upload("a.gif", b"GIF89a but not really"),
    "an unknown field": upload("a.jpg", image_bytes(), caption="hi"),
    "a broken multipart body": ("post", IMAGES, {"data": b"--x\r\n",
                                "content_type": "multipart/form-data"}),
    "an image that does not exist": ("get", reverse("taskhub:api-image", args=[987]), {}),
    "a wrong method": ("put", IMAGES, {}),
    "malformed JSON": report_request('{"kind": '),
    "a JSON list": report_request([1, 2]),
    "unknown fields": report_request({"kind": "orders", "params": DATES, "owner": 1}),
    "no kind": report_request({"params": DATES}),
    "an unknown kind": report_request({"kind": "secret", "params": DATES}),
    "no params": report_request({"kind": "orders"}),
    "no start": report_request({"kind": "orders", "params": {"end": "2026-01-01"}}),
    "a huge number": report_request({"kind": "orders", "params": {"start": 1e308, "end": "x"}}),
    "an end before the start": report_request(
        {"kind": "orders", "params": {"start": "2026-02-01", "end": "2026-01-01"}}
    ),
    "a range too long": report_request(
        {"kind": "orders", "params": {"start": "1900-01-01", "end": "2026-01-01"}}
    ),
    "an unknown param": report_request({"kind": "orders", "params": {**DATES, "x": 1}}),
    "a report that does not exist": ("get", reverse("taskhub:api-report", args=[987]), {}),
}  # fmt: skip


@pytest.mark.parametrize("request_", REFUSALS.values(), ids=REFUSALS.keys())
def test_no_api_refusal_shows_python_internals(user_client, request_):
    method, url, options = request_
    response = getattr(user_client, method)(url, **options)
    assert 400 <= response.status_code < 500
    body = response.json()
    assert internals_in(body["error"]) == [], body


def test_a_refusal_of_a_report_request_says_where_for_a_program(user_client):
    _, url, options = REFUSALS["a huge number"]
    body = user_client.post(url, **options).json()
    assert body == {
        "error": "The start date must be a date written like 2026-01-31.",
        "field": "params.start",
    }


def test_failed_work_reads_in_words_in_the_api(
    user_client, user, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    broken = SimpleUploadedFile("photo.jpg", image_bytes(800, 600)[:2000])
    with django_capture_on_commit_callbacks(execute=True):
        image_id = user_client.post(IMAGES, {"file": broken}).json()["id"]
    image = user_client.get(reverse("taskhub:api-image", args=[image_id])).json()
    assert image["status"] == "failed"
    assert image["error"] == "This image is damaged or incomplete, so no thumbnail could be made."
    report = Report.objects.create(owner=user, kind="orders", params={"start": "x", "end": "y"})
    from taskhub.tasks import generate_report

    generate_report.delay(report.pk)
    body = user_client.get(reverse("taskhub:api-report", args=[report.pk])).json()
    assert (body["status"], body["error"]) == (
        "failed", "The start date must be a date written like 2026-01-31.",
    )  # fmt: skip
    assert Image.objects.get().error and internals_in(json.dumps([image, body])) == []


@pytest.mark.parametrize(
    ("view", "title"),
    [
        (lambda r: defaults.bad_request(r, Exception("x")), "Bad request"),
        (lambda r: defaults.page_not_found(r, Exception("x")), "Page not found"),
        (lambda r: defaults.server_error(r), "Something went wrong"),
    ],
    ids=["400", "404", "500"],
)
def test_the_error_pages_are_in_the_sites_layout_with_a_way_back(view, title):
    page = view(RequestFactory().get("/somewhere/")).content.decode()
    assert f"<h1>{title}</h1>" in page
    assert 'href="/static/taskhub/taskhub.css"' in page, "styled like every page"
    assert "Go to the home page" in page and internals_in(page) == []


def test_a_non_staff_user_gets_a_403_in_words_logged_once(client, user, capfd):
    """django.request's own 4xx warning (with a traceback for a 403) would repeat the
    server's access line; Django's console handler would then print it twice."""
    client.force_login(user)
    response = client.get(reverse("taskhub:status"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "This page is for staff only." in page and "Go to the home page" in page
    assert "Forbidden" not in capfd.readouterr().err


def test_logout_by_get_is_a_page_with_the_button_not_a_405(user_client):
    page = user_client.get("/accounts/logout/")
    assert page.status_code == 200
    assert 'id="logout"' in page.content.decode()
    assert user_client.post("/accounts/logout/").status_code == 302
    anonymous = Client().get("/accounts/logout/").content.decode()
    assert "You are logged out" in anonymous


def test_every_worker_command_in_the_docs_prints_its_ready_line():
    """Without ``--loglevel`` a worker prints nothing after its banner."""
    commands = [
        line
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
        for line in re.findall(r"celery -A \w+ worker -Q[^`\n]*", path.read_text())
    ]
    assert len(commands) > 8
    assert [c for c in commands if "--loglevel" not in c] == []
