"""The TensorFlow-free runtime: artefacts built once and checked, engines against Keras, the
auto choice, opt-in precision, and entry points that never import TensorFlow."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import RMBG
from conftest import require_asset
from RMBG.inference.image_io import list_images, load_image
from RMBG.inference.remover import Remover
from RMBG.runtime import PrecisionUnsupportedError, choose_engine, find_artefact, load_engine, prepare
from RMBG.runtime.artefact import Artefact, artefact_key, check_artefact, StaleArtefactError
from RMBG.runtime.engines import engine_installed, openvino_capabilities

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def artefact():
    require_asset("weights", "u2netp.onnx")
    return prepare("u2netp", probes=2)  # two probe photos keep the build short in CI


@pytest.fixture(scope="module")
def photos():
    return [load_image(p) for p in list_images(require_asset("u2net_testdata", "images"))[:2]]


@pytest.fixture(scope="module")
def keras_remover():
    return Remover("u2netp", backend="keras")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def test_artefact_is_built_once_with_its_parity_record(artefact):
    metadata = artefact.metadata
    assert artefact.path.name == "model.onnx" and metadata["image_size"] == [320, 320]
    assert metadata["interpolation"] == "bilinear" and metadata["scaling"] == "image_max"
    assert metadata["size"] == artefact.path.stat().st_size
    record = metadata["parity"]
    assert record["photos"] == 2 and record["probe"].endswith("images")
    assert "onnxruntime" in record["engines"]
    entry = record["engines"]["onnxruntime"]["fp32"]
    # fp32 engines with different kernels: masks at 0.5 may differ only where the map is within
    # ~1e-4 of 0.5, a handful of pixels of 102,400.
    assert entry["iou_min"] >= 0.999 and entry["max_abs"] < 1e-3 and entry["ms_per_image"] > 0
    stamp = artefact.path.stat().st_mtime_ns
    again = prepare("u2netp")
    assert again.path == artefact.path and artefact.path.stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_key_follows_the_weights_and_needs_no_tensorflow_for_names(artefact, tmp_path):
    stem, key, source = artefact_key("u2netp")
    assert stem == "u2netp" and artefact.metadata["key"] == key and source.startswith("registry:u2netp:")
    assert artefact_key("u2netp") == (stem, key, source)
    assert artefact_key("u2net")[1] != key
    model = RMBG.create_model("u2netp", image_size=(32, 32))
    first = artefact_key(model)[1]
    bias = model.backbone.get_layer("outconv").weights[1]
    bias.assign(np.asarray(bias) + 1.0)
    assert artefact_key(model)[1] != first


def test_a_corrupt_or_stale_artefact_is_rebuilt_not_used(artefact, caplog, tmp_path):
    folder = artefact.path.parent
    copy = tmp_path / folder.name
    copy.mkdir()
    for name in ("model.onnx", "artefact.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    key = artefact.metadata["key"]
    assert check_artefact(copy, key).metadata["sha256"] == artefact.metadata["sha256"]
    with pytest.raises(StaleArtefactError, match="expected"):
        check_artefact(copy, "another-key")
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(StaleArtefactError, match="sha256"):
        check_artefact(copy, key)
    (copy / "model.onnx").write_bytes(bytes(data[:1000]))
    with pytest.raises(StaleArtefactError, match="bytes"):
        check_artefact(copy, key)
    (copy / "artefact.json").write_text("{not json")
    with pytest.raises(StaleArtefactError, match="unreadable"):
        check_artefact(copy, key)
    # the real cache: truncate, then find refuses it and prepare rebuilds it (a tiny model: fast)
    tiny = RMBG.create_model("u2netp", image_size=(32, 32))
    built = prepare(tiny, probes=1)
    built.path.write_bytes(built.path.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="RMBG.runtime.artefact"):
        assert find_artefact(tiny) is None
    assert "rebuilding" in caplog.text
    rebuilt = prepare(tiny, probes=1)
    assert rebuilt.path == built.path and rebuilt.path.stat().st_size > 1000
    assert check_artefact(rebuilt.path.parent, rebuilt.metadata["key"]).metadata["sha256"] == rebuilt.metadata["sha256"]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_engines_match_keras_through_the_remover(artefact, photos, keras_remover, backend):
    if not engine_installed(backend):
        pytest.skip(f"{backend} is not installed")
    remover = Remover("u2netp", backend=backend)
    assert remover.backend.name == backend and remover.image_size == (320, 320)
    for photo in photos:
        mask, reference = remover.predict_mask(photo), keras_remover.predict_mask(photo)
        assert mask.shape == reference.shape == photo.shape[:2] and mask.dtype == np.float32
        # fp32 on other kernels (oneDNN vs MLAS/OpenVINO): measured 8.3e-5 (AMD) and 1.85e-4 (Intel)
        # on the fused map; 1e-3 leaves 5x room and still catches any real graph difference.
        assert np.abs(mask - reference).max() < 1e-3
        assert _iou(mask, reference) >= 0.999


@pytest.mark.parametrize("scheme", ["shared", "per-core"])
def test_thread_schemes_give_the_same_masks(artefact, photos, scheme):
    engine = load_engine("u2netp", "onnxruntime", threads=2, scheme=scheme)
    batch = np.stack([_resize(p) for p in photos * 2])
    masks = engine.predict(batch)
    single = np.concatenate([engine.predict(batch[i:i + 1]) for i in range(len(batch))])
    assert masks.shape == (4, 320, 320)
    np.testing.assert_allclose(masks, single, atol=1e-5)


def _resize(photo: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(photo, (320, 320), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _fake(parity: dict) -> Artefact:
    return Artefact(Path("model.onnx"), {"parity": {"photos": 18, "engines": parity}, "image_size": [8, 8],
                                         "interpolation": "bilinear"})


def test_auto_takes_the_fastest_engine_that_matches_keras(monkeypatch):
    monkeypatch.setattr("RMBG.runtime.select.engine_installed", lambda name: True)
    good = {"iou_min": 0.999, "iou_mean": 1.0, "max_abs": 1e-4, "ms_per_image": 200.0, "import_s": 0.1, "load_s": 0.1}
    fast_but_wrong = {**good, "iou_min": 0.95, "ms_per_image": 50.0}
    name, reason = choose_engine(_fake({"onnxruntime": {"fp32": good}, "openvino": {"fp32": {**good, "ms_per_image": 150.0}}}))
    assert name == "openvino" and "150 ms" in reason and "onnxruntime 200 ms" in reason
    name, _ = choose_engine(_fake({"onnxruntime": {"fp32": good}, "openvino": {"fp32": fast_but_wrong}}))
    assert name == "onnxruntime"
    name, _ = choose_engine(_fake({"onnxruntime": {"fp32": good}, "openvino": {"fp32": {"error": "boom"}}}))
    assert name == "onnxruntime"
    with pytest.raises(RuntimeError, match="IoU min 0.9500.*--backend keras"):
        choose_engine(_fake({"onnxruntime": {"fp32": fast_but_wrong}, "openvino": {"fp32": fast_but_wrong}}))
    name, reason = choose_engine(_fake({}))
    assert name == "onnxruntime" and "no parity record" in reason


def test_auto_weighs_load_time_against_the_photo_count(monkeypatch, tmp_path):
    """A faster photo does not repay a slower start on a short run: 0.2 + n * 0.2 s against
    1.2 + n * 0.15 s crosses at n = 20."""
    from RMBG.benchmark.processes import chosen_engine

    monkeypatch.setattr("RMBG.runtime.select.engine_installed", lambda name: True)
    quick_load = {"iou_min": 0.999, "iou_mean": 1.0, "max_abs": 1e-4, "ms_per_image": 200.0, "import_s": 0.1, "load_s": 0.1}
    quick_photo = {**quick_load, "ms_per_image": 150.0, "import_s": 0.3, "load_s": 0.9}
    artefact = _fake({"onnxruntime": {"fp32": quick_load}, "openvino": {"fp32": quick_photo}})
    name, reason = choose_engine(artefact, images=18)
    assert reason.startswith("onnxruntime fp32: ")  # the benchmark's chosen_engine reads this prefix
    assert name == "onnxruntime" and "estimated for 18 photos" in reason and "3.80 s = 0.20 s import and load + 18 x 200 ms" in reason and "openvino 3.90 s" in reason
    log = Path(tmp_path) / "run.log"
    log.write_text(f"INFO RMBG.runtime.select: backend auto -> {reason}\n")
    assert chosen_engine(log) == "onnxruntime fp32"  # what the benchmark's engine column shows
    assert choose_engine(artefact, images=21)[0] == "openvino"
    assert choose_engine(artefact)[0] == "openvino"  # open-ended (server): per-photo time decides
    same = _fake({"onnxruntime": {"fp32": quick_load}, "openvino": {"fp32": quick_load}})
    assert choose_engine(same, images=18)[0] == "onnxruntime"  # a tie keeps the first engine
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="images"):
            choose_engine(artefact, images=bad)


def test_low_precision_is_opt_in_and_refused_where_unsupported(artefact, caplog):
    with pytest.raises(PrecisionUnsupportedError, match="fp32 only"):
        load_engine("u2netp", "onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="precision"):
        Remover("u2netp", backend="keras", precision="bf16")
    assert set(artefact.parity["onnxruntime"]) == {"fp32"}  # onnxruntime is never measured (or run) below fp32
    if not engine_installed("openvino"):
        pytest.skip("openvino is not installed")
    capabilities = openvino_capabilities()
    for precision, capability in (("bf16", "BF16"), ("fp16", "FP16")):
        if capability in capabilities:
            with caplog.at_level(logging.WARNING, logger="RMBG.runtime.select"):
                engine = load_engine("u2netp", "openvino", precision=precision)
            assert engine.precision == precision and f"{precision} (opt-in)" in caplog.text
        else:
            with pytest.raises(PrecisionUnsupportedError, match=f"{capability}.*--precision fp32"):
                load_engine("u2netp", "openvino", precision=precision)


def test_bad_models_and_files_are_refused_with_the_fix(artefact, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such .onnx file"):
        Remover(tmp_path / "missing.onnx")
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(require_asset("weights", "u2netp.onnx").read_bytes())
    with pytest.raises(ValueError, match="not exported by RMBG"):
        Remover(foreign)
    with pytest.raises(ValueError, match="neither a registered model"):
        Remover("no-such-model")
    with pytest.raises(ValueError, match="backend: expected one of auto"):
        Remover("u2netp", backend="cuda")
    with pytest.raises(ValueError, match="threads"):
        Remover("u2netp", threads=0)
    # an RMBG .onnx file runs as it is
    remover = Remover(artefact.path, backend="onnxruntime")
    assert remover.predict_mask(np.zeros((50, 70, 3), np.uint8)).shape == (50, 70)


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environment,
                          cwd=REPO)


NO_TF = "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))"


@pytest.mark.parametrize("entry", [
    "import RMBG; RMBG.list_models(); RMBG.model_info('u2netp'); RMBG.list_models(task='matting')",
    "from RMBG.cli import main; main(['models'])",
    "from RMBG.cli import build_parser; build_parser().format_help()",
    "from RMBG.registry import models_table; models_table(markdown=True)",
])
def test_entry_points_import_no_tensorflow(entry):
    result = _run(f"import sys; {entry}; {NO_TF}")
    assert result.returncode == 0, result.stderr[-3000:]


def test_remove_on_a_prepared_artefact_imports_no_tensorflow(artefact, tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    photo = list_images(require_asset("u2net_testdata", "images"))[0]
    (source / photo.name).write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    code = (f"import sys; from RMBG.cli import main; rc = main(['remove', '-i', {str(source)!r}, '-o', {str(out)!r}]);"
            f"{NO_TF}; sys.exit(rc)")
    result = _run(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend auto ->" in result.stderr
    assert (out / f"{photo.stem}.png").is_file()
    # the same through the Python API
    result = _run(f"import sys, RMBG, numpy as np; m = RMBG.remove(np.zeros((40, 30, 3), np.uint8), format='mask'); "
                  f"assert m.shape == (40, 30); {NO_TF}")
    assert result.returncode == 0, result.stderr[-3000:]


def test_prepare_command_reports_every_engine(artefact, capsys):
    from RMBG.cli import main

    assert main(["prepare", "u2netp"]) == 0
    out = capsys.readouterr().out
    assert "auto ->" in out and "onnxruntime fp32: IoU vs Keras fp32" in out
    metadata = json.loads((artefact.path.parent / "artefact.json").read_text())
    assert metadata["parity"]["cpu"]["model"]


def test_a_local_weight_file_gets_an_artefact_keyed_by_its_checksum(artefact, photos, tmp_path, capsys):
    """`prepare u2netp --weights FILE` exports it once; `remove --model u2netp --weights FILE` (backend
    auto) then runs that artefact without TensorFlow; another file content is another key. The file
    here holds the official bytes under another name, so its masks must equal the official artefact's."""
    from RMBG.checksums import file_sha256
    from RMBG.cli import main
    from RMBG.registry import ModelWithWeights

    mine = tmp_path / "my u2netp.onnx"
    official = require_asset("weights", "u2netp.onnx").read_bytes()
    mine.write_bytes(official)
    spec = ModelWithWeights.of("u2netp", mine)
    stem, key, source = artefact_key(spec)
    assert stem == "u2netp-my_u2netp" and source.startswith(f"weights:u2netp:{file_sha256(mine)}:")
    assert key != artefact.metadata["key"]  # never the registry name's artefact
    elsewhere = tmp_path / "elsewhere" / "other name.onnx"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(official)
    assert artefact_key(ModelWithWeights.of("u2netp", elsewhere))[1] == key  # the bytes decide, not the path

    assert main(["prepare", "u2netp", "--weights", str(mine)]) == 0
    assert "auto ->" in capsys.readouterr().out
    built = find_artefact(spec)
    assert built is not None and built.metadata["source"] == source and built.path.parent.name == f"{stem}-{key}"
    assert built.parity["onnxruntime"]["fp32"]["iou_min"] >= 0.999
    import cv2

    batch = np.stack([cv2.resize(photo, (320, 320), interpolation=cv2.INTER_LINEAR) for photo in photos]).astype(np.float32)
    np.testing.assert_allclose(load_engine(spec, "onnxruntime").predict(batch),
                               load_engine(artefact.path, "onnxruntime").predict(batch), atol=1e-6)

    source_folder, out = tmp_path / "images", tmp_path / "out"
    source_folder.mkdir()
    photo = list_images(require_asset("u2net_testdata", "images"))[0]
    (source_folder / photo.name).write_bytes(photo.read_bytes())
    code = (f"import sys; from RMBG.cli import main; rc = main(['remove', '-i', {str(source_folder)!r}, '-o', {str(out)!r}, "
            f"'--model', 'u2netp', '--weights', {str(mine)!r}]); {NO_TF}; sys.exit(rc)")
    result = _run(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend auto ->" in result.stderr and (out / f"{photo.stem}.png").is_file()

    changed = bytearray(official)
    changed[len(changed) // 2] ^= 0xFF
    mine.write_bytes(bytes(changed))  # the same path, edited: its artefact no longer applies
    assert artefact_key(ModelWithWeights.of("u2netp", mine))[1] != key
    assert find_artefact(ModelWithWeights.of("u2netp", mine)) is None
    assert main(["prepare", "u2netp", "u2net", "--weights", str(mine)]) == 2
    assert "--weights: applies to one registry model name" in capsys.readouterr().err
    assert main(["prepare", "u2netp", "--weights", str(tmp_path / "missing.pth")]) == 2
    assert "--weights: no such file" in capsys.readouterr().err


def test_the_server_serves_from_the_runtime_without_tensorflow(artefact, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    photo = list_images(require_asset("u2net_testdata", "images"))[0]
    code = (
        "import sys; from fastapi.testclient import TestClient;"
        "from RMBG.server.app import create_app; from RMBG.server.settings import ServerSettings;"
        "client = TestClient(create_app(ServerSettings(api_keys=('k' * 32,))));"
        "client.__enter__();"
        f"r = client.post('/api/removebg', headers={{'X-Api-Key': 'k' * 32}}, files={{'image_file': open({str(photo)!r}, 'rb')}});"
        "assert r.status_code == 200, r.text[:500];"
        f"{NO_TF}"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr[-3000:]
