"""The server's one inference seam: ``load_predictor(name)`` → an object with ``predict_mask(image)``.

Everything the server does with a model goes through :class:`MaskPredictor`: a
:class:`~RMBG.inference.remover.Remover` on the TensorFlow-free runtime (``backend="auto"``: the
model's prepared ONNX artefact on the fastest engine that matched Keras fp32), built in
:func:`_build_predictor` only.
Each model name is loaded once per process, shared by every app created in it, and called by
one thread at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

import numpy as np

from RMBG.inference.remover import Remover

log = logging.getLogger(__name__)


class MaskPredictor(Protocol):
    """What the server needs from a model."""

    name: str

    def predict_mask(self, image: np.ndarray) -> np.ndarray:
        """The mask of one HxWx3 uint8 RGB photo: HxW float32 in [0, 1] at the photo's size."""


class LockedPredictor:
    """A predictor that lets one thread at a time call ``predictor`` (Keras models are not re-entrant)."""

    def __init__(self, name: str, predictor: Any):
        self.name = name
        self.predictor = predictor
        self.lock = threading.Lock()

    def predict_mask(self, image: np.ndarray) -> np.ndarray:
        """See :class:`MaskPredictor`."""
        with self.lock:
            return self.predictor.predict_masks([image])[0]


def _build_predictor(name: str) -> MaskPredictor:
    """Load model ``name`` and trace it once (not on the first request). The engine choice lives here."""
    remover = Remover(name, backend="auto", batch_size=1)  # the TensorFlow-free runtime (RMBG.runtime)
    remover.predict_masks([np.zeros((32, 32, 3), np.uint8)])
    return LockedPredictor(name, remover)


_LOADED: dict[str, MaskPredictor] = {}
_LOADED_LOCK = threading.Lock()


def load_predictor(name: str) -> MaskPredictor:
    """The process-wide predictor of model ``name``, loaded on first use."""
    with _LOADED_LOCK:
        if name not in _LOADED:
            started = time.perf_counter()
            _LOADED[name] = _build_predictor(name)
            log.info("loaded model %s in %.1f s", name, time.perf_counter() - started)
        return _LOADED[name]


def loaded_models() -> list[str]:
    """Names of the models loaded in this process."""
    with _LOADED_LOCK:
        return sorted(_LOADED)
