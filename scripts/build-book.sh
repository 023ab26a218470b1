#!/usr/bin/env bash
# Set up everything, fetch the real data that can be had, and build the executed HTML book.
# Mode: full on a GPU, quick on a CPU (override with CXRLAB_MODE=quick|full|smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
echo "[book] fetching data (mirrors first, verified fallbacks; missing sets use stand-ins)"
.venv/bin/python data_scripts/fetch.py all || true
.venv/bin/python data_scripts/fetch.py --list
bash scripts/vendor_mathjax.sh
export CXRLAB_PROGRESS=0  # (no MPLBACKEND: notebooks need the inline backend to show figures)
start=$(date +%s)
.venv/bin/jupyter-book build . -W --keep-going "$@"
echo "[book] built _build/html/index.html in $(( $(date +%s) - start )) s"
