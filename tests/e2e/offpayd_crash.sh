#!/usr/bin/env bash
# offpayd_crash.sh — a terminal offline for 500 payments, and offpayd
# killed with SIGKILL in the middle of a batch, then restarted on the same
# ledger: the terminal resends the whole batch and every payment is settled
# exactly once (the ones settled before the kill come back as replays), the
# money adds up and the audit passes. Round 1 is the terminal's own
# `terminal sync --server`, with offpayd killed at a known point (the test
# hook OFFPAYD_KILL_AFTER: offpayd SIGKILLs itself once 150 items are
# committed); round 2 is a signed batch from the upload tool and a SIGKILL
# from outside at whatever moment the first items are seen settled.
source "$(dirname "$0")/offpayd_lib.sh"
# 500 as the issue asks; scripts/run-tests.sh asks 200 of the sanitizer
# build, where each payment's two processes cost three times as much and the
# code paths are the same. The kill at item 150 needs more than 150.
N=${OFFPAY_CRASH_PAYMENTS:-500}
[ "$N" -gt 150 ] 2>/dev/null || { echo "OFFPAY_CRASH_PAYMENTS must be above 150"; exit 2; }
start_server
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; MID=$MERCHANT; new_terminal ta "$MERCHANT"
"$OFFPAY" terminal risk --terminal ta --set max-offline-payments=0 >/dev/null
W=$(new_account payer 1000.00)
new_wallet w "$W" 1000.00; S=$SERIAL
for i in $(seq 1 $N); do
  c=$(pay w 1.00); accept ta "$c" 1.00 || fail "accept $i"
done
ok "$N payments accepted offline"
stop_server TERM

# ---- round 1: a terminal offline for N payments, one sync; offpayd killed
# after exactly 150 committed items --------------------------------------
# step                                         expected
# terminal sync, one item per transaction      offpayd dies at item 150: no
#                                              reply, nothing marked, N left
# restart, terminal sync again                 N decided in one sync: 150
#                                              replays + the rest settled
OFFPAYD_KILL_AFTER=150 start_server --tx-items 1
T=(--terminal ta --passphrase-file tp)
run_cli 3 "$N left to upload" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
wait "$server_pid" 2>/dev/null && st=0 || st=$?
[ "$st" = 137 ] && ok "offpayd was SIGKILLed mid-batch (status 137)" || fail "exit status $st"
server_pid=
start_server
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jget .count)" = 150 ] && ok "150 of $N settled before the kill" || fail "count $(jget .count)"
balances "A=$MA:15000 esc=esc/$S:$(( 100000 - 15000 ))" "what settled before the kill"
audit_passes "after SIGKILL and restart"
run_cli 0 "uploaded $N payment\(s\): $N decided \($N paid, $N.00 EUR; 0 refused\), 0 left" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jget .count)" = "$N" ] && ok "statement: each of $N payments once" || fail "count $(jget .count)"
balances "A=$MA:$(( N * 100 )) esc=esc/$S:$(( 100000 - N * 100 )) W=$W:0" "every payment settled exactly once"
audit_passes "after the resend"
run_cli 0 "uploaded 0 payment\(s\)" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
stop_server TERM

# ---- round 2: SIGKILL from outside, at a moment of its own ----------------
# A second terminal's batch of N payments; offpayd is killed once the first
# of them are seen settled. Whatever had been committed, the resend settles
# the rest exactly once.
new_terminal_round2() {
  start_server
  new_terminal tb "$MID"
  "$OFFPAY" terminal risk --terminal tb --set max-offline-payments=0 >/dev/null
  W2=$(new_account payer-2 1000.00)
  new_wallet w2 "$W2" 1000.00; S2=$SERIAL
  for i in $(seq 1 $N); do
    c=$(pay w2 1.00); accept tb "$c" 1.00 || fail "accept $i"
  done
  stop_server TERM
}
new_terminal_round2
start_server --tx-items 1
before=$(curl -s "$URL/metrics" | sed -n 's/^offpayd_payments_total{outcome="settled"} //p')
"$UPLOAD_TOOL" --terminal tb --passphrase-file tp --body up.body --headers up.hdr >/dev/null
( send_upload; echo "$status" > killed.status ) &
curl_pid=$!
for _ in $(seq 1 2000); do
  k=$(curl -s "$URL/metrics" | sed -n 's/^offpayd_payments_total{outcome="settled"} //p')
  [ "${k:-0}" -gt "${before:-0}" ] && break
  sleep 0.002
done
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
wait "$curl_pid" 2>/dev/null || true
start_server
upload tb
expect_http 200 - "tb's batch resent after the external SIGKILL"
k=$(jq '[.results[] | select(.replay)] | length' resp.json)
fresh=$(jq '[.results[] | select(.replay | not) | select(.outcome == "settled")] | length' resp.json)
[ $(( k + fresh )) = $N ] && ok "killed with $k of $N settled (reply: $(cat killed.status)); $k replays + $fresh settled now" \
  || fail "replays $k fresh $fresh"
balances "esc=esc/$S2:$(( 100000 - N * 100 )) A=$MA:$(( 2 * N * 100 ))" "every payment of both rounds settled once"
audit_passes "after the external SIGKILL and the resend"
stop_server TERM
finish
