"""The JSON API at its edges: every refusal is JSON, ``{"error": "<for a person>", ...}``,
with its own status (401, 403, 404, 405, 413, 415, 400), never an HTML page or a 500."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from taskhub.models import Image, Report
from tests.image_files import image_bytes

pytestmark = pytest.mark.django_db

REPORTS = reverse("taskhub:api-reports")
IMAGES = reverse("taskhub:api-images")
VALID = {"kind": "orders", "params": {"start": "2026-03-14", "end": "2026-03-14"}}
SIGNUP_LIKE = {"username": "mallory", "password1": "pw", "password2": "pw"}


def refusal(response, status: int) -> dict:
    """The body of a JSON refusal with ``status``: a message for a person in ``error``."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "<" not in body["error"] and "Error" not in body["error"], body["error"]
    return body


def every_endpoint(pk: int) -> list[tuple[str, str]]:
    """(method, URL) of every method every API view accepts."""
    return [
        ("get", IMAGES),
        ("post", IMAGES),
        ("get", reverse("taskhub:api-image", args=[pk])),
        ("delete", reverse("taskhub:api-image", args=[pk])),
        ("get", REPORTS),
        ("post", REPORTS),
        ("get", reverse("taskhub:api-report", args=[pk])),
        ("post", reverse("taskhub:api-report-cancel", args=[pk])),
    ]


@pytest.fixture
def csrf_client(user) -> Client:
    """A browser's session: logged in, CSRF checks enforced, the CSRF cookie set by a page."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(reverse("taskhub:reports")).status_code == 200
    return client


def token(client: Client) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"].value}


@pytest.mark.parametrize(("method", "url"), every_endpoint(1))
def test_anonymous_is_401_in_json_before_anything_else(method, url):
    """Even a POST with no CSRF token, a wrong content type and a signup's fields: 401,
    not Django's HTML CSRF page."""
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(url, SIGNUP_LIKE)
    assert refusal(response, 401) == {"error": "authentication required"}


def test_a_wrong_method_from_anonymous_is_401_too():
    refusal(Client().put(REPORTS), 401)


def test_a_post_without_csrf_token_from_a_session_is_403_in_json(csrf_client):
    response = csrf_client.post(REPORTS, VALID, content_type="application/json")
    body = refusal(response, 403)
    assert body["reason"] == "CSRF token missing."
    assert not Report.objects.exists()


def test_a_post_with_a_wrong_csrf_token_is_403_in_json(csrf_client):
    response = csrf_client.post(
        REPORTS, VALID, content_type="application/json", headers={"X-CSRFToken": "x" * 64}
    )
    assert "incorrect" in refusal(response, 403)["reason"]
    assert not Report.objects.exists()


def test_a_post_with_the_csrf_token_succeeds(csrf_client):
    response = csrf_client.post(
        REPORTS, VALID, content_type="application/json", headers=token(csrf_client)
    )
    assert response.status_code == 202
    assert Report.objects.count() == 1


def test_an_upload_and_a_delete_are_csrf_checked_too(csrf_client):
    upload = SimpleUploadedFile("photo.jpg", image_bytes())
    refusal(csrf_client.post(IMAGES, {"file": upload}), 403)
    assert not Image.objects.exists()
    upload.seek(0)
    form = {"file": upload, "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value}
    created = csrf_client.post(IMAGES, form)
    assert created.status_code == 202
    detail = created.json()["url"]
    refusal(csrf_client.delete(detail), 403)
    assert csrf_client.delete(detail, headers=token(csrf_client)).status_code == 204


def test_a_cancel_without_csrf_token_is_403(csrf_client, user):
    report = Report.objects.create(owner=user, kind="orders", params=VALID["params"])
    url = reverse("taskhub:api-report-cancel", args=[report.pk])
    refusal(csrf_client.post(url), 403)
    report.refresh_from_db()
    assert report.status == "pending"


@pytest.mark.parametrize(
    ("method", "name", "noun"),
    [
        ("get", "taskhub:api-image", "image"),
        ("delete", "taskhub:api-image", "image"),
        ("get", "taskhub:api-report", "report"),
        ("post", "taskhub:api-report-cancel", "report"),
    ],
)
def test_an_unknown_id_is_404_in_json(user_client, method, name, noun):
    response = getattr(user_client, method)(reverse(name, args=[987654]))
    assert refusal(response, 404) == {"error": f"there is no {noun} 987654"}


def test_another_users_report_is_the_same_404_as_an_unknown_one(client, user, other_user):
    report = Report.objects.create(owner=user, kind="orders", params=VALID["params"])
    client.force_login(other_user)
    for url in (
        reverse("taskhub:api-report", args=[report.pk]),
        reverse("taskhub:api-report-cancel", args=[report.pk]),
    ):
        response = client.get(url) if url.endswith(f"{report.pk}/") else client.post(url)
        assert refusal(response, 404) == {"error": f"there is no report {report.pk}"}


@pytest.mark.parametrize(
    ("method", "name", "allowed"),
    [
        ("put", "taskhub:api-images", "GET, POST"),
        ("post", "taskhub:api-image", "GET, DELETE"),
        ("delete", "taskhub:api-reports", "GET, POST"),
        ("post", "taskhub:api-report", "GET"),
        ("get", "taskhub:api-report-cancel", "POST"),
    ],
)
def test_a_wrong_method_is_405_in_json_with_allow(user_client, method, name, allowed):
    url = reverse(name) if name.endswith("s") else reverse(name, args=[1])
    response = getattr(user_client, method)(url)
    body = refusal(response, 405)
    assert response["Allow"] == allowed
    assert body == {"error": f"{method.upper()} is not allowed here; use {allowed}"}


def test_a_json_body_over_djangos_limit_is_413_in_json(user_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {**VALID, "padding": "x" * 2000}
    response = user_client.post(REPORTS, body, content_type="application/json")
    assert refusal(response, 413) == {"error": "the request is too large"}
    assert not Report.objects.exists()


def test_an_upload_whose_fields_are_over_djangos_limit_is_413_in_json(user_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    upload = SimpleUploadedFile("photo.jpg", image_bytes())
    response = user_client.post(IMAGES, {"file": upload, "caption": "x" * 2000})
    assert refusal(response, 413) == {"error": "the request is too large"}
    assert not Image.objects.exists()


def test_an_upload_over_taskhubs_limit_is_413_in_json(user_client, settings):
    settings.TASKHUB_MAX_UPLOAD_BYTES = 10_000
    upload = SimpleUploadedFile("photo.jpg", image_bytes(1000, 1000, quality=95))
    response = user_client.post(IMAGES, {"file": upload})
    assert refusal(response, 413) == {
        "error": "This file is larger than 9.8\xa0KB, the largest upload accepted."
    }


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain"]
)
def test_a_report_request_that_is_not_json_is_415(user_client, content_type):
    """A form POST used to be a 500 (RawPostDataException) once the CSRF check read it."""
    if content_type == "multipart/form-data":
        response = user_client.post(REPORTS, {"kind": "orders"})
    else:
        response = user_client.post(REPORTS, "kind=orders", content_type=content_type)
    body = refusal(response, 415)
    assert body == {
        "error": "send the body as application/json",
        "content_types": ["application/json"],
    }
    assert not Report.objects.exists()


def test_a_multipart_report_request_with_a_csrf_token_is_415_not_500(csrf_client):
    form = {"kind": "orders", "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value}
    refusal(csrf_client.post(REPORTS, form), 415)


def test_an_upload_that_is_not_multipart_is_415(user_client):
    response = user_client.post(IMAGES, {"file": "x"}, content_type="application/json")
    assert refusal(response, 415)["content_types"] == ["multipart/form-data"]


def test_a_broken_multipart_body_is_400_in_json(user_client):
    response = user_client.post(IMAGES, b"--x\r\n", content_type="multipart/form-data")
    assert refusal(response, 400) == {"error": "the request body could not be read"}


def test_a_file_that_is_not_an_image_is_told_without_pillows_internals(user_client):
    upload = SimpleUploadedFile("a.jpg", b"just some text")
    body = refusal(user_client.post(IMAGES, {"file": upload}), 400)
    message = "This file is not an image, or not in a format we can read."
    assert body == {
        "error": message,
        "fields": {"file": [{"message": message, "code": ""}]},
    }


def test_malformed_json_says_where_without_python_internals(user_client):
    response = user_client.post(REPORTS, '{"kind": ', content_type="application/json")
    assert refusal(response, 400) == {
        "error": "The body is not valid JSON (line 1, column 10).",
        "reason": "Expecting value",
    }
