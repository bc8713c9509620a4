#!/usr/bin/env bash
# offpayd_ledger_moved.sh — the SQLite ledger's files moved away (or
# deleted) under a running offpayd: it still holds them open, and a write
# it committed would go into files nobody opens again, lost at the next
# start. So nothing is acknowledged: a deposit and a terminal's upload are
# answered 503 ELEDGER_MOVED with nothing done, /v1/health answers 503
# naming the problem, and the log says, dated, which file. Put back, the
# same files are written again; after a restart the ledger holds exactly
# what was answered 200, and the audit passes. (SQLite only: a PostgreSQL
# ledger has no file.)
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle
new_merchant "Kiosk"; MA=$MACCT; MID=$MERCHANT
new_terminal ta "$MID"
W=$(new_account payer-1 50.00)
new_wallet w1 "$W" 20.00; S1=$SERIAL
A=$(new_account other 10.00)
c=$(pay w1 2.00); accept ta "$c" 2.00 || fail "accept 2.00"
api GET /v1/health
expect_http 200 - "health before the move"
[ "$(jget .status)" = ok ] && ok "health says ok" || fail "health: $(cat resp.json)"

# ---- the ledger's files moved away -------------------------------------
mkdir away
mv ledger.db* away/
api POST "/v1/admin/accounts/$A/deposit" '{"amount":"1.00"}'
expect_http 503 ELEDGER_MOVED "a deposit on a moved ledger"
jq -e '.hint | test("moved or deleted")' resp.json >/dev/null \
  && ok "the hint says the ledger was moved or deleted" || fail "hint: $(cat resp.json)"
upload ta
expect_http 503 ELEDGER_MOVED "a terminal's upload on a moved ledger"
api GET /v1/health
expect_http 503 ELEDGER_MOVED "health on a moved ledger"
[ "$(jget .status)" = unavailable ] && [ -n "$(jget .time)" ] \
  && ok "health: status unavailable, the clock still given" || fail "health: $(cat resp.json)"
grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z ledger $work/ledger\.db was moved or deleted while it was open: nothing is written" server.err \
  && grep -qE "^offpayd: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z POST /v1/admin/accounts/\*/deposit answered 503 ELEDGER_MOVED" server.err \
  && ok "the log names the file, and each refusal with its time" \
  || fail "log: $(tail -5 server.err)"
n=$(grep -c 'ledger\.db was moved or deleted' server.err)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] \
  && ok "the move is said once per ledger connection (2), not per request" \
  || fail "said $(grep -c 'was moved or deleted' server.err) times"

# ---- put back: the same files, written again ---------------------------
mv away/ledger.db* .
api GET /v1/health
expect_http 200 - "health once the files are back"
api POST "/v1/admin/accounts/$A/deposit" '{"amount":"1.00"}'
expect_http 200 - "a deposit once the files are back"
stop_server
start_server
balances "A=$A:1100 W=$W:3000 esc/$S1:2000 MA=$MA:0" \
  "after a restart: the refused deposit and upload did nothing, the later deposit is there"
upload ta
expect_http 200 - "the upload sent again"
[ "$(outcomes)" = settled ] && ok "the payment is settled now" || fail "outcomes: $(outcomes)"
balances "esc/$S1:1800 MA=$MA:200" "paid once"
audits "after the move and the restart"
stop_server
finish
