#!/usr/bin/env bash
# run-tests.sh — the README's second command (and CI's): install what is
# needed, build, and run the whole test suite twice: a normal build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build. The suite includes
# the benchmark in quick mode (bench.quick): it proves the benchmark runs and
# the size budgets hold; timings are never judged in tests (see
# docs/benchmarks.md). Last, every libFuzzer target runs for a few seconds
# (OFFPAY_FUZZ_SECONDS, default 10) from its seed corpus.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$root/scripts/setup.sh"

echo "== build (RelWithDebInfo)"
"$root/scripts/build.sh" "$root/build" -DOFFPAY_TEST_HOOKS=ON
echo "== tests"
(cd "$root/build" && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan)"
"$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DOFFPAY_SANITIZE=ON \
    -DOFFPAY_TEST_HOOKS=ON
echo "== tests under sanitizers"
# The offpayd crash tests make 200 offline payments here, not 500: the same
# code paths, at a third of the cost (tests/e2e/offpayd_crash.sh).
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 OFFPAY_CRASH_PAYMENTS=200 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs")

echo "== fuzzing (libFuzzer, ${OFFPAY_FUZZ_SECONDS:-10} s per decoder)"
"$root/scripts/fuzz.sh" "${OFFPAY_FUZZ_SECONDS:-10}"
