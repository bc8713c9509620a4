#!/usr/bin/env bash
# offpayd_sync.sh — the terminal's own uploader, `offpay terminal sync
# --server URL`, against the real offpayd: payments accepted offline reach
# the ledger exactly once, a second sync sends nothing, the terminal takes
# offpayd's newest revocation list (and refuses a revoked credential after
# it), an upload while offpayd is down fails with nothing marked and is
# resent whole later, and a sync killed at random moments never loses or
# doubles a payment. The audit passes after every step.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; MID=$MERCHANT; new_terminal ta "$MERCHANT"
W=$(new_account payer-1 200.00)
new_wallet w1 "$W" 100.00; S1=$SERIAL
T=(--terminal ta --passphrase-file tp)

# ---- 1. offline, then one sync ------------------------------------------
for a in 1.00 2.00 3.00; do c=$(pay w1 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
run_cli 0 "uploaded 3 payment\(s\): 3 decided \(3 paid, 6.00 EUR; 0 refused\), 0 left" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S1:9400 A=$MA:600" "three payments settled"
run_cli 0 "uploaded 0 payment\(s\)" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S1:9400 A=$MA:600" "a second sync sends nothing"
audit_passes "terminal sync --server"

# ---- 2. the revocation list comes with the sync ---------------------------
api POST "/v1/admin/credentials/$S1/revoke" '{"reason":"lost"}'
expect_http 200 - "credential revoked"
c=$(pay w1 1.00)
run_cli 0 "synced with" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
run_cli 1 "EREVOKED" -- "$OFFPAY" terminal accept --terminal ta --code "$c" --amount 1.00

# ---- 3. offpayd down: nothing marked, all resent later -------------------
W2=$(new_account payer-2 200.00)
new_wallet w2 "$W2" 100.00; S2=$SERIAL
for a in 4.00 5.00; do c=$(pay w2 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
stop_server TERM
run_cli 3 "2 left to upload" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
start_server
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 9.00 EUR" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S2:9100 A=$MA:1500" "resent after the outage, settled once"
audit_passes "offpayd down, then back"

# ---- 4. syncs killed at random moments -----------------------------------
RANDOM=777
W3=$(new_account payer-3 500.00)
new_wallet w3 "$W3" 300.00; S3=$SERIAL
total=0
for round in $(seq 1 6); do
  for i in 1 2 3 4 5; do
    c=$(pay w3 1.00); accept ta "$c" 1.00 || fail "accept"; total=$((total + 100))
  done
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL" >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 9))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
run_cli 0 "0 left to upload" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S3:$((30000 - total)) A=$MA:$((1500 + total))" \
  "30 payments after 6 killed syncs: each settled exactly once"
audit_passes "killed syncs"
stop_server TERM
finish
