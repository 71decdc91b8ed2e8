"""The Ray actor's work without Ray: what one actor writes, skips, journals and reports.

``RemovalActor`` is a plain callable that Ray Data runs; called directly here on four real photos
it must write what the single-process run writes, journal each output before it appears, skip
what exists and report bad entries, so the engine's logic is checked even where no Ray cluster
can start.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_same_cutout, require_asset
from PIL import Image

from RMBG.distributed.inputs import plan_inputs
from RMBG.distributed.journal import journal_dir, read_journals
from RMBG.distributed.predictor import prepare_artefact
from RMBG.distributed.worker import RemovalActor, mask_sha256
from RMBG.inference.folder_plan import OUTPUT_MARKER

PHOTOS = ("0003.jpg", "girl.png", "im_14.png", "whisk.png")

#: One level of 255: the actor runs the model on one thread, the single-process run on every
#: core; fp32 sums in another order can round a pixel to the next uint8 level (see test_ray_remove).
MASK_TOLERANCE = 1


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    require_asset("weights", "u2netp.onnx")
    source = require_asset("u2net_testdata", "images")
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        (folder / name).write_bytes((source / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


@pytest.fixture(scope="module")
def actor_and_artefact(photos):
    artefact = prepare_artefact("u2netp")
    return artefact


def _options(out, **changes):
    options = dict(format="rgba", bg_color=None, threshold=None, overwrite=False, post="none", post_options={},
                   max_pixels=120_000_000, batch_size=2, threads=1, workers=2, output_dir=str(out),
                   fingerprint="test-options", run="run-1")
    options.update(changes)
    return options


def _batch(plan, indices=None):
    indices = range(len(plan.inputs)) if indices is None else indices
    return {"input": np.array([plan.inputs[i] for i in indices], dtype=object),
            "output": np.array([str(plan.outputs[i]) for i in indices], dtype=object)}


def test_actor_writes_what_the_single_process_run_writes(photos, actor_and_artefact, tmp_path):
    from RMBG.inference.remover import Remover

    single = tmp_path / "single"
    report = Remover("u2netp", backend=actor_and_artefact.backend, batch_size=2).process_folder(photos, single, progress=False)
    out = tmp_path / "out"
    plan = plan_inputs(photos, out)
    actor = RemovalActor(actor_and_artefact, _options(out))
    result = actor(_batch(plan))
    status = dict(zip((str(p) for p in result["output"]), result["status"]))
    assert sorted(status.values()) == ["failed"] + ["written"] * len(PHOTOS)
    assert [p.name for p, _ in report.failed] == ["broken.jpg"]
    failed = [e for e, s in zip(result["error"], result["status"]) if s == "failed"]
    assert failed == [dict(report.failed)[photos / "broken.jpg"]]  # the single-process reason, word for word
    for written in report.written:
        ours = out / written.name
        image, reference = Image.open(ours), Image.open(written)
        assert image.text[OUTPUT_MARKER] == reference.text[OUTPUT_MARKER]  # marked as an output, like theirs
        assert_same_cutout(np.asarray(image), np.asarray(reference), MASK_TOLERANCE, written.name)
    for output, checksum, seconds in zip(result["output"], result["mask_sha256"], result["seconds"]):
        if checksum:
            assert checksum == mask_sha256(np.asarray(Image.open(output))[..., 3]) and seconds > 0

    journalled = read_journals(out, "test-options")
    assert set(journalled) == {str(p) for p, s in status.items() if s == "written"}
    assert all(journalled[o]["mask_sha256"] == c for o, c in zip(result["output"], result["mask_sha256"]) if c)
    assert read_journals(out, "other-options") == {}

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    again = actor(_batch(plan))  # a rerun: nothing read, nothing rewritten
    assert sorted(again["status"]) == ["failed"] + ["skipped"] * len(PHOTOS)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps
    lines = sum(1 for path in journal_dir(out).glob("*.jsonl") for _ in open(path))
    assert lines == len(PHOTOS)  # skipped outputs are not journalled again

    redo = RemovalActor(actor_and_artefact, _options(out, overwrite=True, format="mask", run="run-2"))
    assert sorted(redo(_batch(plan, [0]))["status"]) == ["written"]
    rows = [json.loads(line) for path in journal_dir(out).glob("*.jsonl") for line in open(path)]
    assert {row["run"] for row in rows} == {"run-1", "run-2"}
    assert np.asarray(Image.open(plan.outputs[0])).ndim == 2  # --overwrite redid it, as a mask
