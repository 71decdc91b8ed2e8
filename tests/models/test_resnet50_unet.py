"""ResNet50-U-Net: the RMBG-U2NET design."""

from __future__ import annotations

import numpy as np
import pytest

import RMBG
from model_harness import ModelHarness, check_shapes

SMALL = dict(bridge_filters=32, decoder_filters=(32, 16, 16, 8))


def test_default_configuration():
    spec = RMBG.model_info("resnet50_unet")
    assert spec.config["bridge_rates"] == (3, 6, 9) and spec.config["bridge_filters"] == 1024
    model = RMBG.create_model("resnet50_unet")
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == spec.params
    names = {l.name for l in model.backbone.layers}
    assert {"conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out"} <= names
    assert {"bridge_rate3_conv", "bridge_rate6_conv", "bridge_rate9_conv"} <= names


class TestResNet50UNetHarness(ModelHarness):
    name = "resnet50_unet"
    overrides = {"image_size": (64, 64), **SMALL}
    sizes = ((64, 64), (67, 45))
    maps = 4
    # Tracing the ResNet-50 train step costs ~30 s of CI; graph mode of the forward pass is checked
    # by the (traced) ONNX export below, traced training by tests/training and the matting harnesses.
    run_eagerly = True


def test_odd_sizes_without_a_fixed_size():
    anysize = RMBG.create_model("resnet50_unet", image_size=None, **SMALL)
    check_shapes(anysize, [(67, 45)], channels=4)


def test_imagenet_weights_offline_fail_clearly(monkeypatch):
    import keras.src.applications.resnet as resnet

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(resnet.file_utils, "get_file", offline)
    with pytest.raises(RuntimeError, match="encoder_weights='imagenet'.*encoder_weights=None"):
        RMBG.create_model("resnet50_unet", encoder_weights="imagenet", **SMALL)
