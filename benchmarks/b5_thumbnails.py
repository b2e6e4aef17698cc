"""B5: 12-megapixel JPEGs to the three default sizes, each in JPEG and WebP: ms per
image and peak RSS. Baselines: naive Pillow (full decode, every size resized from the
full image) and pyvips ``thumbnail_buffer`` (shrink-on-load), same sizes and quality.

Each contender runs in a fresh process, so its peak RSS is its own.
"""

import io
import json
import sys
import time

from benchmarks import harness

SIZES = (128, 256, 512)
IMAGES = 3
ROUNDS = 5
QUALITY = {"jpeg": 85, "webp": 80}


def photo(seed: int) -> bytes:
    """A 4000x3000 JPEG that compresses like a photo: gradients, shapes and noise."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = 4000, 3000
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(base)
    for i in range(60):
        x, y = (seed * 7919 + i * 104729) % width, (seed * 15485863 + i * 1299709) % height
        draw.ellipse((x, y, x + 400, y + 300), fill=((i * 40) % 256, (i * 90) % 256, 128))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(base, noise, 0.15).filter(ImageFilter.GaussianBlur(1))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def taskhub_render(data: bytes) -> int:
    from taskhub.images.thumbnails import render

    return len(render(io.BytesIO(data), SIZES).renditions)


def naive_pillow(data: bytes) -> int:
    from PIL import Image

    made = 0
    with Image.open(io.BytesIO(data)) as original:
        original.load()
        for size in SIZES:
            scale = size / max(original.size)
            box = (round(original.width * scale), round(original.height * scale))
            thumbnail = original.resize(box, Image.Resampling.LANCZOS)
            for fmt, quality in QUALITY.items():
                thumbnail.save(io.BytesIO(), fmt.upper(), quality=quality)
                made += 1
    return made


def pyvips_thumbnail(data: bytes) -> int:
    import pyvips

    made = 0
    for size in SIZES:
        thumbnail = pyvips.Image.thumbnail_buffer(data, size).copy_memory()
        for fmt, quality in QUALITY.items():
            thumbnail.write_to_buffer(f".{fmt}", Q=quality)
            made += 1
    return made


CONTENDERS = {
    "taskhub render()": taskhub_render,
    "naive Pillow": naive_pillow,
    "pyvips thumbnail": pyvips_thumbnail,
}


def one(name: str, folder: str) -> dict:
    """Run in a fresh process: time every image ROUNDS times, report the peak RSS."""
    from pathlib import Path

    harness.setup_django()
    images = [p.read_bytes() for p in sorted(Path(folder).glob("*.jpg"))]
    function = CONTENDERS[name]
    function(images[0])
    times = []
    for _ in range(ROUNDS):
        for data in images:
            started = time.perf_counter()
            assert function(data) == len(SIZES) * len(QUALITY)
            times.append((time.perf_counter() - started) * 1000)
    peak = harness.peak_rss_mb()
    return {"ms": harness.median(times), "peak_mb": peak}


def run() -> harness.Result:
    folder = harness.VAR_DIR / "b5"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(IMAGES):
        path = folder / f"photo{i}.jpg"
        if not path.exists():
            path.write_bytes(photo(i))
    figures = {
        name: harness.in_fresh_process("benchmarks.b5_thumbnails", name, str(folder))
        for name in CONTENDERS
    }
    result = harness.Result(
        f"B5 thumbnails, {IMAGES} x 12 MP JPEG -> {SIZES} x JPEG+WebP, median of {ROUNDS} rounds"
    )
    for name, f in figures.items():
        result.add(name, **{"ms/image": f"{f['ms']:.0f}", "peak RSS (MB)": str(f["peak_mb"])})
    ours = figures["taskhub render()"]["ms"]
    vips, naive = figures["pyvips thumbnail"]["ms"], figures["naive Pillow"]["ms"]
    result.target("at least as fast as pyvips", ours <= vips, f"{vips / ours:.2f}x pyvips")
    result.target(">= 3x naive Pillow", naive >= 3 * ours, f"{naive / ours:.1f}x")
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(sys.argv[2], sys.argv[3])))
    else:
        print(run().markdown())
