"""The real Weizmann horse set: JPEG masks of another size than their photos (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from Preprocess import prepare_dataset
from Preprocess.validate import validate

from conftest import require_asset

pytestmark = pytest.mark.assets


def test_validate_reports_the_horse_quirks_and_prepare_fixes_them(tmp_path):
    images, masks = require_asset("horse", "images"), require_asset("horse", "masks")

    raw = validate(images, masks, limit=10, progress=False, verbose=False)
    non_binary = raw[raw["problem"] == "non-binary"]
    assert len(non_binary) == 10 and non_binary["detail"].str.contains("lossy JPEG").all()
    assert (raw["problem"] == "size-mismatch").sum() >= 9

    csv_path = prepare_dataset(images, masks, tmp_path / "horse", category="horse", limit=10, progress=False, verbose=False)
    frame = pd.read_csv(csv_path)
    assert len(frame) == 10 and set(frame["category"]) == {"horse"}
    assert (frame["width"] == frame["mask_width"]).all() and (frame["height"] == frame["mask_height"]).all()
    for mask in frame["mask"]:
        assert set(np.unique(np.asarray(Image.open(csv_path.parent / mask)))) == {0, 255}
    assert validate(csv_path, progress=False, verbose=False).empty
