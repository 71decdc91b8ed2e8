"""Stochastic depth (Huang et al., 2016): drop a residual branch per sample while training."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class StochasticDepth(keras.layers.Layer):
    """Zero a residual branch for a random subset of the batch, scaling the rest by ``1 / (1 - rate)``.

    In inference (``training=False``) this is the identity, so eval outputs never depend on it.
    In training each sample keeps its branch with probability ``1 - rate`` (timm's ``DropPath``).

    Args:
        rate: drop probability in [0, 1).
        seed: seed of the layer's random generator (``None``: unseeded).
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate: expected a drop probability in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
        noise = keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator)
        return x / tf.cast(keep, x.dtype) * tf.floor(tf.cast(keep, x.dtype) + noise)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
