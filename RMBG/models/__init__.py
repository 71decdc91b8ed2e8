"""Model families (one folder each, keras-hub style). Importing this registers every preset.

It also registers the losses and metrics that training compiles into checkpoints, so a
``best.keras`` written by ``python -m RMBG train`` loads in a fresh process with plain
``keras.saving.load_model`` (no ``custom_objects``).
"""

from RMBG.models import layers, matting_net, refiner, resnet50_unet, u2net  # noqa: F401
from RMBG.models.segmenter import Segmenter
from RMBG.training import losses, matting_losses, metrics  # noqa: F401  (registration only)

__all__ = ["Segmenter"]
