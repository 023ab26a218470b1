#!/usr/bin/env bash
# Start the clinician demo app (Streamlit) on http://127.0.0.1:8501 (PORT=... to change it).
# Sets up the environment if needed. Stop it with Ctrl-C. Extra arguments go to the app, e.g.
#   bash scripts/app.sh --model tiny                 an untrained tiny model (starts in seconds)
#   bash scripts/app.sh --audit-log /path/audit.jsonl (default: <data folder>/app/audit.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
VENV="${VENV:-.venv}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
echo "[app] serving the demo on http://127.0.0.1:${PORT:-8501} (Ctrl-C to stop)"
exec "$VENV/bin/streamlit" run app/streamlit_app.py --server.address=127.0.0.1 --server.port="${PORT:-8501}" \
  --server.headless=true --browser.gatherUsageStats=false --server.maxUploadSize=64 \
  --server.fileWatcherType=none --client.toolbarMode=viewer -- "$@"
