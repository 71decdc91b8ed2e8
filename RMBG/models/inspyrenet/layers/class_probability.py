"""SICA's class probabilities: foreground, background and confusion maps from a coarser saliency map."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ClassProbability(keras.layers.Layer):
    """Inputs ``[x, smap]`` or ``[x, smap, lmap]``; output ``(N, h, w, 3)`` or ``(N, h, w, 5)``.

    ``smap`` (saliency logits) is resized to ``x``'s size (bilinear, half-pixel), passed through a
    sigmoid and split around the learned ``threshold`` t: ``p = s - t``, foreground
    ``clip(p, 0, 1)``, background ``clip(-p, 0, 1)``, confusion ``t - |p|``. With ``lmap_in``, the
    previous Laplacian ``lmap`` gives two more channels around ``lthreshold`` (foreground,
    background). The weights are named as the reference's parameters.

    Args:
        lmap_in: also take the Laplacian map (5 channels instead of 3).
    """

    def __init__(self, lmap_in: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.lmap_in = bool(lmap_in)

    def build(self, input_shapes):
        if len(input_shapes) != (3 if self.lmap_in else 2):
            raise ValueError(
                f"layer {self.name}: expected inputs [x, smap{', lmap' if self.lmap_in else ''}], got {len(input_shapes)} tensors"
            )
        half = keras.initializers.Constant(0.5)
        self.threshold = self.add_weight(name="threshold", shape=(1,), initializer=half)
        if self.lmap_in:
            self.lthreshold = self.add_weight(name="lthreshold", shape=(1,), initializer=half)
        self.built = True

    def call(self, inputs):
        x = inputs[0]
        size = tf.shape(x)[1:3]

        def probability(logits):
            return tf.sigmoid(tf.cast(tf.image.resize(logits, size, method="bilinear"), x.dtype))

        threshold = tf.cast(self.threshold, x.dtype)
        p = probability(inputs[1]) - threshold
        maps = [tf.clip_by_value(p, 0.0, 1.0), tf.clip_by_value(-p, 0.0, 1.0), threshold - tf.abs(p)]
        if self.lmap_in:
            lp = probability(inputs[2]) - tf.cast(self.lthreshold, x.dtype)
            maps += [tf.clip_by_value(lp, 0.0, 1.0), tf.clip_by_value(-lp, 0.0, 1.0)]
        return tf.concat(maps, axis=-1)

    def compute_output_shape(self, input_shapes):
        x = input_shapes[0]
        return (x[0], x[1], x[2], 5 if self.lmap_in else 3)

    def get_config(self):
        return {**super().get_config(), "lmap_in": self.lmap_in}
