"""Report files: per-image CSV, summary JSON, curves CSV, PNG plots and method overlays."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image

from RMBG.evaluation.reports import (
    compare_methods,
    fmeasure_figure,
    pr_figure,
    read_curves_csv,
    write_report,
    write_summary_json,
)
from RMBG.evaluation.sod_metrics import METRIC_KEYS, SODEvaluator


def _evaluator(shift: int) -> SODEvaluator:
    """Two images: a 16x16 square GT and a prediction shifted by ``shift`` pixels, plus a soft one."""
    gt = np.zeros((48, 48), dtype=np.float32)
    gt[16:32, 16:32] = 1.0
    shifted = np.roll(gt, shift, axis=1)
    soft = np.clip(gt * 0.7 + 0.2, 0, 1)
    evaluator = SODEvaluator()
    evaluator.update(shifted, gt, name="shifted")
    evaluator.update(soft, gt, name="soft")
    return evaluator


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_write_report_files_round_trip(tmp_path):
    evaluator = _evaluator(shift=2)
    summary = {"metrics": evaluator.summary(), "note": float("nan")}
    files = write_report(tmp_path / "run", evaluator.rows, summary, evaluator.curves(), method="shift2")
    assert set(files) == {"rows", "summary", "curves", "pr_plot", "fmeasure_plot"}

    with open(files["rows"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["name"] for row in rows] == ["shifted", "soft"]
    assert list(rows[0]) == ["name", "height", "width", *METRIC_KEYS]
    for written, original in zip(rows, evaluator.rows):
        for key in METRIC_KEYS:
            assert float(written[key]) == original[key]  # full precision

    loaded = json.loads(files["summary"].read_text())  # strict JSON: NaN became null
    assert loaded["note"] is None
    assert loaded["metrics"]["smeasure"] == evaluator.summary()["smeasure"]

    curves = read_curves_csv(tmp_path / "run")
    for key, values in evaluator.curves().items():
        assert np.array_equal(curves[key], values), key

    assert _png_size(files["pr_plot"]) == (720, 600)
    assert _png_size(files["fmeasure_plot"]) == (720, 600)
    assert not list((tmp_path / "run").glob(".*.part"))  # no temporary files left behind


def test_report_without_curves_writes_tables_only(tmp_path):
    files = write_report(tmp_path, [], {"metrics": {}}, None)
    assert set(files) == {"rows", "summary"}
    assert files["rows"].read_text().startswith("name,height,width,mae,")


def test_figures_overlay_every_method():
    curves = {"a": _evaluator(1).curves(), "b": _evaluator(4).curves()}
    pr_axes = pr_figure(curves).axes[0]
    assert [text.get_text() for text in pr_axes.get_legend().get_texts()] == ["a", "b"]
    assert len(pr_axes.lines) == 4  # one curve and one max-F marker per method
    np.testing.assert_array_equal(pr_axes.lines[2].get_xdata(), curves["b"]["recall"])
    f_axes = fmeasure_figure(curves).axes[0]
    labels = [text.get_text() for text in f_axes.get_legend().get_texts()]
    assert labels == [f"{name} (max {curves[name]['fmeasure'].max():.3f})" for name in ("a", "b")]
    np.testing.assert_array_equal(f_axes.lines[0].get_xdata(), np.arange(256))


def test_compare_methods_from_report_folders_and_curves(tmp_path):
    for name, shift in (("near", 1), ("far", 4)):
        evaluator = _evaluator(shift)
        write_report(tmp_path / name, evaluator.rows, {"metrics": evaluator.summary()}, evaluator.curves(), method=name)
    files = compare_methods(
        {"near": tmp_path / "near", "far": tmp_path / "far", "memory": _evaluator(2).curves()}, tmp_path / "cmp"
    )
    assert _png_size(files["pr_plot"]) == (720, 600)
    assert _png_size(files["fmeasure_plot"]) == (720, 600)
    with open(files["table"], newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["method"] for row in table] == ["near", "far"]  # in-memory curves carry no summary
    near, far = (float(row["biou"]) for row in table)
    assert near > far  # a 1-pixel shift keeps more of the boundary than a 4-pixel one


def test_report_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"lack \['recall'\]"):
        pr_figure({"x": {"precision": np.zeros(256), "fmeasure": np.zeros(256)}})
    with pytest.raises(FileNotFoundError, match="is not a report folder"):
        compare_methods({"x": tmp_path / "missing"}, tmp_path / "cmp")
    with pytest.raises(FileNotFoundError, match="no curves file"):
        read_curves_csv(tmp_path)
    path = write_summary_json({"inf": math.inf, "array": np.arange(3), "int": np.int64(4)}, tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"inf": None, "array": [0, 1, 2], "int": 4}
