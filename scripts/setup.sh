#!/usr/bin/env bash
# setup.sh — installs the Debian 12 packages offpay builds and tests with.
# Safe to run again: it installs only what is missing. Needs root (or sudo).
# Then the browser tests' driver (tests/browser/package-lock.json, exactly)
# with npm ci into $OFFPAY_BROWSER_DEPS (default ~/.cache/offpay-browser):
# the tests fetch nothing themselves.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  libsodium-dev libqrencode-dev libpng-dev libzxing-dev
  libsqlite3-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libpq-dev
  postgresql-15
  python3 openssl ca-certificates jq curl iproute2 valgrind tzdata
  pcscd libpcsclite-dev vsmartcard-vpcd pcsc-tools
  softhsm2 libp11-kit-dev
  chromium nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  # A nodejs packaged with its own npm (not Debian's) conflicts with
  # Debian's npm package: an npm that runs is enough.
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root (or install sudo)" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: packages done"
fi

# The browser tests' driver, pinned by tests/browser/package-lock.json.
browser_src=$(cd "$(dirname "$0")/../tests/browser" && pwd)
deps=${OFFPAY_BROWSER_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/offpay-browser}
if cmp -s "$browser_src/package-lock.json" "$deps/package-lock.json" \
   && [ -f "$deps/node_modules/puppeteer-core/package.json" ]; then
  echo "setup: browser test driver present in $deps"
else
  mkdir -p "$deps"
  cp "$browser_src/package.json" "$browser_src/package-lock.json" "$deps/"
  # --ignore-scripts: no install script runs, and no browser is downloaded
  # (the tests use Debian's chromium)
  (cd "$deps" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
  echo "setup: browser test driver installed in $deps"
fi
echo "setup: done"
