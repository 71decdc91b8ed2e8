"""The TensorFlow-free runtime: exported artefacts of our Keras models on onnxruntime / OpenVINO.

Everything that only runs a model (``remove``, the server, batch jobs) goes through here::

    engine = load_engine("u2netp")             # prepared artefact, fastest engine that matches Keras
    masks = engine.predict(batch)              # (N, 320, 320, 3) float32 [0, 255] -> (N, 320, 320)
    prepare("run/best.keras")                  # build ahead of time: python -m RMBG prepare <model>

Only building an artefact imports TensorFlow (once per model and weights).
"""

from RMBG.runtime.artefact import Artefact, StaleArtefactError, find_artefact, prepare
from RMBG.runtime.engines import ENGINE_NAMES, PRECISIONS, THREAD_SCHEMES, PrecisionUnsupportedError, make_engine
from RMBG.runtime.select import BACKENDS, choose_engine, load_engine

__all__ = [
    "Artefact", "BACKENDS", "ENGINE_NAMES", "PRECISIONS", "PrecisionUnsupportedError", "StaleArtefactError",
    "THREAD_SCHEMES", "choose_engine", "find_artefact", "load_engine", "make_engine", "prepare",
]
