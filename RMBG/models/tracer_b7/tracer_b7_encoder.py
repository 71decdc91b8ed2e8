"""CarveKit's EfficientNet-B7 encoder (``EfficientEncoderB7``): the stem and the 55 MBConv blocks.

Why not ``keras.applications.EfficientNetB7``: the block graph is the same, but CarveKit pads
every strided convolution with a *static* "same" padding computed once for a 600x600 input
(``Conv2dStaticSamePadding``, ``image_size=600``), whatever the actual input size. At 640x640 the
first block of stage 4 then pads ``(1, 1)`` (its 600-pipeline input is 75 px, odd) where
TensorFlow's "same" (and Keras' EfficientNet, which pads by the actual size) pads ``(0, 1)``:
a one-pixel shift of every later feature. Keras' model also normalises inside its graph and
ends with a 2560-channel head conv that TRACER does not have. So the encoder is built here, with
the padding of the reference made explicit (``ZeroPadding2D`` before each strided convolution).

Layers carry the PyTorch module paths (``encoder._blocks.12._depthwise_conv``...). BatchNorm:
eps 1e-3, PyTorch momentum 0.01 (Keras 0.99), as ``create_block_args`` sets them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import keras

#: EfficientNet-B0's stages (repeats, kernel, stride, expand ratio, input filters, output filters),
#: SE ratio 0.25 everywhere; B7 scales widths by 2.0 and depths by 3.1.
B0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
WIDTH_COEFFICIENT = 2.0
DEPTH_COEFFICIENT = 3.1
SE_RATIO = 0.25
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
#: The blocks whose outputs TRACER taps (strides 4, 8, 16, 32; 48, 80, 224, 640 channels).
FEATURE_BLOCKS = (10, 17, 37, 54)


class BlockSpec(NamedTuple):
    """One MBConv block of the scaled network."""

    index: int
    kernel: int
    stride: int
    expand_ratio: int
    input_filters: int
    output_filters: int
    reference_size: int  # the block's input size in the static-padding (600 px) pipeline


def round_filters(filters: int, divisor: int = 8) -> int:
    """Scale a width by B7's coefficient, rounded to a multiple of 8 (never more than 10 % down)."""
    scaled = filters * WIDTH_COEFFICIENT
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def round_repeats(repeats: int) -> int:
    """Scale a stage depth by B7's coefficient (ceil)."""
    return math.ceil(DEPTH_COEFFICIENT * repeats)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding ``(before, after)`` of one axis of ``size`` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def block_specs(padding_reference_size: int = 600) -> list[BlockSpec]:
    """Every MBConv block of B7 in order, with its input size in the reference padding pipeline."""
    size = math.ceil(padding_reference_size / 2)  # after the stride-2 stem
    specs = []
    for repeats, kernel, stride, expand, filters_in, filters_out in B0_STAGES:
        filters_in, filters_out = round_filters(filters_in), round_filters(filters_out)
        for repeat in range(round_repeats(repeats)):
            block_stride = stride if repeat == 0 else 1
            block_in = filters_in if repeat == 0 else filters_out
            specs.append(BlockSpec(len(specs), kernel, block_stride, expand, block_in, filters_out, size))
            size = math.ceil(size / block_stride)
    return specs


def _strided_padding(x, kernel: int, reference_size: int, name: str):
    pad = same_padding(reference_size, kernel, 2)
    return keras.layers.ZeroPadding2D((pad, pad), name=name)(x)


def mbconv_block(x, spec: BlockSpec, drop_rate: float, prefix: str = "encoder._blocks"):
    """Mobile inverted bottleneck: expand 1x1 → depthwise → squeeze-excite → project 1x1 (+ skip)."""
    name = f"{prefix}.{spec.index}"
    inputs = x
    filters = spec.input_filters * spec.expand_ratio
    if spec.expand_ratio != 1:
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}._expand_conv")(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}._bn0")(x)
        x = keras.layers.Activation("silu", name=f"{name}.swish0")(x)
    if spec.stride == 2:
        x = _strided_padding(x, spec.kernel, spec.reference_size, f"{name}.static_padding")
        padding = "valid"
    else:
        padding = "same"  # stride 1, odd kernel: the reference's static padding is symmetric, = "same"
    x = keras.layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding=padding, use_bias=False, name=f"{name}._depthwise_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}._bn1")(x)
    x = keras.layers.Activation("silu", name=f"{name}.swish1")(x)

    squeezed = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.se_pool")(x)
    squeezed = keras.layers.Conv2D(
        max(1, int(spec.input_filters * SE_RATIO)), 1, activation="silu", name=f"{name}._se_reduce"
    )(squeezed)
    squeezed = keras.layers.Conv2D(filters, 1, activation="sigmoid", name=f"{name}._se_expand")(squeezed)
    x = keras.layers.Multiply(name=f"{name}.se_scale")([x, squeezed])

    x = keras.layers.Conv2D(spec.output_filters, 1, use_bias=False, name=f"{name}._project_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}._bn2")(x)
    if spec.stride == 1 and spec.input_filters == spec.output_filters:
        if drop_rate > 0:
            # Drop connect (stochastic depth): whole samples, scaled by 1 / keep, training only.
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}.drop_connect")(x)
        x = keras.layers.Add(name=f"{name}.skip")([x, inputs])
    return x


def efficientnet_b7_features(
    images, padding_reference_size: int = 600, drop_connect_rate: float = 0.2
) -> list:
    """The four TRACER feature maps of CarveKit's EfficientNet-B7 for normalised ``images``.

    Args:
        images: ``(N, H, W, 3)`` normalised images; H and W multiples of 32.
        padding_reference_size: the input size the static "same" paddings are computed for
            (CarveKit: 600, whatever the real input size).
        drop_connect_rate: stochastic-depth rate of the last block (block i: rate * i / 55).

    Returns:
        Outputs of blocks 10, 17, 37, 54: strides 4, 8, 16, 32 with 48, 80, 224, 640 channels.
    """
    stem = round_filters(32)
    x = _strided_padding(images, 3, padding_reference_size, "encoder.static_padding")
    x = keras.layers.Conv2D(stem, 3, strides=2, use_bias=False, name="encoder._conv_stem")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="encoder._bn0")(x)
    x = keras.layers.Activation("silu", name="encoder.swish")(x)
    specs = block_specs(padding_reference_size)
    features = []
    for spec in specs:
        x = mbconv_block(x, spec, drop_connect_rate * spec.index / len(specs))
        if spec.index in FEATURE_BLOCKS:
            features.append(x)
    return features
