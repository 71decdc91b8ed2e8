"""`remove --post fba` end to end on a real photo with a `.pth` from the random CarveKit reference,
and the working-size plan of RMBG.matting.fba (band crop, cap, padding, full-resolution return)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import require_asset
from fba_reference import random_reference, save_reference
from PIL import Image

from RMBG.matting import fba
from RMBG.matting.trimap import make_trimap


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_reference(random_reference(seed=2), tmp_path_factory.mktemp("fba_post") / "fine_tuned.pth")


@pytest.fixture(scope="module")
def network(checkpoint):
    return fba.resolve_fba_model(str(checkpoint))  # create_model("fba_matting", weights=path), cached


def test_create_model_takes_a_pth_by_path(network, checkpoint):
    from RMBG.weights.fba_import import read_fba_checkpoint

    state = read_fba_checkpoint(checkpoint)
    np.testing.assert_array_equal(np.asarray(network.get_layer("decoder.conv_up4.4").kernel),
                                  state["decoder.conv_up4.4.weight"].transpose(2, 3, 1, 0))
    assert fba.resolve_fba_model(str(checkpoint)) is network  # one conversion per unchanged file
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        fba.resolve_fba_model("missing.pth")


def test_plan_crops_the_band_caps_and_pads():
    unknown = np.zeros((3000, 2000), bool)
    unknown[1000:2201, 500:1301] = True  # 1201 x 801 band box
    full = fba.plan_fba(unknown, max_side=None)
    assert full.box == (936, 2265, 436, 1365) and not full.scaled  # margin 64 on each side
    assert full.padded == (1336, 936) and all(p % 8 == 0 for p in full.padded)
    capped = fba.plan_fba(unknown, max_side=512)
    assert capped.scaled and max(capped.size) == 512 and all(p % 8 == 0 for p in capped.padded)
    top, bottom = capped.box[:2]
    assert top <= 1000 - 64 * 1329 // 512 + 1 and bottom >= 2201  # the margin is in working pixels
    whole = fba.plan_fba(unknown, max_side=1024, band_only=False)
    assert whole.box == (0, 3000, 0, 2000) and whole.size == (1024, 683) and whole.padded == (1024, 688)
    with pytest.raises(ValueError, match="max_side"):
        fba.plan_fba(unknown, max_side=4)


def test_fba_matte_at_a_capped_size_keeps_known_regions_and_photo_texture(network, rng):
    height, width = 90, 130
    image = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    trimap = np.zeros((height, width), np.uint8)
    trimap[20:70, 30:100] = 128
    trimap[35:55, 50:80] = 255
    alpha, foreground = fba.fba_matte(network, image, trimap, max_side=48, margin=4)
    assert alpha.shape == trimap.shape and foreground.shape == image.shape
    assert np.all(alpha[trimap == 0] == 0) and np.all(alpha[trimap == 255] == 1)
    unknown = trimap == 128
    assert 0.05 < np.mean((alpha[unknown] > 0) & (alpha[unknown] < 1))
    from RMBG.matting.closed_form import as_rgb_float

    photo = as_rgb_float(image)
    np.testing.assert_array_equal(foreground[~unknown], photo[~unknown])
    assert np.abs(foreground[unknown] - photo[unknown]).max() > 0.05  # FBA's colours, not the photo's


def test_remove_post_fba_end_to_end(network, checkpoint, tmp_path):
    from RMBG.cli import main
    from RMBG.inference.image_io import load_image
    from RMBG.inference.remover import Remover

    require_asset("weights", "u2netp.onnx")
    photo = require_asset("u2net_testdata", "images", "girl.png")
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(photo, folder / photo.name)
    out = tmp_path / "outputs"
    code = main(["remove", "-i", str(folder), "-o", str(out), "--backend", "keras", "--post", "fba",
                 "--post-weights", str(checkpoint)])
    assert code == 0
    rgba = np.asarray(Image.open(out / "girl.png").convert("RGBA"))

    image = load_image(photo)
    mask = Remover("u2netp", backend="keras").predict_mask(image)
    trimap = make_trimap(mask, "carvekit")
    alpha, foreground = fba.fba_postprocess(image, mask, fba_model=str(checkpoint))
    unknown = trimap == 128
    assert unknown.any() and (trimap == 255).any()
    np.testing.assert_array_equal(rgba[..., 3][trimap == 0], 0)
    np.testing.assert_array_equal(rgba[..., 3][trimap == 255], 255)
    np.testing.assert_allclose(rgba[..., 3] / 255.0, alpha, atol=1 / 255 + 1e-6)
    soft = unknown & (alpha > 0.1) & (alpha < 0.9)
    assert soft.sum() > 100
    # The cutout's colours are FBA's foreground, not the photo's (which would carry the old background).
    np.testing.assert_allclose(rgba[..., :3][soft], np.round(foreground[soft] * 255), atol=1)
    assert np.abs(rgba[..., :3][soft].astype(int) - image[soft]).mean() > 1


def test_post_weights_is_checked_before_anything_loads(tmp_path, checkpoint):
    from RMBG.cli import main

    photos = tmp_path / "images"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"")
    assert main(["remove", "-i", str(photos), "--post", "fba", "--post-weights", str(tmp_path / "none.pth")]) == 2
    assert main(["remove", "-i", str(photos), "--post", "trimap-cf", "--post-weights", str(checkpoint)]) == 2


def test_gt01_report_fba_rows(checkpoint, network):
    import cv2

    from RMBG.matting.gt01_report import fba_rows, load_gt01, official_fba_weights

    require_asset("matting", "images", "GT01.png")
    image, _, _ = load_gt01(0.25)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[30:90, 40:160] = 1.0
    mask = cv2.GaussianBlur(mask, (9, 9), 3)
    if official_fba_weights() is None:
        rows = fba_rows(image, mask)
        assert set(rows) == {"fba (carvekit trimap)", "fba, bgr input (carvekit wrapper)"}
        assert all(alpha is None and "fba_matting.pth absent" in note for alpha, _, note in rows.values())
    rows = fba_rows(image, mask, fba_model=str(checkpoint))  # the rows' code path, with the random checkpoint
    (rgb, _, _), (bgr, _, _) = rows.values()
    assert rgb.shape == bgr.shape == image.shape[:2] and np.abs(rgb - bgr).max() > 1e-3  # the channel order matters
    if official_fba_weights() is None:
        pytest.skip("the official fba_matting.pth is absent (it cannot be downloaded here): no official FBA row to score")
