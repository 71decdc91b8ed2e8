"""The remove.bg-compatible endpoint: request parsing, image fetching and decoding, and the result.

Follows remove.bg's published OpenAPI description of ``POST /v1.0/removebg`` and
``GET /v1.0/account`` (request fields, ``X-Width``/``X-Height``/``X-Type``/``X-Credits-Charged``
and ``X-Foreground-*`` headers, the ``{"errors": [{"title", "code", "detail"}]}`` error body);
``docs/serving.md`` lists every field, what this server does with it, and where it differs.

Nothing here imports FastAPI or TensorFlow: the app feeds plain mappings in and gets bytes and
headers out, so the rules are testable without a model.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import io
import ipaddress
import math
import re
import socket
import ssl
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urljoin, urlsplit

import cv2
import numpy as np
from PIL import Image, ImageColor, UnidentifiedImageError

from RMBG.inference.compose import compose
from RMBG.inference.image_io import ImageReadError, encode_image, load_image
from RMBG.server.settings import SIZE_MEGAPIXELS

#: Foreground types remove.bg accepts for ``type``. This server has no foreground classifier:
#: ``X-Type`` echoes the requested type, and ``other`` for ``auto``.
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "graphics", "transportation", "other")
TYPE_LEVELS = ("none", "1", "2", "latest")
OUTPUT_FORMATS = ("auto", "png", "jpg", "webp", "zip")
CHANNELS = ("rgba", "alpha")

#: Alpha above which a pixel counts as subject for ``crop``, ``scale``, ``position`` and ``X-Foreground-*``.
SUBJECT_THRESHOLD = 0.05

#: Largest margin on each side for ``crop_margin`` (remove.bg: 50% of the subject or 500 px).
MAX_MARGIN_PX = 500
MAX_MARGIN_FRACTION = 0.5

#: Fields of remove.bg's request, plus this server's ``model`` and ``post``.
REMOVEBG_FIELDS = (
    "image_file", "image_file_b64", "image_url", "size", "type", "type_level", "format", "roi", "crop",
    "crop_margin", "scale", "position", "channels", "add_shadow", "semitransparency", "shadow_method",
    "bg_color", "bg_image_url", "bg_image_file",
)
EXTRA_FIELDS = ("model", "post")
ALL_FIELDS = REMOVEBG_FIELDS + EXTRA_FIELDS
FILE_FIELDS = ("image_file", "bg_image_file")


class ApiError(Exception):
    """An error answered in remove.bg's format: ``{"errors": [{"title", "code", "detail"}]}``.

    Args:
        status: the HTTP status.
        code: a stable machine-readable code (remove.bg's where it has one).
        title: a short summary.
        detail: what was wrong (field and value) and how to fix it.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, code: str, title: str, detail: str = "", *, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {code}: {title}" + (f" ({detail})" if detail else ""))
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """The JSON body."""
        error = {"title": self.title, "code": self.code}
        if self.detail:
            error["detail"] = self.detail
        return {"errors": [error]}


def _bad(field_name: str, value: Any, expected: str, code: str | None = None) -> ApiError:
    shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
    return ApiError(400, code or f"invalid_{field_name}", f"Invalid {field_name} parameter given", f"{field_name}: got {shown!r}; {expected}")


# --- request parameters ------------------------------------------------------------------------
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
    crop_margin: tuple[tuple[float, str], ...] = ((0.0, "px"),) * 4
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


def parse_bool(field_name: str, value: Any) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``) from JSON or a form field."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise _bad(field_name, value, "expected true or false")


def _choice(field_name: str, value: Any, choices: Sequence[str]) -> str:
    text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text not in choices:
        raise _bad(field_name, value, f"expected one of {list(choices)}")
    return text


def parse_length(field_name: str, token: str, *, allow_bare: bool = True, whole: Any = None) -> tuple[float, str]:
    """``"30px"``, ``"10%"`` (or a bare number, meaning px) → ``(value, unit)``; ``whole`` is the field's value for errors."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(px|%)?", token.strip().lower())
    if not match or (match.group(2) is None and not allow_bare):
        raise _bad(field_name, token if whole is None else whole,
                   f"{token!r} is not a length; expected lengths such as '30px' or '10%'" + ("" if allow_bare else " (with a unit)"))
    return float(match.group(1)), match.group(2) or "px"


def parse_crop_margin(value: Any) -> tuple[tuple[float, str], ...]:
    """One, two or four lengths → (top, right, bottom, left), CSS order."""
    tokens = str(value).replace(",", " ").split()
    if len(tokens) not in (1, 2, 4):
        raise _bad("crop_margin", value, "expected 1, 2 or 4 lengths such as '30px', '10% 20px' or '1px 2px 3px 4px'")
    lengths = [parse_length("crop_margin", t, whole=value) for t in tokens]
    if len(lengths) == 1:
        lengths *= 4
    elif len(lengths) == 2:
        lengths = [lengths[0], lengths[1], lengths[0], lengths[1]]
    return tuple(lengths)


def parse_scale(value: Any) -> float | None:
    """``"original"`` → ``None``; ``"10%"`` .. ``"100%"`` → a fraction."""
    text = str(value).strip().lower()
    if text == "original":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", text)
    if not match or not 10.0 <= float(match.group(1)) <= 100.0:
        raise _bad("scale", value, "expected 'original' or a percentage from '10%' to '100%'")
    return float(match.group(1)) / 100.0


def parse_position(value: Any) -> tuple[float, float] | str:
    """``"original"``, ``"center"``, ``"x%"`` (both axes) or ``"x% y%"`` → fractions in [0, 1]."""
    text = str(value).strip().lower()
    if text == "original":
        return "original"
    if text in ("center", "centre"):
        return (0.5, 0.5)
    tokens = text.split()
    values = []
    for token in tokens:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", token)
        if not match or float(match.group(1)) > 100.0:
            values = []
            break
        values.append(float(match.group(1)) / 100.0)
    if len(values) not in (1, 2) or len(values) != len(tokens):
        raise _bad("position", value, "expected 'original', 'center', one percentage ('30%') or two ('30% 70%', horizontal then vertical)")
    return (values[0], values[-1])


def parse_roi(value: Any) -> tuple[tuple[float, str], ...]:
    """``"x1 y1 x2 y2"`` with ``px`` or ``%`` on each."""
    tokens = str(value).split()
    if len(tokens) != 4:
        raise _bad("roi", value, "expected four coordinates 'x1 y1 x2 y2' such as '0% 0% 100% 100%' or '10px 20px 300px 400px'")
    return tuple(parse_length("roi", t, allow_bare=False, whole=value) for t in tokens)


def parse_bg_color(value: Any) -> tuple[int, int, int, int]:
    """remove.bg's colours: hex with 3, 4, 6 or 8 digits (``81d4fa``, ``fff``, ``81d4fa77``) or a CSS name."""
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
        raise _bad("bg_color", value, "expected a hex colour ('81d4fa', 'fff', '81d4fa77') or a colour name ('green')") from None
    return tuple(list(rgb) + [255] * (4 - len(rgb)))  # type: ignore[return-value]


def decode_base64(field_name: str, value: Any) -> bytes:
    """Bytes from base64 (standard or URL-safe alphabet; a ``data:...;base64,`` prefix is allowed)."""
    if not isinstance(value, str):
        raise _bad(field_name, type(value).__name__, "expected a base64-encoded string")
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = re.sub(r"\s+", "", text)
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(field_name, value, "expected base64-encoded image data") from None


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
        (fetched later), bg bytes ``None`` unless a background file or base64 was sent.

    Raises:
        ApiError: 400 naming the field, the value and what is expected.
    """
    misplaced = sorted(set(files) & (set(ALL_FIELDS) - set(FILE_FIELDS)))
    if misplaced:
        raise ApiError(400, f"invalid_{misplaced[0]}", f"Invalid {misplaced[0]} parameter given",
                       f"{misplaced[0]}: got a file upload; expected a text value (files go in {list(FILE_FIELDS)})")
    unknown = sorted(set(fields) - set(ALL_FIELDS)) + sorted(set(files) - set(ALL_FIELDS))
    if unknown:
        raise ApiError(
            400, "unknown_parameter", "Unknown parameter given",
            f"{unknown[0]}: not a parameter of this endpoint; valid ones are {list(ALL_FIELDS)}",
        )
    given = {k: v for k, v in fields.items() if not (v is None or (isinstance(v, str) and v.strip() == ""))}
    uploads = {k: v for k, v in files.items() if v is not None}

    sources = [name for name in ("image_file", "image_file_b64", "image_url") if name in given or name in uploads]
    if not sources:
        raise ApiError(400, "missing_source", "No image given",
                       "Please provide the source image in the image_url, image_file or image_file_b64 parameter.")
    if len(sources) > 1:
        raise ApiError(400, "multiple_sources", "Multiple image sources given",
                       f"got {sources}; please provide either the image_url, image_file or image_file_b64 parameter.")
    source = sources[0]
    image_bytes: bytes | None = None
    image_url = None
    if source == "image_file":
        if "image_file" in given:
            raise ApiError(400, "invalid_image_file", "Invalid image_file parameter given",
                           "image_file: got a text value; expected a file upload (multipart/form-data), or base64 data in image_file_b64")
        image_bytes = uploads["image_file"]
    elif source == "image_file_b64":
        image_bytes = decode_base64("image_file_b64", given["image_file_b64"])
    else:
        image_url = str(given["image_url"]).strip()
        if not allow_url_fetch:
            raise ApiError(400, "url_fetch_disabled", "image_url is disabled on this server",
                           "image_url: fetching images by URL is off; upload the file (image_file or image_file_b64), "
                           "or have the operator set allow_url_fetch: true")
        check_url_syntax("image_url", image_url)

    size = _choice("size", given.get("size", default_size), tuple(SIZE_MEGAPIXELS))
    max_megapixels = min(SIZE_MEGAPIXELS[size] or math.inf, max_pixels / 1e6)

    bg_sources = [name for name in ("bg_color", "bg_image_url", "bg_image_file") if name in given or name in uploads]
    if len(bg_sources) > 1:
        raise ApiError(400, "multiple_bg_sources", "Multiple background sources given",
                       f"got {bg_sources}; please provide either the bg_color, the bg_image_url or the bg_image_file parameter.")
    bg_color = parse_bg_color(given["bg_color"]) if "bg_color" in given else None
    bg_bytes: bytes | None = None
    bg_url = None
    if "bg_image_file" in given:
        raise ApiError(400, "invalid_bg_image_file", "Invalid bg_image_file parameter given",
                       "bg_image_file: got a text value; expected a file upload (multipart/form-data)")
    if "bg_image_file" in uploads:
        bg_bytes = uploads["bg_image_file"]
    if "bg_image_url" in given:
        bg_url = str(given["bg_image_url"]).strip()
        if not allow_url_fetch:
            raise ApiError(400, "url_fetch_disabled", "bg_image_url is disabled on this server",
                           "bg_image_url: fetching images by URL is off; upload bg_image_file, or have the operator set allow_url_fetch: true")
        check_url_syntax("bg_image_url", bg_url, code="invalid_bg_image_url")

    if "add_shadow" in given and parse_bool("add_shadow", given["add_shadow"]):
        raise _bad("add_shadow", given["add_shadow"], "this server does not add shadows; send false or leave it out")
    if "shadow_method" in given:
        _choice("shadow_method", given["shadow_method"], ("latest", "legacy"))

    model = str(given.get("model", default_model))
    if model not in models:
        raise _bad("model", model, f"expected one of the models this server offers: {list(models)}")
    post = str(given.get("post", "none"))
    if post not in post_processors:
        raise _bad("post", post, f"expected one of {sorted(post_processors)}")

    scale = parse_scale(given["scale"]) if "scale" in given else None
    if "position" in given:
        position = parse_position(given["position"])
    else:
        position = (0.5, 0.5) if scale is not None else "original"

    params = RemoveBgParams(
        image_source=source,
        image_url=image_url,
        size=size,
        max_megapixels=max_megapixels,
        type=_choice("type", given.get("type", "auto"), TYPES),
        type_level=_choice("type_level", given.get("type_level", "1"), TYPE_LEVELS),
        format=_choice("format", "jpg" if str(given.get("format", "")).strip().lower() == "jpeg" else given.get("format", "auto"), OUTPUT_FORMATS),
        roi=parse_roi(given["roi"]) if "roi" in given else None,
        crop=parse_bool("crop", given["crop"]) if "crop" in given else False,
        crop_margin=parse_crop_margin(given["crop_margin"]) if "crop_margin" in given else ((0.0, "px"),) * 4,
        scale=scale,
        position=position,
        channels=_choice("channels", given.get("channels", "rgba"), CHANNELS),
        semitransparency=parse_bool("semitransparency", given["semitransparency"]) if "semitransparency" in given else True,
        bg_color=bg_color,
        bg_image_source=bg_sources[0] if bg_sources and bg_sources[0] != "bg_color" else None,
        bg_image_url=bg_url,
        model=model,
        post=post,
    )
    return params, image_bytes, bg_bytes


# --- URL fetching ------------------------------------------------------------------------------
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def address_refusal(address: str) -> str | None:
    """Why a fetch must not connect to ``address``, or ``None`` when it is a public address.

    Refuses loopback, private, link-local (cloud metadata services live there), reserved,
    multicast, unspecified and other non-global addresses, also when written as IPv4-mapped IPv6.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attribute, label in (  # most specific first: is_private also covers several of the others
        ("is_loopback", "a loopback address"), ("is_link_local", "a link-local address"),
        ("is_unspecified", "the unspecified address"), ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"), ("is_private", "a private address"),
    ):
        if getattr(ip, attribute):
            return label
    if not ip.is_global:
        return "not a globally routable address"
    return None


def check_url_syntax(field_name: str, url: str, *, code: str | None = None) -> None:
    """Refuse anything but ``http(s)://host[:port]/...`` without credentials."""
    code = code or f"invalid_{field_name}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad(field_name, url, "expected an http:// or https:// URL", code) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(field_name, url, "expected an http:// or https:// URL with a host name", code)
    if parts.username or parts.password:
        raise _bad(field_name, url, "URLs with credentials (user:password@) are not fetched", code)
    if port == 0:
        raise _bad(field_name, url, "port 0 is not a valid port", code)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address checked beforehand (no second DNS lookup that could answer differently)."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is verified against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch_url(
    url: str,
    *,
    field_name: str = "image_url",
    max_bytes: int,
    timeout_s: float,
    max_redirects: int = 3,
    resolver: Resolver = system_resolver,
    refusal: Callable[[str], str | None] = address_refusal,
) -> bytes:
    """Download ``url`` safely: every address it resolves to must be public, the connection goes to
    a checked address, redirects are checked again, and size and total time are capped.

    Args:
        url: an http(s) URL.
        field_name: the request field, for error messages.
        max_bytes: refuse bodies larger than this (``Content-Length`` or counted while reading).
        timeout_s: total seconds for the whole fetch, redirects included.
        max_redirects: redirects followed.
        resolver: ``resolver(host, port) -> addresses`` (tests inject one; no real DNS needed).
        refusal: ``refusal(address) -> reason or None``.

    Raises:
        ApiError: 400 with ``invalid_<field>`` for a refused URL or address,
            ``failed_image_download`` for network failures, bad statuses and timeouts, and
            ``file_too_large`` for a body over ``max_bytes``.
    """
    code_invalid = "invalid_bg_image_url" if field_name == "bg_image_url" else "invalid_image_url"
    code_failed = "failed_bg_download" if field_name == "bg_image_url" else "failed_image_download"
    deadline = time.monotonic() + timeout_s

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                           f"{field_name}: {url!r} took longer than {timeout_s:g} s (url_fetch_timeout_s)")
        return left

    current = url
    for _ in range(max_redirects + 1):
        check_url_syntax(field_name, current, code=code_invalid)
        parts = urlsplit(current)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError) as error:
            raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                           f"{field_name}: cannot resolve host {host!r} ({error})") from None
        if not addresses:
            raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                           f"{field_name}: host {host!r} resolves to no address")
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise ApiError(400, code_invalid, f"Invalid {field_name}: address not allowed",
                               f"{field_name}: host {host!r} resolves to {address}, {reason}; only public addresses are fetched")
        connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        connection = connection_class(host, port, addresses[0], timeout=min(remaining(), timeout_s))
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target, headers={"User-Agent": "RMBG-server", "Accept": "image/*"})
            sock = connection.sock  # the response may take the socket over; keep it to tighten timeouts
            sock.settimeout(remaining())
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                                   f"{field_name}: redirect {response.status} without a Location header")
                current = urljoin(current, location)
                continue
            if response.status != 200:
                raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                               f"{field_name}: {current!r} answered HTTP {response.status}")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ApiError(400, "file_too_large", "File too large",
                               f"{field_name}: {declared} bytes exceed the limit of {max_bytes} bytes (max_upload_bytes)")
            chunks, total = [], 0
            while True:
                if not response.isclosed():
                    sock.settimeout(remaining())
                chunk = response.read(65536)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise ApiError(400, "file_too_large", "File too large",
                                   f"{field_name}: more than {max_bytes} bytes (max_upload_bytes)")
                chunks.append(chunk)
            return b"".join(chunks)
        except (OSError, http.client.HTTPException) as error:
            if isinstance(error, TimeoutError) or isinstance(error, socket.timeout):
                remaining()
            raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                           f"{field_name}: {current!r}: {type(error).__name__}: {error}") from None
        finally:
            connection.close()
    raise ApiError(400, code_failed, f"Failed to download image from given {field_name}",
                   f"{field_name}: more than {max_redirects} redirects (url_max_redirects)")


# --- decoding ----------------------------------------------------------------------------------
#: File signatures, to tell "a broken PNG" from "not an image at all".
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"),
          (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def decode_photo(data: bytes, field_name: str, max_pixels: int) -> np.ndarray:
    """Bytes → HxWx3 uint8 RGB; every bad input is a 400 naming the field and the reason.

    The dimensions are read from the header first, so an oversized image (decompression bomb)
    is refused before any pixel is decoded.
    """
    if not data:
        raise ApiError(400, "failed_to_read_image", "Empty image", f"{field_name}: the data is empty (0 bytes); send a JPG, PNG or WebP photo")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except UnidentifiedImageError:
        head = data[:12]
        kind = next((name for magic, name in _MAGIC if head.startswith(magic) and (name != "WebP" or head[8:12] == b"WEBP")), None)
        if kind is not None:
            raise ApiError(400, "failed_to_read_image", "There was an error reading the image.",
                           f"{field_name}: the {len(data)} bytes start like a {kind} file but cannot be read: the file is "
                           "truncated or corrupt") from None
        head = data[:8]
        raise ApiError(400, "invalid_file_type", "Invalid file type",
                       f"{field_name}: {len(data)} bytes starting with {head!r} are not an image format this server reads "
                       "(JPG, PNG, WebP, BMP, TIFF, GIF)") from None
    except Image.DecompressionBombError as error:
        raise ApiError(400, "resolution_too_high", "Image resolution too high", f"{field_name}: {error}") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ApiError(400, "failed_to_read_image", "There was an error reading the image.", f"{field_name}: {error}") from None
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


# --- geometry and composition ------------------------------------------------------------------
def subject_box(alpha8: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (exclusive ends) of pixels with alpha above :data:`SUBJECT_THRESHOLD`."""
    mask = alpha8 > int(SUBJECT_THRESHOLD * 255)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _to_px(length: tuple[float, str], reference: int) -> float:
    value, unit = length
    return value * reference / 100.0 if unit == "%" else value


def apply_roi(alpha: np.ndarray, roi: Sequence[tuple[float, str]], original_size: tuple[int, int] | None = None) -> np.ndarray:
    """Zero the matte outside the region of interest ``x1 y1 x2 y2``.

    Pixel coordinates refer to the image as uploaded (``original_size`` = (width, height)); they
    are scaled when ``size`` made the working image smaller.
    """
    height, width = alpha.shape
    orig_w, orig_h = original_size or (width, height)
    x1, y1, x2, y2 = (_to_px(roi[0], orig_w), _to_px(roi[1], orig_h), _to_px(roi[2], orig_w), _to_px(roi[3], orig_h))
    text = " ".join(f"{v:g}{u}" for v, u in roi)
    if x2 > orig_w or y2 > orig_h:
        raise ApiError(400, "roi_exceeds_bounds", "ROI exceeds image bounds",
                       f"roi: {text!r} reaches past the {orig_w}x{orig_h} image")
    sx, sy = width / orig_w, height / orig_h
    ix1, iy1, ix2, iy2 = int(round(x1 * sx)), int(round(y1 * sy)), int(round(x2 * sx)), int(round(y2 * sy))
    if ix2 <= ix1 or iy2 <= iy1:
        raise ApiError(400, "roi_region_empty", "ROI region is empty", f"roi: {text!r} defines an empty region; x2 must exceed x1 and y2 y1")
    out = np.zeros_like(alpha)
    out[iy1:iy2, ix1:ix2] = alpha[iy1:iy2, ix1:ix2]
    return out


def resize_rgba(layer: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGBA uint8 layer with premultiplied alpha (no dark fringes)."""
    if layer.shape[1] == width and layer.shape[0] == height:
        return layer
    a = layer[..., 3:4].astype(np.float32) / 255.0
    premultiplied = np.concatenate([layer[..., :3].astype(np.float32) * a, a * 255.0], axis=2)
    shrinking = width * height < layer.shape[0] * layer.shape[1]
    resized = cv2.resize(premultiplied, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    alpha = np.clip(resized[..., 3:4], 0.0, 255.0)
    safe = np.where(alpha > 0, alpha / 255.0, 1.0)
    rgb = np.where(alpha > 0, resized[..., :3] / safe, 0.0)
    return np.clip(np.concatenate([rgb, alpha], axis=2) + 0.5, 0, 255).astype(np.uint8)


def _paste(canvas: np.ndarray, piece: np.ndarray, left: int, top: int) -> None:
    """Copy ``piece`` into ``canvas`` at (left, top), clipped to the canvas."""
    ch, cw = canvas.shape[:2]
    ph, pw = piece.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + pw, cw), min(top + ph, ch)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = piece[y0 - top:y1 - top, x0 - left:x1 - left]


def place_subject(layer: np.ndarray, box: tuple[int, int, int, int], scale: float | None, position) -> np.ndarray:
    """remove.bg's ``scale`` and ``position`` on the original canvas.

    ``scale`` resizes the subject so that it fills that fraction of the canvas along its limiting
    side; ``position`` puts it at ``(x, y)`` fractions of the free space (0 = left/top,
    0.5 = centred, 1 = right/bottom); ``"original"`` keeps the subject's centre where it was.
    """
    if scale is None and position == "original":
        return layer
    height, width = layer.shape[:2]
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    factor = scale * min(width / box_w, height / box_h) if scale is not None else 1.0
    new_w, new_h = max(1, int(round(box_w * factor))), max(1, int(round(box_h * factor)))
    subject = resize_rgba(layer[y0:y1, x0:x1], new_w, new_h)
    if position == "original":
        left, top = int(round((x0 + x1) / 2 - new_w / 2)), int(round((y0 + y1) / 2 - new_h / 2))
    else:
        px, py = position
        left, top = int(round(px * (width - new_w))), int(round(py * (height - new_h)))
    canvas = np.zeros_like(layer)
    _paste(canvas, subject, left, top)
    return canvas


def crop_to_subject(layer: np.ndarray, margin: Sequence[tuple[float, str]]) -> np.ndarray:
    """Crop to the subject plus ``margin`` (top, right, bottom, left); space past the photo is transparent.

    Percentages are of the subject's height (top, bottom) or width (left, right); each side is
    capped at 50% of the subject's size and at 500 px, as remove.bg documents.
    """
    box = subject_box(layer[..., 3])
    if box is None:
        return layer
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    top, right, bottom, left = (
        int(round(min(_to_px(m, ref), MAX_MARGIN_FRACTION * ref, MAX_MARGIN_PX)))
        for m, ref in zip(margin, (box_h, box_w, box_h, box_w))
    )
    canvas = np.zeros((box_h + top + bottom, box_w + left + right, 4), np.uint8)
    cx0, cy0 = x0 - left, y0 - top
    _paste(canvas, layer, -cx0, -cy0)
    return canvas


def cover_resize(background: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to fill ``width`` x ``height`` keeping the aspect ratio, centred, cropping the overflow."""
    bh, bw = background.shape[:2]
    if (bw, bh) == (width, height):
        return background
    factor = max(width / bw, height / bh)
    new_w, new_h = max(width, int(math.ceil(bw * factor))), max(height, int(math.ceil(bh * factor)))
    resized = cv2.resize(background, (new_w, new_h), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return resized[top:top + height, left:left + width]


def composite_over(layer: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Porter-Duff "over": RGBA ``layer`` over an RGBA ``background`` of the same size → RGBA uint8."""
    fa = layer[..., 3:4].astype(np.float32) / 255.0
    ba = background[..., 3:4].astype(np.float32) / 255.0
    out_a = fa + ba * (1.0 - fa)
    premultiplied = layer[..., :3].astype(np.float32) * fa + background[..., :3].astype(np.float32) * ba * (1.0 - fa)
    rgb = np.where(out_a > 0, premultiplied / np.where(out_a > 0, out_a, 1.0), 0.0)
    return np.clip(np.concatenate([rgb, out_a * 255.0], axis=2) + 0.5, 0, 255).astype(np.uint8)


# --- the result --------------------------------------------------------------------------------
@dataclass
class RemoveBgResult:
    """What the endpoint answers: encoded bytes plus the values of remove.bg's headers."""

    content: bytes
    media_type: str
    extension: str
    width: int
    height: int
    foreground: tuple[int, int, int, int] | None  # top, left, width, height
    x_type: str | None
    credits_charged: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """``X-Width``, ``X-Height``, ``X-Type``, ``X-Credits-Charged`` and ``X-Foreground-*``."""
        headers = {"X-Width": str(self.width), "X-Height": str(self.height), "X-Credits-Charged": f"{self.credits_charged:g}"}
        if self.x_type is not None:
            headers["X-Type"] = self.x_type
        if self.foreground is not None:
            top, left, width, height = self.foreground
            headers.update({"X-Foreground-Top": str(top), "X-Foreground-Left": str(left),
                            "X-Foreground-Width": str(width), "X-Foreground-Height": str(height)})
        headers.update(self.extra_headers)
        return headers

    def json_body(self) -> dict:
        """remove.bg's JSON answer (``Accept: application/json``)."""
        data: dict[str, Any] = {"result_b64": base64.b64encode(self.content).decode("ascii")}
        if self.foreground is not None:
            top, left, width, height = self.foreground
            data.update({"foreground_top": top, "foreground_left": left, "foreground_width": width, "foreground_height": height})
        return {"data": data}


def _zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def render(
    params: RemoveBgParams,
    image: np.ndarray,
    alpha: np.ndarray,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
    original_size: tuple[int, int] | None = None,
) -> RemoveBgResult:
    """Turn a photo and its matte into the answer the request asked for.

    Order: ``roi`` and ``semitransparency`` on the matte → cutout → ``scale``/``position`` →
    ``crop`` (+ ``crop_margin``) → background (``bg_color`` or a background image, resized to
    cover the result) → ``channels`` and ``format``.

    Args:
        params: the validated request.
        image: the photo (already fitted to ``size``), HxWx3 uint8.
        alpha: its matte, HxW float in [0, 1].
        foreground: estimated foreground colours from the post-processor, or ``None``.
        background: a decoded background image (HxWx3 uint8), or ``None``.
        original_size: (width, height) of the photo as uploaded, for ``roi`` in pixels.

    Raises:
        ApiError: 400 ``unknown_foreground`` when the matte holds no subject, ``roi_*`` for a bad roi.
    """
    if params.roi is not None:
        alpha = apply_roi(alpha, params.roi, original_size)
    if not params.semitransparency:
        alpha = (alpha >= 0.5).astype(np.float32)
    layer = compose(image, alpha, "rgba", foreground=foreground)
    box = subject_box(layer[..., 3])
    if box is None:
        raise ApiError(400, "unknown_foreground", "Could not identify foreground in image.",
                       f"the {params.model} model found no subject (no pixel with alpha above {SUBJECT_THRESHOLD:g}); "
                       "try another model or a photo with a clear subject")
    layer = place_subject(layer, box, params.scale, params.position)
    if params.crop:
        layer = crop_to_subject(layer, params.crop_margin)
    height, width = layer.shape[:2]
    final_box = subject_box(layer[..., 3])
    foreground_box = None if final_box is None else (final_box[1], final_box[0], final_box[2] - final_box[0], final_box[3] - final_box[1])

    final = layer
    if params.bg_color is not None:
        final = composite_over(layer, np.broadcast_to(np.array(params.bg_color, np.uint8), layer.shape))
    elif background is not None:
        bg = cover_resize(background, width, height)
        final = composite_over(layer, np.dstack([bg, np.full(bg.shape[:2], 255, np.uint8)]))
    opaque = bool(final[..., 3].min() == 255)

    def result(content: bytes, media: str, extension: str) -> RemoveBgResult:
        return RemoveBgResult(content, media, extension, width, height, foreground_box, params.x_type)

    if params.format == "zip":
        return result(_zip({"color.jpg": encode_image(final[..., :3], "jpeg"), "alpha.png": encode_image(final[..., 3], "png")}),
                      "application/zip", "zip")
    if params.channels == "alpha":
        matte = layer[..., 3]
        if params.format == "jpg":
            return result(encode_image(matte, "jpeg"), "image/jpeg", "jpg")
        if params.format == "webp":
            return result(encode_image(matte, "webp"), "image/webp", "webp")
        return result(encode_image(matte, "png"), "image/png", "png")
    if params.format == "jpg" or (params.format == "auto" and opaque):
        rgb = final[..., :3] if opaque else composite_over(final, np.full_like(final, 255))[..., :3]
        return result(encode_image(rgb, "jpeg"), "image/jpeg", "jpg")
    if params.format == "webp":
        return result(encode_image(final, "webp"), "image/webp", "webp")
    return result(encode_image(final, "png"), "image/png", "png")
