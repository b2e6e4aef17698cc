"""Service: take an uploaded image, or refuse it in words a person understands, and
queue its thumbnails with it; try a failed one again; delete an image.

Called the same way from the JSON API and any page of the host's. The original is saved
under a name of its own (the user's file name is kept only as ``original_name``) and
its thumbnails are queued through the outbox, in the transaction that saves the row.
"""

from pathlib import PurePath
from typing import Any, cast
from uuid import uuid4

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from taskhub import conf, task_names
from taskhub.delivery import outbox
from taskhub.images.forms import ImageUploadForm
from taskhub.images.thumbnails import extension
from taskhub.models import Image, WorkStatus


class UploadRefused(ValueError):
    """The upload is not kept. ``fields`` says why per field, as a form's errors do."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class UploadTooLarge(UploadRefused):
    """The upload is over ``TASKHUB_MAX_UPLOAD_BYTES``."""


def max_upload_bytes() -> int:
    return conf.get("MAX_UPLOAD_BYTES")


def too_large_message(limit: int) -> str:
    return f"This file is larger than {filesizeformat(limit)}, the largest upload accepted."


def accept(owner: Any, upload: UploadedFile | None) -> Image:
    """Save ``upload`` as ``owner``'s image and queue its thumbnails, or UploadRefused."""
    limit = max_upload_bytes()
    # An upload's size is set by Django's upload handlers, which made it.
    if upload is not None and cast(int, upload.size) > limit:
        raise UploadTooLarge(too_large_message(limit))
    # A form takes any mapping of files; django-stubs ask for a MultiValueDict.
    form = ImageUploadForm(files={"file": upload} if upload is not None else {})  # type: ignore[arg-type]
    if not form.is_valid():
        messages = [str(error) for errors in form.errors.values() for error in errors]
        raise UploadRefused(" ".join(messages), form.errors.get_json_data())
    upload = form.cleaned_data["file"]
    assert upload.name is not None  # FileField.clean refuses a file without a name
    image = Image(owner=owner, original_name=PurePath(upload.name).name[:255])
    name = f"{uuid4().hex}.{extension(form.cleaned_data['format'])}"
    image.original.save(name, upload, save=False)
    with transaction.atomic():
        image.save()
        outbox.enqueue(task_names.MAKE_THUMBNAILS, image.pk)
    return image


class NotRetryable(ValueError):
    """Only an image whose thumbnails failed is tried again; the message says why not."""


def retry(image: Image) -> Image:
    """Queue the thumbnails of a failed image again (once, however often it is asked)."""
    with transaction.atomic():
        again = Image.objects.filter(pk=image.pk, status=WorkStatus.FAILED).update(
            status=WorkStatus.PENDING, error=""
        )
        if not again:
            raise NotRetryable("Only an image whose thumbnails failed can be tried again.")
        outbox.enqueue(task_names.MAKE_THUMBNAILS, image.pk)
    image.refresh_from_db()
    return image


def delete(image: Image) -> None:
    """Hide the image now; its files go with the nightly purge (``FILE_RETENTION_DAYS``)."""
    image.deleted_at = timezone.now()
    image.save(update_fields=["deleted_at"])
