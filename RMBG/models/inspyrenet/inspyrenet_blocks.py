"""InSPyReNet's decoder blocks as functional compositions of named layers.

Every layer carries the PyTorch module path of the reference (``context1.branch1.conv0.conv``,
``attention2.conv_query.0.bn``...), so a state dict maps onto the network by name. The reference's
``Conv2d`` module is a bias-free convolution with symmetric "same" padding (every kernel here has
an odd effective size), then BatchNorm (eps 1e-5, PyTorch momentum 0.1) and an optional ReLU.
"""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.inspyrenet.layers.axial_self_attention import AxialSelfAttention
from RMBG.models.inspyrenet.layers.class_context import ClassContext
from RMBG.models.inspyrenet.layers.class_probability import ClassProbability
from RMBG.models.inspyrenet.layers.context_attention import ContextAttention
from RMBG.models.inspyrenet.layers.resize_align_corners import ResizeAlignCorners

#: PyTorch's BatchNorm2d defaults (Keras' momentum is 1 - PyTorch's).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def conv_bn(x, filters: int, kernel_size, name: str, *, dilation: int = 1, bn: bool = True, relu: bool = False):
    """The reference ``Conv2d``: convolution (no bias, "same") → BatchNorm → ReLU (optional)."""
    x = keras.layers.Conv2D(
        filters, kernel_size, padding="same", dilation_rate=dilation, use_bias=False,
        kernel_initializer="he_normal", name=f"{name}.conv",
    )(x)
    if bn:
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}.bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}.relu")(x)
    return x


def self_attention(x, channels: int, mode: str, name: str):
    """The reference ``SelfAttention``: 1x1 query/key (C/8) and value (C) projections, then
    :class:`AxialSelfAttention` along ``mode``."""
    query = conv_bn(x, channels // 8, 1, f"{name}.query_conv")
    key = conv_bn(x, channels // 8, 1, f"{name}.key_conv")
    value = conv_bn(x, channels, 1, f"{name}.value_conv")
    return AxialSelfAttention(mode, name=name)([x, query, key, value])


def paa_kernel(x, channels: int, receptive_size: int, name: str):
    """``PAA_kernel``: 1x1, 1xk, kx1 convolutions, height + width axial attention, 3x3 dilated by k."""
    x = conv_bn(x, channels, 1, f"{name}.conv0")
    x = conv_bn(x, channels, (1, receptive_size), f"{name}.conv1")
    x = conv_bn(x, channels, (receptive_size, 1), f"{name}.conv2")
    h = self_attention(x, channels, "h", f"{name}.Hattn")
    w = self_attention(x, channels, "w", f"{name}.Wattn")
    x = keras.layers.Add(name=f"{name}.add")([h, w])
    return conv_bn(x, channels, 3, f"{name}.conv3", dilation=receptive_size)


def paa_e(x, channels: int, name: str):
    """``PAA_e``, the context module of one encoder level: four branches (1x1 and PAA kernels 3, 5,
    7), a 3x3 fusion, a 1x1 residual, ReLU."""
    branches = [conv_bn(x, channels, 1, f"{name}.branch0")]
    branches += [paa_kernel(x, channels, k, f"{name}.branch{i}") for i, k in ((1, 3), (2, 5), (3, 7))]
    fused = conv_bn(keras.layers.Concatenate(name=f"{name}.cat")(branches), channels, 3, f"{name}.conv_cat")
    residual = conv_bn(x, channels, 1, f"{name}.conv_res")
    return keras.layers.ReLU(name=f"{name}.relu")(keras.layers.Add(name=f"{name}.add")([fused, residual]))


def paa_d(features: Sequence, depth: int, name: str):
    """``PAA_d``, the decoder of the three deepest levels: the deeper maps upsampled to the first
    one's size (bilinear, ``align_corners=True``), concatenated deepest first, 3x3 convolution,
    axial attention, three 3x3 convolutions; returns ``(features, saliency logits)``."""
    first = features[0]
    upsampled = [first] + [
        ResizeAlignCorners(name=f"{name}.up{i}")([f, first]) for i, f in enumerate(features[1:], start=1)
    ]
    fx = keras.layers.Concatenate(name=f"{name}.cat")(upsampled[::-1])
    fx = conv_bn(fx, depth, 3, f"{name}.conv1")
    h = self_attention(fx, depth, "h", f"{name}.Hattn")
    w = self_attention(fx, depth, "w", f"{name}.Wattn")
    fx = conv_bn(keras.layers.Add(name=f"{name}.add")([h, w]), depth, 3, f"{name}.conv2")
    fx = conv_bn(fx, depth, 3, f"{name}.conv3")
    fx = conv_bn(fx, depth, 3, f"{name}.conv4")
    return fx, conv_bn(fx, 1, 3, f"{name}.conv5", bn=False)


def sica(x, smap, lmap, depth: int, stage_size: Sequence[int] | None, name: str):
    """``SICA``, scale-invariant context attention: class probabilities from the coarser saliency
    (and Laplacian) map, class context vectors, attention of every position over them, fusion;
    returns ``(features, Laplacian logits)``.

    Args:
        x: the features ``(N, h, w, C)``.
        smap: the coarser saliency logits.
        lmap: the coarser Laplacian logits, or ``None`` (stage 2 has none).
        depth: channels of the attention.
        stage_size: the size the class contexts are summed at (see :class:`ClassContext`).
        name: the module path, ``attention0`` .. ``attention2``.
    """
    lmap_in = lmap is not None
    prob = ClassProbability(lmap_in, name=name)([x, smap, lmap] if lmap_in else [x, smap])
    context = ClassContext(stage_size, name=f"{name}.class_context")([x, prob])
    query = conv_bn(conv_bn(x, depth, 3, f"{name}.conv_query.0", relu=True), depth, 3, f"{name}.conv_query.1", relu=True)
    key = conv_bn(conv_bn(context, depth, 1, f"{name}.conv_key.0", relu=True), depth, 1, f"{name}.conv_key.1", relu=True)
    value = conv_bn(conv_bn(context, depth, 1, f"{name}.conv_value.0", relu=True), depth, 1, f"{name}.conv_value.1", relu=True)
    refined = ContextAttention(name=f"{name}.context_attention")([query, key, value])
    refined = conv_bn(refined, depth, 3, f"{name}.conv_out1", relu=True)
    x = keras.layers.Concatenate(name=f"{name}.cat")([x, refined])
    x = conv_bn(x, depth, 3, f"{name}.conv_out2", relu=True)
    x = conv_bn(x, depth, 3, f"{name}.conv_out3", relu=True)
    return x, conv_bn(x, 1, 1, f"{name}.conv_out4")
