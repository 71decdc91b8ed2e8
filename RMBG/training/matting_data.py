"""Training samples of the matting and refinement tasks, made in NumPy from exact targets.

* Matting: composites ``I = a F + (1 - a) B`` from exact alphas: the shapes of
  :mod:`RMBG.data.synthetic` (anti-aliased), randomly softened (Gaussian blur) and given thin
  semi-transparent strands (hair-like), or real foreground/alpha pairs. Foregrounds are the
  synthetic textures or crops of real photos; backgrounds are random crops of real photos (or the
  synthetic backgrounds without them). Trimaps come from the GT alpha: the certain foreground
  (``a >= 0.99``) and background (``a <= 0.01``) eroded by random squares, the rest unknown (so
  every fractional pixel is unknown).
* Refinement: the coarse input mask is the GT perturbed by random dilation/erosion, shifts,
  down-up sampling, holes and blobs, blur and noise.

Every sample is a pure function of ``(seed, index)``. Imports no TensorFlow.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from RMBG.data.synthetic import synthetic_sample
from RMBG.matting.fba import trimap_transform, two_channel_trimap


def random_crop(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop (at least half the short side) of ``photo``, flipped with probability
    0.5, resized (area) to ``size``; float32."""
    height, width = photo.shape[:2]
    side = int(rng.integers(min(height, width) // 2, min(height, width) + 1))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    crop = photo[top:top + side, left:left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def add_strands(rng: np.random.Generator, alpha: np.ndarray, count: int) -> np.ndarray:
    """``alpha`` with ``count`` thin semi-transparent curves leaving the object's edge (drawn at
    4x, area-downsampled)."""
    size = alpha.shape[0]
    edge = np.argwhere((alpha > 0.2) & (alpha < 0.8))
    if len(edge) == 0:
        return alpha
    canvas = np.zeros((size * 4, size * 4), np.float32)
    for _ in range(count):
        y, x = edge[int(rng.integers(len(edge)))] * 4.0
        angle = rng.uniform(0, 2 * np.pi)
        points = []
        for _ in range(int(rng.integers(3, 7))):
            points.append((int(x), int(y)))
            angle += rng.normal(0, 0.4)
            step = rng.uniform(2, 5) * 4
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
        cv2.polylines(canvas, [np.array(points, np.int32)], False, float(rng.uniform(0.4, 1.0)), thickness=int(rng.integers(1, 3)))
    strands = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.maximum(alpha, strands)


def training_trimap(rng: np.random.Generator, alpha: np.ndarray, max_band: int) -> np.ndarray:
    """A trimap in [0, 1] (0 / 0.5 / 1) from a GT alpha with random erosion of the certain regions.

    Every pixel with ``0.01 < alpha < 0.99`` is unknown; the certain foreground and background
    are eroded by random squares of side 3..``max_band`` (different for each).
    """
    fg = (alpha >= 0.99).astype(np.uint8)
    bg = (alpha <= 0.01).astype(np.uint8)
    fg = cv2.erode(fg, np.ones((int(rng.integers(3, max_band + 1)),) * 2, np.uint8))
    bg = cv2.erode(bg, np.ones((int(rng.integers(3, max_band + 1)),) * 2, np.uint8))
    trimap = np.full(alpha.shape, 0.5, np.float32)
    trimap[bg.astype(bool)] = 0.0
    trimap[fg.astype(bool)] = 1.0
    return trimap


def _layers(rng, size, backgrounds, foregrounds, index):
    """``(alpha, foreground, background)`` of one composite, float32 / [0, 255]."""
    _, alpha, synthetic_fg, synthetic_bg = synthetic_sample(rng, (size, size), supersample=4, layers=True)
    if foregrounds and index % 2 == 1:
        image, real_alpha = foregrounds[int(rng.integers(len(foregrounds)))]
        stacked = np.concatenate([image.astype(np.float32), real_alpha[..., None] * 255.0], axis=-1)
        crop = random_crop(rng, stacked, size)
        fg, alpha = crop[..., :3], np.clip(crop[..., 3] / 255.0, 0.0, 1.0)
    else:
        if rng.random() < 0.5:
            alpha = cv2.GaussianBlur(alpha, (0, 0), float(rng.uniform(0.5, 2.0)))
        if rng.random() < 0.6:
            alpha = add_strands(rng, alpha, int(rng.integers(4, 16)))
        use_photo = backgrounds is not None and rng.random() < 0.5
        fg = random_crop(rng, backgrounds[int(rng.integers(len(backgrounds)))], size) if use_photo else synthetic_fg
    use_photo = backgrounds is not None and rng.random() < 0.8
    bg = random_crop(rng, backgrounds[int(rng.integers(len(backgrounds)))], size) if use_photo else synthetic_bg
    return np.clip(alpha, 0.0, 1.0).astype(np.float32), np.asarray(fg, np.float32), np.asarray(bg, np.float32)


def matting_samples(
    count: int,
    size: int,
    *,
    seed: int,
    backgrounds: np.ndarray | None = None,
    foregrounds: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    max_band: int = 13,
) -> tuple[np.ndarray, np.ndarray]:
    """Composites for the matting network.

    Args:
        count: samples.
        size: square side.
        seed: the samples are a pure function of it.
        backgrounds: ``(M, h, w, 3)`` photos (pixel values in [0, 255]) to crop backgrounds (and
            half the foreground colours) from; ``None``: synthetic backgrounds and textures only.
        foregrounds: real ``(image uint8 HxWx3, alpha float HxW)`` pairs; when given, every other
            sample uses one of them (random crop).
        max_band: see :func:`training_trimap`.

    Returns:
        ``(inputs (N, size, size, 4) float32: RGB [0, 255] + trimap [0, 1],
        targets (N, size, size, 8): alpha, unknown, F, B in [0, 1])``.
    """
    # deferred: TensorFlow only to pack the targets; sample synthesis stays TF-free
    from RMBG.training.matting_losses import pack_targets

    inputs = np.empty((count, size, size, 4), np.float32)
    targets = np.empty((count, size, size, 8), np.float32)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        alpha, fg, bg = _layers(rng, size, backgrounds, foregrounds, i)
        image = np.clip(np.round(alpha[..., None] * fg + (1 - alpha[..., None]) * bg), 0, 255)
        trimap = training_trimap(rng, alpha, max_band)
        inputs[i] = np.concatenate([image, trimap[..., None]], axis=-1)
        targets[i] = pack_targets(alpha, (trimap == 0.5).astype(np.float32), fg / 255.0, bg / 255.0)
    return inputs, targets


def fba_training_inputs(inputs: np.ndarray) -> dict[str, np.ndarray]:
    """FBA matting's three inputs for :func:`matting_samples`' ``(N, H, W, 4)`` array (RGB [0, 255]
    and the trimap as 0 / 0.5 / 1): ``{"image": RGB in [0, 1], "trimap": the two-channel trimap,
    "trimap_transform": its distance encoding}`` (:mod:`RMBG.matting.fba`, the same functions
    inference uses; the distance transform is computed here, once per sample, not in the graph).

    Raises:
        ValueError: not an ``(N, H, W, 4)`` array.
    """
    inputs = np.asarray(inputs, np.float32)
    if inputs.ndim != 4 or inputs.shape[-1] != 4:
        raise ValueError(f"inputs: expected (N, H, W, 4) RGB + trimap samples, got shape {inputs.shape}")
    two = np.stack([two_channel_trimap(trimap) for trimap in inputs[..., 3]]).astype(np.float32)
    return {
        "image": inputs[..., :3] / 255.0,
        "trimap": two,
        "trimap_transform": np.stack([trimap_transform(t) for t in two]).astype(np.float32),
    }


def perturb_mask(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A coarse version of a binary mask: random dilation/erosion, shift, down-up sampling, blur,
    holes and blobs, noise. Returns float32 in [0, 1]."""
    size = mask.shape[0]
    coarse = mask.astype(np.float32)
    side = int(rng.integers(1, max(2, size // 10)))
    if side > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        coarse = cv2.dilate(coarse, kernel) if rng.random() < 0.5 else cv2.erode(coarse, kernel)
    if rng.random() < 0.5:
        shift = rng.integers(-size // 20 - 1, size // 20 + 2, size=2)
        coarse = cv2.warpAffine(coarse, np.float32([[1, 0, shift[1]], [0, 1, shift[0]]]), (size, size))
    if rng.random() < 0.7:
        factor = int(rng.integers(4, 12))
        small = cv2.resize(coarse, (max(2, size // factor),) * 2, interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(0, 4))):  # holes and blobs
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(2, size // 6 + 3)), int(rng.integers(2, size // 6 + 3)))
        value = float(rng.random() < 0.5)
        cv2.ellipse(coarse, centre, axes, float(rng.uniform(0, 180)), 0, 360, value, -1)
    if rng.random() < 0.7:
        coarse = cv2.GaussianBlur(coarse, (0, 0), float(rng.uniform(0.5, 3.0)))
    coarse = coarse + rng.normal(0, rng.uniform(0, 0.08), coarse.shape).astype(np.float32)
    return np.clip(coarse, 0.0, 1.0).astype(np.float32)


def refiner_samples(
    photos: np.ndarray, masks: np.ndarray, perturbations: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``perturbations`` coarse masks per photo (photo and mask flipped with probability 0.5):
    ``(inputs (N, H, W, 4): RGB [0, 255] + coarse mask, targets (N, H, W, 1))``."""
    count = len(photos) * perturbations
    height, width = photos.shape[1:3]
    inputs = np.empty((count, height, width, 4), np.float32)
    targets = np.empty((count, height, width, 1), np.float32)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        k = i % len(photos)
        photo, mask = photos[k], masks[k]
        if rng.random() < 0.5:
            photo, mask = photo[:, ::-1], mask[:, ::-1]
        inputs[i, ..., :3] = photo
        inputs[i, ..., 3] = perturb_mask(rng, np.ascontiguousarray(mask))
        targets[i, ..., 0] = mask
    return inputs, targets
