"""U^2-Net (Qin et al., Pattern Recognition 2020): nested U-structure for salient-object detection.

Code: ``u2net_layers`` (RSU blocks), ``u2net_backbone``, ``u2net_segmenter`` (builder);
importers in ``RMBG.weights.u2net_import``. Importing this package registers the presets only.
"""

from RMBG.models.u2net.u2net_presets import U2NET_PRESETS
from RMBG.registry import register_presets

register_presets(U2NET_PRESETS)
