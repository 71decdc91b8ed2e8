"""Learned mask refinement (image + coarse mask -> refined mask), CascadePSP-style, registered as ``refiner``.

Importing this package registers the presets only (no TensorFlow).
"""

from RMBG.models.refiner.refiner_presets import REFINER_PRESETS
from RMBG.registry import register_presets

register_presets(REFINER_PRESETS)
