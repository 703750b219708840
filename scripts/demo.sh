#!/usr/bin/env bash
# The main command of the README: set up, run bbplan on the default data in gis_data/, then
# serve the API and the planner map at http://127.0.0.1:8000/map (Ctrl-C stops the server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bbplan run "$@"
exec bbplan serve --host 127.0.0.1 --port 8000
