"""The FBA network exported to ONNX (tf2onnx) runs under onnxruntime like the Keras model, at two
sizes (dynamic axes), and drives `fba_matte` without TensorFlow at run time."""

from __future__ import annotations

import numpy as np
import pytest

from RMBG.matting import fba

#: Max |onnxruntime - Keras| on outputs in [0, 1]. The two runtimes pick different fp32 kernels;
#: measured 3.5e-5 on AMD Zen 4; the fusion multiplies round-off by up to ~3 (see the parity test).
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras

    from RMBG.export.fba_onnx import export_fba_onnx
    from RMBG.models.fba_matting.fba_matting_model import build_fba_matting

    # One bottleneck per stage: every layer type of FBA (WS conv, GroupNorm, dilations, adaptive
    # pools, fusion) at a tenth of the export time of the 34.7 M preset (whose parity with the
    # reference is tests/matting_nets/test_fba_matting.py).
    keras.utils.set_random_seed(0)
    model = build_fba_matting(block_counts=(1, 1, 1, 1))
    path = export_fba_onnx(model, tmp_path_factory.mktemp("fba_onnx") / "fba.onnx")
    return model, path


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


def test_onnx_runs_the_matting_pipeline(exported, rng):
    from RMBG.export.fba_onnx import OnnxFBA

    model, path = exported
    image = (rng.random((37, 51, 3)) * 255).astype(np.uint8)  # odd sizes: padded to 40x56
    trimap = np.zeros((37, 51), np.uint8)
    trimap[5:30, 8:45] = 128
    trimap[12:22, 18:35] = 255
    alpha_onnx, fg_onnx = fba.fba_matte(OnnxFBA(path, threads=2), image, trimap)
    alpha_keras, fg_keras = fba.fba_matte(model, image, trimap)
    assert np.abs(alpha_onnx - alpha_keras).max() < TOLERANCE
    assert np.abs(fg_onnx - fg_keras).max() < TOLERANCE
    with pytest.raises(ValueError, match="not an FBA export"):
        bad = path.parent / "bad.onnx"
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]), bad)
        OnnxFBA(bad)
