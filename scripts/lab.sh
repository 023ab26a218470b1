#!/usr/bin/env bash
# Open the course in JupyterLab: set up the environment if needed (scripts/setup-env.sh),
# register the course kernel "cxrlab", and serve the repository on 127.0.0.1 with the chapters'
# folder open. Stop it with Ctrl-C. Extra arguments go to `jupyter lab` (e.g. --port=8899,
# --no-browser on a remote machine: then open the printed http://127.0.0.1:... URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
VENV="${VENV:-.venv}"   # setup-env.sh also registered the course kernel "cxrlab" there
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the notebooks import this checkout's cxrlab
echo "[lab] starting JupyterLab on 127.0.0.1 (Ctrl-C to stop); chapters in book/"
root=(); [ "$(id -u)" = 0 ] && root=(--allow-root)   # containers and CI run as root
exec "$VENV/bin/jupyter" lab --ip=127.0.0.1 --ServerApp.root_dir="$PWD" --LabApp.default_url=/lab/tree/book \
  "${root[@]}" "$@"
