"""The FastAPI application: ``create_app(settings)``.

Routes::

    POST /api/removebg   (also /v1.0/removebg)   remove.bg-compatible background removal
    GET  /api/account    (also /v1.0/account)    remove.bg's account shape
    GET  /api/models                             models and post-processors the page offers
    GET  /healthz                                liveness and queue state (no key needed)
    GET  /                                       the web page (static/index.html)
    GET  /docs                                   FastAPI's OpenAPI page

Concurrency: each model is loaded once per process (:func:`RMBG.server.predictor.load_predictor`,
the one inference seam) and called by one thread at a time. Each app gives each model a
:class:`~RMBG.server.runner.ModelRunner`: ``workers`` threads behind a bounded queue of
``queue_size`` waiting requests (a full queue answers 429 with ``Retry-After``) and a pixel budget
they share. Requests that run past ``request_timeout_s`` get 504 (their work still finishes in
the background and keeps its queue slot until then, so the bound holds). Connection-level limits
(header timeout, connection cap) are the HTTP server's: :mod:`RMBG.server.http_server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from RMBG.inference.postprocess import POSTPROCESSORS
from RMBG.registry import ModelWithWeights, list_models, model_info
from RMBG.server.auth import API_KEY_HEADER, ApiKeyAuth
from RMBG.server.bodies import read_fields
from RMBG.server.errors import ApiError
from RMBG.server.middleware import KeyInQueryRefusal, SecurityHeaders
from RMBG.server.openapi import ACCOUNT_DOC, REMOVEBG_DOC
from RMBG.server.predictor import load_predictor, loaded_models
from RMBG.server.removebg.params import CHANNELS, OUTPUT_FORMATS, RemoveBgParams, parse_params
from RMBG.server.removebg.render import RemoveBgResult
from RMBG.server.removebg.urlfetch import fetch_url
from RMBG.server.runner import ModelRunner
from RMBG.server.settings import SIZE_MEGAPIXELS, ServerSettings
from RMBG.server.work import process_request

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def check_settings(settings: ServerSettings) -> None:
    """Refuse models with neither pretrained weights nor a local file, local weight files that are
    missing or of a family without an importer, and unregistered post-processors (ValueError naming them)."""
    available = list_models(pretrained=True)
    missing = [name for name in settings.models if name not in available and settings.weights_for(name) is None]
    if missing:
        raise ValueError(f"models: {missing} are not registered models with pretrained weights; choose from {available}, "
                         "or give a local weight file for each in weights")
    for name, weights in settings.weights:
        try:
            ModelWithWeights.of(name, weights, task="segmentation")  # TensorFlow-free: name, task, importer, file
        except (ValueError, FileNotFoundError) as error:
            raise ValueError(f"weights: {name}: {str(error).removeprefix('weights: ')}") from None
    if settings.post_weights is not None:
        if not Path(settings.post_weights).expanduser().is_file():
            raise ValueError(f"post_weights: no such file '{settings.post_weights}'; pass an FBA checkpoint (.pth)")
        from RMBG.matting.fba import check_fba_model_file  # deferred: the matting code only with post_weights

        check_fba_model_file(Path(settings.post_weights).expanduser(), "post_weights")
        if settings.post_processors is not None and "fba" not in settings.post_processors:
            raise ValueError(f"post_weights: set for post-processor 'fba', which post_processors {list(settings.post_processors)} "
                             "does not offer; add fba there or drop post_weights")
    if settings.post_processors is not None:
        unknown = [name for name in settings.post_processors if name not in POSTPROCESSORS]
        if unknown:
            raise ValueError(f"post_processors: {unknown} are not registered; registered ones are {sorted(POSTPROCESSORS)}")


def post_options(settings: ServerSettings, post: str) -> dict[str, Any]:
    """The options the server passes to post-processor ``post``: FBA's checkpoint when ``post_weights`` is set."""
    return {"fba_model": settings.post_weights} if post == "fba" and settings.post_weights is not None else {}


def allowed_post_processors(settings: ServerSettings) -> list[str]:
    """Post-processor names requests may use, read at request time (matting registers more names later)."""
    names = sorted(POSTPROCESSORS)
    return names if settings.post_processors is None else [n for n in settings.post_processors if n in POSTPROCESSORS]


def install_error_handlers(app: FastAPI) -> None:
    """Every error, framework and unexpected ones included, answers in remove.bg's JSON format."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        try:
            title = HTTPStatus(error.status_code).phrase
        except ValueError:
            title = "Error"
        return _error_response(ApiError(error.status_code, f"http_{error.status_code}", title, str(error.detail), headers=error.headers))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error_response(ApiError(400, "invalid_request", "Invalid request", f"{where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:  # Starlette logs it after answering
        return _error_response(ApiError(500, "internal_error", "Internal server error",
                                        f"{type(error).__name__} while handling {request.method} {request.url.path}; "
                                        "the server log has the details"))


async def _fetch_urls(settings: ServerSettings, params: RemoveBgParams, image_bytes: bytes | None,
                      bg_bytes: bytes | None, time_left: Callable[[], float]) -> tuple[bytes, bytes | None]:
    """``image_url`` and ``bg_image_url`` fetched (on a thread, within the request's time)."""
    options: dict[str, Any] = dict(max_bytes=settings.max_upload_bytes, max_redirects=settings.url_max_redirects)
    if params.image_url is not None:
        image_bytes = await run_in_threadpool(fetch_url, params.image_url, field_name="image_url",
                                              timeout_s=min(settings.url_fetch_timeout_s, time_left()), **options)
    if params.bg_image_url is not None:
        bg_bytes = await run_in_threadpool(fetch_url, params.bg_image_url, field_name="bg_image_url",
                                           timeout_s=min(settings.url_fetch_timeout_s, time_left()), **options)
    return image_bytes, bg_bytes


async def _run_on_model(settings: ServerSettings, runner: ModelRunner, params: RemoveBgParams, image_bytes: bytes,
                        bg_bytes: bytes | None, time_left: Callable[[], float]) -> RemoveBgResult:
    """The request's work on its model's runner, 504 past the deadline, 500 (JSON) for a bug."""
    def work() -> RemoveBgResult:  # on the worker thread: a model not preloaded loads there, not in the event loop
        predictor = load_predictor(params.model, settings.weights_for(params.model))
        return process_request(predictor, params, image_bytes, bg_bytes, settings.max_pixels, runner.pixels,
                               post_options=post_options(settings, params.post))

    future = runner.submit(work)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout=time_left())
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


def removebg_endpoint(settings: ServerSettings, runners: dict[str, ModelRunner]) -> Callable:
    """The ``POST /removebg`` handler: read → validate → fetch URLs → run on the model → answer."""

    async def removebg(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.request_timeout_s

        def time_left() -> float:
            return max(deadline - loop.time(), 0.001)

        fields, files = await read_fields(request, settings.max_upload_bytes, min(settings.read_timeout_s, settings.request_timeout_s))
        params, image_bytes, bg_bytes = parse_params(
            fields, files, default_size=settings.default_size, max_pixels=settings.max_pixels,
            models=settings.models, default_model=settings.model_default,
            post_processors=allowed_post_processors(settings), allow_url_fetch=settings.allow_url_fetch,
        )
        del fields, files
        image_bytes, bg_bytes = await _fetch_urls(settings, params, image_bytes, bg_bytes, time_left)
        result = await _run_on_model(settings, runners[params.model], params, image_bytes, bg_bytes, time_left)
        del image_bytes, bg_bytes
        if "application/json" in request.headers.get("accept", "").lower():
            return JSONResponse(result.json_body(), headers=result.headers())
        headers = result.headers()
        headers["Content-Disposition"] = f'inline; filename="no-bg.{result.extension}"'
        return Response(result.content, media_type=result.media_type, headers=headers)

    return removebg


def add_api_routes(app: FastAPI, settings: ServerSettings, runners: dict[str, ModelRunner], auth: ApiKeyAuth) -> None:
    """``/api/removebg``, ``/api/account`` (and their ``/v1.0`` aliases), ``/api/models`` and ``/healthz``."""
    key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="An API key the server was started with.")

    def require_key(key: str | None = Security(key_header)) -> None:
        auth.check(key)

    keyed = [Security(require_key)]
    removebg = removebg_endpoint(settings, runners)
    app.add_api_route("/api/removebg", removebg, methods=["POST"], dependencies=keyed, **REMOVEBG_DOC)
    app.add_api_route("/v1.0/removebg", removebg, methods=["POST"], dependencies=keyed, include_in_schema=False, **REMOVEBG_DOC)

    def account() -> dict:
        return {"data": {"attributes": {
            "credits": {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0},
            "api": {"free_calls": settings.account_free_calls, "sizes": "all"},
        }}}

    app.add_api_route("/api/account", account, methods=["GET"], dependencies=keyed, **ACCOUNT_DOC)
    app.add_api_route("/v1.0/account", account, methods=["GET"], dependencies=keyed, include_in_schema=False, **ACCOUNT_DOC)

    @app.get("/api/models", dependencies=keyed, summary="Models, post-processors and options the server offers")
    def models() -> dict:
        entries = []
        for name in settings.models:
            spec = model_info(name)
            entries.append({"name": name, "description": spec.description,
                            "input_size": list(spec.input_size) if spec.input_size else None,
                            "default": name == settings.model_default})
        return {
            "models": entries, "default_model": settings.model_default,
            "post_processors": allowed_post_processors(settings),
            "sizes": list(SIZE_MEGAPIXELS), "default_size": settings.default_size,
            "formats": list(OUTPUT_FORMATS), "channels": list(CHANNELS),
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels},
        }

    @app.get("/healthz", summary="Liveness and queue state (no key needed)")
    def healthz() -> dict:
        loaded = set(loaded_models())
        return {"status": "ok", "models": {
            name: {"loaded": name in loaded, "active": runner.active, "capacity": runner.capacity}
            for name, runner in runners.items()
        }}


def add_page_routes(app: FastAPI) -> None:
    """``/`` and ``/static/*`` (the page's headers come from :class:`~RMBG.server.middleware.SecurityHeaders`)."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the app.

    Args:
        settings: the server settings; ``api_keys`` must not be empty.

    Raises:
        ValueError: no API key, a model that is unknown or has no pretrained weights, or a
            configured post-processor that is not registered.
    """
    auth = ApiKeyAuth(settings.api_keys)
    check_settings(settings)
    if settings.preload:
        for name in settings.models:
            load_predictor(name, settings.weights_for(name))
    runners = {name: ModelRunner(name, settings.workers, settings.queue_size, settings.max_pixels) for name in settings.models}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        for runner in runners.values():
            runner.shutdown()

    app = FastAPI(
        title="RMBG background removal", version="1.0", lifespan=lifespan,
        description="remove.bg-compatible background removal served by RMBG. Authenticate with the X-Api-Key header.",
    )
    app.state.settings = settings
    app.state.runners = runners
    app.state.auth = auth
    app.add_middleware(KeyInQueryRefusal, auth=auth)
    app.add_middleware(SecurityHeaders)  # outermost: its headers go on every answer, refusals included
    install_error_handlers(app)
    add_api_routes(app, settings, runners, auth)
    add_page_routes(app)
    return app
