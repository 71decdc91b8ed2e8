"""The benchmark's in-process sections: the model-latency grid, the PyTorch peer and the PNG
encoders of the stage profile (a tiny real run on one photo; no timing asserts)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from export_helpers import exported, keras_masks, photo_paths, real_batch, u2netp

from RMBG.benchmark import BenchmarkConfig, ModelCase, run_benchmark


def test_model_grid_and_unsupported_pairs():
    config = BenchmarkConfig("out", backends=("keras", "onnxruntime"), precisions=("float32", "bfloat16"), batches=(1, 4))
    cases = config.model_cases()
    assert len(cases) == 8 and cases[0] == ModelCase("keras", "float32", 320, 1)
    assert ModelCase("onnxruntime", "bfloat16").unsupported_reason() is not None
    assert ModelCase("keras", "float16").unsupported_reason(gpu=False) is not None
    assert ModelCase("keras", "float16").unsupported_reason(gpu=True) is None
    assert ModelCase("keras", "bfloat16").unsupported_reason() is None
    assert ModelCase("openvino", "bfloat16").unsupported_reason() is None
    assert ModelCase("nope").unsupported_reason() == "unknown backend 'nope'"


def test_png_encoders_are_lossless():
    """Every encoder keeps every visible pixel exactly; ``rmbg`` (what remove writes) stores the
    invisible ones (alpha 0) as zero, the others keep them too."""
    from RMBG.benchmark.peers import PNG_ENCODERS

    rgba = np.random.default_rng(0).integers(0, 255, (20, 30, 4), dtype=np.uint8)
    rgba[:5, :, 3] = 0
    invisible = rgba[..., 3] == 0
    for name, encoder in PNG_ENCODERS.items():
        with Image.open(io.BytesIO(encoder(rgba))) as decoded:
            stored = np.asarray(decoded)
        assert np.array_equal(stored[~invisible], rgba[~invisible]), name
        expected = np.zeros_like(rgba[invisible]) if name == "rmbg" else rgba[invisible]
        assert np.array_equal(stored[invisible], expected), name


def test_pytorch_peer_matches_keras(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (test-only reference: requirements-test.txt)")
    pytest.importorskip("u2net_fast.model", reason="u2net-fast is not installed (pip install --no-deps u2net-fast)")
    from RMBG.benchmark.peers import TorchU2NetP, keras_to_torch_state

    np.savez(tmp_path / "state.npz", **keras_to_torch_state(u2netp().backbone))
    masks = TorchU2NetP(tmp_path / "state.npz").predict(real_batch()[:1])
    # float32 in both frameworks; the sigmoid maps differ by ~1e-5 (kernel order), min-max
    # normalisation can stretch that by the map's range, hence 1e-3
    assert np.abs(masks - keras_masks()[:1, ..., 0]).max() < 1e-3


def test_tiny_model_section_writes_its_table(tmp_path):
    config = BenchmarkConfig(
        tmp_path, photos=photo_paths()[0].parent, limit=1, sections=("model",), backends=("onnxruntime",),
        precisions=("float32", "bfloat16"), batches=(1,), repeats=1, files={"onnx-320": exported("onnx")},
    )
    results = run_benchmark(config)
    assert results["errors"] == []
    model = results["model"].set_index("precision")
    assert model.loc["float32", "status"] == "ok" and model.loc["float32", "images_per_s"] > 0
    assert model.loc["bfloat16", "status"].startswith("not run: ")
    assert "model.csv" in {p.name for p in results["files"]}
    assert results["processes"].empty and results["serve"] is None
