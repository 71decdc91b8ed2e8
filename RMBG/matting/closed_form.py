"""Alpha mattes from a photo and a trimap with pymatting's classical solvers, for photos of any size.

Solvers (``method``):

* ``"cf"``: closed-form matting (Levin, Lischinski, Weiss, CVPR 2006 / TPAMI 2008), pymatting's
  ``estimate_alpha_cf`` (matting Laplacian, conjugate gradient with an incomplete-Cholesky
  preconditioner). The default.
* ``"knn"``: KNN matting (Chen, Li, Tang, CVPR 2012), ``estimate_alpha_knn``: the most accurate on
  the GT01 reference (see ``docs/matting.md``) but ~10x slower than ``"cf"`` on CPU and memory-hungry
  (a k-d tree over every pixel), so its default resolution cap is lower.
* ``"sm"``: shared matting (Gastal, Oliveira, 2010), ``estimate_alpha_sm``: a sampling method, the
  fastest per pixel (2-3x faster than ``"cf"`` on GT01), slightly less accurate; its higher default
  cap makes it about as fast as ``"cf"`` on large photos.

pymatting's large-kernel solver (``estimate_alpha_lkm``) was measured too and left out: slower than
``"cf"`` on CPU (8 s against 0.9 s on GT01) and less accurate.

Large-photo strategy. pymatting builds its matting Laplacian over every pixel it is given
(``cf``: ~400 bytes per pixel), so a 24 MP photo would need ~10 GB and minutes. Instead:

1. ``band_only=True``: the solver sees only the bounding box of the unknown pixels plus ``margin``
   pixels of known context; pixels outside it are known and keep their trimap value.
2. ``max_megapixels``: when that box is larger, it is solved at a reduced resolution (area
   downsampling of the photo; at low resolution a pixel is known only if every full-resolution
   pixel it covers is known with the same label, so the low-resolution unknown band covers the
   full-resolution one), and the alpha is brought back to full resolution *only at the unknown
   pixels* with a colour guided filter (He, Sun, Tang, TPAMI 2013; "fast guided filter" upsampling,
   He & Sun 2015): the low-resolution alpha is modelled as a local affine function of the colour,
   whose coefficients are interpolated and applied to the full-resolution colours, which restores
   edges finer than the solving resolution. ``upsample="linear"`` interpolates the alpha instead.
   This upsampling is written here with OpenCV because pymatting has none.

Known pixels always come out exactly 0 or 1. Memory stays around a few bytes per photo pixel plus
the capped solve (measured numbers: ``docs/matting.md``).

Imports no TensorFlow; pymatting (numba) is imported on first use.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Literal, Mapping

import cv2
import numpy as np

from RMBG.matting.trimap import check_unit_float, split_trimap

logger = logging.getLogger(__name__)

Method = Literal["cf", "knn", "sm"]
METHODS: tuple[str, ...] = ("cf", "knn", "sm")

#: Default resolution cap of each solver, in megapixels of the region it solves.
DEFAULT_MAX_MEGAPIXELS: Mapping[str, float] = {"cf": 1.0, "knn": 0.3, "sm": 2.0}

#: Known context (full-resolution pixels) kept around the unknown band when cropping.
DEFAULT_MARGIN = 16
#: Known context the solver needs at its own resolution: pymatting's cf/knn/sm windows reach a few
#: pixels; the crop margin is widened when downscaling would leave less than this.
_MIN_SOLVE_MARGIN = 6
#: The smallest side (in pixels, at the solving resolution) the solvers work on: the matting
#: Laplacian is built from 3x3 windows, and on a thinner region it is singular (conjugate gradient
#: diverges with NaN instead of converging).
MIN_SOLVE_SIDE = 3
#: Guided-filter upsampling: window radius at the solving resolution and regularisation
#: (colours in [0, 1]); chosen on GT01 (docs/matting.md).
GUIDED_RADIUS = 1
GUIDED_EPS = 1e-4


def as_rgb_float(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Check a photo and return a new ``HxWx3`` float32 copy in [0, 1].

    Accepted: ``HxWx3`` uint8 RGB (the project's photo contract) or float in [0, 1].

    Raises:
        TypeError: not a numpy array, or another dtype.
        ValueError: wrong shape, NaN, or float values outside [0, 1].
    """
    check_rgb(image, name=name)
    if image.dtype == np.uint8:
        return np.multiply(image, np.float32(1.0 / 255.0), dtype=np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)


def check_rgb(image: np.ndarray, *, name: str = "image") -> None:
    """Validate a photo (see :func:`as_rgb_float`) without converting it."""
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{name}: expected an HxWx3 numpy array, got {type(image).__name__} "
            "(read files with RMBG.inference.image_io.load_image)"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name}: expected shape HxWx3 (RGB), got {image.shape}")
    if image.dtype == np.uint8:
        return
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"{name}: expected dtype uint8 (0-255) or float (0-1), got {image.dtype}")
    check_unit_float(image, name, "pass 8-bit photos as uint8, or divide by 255")


def _to_unit_float64(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return np.clip(image.astype(np.float64), 0.0, 1.0)


def bounding_box(region: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` (half-open) of the True pixels of ``region``, grown by ``margin``
    and clipped to the array. ``region`` must hold at least one True pixel."""
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    height, width = region.shape
    return (
        max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, height),
        max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, width),
    )


def solve_scale(height: int, width: int, max_megapixels: float) -> float:
    """Scale factor (<= 1) that brings ``height x width`` within ``max_megapixels``."""
    return min(1.0, math.sqrt(max_megapixels * 1e6 / float(height * width)))


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(height, width)`` after scaling, at least 1 pixel each."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def plan_crop(
    region: np.ndarray, margin: int, max_megapixels: float, band_only: bool
) -> tuple[tuple[int, int, int, int], float]:
    """The box to solve and the scale to solve it at.

    With ``band_only`` the box is the bounding box of ``region`` plus ``margin``, widened when the
    downscale would leave less than ``_MIN_SOLVE_MARGIN`` solving pixels of context; else the
    whole image.
    """
    height, width = region.shape
    if not band_only:
        box = (0, height, 0, width)
        return box, solve_scale(height, width, max_megapixels)
    box = bounding_box(region, margin)
    scale = solve_scale(box[1] - box[0], box[3] - box[2], max_megapixels)
    if margin * scale < _MIN_SOLVE_MARGIN:
        box = bounding_box(region, int(math.ceil(_MIN_SOLVE_MARGIN / scale)))
        scale = solve_scale(box[1] - box[0], box[3] - box[2], max_megapixels)
    return box, scale


def sample_at(low: np.ndarray, rows: np.ndarray, cols: np.ndarray, scale_y: float, scale_x: float) -> np.ndarray:
    """Bilinear samples of a low-resolution map at full-resolution pixel centres ``(rows, cols)``.

    ``scale_y``/``scale_x`` are low/full size ratios; half-pixel centres, as ``cv2.resize``.
    Returns an ``N`` (or ``N x C``) float32 array. Only the requested pixels are computed, so the
    cost follows the size of the unknown band, not of the photo.
    """
    count = len(rows)
    # cv2.remap wants maps under 32767 rows and columns: lay the points out in rows of 4096.
    row_length = 4096
    padded = -(-max(count, 1) // row_length) * row_length
    map_x = np.zeros(padded, np.float32)
    map_y = np.zeros(padded, np.float32)
    map_x[:count] = (cols.astype(np.float32) + 0.5) * np.float32(scale_x) - 0.5
    map_y[:count] = (rows.astype(np.float32) + 0.5) * np.float32(scale_y) - 0.5
    out = cv2.remap(
        np.ascontiguousarray(low, dtype=np.float32),
        map_x.reshape(-1, row_length), map_y.reshape(-1, row_length),
        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape((padded,) + low.shape[2:])[:count]


def guided_coefficients(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Per-pixel coefficients ``(a_r, a_g, a_b, b)`` of a colour guided filter, box-averaged.

    ``source ~ a . guide + b`` is fitted by least squares in every ``(2 radius + 1)^2`` window
    (He, Sun, Tang, "Guided Image Filtering", TPAMI 2013, eq. 14-15), then the coefficients are
    averaged over the windows covering each pixel. Returns ``HxWx4`` float32.
    """
    guide = guide.astype(np.float32)
    source = source.astype(np.float32)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, normalize=True, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    mean_p = box(source)
    cov_ip = box(guide * source[..., None]) - mean_i * mean_p[..., None]
    outer = guide[..., :, None] * guide[..., None, :]
    h, w = source.shape
    var_i = box(outer.reshape(h, w, 9)).reshape(h, w, 3, 3) - mean_i[..., :, None] * mean_i[..., None, :]
    var_i += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var_i, cov_ip[..., None])[..., 0]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    coefficients = np.concatenate([a, b[..., None]], axis=2)
    return box(coefficients)


def _pymatting_solver(method: str) -> Callable[..., Any]:
    if method == "cf":
        # deferred: pymatting compiles numba kernels on first import (~45 s fresh)
        from pymatting.alpha.estimate_alpha_cf import estimate_alpha_cf

        return estimate_alpha_cf
    if method == "knn":
        # deferred: pymatting compiles numba kernels on first import (~45 s fresh)
        from pymatting.alpha.estimate_alpha_knn import estimate_alpha_knn

        return estimate_alpha_knn
    # deferred: pymatting compiles numba kernels on first import (~45 s fresh)
    from pymatting.alpha.estimate_alpha_sm import estimate_alpha_sm

    return estimate_alpha_sm


def estimate_alpha(
    image: np.ndarray,
    trimap: np.ndarray,
    *,
    method: Method = "cf",
    max_megapixels: float | None = None,
    band_only: bool = True,
    margin: int = DEFAULT_MARGIN,
    upsample: Literal["guided", "linear"] = "guided",
    solver_kwargs: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Alpha matte of ``image`` inside the unknown region of ``trimap``.

    Args:
        image: ``HxWx3`` photo, uint8 RGB or float in [0, 1].
        trimap: ``HxW`` trimap, uint8 0/128/255 or float 0/0.5/1, same size as ``image``. Other
            values are binned (:func:`RMBG.matting.trimap.split_trimap`: ``<= 0.1`` background,
            ``>= 0.9`` foreground, in [0, 1] units) with a logged warning.
        method: ``"cf"`` (closed form), ``"knn"`` or ``"sm"`` (shared matting); see the module doc.
        max_megapixels: largest region solved at full resolution; bigger regions are solved
            downscaled and guided-upsampled. ``None``: :data:`DEFAULT_MAX_MEGAPIXELS` of the method.
        band_only: solve only the bounding box of the unknown pixels plus ``margin`` (True), or the
            whole photo (False, still capped by ``max_megapixels``).
        margin: known context kept around the unknown pixels, in full-resolution pixels.
        upsample: how a downscaled solution returns to full resolution: ``"guided"`` (colour guided
            filter, sharper) or ``"linear"`` (bilinear interpolation of the alpha).
        solver_kwargs: extra keyword arguments for the pymatting function (e.g.
            ``{"laplacian_kwargs": {"epsilon": 1e-6}}`` for ``"cf"``).

    Returns:
        ``HxW`` float32 alpha in [0, 1]; exactly 0 / 1 on the trimap's known pixels. A trimap with no
        unknown pixel is returned as its alpha directly (logged at INFO).

    Raises:
        ValueError: the trimap has no foreground or no background pixel; image and trimap sizes
            differ; bad values, shapes or arguments; the known pixels near the unknown band lack
            foreground or background (after cropping/downscaling; the message says what to change);
            the region to solve is thinner than :data:`MIN_SOLVE_SIDE` pixels.
        TypeError: wrong array types or dtypes.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if upsample not in ("guided", "linear"):
        raise ValueError(f"upsample: expected 'guided' or 'linear', got {upsample!r}")
    if max_megapixels is None:
        max_megapixels = DEFAULT_MAX_MEGAPIXELS[method]
    if not (isinstance(max_megapixels, (int, float)) and max_megapixels > 0):
        raise ValueError(f"max_megapixels: expected a positive number, got {max_megapixels!r}")
    if not isinstance(margin, (int, np.integer)) or margin < 0:
        raise ValueError(f"margin: expected an int >= 0 (pixels), got {margin!r}")
    check_rgb(image)
    is_fg, is_bg, is_unknown = split_trimap(trimap)
    if is_fg.shape != image.shape[:2]:
        raise ValueError(
            f"trimap: its size {is_fg.shape[1]}x{is_fg.shape[0]} differs from the image's "
            f"{image.shape[1]}x{image.shape[0]} (WxH); resize the trimap with nearest-neighbour "
            "interpolation to the photo's size"
        )
    if not is_fg.any():
        raise ValueError(
            "trimap: it has no foreground pixel (value 255), so there is nothing to matte; if the mask "
            "does hold an object, lower the trimap's fg_threshold/erosion"
        )
    if not is_bg.any():
        raise ValueError(
            "trimap: it has no background pixel (value 0); matting needs both to anchor the alpha. If the "
            "object fills the frame, raise the trimap's bg_threshold or lower its dilation/bg_erosion"
        )
    alpha = is_fg.astype(np.float32)
    if not is_unknown.any():
        logger.info("estimate_alpha: the trimap has no unknown pixel; returning its known alpha as is")
        return alpha
    solver = _pymatting_solver(method)
    kwargs = dict(solver_kwargs or {})

    started = time.perf_counter()
    (top, bottom, left, right), scale = plan_crop(is_unknown, int(margin), float(max_megapixels), band_only)
    crop_unknown = is_unknown[top:bottom, left:right]
    crop_image = image[top:bottom, left:right]
    height, width = crop_unknown.shape
    if scale < 1.0:
        low_h, low_w = scaled_size(height, width, scale)
        low_image = cv2.resize(crop_image, (low_w, low_h), interpolation=cv2.INTER_AREA)
        fg_share = cv2.resize(is_fg[top:bottom, left:right].astype(np.float32), (low_w, low_h), interpolation=cv2.INTER_AREA)
        bg_share = cv2.resize(is_bg[top:bottom, left:right].astype(np.float32), (low_w, low_h), interpolation=cv2.INTER_AREA)
        low_fg = fg_share >= 1.0 - 1e-6
        low_bg = bg_share >= 1.0 - 1e-6
        del fg_share, bg_share
    else:
        low_h, low_w = height, width
        low_image = crop_image
        low_fg = is_fg[top:bottom, left:right]
        low_bg = is_bg[top:bottom, left:right]
    where = f"the {width}x{height} region around the unknown band" if band_only else "the photo"
    if scale < 1.0:
        where += f" solved at {low_w}x{low_h}"
    if min(low_h, low_w) < MIN_SOLVE_SIDE:
        raise ValueError(
            f"image: {where} is thinner than the {MIN_SOLVE_SIDE} pixels the matting solvers need in each "
            "direction; keep the mask as the alpha for such a photo (post='trimap-cf' does)"
            + (", or raise max_megapixels" if scale < 1.0 else "")
        )
    if not low_fg.any() or not low_bg.any():
        missing = "foreground" if not low_fg.any() else "background"
        raise ValueError(
            f"trimap: no {missing} pixel is left in {where}: the solver has nothing to anchor the alpha to. "
            "Raise max_megapixels (known regions thinner than the downscale vanish), raise margin, "
            "or pass band_only=False"
        )
    low_trimap = np.full((low_h, low_w), 0.5, np.float64)
    low_trimap[low_fg] = 1.0
    low_trimap[low_bg] = 0.0
    solved = solver(_to_unit_float64(low_image), low_trimap, **kwargs)
    if isinstance(solved, tuple):  # estimate_alpha_sm may return (alpha, foreground, background)
        solved = solved[0]
    solved = np.clip(np.asarray(solved, dtype=np.float32).reshape(low_h, low_w), 0.0, 1.0)

    rows, cols = np.nonzero(crop_unknown)
    if scale < 1.0:
        scale_y, scale_x = low_h / height, low_w / width
        if upsample == "guided":
            guide_low = _to_unit_float64(low_image).astype(np.float32)
            coefficients = guided_coefficients(guide_low, solved, GUIDED_RADIUS, GUIDED_EPS)
            sampled = sample_at(coefficients, rows, cols, scale_y, scale_x)
            colours = crop_image[rows, cols].astype(np.float32)
            if image.dtype == np.uint8:
                colours *= np.float32(1.0 / 255.0)
            values = np.einsum("nc,nc->n", sampled[:, :3], colours) + sampled[:, 3]
        else:
            values = sample_at(solved, rows, cols, scale_y, scale_x)
    else:
        values = solved[rows, cols]
    alpha[rows + top, cols + left] = np.clip(values, 0.0, 1.0)
    logger.debug(
        "estimate_alpha(%s): %s, %d unknown pixels, %.2f s",
        method, where, len(rows), time.perf_counter() - started,
    )
    return alpha
