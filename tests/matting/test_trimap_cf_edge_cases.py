"""``post="trimap-cf"`` where matting has nothing to solve: a photo with no object, an object that
fills the photo, photos thinner than the solver's 3x3 window. Each returns the plain mask with a
warning, never an exception, a non-converging solver, or a numpy warning."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from RMBG.matting.closed_form import MIN_SOLVE_SIDE, estimate_alpha
from RMBG.matting.postprocessors import trimap_cf


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _strip_mask(height: int, width: int) -> np.ndarray:
    """A soft object across the middle of a photo: foreground, a soft edge, background."""
    mask = np.zeros((height, width), np.float32)
    if width >= height:
        mask[:, width // 4: width // 2] = 1.0
        mask[:, width // 4 - 5: width // 4 + 5] = 0.5
    else:
        mask[height // 4: height // 2] = 1.0
        mask[height // 4 - 5: height // 4 + 5] = 0.5
    return mask


@pytest.mark.parametrize(
    ("mask_value", "expected"),
    [(0.0, "holds no object"), (0.03, "holds no object"), (1.0, "fills the")],
    ids=["empty", "faint", "full"],
)
def test_nothing_to_matte_gives_the_plain_mask_with_a_warning(mask_value, expected, caplog):
    mask = np.full((40, 60), mask_value, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy (or other) warning may leak
        with caplog.at_level(logging.WARNING, logger="RMBG.matting"):
            alpha, foreground = trimap_cf(_photo(40, 60), mask)
    np.testing.assert_array_equal(alpha, mask)  # what post="none" gives
    assert alpha.dtype == np.float32 and foreground is None
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and expected in messages[0] and "60x40" in messages[0], messages


@pytest.mark.parametrize("shape", [(1, 5000), (5000, 1), (2, 3000)], ids=["1x5000", "5000x1", "2x3000"])
def test_thin_photos_keep_their_mask_with_a_clear_message(shape, caplog, capsys):
    mask = _strip_mask(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING, logger="RMBG.matting"):
            alpha, foreground = trimap_cf(_photo(*shape), mask)
    np.testing.assert_array_equal(alpha, mask)
    assert foreground is None
    assert any("thinner than the 3 pixels" in r.getMessage() for r in caplog.records)
    assert "PERFORMANCE WARNING" not in capsys.readouterr().out  # pymatting's ichol print


def test_estimate_alpha_refuses_thin_regions_clearly():
    """Called directly, the solver says why instead of 'conjugate gradient did not converge'."""
    shape = (MIN_SOLVE_SIDE - 1, 400)
    trimap = np.zeros(shape, np.uint8)
    trimap[:, 100:200] = 255
    trimap[:, 95:105] = 128
    with pytest.raises(ValueError, match=r"thinner than the 3 pixels the matting solvers need"):
        estimate_alpha(_photo(*shape), trimap)


def test_a_three_pixel_photo_is_still_matted():
    """The smallest side the solver takes is solved (a soft band, known pixels exact)."""
    mask = _strip_mask(MIN_SOLVE_SIDE, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alpha, _ = trimap_cf(_photo(MIN_SOLVE_SIDE, 120), mask, foreground_estimation=False,
                             trimap_erosion=2, trimap_dilation=2)
    assert alpha.shape == mask.shape and alpha.dtype == np.float32
    assert alpha[:, :10].max() == 0.0 and alpha[:, 40:55].min() == 1.0
