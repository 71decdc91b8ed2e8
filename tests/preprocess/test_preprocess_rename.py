from __future__ import annotations

import csv

import pytest

from Preprocess.rename import RenameCollisionError, rename, undo
from preprocess_helpers import files, tree_snapshot  # noqa: F401  (pytest fixtures)


def test_rename_in_natural_order_keeps_content_and_writes_manifest(tmp_path, files, tree_snapshot):
    folder = tmp_path / "photos"
    for name in ("img10.jpg", "img2.PNG", "img1.jpg"):
        files.image(folder / name)
    before = tree_snapshot(folder)

    result = rename(folder, "horse", progress=False, verbose=False)

    after = tree_snapshot(folder)
    assert sorted(n for n in after if n.endswith((".jpg", ".png"))) == ["horse_0001.jpg", "horse_0002.png", "horse_0003.jpg"]
    assert after["horse_0001.jpg"] == before["img1.jpg"]
    assert after["horse_0002.png"] == before["img2.PNG"]
    assert after["horse_0003.jpg"] == before["img10.jpg"]
    with open(result.manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["folder"], r["old"], r["new"]) for r in rows] == [
        (".", "img1.jpg", "horse_0001.jpg"),
        (".", "img2.PNG", "horse_0002.png"),
        (".", "img10.jpg", "horse_0003.jpg"),
    ]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_dry_run_plans_but_changes_nothing(tmp_path, files, tree_snapshot, capsys):
    folder = tmp_path / "photos"
    files.image(folder / "a.jpg")
    files.image(folder / "b.jpg")
    before = tree_snapshot(tmp_path)

    result = rename(folder, "cat", dry_run=True, progress=False)

    assert tree_snapshot(tmp_path) == before
    assert result.manifest is None and result.dry_run
    assert [(o.name, n.name) for o, n in result.moves] == [("a.jpg", "cat_0001.jpg"), ("b.jpg", "cat_0002.jpg")]
    assert "a.jpg -> cat_0001.jpg" in capsys.readouterr().out


def test_chain_through_existing_names_is_safe_and_undo_restores(tmp_path, files, tree_snapshot):
    # x_1 -> x_2 while x_2 -> x_3: the target x_2 exists but is itself renamed away.
    folder = tmp_path / "photos"
    files.image(folder / "x_1.jpg")
    files.image(folder / "x_2.jpg")
    before = tree_snapshot(folder)

    result = rename(folder, "x", start=2, digits=1, progress=False, verbose=False)

    after = tree_snapshot(folder)
    assert after["x_2.jpg"] == before["x_1.jpg"] and after["x_3.jpg"] == before["x_2.jpg"]
    undo(result.manifest, progress=False, verbose=False)
    restored = tree_snapshot(folder)
    restored.pop(result.manifest.name)
    assert restored == before


def test_cycle_from_a_manifest_is_safe(tmp_path, files, tree_snapshot):
    folder = tmp_path / "photos"
    files.image(folder / "a.jpg")
    files.image(folder / "b.jpg")
    before = tree_snapshot(folder)
    manifest = tmp_path / "swap.csv"
    manifest.write_text("folder,old,new\nphotos,a.jpg,b.jpg\nphotos,b.jpg,a.jpg\n")

    undo(manifest, progress=False, verbose=False)  # b -> a and a -> b at the same time

    after = tree_snapshot(folder)
    assert after["a.jpg"] == before["b.jpg"] and after["b.jpg"] == before["a.jpg"]


def test_collision_with_a_file_not_being_renamed_moves_nothing(tmp_path, files, tree_snapshot):
    images, masks = tmp_path / "images", tmp_path / "masks"
    files.pair(tmp_path, "a")
    files.image(images / "horse_0001.jpg")  # no mask: left alone, but it holds a target name
    before = tree_snapshot(tmp_path)

    with pytest.raises(RenameCollisionError) as caught:
        rename(images, "horse", masks=masks, progress=False, verbose=False)

    assert "horse_0001.jpg" in str(caught.value) and "already exists" in str(caught.value)
    assert tree_snapshot(tmp_path) == before
    assert not list(images.glob("rename_manifest*"))


def test_collision_in_the_masks_folder_is_detected(tmp_path, files, tree_snapshot):
    files.pair(tmp_path, "a")
    files.mask(tmp_path / "masks" / "horse_0001.png")  # an unpaired mask holds the target name
    before = tree_snapshot(tmp_path)
    with pytest.raises(RenameCollisionError):
        rename(tmp_path / "images", "horse", masks=tmp_path / "masks", progress=False, verbose=False)
    assert tree_snapshot(tmp_path) == before


def test_lockstep_keeps_pairs_and_reports_unpaired(tmp_path, files, tree_snapshot):
    images, masks = tmp_path / "images", tmp_path / "masks"
    files.pair(tmp_path, "a")
    files.pair(tmp_path, "b", mask_ext=".bmp")
    files.image(images / "c.jpg")
    files.mask(masks / "d.png")
    before = tree_snapshot(tmp_path)

    result = rename(images, "dog", masks=masks, progress=False, verbose=False)

    after = tree_snapshot(tmp_path)
    assert after["images/dog_0001.jpg"] == before["images/a.jpg"]
    assert after["masks/dog_0001.png"] == before["masks/a.png"]
    assert after["images/dog_0002.jpg"] == before["images/b.jpg"]
    assert after["masks/dog_0002.bmp"] == before["masks/b.bmp"]  # the mask keeps its own extension
    assert "images/c.jpg" in after and "masks/d.png" in after  # unpaired: untouched
    problems = {(p.problem, p.file.rsplit("/", 1)[-1]) for p in result.report.problems}
    assert problems == {("orphan-image", "c.jpg"), ("orphan-mask", "d.png")}

    undo(result.manifest, progress=False, verbose=False)  # one manifest restores both folders
    restored = tree_snapshot(tmp_path)
    restored.pop(f"images/{result.manifest.name}")
    assert restored == before


def test_undo_refuses_when_an_original_name_was_taken(tmp_path, files, tree_snapshot):
    folder = tmp_path / "photos"
    files.image(folder / "a.jpg")
    result = rename(folder, "cat", progress=False, verbose=False)
    files.image(folder / "a.jpg")  # a new file now holds the original name
    before = tree_snapshot(folder)

    with pytest.raises(RenameCollisionError):
        undo(result.manifest, progress=False, verbose=False)
    assert tree_snapshot(folder) == before


def test_undo_refuses_when_a_renamed_file_is_gone(tmp_path, files):
    folder = tmp_path / "photos"
    files.image(folder / "a.jpg")
    files.image(folder / "b.jpg")
    result = rename(folder, "cat", progress=False, verbose=False)
    (folder / "cat_0002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="cat_0002.jpg"):
        undo(result.manifest, progress=False, verbose=False)
    assert (folder / "cat_0001.jpg").exists()  # nothing was moved


@pytest.mark.parametrize("category", ["", "a b", "../x", "_x"])
def test_bad_category_is_rejected_with_the_argument_name(tmp_path, files, category):
    files.image(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="category"):
        rename(tmp_path, category, progress=False, verbose=False)


def test_digits_too_small_is_rejected(tmp_path, files):
    for name in "abc":
        files.image(tmp_path / f"{name}.jpg")
    with pytest.raises(ValueError, match="digits"):
        rename(tmp_path, "cat", start=9, digits=1, progress=False, verbose=False)
