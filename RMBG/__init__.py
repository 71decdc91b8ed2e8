"""RMBG: a Keras 3 / TensorFlow framework for background removal.

The public surface::

    import RMBG
    RMBG.list_models()                      # names for create_model and the CLI
    model = RMBG.create_model("u2netp", pretrained=True)
    cutout = RMBG.remove("photo.jpg")       # RGBA PIL image from the default pretrained model

Attributes are imported lazily (PEP 562), so ``import RMBG.inference.image_io`` or the
``Preprocess`` tools never pay for importing TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "create_model": "RMBG.registry",
    "list_models": "RMBG.registry",
    "load_pretrained": "RMBG.registry",
    "model_info": "RMBG.registry",
    "remove": "RMBG.inference.remover",
    "Remover": "RMBG.inference.remover",
    "load_image": "RMBG.inference.image_io",
    "load_mask": "RMBG.inference.image_io",
    "save_image": "RMBG.inference.image_io",
    "ImageReadError": "RMBG.inference.image_io",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'RMBG' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
