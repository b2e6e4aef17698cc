"""Images made on the fly for the tests: no binary fixtures in the repository."""

import io

from django.core.files.base import ContentFile
from PIL import Image

from taskhub import models


def image_bytes(
    width: int = 800,
    height: int = 600,
    fmt: str = "JPEG",
    mode: str = "RGB",
    orientation: int | None = None,
    **save: object,
) -> bytes:
    img = Image.new(mode, (width, height))
    if mode in ("RGB", "RGBA"):
        # A gradient, so encoders and resamplers have real work to do.
        gradient = Image.linear_gradient("L").resize((width, height))
        img.paste(Image.merge("RGB", (gradient, gradient.rotate(90), gradient)), (0, 0))
    if mode == "RGBA":
        img.putalpha(128)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def palette_png_with_transparency() -> bytes:
    img = Image.new("P", (300, 200), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (0, 0, 150, 200))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


def stored_image(owner, content: bytes, name: str = "photo.jpg") -> models.Image:
    """An uploaded image's row and original, as the upload service would leave them."""
    image = models.Image(owner=owner, original_name=name)
    image.original.save(name, ContentFile(content), save=True)
    return image
