#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install the locked requirements into it.
# Idempotent: re-running only re-syncs with requirements.lock. Needs Python 3.11 and the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

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
