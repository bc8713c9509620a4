#!/usr/bin/env bash
# run-demo.sh — the README's first command: install what is needed, build,
# and run the main demo (scripts/demo.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" "$root/build-demo" -DOFFPAY_TEST_HOOKS=OFF
exec "$root/scripts/demo.sh" "$root/build-demo/src/offpay"
