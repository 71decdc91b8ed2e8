"""Losses and metrics on hand-computed cases."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from RMBG.training.losses import DeepSupervisionBCE, HybridLoss, ssim_maps
from RMBG.training.metrics import FBeta, MaskIoU, MaskMAE


def _masks(n=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):
        y, x = rng.integers(2, size // 2, 2)
        truth[i, y : y + size // 2, x : x + size // 2] = 1
    return truth


def test_perfect_prediction_costs_nothing():
    truth = _masks()
    stacked = np.repeat(truth, 7, axis=-1)
    assert float(DeepSupervisionBCE()(truth, stacked)) < 1e-5
    assert float(HybridLoss()(truth, stacked)) < 1e-4
    assert float(HybridLoss()(truth, truth)) < 1e-4


def test_bce_values_by_hand():
    truth = _masks()
    half = np.full((2, 16, 16, 7), 0.5, np.float32)
    np.testing.assert_allclose(float(DeepSupervisionBCE()(truth, half)), 7 * math.log(2), rtol=1e-5)
    np.testing.assert_allclose(float(DeepSupervisionBCE(side_weight=0.5)(truth, half)), 4 * math.log(2), rtol=1e-5)
    one_pixel = DeepSupervisionBCE()(np.ones((1, 1, 1, 1), np.float32), np.full((1, 1, 1, 1), 0.8, np.float32))
    np.testing.assert_allclose(float(one_pixel), -math.log(0.8), rtol=1e-6)


@pytest.mark.parametrize("loss", [DeepSupervisionBCE(), HybridLoss()], ids=["deep_bce", "hybrid"])
def test_k_maps_and_one_map_agree(loss):
    truth = _masks()
    primary = np.random.default_rng(1).uniform(0.05, 0.95, truth.shape).astype(np.float32)
    one = float(loss(truth, primary))
    seven = float(loss(truth, np.repeat(primary, 7, axis=-1)))
    np.testing.assert_allclose(seven, 7 * one, rtol=1e-5)
    with_sides = np.concatenate([primary, np.zeros_like(np.repeat(primary, 6, -1))], -1)
    sides_ignored = type(loss)(side_weight=0.0)(truth, with_sides)
    np.testing.assert_allclose(float(sides_ignored), one, rtol=1e-5)
    # masks may come without the channel axis
    np.testing.assert_allclose(float(loss(truth[..., 0], primary)), one, rtol=1e-6)


def test_hybrid_terms_by_hand():
    truth = np.zeros((1, 16, 16, 1), np.float32)
    truth[:, :8] = 1
    everything = np.ones_like(truth)
    # BCE: half the pixels pay -log(1 - clip(1)) with the clip 1 - 1e-7 in float32; IoU: 128 / 256
    bce = 0.5 * -math.log(1.0 - float(np.float32(1.0 - 1e-7)))
    ssim = float(ssim_maps(truth, everything)[0, 0])
    np.testing.assert_allclose(float(HybridLoss()(truth, everything)), bce + (1 - ssim) + 0.5, rtol=1e-4)


def test_ssim_matches_an_independent_implementation():
    from scipy.ndimage import correlate

    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (1, 20, 24, 1)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1).astype(np.float32)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def blur(a):
        return correlate(a.astype(np.float64), window, mode="constant", cval=0.0)

    a, b = x[0, ..., 0], y[0, ..., 0]
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    np.testing.assert_allclose(float(ssim_maps(y, x)[0, 0]), expected.mean(), rtol=1e-4)


def test_losses_compute_in_float32_and_serialise_without_custom_objects():
    truth = _masks()
    low = tf.cast(np.full((2, 16, 16, 7), 0.3, np.float32), tf.bfloat16)
    for loss in (DeepSupervisionBCE(side_weight=0.4), HybridLoss(window_size=7, sigma=1.0)):
        assert loss(truth, low).dtype == tf.float32
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="window_size"):
        HybridLoss(window_size=4)
    with pytest.raises(ValueError, match="side_weight"):
        DeepSupervisionBCE(side_weight=-1)


def test_mae_reads_channel_zero_only():
    truth = np.zeros((2, 8, 8, 1), np.float32)
    prediction = np.concatenate([np.full((2, 8, 8, 1), 0.25), np.ones((2, 8, 8, 6))], -1).astype(np.float32)
    metric = MaskMAE()
    metric.update_state(truth, prediction)
    np.testing.assert_allclose(float(metric.result()), 0.25)


def test_iou_per_image_average_and_empty_cases():
    truth = np.zeros((3, 8, 8, 1), np.float32)
    truth[0, :4] = 1  # image 0: prediction covers all -> IoU 32/64
    truth[1, :4] = 1  # image 1: prediction equals truth -> 1
    prediction = np.zeros((3, 8, 8, 1), np.float32)  # image 2: both empty -> 1
    prediction[0] = 0.9
    prediction[1, :4] = 0.6
    metric = MaskIoU()
    metric.update_state(truth, prediction)
    np.testing.assert_allclose(float(metric.result()), (0.5 + 1 + 1) / 3, rtol=1e-6)
    metric.update_state(truth[:1], np.zeros_like(truth[:1]))  # a miss: 0; running mean over 4 images
    np.testing.assert_allclose(float(metric.result()), 2.5 / 4, rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_fbeta_fixed_and_adaptive_thresholds():
    truth = np.zeros((1, 8, 8, 1), np.float32)
    truth[0, :4] = 1
    half = np.zeros_like(truth)
    half[0, :2] = 0.9  # precision 1, recall 0.5
    metric = FBeta()
    metric.update_state(truth, half)
    np.testing.assert_allclose(float(metric.result()), 1.3 * 0.5 / (0.3 + 0.5), rtol=1e-6)
    faint = truth * 0.3  # below 0.5 everywhere; the adaptive threshold 2 * mean = 0.3 finds it
    fixed, adaptive = FBeta(), FBeta(threshold="adaptive")
    fixed.update_state(truth, faint)
    adaptive.update_state(truth, faint)
    assert float(fixed.result()) == 0.0 and float(adaptive.result()) == pytest.approx(1.0)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(adaptive))
    assert isinstance(clone, FBeta) and clone.threshold == "adaptive" and clone.beta2 == 0.3
    with pytest.raises(ValueError, match="threshold"):
        FBeta(threshold=2)
