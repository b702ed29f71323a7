#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install the locked requirements into it, and make
# sure Debian's chromium is there for the browser tests.
# Idempotent: re-running only re-syncs with requirements.lock. Needs Python 3.11 and the package registry.
#   scripts/setup.sh            everything
#   scripts/setup.sh chromium   only the browser check/install (what .ci/run calls before `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests (tests/e2e/test_3_browser_approval.py) drive Debian's chromium through the playwright
# package. No browser is ever downloaded from PyPI or npm (`playwright install` is never run).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium \
      || { apt-get update && apt-get install -y --no-install-recommends chromium; } \
      || echo "warning: could not install chromium; the browser tests will fail until it is installed" >&2
  else
    echo "note: chromium is missing; the browser tests need it. Install Debian's package:" >&2
    echo "  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium" >&2
  fi
}

if [ "${1:-}" = "chromium" ]; then
  ensure_chromium
  exit 0
fi
ensure_chromium

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

start=$(date +%s)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip --upgrade >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
fi
# uv installs the exact lock (the upstream Airflow constraints URL is not needed).
.venv/bin/uv pip sync --quiet --compile-bytecode --python .venv/bin/python requirements.lock
sha256sum requirements.lock > .venv/.installed
echo "environment ready in $(( $(date +%s) - start ))s (.venv, $(.venv/bin/python --version))"
