"""HTTP serving: a remove.bg-compatible API and a web page (``python -m RMBG serve``).

``create_app(settings)`` builds the FastAPI app (:mod:`RMBG.server.app`); ``ServerSettings`` and
``load_settings`` (:mod:`RMBG.server.settings`) configure it. FastAPI and TensorFlow are imported
only when the app is created, so ``import RMBG.server`` stays cheap.
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports
from RMBG.server.settings import ServerSettings, load_settings

__getattr__, __dir__, _lazy_names = lazy_exports(__name__, {"create_app": "RMBG.server.app"})
__all__ = ["ServerSettings", "create_app", "load_settings"]
