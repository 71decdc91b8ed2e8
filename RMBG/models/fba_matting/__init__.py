"""FBA matting (Forte & Pitié 2020) as CarveKit builds it: ResNet-50 GN+WS encoder, PPM decoder, F/B/alpha fusion.

Code: ``fba_matting_layers`` (WS conv, adaptive pooling, fusion), ``fba_matting_backbone`` (encoder),
``fba_matting_decoder``, ``fba_matting_model`` (the network and its builder); pre/post-processing in
:mod:`RMBG.matting.fba`; importer in :mod:`RMBG.weights.fba_import`. Importing this package
registers the presets only (no TensorFlow).
"""

from RMBG.models.fba_matting.fba_matting_presets import FBA_MATTING_PRESETS
from RMBG.registry import register_presets

register_presets(FBA_MATTING_PRESETS)
