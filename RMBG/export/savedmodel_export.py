"""SavedModel export, and the serving function every TensorFlow-based export traces.

The serving function is the whole :class:`~RMBG.models.segmenter.Segmenter` in inference mode:
``images`` float32 ``(N, H, W, 3)`` pixel values in [0, 255] at the model's size (any batch) in,
``mask`` float32 ``(N, H, W, 1)`` in [0, 1] out. ONNX (through tf2onnx), TFLite (frozen) and
the SavedModel all trace this one function, so they compute the same graph.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from RMBG.atomic import atomic_dir
from RMBG.export.metadata import METADATA_KEY, export_metadata

#: Name of the input tensor of the exported segmenter graphs.
INPUT_NAME = "images"
#: Name of the output tensor of the exported segmenter graphs.
OUTPUT_NAME = "mask"


def input_spec(model: Any, *, batch: int | None = None, name: str = INPUT_NAME) -> tf.TensorSpec:
    """The ``(batch, H, W, 3)`` float32 input spec of ``model`` (``batch=None``: dynamic).

    Raises:
        ValueError: the model has no fixed input size (its converter's ``image_size`` is ``None``).
    """
    size = model.converter.image_size
    if size is None:
        raise ValueError(
            f"model: {model.name} has image_size None (any size); exports need a fixed size. "
            "Build it with create_model(name, image_size=(H, W))"
        )
    return tf.TensorSpec((batch, size[0], size[1], 3), tf.float32, name=name)


def serving_function(model: Any, *, batch: int | None = None) -> tf.types.experimental.GenericFunction:
    """A ``tf.function`` running ``model(images, training=False)`` with a fixed input signature."""

    @tf.function(input_signature=[input_spec(model, batch=batch)])
    def serve(images):
        return {OUTPUT_NAME: model(images, training=False)}

    return serve


class _Serving(tf.Module):
    """The tracked object a SavedModel stores: the model's variables and its serving function.

    Only the variables are tracked, not the Keras model object: tracking the model makes
    ``tf.saved_model.save`` trace every Keras call function too (measured 3-4x slower).
    """

    def __init__(self, model: Any):
        super().__init__(name="rmbg_serving")
        self.model_variables = [getattr(v, "value", v) for v in model.weights]
        self.serve = serving_function(model)


def export_savedmodel(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` as a SavedModel folder with one ``serving_default`` signature.

    The signature takes ``images`` (see the module doc) and returns ``{"mask": (N, H, W, 1)}``.
    The export metadata is written to ``assets.extra/rmbg_export.json``. The folder is written
    next to ``path`` first and moved into place when complete; an existing folder is replaced.

    Args:
        model: a built Segmenter.
        path: the SavedModel folder.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not path.is_dir():
        raise ValueError(f"path: a SavedModel is a folder, but '{path}' is an existing file; choose another path")
    module = _Serving(model)
    with atomic_dir(path) as target:
        tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
        extra = target / "assets.extra"
        extra.mkdir(exist_ok=True)
        metadata = export_metadata(model, format="savedmodel")
        (extra / f"{METADATA_KEY}.json").write_text(json.dumps(metadata, indent=2))
    return path


def read_savedmodel_metadata(path: str | os.PathLike) -> dict:
    """The RMBG metadata of a SavedModel folder.

    Raises:
        ValueError: the folder has no ``assets.extra/rmbg_export.json``.
    """
    file = Path(path) / "assets.extra" / f"{METADATA_KEY}.json"
    if not file.is_file():
        raise ValueError(f"path: '{path}' has no {file.relative_to(path)}; it was not exported by RMBG (python -m RMBG export)")
    return json.loads(file.read_text())


class SavedModelRunner:
    """Runs the ``serving_default`` signature of a SavedModel on NumPy batches.

    Holds the loaded object as well as its signature: a signature alone does not keep the
    variables alive.

    Args:
        path: the SavedModel folder.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"path: no SavedModel folder '{self.path}'")
        self.loaded = tf.saved_model.load(str(self.path))
        self.function = self.loaded.signatures["serving_default"]

    def __call__(self, images) -> np.ndarray:
        """Masks ``(N, H, W, 1)`` for float32 pixel values ``(N, H, W, 3)`` in [0, 255]."""
        return self.function(**{INPUT_NAME: tf.constant(images, tf.float32)})[OUTPUT_NAME].numpy()


__all__ = ["INPUT_NAME", "OUTPUT_NAME", "SavedModelRunner", "export_savedmodel", "input_spec",
           "read_savedmodel_metadata", "serving_function"]
