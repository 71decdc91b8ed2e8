"""The one dataset-index module: schema, reading, writing and pairing, shared by every tool, and
importable without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from RMBG.data import index as data_index
from RMBG.data.index import COLUMNS, pair_by_stem, read_index, write_index
from RMBG.paths import repo_root


def _row(image="images/a.jpg", mask="masks/a.png", split="train", **extra):
    return {"image": image, "mask": mask, "category": "a", "width": 4, "height": 3, "mask_width": 4,
            "mask_height": 3, "split": split, **extra}


def test_every_tool_uses_the_one_schema_reader_and_pairing():
    import Preprocess
    import Preprocess._common
    import RMBG.data
    import RMBG.data.synthetic
    import RMBG.evaluation.evaluate

    assert Preprocess.COLUMNS is COLUMNS and RMBG.data.synthetic.INDEX_COLUMNS is COLUMNS
    assert Preprocess.read_index is read_index and RMBG.data.read_index is read_index
    assert RMBG.evaluation.evaluate.read_index is read_index
    assert Preprocess._common.pair_by_stem is pair_by_stem and RMBG.evaluation.evaluate.pair_by_stem is pair_by_stem
    source = (repo_root() / "RMBG" / "data" / "pipeline.py").read_text()
    assert "from RMBG.data.index import" in source and "csv.DictReader" not in source


def test_imports_no_tensorflow():
    code = "import sys, RMBG.data.index, Preprocess.index; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root(), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_write_then_read_round_trip(tmp_path):
    csv_path = tmp_path / "lists" / "index.csv"
    rows = [_row(), _row(image=tmp_path / "images" / "b.jpg", mask=tmp_path / "masks" / "b.png", split="val")]
    write_index(csv_path, rows)
    text = csv_path.read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert "../images/b.jpg" in text and "\\" not in text  # absolute paths become relative, forward slashes
    index = read_index(csv_path)
    assert len(index) == 2 and index.splits == ("train", "val") and index.columns == COLUMNS
    assert index.rows[1].image_path == (tmp_path / "images" / "b.jpg").resolve()
    assert index.rows[0].image_path == csv_path.parent.resolve() / "images" / "a.jpg"
    assert index.rows[1].line == 3 and index.rows[0].name == "a" and index.rows[0].category == "a"
    assert [row.split for row in read_index(csv_path, "val")] == ["val"]
    frame = index.to_frame()
    assert tuple(frame.columns[: len(COLUMNS)]) == COLUMNS and frame["width"].tolist() == [4, 4]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_index(csv_path, rows)
    write_index(csv_path, rows[:1], overwrite=True)
    assert len(read_index(csv_path)) == 1


def test_bom_spaces_and_empty_paths(tmp_path):
    csv_path = tmp_path / "index.csv"
    csv_path.write_text("\ufeff image , mask ,split\n a.jpg , a.png ,train\n,b.png,train\n", encoding="utf-8")
    index = read_index(csv_path)
    assert [row.image for row in index] == ["a.jpg"]
    assert [(p.line, p.problem) for p in index.problems] == [(3, "row 3 of 'index.csv' has an empty image or mask path")]


def test_errors_name_the_csv_and_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="Preprocess.index"):
        read_index(tmp_path / "none.csv")
    no_split = tmp_path / "no_split.csv"
    no_split.write_text("image,mask\na.jpg,a.png\n")
    assert len(read_index(no_split)) == 1
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['split'\] \(needed to select rows by split\)"):
        read_index(no_split, "train")
    write_index(tmp_path / "i.csv", [_row()])
    with pytest.raises(ValueError, match=r"splits: \['test'\] matches no row .*splits present: \['train'\]"):
        read_index(tmp_path / "i.csv", "train,test")
    with pytest.raises(FileNotFoundError, match="2 file"):
        read_index(tmp_path / "i.csv", check_files=True)
    with pytest.raises(ValueError, match="split 'holdout' is not one of"):
        write_index(tmp_path / "j.csv", [_row(split="holdout")])
    with pytest.raises(ValueError, match=r"row 1 lacks the column\(s\) \['split'\]"):
        write_index(tmp_path / "k.csv", [{key: value for key, value in _row().items() if key != "split"}])
    assert not (tmp_path / "j.csv").exists() and not (tmp_path / "k.csv").exists()


def test_pairing_by_stem():
    images = [Path("i/a.jpg"), Path("i/b.jpg"), Path("i/b.png"), Path("i/c10.jpg"), Path("i/c2.jpg"), Path("i/lonely.jpg")]
    masks = [Path("m/a.png"), Path("m/b.png"), Path("m/c10.png"), Path("m/c2.png"), Path("m/orphan.png")]
    pairing = pair_by_stem(images, masks)
    assert [image.name for image, _ in pairing.pairs] == ["a.jpg", "c2.jpg", "c10.jpg"]  # natural order
    assert [p.name for p in pairing.orphan_images] == ["lonely.jpg"]
    assert [p.name for p in pairing.orphan_masks] == ["orphan.png"]
    assert [p.name for p in pairing.duplicates] == ["b.jpg", "b.png"]  # ambiguous: neither paired nor orphan
    assert list(pairing.duplicate_groups()) == ["i/b"]
    assert data_index.natural_key("img2") < data_index.natural_key("img10")
