"""Alpha-matte error metrics: SAD, MSE, gradient and connectivity errors.

Definitions follow Rhemann et al., "A Perceptually Motivated Online Benchmark for Image Matting"
(CVPR 2009, alphamatting.com) as evaluated by the Deep Image Matting MATLAB code (Xu et al., CVPR
2017) that later matting papers report. Conventions, exactly:

* Alphas are compared in [0, 1] (uint8 inputs are divided by 255; float round-off outside [0, 1]
  within ``FLOAT_TOLERANCE`` is clipped), in float64.
* Region: the unknown pixels of ``trimap`` when one is given (value 128; other values are binned
  as in :func:`RMBG.matting.trimap.split_trimap`), else the whole image. An empty region raises.
* ``sad``: ``sum |pred - gt|`` over the region, divided by 1000.
* ``mse``: ``mean (pred - gt)^2`` over the region's pixels (not scaled; papers often print it x1000).
* ``gradient_error``: both alphas are filtered with first-order Gaussian derivative filters,
  sigma 1.4: ``hx[i, j] = g(i - h) g'(j - h)`` with ``g`` the Gaussian, ``h = ceil(sigma *
  sqrt(-2 ln(sqrt(2 pi) sigma 0.01)))`` (= 4, a 9x9 kernel), normalised to unit L2 norm,
  ``hy = hx^T``, replicate borders; ``sum (|grad pred| - |grad gt|)^2`` over the region, / 1000.
* ``connectivity_error``: thresholds ``t_i = i / n`` with ``n = 1 / step`` (step 0.1: i = 0..10). For each
  ``i >= 1`` the largest 4-connected component of ``(pred >= t_i) & (gt >= t_i)`` (whole image) is
  found; a pixel's level ``l`` is the last ``t_{i-1}`` before it first drops out of that component
  (``1`` if it never does). ``phi(x) = 1 - d [d >= 0.15]`` with ``d = x - l``;
  ``sum |phi(pred) - phi(gt)|`` over the region, / 1000.

Imports no TensorFlow.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from RMBG.matting.trimap import check_unit_float, split_trimap

#: Divisor of the summed metrics (alphamatting.com / DIM report SAD, Grad, Conn in thousands).
SCALE = 1000.0
GRADIENT_SIGMA = 1.4
CONNECTIVITY_STEP = 0.1
#: ``d`` below this does not count in the connectivity error's ``phi`` (Rhemann et al.).
CONNECTIVITY_THETA = 0.15


def _as_unit(alpha: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(alpha, np.ndarray):
        raise TypeError(f"{name}: expected an HxW numpy array, got {type(alpha).__name__}")
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[..., 0]
    if alpha.ndim != 2 or alpha.size == 0:
        raise ValueError(f"{name}: expected a non-empty HxW array, got shape {alpha.shape}")
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float64) / 255.0
    if not np.issubdtype(alpha.dtype, np.floating):
        raise TypeError(f"{name}: expected dtype float (0-1) or uint8 (0-255), got {alpha.dtype}")
    values = alpha.astype(np.float64)
    if check_unit_float(values, name, "divide 8-bit data by 255"):
        np.clip(values, 0.0, 1.0, out=values)
    return values


def _prepare(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both alphas in float64 [0, 1] and the boolean evaluation region."""
    p = _as_unit(pred, "pred")
    g = _as_unit(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred: shape {p.shape} differs from gt's {g.shape}; compare mattes at the same size")
    if trimap is None:
        region = np.ones(p.shape, bool)
    else:
        region = split_trimap(trimap)[2]
        if region.shape != p.shape:
            raise ValueError(f"trimap: shape {region.shape} differs from the mattes' {p.shape}")
        if not region.any():
            raise ValueError(
                "trimap: it has no unknown pixel (128), so the evaluation region is empty; "
                "pass trimap=None to evaluate the whole image"
            )
    return p, g, region


def sad(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None) -> float:
    """Sum of absolute differences over the region, divided by 1000."""
    return _sad(*_prepare(pred, gt, trimap))


def _sad(p: np.ndarray, g: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(p - g)[region].sum() / SCALE)


def mse(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None) -> float:
    """Mean squared error over the region's pixels (alphas in [0, 1], not scaled)."""
    return _mse(*_prepare(pred, gt, trimap))


def _mse(p: np.ndarray, g: np.ndarray, region: np.ndarray) -> float:
    return float(np.square(p - g)[region].mean())


def gaussian_derivative_kernels(sigma: float = GRADIENT_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """``(hx, hy)``: unit-L2-norm first-order Gaussian derivative filters (x along columns)."""
    half = int(math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * 0.01))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2.0 * sigma**2)) / (sigma * math.sqrt(2.0 * math.pi))
    dgauss = -u * gauss / sigma**2
    hx = np.outer(gauss, dgauss)
    hx /= math.sqrt(float(np.sum(hx * hx)))
    return hx, hx.T.copy()


def _gradient_magnitude(alpha: np.ndarray, sigma: float) -> np.ndarray:
    hx, hy = gaussian_derivative_kernels(sigma)
    gx = cv2.filter2D(alpha, cv2.CV_64F, hx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(alpha, cv2.CV_64F, hy, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def gradient_error(
    pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None, *, sigma: float = GRADIENT_SIGMA
) -> float:
    """Sum of squared differences of Gaussian gradient magnitudes over the region, / 1000."""
    return _gradient_error(*_prepare(pred, gt, trimap), sigma)


def _gradient_error(p: np.ndarray, g: np.ndarray, region: np.ndarray, sigma: float = GRADIENT_SIGMA) -> float:
    difference = _gradient_magnitude(p, sigma) - _gradient_magnitude(g, sigma)
    return float(np.square(difference)[region].sum() / SCALE)


def _largest_component(binary: np.ndarray) -> np.ndarray:
    """Mask of the largest 4-connected component of ``binary`` (all False when it is empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros(binary.shape, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def connectivity_error(
    pred: np.ndarray,
    gt: np.ndarray,
    trimap: np.ndarray | None = None,
    *,
    step: float = CONNECTIVITY_STEP,
    theta: float = CONNECTIVITY_THETA,
) -> float:
    """Connectivity error over the region, / 1000 (see the module doc)."""
    if not (0.0 < step <= 1.0) or abs(1.0 / step - round(1.0 / step)) > 1e-9:
        raise ValueError(f"step: expected 1/n for an integer n (e.g. 0.1), got {step!r}")
    return _connectivity_error(*_prepare(pred, gt, trimap), step, theta)


def _connectivity_error(
    p: np.ndarray,
    g: np.ndarray,
    region: np.ndarray,
    step: float = CONNECTIVITY_STEP,
    theta: float = CONNECTIVITY_THETA,
) -> float:
    n_steps = int(round(1.0 / step))
    thresholds = np.arange(n_steps + 1) / n_steps
    level = np.full(p.shape, -1.0)
    for i in range(1, n_steps + 1):
        connected = _largest_component((p >= thresholds[i]) & (g >= thresholds[i]))
        dropped = (level == -1.0) & ~connected
        level[dropped] = thresholds[i - 1]
    level[level == -1.0] = 1.0
    d_pred = p - level
    d_gt = g - level
    phi_pred = 1.0 - d_pred * (d_pred >= theta)
    phi_gt = 1.0 - d_gt * (d_gt >= theta)
    return float(np.abs(phi_pred - phi_gt)[region].sum() / SCALE)


def matting_metrics(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None) -> dict[str, float]:
    """``{"sad", "mse", "grad", "conn"}`` of ``pred`` against ``gt`` (conventions: module doc)."""
    prepared = _prepare(pred, gt, trimap)
    return {
        "sad": _sad(*prepared),
        "mse": _mse(*prepared),
        "grad": _gradient_error(*prepared),
        "conn": _connectivity_error(*prepared),
    }
