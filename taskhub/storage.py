"""Where report files live: a storage of taskhub's own, never the public media.

Reports hold people's data (the ``signups`` report has every address), so they are not
written to the default storage, which hosts serve at ``MEDIA_URL`` (cookiecutter-django
does in development, and its production settings use public-read buckets). They go to
the ``STORAGES`` alias ``"taskhub_reports"`` when the host defines one, and otherwise to
a folder ``taskhub-private`` beside ``MEDIA_ROOT``, which nothing serves. A file leaves
it only through the download view, which checks permission first; a storage that signs
URLs (django-storages' S3, say) gets a redirect to a URL that expires.
"""

import inspect
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.functional import cached_property

from taskhub import conf

#: The ``STORAGES`` alias a host sets to put report files elsewhere (S3, say).
REPORTS_ALIAS = "taskhub_reports"
PRIVATE_FOLDER = "taskhub-private"


class PrivateReportStorage(FileSystemStorage):
    """``taskhub-private/`` beside ``MEDIA_ROOT``, followed when ``MEDIA_ROOT`` changes.
    It has no URL: a link to a report file is a link to its download view."""

    @cached_property
    def base_location(self) -> str:
        return str(private_root())

    def url(self, name: str | None) -> str:
        raise ValueError("report files have no public URL: link to the download view")


def private_root() -> Path:
    """The default folder of report files: beside ``MEDIA_ROOT``, never inside it."""
    return Path(settings.MEDIA_ROOT).resolve().parent / PRIVATE_FOLDER


def reports_storage() -> Storage:
    """The storage of report files (the FileField's storage, hence a callable)."""
    if REPORTS_ALIAS in settings.STORAGES:
        return storages[REPORTS_ALIAS]
    return PrivateReportStorage()


def signed_url(storage: Storage, name: str) -> str | None:
    """A short-lived URL of ``name``, for a storage that signs its URLs (its ``url``
    takes ``expire``), or None: the file is then streamed by the download view."""
    if isinstance(storage, FileSystemStorage):
        return None
    if "expire" not in inspect.signature(storage.url).parameters:
        return None
    # Storage.url takes no expire; this storage's does (checked above).
    return storage.url(name, expire=conf.get("DOWNLOAD_URL_SECONDS"))  # type: ignore[call-arg]
