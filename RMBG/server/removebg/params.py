"""remove.bg request fields: the field list, :class:`RemoveBgParams` and the parser of each field.

Every bad value is a 400 naming the field, the value received (cut to 80 characters) and what is
expected; nothing here can raise anything else for any JSON or form value (numbers too large for
a float, channels outside 0..255, nested JSON values and overlong fields included).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from PIL import ImageColor

from RMBG.server.errors import ApiError, bad_param
from RMBG.server.removebg.urlfetch import check_url_syntax
from RMBG.server.settings import SIZE_MEGAPIXELS

#: Foreground types remove.bg accepts for ``type``. This server has no foreground classifier:
#: ``X-Type`` echoes the requested type, and ``other`` for ``auto``.
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "graphics", "transportation", "other")
TYPE_LEVELS = ("none", "1", "2", "latest")
OUTPUT_FORMATS = ("auto", "png", "jpg", "webp", "zip")
CHANNELS = ("rgba", "alpha")

#: Fields of remove.bg's request, plus this server's ``model`` and ``post``.
REMOVEBG_FIELDS = (
    "image_file", "image_file_b64", "image_url", "size", "type", "type_level", "format", "roi", "crop",
    "crop_margin", "scale", "position", "channels", "add_shadow", "semitransparency", "shadow_method",
    "bg_color", "bg_image_url", "bg_image_file",
)
EXTRA_FIELDS = ("model", "post")
ALL_FIELDS = REMOVEBG_FIELDS + EXTRA_FIELDS
FILE_FIELDS = ("image_file", "bg_image_file")

#: Longest text value of any field but ``image_file_b64`` (URLs included): every valid value is
#: far shorter, and a cap keeps the parsers' work bounded.
MAX_FIELD_CHARS = 4096

#: Digits allowed before the decimal point of a length (``roi``, ``crop_margin``): 999,999,999 px is
#: beyond any image under ``max_pixels``; longer numbers would overflow to infinity.
MAX_LENGTH_DIGITS = 9

NO_MARGIN = ((0.0, "px"),) * 4


@dataclass(frozen=True)
class RemoveBgParams:
    """A validated request (image bytes are carried separately)."""

    image_source: str  # "image_file", "image_file_b64" or "image_url"
    image_url: str | None = None
    size: str = "preview"
    max_megapixels: float = 0.25
    type: str = "auto"
    type_level: str = "1"
    format: str = "auto"
    roi: tuple[tuple[float, str], ...] | None = None
    crop: bool = False
    crop_margin: tuple[tuple[float, str], ...] = NO_MARGIN
    scale: float | None = None
    position: tuple[float, float] | str = "original"
    channels: str = "rgba"
    semitransparency: bool = True
    bg_color: tuple[int, int, int, int] | None = None
    bg_image_source: str | None = None  # "bg_image_file" or "bg_image_url"
    bg_image_url: str | None = None
    model: str = "u2netp"
    post: str = "none"

    @property
    def x_type(self) -> str | None:
        """The ``X-Type`` header value, or ``None`` for ``type_level=none``."""
        if self.type_level == "none":
            return None
        return "other" if self.type == "auto" else self.type


# --- single fields -----------------------------------------------------------------------------
def parse_bool(field_name: str, value: Any) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``) from JSON or a form field."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise bad_param(field_name, value, "expected true or false")


def parse_choice(field_name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` lower-cased when it is one of ``choices``."""
    text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text not in choices:
        raise bad_param(field_name, value, f"expected one of {list(choices)}")
    return text


def parse_length(field_name: str, token: str, *, allow_bare: bool = True, whole: Any = None) -> tuple[float, str]:
    """``"30px"``, ``"10%"`` (or a bare number, meaning px) → ``(value, unit)``; ``whole`` is the field's value for errors."""
    match = re.fullmatch(r"(\d+)(\.\d+)?(px|%)?", token.strip().lower())
    value = token if whole is None else whole
    if not match or (match.group(3) is None and not allow_bare):
        raise bad_param(field_name, value,
                        f"{token!r} is not a length; expected lengths such as '30px' or '10%'" + ("" if allow_bare else " (with a unit)"))
    if len(match.group(1).lstrip("0")) > MAX_LENGTH_DIGITS:
        raise bad_param(field_name, value, f"a length of {len(match.group(1))} digits is too large; lengths have at most "
                        f"{MAX_LENGTH_DIGITS} digits before the decimal point")
    return float(match.group(1) + (match.group(2) or "")), match.group(3) or "px"


def parse_crop_margin(value: Any) -> tuple[tuple[float, str], ...]:
    """One, two or four lengths → (top, right, bottom, left), CSS order."""
    tokens = str(value).replace(",", " ").split()
    if len(tokens) not in (1, 2, 4):
        raise bad_param("crop_margin", value, "expected 1, 2 or 4 lengths such as '30px', '10% 20px' or '1px 2px 3px 4px'")
    lengths = [parse_length("crop_margin", t, whole=value) for t in tokens]
    if len(lengths) == 1:
        lengths *= 4
    elif len(lengths) == 2:
        lengths = [lengths[0], lengths[1], lengths[0], lengths[1]]
    return tuple(lengths)


def _percentage(token: str) -> float | None:
    """``"30%"`` → 0.3; ``None`` for anything but a percentage from 0% to 100%."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", token)
    if not match:
        return None
    number = float(match.group(1))  # a 400-digit number is inf here, refused below
    return number / 100.0 if number <= 100.0 else None


def parse_scale(value: Any) -> float | None:
    """``"original"`` → ``None``; ``"10%"`` .. ``"100%"`` → a fraction."""
    text = str(value).strip().lower()
    if text == "original":
        return None
    fraction = _percentage(text)
    if fraction is None or fraction < 0.1:
        raise bad_param("scale", value, "expected 'original' or a percentage from '10%' to '100%'")
    return fraction


def parse_position(value: Any) -> tuple[float, float] | str:
    """``"original"``, ``"center"``, ``"x%"`` (both axes) or ``"x% y%"`` → fractions in [0, 1]."""
    text = str(value).strip().lower()
    if text == "original":
        return "original"
    if text in ("center", "centre"):
        return (0.5, 0.5)
    values = [_percentage(token) for token in text.split()]
    if len(values) not in (1, 2) or None in values:
        raise bad_param("position", value,
                        "expected 'original', 'center', one percentage ('30%') or two ('30% 70%', horizontal then vertical)")
    return (values[0], values[-1])


def parse_roi(value: Any) -> tuple[tuple[float, str], ...]:
    """``"x1 y1 x2 y2"`` with ``px`` or ``%`` on each."""
    tokens = str(value).split()
    if len(tokens) != 4:
        raise bad_param("roi", value, "expected four coordinates 'x1 y1 x2 y2' such as '0% 0% 100% 100%' or '10px 20px 300px 400px'")
    return tuple(parse_length("roi", t, allow_bare=False, whole=value) for t in tokens)


_COLOR_EXPECTED = "expected a hex colour ('81d4fa', 'fff', '81d4fa77') or a colour name ('green')"


def parse_bg_color(value: Any) -> tuple[int, int, int, int]:
    """remove.bg's colours: hex with 3, 4, 6 or 8 digits (``81d4fa``, ``fff``, ``81d4fa77``) or a CSS colour.

    CSS functions (``rgb()``, ``rgba()``, ``hsl()``, ``hsv()``) are accepted when every channel
    is within 0..255 and every percentage within 0%..100%.
    """
    text = str(value).strip()
    match = re.fullmatch(r"#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})", text)
    if match:
        digits = match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        channels = [int(digits[i:i + 2], 16) for i in range(0, len(digits), 2)]
        return tuple(channels + [255] * (4 - len(channels)))  # type: ignore[return-value]
    try:
        rgb = ImageColor.getrgb(text)
    except ValueError:
        raise bad_param("bg_color", value, _COLOR_EXPECTED) from None
    too_large = [p for p in re.findall(r"(\d+(?:\.\d+)?)\s*%", text) if float(p) > 100.0]
    if too_large:
        raise bad_param("bg_color", value, f"percentages must be within 0%..100%, got {too_large[0]}%")
    if any(not 0 <= channel <= 255 for channel in rgb):
        raise bad_param("bg_color", value, f"gives channels {tuple(rgb)}; every channel must be within 0..255")
    return tuple(list(rgb) + [255] * (4 - len(rgb)))  # type: ignore[return-value]


def decode_base64(field_name: str, value: Any) -> bytes:
    """Bytes from base64 (standard or URL-safe alphabet; a ``data:...;base64,`` prefix is allowed)."""
    if not isinstance(value, str):
        raise bad_param(field_name, type(value).__name__, "expected a base64-encoded string")
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = re.sub(r"\s+", "", text)
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise bad_param(field_name, value, "expected base64-encoded image data") from None


# --- the whole request -------------------------------------------------------------------------
def _check_field_names(fields: Mapping[str, Any], files: Mapping[str, bytes]) -> None:
    misplaced = sorted(set(files) & (set(ALL_FIELDS) - set(FILE_FIELDS)))
    if misplaced:
        raise ApiError(400, f"invalid_{misplaced[0]}", f"Invalid {misplaced[0]} parameter given",
                       f"{misplaced[0]}: got a file upload; expected a text value (files go in {list(FILE_FIELDS)})")
    unknown = sorted(set(fields) - set(ALL_FIELDS)) + sorted(set(files) - set(ALL_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_parameter", "Unknown parameter given",
                       f"{shown_name(unknown[0])}: not a parameter of this endpoint; valid ones are {list(ALL_FIELDS)}")


def shown_name(name: str) -> str:
    """A field name as quoted in errors (cut: a client may send a 1 MB name)."""
    return name if len(name) <= 64 else name[:61] + "..."


def _given_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Non-empty fields; each must be a JSON scalar (a string, a finite number or a boolean) of bounded length."""
    given = {}
    for name, value in fields.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        if not isinstance(value, (str, bool, int, float)):
            raise bad_param(name, type(value).__name__, "expected a string, a number or true/false (no lists or objects)")
        if isinstance(value, float) and not math.isfinite(value):
            raise bad_param(name, value, "expected a finite number")
        if name != "image_file_b64" and isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            raise bad_param(name, value, f"{len(value)} characters; at most {MAX_FIELD_CHARS} are accepted")
        given[name] = value
    return given


def _image_source(given: Mapping[str, Any], uploads: Mapping[str, bytes], allow_url_fetch: bool) -> tuple[str, bytes | None, str | None]:
    """``(source field, image bytes or None, image_url or None)``."""
    sources = [name for name in ("image_file", "image_file_b64", "image_url") if name in given or name in uploads]
    if not sources:
        raise ApiError(400, "missing_source", "No image given",
                       "Please provide the source image in the image_url, image_file or image_file_b64 parameter.")
    if len(sources) > 1:
        raise ApiError(400, "multiple_sources", "Multiple image sources given",
                       f"got {sources}; please provide either the image_url, image_file or image_file_b64 parameter.")
    source = sources[0]
    if source == "image_file":
        if "image_file" in given:
            raise ApiError(400, "invalid_image_file", "Invalid image_file parameter given",
                           "image_file: got a text value; expected a file upload (multipart/form-data), or base64 data in image_file_b64")
        return source, uploads["image_file"], None
    if source == "image_file_b64":
        return source, decode_base64("image_file_b64", given["image_file_b64"]), None
    url = str(given["image_url"]).strip()
    if not allow_url_fetch:
        raise ApiError(400, "url_fetch_disabled", "image_url is disabled on this server",
                       "image_url: fetching images by URL is off; upload the file (image_file or image_file_b64), "
                       "or have the operator set allow_url_fetch: true")
    check_url_syntax("image_url", url)
    return source, None, url


def _background(given: Mapping[str, Any], uploads: Mapping[str, bytes], allow_url_fetch: bool) -> dict[str, Any]:
    """``bg_color``, ``bg_image_source``, ``bg_image_url`` and the background file's bytes (``bg_bytes``)."""
    bg_sources = [name for name in ("bg_color", "bg_image_url", "bg_image_file") if name in given or name in uploads]
    if len(bg_sources) > 1:
        raise ApiError(400, "multiple_bg_sources", "Multiple background sources given",
                       f"got {bg_sources}; please provide either the bg_color, the bg_image_url or the bg_image_file parameter.")
    if "bg_image_file" in given:
        raise ApiError(400, "invalid_bg_image_file", "Invalid bg_image_file parameter given",
                       "bg_image_file: got a text value; expected a file upload (multipart/form-data)")
    bg_url = None
    if "bg_image_url" in given:
        bg_url = str(given["bg_image_url"]).strip()
        if not allow_url_fetch:
            raise ApiError(400, "url_fetch_disabled", "bg_image_url is disabled on this server",
                           "bg_image_url: fetching images by URL is off; upload bg_image_file, or have the operator set allow_url_fetch: true")
        check_url_syntax("bg_image_url", bg_url, code="invalid_bg_image_url")
    return {
        "bg_color": parse_bg_color(given["bg_color"]) if "bg_color" in given else None,
        "bg_image_source": bg_sources[0] if bg_sources and bg_sources[0] != "bg_color" else None,
        "bg_image_url": bg_url,
        "bg_bytes": uploads.get("bg_image_file"),
    }


def _layout_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """``format``, ``channels``, ``roi``, ``crop``, ``crop_margin``, ``scale``, ``position``, ``semitransparency``."""
    if "add_shadow" in given and parse_bool("add_shadow", given["add_shadow"]):
        raise bad_param("add_shadow", given["add_shadow"], "this server does not add shadows; send false or leave it out")
    if "shadow_method" in given:
        parse_choice("shadow_method", given["shadow_method"], ("latest", "legacy"))
    scale = parse_scale(given["scale"]) if "scale" in given else None
    if "position" in given:
        position = parse_position(given["position"])
    else:
        position = (0.5, 0.5) if scale is not None else "original"
    output_format = given.get("format", "auto")
    return {
        "format": parse_choice("format", "jpg" if str(output_format).strip().lower() == "jpeg" else output_format, OUTPUT_FORMATS),
        "channels": parse_choice("channels", given.get("channels", "rgba"), CHANNELS),
        "roi": parse_roi(given["roi"]) if "roi" in given else None,
        "crop": parse_bool("crop", given["crop"]) if "crop" in given else False,
        "crop_margin": parse_crop_margin(given["crop_margin"]) if "crop_margin" in given else NO_MARGIN,
        "scale": scale,
        "position": position,
        "semitransparency": parse_bool("semitransparency", given["semitransparency"]) if "semitransparency" in given else True,
    }


def parse_params(
    fields: Mapping[str, Any],
    files: Mapping[str, bytes],
    *,
    default_size: str,
    max_pixels: int,
    models: Sequence[str],
    default_model: str,
    post_processors: Sequence[str],
    allow_url_fetch: bool,
) -> tuple[RemoveBgParams, bytes | None, bytes | None]:
    """Validate a request's fields.

    Args:
        fields: non-file fields (from JSON, a form or a multipart body); empty strings count as absent.
        files: uploaded files by field name (``image_file``, ``bg_image_file``).
        default_size: ``size`` when none is given.
        max_pixels: the server's pixel cap (caps every ``size``).
        models: model names requests may choose.
        default_model: the model when none is given.
        post_processors: post-processor names requests may choose.
        allow_url_fetch: whether ``image_url``/``bg_image_url`` are accepted.

    Returns:
        ``(params, image_bytes, bg_image_bytes)``; image bytes are ``None`` for ``image_url``
        (fetched later), bg bytes ``None`` unless a background file was sent.

    Raises:
        ApiError: 400 naming the field, the value and what is expected.
    """
    _check_field_names(fields, files)
    given = _given_fields(fields)
    uploads = {k: v for k, v in files.items() if v is not None}
    source, image_bytes, image_url = _image_source(given, uploads, allow_url_fetch)
    size = parse_choice("size", given.get("size", default_size), tuple(SIZE_MEGAPIXELS))
    background = _background(given, uploads, allow_url_fetch)
    bg_bytes = background.pop("bg_bytes")
    model = str(given.get("model", default_model))
    if model not in models:
        raise bad_param("model", model, f"expected one of the models this server offers: {list(models)}")
    post = str(given.get("post", "none"))
    if post not in post_processors:
        raise bad_param("post", post, f"expected one of {sorted(post_processors)}")
    params = RemoveBgParams(
        image_source=source, image_url=image_url, size=size,
        max_megapixels=min(SIZE_MEGAPIXELS[size] or math.inf, max_pixels / 1e6),
        type=parse_choice("type", given.get("type", "auto"), TYPES),
        type_level=parse_choice("type_level", given.get("type_level", "1"), TYPE_LEVELS),
        model=model, post=post, **background, **_layout_options(given),
    )
    return params, image_bytes, bg_bytes
