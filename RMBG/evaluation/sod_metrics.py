"""Salient-object metrics under the papers' evaluation protocol.

:class:`SODEvaluator` accumulates (prediction, ground truth) pairs and reports, per image and over
the whole set, the metrics that salient-object-detection and background-removal papers publish:

* MAE, S-measure, weighted F-measure, F-measure (adaptive / mean / max, beta^2 = 0.3),
  E-measure (adaptive / mean / max) and HCE: computed by **pysodmetrics** (``py_sod_metrics``),
  the reference Python port of the authors' MATLAB toolboxes, fed uint8 arrays as it expects.
* Boundary IoU: written here, because pysodmetrics has no boundary IoU (its ``bi*`` metrics are
  *binary* metrics, not boundary ones).

Protocol (what every SOD benchmark does; see ``docs/evaluation.md``):

1. The prediction is resized to the ground truth's size with bilinear interpolation
   (``cv2.resize``, ``INTER_LINEAR``) and quantised to uint8 (``rint(p * 255)``), as if it had been
   saved as a PNG at the GT's size.
2. The ground truth is quantised to uint8 and binarised at 128 (foreground = value > 128, the rule
   of pysodmetrics' ``prepare_data`` and of the authors' MATLAB code).
3. pysodmetrics then min-max normalises each prediction (MATLAB's ``mapminmax(im2double(...))``)
   before computing its metrics; boundary IoU instead binarises the quantised prediction at 0.5,
   with no normalisation (the mask a user gets from a 0.5 threshold).

Dataset figures are means over images of the per-image values, except max/mean F- and E-measure,
which (as in the papers) are the maximum / mean over thresholds of the *mean curve* over images.

Imports no TensorFlow.
"""

from __future__ import annotations

import math
import warnings
from importlib import metadata
from typing import Any

import cv2
import numpy as np
import py_sod_metrics

#: The F-measure weight: beta^2 = 0.3 (Achanta et al., CVPR 2009). pysodmetrics calls it ``beta``.
BETA_SQUARED = 0.3
#: Number of thresholds of the PR, F-measure and E-measure curves (uint8 values 0..255).
NUM_THRESHOLDS = 256
#: Ground-truth pixels with a uint8 value above this are foreground (pysodmetrics' rule).
GT_THRESHOLD = 128
#: Boundary IoU band width as a fraction of the image diagonal (Cheng et al., CVPR 2021).
BOUNDARY_DILATION_RATIO = 0.02

#: Scalar metrics of a per-image row, in report order.
METRIC_KEYS = (
    "mae",
    "smeasure",
    "wfm",
    "fm_adp",
    "fm_mean",
    "fm_max",
    "em_adp",
    "em_mean",
    "em_max",
    "biou",
    "hce",
)

#: Human-readable names of the metric keys (reports, CLI output and plots).
METRIC_LABELS = {
    "mae": "MAE",
    "smeasure": "S-measure",
    "wfm": "weighted F-measure",
    "fm_adp": "adaptive F-measure",
    "fm_mean": "mean F-measure",
    "fm_max": "max F-measure",
    "em_adp": "adaptive E-measure",
    "em_mean": "mean E-measure",
    "em_max": "max E-measure",
    "biou": "boundary IoU",
    "hce": "HCE",
}

#: Keys where lower is better (all others: higher is better).
LOWER_IS_BETTER = frozenset({"mae", "hce"})

# Values this far outside [0, 1] in a float mask are accepted and clipped (sigmoid round-off).
_FLOAT_TOLERANCE = 1e-3


def _as_2d(array: Any, argument: str) -> np.ndarray:
    """``array`` as an HxW ndarray (an HxWx1 array is squeezed)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{argument}: expected a numpy array (HxW mask), got {type(array).__name__}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(
            f"{argument}: expected a single-channel mask of shape HxW, got shape {array.shape}; "
            "pass one channel (for an RGBA cut-out, its alpha channel)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{argument}: the mask has no pixels (shape {array.shape})")
    return array


def _as_unit_float(array: np.ndarray, argument: str) -> np.ndarray:
    """A mask of any supported dtype as float32 in [0, 1]."""
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise ValueError(f"{argument}: the mask contains NaN or infinite values; fix the model output")
        low, high = float(values.min()), float(values.max())
        if low < -_FLOAT_TOLERANCE or high > 1.0 + _FLOAT_TOLERANCE:
            raise ValueError(
                f"{argument}: a float mask must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]; "
                "divide a 0-255 map by 255, or apply the sigmoid to logits"
            )
        return np.clip(values, 0.0, 1.0)
    raise TypeError(
        f"{argument}: unsupported dtype {array.dtype}; pass float32 in [0, 1], uint8 (0-255), "
        "uint16 (0-65535) or bool"
    )


def _quantise(unit: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 by rounding to the nearest level (as a PNG writer would)."""
    return np.rint(unit * 255.0).astype(np.uint8)


def prepare_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the evaluation protocol to one pair.

    Args:
        pred: the prediction, HxW (or HxWx1), float in [0, 1], uint8, uint16 or bool, at any size.
        gt: the ground truth, HxW (or HxWx1), same dtypes; its size is the evaluation size.

    Returns:
        ``(pred_u8, gt_u8)``: the prediction resized to the GT size (bilinear) and quantised to
        uint8, and the ground truth binarised at 128 as uint8 in {0, 255}, both of the GT's shape.

    Raises:
        TypeError: an argument is not an array or has an unsupported dtype.
        ValueError: an argument is not single-channel, is empty, or is a float mask outside [0, 1].
    """
    gt = _as_2d(gt, "gt")
    pred = _as_2d(pred, "pred")
    gt_u8 = gt if gt.dtype == np.uint8 else _quantise(_as_unit_float(gt, "gt"))
    gt_binary = np.where(gt_u8 > GT_THRESHOLD, 255, 0).astype(np.uint8)

    if pred.dtype == np.uint8 and pred.shape == gt.shape:
        return np.ascontiguousarray(pred), gt_binary
    unit = _as_unit_float(pred, "pred")
    if unit.shape != gt.shape:
        height, width = gt.shape
        unit = cv2.resize(unit, (width, height), interpolation=cv2.INTER_LINEAR)
        unit = np.clip(unit, 0.0, 1.0)
    return _quantise(unit), gt_binary


def boundary_distance(shape: tuple[int, int], dilation_ratio: float = BOUNDARY_DILATION_RATIO) -> int:
    """The boundary band width d (pixels) of boundary IoU for an image of ``shape``.

    d = round(dilation_ratio x image diagonal), at least 1 (Cheng et al., CVPR 2021, Sec. 4).
    """
    if not 0.0 < dilation_ratio < 1.0:
        raise ValueError(f"dilation_ratio: expected a fraction in (0, 1), got {dilation_ratio!r}; the paper uses 0.02")
    height, width = shape[:2]
    return max(1, int(round(dilation_ratio * math.hypot(height, width))))


def boundary_region(mask: np.ndarray, distance: int) -> np.ndarray:
    """The pixels of ``mask`` that lie within ``distance`` pixels of its contour.

    Written here (pysodmetrics has no boundary IoU). Boundary IoU (Cheng et al., "Boundary IoU:
    Improving Object-Centric Image Segmentation Evaluation", CVPR 2021) scores the set
    ``G_d ∩ G`` of mask pixels whose distance to the mask contour is at most d. Distances are
    chessboard (L-infinity) distances to the nearest background pixel, and the outside of the image
    counts as background: this is what the authors' reference code obtains by eroding the
    zero-padded mask d times with a 3x3 square, computed here in one distance transform.

    Args:
        mask: HxW boolean mask.
        distance: band width d in pixels (>= 1).

    Returns:
        HxW boolean array, a subset of ``mask``.
    """
    if distance < 1:
        raise ValueError(f"distance: expected a band width of at least 1 pixel, got {distance!r}")
    binary = np.asarray(mask, dtype=bool)
    padded = np.pad(binary, 1, mode="constant", constant_values=False).astype(np.uint8)
    # DIST_C with a 3x3 mask is the exact chessboard distance to the nearest zero pixel.
    to_background = cv2.distanceTransform(padded, cv2.DIST_C, 3)[1:-1, 1:-1]
    return binary & (to_background <= distance)


def boundary_iou(
    pred: np.ndarray, gt: np.ndarray, *, dilation_ratio: float = BOUNDARY_DILATION_RATIO
) -> float:
    """Boundary IoU of two binary masks of the same shape (Cheng et al., CVPR 2021).

    ``|(G_d ∩ G) ∩ (P_d ∩ P)| / |(G_d ∩ G) ∪ (P_d ∩ P)|`` with d = ``dilation_ratio`` x diagonal.
    When both boundary sets are empty (both masks empty) the prediction is exactly right and the
    score is 1.0 (the paper leaves 0/0 undefined; this convention keeps empty-GT images scorable).

    Args:
        pred: HxW boolean prediction mask.
        gt: HxW boolean ground-truth mask.
        dilation_ratio: band width as a fraction of the image diagonal (paper: 0.02).

    Returns:
        The boundary IoU in [0, 1].
    """
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(
            f"pred, gt: expected two HxW masks of the same shape, got {pred.shape} and {gt.shape}; "
            "resize the prediction to the ground truth first (prepare_pair does)"
        )
    distance = boundary_distance(gt.shape, dilation_ratio)
    gt_band = boundary_region(gt, distance)
    pred_band = boundary_region(pred, distance)
    union = np.count_nonzero(gt_band | pred_band)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(gt_band & pred_band) / union)


def _new_fmeasure() -> py_sod_metrics.Fmeasure:
    """pysodmetrics' Fmeasure with beta^2 = 0.3, without its deprecation notice.

    ``Fmeasure`` warns that ``FmeasureV2`` will replace it; it is still the class the library's
    own regression test checks (keys adpFm/meanFm/maxFm), and FmeasureV2's F-measure handler
    gives identical values, so the notice carries no information for us.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This class will be removed", category=UserWarning)
        return py_sod_metrics.Fmeasure(beta=BETA_SQUARED)


class SODEvaluator:
    """Accumulates (prediction, ground truth) pairs and computes salient-object metrics.

    Example::

        evaluator = SODEvaluator()
        for name, pred, gt in pairs:          # pred: HxW float32 in [0, 1], any size
            evaluator.update(pred, gt, name=name)
        evaluator.summary()["smeasure"], evaluator.rows[0]["biou"], evaluator.curves()["precision"]

    Args:
        with_hce: also compute HCE (Qin et al., ECCV 2022) through pysodmetrics. It is the slowest
            metric (skeletonisation and contour tracing), so it can be switched off.
        boundary_dilation_ratio: boundary IoU band width as a fraction of the diagonal (0.02).
        hce_relax: HCE boundary tolerance, in pixels of erosion/dilation (DIS default 5).
        hce_epsilon: HCE Douglas-Peucker tolerance in pixels (DIS default 2.0).
    """

    def __init__(
        self,
        *,
        with_hce: bool = True,
        boundary_dilation_ratio: float = BOUNDARY_DILATION_RATIO,
        hce_relax: int = 5,
        hce_epsilon: float = 2.0,
    ):
        boundary_distance((100, 100), boundary_dilation_ratio)  # validates the ratio early
        if int(hce_relax) < 0:
            raise ValueError(f"hce_relax: expected a non-negative pixel count, got {hce_relax!r}")
        if not hce_epsilon > 0:
            raise ValueError(f"hce_epsilon: expected a positive tolerance in pixels, got {hce_epsilon!r}")
        self.with_hce = bool(with_hce)
        self.boundary_dilation_ratio = float(boundary_dilation_ratio)
        self.hce_relax = int(hce_relax)
        self.hce_epsilon = float(hce_epsilon)
        self.reset()

    def reset(self) -> None:
        """Forget every pair seen so far."""
        self.rows: list[dict[str, Any]] = []
        # Running sums of the per-image curves, in the library's order (threshold 255 first).
        # Summing rows in order and dividing by N is bit-identical to pysodmetrics'
        # np.mean(np.array(curves), axis=0).
        self._curve_sums = {
            key: np.zeros(NUM_THRESHOLDS, dtype=np.float64) for key in ("precision", "recall", "fmeasure", "emeasure")
        }

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """The scalar metrics this evaluator reports (HCE only when enabled)."""
        return tuple(key for key in METRIC_KEYS if self.with_hce or key != "hce")

    def update(self, pred: np.ndarray, gt: np.ndarray, name: str | None = None) -> dict[str, Any]:
        """Score one pair and add it to the running results.

        Args:
            pred: prediction, HxW float32 in [0, 1] (or uint8/uint16/bool), any size.
            gt: ground truth, HxW float32 in [0, 1] (or uint8/uint16/bool); defines the size.
            name: the image's name in the per-image rows (default ``#<index>``).

        Returns:
            The per-image row: ``name``, ``height``, ``width`` and every metric of
            :attr:`metric_keys` for this image (``fm_max``/``em_max`` are the maxima of this image's
            own curves).

        Raises:
            TypeError, ValueError: as :func:`prepare_pair`; nothing is recorded then.
        """
        pred_u8, gt_u8 = prepare_pair(pred, gt)
        row, curves = self._score(pred_u8, gt_u8)
        for key, curve in curves.items():
            self._curve_sums[key] += curve
        row = {
            "name": name if name is not None else f"#{len(self.rows)}",
            "height": int(gt_u8.shape[0]),
            "width": int(gt_u8.shape[1]),
            **row,
        }
        self.rows.append(row)
        return row

    def _score(self, pred_u8: np.ndarray, gt_u8: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """All metrics of one protocol-prepared pair (uint8 prediction, uint8 {0, 255} GT)."""
        # Fresh library objects per image: their get_results() is then this image's value, read
        # through the public API; the dataset means are formed in summary()/curves().
        fmeasure = _new_fmeasure()
        emeasure = py_sod_metrics.Emeasure()
        smeasure = py_sod_metrics.Smeasure()
        wfmeasure = py_sod_metrics.WeightedFmeasure()
        mae = py_sod_metrics.MAE()
        for metric in (fmeasure, emeasure, smeasure, wfmeasure, mae):
            metric.step(pred=pred_u8, gt=gt_u8)
        fm = fmeasure.get_results()
        em = emeasure.get_results()["em"]
        row = {
            "mae": float(mae.get_results()["mae"]),
            "smeasure": float(smeasure.get_results()["sm"]),
            "wfm": float(wfmeasure.get_results()["wfm"]),
            "fm_adp": float(fm["fm"]["adp"]),
            "fm_mean": float(fm["fm"]["curve"].mean()),
            "fm_max": float(fm["fm"]["curve"].max()),
            "em_adp": float(em["adp"]),
            "em_mean": float(em["curve"].mean()),
            "em_max": float(em["curve"].max()),
            "biou": boundary_iou(pred_u8 >= 128, gt_u8 > GT_THRESHOLD, dilation_ratio=self.boundary_dilation_ratio),
        }
        if self.with_hce:
            hce = py_sod_metrics.HumanCorrectionEffortMeasure(relax=self.hce_relax, epsilon=self.hce_epsilon)
            hce.step(pred=pred_u8, gt=gt_u8)
            row["hce"] = float(hce.get_results()["hce"])
        curves = {
            "precision": np.asarray(fm["pr"]["p"], dtype=np.float64),
            "recall": np.asarray(fm["pr"]["r"], dtype=np.float64),
            "fmeasure": np.asarray(fm["fm"]["curve"], dtype=np.float64),
            "emeasure": np.asarray(em["curve"], dtype=np.float64),
        }
        return row, curves

    def _require_pairs(self) -> None:
        if not self.rows:
            raise ValueError("SODEvaluator: no pairs have been added yet; call update(pred, gt) first")

    def curves(self) -> dict[str, np.ndarray]:
        """The mean curves over images, by ascending threshold.

        Returns:
            ``thresholds`` (0..255: a pixel is foreground when its min-max-normalised uint8 value is
            >= the threshold), ``precision``, ``recall``, ``fmeasure`` (beta^2 = 0.3) and
            ``emeasure``, each of length 256.
        """
        # pysodmetrics orders its curves by descending threshold (>=255 first): flip them.
        result = {key: np.flip(curve).copy() for key, curve in self._mean_curves().items()}
        result["thresholds"] = np.arange(NUM_THRESHOLDS)
        return result

    def _mean_curves(self) -> dict[str, np.ndarray]:
        """Mean curves in pysodmetrics' order (descending threshold)."""
        self._require_pairs()
        count = len(self.rows)
        return {key: total / count for key, total in self._curve_sums.items()}

    def summary(self) -> dict[str, Any]:
        """Dataset-level metrics.

        Returns:
            ``count`` and every metric of :attr:`metric_keys`: MAE, S-measure, weighted F, adaptive
            F/E, boundary IoU and HCE are means of the per-image values; ``fm_mean``/``fm_max`` and
            ``em_mean``/``em_max`` are the mean/max over thresholds of the mean curve (the papers'
            definition, identical to pysodmetrics' ``curve.mean()``/``curve.max()``).
        """
        # Reduce the curves in the library's order so mean/max are bit-identical to pysodmetrics'.
        curves = self._mean_curves()
        result: dict[str, Any] = {"count": len(self.rows)}
        for key in self.metric_keys:
            if key in ("fm_mean", "fm_max", "em_mean", "em_max"):
                curve = curves["fmeasure" if key.startswith("fm") else "emeasure"]
                result[key] = float(curve.mean() if key.endswith("mean") else curve.max())
            else:
                result[key] = float(np.mean(np.array([row[key] for row in self.rows], dtype=np.float64)))
        return result

    def protocol(self) -> dict[str, Any]:
        """A description of the protocol and settings, for reports."""
        return {
            "prediction": "resized to the GT size (cv2 INTER_LINEAR), quantised to uint8 (rint(p*255))",
            "ground_truth": f"uint8, foreground where value > {GT_THRESHOLD}",
            "library": f"pysodmetrics {_library_version()} (min-max normalises each prediction)",
            "fmeasure_beta_squared": BETA_SQUARED,
            "thresholds": NUM_THRESHOLDS,
            "boundary_iou": {
                "dilation_ratio": self.boundary_dilation_ratio,
                "prediction_threshold": 0.5,
                "distance": "chessboard, image border counts as contour",
            },
            "hce": {"relax": self.hce_relax, "epsilon": self.hce_epsilon} if self.with_hce else None,
        }


def _library_version() -> str:
    """The installed pysodmetrics version, or 'unknown'."""
    try:
        return metadata.version("pysodmetrics")
    except metadata.PackageNotFoundError:
        return "unknown"
