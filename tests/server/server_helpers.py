"""Helpers and fixtures shared by the server tests.

tests/server has no __init__.py and no conftest.py (a second conftest module would shadow
tests/conftest.py for modules that import it by name), so test modules import what they use from
here by name, fixtures included. The model itself is loaded once per process (``load_predictor``).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
from PIL import Image

from RMBG.paths import assets_dir

API_KEY = "test-key-0123456789abcdefghijkl"
AUTH = {"X-Api-Key": API_KEY}


def encode(image: Image.Image | np.ndarray, fmt: str = "JPEG") -> bytes:
    """Encode a PIL image or an array to bytes."""
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt)
    return buffer.getvalue()


def decode(content: bytes) -> Image.Image:
    """Open response bytes as a PIL image (fully loaded)."""
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def assert_error(response, status: int, code: str) -> dict:
    """The response is remove.bg's error body with ``status`` and ``code``; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["code"] == code, error
    assert isinstance(error["title"], str) and error["title"]
    return error


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
    from RMBG.server.predictor import load_predictor

    return load_predictor("u2netp")


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


@contextlib.contextmanager
def live_server(settings, *, log_level: str = "warning") -> Iterator[str]:
    """The server ``serve`` runs (:func:`RMBG.server.http_server.build_server`) on 127.0.0.1, in a
    thread, on a port the OS picked; yields ``host:port``. Needs a model loaded (``served_model``)."""
    from RMBG.server.app import create_app
    from RMBG.server.http_server import build_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings.replace(port=port)
    server = build_server(create_app(settings), settings, log_level=log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 30 s"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
