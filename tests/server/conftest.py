"""Fixtures of the server tests: u2netp loaded once per session, small photos, client factories."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from PIL import Image

from RMBG.paths import assets_dir

from server_helpers import API_KEY, encode


def _require_server_packages() -> None:
    for module in ("fastapi", "uvicorn", "multipart", "httpx"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install -r requirements.txt -r requirements-test.txt)")


@pytest.fixture(scope="session")
def served_model():
    """u2netp with its official weights, loaded once for every server test (skips without the weights)."""
    _require_server_packages()
    weights = assets_dir() / "weights" / "u2netp.onnx"
    if not weights.is_file():
        pytest.skip(f"asset {weights} is absent (set RMBG_ASSETS to the shared assets folder to run the server tests)")
    from RMBG.server.app import get_model

    return get_model("u2netp")


@pytest.fixture(scope="session")
def horse_path() -> Path:
    """A real photo with a clear subject (800x590)."""
    path = assets_dir() / "horse" / "images" / "horse001.jpg"
    if not path.is_file():
        pytest.skip(f"asset {path} is absent (set RMBG_ASSETS to the shared assets folder)")
    return path


@pytest.fixture(scope="session")
def photo(horse_path: Path) -> bytes:
    """The horse photo as uploaded bytes (JPEG, 800x590 = 0.47 MP: above the 0.25 MP preview size)."""
    return horse_path.read_bytes()


@pytest.fixture(scope="session")
def small_photo(horse_path: Path) -> bytes:
    """The horse photo downscaled to 240x177 (PNG), for tests that do not care about size."""
    with Image.open(horse_path) as image:
        return encode(image.convert("RGB").resize((240, 177)), "PNG")


@pytest.fixture
def make_client(served_model) -> Iterator[Callable[..., "TestClient"]]:  # noqa: F821
    """``make_client(**settings)`` → a started TestClient on a new app sharing the loaded model."""
    from fastapi.testclient import TestClient

    from RMBG.server.app import create_app
    from RMBG.server.settings import ServerSettings

    clients = []

    def factory(**changes) -> TestClient:
        changes.setdefault("api_keys", (API_KEY,))
        client = TestClient(create_app(ServerSettings(**changes)))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def client(served_model):
    """A started TestClient on an app with default settings (u2netp, the test key)."""
    from fastapi.testclient import TestClient

    from RMBG.server.app import create_app
    from RMBG.server.settings import ServerSettings

    with TestClient(create_app(ServerSettings(api_keys=(API_KEY,)))) as started:
        yield started
