"""The thumbnail service: one decode, every size, correct colours, bad input refused."""

import io

import pytest
from PIL import Image as PILImage
from PIL import JpegImagePlugin

from taskhub.images import thumbnails
from taskhub.models import Image, Thumbnail, WorkStatus
from taskhub.tasks import make_thumbnails
from tests.image_files import image_bytes, palette_png_with_transparency, stored_image

SIZES = (128, 256, 512)


def by_key(rendered):
    return {(r.size, r.format): r for r in rendered.renditions}


def decoded(r) -> PILImage.Image:
    return PILImage.open(io.BytesIO(r.content))


def test_every_size_in_jpeg_and_webp_with_the_aspect_kept():
    rendered = thumbnails.render(io.BytesIO(image_bytes(1600, 1200)), SIZES)
    assert (rendered.width, rendered.height) == (1600, 1200)
    found = by_key(rendered)
    assert set(found) == {(s, f) for s in SIZES for f in ("jpeg", "webp")}
    for (size, fmt), r in found.items():
        assert (r.width, r.height) == (size, size * 3 // 4)
        img = decoded(r)
        assert img.format == fmt.upper()
        assert img.size == (r.width, r.height)


def test_a_small_original_is_never_upscaled():
    rendered = thumbnails.render(io.BytesIO(image_bytes(100, 40)), SIZES)
    assert {(r.width, r.height) for r in rendered.renditions} == {(100, 40)}


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    sizes_decoded = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real_draft(self, mode, size)
        sizes_decoded.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    thumbnails.render(io.BytesIO(image_bytes(4000, 3000)), SIZES)
    assert sizes_decoded == [(1000, 750)]


def test_exif_orientation_is_applied():
    rendered = thumbnails.render(io.BytesIO(image_bytes(800, 400, orientation=6)), SIZES)
    assert (rendered.width, rendered.height) == (400, 800)
    r = by_key(rendered)[(256, "jpeg")]
    assert (r.width, r.height) == (128, 256)
    assert decoded(r).getexif().get(0x0112) is None


def test_cmyk_becomes_rgb():
    rendered = thumbnails.render(io.BytesIO(image_bytes(600, 600, mode="CMYK")), SIZES)
    assert {decoded(r).mode for r in rendered.renditions} == {"RGB"}


def test_transparency_is_kept_in_webp_and_flattened_on_white_in_jpeg():
    rendered = by_key(thumbnails.render(io.BytesIO(palette_png_with_transparency()), SIZES))
    webp, jpeg = decoded(rendered[(128, "webp")]), decoded(rendered[(128, "jpeg")])
    assert webp.mode == "RGBA"
    assert webp.getpixel((10, 10))[3] == 255, "the left half is opaque green"
    assert webp.getpixel((120, 40))[3] == 0, "the right half is transparent"
    assert jpeg.mode == "RGB"
    assert min(jpeg.getpixel((120, 40))) > 240, "transparent becomes white in JPEG"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not an image"),
        (b"GIF89a but not really", "not an image"),
        (b"%PDF-1.7 a document", "not an image"),
        (image_bytes(800, 600)[:2000], "cannot decode image"),
    ],
    ids=["zero bytes", "fake header", "not an image", "truncated"],
)
def test_bad_input_is_a_clear_thumbnail_error(content, reason):
    with pytest.raises(thumbnails.ThumbnailError, match=reason):
        thumbnails.render(io.BytesIO(content), SIZES)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000 * 1000)
    with pytest.raises(thumbnails.TooManyPixels, match="decompression bomb"):
        thumbnails.render(io.BytesIO(image_bytes(1100, 1000, fmt="PNG")), SIZES)
    with pytest.raises(thumbnails.TooManyPixels, match="decompression bomb"):
        thumbnails.render(io.BytesIO(image_bytes(3000, 3000, fmt="PNG")), SIZES)


@pytest.mark.django_db
def test_the_service_stores_one_set_of_thumbnails_even_when_run_twice(user, settings):
    image = stored_image(user, image_bytes(1200, 900))
    thumbnails.make_thumbnails(image)
    Image.objects.filter(pk=image.pk).update(status=WorkStatus.PENDING)
    thumbnails.make_thumbnails(Image.objects.get(pk=image.pk))
    image.refresh_from_db()
    assert image.status == WorkStatus.DONE
    assert (image.width, image.height) == (1200, 900)
    assert Thumbnail.objects.filter(image=image).count() == 6
    folder = settings.MEDIA_ROOT / "images" / "thumbnails" / str(image.pk)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{s}.{ext}" for s in SIZES for ext in ("jpg", "webp")
    )


@pytest.mark.django_db
def test_a_broken_image_is_recorded_as_failed_and_the_task_does_not_retry(user, monkeypatch):
    image = stored_image(user, b"this is not an image at all")
    calls = []
    real = thumbnails.make_thumbnails
    monkeypatch.setattr(thumbnails, "make_thumbnails", lambda i: calls.append(i) or real(i))
    with pytest.raises(thumbnails.ThumbnailError, match="not an image"):
        make_thumbnails.delay(image.pk)
    image.refresh_from_db()
    assert image.status == WorkStatus.FAILED
    assert image.error == "This file is not an image, or not in a format we can read."
    assert len(calls) == 1
    assert not Thumbnail.objects.filter(image=image).exists()


@pytest.mark.django_db
def test_a_missing_original_file_is_recorded_as_failed(user):
    image = stored_image(user, image_bytes())
    image.original.storage.delete(image.original.name)
    with pytest.raises(thumbnails.ThumbnailError, match="original file is missing"):
        make_thumbnails.delay(image.pk)
    image.refresh_from_db()
    assert image.status == WorkStatus.FAILED
    assert image.error == (
        "The uploaded file is no longer in storage, so no thumbnail could be made."
    )


@pytest.mark.django_db
def test_the_task_fails_fast_for_an_image_that_does_not_exist():
    with pytest.raises(LookupError, match="image 999 does not exist"):
        make_thumbnails.delay(999)


@pytest.mark.django_db
def test_the_task_returns_what_it_made(user):
    image = stored_image(user, image_bytes())
    assert make_thumbnails.delay(image.pk).get() == {
        "image": image.pk,
        "status": "done",
        "thumbnails": 6,
    }


@pytest.mark.django_db
def test_a_host_chooses_its_own_sizes_and_formats(user, settings):
    settings.TASKHUB_THUMBNAIL_SIZES = (64,)
    settings.TASKHUB_THUMBNAIL_FORMATS = {"png": {"optimize": True}}
    image = thumbnails.make_thumbnails(stored_image(user, image_bytes(400, 200)))
    [thumbnail] = image.thumbnails.all()
    assert (thumbnail.size, thumbnail.format, thumbnail.width, thumbnail.height) == (
        64,
        "png",
        64,
        32,
    )
    assert thumbnail.file.name.endswith("/64.png")
    assert PILImage.open(thumbnail.file).format == "PNG"
