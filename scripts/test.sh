#!/usr/bin/env bash
# Set up everything, then run the whole test suite (unit tests + every chapter in smoke mode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export CXRLAB_MODE=smoke CXRLAB_PROGRESS=0 MPLBACKEND=Agg
exec .venv/bin/python -m pytest -q "$@"
