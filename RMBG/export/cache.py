"""The cache of exported files for formats other than the runtime's ONNX artefacts (TFLite).

A model given as a registry name, a ``.keras`` path or a Segmenter is exported once into
``RMBG.paths.cache_dir()/exported/`` under a key derived from its weights (the weight file's
checksum for a registry name, the file's sha256 for a ``.keras`` file,
:func:`RMBG.export.weights_fingerprint` for a model object). ONNX inference artefacts live in the
runtime's cache instead (:mod:`RMBG.runtime.artefact`), with their parity record.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from RMBG import __version__
from RMBG.export import export_model, read_metadata
from RMBG.export.metadata import EXPORT_VERSION, FORMAT_SUFFIXES, model_source
from RMBG.paths import cache_dir



def export_cache_key(model: Any, format: str, *, fp16: bool = False) -> tuple[str, str]:
    """``(stem, key)`` naming the cached export of ``model``; the key hashes its weights.

    Args:
        model: a registry name, a ``.keras`` path or a Segmenter.
        format: ``"onnx"`` or ``"tflite"``.
        fp16: float16 weights (tflite).

    Raises:
        ValueError: a name that is not registered or has no pretrained weights.
        FileNotFoundError: a ``.keras`` path that does not exist.
    """
    stem, source = model_source(model)

    digest = hashlib.sha256(f"{EXPORT_VERSION}|{__version__}|{format}|fp16={fp16}|{source}".encode())
    return stem, digest.hexdigest()[:16]


def exported_file(model: Any, format: str, *, fp16: bool = False) -> Path:
    """An exported file of ``model`` in ``format``: ``model`` itself if it is such a file,
    else the cached export (written now if absent).

    Args:
        model: an ``.onnx``/``.tflite`` path, a registry name, a ``.keras`` path or a Segmenter.
        format: ``"onnx"`` or ``"tflite"``.
        fp16: float16 weights when exporting (tflite).

    Raises:
        FileNotFoundError: an exported-file path that does not exist.
        ValueError: a file of the other format, or an unknown model name.
    """
    suffix = FORMAT_SUFFIXES[format]
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        if text.endswith(suffix):
            if not Path(text).is_file():
                raise FileNotFoundError(f"model: no such {suffix} file '{text}'")
            return Path(text)
        other = {s for f, s in FORMAT_SUFFIXES.items() if s and f != format}
        if any(text.endswith(s) for s in other):
            raise ValueError(
                f"model: '{text}' is not a {suffix} file; the {format} backend runs {suffix} files "
                f"(or a registry name / .keras file, exported on first use)"
            )
    stem, key = export_cache_key(model, format, fp16=fp16)
    target = cache_dir() / "exported" / f"{stem}-{key}{'-fp16' if fp16 else ''}{suffix}"
    if not target.is_file():
        export_model(model, target, format, fp16=fp16)
    return target


def segmenter_metadata(path: Path, backend: str) -> dict:
    metadata = read_metadata(path)
    if metadata.get("layout") != "segmenter":
        raise ValueError(
            f"model: '{path}' has the {metadata.get('layout')!r} layout (made for rembg); the {backend} "
            "backend runs the segmenter layout: export again without --rembg"
        )
    if metadata.get("image_size") is None:
        raise ValueError(f"model: '{path}' has no fixed input size in its metadata; export a model with image_size set")
    return metadata


__all__ = ["export_cache_key", "exported_file", "segmenter_metadata"]
