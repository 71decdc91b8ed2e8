"""Inference backends: what runs the model inside :class:`~RMBG.inference.remover.Remover`.

A backend takes a batch of photos already resized to the model's size, ``(N, h, w, 3)`` float32
pixel values in [0, 255], and returns masks ``(N, h, w)`` in [0, 1]. The Keras backend is here;
the exported ones (onnxruntime, TFLite) register themselves from :mod:`RMBG.export.backends`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

BACKENDS: dict[str, Callable[[Any], Any]] = {}

#: Modules that register further backends when imported.
_BACKEND_MODULES = ("RMBG.export.backends",)


def register_backend(name: str, factory: Callable[[Any], Any]) -> None:
    """Make ``factory(model)`` available as ``backend=name``."""
    BACKENDS[name] = factory


class KerasBackend:
    """Runs a :class:`~RMBG.models.segmenter.Segmenter` through one traced ``tf.function``."""

    name = "keras"

    def __init__(self, model: Any):
        import tensorflow as tf

        from RMBG.inference.remover import load_model

        self.model = load_model(model)
        converter = getattr(self.model, "converter", None)
        if converter is None:
            raise TypeError(
                f"model: {self.model.name} has no image converter; RMBG runs Segmenter models "
                "(built by RMBG.create_model or saved from one)"
            )
        self.image_size = converter.image_size
        self.interpolation = converter.interpolation
        height, width = self.image_size or (None, None)
        signature = [tf.TensorSpec((None, height, width, 3), tf.float32)]
        self._predict = tf.function(lambda x: self.model(x, training=False), input_signature=signature)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self._predict(np.ascontiguousarray(batch, dtype=np.float32)).numpy()[..., 0]


register_backend("keras", KerasBackend)


def make_backend(name: str, model: Any):
    """Instantiate backend ``name`` for ``model``; an unknown name raises listing the valid ones."""
    if name not in BACKENDS:
        for module in _BACKEND_MODULES:  # imported on demand: they pull in onnxruntime / TFLite
            importlib.import_module(module)
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {sorted(BACKENDS)}, got {name!r}")
    return BACKENDS[name](model)
