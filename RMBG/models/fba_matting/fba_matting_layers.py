"""Layers of FBA matting (Forte & Pitié, "F, B, Alpha Matting", 2020) as CarveKit 4.1.2 builds it.

* :class:`WSConv2D`: a convolution whose kernel is *weight-standardised* on every call (Qiao et
  al., "Micro-Batch Training with Batch-Channel Normalization and Weight Standardization"): per
  output channel, the kernel minus its mean, divided by ``sqrt(var + 1e-12) + 1e-5`` where ``var``
  is the *unbiased* variance over the ``kh * kw * in`` entries (``torch.var``'s default, which the
  reference uses). The stored kernel is the raw one, so checkpoints import unchanged.
* :class:`AdaptiveAvgPool2D`: PyTorch's ``nn.AdaptiveAvgPool2d(size)`` for any input size: output
  bin ``i`` of an axis of length ``n`` averages ``[floor(i n / s), ceil((i + 1) n / s))``.
* :class:`FBAFusion`: the network's head: ``alpha = clip(o_0, 0, 1)``, ``F = sigmoid(o_1..3)``,
  ``B = sigmoid(o_4..6)``, then the paper's closed-form F/B/alpha fusion with the input image.

All compute in float32 and are serialisable (``package="RMBG"``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

#: Constants of the reference's weight standardisation and fusion.
WS_VARIANCE_EPSILON = 1e-12
WS_STD_EPSILON = 1e-5
FUSION_LAMBDA = 0.1


@keras.saving.register_keras_serializable(package="RMBG")
class WSConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with weight standardisation (see the module docstring).

    Takes every argument of ``Conv2D``; the kernel is standardised over its first three axes
    (``kh, kw, in``) per output channel each time the layer runs, so gradients flow through the
    standardisation as in the reference.
    """

    def standardized_kernel(self):
        """The kernel as the convolution uses it: zero mean, unit (unbiased) std per output channel."""
        kernel = tf.cast(self.kernel, "float32")
        mean = tf.reduce_mean(kernel, axis=[0, 1, 2], keepdims=True)
        centred = kernel - mean
        count = tf.cast(tf.reduce_prod(tf.shape(kernel)[:3]), "float32")
        variance = tf.reduce_sum(tf.square(centred), axis=[0, 1, 2], keepdims=True) / (count - 1.0)
        std = tf.sqrt(variance + WS_VARIANCE_EPSILON) + WS_STD_EPSILON
        return centred / std

    def call(self, inputs):
        outputs = self.convolution_op(inputs, tf.cast(self.standardized_kernel(), self.compute_dtype))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, self.compute_dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


def _pooling_matrix(length, bins: int):
    """``(bins, length)`` float32 matrix averaging PyTorch's adaptive-pooling windows of an axis."""
    index = tf.range(bins)
    start = (index * length) // bins
    end = ((index + 1) * length + bins - 1) // bins  # ceil((i + 1) n / s); non-negative operands only, as
    # ONNX's integer Div truncates where TensorFlow's FloorDiv floors
    positions = tf.range(length)[None, :]
    inside = tf.logical_and(positions >= start[:, None], positions < end[:, None])
    weights = tf.cast(inside, "float32")
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="RMBG")
class AdaptiveAvgPool2D(keras.layers.Layer):
    """PyTorch's ``nn.AdaptiveAvgPool2d(output_size)`` on ``(N, H, W, C)``, any ``H, W >= 1``.

    Args:
        output_size: the square output side ``s`` (the pyramid scales of FBA: 1, 2, 3, 6).
    """

    def __init__(self, output_size: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(output_size, int) or isinstance(output_size, bool) or output_size < 1:
            raise ValueError(f"output_size: expected a positive integer, got {output_size!r}")
        self.output_size = output_size

    def call(self, inputs):
        x = tf.cast(inputs, "float32")
        shape = tf.shape(x)
        rows = _pooling_matrix(shape[1], self.output_size)
        cols = _pooling_matrix(shape[2], self.output_size)
        x = tf.einsum("ih,nhwc->niwc", rows, x)
        return tf.einsum("jw,niwc->nijc", cols, x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size, self.output_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


def fba_fusion(alpha, image, foreground, background):
    """The paper's fusion (Sec. 3.3): refine F and B given alpha, then alpha given F and B.

    ``F' = a I + (1 - a^2) F - a (1 - a) B``; ``B' = (1 - a) I + (2a - a^2) B - a (1 - a) F'``
    (with the *updated* F, as the reference), both clipped to [0, 1]; then
    ``a' = (a lambda + sum_c (I - B')(F' - B')) / (sum_c (F' - B')^2 + lambda)`` clipped to [0, 1],
    ``lambda = 0.1``.
    """
    foreground = alpha * image + (1.0 - alpha**2) * foreground - alpha * (1.0 - alpha) * background
    background = (1.0 - alpha) * image + (2.0 * alpha - alpha**2) * background - alpha * (1.0 - alpha) * foreground
    foreground = tf.clip_by_value(foreground, 0.0, 1.0)
    background = tf.clip_by_value(background, 0.0, 1.0)
    difference = foreground - background
    numerator = alpha * FUSION_LAMBDA + tf.reduce_sum((image - background) * difference, axis=-1, keepdims=True)
    denominator = tf.reduce_sum(difference * difference, axis=-1, keepdims=True) + FUSION_LAMBDA
    alpha = tf.clip_by_value(numerator / denominator, 0.0, 1.0)
    return alpha, foreground, background


@keras.saving.register_keras_serializable(package="RMBG")
class FBAFusion(keras.layers.Layer):
    """``[raw 7-channel output (N, H, W, 7), image (N, H, W, 3) in [0, 1]]`` -> ``(N, H, W, 7)``:
    alpha (channel 0), foreground F (1-3) and background B (4-6), all in [0, 1], after
    :func:`fba_fusion`. Channel order of F and B is the image's."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        raw, image = (tf.cast(t, "float32") for t in inputs)
        alpha = tf.clip_by_value(raw[..., 0:1], 0.0, 1.0)
        foreground = tf.sigmoid(raw[..., 1:4])
        background = tf.sigmoid(raw[..., 4:7])
        alpha, foreground, background = fba_fusion(alpha, image, foreground, background)
        return tf.concat([alpha, foreground, background], axis=-1)

    def compute_output_shape(self, input_shapes):
        return (*input_shapes[0][:-1], 7)


@keras.saving.register_keras_serializable(package="RMBG")
class ImageStandardize(keras.layers.Layer):
    """``(image - mean) / std`` per channel: the reference's ``groupnorm_normalise_image``.

    Args:
        mean, std: per-channel constants (FBA: ImageNet's, on [0, 1] images).
    """

    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        if len(self.mean) != len(self.std) or min(self.std) <= 0:
            raise ValueError(f"mean, std: expected equal-length sequences with std > 0, got {mean!r}, {std!r}")

    def call(self, image):
        image = tf.cast(image, "float32")
        return (image - tf.constant(self.mean)) / tf.constant(self.std)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}
