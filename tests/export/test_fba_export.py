"""The FBA network exported to ONNX (tf2onnx) and TFLite runs under onnxruntime and the TFLite
interpreter like the Keras model, at two sizes (dynamic axes), and drives `fba_matte` without
the Keras model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import require_asset
from RMBG.matting import fba
from RMBG.paths import repo_root

#: Max |onnxruntime - Keras| on outputs in [0, 1]. The two runtimes pick different fp32 kernels;
#: measured 3.5e-5 on AMD Zen 4; the fusion multiplies round-off by up to ~3 (see the parity test).
TOLERANCE = 1e-4
#: Max |TFLite - Keras|, fp32 both, the same bound for the same reason (XNNPACK's kernels are a
#: third set): measured 1.7e-5 at 32x32 and 5.1e-5 at 40x64 on AMD Zen 4.
TFLITE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def model():
    import keras

    from RMBG.models.fba_matting.fba_matting_model import build_fba_matting

    # One bottleneck per stage: every layer type of FBA (WS conv, GroupNorm, dilations, adaptive
    # pools, fusion) at a tenth of the export time of the 34.7 M preset (whose parity with the
    # reference is tests/matting_nets/test_fba_matting.py).
    keras.utils.set_random_seed(0)
    return build_fba_matting(block_counts=(1, 1, 1, 1))


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    from RMBG.export import export_model

    # Through export_model, as `python -m RMBG export -m fba_matting` writes it: an FBA network
    # goes to its own three-input exporter (RMBG.export.fba_onnx).
    return model, export_model(model, tmp_path_factory.mktemp("fba_onnx") / "fba.onnx", "onnx")


@pytest.fixture(scope="module")
def exported_tflite(model, tmp_path_factory):
    from RMBG.export.fba_tflite import export_fba_tflite

    return export_fba_tflite(model, tmp_path_factory.mktemp("fba_tflite") / "fba.tflite")


def _inputs(height: int, width: int, seed: int):
    rng = np.random.default_rng(seed)
    trimap = np.full((height, width), 128, np.uint8)
    trimap[: height // 3] = 0
    trimap[-height // 3:] = 255
    two = fba.two_channel_trimap(trimap)
    return {"image": rng.random((1, height, width, 3), dtype=np.float32), "trimap": two[None],
            "trimap_transform": fba.trimap_transform(two)[None]}


@pytest.mark.parametrize("size", [(32, 32), (40, 64)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_onnx_matches_keras(exported, size):
    from RMBG.export.fba_onnx import OnnxFBA

    model, path = exported
    inputs = _inputs(*size, seed=size[1])
    ours = OnnxFBA(path)(inputs)
    expected = np.asarray(model(inputs))
    assert ours.shape == expected.shape == (1, *size, 7)
    assert np.abs(ours - expected).max() < TOLERANCE


def _assert_pipeline_matches_keras(runner, model, rng, tolerance: float) -> None:
    """``fba_matte`` with an exported runner gives Keras' alpha and foreground on a photo whose odd
    sides (37x51) are padded to 40x56."""
    image = (rng.random((37, 51, 3)) * 255).astype(np.uint8)
    trimap = np.zeros((37, 51), np.uint8)
    trimap[5:30, 8:45] = 128
    trimap[12:22, 18:35] = 255
    alpha, foreground = fba.fba_matte(runner, image, trimap)
    alpha_keras, foreground_keras = fba.fba_matte(model, image, trimap)
    assert np.abs(alpha - alpha_keras).max() < tolerance
    assert np.abs(foreground - foreground_keras).max() < tolerance


def test_onnx_runs_the_matting_pipeline(exported, rng):
    from RMBG.export.fba_onnx import OnnxFBA

    model, path = exported
    _assert_pipeline_matches_keras(OnnxFBA(path, threads=2), model, rng, TOLERANCE)
    with pytest.raises(ValueError, match="not an FBA export"):
        bad = path.parent / "bad.onnx"
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]), bad)
        OnnxFBA(bad)


@pytest.mark.parametrize("size", [(32, 32), (40, 64)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_tflite_matches_keras(model, exported_tflite, size):
    from RMBG.export.fba_tflite import TFLiteFBA

    runner = TFLiteFBA(exported_tflite, threads=2)
    inputs = _inputs(*size, seed=size[1])
    ours = runner(inputs)
    expected = np.asarray(model(inputs))
    assert ours.shape == expected.shape == (1, *size, 7)
    assert np.isfinite(ours).all(), "the TFLite model produced NaN (variables not frozen?)"
    assert np.abs(ours - expected).max() < TFLITE_TOLERANCE
    twice = {name: np.concatenate([array, array]) for name, array in inputs.items()}  # batch 2 after batch 1
    np.testing.assert_allclose(runner(twice), np.concatenate([ours, ours]), atol=1e-6)


def test_tflite_runs_the_matting_pipeline_and_refuses_other_files(model, exported_tflite, rng, tmp_path):
    from RMBG.export import read_metadata
    from RMBG.export.fba_tflite import TFLiteFBA

    _assert_pipeline_matches_keras(TFLiteFBA(exported_tflite, threads=2), model, rng, TFLITE_TOLERANCE)
    assert read_metadata(exported_tflite) == {"model": model.name, "layout": "fba",
                                              "inputs": ["image", "trimap", "trimap_transform"], "precision": "float32"}
    runner = TFLiteFBA(exported_tflite)
    with pytest.raises(ValueError, match="missing 'trimap_transform'"):
        runner({"image": np.zeros((1, 8, 8, 3)), "trimap": np.zeros((1, 8, 8, 2))})
    with pytest.raises(ValueError, match=r"'trimap' has shape \(1, 8, 16, 2\)"):
        runner({"image": np.zeros((1, 8, 8, 3)), "trimap": np.zeros((1, 8, 16, 2)), "trimap_transform": np.zeros((1, 8, 8, 6))})
    with pytest.raises(FileNotFoundError, match="no such .tflite file"):
        TFLiteFBA(tmp_path / "absent.tflite")
    import tensorflow as tf

    from RMBG.export.tflite_export import add_tflite_metadata, convert_function_to_tflite

    double = tf.function(lambda images: 2 * images, input_signature=[tf.TensorSpec((None, 8, 8, 3), tf.float32)])
    other = tmp_path / "segmenter.tflite"
    other.write_bytes(add_tflite_metadata(convert_function_to_tflite(double), "rmbg_export", b'{"layout": "segmenter"}'))
    with pytest.raises(ValueError, match="layout 'segmenter', not an FBA export"):
        TFLiteFBA(other)


def test_export_model_writes_fba_layouts_only(exported, tmp_path):
    from RMBG.export import export_model, read_metadata

    model, path = exported
    assert read_metadata(path) == {"model": model.name, "layout": "fba", "inputs": ["image", "trimap", "trimap_transform"]}
    with pytest.raises(ValueError, match="FBA matting network, which exports to onnx or tflite, not the rembg layout"):
        export_model(model, tmp_path / "x.onnx", "onnx", rembg=True)
    with pytest.raises(ValueError, match="not a SavedModel"):
        export_model(model, tmp_path / "saved", "savedmodel")


@pytest.mark.parametrize(("arguments", "expected"), [
    (["-m", "fba_matting", "-f", "onnx", "--check", "photos"], "--check: compares segmentation masks on photos"),
    (["-m", "fba_matting", "-f", "onnx", "--weights", "{tmp}/missing.pth"], "--weights: no such file '{tmp}/missing.pth'"),
    (["-m", "{tmp}/mine.keras", "-f", "onnx", "--weights", "{tmp}/mine.keras"], "--weights: applies to a registry model name"),
])
def test_export_command_checks_fba_arguments_before_loading(arguments, expected, tmp_path):
    from RMBG.cli import main

    (tmp_path / "mine.keras").write_bytes(b"x")
    with pytest.raises(SystemExit, match=expected.format(tmp=tmp_path)):
        main(["export", *(a.format(tmp=tmp_path) for a in arguments), "-o", str(tmp_path / "out.onnx")])
    assert not (tmp_path / "out.onnx").exists()


def test_remove_post_fba_runs_the_onnx_export_without_tensorflow(exported, tmp_path):
    """`remove --post fba --post-weights fba.onnx` on a prepared U^2-NetP artefact runs both networks
    on onnxruntime: the process never imports TensorFlow, and its cutout is the one the Keras FBA
    gives on the same mask (ONNX vs Keras within TOLERANCE on [0, 1] values: at most one 8-bit
    level apart after rounding)."""
    from RMBG.inference.remover import Remover
    from RMBG.runtime import prepare

    require_asset("weights", "u2netp.onnx")
    model, path = exported
    prepare("u2netp", probes=2)  # shared with the runtime tests (one RMBG_HOME per run)
    photo = sorted(require_asset("u2net_testdata", "images").glob("*.jpg"))[0]
    source, out = tmp_path / "images", tmp_path / "out"
    source.mkdir()
    with Image.open(photo) as image:  # a small copy: the cost is FBA's working size
        image.convert("RGB").resize((120, 90)).save(source / "photo.png")
    code = ("import sys; from RMBG.cli import main; "
            f"rc = main(['remove', '-i', {str(source)!r}, '-o', {str(out)!r}, '--backend', 'onnxruntime', '--post', 'fba', '--post-weights', {str(path)!r}]); "
            "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TF False" in done.stdout, "remove --post fba with an .onnx FBA imported TensorFlow"
    cutout = np.asarray(Image.open(out / "photo.png"))
    assert cutout.shape == (90, 120, 4)
    remover = Remover("u2netp", backend="onnxruntime", post="fba", post_options={"fba_model": model})  # the same mask
    expected = remover.remove(np.asarray(Image.open(source / "photo.png")), format="rgba")
    assert expected.shape == cutout.shape
    assert np.abs(cutout[..., 3].astype(int) - expected[..., 3].astype(int)).max() <= 1
    band = (cutout[..., 3] > 0) & (cutout[..., 3] < 255)
    assert band.any(), "the trimap of this photo has no unknown band: FBA was not exercised"
