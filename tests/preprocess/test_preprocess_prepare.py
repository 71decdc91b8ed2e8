from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from Preprocess import prepare_dataset
from Preprocess.index import COLUMNS
from Preprocess.validate import validate
from preprocess_helpers import files, tree_snapshot  # noqa: F401  (pytest fixtures)


def _source(tmp_path, files):
    images, masks = tmp_path / "src" / "photos", tmp_path / "src" / "labels"
    for number in range(8):
        files.image(images / f"pic{number}.jpg", (60, 40))
        files.mask(masks / f"pic{number}.jpg", (30, 20))  # lossy and half size, like the horse set
    return images, masks


def test_prepare_dataset_fixes_and_indexes(tmp_path, files, tree_snapshot):
    images, masks = _source(tmp_path, files)
    before = tree_snapshot(tmp_path / "src")
    root = tmp_path / "Data" / "pics"

    csv_path = prepare_dataset(images, masks, root, category="pic", limit=6, seed=0, progress=False, verbose=False)

    assert csv_path == root / "index.csv"
    assert tree_snapshot(tmp_path / "src") == before  # the source is only read
    frame = pd.read_csv(csv_path)
    assert tuple(frame.columns) == COLUMNS and len(frame) == 6
    assert frame["image"].str.match(r"^images/pic_\d{4}\.jpg$").all()
    assert frame["mask"].str.match(r"^masks/pic_\d{4}\.png$").all()
    assert (frame["width"] == frame["mask_width"]).all() and (frame["height"] == frame["mask_height"]).all()
    for mask in frame["mask"]:
        assert set(np.unique(np.asarray(Image.open(root / mask)))) <= {0, 255}
    assert validate(csv_path, progress=False, verbose=False).empty

    # prepared before: reused as is
    stamp = csv_path.stat().st_mtime_ns
    assert prepare_dataset(images, masks, root, category="pic", progress=False, verbose=False) == csv_path
    assert csv_path.stat().st_mtime_ns == stamp


def test_prepare_dataset_with_size(tmp_path, files):
    images, masks = _source(tmp_path, files)
    csv_path = prepare_dataset(images, masks, tmp_path / "d", category="pic", size=24, progress=False, verbose=False)
    frame = pd.read_csv(csv_path)
    assert len(frame) == 8
    assert (frame[["width", "height"]].max(axis=1) == 24).all()
    assert (frame["mask_width"] == frame["width"]).all() and (frame["mask_height"] == frame["height"]).all()
