"""The work one request does on its model's worker thread, and giving its memory back afterwards."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from RMBG.inference.postprocess import postprocess
from RMBG.server.errors import ApiError
from RMBG.server.predictor import MaskPredictor
from RMBG.server.removebg.decode import decode_photo, fit_megapixels, probe_size
from RMBG.server.removebg.layout import matte_to_uint8
from RMBG.server.removebg.params import RemoveBgParams
from RMBG.server.removebg.render import RemoveBgResult, render
from RMBG.server.runner import PixelBudget

log = logging.getLogger(__name__)

#: Requests of at least this many pixels hand freed heap memory back to the system when they end.
TRIM_AFTER_PIXELS = 1_000_000


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or ``None`` on another C library (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        function = getattr(ctypes.CDLL(name), "malloc_trim")
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def release_memory() -> bool:
    """Return the C heap's free memory to the system (``malloc_trim(0)``); ``False`` where unavailable.

    Without it a 25 MP request's buffers, freed, stay in glibc's per-thread arenas: the process
    kept about 100 MB (without the model) to 250-500 MB (with TensorFlow) more after one such
    request (docs/serving.md, "Memory").
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def process_request(
    predictor: MaskPredictor, params: RemoveBgParams, image_bytes: bytes, bg_bytes: bytes | None,
    max_pixels: int, budget: PixelBudget | None = None, post_options: Mapping[str, Any] | None = None,
) -> RemoveBgResult:
    """Decode, predict, post-process and render one request (runs on a worker thread).

    Args:
        predictor: the model (:func:`RMBG.server.predictor.load_predictor`).
        params: the validated request.
        image_bytes: the photo as uploaded or fetched.
        bg_bytes: the background image, or ``None``.
        max_pixels: the server's cap on each decoded image.
        budget: the model's pixel budget, held from decoding to the encoded result.
        post_options: keyword options for the post-processor (:func:`RMBG.server.app.post_options`).

    Raises:
        ApiError: 400 for unreadable images or a bad ``roi``, 500 ``post_failed`` when the
            post-processor cannot run here.
    """
    width, height = probe_size(image_bytes, params.image_source)
    pixels = width * height
    if bg_bytes is not None:
        bg_width, bg_height = probe_size(bg_bytes, params.bg_image_source or "bg_image_file")
        pixels += bg_width * bg_height
    held = budget.hold(min(pixels, budget.budget)) if budget is not None else contextlib.nullcontext()
    try:
        with held:
            return _run(predictor, params, image_bytes, bg_bytes, max_pixels, dict(post_options or {}))
    finally:
        if pixels >= TRIM_AFTER_PIXELS:
            release_memory()


def _run(predictor: MaskPredictor, params: RemoveBgParams, image_bytes: bytes, bg_bytes: bytes | None,
         max_pixels: int, post_options: dict[str, Any]) -> RemoveBgResult:
    image = decode_photo(image_bytes, params.image_source, max_pixels)
    original_size = (image.shape[1], image.shape[0])
    image = fit_megapixels(image, params.max_megapixels)
    background = decode_photo(bg_bytes, params.bg_image_source or "bg_image_file", max_pixels) if bg_bytes is not None else None
    mask = predictor.predict_mask(image)
    try:
        alpha, foreground = postprocess(params.post, image, mask, **post_options)
    except (ValueError, TypeError, FileNotFoundError) as error:  # RMBG's messages name the problem and the fix
        log.exception("post-processor %r failed", params.post)
        raise ApiError(500, "post_failed", "Post-processing failed",
                       f"post: {params.post!r} cannot run on this server ({error}); choose another post-processor, or have "
                       "the operator remove it from post_processors") from None
    del mask  # each full-size float32 matte is 4 bytes a pixel: keep only the 1-byte one from here on
    alpha = matte_to_uint8(alpha)
    return render(params, image, alpha, foreground, background, original_size)
