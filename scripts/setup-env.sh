#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv, or $VENV) with everything the book
# and the tests need, at the versions CI tested: requirements.txt's ranges, pinned by
# requirements.lock (scripts/update-lock.sh writes it). Safe to run again: it reinstalls only
# when requirements.txt, requirements.lock or pyproject.toml change. LOCK= (empty) installs
# from the ranges alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
LOCK="${LOCK-requirements.lock}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.cxrlab-installed"
wanted="$(cat requirements.txt pyproject.toml ${LOCK:+"$LOCK"} 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  constraints=()
  if [ -n "$LOCK" ]; then
    pins="$(mktemp)"
    trap 'rm -f "$pins"' EXIT
    # Pins that agree with requirements.txt; a requirement the lock lacks installs from its range.
    "$VENV/bin/python" scripts/check_lock.py --lock "$LOCK" --constraints "$pins" || true
    constraints=(-c "$pins")
    echo "[setup] installing requirements.txt at the versions of $LOCK (first time: a few minutes)"
  else
    echo "[setup] installing requirements.txt from its ranges (first time: a few minutes)"
  fi
  if ! "${pip[@]}" -r requirements.txt "${constraints[@]}"; then
    [ ${#constraints[@]} -gt 0 ] || exit 1
    echo "[setup] WARNING: the locked versions do not install together with requirements.txt;"
    echo "[setup]          installing from its ranges instead (refresh: bash scripts/update-lock.sh --keep)"
    "${pip[@]}" -r requirements.txt
  fi
  "${pip[@]}" --no-deps -e .
  echo "$wanted" > "$stamp"
fi
# The course kernel every chapter names (JupyterLab, nbclient and jupyter-book start it by name).
if [ ! -f "$VENV/share/jupyter/kernels/cxrlab/kernel.json" ]; then
  "$VENV/bin/python" scripts/register_kernel.py
fi

# Real Fashion-MNIST from Debian's package: the offline stand-in for CIFAR-10 (optional).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing Debian's dataset-fashion-mnist (31 MB) for the CIFAR-10 stand-in"
  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) ||
   echo "[setup] could not install dataset-fashion-mnist; chapters will use generated shapes instead"
fi
