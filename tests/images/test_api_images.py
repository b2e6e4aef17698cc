"""POST /api/images/ and GET /api/images/<id>/: status codes, shapes, permissions, bad input."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image as PILImage

from taskhub.models import Image
from tests.image_files import image_bytes

pytestmark = pytest.mark.django_db
URL = reverse("taskhub:api-images")


def upload(client, content: bytes, name: str = "photo.jpg", **extra):
    return client.post(URL, {"file": SimpleUploadedFile(name, content), **extra})


def test_anonymous_users_get_401(client):
    assert client.get(URL).status_code == 401
    assert upload(client, image_bytes()).json() == {"error": "authentication required"}


def test_upload_answers_202_then_the_thumbnails_are_listed(
    user_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(user_client, image_bytes(1200, 800))
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "url"}
    assert body["status"] == "pending"
    detail = user_client.get(body["url"]).json()
    assert set(detail) == {"id", "status", "error", "url", "name", "thumbnails"}
    assert detail["status"] == "done"
    assert detail["error"] == ""
    jpegs = [t for t in detail["thumbnails"] if t["format"] == "jpeg"]
    assert [(t["size"], t["width"], t["height"]) for t in jpegs] == [
        (128, 128, 85),
        (256, 256, 171),
        (512, 512, 341),
    ]
    assert all(t["url"].startswith("/media/images/thumbnails/") for t in jpegs)
    listing = user_client.get(URL).json()
    assert [i["id"] for i in listing["images"]] == [body["id"]]


def test_the_client_file_name_never_chooses_where_the_file_is_written(user_client, settings):
    response = upload(user_client, image_bytes(), name="../../../etc/evil.jpg")
    assert response.status_code == 202
    image = Image.objects.get(pk=response.json()["id"])
    assert image.original_name == "evil.jpg"
    assert image.original.name.startswith("images/originals/")
    assert ".." not in image.original.name
    assert image.original.path.startswith(str(settings.MEDIA_ROOT))


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "The submitted file is empty."), (b"just some text", "not an image")],
)
def test_not_an_image_is_400(user_client, content, message):
    response = upload(user_client, content)
    assert response.status_code == 400
    assert message in str(response.json()["fields"])
    assert not Image.objects.exists()


def test_a_missing_file_is_400(user_client):
    response = user_client.post(URL, {})
    assert response.status_code == 400
    assert "This field is required." in str(response.json()["fields"])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_is_400(user_client, monkeypatch):
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 500 * 500)
    response = upload(user_client, image_bytes(600, 600, fmt="PNG"), name="bomb.png")
    assert response.status_code == 400
    assert (
        response.json()["error"] == "This image is too large to open safely (over 0.25 megapixels)."
    )


def test_an_upload_over_the_limit_is_413(user_client, settings):
    settings.TASKHUB_MAX_UPLOAD_BYTES = 10_000
    response = upload(user_client, image_bytes(1000, 1000, quality=95))
    assert response.status_code == 413
    assert response.json() == {
        "error": "This file is larger than 9.8\xa0KB, the largest upload accepted."
    }
    assert not Image.objects.exists()


def test_unknown_fields_are_400(user_client):
    response = upload(user_client, image_bytes(), caption="hello")
    assert response.status_code == 400
    assert response.json() == {"error": "unknown fields: caption", "unknown": ["caption"]}


def test_another_users_image_is_404_and_staff_sees_it(client, user, other_user, staff_user):
    client.force_login(user)
    image_id = upload(client, image_bytes()).json()["id"]
    detail = reverse("taskhub:api-image", args=[image_id])
    client.force_login(other_user)
    assert client.get(detail).status_code == 404
    assert client.delete(detail).status_code == 404
    assert client.get(URL).json() == {"images": []}
    client.force_login(staff_user)
    assert client.get(detail).status_code == 200


def test_delete_hides_the_image(user_client):
    image_id = upload(user_client, image_bytes()).json()["id"]
    detail = reverse("taskhub:api-image", args=[image_id])
    assert user_client.delete(detail).status_code == 204
    assert user_client.get(detail).status_code == 404
    assert Image.objects.get(pk=image_id).deleted_at is not None


def test_wrong_method_is_405(user_client):
    assert user_client.put(URL).status_code == 405


def test_the_gallery_page_needs_a_login(client, user):
    assert client.get(reverse("demo:gallery")).status_code == 302
    client.force_login(user)
    assert b'id="upload"' in client.get(reverse("demo:gallery")).content


def test_a_failed_image_is_tried_again_once_and_only_when_failed(
    user_client, other_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image_id = upload(user_client, image_bytes(300, 200)).json()["id"]
    retry = reverse("taskhub:api-image-retry", args=[image_id])
    refused = user_client.post(retry)
    assert refused.status_code == 409
    assert refused.json() == {"error": "Only an image whose thumbnails failed can be tried again."}
    Image.objects.filter(pk=image_id).update(status="failed", error="worker lost")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        again = user_client.post(retry)
        twice = user_client.post(retry)
    assert (again.status_code, again.json()["status"], again.json()["error"]) == (
        202,
        "pending",
        "",
    )
    assert twice.status_code == 409, "asked twice, queued once"
    assert len(queued) == 1
    other = user_client.__class__()
    other.force_login(other_user)
    assert other.post(retry).status_code == 404, "another user's image is not found"
