"""The rembg-compatible ONNX: its layout, and the real rembg package giving our masks with it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from export_helpers import iou, photo_paths, real_batch, rembg_onnx, u2netp

from conftest import require_asset
from tolerances import FP32_ENGINES_MAX_ABS


@pytest.fixture(scope="module")
def session():
    import onnxruntime as ort

    return ort.InferenceSession(str(rembg_onnx()), providers=["CPUExecutionProvider"])


def _normalised(batch: np.ndarray) -> np.ndarray:
    from RMBG.benchmark.peers import official_preprocess

    return official_preprocess(batch)


def test_rembg_layout_is_nchw_with_the_fused_sigmoid_map_first(session):
    (inp,) = session.get_inputs()
    outputs = session.get_outputs()
    assert inp.shape == ["batch", 3, 320, 320]
    assert [o.name for o in outputs] == [f"d{i}" for i in range(7)]
    assert all(o.shape == ["batch", 1, 320, 320] for o in outputs)
    x = _normalised(real_batch())
    first = session.run(None, {inp.name: x})[0]
    assert first.shape == (3, 1, 320, 320) and np.isfinite(first).all()
    # rembg reads outputs[0][:, 0]: it must be the fused sigmoid map of each image, NCHW.
    import tensorflow as tf

    logits = u2netp().backbone(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), training=False)
    fused = tf.sigmoid(logits[..., 0]).numpy()
    assert np.abs(first[:, 0] - fused).max() <= FP32_ENGINES_MAX_ABS  # two fp32 engines: tests/tolerances.py
    single = session.run(None, {inp.name: x[2:3]})[0]
    np.testing.assert_allclose(single, first[2:3], atol=1e-5)


def test_rembg_export_equals_the_official_file():
    import onnxruntime as ort

    official = ort.InferenceSession(str(require_asset("weights", "u2netp.onnx")), providers=["CPUExecutionProvider"])
    ours = ort.InferenceSession(str(rembg_onnx()), providers=["CPUExecutionProvider"])
    x = _normalised(real_batch()[:1])
    theirs = official.run(None, {official.get_inputs()[0].name: x})
    mine = ours.run(None, {ours.get_inputs()[0].name: x})
    for a, b in zip(mine, theirs):  # all seven maps, same order and layout
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= FP32_ENGINES_MAX_ABS  # two ONNX graphs (BN folded or not): tests/tolerances.py


def test_rembg_u2net_custom_session_gives_our_masks(tmp_path, monkeypatch):
    rembg = pytest.importorskip("rembg", reason="rembg is not installed (test-only: pip install rembg==2.0.69)")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "u2net_home"))
    ours = rembg.new_session("u2net_custom", model_path=str(rembg_onnx()))
    official = rembg.new_session("u2net_custom", model_path=str(require_asset("weights", "u2netp.onnx")))
    model = u2netp()
    for path in photo_paths()[:2]:
        image = Image.open(path).convert("RGB")
        mask = np.asarray(rembg.remove(image, session=ours, only_mask=True), np.float32) / 255
        reference = np.asarray(rembg.remove(image, session=official, only_mask=True), np.float32) / 255
        assert mask.shape == (image.height, image.width)
        assert iou(mask, reference) >= 0.99 and np.abs(mask - reference).mean() < 1 / 255
        # Our Keras model given exactly rembg's preprocessing (Lanczos to 320) and post-processing
        # (uint8, Lanczos back) gives rembg's mask.
        small = np.asarray(image.resize((320, 320), Image.Resampling.LANCZOS), np.float32)[None]
        keras_mask = model(small, training=False).numpy()[0, ..., 0]
        keras_full = Image.fromarray((keras_mask * 255).astype(np.uint8)).resize(image.size, Image.Resampling.LANCZOS)
        keras_full = np.asarray(keras_full, np.float32) / 255
        assert iou(mask, keras_full) >= 0.99 and np.abs(mask - keras_full).mean() < 2 / 255


def test_rembg_p_command_runs_our_export(tmp_path, monkeypatch):
    pytest.importorskip("rembg", reason="rembg is not installed (test-only: pip install rembg==2.0.69)")
    pytest.importorskip("filetype", reason="rembg's p command needs filetype (pip install filetype)")
    pytest.importorskip("watchdog", reason="rembg's p command needs watchdog (pip install watchdog)")
    from RMBG.benchmark.peers import run_rembg_p

    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "u2net_home"))
    source = tmp_path / "in"
    source.mkdir()
    (source / "photo.jpg").write_bytes(photo_paths()[1].read_bytes())
    result = run_rembg_p(source, tmp_path / "out", rembg_onnx())
    assert result["photos"] == 1 and result["total_s"] > 0
    with Image.open(tmp_path / "out" / "photo.png") as cutout:
        assert cutout.mode == "RGBA" and cutout.size == Image.open(source / "photo.jpg").size
