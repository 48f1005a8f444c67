#!/usr/bin/env bash
# Builds the web UI into web/dist when its sources are newer than the last build.
set -euo pipefail
cd "$(dirname "$0")/../web"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
stamp=dist/.built
if [ -f "$stamp" ] && [ -z "$(find . -path ./node_modules -prune -o -path ./dist -prune -o -type f -newer "$stamp" -print | head -1)" ]; then
  exit 0
fi
npm run build --silent
touch "$stamp"
