"""The distributed engine's pieces that need no Ray and no model: planning, journal, lock, results, CLI checks."""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from RMBG.distributed.inputs import (
    is_uri,
    plan_inputs,
    read_manifest,
    stale_temporaries,
)
from RMBG.distributed.journal import Journal, RunLock, journal_dir, read_journals
from RMBG.distributed.results import DatasetReport, ResultsWriter
from RMBG.distributed.worker import RESULT_COLUMNS, mask_sha256


def _photo(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(path)
    return path


def test_folder_plan_names_outputs_like_the_single_process_run(tmp_path):
    from RMBG.inference.folder_plan import OUTPUT_MARKER, gather_inputs, plan_outputs
    from RMBG.inference.image_io import save_image

    inputs = tmp_path / "in"
    for name in ("a.jpg", "a.png", "b.png", "sub/c.png"):
        _photo(inputs / name)
    save_image(inputs / "out" / "b.png", np.zeros((4, 4, 4), np.uint8), text={OUTPUT_MARKER: "b.png"})  # an earlier output
    plan = plan_inputs(inputs, inputs / "out", recursive=True)
    single = gather_inputs(inputs, inputs / "out", recursive=True)  # what Remover.process_folder runs
    assert [Path(p) for p in plan.inputs] == [p.absolute() for p in single.inputs]
    assert list(plan.outputs) == plan_outputs(single.inputs, single.root, inputs / "out")
    assert {p.name for p in plan.outputs} == {"a.jpg.png", "a.png.png", "b.png", "c.png"}  # same stem: both kept
    assert all("out" not in Path(p).relative_to(inputs).parts for p in plan.inputs)  # never its own outputs


def test_manifest_entries_relative_uri_blank_and_duplicate(tmp_path):
    photo = _photo(tmp_path / "data" / "x" / "one.png")
    other = _photo(tmp_path / "data" / "y" / "two.png", 1)
    manifest = tmp_path / "data" / "list.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "path"])
        for index, entry in enumerate(["x/one.png", other.as_uri(), "", "x/one.png"]):
            writer.writerow([index, entry])
    assert read_manifest(manifest) == [str(photo), other.as_uri(), "", str(photo)]
    plan = plan_inputs(manifest, tmp_path / "out")
    assert plan.inputs == (str(photo), other.as_uri())  # the duplicate is listed once
    assert plan.outputs == (tmp_path / "out" / "x" / "one.png", tmp_path / "out" / "y" / "two.png")
    assert plan.rejected == (("list.csv: entry 3", "the manifest entry is blank"),)
    assert is_uri("s3://bucket/a.jpg") and is_uri("file:///a.jpg") and not is_uri("C:/a.jpg") and not is_uri("/a/b.jpg")


def test_parquet_manifest_and_unusable_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    photo = _photo(tmp_path / "p.png")
    pq.write_table(pa.table({"uri": [str(photo)]}), tmp_path / "m.parquet")
    assert plan_inputs(tmp_path / "m.parquet", tmp_path / "out").outputs == (tmp_path / "out" / "p.png",)
    pq.write_table(pa.table({"a": ["x"], "b": ["y"]}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"columns \['a', 'b'\].*input"):
        read_manifest(tmp_path / "bad.parquet")
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        plan_inputs(tmp_path / "absent", tmp_path / "out")


def test_stale_temporaries_are_those_atomic_write_leaves_for_planned_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.png.k2j_x9.part").write_bytes(b"half")  # atomic_write's temporary for a.png
    (out / ".other.png.abc.part").write_bytes(b"x")    # not a planned output: left alone
    (out / "a.png.part").write_bytes(b"x")             # not hidden: not ours
    assert stale_temporaries([out / "a.png", out / "b.png", tmp_path / "nowhere" / "c.png"]) == [out / ".a.png.k2j_x9.part"]


def test_journal_keeps_the_latest_line_of_these_options_and_ignores_a_cut_line(tmp_path):
    first, second = Journal(tmp_path, "opts", "run1"), Journal(tmp_path, "opts", "run2")
    first.append("in/a.jpg", str(tmp_path / "a.png"), "aa", 1.5)
    second.append("in/a.jpg", str(tmp_path / "a.png"), "bb", 2.0)
    Journal(tmp_path, "other-options", "run3").append("in/b.jpg", str(tmp_path / "b.png"), "cc", 1.0)
    first.close(), second.close()
    cut = sorted(journal_dir(tmp_path).glob("*.jsonl"))[0]
    with open(cut, "a") as handle:
        handle.write('{"input": "in/c.jpg", "output": "c.pn')  # a writer killed mid-line
    found = read_journals(tmp_path, "opts")
    assert set(found) == {str(tmp_path / "a.png")}
    assert found[str(tmp_path / "a.png")]["mask_sha256"] == "bb"  # the later line, whichever file it is in
    assert read_journals(tmp_path / "none", "opts") == {}


def _try_lock(folder: str, queue) -> None:
    try:
        RunLock(folder).acquire()
        queue.put("acquired")
    except RuntimeError as error:
        queue.put(str(error))


def test_run_lock_keeps_a_second_driver_out_until_the_first_is_gone(tmp_path):
    context = multiprocessing.get_context("spawn")
    with RunLock(tmp_path):
        queue = context.Queue()
        process = context.Process(target=_try_lock, args=(str(tmp_path), queue))
        process.start()
        message = queue.get(timeout=60)
        process.join(timeout=60)
        assert "another run (pid" in message and str(tmp_path) in message
    process = context.Process(target=_try_lock, args=(str(tmp_path), queue))
    process.start()
    assert queue.get(timeout=60) == "acquired"
    process.join(timeout=60)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_results_writer_streams_rows(tmp_path, suffix):
    from RMBG.atomic import atomic_write

    rows = {"input": ["a.jpg", "b.jpg"], "output": ["o/a.png", ""], "status": ["written", "failed"],
            "error": ["", "no such file"], "mask_sha256": ["ab" * 32, ""], "seconds": [0.25, 0.0]}

    def write(handle):
        writer = ResultsWriter(handle, suffix)
        writer.write({k: v[:1] for k, v in rows.items()})
        writer.write({k: v[1:] for k, v in rows.items()})
        writer.close()

    target = atomic_write(tmp_path / f"results{suffix}", write)
    if suffix == ".csv":
        with open(target, newline="") as handle:
            read = list(csv.DictReader(handle))
        assert [list(r) for r in read][0] == list(RESULT_COLUMNS)
        assert [r["status"] for r in read] == ["written", "failed"] and read[1]["error"] == "no such file"
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(target).to_pydict() == rows
    assert not list(tmp_path.glob(".*.part"))


def test_mask_checksum_depends_on_values_and_shape():
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert mask_sha256(mask) == mask_sha256(mask.copy())
    assert mask_sha256(mask) != mask_sha256(mask.reshape(4, 3))
    assert mask_sha256(mask) != mask_sha256(mask + 1)


def test_report_summary_counts_and_caps_failures():
    report = DatasetReport(written=3, skipped=1, failed=[(f"f{i}.jpg", "corrupt") for i in range(55)],
                           results=Path("out/rmbg_results.csv"), seconds=2.0, actors=2)
    text = report.summary()
    assert text.startswith("3 written, 1 skipped (output exists; --overwrite to redo), 55 failed")
    assert text.count("FAILED") == 50 and "and 5 more failures" in text
    assert "59 photos in 2.0 s (1.50 img/s) on 2 Ray actors" in text and not report.ok


def _args(tmp_path, **values) -> argparse.Namespace:
    defaults = {"engine": "local", "ray_address": None, "actors": None, "results": None, "backend": "auto",
                "weights": None, "input": tmp_path}
    return argparse.Namespace(**{**defaults, **values})


def test_cli_engine_options_are_checked_before_anything_loads(tmp_path):
    from RMBG.distributed.cli import check_args

    check_args(_args(tmp_path))
    check_args(_args(tmp_path, engine="ray", actors=2, results=tmp_path / "r.parquet"))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\n")
    cases = [
        (_args(tmp_path, actors=2), "--actors: applies to --engine ray only"),
        (_args(tmp_path, ray_address="auto"), "--ray-address: applies to --engine ray only"),
        (_args(tmp_path, input=manifest), "is a manifest; manifests are read by --engine ray"),
        (_args(tmp_path, engine="ray", actors=0), "--actors: expected a positive integer"),
        (_args(tmp_path, engine="ray", results=tmp_path / "r.json"), "--results: .* must end in one of .csv, .parquet"),
        (_args(tmp_path, engine="ray", backend="tflite"), "--backend: --engine ray runs auto, onnxruntime, openvino, keras"),
        (_args(tmp_path, engine="ray", weights=tmp_path / "w.pth"), "--weights: not with --engine ray"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            check_args(args)


def test_the_package_imports_neither_ray_nor_tensorflow():
    import subprocess
    import sys

    code = ("import sys, RMBG.distributed, RMBG.distributed.ray_remove, RMBG.distributed.cli; "
            "print(json.dumps(sorted(m for m in ('ray', 'tensorflow', 'keras') if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
