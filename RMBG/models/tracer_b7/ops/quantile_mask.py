"""Drop the least-attended channels (TRACER's confidence masking)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class QuantileMask(keras.layers.Layer):
    """Multiply features by their channel attention, zeroing channels at or below its quantile.

    Inputs ``[x, attention]``: ``x`` ``(N, H, W, C)``, ``attention`` ``(N, 1, 1, C)`` in (0, 1).
    Per image, ``t`` is the ``ratio`` quantile of the C attention values with linear
    interpolation between order statistics (``torch.quantile``'s default: position
    ``ratio * (C - 1)``); channels with attention ``<= t`` become 0, the others are scaled by
    their attention. Output ``x * mask``, shape of ``x``.

    Args:
        ratio: the quantile in [0, 1] (TRACER's ``gamma``, 0.1).
    """

    def __init__(self, ratio: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio: expected a quantile in [0, 1], got {ratio!r}")
        self.ratio = float(ratio)

    def call(self, inputs):
        x, attention = inputs
        channels = attention.shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis of the attention must be static")
        values = tf.reshape(attention, (-1, channels))
        ordered = tf.sort(values, axis=-1)
        position = self.ratio * (channels - 1)
        low = int(position)
        high = min(low + 1, channels - 1)
        fraction = position - low
        threshold = ordered[:, low:low + 1] + fraction * (ordered[:, high:high + 1] - ordered[:, low:low + 1])
        mask = tf.where(values <= threshold, tf.zeros_like(values), values)
        return x * tf.reshape(mask, (-1, 1, 1, channels))

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}
