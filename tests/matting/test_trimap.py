"""Trimaps from soft masks: exact band widths on hand-made masks, the reference tools' behaviour,
and the rules for reading trimaps."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from RMBG.matting.trimap import (
    TRIMAP_PRESETS,
    TrimapConfig,
    get_trimap_config,
    make_trimap,
    split_trimap,
)


def square_mask(size: int = 200, start: int = 70, stop: int = 130) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    mask[start:stop, start:stop] = 1.0
    return mask


def test_carvekit_preset_square_has_exact_bands():
    # Square rows/cols 70..129. CarveKit: unknown ring 30 px outside (61x61 dilation), 5 px inside
    # (3x3 erosion x 5), nothing else uncertain.
    trimap = make_trimap(square_mask(), "carvekit")
    expected = np.zeros((200, 200), np.uint8)
    expected[40:160, 40:160] = 128
    expected[75:125, 75:125] = 255
    np.testing.assert_array_equal(trimap, expected)
    row = trimap[100]
    assert np.count_nonzero(row[:100] == 128) == 30 + 5


def test_rembg_preset_square_has_exact_bands():
    # 10x10 structuring element centred at index 5: offsets -5..+4. Foreground kept on [75, 125],
    # background kept where the 10x10 window misses the square: outside [66, 134].
    trimap = make_trimap(square_mask(), "rembg")
    expected = np.zeros((200, 200), np.uint8)
    expected[66:135, 66:135] = 128
    expected[75:126, 75:126] = 255
    np.testing.assert_array_equal(trimap, expected)
    assert np.count_nonzero(trimap[100, :100] == 128) == 9  # 4 px outside + 5 px inside the top/left edge


def _soft_blob(rng: np.random.Generator, size: int = 160) -> np.ndarray:
    noise = rng.random((size // 8, size // 8)).astype(np.float32)
    mask = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    mask = np.clip((mask - 0.5) * 4 + 0.5, 0, 1)
    mask[:20] = 0
    mask[-20:] = 0
    mask[:, :20] = 0
    mask[:, -20:] = 0
    return np.round(mask * 255).astype(np.uint8)


def test_rembg_preset_matches_rembgs_scipy_recipe(rng):
    # rembg: fg = binary_erosion(mask > 240, ones(10x10)); bg = binary_erosion(mask < 10, ones(10x10),
    # border_value=1). The blob stays away from the border, where the two conventions differ.
    mask = _soft_blob(rng)
    structure = np.ones((10, 10), np.uint8)
    fg = binary_erosion(mask > 240, structure=structure)
    bg = binary_erosion(mask < 10, structure=structure, border_value=1)
    expected = np.full(mask.shape, 128, np.uint8)
    expected[fg] = 255
    expected[bg] = 0
    assert fg.any() and bg.any() and (expected == 128).any()
    np.testing.assert_array_equal(make_trimap(mask, "rembg"), expected)


def test_carvekit_preset_matches_carvekits_steps(rng):
    # CarveKit's TrimapGenerator steps, literally: binarise > 231, dilate with (2*30+1)^2 ones and
    # mark the ring unknown, mark 0 < level <= 231 unknown, erode the foreground 5 times with 3x3.
    mask = _soft_blob(rng)
    binary = np.where(mask > 231, 255, 0).astype(np.uint8)
    dilated = cv2.dilate(binary, np.ones((61, 61), np.uint8))
    expected = np.where(binary > 0, 255, np.where(dilated > 0, 128, 0)).astype(np.uint8)
    expected[(mask <= 231) & (mask > 0)] = 128
    only_fg = np.where(expected == 255, 255, 0).astype(np.uint8)
    eroded = cv2.erode(only_fg, np.ones((3, 3), np.uint8), iterations=5)
    expected[(eroded == 0) & (only_fg > 0)] = 128
    np.testing.assert_array_equal(make_trimap(mask, "carvekit"), expected)


def test_uncertain_probabilities_are_unknown():
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    trimap = make_trimap(ramp, TrimapConfig(fg_threshold=200, bg_threshold=50, erosion=0, dilation=0, bg_erosion=0))
    levels = np.arange(256)
    expected_row = np.where(levels > 200, 255, np.where(levels < 50, 0, 128))
    np.testing.assert_array_equal(trimap[0], expected_row)


def test_float_and_uint8_masks_give_the_same_trimap(rng):
    mask = _soft_blob(rng)
    for preset in TRIMAP_PRESETS:
        np.testing.assert_array_equal(
            make_trimap(mask, preset), make_trimap(mask.astype(np.float32) / 255.0, preset)
        )


def test_overrides_replace_single_fields():
    mask = square_mask()
    trimap = make_trimap(mask, "rembg", erosion=0, bg_erosion=0)
    np.testing.assert_array_equal(trimap, np.where(mask > 0, 255, 0).astype(np.uint8))
    assert get_trimap_config("REMBG") is TRIMAP_PRESETS["rembg"]


def test_round_off_above_one_is_accepted():
    mask = square_mask()
    mask[100, 100] = 1.0 + 1e-6
    assert make_trimap(mask, "rembg")[100, 100] == 255


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(fg_threshold=5, bg_threshold=10), "bg_threshold"),
        (dict(erosion=-1), "erosion"),
        (dict(dilation=2.5), "dilation"),
        (dict(fg_threshold=300), "fg_threshold"),
    ],
)
def test_bad_configs_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrimapConfig(**kwargs)


def test_bad_masks_and_presets_are_rejected():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        make_trimap(square_mask(), "nope")
    with pytest.raises(ValueError, match=r"mask: float values must lie in \[0, 1\].*1\.5"):
        make_trimap(np.full((8, 8), 1.5, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        make_trimap(np.full((8, 8), np.nan, np.float32))
    with pytest.raises(TypeError, match="int32"):
        make_trimap(np.zeros((8, 8), np.int32))
    with pytest.raises(ValueError, match="HxW"):
        make_trimap(np.zeros((8, 8, 3), np.float32))


def test_mask_without_object_logs_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="RMBG.matting.trimap"):
        trimap = make_trimap(np.zeros((50, 50), np.float32), "rembg")
    assert not (trimap == 255).any()
    assert "no foreground" in caplog.text


def test_split_trimap_bins_off_values_with_a_warning(caplog):
    trimap = np.array([[0, 25, 26, 128, 229, 230, 255]], np.uint8)
    with caplog.at_level(logging.WARNING, logger="RMBG.matting.trimap"):
        fg, bg, unknown = split_trimap(trimap)
    np.testing.assert_array_equal(bg[0], [True, True, False, False, False, False, False])
    np.testing.assert_array_equal(fg[0], [False, False, False, False, False, True, True])
    np.testing.assert_array_equal(unknown[0], [False, False, True, True, True, False, False])
    assert "4 pixels are not exactly" in caplog.text


def test_split_trimap_canonical_float_values_are_silent(caplog):
    trimap = np.array([[0, 128, 255]], np.uint8)
    with caplog.at_level(logging.WARNING, logger="RMBG.matting.trimap"):
        for variant in (trimap.astype(np.float32) / 255.0, np.array([[0.0, 0.5, 1.0]]), trimap.astype(np.int64)):
            fg, bg, unknown = split_trimap(variant)
            np.testing.assert_array_equal(unknown[0], [False, True, False])
            np.testing.assert_array_equal(fg[0], [False, False, True])
    assert caplog.text == ""


def test_split_trimap_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="300"):
        split_trimap(np.array([[0, 300]], np.int16))
    with pytest.raises(ValueError, match="divide by 255"):
        split_trimap(np.array([[0.0, 128.0]], np.float32))
    with pytest.raises(TypeError, match="bool"):
        split_trimap(np.zeros((3, 3), bool))
