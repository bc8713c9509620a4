#!/usr/bin/env bash
# tsan.sh — offpayd's threads under ThreadSanitizer. Builds build-tsan
# (-DOFFPAY_TSAN=ON, test hooks on), then runs the tests that drive offpayd
# hardest from many connections at once — concurrent uploads, slow clients,
# SIGHUP reloads while requests run, a stop with requests in flight, two
# offpayd processes on one PostgreSQL ledger — and the settlement benchmark's
# quick run (a client thread per core). Any ThreadSanitizer report, from
# offpayd, the CLI or the tests' tools, fails the run (exit 1) and is
# printed. Not part of scripts/run-tests.sh (CI's time); run it before a
# release or after touching offpayd's threads (docs/testing.md).
#
#   scripts/tsan.sh [CTEST_REGEX]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${OFFPAY_TSAN_BUILD:-$root/build-tsan}
tests=${1:-'^e2e\.offpayd_(requests|settle|slow|rotate|stop|multi_pg)$'}
"$root/scripts/setup.sh"

echo "== build (ThreadSanitizer)"
"$root/scripts/build.sh" "$dir" -DCMAKE_BUILD_TYPE=Debug -DOFFPAY_TSAN=ON \
    -DOFFPAY_TEST_HOOKS=ON
logs=$(mktemp -d "${TMPDIR:-/tmp}/offpay-tsan.XXXXXX")
trap 'rm -rf "$logs"' EXIT
# Every process writes its reports to a file of its own under $logs: a
# report inside a test's offpayd would otherwise go to that test's
# server.err and be lost with its directory.
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$logs/report"

echo "== tests under ThreadSanitizer: $tests"
rc=0
(cd "$dir" && ctest --output-on-failure -R "$tests") || rc=1
echo "== settle_bench --quick under ThreadSanitizer"
"$dir/bench/settle_bench" --offpayd "$dir/src/offpayd" --quick >"$logs/bench.out" \
    || { cat "$logs/bench.out"; rc=1; }

reports=("$logs"/report.*)
if [ -e "${reports[0]}" ]; then
  cat "${reports[@]}"
  echo "tsan: ${#reports[@]} process(es) reported races (above)"
  exit 1
fi
[ "$rc" -eq 0 ] || { echo "tsan: a test failed (above)"; exit 1; }
echo "tsan: no race reported"
