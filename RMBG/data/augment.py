"""Seeded, stateless augmentations applied to an image and its mask together.

Every random draw uses TensorFlow's *stateless* random ops with a seed derived from
``(run seed, epoch, position in the epoch)``, so an augmented sample is a pure function of those
three numbers: the same in every run, with any number of parallel map calls, and after a run is
resumed at a later epoch.

Geometry (horizontal flip, random scale + crop) is applied to the image and the mask stacked into
one 4-channel tensor, so both move identically. Colour jitter touches the image only.
Images stay float32 pixel values in ``[0, 255]`` (the model's own ``ImageConverter`` normalises);
masks stay float32 in ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TensorFlow is imported where it is used, so configs load without it
    import tensorflow as tf


@dataclass
class AugmentConfig:
    """Which augmentations a training pipeline applies, and how strongly.

    Attributes:
        enabled: master switch; ``False`` feeds the resized samples unchanged.
        hflip: flip image and mask left-right with probability 0.5.
        scale: ``(low, high)`` zoom factor range, both >= 1: a square-aspect window of
            ``1/scale`` of the image (random position) is cropped and resized back to the model's
            size. ``(1.0, 1.0)`` disables it.
        brightness: maximum brightness shift as a fraction of the full range (0 disables).
        contrast: contrast factor drawn from ``[1 - contrast, 1 + contrast]`` (0 disables).
        saturation: saturation factor drawn from ``[1 - saturation, 1 + saturation]`` (0 disables).
        hue: maximum hue shift as a fraction of the hue circle, at most 0.5 (0 disables).
    """

    enabled: bool = True
    hflip: bool = True
    scale: tuple[float, float] = (1.0, 1.25)
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.02

    def __post_init__(self):
        try:  # YAML gives lists, and reads "1e-1" (no dot) as a string
            self.scale = tuple(float(v) for v in self.scale)
            for name in ("brightness", "contrast", "saturation", "hue"):
                setattr(self, name, float(getattr(self, name)))
        except (TypeError, ValueError):
            raise ValueError(
                f"augment: scale, brightness, contrast, saturation and hue must be numbers, got scale={self.scale!r}, "
                f"brightness={self.brightness!r}, contrast={self.contrast!r}, saturation={self.saturation!r}, "
                f"hue={self.hue!r}"
            ) from None
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, its value and the valid range."""
        if len(self.scale) != 2 or not 1.0 <= self.scale[0] <= self.scale[1]:
            raise ValueError(
                f"augment.scale: expected (low, high) with 1 <= low <= high, got {self.scale!r}; "
                "for example (1.0, 1.25), or (1.0, 1.0) to disable scale+crop"
            )
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"augment.{name}: expected a value in [0, 1), got {value!r}; 0 disables it")
        if not 0.0 <= float(self.hue) <= 0.5:
            raise ValueError(f"augment.hue: expected a value in [0, 0.5], got {self.hue!r}; 0 disables it")


def _split(seed: tf.Tensor, count: int) -> list[tf.Tensor]:
    """``count`` independent stateless seeds (shape ``[2]``) derived from ``seed``."""
    import tensorflow as tf  # deferred: TensorFlow stays out of AugmentConfig's TF-free importers (training.config)

    seeds = tf.random.experimental.stateless_split(seed, num=count)
    return [seeds[i] for i in range(count)]


def augment_pair(
    image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor, config: AugmentConfig
) -> tuple[tf.Tensor, tf.Tensor]:
    """Augment one sample.

    Args:
        image: ``(H, W, 3)`` float32 pixel values in ``[0, 255]``.
        mask: ``(H, W, 1)`` float32 in ``[0, 1]``.
        seed: ``[2]`` int64 stateless seed; the same seed gives the same result.
        config: what to apply.

    Returns:
        ``(image, mask)`` of the same shapes and ranges.
    """
    import tensorflow as tf  # deferred: TensorFlow stays out of AugmentConfig's TF-free importers (training.config)

    if not config.enabled:
        return image, mask
    flip_seed, scale_seed, offset_seed, colour_seed = _split(tf.cast(seed, tf.int64), 4)
    size = tf.shape(image)[:2]
    stacked = tf.concat([image, mask], axis=-1)

    if config.hflip:
        flip = tf.random.stateless_uniform([], flip_seed) < 0.5
        stacked = tf.cond(flip, lambda: tf.reverse(stacked, axis=[1]), lambda: stacked)

    low, high = config.scale
    if high > 1.0:
        zoom = tf.random.stateless_uniform([], scale_seed, minval=low, maxval=high)
        fraction = 1.0 / zoom
        offsets = tf.random.stateless_uniform([2], offset_seed) * (1.0 - fraction)
        box = tf.stack([offsets[0], offsets[1], offsets[0] + fraction, offsets[1] + fraction])
        stacked = tf.image.crop_and_resize(
            stacked[None], box[None], tf.zeros([1], tf.int32), size, method="bilinear"
        )[0]

    image = stacked[..., :3]
    mask = tf.clip_by_value(stacked[..., 3:], 0.0, 1.0)

    jitter = (config.brightness, config.contrast, config.saturation, config.hue)
    if any(v > 0 for v in jitter):
        b_seed, c_seed, s_seed, h_seed = _split(colour_seed, 4)
        unit = image / 255.0
        if config.brightness > 0:
            unit = tf.image.stateless_random_brightness(unit, config.brightness, b_seed)
        if config.contrast > 0:
            unit = tf.image.stateless_random_contrast(unit, 1.0 - config.contrast, 1.0 + config.contrast, c_seed)
        if config.saturation > 0 or config.hue > 0:
            unit = tf.clip_by_value(unit, 0.0, 1.0)  # the HSV conversions expect [0, 1]
        if config.saturation > 0:
            unit = tf.image.stateless_random_saturation(unit, 1.0 - config.saturation, 1.0 + config.saturation, s_seed)
        if config.hue > 0:
            unit = tf.image.stateless_random_hue(unit, config.hue, h_seed)
        image = tf.clip_by_value(unit, 0.0, 1.0) * 255.0
    return image, mask
