"""TRACER-B7 (Lee et al., AAAI 2022) as CarveKit 4.1.2 ships it: salient-object segmentation at 640 px.

Code: ``tracer_b7_encoder`` (CarveKit's EfficientNet-B7), ``tracer_b7_layers`` (RFB, aggregation,
union and object attention), ``ops`` (their parameter-free layers), ``tracer_b7_backbone``,
``tracer_b7_segmenter`` (builder); importer in ``RMBG.weights.tracer_import``.
Importing this package registers the presets only (no TensorFlow).
"""

from RMBG.models.tracer_b7.tracer_b7_presets import TRACER_B7_PRESETS
from RMBG.registry import register_presets

register_presets(TRACER_B7_PRESETS)
