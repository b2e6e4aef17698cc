"""Service: decode an original once and write a thumbnail of every configured size.

``render`` is pure Pillow (bytes in, bytes out); ``make_thumbnails`` adds Django's
storage and the models. A file that is not a usable image raises ``ThumbnailError``:
retrying cannot fix it, so the caller records it and moves on.
"""

import io
import logging
from dataclasses import dataclass
from typing import IO, Any

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from taskhub import conf
from taskhub.models import Image, Thumbnail, WorkStatus

logger = logging.getLogger(__name__)

#: File extensions that differ from the format's name.
EXTENSIONS = {"jpeg": "jpg"}


def extension(fmt: str) -> str:
    """The file extension of Pillow's format ``fmt`` (``JPEG`` or ``jpeg``: ``jpg``)."""
    fmt = fmt.lower()
    return EXTENSIONS.get(fmt, fmt)


class ThumbnailError(Exception):
    """The original is not an image Pillow can safely decode.

    ``str(error)`` is the detail for the log and the staff pages (Pillow's own words);
    ``for_people`` says the same to the image's owner, in the product's words."""

    for_people = "This image is damaged or incomplete, so no thumbnail could be made."


class NotAnImage(ThumbnailError):
    for_people = "This file is not an image, or not in a format we can read."


class TooManyPixels(ThumbnailError):
    """The image declares more pixels than Pillow's ``MAX_IMAGE_PIXELS``: a
    decompression bomb, refused before it is decoded."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        megapixels = (PILImage.MAX_IMAGE_PIXELS or 0) / 1_000_000
        self.for_people = (
            f"This image is too large to open safely (over {megapixels:.3g} megapixels)."
        )


class OriginalMissing(ThumbnailError):
    for_people = "The uploaded file is no longer in storage, so no thumbnail could be made."


EXIF_ORIENTATION = 0x0112
ROTATED_ORIENTATIONS = {5, 6, 7, 8}


@dataclass(frozen=True)
class Rendition:
    size: int
    format: str
    width: int
    height: int
    content: bytes


def open_checked(source: IO[bytes]) -> PILImage.Image:
    """Open an image lazily (header only), refusing what is not one or is too big.

    ``source`` stays open: the caller owns it (Pillow's ``close()`` would close it).
    """
    try:
        img = PILImage.open(source)
    except PILImage.DecompressionBombError as exc:
        raise TooManyPixels(f"decompression bomb refused: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise NotAnImage(f"not an image: {exc}") from exc
    width, height = img.size
    if width * height > (PILImage.MAX_IMAGE_PIXELS or float("inf")):
        raise TooManyPixels(
            f"decompression bomb refused: {width}x{height} is over "
            f"{PILImage.MAX_IMAGE_PIXELS} pixels"
        )
    return img


def _to_display_mode(img: PILImage.Image) -> PILImage.Image:
    """RGB, or RGBA when the original has transparency (CMYK, palette, L, LA, I;16...)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB") if img.mode not in ("RGB", "RGBA") else img


def _encode(img: PILImage.Image, fmt: str, options: dict[str, Any]) -> bytes:
    if fmt == "jpeg" and img.mode == "RGBA":
        background = PILImage.new("RGB", img.size, "white")
        background.paste(img, mask=img.getchannel("A"))
        img = background
    buffer = io.BytesIO()
    img.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


@dataclass(frozen=True)
class Rendered:
    width: int
    height: int
    renditions: list[Rendition]


def fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The box of longest side ``size`` with the aspect of ``width`` x ``height``, never
    larger than the original. Computed from the original each time, so that making the
    small sizes from the large ones does not add up rounding errors."""
    scale = min(size / max(width, height), 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(
    source: IO[bytes],
    sizes: tuple[int, ...],
    formats: dict[str, dict[str, Any]] = conf.DEFAULTS["THUMBNAIL_FORMATS"],
) -> Rendered:
    """Every size in every format (Pillow's name and save options), from one decode of
    ``source``.

    ``draft`` asks the JPEG decoder for the smallest DCT scale still larger than the
    biggest thumbnail, so a 12-megapixel photo is decoded at 1/4 or 1/8 size. Each
    smaller thumbnail is then made from the one above it, not from the full image.
    """
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"thumbnail sizes must be positive, got {sizes!r}")
    with open_checked(source) as original:
        width, height = original.size
        if original.getexif().get(EXIF_ORIENTATION) in ROTATED_ORIENTATIONS:
            width, height = height, width
        largest = max(sizes)
        try:
            original.draft("RGB", (largest, largest))
            img = _to_display_mode(ImageOps.exif_transpose(original))
        except (OSError, SyntaxError, ValueError) as exc:
            raise ThumbnailError(f"cannot decode image: {exc}") from exc
    renditions = []
    for size in sorted(set(sizes), reverse=True):
        box = fit(width, height, size)
        if box != img.size:
            img = img.resize(box, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        for fmt, options in formats.items():
            content = _encode(img, fmt, options)
            renditions.append(Rendition(size, fmt, img.width, img.height, content))
    return Rendered(width, height, renditions)


def thumbnail_name(image_id: int, size: int, fmt: str) -> str:
    return f"images/thumbnails/{image_id}/{size}.{extension(fmt)}"


def _render_original(image: Image) -> Rendered:
    try:
        with image.original.open("rb") as source:
            return render(source, tuple(conf.get("THUMBNAIL_SIZES")), conf.get("THUMBNAIL_FORMATS"))
    except FileNotFoundError as exc:
        raise OriginalMissing(f"original file is missing: {exc}") from exc


def make_thumbnails(image: Image) -> Image:
    """Write the thumbnails of ``image``; running it again replaces them, never adds."""
    if image.status == WorkStatus.DONE:
        return image
    Image.objects.filter(pk=image.pk).update(status=WorkStatus.RUNNING)
    try:
        rendered = _render_original(image)
    except ThumbnailError as exc:
        logger.warning("image %s: no thumbnails: %s", image.pk, exc)
        image.status, image.error = WorkStatus.FAILED, exc.for_people
        image.save(update_fields=["status", "error"])
        raise

    storage = image.original.storage
    with transaction.atomic():
        for r in rendered.renditions:
            name = thumbnail_name(image.pk, r.size, r.format)
            storage.delete(name)
            saved = storage.save(name, ContentFile(r.content))
            Thumbnail.objects.update_or_create(
                image=image,
                size=r.size,
                format=r.format,
                defaults={"width": r.width, "height": r.height, "file": saved},
            )
        image.width, image.height = rendered.width, rendered.height
        image.status, image.error = WorkStatus.DONE, ""
        image.save(update_fields=["width", "height", "status", "error"])
    return image
