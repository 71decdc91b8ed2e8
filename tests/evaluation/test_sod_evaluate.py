"""evaluate_folders / evaluate_predictions / evaluate_model on tiny synthetic folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from RMBG.evaluation.evaluate import (
    EvaluationError,
    evaluate_folders,
    evaluate_model,
    evaluate_predictions,
)
from RMBG.data.index import read_index


def _mask(size: int = 32, top: int = 8, extent: int = 16) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[top : top + extent, top : top + extent] = 255
    return mask


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _photo_from_mask(mask: np.ndarray) -> np.ndarray:
    """A photo whose red channel is the mask, so a fake model can recover it."""
    photo = np.zeros((*mask.shape, 3), dtype=np.uint8)
    photo[..., 0] = mask
    photo[..., 2] = 40
    return photo


def _fake_predict(rgb: np.ndarray) -> np.ndarray:
    """A 'model' that returns the red channel at half resolution (the evaluator resizes it back)."""
    return (rgb[::2, ::2, 0] > 127).astype(np.float32)


@pytest.fixture
def prediction_folders(tmp_path: Path) -> tuple[Path, Path]:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for name in ("a", "b", "c", "e"):
        _save(gt_dir / f"{name}.png", _mask())
    _save(pred_dir / "a.png", _mask())  # perfect
    _save(pred_dir / "b.jpg", _mask(size=64, top=16, extent=32))  # perfect, at twice the size, other format
    (pred_dir / "c.png").write_bytes(b"")  # empty file: a bad file
    _save(pred_dir / "d.png", _mask())  # no ground truth
    # e has no prediction
    return pred_dir, gt_dir


def test_evaluate_folders_pairs_by_stem_and_reports_the_rest(prediction_folders, tmp_path):
    pred_dir, gt_dir = prediction_folders
    result = evaluate_folders(pred_dir, gt_dir, tmp_path / "report", progress=False)
    assert [row["name"] for row in result.rows] == ["a", "b"]
    assert all(row["mae"] < 0.01 and row["biou"] == 1.0 for row in result.rows)
    assert [problem["name"] for problem in result.problems] == ["c"]
    assert "empty" in result.problems[0]["problem"]
    assert result.orphans == {"predictions_without_mask": ["d.png"], "masks_without_prediction": ["e.png"]}
    assert not result.complete
    assert result.summary["count"] == 2
    assert result.method == "pred"
    report = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert report["evaluated"] == 2
    assert report["skipped"][0]["name"] == "c"
    assert report["orphans"]["masks_without_prediction"] == ["e.png"]
    assert report["metrics"]["biou"] == 1.0
    assert set(result.files) == {"rows", "summary", "curves", "pr_plot", "fmeasure_plot"}
    assert all(path.is_file() for path in result.files.values())


def test_evaluate_folders_without_out_dir_writes_nothing(prediction_folders, tmp_path):
    pred_dir, gt_dir = prediction_folders
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = evaluate_folders(pred_dir, gt_dir, progress=False)
    assert result.files == {}
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_complete_run_and_ambiguous_stems(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    _save(gt_dir / "x.png", _mask())
    _save(pred_dir / "x.png", _mask())
    result = evaluate_folders(pred_dir, gt_dir, progress=False)
    assert result.complete and result.summary["mae"] == 0.0
    _save(pred_dir / "x.jpg", _mask())  # now two predictions share the stem x
    with pytest.raises(EvaluationError, match="share the stem 'x'"):
        evaluate_folders(pred_dir, gt_dir, progress=False)


def test_missing_folder_names_the_argument(tmp_path):
    (tmp_path / "gt").mkdir()
    with pytest.raises(FileNotFoundError, match="pred_dir: .*does not exist"):
        evaluate_folders(tmp_path / "nope", tmp_path / "gt")
    with pytest.raises(FileNotFoundError, match="gt_dir"):
        evaluate_folders(tmp_path / "gt", tmp_path / "nope")


def _dataset(tmp_path: Path) -> Path:
    """images/, masks/ and index.csv with 2 test rows, 1 train row and 1 test row whose photo is corrupt."""
    rows = []
    for name, split, top in (("t1", "test", 4), ("t2", "test", 10), ("tr", "train", 6)):
        mask = _mask(top=top)
        _save(tmp_path / "images" / f"{name}.png", _photo_from_mask(mask))  # lossless: exact edges
        _save(tmp_path / "masks" / f"{name}.png", mask)
        rows.append((f"images/{name}.png", f"masks/{name}.png", split))
    (tmp_path / "images" / "bad.jpg").write_bytes(b"not an image")
    _save(tmp_path / "masks" / "bad.png", _mask())
    rows.append(("images/bad.jpg", "masks/bad.png", "test"))
    index = tmp_path / "index.csv"
    with open(index, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "mask", "split"])
        writer.writerows(rows)
    return index


def test_evaluate_model_on_an_index_csv_with_split(tmp_path):
    index = _dataset(tmp_path)
    seen_shapes = []

    def predict(rgb):
        seen_shapes.append(rgb.shape)
        return _fake_predict(rgb)

    result = evaluate_model(predict, index, tmp_path / "out", split="test", method="fake", progress=False)
    assert [row["name"] for row in result.rows] == ["images/t1.png", "images/t2.png"]
    assert seen_shapes == [(32, 32, 3), (32, 32, 3)]  # photos arrive as HxWx3 uint8
    # Half-resolution masks come back blurred by one pixel (MAE 31.5 / 1024, see the protocol
    # test for the profile) but exact at 0.5, so the boundary IoU is 1.
    assert result.summary["biou"] == 1.0
    assert result.summary["mae"] == pytest.approx(31.5 / 1024, abs=2e-3)
    assert [problem["name"] for problem in result.problems] == ["images/bad.jpg"]
    assert "not a recognised image format" in result.problems[0]["problem"]
    assert not result.complete
    assert (tmp_path / "out" / "per_image.csv").is_file()
    every = evaluate_model(_fake_predict, index, split=None, progress=False)
    assert len(every.rows) == 3  # the train row too


def test_evaluate_model_on_two_folders_and_failing_predictions(tmp_path):
    _dataset(tmp_path)
    (tmp_path / "images" / "bad.jpg").unlink()
    _save(tmp_path / "images" / "lonely.png", _photo_from_mask(_mask()))  # photo without mask

    def flaky(rgb):
        if rgb[8, 8, 0] == 0:  # t2: its square starts at row/col 10
            raise RuntimeError("out of memory")
        if rgb[5, 5, 0] == 0:  # tr: its square starts at row/col 6
            return np.zeros((32, 32, 3), np.float32)  # wrong shape
        return _fake_predict(rgb)

    result = evaluate_model(flaky, (tmp_path / "images", tmp_path / "masks"), progress=False)
    problems = {problem["name"]: problem["problem"] for problem in result.problems}
    assert problems["t2"] == "prediction failed: RuntimeError: out of memory"
    assert "predict_fn returned shape (32, 32, 3)" in problems["tr"]
    assert result.orphans == {"images_without_mask": ["lonely.png"], "masks_without_image": ["bad.png"]}
    assert [row["name"] for row in result.rows] == ["t1"]


def test_evaluate_model_argument_errors(tmp_path):
    index = _dataset(tmp_path)
    with pytest.raises(ValueError, match=r"splits: \['val'\] matches no row .* splits present: \['test', 'train'\]"):
        evaluate_model(_fake_predict, index, split="val", progress=False)
    with pytest.raises(ValueError, match="split: 'test' only applies to an index CSV"):
        evaluate_model(_fake_predict, (tmp_path / "images", tmp_path / "masks"), split="test", progress=False)
    with pytest.raises(ValueError, match="is a folder"):
        evaluate_model(_fake_predict, tmp_path / "images", progress=False)
    with pytest.raises(TypeError, match="predict_fn"):
        evaluate_model("u2netp", index, progress=False)
    with pytest.raises(EvaluationError, match="no pair could be evaluated"):
        evaluate_model(lambda rgb: None, index, progress=False)
    bad_index = tmp_path / "bad.csv"
    bad_index.write_text("photo,mask\na.jpg,a.png\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['image'\]"):
        read_index(bad_index)
    with pytest.raises(ValueError, match="needed to select rows by split"):
        read_index(_no_split_csv(tmp_path), "test")
    assert len(read_index(_no_split_csv(tmp_path))) == 1  # without split= the column is optional


def _no_split_csv(tmp_path: Path) -> Path:
    path = tmp_path / "nosplit.csv"
    path.write_text("image,mask\nimages/t1.png,masks/t1.png\n")
    return path


def test_evaluate_predictions_with_an_index_csv(tmp_path):
    index = _dataset(tmp_path)
    pred_dir = tmp_path / "pred"
    _save(pred_dir / "t1.png", _mask(top=4))  # named after the photo's stem, as the remover does
    _save(pred_dir / "extra.png", _mask())
    result = evaluate_predictions(pred_dir, index, split="test", progress=False)
    assert [row["name"] for row in result.rows] == ["images/t1.png"]
    assert result.summary["mae"] == 0.0
    assert result.orphans == {
        "predictions_without_mask": ["extra.png"],
        "masks_without_prediction": ["bad.png", "t2.png"],
    }
    # (images_dir, masks_dir) uses the masks folder.
    both = evaluate_predictions(pred_dir, (tmp_path / "images", tmp_path / "masks"), progress=False)
    assert [row["name"] for row in both.rows] == ["t1"]
