#!/usr/bin/env bash
# Installs what Shouli needs to build, run and test, idempotently.
# Usage: scripts/install-deps.sh [--test]   (--test adds the test-only packages)
set -euo pipefail
cd "$(dirname "$0")/.."

want=(build-essential cmake pkg-config clang
      libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev
      libssl-dev libgcrypt20-dev libcurl4-openssl-dev libxml2-dev libxlsxwriter-dev
      libcairo2-dev libpango1.0-dev libqpdf-dev fonts-noto-cjk python3-fonttools nodejs npm)
if [ "${1:-}" = "--test" ]; then
  # iproute2 + util-linux: the WebRTC browser test runs in a loopback-only namespace
  # (unshare -n, ip link set lo up).
  want+=(libcmocka-dev postgresql chromium sqlite3 libclang-rt-14-dev poppler-utils iproute2 util-linux)
fi

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from elsewhere on the machine: accept any working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  stamp=/var/lib/apt/periodic/update-success-stamp
  if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] \
     || ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

# The web UI's packages, exactly as the lockfile pins them.
if [ -f web/package-lock.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
