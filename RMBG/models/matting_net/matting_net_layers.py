"""Layers of the matting network: trimap encoding and conv blocks (shared with the refiner)."""

from __future__ import annotations

import keras
import tensorflow as tf

from RMBG.models.layers import ResizeLike

#: Trimap thresholds in [0, 1]: below ``BG_MAX`` known background, above ``FG_MIN`` known foreground.
BG_MAX = 0.25
FG_MIN = 0.75


def trimap_regions(trimap):
    """``(background, unknown, foreground)`` float masks of a ``(N, H, W, 1)`` trimap in [0, 1]."""
    trimap = tf.cast(trimap, "float32")
    background = tf.cast(trimap < BG_MAX, "float32")
    foreground = tf.cast(trimap > FG_MIN, "float32")
    return background, 1.0 - background - foreground, foreground


@keras.saving.register_keras_serializable(package="RMBG")
class GuideEncoding(keras.layers.Layer):
    """Encode the guide channel (trimap or coarse mask, ``(N, H, W, 1)`` in [0, 1]).

    * ``"trimap"``: one-hot ``(background, unknown, foreground)`` (values 0 / 0.5 / 1; thresholds
      :data:`BG_MAX`, :data:`FG_MIN`), plus the one-hot maps average-pooled over
      ``context``-sided windows (a cheap stand-in for FBA's Gaussian distance encoding: how far a
      pixel is from the known regions). 3 or 6 channels.
    * ``"mask"``: the probability itself and ``|2p - 1|`` (its confidence). 2 channels.

    Args:
        mode: ``"trimap"`` or ``"mask"``.
        context: side of the pooling window of the trimap's smooth channels (0 disables them).
    """

    def __init__(self, mode: str = "trimap", context: int = 9, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in ("trimap", "mask"):
            raise ValueError(f"mode: expected 'trimap' or 'mask', got {mode!r}")
        if not isinstance(context, int) or isinstance(context, bool) or context < 0 or (context and context % 2 == 0):
            raise ValueError(f"context: expected 0 or an odd positive window side, got {context!r}")
        self.mode = mode
        self.context = context

    @property
    def channels(self) -> int:
        """Channels of the encoding."""
        if self.mode == "mask":
            return 2
        return 6 if self.context else 3

    def call(self, guide):
        guide = tf.cast(guide, "float32")
        if self.mode == "mask":
            return tf.concat([guide, tf.abs(2.0 * guide - 1.0)], axis=-1)
        onehot = tf.concat(trimap_regions(guide), axis=-1)
        if not self.context:
            return onehot
        smooth = tf.nn.avg_pool2d(onehot, self.context, strides=1, padding="SAME")
        return tf.concat([onehot, smooth], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "context": self.context}


@keras.saving.register_keras_serializable(package="RMBG")
class ProbabilityLogit(keras.layers.Layer):
    """``log(p / (1 - p))`` of probabilities clipped to ``[epsilon, 1 - epsilon]`` (residual refinement)."""

    def __init__(self, epsilon: float = 0.01, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0 < float(epsilon) < 0.5:
            raise ValueError(f"epsilon: expected a number in (0, 0.5), got {epsilon!r}")
        self.epsilon = float(epsilon)

    def call(self, probabilities):
        p = tf.clip_by_value(tf.cast(probabilities, "float32"), self.epsilon, 1.0 - self.epsilon)
        return tf.math.log(p) - tf.math.log(1.0 - p)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def conv_bn_relu(x, filters: int, name: str, *, strides: int = 1, dilation: int = 1):
    """3x3 convolution (no bias), BatchNorm, ReLU."""
    x = keras.layers.Conv2D(
        filters, 3, strides=strides, dilation_rate=dilation, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def encoder_decoder(inputs, encoder_filters, decoder_filters, context_rates, head_filters: int, name: str):
    """A small U-Net: stride-2 encoder stages, a dilated context block, decoder stages with skips,
    and a full-resolution head that sees the inputs again. Returns the head features.

    Any input size works: stride-2 'same' convolutions give ``ceil(size / 2)`` and every decoder
    stage is resized to its skip's exact size.
    """
    skips = []
    x = inputs
    for index, filters in enumerate(encoder_filters, start=1):
        x = conv_bn_relu(x, filters, f"{name}_enc{index}a", strides=2)
        x = conv_bn_relu(x, filters, f"{name}_enc{index}b")
        skips.append(x)
    if context_rates:
        branches = [conv_bn_relu(x, encoder_filters[-1], f"{name}_ctx{rate}", dilation=rate) for rate in context_rates]
        x = keras.layers.Concatenate(name=f"{name}_ctx_concat")([x, *branches])
        x = conv_bn_relu(x, encoder_filters[-1], f"{name}_ctx_fuse")
    targets = list(reversed(skips[:-1])) + [inputs]
    for index, (skip, filters) in enumerate(zip(targets, decoder_filters), start=1):
        x = ResizeLike(name=f"{name}_dec{index}_up")([x, skip])
        x = keras.layers.Concatenate(name=f"{name}_dec{index}_concat")([x, skip])
        x = conv_bn_relu(x, filters, f"{name}_dec{index}a")
        if index < len(decoder_filters):
            x = conv_bn_relu(x, filters, f"{name}_dec{index}b")
    return conv_bn_relu(x, head_filters, f"{name}_head")
