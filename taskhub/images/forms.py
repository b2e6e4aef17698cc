"""The upload form: what the upload service asks of a file before it keeps it."""

import logging

from django import forms
from django.core.files.uploadedfile import UploadedFile

from taskhub.images import thumbnails

logger = logging.getLogger(__name__)


class ImageUploadForm(forms.Form):
    file = forms.FileField(allow_empty_file=False)

    def clean_file(self) -> UploadedFile:
        """Read the header only: refuse what is not an image, or is a decompression bomb.
        Pillow's own words (with reprs of the upload) go to the log, not to the user."""
        upload = self.cleaned_data["file"]
        try:
            with thumbnails.open_checked(upload) as header:
                self.cleaned_data["format"] = header.format
        except thumbnails.ThumbnailError as exc:
            logger.info("upload refused: %s", exc)
            raise forms.ValidationError(exc.for_people) from exc
        finally:
            upload.seek(0)
        return upload
