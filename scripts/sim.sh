#!/usr/bin/env bash
# sim.sh — the long form of the deterministic simulation (issue 10, item 1;
# docs/reliability.md §3): tests/sim/sim.c at full scale, then a range of
# seeds at a smaller one, each run's figures printed by the simulator.
#
# Usage: scripts/sim.sh [--sim PATH] [--seed S] [--seeds K]
#            [--wallets N] [--terminals N] [--payments N] [--days N]
#            [--range-payments N] [--no-faults]
# Defaults: the full run is seed 42, 1,000 wallets, 100 terminals,
# 1,000,000 payments over 21 simulated days; then seeds S+1..S+K (K = 8)
# with 100,000 payments, 300 wallets and 40 terminals each. --seeds 0
# skips the range, --payments 0 the full run. Needs a build with
# -DOFFPAY_TEST_HOOKS=ON (cheap Argon2id). Any failure prints the seed,
# the day, what failed and the command that replays it; exit 1 then.
set -euo pipefail
SIM=build/tests/sim
SEED=42
SEEDS=8
WALLETS=1000
TERMINALS=100
PAYMENTS=1000000
DAYS=21
RANGE_PAYMENTS=100000
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --sim) SIM=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --wallets) WALLETS=$2; shift 2 ;;
    --terminals) TERMINALS=$2; shift 2 ;;
    --payments) PAYMENTS=$2; shift 2 ;;
    --days) DAYS=$2; shift 2 ;;
    --range-payments) RANGE_PAYMENTS=$2; shift 2 ;;
    --no-faults) EXTRA+=(--no-faults); shift ;;
    -h|--help) sed -n '6,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sim.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$SIM" ] || { echo "sim.sh: no simulator at $SIM (build first)" >&2; exit 2; }
start=$(date +%s)
if [ "$PAYMENTS" -gt 0 ]; then
  echo "== the full run: seed $SEED"
  "$SIM" --seed "$SEED" --wallets "$WALLETS" --terminals "$TERMINALS" \
    --payments "$PAYMENTS" --days "$DAYS" --verbose "${EXTRA[@]}"
fi
if [ "$SEEDS" -gt 0 ]; then
  echo "== seeds $((SEED + 1))..$((SEED + SEEDS))"
  "$SIM" --seed $((SEED + 1)) --runs "$SEEDS" --wallets 300 --terminals 40 \
    --payments "$RANGE_PAYMENTS" --days 14 "${EXTRA[@]}"
fi
echo "sim.sh: every run passed in $(( $(date +%s) - start )) s"
