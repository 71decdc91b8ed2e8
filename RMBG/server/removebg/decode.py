"""Uploaded bytes → an RGB photo: only the documented formats, the pixel cap checked before decoding.

Pillow is asked to identify only :data:`RMBG.inference.image_io.DECODE_FORMATS` (JPEG, PNG, WebP,
BMP, TIFF, GIF; camera MPO files are JPEG), so no other decoder ever sees a client's bytes (EPS,
which hands files to Ghostscript, included).
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from RMBG.inference.image_io import DECODE_FORMATS, ImageReadError, load_image
from RMBG.server.errors import ApiError

#: What error details call the accepted formats.
FORMAT_NAMES = "JPG, PNG, WebP, BMP, TIFF, GIF"

#: File signatures, to tell "a broken PNG" from "not an image at all".
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"),
          (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _unreadable(data: bytes, field_name: str) -> ApiError:
    """The error for bytes no allowed decoder identifies: corrupt (known signature) or another format."""
    head = data[:12]
    kind = next((name for magic, name in _MAGIC if head.startswith(magic) and (name != "WebP" or head[8:12] == b"WEBP")), None)
    if kind is not None:
        return ApiError(400, "failed_to_read_image", "There was an error reading the image.",
                        f"{field_name}: the {len(data)} bytes start like a {kind} file but cannot be read: the file is "
                        "truncated or corrupt")
    return ApiError(400, "invalid_file_type", "Invalid file type",
                    f"{field_name}: {len(data)} bytes starting with {data[:8]!r} are not an image format this server reads "
                    f"({FORMAT_NAMES})")


def probe_size(data: bytes, field_name: str) -> tuple[int, int]:
    """(width, height) from the header, without decoding pixels; 400 for anything unreadable."""
    if not data:
        raise ApiError(400, "failed_to_read_image", "Empty image",
                       f"{field_name}: the data is empty (0 bytes); send a {FORMAT_NAMES} image")
    try:
        with Image.open(io.BytesIO(data), formats=DECODE_FORMATS) as probe:
            return probe.size
    except UnidentifiedImageError:
        raise _unreadable(data, field_name) from None
    except Image.DecompressionBombError as error:
        raise ApiError(400, "resolution_too_high", "Image resolution too high", f"{field_name}: {error}") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ApiError(400, "failed_to_read_image", "There was an error reading the image.", f"{field_name}: {error}") from None


def decode_photo(data: bytes, field_name: str, max_pixels: int) -> np.ndarray:
    """Bytes → HxWx3 uint8 RGB; every bad input is a 400 naming the field and the reason.

    The dimensions are read from the header first, so an oversized image (decompression bomb)
    is refused before any pixel is decoded.
    """
    width, height = probe_size(data, field_name)
    if width * height > max_pixels:
        raise ApiError(400, "resolution_too_high", "Image resolution too high",
                       f"{field_name}: input image has {width}x{height} = {width * height / 1e6:.2f} megapixels, the server's "
                       f"limit is {max_pixels / 1e6:.2f} megapixels (max_pixels); send a smaller image")
    try:
        return load_image(data, max_pixels=max_pixels)
    except ImageReadError as error:
        raise ApiError(400, "failed_to_read_image", "There was an error reading the image.", f"{field_name}: {error.reason}") from None


def fit_megapixels(image: np.ndarray, megapixels: float) -> np.ndarray:
    """Downscale (area interpolation, aspect kept) so the image has at most ``megapixels``; never upscales."""
    height, width = image.shape[:2]
    limit = megapixels * 1e6
    if height * width <= limit:
        return image
    factor = math.sqrt(limit / (height * width))
    new_w, new_h = max(1, int(width * factor)), max(1, int(height * factor))
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
