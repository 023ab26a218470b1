"""Phantom chest radiographs per second, with masks and metadata, at 224 and 512 pixels.

There is no earlier generator to race, so the baseline column is a design target: 200
images/s at 224x224 (thousands of training images in seconds on a CPU); at 512x512 the
target scales with the pixel count.
"""

from __future__ import annotations

from cxrlab.timing import median_time

from .common import Row

TARGET_224 = 200.0  # images/s


def run(*, tiny: bool = False, repeats: int = 3) -> list[Row]:
    from cxrlab.phantom import generate

    rows = []
    for size in (224, 512):
        n = 16 if tiny else (512 if size == 224 else 128)
        seconds = median_time(lambda: generate(n, size=size, seed=1, progress=False), repeats=repeats)
        target = TARGET_224 * (224 / size) ** 2
        rows.append(Row("phantom", f"phantoms per second at {size}x{size} (with masks, metadata)",
                        f"target {target:.0f} img/s", target, n / seconds, "img/s",
                        higher_is_better=True, note=f"{n} images per run, median of {repeats}"))
    return rows
