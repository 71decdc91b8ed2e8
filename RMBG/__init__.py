"""RMBG: a Keras 3 / TensorFlow framework for background removal.

The public surface::

    import RMBG
    RMBG.list_models()                      # names for create_model and the CLI
    model = RMBG.create_model("u2netp", pretrained=True)
    cutout = RMBG.remove("photo.jpg")       # RGBA PIL image from the default pretrained model

``import RMBG`` registers every model family's presets (data only) and imports no TensorFlow;
the other attributes are imported lazily (PEP 562), so listing models, the CLI and the
exported-model runtime start in a fraction of a second.
"""

from __future__ import annotations

from RMBG import models as _models  # noqa: F401  (registers every family's presets; TensorFlow-free)
from RMBG.lazy import lazy_exports
from RMBG.registry import create_model, list_models, load_model, model_info

__version__ = "0.1.0"

__getattr__, _dir, _lazy_names = lazy_exports(__name__, {
    "remove": "RMBG.inference.remover",
    "Remover": "RMBG.inference.remover",
    "load_image": "RMBG.inference.image_io",
    "load_mask": "RMBG.inference.image_io",
    "save_image": "RMBG.inference.image_io",
    "ImageReadError": "RMBG.inference.image_io",
})

__all__ = sorted([*_lazy_names, "create_model", "list_models", "load_model", "model_info", "__version__"])


def __dir__() -> list[str]:
    return __all__
