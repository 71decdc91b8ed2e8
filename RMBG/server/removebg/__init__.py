"""The remove.bg-compatible endpoint's rules, without a web framework or a model.

Follows remove.bg's published OpenAPI description of ``POST /v1.0/removebg`` and
``GET /v1.0/account`` (request fields, ``X-Width``/``X-Height``/``X-Type``/``X-Credits-Charged``
and ``X-Foreground-*`` headers, the ``{"errors": [{"title", "code", "detail"}]}`` error body);
``docs/serving.md`` lists every field, what this server does with it, and where it differs.

One job per module: :mod:`.params` (the fields), :mod:`.urlfetch` (``image_url`` without SSRF),
:mod:`.decode` (bytes → photo, allowed formats only), :mod:`.layout` (roi, crop, scale, position,
compositing) and :mod:`.render` (the encoded answer and its headers). Nothing here imports
FastAPI or TensorFlow, so the rules are testable without a model.
"""

from __future__ import annotations

from RMBG.server.errors import ApiError
from RMBG.server.removebg.decode import decode_photo, fit_megapixels
from RMBG.server.removebg.params import ALL_FIELDS, CHANNELS, OUTPUT_FORMATS, RemoveBgParams, parse_params
from RMBG.server.removebg.render import RemoveBgResult, render
from RMBG.server.removebg.urlfetch import address_refusal, fetch_url

__all__ = [
    "ALL_FIELDS", "CHANNELS", "OUTPUT_FORMATS", "ApiError", "RemoveBgParams", "RemoveBgResult", "address_refusal",
    "decode_photo", "fetch_url", "fit_megapixels", "parse_params", "render",
]
