#!/usr/bin/env bash
# offpayd_wallet.sh — a wallet's upload of its own spend log (codes and
# receipts) through the real offpayd, as tables of steps with the money
# per account after each (docs/settlement.md §3, §7; docs/api.md, POST
# /v1/wallet/upload): a terminal lost before it uploads, its payment
# settled from the wallet's receipt; the same wallet upload twice; the
# terminal turning up later (a replay); a terminal upload charging other
# than the receipt it signed (a receipt_mismatch case, listed with `offpay
# admin cases`, exported with `offpay admin evidence` and verified offline
# by `offpay verify-evidence` with nothing but root.pub); another wallet's
# code; unsigned, wrongly signed, stale, replayed and unknown-key wallet
# requests, refused with a JSON error and nothing moved; and a merchant's
# refund, seen on the code's line of the wallet's upload; an upload cut at
# its time's bound (the codes left "error" EBUSY, sent again). The audit
# (offpayd's and `offpay admin audit`) passes after every scenario.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle

# wallet_upload WALLET: `offpay wallet upload`, its output in wu.out.
wallet_upload() {
  set +e
  "$OFFPAY" wallet upload --wallet "$1" --passphrase-file wp --server "$URL" >wu.out 2>&1
  wu_status=$?
  set -e
}
# receipt TERMINAL WALLET: the terminal's receipt for its newest journal
# entry, taken by the wallet.
receipt() {
  local seq r
  seq=$("$OFFPAY" terminal journal --terminal "$1" --json | tail -1 | jq -r .seq)
  r=$("$OFFPAY" terminal receipt --terminal "$1" --passphrase-file tp --seq "$seq" 2>/dev/null)
  "$OFFPAY" wallet receipt --wallet "$2" --passphrase-file wp --code "$r" >/dev/null 2>&1
}
# wsend [curl options]: sends wu.body with wu.hdr to the wallet endpoint.
wsend() {
  status=$(curl -s -o resp.json -w '%{http_code}' "$@" \
      -H 'Content-Type: application/json' --data-binary @wu.body \
      "$URL/v1/wallet/upload") || true
}
# wsign WALLET [upload_tool options]: the wallet's upload body, signed.
wsign() {
  local w=$1; shift
  "$UPLOAD_TOOL" --wallet "$w" --passphrase-file wp --body wu.body \
      --headers wu.hdr "$@" >/dev/null
}
# statuses: the per-code statuses of the last wallet upload response.
statuses() { jq -r '[.results[] | .status + (if .reason then ":" + .reason else "" end)] | join(" ")' resp.json; }

# The world: three merchants with a terminal each.
new_merchant "Bakery A"; MA=$MACCT; MIDA=$MERCHANT; new_terminal ta "$MERCHANT"; TA=$TID
new_merchant "Kiosk B"; MB=$MACCT; new_terminal tb "$MERCHANT"
new_merchant "Cafe C"; MC=$MACCT; new_terminal tc "$MERCHANT"; TC=$TID
mkdir lone   # verify-evidence runs here with nothing but root.pub
api GET /v1/limits
[ "$(jget .wallet_batch_max)" = 200 ] && [ "$(jget .wallet_receipts_max)" = 4 ] \
  && ok "limits advertise the wallet upload's caps" || fail "limits: $(cat resp.json)"
audits "set-up"

# ---- 1. a terminal lost before it uploads -------------------------------
# step                                          W       esc     A
# wallet account 200.00, credential 100.00      10000   10000   0
# ta accepts 10.00 code for 9.50, receipt       10000   10000   0
# ta is lost (its disk is gone)                 10000   10000   0
# wallet upload: the receipt settles it         10000   9050    950
W=$(new_account payer-1 200.00)
new_wallet w1 "$W" 100.00; S1=$SERIAL
c=$(pay w1 10.00); accept ta "$c" 9.50 && ok "ta accepted 9.50" || fail "ta accept"
receipt ta w1 && ok "the wallet took ta's receipt" || fail "receipt"
mv ta ta.lost
balances "W=$W:10000 esc=esc/$S1:10000 A=$MA:0" "offline: nothing moved yet"
wallet_upload w1
[ "$wu_status" = 0 ] && grep -qE "^$S1 +1 +settled +9\.50 .*1 settled, 0 agreed" wu.out \
  && ok "wallet upload: settled from the receipt" || fail "wallet upload: $wu_status $(cat wu.out)"
balances "W=$W:10000 esc=esc/$S1:9050 A=$MA:950" "ta's merchant paid from the escrow"
audits "a lost terminal's payment settled by the wallet"

# ---- 2. the same wallet upload twice -------------------------------------
# the same request again (same nonce)           409 NONCE_REPLAYED, nothing
# the same codes signed anew                    nothing moves
wsign w1
wsend -H @wu.hdr
expect_http 200 - "the wallet's upload, signed by the test tool"
[ "$(jq -r '.results[0].receipts[0].outcome + ":" + (.results[0].receipts[0].replay|tostring)' resp.json)" = "settled:true" ] \
  && ok "the receipt is a replay" || fail "replay: $(jq -c .results resp.json)"
wsend -H @wu.hdr
expect_http 409 NONCE_REPLAYED "the same signed wallet request again"
wallet_upload w1
[ "$wu_status" = 0 ] && grep -qE "^$S1 +1 +settled +9\.50" wu.out \
  && ok "the CLI upload again: settled" || fail "again: $(cat wu.out)"
balances "W=$W:10000 esc=esc/$S1:9050 A=$MA:950" "nothing moved twice"
audits "the same wallet upload twice"

# ---- 3. the terminal turns up later --------------------------------------
# ta is found again and uploads its journal: an exact replay of what the
# receipt settled; the receipt is now agreed.
mv ta.lost ta
upload ta
expect_http 200 - "ta's upload after the wallet's"
[ "$(outcomes)" = "settled(replay)" ] && [ "$(jq -r '.results[0].case' resp.json)" = null ] \
  && ok "ta: $(outcomes), no case" || fail "ta: $(jq -c .results resp.json)"
balances "esc=esc/$S1:9050 A=$MA:950" "nothing moved"
wallet_upload w1
grep -qE "^$S1 +1 +settled +9\.50 .*0 settled, 1 agreed" wu.out \
  && ok "the wallet sees its receipt agreed" || fail "agreed: $(cat wu.out)"
audits "the terminal turning up later"

# ---- 4. a terminal uploading another charge than it receipted -----------
# tc accepts a 8.00 code for 6.00 and receipts 6.00; the wallet uploads
# first (6.00 settles); tc then uploads 7.00 for it (a body made and
# signed by the test tool): the receipt's 6.00 stays paid, a
# receipt_mismatch case is opened.
# step                                          esc     C
# wallet upload (receipt 6.00)                  8450    600
# tc uploads 7.00 for the same code             8450    600   case
c=$(pay w1 8.00); accept tc "$c" 6.00 && ok "tc accepted 6.00" || fail "tc accept"
receipt tc w1 || fail "tc receipt"
wallet_upload w1
grep -qE "^$S1 +2 +settled +6\.00 .*1 settled" wu.out && ok "settled from tc's receipt" \
  || fail "tc receipt upload: $(cat wu.out)"
balances "esc=esc/$S1:8450 C=$MC:600" "6.00 paid to Cafe C"
"$UPLOAD_TOOL" --terminal tc --passphrase-file tp --body honest.body --headers up.hdr >/dev/null
jq -c '.items[0].charged = 700' honest.body > forged.body
"$UPLOAD_TOOL" --terminal tc --passphrase-file tp --body up.body --headers up.hdr \
    --sign-body forged.body >/dev/null
send_upload
expect_http 200 - "tc's upload of 7.00"
CASE=$(jq -r '.results[0].case' resp.json)
[ "$(outcomes)" = "settled(replay)" ] && [ "$CASE" != null ] \
  && [ "$(jq -r '.results[0].paid.minor' resp.json)" = 600 ] \
  && ok "tc: replay, 6.00 paid, case $CASE opened" || fail "tc: $(jq -c .results resp.json)"
balances "esc=esc/$S1:8450 C=$MC:600" "the receipt's amount stays paid"
wallet_upload w1
grep -qE "^$S1 +2 +settled .*1 mismatch" wu.out && grep -q "1 receipt mismatches" wu.out \
  && ok "the wallet sees the mismatch" || fail "mismatch: $(cat wu.out)"
wsign w1; wsend -H @wu.hdr
[ "$(jq -r ".results[1].receipts[0].outcome + \":\" + .results[1].receipts[0].case + \":\" + (.results[1].receipts[0].claimed.minor|tostring)" resp.json)" = "mismatch:$CASE:700" ] \
  && ok "the receipt names case $CASE and the 7.00 claimed" || fail "receipt: $(jq -c '.results[1]' resp.json)"
audits "a terminal charging other than its receipt"

# ---- 4b. the receipt_mismatch case: listed, exported, verified offline ---
# The file holds the code, tc's credential, tc's upload (7.00, the
# ledger's record: the money moved at the receipt's 6.00 first) and the
# receipt tc's key signed (6.00).
run_cli 0 "case $CASE +receipt_mismatch +credential $S1 +counter 2 +terminal $TC" -- \
  "$OFFPAY" admin cases --db "$LEDGER" --kind receipt_mismatch
run_cli 0 "wrote the evidence of case $CASE to rm.json" -- \
  "$OFFPAY" admin evidence "$CASE" --db "$LEDGER" --bundle iss/bundle.opb --out rm.json
[ "$(jq -r '.case.kind + " " + (.receipts | length | tostring) + " " + (.presentments[0].charged | tostring)' rm.json)" = "receipt_mismatch 1 700" ] \
  && ok "the file: one receipt, tc's upload of 7.00" || fail "rm.json: $(head -c 300 rm.json)"
cp rm.json iss/root.pub lone/
(
  cd lone
  run_cli 0 "PROVES: terminal $TC's own key signed a receipt \(receipt 0 of the file\) telling the payer it charged 6\.00 EUR for counter 2 of credential $S1; the ledger records that terminal's upload of the code as charging 7\.00 EUR" -- \
    "$OFFPAY" verify-evidence rm.json --root root.pub
  run_cli 0 "upload: +code 0 \(counter 2, authorized 8\.00 EUR\): terminal $TC of merchant [0-9]+ \"Cafe C\" charged 7\.00 EUR" -- \
    "$OFFPAY" verify-evidence rm.json --root root.pub
  run_cli 0 "receipt: code 0 \(counter 2, authorized 8\.00 EUR\): terminal $TC of merchant [0-9]+ \"Cafe C\" charged 6\.00 EUR" -- \
    "$OFFPAY" verify-evidence rm.json --root root.pub
  run_cli 0 "NOT PROVED by the file: the upload's amount is the ledger's record" -- \
    "$OFFPAY" verify-evidence rm.json --root root.pub
  run_cli 0 '"verified":true,"case":"'"$CASE"'","kind":"receipt_mismatch".*"receipts":1' -- \
    "$OFFPAY" verify-evidence rm.json --root root.pub --json
  [ "$(ls | sort | tr '\n' ' ')" = "rm.json root.pub " ] \
    && ok "the directory holds nothing but the file and the root key" || fail "lone holds: $(ls)"
  echo "$passed $failed" > ../counts
)
read -r passed failed < counts
# The receipt's amount changed (a byte of what tc's key signed), or the
# receipt taken away: refused.
python3 - rm.json rm-flipped.json rm-bare.json <<'EOF'
import base64, json, sys
d = json.load(open(sys.argv[1]))
b = bytearray(base64.b64decode(d["receipts"][0])); b[-71] ^= 1
d["receipts"][0] = base64.b64encode(bytes(b)).decode()
json.dump(d, open(sys.argv[2], "w"))
d["receipts"] = []
json.dump(d, open(sys.argv[3], "w"))
EOF
run_cli 1 "evidence NOT verified: .*receipt 0: .*\(ECODE_SIG\)" -- \
  "$OFFPAY" verify-evidence rm-flipped.json --root iss/root.pub
run_cli 1 "evidence NOT verified: .*no receipt of terminal $TC .*\(EEVIDENCE\)" -- \
  "$OFFPAY" verify-evidence rm-bare.json --root iss/root.pub
audits "the receipt_mismatch case exported and verified"

# ---- 5. codes without a receipt, another wallet's code -----------------
# w1 makes a code no terminal saw (not settled yet, nothing moves); w2
# uploads w1's codes signed with its own key: rejected, nothing moves.
pay w1 3.00 >/dev/null
W2=$(new_account payer-2 50.00)
new_wallet w2 "$W2" 20.00; S2=$SERIAL
wallet_upload w1
grep -qE "^$S1 +3 +not_settled " wu.out && grep -q "3 codes sent: 2 settled, 1 not settled yet" wu.out \
  && ok "a code nobody presented: not settled" || fail "not settled: $(cat wu.out)"
wsign w1
wsign w2 --sign-body wu.body
wsend -H @wu.hdr
expect_http 200 - "w2 signs w1's codes"
[ "$(statuses)" = "rejected:ENOT_ISSUED rejected:ENOT_ISSUED rejected:ENOT_ISSUED" ] \
  && ok "another wallet's codes: $(statuses)" || fail "w2: $(statuses)"
balances "W=$W:10000 esc=esc/$S1:8450 A=$MA:950 C=$MC:600 W2=$W2:3000 esc2=esc/$S2:2000" "nothing moved"
audits "another wallet's code"

# ---- 6. requests refused ------------------------------------------------
# each a 4xx with a JSON error naming the problem; nothing moves.
wsign w1
wsend
expect_http 401 SIGNATURE_MISSING "unsigned wallet request"
sed 's/^X-Offpay-Signature: .*/X-Offpay-Signature: '"$(printf 'x%.0s' $(seq 1 88))"'/' wu.hdr > bad.hdr
wsend -H @bad.hdr
expect_http 401 SIGNATURE_MALFORMED "a signature header that is not base64"
wsign w1
cp wu.body wu.orig; jq -c '.items |= .[0:1]' wu.orig > wu.body
wsend -H @wu.hdr
expect_http 401 SIGNATURE_INVALID "a body changed after signing"
cp wu.orig wu.body
wsign w2 --sign-body wu.orig
grep -v '^X-Offpay-Key' wu.hdr > other.hdr
wsign w1; grep '^X-Offpay-Key' wu.hdr >> other.hdr; cp wu.orig wu.body
wsend -H @other.hdr
expect_http 401 SIGNATURE_INVALID "w1's key with w2's signature"
wsign w1 --time $(( $(date +%s) - 1000 ))
wsend -H @wu.hdr
expect_http 401 STALE_TIMESTAMP "a wallet request 1000 s old"
wsign w1
wsend -H @wu.hdr
expect_http 200 - "a fresh request"
wsend -H @wu.hdr
expect_http 409 NONCE_REPLAYED "the same request replayed"
wallet_init w3
wsign w3 --sign-body wu.orig
cp wu.orig wu.body
wsend -H @wu.hdr
expect_http 403 UNKNOWN_WALLET "a key no credential was issued to"
printf '{"items":[{"code":"AAAA","receipts":"x"}]}' > wu.body
wsign w1 --sign-body wu.body
wsend -H @wu.hdr
expect_http 400 BAD_FIELD "a malformed wallet upload body"
balances "W=$W:10000 esc=esc/$S1:8450 A=$MA:950 C=$MC:600 W2=$W2:3000" "nothing moved"
run_cli 2 "give --server URL \\(this wallet never enrolled\\)" -- "$OFFPAY" wallet upload --wallet w1 --passphrase-file wp
audits "refused requests"

# ---- 7. a refund the payer sees ------------------------------------------
# Bakery A gives back 2.50 of w1's 9.50 payment (code 1): the payer's
# account gets it, and the wallet's upload shows it on the code's line.
# step                                          W       A
# refund 2.50 of code 1                         10250   700
api GET "/v1/admin/merchants/$MIDA/statement"
P=$(jq -r --arg s "$S1" '[.lines[] | select(.serial == $s and .counter == 1)][0].presentment' resp.json)
api POST "/v1/admin/presentments/$P/refund" '{"amount":"2.50","ref":"returned"}'
expect_http 200 - "Bakery A refunds 2.50 of code 1 (presentment $P)"
balances "W=$W:10250 A=$MA:700" "the payer's account got it"
wallet_upload w1
[ "$wu_status" = 0 ] && grep -qE "^$S1 +1 +settled +9\.50 EUR +refunded 2\.50 EUR" wu.out \
  && ! grep -qE "^$S1 +2 .*refunded" wu.out \
  && ok "the wallet's upload: code 1 settled 9.50, refunded 2.50" || fail "refund seen: $(cat wu.out)"
wsign w1
wsend -H @wu.hdr
[ "$status" = 200 ] && [ "$(jq -c '[.results[] | .refunded.minor]' resp.json)" = "[250,0,0]" ] \
  && ok "each code's result says what was refunded of it" || fail "refunded: $(jq -c .results resp.json)"
audits "a refund"

# ---- a code presented twice: the wallet's summary says a case is open ----
W9=$(new_account payer-9 50.00)
new_wallet w9 "$W9" 20.00; S9=$SERIAL
c=$(pay w9 2.00); accept ta "$c" 2.00 && accept tb "$c" 2.00 \
  && ok "one code of w9 accepted at ta and tb" || fail "w9 accepts"
upload ta; upload tb
[ "$(outcomes)" = duplicate ] && ok "tb: duplicate" || fail "tb: $(jq -c .results resp.json)"
wallet_upload w9
[ "$wu_status" = 0 ] && grep -qE "^$S9 +1 +duplicate" wu.out \
  && grep -q "^1 of them presented more than once (duplicate or double_spend, above): a case is open against the credential" wu.out \
  && ok "the wallet's summary says a case is open" || fail "w9 upload: $(cat wu.out)"
audits "a duplicate seen by the wallet"

status=$(curl -s -o metrics.txt -w '%{http_code}' "$URL/metrics")
grep -q 'route="/v1/wallet/upload",status="200"' metrics.txt \
  && ok "metrics count the wallet uploads" || fail "metrics"

# ---- a wallet upload bounded in time, as a terminal's ---------------------
# offpayd with each code's transaction held 1.5 s (OFFPAYD_TEST_CHUNK_MS)
# and uploads bounded to 2.5 s after their time
# (OFFPAYD_TEST_COMMIT_WITHIN_MS; SRV_COMMIT_WITHIN, 30 s, in production),
# so that a period read 60 s after its end is final (docs/api.md):
# step                                          expected
# w10 pays 3 codes at ta, each receipted,       -
#   ta never uploads
# wallet upload (the hooks)                     the first code(s) settled,
#                                               the rest "error" EBUSY; the
#                                               CLI says run it again, exit 3
# wallet upload again (no hooks)                replays, then the rest settled
stop_server TERM
OFFPAYD_TEST_CHUNK_MS=1500 OFFPAYD_TEST_COMMIT_WITHIN_MS=2500 start_server --threads 1
W10=$(new_account payer-10 50.00)
new_wallet w10 "$W10" 20.00; S10=$SERIAL
for a in 1.00 2.00 3.00; do
  c=$(pay w10 "$a"); accept ta "$c" "$a" && receipt ta w10 || fail "w10 pays $a at ta"
done
a0=$(balance "$MA")
wsign w10
wsend -H @wu.hdr
d10=$(jget .decided)
[ "$status" = 200 ] && [ "$d10" -ge 1 ] && [ "$d10" -lt 3 ] \
  && [ "$(jq -c "[.results[:$d10][] | .status] | unique" resp.json)" = '["settled"]' ] \
  && [ "$(jq -c "[.results[$d10:][] | [.status, .reason]] | unique" resp.json)" = '[["error","EBUSY"]]' ] \
  && jq -r ".results[$d10].hint" resp.json | grep -q "ran past 2 s after its time.*send it again" \
  && ok "a wallet upload past its bound: $d10 settled, the rest undecided (EBUSY)" \
  || fail "bounded wallet upload: $status $(cat resp.json)"
paid=$(jq "[.results[:$d10][] | .paid.minor] | add" resp.json)
[ "$(balance "$MA")" = $((a0 + paid)) ] && ok "only the decided codes paid ($paid)" \
  || fail "merchant $(balance "$MA"), was $a0, decided $paid"
wallet_upload w10
[ "$wu_status" = 3 ] && grep -qE "^$S10 +3 +error \(EBUSY\) +-" wu.out \
  && grep -q "some codes were not decided (run it again)" wu.out \
  && ok "offpay wallet upload: the code left says error (EBUSY), run it again, exit 3" \
  || fail "wallet upload past the bound: $wu_status $(cat wu.out)"
stop_server TERM
start_server
wallet_upload w10
[ "$wu_status" = 0 ] && [ "$(grep -cE "^$S10 +[123] +settled +[123]\.00 EUR" wu.out)" = 3 ] \
  && ok "sent again: the three codes settled" || fail "wallet upload again: $wu_status $(cat wu.out)"
balances "MA=$MA:$((a0 + 600)) esc=esc/$S10:1400" "each code paid once"
audits "a wallet upload cut at its bound"
stop_server TERM
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
finish
