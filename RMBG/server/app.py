"""The FastAPI application: ``create_app(settings)``.

Routes::

    POST /api/removebg   (also /v1.0/removebg)   remove.bg-compatible background removal
    GET  /api/account    (also /v1.0/account)    remove.bg's account shape
    GET  /api/models                             models and post-processors the page offers
    GET  /healthz                                liveness and queue state (no key needed)
    GET  /                                       the web page (static/index.html)
    GET  /docs                                   FastAPI's OpenAPI page

Concurrency: each model name is loaded once per process (shared by every app created in it) and
called by one thread at a time. Each app gives each model a thread pool of ``workers`` threads
behind a bounded queue of ``queue_size`` waiting requests; a full queue answers 429 with
``Retry-After``. Requests that run past ``request_timeout_s`` get 504 (their work still finishes
in the background and keeps its queue slot until then, so the bound holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from RMBG.server.auth import API_KEY_HEADER, ApiKeyAuth
from RMBG.server.removebg import (
    ALL_FIELDS,
    CHANNELS,
    OUTPUT_FORMATS,
    ApiError,
    RemoveBgParams,
    RemoveBgResult,
    decode_photo,
    fetch_url,
    fit_megapixels,
    parse_params,
    render,
)
from RMBG.server.settings import SIZE_MEGAPIXELS, ServerSettings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Content-Security-Policy of the web page: its own scripts and styles only, result images as blob: URLs.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


# --- models: one instance per name per process --------------------------------------------------
@dataclass
class LoadedModel:
    """A model loaded once per process; ``lock`` lets one thread at a time call it."""

    name: str
    remover: Any
    lock: threading.Lock

    def predict(self, image: np.ndarray) -> np.ndarray:
        """The mask (HxW float32 in [0, 1]) of one photo."""
        with self.lock:
            return self.remover.predict_masks([image])[0]


_LOADED: dict[str, LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


def get_model(name: str) -> LoadedModel:
    """The process-wide instance of model ``name``, loaded (and traced once) on first use."""
    with _LOADED_LOCK:
        if name not in _LOADED:
            from RMBG.inference.remover import Remover

            started = time.perf_counter()
            remover = Remover(name, backend="keras", batch_size=1)
            remover.predict_masks([np.zeros((32, 32, 3), np.uint8)])  # trace the tf.function now, not on a request
            _LOADED[name] = LoadedModel(name, remover, threading.Lock())
            log.info("loaded model %s in %.1f s", name, time.perf_counter() - started)
        return _LOADED[name]


def loaded_models() -> list[str]:
    """Names of the models loaded in this process."""
    with _LOADED_LOCK:
        return sorted(_LOADED)


class ModelRunner:
    """A model's worker threads behind a bounded queue.

    Args:
        name: the model name.
        workers: threads running requests for this model.
        queue_size: requests that may wait beyond those running.
    """

    def __init__(self, name: str, workers: int, queue_size: int):
        self.name = name
        self.workers = workers
        self.capacity = workers + queue_size
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"rmbg-{name}")
        self._active = 0
        self._lock = threading.Lock()
        self._durations: deque[float] = deque(maxlen=32)

    @property
    def active(self) -> int:
        """Requests admitted and not finished (running or waiting)."""
        with self._lock:
            return self._active

    def _retry_after_locked(self) -> int:
        typical = sum(self._durations) / len(self._durations) if self._durations else 1.0
        return max(1, math.ceil(typical * self._active / self.workers))

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Run ``function(*args)`` on a worker, or raise 429 when the queue is full."""
        with self._lock:
            if self._active >= self.capacity:
                retry = self._retry_after_locked()
                raise ApiError(
                    429, "queue_full", "Server busy: too many requests waiting",
                    f"model {self.name!r}: {self._active} requests are running or queued (workers + queue_size = "
                    f"{self.capacity}); retry after {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            self._active += 1
        started: list[float] = []

        def timed() -> Any:
            started.append(time.perf_counter())
            return function(*args)

        def finished(future: Future) -> None:
            with self._lock:
                self._active -= 1
                if started and not future.cancelled() and future.exception() is None:
                    self._durations.append(time.perf_counter() - started[0])

        try:
            future = self.executor.submit(timed)
        except RuntimeError:
            with self._lock:
                self._active -= 1
            raise ApiError(503, "shutting_down", "Server is shutting down", "retry against another instance",
                           headers={"Retry-After": "5"}) from None
        future.add_done_callback(finished)
        return future

    def shutdown(self) -> None:
        """Stop accepting work; queued requests are cancelled, running ones finish."""
        self.executor.shutdown(wait=False, cancel_futures=True)


# --- request bodies ----------------------------------------------------------------------------
def _limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises 413 as soon as the body streamed in exceeds ``limit`` bytes."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise ApiError(413, "file_too_large", "File too large",
                               f"the request body exceeds the limit of {limit} bytes (max_upload_bytes); send a smaller "
                               "image (base64 adds a third)")
        return message

    return wrapped


async def read_fields(request: Request, settings: ServerSettings, timeout: float) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Fields and uploaded files of a JSON, urlencoded-form or multipart request, size- and time-capped.

    Raises:
        ApiError: 413 over ``max_upload_bytes``, 408 past ``timeout``, 415 for another content
            type, 400 for malformed bodies and repeated fields.
    """
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ApiError(413, "file_too_large", "File too large",
                       f"Content-Length {declared} exceeds the limit of {limit} bytes (max_upload_bytes); send a smaller image")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    limited = Request(request.scope, _limited_receive(request.receive, limit))

    async def read() -> tuple[dict[str, Any], dict[str, bytes]]:
        if content_type == "application/json":
            body = await limited.body()
            try:
                data = json.loads(body or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ApiError(400, "invalid_json", "Invalid JSON body", f"the body is not valid JSON ({error})") from None
            if not isinstance(data, dict):
                raise ApiError(400, "invalid_json", "Invalid JSON body",
                               f"expected a JSON object of parameters, got {type(data).__name__}")
            return data, {}
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                form = await limited.form(max_files=4, max_fields=len(ALL_FIELDS) + 4, max_part_size=limit)
            except StarletteHTTPException as error:
                raise ApiError(400, "invalid_form", "Malformed form body", str(error.detail)) from None
            fields: dict[str, Any] = {}
            files: dict[str, bytes] = {}
            try:
                for key, value in form.multi_items():
                    if key in fields or key in files:
                        raise ApiError(400, f"invalid_{key}", f"Invalid {key} parameter given",
                                       f"{key}: given more than once; send each parameter once")
                    if isinstance(value, UploadFile):
                        files[key] = await value.read()
                    else:
                        fields[key] = value
            finally:
                await form.close()
            return fields, files
        raise ApiError(415, "invalid_content_type", "Unsupported content type",
                       f"Content-Type {content_type or '(none)'!r}: send multipart/form-data, "
                       "application/x-www-form-urlencoded or application/json")

    try:
        return await asyncio.wait_for(read(), timeout=timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, "request_timeout", "Request body took too long",
                       f"the body was not received within {timeout:g} s (read_timeout_s)") from None


# --- the work done on a model's thread -----------------------------------------------------------
def process_request(
    model: str, params: RemoveBgParams, image_bytes: bytes, bg_bytes: bytes | None, max_pixels: int,
) -> RemoveBgResult:
    """Decode, predict, post-process and render one request (runs on a worker thread)."""
    from RMBG.inference.postprocess import postprocess

    image = decode_photo(image_bytes, params.image_source, max_pixels)
    original_size = (image.shape[1], image.shape[0])
    image = fit_megapixels(image, params.max_megapixels)
    background = decode_photo(bg_bytes, params.bg_image_source or "bg_image_file", max_pixels) if bg_bytes is not None else None
    mask = get_model(model).predict(image)
    try:
        alpha, foreground = postprocess(params.post, image, mask)
    except (ValueError, TypeError, FileNotFoundError) as error:  # RMBG's messages name the problem and the fix
        log.exception("post-processor %r failed", params.post)
        raise ApiError(500, "post_failed", "Post-processing failed",
                       f"post: {params.post!r} cannot run on this server ({error}); choose another post-processor, or have "
                       "the operator remove it from post_processors") from None
    return render(params, image, alpha, foreground, background, original_size)


# --- the app -----------------------------------------------------------------------------------
class SecurityHeaders:
    """Adds ``nosniff``, ``no-referrer`` and ``DENY`` framing headers to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _field_schema() -> dict:
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
        "bg_color": {**text, "description": "Hex (fff, 81d4fa, 81d4fa77) or a colour name."},
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


_ERROR_SCHEMA = {
    "content": {"application/json": {"schema": {"type": "object", "properties": {"errors": {"type": "array", "items": {
        "type": "object", "properties": {"title": {"type": "string"}, "code": {"type": "string"}, "detail": {"type": "string"}}}}}}}},
}


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the app.

    Args:
        settings: the server settings; ``api_keys`` must not be empty.

    Raises:
        ValueError: no API key, a model that is unknown or has no pretrained weights, or a
            configured post-processor that is not registered.
    """
    from RMBG.inference.postprocess import POSTPROCESSORS
    from RMBG.registry import list_models, model_info

    auth = ApiKeyAuth(settings.api_keys)
    available = list_models(pretrained=True)
    missing = [name for name in settings.models if name not in available]
    if missing:
        raise ValueError(f"models: {missing} are not registered models with pretrained weights; choose from {available}")
    if settings.post_processors is not None:
        unknown = [name for name in settings.post_processors if name not in POSTPROCESSORS]
        if unknown:
            raise ValueError(f"post_processors: {unknown} are not registered; registered ones are {sorted(POSTPROCESSORS)}")
    if settings.preload:
        for name in settings.models:
            get_model(name)

    runners = {name: ModelRunner(name, settings.workers, settings.queue_size) for name in settings.models}

    def allowed_post_processors() -> list[str]:
        names = sorted(POSTPROCESSORS)  # read at request time: matting registers more names later
        return names if settings.post_processors is None else [n for n in settings.post_processors if n in POSTPROCESSORS]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        for runner in runners.values():
            runner.shutdown()

    app = FastAPI(
        title="RMBG background removal",
        version="1.0",
        description="remove.bg-compatible background removal served by RMBG. Authenticate with the X-Api-Key header.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runners = runners
    app.add_middleware(SecurityHeaders)

    key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="An API key the server was started with.")

    def require_key(key: str | None = Security(key_header)) -> None:
        auth.check(key)

    @app.exception_handler(ApiError)
    async def api_error_handler(_: Request, error: ApiError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error_handler(_: Request, error: StarletteHTTPException) -> JSONResponse:
        from http import HTTPStatus

        try:
            title = HTTPStatus(error.status_code).phrase
        except ValueError:
            title = "Error"
        return _error_response(ApiError(error.status_code, f"http_{error.status_code}", title, str(error.detail), headers=error.headers))

    @app.exception_handler(RequestValidationError)
    async def validation_error_handler(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error_response(ApiError(400, "invalid_request", "Invalid request", f"{where}: {first.get('msg', 'invalid')}"))

    async def removebg(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.request_timeout_s
        fields, files = await read_fields(request, settings, min(settings.read_timeout_s, settings.request_timeout_s))
        params, image_bytes, bg_bytes = parse_params(
            fields, files, default_size=settings.default_size, max_pixels=settings.max_pixels,
            models=settings.models, default_model=settings.model_default,
            post_processors=allowed_post_processors(), allow_url_fetch=settings.allow_url_fetch,
        )
        fetch_options = dict(max_bytes=settings.max_upload_bytes, max_redirects=settings.url_max_redirects)
        if params.image_url is not None:
            image_bytes = await run_in_threadpool(
                fetch_url, params.image_url, field_name="image_url",
                timeout_s=min(settings.url_fetch_timeout_s, max(deadline - loop.time(), 0.001)), **fetch_options)
        if params.bg_image_url is not None:
            bg_bytes = await run_in_threadpool(
                fetch_url, params.bg_image_url, field_name="bg_image_url",
                timeout_s=min(settings.url_fetch_timeout_s, max(deadline - loop.time(), 0.001)), **fetch_options)
        future = runners[params.model].submit(process_request, params.model, params, image_bytes, bg_bytes, settings.max_pixels)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", "Processing timed out",
                           f"the request took longer than {settings.request_timeout_s:g} s (request_timeout_s); retry later or "
                           "ask for a smaller result (size=preview)", headers={"Retry-After": "5"}) from None
        except ApiError:
            raise
        except Exception as error:  # a bug or an unexpected model failure: log it, answer JSON
            log.exception("removebg failed")
            raise ApiError(500, "internal_error", "Internal server error",
                           f"{type(error).__name__} while processing the image; the server log has the details") from None
        if "application/json" in request.headers.get("accept", "").lower():
            return JSONResponse(result.json_body(), headers=result.headers())
        headers = result.headers()
        headers["Content-Disposition"] = f'inline; filename="no-bg.{result.extension}"'
        return Response(result.content, media_type=result.media_type, headers=headers)

    removebg_doc = dict(
        summary="Remove the background of an image (remove.bg-compatible)",
        openapi_extra={"requestBody": _field_schema()},
        responses={
            200: {"description": "The result image (or JSON with result_b64 when Accept: application/json)",
                  "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/zip": {}},
                  "headers": {name: {"schema": {"type": "string"}} for name in (
                      "X-Width", "X-Height", "X-Type", "X-Credits-Charged", "X-Foreground-Top", "X-Foreground-Left",
                      "X-Foreground-Width", "X-Foreground-Height")}},
            400: {"description": "Invalid parameters or unreadable image", **_ERROR_SCHEMA},
            401: {"description": "Missing API key", **_ERROR_SCHEMA},
            403: {"description": "Wrong API key", **_ERROR_SCHEMA},
            408: {"description": "Request body too slow", **_ERROR_SCHEMA},
            413: {"description": "Request body too large", **_ERROR_SCHEMA},
            415: {"description": "Unsupported content type", **_ERROR_SCHEMA},
            429: {"description": "Queue full (see Retry-After)", **_ERROR_SCHEMA},
            504: {"description": "Processing timed out", **_ERROR_SCHEMA},
        },
        response_class=Response,
    )
    app.add_api_route("/api/removebg", removebg, methods=["POST"], dependencies=[Security(require_key)], **removebg_doc)
    app.add_api_route("/v1.0/removebg", removebg, methods=["POST"], dependencies=[Security(require_key)],
                      include_in_schema=False, **removebg_doc)

    def account() -> dict:
        return {"data": {"attributes": {
            "credits": {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0},
            "api": {"free_calls": settings.account_free_calls, "sizes": "all"},
        }}}

    account_doc = dict(summary="Credit balance (remove.bg's shape; this server charges no credits)",
                       responses={401: _ERROR_SCHEMA, 403: _ERROR_SCHEMA})
    app.add_api_route("/api/account", account, methods=["GET"], dependencies=[Security(require_key)], **account_doc)
    app.add_api_route("/v1.0/account", account, methods=["GET"], dependencies=[Security(require_key)],
                      include_in_schema=False, **account_doc)

    @app.get("/api/models", dependencies=[Security(require_key)], summary="Models, post-processors and options the server offers")
    def models() -> dict:
        entries = []
        for name in settings.models:
            spec = model_info(name)
            entries.append({"name": name, "description": spec.description,
                            "input_size": list(spec.input_size) if spec.input_size else None,
                            "default": name == settings.model_default})
        return {
            "models": entries,
            "default_model": settings.model_default,
            "post_processors": allowed_post_processors(),
            "sizes": list(SIZE_MEGAPIXELS),
            "default_size": settings.default_size,
            "formats": list(OUTPUT_FORMATS),
            "channels": list(CHANNELS),
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels},
        }

    @app.get("/healthz", summary="Liveness and queue state (no key needed)")
    def healthz() -> dict:
        loaded = set(loaded_models())
        return {"status": "ok", "models": {
            name: {"loaded": name in loaded, "active": runner.active, "capacity": runner.capacity}
            for name, runner in runners.items()
        }}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
