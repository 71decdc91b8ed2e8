"""Our Keras U^2-Net against an implementation nobody here wrote: the official PyTorch U2NET/U2NETP
as shipped by the PyPI package u2net-fast (test-only: `pip install torch==2.13.0` and
`pip install --no-deps u2net-fast`). Random reference → state dict and ONNX export → import → equal."""

from __future__ import annotations

import numpy as np
import pytest

import RMBG
from RMBG.weights.strict import WeightMismatchError
from RMBG.weights.u2net_import import import_u2net_onnx, import_u2net_state_dict

torch = pytest.importorskip("torch", reason="the PyTorch reference needs torch (pip install torch==2.13.0)")
reference = pytest.importorskip("u2net_fast.model", reason="the PyTorch reference needs u2net-fast (pip install --no-deps u2net-fast)")

TOLERANCE = 1e-4


def _reference_model(name: str):
    torch.manual_seed(0)
    model = {"u2netp": reference.U2NETP, "u2net": reference.U2NET}[name]()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so the BN mapping is really tested
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    return model.eval()


def _reference_maps(model, x_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        outputs = model(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy()))
    return np.concatenate([o.numpy().transpose(0, 2, 3, 1) for o in outputs], axis=-1)


def _keras_maps(backbone, x_nhwc: np.ndarray) -> np.ndarray:
    logits = backbone(x_nhwc, training=False).numpy()
    return 1.0 / (1.0 + np.exp(-logits))


@pytest.mark.reference
@pytest.mark.parametrize("name, size", [("u2netp", (64, 64)), ("u2netp", (75, 61)), ("u2net", (67, 53))])
def test_state_dict_import_matches_pytorch(name, size):
    ref = _reference_model(name)
    x = np.random.default_rng(0).normal(size=(1, *size, 3)).astype("float32")
    model = RMBG.create_model(name, image_size=None)
    import_u2net_state_dict(model.backbone, ref.state_dict())
    difference = np.abs(_keras_maps(model.backbone, x) - _reference_maps(ref, x)).max()
    assert difference <= TOLERANCE, f"max |keras - pytorch| = {difference}"


@pytest.mark.reference
@pytest.mark.parametrize("name", ["u2netp", "u2net"])
def test_onnx_export_import_matches_pytorch(name, tmp_path):
    ref = _reference_model(name)
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        ref, torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), str(path), opset_version=11,
        input_names=["input.1"], dynamo=False, do_constant_folding=True,
    )
    model = RMBG.create_model(name, image_size=None)
    import_u2net_onnx(model.backbone, path)
    difference = np.abs(_keras_maps(model.backbone, x) - _reference_maps(ref, x)).max()
    assert difference <= TOLERANCE, f"max |keras - pytorch| = {difference}"


@pytest.mark.reference
def test_state_dict_import_is_strict():
    state = _reference_model("u2netp").state_dict()
    model = RMBG.create_model("u2netp")
    missing = {k: v for k, v in state.items() if k != "stage3.rebnconv2.bn_s1.running_var"}
    with pytest.raises(WeightMismatchError, match="stage3.rebnconv2.bn_s1"):
        import_u2net_state_dict(model.backbone, missing)
    extra = {**state, "side7.weight": state["side1.weight"]}
    with pytest.raises(WeightMismatchError, match="side7.weight"):
        import_u2net_state_dict(model.backbone, extra)
    with pytest.raises(WeightMismatchError, match="stage1.rebnconv1.conv_s1"):
        import_u2net_state_dict(RMBG.create_model("u2net").backbone, state)


@pytest.mark.reference
def test_pth_file_import(tmp_path):
    ref = _reference_model("u2netp")
    path = tmp_path / "u2netp.pth"
    torch.save(ref.state_dict(), path)
    x = np.random.default_rng(0).normal(size=(1, 48, 48, 3)).astype("float32")
    model = RMBG.create_model("u2netp", image_size=None)
    import_u2net_state_dict(model.backbone, path)
    assert np.abs(_keras_maps(model.backbone, x) - _reference_maps(ref, x)).max() <= TOLERANCE
