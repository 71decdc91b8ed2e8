"""TRACER's decoder blocks as CarveKit 4.1.2 builds them: RFB, aggregation with union attention,
object attention, and their convolution units.

Layers are named after the PyTorch module paths of CarveKit's ``TracerDecoder``
(``rfb2.branch1.0.conv``, ``agg.UAM.channel_q``...), so a state dict maps onto them by name.
All convolutions here have stride 1 and PyTorch paddings of ``dilation * (kernel - 1) / 2``,
which is exactly Keras ``"same"``. BatchNorm uses PyTorch's defaults (eps 1e-5, momentum 0.1).

The frequency edge module of the original TRACER is absent: CarveKit's encoder does not build it
and its loader ignores those tensors (``load_state_dict(strict=False)``), so CarveKit's outputs
come from this graph; :mod:`RMBG.weights.tracer_import` skips them by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from RMBG.models.tracer_b7.ops import (
    AlignCornersUpsampling,
    ChannelTracing,
    ObjectMask,
    QuantileMask,
    SpatialTracing,
)

#: PyTorch's BatchNorm2d defaults (Keras momentum = 1 - PyTorch momentum).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def batch_norm(x, name: str):
    """BatchNorm with PyTorch's defaults."""
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)


def basic_conv(x, filters: int, kernel: int | Sequence[int], name: str, dilation: int = 1):
    """``BasicConv2d``: convolution without bias → BatchNorm → SELU."""
    x = keras.layers.Conv2D(
        filters, kernel, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}.conv"
    )(x)
    return keras.layers.Activation("selu", name=f"{name}.selu")(batch_norm(x, f"{name}.bn"))


def dw_conv(x, kernel: int, dilation: int, name: str):
    """``DWConv``: depthwise convolution (one filter per channel) → BatchNorm → SELU."""
    x = keras.layers.DepthwiseConv2D(
        kernel, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}.DWConv"
    )(x)
    return keras.layers.Activation("selu", name=f"{name}.selu")(batch_norm(x, f"{name}.bn"))


def dws_conv(x, filters: int, kernel: int, name: str):
    """``DWSConv``: depthwise → BatchNorm → SELU → pointwise → BatchNorm → SELU."""
    x = keras.layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}.DWConv")(x)
    x = keras.layers.Activation("selu", name=f"{name}.selu")(batch_norm(x, f"{name}.bn"))
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}.PWConv")(x)
    return keras.layers.Activation("selu", name=f"{name}.selu2")(batch_norm(x, f"{name}.bn2"))


def rfb_block(x, filters: int, name: str):
    """Receptive field block: four branches of growing receptive field, fused, plus a residual."""
    branches = [basic_conv(x, filters, 1, f"{name}.branch0.0")]
    for index, size in ((1, 3), (2, 5), (3, 7)):
        prefix = f"{name}.branch{index}"
        b = basic_conv(x, filters, 1, f"{prefix}.0")
        b = basic_conv(b, filters, (1, size), f"{prefix}.1")
        b = basic_conv(b, filters, (size, 1), f"{prefix}.2")
        branches.append(basic_conv(b, filters, 3, f"{prefix}.3", dilation=size))
    fused = basic_conv(keras.layers.Concatenate(name=f"{name}.cat")(branches), filters, 3, f"{name}.conv_cat")
    residual = basic_conv(x, filters, 1, f"{name}.conv_res")
    return keras.layers.ReLU(name=f"{name}.relu")(keras.layers.Add(name=f"{name}.add")([fused, residual]))


def union_attention(x, name: str, confidence_ratio: float = 0.1):
    """Union attention module: channel tracing, confidence masking, spatial tracing → ``(N, H, W, 1)``.

    Dropout after the pooled BatchNorm (``norm.1``, rate ``confidence_ratio``) acts in training
    only; the reference's ``Dropout3d`` on a pooled ``(N, C, 1, 1)`` tensor drops channels, which
    for a 1x1 map is element-wise dropout, as here.
    """
    channels = x.shape[-1]
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.GAP")(x)
    pooled = batch_norm(pooled, f"{name}.norm.0")
    pooled = keras.layers.Dropout(confidence_ratio, name=f"{name}.norm.1")(pooled)
    qkv = [
        keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}.channel_{p}")(pooled) for p in "qkv"
    ]
    attention = ChannelTracing(name=f"{name}.channel_tracing")(qkv)
    attention = keras.layers.Conv2D(channels, 1, use_bias=False, activation="sigmoid", name=f"{name}.fc")(attention)
    traced = keras.layers.Add(name=f"{name}.channel_residual")(
        [keras.layers.Multiply(name=f"{name}.channel_scale")([x, attention]), x]
    )
    traced = batch_norm(traced, f"{name}.bn")
    dropped = QuantileMask(confidence_ratio, name=f"{name}.masking")([traced, attention])
    qkv = [keras.layers.Conv2D(1, 1, use_bias=False, name=f"{name}.spatial_{p}")(dropped) for p in "qkv"]
    return SpatialTracing(name=f"{name}.spatial_tracing")(qkv)


def aggregation(e4, e3, e2, channels: Sequence[int], name: str, confidence_ratio: float = 0.1):
    """Multi-level aggregation of the RFB outputs (strides 32, 16, 8) into one stride-8 logit map.

    Args:
        e4, e3, e2: RFB outputs with ``channels[2]``, ``channels[1]``, ``channels[0]`` channels.
        channels: the RFB widths, low to high level (CarveKit: 32, 64, 128).
    """
    c0, c1, c2 = channels

    def up(t, label):
        return AlignCornersUpsampling(2, name=f"{name}.upsample_{label}")(t)

    def mul(tensors, label):
        return keras.layers.Multiply(name=f"{name}.{label}")(tensors)

    e4_up = up(e4, "e4")
    e3_1 = mul([basic_conv(e4_up, c1, 3, f"{name}.conv_upsample1"), e3], "e3_1")
    e2_1 = mul(
        [
            basic_conv(up(e4_up, "e4_twice"), c0, 3, f"{name}.conv_upsample2"),
            basic_conv(up(e3, "e3"), c0, 3, f"{name}.conv_upsample3"),
            e2,
        ],
        "e2_1",
    )
    e3_2 = keras.layers.Concatenate(name=f"{name}.cat_e3_2")([e3_1, basic_conv(e4_up, c2, 3, f"{name}.conv_upsample4")])
    e3_2 = basic_conv(e3_2, c1 + c2, 3, f"{name}.conv_concat2")
    e2_2 = keras.layers.Concatenate(name=f"{name}.cat_e2_2")(
        [e2_1, basic_conv(up(e3_2, "e3_2"), c1 + c2, 3, f"{name}.conv_upsample5")]
    )
    x = basic_conv(e2_2, c0 + c1 + c2, 3, f"{name}.conv_concat3")
    return union_attention(x, f"{name}.UAM", confidence_ratio)


def object_attention(decoder_map, encoder_map, name: str, denoise: float = 0.93):
    """Object attention: refine a ``(N, H, W, 1)`` logit map with ``(N, H, W, C)`` encoder features."""
    channels = encoder_map.shape[-1]
    x = ObjectMask(denoise, name=f"{name}.mask")([decoder_map, encoder_map])
    x = dws_conv(x, channels // 2, 3, f"{name}.DWSConv")
    branches = []
    for index, (kernel, dilation) in enumerate(((1, 1), (3, 1), (3, 3), (3, 5)), start=1):
        b = dw_conv(x, kernel, dilation, f"{name}.DWConv{index}.0")
        branches.append(basic_conv(b, channels // 8, 1, f"{name}.DWConv{index}.1"))
    x = keras.layers.Add(name=f"{name}.skip")([keras.layers.Concatenate(name=f"{name}.cat")(branches), x])
    x = keras.layers.ReLU(name=f"{name}.relu")(basic_conv(x, 1, 1, f"{name}.conv1"))
    return keras.layers.Add(name=f"{name}.residual")([x, decoder_map])
