"""What every exported file says about itself: formats, the metadata record and the weight
fingerprint (the leaf of :mod:`RMBG.export`; the exporters and the runtime import it)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import numpy as np

from RMBG import __version__
from RMBG.checksums import file_sha256
from RMBG.registry import ModelWithWeights, check_keras_file, list_models, model_info

#: The formats :func:`export_model` writes.
EXPORT_FORMATS = ("onnx", "tflite", "savedmodel")

#: The file suffix each format is written with (a SavedModel is a folder).
FORMAT_SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": ""}

#: Key under which every format stores the export metadata (a JSON string).
METADATA_KEY = "rmbg_export"

#: Bumped when the exported graphs change, so cached exports are redone.
#: 2: the converter leaves out its resize when the input already has the model's size (identity).
EXPORT_VERSION = 2

#: Layouts: ``segmenter`` (NHWC pixels [0, 255] in, mask out) or ``rembg`` (NCHW normalised in, 7 maps out).
LAYOUTS = ("segmenter", "rembg")


def export_metadata(model: Any, *, format: str, layout: str = "segmenter", precision: str = "float32") -> dict:
    """The metadata stored in an exported file.

    Args:
        model: a built :class:`~RMBG.models.segmenter.Segmenter`.
        format: one of :data:`EXPORT_FORMATS`.
        layout: one of :data:`LAYOUTS`.
        precision: ``"float32"`` or ``"float16"`` (the stored weights).

    Returns:
        A JSON-serialisable dict.
    """
    converter = model.converter
    return {
        "export_version": EXPORT_VERSION,
        "rmbg_version": __version__,
        "format": format,
        "layout": layout,
        "precision": precision,
        "model": model.name,
        "image_size": list(converter.image_size) if converter.image_size is not None else None,
        "interpolation": converter.interpolation,
        "scaling": converter.scaling,
        "mean": list(converter.mean) if converter.mean is not None else None,
        "std": list(converter.std) if converter.std is not None else None,
        "output_normalization": model.output_normalization,
        "weights_sha256": weights_fingerprint(model),
    }


def weights_fingerprint(model: Any) -> str:
    """sha256 over the model's configuration and every weight (name, shape, dtype, bytes).

    Two models with the same architecture, preprocessing and weight values give the same digest,
    so exports of them can be cached under it.
    """
    digest = hashlib.sha256()
    config = {"converter": model.converter.get_config(), "output_normalization": model.output_normalization}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for variable in model.weights:
        value = np.ascontiguousarray(np.asarray(variable))
        digest.update(f"{variable.path}|{value.shape}|{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def model_source(model: Any) -> tuple[str, str]:
    """``(stem, source)``: a short name and the identity of ``model``'s weights, which keys the caches of
    exported files (:mod:`RMBG.export.cache`, :mod:`RMBG.runtime.artefact`). TensorFlow-free for a registry
    name (the official file's checksum and the preset's config), a ``.keras`` path (its sha256) or a
    :class:`~RMBG.registry.ModelWithWeights` (the local weight file's sha256 and the preset's config).

    Raises:
        ValueError: an unknown or weightless registry name, or a file that is not a ``.keras`` model.
        FileNotFoundError: a ``.keras`` path that does not exist.
    """
    if isinstance(model, ModelWithWeights):  # the local file's checksum, as the official file's for a name
        config = json.dumps(dict(model_info(model.name).config), sort_keys=True, default=str)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.weights.stem)
        return f"{model.name}-{stem}", f"weights:{model.name}:{file_sha256(model.weights)}:{config}"
    if not isinstance(model, (str, os.PathLike)):
        return model.name, f"model:{weights_fingerprint(model)}"
    text = os.fspath(model)
    if text.endswith(".keras"):
        path = check_keras_file(text)
        return path.stem, f"keras:{file_sha256(path)}"
    if text not in list_models(pretrained=True):
        raise ValueError(
            f"model: {text!r} is neither a pretrained registered model "
            f"({', '.join(list_models(pretrained=True))}) nor a .keras file"
        )
    preset = model_info(text)
    config = json.dumps(dict(preset.config), sort_keys=True, default=str)
    return text, f"registry:{text}:{preset.weights.checksum}:{config}"
