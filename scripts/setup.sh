#!/usr/bin/env bash
# Create .venv (if needed) and install bbplan with the locked dependency versions.
# Usage: bash scripts/setup.sh [extras]   e.g. bash scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[$extras]"
# requirements.lock pins every package, so an install today and next month are the same.
.venv/bin/python -m pip install --quiet --constraint requirements.lock --editable "$spec"
