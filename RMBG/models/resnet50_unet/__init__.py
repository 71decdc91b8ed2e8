"""ResNet50-U-Net: the RMBG-U2NET design (ImageNet ResNet50 encoder, dilated bridge, residual decoder).

Importing this package registers the presets only (no TensorFlow).
"""

from RMBG.models.resnet50_unet.resnet50_unet_presets import RESNET50_UNET_PRESETS
from RMBG.registry import register_presets

register_presets(RESNET50_UNET_PRESETS)
