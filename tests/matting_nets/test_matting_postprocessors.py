"""Matting post-processors through Remover on tiny models, and strict preset loading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import keras

from RMBG.inference.postprocess import POSTPROCESSORS
from RMBG.inference.remover import Remover
from RMBG.registry import create_model, model_info

TINY_MATTING = dict(encoder_filters=(4, 6), decoder_filters=(6, 4), context_rates=(2,), head_filters=4, trimap_context=3)
TINY_REFINER = dict(scales=(2, 1), encoder_filters=(4, 6), decoder_filters=(6, 4), context_rates=(2,), head_filters=4)


def tiny_segmenter():
    keras.utils.set_random_seed(0)
    return create_model("u2netp", encoder_mid_channels=(2,) * 6, encoder_out_channels=(4,) * 6,
                        decoder_mid_channels=(2,) * 5, decoder_out_channels=(4,) * 5, image_size=(32, 32),
                        output_normalization="minmax")


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return tiny_segmenter(), create_model("matting_net", **TINY_MATTING), create_model("refiner", **TINY_REFINER)


def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(60, 120, (45, 61, 3)).astype(np.uint8)
    image[10:35, 15:45] = (220, 40, 40)
    return image


def test_registered():
    assert {"trimap-cf", "matting-net", "refine", "refine+matting"} <= set(POSTPROCESSORS)


@pytest.mark.parametrize("post", ["matting-net", "refine", "refine+matting"])
def test_learned_postprocessors_through_remover(models, post):
    segmenter, matting, refiner = models
    options = {"matting_model": matting, "trimap_threshold": 0.6, "trimap_erosion": 3, "foreground_estimation": False}
    if post == "refine":
        options = {"refiner_model": refiner}
    elif post == "refine+matting":
        options["refiner_model"] = refiner
    remover = Remover(segmenter, post=post, post_options=options)
    image = photo()
    rgba = remover.remove(image)
    assert rgba.shape == (45, 61, 4) and rgba.dtype == np.uint8
    mask = remover.predict_mask(image)
    alpha, foreground = POSTPROCESSORS[post](image, mask, **options)
    assert alpha.shape == image.shape[:2] and alpha.dtype == np.float32 and foreground is None
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_matting_net_keeps_the_trimap_known_regions(models):
    from RMBG.matting.postprocessors import net_alpha

    _, matting, _ = models
    mask = np.zeros((45, 61), np.float32)
    mask[10:35, 15:45] = 1.0
    alpha, trimap = net_alpha(photo(), mask, matting_model=matting, trimap_erosion=5)
    assert np.all(alpha[trimap == 255] == 1.0) and np.all(alpha[trimap == 0] == 0.0)
    assert (trimap == 128).any()


def test_refine_band_keeps_the_confident_mask_away_from_edges(models):
    from RMBG.matting.postprocessors import refine_mask

    _, _, refiner = models
    mask = np.zeros((45, 61), np.float32)
    mask[10:35, 15:45] = 1.0
    banded = refine_mask(photo(), mask, refiner_model=refiner, refine_band=0.05)  # 3 px band
    free = refine_mask(photo(), mask, refiner_model=refiner, refine_band=None)
    far = np.ones_like(mask, bool)
    far[6:39, 11:49] = False
    far[14:31, 19:41] = True  # deep inside
    np.testing.assert_array_equal(banded[far], mask[far])
    assert not np.array_equal(free[far], mask[far])


def test_large_photos_are_scaled(models):
    from RMBG.models.matting_net.matting_net_segmenter import predict_full

    _, _, refiner = models
    image = np.repeat(np.repeat(photo(), 3, axis=0), 3, axis=1)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[30:105, 45:135] = 1.0
    out = predict_full(refiner, image, mask, max_side=64)
    assert out.shape == image.shape[:2]
    with pytest.raises(ValueError, match="guide"):
        predict_full(refiner, image, mask[:10])


def test_trimap_options():
    from RMBG.matting.postprocessors import trimap_config_from_options

    config = trimap_config_from_options("rembg", trimap_threshold=0.9, trimap_dilation=7, trimap_erosion=5)
    assert (config.fg_threshold, config.bg_threshold, config.dilation, config.erosion, config.bg_erosion) == pytest.approx((229.5, 25.5, 7, 5, 5))
    with pytest.raises(ValueError, match="trimap_threshold"):
        trimap_config_from_options("rembg", trimap_threshold=0.3)
    with pytest.raises(ValueError, match="unknown preset"):
        trimap_config_from_options("nope")


def test_wrong_model_kind_raises(models):
    from RMBG.matting.postprocessors import refine_mask

    _, matting, _ = models
    with pytest.raises(ValueError, match="refiner_model"):
        refine_mask(photo(), np.zeros((45, 61), np.float32), refiner_model=matting)
    with pytest.raises(ValueError, match="refine_band"):
        refine_mask(photo(), np.zeros((45, 61), np.float32), refiner_model=models[2], refine_band=2.0)
    with pytest.raises(TypeError, match="foreground_estimation"):
        POSTPROCESSORS["refine"](photo(), np.zeros((45, 61), np.float32), foreground_estimation="yes")


def test_packaged_weights_are_strict(tmp_path, monkeypatch):
    """The packaged-weights path: checksums verified before loading, every tensor placed strictly."""
    from RMBG.registry import official_weights_path
    from RMBG.registry.build import place_official_weights
    from RMBG.checksums import file_digests
    from RMBG.weights.sources import ChecksumError, WeightFile
    from RMBG.weights.strict import WeightMismatchError, save_variables

    model = create_model("refiner", **TINY_REFINER)
    folder = tmp_path / "packaged"
    path = save_variables(model.backbone, folder / "tiny_refiner.npz")
    digests = file_digests(path)
    weights = WeightFile(filename="tiny_refiner.npz", md5=digests["md5"], sha256=digests["sha256"], size=path.stat().st_size)
    preset = dataclasses.replace(model_info("refiner"), name="tiny_refiner", weights=weights, weights_dirs=(str(folder),))
    monkeypatch.setenv("RMBG_OFFLINE", "1")
    other = create_model("refiner", **TINY_REFINER)
    place_official_weights(other, preset, TINY_REFINER)
    for a, b in zip(model.backbone.variables, other.backbone.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a mismatched architecture raises
    bigger_config = {**TINY_REFINER, "head_filters": 5}
    with pytest.raises(WeightMismatchError):
        place_official_weights(create_model("refiner", **bigger_config), preset, bigger_config)
    # a corrupted file is refused before anything is loaded, and the cached copy is checked too
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    (official_weights_path(preset)).write_bytes(bytes(data))  # corrupt the cache as well
    with pytest.raises(Exception, match="tiny_refiner.npz") as raised:
        official_weights_path(preset)
    assert "md5" in str(raised.value) or isinstance(raised.value, ChecksumError)
    missing = dataclasses.replace(preset, weights=dataclasses.replace(weights, filename="missing.npz"))
    with pytest.raises(Exception, match="missing.npz"):
        official_weights_path(missing)


@pytest.mark.parametrize("name", ["matting_net", "refiner"])
def test_registry_pretrained(name):
    from RMBG.registry import model_info

    spec = model_info(name)
    if spec.weights is None:
        with pytest.raises(ValueError, match="no pretrained weights"):
            create_model(name, pretrained=True)
    else:
        model = create_model(name, pretrained=True)
        from RMBG.weights.strict import WeightMismatchError

        with pytest.raises(WeightMismatchError):
            create_model(name, pretrained=True, head_filters=5)
        assert model(np.zeros((1, 32, 32, 4), np.float32)).shape == (1, 32, 32, 1)
