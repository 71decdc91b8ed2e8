"""OpenAPI descriptions of the routes, for ``/docs`` and ``/openapi.json``."""

from __future__ import annotations

from fastapi.responses import Response

from RMBG.server.removebg.params import CHANNELS, OUTPUT_FORMATS
from RMBG.server.settings import SIZE_MEGAPIXELS


def field_schema() -> dict:
    """OpenAPI schema of the remove.bg request fields, for /docs."""
    text = {"type": "string"}
    properties = {
        "image_file": {"type": "string", "format": "binary", "description": "Source image file (multipart only)."},
        "image_file_b64": {**text, "description": "Source image, base64-encoded."},
        "image_url": {**text, "description": "Source image URL (only when the server sets allow_url_fetch)."},
        "size": {**text, "enum": list(SIZE_MEGAPIXELS), "description": "Output resolution: preview = 0.25 MP, medium 1.5, hd 4, full/4k/auto 25, 50mp 50 (all capped by max_pixels)."},
        "type": {**text, "description": "Foreground type; accepted and echoed as X-Type ('other' for auto): this server has no foreground classifier."},
        "type_level": {**text, "enum": ["none", "1", "2", "latest"]},
        "format": {**text, "enum": list(OUTPUT_FORMATS), "description": "auto = png if any transparency else jpg; zip = color.jpg + alpha.png."},
        "channels": {**text, "enum": list(CHANNELS)},
        "roi": {**text, "description": "Region of interest 'x1 y1 x2 y2' (px or %)."},
        "crop": {"type": "boolean"},
        "crop_margin": {**text, "description": "1, 2 or 4 lengths, px or % of the subject; at most 50% of the subject or 500 px per side."},
        "scale": {**text, "description": "'original' or 10%..100% of the canvas."},
        "position": {**text, "description": "'original', 'center', 'x%' or 'x% y%'."},
        "semitransparency": {"type": "boolean", "description": "false binarises the matte at 0.5."},
        "add_shadow": {"type": "boolean", "description": "Only false is accepted."},
        "bg_color": {**text, "description": "Hex (fff, 81d4fa, 81d4fa77), a colour name, or rgb()/rgba()/hsl() with channels in 0..255 and percentages up to 100%."},
        "bg_image_file": {"type": "string", "format": "binary", "description": "Background image (multipart only)."},
        "bg_image_url": {**text, "description": "Background image URL (only with allow_url_fetch)."},
        "model": {**text, "description": "RMBG extra: a model name from GET /api/models."},
        "post": {**text, "description": "RMBG extra: a post-processor name from GET /api/models."},
    }
    json_properties = {k: v for k, v in properties.items() if k not in ("image_file", "bg_image_file")}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": properties}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": json_properties}},
            "application/json": {"schema": {"type": "object", "properties": json_properties}},
        },
    }


ERROR_SCHEMA = {
    "content": {"application/json": {"schema": {"type": "object", "properties": {"errors": {"type": "array", "items": {
        "type": "object", "properties": {"title": {"type": "string"}, "code": {"type": "string"}, "detail": {"type": "string"}}}}}}}},
}


REMOVEBG_DOC: dict = dict(
    summary="Remove the background of an image (remove.bg-compatible)",
    openapi_extra={"requestBody": field_schema()},
    responses={
        200: {"description": "The result image (or JSON with result_b64 when Accept: application/json)",
              "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/zip": {}},
              "headers": {name: {"schema": {"type": "string"}} for name in (
                  "X-Width", "X-Height", "X-Type", "X-Credits-Charged", "X-Foreground-Top", "X-Foreground-Left",
                  "X-Foreground-Width", "X-Foreground-Height")}},
        400: {"description": "Invalid parameters, an unreadable image, or an API key in the query string", **ERROR_SCHEMA},
        401: {"description": "Missing API key", **ERROR_SCHEMA},
        403: {"description": "Wrong API key", **ERROR_SCHEMA},
        408: {"description": "Request body too slow", **ERROR_SCHEMA},
        413: {"description": "Request body too large", **ERROR_SCHEMA},
        415: {"description": "Unsupported content type", **ERROR_SCHEMA},
        429: {"description": "Queue full (see Retry-After)", **ERROR_SCHEMA},
        500: {"description": "The post-processor cannot run here, or a bug (the server log has it)", **ERROR_SCHEMA},
        504: {"description": "Processing timed out", **ERROR_SCHEMA},
    },
    response_class=Response,
)

ACCOUNT_DOC: dict = dict(summary="Credit balance (remove.bg's shape; this server charges no credits)",
                         responses={401: ERROR_SCHEMA, 403: ERROR_SCHEMA})
