#!/usr/bin/env bash
# The benchmark's peer: rembg[cpu,cli]==2.0.86 with its real dependencies, in its own venv
# ($RMBG_HOME/peers/rembg-2.0.86 by default; pass --dir DIR to put it elsewhere). Pinned by
# RMBG/benchmark/rembg-2.0.86.constraints.txt. Not needed by `make test`.
set -euo pipefail
PY=${PY:-.venv/bin/python}
cd "$(dirname "$0")/.."
exec "$PY" -m RMBG.benchmark.peer_env "$@"
