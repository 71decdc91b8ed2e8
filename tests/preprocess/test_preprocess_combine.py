from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from Preprocess.combine import LAYOUTS, combine
from preprocess_helpers import files, tree_snapshot  # noqa: F401  (pytest fixtures)

# layout -> (wrapper folder or "", [(images folder, masks folder), ...]) as the datasets are published
TREES = {
    "duts": ("", [("DUTS-TR/DUTS-TR-Image", "DUTS-TR/DUTS-TR-Mask"), ("DUTS-TE/DUTS-TE-Image", "DUTS-TE/DUTS-TE-Mask")]),
    "dis5k": ("DIS5K", [("DIS-TR/im", "DIS-TR/gt"), ("DIS-VD/im", "DIS-VD/gt"), ("DIS-TE1/im", "DIS-TE1/gt"), ("DIS-TE4/im", "DIS-TE4/gt")]),
    "p3m10k": ("P3M-10k", [
        ("train/blurred_image", "train/mask"),
        ("validation/P3M-500-P/blurred_image", "validation/P3M-500-P/mask"),
        ("validation/P3M-500-NP/original_image", "validation/P3M-500-NP/mask"),
    ]),
    "cod10k": ("COD10K-v3", [("Train/Image", "Train/GT_Object"), ("Test/Image", "Test/GT_Object")]),
    "people": ("", [("images", "masks")]),
    "plain": ("", [("images", "masks")]),
}


def _build(root, layout, files):
    wrapper, parts = TREES[layout]
    base = root / wrapper if wrapper else root
    for number, (images, masks) in enumerate(parts):
        for item in range(2):
            stem = f"COD10K-CAM-{number}-Aquatic-{item}" if layout == "cod10k" else f"sample{number}_{item}"
            files.image(base / images / f"{stem}.jpg", (10, 8))
            files.mask(base / masks / f"{stem}.png", (10, 8))
    files.image(base / parts[0][0] / "lonely.jpg", (10, 8))  # an orphan in the first part
    return len(parts)


def test_every_layout_is_covered():
    assert set(TREES) == set(LAYOUTS)


@pytest.mark.parametrize("layout", sorted(TREES))
def test_import_each_layout(tmp_path, files, layout):
    parts = _build(tmp_path / "src", layout, files)
    dst = tmp_path / "dataset"

    report = combine(tmp_path / "src", dst, layout=layout, category="thing", progress=False, verbose=False)

    expected = [f"thing_{n:04d}" for n in range(1, 2 * parts + 1)]
    assert sorted(p.stem for p in (dst / "images").iterdir()) == expected
    assert sorted(p.name for p in (dst / "masks").iterdir()) == [f"{s}.png" for s in expected]
    assert report.counts["imported"] == 2 * parts and report.counts["failed"] == 0
    assert [(p.problem, p.file.rsplit("/", 1)[-1]) for p in report.problems] == [("orphan-image", "lonely.jpg")]
    with open(dst / "combine_log.csv", newline="") as handle:
        log = list(csv.DictReader(handle))
    assert len(log) == 2 * parts and {row["layout"] for row in log} == {layout}
    # each imported mask is its own source's mask (pairs stay paired through the renaming)
    for row in log:
        source_mask = np.asarray(Image.open(row["source_mask"]))
        assert np.array_equal(np.asarray(Image.open(dst / row["mask"])), source_mask)
        assert (dst / row["image"]).read_bytes() == open(row["source_image"], "rb").read()


def test_source_may_be_a_part_folder(tmp_path, files):
    _build(tmp_path, "duts", files)
    report = combine(tmp_path / "DUTS-TR", tmp_path / "out", layout="duts", progress=False, verbose=False)
    assert report.counts["imported"] == 2
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["duts_0001.jpg", "duts_0002.jpg"]


def test_numbering_continues_and_nothing_is_overwritten(tmp_path, files, tree_snapshot):
    _build(tmp_path / "src", "plain", files)
    dst = tmp_path / "dataset"
    files.pair(dst, "horse_0007")
    files.pair(dst, "zebra_0040")
    before = tree_snapshot(dst)

    combine(tmp_path / "src", dst, layout="plain", category="horse", progress=False, verbose=False)

    after = tree_snapshot(dst)
    assert all(after[name] == digest for name, digest in before.items())
    assert sorted(p.name for p in (dst / "images").iterdir()) == [
        "horse_0007.jpg", "horse_0008.jpg", "horse_0009.jpg", "zebra_0040.jpg"
    ]


def test_importing_again_skips_what_is_there(tmp_path, files, tree_snapshot):
    _build(tmp_path / "src", "people", files)
    dst = tmp_path / "dataset"
    combine(tmp_path / "src", dst, layout="people", progress=False, verbose=False)
    before = tree_snapshot(dst)
    report = combine(tmp_path / "src", dst, layout="people", progress=False, verbose=False)
    assert report.counts["already imported"] == 2 and report.counts["imported"] == 0
    assert tree_snapshot(dst) == before


def test_limit_with_seed_picks_a_reproducible_sample(tmp_path, files):
    for number in range(10):
        files.pair(tmp_path / "src", f"p{number}", size=(6, 6))

    def picked(name):
        combine(tmp_path / "src", tmp_path / name, layout="plain", limit=3, seed=5, progress=False, verbose=False)
        with open(tmp_path / name / "combine_log.csv", newline="") as handle:
            return sorted(row["source_image"] for row in csv.DictReader(handle))

    first = picked("a")
    assert len(first) == 3 and first == picked("b")
    report = combine(tmp_path / "src", tmp_path / "c", layout="plain", limit=3, progress=False, verbose=False)
    assert report.counts["selected"] == 3


def test_jpeg_masks_become_png_and_link_mode_links(tmp_path, files):
    files.pair(tmp_path / "src", "a", mask_ext=".jpg")
    combine((tmp_path / "src" / "images", tmp_path / "src" / "masks"), tmp_path / "dst", layout="plain",
            category="x", link=True, progress=False, verbose=False)
    assert (tmp_path / "dst" / "images" / "x_0001.jpg").is_symlink()
    mask = tmp_path / "dst" / "masks" / "x_0001.png"
    assert not mask.is_symlink() and Image.open(mask).format == "PNG"


def test_default_category_for_plain_is_the_folder_name(tmp_path, files):
    files.pair(tmp_path / "My Horses", "a")
    combine(tmp_path / "My Horses", tmp_path / "dst", layout="plain", progress=False, verbose=False)
    assert [p.name for p in (tmp_path / "dst" / "images").iterdir()] == ["My_Horses_0001.jpg"]


def test_errors_name_the_argument(tmp_path, files):
    files.pair(tmp_path / "src", "a")
    with pytest.raises(ValueError, match="layout"):
        combine(tmp_path / "src", tmp_path / "dst", layout="coco")
    with pytest.raises(FileNotFoundError, match="source.*DUTS-TR"):
        combine(tmp_path / "src", tmp_path / "dst", layout="duts")
    with pytest.raises(ValueError, match="limit"):
        combine(tmp_path / "src", tmp_path / "dst", layout="plain", limit=0)
