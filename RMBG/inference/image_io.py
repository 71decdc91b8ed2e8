"""Robust image input and output shared by the remover, the datasets tools, evaluation and the server.

Every real photo becomes an ``HxWx3`` uint8 RGB array: EXIF orientation is applied; grayscale,
palette, CMYK, LA/RGBA, 16-bit and float images are converted; corrupt, truncated and oversized
files raise :class:`ImageReadError` naming the file and the problem. Writes are atomic (a temporary
file in the same folder, then a rename), so a crash never leaves a half-written output and never
destroys an existing file before the new one is complete.

Imports no TensorFlow.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from RMBG.atomic import atomic_write_bytes

ImageSource = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray]

#: File name extensions treated as images when scanning folders.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: Default pixel cap: 24 MP phone photos pass with room to spare; decompression bombs do not.
DEFAULT_MAX_PIXELS = 120_000_000


class ImageReadError(ValueError):
    """An image could not be read. ``source`` names the file (or the kind of object) and ``reason`` says why."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"cannot read image {source}: {reason}")


def describe_source(source: object) -> str:
    """A short human name for an image source, used in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    if isinstance(source, np.ndarray):
        return f"<array {source.dtype} {source.shape}>"
    return f"<{type(source).__name__}>"


def _open_pil(source: ImageSource, max_pixels: int) -> Image.Image:
    """Open and fully decode ``source`` with PIL, enforcing the pixel cap before decoding."""
    name = describe_source(source)
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray)):
            if len(source) == 0:
                raise ImageReadError(name, "the data is empty")
            handle: object = io.BytesIO(bytes(source))
        else:
            path = Path(os.fspath(source))
            if not path.exists():
                raise ImageReadError(name, "no such file")
            if path.is_dir():
                raise ImageReadError(name, "it is a folder, not an image file")
            if path.stat().st_size == 0:
                raise ImageReadError(name, "the file is empty (0 bytes)")
            handle = path
        try:
            # PIL's global limit is left alone (changing it is not thread-safe); our own, lower
            # cap is checked below. PIL refuses past twice its limit (about 179 MP) by itself.
            image = Image.open(handle)
        except Image.DecompressionBombError as error:
            raise ImageReadError(name, f"too many pixels: {error}") from None
        except UnidentifiedImageError:
            raise ImageReadError(name, "not a recognised image format (corrupt, or not an image)") from None
        except OSError as error:
            raise ImageReadError(name, f"cannot open it ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageReadError(
            name,
            f"{width}x{height} = {width * height / 1e6:.1f} MP exceeds the limit of {max_pixels / 1e6:.0f} MP "
            "(pass a larger max_pixels if the file is genuine)",
        )
    if width == 0 or height == 0:
        raise ImageReadError(name, f"it has no pixels ({width}x{height})")
    try:
        image.load()
    except OSError as error:
        message = str(error)
        if "truncated" in message:
            message = f"the file is truncated ({message})"
        raise ImageReadError(name, message) from None
    except (ValueError, SyntaxError) as error:  # PIL raises these for some corrupt headers
        raise ImageReadError(name, f"corrupt image data ({error})") from None
    return image


def _high_depth_to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit or 32-bit integer and float pixel data to uint8."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        # Float images are [0, 1] by convention; values above 1 are treated as [0, 255].
        scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    if array.dtype == np.uint16 or (np.issubdtype(array.dtype, np.integer) and array.max(initial=0) > 255):
        maximum = 65535.0 if array.max(initial=0) > 255 or array.dtype == np.uint16 else 255.0
        return np.clip(array.astype(np.float64) * (255.0 / maximum) + 0.5, 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


def _pil_to_rgb_array(image: Image.Image, name: str) -> np.ndarray:
    """Convert any PIL mode to an HxWx3 uint8 RGB array."""
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not make a readable photo unreadable
        pass
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _high_depth_to_uint8(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA").convert("RGB")
    elif mode != "RGB":
        try:
            image = image.convert("RGB")
        except (ValueError, OSError) as error:
            raise ImageReadError(name, f"unsupported image mode {mode!r} ({error})") from None
    return np.asarray(image, dtype=np.uint8).copy()


def _array_to_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """Convert an ndarray (gray, gray+1, RGB, RGBA; any depth) to HxWx3 uint8 RGB."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageReadError(name, "expected an array of shape HxW, HxWx1, HxWx3 or HxWx4")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(name, "the array has no pixels")
    array = _high_depth_to_uint8(array)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo as an ``HxWx3`` uint8 RGB array.

    Args:
        source: a file path, encoded bytes, a PIL image or an ndarray (RGB order assumed).
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).

    Returns:
        The image, EXIF orientation applied, as a C-contiguous uint8 array.

    Raises:
        ImageReadError: the source is missing, empty, corrupt, truncated, too large or of an
            unsupported mode. The message names the source and the problem.
    """
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        if source.shape[0] * (source.shape[1] if source.ndim > 1 else 1) > max_pixels:
            raise ImageReadError(name, f"more than {max_pixels / 1e6:.0f} MP")
        return _array_to_rgb(source, name)
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, Image.Image)):
        raise TypeError(
            f"image: expected a path, bytes, PIL.Image or numpy array, got {type(source).__name__}"
        )
    return _pil_to_rgb_array(_open_pil(source, max_pixels), name)


def load_mask(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a mask or alpha matte as an ``HxW`` float32 array in [0, 1].

    RGB masks are converted to luminance; RGBA and LA masks use their alpha channel when it is
    not constant, else their luminance; 16-bit masks are scaled by 65535.

    Raises:
        ImageReadError: as :func:`load_image`.
    """
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 3:
            array = array[..., 3] if array.shape[2] == 4 else array[..., :3].mean(axis=2) if array.shape[2] == 3 else array[..., 0]
        if array.ndim != 2:
            raise ImageReadError(name, "expected a mask of shape HxW or HxWxC")
        if np.issubdtype(array.dtype, np.floating):
            return np.clip(array.astype(np.float32), 0.0, 1.0)
        return _high_depth_to_uint8(array).astype(np.float32) / 255.0
    image = _open_pil(source, max_pixels)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_uint8(np.asarray(image)).astype(np.float32) / 255.0
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() != alpha.max():
            return alpha.astype(np.float32) / 255.0
        image = rgba.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def list_images(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (sorted), by extension, skipping hidden files.

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"input folder '{root}' does not exist or is not a folder")
    pattern = root.rglob("*") if recursive else root.glob("*")
    return sorted(
        p for p in pattern
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def _to_pil(image: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = _high_depth_to_uint8(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def encode_image(image: np.ndarray | Image.Image, format: str = "png", *, quality: int = 95) -> bytes:
    """Encode an image to bytes. JPEG cannot hold alpha: an RGBA image raises rather than losing it."""
    pil = _to_pil(image)
    fmt = format.lower().lstrip(".")
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    if fmt == "jpeg" and pil.mode in ("RGBA", "LA"):
        raise ValueError("format='jpeg' cannot store transparency: use png or webp for RGBA cutouts, or give a background colour")
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt in ("jpeg", "webp") else {"compress_level": 1} if fmt == "png" else {}
    pil.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def save_image(path: str | os.PathLike, image: np.ndarray | Image.Image, *, quality: int = 95) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file in the same folder, then rename).

    The format follows the extension. PNG is written with fast compression (level 1): output
    encoding was the bottleneck of batch removal, and the files stay lossless.
    """
    data = encode_image(image, Path(path).suffix or ".png", quality=quality)
    return atomic_write_bytes(path, data)
