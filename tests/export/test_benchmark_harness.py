"""The benchmark harness: agreement metric, configuration, photo sets, peers and a tiny real run (no timing asserts)."""

from __future__ import annotations

import numpy as np
import pytest

from export_helpers import exported, keras_masks, photo_paths, real_batch, u2netp

from RMBG.benchmark.harness import BenchmarkConfig, ModelCase, make_megapixel_set, mask_agreement, run_benchmark


def test_mask_agreement_by_hand():
    a = np.array([[0.9, 0.9], [0.1, 0.1]], np.float32)
    b = np.array([[0.9, 0.1], [0.1, 0.1]], np.float32)
    iou, mad = mask_agreement(a, b)
    assert iou == pytest.approx(0.5) and mad == pytest.approx(0.2)
    assert mask_agreement(np.zeros((2, 2)), np.zeros((2, 2))) == (1.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        mask_agreement(a, b[:1])


def test_config_grid_and_unsupported_pairs():
    config = BenchmarkConfig("out", backends=("keras", "onnxruntime"), precisions=("float32", "bfloat16"), batches=(1, 4))
    cases = config.model_cases()
    assert len(cases) == 8 and cases[0] == ModelCase("keras", "float32", 320, 1)
    assert ModelCase("onnxruntime", "bfloat16").unsupported_reason() is not None
    assert ModelCase("keras", "float16").unsupported_reason(gpu=False) is not None
    assert ModelCase("keras", "float16").unsupported_reason(gpu=True) is None
    assert ModelCase("keras", "bfloat16").unsupported_reason() is None
    smoke = BenchmarkConfig.smoke("out")
    assert smoke.limit == 2 and smoke.repeats == 1 and set(smoke.backends) == {"keras", "onnxruntime"}


def test_megapixel_set_keeps_the_aspect_ratio(tmp_path):
    from PIL import Image

    (path,) = make_megapixel_set(photo_paths()[:1], 0.05, tmp_path)
    with Image.open(path) as image, Image.open(photo_paths()[0]) as original:
        assert abs(image.width * image.height - 50_000) < 500
        assert image.width / image.height == pytest.approx(original.width / original.height, rel=0.01)


def test_png_encoders_are_lossless():
    import io

    from PIL import Image

    from RMBG.benchmark.peers import PNG_ENCODERS

    rgba = np.random.default_rng(0).integers(0, 255, (20, 30, 4), dtype=np.uint8)
    for name, encoder in PNG_ENCODERS.items():
        with Image.open(io.BytesIO(encoder(rgba))) as decoded:
            assert np.array_equal(np.asarray(decoded), rgba), name


def test_pytorch_peer_matches_keras(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (test-only reference: requirements-test.txt)")
    pytest.importorskip("u2net_fast.model", reason="u2net-fast is not installed (pip install --no-deps u2net-fast)")
    from RMBG.benchmark.peers import TorchU2NetP, keras_to_torch_state

    np.savez(tmp_path / "state.npz", **keras_to_torch_state(u2netp().backbone))
    masks = TorchU2NetP(tmp_path / "state.npz").predict(real_batch()[:1])
    assert np.abs(masks - keras_masks()[:1, ..., 0]).max() < 1e-3


def test_tiny_benchmark_run_writes_tables_and_plots(tmp_path):
    config = BenchmarkConfig(
        tmp_path, photos=photo_paths()[0].parent, limit=1, backends=("onnxruntime",),
        precisions=("float32", "bfloat16"), batches=(1,), repeats=1, end_to_end=("onnxruntime",), e2e_extra_batches=(),
        peers=(), megapixels=(), stages=False, files={"onnx-320": exported("onnx")},
    )
    results = run_benchmark(config)
    assert results["errors"] == []
    model = results["model"].set_index("precision")
    assert model.loc["float32", "status"] == "ok" and model.loc["float32", "images_per_s"] > 0
    assert model.loc["bfloat16", "status"].startswith("not run: ")
    e2e = results["end_to_end"]
    assert list(e2e["photos"]) == [1] and (e2e["photos_per_s"] > 0).all()
    names = {p.name for p in results["files"]}
    assert {"model_latency.csv", "end_to_end.csv", "summary.md", "model_latency.png", "end_to_end.png"} <= names
    assert (tmp_path / "outputs" / "RMBG-onnxruntime-b4").is_dir()
