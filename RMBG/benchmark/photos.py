"""The benchmark's photo sets: the real photos, a copy of the selected ones, and upscaled
megapixel versions kept in a cache. Imports no TensorFlow."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.paths import assets_dir, cache_dir


def default_photos() -> Path:
    """The 18 real photos of the shared assets (``$RMBG_ASSETS/u2net_testdata/images``)."""
    return assets_dir() / "u2net_testdata" / "images"


def select_photos(folder: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The photos of ``folder`` in name order, the first ``limit`` of them.

    Raises:
        FileNotFoundError: the folder is missing or holds no photos.
    """
    # deferred: image I/O (PIL, cv2) stays out of `rmbg --help` start-up
    from RMBG.inference.image_io import list_images

    photos = list_images(folder)
    if not photos:
        raise FileNotFoundError(f"photos: no photos in '{folder}'")
    return photos[:limit] if limit else photos


def stage_photos(photos: Sequence[Path], folder: str | os.PathLike) -> Path:
    """``folder`` holding exactly copies of ``photos`` (reused when it already does), so a command can take the folder."""
    folder = Path(folder)
    names = sorted(p.name for p in photos)
    if folder.is_dir() and sorted(p.name for p in folder.iterdir()) == names:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in photos:
        shutil.copy2(path, folder / path.name)
    return folder


def prepare_batch(paths: Sequence[Path], size: int) -> np.ndarray:
    """Photos decoded and resized (bilinear, like the Remover) to ``size`` x ``size``, float32 [0, 255]."""
    import cv2  # deferred: cv2 stays out of `rmbg --help` start-up

    from RMBG.inference.image_io import load_image  # deferred: image I/O (PIL, cv2) stays out of `rmbg --help` start-up

    return np.stack([
        cv2.resize(load_image(p), (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) for p in paths
    ])


def megapixel_cache(root: str | os.PathLike | None = None) -> Path:
    """Where upscaled photos are kept: ``root`` or ``$RMBG_HOME/benchmark/photos``."""
    if root is not None:
        return Path(root)

    return cache_dir() / "benchmark" / "photos"


def make_megapixel_set(photos: Sequence[Path], megapixels: float, folder: str | os.PathLike) -> list[Path]:
    """Copies of ``photos`` resized (bicubic) to about ``megapixels`` MP, aspect kept, JPEG quality 95, in ``folder``.

    Files already there are reused (the name carries the size: ``<stem>-<MP>mp.jpg``); new ones are written atomically.

    Raises:
        ValueError: ``megapixels`` is not positive.
        OSError: OpenCV cannot encode a photo.
    """
    import cv2  # deferred: cv2 stays out of `rmbg --help` start-up

    from RMBG.inference.image_io import load_image  # deferred: image I/O (PIL, cv2) stays out of `rmbg --help` start-up

    if not megapixels > 0:
        raise ValueError(f"megapixels: expected a positive size, got {megapixels}")
    folder = Path(folder)
    written = []
    for path in photos:
        target = folder / f"{path.stem}-{megapixels:g}mp.jpg"
        if not target.is_file():
            image = load_image(path)
            height, width = image.shape[:2]
            scale = math.sqrt(megapixels * 1e6 / (height * width))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(resized, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise OSError(f"photos: OpenCV could not encode '{path}' at {megapixels:g} MP as JPEG")
            atomic_write_bytes(target, data.tobytes())
        written.append(target)
    return written
