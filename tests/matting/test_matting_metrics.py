"""Matting metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from RMBG.matting.matting_metrics import (
    connectivity_error,
    gaussian_derivative_kernels,
    gradient_error,
    matting_metrics,
    mse,
    sad,
)


def test_constant_offset_over_the_whole_image():
    gt = np.full((100, 100), 0.5)
    pred = gt + 0.1
    assert sad(pred, gt) == pytest.approx(10_000 * 0.1 / 1000)  # 1.0
    assert mse(pred, gt) == pytest.approx(0.01)
    # A constant offset leaves every gradient unchanged.
    assert gradient_error(pred, gt) == pytest.approx(0.0, abs=1e-12)


def test_region_is_the_unknown_part_of_the_trimap():
    gt = np.zeros((100, 100))
    pred = np.full((100, 100), 0.1)
    trimap = np.zeros((100, 100), np.uint8)
    trimap[10:20, 30:40] = 128  # 100 unknown pixels
    trimap[50:60, :] = 255
    assert sad(pred, gt, trimap) == pytest.approx(100 * 0.1 / 1000)
    assert mse(pred, gt, trimap) == pytest.approx(0.01)


def test_single_wrong_pixel():
    gt = np.zeros((41, 41))
    pred = gt.copy()
    pred[20, 20] = 1.0
    assert sad(pred, gt) == pytest.approx(0.001)
    assert mse(pred, gt) == pytest.approx(1 / 41**2)
    # The impulse response of each unit-norm derivative filter has squared sum 1: |grad|^2 sums to 2.
    assert gradient_error(pred, gt) == pytest.approx(2 / 1000)
    # No pixel is above 0.1 in both mattes: every level is 0, phi(pred) is 0 at the pixel, 1 elsewhere.
    assert connectivity_error(pred, gt) == pytest.approx(1 / 1000)


def test_uint8_inputs_are_divided_by_255():
    gt = np.zeros((41, 41), np.uint8)
    pred = gt.copy()
    pred[20, 20] = 255
    metrics = matting_metrics(pred, gt)
    assert metrics == pytest.approx({"sad": 0.001, "mse": 1 / 41**2, "grad": 0.002, "conn": 0.001})


def test_connectivity_uses_4_connectivity():
    # gt is 1 everywhere. pred: a 5x5 block of ones, one pixel of 0.12 touching it only diagonally,
    # zeros elsewhere. 4-connected, the pixel is cut off at t=0.1: level 0, d=0.12 < 0.15, phi(pred)=1
    # but phi(gt)=0 -> 1. Each of the 74 zeros: phi(pred)=1, phi(gt)=0 -> 1. Total 75 / 1000.
    # (8-connected, the pixel would keep level 0.1 and count 0.9: 74.9 / 1000.)
    gt = np.ones((10, 10))
    pred = np.zeros((10, 10))
    pred[:5, :5] = 1.0
    pred[5, 5] = 0.12
    assert connectivity_error(pred, gt) == pytest.approx(75 / 1000)


def test_connectivity_of_an_island_counts_its_moat():
    # gt is 1 everywhere; pred is 1 except a ring of zeros (5x5 border, 16 px) around a 3x3 island.
    # The island drops out of the largest component at t=0.1 in both mattes (level 0, d=1 for both):
    # no difference. The ring: phi(pred)=1, phi(gt)=0 -> 16 / 1000.
    gt = np.ones((20, 20))
    pred = np.ones((20, 20))
    pred[7:12, 7:12] = 0.0
    pred[8:11, 8:11] = 1.0
    assert connectivity_error(pred, gt) == pytest.approx(16 / 1000)


def test_perfect_prediction_scores_zero(rng):
    gt = rng.random((30, 40))
    trimap = np.where(gt > 0.8, 255, np.where(gt < 0.2, 0, 128)).astype(np.uint8)
    for value in matting_metrics(gt, gt, trimap).values():
        assert value == 0.0


def test_gaussian_derivative_kernels():
    hx, hy = gaussian_derivative_kernels(1.4)
    assert hx.shape == (9, 9)  # half size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    assert np.sum(hx * hx) == pytest.approx(1.0)
    assert hx.sum() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(hy, hx.T)
    assert hx[4, 5] < 0 < hx[4, 3]  # derivative along x (columns), sign of -u g(u)


def test_errors_name_the_problem():
    gt = np.zeros((10, 10))
    with pytest.raises(ValueError, match="differs from gt"):
        sad(np.zeros((10, 11)), gt)
    with pytest.raises(ValueError, match="no unknown pixel"):
        mse(gt, gt, np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"pred: float values must lie in \[0, 1\]"):
        sad(np.full((10, 10), 2.0), gt)
    with pytest.raises(ValueError, match="1/n"):
        connectivity_error(gt, gt, step=0.3)
    with pytest.raises(TypeError, match="int32"):
        sad(np.zeros((10, 10), np.int32), gt)
