"""Shared fixtures of the Preprocess tests (a helper module, not a conftest.py: a second conftest.py
would shadow tests/conftest.py for `from conftest import require_asset`). Import the fixtures by name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


class Files:
    """Writes small synthetic photos and masks."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def image(self, path: Path, size: tuple[int, int] = (32, 24), mode: str = "RGB") -> Path:
        """A noisy photo of ``size = (width, height)`` in PIL ``mode``, format from the extension."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = size
        pixels = self.rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if mode != "RGB":
            image = image.convert(mode)
        image.save(path)
        return path

    def mask(self, path: Path, size: tuple[int, int] = (32, 24), *, fill: str = "box") -> Path:
        """A binary mask (a centred box; ``fill="empty"`` or ``"full"``); JPEG paths make it lossy."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = size
        values = np.zeros((height, width), np.uint8)
        if fill == "box":
            values[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
        elif fill == "full":
            values[:] = 255
        Image.fromarray(values).save(path, **({"quality": 75} if path.suffix.lower() in (".jpg", ".jpeg") else {}))
        return path

    def pair(self, root: Path, stem: str, size=(32, 24), image_ext=".jpg", mask_ext=".png",
             images="images", masks="masks") -> tuple[Path, Path]:
        """An image and its mask under ``root/images`` and ``root/masks``."""
        return (
            self.image(Path(root) / images / f"{stem}{image_ext}", size),
            self.mask(Path(root) / masks / f"{stem}{mask_ext}", size),
        )


@pytest.fixture
def files() -> Files:
    return Files()


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """``relative path -> content hash`` of every file under ``folder``."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tree_snapshot():
    return snapshot
