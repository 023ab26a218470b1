#!/usr/bin/env bash
# Set up everything, then run the whole test suite (unit tests + every chapter in smoke mode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
# PASSIVE: idle torch threads sleep instead of spinning, which matters on a busy 2-core machine.
export CXRLAB_MODE=smoke CXRLAB_PROGRESS=0 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec .venv/bin/python -m pytest -q --durations=15 "$@"
