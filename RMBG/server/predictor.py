"""The server's one inference seam: ``load_predictor(name, weights)`` → an object with ``predict_mask(image)``.

Everything the server does with a model goes through :class:`MaskPredictor`: a
:class:`~RMBG.inference.remover.Remover` on the TensorFlow-free runtime (``backend="auto"``: the
model's prepared ONNX artefact on the fastest engine that matched Keras fp32), built in
:func:`_build_predictor` only.
Each model (a name, or a name with a local weight file) is loaded once per process, shared by
every app created in it, and called by one thread at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from RMBG.inference.remover import Remover
from RMBG.registry import ModelWithWeights

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


def _build_predictor(name: str, weights: str | None) -> MaskPredictor:
    """Load model ``name`` (with the local ``weights`` file, if given) and trace it once (not on the
    first request). The engine choice lives here."""
    model = name if weights is None else ModelWithWeights.of(name, weights, task="segmentation")
    remover = Remover(model, backend="auto", batch_size=1)  # the TensorFlow-free runtime (RMBG.runtime)
    remover.predict_masks([np.zeros((32, 32, 3), np.uint8)])
    return LockedPredictor(name, remover)


_LOADED: dict[tuple[str, str | None], MaskPredictor] = {}
_LOADED_LOCK = threading.Lock()


def load_predictor(name: str, weights: str | None = None) -> MaskPredictor:
    """The process-wide predictor of model ``name``, loaded on first use.

    Args:
        name: a registry name.
        weights: a local weight file used instead of the official weights (``ServerSettings.weights``);
            the runtime exports it once, cached under the file's sha256.
    """
    key = (name, None if weights is None else str(Path(weights).expanduser().resolve()))
    with _LOADED_LOCK:
        if key not in _LOADED:
            started = time.perf_counter()
            _LOADED[key] = _build_predictor(name, key[1])
            log.info("loaded model %s%s in %.1f s", name, "" if weights is None else f" (weights {key[1]})",
                     time.perf_counter() - started)
        return _LOADED[key]


def loaded_models() -> list[str]:
    """Names of the models loaded in this process."""
    with _LOADED_LOCK:
        return sorted({name for name, _ in _LOADED})
