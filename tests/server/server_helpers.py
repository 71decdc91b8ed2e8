"""Helpers shared by the server tests (imported by name: tests/server has no __init__.py)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

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
