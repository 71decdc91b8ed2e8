"""Export RMBG models to ONNX, TFLite and SavedModel, and run the exported files.

Formats (see ``docs/export.md``):

* ``onnx``: the whole :class:`~RMBG.models.segmenter.Segmenter` (NHWC float32 pixel values
  [0, 255] at the model's size in, the mask ``(N, H, W, 1)`` out), dynamic batch, via tf2onnx.
  With ``rembg=True`` the layout rembg's ``u2net_custom`` session expects instead: NCHW input
  already normalised, seven sigmoid maps ``(N, 1, H, W)``, the fused one first.
* ``tflite``: float32 or float16 weights, from the frozen serving function.
* ``savedmodel``: a TensorFlow SavedModel with one ``serving_default`` signature.

Every exported file carries its metadata (model name, input size, interpolation, layout,
precision, weights fingerprint) so a backend can run it without the Keras model: in the ONNX
``metadata_props``, in the TFLite flatbuffer's metadata and in the SavedModel's ``assets.extra``.

This package imports TensorFlow only when it exports; :mod:`RMBG.runtime` runs the ``.onnx``
files with onnxruntime or OpenVINO alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.export.metadata import (
    EXPORT_FORMATS,
    EXPORT_VERSION,
    FORMAT_SUFFIXES,
    LAYOUTS,
    METADATA_KEY,
    export_metadata,
    weights_fingerprint,
)
from RMBG.export.onnx_export import export_onnx, read_onnx_metadata
from RMBG.export.rembg_layout import minmax, official_preprocess
from RMBG.export.tflite_export import TFLiteRunner, export_tflite, read_tflite_metadata
from RMBG.registry import load_model


def export_model(
    model: Any,
    path: str | os.PathLike,
    format: str,
    *,
    fp16: bool = False,
    rembg: bool = False,
    opset: int = 17,
) -> Path:
    """Export ``model`` to ``path`` in ``format``.

    Args:
        model: a registry name (pretrained weights), a ``.keras`` path, a
            :class:`~RMBG.registry.ModelWithWeights` (a name with a local ``.pth``) or a model. An
            FBA matting network (``fba_matting``) is written with its own three-input signature
            (:mod:`RMBG.export.fba_onnx`, :mod:`RMBG.export.fba_tflite`).
        path: the output file (a folder for ``savedmodel``).
        format: ``"onnx"``, ``"tflite"`` or ``"savedmodel"``.
        fp16: float16 weights (``tflite`` only).
        rembg: the rembg ``u2net_custom`` layout (``onnx`` only).
        opset: the ONNX opset (``onnx`` only).

    Returns:
        The written path.

    Raises:
        ValueError: an unknown format, or an option the format does not support.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format: expected one of {EXPORT_FORMATS}, got {format!r}")
    if fp16 and format != "tflite":
        raise ValueError(
            f"fp16: float16 export is offered for format 'tflite' only, got format {format!r}; "
            "drop --fp16 or use --format tflite"
        )
    if rembg and format != "onnx":
        raise ValueError(f"rembg: the rembg layout is an ONNX file, got format {format!r}; use --format onnx")

    keras_model = load_model(model, task=None)
    from RMBG.models.fba_matting.fba_matting_model import FBAMatting  # deferred: Keras is loaded by now

    if isinstance(keras_model, FBAMatting):
        return _export_fba(keras_model, path, format, fp16=fp16, rembg=rembg, opset=opset)
    if format == "onnx":
        return export_onnx(keras_model, path, rembg=rembg, opset=opset)
    if format == "tflite":
        return export_tflite(keras_model, path, fp16=fp16)
    from RMBG.export.savedmodel_export import export_savedmodel  # deferred: TensorFlow only to export a SavedModel

    return export_savedmodel(keras_model, path)


def _export_fba(model: Any, path: str | os.PathLike, format: str, *, fp16: bool, rembg: bool, opset: int) -> Path:
    """An FBA matting network (three inputs, alpha/F/B out; :mod:`RMBG.export.fba_signature`) to
    ONNX or TFLite: the files ``post="fba"`` runs with ``fba_model=`` (``--post-weights``)."""
    if rembg or format == "savedmodel":
        what = "the rembg layout" if rembg else "a SavedModel"
        raise ValueError(f"model: {model.name} is an FBA matting network, which exports to onnx or tflite, not {what}")
    if format == "onnx":
        from RMBG.export.fba_onnx import export_fba_onnx  # deferred: tf2onnx only to export

        return export_fba_onnx(model, path, opset=opset)
    from RMBG.export.fba_tflite import export_fba_tflite  # deferred: TensorFlow only to export

    return export_fba_tflite(model, path, fp16=fp16)


def read_metadata(path: str | os.PathLike) -> dict:
    """The export metadata of an ``.onnx``, ``.tflite`` or SavedModel folder written by RMBG.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file carries no RMBG metadata (it was not exported by RMBG).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: no such file or folder '{path}'")
    if path.suffix == ".onnx":
        return read_onnx_metadata(path)
    if path.suffix == ".tflite":
        return read_tflite_metadata(path)
    if path.is_dir():
        # deferred: TensorFlow only to read a SavedModel
        from RMBG.export.savedmodel_export import read_savedmodel_metadata

        return read_savedmodel_metadata(path)
    raise ValueError(f"path: '{path}' is not an .onnx file, a .tflite file or a SavedModel folder")


def measure_parity(path: str | os.PathLike, model: Any, photos: list[str | os.PathLike], *, batch_size: int = 6) -> dict:
    """Compare an exported file with the Keras model on real photos.

    The photos are resized like the Remover does (bilinear to the model's size); the exported
    file and the Keras model predict the same batches. For the rembg layout the input is
    normalised the official way and its first output min-max normalised, as rembg does.

    Args:
        path: an ``.onnx``, ``.tflite`` or SavedModel folder exported by RMBG.
        model: the Keras Segmenter it was exported from (or a registry name / ``.keras`` path).
        photos: photo paths.
        batch_size: photos per call (exercises the dynamic batch).

    Returns:
        ``max_abs``, ``mean_abs``, ``iou_min`` (masks at 0.5), ``nan`` (count of non-finite
        values), ``photos`` and the file's ``layout``/``precision``.
    """
    import cv2  # deferred: cv2 stays out of `rmbg --help` start-up (this package loads with the CLI)

    from RMBG.inference.image_io import load_image  # deferred: image I/O (PIL, cv2) stays out of `rmbg --help` start-up

    keras_model = load_model(model, task=None)
    metadata = read_metadata(path)
    height, width = keras_model.converter.image_size
    images = np.stack([cv2.resize(load_image(p), (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
                       for p in photos])
    path = Path(path)
    if path.suffix == ".onnx":
        import onnxruntime as ort  # deferred: onnxruntime only to run an .onnx file

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        if metadata["layout"] == "rembg":
            def run(batch):
                return minmax(session.run(None, {name: official_preprocess(batch)})[0][:, 0])[..., None]
        else:
            def run(batch):
                return session.run(None, {name: batch})[0]
    elif path.suffix == ".tflite":
        run = TFLiteRunner(path)
    else:
        from RMBG.export.savedmodel_export import SavedModelRunner  # deferred: TensorFlow only to run a SavedModel

        run = SavedModelRunner(path)
    exported, reference = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        exported.append(np.asarray(run(batch), np.float32))
        reference.append(keras_model(batch, training=False).numpy())
    exported, reference = np.concatenate(exported), np.concatenate(reference)
    difference = np.abs(exported - reference)
    ious = []
    for a, b in zip(exported > 0.5, reference > 0.5):
        union = np.logical_or(a, b).sum()
        ious.append(float(np.logical_and(a, b).sum() / union) if union else 1.0)
    return {
        "max_abs": float(np.nanmax(difference)), "mean_abs": float(np.nanmean(difference)), "iou_min": min(ious),
        "nan": int((~np.isfinite(exported)).sum()), "photos": len(images),
        "layout": metadata["layout"], "precision": metadata["precision"],
    }


__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_VERSION",
    "FORMAT_SUFFIXES",
    "LAYOUTS",
    "METADATA_KEY",
    "export_metadata",
    "export_model",
    "measure_parity",
    "read_metadata",
    "weights_fingerprint",
]
