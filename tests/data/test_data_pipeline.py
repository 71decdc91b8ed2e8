"""The tf.data pipeline: index reading, decoding, ranges and shapes, augmentation, determinism."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from RMBG.data.augment import AugmentConfig, augment_pair
from RMBG.data.index import read_index
from RMBG.data.pipeline import dataset_rows, evaluation_dataset, load_dataset, make_dataset, training_dataset
from RMBG.data.synthetic import synthetic_arrays, write_synthetic_dataset

SIZE = (24, 32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "ds", 12, (30, 40), seed=5, split=(0.5, 0.25, 0.25))


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_read_index_selects_splits_and_resolves_paths(dataset):
    train = read_index(dataset, "train")
    both = read_index(dataset, "train,val")
    assert len(train) == 6 and len(both) == 9 and len(read_index(dataset)) == 12
    assert all(p.startswith(str(dataset.parent.resolve())) and p.endswith(".png") for p in train.images + train.masks)
    with pytest.raises(ValueError, match=r"splits: \['holdout'\] matches no row.*'test', 'train', 'val'"):
        read_index(dataset, "holdout")


def test_read_index_errors_name_the_problem(tmp_path, dataset):
    with pytest.raises(FileNotFoundError, match="Preprocess.index"):
        read_index(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("image,split\na.png,train\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['mask'\]"):
        read_index(bad)
    moved = tmp_path / "index.csv"  # same rows, but the files are not next to this copy
    moved.write_text(dataset.read_text())
    with pytest.raises(FileNotFoundError, match="12 file"):
        dataset_rows(moved, "train")  # the pipeline checks every listed file
    empty_path = tmp_path / "empty_path.csv"
    empty_path.write_text("image,mask,split\n,a.png,train\n")
    with pytest.raises(ValueError, match="row 2 of 'empty_path.csv' has an empty image or mask path"):
        dataset_rows(empty_path)


def test_evaluation_batches_have_model_ranges_and_shapes(dataset):
    batches = _batches(make_dataset(dataset, SIZE, splits="val", batch_size=2))
    assert [b[0].shape for b in batches] == [(2, *SIZE, 3), (1, *SIZE, 3)]
    images = np.concatenate([b[0] for b in batches])
    masks = np.concatenate([b[1] for b in batches])
    assert images.dtype == np.float32 and masks.dtype == np.float32 and masks.shape == (3, *SIZE, 1)
    assert 0 <= images.min() and images.max() <= 255 and images.max() > 100, "pixel values, not normalised"
    assert 0 <= masks.min() and masks.max() <= 1 and masks.min() == 0 and masks.max() == 1
    # the same as resizing the files (bilinear, like the model's converter), up to uint8 rounding
    import tensorflow as tf

    rows = read_index(dataset, "val")
    first = np.asarray(Image.open(rows.images[0])).astype(np.float32)
    expected = tf.image.resize(first, SIZE, method="bilinear").numpy()
    np.testing.assert_allclose(images[0], expected, atol=0.51)
    first_mask = np.asarray(Image.open(rows.masks[0])).astype(np.float32)[..., None] / 255
    np.testing.assert_allclose(masks[0], tf.image.resize(first_mask, SIZE).numpy(), atol=1e-4)


def test_tf_decoder_matches_pil_decoder(dataset):
    pil = _batches(make_dataset(dataset, SIZE, splits="test", batch_size=4))
    graph = _batches(make_dataset(dataset, SIZE, splits="test", batch_size=4, decoder="tf"))
    np.testing.assert_array_equal(pil[0][0], graph[0][0])
    np.testing.assert_allclose(pil[0][1], graph[0][1], atol=1e-4)


def test_jpeg_masks_are_thresholded_when_binary_is_asked(tmp_path):
    _, alphas = synthetic_arrays(1, (32, 32), seed=1)
    hard = (alphas[0] >= 0.5).astype(np.uint8)
    noisy = np.where(hard == 1, 250, 4).astype(np.uint8)  # JPEG-like: not exactly 0/255
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "images" / "a_0001.jpg", quality=90)
    Image.fromarray(noisy).save(tmp_path / "masks" / "a_0001.jpg", quality=70)
    with (tmp_path / "index.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["image", "mask", "split"], ["images/a_0001.jpg", "masks/a_0001.jpg", "train"]])
    soft = _batches(make_dataset(tmp_path / "index.csv", (32, 32), batch_size=1))[0][1]
    binary = _batches(make_dataset(tmp_path / "index.csv", (32, 32), batch_size=1, binary_masks=True))[0][1]
    assert len(np.unique(soft)) > 2, "JPEG noise gives soft values without thresholding"
    assert set(np.unique(binary)) == {0.0, 1.0}
    np.testing.assert_array_equal(binary[0, ..., 0], hard.astype(np.float32))


def test_training_stream_is_deterministic_and_resumable(dataset):
    samples, rows = load_dataset(dataset, SIZE, splits="train")
    options = dict(batch_size=2, steps_per_epoch=3, augment=AugmentConfig(), seed=4)

    def first(ds, n):
        return [b for b, _ in zip(_batches(ds.take(n)), range(n))]

    stream, steps = training_dataset(samples, len(rows), **options)
    assert steps == 3
    run = first(stream, 9)  # three epochs
    again = first(training_dataset(samples, len(rows), **options)[0], 9)
    for a, b in zip(run, again):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    resumed = first(training_dataset(samples, len(rows), initial_epoch=2, **options)[0], 3)
    for a, b in zip(run[6:], resumed):
        np.testing.assert_array_equal(a[0], b[0])
    other = first(training_dataset(samples, len(rows), **{**options, "seed": 5})[0], 3)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(run, other))
    # every epoch is a fresh order: epoch 0 and 1 differ
    assert not np.array_equal(np.concatenate([b[0] for b in run[:3]]), np.concatenate([b[0] for b in run[3:6]]))
    for images, masks in run:
        assert images.shape == (2, *SIZE, 3) and masks.shape == (2, *SIZE, 1)
        assert 0 <= images.min() and images.max() <= 255 and 0 <= masks.min() and masks.max() <= 1


def test_geometry_moves_image_and_mask_together():
    import tensorflow as tf

    _, alphas = synthetic_arrays(1, (32, 32), seed=9)
    mask = tf.constant(alphas[0][..., None])
    image = tf.concat([mask * 255.0] * 3, axis=-1)  # the image is the mask: any misalignment shows
    geometry = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, scale=(1.2, 1.6))
    changed = 0
    for i in range(8):
        out_image, out_mask = augment_pair(image, mask, tf.constant([1, i], tf.int64), geometry)
        np.testing.assert_allclose(out_image.numpy() / 255.0, np.repeat(out_mask.numpy(), 3, -1), atol=1e-5)
        changed += not np.allclose(out_mask.numpy(), mask.numpy())
    assert changed == 8, "scale >= 1.2 always moves the content"
    flips = AugmentConfig(scale=(1.0, 1.0), brightness=0, contrast=0, saturation=0, hue=0)
    outcomes = set()
    for i in range(8):
        _, out = augment_pair(image, mask, tf.constant([0, i], tf.int64), flips)
        flipped = np.array_equal(out.numpy(), mask.numpy()[:, ::-1])
        assert flipped or np.array_equal(out.numpy(), mask.numpy())
        outcomes.add(flipped)
    assert outcomes == {True, False}


def test_colour_jitter_changes_the_image_only_and_stays_in_range():
    import tensorflow as tf

    photos, alphas = synthetic_arrays(1, (32, 32), seed=2)
    image = tf.constant(photos[0], tf.float32)
    mask = tf.constant(alphas[0][..., None])
    colour = AugmentConfig(hflip=False, scale=(1.0, 1.0), brightness=0.3, contrast=0.3, saturation=0.5, hue=0.1)
    out_image, out_mask = augment_pair(image, mask, tf.constant([3, 3], tf.int64), colour)
    np.testing.assert_array_equal(out_mask.numpy(), mask.numpy())
    assert not np.allclose(out_image.numpy(), image.numpy())
    assert 0 <= out_image.numpy().min() and out_image.numpy().max() <= 255
    same = augment_pair(image, mask, tf.constant([3, 3], tf.int64), colour)[0]
    np.testing.assert_array_equal(same.numpy(), out_image.numpy())


@pytest.mark.parametrize(
    "field, value, message",
    [("scale", (0.8, 1.2), "augment.scale"), ("brightness", 1.5, "augment.brightness"), ("hue", 0.7, "augment.hue")],
)
def test_augment_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**{field: value})


def test_bad_arguments_are_named(dataset):
    with pytest.raises(ValueError, match="image_size"):
        load_dataset(dataset, (32,))
    with pytest.raises(ValueError, match="decoder"):
        load_dataset(dataset, SIZE, decoder="cv2")
    samples, rows = load_dataset(dataset, SIZE)
    with pytest.raises(ValueError, match="batch_size"):
        evaluation_dataset(samples, batch_size=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        training_dataset(samples, len(rows), batch_size=2, steps_per_epoch=-1)
