"""The model inside each Ray actor: one artefact resolved on the driver, one predictor per actor.

The driver resolves the model once (:func:`prepare_artefact`): the runtime artefact of
:mod:`RMBG.runtime` (an ONNX file exported from the Keras model, built now if the cache lacks
it) and the concrete engine ``--backend auto`` picks from the artefact's parity record, so every
actor runs what the single-process command would run. :func:`ship` puts the file's bytes in
Ray's object store, so workers that do not share the driver's disk get the very same file. Each
actor then calls :func:`make_predictor` once, in its constructor: the session is loaded once per
actor, never per batch. :func:`make_predictor` is the single place that decides what runs the
model.

Imports neither Ray nor TensorFlow at import time.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from RMBG.atomic import atomic_write_bytes
from RMBG.checksums import file_sha256
from RMBG.inference.backends import check_backend_options
from RMBG.inference.remover import Remover
from RMBG.paths import cache_dir
from RMBG.runtime.select import choose_engine, resolve_artefact

log = logging.getLogger(__name__)

#: What ``backend`` may be for a distributed run; the runtime ones ship the artefact, ``keras``
#: builds the model on every worker (TensorFlow there).
DISTRIBUTED_BACKENDS = ("auto", "onnxruntime", "openvino", "keras")



@dataclass(frozen=True)
class ModelArtefact:
    """The model as the actors receive it.

    Attributes:
        backend: the concrete engine (``"onnxruntime"``, ``"openvino"``) or ``"keras"``.
        model: for an engine, the ``.onnx`` file's path on the driver; for keras, the registry
            name or ``.keras`` path (each worker resolves it: its weights cache or the same path).
        precision: ``"fp32"`` or an opt-in low precision (OpenVINO).
        sha256: the ``.onnx`` file's checksum (engines).
        data: ``[ObjectRef]`` of the file's bytes in the object store (a list, so that Ray hands
            the reference to the actor's constructor instead of resolving it eagerly: a worker
            that sees the driver's file never fetches the bytes).
    """

    backend: str
    model: str
    precision: str = "fp32"
    sha256: str = ""
    data: list = field(default_factory=list)


def prepare_artefact(model: Any, backend: str = "auto", precision: str = "fp32") -> ModelArtefact:
    """Resolve ``model`` and ``backend`` on the driver (building the runtime artefact if needed).

    Args:
        model: a registry name, a ``.keras`` path, or an RMBG ``.onnx`` file.
        backend: one of :data:`DISTRIBUTED_BACKENDS`; ``auto`` becomes the engine
            :func:`RMBG.runtime.select.choose_engine` picks (OpenVINO for a low precision), as in
            :func:`RMBG.runtime.select.load_engine`.
        precision: ``"fp32"``, or ``"bf16"``/``"fp16"`` (OpenVINO).

    Raises:
        ValueError: an unknown backend or precision, or a model object (actors need a name or a file).
    """
    if backend not in DISTRIBUTED_BACKENDS:
        raise ValueError(f"backend: the ray engine runs one of {', '.join(DISTRIBUTED_BACKENDS)}, got {backend!r}")
    check_backend_options(backend, precision)
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError(
            f"model: the ray engine sends the model to its workers by name or file; got a {type(model).__name__} "
            "object: save it (model.save('model.keras')) and pass the path"
        )
    if backend == "keras":
        return ModelArtefact("keras", os.fspath(model), precision)

    artefact = resolve_artefact(model)
    if backend == "auto":
        if precision != "fp32":
            backend, reason = "openvino", f"--precision {precision} runs on OpenVINO"
        else:
            backend, reason = choose_engine(artefact, precision)
        log.info("backend auto -> %s", reason)
    path = Path(artefact.path).absolute()
    return ModelArtefact(backend, str(path), precision, artefact.metadata.get("sha256") or file_sha256(path))


def ship(artefact: ModelArtefact) -> ModelArtefact:
    """The artefact with its file's bytes in the object store (call after ``ray.init``)."""
    if artefact.backend == "keras":
        return artefact
    import ray  # deferred: optional (ray) only when shipping the artefact to a cluster

    data = Path(artefact.model).read_bytes()
    return ModelArtefact(artefact.backend, artefact.model, artefact.precision, artefact.sha256, [ray.put(data)])


def materialise(artefact: ModelArtefact) -> str:
    """The local path of the artefact's file on this worker: the driver's path if this worker sees
    the same file, else a copy from the object store in this worker's cache (verified, atomic)."""
    if artefact.backend == "keras":
        return artefact.model
    driver_path = Path(artefact.model)
    if driver_path.is_file() and file_sha256(driver_path) == artefact.sha256:
        return str(driver_path)

    local = cache_dir() / "distributed" / f"{artefact.sha256[:16]}.onnx"
    if not (local.is_file() and file_sha256(local) == artefact.sha256):
        if not artefact.data:
            raise FileNotFoundError(f"model: '{driver_path}' is not on this worker and the artefact carries no data (call ship() on the driver)")
        import ray  # deferred: optional (ray) only when an actor fetches the artefact

        data = ray.get(artefact.data[0])
        if hashlib.sha256(data).hexdigest() != artefact.sha256:
            raise ValueError(f"model: the bytes of '{driver_path}' received from the object store do not match its sha256 {artefact.sha256}")
        atomic_write_bytes(local, data)
    return str(local)


def make_predictor(
    artefact: ModelArtefact,
    *,
    threads: int = 1,
    batch_size: int = 4,
    post: str = "none",
    post_options: dict | None = None,
    max_pixels: int | None = None,
):
    """The :class:`~RMBG.inference.remover.Remover` one actor runs (called once per actor).

    Args:
        artefact: from :func:`prepare_artefact` / :func:`ship` on the driver.
        threads: cores the model may use: the actor's ``num_cpus`` (left to itself an engine
            takes every core of the node, oversubscribing it once per actor).
        batch_size: photos per model call.
        post: mask post-processing (as the single-process command).
        post_options: its options.
        max_pixels: refuse photos larger than this (``None``: the single-process default).
    """
    options: dict[str, Any] = {"batch_size": batch_size, "post": post, "post_options": post_options}
    if max_pixels is not None:
        options["max_pixels"] = max_pixels
    return Remover(materialise(artefact), backend=artefact.backend, precision=artefact.precision, threads=threads, **options)
