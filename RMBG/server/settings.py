"""Server settings: one frozen dataclass, read from defaults < config file < environment < command line.

Imports neither FastAPI nor TensorFlow, so the CLI can parse and validate settings cheaply.

A config file is YAML (or JSON, which YAML reads too) whose top-level keys are the field names of
:class:`ServerSettings`; an unknown key is an error that lists the valid ones. The environment
provides only the API keys (``RMBG_API_KEYS``, comma-separated), so secrets need not be written
in files.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

#: Environment variable holding comma-separated API keys.
API_KEYS_ENV = "RMBG_API_KEYS"

#: remove.bg's ``size`` values and the megapixels each allows (None: the server's ``max_pixels``).
SIZE_MEGAPIXELS: dict[str, float | None] = {
    "preview": 0.25, "small": 0.25, "regular": 0.25,
    "medium": 1.5, "hd": 4.0,
    "full": 25.0, "4k": 25.0, "auto": 25.0,
    "50mp": 50.0,
}


@dataclass(frozen=True)
class ServerSettings:
    """Everything the HTTP server can be configured with.

    Attributes:
        host: interface to listen on; keep ``127.0.0.1`` unless a TLS reverse proxy is in front.
        port: TCP port.
        api_keys: accepted ``X-Api-Key`` values. ``create_app`` refuses an empty tuple; the
            ``serve`` command generates one key when none is configured.
        models: registry names the server offers (each must have pretrained weights, or a local
            file in ``weights``).
        weights: ``(model name, weight file)`` pairs: that model runs the local file (a fine-tuned
            or converted ``.pth`` in its family's format, placed strictly, as ``remove --weights``)
            instead of its official weights. Config file: a mapping ``{tracer_b7: /path/file.pth}``;
            command line: ``--weights NAME=FILE`` (repeatable).
        post_weights: an FBA checkpoint (``.pth``, the official resnet50_GN_WS layout; or its ``.onnx`` export) that
            ``post=fba`` uses instead of the official ``fba_matting`` weights (``remove
            --post-weights``).
        default_model: the model used when a request names none (default: the first of ``models``).
        post_processors: post-processor names requests may ask for; ``None`` allows every name
            registered in :data:`RMBG.inference.postprocess.POSTPROCESSORS` at request time.
        max_upload_bytes: largest request body accepted (multipart, form or JSON), checked while
            it streams in; larger bodies get 413. Also the cap on a fetched ``image_url``.
        max_pixels: largest input image (width x height) decoded; larger ones get 400
            ``resolution_too_high`` before any pixel is decoded (decompression-bomb guard).
        request_timeout_s: seconds a request may wait and run before it gets 504.
        read_timeout_s: seconds a client has to send its request body before it gets 408.
        workers: threads per model that run requests (decode, model, compose, encode); the
            model call itself is serialised, one model instance per model name per process.
        queue_size: requests per model that may wait for a worker; beyond it requests get 429
            with ``Retry-After``.
        max_connections: open connections the server keeps. Past it, the connection that has
            waited longest without a request in progress (an unfinished head, an idle keep-alive)
            is closed to make room; only when all have a request running is a newcomer refused
            (503). Incomplete requests can therefore never take the place of complete ones.
        header_timeout_s: seconds a client has to send a complete request head (request line
            and headers), from connecting or from its previous answer; then 408 and the
            connection is closed (slowloris guard, :mod:`RMBG.server.protocol`).
        allow_url_fetch: accept ``image_url`` and ``bg_image_url`` (off by default). Fetches
            refuse private, loopback, link-local and reserved addresses after DNS resolution.
        url_fetch_timeout_s: total seconds a URL fetch may take.
        url_max_redirects: redirects a URL fetch follows (each target is checked again).
        default_size: ``size`` used when a request gives none (remove.bg's default is ``preview``).
        account_free_calls: ``free_calls`` reported by ``GET /v1.0/account``. This server charges
            no credits; clients that check the balance before sending work need a positive number.
        preload: load (and trace) every model when the app is created, not on first use.
    """

    host: str = "127.0.0.1"
    port: int = 7860
    api_keys: tuple[str, ...] = ()
    models: tuple[str, ...] = ("u2netp",)
    default_model: str | None = None
    weights: tuple[tuple[str, str], ...] = ()
    post_weights: str | None = None
    post_processors: tuple[str, ...] | None = None
    max_upload_bytes: int = 12 * 1024 * 1024
    max_pixels: int = 25_000_000
    request_timeout_s: float = 60.0
    read_timeout_s: float = 30.0
    workers: int = 1
    queue_size: int = 16
    max_connections: int = 64
    header_timeout_s: float = 5.0
    allow_url_fetch: bool = False
    url_fetch_timeout_s: float = 10.0
    url_max_redirects: int = 3
    default_size: str = "preview"
    account_free_calls: int = 1_000_000
    preload: bool = True

    def __post_init__(self) -> None:
        for name in ("port", "max_upload_bytes", "max_pixels", "workers", "max_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.port > 65535:
            raise ValueError(f"port: expected 1..65535, got {self.port!r}")
        for name in ("queue_size", "url_max_redirects", "account_free_calls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        for name in ("request_timeout_s", "read_timeout_s", "url_fetch_timeout_s", "header_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}: expected a positive number of seconds, got {value!r}")
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"host: expected an interface address such as 127.0.0.1, got {self.host!r}")
        if not self.models:
            raise ValueError("models: expected at least one model name, got an empty list")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models: names must be unique, got {list(self.models)}")
        names = [pair[0] for pair in self.weights]
        for pair in self.weights:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, str) and v for v in pair)):
                raise ValueError(f"weights: expected (model name, weight file) pairs of non-empty strings, got {pair!r}")
            if pair[0] not in self.models:
                raise ValueError(f"weights: {pair[0]!r} is not one of models {list(self.models)}; add it there or drop its weights")
        if len(set(names)) != len(names):
            raise ValueError(f"weights: one weight file per model, got {names}")
        if self.post_weights is not None and not (isinstance(self.post_weights, str) and self.post_weights):
            raise ValueError(f"post_weights: expected the path of an FBA checkpoint (.pth), got {self.post_weights!r}")
        if self.default_model is not None and self.default_model not in self.models:
            raise ValueError(f"default_model: {self.default_model!r} is not one of models {list(self.models)}; add it there")
        for key in self.api_keys:
            if not isinstance(key, str) or not key.strip() or key != key.strip() or "," in key:
                raise ValueError(
                    "api_keys: every key must be a non-empty string without spaces at its ends or commas, "
                    f"got one of {len(key) if isinstance(key, str) else type(key).__name__} characters"
                )
        if self.default_size.lower() not in SIZE_MEGAPIXELS:
            raise ValueError(f"default_size: expected one of {sorted(SIZE_MEGAPIXELS)}, got {self.default_size!r}")
        for name in ("allow_url_fetch", "preload"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected true or false, got {getattr(self, name)!r}")

    @property
    def model_default(self) -> str:
        """The model a request without ``model`` gets."""
        return self.default_model or self.models[0]

    def weights_for(self, model: str) -> str | None:
        """The local weight file configured for ``model``, or ``None`` (its official weights)."""
        return dict(self.weights).get(model)

    def replace(self, **changes: Any) -> "ServerSettings":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ServerSettings))
_TUPLE_FIELDS = {"api_keys", "models", "post_processors"}


def parse_api_keys(text: str) -> tuple[str, ...]:
    """Keys from a comma-separated string (spaces around keys are dropped, empty items ignored)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_weights(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    """``weights`` from a mapping (config file) or ``NAME=FILE`` strings (command line), as pairs.

    Raises:
        ValueError: anything else, naming ``source`` and the expected forms.
    """
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [tuple(part.strip() for part in v.split("=", 1)) if "=" in v else (v, "") for v in value]
    else:
        items = None
    if items is None or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in items):
        raise ValueError(f"{source}: weights must map model names to weight files ({{tracer_b7: /path/file.pth}} in a "
                         f"config file, --weights tracer_b7=/path/file.pth on the command line), got {value!r}")
    return tuple((k, v) for k, v in items)


def _coerce(name: str, value: Any, source: str) -> Any:
    """Turn a config-file or command-line value into the field's type, naming the source on error."""
    if name == "weights":
        return parse_weights(value, source)
    if name in _TUPLE_FIELDS:
        if value is None and name == "post_processors":
            return None
        if isinstance(value, str):
            return parse_api_keys(value)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"{source}: {name} must be a list of strings (or a comma-separated string), got {value!r}")
    default = next(f.default for f in dataclasses.fields(ServerSettings) if f.name == name)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"{source}: {name} must be true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{source}: {name} must be an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{source}: {name} must be a number, got {value!r}")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{source}: {name} must be a string, got {value!r}")
    return value


def settings_from_mapping(data: Mapping[str, Any], *, source: str = "settings", base: ServerSettings | None = None) -> ServerSettings:
    """Settings from a mapping of field names (a parsed config file), on top of ``base``.

    Raises:
        ValueError: an unknown key (the message lists the valid ones) or a value of the wrong type.
    """
    unknown = sorted(set(data) - set(_FIELD_NAMES))
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {unknown}; valid ones are {list(_FIELD_NAMES)}")
    changes = {name: _coerce(name, value, source) for name, value in data.items()}
    return (base or ServerSettings()).replace(**changes)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML (or JSON) config file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it is not valid YAML or its top level is not a mapping.
    """
    import yaml  # deferred: PyYAML stays out of `rmbg --help` start-up; only config files need it

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config: no such file '{file}'")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"--config '{file}': not valid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"--config '{file}': expected a mapping of setting names to values, got {type(data).__name__}")
    return data


def load_settings(
    config: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerSettings:
    """Settings from defaults, then ``config`` (YAML), then ``RMBG_API_KEYS``, then ``overrides``.

    API keys from the config file, the environment and ``overrides['api_keys']`` are combined,
    so a deployment can keep some keys in a file and add others from a secret store.

    Args:
        config: path of a YAML config file, or ``None``.
        environ: the environment (default ``os.environ``).
        overrides: command-line values; ``None`` values are ignored.
    """
    environ = os.environ if environ is None else environ
    settings = ServerSettings()
    if config is not None:
        settings = settings_from_mapping(read_config_file(config), source=f"--config '{config}'", base=settings)
    keys = list(settings.api_keys)
    keys += parse_api_keys(environ.get(API_KEYS_ENV, ""))
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    keys += list(_coerce("api_keys", changes.pop("api_keys", ()), "command line"))
    settings = settings_from_mapping(changes, source="command line", base=settings)
    unique = tuple(dict.fromkeys(keys))
    return settings.replace(api_keys=unique)
