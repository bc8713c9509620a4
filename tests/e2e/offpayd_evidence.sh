#!/usr/bin/env bash
# offpayd_evidence.sh — cases and their evidence through the real offpayd
# (docs/settlement.md §9, DESIGN.md invariant 6): a cloned wallet reuses a
# counter at two terminals; after the terminals' syncs a double_spend case
# is listed, `offpay admin evidence` exports it, `offpay verify-evidence`
# checks it offline in a directory holding nothing but the file and the
# root key and says what it proves; the credential is revoked and a third
# terminal refuses the wallet's next code after its next sync, as does an
# air-gapped fourth synced from the files `offpay admin lists` wrote. Then one
# unbound code accepted at two terminals (a duplicate presentment) is
# exported and verified the same way. Money per account after each step;
# the audit passes after each scenario and from the command line at the end.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle

api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"500.00","ref":"guarantee"}'
expect_http 200 - "guarantee funded"
new_merchant "Bakery A"; MA=$MACCT; new_terminal ta "$MERCHANT"; TA=$TID
new_merchant "Kiosk B"; MB=$MACCT; new_terminal tb "$MERCHANT"; TB=$TID
new_merchant "Cafe C"; MC=$MACCT; new_terminal tc "$MERCHANT"; TC=$TID
sync() { "$OFFPAY" terminal sync --terminal "$1" --passphrase-file tp --server "$URL" >sync.out 2>&1; }
mkdir lone
printf 'another pass\n' > ip2
"$OFFPAY" issuer init --dir iss2 --passphrase-file ip2 >/dev/null   # another root
audit_passes "set-up"

# ---- 1. a cloned wallet reuses a counter at two terminals ---------------
# step                                       W      esc    A     B     G
# account 100.00, credential 40.00           6000   4000   0     0     50000
# w1 pays 10.00 at ta, its clone 12.00 at tb with the same counter (offline)
# ta syncs: settled                          6000   3000   1000  0     50000
# tb syncs: double_spend, paid from escrow   6000   1800   1000  1200  50000
W=$(new_account payer-1 100.00)
new_wallet w1 "$W" 40.00; S=$SERIAL
cp w1 w1clone; cp w1.log w1clone.log   # a wallet is its file and its log
balances "W=$W:6000 esc=esc/$S:4000 A=$MA:0 B=$MB:0 G=$G:50000" "credential issued"
c=$(pay w1 10.00); accept ta "$c" 10.00 && ok "w1 accepted at ta" || fail "w1 accept"
c=$(pay w1clone 12.00); accept tb "$c" 12.00 && ok "the clone accepted at tb (same counter)" || fail "clone accept"
sync ta && ok "ta synced" || fail "ta sync: $(cat sync.out)"
balances "W=$W:6000 esc=esc/$S:3000 A=$MA:1000 B=$MB:0" "ta's payment settled"
sync tb && ok "tb synced" || fail "tb sync: $(cat sync.out)"
balances "W=$W:6000 esc=esc/$S:1800 A=$MA:1000 B=$MB:1200 G=$G:50000" "double spend: both paid from the escrow"

# The case is listed (by credential, by kind, since a time) ...
api GET "/v1/admin/cases?serial=$S"
expect_http 200 - "cases of the credential"
[ "$(jget .count)" = 1 ] && [ "$(jget '.cases[0].kind')" = double_spend ] \
  && [ "$(jget '.cases[0].terminal')" = "$TB" ] && [ "$(jget '.cases[0].counter')" = 1 ] \
  && ok "one double_spend case, opened by tb's upload of counter 1" || fail "cases: $(cat resp.json)"
CASE=$(jget '.cases[0].id')
# ... and each terminal's journal keeps what offpayd decided for its entry
"$OFFPAY" terminal journal --terminal tb --json > tb.journal
[ "$(jq -c '.settlement | [.outcome, .paid_minor, .covered_minor, .reason, .case]' tb.journal)" = \
  "[\"double_spend\",1200,0,null,\"$CASE\"]" ] && ok "tb's journal: double_spend, paid 12.00, case $CASE" \
  || fail "tb's journal: $(cat tb.journal)"
run_cli 0 "12.00 EUR +12.00 EUR  paid 12.00 \(double_spend, case $CASE\)" -- \
  "$OFFPAY" terminal journal --terminal tb
[ "$(jq -c 'has("next_after") and .next_after == null' resp.json)" = true ] \
  && ok "the last page says next_after null" || fail "next_after: $(cat resp.json)"
api GET "/v1/admin/cases?serial=$S&limit=1"
[ "$(jget .next_after)" = "$CASE" ] && ok "a full page names the next 'after'" \
  || fail "full page: $(cat resp.json)"
api GET "/v1/admin/cases?kind=double_spend&since=$(( $(date +%s) - 600 ))"
[ "$status" = 200 ] && [ "$(jget '.cases[0].id')" = "$CASE" ] && ok "listed by kind and time" \
  || fail "by kind: $(cat resp.json)"
api GET "/v1/admin/cases?kind=duplicate"
[ "$(jget .count)" = 0 ] && ok "no duplicate case yet" || fail "duplicates: $(cat resp.json)"
api GET "/v1/admin/cases?kind=stolen"
expect_http 400 BAD_PARAMETER "an unknown kind"
api GET "/v1/admin/cases?limit=0"
expect_http 400 BAD_PARAMETER "limit 0"
api GET "/v1/admin/cases/x1/evidence"
expect_http 400 BAD_PARAMETER "a malformed case id"
api GET "/v1/admin/cases/999999/evidence"
expect_http 404 ENOTFOUND "no such case"
status=$(curl -s -o resp.json -w '%{http_code}' "$URL/v1/admin/cases")
expect_http 401 UNAUTHORIZED "cases without the operator token"
api GET "/v1/admin/cases/$CASE/evidence"
expect_http 200 - "the case's evidence from offpayd"
[ "$(jget .case.kind)" = double_spend ] && [ "$(jget '.codes | length')" = 2 ] \
  && [ "$(jget '.terminals | length')" = 2 ] && [ "$(jget '.receipts | length')" = 0 ] \
  && ok "two codes, two terminal credentials, no receipts" || fail "evidence: $(head -c 300 resp.json)"
cp resp.json lone/from-api.json
run_cli 0 "case $CASE +double_spend +credential $S +counter 1 +terminal $TB" -- \
  "$OFFPAY" admin cases --db "$LEDGER" --serial "$S"

# ... exported from the ledger ...
run_cli 0 "wrote the evidence of case $CASE to case.json" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER" --bundle iss/bundle.opb --out case.json
run_cli 2 "exists" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER" --bundle iss/bundle.opb --out case.json
run_cli 0 "wrote" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER" --bundle iss/bundle.opb --out case.json --force --by "fraud desk"
run_cli 1 "no case 999999" -- \
  "$OFFPAY" admin evidence 999999 --db "$LEDGER" --bundle iss/bundle.opb --out none.json
# the root public key given as --bundle: said to be a public key, not an
# unsupported protocol version
run_cli 1 "^offpay: admin evidence: --bundle iss/root.pub is not a trust bundle: it looks like a public key in hex \(as the issuer's root.pub holds\); give the issuer's bundle.opb" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER" --bundle iss/root.pub --out none.json
run_cli 1 "^offpay: admin evidence: --bundle iss/revlist.opb is not a trust bundle: it looks like a revocation list \(an offpay message\)" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER" --bundle iss/revlist.opb --out none.json
[ ! -e none.json ] && ok "nothing written for a missing case" || fail "none.json written"
# each export is among what operators did (settle.h, "what operators
# did"): offpayd's and the two files written, not the refused ones
api GET "/v1/admin/actions?action=export-evidence"
[ "$(jq -c '[.actions[] | [.who, .subject]]' resp.json)" = "[[\"operator token\",\"$CASE\"],[\"$(id -un) (offpay admin)\",\"$CASE\"],[\"fraud desk (offpay admin)\",\"$CASE\"]]" ] \
  && grep -q "GET /v1/admin/cases/$CASE/evidence by operator token from 127.0.0.1: evidence of case $CASE exported ([0-9]* bytes)$" server.err \
  && ok "who exported case $CASE's evidence, three times, kept; offpayd's on its log too" \
  || fail "export-evidence: $(cat resp.json)"
# ... or through offpayd (operator token) ...
run_cli 0 "wrote the evidence of case $CASE to remote.json .*from offpayd" -- \
  "$OFFPAY" admin evidence "$CASE" --server "$URL" --token-file token --out remote.json
run_cli 1 "offpayd answered 404 ENOTFOUND" -- \
  "$OFFPAY" admin evidence 999999 --server "$URL" --token-file token --out none.json
printf 'not-the-operator-token\n' > badtoken
run_cli 1 "offpayd answered 401 UNAUTHORIZED" -- \
  "$OFFPAY" admin evidence "$CASE" --server "$URL" --token-file badtoken --out none.json
[ ! -e none.json ] && ok "nothing written for a refused request" || fail "none.json written"
cp remote.json lone/
# ... listed through offpayd too (operator token), as with --db ...
run_cli 0 "case $CASE +double_spend +credential $S +counter 1 +terminal $TB" -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --serial "$S"
run_cli 0 '^\{"count":1,"cases":\[\{"id":"'"$CASE"'","kind":"double_spend","serial":"'"$S"'"' -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --kind double_spend --json
run_cli 0 '"terminal":'"$TB"',"opened_at":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z","closed_at":null,"resolution":null\}\]\}$' -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --kind double_spend --json
run_cli 0 "^0 case\(s\)" -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --after "$CASE"
run_cli 1 "offpayd answered 401 UNAUTHORIZED" -- \
  "$OFFPAY" admin cases --server "$URL" --token-file badtoken
run_cli 2 "--server needs --token-file FILE" -- \
  "$OFFPAY" admin cases --server "$URL"
run_cli 3 "/v1/admin/cases\?since=0.*: no reply from offpayd: Couldn.t connect to server$" -- \
  "$OFFPAY" admin cases --server http://127.0.0.1:1 --token-file token
run_cli 2 "--server reads offpayd, not --db" -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --db "$LEDGER"

# ---- 1b. the operator works the case (operations.md "Working a case"):
# each step kept in order, the lists by state, nothing moves --------------
# /metrics counts the open cases (counted again after the upload that
# opened this one) and says when the oldest was opened
api GET "/v1/admin/cases/$CASE"
OPENED_AT=$(jget .case.opened_at)
[ "$(metric offpayd_cases_open)" = 1 ] && [ "$(metric offpayd_cases_open_oldest_timestamp_seconds)" = "$OPENED_AT" ] \
  && [ "$(metric offpayd_cases_counted_timestamp_seconds)" -ge "$OPENED_AT" ] \
  && ok "metrics: 1 case open, opened at $OPENED_AT" \
  || fail "metrics: $(curl -s "$URL/metrics" | grep '^offpayd_cases')"
api GET "/v1/admin/cases?state=open&serial=$S"
[ "$status" = 200 ] && [ "$(jget .count)" = 1 ] && [ "$(jget '.cases[0].closed_at')" = null ] \
  && [ "$(jget '.cases[0].resolution')" = null ] && ok "the case is open" || fail "open: $(cat resp.json)"
api GET "/v1/admin/cases?state=closed"
[ "$status" = 200 ] && [ "$(jget .count)" = 0 ] && ok "no closed case" || fail "closed: $(cat resp.json)"
api GET "/v1/admin/cases?state=shut"
expect_http 400 BAD_PARAMETER "an unknown state"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer reached: the wallet was copied at a repair shop"}'
expect_http 200 - "a note on the case"
N1=$(jget .step.step)
[ "$(jget .step.action)" = note ] && [ "$(jget .replayed)" = false ] && [ "$(jget .case.closed_at)" = null ] \
  && [ "$(jget .case.id)" = "$CASE" ] && [ "$(jget .step.by)" = "operator token" ] \
  && ok "the note kept (step $N1) by the operator token, the case still open" || fail "note: $(cat resp.json)"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer reached: the wallet was copied at a repair shop"}'
[ "$status" = 200 ] && [ "$(jget .step.step)" = "$N1" ] && [ "$(jget .replayed)" = true ] \
  && ok "the same note again right after: the same step, replayed" || fail "note again: $(cat resp.json)"
grep -q "POST /v1/admin/cases/$CASE/notes by operator token from 127.0.0.1: case $CASE (double_spend, serial $S) step $N1 by \"operator token\" noted: payer reached: the wallet was copied at a repair shop$" server.err \
  && ok "offpayd's log says the note" || fail "log: $(grep "cases/$CASE" server.err)"
api POST "/v1/admin/cases/$CASE/reopen" '{"reason":"why"}'
expect_http 409 ECASE_OPEN "an open case is not reopened"
api POST "/v1/admin/cases/$CASE/close" "{\"resolution\":\"evidence sent to the payer's bank; wallet revoked\",\"by\":\"fraud desk\"}"
expect_http 200 - "the case closed"
CLOSED_AT=$(jget .case.closed_at)
[ "$(jget .step.action)" = close ] && [ "$CLOSED_AT" -ge "$(( $(date +%s) - 60 ))" ] && [ "$(jget .step.by)" = "fraud desk (operator token)" ] \
  && [ "$(jget .case.resolution)" = "evidence sent to the payer's bank; wallet revoked" ] \
  && ok "closed at $CLOSED_AT with its resolution" || fail "close: $(cat resp.json)"
api GET "/v1/admin/cases?state=open"
[ "$(jget .count)" = 0 ] && ok "no open case left" || fail "open after close: $(cat resp.json)"
[ "$(metric offpayd_cases_open)" = 0 ] && [ "$(metric offpayd_cases_open_oldest_timestamp_seconds)" = 0 ] \
  && ok "metrics: no case open once it is closed" \
  || fail "metrics: $(curl -s "$URL/metrics" | grep '^offpayd_cases')"
api GET "/v1/admin/cases?state=closed"
[ "$(jget .count)" = 1 ] && [ "$(jget '.cases[0].closed_at')" = "$CLOSED_AT" ] \
  && [ "$(jget '.cases[0].resolution')" = "evidence sent to the payer's bank; wallet revoked" ] \
  && ok "listed closed, with when and its resolution" || fail "closed list: $(cat resp.json)"
api POST "/v1/admin/cases/$CASE/close" '{"resolution":"written off"}'
expect_http 409 ECASE_CLOSED "a closed case is not closed with other words"
hint_is "case $CASE was closed at $(iso "$CLOSED_AT") (GET /v1/admin/cases/$CASE shows its resolution); nothing was added: reopen it first (POST /v1/admin/cases/$CASE/reopen) to close it again"
api POST "/v1/admin/cases/$CASE/close" '{}'
expect_http 400 BAD_FIELD "a closing without its resolution"
api POST "/v1/admin/cases/$CASE/close" '{"resolution":""}'
expect_http 400 BAD_FIELD "an empty resolution"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"two\nlines"}'
expect_http 400 BAD_FIELD "a note of two lines"
api POST "/v1/admin/cases/$CASE/notes" "{\"text\":\"$(head -c 1001 /dev/zero | tr '\0' x)\"}"
expect_http 400 BAD_FIELD "a note of 1,001 bytes"
api POST "/v1/admin/cases/$CASE/notes" '{"resolution":"x"}'
expect_http 400 BAD_FIELD "another action's field"
api POST "/v1/admin/cases/$CASE/notes" "{\"text\":\"x\",\"by\":\"$(head -c 65 /dev/zero | tr '\0' y)\"}"
expect_http 400 BAD_FIELD "a name of 65 bytes"
api POST "/v1/admin/cases/$CASE/notes"
expect_http 400 MALFORMED_JSON "no body"
api POST "/v1/admin/cases/999999/notes" '{"text":"x"}'
expect_http 404 ENOTFOUND "a note on no case"
api POST "/v1/admin/cases/x1/close" '{"resolution":"x"}'
expect_http 400 BAD_PARAMETER "a malformed case id"
api GET "/v1/admin/cases/$CASE"
expect_http 200 - "the case with its steps"
[ "$(jq -c '[.steps[] | .action]' resp.json)" = '["note","close"]' ] && [ "$(jget .case.closed_at)" = "$CLOSED_AT" ] \
  && [ "$(jget '.steps[0].step')" = "$N1" ] && [ "$(jget .next_after)" = null ] \
  && ok "two steps, oldest first: the note and the closing" || fail "case: $(cat resp.json)"
api GET "/v1/admin/cases/$CASE?limit=1"
[ "$(jget '.steps | length')" = 1 ] && [ "$(jget .next_after)" = "$N1" ] && ok "a page of one step names the next" \
  || fail "steps page: $(cat resp.json)"
api GET "/v1/admin/cases/999999"
expect_http 404 ENOTFOUND "no such case"
# the command line on the ledger: the case, a reopening, a closing
run_cli 0 "^case $CASE +double_spend +credential $S .* CLOSED $(iso "$CLOSED_AT")" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER"
run_cli 0 "step $N1  [0-9T:-]+Z  note    by operator token: payer reached: the wallet was copied at a repair shop" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER"
run_cli 0 "  close   by fraud desk \(operator token\): evidence sent to the payer's bank; wallet revoked" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER"
run_cli 1 "case $CASE is closed already, since $(iso "$CLOSED_AT") \(resolution: evidence sent to the payer's bank; wallet revoked\): nothing was added; --reopen it first to close it again \(ECASE_CLOSED\)" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --close "written off"
run_cli 0 "^case $CASE: reopened \(step [0-9]+\)" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --reopen "the payer's bank disputes the evidence" --by "night desk"
run_cli 0 "^case $CASE: this reopen was its newest step already" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --reopen "the payer's bank disputes the evidence" --by "night desk"
run_cli 1 "case $CASE is open: only a closed case is reopened; nothing was added \(ECASE_OPEN\)" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --reopen "again"
run_cli 0 "^case $CASE +double_spend .* OPEN$" -- \
  "$OFFPAY" admin cases --db "$LEDGER" --open
run_cli 0 "^0 case\(s\)" -- "$OFFPAY" admin cases --db "$LEDGER" --closed
run_cli 0 '^\{"case":\{"id":"'"$CASE"'",.*"closed_at":"[0-9T:-]+Z","resolution":"written off"\},"steps":\[.*\{"step":"[0-9]+","action":"close","text":"written off","by":"'"$(id -un)"' \(offpay admin\)","at":"[0-9T:-]+Z"\}\],"step":"[0-9]+","replayed":false\}$' -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --close "written off" --json
run_cli 0 "resolution: written off" -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --closed
run_cli 0 "^0 case\(s\)" -- "$OFFPAY" admin cases --server "$URL" --token-file token --open
api GET "/v1/admin/cases/$CASE"
[ "$(jq -c '[.steps[] | .action]' resp.json)" = '["note","close","reopen","close"]' ] \
  && [ "$(jget .case.resolution)" = "written off" ] && ok "four steps, the newest closing is the resolution" \
  || fail "steps: $(cat resp.json)"
run_cli 2 "give the CASE id" -- "$OFFPAY" admin case --db "$LEDGER"
run_cli 2 "give one of --note, --close and --reopen" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --note a --close b
run_cli 2 "--note is 1 to 1000 bytes of text on one line" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --note ""
run_cli 2 "give --open or --closed, not both" -- "$OFFPAY" admin cases --db "$LEDGER" --open --closed
run_cli 2 "--by names who takes a step: give --note, --close or --reopen with it" -- \
  "$OFFPAY" admin case "$CASE" --db "$LEDGER" --by "fraud desk"
run_cli 2 "--by is 1 to 64 bytes" -- "$OFFPAY" admin case "$CASE" --db "$LEDGER" --note x --by ""
run_cli 1 "no case 999999 \(ENOTFOUND" -- "$OFFPAY" admin case 999999 --db "$LEDGER" --note x
balances "W=$W:6000 esc=esc/$S:1800 A=$MA:1000 B=$MB:1200 G=$G:50000" "working the case moved nothing"
audit_passes "after the case's steps"

# ... and verified offline with nothing but the root key.
cp case.json iss/root.pub lone/
(
  cd lone
  run_cli 0 "PROVES: the wallet key of credential $S signed two different payment codes with the same counter 1" -- \
    "$OFFPAY" verify-evidence case.json --root root.pub
  run_cli 0 "terminal $TA of merchant [0-9]+ \"Bakery A\" charged 10.00 EUR" -- \
    "$OFFPAY" verify-evidence case.json --root root.pub
  run_cli 0 "terminal $TB of merchant [0-9]+ \"Kiosk B\" charged 12.00 EUR" -- \
    "$OFFPAY" verify-evidence case.json --root root.pub
  run_cli 0 '"verified":true,"case":"'"$CASE"'","kind":"double_spend"' -- \
    "$OFFPAY" verify-evidence case.json --root root.pub --json
  run_cli 0 "PROVES: the wallet key" -- "$OFFPAY" verify-evidence from-api.json --root root.pub
  run_cli 0 "PROVES: the wallet key" -- "$OFFPAY" verify-evidence remote.json --root root.pub
  [ "$(ls | sort | tr '\n' ' ')" = "case.json from-api.json remote.json root.pub " ] \
    && ok "the directory holds nothing but the files and the root key" || fail "lone holds: $(ls)"
  echo "$passed $failed" > ../counts
)
read -r passed failed < counts
# A flipped byte in the clone's code, a wrong root key: refused.
python3 - case.json lone/flipped.json <<'EOF'
import base64, json, sys
d = json.load(open(sys.argv[1]))
b = bytearray(base64.b64decode(d["codes"][1])); b[-1] ^= 1
d["codes"][1] = base64.b64encode(bytes(b)).decode()
json.dump(d, open(sys.argv[2], "w"))
EOF
run_cli 1 "evidence NOT verified: .*code 1: the wallet's signature.*\(ECODE_SIG\)" -- \
  "$OFFPAY" verify-evidence lone/flipped.json --root iss/root.pub
run_cli 1 "trust bundle does not verify under this root key.*\(EBUNDLE_SIG\)" -- \
  "$OFFPAY" verify-evidence case.json --root iss2/root.pub

# The credential is revoked; a third terminal refuses the wallet's next
# code once its next sync brings the revocation list.
api GET "/v1/admin/credentials/$S"
[ "$(jget .revoked)" = true ] && ok "credential $S revoked" || fail "not revoked: $(cat resp.json)"
c=$(pay w1 5.00)
sync tc && ok "tc synced" || fail "tc sync: $(cat sync.out)"
run_cli 1 "EREVOKED" -- "$OFFPAY" terminal accept --terminal tc --code "$c" --amount 5.00
# An air-gapped terminal (td) learns it from files: `offpay admin lists`
# fetches offpayd's bundle and list, checks them under the root key, and
# writes what `terminal sync --bundle --revlist` takes.
term_init td
api POST /v1/admin/terminals "{\"merchant\":\"$MERCHANT\",\"terminal_key\":\"$("$OFFPAY" terminal key --terminal td --passphrase-file tp)\"}"
jget .credential > td.tcred
"$OFFPAY" terminal set-credential td.tcred --terminal td --passphrase-file tp >/dev/null
run_cli 1 "EBUNDLE_SIG" -- "$OFFPAY" admin lists --server "$URL" --root iss2/root.pub --out-dir carried
[ ! -e carried/revlist.opb ] && ok "nothing written under the wrong root" || fail "carried/revlist.opb written"
# the directory is made when missing, the files readable by all (public,
# signed), and replaced by the next run (a refresh)
run_cli 0 "revocation list [0-9]+ \(1 serial revoked\).*written to carried/bundle.opb and carried/revlist.opb" -- \
  "$OFFPAY" admin lists --server "$URL" --root iss/root.pub --out-dir carried
run_cli 0 "written to carried/bundle.opb" -- \
  "$OFFPAY" admin lists --server "$URL" --root iss/root.pub --out-dir carried
[ "$(stat -c %a carried/bundle.opb carried/revlist.opb | tr '\n' ' ')" = "644 644 " ] \
  && ok "the lists are mode 0644" || fail "modes: $(stat -c '%n %a' carried/*)"
run_cli 0 "synced" -- "$OFFPAY" terminal sync --terminal td --bundle carried/bundle.opb --revlist carried/revlist.opb
run_cli 1 "EREVOKED" -- "$OFFPAY" terminal accept --terminal td --code "$c" --amount 5.00
run_cli 2 "give --server URL, --root ROOT and --out-dir DIR" -- "$OFFPAY" admin lists --server "$URL"
balances "W=$W:6000 esc=esc/$S:1800 A=$MA:1000 B=$MB:1200 C=$MC:0 G=$G:50000" "a refused code moves nothing"
audit_passes "double spend, evidence, revocation"

# ---- 2. one unbound code at two terminals (duplicate presentment) ------
# step                                       W2     esc2   A     C     G
# account 50.00, credential 20.00            3000   2000   1000  0     50000
# the code of 15.00 accepted at ta and at tc
# ta syncs: settled                          3000   500    2500  0     50000
# tc syncs: duplicate, 5.00 + 10.00 covered  3000   0      2500  1500  49000
W2=$(new_account payer-2 50.00)
new_wallet w2 "$W2" 20.00; S2=$SERIAL
balances "W2=$W2:3000 esc2=esc/$S2:2000 A=$MA:1000 C=$MC:0" "credential issued"
c=$(pay w2 15.00)
accept ta "$c" 15.00 && accept tc "$c" 15.00 && ok "accepted at ta and at tc" || fail "accept twice"
sync ta || fail "ta sync: $(cat sync.out)"
balances "W2=$W2:3000 esc2=esc/$S2:500 A=$MA:2500" "ta's presentment settled"
sync tc || fail "tc sync: $(cat sync.out)"
grep -qE "journal entry [0-9]+: duplicate, paid 15.00 EUR, case [0-9]+" sync.out \
  && ok "tc's sync names the duplicate, what it was paid and its case" || fail "tc sync said: $(cat sync.out)"
balances "W2=$W2:3000 esc2=esc/$S2:0 A=$MA:2500 C=$MC:1500 G=$G:49000" "duplicate paid, 10.00 under the guarantee"
api GET "/v1/admin/cases?kind=duplicate"
[ "$(jget .count)" = 1 ] && [ "$(jget '.cases[0].serial')" = "$S2" ] && ok "a duplicate case against $S2" \
  || fail "duplicate case: $(cat resp.json)"
CASE2=$(jget '.cases[0].id')
# (the first case was reopened and closed again on the ledger meanwhile,
# which offpayd counts within a minute; this upload opened case 2 and
# counted them at once, on both shards of the sharded twin)
[ "$(metric offpayd_cases_open)" = 1 ] \
  && [ "$(metric offpayd_cases_open_oldest_timestamp_seconds)" = "$(jget '.cases[0].opened_at')" ] \
  && ok "metrics: case $CASE2 open" || fail "metrics: $(curl -s "$URL/metrics" | grep '^offpayd_cases')"
# a step on it: the case and its steps live on its credential's shard (on
# the sharded twin, payer-2's credential and its case are shard 1's)
if [ -n "${OFFPAY_TEST_SHARDS:-}" ]; then
  [ "$S2" -gt 1000000000 ] && [ "$CASE2" -gt 1000000000 ] \
    && ok "credential $S2 and case $CASE2 on shard 1" || fail "shard of $S2 / $CASE2"
fi
api POST "/v1/admin/cases/$CASE2/close" '{"resolution":"the guarantee covered 10.00; the payer repaid it","by":"fraud desk"}'
[ "$status" = 200 ] && [ "$(jget .case.id)" = "$CASE2" ] && [ "$(jget .step.action)" = close ] \
  && ok "case $CASE2 closed" || fail "close $CASE2: $(cat resp.json)"
run_cli 0 "^case $CASE2: note kept" -- \
  "$OFFPAY" admin case "$CASE2" --db "$LEDGER" --note "receipt filed"
api GET "/v1/admin/cases/$CASE2"
[ "$(jq -c '[.steps[] | .action + "/" + .by]' resp.json)" = "[\"close/fraud desk (operator token)\",\"note/$(id -un) (offpay admin)\"]" ] \
  && [ "$(jget .case.resolution)" = "the guarantee covered 10.00; the payer repaid it" ] \
  && ok "case $CASE2: its two steps, by each" || fail "case $CASE2: $(cat resp.json)"
api GET "/v1/admin/cases?state=closed"
[ "$(jq -r '[.cases[].id] | join(" ")' resp.json)" = "$CASE $CASE2" ] && ok "both cases closed" \
  || fail "closed: $(cat resp.json)"
# ... and through offpayd (`admin case --server`): a reopening by name,
# the case and its steps as the ledger gives them, the refusals offpayd's
run_cli 0 "^case $CASE2: reopened \(step [0-9]+\)" -- \
  "$OFFPAY" admin case "$CASE2" --server "$URL" --token-file token --reopen "the payer disputes the repayment" --by "night desk"
run_cli 0 "^case $CASE2: this reopen was its newest step already" -- \
  "$OFFPAY" admin case "$CASE2" --server "$URL" --token-file token --reopen "the payer disputes the repayment" --by "night desk"
run_cli 1 "offpayd answered 409 ECASE_OPEN: case $CASE2 is open: only a closed case is reopened" -- \
  "$OFFPAY" admin case "$CASE2" --server "$URL" --token-file token --reopen "again"
run_cli 0 "  reopen  by night desk \(operator token\): the payer disputes the repayment" -- \
  "$OFFPAY" admin case "$CASE2" --server "$URL" --token-file token
"$OFFPAY" admin case "$CASE2" --server "$URL" --token-file token --json > remote.case
"$OFFPAY" admin case "$CASE2" --db "$LEDGER" --json > ledger.case
[ "$(jq -c '.steps | length' remote.case)" = 3 ] && cmp -s remote.case ledger.case \
  && ok "case $CASE2 through offpayd is the ledger's, its three steps" || fail "remote case: $(cat remote.case) | $(cat ledger.case)"
run_cli 1 "offpayd answered 404 ENOTFOUND" -- "$OFFPAY" admin case 999999 --server "$URL" --token-file token
run_cli 2 "--server needs --token-file FILE" -- "$OFFPAY" admin case "$CASE2" --server "$URL"
run_cli 2 "--server asks offpayd, not --db" -- "$OFFPAY" admin case "$CASE2" --server "$URL" --token-file token --db "$LEDGER"
run_cli 0 "2 case\(s\)" -- "$OFFPAY" admin cases --db "$LEDGER"
run_cli 0 "2 case\(s\)" -- "$OFFPAY" admin cases --server "$URL" --token-file token
run_cli 0 "^case $CASE2 +duplicate +credential $S2 " -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --limit 1 --after "$CASE"
run_cli 0 "^1 case\(s\)$" -- \
  "$OFFPAY" admin cases --server "$URL" --token-file token --limit 1 --after "$CASE"
run_cli 0 "offpay admin cases --server URL --token-file FILE" -- "$OFFPAY" admin --help
run_cli 0 "wrote the evidence of case $CASE2" -- \
  "$OFFPAY" admin evidence "$CASE2" --db "$LEDGER" --bundle iss/bundle.opb --out dup.json
cp dup.json lone/
(
  cd lone
  run_cli 0 "PROVES: one payment code of credential $S2 \(counter 1\), signed by its wallet, was presented by two terminals" -- \
    "$OFFPAY" verify-evidence dup.json --root root.pub
  run_cli 0 "terminal $TA of merchant [0-9]+ \"Bakery A\" charged 15.00 EUR" -- \
    "$OFFPAY" verify-evidence dup.json --root root.pub
  run_cli 0 "terminal $TC of merchant [0-9]+ \"Cafe C\" charged 15.00 EUR" -- \
    "$OFFPAY" verify-evidence dup.json --root root.pub
  echo "$passed $failed" > ../counts
)
read -r passed failed < counts
# The same file claiming to be a double spend proves nothing of the kind.
python3 - dup.json relabelled.json <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); d["case"]["kind"] = "double_spend"
json.dump(d, open(sys.argv[2], "w"))
EOF
run_cli 1 "a double spend needs exactly two codes.*\(EEVIDENCE\)" -- \
  "$OFFPAY" verify-evidence relabelled.json --root iss/root.pub
api GET "/v1/admin/credentials/$S2"
[ "$(jget .revoked)" = true ] && ok "credential $S2 revoked" || fail "not revoked"
audit_passes "duplicate presentment and its evidence"

stop_server TERM
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
run_cli 2 "with --db, --bundle FILE and --out FILE are required" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER"
run_cli 2 "read the ledger \(--db LEDGER --bundle FILE --out FILE\) or ask offpayd" -- \
  "$OFFPAY" admin evidence "$CASE" --out case.json
run_cli 0 "Usage: offpay verify-evidence" -- "$OFFPAY" verify-evidence --help
finish
