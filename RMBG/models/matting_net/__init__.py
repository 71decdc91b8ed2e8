"""Learned trimap-based matting (image + trimap -> alpha): a small encoder-decoder, registered as ``matting_net``.

Importing this package registers the presets only (no TensorFlow).
"""

from RMBG.models.matting_net.matting_net_presets import MATTING_NET_PRESETS
from RMBG.registry import register_presets

register_presets(MATTING_NET_PRESETS)
