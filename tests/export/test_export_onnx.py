"""ONNX export of the whole Segmenter: parity with Keras on real photos, dynamic batch, metadata, options."""

from __future__ import annotations

import numpy as np
import pytest

from export_helpers import exported, keras_masks, real_batch, u2netp

#: Measured max |ONNX - Keras| on the 18 real photos: 8.3e-05 (onnxruntime 1.31, tf2onnx 1.17).
ONNX_TOLERANCE = 5e-4


@pytest.fixture(scope="module")
def session():
    import onnxruntime as ort

    return ort.InferenceSession(str(exported("onnx")), providers=["CPUExecutionProvider"])


def test_onnx_layout_is_nhwc_pixels_in_mask_out_with_dynamic_batch(session):
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, inp.type) == ("images", ["batch", 320, 320, 3], "tensor(float)")
    assert (out.name, out.shape) == ("mask", ["batch", 320, 320, 1])


def test_onnx_matches_keras_on_real_photos_at_batch_3_and_1(session):
    batch, reference = real_batch(), keras_masks()
    together = session.run(None, {"images": batch})[0]
    assert together.shape == (3, 320, 320, 1)
    assert np.isfinite(together).all(), "the ONNX model produced NaN or infinite values"
    assert np.abs(together - reference).max() < ONNX_TOLERANCE
    for i in range(3):
        alone = session.run(None, {"images": batch[i:i + 1]})[0]
        np.testing.assert_allclose(alone, together[i:i + 1], atol=1e-5)
    assert 0.0 <= together.min() and together.max() <= 1.0


def test_onnx_metadata_names_the_model_and_its_weights():
    from RMBG.export import read_metadata, weights_fingerprint

    metadata = read_metadata(exported("onnx"))
    assert metadata["layout"] == "segmenter" and metadata["format"] == "onnx"
    assert metadata["image_size"] == [320, 320] and metadata["interpolation"] == "bilinear"
    assert metadata["model"] == "u2netp" and metadata["precision"] == "float32"
    assert metadata["weights_sha256"] == weights_fingerprint(u2netp())


def test_export_model_rejects_options_the_format_lacks(tmp_path):
    from RMBG.export import export_model

    with pytest.raises(ValueError, match="fp16.*tflite"):
        export_model("u2netp", tmp_path / "m.onnx", "onnx", fp16=True)
    with pytest.raises(ValueError, match="rembg.*onnx"):
        export_model("u2netp", tmp_path / "m.tflite", "tflite", rembg=True)
    with pytest.raises(ValueError, match="format"):
        export_model("u2netp", tmp_path / "m.pb", "pb")


def test_rembg_export_refuses_a_model_rembg_would_preprocess_wrongly(tmp_path):
    import RMBG
    from RMBG.export.onnx_export import export_onnx

    small = RMBG.create_model("u2netp", image_size=(64, 64))
    with pytest.raises(ValueError, match=r"image_size \(64, 64\).*without --rembg"):
        export_onnx(small, tmp_path / "small.onnx", rembg=True)
    assert not (tmp_path / "small.onnx").exists()


def test_read_metadata_of_a_foreign_onnx_file_says_how_to_export(tmp_path):
    from conftest import require_asset
    from RMBG.export import read_metadata

    official = require_asset("weights", "u2netp.onnx")
    with pytest.raises(ValueError, match="not exported by RMBG.*python -m RMBG export"):
        read_metadata(official)
