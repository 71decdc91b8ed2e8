"""A synthetic salient-object dataset with exact ground truth, for tests and demos.

Each sample is one to three foreground shapes (rotated ellipses and star-shaped polygons) filled
with a saturated striped texture, composited over a low-contrast blotchy background. Shape edges
are anti-aliased by supersampling (``supersample`` x ``supersample`` points per pixel), and the
photo is composited with exactly the alpha that is returned::

    photo = alpha * foreground + (1 - alpha) * background      (then rounded to uint8)

so the ground truth is exact up to that rounding. Everything is a pure function of the seed.

:func:`synthetic_arrays` returns arrays; :func:`write_synthetic_dataset` writes the dataset
layout of ``Preprocess.prepare_dataset`` (``images/<category>_<nnnn>.png``,
``masks/<category>_<nnnn>.png``, ``index.csv``). Imports no TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from RMBG.data.index import COLUMNS as INDEX_COLUMNS  # the one schema, named as before
from RMBG.data.index import write_index


def _check_size(image_size: Sequence[int]) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}") from None
    if min(height, width) < 8:
        raise ValueError(f"image_size: expected sides of at least 8 pixels, got {image_size!r}")
    return height, width


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid upsampled bilinearly."""
    grid = rng.random((cells + 1, cells + 1))
    ys = np.linspace(0, cells, height)
    xs = np.linspace(0, cells, width)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Muted, blotchy colours: a grey-ish base tinted by smooth noise."""
    base = rng.uniform(70, 190)
    tint = rng.uniform(-25, 25, size=3)
    noise = np.stack([_smooth_noise(rng, height, width, int(rng.integers(3, 7))) for _ in range(3)], axis=-1)
    fine = rng.normal(0, 6, size=(height, width, 1))
    return np.clip(base + tint + (noise - 0.5) * 60 + fine, 0, 255)  # float64 RGB


def _foreground(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A saturated two-colour striped texture at a random angle and period."""
    hue_a = rng.random()
    colour_a = _hsv_to_rgb(hue_a, rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
    colour_b = _hsv_to_rgb((hue_a + rng.uniform(0.25, 0.5)) % 1.0, rng.uniform(0.7, 1.0), rng.uniform(0.4, 0.8))
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, 10) * max(height, width) / 64
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
    weight = (0.5 + 0.5 * np.sin(phase))[..., None]
    return weight * colour_a + (1 - weight) * colour_b


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.asarray(rgb) * 255.0


def _ellipse_inside(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, height: int, width: int) -> np.ndarray:
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    ry, rx = rng.uniform(0.12, 0.32) * height, rng.uniform(0.12, 0.32) * width
    theta = rng.uniform(0, np.pi)
    dy, dx = ys - cy, xs - cx
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def _polygon_inside(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inside test of a random star-shaped polygon around a centre (radius interpolated per edge)."""
    vertices = int(rng.integers(3, 9))
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    scale = min(height, width)
    # jittered even spacing keeps every angular gap below pi, so the polygon is star-shaped
    spacing = 2 * np.pi / vertices
    jittered = (np.arange(vertices) + rng.uniform(-0.2, 0.2, vertices)) * spacing + rng.uniform(0, spacing)
    angles = np.sort(np.mod(jittered, 2 * np.pi))
    radii = rng.uniform(0.12, 0.35, vertices) * scale
    px, py = radii * np.cos(angles), radii * np.sin(angles)
    dy, dx = ys - cy, xs - cx
    phi = np.mod(np.arctan2(dy, dx), 2 * np.pi)
    # the edge whose angular interval holds phi: from vertex k to vertex k+1 (cyclic)
    k = (np.searchsorted(angles, phi, side="right") - 1) % vertices
    k1 = (k + 1) % vertices
    ax, ay, bx, by = px[k], py[k], px[k1], py[k1]
    # the ray from the centre at angle phi meets the edge a-b at distance r_edge
    ux, uy = np.cos(phi), np.sin(phi)
    ex, ey = bx - ax, by - ay
    denominator = ux * ey - uy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        r_edge = (ax * ey - ay * ex) / denominator
    r_edge = np.where(np.abs(denominator) < 1e-12, np.hypot(ax, ay), r_edge)
    return np.hypot(dx, dy) <= r_edge


def synthetic_sample(
    rng: np.random.Generator, image_size: Sequence[int] = (64, 64), *, supersample: int = 4, layers: bool = False
) -> tuple[np.ndarray, ...]:
    """One photo and its exact alpha.

    Args:
        rng: the random generator (the sample is a pure function of its state).
        image_size: ``(height, width)``.
        supersample: points per pixel side used to anti-alias shape edges.
        layers: also return the foreground and background layers (float64 RGB in [0, 255]), the
            exact ground truth of foreground estimation and matting demos.

    Returns:
        ``(photo uint8 (H, W, 3), alpha float32 (H, W) in [0, 1])``, plus
        ``(foreground, background)`` with ``layers=True``; ``photo`` is exactly
        ``round(alpha * foreground + (1 - alpha) * background)``.
    """
    height, width = _check_size(image_size)
    if supersample < 1:
        raise ValueError(f"supersample: expected a positive integer, got {supersample!r}")
    offsets = (np.arange(supersample) + 0.5) / supersample
    ys = (np.arange(height)[:, None] + offsets[None, :]).reshape(-1)
    xs = (np.arange(width)[:, None] + offsets[None, :]).reshape(-1)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    inside = np.zeros(yy.shape, dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        shape = _ellipse_inside if rng.random() < 0.5 else _polygon_inside
        inside |= shape(rng, yy, xx, height, width)
    coverage = inside.reshape(height, supersample, width, supersample).mean(axis=(1, 3))
    alpha = coverage.astype(np.float32)
    background = _background(rng, height, width)
    foreground = _foreground(rng, height, width)
    photo = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    photo = np.clip(np.round(photo), 0, 255).astype(np.uint8)
    return (photo, alpha, foreground, background) if layers else (photo, alpha)


def synthetic_arrays(
    count: int, image_size: Sequence[int] = (64, 64), *, seed: int = 0, supersample: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` samples as arrays.

    Returns:
        ``(photos uint8 (N, H, W, 3), alphas float32 (N, H, W) in [0, 1])``; sample ``i`` depends
        only on ``(seed, i)``.
    """
    if count < 1:
        raise ValueError(f"count: expected a positive integer, got {count!r}")
    height, width = _check_size(image_size)
    photos = np.empty((count, height, width, 3), np.uint8)
    alphas = np.empty((count, height, width), np.float32)
    for i in range(count):
        photos[i], alphas[i] = synthetic_sample(np.random.default_rng([seed, i]), (height, width), supersample=supersample)
    return photos, alphas


def _split_labels(count: int, split: Sequence[float], seed: int) -> list[str]:
    fractions = [float(v) for v in split]
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6 or fractions[0] <= 0:
        raise ValueError(f"split: expected (train, val, test) fractions >= 0 summing to 1, got {split!r}")
    n_val = int(round(count * fractions[1]))
    n_test = int(round(count * fractions[2]))
    n_train = count - n_val - n_test
    if n_train < 1:
        raise ValueError(f"split: {split!r} leaves no training sample out of count={count}")
    labels = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    np.random.default_rng(seed).shuffle(labels)
    return labels.tolist()


def write_synthetic_dataset(
    root: str | os.PathLike,
    count: int,
    image_size: Sequence[int] = (64, 64),
    *,
    seed: int = 0,
    category: str = "synthetic",
    split: Sequence[float] = (0.7, 0.15, 0.15),
    supersample: int = 4,
    overwrite: bool = False,
) -> Path:
    """Write ``count`` samples in the dataset layout and return the path of ``index.csv``.

    Layout: ``root/images/<category>_<nnnn>.png`` (RGB), ``root/masks/<category>_<nnnn>.png``
    (8-bit grey, ``round(alpha * 255)``), ``root/index.csv`` with the columns
    :data:`INDEX_COLUMNS`, paths relative to ``root``, numbering from 1.

    Args:
        root: the dataset folder (created).
        count: number of samples.
        image_size: ``(height, width)``.
        seed: seed of the samples and of the split.
        category: the file-name prefix and the ``category`` column.
        split: ``(train, val, test)`` fractions.
        supersample: anti-aliasing points per pixel side.
        overwrite: replace an existing ``index.csv`` (otherwise that is an error).

    Raises:
        FileExistsError: ``root/index.csv`` exists and ``overwrite`` is false.
    """
    if not category or not category.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"category: expected letters, digits, '-' or '_', got {category!r}")
    root = Path(root)
    index_csv = root / "index.csv"
    if index_csv.exists() and not overwrite:
        raise FileExistsError(f"root: '{index_csv}' exists; pass overwrite=True to replace the dataset")
    photos, alphas = synthetic_arrays(count, image_size, seed=seed, supersample=supersample)
    labels = _split_labels(count, split, seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(count)))
    rows = []
    for i, (photo, alpha, label) in enumerate(zip(photos, alphas, labels), start=1):
        stem = f"{category}_{i:0{digits}d}"
        Image.fromarray(photo, "RGB").save(root / "images" / f"{stem}.png")
        Image.fromarray(np.round(alpha * 255).astype(np.uint8), "L").save(root / "masks" / f"{stem}.png")
        height, width = photo.shape[:2]
        rows.append(dict(zip(INDEX_COLUMNS, (f"images/{stem}.png", f"masks/{stem}.png", category, width, height, width, height, label))))
    return write_index(index_csv, rows, overwrite=True)  # an existing index was refused above unless overwrite
