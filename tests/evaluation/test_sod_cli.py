"""``python -m RMBG evaluate --pred-dir ...`` on tiny synthetic folders (the --model path is the lead's)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from RMBG.evaluation.cli import register


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rmbg")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", *argv])
    return args.func(args)


def _square(top: int, size: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[top : top + 12, top : top + 12] = 255
    return mask


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("pred", "gt", "images")}
    for path in paths.values():
        path.mkdir()
    for name, top in (("one", 4), ("two", 10)):
        Image.fromarray(_square(top)).save(paths["gt"] / f"{name}.png")
        Image.fromarray(_square(top)).save(paths["pred"] / f"{name}.png")
        Image.fromarray(np.stack([_square(top)] * 3, axis=-1)).save(paths["images"] / f"{name}.jpg")
    return paths


def test_pred_dir_against_a_masks_folder(folders, tmp_path, capsys):
    out = tmp_path / "report"
    code = _run(["--pred-dir", str(folders["pred"]), "--data", str(folders["gt"]), "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pred: scored 2 image(s)" in printed
    assert "boundary IoU" in printed and "1.0000" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["mae"] == 0.0 and summary["evaluated"] == 2
    for name in ("per_image.csv", "curves.csv", "pr_curve.png", "fmeasure_curve.png"):
        assert (out / name).is_file(), name


def test_bad_files_are_listed_and_the_exit_status_is_one(folders, tmp_path, capsys):
    (folders["pred"] / "two.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(_square(6)).save(folders["gt"] / "three.png")  # no prediction for it
    code = _run(["--pred-dir", str(folders["pred"]), "--data", str(folders["images"]), str(folders["gt"]),
                 "--name", "saved", "--no-hce", "--no-plots", "--quiet", "--out", str(tmp_path / "r")])
    assert code == 1
    captured = capsys.readouterr()
    assert "saved: scored 1 image(s)" in captured.out
    assert "HCE" not in captured.out
    assert "skipped 1 file(s):" in captured.err and "two:" in captured.err
    assert "masks without prediction: three.png" in captured.err
    assert not (tmp_path / "r" / "pr_curve.png").exists()
    with open(tmp_path / "r" / "per_image.csv", newline="") as handle:
        assert [row["name"] for row in csv.DictReader(handle)] == ["one"]


def test_pred_dir_with_an_index_csv_and_split(folders, tmp_path, capsys):
    index = tmp_path / "index.csv"
    index.write_text("image,mask,split\nimages/one.jpg,gt/one.png,test\nimages/two.jpg,gt/two.png,train\n")
    code = _run(["--pred-dir", str(folders["pred"]), "--data", str(index), "--split", "test", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "scored 1 image(s)" in captured.out
    assert "predictions without mask: two.png" in captured.err  # reported, but not a failure


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "a", "b", "c"], "--data: expected one index CSV or two folders"),
        (["--data", "{gt}", "--split", "test"], "split: 'test' only applies to an index CSV"),
        (["--data", "{missing}"], "does not exist"),
        (["--data", "{gt}", "--batch-size", "0"], "--batch-size must be a positive integer"),
    ],
)
def test_unusable_arguments_exit_with_two(folders, tmp_path, capsys, extra, message):
    extra = [item.format(gt=folders["gt"], missing=tmp_path / "missing.csv") for item in extra]
    assert _run(["--pred-dir", str(folders["pred"]), *extra, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_nothing_to_evaluate_exits_with_two(folders, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(["--pred-dir", str(empty), "--data", str(folders["gt"]), "--quiet"]) == 2
    assert "no pair could be evaluated" in capsys.readouterr().err


def test_model_and_pred_dir_are_exclusive(folders):
    with pytest.raises(SystemExit) as exit_info:
        _run(["--model", "u2netp", "--pred-dir", str(folders["pred"]), "--data", str(folders["gt"])])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        _run(["--data", str(folders["gt"])])  # neither given
