"""Sample photos for ``Data/test/images`` on a fresh clone, taken from scikit-image's wheel.

These files ship inside the scikit-image wheel (``skimage/data/``), so nothing is downloaded and
nobody's photos are committed. Each has a clear subject to cut out.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from RMBG.inference.image_io import list_images

#: scikit-image data files that are in the wheel itself (not fetched on demand).
SAMPLE_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


def sample_photo_paths() -> list[Path]:
    """Paths of the sample photos inside the installed scikit-image package."""
    import skimage  # deferred: scikit-image only to copy its sample photos

    folder = Path(skimage.__file__).parent / "data"
    missing = [name for name in SAMPLE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"scikit-image at {folder} lacks the sample photos {missing}; reinstall scikit-image")
    return [folder / name for name in SAMPLE_FILES]


def fill_sample_photos(folder: str | os.PathLike) -> list[Path]:
    """Copy the sample photos into ``folder`` if it holds no image yet; returns what was copied."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    if list_images(target):
        return []
    copied = []
    for source in sample_photo_paths():
        destination = target / source.name
        shutil.copyfile(source, destination)
        copied.append(destination)
    return copied
