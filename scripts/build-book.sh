#!/usr/bin/env bash
# Set up everything, fetch the real data that can be had, and build the executed HTML book.
# Mode: full on a GPU, quick on a CPU (override with CXRLAB_MODE=quick|full|smoke).
#
# Incremental: executed notebooks are cached (jupyter-cache, `execute_notebooks: cache` in
# _config.yml), so a rebuild re-executes only the chapters whose code changed. The cache is
# keyed on the cxrlab source, the run mode, the data on disk, the benchmark results and the
# installed packages (scripts/book_cache.py): change any of them and every chapter runs again.
#   bash scripts/build-book.sh --fresh    empty the cache first: a full execution
# Other arguments go to `jupyter-book build`. After the build, the summary lists each
# chapter's time, whether it ran or came from the cache, and flags any over its mode's budget.
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=""
args=()
for arg in "$@"; do
  if [ "$arg" = "--fresh" ]; then fresh="--fresh"; else args+=("$arg"); fi
done
bash scripts/setup-env.sh
echo "[book] fetching data (mirrors first, verified fallbacks; missing sets use stand-ins)"
.venv/bin/python data_scripts/fetch.py all || true
mkdir -p _build
.venv/bin/python data_scripts/fetch.py --list | tee _build/data-listing.txt  # (also a part of the cache key)
bash scripts/vendor_mathjax.sh
export CXRLAB_PROGRESS=0  # (no MPLBACKEND: notebooks need the inline backend to show figures)
start=$(date +%s)
cache_state=$(.venv/bin/python scripts/book_cache.py select _build $fresh --data-listing _build/data-listing.txt)
if [ "$cache_state" = "reread" ]; then
  args+=("--all")  # a new key: re-read every page, so that every chapter meets the new cache
fi
.venv/bin/jupyter-book build . -W --keep-going ${args[@]+"${args[@]}"}
echo "[book] built _build/html/index.html in $(( $(date +%s) - start )) s"
.venv/bin/python scripts/book_cache.py executed _build --out _build/executed.txt || true
.venv/bin/python -m benchmarks.book _build/html/reports/execution.json --executed _build/executed.txt || true
