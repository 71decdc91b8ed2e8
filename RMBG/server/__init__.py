"""HTTP serving: a remove.bg-compatible API and a web page (``python -m RMBG serve``).

``create_app(settings)`` builds the FastAPI app (:mod:`RMBG.server.app`); ``ServerSettings`` and
``load_settings`` (:mod:`RMBG.server.settings`) configure it. FastAPI and TensorFlow are imported
only when the app is created, so ``import RMBG.server`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from RMBG.server.settings import ServerSettings, load_settings

__all__ = ["ServerSettings", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from RMBG.server.app import create_app

        return create_app
    raise AttributeError(f"module 'RMBG.server' has no attribute {name!r}")
