from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from Preprocess.index import index
from Preprocess.validate import validate
from preprocess_helpers import files, tree_snapshot  # noqa: F401  (pytest fixtures)

SIZE = (40, 30)


@pytest.fixture
def messy(tmp_path, files):
    """One file per problem kind, each under its own name."""
    root = tmp_path / "data"
    images, masks = root / "images", root / "masks"
    files.pair(root, "good_0001", SIZE)
    # a JPEG cut short
    files.image(images / "trunc_0001.jpg", (64, 64))
    data = (images / "trunc_0001.jpg").read_bytes()
    (images / "trunc_0001.jpg").write_bytes(data[: len(data) * 6 // 10])
    files.mask(masks / "trunc_0001.png", (64, 64))
    # not an image at all
    (images / "garbage_0001.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg" * 10)
    files.mask(masks / "garbage_0001.png", SIZE)
    # odd modes
    files.image(images / "cmyk_0001.jpg", SIZE, mode="CMYK")
    files.mask(masks / "cmyk_0001.png", SIZE)
    Image.fromarray(np.full((SIZE[1], SIZE[0]), 40000, np.uint16)).save(images / "gray16_0001.png")
    files.mask(masks / "gray16_0001.png", SIZE)
    cv2.imwrite(str(images / "rgb16_0001.png"), np.full((SIZE[1], SIZE[0], 3), 50000, np.uint16))
    files.mask(masks / "rgb16_0001.png", SIZE)
    files.image(images / "palette_0001.png", SIZE, mode="P")
    files.mask(masks / "palette_0001.png", SIZE)
    files.image(images / "alpha_0001.png", SIZE, mode="RGBA")
    files.mask(masks / "alpha_0001.png", SIZE)
    files.image(images / "colourmask_0001.jpg", SIZE)
    Image.open(files.mask(masks / "colourmask_0001.png", SIZE)).convert("RGB").save(masks / "colourmask_0001.png")
    # mask problems
    files.image(images / "lossy_0001.jpg", SIZE)
    files.mask(masks / "lossy_0001.jpg", SIZE)
    files.image(images / "small_0001.jpg", SIZE)
    files.mask(masks / "small_0001.png", (20, 15))
    files.image(images / "empty_0001.jpg", SIZE)
    files.mask(masks / "empty_0001.png", SIZE, fill="empty")
    files.image(images / "full_0001.jpg", SIZE)
    files.mask(masks / "full_0001.png", SIZE, fill="full")
    # partners missing
    files.image(images / "alone_0001.jpg", SIZE)
    files.mask(masks / "stray_0001.png", SIZE)
    return root


def _found_keys(frame):
    return [(name.rsplit("/", 1)[-1].split(".")[0], problem) for name, problem in zip(frame["file"], frame["problem"])]


def _found(frame):
    return set(_found_keys(frame))


def test_finds_each_problem_kind_and_changes_nothing(messy, tree_snapshot):
    before = tree_snapshot(messy)
    frame = validate(messy / "images", messy / "masks", progress=False, verbose=False)

    assert list(frame.columns) == ["file", "problem", "detail", "fixed"]
    found = _found(frame)
    expected = {
        ("trunc_0001", "truncated"),
        ("garbage_0001", "unreadable"),
        ("cmyk_0001", "mode"),
        ("gray16_0001", "mode"),
        ("rgb16_0001", "mode"),
        ("palette_0001", "mode"),
        ("alpha_0001", "mode"),
        ("colourmask_0001", "mode"),
        ("lossy_0001", "non-binary"),
        ("small_0001", "size-mismatch"),
        ("empty_0001", "empty-mask"),
        ("full_0001", "full-mask"),
        ("alone_0001", "orphan-image"),
        ("stray_0001", "orphan-mask"),
    }
    assert found == expected
    details = dict(zip(_found_keys(frame), frame["detail"]))
    assert "CMYK" in details[("cmyk_0001", "mode")]
    assert "16-bit" in details[("rgb16_0001", "mode")]
    assert "palette" in details[("palette_0001", "mode")]
    assert "alpha" in details[("alpha_0001", "mode")]
    assert "lossy JPEG" in details[("lossy_0001", "non-binary")] and "%" in details[("lossy_0001", "non-binary")]
    assert "mask 20x15, photo 40x30" in details[("small_0001", "size-mismatch")]
    assert (frame["fixed"] == "").all()
    assert tree_snapshot(messy) == before


def test_fixes_go_to_out_dir(messy, tree_snapshot):
    before = tree_snapshot(messy)
    out = messy.parent / "fixed"
    frame = validate(messy / "images", messy / "masks", fix_threshold=True, fix_size=True, out_dir=out,
                     progress=False, verbose=False)

    assert tree_snapshot(messy) == before
    lossy = np.asarray(Image.open(out / "lossy_0001.png"))
    assert set(np.unique(lossy)) == {0, 255} and lossy.shape == (30, 40)
    small = np.asarray(Image.open(out / "small_0001.png"))
    assert small.shape == (30, 40) and set(np.unique(small)) == {0, 255}
    colour = Image.open(out / "colourmask_0001.png")
    assert colour.mode == "L"
    fixed = frame[frame["fixed"] != ""]
    assert set(_found(fixed)) == {("lossy_0001", "non-binary"), ("small_0001", "size-mismatch"), ("colourmask_0001", "mode")}
    assert sorted(p.name for p in out.iterdir()) == ["colourmask_0001.png", "lossy_0001.png", "small_0001.png"]
    # an existing output is kept
    again = validate(messy / "images", messy / "masks", fix_threshold=True, out_dir=out, progress=False, verbose=False)
    assert "not-fixed" in set(again["problem"])


def test_fix_in_place_replaces_jpeg_masks_with_png(tmp_path, files):
    files.image(tmp_path / "images" / "a.jpg", SIZE)
    files.mask(tmp_path / "masks" / "a.jpg", (20, 15))
    validate(tmp_path / "images", tmp_path / "masks", fix_threshold=True, fix_size=True, in_place=True,
             progress=False, verbose=False)
    assert [p.name for p in (tmp_path / "masks").iterdir()] == ["a.png"]
    again = validate(tmp_path / "images", tmp_path / "masks", progress=False, verbose=False)
    assert again.empty


def test_fix_without_a_destination_is_refused(messy):
    with pytest.raises(ValueError, match="out_dir"):
        validate(messy / "images", messy / "masks", fix_threshold=True)
    with pytest.raises(ValueError, match="out_dir"):
        validate(messy / "images", messy / "masks", fix_size=True, out_dir=messy / "masks")


def test_validate_from_an_index_csv(tmp_path, files):
    files.pair(tmp_path, "ok_0001", SIZE)
    files.image(tmp_path / "images" / "soft_0001.jpg", SIZE)
    files.mask(tmp_path / "masks" / "soft_0001.jpg", SIZE)
    index(tmp_path / "images", tmp_path / "masks", tmp_path / "index.csv", split=(1, 0, 0), progress=False, verbose=False)
    frame = validate(tmp_path / "index.csv", progress=False, verbose=False)
    assert _found(frame) == {("soft_0001", "non-binary")}
    # an index's JPEG mask cannot become PNG in place (the CSV names it): reported, not changed
    fixed = validate(tmp_path / "index.csv", fix_threshold=True, in_place=True, progress=False, verbose=False)
    assert ("soft_0001", "not-fixed") in _found(fixed)
    assert (tmp_path / "masks" / "soft_0001.jpg").exists()


def test_photos_only_and_limit(messy):
    frame = validate(messy / "images", limit=3, progress=False, verbose=False)
    assert frame.attrs["report"].counts["images"] == 3
    assert not any(problem.endswith("mask") for problem in frame["problem"])
