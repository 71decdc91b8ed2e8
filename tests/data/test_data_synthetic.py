"""The synthetic dataset generator: exact alpha, determinism, the on-disk layout."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from RMBG.data.synthetic import INDEX_COLUMNS, synthetic_arrays, synthetic_sample, write_synthetic_dataset


def test_sample_is_an_exact_composite_with_soft_edges():
    photo, alpha, foreground, background = synthetic_sample(np.random.default_rng(3), (40, 56), layers=True)
    assert photo.shape == (40, 56, 3) and photo.dtype == np.uint8
    assert alpha.shape == (40, 56) and alpha.dtype == np.float32
    expected = np.clip(np.round(alpha[..., None] * foreground + (1 - alpha[..., None]) * background), 0, 255)
    np.testing.assert_array_equal(photo, expected.astype(np.uint8))
    assert alpha.min() == 0.0 and alpha.max() == 1.0
    edge = (alpha > 0) & (alpha < 1)
    assert 0 < edge.mean() < 0.2, "anti-aliased edges are a thin band"
    # coverage of a 4x4 supersampling grid: multiples of 1/16
    np.testing.assert_allclose(alpha * 16, np.round(alpha * 16), atol=1e-5)
    # the foreground texture is saturated, the background muted: the task is learnable
    def saturation(rgb):
        return (rgb.max(-1) - rgb.min(-1)).mean()
    assert saturation(photo[alpha == 1].astype(float)) > 2 * saturation(photo[alpha == 0].astype(float))


def test_arrays_are_deterministic_per_seed_and_index():
    photos, alphas = synthetic_arrays(3, (32, 32), seed=7)
    again, again_alphas = synthetic_arrays(2, (32, 32), seed=7)
    np.testing.assert_array_equal(photos[:2], again)
    np.testing.assert_array_equal(alphas[:2], again_alphas)
    other, _ = synthetic_arrays(1, (32, 32), seed=8)
    assert not np.array_equal(photos[0], other[0])
    assert not np.array_equal(photos[0], photos[1])


@pytest.mark.parametrize("bad", [(4, 32), (32,), "big"])
def test_bad_size_is_named(bad):
    with pytest.raises(ValueError, match="image_size"):
        synthetic_arrays(1, bad)


def test_written_dataset_follows_the_index_contract(tmp_path):
    csv_path = write_synthetic_dataset(tmp_path / "ds", 10, (24, 36), seed=2, category="blob", split=(0.6, 0.2, 0.2))
    assert csv_path == tmp_path / "ds" / "index.csv"
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == INDEX_COLUMNS
        rows = list(reader)
    assert [r["image"] for r in rows][:2] == ["images/blob_0001.png", "images/blob_0002.png"]
    assert sorted(r["split"] for r in rows) == ["test"] * 2 + ["train"] * 6 + ["val"] * 2
    photos, alphas = synthetic_arrays(10, (24, 36), seed=2)
    for i, row in enumerate(rows):
        assert (row["width"], row["height"], row["mask_width"], row["mask_height"]) == ("36", "24", "36", "24")
        np.testing.assert_array_equal(np.asarray(Image.open(csv_path.parent / row["image"])), photos[i])
        mask = np.asarray(Image.open(csv_path.parent / row["mask"]))
        np.testing.assert_array_equal(mask, np.round(alphas[i] * 255).astype(np.uint8))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_synthetic_dataset(tmp_path / "ds", 10, (24, 36))
