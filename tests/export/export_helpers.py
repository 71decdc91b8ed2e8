"""Shared, cached objects of the export tests: u2netp, three real photos with their Keras masks, and
each export made once per test session.

Not a conftest.py (that would shadow tests/conftest.py for ``from conftest import require_asset``):
the tests call these cached functions from their fixtures. The registry-name exports go through
the backends' cache (``$RMBG_HOME/exported``, a fresh folder for the test session), so the Remover
tests reuse them instead of exporting again.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import cv2
import numpy as np

from conftest import require_asset

#: Three real photos of different sizes and subjects.
PHOTOS = ("0002-01.jpg", "0003.jpg", "boat.jpg")


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of two masks in [0, 1] thresholded at ``threshold``."""
    union = np.logical_or(a > threshold, b > threshold).sum()
    return float(np.logical_and(a > threshold, b > threshold).sum() / union) if union else 1.0


def photo_paths() -> list[Path]:
    """The three photos (skips the test without the assets)."""
    folder = require_asset("u2net_testdata", "images")
    return [folder / name for name in PHOTOS]


@functools.lru_cache(maxsize=None)
def _u2netp():
    import RMBG

    return RMBG.create_model("u2netp", pretrained=True)


def u2netp():
    """u2netp with the official weights (skips without them)."""
    require_asset("weights", "u2netp.onnx")
    return _u2netp()


@functools.lru_cache(maxsize=None)
def _real_batch() -> np.ndarray:
    from RMBG.inference.image_io import load_image

    return np.stack([cv2.resize(load_image(p), (320, 320), interpolation=cv2.INTER_LINEAR).astype(np.float32)
                     for p in photo_paths()])


def real_batch() -> np.ndarray:
    """The three photos resized (bilinear, like the Remover) to 320x320, float32 [0, 255]."""
    photo_paths()
    return _real_batch()


@functools.lru_cache(maxsize=None)
def _keras_masks() -> np.ndarray:
    return u2netp()(real_batch(), training=False).numpy()


def keras_masks() -> np.ndarray:
    """The Keras float32 masks ``(3, 320, 320, 1)`` of :func:`real_batch`: every parity test's reference."""
    u2netp()
    return _keras_masks()


@functools.lru_cache(maxsize=None)
def _exported(format: str) -> Path:
    if format == "onnx":
        from RMBG.runtime import prepare

        return prepare("u2netp", probes=2).path
    from RMBG.export.cache import exported_file

    return exported_file("u2netp", format)


def exported(format: str) -> Path:
    """u2netp exported to ``onnx`` (the runtime artefact) or ``tflite`` (float32, the export cache)."""
    u2netp()
    return _exported(format)


@functools.lru_cache(maxsize=None)
def _rembg_onnx() -> Path:
    from RMBG.export.onnx_export import export_onnx

    folder = Path(tempfile.mkdtemp(prefix="rmbg_rembg_export_"))
    return export_onnx(u2netp(), folder / "u2netp_rembg.onnx", rembg=True)


def rembg_onnx() -> Path:
    """u2netp exported in rembg's ``u2net_custom`` layout."""
    u2netp()
    return _rembg_onnx()
