"""Alpha solvers, the large-photo strategy, foreground estimation, cutouts and matte_from_mask.

Synthetic photos are two-colour composites with a known alpha, where the colour-line model of
closed-form matting holds exactly. The GT01 test uses the real alphamatting.com image at full size
(800x497, about 1-2 s per solve on 2 CPU cores).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

import RMBG.matting.closed_form as closed_form
from conftest import require_asset
from RMBG.inference.image_io import load_image, load_mask
from RMBG.matting import (
    cutout,
    estimate_alpha,
    estimate_foreground,
    make_trimap,
    matte_from_mask,
    mse,
    sad,
)

RED = np.array([0.9, 0.15, 0.1], np.float32)
BLUE = np.array([0.1, 0.2, 0.85], np.float32)


def composite(alpha: np.ndarray, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    image = alpha[..., None] * RED + (1.0 - alpha[..., None]) * BLUE
    return np.clip(image * 255 + rng.normal(0, noise, image.shape) + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture
def ramp(rng):
    """A 60x90 photo whose alpha ramps linearly over columns 35..55; trimap unknown on 30..59."""
    columns = np.arange(90)
    alpha = np.tile(np.clip((columns - 35) / 20, 0, 1), (60, 1)).astype(np.float32)
    trimap = np.full((60, 90), 128, np.uint8)
    trimap[:, :30] = 0
    trimap[:, 60:] = 255
    return composite(alpha, rng), trimap, alpha


@pytest.mark.parametrize("method, tolerance", [("cf", 0.03), ("sm", 0.03), ("knn", 0.1)])
def test_solvers_recover_a_two_colour_ramp(ramp, method, tolerance):
    image, trimap, truth = ramp
    alpha = estimate_alpha(image, trimap, method=method)
    assert alpha.dtype == np.float32 and alpha.shape == trimap.shape
    unknown = trimap == 128
    assert np.abs(alpha - truth)[unknown].max() < tolerance
    # Known pixels are exactly their trimap value.
    assert np.all(alpha[trimap == 255] == 1.0) and np.all(alpha[trimap == 0] == 0.0)


def test_float_image_and_trimap_are_accepted(ramp):
    image, trimap, truth = ramp
    alpha = estimate_alpha(image.astype(np.float64) / 255.0, trimap.astype(np.float32) / 255.0)
    np.testing.assert_allclose(alpha, estimate_alpha(image, trimap), atol=1e-4)


def test_off_values_in_the_trimap_are_binned(ramp, caplog):
    image, trimap, _ = ramp
    noisy = trimap.copy()
    noisy[:, :30] = 3
    noisy[:, 60:] = 252
    noisy[:, 40] = 131
    with caplog.at_level(logging.WARNING, logger="RMBG.matting.trimap"):
        alpha = estimate_alpha(image, noisy)
    assert "binned" in caplog.text
    np.testing.assert_array_equal(alpha, estimate_alpha(image, trimap))


def test_no_unknown_pixel_returns_the_trimap(ramp, caplog):
    image, _, _ = ramp
    trimap = np.zeros((60, 90), np.uint8)
    trimap[:, 45:] = 255
    with caplog.at_level(logging.INFO, logger="RMBG.matting.closed_form"):
        alpha = estimate_alpha(image, trimap)
    np.testing.assert_array_equal(alpha, (trimap == 255).astype(np.float32))
    assert "no unknown pixel" in caplog.text


def test_degenerate_and_mismatched_inputs_raise(ramp):
    image, trimap, _ = ramp
    with pytest.raises(ValueError, match="no foreground pixel"):
        estimate_alpha(image, np.where(trimap == 255, 128, trimap).astype(np.uint8))
    with pytest.raises(ValueError, match="no background pixel"):
        estimate_alpha(image, np.where(trimap == 0, 128, trimap).astype(np.uint8))
    with pytest.raises(ValueError, match=r"trimap: its size 89x60 differs from the image's 90x60"):
        estimate_alpha(image, trimap[:, :89])
    with pytest.raises(ValueError, match="method"):
        estimate_alpha(image, trimap, method="lkm")
    with pytest.raises(ValueError, match="HxWx3"):
        estimate_alpha(image[..., 0], trimap)
    with pytest.raises(ValueError, match=r"image: float values must lie in \[0, 1\]"):
        estimate_alpha(image.astype(np.float32), trimap)
    with pytest.raises(ValueError, match="max_megapixels"):
        estimate_alpha(image, trimap, max_megapixels=0)


class _Recorder:
    """Wraps a pymatting solver and records the size of every image it is given."""

    def __init__(self, method: str):
        self.solver = closed_form._pymatting_solver(method)
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, image, trimap, **kwargs):
        self.shapes.append(image.shape)
        return self.solver(image, trimap, **kwargs)


def test_band_only_solves_the_bounding_box_plus_margin(monkeypatch, rng):
    truth = np.zeros((300, 400), np.float32)
    truth[100:200, 150:250] = 1.0
    trimap = np.where(truth > 0, 255, 0).astype(np.uint8)
    trimap[120:140, 150:170] = 128  # unknown box: 20x20 at rows 120..139, cols 150..169
    recorder = _Recorder("cf")
    monkeypatch.setattr(closed_form, "_pymatting_solver", lambda method: recorder)
    image = composite(truth, rng)
    estimate_alpha(image, trimap, margin=16)
    estimate_alpha(image, trimap, band_only=False)
    assert recorder.shapes == [(20 + 32, 20 + 32, 3), (300, 400, 3)]


def test_large_regions_are_solved_at_capped_resolution(monkeypatch, ramp):
    image, trimap, truth = ramp
    recorder = _Recorder("cf")
    monkeypatch.setattr(closed_form, "_pymatting_solver", lambda method: recorder)
    alpha = estimate_alpha(image, trimap, max_megapixels=0.0015)
    (height, width, _), = recorder.shapes
    assert height * width <= 1500 * 1.05 and height < 60
    unknown = trimap == 128
    assert np.abs(alpha - truth)[unknown].max() < 0.05
    assert np.all(alpha[trimap == 255] == 1.0) and np.all(alpha[trimap == 0] == 0.0)


def test_guided_upsampling_keeps_a_sharp_edge_that_linear_blurs(rng):
    # A hard edge between pixel columns 44 and 45, solved at about 1/3 of the resolution.
    truth = np.tile((np.arange(90) >= 45).astype(np.float32), (60, 1))
    image = composite(truth, rng, noise=0.0)
    trimap = np.full((60, 90), 128, np.uint8)
    trimap[:, :30] = 0
    trimap[:, 60:] = 255
    guided = estimate_alpha(image, trimap, max_megapixels=0.0006, upsample="guided")
    linear = estimate_alpha(image, trimap, max_megapixels=0.0006, upsample="linear")
    assert sad(guided, truth) < 0.01 < sad(linear, truth)


def test_foreground_removes_the_background_colour(ramp):
    image, _, alpha = ramp
    fractional = (alpha > 0) & (alpha < 1)
    naive_error = np.abs(image[fractional] / 255.0 - RED).max()
    for cap in (2.0, 0.001):  # full resolution, then downscaled with the compositing correction
        foreground = estimate_foreground(image, alpha, max_megapixels=cap)
        assert foreground.dtype == np.float32 and foreground.shape == image.shape
        assert np.abs(foreground[fractional] - RED).max() < 0.03 < 0.5 < naive_error
        known = ~fractional
        np.testing.assert_allclose(foreground[known], image[known] / 255.0, rtol=0, atol=1e-6)


def test_foreground_without_fractional_alpha_is_the_photo(ramp, caplog):
    image, _, alpha = ramp
    hard = (alpha > 0.5).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="RMBG.matting.foreground"):
        foreground = estimate_foreground(image, hard)
    np.testing.assert_allclose(foreground, image / 255.0, rtol=0, atol=1e-6)
    assert "no fractional pixel" in caplog.text


def test_cutout_is_rgba_without_halo(ramp):
    image, _, alpha = ramp
    rgba = cutout(image, alpha)
    assert rgba.dtype == np.uint8 and rgba.shape == (60, 90, 4)
    np.testing.assert_array_equal(rgba[..., 3], np.floor(alpha * 255 + 0.5).astype(np.uint8))  # half up
    visible = alpha > 0.1
    assert np.abs(rgba[visible][:, :3].astype(int) - np.round(RED * 255)).max() <= 8
    assert np.all(rgba[alpha == 0][:, :3] == 0)
    # A given foreground is used as is.
    rgba_given = cutout(image, alpha, foreground=image)
    np.testing.assert_array_equal(rgba_given[alpha > 0][:, :3], image[alpha > 0])
    with pytest.raises(ValueError, match="alpha: its size"):
        cutout(image, alpha[:, :80])
    with pytest.raises(ValueError, match="only used when foreground is None"):
        cutout(image, alpha, foreground=image, max_megapixels=1.0)


def test_matte_from_mask(rng):
    # A disc with a 3 px soft edge; the mask is the disc thresholded and blurred (sigma 3).
    rows, cols = np.mgrid[0:80, 0:100]
    radius = np.hypot(rows - 40, cols - 50)
    alpha = np.clip((30 - radius) / 3 + 0.5, 0, 1).astype(np.float32)
    image = composite(alpha, rng)
    coarse = cv2.GaussianBlur((alpha > 0.5).astype(np.float32), (0, 0), 3)
    result = matte_from_mask(image, coarse, trimap_config="rembg")
    assert result.trimap.dtype == np.uint8 and set(np.unique(result.trimap)) <= {0, 128, 255}
    assert result.alpha.dtype == np.float32 and result.alpha.shape == alpha.shape
    assert result.foreground is not None and result.foreground.shape == image.shape
    assert sad(result.alpha, alpha) < 0.5 * sad(coarse, alpha)
    alpha_only, foreground, trimap = matte_from_mask(image, coarse, foreground_estimation=False)
    assert foreground is None
    np.testing.assert_array_equal(alpha_only, result.alpha)
    with pytest.raises(ValueError, match="mask: its size"):
        matte_from_mask(image, coarse[:50])
    with pytest.raises(ValueError, match="no foreground pixel"):
        matte_from_mask(image, np.zeros_like(coarse))
    with pytest.raises(ValueError, match="unknown preset"):
        matte_from_mask(image, coarse, trimap_config="fba")


@pytest.fixture(scope="module")
def gt01():
    folder = require_asset("matting")
    image = load_image(folder / "images" / "GT01.png")
    trimap = np.round(load_mask(folder / "trimaps" / "GT01.png") * 255).astype(np.uint8)
    alpha = load_mask(folder / "alphas" / "GT01.png")
    return image, trimap, alpha


@pytest.mark.assets
def test_gt01_closed_form_beats_the_trimap_baseline(gt01):
    image, trimap, truth = gt01
    assert set(np.unique(trimap)) == {0, 128, 255}
    alpha = estimate_alpha(image, trimap, method="cf")
    # Baseline: the trimap as alpha, its unknown band thresholded either way (keep the better one).
    baseline = min(
        sad((trimap >= 128).astype(np.float32), truth, trimap),
        sad((trimap == 255).astype(np.float32), truth, trimap),
    )
    value = sad(alpha, truth, trimap)
    # Measured: 1.13 against a baseline of 17.7 (docs/matting.md).
    assert value < 1.5 and value < 0.1 * baseline


@pytest.mark.assets
def test_gt01_closed_form_refines_a_coarse_mask(gt01):
    image, _, truth = gt01
    # A coarse mask: the ground truth thresholded at 0.5, then blurred (sigma 3).
    coarse = cv2.GaussianBlur((truth > 0.5).astype(np.float32), (0, 0), 3)
    trimap = make_trimap(coarse, "rembg")
    alpha = estimate_alpha(image, trimap, method="cf")
    # Measured: SAD 1.34 vs 4.15, MSE 0.00064 vs 0.00234 (whole image; docs/matting.md).
    assert sad(alpha, truth) < 0.5 * sad(coarse, truth)
    assert mse(alpha, truth) < 0.5 * mse(coarse, truth)
    assert sad(alpha, truth, trimap) < 0.5 * sad(coarse, truth, trimap)
