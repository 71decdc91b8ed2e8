#!/usr/bin/env bash
# Test-only extras: the PyTorch reference (CPU torch + u2net-fast, without its dependency pins),
# rembg for the export-compatibility test and the benchmark, and Chromium for the browser test.
set -euo pipefail
PY=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
"$PY" -m pip install --quiet -r requirements-test.txt
"$PY" -m pip install --quiet --no-deps u2net-fast==1.0.0 rembg==2.0.69
# The InSPyReNet reference (tests/models/inspyrenet_reference.py): the model code of
# transparent-background; its package __init__ (GUI, downloader) is never imported, and kornia is
# only imported by its modules/layers.py. --no-deps: its pins would pull torchvision and CUDA torch.
"$PY" -m pip install --quiet --no-deps transparent-background==1.3.4 kornia==0.9.0 kornia-rs==0.2.0
# CarveKit's own TRACER-B7 and FBA modules, the references of tests/models/test_tracer_b7*.py and
# the FBA tests: carvekit/ml/arch/ imports only torch (and cv2); --no-deps, its pins pull torchvision.
"$PY" -m pip install --quiet --no-deps carvekit==4.1.2
# Headless Chromium + chromedriver (Debian) and selenium for tests/server/test_browser.py.
bash scripts/install_browser.sh "$PY"
