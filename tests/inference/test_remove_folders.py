"""Folder runs that lose nothing: unique output names for any set of inputs, reruns that never take
earlier outputs as inputs, SIGINT that finishes the writes in flight, and a summary that counts
what was skipped (files that are not images, folders not entered, animated GIFs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import RMBG
from RMBG.inference.folder_plan import OUTPUT_MARKER, plan_output_names, plan_outputs
from RMBG.inference.remover import Remover


@pytest.fixture(scope="module")
def remover():
    return Remover(RMBG.create_model("u2netp", image_size=(32, 32)), backend="keras", batch_size=2)


def _photo(path: Path, seed: int = 0, size=(24, 18)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a.jpg", "a.png", "a.jpg.webp"], ["a.jpg.png", "a.png.png", "a.jpg.webp.png"]),  # the lost output
        (["a.png", "a.png.jpg", "a.jpg"], ["a.png.png", "a.png.jpg.png", "a.jpg.png"]),
        (["A.jpg", "a.jpg", "b.png"], ["A.jpg.png", "a.jpg~2.png", "b.png"]),  # case-insensitive file systems
        (["x.jpg", "y.png"], ["x.png", "y.png"]),
    ],
)
def test_output_names_are_unique_by_construction(names, expected):
    assert plan_output_names(names) == expected


def test_output_names_stay_unique_for_random_name_sets():
    rng = np.random.default_rng(0)
    parts = ["a", "A", "a.jpg", "a.png", "b", "a~2", "a.jpg~2"]
    for _ in range(300):
        names = sorted({str(rng.choice(parts)) + str(rng.choice([".jpg", ".png", ".webp", ".JPG", ".gif"]))
                        for _ in range(int(rng.integers(1, 8)))})
        reserved = [str(rng.choice(parts)) + ".png"] if rng.random() < 0.5 else []
        planned = plan_output_names(names, reserved)
        folded = [name.casefold() for name in planned]
        assert len(set(folded)) == len(folded), (names, planned)
        assert not set(folded) & {name.casefold() for name in reserved}, (names, reserved, planned)


def test_outputs_never_take_an_input_name_or_a_subfolder_name(tmp_path):
    inputs = [tmp_path / "x.png", tmp_path / "x.png.jpg", tmp_path / "sub.png" / "deep.jpg"]
    outputs = plan_outputs(inputs, tmp_path, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in outputs] == ["x.png.png", "x.png.jpg.png", "sub.png/deep.png"]
    outputs = plan_outputs([tmp_path / "sub.jpg", tmp_path / "sub" / "a.jpg"], tmp_path, tmp_path / "out")
    assert len({p.as_posix().casefold() for p in outputs}) == 2


def test_same_stem_folder_run_writes_one_output_per_input(remover, tmp_path):
    images = tmp_path / "images"
    for seed, name in enumerate(("a.jpg", "a.png", "a.jpg.webp")):
        _photo(images / name, seed)
    report = remover.process_folder(images, tmp_path / "out", progress=False)
    assert len(report.written) == 3 and not report.failed
    assert _tree(tmp_path / "out") == ["a.jpg.png", "a.jpg.webp.png", "a.png.png"]
    sources = {p.name: Image.open(p).text[OUTPUT_MARKER] for p in (tmp_path / "out").iterdir()}
    assert sources == {"a.jpg.png": "a.jpg", "a.png.png": "a.png", "a.jpg.webp.png": "a.jpg.webp"}


def test_process_paths_refuses_two_inputs_with_one_output(remover, tmp_path):
    a, b = _photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg", 1)
    with pytest.raises(ValueError, match="would both be written to"):
        remover.process_paths([a, b], [tmp_path / "o" / "x.png", tmp_path / "o" / "X.png"], progress=False)
    assert not (tmp_path / "o").exists()


def test_rerun_into_the_input_folder_takes_no_cutout_as_input(remover, tmp_path):
    folder = tmp_path / "d"
    _photo(folder / "cat.jpg")
    _photo(folder / "dog.png", 1)
    first = remover.process_folder(folder, folder, progress=False)
    assert sorted(p.name for p in first.written) == ["cat.png", "dog.png.png"] and not first.failed
    second = remover.process_folder(folder, folder, progress=False)
    assert not second.written and not second.failed and len(second.skipped) == 2
    assert sorted(p.name for p in second.earlier_outputs) == ["cat.png", "dog.png.png"]
    assert "2 earlier outputs left out" in second.summary()
    third = remover.process_folder(folder, folder, overwrite=True, progress=False)
    assert len(third.written) == 2 and _tree(folder) == ["cat.jpg", "cat.png", "dog.png", "dog.png.png"]


def test_recursive_rerun_does_not_enter_the_output_folder(remover, tmp_path):
    folder = tmp_path / "d"
    _photo(folder / "a.jpg")
    _photo(folder / "sub" / "b.jpg", 1)
    for _ in range(2):
        report = remover.process_folder(folder, folder / "out", recursive=True, progress=False)
        assert not report.failed
    assert _tree(folder / "out") == ["a.png", "sub/b.png"]  # no out/out/...
    assert any("output folder" in reason for _, reason in report.skipped_folders)


def test_summary_counts_files_that_are_not_images_and_notes_animated_gifs(remover, tmp_path):
    folder = tmp_path / "mixed"
    _photo(folder / "a.jpg")
    frames = [Image.fromarray(np.full((12, 16, 3), value, np.uint8)) for value in (30, 220, 90)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    for name in ("notes.txt", "data.csv", "clip.mp4"):
        (folder / name).write_text("x")
    report = remover.process_folder(folder, tmp_path / "out", progress=False)
    assert sorted(p.name for p in report.written) == ["a.png", "anim.png"]
    assert sorted(p.name for p in report.not_images) == ["clip.mp4", "data.csv", "notes.txt"]
    summary = report.summary()
    assert "3 not images" in summary
    assert "animated GIF (3 frames); its first frame was used" in summary


_SIGINT_SCRIPT = """
import json, os, signal, sys
import numpy as np
from PIL import Image
import RMBG
from RMBG.inference.remover import Remover

folder, out = sys.argv[1], sys.argv[2]
# A suite started in the background (`make test &`, nohup, CI runners) passes SIGINT down ignored,
# and Python then installs no KeyboardInterrupt handler: restore it, this test is about the handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
remover = Remover(RMBG.create_model("u2netp", image_size=(32, 32)), backend="keras", batch_size=2)
calls, predict = [], remover.predict_batch

def interrupted_on_the_third_batch(batch):
    calls.append(len(batch))
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT: Python raises KeyboardInterrupt here
    return predict(batch)

remover.predict_batch = interrupted_on_the_third_batch
report = remover.process_folder(folder, out, progress=False)
print(json.dumps({"interrupted": report.interrupted, "ok": report.ok, "written": [str(p) for p in report.written],
                  "not_processed": report.not_processed, "failed": len(report.failed), "summary": report.summary()}))
"""


def test_sigint_finishes_the_writes_in_flight_and_reports(tmp_path):
    # In its own process: a real SIGINT delivered while the test process also holds other
    # native runtimes' threads (OpenVINO, Ray) from earlier modules crashed that process.
    import json
    import subprocess
    import sys

    folder = tmp_path / "many"
    for index in range(8):
        _photo(folder / f"p{index}.jpg", index)
    result = subprocess.run([sys.executable, "-c", _SIGINT_SCRIPT, str(folder), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["interrupted"] and not report["ok"]
    assert len(report["written"]) == 4, "the two batches predicted before the signal are written"
    assert report["not_processed"] == 4 and not report["failed"]
    for path in report["written"]:
        assert Image.open(path).size == (24, 18)  # complete files
    assert _tree(tmp_path / "out") == sorted(Path(p).name for p in report["written"]), "no temporary or partial file"
    assert report["summary"].startswith("interrupted, 4 not processed")


def test_cli_exit_code_130_with_the_summary_on_sigint(remover, tmp_path, monkeypatch, capsys):
    from RMBG.inference import remover as remover_module
    from RMBG.inference.cli import default_output  # noqa: F401  (the module under test)
    from RMBG.cli import main

    folder = tmp_path / "images"
    for index in range(4):
        _photo(folder / f"p{index}.jpg", index)
    model_path = tmp_path / "tiny.keras"
    remover.backend.model.save(model_path)

    def fake_process_folder(self, *args, **kwargs):
        report = remover_module.RemovalReport(written=[tmp_path / "outputs" / "p0.png"])
        report.interrupted, report.not_processed = True, 3
        return report

    monkeypatch.setattr(remover_module.Remover, "process_folder", fake_process_folder)
    code = main(["remove", "-i", str(folder), "-m", str(model_path), "--backend", "keras"])
    assert code == 130
    assert "interrupted, 3 not processed; 1 written" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [({"threshold": float("nan")}, "threshold"), ({"threshold": 1.0}, "threshold"),
     ({"bg_color": "red"}, "applies to format 'color' only"), ({"bg_color": "nonsense", "format": "color"}, "bg_color"),
     ({"format": "jpeg"}, "format"), ({"workers": 0}, "workers")],
)
def test_api_options_are_checked_before_any_photo_is_read(remover, tmp_path, options, message):
    _photo(tmp_path / "in" / "a.jpg")
    with pytest.raises(ValueError, match=message):
        remover.process_folder(tmp_path / "in", tmp_path / "out", progress=False, **options)
    assert not (tmp_path / "out").exists()
