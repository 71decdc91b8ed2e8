"""The MLflow model of a training run: a pyfunc wrapping the run's ``.keras`` checkpoint.

``mlflow.pyfunc.load_model("runs:/<run id>/model").predict(images)`` takes float32 pixel values
``(N, H, W, C)`` in [0, 255] (C = 3 photos; 4 for matting / refinement models: photo + trimap or
coarse mask) and returns what the checkpoint's ``predict`` returns: the masks ``(N, h, w, 1)`` in
[0, 1] at the model's size (any size for size-agnostic models), preprocessing and
post-processing included (they travel inside the ``.keras`` file).

The model is logged "from code" (``model_code.py``): loading it runs that file and loads the
checkpoint with Keras's safe mode; no pickled Python object is stored or unpickled. The serving
environment needs RMBG installed (``pip install -e .`` of this repository) beside the
requirements recorded with the model.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import mlflow.pyfunc
import numpy as np

import RMBG.models  # noqa: F401  (registers RMBG's layers, losses and metrics)


def requirements() -> list[str]:
    """The pip requirements recorded with the model: the installed TensorFlow, Keras and NumPy."""
    pins = []
    for package in ("tensorflow-cpu", "tensorflow", "keras", "numpy"):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


class KerasMaskModel(mlflow.pyfunc.PythonModel):
    """Predicts masks with the ``checkpoint`` artefact (a ``.keras`` file of an RMBG model)."""

    def load_context(self, context: Any) -> None:
        """Load the checkpoint (RMBG's layers registered first, no compile state)."""
        import keras  # deferred: Keras (TensorFlow) only when MLflow serves the model

        self.model = keras.saving.load_model(context.artifacts["checkpoint"], compile=False)

    def predict(self, context, model_input, params=None):  # no type hints: MLflow reads them as a schema
        """Masks of ``model_input`` (float32 pixel values ``(N, H, W, C)``), batch size
        ``params["batch_size"]`` (default 8)."""
        images = np.asarray(model_input, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"model_input: expected images (N, H, W, C), got shape {images.shape}")
        batch_size = int((params or {}).get("batch_size", 8))
        return np.asarray(self.model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)
