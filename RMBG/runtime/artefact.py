"""Runtime artefacts: the ONNX file exported once from a Keras model, cached and reused.

An artefact lives in ``$RMBG_HOME/runtime/<name>-<key>/`` as ``model.onnx`` plus
``artefact.json``. The key hashes what determines the exported graph: the weights (the official
file's checksum for a registry name, the file's sha256 for a ``.keras`` path or for the local
weight file of a :class:`~RMBG.registry.ModelWithWeights`, the weight fingerprint for a model object), the preset's architecture config, the exporter version and the
RMBG version. The metadata records the input size, interpolation, pre/post-processing, the
file's sha256 and size, and the parity of every installed engine against Keras fp32 measured
when it was built (:mod:`RMBG.runtime.parity`).

Finding a prepared artefact imports no TensorFlow. Building one does (the exporter and the Keras
model), once. An artefact whose metadata or file does not check out (truncated, edited, another
key) is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from RMBG import __version__
from RMBG.atomic import atomic_dir, atomic_write_json
from RMBG.checksums import file_sha256
from RMBG.export.metadata import EXPORT_VERSION, METADATA_KEY, export_metadata, model_source
from RMBG.export.onnx_export import export_onnx
from RMBG.paths import cache_dir
from RMBG.registry import load_model
from RMBG.runtime.engines import OnnxRuntimeEngine
from RMBG.runtime.parity import measure_engines

log = logging.getLogger(__name__)

#: Bumped when the artefact layout or the parity record changes (it is part of the key, so older
#: artefacts are rebuilt, not trusted). 2: artefacts built before the OpenVINO engine's dtype fix
#: recorded "openvino: data type 'f32' not understood" and kept ``auto`` off OpenVINO. 3: the
#: record carries each engine's import and load times (``import_s``, ``load_s``), which ``auto``
#: weighs against the photo count.
ARTEFACT_VERSION = 3
MODEL_FILE = "model.onnx"
METADATA_FILE = "artefact.json"


class StaleArtefactError(ValueError):
    """An artefact on disk does not match its metadata or its key."""


@dataclass(frozen=True)
class Artefact:
    """A prepared artefact: where it is and what it says about itself."""

    path: Path
    metadata: dict

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.metadata["image_size"])

    @property
    def interpolation(self) -> str:
        return self.metadata["interpolation"]

    @property
    def parity(self) -> dict:
        """``{engine: {precision: {"iou_min", "iou_mean", "max_abs", "ms_per_image", ...}}}``."""
        return self.metadata.get("parity", {}).get("engines", {})



def _versions() -> str:
    return f"artefact{ARTEFACT_VERSION}|export{EXPORT_VERSION}|rmbg{__version__}"


def artefact_key(model: Any) -> tuple[str, str, str]:
    """``(stem, key, source)`` naming the artefact of ``model`` (TensorFlow-free for names and paths).

    Raises:
        ValueError: an unknown or weightless registry name, or a model of the wrong kind.
        FileNotFoundError: a ``.keras`` path that does not exist.
    """
    stem, source = model_source(model)
    key = hashlib.sha256(f"{_versions()}|{source}".encode()).hexdigest()[:16]
    return stem, key, source


def artefact_dir(stem: str, key: str) -> Path:
    return cache_dir() / "runtime" / f"{stem}-{key}"


def check_artefact(folder: Path, key: str) -> Artefact:
    """The artefact in ``folder`` if its metadata and file check out for ``key``.

    Raises:
        FileNotFoundError: nothing there.
        StaleArtefactError: metadata unreadable, another key, or a file whose size/sha256 differ.
    """
    metadata_path, model_path = folder / METADATA_FILE, folder / MODEL_FILE
    if not metadata_path.is_file():
        raise FileNotFoundError(f"no artefact in {folder}")
    try:
        metadata = json.loads(metadata_path.read_text())
    except (OSError, ValueError) as error:
        raise StaleArtefactError(f"{metadata_path}: unreadable metadata ({error})") from None
    if metadata.get("key") != key or metadata.get("artefact_version") != ARTEFACT_VERSION:
        raise StaleArtefactError(f"{metadata_path}: made for key {metadata.get('key')!r}, expected {key!r}")
    if not model_path.is_file() or model_path.stat().st_size != metadata.get("size"):
        raise StaleArtefactError(f"{model_path}: missing or not {metadata.get('size')} bytes")
    if file_sha256(model_path) != metadata.get("sha256"):
        raise StaleArtefactError(f"{model_path}: sha256 differs from the one recorded when it was built")
    return Artefact(model_path, metadata)


def find_artefact(model: Any) -> Artefact | None:
    """The prepared, valid artefact of ``model``, or ``None`` (imports no TensorFlow for names/paths)."""
    stem, key, _ = artefact_key(model)
    folder = artefact_dir(stem, key)
    try:
        return check_artefact(folder, key)
    except FileNotFoundError:
        return None
    except StaleArtefactError as error:
        log.warning("runtime artefact is stale or corrupt, rebuilding it: %s", error)
        return None


def _write_artefact(keras_model: Any, folder: Path, key: str, source: str, *, probes: int | None) -> None:
    model_path = folder / MODEL_FILE
    export_onnx(keras_model, model_path)
    metadata = export_metadata(keras_model, format="onnx")
    if metadata["image_size"] is None:
        raise ValueError(f"model: {keras_model.name} has no fixed input size; the runtime needs image_size set")
    metadata.update({
        "artefact_version": ARTEFACT_VERSION, "key": key, "source": source,
        "sha256": file_sha256(model_path), "size": model_path.stat().st_size,
        "parity": measure_engines(keras_model, model_path, probes=probes),
    })
    atomic_write_json(folder / METADATA_FILE, metadata)


def prepare(model: Any, *, rebuild: bool = False, probes: int | None = None) -> Artefact:
    """The artefact of ``model``: the prepared one if valid, else exported and measured now.

    Args:
        model: a registry name (pretrained), a ``.keras`` path, a registry name with a local weight
            file (:class:`~RMBG.registry.ModelWithWeights`) or a Keras Segmenter.
        rebuild: build again even if a valid artefact exists.
        probes: photos for the parity measurement (``None``: the default of
            :func:`RMBG.runtime.parity.probe_photos`).

    Returns:
        The :class:`Artefact`.
    """
    stem, key, source = artefact_key(model)
    folder = artefact_dir(stem, key)
    if not rebuild:
        found = find_artefact(model)
        if found is not None:
            return found

    log.info("building the runtime artefact of %s (once; exported from the Keras model) in %s", stem, folder)
    keras_model = load_model(model, task=None)
    try:
        with atomic_dir(folder) as staging:
            _write_artefact(keras_model, staging, key, source, probes=probes)
    except FileExistsError:  # another process completed the same artefact first: use it (checked below)
        log.info("another process built %s first; using it", folder)
    return check_artefact(folder, key)


def onnx_file_artefact(path: str | os.PathLike) -> Artefact:
    """An ``.onnx`` file exported by RMBG (``python -m RMBG export``), used as it is.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not exported by RMBG, another layout, or no fixed input size.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"model: no such .onnx file '{source}'")
    props = OnnxRuntimeEngine.metadata(source)
    if METADATA_KEY not in props:
        raise ValueError(f"model: '{source}' was not exported by RMBG (no {METADATA_KEY} metadata); "
                         "export it with `python -m RMBG export --format onnx`")
    metadata = json.loads(props[METADATA_KEY])
    if metadata.get("layout") != "segmenter":
        raise ValueError(f"model: '{source}' has the {metadata.get('layout')!r} layout (made for rembg); "
                         "export again without --rembg")
    if metadata.get("image_size") is None:
        raise ValueError(f"model: '{source}' has no fixed input size; export a model with image_size set")
    return Artefact(source, metadata)
