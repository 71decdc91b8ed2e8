"""U^2-Net / U^2-NetP: architecture facts, serialisation, training, and the official weights."""

from __future__ import annotations

import numpy as np
import pytest

import RMBG
from model_harness import ModelHarness, check_shapes


@pytest.fixture(scope="module")
def u2netp():
    return RMBG.create_model("u2netp")


@pytest.mark.parametrize("name, params", [("u2netp", 1_131_181), ("u2net", 44_009_869)])
def test_parameter_counts_equal_official(name, params):
    model = RMBG.create_model(name)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == params
    assert RMBG.model_info(name).params == params


def test_pytorch_conventions(u2netp):
    bns = [l for l in u2netp.backbone.layers if l.__class__.__name__ == "BatchNormalization"]
    assert len(bns) == 112 and all(l.epsilon == 1e-5 and l.momentum == 0.9 for l in bns)
    pools = [l for l in u2netp.backbone.layers if l.__class__.__name__ == "MaxPooling2D"]
    assert all(l.padding == "same" and l.pool_size == (2, 2) and l.strides == (2, 2) for l in pools)


class TestU2NetPHarness(ModelHarness):
    name = "u2netp"
    overrides = {"image_size": (48, 48)}
    maps = 7
    #: Tracing U^2-Net's train step (~480 layer calls, Adam over 462 variables: ~32,000 graph ops)
    #: takes 60-120 s per model on 2 cores, whatever the input size; eager runs the same train_step
    #: in 5 s. Graph-mode training of U^2-NetP is exercised by tests/training/ and notebook 02.
    run_eagerly = True

    @staticmethod
    def exempt(variable) -> bool:
        return variable.path.endswith("conv_s1/bias")  # REBNCONV: a bias that training-mode BatchNorm cancels


class TestU2NetHarness(TestU2NetPHarness):
    name = "u2net"
    overrides = {"image_size": (64, 64)}  # six 2x poolings: 64 px keeps every stage at least 2x2
    export = "the same graph as u2netp with wider layers (exported at full size by tests/export)"


def test_shapes_at_320_and_odd_sizes(u2netp):
    check_shapes(u2netp, [(320, 320)], channels=7)
    anysize = RMBG.create_model("u2netp", image_size=None)
    check_shapes(anysize, [(97, 61), (33, 45)], channels=7)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid names are .*u2netp"):
        RMBG.create_model("u2netq")
    with pytest.raises(TypeError, match="unknown overrides"):
        RMBG.create_model("u2netp", depth=3)
    assert {"u2net", "u2netp", "resnet50_unet"} <= set(RMBG.list_models())


def test_u2net_full_builds_at_odd_size():
    model = RMBG.create_model("u2net", image_size=None)
    check_shapes(model, [(37, 53)], channels=7)
