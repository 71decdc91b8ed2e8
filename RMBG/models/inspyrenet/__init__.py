"""InSPyReNet (Kim et al., ACCV 2022): inverse saliency pyramid reconstruction on a Swin-B encoder.

Code: ``inspyrenet_network`` (the network), ``inspyrenet_blocks`` (context, decoder and SICA
blocks), ``layers/`` (custom layers), ``inspyrenet_segmenter`` (builder); the encoder is
``RMBG.models.swin``; the importer is ``RMBG.weights.inspyrenet_import``. Importing this package
registers the presets only (no TensorFlow).
"""

from RMBG.models.inspyrenet.inspyrenet_presets import INSPYRENET_PRESETS
from RMBG.registry import register_presets

register_presets(INSPYRENET_PRESETS)
