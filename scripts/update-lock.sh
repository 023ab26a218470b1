#!/usr/bin/env bash
# Refresh requirements.lock, the exact versions CI installs, then prove them by running the tests
# in a scratch environment built from the new lock. Meant for a weekly job (cron, CI schedule):
#
#   bash scripts/update-lock.sh              newest releases within requirements.txt's ranges, then test
#   bash scripts/update-lock.sh --keep       keep every version already locked; only add what
#                                            requirements.txt gained (at the versions installed in .venv
#                                            when they fit) and drop what it lost (after a merge)
#   bash scripts/update-lock.sh --no-test    write the lock only (combine with --keep)
#   bash scripts/update-lock.sh -- -k dicom  arguments after -- go to pytest
#                                            (default: -m "not notebook and not book", the unit tests)
#
# The lock is written by uv (`uv pip compile`), from the same package indexes pip uses here
# (`pip config list`). If the tests fail, the previous lock is put back and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOCK_VENV="${LOCK_VENV:-.venv-lock}"   # scratch environment for the tests of the new lock
keep=0 test=1 pytest_args=(-m "not notebook and not book")
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --no-test) test=0 ;;
    --) shift; pytest_args=("$@"); break ;;
    *) echo "usage: bash scripts/update-lock.sh [--keep] [--no-test] [-- pytest arguments]" >&2; exit 2 ;;
  esac
  shift
done

# uv: from the project's environment, else from PATH, else installed into a throwaway venv.
if [ -x .venv/bin/uv ]; then UV=.venv/bin/uv
elif command -v uv >/dev/null 2>&1; then UV=uv
else
  "$PYTHON" -m venv .venv-uv && .venv-uv/bin/python -m pip install --quiet uv && UV=.venv-uv/bin/uv
fi
target_python="$PYTHON"; [ -x .venv/bin/python ] && target_python=.venv/bin/python

# The package indexes, find-links folders and constraints pip is configured with, for uv.
index_args=(--index-strategy unsafe-best-match)   # like pip: best version over all indexes
while IFS= read -r line; do
  key="${line%%=*}"; value="${line#*=}"; value="${value#\'}"; value="${value%\'}"
  for item in $value; do
    case "$key" in
      *.index-url) index_args+=(--index-url "$item") ;;
      *.extra-index-url) index_args+=(--extra-index-url "$item") ;;
      *.find-links) index_args+=(--find-links "$item") ;;
      *.constraint) [ -f "$item" ] && index_args+=(-c "$item") ;;
    esac
  done
done < <("$target_python" -m pip config list 2>/dev/null | sort -u)

new="$(mktemp)"; old="$(mktemp)"
trap 'rm -f "$new" "$old"' EXIT
[ -f requirements.lock ] && cp requirements.lock "$old"
upgrade=(--upgrade)
if [ "$keep" = 1 ]; then
  # uv keeps the versions of an existing output file: the lock's, and for packages it lacks,
  # the ones installed in the environment (what the tests ran with), where they still fit.
  "$target_python" - "$new" <<'PY'
import re, subprocess, sys
from pathlib import Path
pin = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
lock = Path("requirements.lock").read_text().splitlines() if Path("requirements.lock").is_file() else []
locked = {norm(m.group(1)) for m in map(pin.match, lock) if m}
frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True).stdout
extra = [line for line in frozen.splitlines() if (m := pin.match(line)) and norm(m.group(1)) not in locked]
Path(sys.argv[1]).write_text("\n".join(lock + extra) + "\n")
PY
  upgrade=()
fi
echo "[lock] uv pip compile requirements.txt ($([ $keep = 1 ] && echo 'keeping locked versions' || echo 'newest within the ranges'))"
start=$(date +%s)
"$UV" pip compile requirements.txt --python "$target_python" --no-header "${upgrade[@]}" \
  "${index_args[@]}" -o "$new" --quiet
{
  echo "# requirements.lock: the exact versions CI installed and tested (scripts/setup-env.sh"
  echo "# installs requirements.txt with these as constraints). Do not edit: change"
  echo "# requirements.txt, then run  bash scripts/update-lock.sh --keep   (or without --keep"
  echo "# for the newest releases). Resolved by uv for $("$target_python" -c 'import platform,sys; print(f"Python {sys.version.split()[0]} on {platform.system()} {platform.machine()}")')."
  cat "$new"
} > requirements.lock
echo "[lock] wrote requirements.lock: $(grep -c '==' requirements.lock) pinned packages in $(( $(date +%s) - start )) s"
if [ -s "$old" ]; then
  pins() { grep -o '^[A-Za-z0-9._-]*==[^ ;]*' "$1" | awk -F'==' '{n=tolower($1); gsub(/[_.]/, "-", n); print n "==" $2}' | sort; }
  diff <(pins "$old") <(pins requirements.lock) \
    | sed -n 's/^< /[lock]   - /p; s/^> /[lock]   + /p' || true
fi
"$target_python" scripts/check_lock.py

if [ "$test" = 1 ]; then
  echo "[lock] installing the lock into $LOCK_VENV and running the tests there"
  if VENV="$LOCK_VENV" bash scripts/setup-env.sh && \
     CXRLAB_MODE=smoke CXRLAB_PROGRESS=0 OMP_WAIT_POLICY=PASSIVE "$LOCK_VENV/bin/python" -m pytest -q "${pytest_args[@]}"; then
    echo "[lock] tests passed with the new lock: commit requirements.lock"
  else
    [ -s "$old" ] && cp "$old" requirements.lock
    echo "[lock] tests FAILED with the new lock; requirements.lock restored" >&2
    exit 1
  fi
fi
