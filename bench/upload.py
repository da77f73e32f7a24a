"""Upload cost: time and peak memory of sources.store_source for a 24-megapixel JPEG and a 20 MB PNG.

Each file is measured in a fresh process (`python -m bench.upload FILE`). The peak is the kernel's
high-water mark of resident memory (VmHWM), reset just before the call, so its rise over the size before
is what storing the upload costs. Pillow allocates image memory outside Python's allocator, so tracemalloc
would not see it, and ru_maxrss would carry the parent's peak across exec.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20
PNG_LIMIT = 20 * MB  # the app's (and WaveSpeed's) upload limit
MAX_SECONDS, MAX_EXTRA_MB = 1.5, 250  # the targets


def photo_like_jpeg(path, size=(6000, 4000)):
    """A 24-megapixel JPEG with a photo's mix of smooth areas and grain (about 8 MB at quality 90)."""
    grain = Image.effect_noise((size[0] // 4, size[1] // 4), 40).resize(size, Image.Resampling.BILINEAR)
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (grain, gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    image.save(path, "JPEG", quality=90)


def incompressible_png(path, limit=PNG_LIMIT):
    """A PNG of random pixels just under the 20 MB limit: the worst case for decoding and memory."""
    side = int((limit / 3) ** 0.5) - 8
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, "PNG", compress_level=1)
    assert Path(path).stat().st_size <= limit


def memory_status(field):
    """A line of /proc/self/status in bytes: VmRSS (now) or VmHWM (peak since the last reset)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_memory():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current resident size


def measure_in_this_process(file_name):
    """Run inside the child: store the file as a source and report seconds and memory."""
    import django

    django.setup()
    from django.conf import settings

    from variations.services import sources

    data = Path(file_name).read_bytes()
    for image_format in ("PNG", "JPEG"):  # imports and codecs loaded before measuring
        warm_up = io.BytesIO()
        Image.new("RGB", (64, 64)).save(warm_up, image_format)
        sources.store_source(warm_up.getvalue())
    reset_peak_memory()
    before = memory_status("VmRSS")
    started = time.perf_counter()
    source, created = sources.store_source(data)
    seconds = time.perf_counter() - started
    peak = memory_status("VmHWM")
    assert created and source.thumbnail.size > 0
    return {
        "format": source.format,
        "pixels": f"{source.width}×{source.height}",
        "megapixels": source.width * source.height / 1e6,
        "file_mb": len(data) / MB,
        "seconds": seconds,
        "extra_memory_mb": (peak - before) / MB,
        "peak_memory_mb": peak / MB,
        "thumbnail_px": settings.FLUXSITE_THUMBNAIL_PX,
    }


def measure(file_name, data_dir):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fluxsite.settings", "FLUXSITE_DATA_DIR": str(data_dir)}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-m", "bench.upload", str(file_name)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick):
    """Both files, each in its own process and data directory (the same in a quick run: it takes seconds)."""
    files = []
    with tempfile.TemporaryDirectory(prefix="fluxsite-bench-upload-") as work:
        work = Path(work)
        for name, make in (("photo.jpg", photo_like_jpeg), ("noise.png", incompressible_png)):
            make(work / name)
            files.append({"file": name, **measure(work / name, work / f"data-{name}")})
    targets = [
        {
            "measurement": f"upload {item['format']} {item['pixels']} ({item['file_mb']:.1f} MB): time, extra memory",
            "result": f"{item['seconds']:.2f} s, {item['extra_memory_mb']:.0f} MB",
            "target": f"≤ {MAX_SECONDS} s, ≤ {MAX_EXTRA_MB} MB",
            "met": item["seconds"] <= MAX_SECONDS and item["extra_memory_mb"] <= MAX_EXTRA_MB,
        }
        for item in files
    ]
    return {"rows": files, "targets": targets}


if __name__ == "__main__":
    print(json.dumps(measure_in_this_process(sys.argv[1])))
