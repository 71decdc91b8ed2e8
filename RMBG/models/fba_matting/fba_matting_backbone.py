"""The FBA encoder: ResNet-50 with Group Norm and Weight Standardisation, dilated to stride 8.

This is the reference's ``build_encoder("resnet50_GN_WS")`` (CarveKit 4.1.2,
``carvekit/ml/arch/fba_matting/resnet_GN_WS.py`` and ``models.py``): a torchvision-layout ResNet-50
(bottleneck blocks ``(3, 4, 6, 3)``, the stride on the 3x3 convolution) whose every convolution is
a :class:`~RMBG.models.fba_matting.fba_matting_layers.WSConv2D` without bias and every norm a
``GroupNorm(32)``; the first convolution takes 11 channels (normalised image 3 + trimap
distance encoding 6 + two-channel trimap 2). ``ResnetDilated(dilate_scale=8)`` then removes the
strides of ``layer3`` and ``layer4``: their first 3x3 convolutions get dilation 1 and 2, all their
other 3x3 convolutions dilation 2 and 4, and the stride-2 1x1 shortcuts become stride 1. The
average pool and the classifier are dropped.

Layer names are the PyTorch module paths (``encoder.layer3.0.downsample.0``) so the importer maps
checkpoints by name. PyTorch's symmetric padding is explicit before each stride-2 layer (Keras'
``"same"`` pads asymmetrically there); the max pool's zero padding equals PyTorch's ``-inf`` one
because its input is a ReLU output (>= 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from RMBG.models.fba_matting.fba_matting_layers import WSConv2D

#: Channels of the encoder input: normalised image 3, trimap transform 6, two-channel trimap 2.
ENCODER_INPUT_CHANNELS = 11
GROUPS = 32
GN_EPSILON = 1e-5
EXPANSION = 4


def group_norm(name: str):
    """``nn.GroupNorm(32, C)`` (epsilon 1e-5, affine)."""
    return keras.layers.GroupNormalization(groups=GROUPS, epsilon=GN_EPSILON, name=name)


def _bottleneck(x, planes: int, name: str, *, stride: int, dilation: int, first_dilation: int, downsample: bool):
    """One torchvision bottleneck (1x1, 3x3, 1x1, each WS conv + GN) with its shortcut."""
    identity = x
    out = WSConv2D(planes, 1, use_bias=False, name=f"{name}.conv1")(x)
    out = keras.layers.ReLU()(group_norm(f"{name}.bn1")(out))
    if stride == 2:
        out = keras.layers.ZeroPadding2D(1)(out)
        out = WSConv2D(planes, 3, strides=2, padding="valid", use_bias=False, name=f"{name}.conv2")(out)
    else:
        out = WSConv2D(planes, 3, padding="same", dilation_rate=first_dilation if downsample else dilation,
                       use_bias=False, name=f"{name}.conv2")(out)
    out = keras.layers.ReLU()(group_norm(f"{name}.bn2")(out))
    out = WSConv2D(planes * EXPANSION, 1, use_bias=False, name=f"{name}.conv3")(out)
    out = group_norm(f"{name}.bn3")(out)
    if downsample:
        identity = WSConv2D(planes * EXPANSION, 1, strides=stride, use_bias=False, name=f"{name}.downsample.0")(x)
        identity = group_norm(f"{name}.downsample.1")(identity)
    out = keras.layers.Add()([out, identity])
    return keras.layers.ReLU()(out)


@keras.saving.register_keras_serializable(package="RMBG")
class FBAMattingBackbone(keras.Model):
    """ResNet-50 GN+WS encoder of FBA (see the module docstring).

    Input: ``(N, H, W, input_channels)`` (FBA: 11), ``H`` and ``W`` any size >= 8.
    Outputs, a list: the stem ``(N, H/2, W/2, 64)`` (``relu(bn1(conv1))``), ``layer1``
    ``(N, H/4, W/4, 256)`` and ``layer4`` ``(N, H/8, W/8, 2048)`` (sizes rounded up), the
    feature maps FBA's decoder reads.

    Args:
        input_channels: channels of the input.
        block_counts: bottleneck blocks of ``layer1`` .. ``layer4`` (ResNet-50: ``(3, 4, 6, 3)``).
    """

    def __init__(self, input_channels: int = ENCODER_INPUT_CHANNELS, block_counts: Sequence[int] = (3, 4, 6, 3), **kwargs):
        block_counts = tuple(int(b) for b in block_counts)
        if len(block_counts) != 4 or min(block_counts) < 1:
            raise ValueError(f"block_counts: expected 4 positive integers (ResNet-50: (3, 4, 6, 3)), got {list(block_counts)}")
        if int(input_channels) < 1:
            raise ValueError(f"input_channels: expected a positive integer, got {input_channels!r}")
        inputs = keras.Input(shape=(None, None, int(input_channels)), name="encoder_input")
        x = keras.layers.ZeroPadding2D(3)(inputs)
        x = WSConv2D(64, 7, strides=2, padding="valid", use_bias=False, name="encoder.conv1")(x)
        stem = keras.layers.ReLU(name="encoder.relu")(group_norm("encoder.bn1")(x))
        x = keras.layers.ZeroPadding2D(1)(stem)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="encoder.maxpool")(x)
        # (planes, stride, dilation of the first block's 3x3, dilation of the others): ResnetDilated(8).
        stages = ((64, 1, 1, 1), (128, 2, 1, 1), (256, 1, 1, 2), (512, 1, 2, 4))
        outputs = {}
        inplanes = 64
        for index, ((planes, stride, first_dilation, dilation), blocks) in enumerate(zip(stages, block_counts), start=1):
            for block in range(blocks):
                first = block == 0
                x = _bottleneck(
                    x, planes, f"encoder.layer{index}.{block}", stride=stride if first else 1, dilation=dilation,
                    first_dilation=first_dilation,
                    downsample=first and (stride != 1 or inplanes != planes * EXPANSION),
                )
                inplanes = planes * EXPANSION
            outputs[index] = x
        super().__init__(inputs=inputs, outputs=[stem, outputs[1], outputs[4]], **kwargs)
        self.input_channels = int(input_channels)
        self.block_counts = block_counts

    def encoder_layers(self) -> list[keras.layers.Layer]:
        """Every layer of this encoder (the whole ResNet-50 GN+WS), for ``freeze_encoder``: the
        decoder and the fusion then train alone. GroupNorm keeps no batch statistics, so frozen
        layers compute the same in training and inference."""
        return list(self.layers)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "input_channels": self.input_channels, "block_counts": self.block_counts,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
