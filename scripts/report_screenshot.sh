#!/usr/bin/env bash
# Open a sync report in headless Chromium (Debian package `chromium`) and save a PNG of what it shows.
# Usage: scripts/report_screenshot.sh REPORT.html OUT.png [WIDTH,HEIGHT]   (default 1280,3200)
# Example: python pipelines/attendance.py --demo --report demo_output/report.html
#          scripts/report_screenshot.sh demo_output/report.html docs/report.png
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2
  exit 2
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "error: Chromium not found (Debian: apt-get install chromium)" >&2
  exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "$2")
mkdir -p "$(dirname "$out")"
# --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="${3:-1280,3200}" \
  --screenshot="$out" "file://$report" 2>/dev/null
echo "screenshot: $out"
