"""The rembg layout's conventions in numpy: the official U^2-Net input normalisation and the
per-image min-max of its output (what rembg's ``u2net_custom`` session does around the model)."""

from __future__ import annotations

import numpy as np

from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD


def official_preprocess(batch: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` pixel values [0, 255] → NCHW float32 the official way (÷ image max, ImageNet mean/std)."""
    peak = np.maximum(batch.max(axis=(1, 2, 3), keepdims=True), 1e-6)
    normalised = (batch / peak - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), dtype=np.float32)


def minmax(maps: np.ndarray) -> np.ndarray:
    """Per-image min-max normalisation of ``(N, H, W)`` maps."""
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / np.maximum(high - low, 1e-8)
