#!/usr/bin/env bash
# offpayd_crashloop.sh — the crash loop's short form in CI (CTest
# e2e.offpayd_crashloop): scripts/crashloop.sh with CRASHLOOP_ROUNDS
# rounds (default 40), a full check every 20 and at the end, at most
# 240 s of rounds, a fixed seed unless CRASHLOOP_SEED says otherwise. The
# long form: scripts/crashloop.sh OFFPAY OFFPAYD (1,000 rounds, a new seed).
exec bash "$(dirname "$0")/../../scripts/crashloop.sh" \
  --rounds "${CRASHLOOP_ROUNDS:-40}" --check-every 20 --time-limit 240 \
  --seed "${CRASHLOOP_SEED:-1010}" "$@"
