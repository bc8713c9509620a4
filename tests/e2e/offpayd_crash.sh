#!/usr/bin/env bash
# offpayd_crash.sh — offpayd killed with SIGKILL in the middle of a batch,
# then restarted on the same ledger: the terminal resends the whole batch
# and every payment is settled exactly once (the ones settled before the
# kill come back as replays), the money adds up and the audit passes.
source "$(dirname "$0")/offpayd_lib.sh"
N=400
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

# step                                  expected
# upload N, SIGKILL once some settled   0 < k < N settled, no reply
"$UPLOAD_TOOL" --terminal ta --passphrase-file tp --body up.body --headers up.hdr >/dev/null
( send_upload; echo "$status" > killed.status ) &
curl_pid=$!
k=0
for _ in $(seq 1 2000); do
  k=$(curl -s "$URL/metrics" | sed -n 's/^offpayd_payments_total{outcome="settled"} //p')
  [ "${k:-0}" -gt 0 ] && break
  sleep 0.005
done
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
wait "$curl_pid" 2>/dev/null || true
[ "$(cat killed.status)" = 000 ] && ok "the killed upload got no reply" \
  || fail "the killed upload was answered: $(cat killed.status)"

# restart on the same ledger                 k settled so far
start_server
api GET "/v1/admin/merchants/$MID/statement"
k=$(jget .count)
if [ "$k" -gt 0 ] && [ "$k" -lt "$N" ]; then ok "killed mid-batch: $k of $N settled"
else fail "not killed mid-batch: $k of $N settled"; fi
balances "A=$MA:$(( k * 100 )) esc=esc/$S:$(( 100000 - k * 100 ))" "what settled before the kill"
audit_passes "after SIGKILL and restart"

# resend the whole batch                     k replays, N-k settled
upload ta
expect_http 200 - "the batch resent after the restart"
replays=$(jq '[.results[] | select(.replay)] | length' resp.json)
fresh=$(jq '[.results[] | select(.replay | not) | select(.outcome == "settled")] | length' resp.json)
[ "$replays" = "$k" ] && [ "$fresh" = $(( N - k )) ] \
  && ok "$replays replays + $fresh settled now" || fail "replays $replays fresh $fresh (k=$k)"
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jget .count)" = "$N" ] && ok "statement: each of $N payments once" || fail "count $(jget .count)"
balances "A=$MA:$(( N * 100 )) esc=esc/$S:$(( 100000 - N * 100 )) W=$W:0" "every payment settled exactly once"
audit_passes "after the resend"
stop_server TERM
finish
