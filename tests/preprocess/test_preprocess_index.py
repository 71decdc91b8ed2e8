from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from Preprocess._common import Report
from Preprocess.index import COLUMNS, assign_splits, index, read_index
from preprocess_helpers import files  # noqa: F401  (pytest fixtures)


@pytest.fixture
def dataset(tmp_path, files):
    root = tmp_path / "data"
    for number in range(1, 13):
        files.pair(root, f"cat_{number:04d}", size=(12, 8))
    for number in range(1, 7):
        files.pair(root, f"dog_{number:04d}", size=(8, 12), image_ext=".png")
    files.image(root / "images" / "cat_0100.jpg", (12, 8))  # no mask
    files.mask(root / "masks" / "dog_0200.png", (8, 12))  # no image
    files.image(root / "images" / "odd_0001.jpg", (20, 10))
    files.mask(root / "masks" / "odd_0001.png", (10, 5))  # half the photo's size
    return root


def test_index_pairs_sizes_categories_and_relative_paths(dataset):
    frame = index(dataset / "images", dataset / "masks", dataset / "index.csv", progress=False, verbose=False)

    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 19
    assert Counter(frame["category"]) == {"cat": 12, "dog": 6, "odd": 1}
    assert set(frame["split"]) == {"train", "val", "test"}
    first = frame.iloc[0]
    assert (first["image"], first["mask"]) == ("images/cat_0001.jpg", "masks/cat_0001.png")
    assert (first["width"], first["height"], first["mask_width"], first["mask_height"]) == (12, 8, 12, 8)
    on_disk = pd.read_csv(dataset / "index.csv")
    assert tuple(on_disk.columns) == COLUMNS and on_disk["image"].tolist() == frame["image"].tolist()

    report = frame.attrs["report"]
    found = {(p.problem, p.file.rsplit("/", 1)[-1]) for p in report.problems}
    assert found == {("orphan-image", "cat_0100.jpg"), ("orphan-mask", "dog_0200.png"), ("size-mismatch", "odd_0001.jpg")}


def test_paths_are_relative_to_the_csv_folder(dataset):
    out = dataset / "meta" / "lists" / "index.csv"
    frame = index(dataset / "images", dataset / "masks", out, progress=False, verbose=False)
    assert frame["image"].str.startswith("../../images/").all()
    assert not frame["mask"].str.contains("\\\\", regex=False).any()
    resolved = read_index(out).to_frame()
    assert all(path.is_file() for path in resolved["image_path"]) and all(p.is_file() for p in resolved["mask_path"])


def test_split_is_seeded(dataset):
    def splits(seed, name):
        return index(dataset / "images", dataset / "masks", dataset / name, seed=seed, progress=False, verbose=False)["split"].tolist()

    assert splits(3, "a.csv") == splits(3, "b.csv")
    assert splits(3, "a2.csv") != splits(4, "c.csv")


def test_stratified_split_keeps_category_proportions():
    categories = ["cat"] * 40 + ["dog"] * 20
    labels = assign_splits(categories, (0.5, 0.25, 0.25), seed=1, stratify=True)
    counts = Counter(zip(categories, labels))
    assert counts == {("cat", "train"): 20, ("cat", "val"): 10, ("cat", "test"): 10,
                      ("dog", "train"): 10, ("dog", "val"): 5, ("dog", "test"): 5}


def test_stratified_index(dataset):
    frame = index(dataset / "images", dataset / "masks", dataset / "s.csv", split=(0.5, 0.25, 0.25),
                  stratify=True, category_from=lambda stem: stem.split("_")[0] if not stem.startswith("odd") else "cat",
                  progress=False, verbose=False)
    table = pd.crosstab(frame["category"], frame["split"])
    assert (table > 0).all().all()  # every split has both categories
    assert table.loc["dog"].sum() == 6 and table.loc["cat"].sum() == 13


def test_impossible_stratification_falls_back_and_says_so():
    report = Report("t")
    labels = assign_splits(["a"] * 9 + ["lonely"], (0.8, 0.1, 0.1), stratify=True, report=report)
    assert Counter(labels) == {"train": 8, "val": 1, "test": 1}
    assert any("stratified" in note for note in report.notes)


def test_existing_csv_is_not_overwritten(dataset):
    (dataset / "index.csv").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        index(dataset / "images", dataset / "masks", dataset / "index.csv", progress=False, verbose=False)
    assert (dataset / "index.csv").read_text() == "mine"
    index(dataset / "images", dataset / "masks", dataset / "index.csv", overwrite=True, progress=False, verbose=False)
    assert (dataset / "index.csv").read_text().startswith("image,mask,category")


@pytest.mark.parametrize("split", [(0.8, 0.1), (0.5, 0.5, 0.5), (0, 0.5, 0.5), (0.9, -0.1, 0.2)])
def test_bad_split_names_the_argument(dataset, split):
    with pytest.raises(ValueError, match="split"):
        index(dataset / "images", dataset / "masks", dataset / "x.csv", split=split, progress=False, verbose=False)


def test_category_from_folder(tmp_path, files):
    files.pair(tmp_path / "zebra", "img1")
    frame = index(tmp_path / "zebra" / "images", tmp_path / "zebra" / "masks", tmp_path / "i.csv",
                  category_from="folder", split=(1, 0, 0), progress=False, verbose=False)
    assert frame["category"].tolist() == ["zebra"] and frame["split"].tolist() == ["train"]


def test_ambiguous_stems_are_reported_not_paired(tmp_path, files):
    files.pair(tmp_path, "a_0001")
    files.image(tmp_path / "images" / "a_0001.png")  # a second photo with the same stem
    files.pair(tmp_path, "b_0001")
    frame = index(tmp_path / "images", tmp_path / "masks", tmp_path / "i.csv", split=(1, 0, 0), progress=False, verbose=False)
    assert frame["image"].tolist() == ["images/b_0001.jpg"]
    duplicates = frame.attrs["report"].problems_of("duplicate-stem")
    assert sorted(p.file.rsplit("/", 1)[-1] for p in duplicates) == ["a_0001.jpg", "a_0001.png"]


def test_index_names_the_file_that_is_bad_and_exits_non_zero(tmp_path, files, capsys):
    from Preprocess.__main__ import main

    for stem in ("good_0001", "badmask_0001", "truncated_0001", "empty_0001"):
        files.pair(tmp_path, stem)
    (tmp_path / "masks" / "badmask_0001.png").write_bytes(b"\x89PNG\r\n\x1a\n not a mask")  # the mask is corrupt
    photo = tmp_path / "images" / "truncated_0001.jpg"
    photo.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])  # the photo is truncated
    files.mask(tmp_path / "masks" / "empty_0001.png", fill="empty")
    frame = index(tmp_path / "images", tmp_path / "masks", tmp_path / "index.csv", split=(1, 0, 0),
                  progress=False, verbose=False)
    found = {(p.problem, p.file.rsplit("/", 1)[-1]) for p in frame.attrs["report"].problems}
    assert found == {("unreadable", "badmask_0001.png"), ("truncated", "truncated_0001.jpg"),
                     ("empty-mask", "empty_0001.png")}
    assert frame["image"].tolist() == ["images/empty_0001.jpg", "images/good_0001.jpg"]  # an empty mask stays
    code = main(["index", str(tmp_path / "images"), str(tmp_path / "masks"), str(tmp_path / "again.csv"),
                 "--split", "1", "0", "0", "--no-progress"])
    assert code == 1, "problems were reported"
    out = capsys.readouterr().out
    assert "badmask_0001.png: unreadable" in out and "empty_0001.png: empty-mask" in out


def test_clean_index_exits_zero(tmp_path, files):
    from Preprocess.__main__ import main

    files.pair(tmp_path, "a_0001")
    assert main(["index", str(tmp_path / "images"), str(tmp_path / "masks"), str(tmp_path / "i.csv"),
                 "--split", "1", "0", "0", "--no-progress"]) == 0
