"""tf.data pipelines over a dataset index CSV (the layout ``Preprocess.prepare_dataset`` writes).

The index CSV (schema and reader: :mod:`RMBG.data.index`) has the columns ``image, mask, category,
width, height, mask_width, mask_height, split`` with paths relative to the CSV's folder. A pipeline:

1. reads the rows of the requested split(s) and checks that every file exists;
2. decodes photo and mask in parallel (``num_parallel_calls=AUTOTUNE``), see *Decoding* below;
3. resizes both to the model's ``image_size`` with the model's interpolation (read from the
   model's ``ImageConverter`` by the caller, never retyped), so the in-graph resize is the identity;
4. caches the resized samples in memory (images as uint8, masks as uint16 fixed point: 5 bytes
   per pixel of model size instead of 16);
5. for training: an endless stream of seeded shuffled passes, each sample augmented with a
   stateless seed ``(seed, position in the stream)``, batched with ``drop_remainder``; for
   evaluation: batches in file order;
6. prefetches (AUTOTUNE).

Elements are ``(images, masks)``: float32 pixel values in ``[0, 255]`` ``(N, H, W, 3)`` (the model's
own converter normalises them) and float32 masks in ``[0, 1]`` ``(N, H, W, 1)``.

Decoding (``decoder=``):

* ``"pil"`` (default): :func:`RMBG.inference.image_io.load_image` / ``load_mask`` through
  ``tf.numpy_function``, exactly what inference uses: EXIF orientation, CMYK, palette, 16-bit,
  TIFF and WebP all read the same way in training and in production. PIL releases the GIL while
  decoding, so parallel calls do run in parallel; with the cache, each file is decoded once per run.
* ``"tf"``: ``tf.io.decode_image``: graph-only (no Python), for JPEG, PNG, GIF, BMP; ignores EXIF
  orientation, so only use it on datasets written by ``Preprocess`` (which stores upright pixels)
  or known to carry no orientation tags.

Determinism: with ``deterministic=True`` the dataset option ``deterministic`` is set (parallel maps
keep their order), shuffles are seeded and augmentation is stateless, so two pipelines built with the same
arguments yield identical batches, and the batches of epoch ``e`` do not depend on whether the run
started at epoch 0 or was resumed at ``e``.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from RMBG.data.augment import AugmentConfig, augment_pair
from RMBG.data.index import DatasetIndex, read_index
from RMBG.inference.image_io import load_image, load_mask

DECODERS = ("pil", "tf")
INTERPOLATIONS = ("bilinear", "area", "nearest", "bicubic")
AUTOTUNE = tf.data.AUTOTUNE

#: Cached masks are uint16 fixed point (resolution 1.5e-5), half the memory of float32.
_MASK_SCALE = 65535.0


def dataset_rows(index_csv: str | os.PathLike, splits: str | Sequence[str] | None = None) -> DatasetIndex:
    """The rows a pipeline reads: :func:`RMBG.data.index.read_index` with every file checked.

    Raises:
        FileNotFoundError: the CSV, or files it lists, do not exist.
        ValueError: a required column is missing, a requested split has no row, a row has an
            empty path, or no row is left.
    """
    rows = read_index(index_csv, splits, check_files=True)
    if rows.problems:
        first = rows.problems[0]
        raise ValueError(
            f"index_csv: {len(rows.problems)} row(s) of '{rows.csv_path}' cannot be used, e.g. {first.problem}; "
            "fix or delete them (Preprocess.index rebuilds the index)"
        )
    if not len(rows):
        raise ValueError(f"index_csv: '{rows.csv_path}' has no rows")
    return rows


def _pil_image(path: bytes) -> np.ndarray:
    return load_image(path.decode("utf-8"))


def _pil_mask(path: bytes, threshold: np.float32) -> np.ndarray:
    mask = load_mask(path.decode("utf-8"))
    if threshold >= 0:
        mask = (mask >= threshold).astype(np.float32)
    return mask[..., None]


def _decode(image_path, mask_path, decoder: str, threshold: float):
    if decoder == "pil":
        image = tf.numpy_function(_pil_image, [image_path], tf.uint8, stateful=False)
        mask = tf.numpy_function(_pil_mask, [mask_path, np.float32(threshold)], tf.float32, stateful=False)
    else:
        image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, dtype=tf.uint8, expand_animations=False)
        mask = tf.cast(
            tf.io.decode_image(tf.io.read_file(mask_path), channels=1, dtype=tf.uint8, expand_animations=False),
            tf.float32,
        ) / 255.0
        if threshold >= 0:
            mask = tf.cast(mask >= threshold, tf.float32)
    image.set_shape([None, None, 3])
    mask.set_shape([None, None, 1])
    return image, mask


def load_dataset(
    index_csv: str | os.PathLike,
    image_size: Sequence[int],
    *,
    splits: str | Sequence[str] | None = "train",
    interpolation: str = "bilinear",
    decoder: str = "pil",
    binary_masks: bool = False,
    mask_threshold: float = 0.5,
    cache: bool = True,
    deterministic: bool = True,
) -> tuple[tf.data.Dataset, DatasetIndex]:
    """Decoded, resized, cached samples (unbatched) of an index CSV.

    Args:
        index_csv: the dataset's ``index.csv``.
        image_size: ``(height, width)``, normally ``model.image_size``.
        splits: which split(s) to read (see :func:`RMBG.data.index.read_index`).
        interpolation: resize method for photo and mask (normally ``model.converter.interpolation``).
        decoder: ``"pil"`` or ``"tf"`` (see the module docstring).
        binary_masks: threshold masks at ``mask_threshold`` when decoding them into 0/1, e.g.
            JPEG masks whose compression noise must not become soft labels. This happens at the
            mask's own size; resizing to ``image_size`` then leaves fractional values only along
            object edges (anti-aliasing, as a mask drawn at that size would have).
        mask_threshold: the threshold in [0, 1] used when ``binary_masks`` is set.
        cache: keep the resized samples in memory after the first pass.
        deterministic: keep element order under parallel decoding.

    Returns:
        ``(dataset, rows)``: elements ``(image float32 (H, W, 3) in [0, 255], mask float32 (H, W, 1)
        in [0, 1])``, and the rows read.
    """
    size = _check_size(image_size)
    if decoder not in DECODERS:
        raise ValueError(f"decoder: expected one of {DECODERS}, got {decoder!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation: expected one of {INTERPOLATIONS}, got {interpolation!r}")
    if not 0.0 <= float(mask_threshold) <= 1.0:
        raise ValueError(f"mask_threshold: expected a value in [0, 1], got {mask_threshold!r}")
    rows = dataset_rows(index_csv, splits)
    threshold = float(mask_threshold) if binary_masks else -1.0

    def load(image_path, mask_path):
        image, mask = _decode(image_path, mask_path, decoder, threshold)
        image = tf.image.resize(tf.cast(image, tf.float32), size, method=interpolation)
        mask = tf.image.resize(mask, size, method=interpolation)
        image = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
        mask = tf.cast(tf.round(tf.clip_by_value(mask, 0.0, 1.0) * _MASK_SCALE), tf.uint16)
        return image, mask

    dataset = tf.data.Dataset.from_tensor_slices((list(rows.images), list(rows.masks)))
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.map(lambda i, m: (tf.cast(i, tf.float32), tf.cast(m, tf.float32) / _MASK_SCALE))
    return _with_options(dataset, deterministic), rows


def training_dataset(
    samples: tf.data.Dataset,
    count: int,
    *,
    batch_size: int,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    deterministic: bool = True,
) -> tuple[tf.data.Dataset, int]:
    """An endless stream of shuffled, augmented, full batches; epoch ``e`` is its batches
    ``e * steps .. (e + 1) * steps - 1``.

    The stream is seeded passes over the samples (a new seeded order every pass). Sample ``i`` of
    the stream is augmented with the stateless seed ``(seed, i)``, so the stream is a pure function
    of ``seed`` (and of TensorFlow's global seed, which :func:`~RMBG.training.trainer.train` sets to
    the run seed). A run resumed at ``initial_epoch`` skips the samples of the epochs before it and
    then sees exactly the batches an uninterrupted run would have seen. Pass the result to
    ``fit(..., steps_per_epoch=steps, initial_epoch=initial_epoch)``.

    Args:
        samples: the output of :func:`load_dataset`.
        count: the number of samples in it.
        batch_size: samples per batch (the global batch under a distribution strategy).
        initial_epoch: the first epoch (a resumed run starts later).
        steps_per_epoch: batches per epoch; default ``max(1, count // batch_size)``.
        augment: augmentations, or ``None`` for none.
        seed: the run seed.
        deterministic: keep element order under parallel augmentation.

    Returns:
        ``(dataset, steps_per_epoch)``.
    """
    if count < 1:
        raise ValueError(f"count: the training split is empty (count={count})")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if initial_epoch < 0:
        raise ValueError(f"initial_epoch: expected an integer >= 0, got {initial_epoch!r}")
    steps = int(steps_per_epoch) if steps_per_epoch else max(1, count // batch_size)
    if steps < 1:
        raise ValueError(f"steps_per_epoch: expected a positive integer or None, got {steps_per_epoch!r}")
    augment = augment if augment is not None else AugmentConfig(enabled=False)
    base_seed = tf.constant(int(seed), tf.int64)

    def apply(position, sample):
        image, mask = sample
        return augment_pair(image, mask, tf.stack([base_seed, position]), augment)

    stream = samples.shuffle(count, seed=int(seed), reshuffle_each_iteration=True).repeat().enumerate()
    if initial_epoch:
        stream = stream.skip(int(initial_epoch) * steps * batch_size)
    stream = stream.map(apply, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    stream = stream.batch(batch_size, drop_remainder=True)
    return _with_options(stream.prefetch(AUTOTUNE), deterministic), steps


def evaluation_dataset(samples: tf.data.Dataset, *, batch_size: int, deterministic: bool = True) -> tf.data.Dataset:
    """Batches in file order, no augmentation, the last batch possibly smaller."""
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    return _with_options(samples.batch(batch_size).prefetch(AUTOTUNE), deterministic)


def make_dataset(
    index_csv: str | os.PathLike,
    image_size: Sequence[int],
    *,
    splits: str | Sequence[str] | None = "train",
    batch_size: int = 8,
    training: bool = False,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    interpolation: str = "bilinear",
    decoder: str = "pil",
    binary_masks: bool = False,
    mask_threshold: float = 0.5,
    cache: bool = True,
    deterministic: bool = True,
) -> tf.data.Dataset:
    """One call from an index CSV to batches: :func:`load_dataset` then :func:`training_dataset`
    (``training=True``: an endless stream, take ``steps_per_epoch`` batches per epoch) or
    :func:`evaluation_dataset`. See those for the arguments."""
    samples, rows = load_dataset(
        index_csv, image_size, splits=splits, interpolation=interpolation, decoder=decoder,
        binary_masks=binary_masks, mask_threshold=mask_threshold, cache=cache, deterministic=deterministic,
    )
    if not training:
        return evaluation_dataset(samples, batch_size=batch_size, deterministic=deterministic)
    dataset, _ = training_dataset(
        samples, len(rows), batch_size=batch_size, initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch, augment=augment, seed=seed, deterministic=deterministic,
    )
    return dataset


def _check_size(image_size) -> tuple[int, int]:
    try:
        size = tuple(int(v) for v in image_size)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(
            f"image_size: expected (height, width) of positive ints, got {image_size!r}; pass model.image_size, "
            "or set an image size when the model takes any size"
        )
    return size  # type: ignore[return-value]


def _with_options(dataset: tf.data.Dataset, deterministic: bool) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return dataset.with_options(options)
