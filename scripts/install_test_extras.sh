#!/usr/bin/env bash
# Test-only extras: the PyTorch reference (CPU torch + u2net-fast, without its dependency pins),
# rembg for the export-compatibility test and the benchmark, and Chromium for the browser test.
set -euo pipefail
PY=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
"$PY" -m pip install --quiet -r requirements-test.txt
"$PY" -m pip install --quiet --no-deps u2net-fast==1.0.0 rembg==2.0.69
# Headless Chromium + chromedriver (Debian) and selenium for tests/server/test_browser.py.
bash scripts/install_browser.sh "$PY"
