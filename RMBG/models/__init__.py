"""Model families (one folder each, keras-hub style). Importing this registers every preset."""

from RMBG.models import layers, matting_net, refiner, resnet50_unet, u2net  # noqa: F401
from RMBG.models.segmenter import Segmenter

__all__ = ["Segmenter"]
