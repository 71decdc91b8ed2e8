"""SODEvaluator: the PySODMetrics fixture, hand-computed cases and the resizing protocol.

Hand-made cases use a 20x20 image (N = 400 pixels) whose ground truth is a 10x10 square
(rows/cols 5..14), so the foreground fraction is p = 0.25. Quantities used below:

* F-measure with beta^2 = 0.3: F = 1.3 P R / (0.3 P + R).
  At threshold ">= 0" every pixel is predicted foreground: P = p, R = 1, so
  F0 = 1.3 * 0.25 / (0.3 * 0.25 + 1) = 0.325 / 1.075.
* E-measure (Fan et al., IJCAI 2018): with demeaned binary maps a (prediction) and b (GT),
  phi = 2ab / (a^2 + b^2), enhanced value (1 + phi)^2 / 4, summed over pixels. pysodmetrics follows
  the authors' MATLAB code and divides by (N - 1), not N, so a perfect map scores N / (N - 1).
  When the prediction is all foreground (or all background), a = 0 everywhere, phi = 0 and every
  pixel contributes 1/4: E = (N / 4) / (N - 1) = 100 / 399.
* S-measure (Fan et al., ICCV 2017) = 0.5 object score + 0.5 region score.
"""

from __future__ import annotations

import json
import os
from importlib import metadata

import cv2
import numpy as np
import py_sod_metrics
import pytest

from conftest import require_asset
from RMBG.evaluation.sod_metrics import (
    SODEvaluator,
    boundary_distance,
    boundary_iou,
    boundary_region,
    prepare_pair,
)
from RMBG.inference.image_io import load_mask

N = 400
F0 = 0.325 / 1.075  # F-measure when everything is predicted foreground, p = 0.25
E_ALL_ONE_CLASS = 100 / 399  # E-measure when the binary prediction is a single class

# The nine values PySODMetrics' own regression test checks for Fmeasure/WeightedFmeasure/
# Smeasure/Emeasure/MAE, mapped to our summary keys.
FIXTURE_KEYS = {
    "MAE": "mae",
    "Smeasure": "smeasure",
    "wFmeasure": "wfm",
    "adpEm": "em_adp",
    "meanEm": "em_mean",
    "maxEm": "em_max",
    "adpFm": "fm_adp",
    "meanFm": "fm_mean",
    "maxFm": "fm_max",
}


def square(size: int = 10, top: int = 5, left: int = 5, shape: tuple[int, int] = (20, 20)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.float32)
    mask[top : top + size, left : left + size] = 1.0
    return mask


def enhanced(a: float, b: float) -> float:
    """The enhanced alignment value of one pixel class (Fan et al., IJCAI 2018, Eq. 3-4)."""
    phi = 2 * a * b / (a * a + b * b)
    return (1 + phi) ** 2 / 4


def score(pred: np.ndarray, gt: np.ndarray, **options) -> dict:
    return SODEvaluator(**options).update(pred, gt)


# --------------------------------------------------------------------------------------------
# The PySODMetrics fixture
# --------------------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.lstrip("v").replace("_", ".").split("."))


def expected_for_installed_version() -> tuple[dict[str, float], list[str], str]:
    """The values version_performance.json records for the installed pysodmetrics.

    The file is cumulative: an entry appears for the version that introduced or changed a value
    (v1_4_3 holds the 68 classic metrics, v1_5_0 adds size-invariant ones, v1_5_1 adds HCE,
    v1_6_0 context measures), and there is no entry for releases that changed nothing (1.6.2).
    The library's own test reads it the same way (it merges v1_4_3 with v1_5_0). So the expected
    value of each key is the one of the newest entry not newer than the installed version.
    Fails when no entry applies to the installed version.
    """
    table = json.loads((require_asset("sod_metrics_fixture") / "version_performance.json").read_text())
    installed = metadata.version("pysodmetrics")
    applicable = sorted((key for key in table if _version_tuple(key) <= _version_tuple(installed)), key=_version_tuple)
    if not applicable:
        pytest.fail(
            f"version_performance.json has no entry for pysodmetrics {installed} or any earlier version "
            f"(entries: {sorted(table, key=_version_tuple)}); these expectations do not apply to it"
        )
    merged: dict[str, float] = {}
    for key in applicable:
        merged.update(table[key])
    missing = [name for name in FIXTURE_KEYS if name not in merged]
    if missing:
        pytest.fail(f"version_performance.json records no value of {missing} for pysodmetrics {installed}")
    return merged, applicable, installed


def _fixture_names() -> list[str]:
    return sorted(os.listdir(require_asset("sod_metrics_fixture", "masks")))


@pytest.mark.assets
@pytest.mark.filterwarnings("ignore:This class will be removed:UserWarning")
def test_library_reproduces_its_recorded_values_on_the_fixture():
    """PySODMetrics run exactly like its own test (cv2 grayscale reads, sorted names, step(pred, gt))."""
    expected, entries, installed = expected_for_installed_version()
    root = require_asset("sod_metrics_fixture")
    fm, wfm, sm, em, mae = (
        py_sod_metrics.Fmeasure(),
        py_sod_metrics.WeightedFmeasure(),
        py_sod_metrics.Smeasure(),
        py_sod_metrics.Emeasure(),
        py_sod_metrics.MAE(),
    )
    for name in _fixture_names():
        mask = cv2.imread(str(root / "masks" / name), cv2.IMREAD_GRAYSCALE)
        pred = cv2.imread(str(root / "preds" / name), cv2.IMREAD_GRAYSCALE)
        for metric in (fm, wfm, sm, em, mae):
            metric.step(pred=pred, gt=mask)
    fm_results, em_results = fm.get_results()["fm"], em.get_results()["em"]
    actual = {
        "MAE": mae.get_results()["mae"],
        "Smeasure": sm.get_results()["sm"],
        "wFmeasure": wfm.get_results()["wfm"],
        "adpEm": em_results["adp"],
        "meanEm": em_results["curve"].mean(),
        "maxEm": em_results["curve"].max(),
        "adpFm": fm_results["adp"],
        "meanFm": fm_results["curve"].mean(),
        "maxFm": fm_results["curve"].max(),
    }
    for key, value in actual.items():
        assert abs(value - expected[key]) <= 1e-8, (
            f"{key}: pysodmetrics {installed} gives {value!r}, "
            f"version_performance.json (entries up to {entries[-1]}) records {expected[key]!r}"
        )


@pytest.mark.assets
def test_sod_evaluator_reproduces_the_fixture():
    """Our protocol equals the fixture's here: the pairs already have equal sizes and uint8 values,
    and GT > 128 is the library's own binarisation. Masks are read with load_mask (float in
    [0, 1]) to exercise the float -> uint8 round trip as well."""
    expected, _, _ = expected_for_installed_version()
    root = require_asset("sod_metrics_fixture")
    evaluator = SODEvaluator(with_hce=False)
    for name in _fixture_names():
        evaluator.update(load_mask(root / "preds" / name), load_mask(root / "masks" / name), name=name)
    summary = evaluator.summary()
    assert summary["count"] == 3
    for library_key, our_key in FIXTURE_KEYS.items():
        assert abs(summary[our_key] - expected[library_key]) <= 1e-8, our_key
    # Per-image rows average to the summary for the per-image metrics.
    for key in ("mae", "smeasure", "wfm", "fm_adp", "em_adp"):
        assert np.mean([row[key] for row in evaluator.rows]) == pytest.approx(summary[key], abs=1e-12)


@pytest.mark.assets
@pytest.mark.xfail(
    strict=True,
    reason=(
        "known discrepancy: version_performance.json records HCE 73.667 (v1_5_1), but pysodmetrics 1.6.2 with "
        "scikit-image 0.25 / OpenCV 4.14 gives 74.333 = (37 + 185 + 1) / 3 on the fixture; the recorded value "
        "is not reproducible in this environment (strict: an XPASS means it has become reproducible)"
    ),
)
def test_hce_matches_the_recorded_fixture_value():
    expected = json.loads((require_asset("sod_metrics_fixture") / "version_performance.json").read_text())
    root = require_asset("sod_metrics_fixture")
    evaluator = SODEvaluator()
    for name in _fixture_names():
        evaluator.update(load_mask(root / "preds" / name), load_mask(root / "masks" / name), name=name)
    assert evaluator.summary()["hce"] == pytest.approx(expected["v1_5_1"]["HCE"], abs=1e-8)


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------


def test_perfect_prediction():
    gt = square()
    row = score(gt.copy(), gt)
    assert row["mae"] == 0.0
    assert row["fm_max"] == pytest.approx(1.0, abs=1e-12)
    assert row["fm_adp"] == pytest.approx(1.0, abs=1e-12)  # threshold 2 * mean = 0.5 gives the GT
    # 255 thresholds (>= 1 .. >= 255) give the GT exactly; ">= 0" gives F0.
    assert row["fm_mean"] == pytest.approx((255 * 1.0 + F0) / 256, abs=1e-12)
    assert row["smeasure"] == pytest.approx(1.0, abs=1e-9)
    assert row["wfm"] == pytest.approx(1.0, abs=1e-9)
    assert row["em_max"] == pytest.approx(N / (N - 1), abs=1e-12)
    assert row["em_adp"] == pytest.approx(N / (N - 1), abs=1e-12)
    assert row["em_mean"] == pytest.approx((255 * N / (N - 1) + E_ALL_ONE_CLASS) / 256, abs=1e-12)
    assert row["biou"] == 1.0
    assert row["hce"] == 0.0


def test_all_zero_prediction():
    gt = square()
    row = score(np.zeros_like(gt), gt)
    assert row["mae"] == pytest.approx(0.25, abs=1e-12)  # 100 wrong pixels of 400
    # Thresholds >= 1: nothing predicted, F = 0. Threshold >= 0 (also the adaptive one, 2 * 0): F0.
    assert row["fm_max"] == pytest.approx(F0, abs=1e-12)
    assert row["fm_mean"] == pytest.approx(F0 / 256, abs=1e-12)
    assert row["fm_adp"] == pytest.approx(F0, abs=1e-12)
    # Single-class binary map at every threshold.
    for key in ("em_max", "em_mean", "em_adp"):
        assert row[key] == pytest.approx(E_ALL_ONE_CLASS, abs=1e-12), key
    # Object score: foreground part 0, background part 1 * (1 - p) = 0.75. Region score: the
    # centroid (row/col 10) splits the square into 4 quadrants each holding GT 0s and 1s against a
    # constant prediction, so every SSIM term is 0. S = 0.5 * 0.75 + 0.5 * 0.
    assert row["smeasure"] == pytest.approx(0.375, abs=1e-9)
    assert row["wfm"] == pytest.approx(0.0, abs=1e-9)
    assert row["biou"] == 0.0


def test_inverted_prediction():
    gt = square()
    row = score(1.0 - gt, gt)
    assert row["mae"] == pytest.approx(1.0, abs=1e-12)
    # Thresholds >= 1 select exactly the background: TP = 0, F = 0; ">= 0" gives F0.
    assert row["fm_max"] == pytest.approx(F0, abs=1e-12)
    assert row["fm_mean"] == pytest.approx(F0 / 256, abs=1e-12)
    # Adaptive threshold min(2 * 0.75, 1) = 1 selects the background: F = 0.
    assert row["fm_adp"] == pytest.approx(0.0, abs=1e-12)
    # Predicted fg on GT bg: a = 1 - 0.75, b = 0 - 0.25 -> phi = -1 -> 0; same for pred bg on GT fg.
    assert row["em_adp"] == pytest.approx(0.0, abs=1e-12)
    assert row["em_max"] == pytest.approx(E_ALL_ONE_CLASS, abs=1e-12)
    assert row["em_mean"] == pytest.approx(E_ALL_ONE_CLASS / 256, abs=1e-12)
    # Object score 0 (prediction 0 on the object, 1 on the background); every quadrant's SSIM
    # has a negative covariance, so the region score is negative and S is clamped to 0.
    assert row["smeasure"] == pytest.approx(0.0, abs=1e-12)
    assert row["wfm"] == pytest.approx(0.0, abs=1e-9)
    assert row["biou"] == 0.0


def test_half_correct_square():
    gt = square()
    pred = gt.copy()
    pred[:, 10:] = 0.0  # keep the left half of the square: rows 5..14, cols 5..9 (50 pixels)
    row = score(pred, gt)
    assert row["mae"] == pytest.approx(50 / 400, abs=1e-12)
    # P = 50/50 = 1, R = 50/100 = 0.5: F = 1.3 * 0.5 / (0.3 + 0.5) = 0.8125.
    assert row["fm_max"] == pytest.approx(0.8125, abs=1e-12)
    assert row["fm_adp"] == pytest.approx(0.8125, abs=1e-12)  # threshold 2 * 0.125 = 0.25
    assert row["fm_mean"] == pytest.approx((255 * 0.8125 + F0) / 256, abs=1e-12)
    # E-measure: mean pred 0.125, mean GT 0.25. Pixel classes: 50 TP, 50 FN, 300 TN, 0 FP.
    e_half = (
        50 * enhanced(1 - 0.125, 1 - 0.25) + 50 * enhanced(0 - 0.125, 1 - 0.25) + 300 * enhanced(0 - 0.125, 0 - 0.25)
    ) / (N - 1)
    assert row["em_max"] == pytest.approx(e_half, abs=1e-12)
    assert row["em_adp"] == pytest.approx(e_half, abs=1e-12)
    assert row["em_mean"] == pytest.approx((255 * e_half + E_ALL_ONE_CLASS) / 256, abs=1e-12)
    # Boundary IoU: diagonal 28.3 -> d = round(0.566) = 1. GT band: 100 - 8*8 = 36 pixels;
    # prediction band (10x5 rectangle): 50 - 8*3 = 26; shared: top 5 + bottom 5 + left column 8 = 18.
    assert row["biou"] == pytest.approx(18 / (36 + 26 - 18), abs=1e-12)


def test_dataset_max_f_is_the_max_of_the_mean_curve():
    """Dataset max-F is max over thresholds of the mean curve, not the mean of per-image maxima."""
    gt = square()
    evaluator = SODEvaluator(with_hce=False)
    evaluator.update(gt.copy(), gt, name="perfect")
    evaluator.update(np.zeros_like(gt), gt, name="empty")
    summary = evaluator.summary()
    # Mean curve: (1 + 0) / 2 = 0.5 at thresholds >= 1, (F0 + F0) / 2 = F0 at ">= 0".
    assert summary["fm_max"] == pytest.approx(0.5, abs=1e-12)
    assert summary["fm_mean"] == pytest.approx((255 * 0.5 + F0) / 256, abs=1e-12)
    assert np.mean([row["fm_max"] for row in evaluator.rows]) == pytest.approx((1 + F0) / 2, abs=1e-12)
    assert summary["mae"] == pytest.approx(0.125, abs=1e-12)
    assert summary["biou"] == pytest.approx(0.5, abs=1e-12)
    assert [row["name"] for row in evaluator.rows] == ["perfect", "empty"]


def test_curves_are_by_ascending_threshold():
    gt = square()
    evaluator = SODEvaluator(with_hce=False)
    evaluator.update(gt.copy(), gt)
    curves = evaluator.curves()
    assert list(curves["thresholds"]) == list(range(256))
    for key in ("precision", "recall", "fmeasure", "emeasure"):
        assert curves[key].shape == (256,)
    # Threshold 0: everything foreground (precision = p); thresholds 1..255: the GT exactly.
    assert curves["precision"][0] == pytest.approx(0.25)
    assert np.allclose(curves["precision"][1:], 1.0)
    assert np.allclose(curves["recall"], 1.0)
    assert curves["fmeasure"][0] == pytest.approx(F0)


def test_isolated_false_positive_regions_cost_one_correction_each():
    """HCE (Qin et al., ECCV 2022): a false-positive region that touches no true object needs one
    operation (delete it) and no polygon points; one smaller than the 5-pixel tolerance is free."""
    gt = np.zeros((64, 64), dtype=np.float32)
    gt[5:25, 5:25] = 1.0
    one_blob = gt.copy()
    one_blob[40:60, 40:60] = 1.0
    tiny_blob = gt.copy()
    tiny_blob[40:44, 40:44] = 1.0
    two_blobs = one_blob.copy()
    two_blobs[5:21, 40:56] = 1.0
    assert score(one_blob, gt)["hce"] == 1.0
    assert score(tiny_blob, gt)["hce"] == 0.0
    assert score(two_blobs, gt)["hce"] == 2.0
    assert "hce" not in score(one_blob, gt, with_hce=False)


# --------------------------------------------------------------------------------------------
# Boundary IoU
# --------------------------------------------------------------------------------------------


def test_boundary_distance_is_two_percent_of_the_diagonal():
    assert boundary_distance((20, 20)) == 1  # 0.57 rounds to 1
    assert boundary_distance((100, 100)) == 3  # 2.83
    assert boundary_distance((1000, 1000)) == 28  # 28.28
    assert boundary_distance((4, 4)) == 1  # never below one pixel
    with pytest.raises(ValueError, match="dilation_ratio"):
        boundary_distance((10, 10), 0.0)


def test_boundary_region_is_the_inner_band():
    mask = square(size=10, top=5, left=5)
    band = boundary_region(mask > 0, 2)
    expected = mask.astype(bool).copy()
    expected[7:13, 7:13] = False  # pixels more than 2 px from the outside are interior
    assert np.array_equal(band, expected)
    # The image border counts as contour: a full mask's band is the frame.
    full = boundary_region(np.ones((10, 10), dtype=bool), 1)
    assert full.sum() == 100 - 64


def test_boundary_iou_half_square_at_three_pixels():
    gt = square(size=40, top=30, left=30, shape=(100, 100)) > 0
    pred = gt.copy()
    pred[:, 50:] = False  # left half: 40 rows x 20 cols
    # d = 3. GT band 40^2 - 34^2 = 444; prediction band 800 - 34 * 14 = 324; shared: top and
    # bottom bands 3 x 20 each plus the left band 3 x 34 = 222.
    assert boundary_iou(pred, gt) == pytest.approx(222 / (444 + 324 - 222), abs=1e-12)
    assert boundary_iou(gt, gt) == 1.0
    assert boundary_iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0  # both empty: correct
    assert boundary_iou(np.zeros_like(gt), gt) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        boundary_iou(pred[:50], gt)


def test_boundary_iou_binarises_the_prediction_at_one_half():
    gt = square()
    assert score(gt * 0.5, gt)["biou"] == 1.0  # 0.5 -> uint8 128 (0.502): foreground
    assert score(gt * 0.498, gt)["biou"] == 0.0  # 0.498 -> uint8 127: background
    # The library's metrics min-max normalise the prediction, so for them both maps are perfect.
    assert score(gt * 0.498, gt)["mae"] == 0.0


def test_boundary_iou_counts_a_hole_by_its_rim():
    """A hole inside a large object costs little IoU but a lot of boundary IoU (the paper's point)."""
    gt = square(size=60, top=20, left=20, shape=(100, 100)) > 0
    pred = gt.copy()
    pred[45:55, 45:55] = False  # 10x10 hole, far more than d = 3 from the outer contour
    # Outer bands agree: 60^2 - 54^2 = 684 pixels. The hole adds its rim to the prediction's
    # band: the 16x16 block around the hole minus the hole, 156 pixels. BIoU = 684 / (684 + 156).
    assert boundary_iou(pred, gt) == pytest.approx(684 / 840, abs=1e-12)
    assert np.count_nonzero(pred & gt) / np.count_nonzero(pred | gt) == pytest.approx(3500 / 3600)


# --------------------------------------------------------------------------------------------
# Protocol: resizing, quantisation, GT binarisation, input checks
# --------------------------------------------------------------------------------------------


def test_prediction_is_resized_bilinearly_and_quantised():
    gt = square(size=8, top=4, left=4)  # rows/cols 4..11
    small = np.zeros((10, 10), dtype=np.float32)
    small[2:6, 2:6] = 1.0  # the same square at half resolution
    pred_u8, gt_u8 = prepare_pair(small, gt)
    # Half-pixel bilinear 10 -> 20: destination x samples source x/2 - 0.25, so the 1-D profile is
    # 0.25 at 3, 0.75 at 4, 1 at 5..10, 0.75 at 11, 0.25 at 12 (0 elsewhere); 2-D is the product.
    profile = np.zeros(20)
    profile[[3, 12]] = 0.25
    profile[[4, 11]] = 0.75
    profile[5:11] = 1.0
    expected = np.rint(np.outer(profile, profile) * 255).astype(np.uint8)  # e.g. 0.5625 -> 143
    assert pred_u8.dtype == np.uint8 and pred_u8.shape == (20, 20)
    assert np.array_equal(pred_u8, expected)
    assert np.array_equal(gt_u8, (gt * 255).astype(np.uint8))
    row = score(small, gt)
    # Unquantised: the prediction sums to 8^2 = 64, of which 7.5^2 = 56.25 inside the GT, so the
    # absolute error is (64 - 56.25) * 2 = 15.5 over 400 pixels; uint8 rounding moves it < 1e-3.
    assert row["mae"] == pytest.approx(15.5 / 400, abs=1e-3)
    assert row["mae"] == pytest.approx(np.abs(expected / 255.0 - gt).mean(), abs=1e-12)
    assert row["biou"] == 1.0  # >= 0.5 exactly where the GT is (0.5625 and up)
    assert (row["height"], row["width"]) == (20, 20)


def test_prediction_at_twice_the_size_scores_like_the_original():
    gt = square()
    big = cv2.resize(gt, (40, 40), interpolation=cv2.INTER_NEAREST)
    # Bilinear 2x downscaling averages 2x2 blocks, which are constant here: the GT comes back.
    assert score(big, gt) == score(gt.copy(), gt)
    assert score((big * 255).astype(np.uint8), gt) == score(gt.copy(), gt)


def test_ground_truth_is_binarised_above_128():
    gt = np.zeros((20, 20), dtype=np.uint8)
    gt[5:15, 5:15] = 129
    gt[0:2, 0:2] = 128  # not foreground
    pred_u8, gt_u8 = prepare_pair(np.zeros((20, 20), dtype=np.float32), gt)
    assert set(np.unique(gt_u8)) == {0, 255}
    assert gt_u8[0, 0] == 0 and gt_u8[10, 10] == 255
    # A float GT and its uint8 form score identically.
    mask = square()
    pred = np.clip(mask * 0.8 + 0.1, 0, 1).astype(np.float32)
    assert score(pred, mask) == score(pred, (mask * 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("pred", "error", "pattern"),
    [
        (np.zeros((20, 20, 3), np.float32), ValueError, "pred: expected a single-channel"),
        (np.full((20, 20), 2.0, np.float32), ValueError, r"pred: a float mask must lie in \[0, 1\]"),
        (np.full((20, 20), np.nan, np.float32), ValueError, "pred: the mask contains NaN"),
        (np.zeros((20, 20), np.int64), TypeError, "pred: unsupported dtype int64"),
        (np.zeros((0, 20), np.float32), ValueError, "pred: the mask has no pixels"),
        ([[0.0]], TypeError, "pred: expected a numpy array"),
    ],
)
def test_bad_predictions_are_refused_with_the_argument_named(pred, error, pattern):
    evaluator = SODEvaluator()
    with pytest.raises(error, match=pattern):
        evaluator.update(pred, square())
    assert len(evaluator) == 0  # nothing recorded


def test_summary_without_pairs_explains_itself():
    with pytest.raises(ValueError, match="no pairs have been added"):
        SODEvaluator().summary()
    with pytest.raises(ValueError, match="hce_epsilon"):
        SODEvaluator(hce_epsilon=0)
