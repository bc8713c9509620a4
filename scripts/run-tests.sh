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
# One test more than there are cores: the end-to-end tests spend much of
# their time waiting (a server starting, a disk sync, a sleep a scenario
# needs), so a third test fills the gaps. On 2 cores: normal tests 676 s
# at -j2, 503 s at -j3, 487 s at -j4; the sanitizer tests 701 s at -j2,
# 589 s at -j3.
jobs=$(( $(nproc) + 1 ))
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
# code paths, at a third of the cost (tests/e2e/offpayd_crash.sh). The
# scenarios' twins (label `twin`: on PostgreSQL, e2e.*_pg of a scenario
# that also runs on SQLite, and on two shards, e2e.offpayd_*_shards) run
# in the build above only: here each scenario runs once, on SQLite, and
# the PostgreSQL backend and the sharded ledger run under the sanitizers
# in unit.test_settle_pg (every engine scenario, sharded too), the other
# unit.*_pg, e2e.offpayd_shards_pg and the PostgreSQL-only scenarios
# (multi, dbrestart, pgroles, copyledger). The twins were 573 of the
# 1,774 test-seconds here (about 3 minutes of CI's time saved), and the
# shards' about 2 minutes before. OFFPAY_ASAN_ALL=1 runs them here too.
asan_skip=(-LE twin)
[ "${OFFPAY_ASAN_ALL:-0}" = 0 ] || asan_skip=()
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 OFFPAY_CRASH_PAYMENTS=200 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs" "${asan_skip[@]}")

echo "== fuzzing (libFuzzer, ${OFFPAY_FUZZ_SECONDS:-10} s per decoder)"
"$root/scripts/fuzz.sh" "${OFFPAY_FUZZ_SECONDS:-10}"
