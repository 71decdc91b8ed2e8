"""``python -m RMBG remove`` checks every option before any model loads: one clear line naming the
flag, exit status 2, no traceback, no TensorFlow, well under a second."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from RMBG.cli import main
from RMBG.paths import repo_root


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    return folder


def _files(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive")
    no_config = tmp_path / "no_config.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("model.weights.h5", b"")
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    onnx = tmp_path / "model.onnx"  # only its existence is checked before loading
    onnx.write_bytes(b"x")
    segmenter_onnx = tmp_path / "segmenter.onnx"  # an RMBG export, of a segmenter: not what --post-weights takes
    segmenter_onnx.write_bytes(_onnx_with_metadata({"model": "u2netp", "layout": "segmenter"}))
    return {"garbage": garbage, "no_config": no_config, "file": a_file, "onnx": onnx, "segmenter_onnx": segmenter_onnx}


def _onnx_with_metadata(metadata: dict) -> bytes:
    """A one-node ONNX model carrying RMBG's export metadata (what --post-weights reads up front)."""
    import json

    from onnx import TensorProto, helper

    from RMBG.export.metadata import METADATA_KEY

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    proto = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    return proto.SerializeToString()


BAD_OPTIONS = [
    (["--threshold", "2"], "--threshold"),
    (["--threshold", "-1"], "--threshold"),
    (["--threshold", "nan"], "--threshold"),
    (["--bg-color", "nonsense"], "--bg-color"),
    (["--bg-color", "nonsense", "--format", "color"], "--bg-color: cannot parse 'nonsense'"),
    (["--bg-color", "red"], "--bg-color: applies to --format color only"),  # would be ignored with rgba
    (["--trimap-threshold", "2", "--post", "trimap-cf"], "--trimap-threshold"),
    (["--trimap-dilation", "-5", "--post", "trimap-cf"], "--trimap-dilation"),
    (["--trimap-dilation", "-5"], "--trimap-dilation: applies to --post"),
    (["--trimap-erosion", "3"], "--trimap-erosion: applies to --post"),
    (["--foreground-estimation"], "--foreground-estimation"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--workers", "0"], "--workers"),
    (["--threads", "0"], "--threads"),
    (["--backend", "nope"], "--backend"),
    (["--precision", "fp8"], "--precision"),
    (["--model", "does_not_exist"], "neither a registered model"),
    (["--model", "matting_net"], "not a segmentation model"),
    (["--model", "resnet50_unet"], "has no pretrained weights"),
    (["--model", "{tmp}/missing.keras"], "no such file"),
    (["--model", "{garbage}"], "not a zip archive"),
    (["--model", "{no_config}"], "holds no config.json"),
    (["--model", "{tmp}/missing.onnx"], "no such file"),
    (["--model", "tracer_b7", "--weights", "{tmp}/missing.pth"], "--weights: no such file '{tmp}/missing.pth'"),
    (["--model", "{onnx}", "--weights", "{file}"], "--weights: applies to a registry model name"),
    (["--model", "resnet50_unet", "--weights", "{file}"], "--weights: model 'resnet50_unet' (family resnet50_unet) has no weight importer"),
    (["--post", "fba", "--post-weights", "{file}"], "--post-weights: '{file}' is a '.txt' file; FBA takes .pth"),
    (["--post", "fba", "--post-weights", "{onnx}"], "--post-weights: cannot read '{onnx}' as an RMBG export"),
    (["--post", "fba", "--post-weights", "{segmenter_onnx}"], "is an RMBG export of layout 'segmenter', not FBA's"),
    (["-o", "{file}"], "exists and is not a folder"),
    (["-o", "{file}/sub"], "is a file, not a folder"),
]


@pytest.mark.parametrize(("options", "expected"), BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_option_is_one_clear_line_and_exit_2(options, expected, photos, tmp_path, capsys):
    names = {key: str(path) for key, path in _files(tmp_path).items()} | {"tmp": str(tmp_path)}
    argv = ["remove", "-i", str(photos), *(option.format(**names) for option in options)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected.format(**names) in lines[0], captured.err
    assert lines[0].startswith("python -m RMBG remove: error: ") and "Traceback" not in captured.err
    assert not (photos.parent / "outputs").exists() and captured.out == ""


def test_missing_input_is_one_line(tmp_path, capsys):
    assert main(["remove", "-i", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"python -m RMBG remove: error: input: '{tmp_path / 'missing'}' does not exist; pass a photo or a folder of photos"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_is_refused(photos, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        assert main(["remove", "-i", str(photos), "-o", str(locked / "out")]) == 2
    finally:
        os.chmod(locked, 0o700)
    assert "is not writable" in capsys.readouterr().err


CHECK_IN_A_FRESH_PROCESS = """
import json, os, sys, time
from RMBG.cli import main
folder, cases = sys.argv[1], json.loads(sys.argv[2])
codes = [main(["remove", "-i", folder, *case]) for case in cases]
print(json.dumps({"codes": codes, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                  "cpu": time.process_time()}))
"""


def test_validation_imports_no_tensorflow_and_costs_well_under_a_second(photos):
    cases = [["--threshold", "nan"], ["--backend", "nope"], ["--model", "matting_net"], ["--model", "does_not_exist"]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", CHECK_IN_A_FRESH_PROCESS, str(photos), json.dumps(cases)],
                          capture_output=True, text=True, cwd=repo_root(), timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["codes"] == [2, 2, 2, 2]
    assert not result["tensorflow"] and not result["keras"], "validation must not import TensorFlow or Keras"
    # CPU seconds, not wall time: the CI runner is shared, wall time varies with its load. Start-up
    # plus four refusals cost ~0.4 s of CPU on the 2-core CI machine; TensorFlow alone costs ~4 s.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu < 1.0, f"{cpu:.2f} s of CPU for start-up and four refused commands"
