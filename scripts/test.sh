#!/usr/bin/env bash
# The test command of the README: set up, lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,bench
# The real-browser tests need Debian's chromium (installed once; a no-op when present).
bash scripts/install_browser.sh
. .venv/bin/activate
echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy"; mypy
echo "== pytest"
mkdir -p test-artifacts
pytest -q "$@"
