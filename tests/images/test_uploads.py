"""The upload service, called as any page or API would: an image is kept with its
thumbnails queued in one transaction; anything else is refused in words, and leaves
neither a row, nor a file, nor a message behind."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from taskhub.images import uploads
from taskhub.models import Image, OutboxMessage
from tests.image_files import image_bytes

pytestmark = pytest.mark.django_db


def media_files(settings) -> list:
    return sorted(p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file())


def test_an_image_is_kept_under_a_name_of_its_own_with_its_thumbnails_queued(
    user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        image = uploads.accept(user, SimpleUploadedFile("Holiday Photo.JPEG", image_bytes()))
    assert (image.owner, image.original_name) == (user, "Holiday Photo.JPEG")
    assert image.original.name.endswith(".jpg") and "Holiday" not in image.original.name
    [message] = OutboxMessage.objects.all()
    assert (message.task_name, message.args) == ("taskhub.make_thumbnails", [image.pk])


@pytest.mark.parametrize(
    ("upload", "refusal", "fields"),
    [
        (None, uploads.UploadRefused, {"file": "This field is required."}),
        (b"name,amount\n", uploads.UploadRefused, {"file": "This file is not an image"}),
        (b"x" * 2048, uploads.UploadTooLarge, {}),
    ],
    ids=["nothing", "not an image", "too large"],
)
def test_a_refused_upload_says_why_and_leaves_nothing_behind(
    user, settings, upload, refusal, fields
):
    settings.TASKHUB_MAX_UPLOAD_BYTES = 1024 if refusal is uploads.UploadTooLarge else 10**6
    file = None if upload is None else SimpleUploadedFile("notes.csv", upload)
    with pytest.raises(refusal) as refused:
        uploads.accept(user, file)
    for field, words in fields.items():
        assert words in refused.value.fields[field][0]["message"]
    assert "InMemoryUploadedFile" not in str(refused.value.fields)
    assert not Image.objects.exists() and not OutboxMessage.objects.exists()
    assert media_files(settings) == []


def test_a_deleted_image_is_hidden_at_once(user):
    image = uploads.accept(user, SimpleUploadedFile("a.png", image_bytes(fmt="PNG")))
    uploads.delete(image)
    assert Image.objects.get(pk=image.pk).deleted_at is not None
