#!/usr/bin/env bash
# The main command of the README: set up, then run bbplan on the default data in gis_data/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bbplan run "$@"
