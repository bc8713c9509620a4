#!/usr/bin/env bash
# offpayd_crashloop.sh — the crash loop's short form in CI (CTest
# e2e.offpayd_crashloop): scripts/crashloop.sh with CRASHLOOP_ROUNDS
# rounds (default 40), a full check every 20 and at the end, at most
# 240 s of rounds, a fixed seed unless CRASHLOOP_SEED says otherwise; then
# a 3-round run with a lost acceptance and a forgotten code planted
# (CRASHLOOP_PLANT), which must fail naming both. The long form:
# scripts/crashloop.sh OFFPAY OFFPAYD (1,000 rounds, a new seed).
set -uo pipefail
loop=$(dirname "$0")/../../scripts/crashloop.sh
bash "$loop" --rounds "${CRASHLOOP_ROUNDS:-40}" --check-every 20 \
  --time-limit 240 --seed "${CRASHLOOP_SEED:-1010}" "$@" || exit 1
out=$(CRASHLOOP_PLANT=1 bash "$loop" --rounds 3 --check-every 3 --seed 5 "$@")
st=$?
if [ "$st" -eq 1 ] &&
   grep -q "1 reported acceptances not in the journal once" <<<"$out" &&
   grep -q "wallet w1: 1 shown codes not in its log" <<<"$out"; then
  echo "ok   the checks fail on a planted lost acceptance and forgotten code"
else
  echo "FAIL planted violations not reported (exit $st):"
  printf '%s\n' "$out" | tail -8
  exit 1
fi
