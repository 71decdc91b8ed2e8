"""Object/edge weighting of encoder features by a decoder map (TRACER's object attention input)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ObjectMask(keras.layers.Layer):
    """``sigmoid(d) * e + edge * e`` with ``edge = 1 - sigmoid(d)``, zeroed where it exceeds ``denoise``.

    Inputs ``[decoder_map, encoder_map]``: ``(N, H, W, 1)`` logits and ``(N, H, W, C)`` features.
    The object term keeps features where the decoder sees the object; the reverse term keeps
    them near the boundary, its confident background (``1 - sigmoid(d) > denoise``) removed.

    Args:
        denoise: background-confidence threshold (TRACER: 0.93).
    """

    def __init__(self, denoise: float = 0.93, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= denoise <= 1.0:
            raise ValueError(f"denoise: expected a threshold in [0, 1], got {denoise!r}")
        self.denoise = float(denoise)

    def call(self, inputs):
        decoder_map, encoder_map = inputs
        foreground = tf.sigmoid(decoder_map)
        background = 1.0 - foreground
        edge = tf.where(background > self.denoise, tf.zeros_like(background), background)
        return foreground * encoder_map + edge * encoder_map

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[1])

    def get_config(self):
        return {**super().get_config(), "denoise": self.denoise}
