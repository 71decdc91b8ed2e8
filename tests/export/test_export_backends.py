"""The onnxruntime and tflite backends inside the Remover, the export cache, and the remove CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from export_helpers import exported, iou, photo_paths, rembg_onnx, u2netp

from RMBG.inference.remover import Remover


@pytest.fixture(scope="module")
def keras_remover():
    return Remover(u2netp(), backend="keras")


@pytest.mark.parametrize("backend, format", [("onnxruntime", "onnx"), ("tflite", "tflite")])
def test_backend_masks_match_keras_through_the_remover(keras_remover, backend, format):
    path = exported(format)
    stamp = path.stat().st_mtime_ns
    remover = Remover("u2netp", backend=backend)
    assert remover.backend.path == path and path.stat().st_mtime_ns == stamp  # the cached export, reused
    assert remover.image_size == (320, 320)
    for photo in photo_paths()[:2]:
        mask, reference = remover.predict_mask(photo), keras_remover.predict_mask(photo)
        assert mask.shape == reference.shape and mask.dtype == np.float32
        assert np.isfinite(mask).all()
        assert np.abs(mask - reference).max() < 1e-3
        assert iou(mask, reference) >= 0.999


def test_onnxruntime_backend_takes_a_file_and_imports_no_tensorflow():
    code = (
        "import sys; from RMBG.inference.remover import Remover; import numpy as np;"
        f"r = Remover({str(exported('onnx'))!r}, backend='onnxruntime');"
        "m = r.predict_mask(np.zeros((50, 70, 3), np.uint8));"
        "assert m.shape == (50, 70), m.shape;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_backends_refuse_the_wrong_file_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="rembg.*without --rembg"):
        Remover(rembg_onnx(), backend="onnxruntime")
    with pytest.raises(ValueError, match="not a .onnx file"):
        Remover(tmp_path / "model.tflite", backend="onnxruntime")
    with pytest.raises(FileNotFoundError, match="no such .onnx file"):
        Remover(tmp_path / "missing.onnx", backend="onnxruntime")
    with pytest.raises(ValueError, match="neither an exported file nor a pretrained"):
        Remover("no-such-model", backend="onnxruntime")


def test_export_cache_key_follows_the_weights():
    from RMBG.export.backends import export_cache_key

    model = u2netp()
    assert export_cache_key("u2netp", "onnx") == export_cache_key("u2netp", "onnx")
    assert export_cache_key("u2netp", "onnx")[1] != export_cache_key("u2netp", "tflite")[1]
    assert export_cache_key("u2netp", "tflite")[1] != export_cache_key("u2netp", "tflite", fp16=True)[1]
    stem, key = export_cache_key(model, "onnx")
    assert stem == "u2netp" and export_cache_key(model, "onnx") == (stem, key)
    bias = model.backbone.get_layer("outconv").weights[1]
    original = np.asarray(bias).copy()
    try:
        bias.assign(original + 1.0)
        assert export_cache_key(model, "onnx")[1] != key
    finally:
        bias.assign(original)


def test_remove_cli_runs_with_the_onnxruntime_backend(tmp_path):
    from PIL import Image

    from RMBG.cli import main

    exported("onnx")
    source = tmp_path / "images"
    source.mkdir()
    (source / "photo.jpg").write_bytes(photo_paths()[1].read_bytes())
    assert main(["remove", "-i", str(source), "-o", str(tmp_path / "out"), "--backend", "onnxruntime"]) == 0
    with Image.open(tmp_path / "out" / "photo.png") as cutout:
        assert cutout.mode == "RGBA" and cutout.size == Image.open(source / "photo.jpg").size
