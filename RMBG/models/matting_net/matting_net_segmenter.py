"""The guided task model (image + trimap / coarse mask -> alpha), its builder, weight loading and
a full-photo prediction helper that scales large photos.

:class:`GuidedSegmenter` is the task model of both learned matting families: ``matting_net``
(guide = trimap) and ``refiner`` (guide = coarse mask). Like
:class:`~RMBG.models.segmenter.Segmenter` it carries its preprocessing: the
:class:`~RMBG.preprocessing.ImageConverter` normalises the image and
:class:`~RMBG.models.matting_net.matting_net_layers.GuideEncoding` encodes the guide.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import keras
import numpy as np
import tensorflow as tf

from RMBG.models.matting_net.matting_net_backbone import MattingNetBackbone
from RMBG.models.matting_net.matting_net_layers import GuideEncoding, trimap_regions
from RMBG.preprocessing import IMAGENET_MEAN, IMAGENET_STD, ImageConverter
from RMBG.weights.strict import load_variables

GUIDE_KEYS = {"trimap": "trimap", "mask": "mask"}


@keras.saving.register_keras_serializable(package="RMBG")
class GuidedSegmenter(keras.Model):
    """A matting / refinement task model.

    Inputs, either:

    * a tensor ``(N, H, W, 4)``: RGB pixel values in [0, 255] and the guide in [0, 1] (a trimap as
      0 / 0.5 / 1, or a coarse mask's probabilities), or
    * a dict ``{"image": (N, H, W, 3), "trimap" | "mask": (N, H, W) or (N, H, W, 1)}`` (the key is
      ``"trimap"`` for ``guide="trimap"``, ``"mask"`` for ``guide="mask"``).

    Outputs: ``training=True``: every map ``(N, H, W, K)`` (channel 0 the primary); otherwise the
    primary ``(N, H, W, 1)``, in [0, 1], at the input's size. With ``clamp_known`` (trimaps) the
    known regions of the trimap are copied into every map (the network only decides the unknown
    band).

    Args:
        backbone: a Keras model: ``(N, H, W, 3 + G)`` -> logits ``(N, H, W, K)``.
        converter: the image's :class:`ImageConverter`; it must keep the input size (``image_size=None``).
        guide: ``"trimap"`` or ``"mask"``.
        encoding: the guide's :class:`GuideEncoding` (default: ``GuideEncoding(guide)``).
        clamp_known: copy the trimap's known regions into the output (only for ``guide="trimap"``).
    """

    def __init__(
        self,
        backbone: keras.Model,
        converter: ImageConverter | None = None,
        guide: str = "trimap",
        encoding: GuideEncoding | None = None,
        clamp_known: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if guide not in GUIDE_KEYS:
            raise ValueError(f"guide: expected one of {sorted(GUIDE_KEYS)}, got {guide!r}")
        if clamp_known and guide != "trimap":
            raise ValueError(f"clamp_known: only a trimap has known regions; got clamp_known=True with guide={guide!r}")
        converter = converter if converter is not None else ImageConverter(None, "unit", IMAGENET_MEAN, IMAGENET_STD)
        if converter.image_size is not None:
            raise ValueError(
                f"converter: a guided model works at its input's size; got image_size={converter.image_size}, "
                "use ImageConverter(image_size=None, ...) and scale photos with predict_full()"
            )
        encoding = encoding if encoding is not None else GuideEncoding(guide)
        if encoding.mode != guide:
            raise ValueError(f"encoding: its mode {encoding.mode!r} differs from guide={guide!r}")
        self.backbone = backbone
        self.converter = converter
        self.guide = guide
        self.encoding = encoding
        self.clamp_known = bool(clamp_known)
        self.build((None, None, None, 4))

    @property
    def image_size(self) -> None:
        """Guided models work at any size (``None``)."""
        return None

    def build(self, input_shape):
        if isinstance(input_shape, Mapping):
            input_shape = (*tuple(input_shape["image"])[:-1], 4)
        self.converter.build((*input_shape[:-1], 3))
        self.encoding.build((*input_shape[:-1], 1))
        if not self.backbone.built:
            self.backbone.build((*input_shape[:-1], 3 + self.encoding.channels))
        self.built = True

    def split_inputs(self, inputs) -> tuple[tf.Tensor, tf.Tensor]:
        """``(image (N, H, W, 3), guide (N, H, W, 1))`` from a 4-channel tensor or a dict."""
        if isinstance(inputs, Mapping):
            key = GUIDE_KEYS[self.guide]
            if "image" not in inputs or key not in inputs:
                raise KeyError(f"inputs: a dict needs the keys 'image' and {key!r}, got {sorted(inputs)}")
            image, guide = inputs["image"], tf.cast(inputs[key], "float32")
            if guide.shape.rank == 3:
                guide = guide[..., None]
            return tf.cast(image, "float32"), guide
        inputs = tf.convert_to_tensor(inputs)
        if inputs.shape[-1] is not None and inputs.shape[-1] != 4:
            raise ValueError(
                f"inputs: expected (N, H, W, 4) = RGB [0, 255] + {self.guide} [0, 1], or a dict, got shape {inputs.shape}"
            )
        inputs = tf.cast(inputs, "float32")
        return inputs[..., :3], inputs[..., 3:4]

    def call(self, inputs, training=False):
        image, guide = self.split_inputs(inputs)
        features = tf.concat([self.converter(image), self.encoding(guide)], axis=-1)
        logits = self.backbone(features, training=training)
        maps = tf.sigmoid(tf.cast(logits, "float32"))
        if self.clamp_known:
            _, unknown, foreground = trimap_regions(guide)
            maps = maps * unknown + foreground
        return maps if training else maps[..., :1]

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, Mapping):
            input_shape = input_shape["image"]
        return (*tuple(input_shape)[:-1], 1)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "converter": keras.saving.serialize_keras_object(self.converter),
            "guide": self.guide,
            "encoding": keras.saving.serialize_keras_object(self.encoding),
            "clamp_known": self.clamp_known,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "converter", "encoding"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_matting_net(
    encoder_filters: Sequence[int] = (16, 32, 48, 64),
    decoder_filters: Sequence[int] = (48, 32, 24, 16),
    context_rates: Sequence[int] = (2, 4),
    head_filters: int = 16,
    trimap_context: int = 9,
    name: str = "matting_net",
) -> GuidedSegmenter:
    """A matting-network :class:`GuidedSegmenter` (guide = trimap); see :class:`MattingNetBackbone`.

    Args:
        trimap_context: pooling window of the trimap encoding's smooth channels (0: one-hot only).
    """
    encoding = GuideEncoding("trimap", trimap_context, name=f"{name}_trimap_encoding")
    backbone = MattingNetBackbone(
        encoding.channels, encoder_filters, decoder_filters, context_rates, head_filters, name=f"{name}_backbone"
    )
    converter = ImageConverter(None, "unit", IMAGENET_MEAN, IMAGENET_STD, name=f"{name}_converter")
    return GuidedSegmenter(backbone, converter, "trimap", encoding, clamp_known=True, name=name)


def load_packaged_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """The registry's importer for matting nets and refiners: a strict ``.npz`` of the backbone's
    variables (:func:`RMBG.weights.strict.save_variables`) into ``model.backbone``.

    The registry verifies the packaged file's size and checksums before calling this.

    Raises:
        RMBG.weights.strict.WeightMismatchError: a tensor missing, left over or mis-shaped.
    """
    load_variables(model.backbone, path)


def _scaled_size(height: int, width: int, max_side: int | None, multiple: int) -> tuple[int, int]:
    scale = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
    return (max(multiple, int(round(height * scale / multiple)) * multiple),
            max(multiple, int(round(width * scale / multiple)) * multiple))


def predict_full(
    model: keras.Model,
    image: np.ndarray,
    guide: np.ndarray,
    *,
    max_side: int | None = 1024,
    multiple: int = 16,
) -> np.ndarray:
    """Run a guided model on one photo of any size and return its map at the photo's size.

    Large photos are scaled down so the long side is at most ``max_side`` (and both sides are
    multiples of ``multiple``), predicted, and the result resized back (bilinear). For trimap models
    the known regions of the full-size trimap are restored exactly afterwards.

    Args:
        model: a :class:`GuidedSegmenter`.
        image: ``HxWx3`` uint8 RGB.
        guide: ``HxW`` trimap (uint8 0/128/255) or mask (float in [0, 1] or uint8 levels).
        max_side: the long side the model works at (None: the photo's own, rounded to ``multiple``).
        multiple: side multiple of the working size.

    Returns:
        ``HxW`` float32 in [0, 1].
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected an HxWx3 uint8 RGB array, got {getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}")
    if not isinstance(guide, np.ndarray) or guide.shape[:2] != image.shape[:2] or guide.ndim != 2:
        raise ValueError(
            f"guide: expected an HxW array the size of the image {image.shape[:2]}, got shape {getattr(guide, 'shape', None)}"
        )
    if max_side is not None and max_side < multiple:
        raise ValueError(f"max_side: expected None or at least multiple={multiple}, got {max_side!r}")
    unit = guide.astype(np.float32) / 255.0 if guide.dtype == np.uint8 else guide.astype(np.float32)
    if unit.min() < -1e-3 or unit.max() > 1 + 1e-3:
        raise ValueError(f"guide: float values must lie in [0, 1], got [{unit.min()}, {unit.max()}]; divide 8-bit data by 255")
    unit = np.clip(unit, 0.0, 1.0)
    height, width = image.shape[:2]
    work_h, work_w = _scaled_size(height, width, max_side, multiple)
    small_image = cv2.resize(image, (work_w, work_h), interpolation=cv2.INTER_AREA if work_h < height else cv2.INTER_LINEAR)
    guide_interp = cv2.INTER_NEAREST if getattr(model, "guide", None) == "trimap" else cv2.INTER_LINEAR
    small_guide = cv2.resize(unit, (work_w, work_h), interpolation=guide_interp)
    batch = np.concatenate([small_image.astype(np.float32), small_guide[..., None]], axis=-1)[None]
    output = np.asarray(model(tf.constant(batch), training=False))[0, ..., 0]
    if (work_h, work_w) != (height, width):
        output = cv2.resize(output, (width, height), interpolation=cv2.INTER_LINEAR)
    if getattr(model, "guide", None) == "trimap" and getattr(model, "clamp_known", False):
        output = np.where(unit > 0.75, 1.0, np.where(unit < 0.25, 0.0, output))
    return np.clip(output, 0.0, 1.0).astype(np.float32)
