#!/usr/bin/env bash
# Install Debian's chromium for the real-browser test of the planner map
# (tests/test_map_browser.py). Playwright drives this system browser; `playwright install`
# is not used because it downloads a browser from the internet.
# Usage: bash scripts/install_browser.sh
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install_browser.sh: not root and sudo is missing; run it as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

/usr/bin/chromium --version
