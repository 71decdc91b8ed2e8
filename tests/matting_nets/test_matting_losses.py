"""Hand-computed cases of the matting losses."""

from __future__ import annotations

import numpy as np
import pytest
import keras

from RMBG.training.matting_losses import (
    CompositionLoss,
    LaplacianLoss,
    MattingLoss,
    RefinementLoss,
    UnknownL1,
    get_matting_loss,
    laplacian_pyramid,
    pack_targets,
)


def test_unknown_l1_counts_only_the_unknown_region():
    alpha = np.zeros((1, 4, 4), np.float32)
    alpha[0, :2] = 1.0
    weight = np.zeros_like(alpha)
    weight[0, 0, :2] = 1.0  # two unknown pixels, both alpha 1
    pred = np.full((1, 4, 4, 1), 0.5, np.float32)
    value = float(UnknownL1()(pack_targets(alpha, weight), pred))
    assert value == pytest.approx(0.5, abs=1e-5)
    pred[0, 2:, :, 0] = 0.9  # errors outside the region change nothing
    assert float(UnknownL1()(pack_targets(alpha, weight), pred)) == pytest.approx(0.5, abs=1e-5)
    # without a weight channel: the whole image, mean |0.5 - alpha| mixed with the 0.9 rows
    whole = np.mean(np.abs(pred[0, ..., 0] - alpha[0]))
    assert float(UnknownL1()(alpha[..., None], pred)) == pytest.approx(whole, abs=1e-5)


def test_composition_loss_hand_case():
    alpha = np.full((1, 2, 2), 1.0, np.float32)
    weight = np.ones_like(alpha)
    fg = np.ones((1, 2, 2, 3), np.float32)
    bg = np.zeros((1, 2, 2, 3), np.float32)
    pred = np.full((1, 2, 2, 1), 0.75, np.float32)
    # composite = alpha * 1 + 0 -> error |0.75 - 1| = 0.25 on each channel (Charbonnier ~ abs)
    value = float(CompositionLoss()(pack_targets(alpha, weight, fg, bg), pred))
    assert value == pytest.approx(0.25, abs=1e-4)
    # identical F and B: the alpha does not matter
    value = float(CompositionLoss()(pack_targets(alpha, weight, fg, fg), pred))
    assert value == pytest.approx(1e-6, abs=1e-5)
    with pytest.raises(ValueError, match="8 channels"):
        CompositionLoss()(pack_targets(alpha, weight), pred)


def test_laplacian_loss_constant_offset_reaches_only_the_low_pass():
    alpha = np.zeros((1, 17, 23), np.float32)
    pred = np.full((1, 17, 23, 1), 0.2, np.float32)
    for levels in (1, 3, 5):
        assert float(LaplacianLoss(levels=levels)(alpha[..., None], pred)) == pytest.approx(0.2 * 2 ** (levels - 1), rel=1e-4)
    assert float(LaplacianLoss()(alpha[..., None], np.zeros_like(pred))) == 0.0


def test_laplacian_pyramid_reconstructs_the_image():
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 1, (1, 19, 21, 1)).astype(np.float32)
    pyramid = laplacian_pyramid(tf.constant(x), 4)
    assert [tuple(p.shape[1:3]) for p in pyramid] == [(19, 21), (10, 11), (5, 6), (3, 3)]
    current = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        current = band + tf.image.resize(current, tf.shape(band)[1:3], method="bilinear")
    np.testing.assert_allclose(current, x, atol=1e-5)


def test_matting_and_refinement_losses_are_zero_or_minimal_on_truth():
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0, 1, (2, 16, 16)).astype(np.float32)
    y = pack_targets(alpha, np.ones_like(alpha), rng.uniform(0, 1, (2, 16, 16, 3)), rng.uniform(0, 1, (2, 16, 16, 3)))
    assert float(MattingLoss()(y, alpha[..., None])) == pytest.approx(1e-6, abs=1e-5)
    assert float(MattingLoss()(y, 1 - alpha[..., None])) > 0.1
    mask = (alpha > 0.5).astype(np.float32)[..., None]
    perfect = float(RefinementLoss()(mask, np.concatenate([mask, mask], -1)))
    wrong = float(RefinementLoss()(mask, np.concatenate([1 - mask, mask], -1)))
    assert perfect < 1e-4 < wrong


def test_side_maps_are_weighted():
    alpha = np.zeros((1, 4, 4, 1), np.float32)
    pred = np.concatenate([np.zeros_like(alpha), np.full_like(alpha, 0.5)], axis=-1)
    assert float(UnknownL1(side_weight=1.0)(alpha, pred)) == pytest.approx(0.5, abs=1e-5)
    assert float(UnknownL1(side_weight=0.2)(alpha, pred)) == pytest.approx(0.1, abs=1e-5)


def test_losses_serialise_and_bad_arguments_raise():
    loss = MattingLoss(l1_weight=2.0, composition_weight=0.0, levels=3)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.get_config() == loss.get_config()
    assert isinstance(get_matting_loss("laplacian", levels=2), LaplacianLoss)
    with pytest.raises(ValueError, match="loss: expected one of"):
        get_matting_loss("nope")
    with pytest.raises(ValueError, match="levels"):
        LaplacianLoss(levels=0)
    with pytest.raises(ValueError, match="foreground, background"):
        pack_targets(np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2, 3)))
