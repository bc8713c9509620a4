#!/usr/bin/env bash
# offpayd_dbrestart.sh — PostgreSQL restarted under a running offpayd
# (PostgreSQL only: e2e.offpayd_dbrestart_pg). Every pooled connection is
# dropped by the restart; offpayd finds it out at the next BEGIN on each
# and reconnects, so the requests after the restart are answered as usual
# (200, settled) rather than failing one per stale connection, and each
# payment is still settled once.
source "$(dirname "$0")/offpayd_lib.sh"
[ "$BACKEND" = postgres ] && [ -n "${OFFPAY_TEST_PG_RESTART:-}" ] || {
  echo "offpayd_dbrestart.sh runs on PostgreSQL only, under tests/pg/with_postgres.sh"; exit 1; }
start_server --threads 2   # a pool of 3 connections
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; MID=$MERCHANT; new_terminal ta "$MERCHANT"
W=$(new_account payer 100.00)
new_wallet w "$W" 50.00; S=$SERIAL
for a in 1.00 2.00 3.00 4.00 5.00 6.00; do c=$(pay w "$a"); accept ta "$c" "$a"; done
upload ta --from 1 --to 1
[ "$status" = 200 ] && [ "$(outcomes)" = settled ] && ok "seq 1 settled before the restart" \
  || fail "before: $status $(outcomes)"
balances "A=$MA:100 esc=esc/$S:4900" "before the restart"

"$OFFPAY_TEST_PG_RESTART" && ok "PostgreSQL restarted (fast: connections dropped)" || fail "restart"
# /v1/health reads the ledger: on each connection of the pool, taken up
# again as a transaction's begin would, so it says ok
bad=""
for i in 1 2 3 4; do
  api GET /v1/health
  [ "$status" = 200 ] && [ "$(jget .status)" = ok ] || bad="$bad $status:$(head -c 120 resp.json)"
done
[ -z "$bad" ] && ok "health after the restart: 200 ok on every connection" || fail "health after the restart:$bad"
# More requests than pooled connections, each of which must be answered.
bad=""
for i in 2 3 4 5 6; do
  upload ta --from "$i" --to "$i"
  [ "$status" = 200 ] && [ "$(outcomes)" = settled ] || bad="$bad seq$i:$status:$(head -c 120 resp.json)"
done
[ -z "$bad" ] && ok "every upload after the restart answered 200 and settled" || fail "after the restart:$bad"
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jget .count)" = 6 ] && ok "statement: 6 payments, each once" || fail "count $(jget .count)"
balances "A=$MA:2100 esc=esc/$S:2900" "every payment settled once"
upload ta
[ "$(jq '[.results[] | select(.replay)] | length' resp.json)" = 6 ] \
  && ok "the whole journal again: 6 replays" || fail "replays: $(outcomes)"
audit_passes "after the restart"
stop_server TERM
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
finish
