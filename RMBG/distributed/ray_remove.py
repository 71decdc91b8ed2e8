"""``remove_dataset``: batch background removal on Ray Data (local, a cluster, or KubeRay).

The driver plans every output name (the single-process rule), takes the output folder's lock,
deletes temporary files a killed run left, resolves the model once (exporting it to ONNX if the
cache lacks it) and streams the photo list through ``map_batches`` on a pool of
:class:`~RMBG.distributed.worker.RemovalActor` (one model session per actor). Rows carry paths
only, never pixels, so the object store holds a few kilobytes per batch; at most
``max_tasks_in_flight_per_actor`` batches wait at each actor (back-pressure). Results stream back
into the results manifest and the progress bar. Killed at any point (SIGKILL included), a rerun
with the same arguments finishes the set: outputs that exist are skipped before any work, the
others are written once, atomically. See ``docs/scale.md``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from RMBG.atomic import atomic_write
from RMBG.distributed.inputs import plan_inputs, stale_temporaries
from RMBG.distributed.journal import RunLock, read_journals
from RMBG.distributed.predictor import DISTRIBUTED_BACKENDS, prepare_artefact, ship
from RMBG.distributed.results import RESULTS_SUFFIXES, DatasetReport, ResultsWriter
from RMBG.distributed.worker import RESULT_COLUMNS, RemovalActor, options_fingerprint
from RMBG.inference.compose import check_compose_options
from RMBG.inference.image_io import DEFAULT_MAX_PIXELS
from RMBG.inference.postprocess import POSTPROCESSORS

log = logging.getLogger(__name__)

#: The results manifest's name inside the output folder (default).
RESULTS_NAME = "rmbg_results.csv"

#: Batches queued at each actor beyond the one it runs: keeps every actor busy while bounding
#: what waits in the object store.
TASKS_IN_FLIGHT_PER_ACTOR = 2


def _validate(batch_size, actors, cpus_per_actor, workers, format, bg_color, threshold, post, backend, results) -> None:
    for label, value in (("batch_size", batch_size), ("cpus_per_actor", cpus_per_actor), ("workers", workers)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{label}: expected a positive integer, got {value!r}")
    if actors is not None and (not isinstance(actors, int) or actors < 1):
        raise ValueError(f"actors: expected a positive integer or None (one per {cpus_per_actor} CPU(s) of the cluster), got {actors!r}")
    check_compose_options(format, bg_color, threshold)
    if post not in POSTPROCESSORS:
        raise ValueError(f"post: expected one of {sorted(POSTPROCESSORS)}, got {post!r}")
    if backend not in DISTRIBUTED_BACKENDS:
        raise ValueError(f"backend: the ray engine runs one of {DISTRIBUTED_BACKENDS}, got {backend!r}")
    if results is not None and Path(results).suffix.lower() not in RESULTS_SUFFIXES:
        raise ValueError(f"results: '{results}' must end in one of {RESULTS_SUFFIXES}")


def _connect(address: str | None) -> bool:
    """Join the running Ray (``ray.init`` done by the caller), the cluster at ``address``, or start a
    local instance. Returns whether this call started or joined it (and so must shut it down)."""
    if address is None and "ray" not in sys.modules:
        # A new local instance serves this machine only: bind the loopback address (Ray's switch,
        # read when ray is imported; without it Ray listens on the machine's network address).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray  # deferred: optional (ray); it reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER, set above, at import

    if ray.is_initialized():
        return False
    if address is None:
        # "local": always a new instance here, never a cluster some earlier process left a note of
        # (/tmp/ray/ray_current_cluster)
        ray.init(address="local", include_dashboard=False)
    else:
        ray.init(address=address)
    return True


def remove_dataset(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    model: Any = "u2netp",
    backend: str = "auto",
    precision: str = "fp32",
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    batch_size: int = 4,
    format: str = "rgba",
    bg_color=None,
    threshold: float | None = None,
    post: str = "none",
    post_options: dict | None = None,
    overwrite: bool = False,
    recursive: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    results: str | os.PathLike | None = None,
    progress: bool = True,
) -> DatasetReport:
    """Remove the backgrounds of a folder or a manifest of photos on Ray Data.

    Args:
        source: a folder, a ``.csv``/``.parquet`` manifest of local paths or ``pyarrow.fs`` URIs
            (``s3://``, ``gs://``, ``file://``, ...), or one image (see
            :func:`RMBG.distributed.inputs.plan_inputs`).
        output_dir: the output folder; on a cluster, a path every worker sees at the same place
            (a shared filesystem).
        model: a registry name, a ``.keras`` file or (onnxruntime) an exported ``.onnx`` file.
        backend: ``"auto"``, ``"onnxruntime"`` or ``"openvino"`` (the runtime artefact, built once on
            the driver and shipped to every actor; ``auto`` is resolved on the driver as in the
            single-process command) or ``"keras"`` (each actor builds the model: TensorFlow and
            the weights on every worker).
        precision: ``"fp32"``; ``"bf16"``/``"fp16"`` opt-in (OpenVINO).
        address: ``None`` (the running Ray if ``ray.init`` was called, else a new local one),
            ``"auto"`` (the cluster of ``ray start`` / ``ray job submit``) or ``"ray://host:10001"``.
        actors: model actors (``None``: the cluster's CPUs / ``cpus_per_actor``).
        cpus_per_actor: CPUs each actor reserves and its model's threads.
        batch_size: photos per model call.
        format, bg_color, threshold, post, post_options, overwrite, recursive, max_pixels,
            workers: as the single-process ``remove`` command (``workers``: decode/encode
            threads per actor).
        results: the results manifest (``.csv`` or ``.parquet``; default
            ``<output_dir>/rmbg_results.csv``).
        progress: show a progress bar.

    Returns:
        The report; ``report.summary()`` is what the CLI prints.

    Raises:
        ValueError: a bad option (the message names it), a bad manifest or colliding outputs.
        FileNotFoundError: ``source`` does not exist.
        RuntimeError: another run holds the output folder.
    """
    _validate(batch_size, actors, cpus_per_actor, workers, format, bg_color, threshold, post, backend, results)
    output = Path(output_dir).absolute()
    results_path = Path(results).absolute() if results is not None else output / RESULTS_NAME
    plan = plan_inputs(source, output, recursive=recursive)
    output.mkdir(parents=True, exist_ok=True)
    with RunLock(output):
        return _run(plan, output, results_path, dict(
            model=model, backend=backend, precision=precision, address=address, actors=actors, cpus_per_actor=cpus_per_actor,
            batch_size=batch_size, format=format, bg_color=bg_color, threshold=threshold, post=post,
            post_options=dict(post_options or {}), overwrite=overwrite, max_pixels=max_pixels, workers=workers,
            progress=progress,
        ))


def _run(plan, output: Path, results_path: Path, settings: dict) -> DatasetReport:
    import pyarrow as pa  # deferred: optional (pyarrow, the distributed extra) only when a run starts
    import ray  # deferred: optional (ray) only when a run starts
    import ray.data  # deferred: optional (ray) only when a run starts

    # Holding the lock, nothing else writes here: what atomic_write left from a killed run goes.
    for stale in stale_temporaries([*plan.outputs, results_path]):
        log.info("deleting %s, left by a run that was stopped while writing", stale)
        stale.unlink(missing_ok=True)
    artefact = prepare_artefact(settings["model"], settings["backend"], settings["precision"])
    fingerprint = options_fingerprint(f"{artefact.backend}:{artefact.precision}:{artefact.sha256 or artefact.model}", settings)
    done_before = read_journals(output, fingerprint)

    report = DatasetReport(results=results_path)
    inputs = {Path(entry).resolve() for entry in plan.inputs if "://" not in entry}
    rows_in, rows_out, pre_failed = [], [], list(plan.rejected)
    for entry, target in zip(plan.inputs, plan.outputs):
        if target.resolve() in inputs:
            pre_failed.append((entry, f"its output {target} would overwrite an input photo; choose another output folder"))
        else:
            rows_in.append(entry)
            rows_out.append(str(target))

    owns_ray = _connect(settings["address"])
    try:
        cpus = ray.cluster_resources().get("CPU", 1.0)
        actors = settings["actors"] or max(1, int(cpus // settings["cpus_per_actor"]))
        report.actors = actors
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours below, like the single-process command
        options = {
            "format": settings["format"], "bg_color": settings["bg_color"], "threshold": settings["threshold"],
            "overwrite": settings["overwrite"], "post": settings["post"], "post_options": settings["post_options"],
            "max_pixels": settings["max_pixels"], "batch_size": settings["batch_size"],
            "threads": settings["cpus_per_actor"], "workers": settings["workers"], "output_dir": str(output),
            "fingerprint": fingerprint, "run": uuid.uuid4().hex[:12],
        }
        # Two model batches per call: the second chunk's photos decode while the first runs.
        rows_per_call = 2 * settings["batch_size"]
        # Blocks small enough that every actor gets work, large enough to keep per-block overhead low.
        block = max(rows_per_call, min(1024, math.ceil(len(rows_in) / (4 * actors)) or 1))
        table = pa.table({"input": pa.array(rows_in, pa.string()), "output": pa.array(rows_out, pa.string())})
        blocks = [table.slice(start, block) for start in range(0, len(table), block)] or [table]
        started = time.perf_counter()
        dataset = ray.data.from_arrow(blocks).map_batches(
            RemovalActor,
            fn_constructor_kwargs={"artefact": ship(artefact), "options": options},
            batch_size=rows_per_call,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=TASKS_IN_FLIGHT_PER_ACTOR),
            num_cpus=settings["cpus_per_actor"],
        )

        def consume(handle) -> None:
            writer = ResultsWriter(handle, results_path.suffix.lower())
            if pre_failed:
                writer.write(_failed_columns(pre_failed))
                report.failed += pre_failed
            with tqdm(total=len(rows_in), unit="img", desc="removing backgrounds (ray)", disable=not settings["progress"]) as bar:
                if rows_in:
                    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                        columns = {name: list(batch[name]) for name in RESULT_COLUMNS}
                        _account(columns, done_before, report)
                        writer.write(columns)
                        bar.update(len(columns["input"]))
                        if not report.first_rows[1]:
                            report.first_rows = (time.perf_counter() - started, len(columns["input"]))
            writer.close()

        atomic_write(results_path, consume)
        report.seconds = time.perf_counter() - started
    finally:
        if owns_ray:
            ray.shutdown()
    return report


def _failed_columns(failed: list[tuple[str, str]]) -> dict[str, list]:
    return {"input": [s for s, _ in failed], "output": [""] * len(failed), "status": ["failed"] * len(failed),
            "error": [r for _, r in failed], "mask_sha256": [""] * len(failed), "seconds": [0.0] * len(failed)}


def _account(columns: dict[str, list], done_before: dict[str, dict], report: DatasetReport) -> None:
    """Count a batch of result rows into the report; fill skipped rows from the journal."""
    for index, status in enumerate(columns["status"]):
        if status == "written":
            report.written += 1
        elif status == "skipped":
            report.skipped += 1
            earlier = done_before.get(columns["output"][index])
            if earlier is not None:
                columns["mask_sha256"][index] = earlier["mask_sha256"]
                columns["seconds"][index] = float(earlier["seconds"])
        else:
            report.failed.append((columns["input"][index], columns["error"][index]))
