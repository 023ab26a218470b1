#!/usr/bin/env bash
# Put MathJax 3 into _mathjax/mathjax (copied to the build's root) so the built book typesets equations with no internet.
# Source: the `mathjax` package of the npm registry (npm pack), else Debian's libjs-mathjax is
# not used (it is MathJax 2); without npm the book falls back to MathJax from its CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
target=_mathjax/mathjax
[ -f "$target/tex-chtml.js" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "[mathjax] npm not found: equations will load MathJax from the internet" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mathjax@3.2.2 >/dev/null && tar xzf mathjax-3.2.2.tgz)
mkdir -p _mathjax
rm -rf "$target.part" && cp -r "$tmp/package/es5" "$target.part" && mv "$target.part" "$target"
echo "[mathjax] MathJax 3.2.2 copied to $target"
