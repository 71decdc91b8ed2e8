"""The task model: image converter → backbone → sigmoid maps (and inference post-processing)."""

from __future__ import annotations

import keras
import tensorflow as tf

from RMBG.preprocessing import ImageConverter

OUTPUT_NORMALIZATIONS = (None, "minmax")


@keras.saving.register_keras_serializable(package="RMBG")
class Segmenter(keras.Model):
    """A background-removal model: takes RGB pixel values in [0, 255], returns masks in [0, 1].

    * ``training=False`` (predict, export, the remover): the primary map ``(N, H, W, 1)`` at the
      converter's size, post-processed by ``output_normalization``.
    * ``training=True`` (fit): every map of the backbone stacked ``(N, H, W, K)``, channel 0 the
      primary, so deep-supervision losses see the side outputs. Metrics read channel 0.

    Sigmoid and everything after it run in float32, also under mixed precision.

    Args:
        backbone: a Keras model returning the logits of K maps stacked on the last axis.
        converter: the :class:`~RMBG.preprocessing.ImageConverter` (preprocessing saved with the model).
        output_normalization: ``None`` or ``"minmax"`` (per-image min-max, the official U^2-Net
            post-processing), applied in inference only.
    """

    def __init__(
        self,
        backbone: keras.Model,
        converter: ImageConverter | None = None,
        output_normalization: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if output_normalization not in OUTPUT_NORMALIZATIONS:
            raise ValueError(
                f"output_normalization: expected one of {OUTPUT_NORMALIZATIONS}, got {output_normalization!r}"
            )
        self.backbone = backbone
        self.converter = converter if converter is not None else ImageConverter()
        self.output_normalization = output_normalization
        self.build((None, *(self.converter.image_size or (None, None)), 3))

    @property
    def image_size(self) -> tuple[int, int] | None:
        """The ``(height, width)`` the model works at (``None``: any size)."""
        return self.converter.image_size

    def build(self, input_shape):
        self.converter.build(input_shape)
        if not self.backbone.built:
            self.backbone.build(self.converter.compute_output_shape(input_shape))
        self.built = True

    def call(self, images, training=False):
        x = self.converter(images)
        logits = self.backbone(x, training=training)
        maps = tf.sigmoid(tf.cast(logits, "float32"))
        if training:
            return maps
        primary = maps[..., :1]
        if self.output_normalization == "minmax":
            low = tf.reduce_min(primary, axis=[1, 2, 3], keepdims=True)
            high = tf.reduce_max(primary, axis=[1, 2, 3], keepdims=True)
            primary = (primary - low) / tf.maximum(high - low, 1e-8)
        return primary

    def compute_output_shape(self, input_shape):
        size = self.converter.compute_output_shape(input_shape)
        return (size[0], size[1], size[2], 1)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "converter": keras.saving.serialize_keras_object(self.converter),
            "output_normalization": self.output_normalization,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["converter"] = keras.saving.deserialize_keras_object(config["converter"])
        return cls(**config)
