#!/usr/bin/env bash
# Install what tests/server/test_browser.py needs: Debian's headless Chromium and its chromedriver,
# and selenium into the given Python (default .venv/bin/python). Idempotent: installed parts are skipped.
#   bash scripts/install_browser.sh [PYTHON]
# Without these the browser test skips with a reason; everything else runs without them.
set -euo pipefail

PYTHON="${1:-.venv/bin/python}"
SELENIUM_VERSION="4.51.0"

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "install_browser: chromium and chromedriver already installed"
else
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: apt-get not found; install Chromium and chromedriver with this system's package manager" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO="sudo"
    else
      echo "install_browser: needs root (or sudo) to apt-get install chromium chromium-driver" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q chromium chromium-driver
fi
chromium --version 2>/dev/null | grep -i chromium
chromedriver --version

if "$PYTHON" -c "import selenium, sys; sys.exit(0 if selenium.__version__ == '$SELENIUM_VERSION' else 1)" >/dev/null 2>&1; then
  echo "install_browser: selenium $SELENIUM_VERSION already installed"
else
  "$PYTHON" -m pip install --quiet "selenium==$SELENIUM_VERSION"
fi
