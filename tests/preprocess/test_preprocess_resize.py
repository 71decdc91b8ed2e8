from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from Preprocess.resize import resize, resize_array, target_size
from preprocess_helpers import files, tree_snapshot  # noqa: F401  (pytest fixtures)


def _disc_mask(path, size=(101, 77), quality=None):
    width, height = size
    yy, xx = np.mgrid[:height, :width]
    values = (((xx - width / 2) ** 2 + (yy - height / 2) ** 2) < (min(size) / 3) ** 2).astype(np.uint8) * 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path, **({"quality": quality} if quality else {}))
    return values


@pytest.mark.parametrize(
    "size, keep, expected",
    [(50, True, (50, 25)), (400, True, (400, 200)), ((40, 40), True, (40, 20)), ((30, 60), False, (30, 60)), (64, False, (64, 64))],
)
def test_target_size(size, keep, expected):
    assert target_size(200, 100, size, keep_aspect=keep) == expected


@pytest.mark.parametrize("bad", [0, -3, (10,), "big", (0, 5)])
def test_bad_size_names_the_argument(bad):
    with pytest.raises(ValueError, match="size"):
        target_size(10, 10, bad)


@pytest.mark.parametrize("size", [40, 300])
def test_masks_stay_binary_down_and_up(tmp_path, size):
    src = tmp_path / "masks"
    _disc_mask(src / "a.jpg", quality=70)  # lossy: grey pixels around the edge
    report = resize(src, tmp_path / "out", size, kind="mask", progress=False, verbose=False)

    out = np.asarray(Image.open(tmp_path / "out" / "a.png"))  # masks are written as PNG
    assert report.counts["written"] == 1
    assert set(np.unique(out)) <= {0, 255}
    assert max(out.shape) == size and out.shape == (round(77 * size / 101), size)
    assert 0.15 < (out > 0).mean() < 0.45  # still the disc, not noise


def test_nearest_mask_method_stays_binary(tmp_path):
    _disc_mask(tmp_path / "m" / "a.png")
    resize(tmp_path / "m", tmp_path / "o", 33, kind="mask", mask_method="nearest", progress=False, verbose=False)
    assert set(np.unique(np.asarray(Image.open(tmp_path / "o" / "a.png")))) <= {0, 255}


def test_alpha_stays_soft():
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (16, 1))
    out = resize_array(ramp, (20, 5), kind="alpha")
    assert out.dtype == np.uint8 and out.shape == (5, 20)
    assert len(np.unique(out)) > 10


def test_image_interpolation_by_direction():
    checker = (np.indices((40, 40)).sum(axis=0) % 2 * 255).astype(np.uint8)
    photo = np.repeat(checker[..., None], 3, axis=2)
    small = resize_array(photo, (10, 10), kind="image")
    assert np.abs(small.astype(int) - 128).max() <= 1  # INTER_AREA averages the checkerboard
    big = resize_array(photo[:4, :4], (32, 32), kind="image")
    assert big.shape == (32, 32, 3) and big.dtype == np.uint8


def test_images_written_to_a_new_folder_keep_format(tmp_path, files, tree_snapshot):
    src = tmp_path / "src"
    files.image(src / "a.jpg", (200, 100))
    files.image(src / "b.png", (50, 80))
    before = tree_snapshot(src)
    report = resize(src, tmp_path / "dst", 64, progress=False, verbose=False)
    assert tree_snapshot(src) == before
    assert Image.open(tmp_path / "dst" / "a.jpg").size == (64, 32)
    assert Image.open(tmp_path / "dst" / "b.png").size == (40, 64)
    assert report.counts == {"files": 2, "written": 2, "unchanged": 0, "skipped": 0}


def test_refuses_dst_equal_to_src_without_in_place(tmp_path, files):
    files.image(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="dst"):
        resize(tmp_path, tmp_path, 16, progress=False, verbose=False)
    with pytest.raises(ValueError, match="dst"):
        resize(tmp_path, None, 16, progress=False, verbose=False)


def test_in_place_replaces_and_converts_jpeg_masks(tmp_path):
    _disc_mask(tmp_path / "a.jpg", quality=70)
    resize(tmp_path, None, 50, kind="mask", in_place=True, progress=False, verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
    assert Image.open(tmp_path / "a.png").size == (50, 38)


def test_bad_and_existing_files_are_reported_and_skipped(tmp_path, files):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files.image(src / "good.jpg", (64, 64))
    files.image(src / "taken.jpg", (64, 64))
    (src / "broken.jpg").write_bytes(b"not an image at all")
    dst.mkdir()
    (dst / "taken.jpg").write_bytes(b"user data")

    report = resize(src, dst, 16, progress=False, verbose=False, workers=2)

    assert Image.open(dst / "good.jpg").size == (16, 16)
    assert (dst / "taken.jpg").read_bytes() == b"user data"
    kinds = {(p.problem, p.file.rsplit("/", 1)[-1]) for p in report.problems}
    assert kinds == {("unreadable", "broken.jpg"), ("exists", "taken.jpg")}
    assert report.counts["written"] == 1 and report.counts["skipped"] == 2
