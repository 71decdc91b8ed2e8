"""``python -m RMBG serve``: run the HTTP API and web page (uvicorn with the guards of :mod:`RMBG.server.http_server`)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from RMBG.server.auth import generate_api_key
from RMBG.server.settings import load_settings


def register(subparsers) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the remove.bg-compatible HTTP API and the web page",
        description="Serve the remove.bg-compatible API (POST /api/removebg, /v1.0/removebg), the web page (/) and the "
        "OpenAPI page (/docs). Settings come from defaults, then --config, then RMBG_API_KEYS, then these options. "
        "With no API key configured, one is generated and printed once.",
    )
    parser.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1; use a TLS reverse proxy for anything else)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default 7860)")
    parser.add_argument("--api-key", action="append", default=None, dest="api_keys", metavar="KEY",
                        help="an accepted X-Api-Key value (repeatable; prefer RMBG_API_KEYS so keys stay out of the process list)")
    parser.add_argument("--config", type=Path, default=None, help="YAML file of settings (see docs/serving.md)")
    parser.add_argument("--models", default=None, help="comma-separated model names to offer (default u2netp)")
    parser.add_argument("--weights", action="append", default=None, metavar="NAME=FILE",
                        help="a local weight file for one offered model (repeatable), e.g. tracer_b7=mine.pth: a fine-tuned or "
                        "converted checkpoint in the family's format used instead of its official weights (as remove --weights)")
    parser.add_argument("--post-weights", default=None, metavar="FILE",
                        help="an FBA checkpoint (.pth, official resnet50_GN_WS layout) that post=fba uses instead of the "
                        "official fba_matting weights (as remove --post-weights)")
    parser.add_argument("--workers", type=int, default=None, help="threads per model (default 1)")
    parser.add_argument("--queue-size", type=int, default=None, help="requests per model that may wait (default 16)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn log level (default info)")
    parser.set_defaults(func=run_serve)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_serve(args: argparse.Namespace) -> int:
    """Load settings, make sure there is an API key, and run uvicorn until interrupted."""
    try:
        settings = load_settings(args.config, overrides={
            "host": args.host, "port": args.port, "api_keys": args.api_keys, "models": args.models,
            "weights": args.weights, "post_weights": args.post_weights, "workers": args.workers, "queue_size": args.queue_size,
        })
    except (ValueError, FileNotFoundError) as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    if not settings.api_keys:
        key = generate_api_key()
        settings = settings.replace(api_keys=(key,))
        print("No API key configured (RMBG_API_KEYS, api_keys in --config, or --api-key); generated one for this run:")
        print(f"  {key}")
        print("Send it as the X-Api-Key header; the web page asks for it once per browser tab.", flush=True)
    if not _is_loopback(settings.host):
        print(f"serve: listening on {settings.host}, not loopback: put a TLS-terminating reverse proxy in front, "
              "API keys travel in a header", file=sys.stderr)

    from RMBG.server.app import create_app  # deferred: FastAPI stays out of `rmbg --help` start-up
    from RMBG.server.http_server import build_server  # deferred: uvicorn stays out of `rmbg --help` start-up

    try:
        app = create_app(settings)
    except ValueError as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    print(f"RMBG serving {', '.join(settings.models)} on http://{settings.host}:{settings.port}/ (API docs at /docs)", flush=True)
    build_server(app, settings, log_level=args.log_level).run()
    return 0
