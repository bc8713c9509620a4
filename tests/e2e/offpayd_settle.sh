#!/usr/bin/env bash
# offpayd_settle.sh — settlement through the real offpayd, as tables of
# steps with the HTTP status and the money per account after each step:
# the happy path (consumer-presented and bound codes), the same batch
# uploaded twice, an upload cut off and resumed, one unbound code accepted
# at two terminals (duplicate presentment), an overspend by a cloned wallet
# paid from the guarantee (also in yen, with the default risk rules), a
# double spend, a revoked terminal, and expiry
# with escrow release and late presentment (offpayd's clock moved by
# OFFPAY_NOW), and refunds. The audit passes after every scenario. The
# marking job runs every second throughout, so the balances and statements
# are read through marks made at every point (docs/settlement.md §10).
export OFFPAYD_MARK_EVERY=1
source "$(dirname "$0")/offpayd_lib.sh"
start_server
default_chunk_is_right
fetch_bundle

# The world: a guarantee of 500.00, two merchants with a terminal each.
api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"500.00","ref":"guarantee"}'
expect_http 200 - "guarantee funded"
new_merchant "Bakery A"; MA=$MACCT; MIDA=$MERCHANT; new_terminal ta "$MERCHANT"; TA=$TID
new_merchant "Kiosk B"; MB=$MACCT; MIDB=$MERCHANT; new_terminal tb "$MERCHANT"; TB=$TID
audit_passes "set-up"
# Money in two currencies is never one sum: beside the euros, a yen
# guarantee of 5000 JPY; the audit gives each currency's own money (JPY,
# 392, before EUR, 978), and no total of cents and yen
api POST /v1/admin/guarantee '{"currency":"JPY"}'; GJ=$(jget .account)
api POST "/v1/admin/accounts/$GJ/deposit" '{"amount":"5000","ref":"yen guarantee"}'
expect_http 200 - "a yen guarantee funded"
api GET /v1/admin/audit
[ "$status" = 200 ] && [ "$(jq -c '[.money[] | [.currency, .inside.minor, .inside.decimal, .inside.currency, .deposits_net.minor, .deposits_net.currency]]' resp.json)" \
  = '[["JPY",5000,"5000","JPY",5000,"JPY"],["EUR",50000,"500.00","EUR",50000,"EUR"]]' ] \
  && [ "$(jq -c '[has("inside"), has("deposits_net"), .money_more, .money_mismatch]' resp.json)" = '[false,false,false,0]' ] \
  && ok "the audit's money: 5000 JPY and 500.00 EUR, each its own" || fail "audit money: $status $(cat resp.json)"
run_cli 0 "^money inside 5000 JPY, deposits less withdrawals 5000 JPY$" -- "$OFFPAY" admin audit --db "$LEDGER"
run_cli 0 "^money inside 500.00 EUR, deposits less withdrawals 500.00 EUR$" -- "$OFFPAY" admin audit --db "$LEDGER"
run_cli 0 '"money":\[\{"currency":"JPY","inside_minor":5000,"deposits_net_minor":5000,"guarantee_owed_minor":0\},\{"currency":"EUR","inside_minor":50000,"deposits_net_minor":50000,"guarantee_owed_minor":0\}\],"money_more":false,"money_mismatch":0,' -- \
  "$OFFPAY" admin audit --db "$LEDGER" --json
# where the money inside is, by kind of account, each currency apart (since
# 0.26.0): the kinds sum to the money inside
run_cli 0 "^held in JPY now: wallets 0 JPY \(0\), escrows 0 JPY \(0\), merchants 0 JPY \(0\), guarantee 5000 JPY \(1\)$" -- \
  "$OFFPAY" admin audit --db "$LEDGER"
out=$("$OFFPAY" admin audit --db "$LEDGER" --json)
[ "$(jq '[.held[] | select(.currency == "EUR") | .balance_minor] | add' <<<"$out")" = 50000 ] \
  && [ "$(jq -c '[.held[] | select(.currency == "EUR") | .kind]' <<<"$out")" = '["wallet","escrow","merchant","guarantee"]' ] \
  && [ "$(jq -c '[.held[] | select(.currency == "JPY") | [.kind, .accounts, .balance_minor]]' <<<"$out")" = '[["wallet",0,0],["escrow",0,0],["merchant",0,0],["guarantee",1,5000]]' ] \
  && ok "audit --json held: EUR's kinds sum to 500.00 inside, JPY's all in its guarantee" \
  || fail "audit held: $(jq -c .held <<<"$out")"

# ---- 1. happy path ------------------------------------------------------
# step                                        status  W       esc     A
# wallet account 200.00, credential 100.00    200     10000   10000   0
# accept CPM 9.99 (of 10.00) + bound 7.25     -       10000   10000   0
# upload ta                                   200     10000   8276    1724
W=$(new_account payer-1 200.00)
new_wallet w1 "$W" 100.00; S1=$SERIAL
balances "W=$W:10000 esc=esc/$S1:10000 A=$MA:0" "credential issued from the wallet account"
c=$(pay w1 10.00); accept ta "$c" 9.99 && ok "CPM accepted" || fail "CPM accept"
pay_bound ta w1 7.25 && ok "bound accepted" || fail "bound accept"
balances "esc=esc/$S1:10000 A=$MA:0" "offline: nothing moved yet"
upload ta
expect_http 200 - "upload of 2 payments"
[ "$(outcomes)" = "settled settled" ] && ok "results: $(outcomes)" || fail "results: $(outcomes)"
! grep -q "uploaded [0-9]* item(s):" server.err && ok "plain payments: no upload line on offpayd's log" \
  || fail "a plain upload logged: $(grep uploaded server.err)"
# each result has the fields of docs/api.md, in its order, nulls included
[ "$(jq -c '.results[0] | del(.seq, .presentment)' resp.json)" \
  = '{"outcome":"settled","reason":null,"paid":{"minor":999,"decimal":"9.99","currency":"EUR"},"covered":{"minor":0,"decimal":"0.00","currency":"EUR"},"replay":false,"case":null}' ] \
  && [ "$(jq -c '.results[1] | keys_unsorted' resp.json)" \
  = '["seq","outcome","reason","paid","covered","replay","presentment","case"]' ] \
  && ok "result fields as documented" || fail "result fields: $(jq -c '.results' resp.json)"
balances "W=$W:10000 esc=esc/$S1:8276 A=$MA:1724 G=$G:50000" "both payments settled"
api GET "/v1/admin/merchants/$MIDA/statement"
[ "$status" = 200 ] && [ "$(jget .count)" = 2 ] && [ "$(jget .paid.decimal)" = 17.24 ] \
  && ok "statement: 2 payments, 17.24 paid" || fail "statement: $status $(cat resp.json)"
api GET "/v1/admin/merchants/$MIDA/statement?from=0&to=1"
[ "$status" = 200 ] && [ "$(jget .count)" = 0 ] && [ "$(jget .paid.decimal)" = 0.00 ] \
  && [ "$(jget .balance.decimal)" = 17.24 ] && [ "$(jget .account)" = "$MA" ] \
  && ok "statement of an empty range: its totals 0.00, the balance 17.24" \
  || fail "empty statement: $status $(cat resp.json)"
# by terminal: ta's lines and totals; a terminal with none: none
api GET "/v1/admin/merchants/$MIDA/statement?terminal=$TA"
[ "$status" = 200 ] && [ "$(jget .count)" = 2 ] && [ "$(jget .paid.decimal)" = 17.24 ] \
  && [ "$(jget .terminal)" = "$TA" ] && [ "$(jq '[.lines[].terminal] | unique' -c resp.json)" = "[$TA]" ] \
  && ok "statement of terminal $TA: its 2 lines, 17.24" || fail "by terminal: $status $(cat resp.json)"
api GET "/v1/admin/merchants/$MIDB/statement?terminal=$TB"
[ "$status" = 200 ] && [ "$(jget .count)" = 0 ] && [ "$(jget .paid.decimal)" = 0.00 ] \
  && ok "statement of a terminal with no line: count 0, totals 0.00" || fail "terminal without lines: $(cat resp.json)"
# a terminal that does not exist, or another merchant's: 404 naming it,
# never "no sales" (a nightly job's wrong mapping)
api GET "/v1/admin/merchants/$MIDA/statement?terminal=$((TA + 100))"
expect_http 404 ENOTFOUND "statement of a terminal that does not exist"
[ "$(jget .hint)" = "terminal: no terminal $((TA + 100))" ] && ok "its hint: $(jget .hint)" || fail "hint: $(cat resp.json)"
api GET "/v1/admin/merchants/$MIDB/statement?terminal=$TA"
expect_http 404 ENOTFOUND "statement of merchant B at merchant A's terminal"
[ "$(jget .hint)" = "terminal: terminal $TA is not merchant $MIDB's (it is merchant $MIDA's)" ] \
  && ok "its hint: $(jget .hint)" || fail "hint: $(cat resp.json)"
# a bad from or to: the hint names it, and says seconds for milliseconds
# or a date; a from ahead of now without to (a client's clock ahead): an
# empty period, as an account's history answers it
bad_time() { # QUERY HINT
  api GET "/v1/admin/merchants/$MIDA/statement?$1"
  [ "$status" = 400 ] && [ "$(jget .error)" = BAD_PARAMETER ] && [ "$(jget .hint)" = "$2" ] \
    && ok "statement?$1: 400, $2" || fail "statement?$1: $status $(cat resp.json)"
}
bad_time "from=1796164600000" "from: 1796164600000 is a time in milliseconds: give unix seconds, not milliseconds (1796164600)"
bad_time "to=2026-12-01" "to: a date: give a unix time in seconds (2026-12-01T00:00Z is 1796083200: date -u +%s -d 2026-12-01), both ends of the period included"
bad_time "from=-5" "from: a unix time in seconds, 0..4294967295, without sign or leading zeros (date -u +%s -d 2027-01-01 gives one)"
bad_time "from=10&to=9" "from: after to (unix times, both included)"
bad_time "from=0&to=4294967296" "to: a unix time in seconds, 0..4294967295, without sign or leading zeros (date -u +%s -d 2027-01-01 gives one)"
# the command line's time options say the same, under their own names
run_cli 2 "^offpay: admin: --from: 1796530000000 is a time in milliseconds: give unix seconds, not milliseconds \(1796530000\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --from 1796530000000
run_cli 2 "^offpay: admin: --to: a date: give a unix time in seconds \(2026-12-01T00:00Z is 1796083200: date -u \+%s -d 2026-12-01\), both ends of the period included$" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$MA" --to 2027-01-01
run_cli 2 "^offpay: admin: --since: a unix time in seconds, 0..4294967295, without sign or leading zeros \(date -u \+%s -d 2027-01-01 gives one\)$" -- \
  "$OFFPAY" admin cases --db "$LEDGER" --since yesterday
ahead=$(( ${OFFPAY_NOW:-$(date +%s)} + 5 ))
api GET "/v1/admin/merchants/$MIDA/statement?from=$ahead"
[ "$status" = 200 ] && [ "$(jq -c '[.from, .to, .count, .movements_count, .final]' resp.json)" = "[$ahead,$ahead,0,0,false]" ] \
  && ok "statement from now + 5 s: the empty period [from, from], not final" || fail "from ahead: $status $(cat resp.json)"
api GET "/v1/admin/accounts/$MA/transfers?from=$ahead"
[ "$status" = 200 ] && [ "$(jq -c '[.count, .final]' resp.json)" = "[0,false]" ] \
  && ok "the account's history from now + 5 s: empty too" || fail "history from ahead: $status $(cat resp.json)"
api GET "/v1/admin/merchants/$MIDA/statement?terminal=0"
expect_http 400 BAD_PARAMETER "terminal=0"
# paging: after the first line's presentment, the rest; totals of the range
P1=$(jq -r '.lines[0].presentment' <<<"$(api GET "/v1/admin/merchants/$MIDA/statement"; cat resp.json)")
api GET "/v1/admin/merchants/$MIDA/statement?after=$P1"
[ "$status" = 200 ] && [ "$(jq '.lines | length' resp.json)" = 1 ] && [ "$(jget .count)" = 2 ] \
  && [ "$(jget .paid.decimal)" = 17.24 ] && [ "$(jget .truncated)" = false ] && [ "$(jget .next_after)" = null ] \
  && ok "statement after presentment $P1: 1 line, the totals of both" || fail "after: $(cat resp.json)"
# a filter the endpoint does not take is refused, not ignored
api GET "/v1/admin/merchants/$MIDA/statement?gate=2"
expect_http 400 BAD_PARAMETER "a statement by gate (no such filter)"
grep -q "unknown query parameter 'gate' (this endpoint takes from to terminal after)" resp.json \
  && ok "the hint names it and what the endpoint takes" || fail "hint: $(cat resp.json)"
# a name that spans two the endpoint takes, or one named twice: refused
api GET "/v1/admin/merchants/$MIDA/statement?to%20terminal=2"
expect_http 400 BAD_PARAMETER "one parameter named 'to terminal'"
api GET "/v1/admin/merchants/$MIDA/statement?terminal=1&terminal=2"
expect_http 400 BAD_PARAMETER "terminal= given twice"
grep -q "repeated query parameter 'terminal'" resp.json \
  && ok "the hint says it is repeated" || fail "hint: $(cat resp.json)"
# the merchants, as the operator finds them: accounts, balances and terminals
api GET /v1/admin/merchants
[ "$status" = 200 ] && [ "$(jq -c '[.count, [.merchants[] | [.merchant, .name, .account, .balance.minor, .balance.decimal, .terminals, .terminals_active]], .next_after]' resp.json)" \
  = "[2,[[\"$MIDA\",\"Bakery A\",\"$MA\",1724,\"17.24\",1,1],[\"$MIDB\",\"Kiosk B\",\"$MB\",0,\"0.00\",1,1]],null]" ] \
  && [ "$(jq -c '.merchants[0] | keys_unsorted' resp.json)" \
  = '["merchant","name","currency","account","balance","created_at","terminals","terminals_active","closed_at"]' ] \
  && ok "the merchants: both, with their accounts, balances (17.24 and 0.00) and terminals" || fail "merchants: $status $(cat resp.json)"
api GET "/v1/admin/merchants?after=$MIDA&limit=1"
[ "$status" = 200 ] && [ "$(jq -c '[.merchants[].name, .next_after]' resp.json)" = "[\"Kiosk B\",\"$MIDB\"]" ] \
  && ok "a page of one after the first" || fail "merchants page: $(cat resp.json)"
api GET "/v1/admin/merchants?limit=1001"
expect_http 400 BAD_PARAMETER "a page of 1001 merchants"
api GET "/v1/admin/audit?x=1"
expect_http 400 BAD_PARAMETER "a query on an endpoint that takes none"
audit_passes "happy path"

# ---- 2. the same batch twice -------------------------------------------
# the same request again (same nonce)         409 NONCE_REPLAYED, nothing
# the same entries, signed anew               200 replay, nothing moves
send_upload
expect_http 409 NONCE_REPLAYED "the same signed request again"
upload ta
expect_http 200 - "the same batch signed anew"
[ "$(outcomes)" = "settled(replay) settled(replay)" ] && ok "replayed: $(outcomes)" \
  || fail "replay results: $(outcomes)"
balances "esc=esc/$S1:8276 A=$MA:1724" "a replay moves nothing"
audit_passes "batch uploaded twice"

# ---- 3. an upload cut off, then resumed --------------------------------
# three more payments (seq 3..5); only seq 3 arrives; then 3..5 again
for a in 1.00 2.00 3.00; do c=$(pay w1 "$a"); accept ta "$c" "$a"; done
upload ta --from 3 --to 3
expect_http 200 - "the first item of the cut-off batch"
balances "esc=esc/$S1:8176 A=$MA:1824" "seq 3 settled"
upload ta --from 3 --to 5
[ "$status" = 200 ] && [ "$(outcomes)" = "settled(replay) settled settled" ] \
  && ok "resumed: $(outcomes)" || fail "resumed: $status $(outcomes)"
balances "esc=esc/$S1:7676 A=$MA:2324" "each payment settled once"
audit_passes "cut-off batch resumed"

# ---- 4. one unbound code at two terminals (duplicate presentment) ------
# code of 15.00 accepted at ta for 15.00 and at tb for 15.00, escrow 20.00:
# tb is paid 5.00 from the escrow and 10.00 from the guarantee; case opened,
# credential revoked.
W2=$(new_account payer-2 50.00)
new_wallet w2 "$W2" 20.00; S2=$SERIAL
c=$(pay w2 15.00)
accept ta "$c" 15.00 && accept tb "$c" 15.00 && ok "accepted at both" || fail "accept twice"
upload ta
upload tb
[ "$(outcomes)" = "duplicate" ] && ok "tb: duplicate" || fail "tb: $(outcomes)"
[ "$(jq -r '.results[0].covered.minor' resp.json)" = 1000 ] && ok "10.00 covered" \
  || fail "covered $(jq -c '.results[0]' resp.json)"
[ "$(jq -r '.results[0].case' resp.json)" != null ] && ok "case opened" || fail "no case"
CASE2=$(jq -r '.results[0].case' resp.json)
balances "W2=$W2:3000 esc=esc/$S2:0 A=$MA:3824 B=$MB:1500 G=$G:49000" "duplicate paid"
# the merchant's statement names the case beside the line (a dispute
# starts from it), the first presentment's line none
api GET "/v1/admin/merchants/$MIDB/statement"
[ "$(jq -c --arg s "$S2" '[.lines[] | select(.serial == $s) | [.outcome, .case]]' resp.json)" = "[[\"duplicate\",\"$CASE2\"]]" ] \
  && ok "tb's statement line names case $CASE2" || fail "statement case: $(jq -c .lines resp.json)"
api GET "/v1/admin/merchants/$MIDA/statement"
[ "$(jq -c --arg s "$S2" '[.lines[] | select(.serial == $s) | .case]' resp.json)" = "[null]" ] \
  && ok "ta's line of the same code: no case" || fail "statement case A: $(jq -c .lines resp.json)"
run_cli 0 "paid 15\.00 EUR  duplicate  case $CASE2  covered 10\.00 EUR" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB"
api GET "/v1/admin/credentials/$S2"
[ "$(jget .revoked)" = true ] && ok "credential revoked" || fail "not revoked"
# where its escrow's 20.00 went: funded 20.00 + covered 10.00 = paid 30.00
[ "$(jq -c '[.escrow.funded.minor, .escrow.late.minor, .escrow.covered.minor, .escrow.paid.minor, .escrow.released.minor, .remaining.minor]' resp.json)" = \
  '[2000,0,1000,3000,0,0]' ] && ok "its escrow: funded 20.00, covered 10.00, paid 30.00, 0 left" \
  || fail "escrow flows: $(jq -c .escrow resp.json)"
api GET /v1/revlist
[ "$(jget .serials)" = 1 ] && ok "revocation list names it" || fail "revlist $(cat resp.json)"
audit_passes "duplicate presentment"

# ---- 5. overspend by a cloned wallet, paid from the guarantee ----------
# escrow 20.00; the wallet pays 15.00 at ta; its clone skips a counter and
# pays 15.00 at tb: tb is paid 5.00 from the escrow, 10.00 guaranteed.
W3=$(new_account payer-3 50.00)
new_wallet w3 "$W3" 20.00; S3=$SERIAL
cp w3 w3clone; cp w3.log w3clone.log   # a wallet is its file and its log
c=$(pay w3 15.00); accept ta "$c" 15.00 || fail "w3 accept"
pay w3clone 1.00 >/dev/null   # counter 1, never shown
c=$(pay w3clone 15.00); accept tb "$c" 15.00 || fail "clone accept"
upload ta --from 7
upload tb --from 2
[ "$(outcomes)" = "settled_guaranteed" ] && ok "tb: settled_guaranteed" || fail "tb: $(outcomes)"
balances "W3=$W3:3000 esc=esc/$S3:0 A=$MA:5324 B=$MB:3000 G=$G:48000" "overspend covered"
# offpayd's log says what the guarantee paid and the case (since 0.23.0)
grep -qE "^offpayd: [0-9T:-]+Z terminal $TB \(merchant $MIDB\) uploaded 1 item\(s\): 1 paid partly or wholly by the guarantee \(10\.00 EUR covered\), 1 case\(s\) opened \(the first: case [0-9]+\), 0 not paid in full \(0.00 EUR short: each result says whether it is owed\), 0 refused \(each one's result in the answer; offpay admin statement --merchant $MIDB\)$" server.err \
  && ok "the log: tb's upload paid 10.00 by the guarantee, a case" \
  || fail "upload log: $(grep uploaded server.err | tail -3)"
api GET "/v1/admin/credentials/$S3"
[ "$(jget .revoked)" = true ] && ok "credential revoked" || fail "not revoked"
# the same from the command line (since 0.26.0): --json is offpayd's
# answer, the text where the escrow's money went and the guarantee's loss
"$OFFPAY" admin credential --db "$LEDGER" --serial "$S3" --json > cred.json
[ "$(jq -cS . cred.json)" = "$(jq -cS . resp.json)" ] \
  && ok "admin credential --json: offpayd's answer" || fail "admin credential --json: $(cat cred.json)"
run_cli 0 "^  escrow \(account [0-9]+\): funded 20.00 EUR, late codes taken back 0.00 EUR, covered by the guarantee 10.00 EUR; paid to merchants 30.00 EUR, released 0.00 EUR; holds 0.00 EUR$" -- \
  "$OFFPAY" admin credential --db "$LEDGER" --serial "$S3"
run_cli 0 "^  the guarantee: covered 10.00 EUR, claims paid 0.00 EUR, owed 0.00 EUR, refunds back 0.00 EUR: net loss 10.00 EUR$" -- \
  "$OFFPAY" admin credential --db "$LEDGER" --serial "$S3"
run_cli 0 "^  REVOKED at [0-9T:-]+Z$" -- "$OFFPAY" admin credential --db "$LEDGER" --serial "$S3"
run_cli 1 "no credential was issued with serial 999999 \(ENOT_ISSUED\)" -- \
  "$OFFPAY" admin credential --db "$LEDGER" --serial 999999
run_cli 2 "--serial N is required" -- "$OFFPAY" admin credential --db "$LEDGER"
audit_passes "overspend"

# ---- 5b. the same overspend in yen, with the default risk rules --------
# The defaults count in a currency's risk unit (100 JPY, as 1.00 EUR): a
# 1,200-yen code the payer shows is taken offline as a 12-euro one is, and
# the guarantee (the yen guarantee GJ, 5000) covers its overspend.
# step                                        JW     esc    JC     GJ
# yen account 5000, credential 2000           3000   2000   0      5000
# 1200 at tj1; the clone's 1200 at tj2        offline, nothing moves
# upload tj1, then tj2 (800 escrow, 400 GJ)   3000   0      2400   4600
new_merchant "Ramen C" JPY; MC=$MACCT
new_terminal tj1 "$MERCHANT" JPY; new_terminal tj2 "$MERCHANT" JPY
run_cli 0 "floor-unbound +5000 JPY" -- "$OFFPAY" terminal risk --terminal tj1
JW=$(new_account payer-yen 5000 JPY)
new_wallet wj "$JW" 2000; SJ=$SERIAL
cp wj wjclone; cp wj.log wjclone.log
c=$(pay wj 1200 JPY); accept tj1 "$c" 1200 && ok "1200 JPY unbound accepted offline at tj1" || fail "tj1 accept"
pay wjclone 1 JPY >/dev/null   # counter 1, never shown
c=$(pay wjclone 1200 JPY); accept tj2 "$c" 1200 && ok "the clone's 1200 JPY accepted at tj2" || fail "tj2 accept"
upload tj1
[ "$(outcomes)" = settled ] && ok "tj1: settled" || fail "tj1: $(outcomes)"
upload tj2
[ "$(outcomes)" = settled_guaranteed ] \
  && [ "$(jq -c '.results[0] | [.paid.decimal, .covered.decimal, .covered.currency]' resp.json)" = '["1200","400","JPY"]' ] \
  && ok "tj2: settled_guaranteed, 1200 paid, 400 covered by the guarantee" || fail "tj2: $(jq -c .results resp.json)"
balances "JW=$JW:3000 esc=esc/$SJ:0 C=$MC:2400 GJ=$GJ:4600" "the yen overspend covered"
# the terminal's sync keeps it (the upload again: the same result, nothing
# moves): covered as minor units and as its decimal text
"$OFFPAY" terminal sync --terminal tj2 --passphrase-file tp --server "$URL" >/dev/null 2>&1 || true
"$OFFPAY" terminal journal --terminal tj2 --passphrase-file tp --json > tj2.json
"$OFFPAY" terminal export --terminal tj2 --passphrase-file tp tj2x >/dev/null
[ "$(jq -c '.settlement | [.outcome, .paid_minor, .paid, .covered_minor, .covered]' tj2.json)" \
  = '["settled_guaranteed",1200,"1200",400,"400"]' ] \
  && [ "$(jq -c '.payments[0].settlement | [.paid, .covered_minor, .covered]' tj2x/payments.json)" = '["1200",400,"400"]' ] \
  && ok "tj2's journal --json and export: covered 400 and \"400\"" || fail "tj2's journal: $(cat tj2.json)"
audit_passes "overspend in yen"

# ---- 5c. an overspend the guarantee cannot cover: a claim on it --------
# The yen guarantee emptied; a clone's 1200 at tj2 finds 800 in the escrow:
# unpaid EFUNDS, 400 owed under the guarantee (the audit says so). A
# deposit into the guarantee pays the merchant the 400 at once (a `claim`
# transfer), the statement line says so, the upload again replays the
# stored result, and the audit passes with nothing owed.
# step                                        JW     esc    C      GJ
# withdraw GJ's 4600                          3000   -      2400   0
# credential 2000 of JW                       1000   2000   2400   0
# 1200 at tj1; the clone's 1200 at tj2        1000   0      4400   0   (400 owed)
# deposit 1000 into GJ                                      4800   600 (0 owed)
api POST "/v1/admin/accounts/$GJ/withdraw" '{"amount":"4600"}'
expect_http 200 - "the yen guarantee emptied"
# every withdrawal from a guarantee says what it holds and owes then
# (since 0.28.0; before, nothing)
jget .warning | grep -qx "the JPY guarantee holds 0 JPY now and owes 0 JPY in 0 open claim(s): what terminals accept offline beyond a payer's escrow is paid from it, and what it cannot pay is owed to the merchant until it is funded again ('offpay admin guarantee --currency JPY')" \
  && ok "the guarantee's withdrawal warns: it holds 0 JPY now" || fail "guarantee withdrawal: $(cat resp.json)"
new_wallet wk "$JW" 2000; SK=$SERIAL
cp wk wkclone; cp wk.log wkclone.log
c=$(pay wk 1200 JPY); accept tj1 "$c" 1200 || fail "tj1 accept (wk)"
pay wkclone 1 JPY >/dev/null
c=$(pay wkclone 1200 JPY); accept tj2 "$c" 1200 || fail "tj2 accept (wkclone)"
upload tj1 --from 2
upload tj2 --from 2
[ "$(jq -c '.results[0] | [.outcome, .reason, .paid.minor, .covered.minor]' resp.json)" = '["unpaid","EFUNDS",800,0]' ] \
  && ok "tj2: unpaid EFUNDS, 800 from the escrow, 400 owed" || fail "tj2 (claim): $(jq -c .results resp.json)"
grep -q "the 400 JPY left is a claim on the guarantee, paid to the merchant once the guarantee is funded" server.err \
  && ok "the log says the claim is paid once the guarantee is funded" || fail "no claim log line"
balances "JW=$JW:1000 esc=esc/$SK:0 C=$MC:4400 GJ=$GJ:0" "the claim recorded, nothing from the guarantee"
api GET /v1/admin/audit
[ "$(jq -c '.money[] | select(.currency == "JPY") | .guarantee_owed | [.minor, .decimal]' resp.json)" = '[400,"400"]' ] \
  && [ "$(jget .ok)" = true ] && ok "the audit: the guarantee owes 400 JPY" || fail "audit owed: $(cat resp.json)"
run_cli 0 "^the guarantee owes merchants 400 JPY" -- "$OFFPAY" admin audit --db "$LEDGER"
# the guarantee's own view (since 0.28.0): its history by kind (5b's
# cover, the withdrawal), the claim open now (whose, since when, its
# case), and the loss to date on each credential it names
api GET "/v1/admin/guarantee?currency=JPY"
expect_http 200 - "the yen guarantee's view"
PK=$(jq -r '.claims[0].presentment' resp.json)
[ "$(jq -c '[.account, .balance.minor, .opening_balance.minor, .closing_balance.minor, .covered.count, .covered.amount.minor, .withdrawals.minor, .claims_paid.count, .paid_out_net.minor]' resp.json)" = "[\"$GJ\",0,0,0,1,-400,-4600,0,400]" ] \
  && [ "$(jq -c '[.deposits.minor + .covered.amount.minor + .claims_paid.amount.minor + .refunds.amount.minor + .withdrawals.minor + .other.minor, .closing_balance.minor - .opening_balance.minor]' resp.json)" = "[0,0]" ] \
  && [ "$(jq -c '[.owed.count, .owed.amount.minor, (.claims | length), .claims[0].serial, .claims[0].merchant, .claims[0].merchant_name, .claims[0].owed.minor, .claims[0].charged.minor, (.claims[0].case != null), .owed_at_close.count, .owed_at_close.amount.minor]' resp.json)" = "[1,400,1,\"$SK\",\"$MERCHANT\",\"Ramen C\",400,1200,true,1,400]" ] \
  && [ "$(jq -c '[.losses[] | [.serial, .covered.minor, .claimed.minor, .owed.minor, .net_loss.minor]]' resp.json)" = "[[\"$SJ\",400,0,0,400],[\"$SK\",0,0,400,400]]" ] \
  && [ "$(jq -c '[.transfers[].kind]' resp.json)" = '["deposit","cover","withdraw"]' ] \
  && ok "GET /v1/admin/guarantee: covered 400 (1), withdrawn 4600, owed 400 on credential $SK, losses $SJ 400 and $SK 400" \
  || fail "guarantee view: $(cat resp.json)"
# the command line gives the same answer (for the same period: each
# reads "until now" on its own clock), and says it in words
gto=$(jget .to)
"$OFFPAY" admin guarantee --db "$LEDGER" --currency JPY --to "$gto" --json > g.json
[ "$(jq -S 'del(.final)' g.json)" = "$(jq -S 'del(.final)' resp.json)" ] \
  && ok "admin guarantee --json is offpayd's answer" || fail "admin guarantee --json: $(cat g.json)"
gtext=$("$OFFPAY" admin guarantee --db "$LEDGER" --currency JPY)
grep -qx "owed now: 400 JPY in 1 open claim(s), paid oldest first as soon as the guarantee holds money (a deposit into it, or the release run)" <<<"$gtext" \
  && grep -qE "^claim  presentment $PK  uploaded [0-9TZ:-]+  merchant $MERCHANT \"Ramen C\" \(account $MC\)  credential $SK  charged 1200 JPY  owed 400 JPY  case [0-9]+$" <<<"$gtext" \
  && grep -qx "owed at the period's end: 400 JPY in 1 claim(s)" <<<"$gtext" \
  && grep -qx "credential $SK  account $JW  covered 0 JPY  claims paid 0 JPY  owed 400 JPY  refunds back 0 JPY  net loss 400 JPY" <<<"$gtext" \
  && grep -qx "movements: covered -400 JPY (1 payment(s))  claims paid 0 JPY (0)  refunds back 0 JPY (0)  deposits +5000 JPY  withdrawals -4600 JPY" <<<"$gtext" \
  && ok "admin guarantee: the claim open, whose, and the loss on $SK" || fail "admin guarantee: $gtext"
api GET "/v1/admin/guarantee?currency=XYZ"
expect_http 400 BAD_PARAMETER "a guarantee of a currency offpay does not know"
api GET "/v1/admin/guarantee?currency=jpy"
expect_http 400 BAD_PARAMETER "a currency in small letters"
jget .hint | grep -qF "ISO 4217 codes are written in capitals: JPY" && ok "its hint: written in capitals" || fail "jpy hint: $(cat resp.json)"
# the command line takes "jpy" for JPY, as every offpay --currency does
# (cli_currency): the same answer; an unknown one is a usage error
"$OFFPAY" admin guarantee --db "$LEDGER" --currency jpy --to "$gto" --json > g2.json
[ "$(jq -S "del(.final)" g.json)" = "$(jq -S "del(.final)" g2.json)" ] && ok "admin guarantee --currency jpy: JPY's answer" || fail "jpy: $(cat g2.json)"
run_cli 2 "offpay: XYZ: unknown currency \(use an ISO 4217 code such as EUR or USD\)" -- \
  "$OFFPAY" admin guarantee --db "$LEDGER" --currency XYZ
api GET "/v1/admin/guarantee"
expect_http 400 BAD_PARAMETER "a guarantee without its currency"
run_cli 2 "admin guarantee: --currency CODE is required" -- "$OFFPAY" admin guarantee --db "$LEDGER"
api GET "/v1/admin/guarantee?currency=GBP"
[ "$status" = 200 ] && [ "$(jq -c '[.account, .balance.minor, .owed.count, (.transfers | length)]' resp.json)" = '[null,0,0,0]' ] \
  && ok "a currency without a guarantee: nothing, said as such" || fail "GBP guarantee: $(cat resp.json)"
api GET "/v1/admin/merchants/$MERCHANT/statement"
[ "$(jq -c '[.lines[] | select(.reason == "EFUNDS")][0] | [.paid.minor, .paid_later.minor, .paid_later_at]' resp.json)" = '[800,0,null]' ] \
  && ok "the statement line: 800 paid, nothing paid later yet" || fail "statement before: $(cat resp.json)"
sleep 1   # the deposit's claim payment dated after the view's period ($gto)
api POST "/v1/admin/accounts/$GJ/deposit" '{"amount":"1000","ref":"yen guarantee again"}'
expect_http 200 - "the yen guarantee funded again"
balances "C=$MC:4800 GJ=$GJ:600" "the deposit paid the merchant the 400 owed"
grep -q "the guarantee of JPY paid 1 claim(s) on it, 400 JPY" server.err \
  && ok "the log says the claim was paid" || fail "no claim-paid log line"
api GET "/v1/admin/merchants/$MERCHANT/statement"
[ "$(jq -c '[.lines[] | select(.reason == "EFUNDS")][0] | [.outcome, .paid.minor, .paid_later.minor, (.paid_later_at > 0)]' resp.json)" = '["unpaid",800,400,true]' ] \
  && ok "the statement line: 400 paid later by the guarantee, and when" || fail "statement after: $(cat resp.json)"
upload tj2 --from 2
[ "$(jq -c '.results[0] | [.replay, .outcome, .reason, .paid.minor]' resp.json)" = '[true,"unpaid","EFUNDS",800]' ] \
  && ok "tj2's upload again replays its stored result" || fail "replay: $(jq -c .results resp.json)"
balances "C=$MC:4800 GJ=$GJ:600" "the replay paid nothing more"
api GET /v1/admin/audit
[ "$(jq -c '.money[] | select(.currency == "JPY") | .guarantee_owed.minor' resp.json)" = 0 ] \
  && ok "the audit: nothing owed" || fail "audit owed after: $(cat resp.json)"
# the claim paid: in the guarantee's period, and no longer owed
api GET "/v1/admin/guarantee?currency=JPY"
[ "$(jq -c '[.claims_paid.count, .claims_paid.amount.minor, .owed.count, .balance.minor, .paid_out_net.minor, ([.losses[] | select(.serial == "'"$SK"'") | [.claimed.minor, .owed.minor, .net_loss.minor]][0])]' resp.json)" = '[1,-400,0,600,800,[400,0,400]]' ] \
  && ok "the guarantee's view: the claim paid (400), nothing owed, the loss on $SK still 400" || fail "guarantee view after: $(cat resp.json)"
run_cli 0 "^owed now: nothing \(no claim open\)$" -- "$OFFPAY" admin guarantee --db "$LEDGER" --currency JPY
# the period read before, again: what it closed owing stays 400 (since
# paid, after it), and the credential's loss is still named in it
api GET "/v1/admin/guarantee?currency=JPY&to=$gto"
[ "$(jq -c --arg s "$SK" '[.owed_at_close.count, .owed_at_close.amount.minor, .owed.count, .claims_paid.count, ([.losses[] | select(.serial == $s) | [.claimed.minor, .owed.minor, .net_loss.minor]][0])]' resp.json)" = '[1,400,0,0,[400,0,400]]' ] \
  && ok "the earlier period: it closed owing 400, paid since; $SK's loss still in it" || fail "the earlier period again: $(cat resp.json)"
audit_passes "a claim on the guarantee, paid"

# ---- 5d. a code in another currency than the terminal's -----------------
# A EUR code of 10.00 (w1's, shown to nobody) in an upload signed by the
# yen terminal tj1's key: the item is answered rejected ECURRENCY, and
# nothing moves: no yen to Ramen C, w1's escrow as it was (settlement.md §4)
c=$(pay w1 10.00) || fail "w1 pays 10.00"
"$UPLOAD_TOOL" --wallet w1 --passphrase-file wp --body wu.body --headers wu.hdr >/dev/null
esc1=$(remaining "$S1")
jq -c --argjson at "$(date +%s)" \
  '{items: [{seq: "99", code: .items[-1].code, charged: 1000, accepted_at: $at}]}' wu.body > eur.json
upload tj1 --sign-body eur.json
[ "$status" = 200 ] && [ "$(jq -c '.results[0] | [.outcome, .reason, .paid.minor, .replay]' resp.json)" = '["rejected","ECURRENCY",0,false]' ] \
  && ok "a EUR code through the yen terminal: rejected ECURRENCY" || fail "EUR code at tj1: $status $(cat resp.json)"
balances "C=$MC:4800 esc=esc/$S1:$esc1 GJ=$GJ:600" "the EUR code moved nothing"
audit_passes "a code in another currency"

# ---- 6. double spend: a clone reuses a counter -------------------------
# escrow 40.00; the wallet pays 10.00 at ta, its clone 12.00 at tb with the
# same counter (other bytes): evidence, revoked, both paid from the escrow.
W4=$(new_account payer-4 50.00)
new_wallet w4 "$W4" 40.00; S4=$SERIAL
cp w4 w4clone; cp w4.log w4clone.log
c=$(pay w4 10.00); accept ta "$c" 10.00 || fail "w4 accept"
c=$(pay w4clone 12.00); accept tb "$c" 12.00 || fail "w4clone accept"
upload ta --from 8
upload tb --from 3
[ "$(outcomes)" = "double_spend" ] && ok "tb: double_spend" || fail "tb: $(outcomes)"
balances "esc=esc/$S4:1800 A=$MA:6324 B=$MB:4200" "both paid from the escrow"
api GET "/v1/admin/credentials/$S4"
[ "$(jget .revoked)" = true ] && ok "credential revoked" || fail "not revoked"
audit_passes "double spend"

# ---- 7. a revoked terminal uploading -----------------------------------
# tb accepts 4.00 before its revocation and 6.00 after (offline, it could
# not know): the upload is authenticated; the first settles, the second is
# rejected ETERMINAL_REVOKED.
W5=$(new_account payer-5 50.00)
new_wallet w5 "$W5" 40.00; S5=$SERIAL
c=$(pay w5 4.00); accept tb "$c" 4.00 || fail "tb accept before"
sleep 1
api POST "/v1/admin/terminals/$(( TA + 1 ))/revoke" '{"reason":"stolen from the stall"}'
expect_http 200 - "terminal tb revoked"
tb_at=$(jget .revoked_at)
# the ledger keeps the reason with the time, and offpayd's log says it
[ "$(jget .revoke_reason)" = "stolen from the stall" ] \
  && grep -q "terminal $(( TA + 1 )) revoked at $(iso "$tb_at"): stolen from the stall" server.err \
  && ok "the revocation's reason kept and logged" || fail "reason: $(cat resp.json); $(grep "terminal $(( TA + 1 ))" server.err)"
# at once again, most likely in the same second: "already" all the same
# (since 0.26.0; before, only once a second had passed)
api POST "/v1/admin/terminals/$(( TA + 1 ))/revoke" '{}'
[ "$(grep -c "terminal $(( TA + 1 )) revoked at $(iso "$tb_at")" server.err)" = 1 ] \
  && grep -q "terminal $(( TA + 1 )) already revoked at $(iso "$tb_at"): stolen from the stall" server.err \
  && ok "revoked again at once: logged as already revoked" || fail "at once again: $(grep "terminal $(( TA + 1 ))" server.err)"
sleep 1
api POST "/v1/admin/terminals/$(( TA + 1 ))/revoke" '{}'
[ "$(jq -c '[.revoked_at, .revoke_reason]' resp.json)" = "[$tb_at,\"stolen from the stall\"]" ] \
  && grep -q "terminal $(( TA + 1 )) already revoked at $(iso "$tb_at"): stolen from the stall" server.err \
  && ok "revoked again: the first time and reason stay, the log says it was already" || fail "second revocation: $(cat resp.json); $(grep "terminal $(( TA + 1 ))" server.err)"
api GET "/v1/admin/terminals/$(( TA + 1 ))"
[ "$(jq -c '[.state, .revoked_at, .revoke_reason]' resp.json)" = "[\"revoked\",$tb_at,\"stolen from the stall\"]" ] \
  && ok "GET /v1/admin/terminals/N: revoked at its time, for its reason" || fail "GET terminal tb: $(cat resp.json)"
c=$(pay w5 6.00); accept tb "$c" 6.00 || fail "tb accept after"
upload tb --from 4
expect_http 200 - "a revoked terminal's upload is authenticated"
[ "$(jq -r '[.results[] | .outcome + ":" + (.reason // "-")] | join(" ")' resp.json)" \
  = "settled:- rejected:ETERMINAL_REVOKED" ] && ok "before settled, after rejected" \
  || fail "revoked terminal: $(jq -c .results resp.json)"
balances "esc=esc/$S5:3600 B=$MB:4600" "only what came before moved"
# the refused payment is kept (since 0.27.0; before, only offpayd's log
# and /metrics said it): merchant B's statement lists it apart from its
# lines and totals, the report counts it refused with its charge; the
# upload sent again keeps it once
upload tb --from 4
[ "$(jq -r '[.results[] | .outcome + ":" + (.reason // "-")] | join(" ")' resp.json)" \
  = "settled:- rejected:ETERMINAL_REVOKED" ] || fail "the resend: $(jq -c .results resp.json)"
api GET "/v1/admin/merchants/$MIDB/statement"
[ "$(jq -c '[.refused.count, .refused.charged.decimal, .refused.truncated, [.refused.lines[] | [.terminal, .serial, .counter, .reason, .charged.decimal]]]' resp.json)" \
  = "[1,\"6.00\",false,[[$TB,\"$S5\",2,\"ETERMINAL_REVOKED\",\"6.00\"]]]" ] \
  && [ "$(jq -r '[.lines[] | select(.serial == "'"$S5"'")] | length' resp.json)" = 1 ] \
  && ok "statement: tb's 6.00 refused, listed apart (kept once), its 4.00 a line" || fail "statement refused: $(jq -c '[.refused, .count]' resp.json)"
run_cli 0 "^refused: 1 payment\(s\) accepted by a terminal after its revocation, charged 6\.00 EUR, paid nothing \(ETERMINAL_REVOKED\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB"
run_cli 0 "^refused  uploaded [0-9T:-]+Z  accepted [0-9T:-]+Z  terminal $TB  credential $S5 counter 2  charged 6\.00 EUR  \(ETERMINAL_REVOKED\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB"
# --csv (since 0.28.0): a row per payment for an accounting import, the
# statement's lines figure for figure, the terminal's label (a comma in
# it, quoted), then the refused one; every row's charge adds up
run_cli 0 "^terminal $TB labelled \"Stall, till 2\"" -- \
  "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id "$TB" --label "Stall, till 2"
"$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB" --csv > stmt.csv 2> stmt.err
# a period that is not final yet (until now) says so, on stderr and in
# each row; a final one says nothing
grep -q "^offpay: admin statement: NOT FINAL: payments dated up to the period's end may still be booked until 60 s after it (the rows say final false); read it again from " stmt.err \
  && "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB" --csv --to 1000 > old.csv 2> old.err \
  && [ ! -s old.err ] && [ "$(wc -l < old.csv)" = 1 ] \
  && ok "statement --csv: NOT FINAL said on stderr until the period is final" || fail "statement --csv final: $(cat stmt.err old.err)"
python3 - stmt.csv resp.json "$TB" <<'PY' && ok "admin statement --csv: each line as the statement's, the label, the refused row" || fail "statement --csv: $(cat stmt.csv)"
import csv, json, sys
from decimal import Decimal as D
raw = open(sys.argv[1], "rb").read()
assert raw.count(b"\r\n") == raw.count(b"\n") and raw.startswith(b"presentment,uploaded_at,"), raw[:80]
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
doc = json.load(open(sys.argv[2]))
lines = {l["presentment"]: l for l in doc["lines"]}
paid = [r for r in rows if r["presentment"]]
refused = [r for r in rows if not r["presentment"]]
assert len(paid) == len(doc["lines"]) == doc["count"], (rows, doc["count"])
for r in paid:
    l = lines[r["presentment"]]
    for k in ("charged", "paid", "covered", "refunded"):
        assert r[k if k != "refunded" else "refunded_to_date"] == l[k]["decimal"], (k, r, l)
    assert r["paid_later_to_date"] == l["paid_later"]["decimal"]
    assert [r["terminal"], r["credential"], r["counter"], r["outcome"], r["reason"] or None] == \
        [str(l["terminal"]), l["serial"], str(l["counter"]), l["outcome"], l.get("reason")], (r, l)
for r in rows:
    assert D(r["charged"]) == D(r["paid"]) + D(r["paid_later_to_date"]) + D(r["owed_now"]) + D(r["unpaid"]), r
    assert r["currency"] == "EUR" and r["read_at"].endswith("Z") and r["final"] == "false", r
# the statement's own totals (since 0.28.0): the rows' sums, adding up
for k, col in (("charged", "charged"), ("paid", "paid"), ("paid_later", "paid_later_to_date"),
               ("owed", "owed_now"), ("unpaid", "unpaid")):
    assert D(doc[k]["decimal"]) == sum(D(r[col]) for r in paid), (k, doc[k])
assert D(doc["charged"]["decimal"]) == sum(D(doc[k]["decimal"]) for k in ("paid", "paid_later", "owed", "unpaid")), doc
tb = [r for r in rows if r["terminal"] == sys.argv[3]]
assert tb and all(r["label"] == "Stall, till 2" for r in tb), tb
assert [(r["outcome"], r["reason"], r["charged"], r["paid"], r["unpaid"]) for r in refused] == \
    [("refused", "ETERMINAL_REVOKED", "6.00", "0.00", "6.00")], refused
PY
run_cli 2 "admin statement: give --json or --csv, not both" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB" --csv --json
api GET "/v1/admin/merchants/$MIDB/statement?terminal=$TB"
[ "$(jq -r .refused.count resp.json)" = 1 ] && ok "statement of tb: its refused payment" || fail "terminal filter: $(jq -c .refused resp.json)"
api GET "/v1/admin/report"
[ "$(jq -c --arg m "$MIDB" '.merchants[] | select(.merchant == $m) | [.rejected, .charged.minor - .paid.minor, .unpaid.minor, .charged.minor - .paid.minor - .paid_later.minor - .owed.minor - .unpaid.minor]' resp.json)" = "[1,600,600,0]" ] \
  && ok "report: merchant B's refused payment counted, its 6.00 charged and not paid (unpaid 6.00: charged = paid + paid later + owed + unpaid)" || fail "report refused: $(jq -c --arg m "$MIDB" '.merchants[] | select(.merchant == $m)' resp.json)"
audit_passes "revoked terminal"

# ---- 7b. refunds ---------------------------------------------------------
# The merchant gives money back: the guarantee's cover first, then the
# payer's wallet account; never more than was paid; once per key.
# step                                          status  W      W3     A      B      G
# refund 4.00 of ta's 9.99 (key r-1)            200     10400  3000   5924   4600   48000
# the same request again (key r-1)              200     replayed, nothing moves
# 6.00 more (5.99 remains)                      409     EOVER_REFUND, nothing moves
# refund 12.00 of tb's overspend (15.00 paid,   200     10400  3200   5924   3400   49000
#   10.00 covered): 10.00 to G, 2.00 to W3
api GET "/v1/admin/merchants/$MIDA/statement"
PR1=$(jq -r '[.lines[] | select(.paid.minor == 999)][0].presentment' resp.json)
api GET "/v1/admin/merchants/$MIDB/statement"
PR5=$(jq -r '[.lines[] | select(.outcome == "settled_guaranteed")][0].presentment' resp.json)
api_once r-1 POST "/v1/admin/presentments/$PR1/refund" '{"amount":"4.00","ref":"returned goods"}'
expect_http 200 - "refund of 4.00 of presentment $PR1"
[ "$(jq -c '[.amount.decimal, .to_guarantee.decimal, .to_wallet.decimal, .refunded.decimal, .refundable.decimal, .replayed, .guarantee_account, .warning]' resp.json)" \
  = '["4.00","0.00","4.00","4.00","5.99",false,null,null]' ] && [ "$(jget .wallet_account)" = "$W" ] \
  && [ "$(jget .merchant_account)" = "$MA" ] \
  && ok "4.00 to the payer's account, 5.99 left to refund" || fail "refund reply: $(cat resp.json)"
RT1=$(jget .transfer)
balances "W=$W:10400 A=$MA:5924 G=$G:48000" "refund booked"
api_once r-1 POST "/v1/admin/presentments/$PR1/refund" '{"amount":"4.00","ref":"returned goods"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .transfer)" = "$RT1" ] \
  && [ "$(jget .to_wallet.decimal)" = 4.00 ] && ok "the same key again: the same refund, replayed" \
  || fail "replayed refund: $status $(cat resp.json)"
api_once r-1 POST "/v1/admin/presentments/$PR1/refund" '{"amount":"1.00"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "the key for another amount"
api POST "/v1/admin/presentments/$PR1/refund" '{"amount":"6.00"}'
expect_http 409 EOVER_REFUND "6.00 more of 9.99"
grep -q "5.99 remains to refund of the 9.99 EUR paid for presentment $PR1" resp.json \
  && ok "the hint says what remains" || fail "hint: $(cat resp.json)"
balances "W=$W:10400 A=$MA:5924" "nothing moved for the refused ones"
api POST "/v1/admin/presentments/$PR5/refund" '{"amount":"12.00"}'
expect_http 200 - "refund of 12.00 of the overspend $PR5"
[ "$(jq -c '[.to_guarantee.decimal, .to_wallet.decimal, .covered.decimal]' resp.json)" = '["10.00","2.00","10.00"]' ] \
  && [ "$(jget .guarantee_account)" = "$G" ] && [ "$(jget .wallet_account)" = "$W3" ] \
  && ok "the guarantee's 10.00 back first, 2.00 to the payer" || fail "overspend refund: $(cat resp.json)"
balances "W3=$W3:3200 B=$MB:3400 G=$G:49000" "cover returned, the rest to the payer"
# the loss on each credential read directly: the overspend's 10.00 came
# back by the refund (net 0.00), the duplicate's did not (net 10.00)
api GET "/v1/admin/credentials/$S3"
[ "$(jq -c '.escrow | [.covered.minor, .refunded_to_guarantee.minor, .net_loss.minor]' resp.json)" = '[1000,1000,0]' ] \
  && ok "credential $S3: covered 10.00, refunded to the guarantee 10.00, net loss 0.00" \
  || fail "credential $S3's loss: $(jq -c .escrow resp.json)"
E3=$(jget .escrow_account)
api GET "/v1/admin/credentials/$S2"
[ "$(jq -c '.escrow | [.covered.minor, .refunded_to_guarantee.minor, .net_loss.minor]' resp.json)" = '[1000,0,1000]' ] \
  && ok "credential $S2: covered 10.00, nothing back, net loss 10.00" \
  || fail "credential $S2's loss: $(jq -c .escrow resp.json)"
# the guarantee's history names each transfer's credential, and the
# refund its presentment's case (the cover's)
api GET "/v1/admin/accounts/$G/transfers?limit=1000"
[ "$(jq -c --arg p "$PR5" '[.transfers[] | select(.presentment == $p) | [.kind, .amount.minor, .serial, .case == null]]' resp.json)" \
  = "[[\"cover\",-1000,\"$S3\",false],[\"refund\",1000,\"$S3\",false]]" ] \
  && [ "$(jq -r --arg p "$PR5" '[.transfers[] | select(.presentment == $p) | .case] | unique | length' resp.json)" = 1 ] \
  && [ "$(jq -c '[.transfers[] | select(.kind == "cover") | .serial] | unique' resp.json)" = "[\"$S2\",\"$S3\"]" ] \
  && [ "$(jq -c '[.transfers[] | select(.kind == "deposit") | .serial]' resp.json)" = '[null]' ] \
  && [ "$(jget .serial)" = null ] \
  && ok "the guarantee's history: each cover's and the refund's serial, the refund under the cover's case" \
  || fail "the guarantee's history: $(jq -c .transfers resp.json)"
# an escrow account names its credential, and so do its fund and settle
api GET "/v1/admin/accounts/$E3"
[ "$(jq -c '[.kind, .serial]' resp.json)" = "[\"escrow\",\"$S3\"]" ] \
  && ok "escrow account $E3 is credential $S3's" || fail "escrow account: $(cat resp.json)"
api GET "/v1/admin/accounts/$E3/transfers"
[ "$(jq -c '[.serial, ([.transfers[].serial] | unique), ([.transfers[].kind] | unique)]' resp.json)" \
  = "[\"$S3\",[\"$S3\"],[\"cover\",\"fund\",\"settle\"]]" ] \
  && ok "its history: fund, settle and cover, each of serial $S3" \
  || fail "escrow history: $(cat resp.json)"
# every operator request that changed the ledger: one dated line on the
# log once it succeeded (docs/operations.md §3), with the client's
# address, the proxy's claim, the key, what it made; never the token
status=$(curl -s -o resp.json -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  -H "Idempotency-Key: wd-1" -H "X-Forwarded-For: 203.0.113.9" \
  --data-binary '{"amount":"1.00","ref":"paid \"out\" \\ back"}' "$URL/v1/admin/accounts/$W3/withdraw")
expect_http 200 - "a withdrawal through a proxy"
wt=$(jget .transfer)
api POST "/v1/admin/accounts/$W3/deposit" '{"amount":"1.00","ref":"back"}'; dt=$(jget .transfer)
log_line() { grep -cE "^offpayd: [0-9T:-]+Z $1\$" server.err || true; }
[ "$(log_line "POST /v1/admin/accounts/$G/deposit by operator token from 127\.0\.0\.1: deposit 500\.00 EUR into guarantee account $G \(ref \"guarantee\"\): transfer [0-9]+")" = 1 ] \
  && [ "$(log_line "POST /v1/admin/accounts/$W3/deposit by operator token from 127\.0\.0\.1: deposit 1\.00 EUR into wallet account $W3 \(ref \"back\"\): transfer $dt")" = 1 ] \
  && ok "a deposit's log line: route, address, amount, account, transfer" || fail "deposit log: $(grep deposit server.err | tail -3)"
[ "$(log_line "POST /v1/admin/accounts/$W3/withdraw by operator token from 127\.0\.0\.1 \(X-Forwarded-For, the proxy's claim: 203\.0\.113\.9\) Idempotency-Key \"wd-1\": withdrawal 1\.00 EUR from wallet account $W3 \(ref \"paid \?out\? \? back\"\): transfer $wt")" = 1 ] \
  && ok "a withdrawal's log line: the proxy's claim, the key, the reference made harmless" \
  || fail "withdrawal log: $(grep withdraw server.err | tail -3)"
[ "$(log_line "POST /v1/admin/credentials by operator token from 127\.0\.0\.1: credential issued from account $W, limit 100\.00 EUR, wallet key [0-9a-f]{16}\.\.\., expires [0-9T:-]+Z: serial $S1")" = 1 ] \
  && ok "a credential's issue logged with its serial" || fail "issue log: $(grep 'credential issued' server.err | head -3)"
[ "$(log_line "POST /v1/admin/presentments/$PR1/refund by operator token from 127\.0\.0\.1 Idempotency-Key \"r-1\": refund 4\.00 EUR of presentment $PR1 from merchant account $MA to wallet account $W \(ref \"returned goods\"\): transfer [0-9]+")" = 1 ] \
  && [ "$(log_line "POST /v1/admin/presentments/$PR1/refund by operator token from 127\.0\.0\.1 Idempotency-Key \"r-1\": refund 4\.00 EUR .* \(replayed: nothing changed now\)")" = 1 ] \
  && ok "a refund logged once, each replay said replayed" || fail "refund log: $(grep refund server.err | head -5)"
! grep -qF "$TOKEN" server.err && ok "the token is on no line" || fail "the token is on the log"
# bad requests, nothing moved
api POST "/v1/admin/presentments/987654321/refund" '{"amount":"1.00"}'
expect_http 404 ENOTFOUND "a refund of no presentment"
api POST "/v1/admin/presentments/x/refund" '{"amount":"1.00"}'
expect_http 400 BAD_PARAMETER "a presentment id that is not a number"
api POST "/v1/admin/presentments/$PR1/refund" '{"amount":"0.00"}'
expect_http 400 EAMOUNT "a refund of 0.00"
api POST "/v1/admin/presentments/$PR1/refund" '{"amount":"1.001"}'
expect_http 400 EAMOUNT "a refund with three decimals"
api POST "/v1/admin/presentments/$PR1/refund" '{"amount":"1.00","to":"cash"}'
expect_http 400 BAD_FIELD "an unknown field"
api POST "/v1/admin/presentments/$PR1/refund" '{"ref":"x"}'
expect_http 400 BAD_FIELD "no amount"
balances "W=$W:10400 W3=$W3:3200 A=$MA:5924 B=$MB:3400 G=$G:49000" "bad requests moved nothing"
# the statement and the merchant's history show them
api GET "/v1/admin/merchants/$MIDA/statement"
[ "$(jq -r --arg p "$PR1" '.lines[] | select(.presentment == $p) | .refunded.decimal' resp.json)" = 4.00 ] \
  && [ "$(jget .refunded.decimal)" = 4.00 ] && [ "$(jget .balance.decimal)" = 59.24 ] \
  && ok "statement: the line and the total show 4.00 refunded" || fail "statement: $(cat resp.json)"
api GET "/v1/admin/accounts/$MA/transfers?limit=1000"
[ "$(jq -c --arg p "$PR1" '[.transfers[] | select(.kind == "refund") | [.amount.minor, .other_kind, .presentment == $p, .ref]]' resp.json)" \
  = '[[-400,"wallet",true,"returned goods"]]' ] && ok "the merchant's history: the refund, out to the wallet" \
  || fail "history: $(jq -c '[.transfers[] | select(.kind == "refund")]' resp.json)"
# the payer's view of the overspend's refund: the clone's upload of its
# code shows the 2.00 that reached its account, not the guarantee's 10.00
st=0; "$OFFPAY" wallet upload --wallet w3clone --passphrase-file wp --server "$URL" >wu.out 2>&1 || st=$?
[ "$st" = 0 ] && grep -qE "^$S3 +2 +settled_guaranteed +15\.00 EUR +refunded 2\.00 EUR" wu.out \
  && ok "the wallet sees the 2.00 refunded to it" || fail "wallet view of the refund ($st): $(cat wu.out)"
# the duplicate's credential still owes the guarantee its 10.00: a refund
# of its first presentment (paid from the escrow, nothing covered) goes
# to the guarantee, not to the payer (funded: merchant A's balance stays)
api GET "/v1/admin/merchants/$MIDA/statement"
PR2=$(jq -r --arg s "$S2" '[.lines[] | select(.serial == $s)][0].presentment' resp.json)
api POST "/v1/admin/presentments/$PR2/refund" '{"amount":"5.00","funded":true}'
expect_http 200 - "a funded refund of 5.00 of $PR2, credential $S2's escrow-paid presentment"
[ "$(jq -c '[.covered.decimal, .to_guarantee.decimal, .to_wallet.decimal]' resp.json)" = '["0.00","5.00","0.00"]' ] \
  && ok "the credential's cover comes back first, whichever presentment is refunded" \
  || fail "refund of $PR2: $(cat resp.json)"
balances "W2=$W2:3000 A=$MA:5924 G=$G:49500" "5.00 to the guarantee, the payer's account unchanged"
api GET "/v1/admin/credentials/$S2"
[ "$(jq -c '.escrow | [.covered.minor, .claimed.minor, .refunded_to_guarantee.minor, .net_loss.minor]' resp.json)" = '[1000,0,500,500]' ] \
  && ok "credential $S2: covered 10.00, 5.00 back, net loss 5.00" \
  || fail "credential $S2's loss: $(jq -c .escrow resp.json)"
audit_passes "refunds"

# Metrics saw it all.
status=$(curl -s -o metrics.txt -w '%{http_code}' "$URL/metrics")
grep -q 'offpayd_payments_total{outcome="duplicate"} 1' metrics.txt \
  && grep -q 'offpayd_cases_opened_total [1-9]' metrics.txt \
  && grep -q 'route="/v1/terminal/upload",status="200"' metrics.txt \
  && grep -q 'offpayd_refunds_total{replayed="false"} 3' metrics.txt \
  && grep -q 'offpayd_refunds_total{replayed="true"} 1' metrics.txt \
  && grep -q '^offpayd_ledger_errors_total{error="ESTORE"} 0$' metrics.txt \
  && grep -q '^offpayd_ledger_errors_total{error="ELEDGER_MOVED"} 0$' metrics.txt \
  && grep -qE '^offpayd_signing_key_expiry_timestamp_seconds\{kid="1"\} [0-9]{10}$' metrics.txt \
  && grep -q '^offpayd_release_failures_total 0$' metrics.txt \
  && grep -q '^offpayd_marks_failures_total 0$' metrics.txt \
  && grep -qE '^offpayd_marks_ids_total [1-9]' metrics.txt \
  && grep -q '^offpayd_release_last_success_timestamp_seconds 0$' metrics.txt \
  && ok "metrics count outcomes, cases, requests and refunds; the key's end, the release and marking jobs, no ledger error" || { fail "metrics"; cat metrics.txt; }

# The marks as the operator sees them, dropped while offpayd runs (the
# incident step for an audit's mark_mismatch, docs/operations.md §3): the
# same balances from the whole history, the audit passing, and offpayd's
# job (every second here) marking again.
run_cli 0 "^[0-9]+ transfer marks and [0-9]+ balance marks: every transfer up to id [0-9]+ \(the latest at 20[0-9-]+T[0-9:]+Z\), marked at 20[0-9-]+T[0-9:]+Z; [0-9]+ transfers above it, read whole by each balance \(the highest id [0-9]+\)$" -- \
  "$OFFPAY" admin marks --db "$LEDGER"
api GET /v1/admin/merchants; jq -S -c . resp.json > merchants.before
st=0; "$OFFPAY" admin marks --db "$LEDGER" --drop --json > drop.json 2>&1 || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.dropped, (.shards | length), (.shards[0].transfer_marks > 0), (.shards[0].balance_marks > 0)]' drop.json)" = '[true,1,true,true]' ] \
  && ok "marks dropped: $(jq -c '.shards[0] | [.transfer_marks, .balance_marks]' drop.json)" || fail "marks --drop ($st): $(cat drop.json)"
api GET /v1/admin/merchants
[ "$(jq -S -c . resp.json)" = "$(cat merchants.before)" ] && ok "the same balances without marks" || fail "merchants: $(cat merchants.before) | $(cat resp.json)"
audits "marks dropped"
for _ in $(seq 1 100); do
  "$OFFPAY" admin marks --db "$LEDGER" --json > marks.json
  [ "$(jq '.shards[0].upto' marks.json)" -gt 0 ] && break
  sleep 0.1
done
[ "$(jq -c '.shards[0] | [.upto == .max_id, .unmarked, .transfer_marks]' marks.json)" = '[true,0,1]' ] \
  && ok "marked again by offpayd's job" || fail "marks after the drop: $(cat marks.json)"
run_cli 2 "unrecognized option|--drop" -- "$OFFPAY" admin audit --db "$LEDGER" --drop

stop_server TERM
[ -z "$server_pid" ] && ok "SIGTERM stops offpayd" || fail "stop"

# ---- 7c. an operator's tolerance of duplicates ---------------------------
# offpayd --duplicates-to-revoke 2 (gates side by side may both read one
# phone): two unbound codes of 5.00, each accepted at two terminals of
# their own merchants; the first duplicate opens a case and revokes
# nothing, the second revokes. Each is paid from the escrow (50.00).
start_server --duplicates-to-revoke 2
grep -q "^offpayd: a credential is revoked at its duplicate presentment case 2, not at the first$" server.out \
  && ok "offpayd says it revokes at the second duplicate" || fail "start line: $(cat server.out)"
new_merchant "Gate C"; MC=$MACCT; new_terminal tc "$MERCHANT"
new_merchant "Gate D"; MD=$MACCT; new_terminal td "$MERCHANT"
W7=$(new_account payer-7 60.00)
new_wallet w7 "$W7" 50.00; S7=$SERIAL
for n in 1 2; do
  c=$(pay w7 5.00)
  accept tc "$c" 5.00 && accept td "$c" 5.00 || fail "accept code $n twice"
  upload tc; upload td
  [ "$(jq -r '.results[-1].outcome' resp.json)" = duplicate ] &&
    [ "$(jq -r '.results[-1].case' resp.json)" != null ] \
    && ok "code $n at the second gate: duplicate, case opened" || fail "code $n: $(outcomes)"
  api GET "/v1/admin/credentials/$S7"
  want=false; [ "$n" = 2 ] && want=true
  [ "$(jget .revoked)" = "$want" ] && ok "after duplicate $n: revoked $want" \
    || fail "after duplicate $n: revoked $(jget .revoked)"
done
balances "esc=esc/$S7:3000 C=$MC:1000 D=$MD:1000" "each duplicate paid from the escrow"
run_cli 2 "out of range" -- "$OFFPAYD" --db "$LEDGER" --duplicates-to-revoke 0
audit_passes "duplicates tolerated once"

# ---- 7d. a copied terminal key uploads another charge ---------------------
# step                                           esc S8  E      cases
# te accepts 12.50 of a code authorizing 30.00    5000    0      0
# its key (copied) uploads it charged 30.00 first 2000    3000   0
# te syncs: its 12.50 is no silent replay         2000    3000   1 charge_mismatch
new_merchant "Shop E"; ME=$MACCT; new_terminal te "$MERCHANT"
api POST "/v1/admin/accounts/$W7/deposit" '{"amount":"50.00"}'
new_wallet w8 "$W7" 50.00; S8=$SERIAL
c=$(pay w8 30.00); accept te "$c" 12.50 || fail "te accepts 12.50"
"$UPLOAD_TOOL" --terminal te --passphrase-file tp --body up.body --headers up.hdr >/dev/null
jq -c '.items[0].charged = 3000' up.body > forged.json
upload te --sign-body forged.json
[ "$(jq -r '.results[0] | .outcome + " " + .paid.decimal' resp.json)" = "settled 30.00" ] \
  && ok "the copied key's upload of 30.00: settled" || fail "forged upload: $(cat resp.json)"
"$OFFPAY" terminal sync --terminal te --passphrase-file tp --server "$URL" >sync.out 2>&1 || true
grep -q "^warning: 1 payment(s): offpayd holds another charge for this payment" sync.out \
  && grep -q "journal entry 1: offpayd holds another charge for this payment (paid 30.00 EUR, case [0-9]*)" sync.out \
  && ok "te's sync warns: offpayd holds another charge for this payment" || fail "te's sync: $(cat sync.out)"
# the journal says it too, counted apart (not "paid in part": 30.00 is
# more than the 12.50 te charged)
"$OFFPAY" terminal journal --terminal te --passphrase-file tp >journal.out 2>&1 || true
grep -qE "^1 .* 12\.50 EUR +30\.00 EUR  paid 30\.00: offpayd holds another charge from this terminal's key, case [0-9]+$" journal.out \
  && grep -q "^settlement: 0 paid in full, 0 paid in part, 1 paid another charge offpayd holds (a case each), 0 not paid, 0 refused; paid 30.00 EUR in all; 0 not uploaded yet$" journal.out \
  && ok "te's journal: the other charge and its case, counted apart" || fail "te's journal: $(cat journal.out)"
api GET "/v1/admin/cases?serial=$S8"
[ "$(jq -c '[.count, .cases[0].kind]' resp.json)" = '[1,"charge_mismatch"]' ] \
  && ok "a charge_mismatch case against te's presentment" || fail "cases of $S8: $(cat resp.json)"
case8=$(jq -r '.cases[0].id' resp.json)
api GET "/v1/admin/cases/$case8/evidence"
[ "$(jget .error)" = EEVIDENCE ] && ok "no evidence file for a charge_mismatch ($status)" \
  || fail "evidence of $case8: $status $(cat resp.json)"
"$OFFPAY" terminal sync --terminal te --passphrase-file tp --server "$URL" --json >sync.json 2>/dev/null || true
[ "$(jq -r .mismatched sync.json)" = 0 ] && ok "synced again (--json): nothing sent, mismatched 0" || fail "sync --json: $(cat sync.json)"
api GET "/v1/admin/cases?serial=$S8"
[ "$(jget .count)" = 1 ] && ok "synced again: still one case" || fail "cases again: $(cat resp.json)"
# serial=0 is a malformed id, as in a path, not "every case"
api GET "/v1/admin/cases?serial=0"
expect_http 400 BAD_PARAMETER "cases?serial=0"
jget .hint | grep -q "^serial: a decimal id from 1;" && ok "its hint names serial" || fail "serial=0: $(cat resp.json)"
api GET "/v1/admin/credentials/$S8"
[ "$(jget .revoked)" = false ] && ok "the payer's credential is not revoked" || fail "S8: $(cat resp.json)"
balances "esc=esc/$S8:2000 E=$ME:3000 W7=$W7:1000" "nothing more moved"
audits "a terminal's upload with another charge"
stop_server TERM

# ---- 8. expiry, escrow release, late presentment -------------------------
# A credential of 30.00 (expires in 30 days); ta accepts 5.00, 7.00 and
# 9.00 today (journal seq 9, 10, 11) but uploads only the first. offpayd's
# clock (OFFPAY_NOW) then moves past expiry + the 14-day upload grace.
# step                                   W6      esc     A
# issue 30.00 from 50.00                 2000    3000    5924
# upload seq 9 (5.00)                    2000    2500    6424
# day 45: the release job runs           4500    0       6424
# day 45: upload seq 10 (late, 7.00)     3800    0       7124   paid from W6
# day 76: upload seq 11 (9.00)           3800    0       7124   refused ELATE
start_server
# the revocations so far (of credentials expiring in 30 days)
api GET /v1/revlist
rl_n=$(jget .serials); rl_seq=$(jget .seq)
[ "$rl_n" -ge 2 ] && ok "the revocation list names $rl_n credentials (list $rl_seq)" \
  || fail "revlist before the expiry: $(cat resp.json)"
gauge=$(curl -s "$URL/metrics" | sed -n 's/^offpayd_revocation_list_serials //p')
[ "$gauge" = "$rl_n" ] && ok "offpayd_revocation_list_serials $gauge" \
  || fail "the list's gauge: '$gauge', want $rl_n"
# the expiries a terminal asks of offpayd (POST /v1/terminal/expiries):
# S7's, revoked, its signed expiry; none of S8, not revoked
api GET "/v1/admin/credentials/$S7"; exp7=$(jget .expires)
treq te /v1/terminal/expiries "{\"serials\":[\"$S7\",\"$S8\"]}"
[ "$status" = 200 ] && [ "$(jq -c '[.asked, .expires]' resp.json)" = "[2,[{\"serial\":\"$S7\",\"expires\":$exp7}]]" ] \
  && ok "expiries: S7's ($exp7), none of S8" || fail "expiries: $status $(cat resp.json)"
treq te /v1/terminal/expiries "{\"serials\":[\"$S8\",\"$S7\"]}"
expect_http 400 BAD_FIELD "expiries not ascending"
jget .hint | grep -q "^serials: 1 to 1000 serials, each a decimal string from 1, strictly ascending$" \
  && ok "its hint says what serials takes" || fail "expiries' hint: $(cat resp.json)"
W6=$(new_account payer-6 50.00)
new_wallet w6 "$W6" 30.00; S6=$SERIAL
for a in 5.00 7.00 9.00; do c=$(pay w6 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
upload ta --from 9 --to 9
balances "W6=$W6:2000 esc=esc/$S6:2500 A=$MA:6424" "5.00 settled before expiry"
stop_server TERM
day45=$(( $(date +%s) + 45 * 86400 ))
OFFPAY_NOW=$day45 start_server --release-every 1   # the job runs every second
sleep 2.5
grep -q "released [1-9]" server.err && ok "offpayd's release job ran" || fail "no release job: $(cat server.err)"
balances "W6=$W6:4500 esc=esc/$S6:0 A=$MA:6424" "what remained went back to the wallet account"
# who booked it: the release job; the account's deposit, the bearer of
# --token-file's token (settlement.md §1, "Who booked it")
api GET "/v1/admin/accounts/$W6/transfers"
[ "$(jq -c '[.transfers[] | select(.kind == "release" or .kind == "deposit") | [.kind, .by]]' resp.json)" = '[["deposit","operator token"],["release","offpayd release job"]]' ] \
  && ok "who booked: the deposit by the operator token, the release by offpayd's job" \
  || fail "by: $(jq -c '[.transfers[] | [.kind, .by]]' resp.json)"
# and the payments terminals uploaded through the same ledger handles
# after operators' requests: by no one (their presentment says whose)
api GET "/v1/admin/accounts/$MA/transfers?limit=1000"
[ "$(jq -c '[.transfers[] | select(.kind == "settle") | .by] | unique' resp.json)" = '[null]' ] \
  && ok "who booked: no one for the settled payments" \
  || fail "settle by: $(jq -c '[.transfers[] | [.kind, .by]]' resp.json)"
api POST /v1/admin/release '{}'
[ "$status" = 200 ] && [ "$(jget .released)" = 0 ] \
  && ok "released once: the endpoint finds nothing left" || fail "released again: $(cat resp.json)"
# what came back is held for the late codes until the late window ends:
# W6's 45.00 funds a credential of 20.00 at most, nothing moves
w6key=$("$OFFPAY" wallet key --wallet w6 --passphrase-file wp)
api POST /v1/admin/credentials "{\"account\":\"$W6\",\"wallet_key\":\"$w6key\",\"limit\":\"20.01\"}"
expect_http 409 EFUNDS "a credential from money held for late codes"
grep -qE "the limit 20\.01 EUR is above what account $W6 may fund: of its balance of 45\.00 EUR, 25\.00 came back from released escrows and is held until [0-9T:-]+Z for their codes still to be uploaded late \(docs/settlement.md §6\); a deposit funds a credential at once\"" resp.json \
  && ok "the hint: the balance, what is held and until when" || fail "hint: $(cat resp.json)"
balances "W6=$W6:4500" "nothing moved"
upload ta --from 10 --to 10 --time "$day45"
[ "$(outcomes)" = settled ] && ok "late presentment within the window: settled" \
  || fail "late: $(jq -c .results resp.json)"
# their expiry is more than a day past: in no list any more (no terminal
# takes their codes), the list's number unchanged
api GET /v1/revlist
[ "$status" = 200 ] && [ "$(jget .serials)" = 0 ] && [ "$(jget .seq)" = "$rl_seq" ] \
  && ok "day 45: the full revocation list of list $rl_seq names none of the $rl_n" \
  || fail "revlist on day 45: $status $(cat resp.json)"
api GET "/v1/revlist?since=1"
[ "$status" = 200 ] && [ "$(jget .serials)" = 0 ] && [ "$(jget .base_seq)" = 1 ] \
  && ok "day 45: the delta after list 1 names none either" \
  || fail "delta on day 45: $status $(cat resp.json)"
# a terminal lets them go too: te's sync on day 45 asks offpayd the
# expiries of the serials it holds revoked, and lets go of the ones
# expired more than 15 days before its list (docs/protocol.md §5.7). It
# first takes today's list from a file (no expiry asked); then a list
# adds one revoked today (a credential of W7's, live until day 75), past
# the 6 it can hold here (OFFPAY_TEST_REVOKED_MAX): refused ETOOBIG, then
# taken once the 6 are let go
held_te() { "$OFFPAY" terminal status --terminal te --json 2>/dev/null | jq -r .revocation_list.serials_held.value; }
api GET /v1/revlist
jget .revlist | base64 -d > revlist.opb
OFFPAY_NOW=$day45 "$OFFPAY" terminal sync --terminal te --revlist revlist.opb >/dev/null
te_held=$(held_te)
wallet_init w9
w9key=$("$OFFPAY" wallet key --wallet w9 --passphrase-file wp)
api POST /v1/admin/credentials "{\"account\":\"$W7\",\"wallet_key\":\"$w9key\",\"limit\":\"5.00\"}"
S9=$(jget .serial)
api POST "/v1/admin/credentials/$S9/revoke" '{}'
[ "$status" = 200 ] || fail "revoke $S9: $status $(cat resp.json)"
# first through a link that changes offpayd's answer to it (every expiry
# made 1, long past, the signature header kept) or drops the answer's
# signature (tests/e2e/slow_proxy.py): the answer is refused, nothing is
# let go, the list is still too big (each at its own time, so that the
# next sync asks the same serials again). te learnt the 6 expiries at an
# earlier sync, while they were revoked and live: forgotten here, as a
# terminal upgraded from 0.20.0 (which never asked) holds its serials
python3 - te/terminal.db <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
known = c.execute("SELECT count(*) FROM revoked WHERE expires IS NOT NULL").fetchone()[0]
assert known == 6, known
c.execute("UPDATE revoked SET expires = NULL, asked = 0")
c.commit()
PY
start_proxy
echo /v1/terminal/expiries > ctl/tamper_only
for mode in expires:60 strip:30; do
  echo "${mode%:*}" > ctl/tamper
  said="fails its signature check \(ECODE_SIG\)"
  [ "${mode%:*}" = strip ] && said="is not signed"
  st=0
  OFFPAY_TEST_REVOKED_MAX=$te_held OFFPAY_NOW=$((day45 - ${mode#*:})) "$OFFPAY" terminal sync --terminal te --passphrase-file tp --server "$PURL" >sync.out 2>&1 || st=$?
  [ "$st" != 0 ] && [ "$(held_te)" = 6 ] && ! grep -q "let go of" sync.out \
    && grep -qE "^offpay: offpayd's answer to POST /v1/terminal/expiries $said" sync.out \
    && grep -q "^offpay: the expiries of the revoked serials this terminal holds were not all learnt (EANSWER)" sync.out \
    && grep -q "ETOOBIG" sync.out \
    && "$OFFPAY" terminal status --terminal te --json | jq -e ".revocation_list.seq == $rl_seq" >/dev/null \
    && ok "day 45: an expiries answer ${mode%:*} on the way: refused, te holds its 6, the list not taken (exit $st)" \
    || fail "te with an answer changed (${mode%:*}): exit $st, held $(held_te): $(cat sync.out)"
done
rm -f ctl/tamper ctl/tamper_only
OFFPAY_TEST_REVOKED_MAX=$te_held OFFPAY_NOW=$day45 "$OFFPAY" terminal sync --terminal te --passphrase-file tp --server "$URL" >sync.out 2>&1 || true
[ "$te_held" = 6 ] && [ "$(held_te)" = 1 ] \
  && grep -q "^offpay: let go of 6 revoked serial(s) whose credentials expired more than 15 days ago" sync.out \
  && "$OFFPAY" terminal status --terminal te --json | jq -e ".revocation_list.seq == $(( rl_seq + 1 ))" >/dev/null \
  && ok "day 45: te's sync let go of the 6 revoked serials it held, then took the list that names S9" \
  || fail "te on day 45: held $te_held, then $(held_te): $(cat sync.out)"
balances "W6=$W6:3800 esc=esc/$S6:0 A=$MA:7124" "late payment taken from the wallet account"
audit_passes "release and late presentment"
stop_server TERM
day76=$(( day45 + 31 * 86400 ))
OFFPAY_NOW=$day76 start_server
upload ta --from 11 --to 11 --time "$day76"
[ "$(jq -r '.results[0].reason' resp.json)" = ELATE ] && [ "$(jq -r '.results[0].paid.minor' resp.json)" = 0 ] \
  && ok "after the late window: $(jq -r '.results[0].outcome' resp.json), ELATE, nothing paid" \
  || fail "after the late window: $(jq -c .results resp.json)"
balances "W6=$W6:3800 A=$MA:7124" "nothing moved"
audit_passes "after the late window"
# the statement marks both late presentments, and only them: the one paid
# from W6 after the release (settled, no reason) and the one refused
api GET "/v1/admin/merchants/$MIDA/statement"
[ "$status" = 200 ] && [ "$(jq -c --arg s "$S6" '[.lines[] | select(.serial == $s) | [.paid.minor, .outcome, .reason, .late]]' resp.json)" \
  = '[[500,"settled",null,false],[700,"settled",null,true],[0,"unpaid","ELATE",true]]' ] \
  && [ "$(jq '[.lines[] | select(.late)] | length' resp.json)" = 2 ] \
  && ok "the statement: S6's 7.00 paid after the release and the refused 9.00 late, its 5.00 not, no other line" \
  || fail "late lines: $status $(cat resp.json)"
run_cli 0 "charged 7.00 EUR  paid 7.00 EUR  settled  LATE \(after the escrow's release\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --to "$day76"
# W6's history as the operator reads it: every transfer, from its side,
# summing to its balance
api GET "/v1/admin/accounts/$W6/transfers"
[ "$status" = 200 ] && [ "$(jget .balance.minor)" = 3800 ] && [ "$(jget .next_after)" = null ] \
  && [ "$(jq -c '[.transfers[] | [.kind, .amount.minor, .other_kind]]' resp.json)" = \
       '[["deposit",5000,"world"],["fund",-3000,"escrow"],["release",2500,"escrow"],["late",-700,"escrow"]]' ] \
  && [ "$(jq '[.transfers[] | select(.kind == "late") | .presentment != null] | all' resp.json)" = true ] \
  && ok "W6's history: deposit, allowance, release, late payment, summing to 38.00" \
  || fail "W6's history: $status $(cat resp.json)"
api GET "/v1/admin/accounts/$W6/transfers?limit=2"
first=$(jget .next_after)
api GET "/v1/admin/accounts/$W6/transfers?limit=2&after=$first"
[ "$status" = 200 ] && [ "$(jq -c '[.transfers[].kind]' resp.json)" = '["release","late"]' ] \
  && ok "the second page of 2 starts after the first's last id" || fail "page 2: $(cat resp.json)"
api GET "/v1/admin/accounts/$W6/transfers?limit=0"
expect_http 400 BAD_PARAMETER "a page of 0 transfers"
# a period of it by each transfer's own time (W6's deposit and allowance
# today, its release and late payment on day 45): pages of one transfer
# within the period join up to the period's two, the balance W6's now
d44=$(( day45 - 86400 ))
api GET "/v1/admin/accounts/$W6/transfers?from=$d44&limit=1"
[ "$status" = 200 ] && [ "$(jq -c '[.transfers[].kind]' resp.json)" = '["release"]' ] \
  && [ "$(jget .next_after)" != null ] && [ "$(jget .balance.minor)" = 3800 ] \
  && ok "from day 44, a page of 1: the release, with a next page, balance 38.00" \
  || fail "from day 44, limit 1: $status $(cat resp.json)"
kinds=$(jq -c '[.transfers[].kind]' resp.json); after=$(jget .next_after)
while [ "$after" != null ]; do
  api GET "/v1/admin/accounts/$W6/transfers?from=$d44&limit=1&after=$after"
  [ "$status" = 200 ] || break
  kinds=$(jq -c --argjson k "$kinds" '$k + [.transfers[].kind]' resp.json); after=$(jget .next_after)
done
[ "$kinds" = '["release","late"]' ] && ok "from day 44 in pages of 1: release, late" \
  || fail "from day 44 paged: $kinds $(cat resp.json)"
api GET "/v1/admin/accounts/$W6/transfers?to=$d44&limit=2"
[ "$status" = 200 ] && [ "$(jq -c '[.transfers[].kind]' resp.json)" = '["deposit","fund"]' ] \
  && ok "until day 44: the deposit and the allowance" || fail "to day 44: $status $(cat resp.json)"
api GET "/v1/admin/accounts/$W6/transfers?from=$((d44 + 1))&to=$d44"
expect_http 400 BAD_PARAMETER "a history whose from is after its to"
jget .hint | grep -q "from <= to: unix times" && ok "its hint: $(jget .hint)" || fail "from > to: $(cat resp.json)"
api GET "/v1/admin/accounts/$W6/transfers?to=4294967296"
expect_http 400 BAD_PARAMETER "a history until a time past 32 bits"
api GET "/v1/admin/accounts/$W6/transfers?page=2"
[ "$status" = 400 ] && ok "an unknown query parameter of transfers: 400 $(jget .error)" \
  || fail "page=2: $status $(cat resp.json)"
api GET "/v1/admin/accounts/987654321/transfers"
expect_http 404 ENOTFOUND "the transfers of no account"
# the payers' accounts, as an operator answering one finds them: by the
# reference they were opened with, or a page at a time (no escrow, no
# merchant account among them)
api GET /v1/admin/accounts
[ "$status" = 200 ] && [ "$(jq -c '[.count, [.accounts[] | [.account, .ref]], .next_after]' resp.json)" \
  = "[8,[[\"$W\",\"payer-1\"],[\"$W2\",\"payer-2\"],[\"$W3\",\"payer-3\"],[\"$JW\",\"payer-yen\"],[\"$W4\",\"payer-4\"],[\"$W5\",\"payer-5\"],[\"$W7\",\"payer-7\"],[\"$W6\",\"payer-6\"]],null]" ] \
  && ok "the payers' accounts: the eight wallet accounts (one in yen) in order" || fail "accounts: $status $(cat resp.json)"
api GET "/v1/admin/accounts?ref=payer-6"
six=$(jq -c '.accounts' resp.json)
b6=$(balance "$W6")
[ "$(jq -r 'length' <<<"$six")" = 1 ] && [ "$(jq -r '.[0].account' <<<"$six")" = "$W6" ] \
  && [ "$(jq -r '.[0].balance.minor' <<<"$six")" = "$b6" ] && [ "$b6" = 3800 ] \
  && [ "$(jq -r '.[0].credentials' <<<"$six")" -ge 1 ] && [ "$(jq -r '.[0].lost_at' <<<"$six")" = null ] \
  && [ "$(jq -r '.[0].currency' <<<"$six")" = EUR ] \
  && ok "ref=payer-6: its account, balance 38.00 as the account's own read, its credentials" \
  || fail "ref=payer-6: $six (balance $b6)"
api GET "/v1/admin/accounts?ref=nobody"
[ "$status" = 200 ] && [ "$(jq -c '[.count, .accounts, .next_after]' resp.json)" = '[0,[],null]' ] \
  && ok "a reference no account has: none" || fail "ref=nobody: $(cat resp.json)"
api GET "/v1/admin/accounts?after=$W2&limit=2"
[ "$status" = 200 ] && [ "$(jq -c '[[.accounts[].account], .next_after]' resp.json)" = "[[\"$W3\",\"$JW\"],\"$JW\"]" ] \
  && ok "a page of two after $W2" || fail "accounts page: $(cat resp.json)"
api GET "/v1/admin/accounts?limit=1001"
expect_http 400 BAD_PARAMETER "a page of 1001 accounts"
api GET "/v1/admin/accounts?ref=$(printf 'r%.0s' $(seq 129))"
expect_http 400 BAD_PARAMETER "a reference of 129 bytes"
stop_server TERM

# ---- the operator's audit from the command line -------------------------
# The same ledger, offpayd stopped: `offpay admin audit` agrees; a ledger
# changed behind the engine's back fails it (exit 1, the count named); a
# mistyped path is not taken for a new, empty ledger.
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
run_cli 0 '"ok":true' -- "$OFFPAY" admin audit --db "$LEDGER" --json
# a report whose standard output cannot be written (a full disk) fails,
# with the system's reason, instead of exit 0 and an empty file
for c in "admin audit --db $LEDGER --json" "admin statement --db $LEDGER --merchant 1" \
    "terminal journal --terminal ta --json"; do
  run_cli 3 "^offpay: cannot write standard output: disk full \(ENOSPC\)\$" -- \
    sh -c "\"\$0\" $c >/dev/full" "$OFFPAY"
done
# (the real clock is behind offpayd's of day 76 above: an operator's
# release vouches for it, so that the bookings below go on; settlement.md
# §10, "The ledger's clock")
run_cli 0 "released 0 escrow" -- \
  "$OFFPAY" admin release --db "$LEDGER" --now --vouch
run_cli 0 "account $W6: wallet, balance 38.00 EUR" -- "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6"
run_cli 0 "transfer [0-9]+  [0-9T:-]+Z  refund   \+10.00 from merchant account $MB  presentment $PR5  case [0-9]+  serial $S3  by operator token\$" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$G"
run_cli 0 "^account $E3: escrow of credential $S3, balance 0.00 EUR" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$E3"
run_cli 0 "\"kind\":\"fund\",[^}]*\"serial\":\"$S3\",\"by\":\"operator token\"}.*\"serial\":\"$S3\",\"next_after\"" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$E3" --json
run_cli 0 "transfer [0-9]+  [0-9T:-]+Z  late     -7.00 to escrow account [0-9]+  presentment [0-9]+" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6"
run_cli 0 "2 transfer\(s\); the next page: --after [0-9]+" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --limit 2
run_cli 0 '"balance_minor":3800,"balance":"38.00","count":4,.*"at":"[0-9T:-]+Z","kind":"late","amount_minor":-700,"amount":"-7.00"' -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --json
run_cli 1 "admin transfers: no account 987654321" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account 987654321
run_cli 2 "admin transfers: --account N is required" -- "$OFFPAY" admin transfers --db "$LEDGER"
run_cli 0 "^1 transfer\(s\); the next page: --after [0-9]+ --from $d44\$" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --from "$d44" --limit 1
run_cli 0 "transfer [0-9]+  [0-9T:-]+Z  fund     -30.00 to escrow" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --to "$d44"
run_cli 0 "^2 transfer\(s\)\$" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --to "$d44"
run_cli 2 "admin transfers: --from is after --to" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --from "$((d44 + 1))" --to "$d44"
# a period's history has the period's opening and closing balances, and
# its sums by kind, whatever the page shows (since 0.28.0): before d44
# and from it, they meet; opening plus the sums is the closing balance
"$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --to "$((d44 - 1))" --json > p1.json
"$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --from "$d44" --limit 1 --json > p2.json
[ "$(jq '.period.closing_balance_minor' p1.json)" = "$(jq '.period.opening_balance_minor' p2.json)" ] \
  && [ "$(jq '.period.opening_balance_minor' p1.json)" = 0 ] \
  && [ "$(jq '.period.closing_balance_minor' p2.json)" = "$(jq '.balance_minor' p2.json)" ] \
  && [ "$(jq '.count' p2.json)" = 1 ] \
  && [ "$(jq '.period | (.movement_sums | [.settled, .refunds, .deposits, .withdrawals, .other] | map(tonumber * 100) | add) + .opening_balance_minor - .closing_balance_minor' p2.json)" = 0 ] \
  && ok "admin transfers of a period: its opening and closing balances, $(jq -r .period.opening_balance p2.json) to $(jq -r .period.closing_balance p2.json), the sums between" \
  || fail "transfers period: $(jq -c .period p1.json) $(jq -c .period p2.json)"
run_cli 0 "^opening balance $(jq -r .period.opening_balance p2.json) EUR before " -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --from "$d44"
run_cli 0 "^closing balance 38.00 EUR: the balance now, the period having no end \(no --to; NOT FINAL\)$" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W6" --from "$d44"
# (offpayd is stopped here: each balance as `admin transfers` reads it)
ba=$("$OFFPAY" admin transfers --db "$LEDGER" --account "$MA" --json | jq -r .balance)
bb=$("$OFFPAY" admin transfers --db "$LEDGER" --account "$MB" --json | jq -r .balance)
[ "$ba" != 0.00 ] && [ "$bb" != 0.00 ] || fail "both merchants hold money here: $ba $bb"
run_cli 0 "merchant $MIDA  EUR  account $MA  balance $ba EUR  terminals 1 \(1 active\)  since [0-9T:-]+Z  Bakery A" -- \
  "$OFFPAY" admin merchants --db "$LEDGER"
run_cli 0 "merchant $MIDB  EUR  account $MB  balance $bb EUR  terminals 1 \(0 active\)" -- \
  "$OFFPAY" admin merchants --db "$LEDGER"
run_cli 0 '^\{"count":1,"merchants":\[\{"merchant":"'"$MIDB"'","name":"Kiosk B","currency":"EUR","account":"'"$MB"'","balance":"'"$bb"'","created_at":"[0-9T:-]+Z","terminals":1,"terminals_active":0,"closed_at":null\}\],"next_after":"'"$MIDB"'"\}$' -- \
  "$OFFPAY" admin merchants --db "$LEDGER" --after "$MIDA" --limit 1 --json
run_cli 0 "account $W6  38.00 EUR  credentials [1-9][0-9]* \([0-9]+ active\)  since [0-9T:-]+Z  late payments until [0-9T:-]+Z  held 18.00 EUR until [0-9T:-]+Z  \"payer-6\"" -- \
  "$OFFPAY" admin accounts --db "$LEDGER"
run_cli 0 "^8 account\(s\)$" -- "$OFFPAY" admin accounts --db "$LEDGER"
run_cli 0 '^\{"count":1,"accounts":\[\{"account":"'"$W6"'","currency":"EUR","ref":"payer-6","created_at":"[0-9T:-]+Z","balance":"38.00","credentials":[1-9][0-9]*,"credentials_active":[0-9]+,"lost_at":null,"escrow_held":"0.00","escrow_back":null,"late_until":"[0-9T:-]+Z","late_held":"18.00","late_held_until":"[0-9T:-]+Z"\}\],"next_after":"'"$W6"'"\}$' -- \
  "$OFFPAY" admin accounts --db "$LEDGER" --ref payer-6 --limit 1 --json
run_cli 0 "account $W3 .*\"payer-3\"" -- "$OFFPAY" admin accounts --db "$LEDGER" --after "$W2" --limit 1
run_cli 0 "0 account\(s\)" -- "$OFFPAY" admin accounts --db "$LEDGER" --ref "payer 7"
run_cli 2 "admin accounts: --ref is 1 to 128 bytes of text on one line" -- \
  "$OFFPAY" admin accounts --db "$LEDGER" --ref "$(printf 'r%.0s' $(seq 129))"
run_cli 2 "admin refund: --ref is 1 to 128 bytes of text on one line, without control or invisible format characters" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment 1 --amount 1.00 --ref "$(printf 'two\nlines')"
# a refund from the command line: booked, made once under its key, never
# beyond what was paid
run_cli 0 "refund of presentment $PR1: 1.00 EUR out of merchant account $MA" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 1.00 --ref "cli" --key cli-1
run_cli 0 "this refund was made before under --key cli-1: nothing moved now" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 1.00 --ref "cli" --key cli-1
run_cli 0 "presentment $PR1: paid 9.99 EUR, refunded 5.00 EUR in all, 4.99 EUR left to refund" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 1.00 --key cli-1
run_cli 0 '"amount":"1.00","amount_minor":100,"to_guarantee":"0.00","to_wallet":"1.00",.*"guarantee_account":null,.*"refundable":"4.99","replayed":true' -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 1.00 --key cli-1 --json
run_cli 1 "4.99 EUR remains to refund of the 9.99 EUR paid for presentment $PR1; nothing moved \(EOVER_REFUND\)" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 5.00
run_cli 1 "--key cli-1 was used for another request; nothing moved \(EEXISTS\)" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 2.00 --key cli-1
run_cli 1 "admin refund: no presentment 987654321 \(ENOTFOUND\)" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment 987654321 --amount 1.00
run_cli 0 "0.50 EUR paid in by the merchant first \(--funded\)" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 0.50 --funded
# (made without --key: said, since the same command again refunds again)
run_cli 0 "made without --key: this command run again refunds again; give --key" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 0.01 --funded
run_cli 0 "paid in by the merchant first" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 0.01 --funded --key cli-2
! "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 0.01 --funded --key cli-2 2>&1 | grep -q "without --key" \
  && ok "no such line under --key" || fail "the without --key line under --key"
run_cli 2 "1.001: malformed amount" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1" --amount 1.001
run_cli 2 "admin refund: give --presentment N \(an id from 1\) and --amount AMOUNT" -- \
  "$OFFPAY" admin refund --db "$LEDGER" --presentment "$PR1"
run_cli 2 "admin transfers: --amount is not an option of 'admin transfers'" -- \
  "$OFFPAY" admin transfers --db "$LEDGER" --account "$W" --amount 1.00
[ "$(ledger_sql ledger "SELECT COUNT(*), SUM(amount) FROM transfers WHERE kind = 'refund'")" = "8|2252" ] \
  && [ "$(ledger_sql ledger "SELECT COUNT(*), SUM(amount) FROM transfers WHERE kind = 'deposit' AND presentment = $PR1")" = "3|52" ] \
  && ok "eight refund transfers: 4.00, 10.00 and 2.00 (one refund), 5.00, 1.00, 0.50, 0.01 twice (and their deposits)" \
  || fail "refund transfers: $(ledger_sql ledger "SELECT COUNT(*), SUM(amount) FROM transfers WHERE kind = 'refund'")"
ledger_copy ledger tampered
ledger_sql tampered "UPDATE credentials SET remaining = remaining + 1 WHERE serial = (SELECT MIN(serial) FROM credentials)"
run_cli 1 "escrows whose stored remainder differs from their transfers: 1" -- \
  "$OFFPAY" admin audit --db "$(ledger_url tampered)"
run_cli 1 "AUDIT FAILED \(EAUDIT\)" -- "$OFFPAY" admin audit --db "$(ledger_url tampered)"
if [ "$BACKEND" = sqlite ]; then
  # a backup taken while offpayd runs: one moment of the ledger, audited
  run_cli 0 "backup of ledger.db written to bk.db \([0-9]+ accounts, [0-9]+ transfers, the newest at 20[0-9-]+T[0-9:]+Z\); its audit passed" -- \
    "$OFFPAY" admin backup --db "$LEDGER" --out bk.db
  [ "$(stat -c %a bk.db)" = 600 ] && [ -z "$(ls bk.db.tmp-* 2>/dev/null)" ] \
    && ok "the backup is mode 600, no temporary file left" || fail "backup file: $(ls -la bk.db*)"
  [ "$(ledger_sql bk "SELECT COUNT(*), SUM(amount) FROM transfers")" = \
    "$(ledger_sql ledger "SELECT COUNT(*), SUM(amount) FROM transfers")" ] \
    && ok "the backup holds every transfer of the ledger" || fail "backup transfers differ"
  run_cli 2 "bk.db exists: give a new file" -- "$OFFPAY" admin backup --db "$LEDGER" --out bk.db
  # a backup killed midway leaves its temporary (a whole copy of the
  # ledger, here with a journal): the next backup to the same file removes
  # it, but never the temporary of one still running (the test hook holds
  # each copy once its temporary is written)
  OFFPAY_TEST_COPY_DELAY_MS=60000 "$OFFPAY" admin backup --db "$LEDGER" --out k.db >/dev/null 2>&1 &
  bk=$!
  for _ in $(seq 1 200); do [ -n "$(ls k.db.tmp-* 2>/dev/null)" ] && break; sleep 0.05; done
  kill -9 "$bk"; wait "$bk" 2>/dev/null || true
  # the temporary itself, not its journal (killed mid-copy, SQLite's is
  # there too)
  stale=$(ls k.db.tmp-* | grep -v -e '-journal$' | head -1); : > "$stale-journal"
  OFFPAY_TEST_COPY_DELAY_MS=3000 "$OFFPAY" admin backup --db "$LEDGER" --out k.db >live.out 2>&1 &
  bk=$!
  live=
  for _ in $(seq 1 200); do
    live=$(ls k.db.tmp-* 2>/dev/null | grep -v -e "^$stale" | head -1 || true)
    [ -n "$live" ] && break; sleep 0.05
  done
  run_cli 0 "backup of ledger.db written to k.db" -- "$OFFPAY" admin backup --db "$LEDGER" --out k.db
  [ ! -e "$stale" ] && [ ! -e "$stale-journal" ] && [ -n "$live" ] && [ -e "$live" ] \
    && ok "a killed backup's temporary and journal removed by the next ones, a running one's kept" \
    || fail "temporaries: stale $stale live $live: $(ls k.db*)"
  wait "$bk" && st=0 || st=$?
  [ "$st" = 2 ] && grep -q "k.db exists" live.out && [ -z "$(ls k.db.tmp-* 2>/dev/null)" ] \
    && ok "the running one then finds k.db made (2) and leaves no temporary" \
    || fail "running backup: $st $(cat live.out; ls k.db*)"
  run_cli 3 "no such file or directory while creating nodir/bk.db" -- \
    "$OFFPAY" admin backup --db "$LEDGER" --out nodir/bk.db
  st=0; "$OFFPAY" admin backup --db "$LEDGER" --out 'b"k.db' --json >bk.json 2>&1 || st=$?
  [ "$st" = 0 ] && [ "$(jq -r '.backup + " " + (.audit|tostring)' bk.json)" = 'b"k.db true' ] \
    && ok "backup --json: valid JSON with the file's name as given" || fail "backup --json ($st): $(cat bk.json)"
  run_cli 3 "no such file or directory while opening no-such.db" -- \
    "$OFFPAY" admin backup --db no-such.db --out bk2.db
  [ ! -e bk2.db ] && ok "no backup file for a missing ledger" || fail "bk2.db made"
  run_cli 2 "not a SQLite ledger: copy a PostgreSQL ledger with PostgreSQL's own tools" -- \
    "$OFFPAY" admin backup --db postgresql://x@127.0.0.1:1/y --out bk3.db
  run_cli 3 "no such file or directory while opening no-such.db \(ENOENT\)" -- \
    "$OFFPAY" admin audit --db no-such.db
  [ ! -e no-such.db ] && ok "no ledger made for a mistyped path" || fail "no-such.db was created"
else
  run_cli 3 "no-such" -- "$OFFPAY" admin audit --db "$(ledger_url no-such)"
  [ -z "$(psql -X -A -t "${OFFPAY_TEST_PG}postgres" -c "SELECT 1 FROM pg_database WHERE datname LIKE '%no-such'")" ] \
    && ok "no ledger made for a mistyped database" || fail "a no-such database was created"
  # a database that exists but holds no ledger: refused, and no table made
  ledger_new empty
  run_cli 3 "no offpay ledger there \(a database without its schema\)" -- \
    "$OFFPAY" admin audit --db "$(ledger_url empty)"
  [ "$(psql -X -A -t "$(ledger_url empty)" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] \
    && ok "no table made in a database without a ledger" || fail "tables were made in the empty database"
fi
# sqlite3_max_version FILE: a SQLite ledger's schema version.
sqlite3_max_version() {
  python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT MAX(version) FROM schema_version").fetchone()[0])' "$1"
}
# An older ledger (a copy that lost its newest migration's mark): `offpay
# admin` does not upgrade it under an offpayd of the version before, and
# offpayd, whose migration then fails, names the migration and the reason.
ledger_copy ledger older
want=$(ledger_sql older "SELECT MAX(version) FROM schema_version")
ledger_sql older "DELETE FROM schema_version WHERE version = $want" >/dev/null
run_cli 3 "the ledger's schema is version $((want - 1)), this offpay's is $want: if this is a backup being restored, run 'offpay admin skip-ids' on it first .*; else start the offpayd of this version first" -- \
  "$OFFPAY" admin audit --db "$(ledger_url older)"
# undo_017 NAME: ledger NAME's request_keys as 009_refunds made it, before
# 017_request_keys_made (its rows of the kinds 017 added dropped)
undo_017() {
  ledger_sql "$1" "CREATE TABLE request_keys_009 (request_key TEXT NOT NULL UNIQUE, op BIGINT NOT NULL CHECK (op IN (1, 2, 3, 4, 5)), account BIGINT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0), result BIGINT NOT NULL, made_at BIGINT NOT NULL)" >/dev/null
  ledger_sql "$1" "INSERT INTO request_keys_009 SELECT request_key, op, account, amount, result, made_at FROM request_keys WHERE op <= 5" >/dev/null
  ledger_sql "$1" "DROP TABLE request_keys" >/dev/null
  ledger_sql "$1" "ALTER TABLE request_keys_009 RENAME TO request_keys" >/dev/null
}
if [ "$BACKEND" = sqlite ]; then
  # A ledger of version 10, for real (migrations 011 to 030 undone: a
  # later migration must be undone here too): the backup an operator takes
  # after installing the new binaries, before starting the new offpayd,
  # keeps its version (the way back), and is audited on a second copy,
  # upgraded and removed.
  ledger_copy ledger v10
  ledger_sql v10 "ALTER TABLE credentials DROP COLUMN wallet_counter" >/dev/null
  ledger_sql v10 "ALTER TABLE credentials DROP COLUMN restore_floor" >/dev/null
  ledger_sql v10 "DROP TABLE id_floors" >/dev/null
  ledger_sql v10 "DROP TABLE clock_marks" >/dev/null
  ledger_sql v10 "DROP INDEX presentments_owed" >/dev/null
  ledger_sql v10 "DROP INDEX transfers_claim" >/dev/null
  ledger_sql v10 "DROP INDEX terminals_rotated_to" >/dev/null
  undo_017 v10
  ledger_sql v10 "ALTER TABLE terminals DROP COLUMN sums_carried" >/dev/null
  ledger_sql v10 "DROP TABLE balance_marks" >/dev/null
  ledger_sql v10 "DROP TABLE transfer_marks" >/dev/null
  ledger_sql v10 "DROP TABLE ledger_sealed" >/dev/null
  ledger_sql v10 "DROP INDEX credentials_wallet_pk_revoked" >/dev/null
  ledger_sql v10 "DROP INDEX credentials_wallet_released" >/dev/null
  ledger_sql v10 "DROP INDEX credentials_wallet_pk_released" >/dev/null
  ledger_sql v10 "DROP INDEX enrollments_account_open" >/dev/null
  ledger_sql v10 "ALTER TABLE terminals DROP COLUMN revoke_reason" >/dev/null
  ledger_sql v10 "DROP INDEX revocations_expires" >/dev/null
  ledger_sql v10 "ALTER TABLE revocations DROP COLUMN expires" >/dev/null
  ledger_sql v10 "ALTER TABLE merchants DROP COLUMN closed_at" >/dev/null
  ledger_sql v10 "DROP TABLE case_notes" >/dev/null
  ledger_sql v10 "DROP INDEX cases_open" >/dev/null
  ledger_sql v10 "ALTER TABLE cases DROP COLUMN closed_at" >/dev/null
  ledger_sql v10 "ALTER TABLE terminal_reports DROP COLUMN state" >/dev/null
  ledger_sql v10 "ALTER TABLE terminal_reports DROP COLUMN lists_at" >/dev/null
  ledger_sql v10 "ALTER TABLE terminal_reports DROP COLUMN pending_amount" >/dev/null
  ledger_sql v10 "DROP TABLE terminal_labels" >/dev/null
  ledger_sql v10 "DROP TABLE booked_by" >/dev/null
  ledger_sql v10 "DROP TABLE operator_actions" >/dev/null
  ledger_sql v10 "DROP INDEX enrollments_made_by" >/dev/null
  ledger_sql v10 "ALTER TABLE enrollments DROP COLUMN made_by" >/dev/null
  ledger_sql v10 "DROP TABLE refusals" >/dev/null
  ledger_sql v10 "DELETE FROM schema_version WHERE version >= 11" >/dev/null
  run_cli 0 "its audit passed" -- "$OFFPAY" admin backup --db "$work/v10.db" --out v10-bk.db
  run_cli 0 "keeps the ledger's schema version 10 \(this offpay's is $want\)" -- \
    "$OFFPAY" admin backup --db "$work/v10.db" --out v10-bk2.db
  # the library's upgrade line is said as the audit's copy's, not the backup's
  set +e; "$OFFPAY" admin backup --db "$work/v10.db" --out v10-bk3.db >/dev/null 2>v10-bk3.err; set -e
  grep -q "the audit's temporary copy of v10-bk3.db upgraded from schema version 10 to $want (removed after the audit; v10-bk3.db itself keeps its version)" v10-bk3.err \
    && ! grep -q "^offpay: ledger upgraded" v10-bk3.err \
    && ok "backup of a version-10 ledger: the upgrade said to be the audit copy's" \
    || fail "backup's upgrade line: $(cat v10-bk3.err)"
  [ "$(sqlite3_max_version v10-bk.db)" = 10 ] && [ "$(sqlite3_max_version v10.db)" = 10 ] \
    && [ -z "$(ls | grep -- '-bk.db.audit-')" ] \
    && ok "the backup and the ledger stay at version 10; the audited copy is gone" \
    || fail "versions: $(sqlite3_max_version v10-bk.db) $(sqlite3_max_version v10.db); $(ls)"
  # skip-ids on a restored backup of that version, before offpayd starts:
  # brought to this version first, as offpayd would
  cp v10-bk.db v10-restored.db
  run_cli 0 "ledger upgraded from schema version 10 to $want" -- \
    "$OFFPAY" admin skip-ids --db v10-restored.db --by 5
  [ "$(sqlite3_max_version v10-restored.db)" = "$want" ] \
    && ok "skip-ids upgraded the restored version-10 backup" || fail "skip-ids on v10: $(sqlite3_max_version v10-restored.db)"
  # offpayd of this version upgrades it at its start, and says so
  "$OFFPAYD" --db "$work/v10.db" --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >v10.out 2>&1 &
  v10_pid=$!; all_pids+=("$v10_pid")
  for _ in $(seq 1 1200); do grep -q "listening on" v10.out && break; kill -0 "$v10_pid" 2>/dev/null || break; sleep 0.05; done
  stop_pid "$v10_pid"
  grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z ledger upgraded from schema version 10 to $want$" v10.out \
    && [ "$(sqlite3_max_version v10.db)" = "$want" ] \
    && ok "offpayd upgraded the version-10 ledger, and said so" || fail "upgrade: $(cat v10.out)"
  # tb, revoked before the upgrade (its reason went to offpayd's log
  # only), keeps none: shown as such, null in --json
  run_cli 0 "^  revoked at [0-9T:-]+Z \(no reason kept\)$" -- "$OFFPAY" admin terminals --db "$work/v10.db"
  [ "$("$OFFPAY" admin terminals --db "$work/v10.db" --json | jq -c "[.terminals[] | select(.terminal == $(( TA + 1 ))) | .revoke_reason]")" = "[null]" ] \
    && ok "admin terminals --json: tb's reason null after the upgrade" || fail "v10 tb: $("$OFFPAY" admin terminals --db "$work/v10.db" --json)"
fi
# A newer ledger (a version this offpayd does not know): refused (3),
# naming the ledger's schema version and the highest this one knows.
ledger_copy ledger newer
ledger_sql newer "INSERT INTO schema_version VALUES ($((want + 1)))" >/dev/null
st=0; "$OFFPAYD" --db "$(ledger_url newer)" --listen 127.0.0.1:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub --token-file token >newer.out 2>&1 || st=$?
[ "$st" = 3 ] \
  && grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z the ledger's schema is version $((want + 1)), newer than this offpay [0-9.]+ knows \(up to $want\): a newer version made or upgraded it" newer.out \
  && ! grep -q "^offpay: " newer.out \
  && ok "a newer ledger refused (3), both schema versions named, every line dated" \
  || fail "newer ledger ($st): $(cat newer.out)"
[ "$(ledger_sql older "SELECT MAX(version) FROM schema_version")" = $((want - 1)) ] \
  && ok "admin left the older ledger at version $((want - 1))" || fail "admin migrated the older ledger"
# A ledger a newer offpay migrated under this running offpayd (the schema
# version raised by hand, as a newer release's start would): its next
# write is refused, 503 EVERSION naming what to do, with one log line for
# the process; reads go on; nothing was written.
ledger_copy ledger running
saved_ledger=$LEDGER; LEDGER=$(ledger_url running)
: > server.err
start_server
api POST /v1/admin/accounts '{"currency":"EUR","ref":"before the upgrade"}'
[ "$status" = 200 ] && ok "a write before the newer offpay's migration" || fail "before: $status"
ledger_sql running "INSERT INTO schema_version VALUES ($((want + 1)))" >/dev/null
api POST /v1/admin/accounts '{"currency":"EUR","ref":"after the upgrade"}'
expect_http 503 EVERSION "a write on a ledger a newer offpay migrated"
jget .hint | grep -q "schema is version $((want + 1)), newer than this offpayd .*: stop this offpayd and start the new version" \
  && ok "its hint: stop this offpayd, start the new one" || fail "hint: $(jget .hint)"
api POST /v1/admin/accounts '{"currency":"EUR","ref":"after the upgrade"}'
expect_http 503 EVERSION "every write from then on"
api GET /v1/health
expect_http 503 EVERSION "health says it"
api GET "/v1/admin/accounts?ref=before%20the%20upgrade"
[ "$status" = 200 ] && ok "reads go on" || fail "read: $status"
[ "$(grep -c "the ledger's schema went to version $((want + 1)) while this offpay .* ran on it: a newer offpay upgraded it; nothing more is written from here (EVERSION): stop this process and start the new version" server.err)" = 1 ] \
  && ok "one log line: stop this offpayd, start the new one" || fail "log: $(cat server.err)"
stop_server TERM
LEDGER=$saved_ledger
[ "$(ledger_sql running "SELECT COUNT(*) FROM accounts WHERE ref = 'after the upgrade'")" = 0 ] \
  && ok "nothing written after the newer schema was seen" || fail "written after the upgrade"
if [ "$BACKEND" = postgres ]; then
  # A migration waiting for a lock another session holds (a pg_dump): it
  # waits lock_timeout (shortened here by a test hook) at a time, says who
  # holds it, rolls back, tries again a bounded number of times, then
  # stops, the ledger still at its version; the other sessions queued
  # behind it are not stalled for longer than one wait.
  ledger_copy ledger v12
  # back to version 12, before 013_restore_floors (its ALTER of
  # credentials is what the lock holds up) and what came after it
  ledger_sql v12 "DROP TABLE clock_marks" >/dev/null
  ledger_sql v12 "DROP INDEX presentments_owed" >/dev/null
  ledger_sql v12 "DROP INDEX transfers_claim" >/dev/null
  ledger_sql v12 "DROP INDEX terminals_rotated_to" >/dev/null
  undo_017 v12
  ledger_sql v12 "ALTER TABLE terminals DROP COLUMN sums_carried" >/dev/null
  ledger_sql v12 "DROP TABLE balance_marks" >/dev/null
  ledger_sql v12 "DROP TABLE transfer_marks" >/dev/null
  ledger_sql v12 "DROP TABLE ledger_sealed" >/dev/null
  ledger_sql v12 "DROP INDEX credentials_wallet_pk_revoked" >/dev/null
  ledger_sql v12 "DROP INDEX credentials_wallet_released" >/dev/null
  ledger_sql v12 "DROP INDEX credentials_wallet_pk_released" >/dev/null
  ledger_sql v12 "DROP INDEX enrollments_account_open" >/dev/null
  ledger_sql v12 "ALTER TABLE terminals DROP COLUMN revoke_reason" >/dev/null
  ledger_sql v12 "DROP INDEX revocations_expires" >/dev/null
  ledger_sql v12 "ALTER TABLE revocations DROP COLUMN expires" >/dev/null
  ledger_sql v12 "ALTER TABLE merchants DROP COLUMN closed_at" >/dev/null
  ledger_sql v12 "DROP TABLE case_notes" >/dev/null
  ledger_sql v12 "DROP INDEX cases_open" >/dev/null
  ledger_sql v12 "ALTER TABLE cases DROP COLUMN closed_at" >/dev/null
  ledger_sql v12 "ALTER TABLE terminal_reports DROP COLUMN state" >/dev/null
  ledger_sql v12 "ALTER TABLE terminal_reports DROP COLUMN lists_at" >/dev/null
  ledger_sql v12 "ALTER TABLE terminal_reports DROP COLUMN pending_amount" >/dev/null
  ledger_sql v12 "DROP TABLE terminal_labels" >/dev/null
  ledger_sql v12 "DROP TABLE booked_by" >/dev/null
  ledger_sql v12 "DROP TABLE operator_actions" >/dev/null
  ledger_sql v12 "DROP INDEX enrollments_made_by" >/dev/null
  ledger_sql v12 "ALTER TABLE enrollments DROP COLUMN made_by" >/dev/null
  ledger_sql v12 "DROP TABLE refusals" >/dev/null
  ledger_sql v12 "ALTER TABLE credentials DROP COLUMN restore_floor" >/dev/null
  ledger_sql v12 "DELETE FROM schema_version WHERE version >= 13" >/dev/null
  psql -q -X "$(ledger_url v12)" -c "BEGIN" -c "LOCK TABLE credentials IN ACCESS SHARE MODE" \
      -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
  holder=$!; all_pids+=("$holder")
  for _ in $(seq 1 100); do
    [ "$(ledger_sql v12 "SELECT count(*) FROM pg_locks WHERE relation = 'credentials'::regclass AND granted")" != 0 ] && break
    sleep 0.05
  done
  st=0; OFFPAY_TEST_MIGRATE_LOCK_MS=300 timeout 60 "$OFFPAYD" --db "$(ledger_url v12)" --listen 127.0.0.1:0 \
      --issuer iss --passphrase-file ip --root iss/root.pub --token-file token >v12.out 2>&1 || st=$?
  [ "$st" = 4 ] \
    && [ "$(grep -c "ledger migration 13 (schema version 12 to 13) waited 300 ms for a lock on the ledger's tables, held by pid [0-9]* (role [^,]*, psql, .*) on credentials; rolled back, trying again" v12.out)" = 5 ] \
    && grep -q "rolled back, giving up: stop what holds it (a pg_dump" v12.out \
    && grep -q "ledger migration 13 (schema version 12 to 13) did not get its locks in 6 tries; the ledger is still at version 12" v12.out \
    && grep -q "in use by another process (EBUSY): this may pass (once what holds the ledger lets go)" v12.out \
    && ok "a migration waiting for a lock: who holds it, 6 tries, then exit 4 (restarted)" || fail "lock wait ($st): $(cat v12.out)"
  [ "$(ledger_sql v12 "SELECT MAX(version) FROM schema_version")" = 12 ] \
    && ok "the ledger stays at version 12" || fail "version after the lock wait"
  # the session's end (its client gone, its backend let go)
  ledger_sql v12 "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE relation = 'credentials'::regclass AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND granted AND pid <> pg_backend_pid()" >/dev/null
  stop_pid "$holder"
  "$OFFPAYD" --db "$(ledger_url v12)" --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >v12.out 2>&1 &
  v12_pid=$!; all_pids+=("$v12_pid")
  for _ in $(seq 1 1200); do grep -q "listening on" v12.out && break; kill -0 "$v12_pid" 2>/dev/null || break; sleep 0.05; done
  stop_pid "$v12_pid"
  grep -q "ledger upgraded from schema version 12 to $want" v12.out \
    && ok "once the lock is let go, offpayd upgrades the ledger" || fail "upgrade after the lock: $(cat v12.out)"
fi

st=0; "$OFFPAYD" --db "$(ledger_url older)" --listen 127.0.0.1:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub --token-file token >older.out 2>&1 || st=$?
[ "$st" = 3 ] && grep -q "ledger migration $want (schema version $((want - 1)) to $want) failed: .*rolled back" older.out \
  && ok "a failing migration named with its reason (3)" || fail "failing migration ($st): $(cat older.out)"
run_cli 2 "--db LEDGER is required" -- "$OFFPAY" admin audit
# an option of another admin command is refused, not ignored
run_cli 2 "admin audit: --serial is not an option of 'admin audit'; see 'offpay admin --help'" -- \
  "$OFFPAY" admin audit --db "$LEDGER" --serial 5
run_cli 2 "admin backup: --force is not an option of 'admin backup'" -- \
  "$OFFPAY" admin backup --db "$LEDGER" --out bk2.db --force
[ ! -e bk2.db ] && ok "no backup written for a refused command line" || fail "bk2.db written"
run_cli 0 "Usage: offpay admin" -- "$OFFPAY" admin --help

# ---- 9. a statement explains its period ----------------------------------
# Day 100: 1.00 refunded of ta's 5.00 settled on day 0 (a December sale
# refunded in January), 3.00 paid in and 2.00 out of A. The statement of
# [0, day 99] keeps its movements and closing balance (its line's refunded,
# cumulative "as of now", shows the 1.00); [day 100, day 101] has the
# refund, the deposit and the withdrawal; opening + sums = closing in both.
day100=$(( $(date +%s) + 100 * 86400 )); day99=$(( day100 - 86400 ))
OFFPAY_NOW=$day100 start_server
api GET "/v1/admin/merchants/$MIDA/statement?to=$day99"
before=$(cat resp.json)
P9=$(jq -r '[.lines[] | select(.paid.minor == 500)][0].presentment' <<<"$before")
S9=$(jq -r --arg p "$P9" '.lines[] | select(.presentment == $p) | .serial' <<<"$before")
api POST "/v1/admin/presentments/$P9/refund" '{"amount":"1.00","ref":"january"}'
expect_http 200 - "day 100: 1.00 refunded of day 0's 5.00"
api POST "/v1/admin/accounts/$MA/deposit" '{"amount":"3.00","ref":"paid in"}'
api POST "/v1/admin/accounts/$MA/withdraw" '{"amount":"2.00","ref":"paid out"}'
expect_http 200 - "day 100: 3.00 in, 2.00 out of A"
# sums: opening + settled + refunds + deposits + withdrawals + other = closing
adds_up='(.opening_balance.minor + ([.movement_sums[].minor] | add)) == .closing_balance.minor'
api GET "/v1/admin/merchants/$MIDA/statement?to=$day99"
[ "$status" = 200 ] && [ "$(jq -c 'del(.lines, .balance, .refunded)' resp.json)" = "$(jq -c 'del(.lines, .balance, .refunded)' <<<"$before")" ] \
  && [ "$(jq -r --arg p "$P9" '.lines[] | select(.presentment == $p) | .refunded.decimal' resp.json)" = 1.00 ] \
  && [ "$(jq -r "$adds_up" resp.json)" = true ] && [ "$(jget .opening_balance.minor)" = 0 ] \
  && [ "$(jq -r '[.movements[] | select(.at > '"$day99"')] | length' resp.json)" = 0 ] \
  && ok "the closed period's figures unchanged by the later refund (its line's cumulative refunded 1.00, and the lines' total), adding up" \
  || fail "closed period: $before | $(cat resp.json)"
closed=$(jget .closing_balance.minor)
api GET "/v1/admin/merchants/$MIDA/statement?from=$day100&to=$((day100 + 86400))"
[ "$status" = 200 ] && [ "$(jget .count)" = 0 ] && [ "$(jget .opening_balance.minor)" = "$closed" ] \
  && [ "$(jq -c '[.movement_sums | .settled.minor, .refunds.minor, .deposits.minor, .withdrawals.minor, .other.minor]' resp.json)" = '[0,-100,300,-200,0]' ] \
  && [ "$(jget .closing_balance.minor)" = $((closed + 0)) ] \
  && [ "$(jq -c '[.movements[] | [.kind, .amount.minor, .presentment, .ref, .at]]' resp.json)" \
       = "[[\"refund\",-100,\"$P9\",\"january\",$day100],[\"deposit\",300,null,\"paid in\",$day100],[\"withdraw\",-200,null,\"paid out\",$day100]]" ] \
  && [ "$(jq -c '[.movements_count, .movements_truncated]' resp.json)" = '[3,false]' ] \
  && [ "$(jq -r "$adds_up" resp.json)" = true ] && [ "$(jget .closing_balance.minor)" = "$(jget .balance.minor)" ] \
  && ok "day 100's period: the refund with its presentment, the deposit and the withdrawal; opening $closed, closing the balance" \
  || fail "day 100's period: $(cat resp.json)"
# the whole ledger's time: from 0 to now, closing = balance; funded
# refunds' deposits among the deposits
api GET "/v1/admin/merchants/$MIDA/statement"
[ "$(jq -r "$adds_up" resp.json)" = true ] && [ "$(jget .closing_balance.minor)" = "$(jget .balance.minor)" ] \
  && [ "$(jget .movement_sums.deposits.minor)" = $((500 + 52 + 300)) ] \
  && [ "$(jget .movement_sums.settled.minor)" = "$(jq '[.lines[].paid.minor] | add' resp.json)" ] \
  && ok "all time: opening 0 + sums = closing = balance $(jget .balance.decimal); funded refunds' deposits counted" \
  || fail "all time: $(jq -c 'del(.lines)' resp.json)"
# `offpay admin statement` on the ledger gives the same statements: its
# --json is offpayd's answer field for field (the same rendering), for a
# period, a terminal and a page (on offpayd's clock: whether the period is
# `final` is said by the reader's); its text the lines, totals and movements
same_json() { # PATH-QUERY CLI-OPTIONS...: offpayd's answer = the CLI's --json
  local q=$1 out; shift
  api GET "/v1/admin/merchants/$MIDA/statement?$q"
  out=$(OFFPAY_NOW=$day100 "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" "$@" --json 2>&1) \
    && [ "$status" = 200 ] && [ "$(jq -S -c . resp.json)" = "$(jq -S -c . <<<"$out")" ] \
    && ok "admin statement $* --json = GET ...statement?$q" \
    || fail "admin statement $*: $status $(cat resp.json) | $out"
}
same_json "from=$day100&to=$((day100 + 86400))" --from "$day100" --to $((day100 + 86400))
[ "$(jq '.movements | length' resp.json)" = 3 ] || fail "day 100's movements: $(cat resp.json)"
same_json "to=$day99" --to "$day99"
[ "$(jget .final)" = true ] && ok "a period a day before now: final" || fail "day 99 not final: $(jget .final)"
same_json "to=$day100&terminal=$TA" --to "$day100" --terminal "$TA"
same_json "to=$day100&after=$P9" --to "$day100" --after "$P9"
run_cli 0 "^presentment $P9  uploaded [0-9T:-]+Z  accepted [0-9T:-]+Z  terminal $TA  credential [0-9]+ counter [0-9]+  charged 5.00 EUR  paid 5.00 EUR  settled  refunded 1.00 EUR to date$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --to "$day99"
run_cli 0 "^merchant $MIDA  account $MA  EUR  payments uploaded [0-9T:-]+Z to [0-9T:-]+Z$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --from "$day100" --to $((day100 + 86400))
text=$("$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --from "$day100" --to $((day100 + 86400)))
c=$(printf '%d.%02d' $((closed / 100)) $((closed % 100)))
grep -qx "0 payment(s): paid 0.00 EUR, of which the guarantee covered 0.00 EUR; refunded 0.00 EUR to date" <<<"$text" \
  && grep -qx "opening balance $c EUR before [0-9T:-]*Z" <<<"$text" \
  && grep -qx "movements: settled 0.00 EUR  refunds -1.00 EUR  deposits +3.00 EUR  withdrawals -2.00 EUR  other 0.00 EUR" <<<"$text" \
  && grep -qx "movement [0-9]*  [0-9T:-]*Z  refund   -1.00 to wallet account [0-9]*  presentment $P9  serial $S9  \"january\"  by operator token" <<<"$text" \
  && grep -qx "movement [0-9]*  [0-9T:-]*Z  withdraw -2.00 to world account [0-9]*  \"paid out\"  by operator token" <<<"$text" \
  && grep -qx "closing balance $c EUR after [0-9T:-]*Z (NOT FINAL)" <<<"$text" \
  && grep -qx "NOT FINAL: what is dated up to [0-9T:-]*Z may still be booked until 60 s after it: this statement is final from [0-9T:-]*Z on; read it again then (--json: \"final\": false)" <<<"$text" \
  && grep -qx "3 movement(s) besides payments" <<<"$text" \
  && ok "admin statement's text: day 100's totals, opening $c, the sums and each movement, closing $c, NOT FINAL (read before its end)" \
  || fail "admin statement text: $text"
run_cli 1 "admin statement: no merchant 987654321 .*\(ENOTFOUND\)" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant 987654321
run_cli 2 "admin statement: --merchant N is required" -- "$OFFPAY" admin statement --db "$LEDGER"
run_cli 2 "admin: --from: a date: give a unix time in seconds \(2026-12-01T00:00Z is 1796083200: date -u \+%s -d 2026-12-01\), both ends of the period included" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --from 2027-01-01
run_cli 2 "admin statement: --from is after --to" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --from 10 --to 9
run_cli 2 "admin statement: --terminal is a terminal id from 1" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --terminal 0
# one terminal's statement: its lines, and the account's movements said
# to be the account's (they cannot be split by terminal)
run_cli 0 "^movements \(the account's, all terminals\): settled " -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --terminal "$TA"
# a terminal that does not exist, or another merchant's: refused in
# offpayd's words (ENOTFOUND, exit 1), never an empty statement
run_cli 1 "^offpay: admin statement: terminal: no terminal $((TA + 100)) \(ENOTFOUND\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --terminal $((TA + 100))
run_cli 1 "^offpay: admin statement: terminal: terminal $TA is not merchant $MIDB's \(it is merchant $MIDA's\) \(ENOTFOUND\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB" --terminal "$TA" --json
run_cli 2 "admin statement: --account is not an option of 'admin statement'" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDA" --account 1
stop_server TERM

# ---- 10. the ledger failing in the middle of a batch ----------------------
# offpayd --tx-items 1; a fault injected behind the engine's back fails the
# presentment of the 7.77 charge (as a disk filling mid-batch would):
# step                      answer                         metrics, log
# 1.00, 7.77, 2.00 uploaded 200: settled error settled     ESTORE 1, one line
# the same again            200: the two replays, error    ESTORE 2, held back
# the fault taken away      200: 7.77 settled              -
# (at day 100 and a minute, after part 9's clock)
export OFFPAY_NOW=$((day100 + 60))
start_server --tx-items 1
new_merchant "Faulty"; MF=$MACCT; new_terminal tf "$MERCHANT"
WF8=$(new_account payer-8 20.00)
new_wallet wf8 "$WF8" 15.00
for a in 1.00 7.77 2.00; do c=$(pay wf8 $a); accept tf "$c" $a; done
if [ "$BACKEND" = sqlite ]; then
  ledger_sql ledger "CREATE TRIGGER test_fault BEFORE INSERT ON presentments
    WHEN NEW.charged = 777 BEGIN SELECT abs(-9223372036854775808); END" >/dev/null
  fault_off() { ledger_sql ledger "DROP TRIGGER test_fault" >/dev/null; }
else
  ledger_sql ledger "CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS
    \$\$ BEGIN IF NEW.charged = 777 THEN RAISE EXCEPTION 'injected fault'; END IF;
    RETURN NEW; END \$\$;
    CREATE TRIGGER test_fault BEFORE INSERT ON presentments
    FOR EACH ROW EXECUTE FUNCTION test_fault()" >/dev/null
  fault_off() { ledger_sql ledger "DROP TRIGGER test_fault ON presentments; DROP FUNCTION test_fault()" >/dev/null; }
fi
ledger_errors() {
  curl -s "$URL/metrics" | sed -n 's/^offpayd_ledger_errors_total{error="ESTORE"} //p'
}
api GET /v1/health
[ "$status" = 200 ] && [ "$(jq -c .last_ledger_error resp.json)" = null ] \
  && ok "health: no storage failure yet" || fail "health before: $status $(cat resp.json)"
upload tf --time "$OFFPAY_NOW"
[ "$status" = 200 ] && [ "$(jq -r '[.results[] | .outcome + ":" + (.reason // "-")] | join(" ")' resp.json)" \
    = "settled:- error:ESTORE settled:-" ] \
  && ok "a batch the ledger failed in the middle of: 200, one item error ESTORE" || fail "mid-batch: $status $(cat resp.json)"
[ "$(ledger_errors)" = 1 ] && ok "counted in offpayd_ledger_errors_total" || fail "metric: $(ledger_errors)"
grep -q "POST /v1/terminal/upload: the ledger failed: ledger storage failure (ESTORE): 1 of 3 uploaded item(s) left undecided" server.err \
  && ok "offpayd's log says the endpoint, the error, how many left undecided" || fail "log: $(tail -3 server.err)"
# health reads, so it stays 200 while writes fail; it names the latest
# storage failure and when
api GET /v1/health
[ "$status" = 200 ] && [ "$(jq -c .last_ledger_error resp.json)" = "{\"error\":\"ESTORE\",\"at\":$OFFPAY_NOW}" ] \
  && ok "health: 200, the latest storage failure named with its time" || fail "health after: $status $(cat resp.json)"
upload tf --time "$OFFPAY_NOW"
[ "$(ledger_errors)" = 2 ] \
  && [ "$(grep -c "POST /v1/terminal/upload: the ledger failed" server.err)" = 1 ] \
  && ok "again within the minute: counted, the line held back" || fail "again: $(ledger_errors)"
fault_off
upload tf --time "$OFFPAY_NOW"
[ "$status" = 200 ] && [ "$(outcomes)" = "settled(replay) settled settled(replay)" ] \
  && ok "the fault gone: the undecided item settles" || fail "after the fault: $(outcomes)"
balances "F=$MF:1077" "each paid once"
audit_passes "a batch the ledger failed in"
stop_server TERM
unset OFFPAY_NOW
finish
