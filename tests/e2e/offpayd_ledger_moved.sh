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
# metric_reaches NAME MIN: waits up to 10 s for the metric to reach MIN.
metric_reaches() {
  for _ in $(seq 100); do [ "$(metric "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}
start_server --release-every 1   # the escrow release job every second
metric_reaches offpayd_release_last_success_timestamp_seconds 1 \
  && [ "$(metric offpayd_release_failures_total)" = 0 ] \
  && ok "metrics: the release job ran through, no failure" \
  || fail "release metrics: $(curl -s "$URL/metrics" | grep release)"
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
metric_reaches offpayd_release_failures_total 1 \
  && grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z release job: the ledger's file was moved or deleted" server.err \
  && ok "metrics: the release job failed on the moved ledger; its log line is dated" \
  || fail "release failures: $(curl -s "$URL/metrics" | grep release)"
[ "$(metric 'offpayd_ledger_errors_total{error="ELEDGER_MOVED"}')" = 3 ] \
  && [ "$(metric 'offpayd_ledger_errors_total{error="ESTORE"}')" = 0 ] \
  && ok "metrics: 3 answers 503 ELEDGER_MOVED (deposit, upload, health)" \
  || fail "ledger errors: $(curl -s "$URL/metrics" | grep ledger_errors)"
n=$(grep -c 'ledger\.db was moved or deleted' server.err)
[ "$n" -ge 1 ] && [ "$n" -le 3 ] \
  && ok "the move is said once per ledger connection, not per request" \
  || fail "said $(grep -c 'was moved or deleted' server.err) times"

# ---- put back: the same files, written again ---------------------------
mv away/ledger.db* .
t0=$(date +%s)
metric_reaches offpayd_release_last_success_timestamp_seconds "$t0" \
  && ok "metrics: the release job runs through again once the files are back" \
  || fail "release after the move: $(curl -s "$URL/metrics" | grep release)"
api GET /v1/health
expect_http 200 - "health once the files are back"
api POST "/v1/admin/accounts/$A/deposit" '{"amount":"1.00"}'
expect_http 200 - "a deposit once the files are back"
stop_server
start_server --release-every 1
balances "A=$A:1100 W=$W:3000 esc/$S1:2000 MA=$MA:0" \
  "after a restart: the refused deposit and upload did nothing, the later deposit is there"
upload ta
expect_http 200 - "the upload sent again"
[ "$(outcomes)" = settled ] && ok "the payment is settled now" || fail "outcomes: $(outcomes)"
balances "esc/$S1:1800 MA=$MA:200" "paid once"
audits "after the move and the restart"
stop_server
grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z stopping$" server.err \
  && ok "the stop is said with its time" || fail "stop line: $(tail -2 server.err)"
finish
