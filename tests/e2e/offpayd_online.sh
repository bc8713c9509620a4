#!/usr/bin/env bash
# offpayd_online.sh — a wallet's online life through the real offpayd and
# the CLI, as tables of steps with the money per account after each
# (docs/settlement.md §12; docs/api.md, "Wallet online"): the operator
# makes a one-time enrollment code, the wallet enrolls with it, is funded,
# takes an allowance, pays offline, and syncs: its spend log uploaded,
# each code's status, the held part of a settled code released, and its
# balances (account, escrow, available offline) shown side by side with
# the server's own view; a renewal of a nearly spent credential (and, at
# the end, of credentials that all expired). Then bad
# input, each a clear 4xx with a specific error and nothing changed: an
# unenrolled wallet, an allowance beyond the balance, a request signed by
# another key, a reused, an unknown and an expired enrollment code, a key
# enrolled twice. A copied terminal key's larger charge paid over the
# wallet's receipt: the sync names the receipt's mismatch and case (and a
# revoked terminal's receipt, rejected, with its reason), and the wallet's
# balance and log show the difference paid, not held. Last, an allowance whose answer is lost after offpayd
# committed it (a test hook drops it): the wallet's resend carries the
# same request_id, so it gets the same credential and one escrow, never
# two; and one whose every answer is lost (slow_proxy.py's drop), asked
# again by a new process or taken by a sync: one escrow, and `wallet
# balance` says it was asked and not answered meanwhile. A merchant's
# request answered before a sync gets the same code after it. Last, a phone
# whose clock runs 600 s ahead: `wallet pay` warns by the offset the
# last sync kept. Then what a release returned, held for the late codes
# until the late window ends: `wallet balance` and `wallet sync` say how
# much and until when, the sync's renewal asks at most the balance less
# it (nothing, saying why; after a deposit, what it brought), and the
# operator's views give it as `late_held`; a renewal offpayd refuses is a
# warning, not a failed sync. `offpay admin audit` passes after every part.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle

# row SERIAL: the sync output's row of a credential.
row() { sed -n '/^credential  *escrow/,/^total/p' w.out | grep -E "^$1 " | head -1; }

new_merchant "Bakery A"; MA=$MACCT; new_terminal ta "$MERCHANT"; TA=$TID
"$OFFPAY" terminal risk --terminal ta --passphrase-file tp \
    --set floor-unbound=100.00 --set cumulative=500.00 >/dev/null
audits "set-up"

# ---- 1. enroll, fund, allowance ------------------------------------------
# step                                         W       esc     A
# operator: enrollment code                    -       -       -
# wallet enroll --code                         0       -       -
# operator deposits 200.00                     20000   -       -
# wallet allowance 100.00                      10000   10000   -
wallet_init w1
CODE=$(enroll_code)
[[ $CODE =~ ^[0-9a-f]{24}$ ]] && ok "enroll-code: $CODE" || fail "enroll-code: $CODE"
w enroll w1 --server "$URL" --code "$CODE"
[ "$ws" = 0 ] && grep -qE "^enrolled: account [0-9]+ \(EUR\), balance 0.00 EUR" w.out \
  && ok "wallet enroll: $(cat w.out)" || fail "enroll: $ws $(cat w.out)"
W=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
KEY1=$("$OFFPAY" wallet key --wallet w1 --passphrase-file wp)
api GET "/v1/admin/wallets/$W"
[ "$status" = 200 ] && [ "$(jget .wallet_key)" = "$KEY1" ] && [ "$(jget .revoked)" = false ] \
  && ok "the operator sees wallet $W enrolled with its key" || fail "wallet $W: $(cat resp.json)"
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"200.00","ref":"bank transfer"}'
balances "W=$W:20000" "funded"
run_cli 0 "no credentials yet: ask one from account $W at $URL with 'offpay wallet allowance --amount AMOUNT'" -- \
  "$OFFPAY" wallet balance --wallet w1 --passphrase-file wp
w allowance w1 --amount 100.00
[ "$ws" = 0 ] && grep -qE "^credential [0-9]+ installed: 100.00 EUR, expires [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z; account balance 100.00 EUR" w.out \
  && ok "allowance: $(cat w.out)" || fail "allowance: $ws $(cat w.out)"
S1=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
balances "W=$W:10000 esc=esc/$S1:10000" "100.00 moved into escrow"
# the wallet's own enrollment and allowance are on offpayd's log, as an
# operator's requests are: who took the account, with which code
fp=$(python3 -c 'import hashlib,sys; print(hashlib.blake2b(sys.argv[1].encode(), digest_size=16).hexdigest()[:8])' "$CODE")
grep -q "POST /v1/wallet/enroll from 127\.0\.0\.1: wallet key ${KEY1:0:16}\.\.\. enrolled into account $W (EUR) with the code of fingerprint $fp" server.err \
  && grep -qE "POST /v1/wallet/allowance from 127\.0\.0\.1: allowance of wallet key ${KEY1:0:16}\.\.\. from account $W, limit 100\.00 EUR \(request_id \"[^\"]+\"\): serial $S1" server.err \
  && ok "the enrollment (with the code's fingerprint) and the allowance are logged" \
  || fail "wallet log lines: $(grep 'v1/wallet' server.err | tail -3)"
run_cli 0 "credential $S1: 0 code\(s\) made" -- "$OFFPAY" wallet balance --wallet w1 --passphrase-file wp
run_cli 0 "^  expires    [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z" -- "$OFFPAY" wallet balance --wallet w1 --passphrase-file wp
run_cli 0 "^0 codes sent" -- "$OFFPAY" wallet upload --wallet w1 --passphrase-file wp
audits "enroll, fund, allowance"

# ---- 2. pay offline, settle, sync -----------------------------------------
# step                                         W       esc     A     wallet available
# pay 10.00, ta accepts 9.50 (receipt)         10000   10000   0     9000
# pay 5.00, never scanned                      10000   10000   0     8500
# ta uploads                                   10000   9050    950   8500
# wallet sync: 0.50 released                   10000   9050    950   8550
c=$(pay w1 10.00); accept ta "$c" 9.50 && ok "ta accepted 9.50" || fail "accept"
seq=$("$OFFPAY" terminal journal --terminal ta --json | tail -1 | jq -r .seq)
r=$("$OFFPAY" terminal receipt --terminal ta --passphrase-file tp --seq "$seq" 2>/dev/null)
w receipt w1 --code "$r"; [ "$ws" = 0 ] && ok "the wallet took ta's receipt" || fail "receipt: $(cat w.out)"
pay w1 5.00 >/dev/null && ok "a 5.00 code made, never scanned" || fail "pay 5.00"
upload ta
expect_http 200 - "ta's upload"
balances "W=$W:10000 esc=esc/$S1:9050 A=$MA:950" "ta's payment settled"
w sync w1
[ "$ws" = 0 ] && ok "wallet sync" || fail "sync: $ws $(cat w.out)"
grep -qE "^$S1 +1 +settled +9.50 EUR" w.out && grep -qE "^$S1 +2 +not_settled" w.out \
  && ok "sync: code 1 settled 9.50, code 2 not settled yet" || fail "statuses: $(cat w.out)"
# The side-by-side: the wallet's balances after the sync and the server's.
api GET "/v1/admin/accounts/$W"; srv_acct="$(jget .balance.decimal) EUR"
api GET "/v1/admin/credentials/$S1"; srv_esc="$(jget .remaining.decimal) EUR"
wal_acct=$(sed -n 's/^account [0-9]* at .*: balance \(.*\)$/\1/p' w.out)
wal_esc=$(row "$S1" | awk '{print $2" "$3}')
wal_avail=$(row "$S1" | awk '{print $4" "$5}')
wal_rel=$(row "$S1" | awk '{print $6" "$7}')
printf '    %-22s %-14s %-14s\n' "" wallet server \
    "account $W" "$wal_acct" "$srv_acct" "escrow $S1" "$wal_esc" "$srv_esc"
[ "$wal_acct" = "$srv_acct" ] && [ "$wal_esc" = "$srv_esc" ] \
  && ok "side by side: account $wal_acct = $srv_acct, escrow $wal_esc = $srv_esc" \
  || fail "side by side: wallet $wal_acct/$wal_esc, server $srv_acct/$srv_esc"
# available offline = escrow - the unscanned 5.00 code; 0.50 released
[ "$wal_avail" = "85.50 EUR" ] && [ "$wal_rel" = "0.50 EUR" ] \
  && ok "available offline 85.50 (escrow 90.50 - 5.00 outstanding), 0.50 released" \
  || fail "available $wal_avail released $wal_rel: $(cat w.out)"
grep -qE "^total: account 100.00 EUR, escrow 90.50 EUR, available offline 85.50 EUR" w.out \
  && ok "totals line" || fail "totals: $(cat w.out)"
w balance w1
grep -qE "available +85.50 EUR" w.out && grep -qE "released +0.50 EUR" w.out \
  && ok "balance after sync: available 85.50, released 0.50" || fail "balance: $(cat w.out)"
w sync w1
[ "$ws" = 0 ] && [ "$(row "$S1" | awk '{print $4" "$5}')" = "85.50 EUR" ] \
  && ok "a second sync changes nothing" || fail "second sync: $(cat w.out)"
balances "W=$W:10000 esc=esc/$S1:9050 A=$MA:950" "nothing moved twice"
audits "pay, settle, sync"

# ---- 3. renewal of a nearly spent credential -------------------------------
# step                                         W       esc S1  esc S2   A
# ta accepts 80.00 of an 80.00 code            10000   9050    -        950
# ta uploads                                   10000   1050    -        8950
# wallet sync: available 5.50 < 10%: renewed   0       1050    10000    8950
c=$(pay w1 80.00); accept ta "$c" 80.00 && ok "ta accepted 80.00" || fail "accept 80"
upload ta
balances "esc=esc/$S1:1050 A=$MA:8950" "80.00 settled"
w sync w1
S2=$(sed -n 's/^renewed: credential \([0-9]*\)$/\1/p' w.out)
[ "$ws" = 0 ] && [ -n "$S2" ] && ok "sync renewed: credential $S2" || fail "renewal: $(cat w.out)"
balances "W=$W:0 esc=esc/$S1:1050 esc=esc/$S2:10000" "the renewal moved 100.00 (the account's all)"
grep -qE "^total: account 0.00 EUR, escrow 110.50 EUR" w.out \
  && ok "totals after renewal: $(grep ^total w.out)" || fail "totals: $(cat w.out)"
# with money in the account again, a sync at the default thresholds does
# not renew: the new credential is neither near expiry nor nearly spent
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"10.00"}'
w sync w1
[ "$ws" = 0 ] && ! grep -q "^renewed" w.out && [ "$(balance "$W")" = 1000 ] \
  && ok "no renewal when nothing needs it (the account keeps its 10.00)" \
  || fail "renewed again: $(cat w.out), W $(balance "$W")"
api POST "/v1/admin/accounts/$W/withdraw" '{"amount":"10.00"}'
# S1's 80.00 code settled with no receipt taken: not pending any more (it
# was shown as 85.00 pending against a 100.00 limit, with the unscanned 5.00)
w balance w1
sed -n "/^credential $S1:/,/^credential /p" w.out > s1.out
grep -qE "^  pending    5\.00 EUR" s1.out \
  && grep -qE "^  decided    80\.00 EUR  \(authorized by the codes without a receipt here that settlement decided at the last sync: no longer pending; each one's charge is in that sync's lines, and what it authorized beyond the charge is in released\)" s1.out \
  && ! grep -q "^  settled " s1.out \
  && ok "balance after the sync: pending 5.00 (the unscanned code), 80.00 decided (as authorized, not called settled)" \
  || fail "pending after sync: $(cat s1.out)"
audits "renewal"

# ---- 3b. a revoked credential -----------------------------------------------
# the operator revokes S1: the next sync learns it (status and the signed
# revocation list); the wallet makes no code from it, S2 still pays
api POST "/v1/admin/credentials/$S1/revoke" '{"reason":"test"}'
w sync w1 --no-renew
[ "$ws" = 0 ] && grep -q "^1 credential(s) revoked: no code from them" w.out \
  && [[ $(row "$S1") == *"(revoked)"* ]] && [ "$(row "$S1" | awk '{print $4}')" = 0.00 ] \
  && ok "sync: $S1 revoked, nothing of it available" || fail "revoked sync: $(cat w.out)"
w balance w1
grep -q "revoked    no code from it" w.out && grep -q "(none of it can be spent: revoked)" w.out \
  && grep -q "offpayd opened a case against the credential .* a code charged twice is put right by a refund from the merchant" w.out \
  && ok "balance shows $S1 revoked, its available not spendable, what a case means" || fail "balance: $(cat w.out)"
# more than any credential has: the revoked one's 5.50 is not offered
w pay w1 --currency EUR --amount 500.00
[ "$ws" = 1 ] && grep -qE "asked for 500\.00 EUR; available: 100\.00 EUR on credential $S2; see" w.out \
  && ! grep -q "on credential $S1\b" w.out \
  && ok "EINSUFFICIENT lists only credentials that can pay (not revoked $S1)" || fail "insufficient: $ws $(cat w.out)"

# ---- 4. bad input: each a 4xx, nothing changed ------------------------------
# an unenrolled wallet; a status signed by it; its allowance
wallet_init w2
run_cli 2 "wallet upload: give --server URL \(this wallet never enrolled\)" -- \
  "$OFFPAY" wallet upload --wallet w2 --passphrase-file wp
w sync w2 --server "$URL"
[ "$ws" != 0 ] && grep -q "offpayd at $URL knows no enrolled wallet with this wallet's key (NOT_ENROLLED)" w.out \
  && grep -q "wallet upload --server URL' sends its codes" w.out \
  && ok "sync of an unenrolled wallet refused: NOT_ENROLLED, and what to do" \
  || fail "unenrolled sync: $ws $(cat w.out)"
wreq w2 /v1/wallet/status '{}'
expect_http 403 NOT_ENROLLED "status signed by an unenrolled key"
wreq w2 /v1/wallet/credentials '{}'
expect_http 403 NOT_ENROLLED "credentials asked by an unenrolled key"
wreq w2 /v1/wallet/allowance '{"amount":"1.00"}'
expect_http 403 NOT_ENROLLED "allowance for an unenrolled key"
w allowance w2 --amount 1.00
[ "$ws" != 0 ] && grep -q "not enrolled" w.out && ok "CLI allowance of an unenrolled wallet refused" \
  || fail "unenrolled allowance: $(cat w.out)"
# an allowance beyond the balance (W holds 0.00)
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"20.00"}'
w allowance w1 --amount 20.01
[ "$ws" = 1 ] && grep -q "offpayd refused POST /v1/wallet/allowance: EFUNDS" w.out \
  && grep -qE "wallet allowance: offpayd refused the request \(see above\) \(EREFUSED\)" w.out \
  && [ "$(grep -c EFUNDS w.out)" = 1 ] \
  && ok "allowance 20.01 > 20.00: EFUNDS, exit 1 (refused)" || fail "beyond: $ws $(cat w.out)"
wreq w1 /v1/wallet/allowance '{"amount":"20.01"}'
expect_http 409 EFUNDS "allowance beyond the account's balance"
wreq w1 /v1/wallet/allowance '{"amount":"-1"}'
expect_http 400 EAMOUNT "a negative allowance"
# a credential carries its limit in a u32: one minor unit more is EAMOUNT
# with the largest limit in the hint, from both issuers and the CLI
wreq w1 /v1/wallet/allowance '{"amount":"42949672.96"}'
expect_http 400 EAMOUNT "an allowance above the largest limit"
grep -q "amount: at most 42949672.95 EUR, the largest limit a credential carries" resp.json \
  && ok "the hint gives the largest limit" || fail "hint: $(cat resp.json)"
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$KEY1\",\"limit\":\"42949672.96\"}"
expect_http 400 EAMOUNT "an operator's credential above the largest limit"
grep -q "limit: at most 42949672.95 EUR, the largest limit a credential carries" resp.json \
  && ok "the operator's hint gives the largest limit" || fail "hint: $(cat resp.json)"
w allowance w1 --amount 42949672.96
[ "$ws" = 2 ] && grep -q "wallet allowance: --amount: at most 42949672.95 EUR" w.out \
  && ok "wallet allowance above the largest limit: usage error (2)" || fail "allowance max: $ws $(cat w.out)"
wreq w1 /v1/wallet/allowance '{"amount":"1.00","limit":"2"}'
expect_http 400 BAD_FIELD "an unknown field"
wreq w1 /v1/wallet/allowance "{\"amount\":\"1.00\",\"expires\":$(($(date +%s) + 400 * 86400))}"
expect_http 400 BAD_FIELD "an allowance for 400 days (a wallet asks for 30 at most)"
wreq w1 /v1/wallet/allowance "{\"amount\":\"1.00\",\"expires\":$(($(date +%s) + 60))}"
expect_http 400 BAD_FIELD "an allowance for a minute (its escrow locked for nothing)"
grep -q "at least 5 minutes ahead" resp.json && ok "the hint says how soon at least" || fail "hint: $(cat resp.json)"
w allowance w1 --amount 1.00 --expires $(($(date +%s) + 60))
[ "$ws" = 2 ] && grep -q "less than an hour from now" w.out \
  && ok "wallet allowance --expires within the hour: usage error (2)" || fail "allowance soon: $ws $(cat w.out)"
w allowance w1 --amount 1.00 --expires $(($(date +%s) * 1000))
[ "$ws" = 2 ] && grep -q "^offpay: wallet allowance: --expires: [0-9]\{13\} is a time in milliseconds: give unix seconds, not milliseconds" w.out \
  && ok "wallet allowance --expires in milliseconds: said so (2)" || fail "allowance ms: $ws $(cat w.out)"
balances "W=$W:2000 esc=esc/$S1:1050 esc=esc/$S2:10000" "nothing moved"
# a request signed by another key: w1's body, w2's signature, w1's key
wreq w2 /v1/wallet/status '{}'
sed -i "s/^X-Offpay-Key: .*/X-Offpay-Key: $KEY1/" wr.hdr
status=$(curl -s -o resp.json -w '%{http_code}' -H @wr.hdr -H 'Content-Type: application/json' \
    --data-binary @wr.body "$URL/v1/wallet/status")
expect_http 401 SIGNATURE_INVALID "a sync request signed by another key"
# a status of w1's, replayed
wreq w1 /v1/wallet/status '{}'
expect_http 200 - "w1's status"
[ "$(jget .account)" = "$W" ] && [ "$(jget '.credentials | length')" = 2 ] \
  && [ "$(jq -c '[.credentials[] | [.serial, .max_counter]]' resp.json)" = "[[\"$S2\",0],[\"$S1\",3]]" ] \
  && [ "$(jget .credentials_open)" = 2 ] \
  && ok "status: account $W, 2 credentials (the newest first; both open), highest counter 3 of $S1" \
  || fail "status: $(cat resp.json)"
status=$(curl -s -o resp.json -w '%{http_code}' -H @wr.hdr -H 'Content-Type: application/json' \
    --data-binary @wr.body "$URL/v1/wallet/status")
expect_http 409 NONCE_REPLAYED "the same signed status request again"
# enrollment codes: reused, unknown, expired, malformed; a key enrolled twice
wallet_init w3
w enroll w3 --server "$URL" --code "$CODE"
[ "$ws" = 1 ] && grep -q "ENROLL_CODE_USED" w.out \
  && grep -q "ask the operator for a new enrollment code" w.out \
  && ok "a reused enrollment code: ENROLL_CODE_USED, exit 1, ask for a new one" \
  || fail "reused code: $(cat w.out)"
nonces0=$(ledger_sql ledger "SELECT COUNT(*) FROM request_nonces")
wreq w3 /v1/wallet/enroll "{\"code\":\"$CODE\"}"
expect_http 409 ENROLL_CODE_USED "a reused enrollment code"
wreq w3 /v1/wallet/enroll '{"code":"0123456789abcdef01234567"}'
expect_http 403 ENROLL_CODE_UNKNOWN "an enrollment code nobody made"
OLD=$(OFFPAY_NOW=$(( $(date +%s) - 50 )) enroll_code --expires $(( $(date +%s) - 10 )))
wreq w3 /v1/wallet/enroll "{\"code\":\"$OLD\"}"
expect_http 403 ENROLL_CODE_EXPIRED "an expired enrollment code"
# refused before anything is written: any key may sign an enrollment, so
# a made-up code must not cost the ledger a write (its nonce)
[ "$(ledger_sql ledger "SELECT COUNT(*) FROM request_nonces")" = "$nonces0" ] \
  && ok "the refused enrollments wrote no nonce ($nonces0 stored)" \
  || fail "nonces: $nonces0 before, $(ledger_sql ledger "SELECT COUNT(*) FROM request_nonces") after"
wreq w3 /v1/wallet/enroll '{"code":"not-a-code"}'
expect_http 400 BAD_FIELD "a malformed enrollment code"
C2=$(enroll_code)
wreq w1 /v1/wallet/enroll "{\"code\":\"$C2\"}"
expect_http 409 ALREADY_ENROLLED "a wallet key enrolled twice"
wreq w1 /v1/wallet/enroll "{\"code\":\"$CODE\"}"
[ "$status" = 200 ] && [ "$(jget .account)" = "$W" ] \
  && ok "w1 with its own code again (a lost answer resent): account $W, nothing new" \
  || fail "own code again: $status $(cat resp.json)"
w enroll w3 --server "$URL" --code "${C2^^}"
[ "$ws" = 0 ] && ok "the unused code (typed in capitals) still enrolls another wallet" \
  || fail "enroll w3: $(cat w.out)"
run_cli 2 "admin enroll-code: --expires [0-9]+ is not in the future" -- \
  "$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR --expires $(( $(date +%s) - 10 ))
run_cli 2 "admin: --expires: a date: give a unix time in seconds \(2026-12-01T00:00Z is 1796083200: date -u \+%s -d 2026-12-01\)$" -- \
  "$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR --expires 2027-01-01
# a wallet that never enrolled, synced without --server: what to do
wallet_init w7
w sync w7
[ "$ws" != 0 ] && grep -q "this wallet is not enrolled: no w7.online beside it names its server" w.out \
  && ok "sync of a wallet never enrolled, no server: names w7.online" \
  || fail "sync unenrolled, no server: $ws $(cat w.out)"
api POST /v1/admin/enrollments '{"currency":"EUR","ref":"customer 4711"}'
[ "$status" = 200 ] && [[ $(jget .code) =~ ^[0-9a-f]{24}$ ]] \
  && ok "POST /v1/admin/enrollments: a code" || fail "enrollments: $(cat resp.json)"
# the code's reference is the account's: the operator finds the wallet by
# the customer number it was given for; a code without one opens an
# account named "enrolled wallet"
wallet_init w5
w enroll w5 --server "$URL" --code "$(jget .code)"
W5=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api GET "/v1/admin/accounts?ref=customer%204711"
[ -n "$W5" ] && [ "$(jq -c '[.count, .accounts[0].account]' resp.json)" = "[1,\"$W5\"]" ] \
  && ok "enrolled with a code for customer 4711: its account $W5 found by that reference" \
  || fail "account by the code's ref: $W5 $(cat resp.json)"
wallet_init w6
w enroll w6 --server "$URL" --code "$(enroll_code --ref "customer 4712")"
W6=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
run_cli 0 "^account $W6  0.00 EUR  credentials 0 \(0 active\)  since [0-9T:-]+Z  \"customer 4712\"$" -- \
  "$OFFPAY" admin accounts --db "$LEDGER" --ref "customer 4712"
api GET "/v1/admin/accounts?after=$((W - 1))&limit=1"
[ "$(jq -r '.accounts[0] | .account + " " + .ref' resp.json)" = "$W enrolled wallet" ] \
  && ok "a code without a reference: account $W 'enrolled wallet'" || fail "no-ref account: $(cat resp.json)"
api POST /v1/admin/enrollments '{"currency":"XXX"}'
expect_http 400 BAD_FIELD "an enrollment code in an unknown currency"
curl -s -o resp.json -w '%{http_code}' -X POST -d '{"currency":"EUR"}' "$URL/v1/admin/enrollments" > st
status=$(cat st); expect_http 401 UNAUTHORIZED "enrollment codes need the operator's token"
balances "W=$W:2000 esc=esc/$S1:1050 esc=esc/$S2:10000 A=$MA:8950" "bad input moved nothing"
audits "bad input"

# ---- 4b. a receipt the ledger overrode, and a revoked terminal's ------------
# A copy of ta's directory (a copied key) charges 30.00 on wd's code
# authorized 30.00; ta itself charged 12.50 and gave a receipt. The copy
# uploads first, then wd syncs, then ta. Settlement took 30.00: wd's sync
# line says what offpayd answered for the receipt (the copy's charge, the
# case), and wd's balance and log say the 17.50 was paid, not held. A
# receipt of a revoked terminal is named with its reason and meaning.
# step                                          WD     esc SD   A
# wallet allowance 40.00 of 50.00               1000   4000     -
# the copy's upload of 30.00                    1000   1000     +3000
# tr (revoked) accepts 4.00, receipt; wd syncs  1000   1000     +3000
wallet_init wd
w enroll wd --server "$URL" --code "$(enroll_code)"
WD=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$WD/deposit" '{"amount":"50.00"}'
w allowance wd --amount 40.00; SD=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
MA0=$(balance "$MA")
rm -rf tacopy; cp -a ta tacopy
c=$(pay wd 30.00); accept ta "$c" 12.50 && accept tacopy "$c" 30.00 || fail "ta 12.50, its copy 30.00"
seq=$("$OFFPAY" terminal journal --terminal ta --json | tail -1 | jq -r .seq)
r=$("$OFFPAY" terminal receipt --terminal ta --passphrase-file tp --seq "$seq" 2>/dev/null)
w receipt wd --code "$r"; [ "$ws" = 0 ] || fail "wd takes ta's receipt: $(cat w.out)"
upload tacopy
balances "WD=$WD:1000 esc=esc/$SD:1000 A=$MA:$((MA0 + 3000))" "the copy's 30.00 settled"
new_merchant "Stall R"; new_terminal tr "$MERCHANT"; TR=$TID
api POST "/v1/admin/terminals/$TR/revoke" '{}'
c=$(pay wd 4.00); accept tr "$c" 4.00 || fail "tr (not knowing) accepts 4.00"
r=$("$OFFPAY" terminal receipt --terminal tr --passphrase-file tp --seq 1 2>/dev/null)
w receipt wd --code "$r"; [ "$ws" = 0 ] || fail "wd takes tr's receipt: $(cat w.out)"
w sync wd --no-renew
[ "$ws" = 0 ] && grep -qE "^$SD +1 +settled +30\.00 EUR +receipts: 0 settled, 0 agreed, 0 waiting, 1 mismatch, 0 rejected; receipt 1 \(terminal $TA, 12\.50 EUR\): the terminal's upload charged 30\.00 EUR, case [0-9]+$" w.out \
  && ok "sync: the receipt's mismatch with the charge the ledger holds and its case" || fail "sync mismatch line: $ws $(cat w.out)"
grep -qE "^$SD +2 +not_settled +0\.00 EUR +receipts: 0 settled, 0 agreed, 0 waiting, 0 mismatch, 1 rejected; receipt 1 \(terminal $TR, 4\.00 EUR\): rejected ETERMINAL_REVOKED \(the receipt is dated after its terminal's revocation: offpayd does not take it as the terminal's upload\)$" w.out \
  && ok "sync: the revoked terminal's receipt, rejected with its reason and meaning" || fail "sync rejected line: $(cat w.out)"
api GET "/v1/admin/cases?serial=$SD"; CD=$(jq -r '[.cases[] | select(.kind == "receipt_mismatch")][0].id' resp.json)
grep -qE "; receipt 1 \(terminal $TA, 12\.50 EUR\): the terminal's upload charged 30\.00 EUR, case $CD$" w.out \
  && ok "the case named is offpayd's receipt_mismatch case $CD" || fail "case $CD: $(cat resp.json)"
[ "$(row "$SD" | awk '{print $8" "$9}')" = "0.00 EUR" ] \
  && ok "sync's row: nothing held" || fail "sync row: $(row "$SD")"
w balance wd
grep -qE "^  confirmed  16\.50 EUR  \(charged, per receipts\)$" w.out \
  && grep -qE "^  held       0\.00 EUR  \(authorized beyond receipts, until settlement\)$" w.out \
  && grep -qE "^  above      17\.50 EUR  \(authorized beyond the receipts of 1 code\(s\), paid to merchants by settlement at the last sync: no longer held\)$" w.out \
  && grep -qE "^    code 1: settled 30\.00 EUR, above your receipt's 12\.50 EUR: case $CD$" w.out \
  && ok "balance: the 17.50 paid above the receipt, case $CD, not held" || fail "balance: $(cat w.out)"
w log wd
grep -qE "^$SD +1 +unbound +30\.00 EUR +12\.50 EUR  settled 30\.00 EUR, above your receipt's 12\.50 EUR: case $CD$" w.out \
  && ok "log: code 1 settled 30.00 above its receipt" || fail "log: $(cat w.out)"
# ta's own upload: the ledger keeps the copy's charge; wd's next sync
# (nothing new) keeps what it knows, and a wallet file of it opens
upload ta
w sync wd --no-renew
w balance wd
grep -qE "^    code 1: settled 30\.00 EUR, above your receipt's 12\.50 EUR: case $CD$" w.out \
  && ok "after ta's upload and another sync: the same" || fail "balance again: $(cat w.out)"
balances "WD=$WD:1000 esc=esc/$SD:1000 A=$MA:$((MA0 + 3000))" "nothing more moved"
audits "a receipt the ledger overrode"

# ---- 5. an allowance whose answer is lost -------------------------------
# step                                               W3      escrows of w3
# operator deposits 10.00                            1000    -
# allowance 3.00, first answer dropped, resent       700     300 (one)
# request_id r-1 for 1.00, then the same again       600     300 + 100
# r-1 for 1.50; a malformed request_id               600     (refused)
stop_server
OFFPAYD_DROP_REPLY=/v1/wallet/allowance start_server
wreq w3 /v1/wallet/status '{}'; W3=$(jget .account)
api POST "/v1/admin/accounts/$W3/deposit" '{"amount":"10.00"}'
w allowance w3 --server "$URL" --amount 3.00
[ "$ws" = 0 ] && grep -qE "^credential [0-9]+ installed: 3.00 EUR, expires .*Z; account balance 7.00 EUR" w.out \
  && ok "allowance with its first answer lost: $(tail -1 w.out)" || fail "lost answer: $ws $(cat w.out)"
grep -q "test hook: the answer to /v1/wallet/allowance dropped" server.err \
  && ok "offpayd committed it and dropped the answer" || fail "the hook never dropped an answer"
wreq w3 /v1/wallet/status '{}'
[ "$(jget '.credentials | length')" = 1 ] && [ "$(balance "$W3")" = 700 ] \
  && ok "one credential, one escrow of 3.00: the resend was not a second allowance" \
  || fail "after the resend: $(cat resp.json), W3 $(balance "$W3")"
wreq w3 /v1/wallet/allowance '{"amount":"1.00","request_id":"r-1"}'
R1=$(jget .serial); R1E=$(jget .expires)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && ok "request_id r-1: credential $R1" \
  || fail "r-1: $status $(cat resp.json)"
wreq w3 /v1/wallet/allowance '{"amount":"1.00","request_id":"r-1"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .serial)" = "$R1" ] \
  && ok "r-1 again (a new nonce): the same credential $R1, replayed" || fail "r-1 again: $status $(cat resp.json)"
wreq w3 /v1/wallet/allowance '{"amount":"1.50","request_id":"r-1"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "r-1 for another amount"
wreq w3 /v1/wallet/allowance '{"amount":"1.00","request_id":"r-1","allow_unbound":false}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "r-1 asking allow_unbound false"
wreq w3 /v1/wallet/allowance "{\"amount\":\"1.00\",\"request_id\":\"r-1\",\"expires\":$(($(date +%s) + 7200))}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "r-1 asking an expiry in two hours"
wreq w3 /v1/wallet/allowance "{\"amount\":\"1.00\",\"request_id\":\"r-1\",\"expires\":$R1E,\"allow_unbound\":true}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .serial)" = "$R1" ] \
  && ok "r-1 sending the expiry and allow_unbound it was made with: replayed" || fail "r-1 as made: $status $(cat resp.json)"
wreq w3 /v1/wallet/allowance '{"amount":"1.00","request_id":"r 1"}'
expect_http 400 BAD_FIELD "a request_id with a space"
[ "$(balance "$W3")" = 600 ] && ok "w3's account: 10.00 - 3.00 - 1.00, each once" \
  || fail "W3 $(balance "$W3")"
audits "a lost allowance answer"
# an enrollment whose answer is lost: the resend gets the same account
stop_server
OFFPAYD_DROP_REPLY=/v1/wallet/enroll start_server
wallet_init w4
w enroll w4 --server "$URL" --code "$(enroll_code)"
[ "$ws" = 0 ] && grep -qE "^enrolled: account [0-9]+ \(EUR\)" w.out \
  && grep -q "test hook: the answer to /v1/wallet/enroll dropped" server.err \
  && ok "enroll with its first answer lost: $(tail -1 w.out)" || fail "lost enroll: $ws $(cat w.out)"
audits "a lost enrollment answer"

# ---- 5b. an allowance whose every answer is lost, asked again -------------
# Through tests/e2e/slow_proxy.py, which sends each POST /v1/wallet/allowance
# on to offpayd and drops its answer: the CLI gives up (its resends lost
# too), as after a dead link or a Ctrl-C once offpayd committed. The
# request id was kept beside the wallet (wl.allowance), so asking the same
# again, in a new process, is the same request: one escrow.
# step                                               WL      escrows of wl
# operator deposits 10.00                            1000    -
# allowance 3.00, every answer dropped               700     300 (not here)
# balance: "asked and not answered"; 2.00 refused    700     300
# allowance 3.00 again, straight to offpayd          700     300 (installed)
# allowance 1.00, dropped; sync installs it          600     300 + 100
start_proxy
wallet_init wl
w enroll wl --server "$URL" --code "$(enroll_code)"
WL=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$WL/deposit" '{"amount":"10.00"}'
# offpayd not reached at all (nothing listens): the allowance was surely
# not made, and said so (since 0.26.0; before, "it may have issued")
w allowance wl --server http://127.0.0.1:1 --amount 3.00
[ "$ws" = 3 ] && grep -q "offpayd could not be reached (see above) (EIO): the allowance was NOT made and nothing left the account; nothing retries it by itself: run the same 'offpay wallet allowance' again when offpayd answers" w.out \
  && ! grep -q "may have issued" w.out && [ "$(balance "$WL")" = 1000 ] \
  && ok "allowance with offpayd unreachable: NOT made, said so (3); WL 10.00" \
  || fail "unreached allowance: $ws $(cat w.out); WL $(balance "$WL")"
echo /v1/wallet/allowance > ctl/drop
w allowance wl --server "$PURL" --amount 3.00
[ "$ws" = 3 ] && grep -q "or the same allowance again (the same request: offpayd makes it once)" w.out \
  && [ "$(balance "$WL")" = 700 ] \
  && ok "allowance with every answer dropped: exit 3; offpayd made it once (WL 7.00)" \
  || fail "dropped allowance: $ws $(cat w.out); WL $(balance "$WL")"
# asked again with offpayd unreachable: this try sent nothing, but the one
# before made the escrow, so never "NOT made"
w allowance wl --server http://127.0.0.1:1 --amount 3.00
[ "$ws" = 3 ] && grep -q "it may have issued the credential" w.out && ! grep -q "NOT made" w.out \
  && ok "an unreachable retry of an allowance made before: 'may have issued', not 'NOT made'" \
  || fail "unreachable retry: $ws $(cat w.out)"
rm ctl/drop
w balance wl
grep -q "^an allowance of 3.00 EUR was asked and not answered: run 'offpay wallet sync' (or the same allowance again)$" w.out \
  && ! grep -q "ask one from account" w.out \
  && ok "balance: the allowance asked and not answered, not advice to ask another" || fail "balance: $(cat w.out)"
w allowance wl --server "$URL" --amount 2.00
[ "$ws" = 1 ] && grep -q "an allowance of 3.00 EUR was asked and not answered" w.out \
  && [ "$(balance "$WL")" = 700 ] && ok "another amount meanwhile: refused (1), nothing moved" \
  || fail "another amount: $ws $(cat w.out); WL $(balance "$WL")"
w allowance wl --server "$URL" --amount 3.00
[ "$ws" = 0 ] && grep -qE "^credential [0-9]+ installed: 3.00 EUR, .*account balance 7.00 EUR" w.out \
  && ok "the same allowance again: $(tail -1 w.out)" || fail "the same again: $ws $(cat w.out)"
wreq wl /v1/wallet/status '{}'
[ "$(jget '.credentials | length')" = 1 ] && [ "$(balance "$WL")" = 700 ] \
  && ok "one credential, one escrow of 3.00 across two processes" \
  || fail "after the rerun: $(cat resp.json), WL $(balance "$WL")"
w balance wl
! grep -q "asked and not answered" w.out && ok "answered: balance no longer says it" || fail "still pending: $(cat w.out)"
echo /v1/wallet/allowance > ctl/drop
w allowance wl --server "$PURL" --amount 1.00
rm ctl/drop
w sync wl --server "$URL"
[ "$ws" = 0 ] && grep -q "1 credential(s) installed from the server" w.out \
  && ok "a sync installs the allowance whose answers were lost" || fail "sync wl: $ws $(cat w.out)"
w balance wl
wreq wl /v1/wallet/status '{}'
! grep -q "asked and not answered" w.out && [ "$(jget '.credentials | length')" = 2 ] \
  && [ "$(balance "$WL")" = 600 ] && ok "after the sync: nothing pending, 2 credentials, WL 6.00" \
  || fail "after the sync: $(cat w.out) $(cat resp.json)"
audits "allowances asked again"

# ---- 6b. a sync that waits on offpayd ------------------------------------
# The wallet is let go while offpayd is asked: a payment at a gate does not
# wait on the network (offpayd frozen with SIGSTOP stands for a bad link).
# step                                           WQ     esc SQ   A
# wq enrolled, 20.00 in, allowance 10.00         1000   1000     -
# pay 1.00, ta accepts, uploads                  1000   900      +100
# offpayd frozen while `wallet sync` waits:
#   wallet pay 2.00                              made at once (exit 0)
#   a second sync, an allowance                  stop at once (exit 3)
# offpayd goes on: the sync ends, sent 1 code,   1000   900
#   the 2.00 code counted as not presented
#   (available offline 10.00 - 1.00 - 2.00)
# ta accepts 2.00, uploads; the next sync        1000   700      +200
#   sends both
wallet_init wq
w enroll wq --server "$URL" --code "$(enroll_code)"
WQ=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$WQ/deposit" '{"amount":"20.00"}'
w allowance wq --amount 10.00
SQ=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
[ -n "$SQ" ] && ok "wq: credential $SQ of 10.00" || fail "wq allowance: $(cat w.out)"
MA0=$(balance "$MA")
c=$(pay wq 1.00); accept ta "$c" 1.00 || fail "ta accepts 1.00"
upload ta
expect_http 200 - "ta's upload of wq's 1.00"
kill -STOP "$server_pid"
"$OFFPAY" wallet sync --wallet wq --passphrase-file wp >slow.out 2>&1 &
sync_pid=$!
# waiting on offpayd: the sync has its socket open
for _ in $(seq 1 400); do
  ls -l "/proc/$sync_pid/fd" 2>/dev/null | grep -q "socket:" && break
  sleep 0.05
done
c2=$(timeout 5 "$OFFPAY" wallet pay --wallet wq --passphrase-file wp --currency EUR --amount 2.00 2>pay.err) \
  && ok "wallet pay while the sync waits on offpayd: a code at once" \
  || fail "pay while the sync waits: $(cat pay.err)"
run_cli 3 "another sync or allowance of this wallet with offpayd is running" -- \
  "$OFFPAY" wallet sync --wallet wq --passphrase-file wp
run_cli 3 "another sync or allowance of this wallet with offpayd is running" -- \
  "$OFFPAY" wallet allowance --wallet wq --passphrase-file wp --amount 1.00
kill -0 "$sync_pid" 2>/dev/null && ok "the first sync was still waiting on offpayd meanwhile" \
  || fail "the first sync ended before offpayd went on: $(cat slow.out)"
kill -CONT "$server_pid"
st=0; wait "$sync_pid" || st=$?
[ "$st" = 0 ] && grep -q "^1 codes sent: 1 settled" slow.out \
  && grep -q "^1 code(s) made while the sync ran: sent at the next sync" slow.out \
  && ok "offpayd answered: the sync sent the code it began with, and said one was made meanwhile" \
  || fail "the waiting sync ($st): $(cat slow.out)"
cp slow.out w.out
row "$SQ" | grep -qE "^$SQ .* 7\.00 EUR" \
  && ok "available offline after it: 10.00 - 1.00 settled - 2.00 made meanwhile = 7.00" \
  || fail "wq's row: $(row "$SQ")"
balances "WQ=$WQ:1000 esc=esc/$SQ:900" "the sync moved no money"
accept ta "$c2" 2.00 || fail "ta accepts the 2.00 made meanwhile"
upload ta
expect_http 200 - "ta's upload of wq's 2.00"
w sync wq
[ "$ws" = 0 ] && grep -q "^2 codes sent: 2 settled" w.out && ! grep -q "made while the sync ran" w.out \
  && ok "the next sync sends both, settled" || fail "next sync: $ws $(cat w.out)"
balances "WQ=$WQ:1000 esc=esc/$SQ:700 A=$MA:$((MA0 + 300))" "wq's 3.00 paid once"
# an allowance whose answer comes while another process holds the wallet
# past the wait: offpayd made the escrow, the wallet could not take the
# credential; it says to sync, not to ask again, and the sync installs it
kill -STOP "$server_pid"
"$OFFPAY" wallet allowance --wallet wq --passphrase-file wp --amount 2.00 >slow.out 2>&1 &
al_pid=$!
for _ in $(seq 1 400); do
  ls -l "/proc/$al_pid/fd" 2>/dev/null | grep -q "socket:" && break
  sleep 0.05
done
# offpayd answers only once the other holder has the wallet's lock (a
# loaded machine may start it late: the allowance then took the lock back
# first and installed the credential, and this test failed)
rm -f wq.held
flock wq.lock sh -c 'touch wq.held; sleep 12' &
hold_pid=$!
for _ in $(seq 1 400); do [ -e wq.held ] && break; sleep 0.05; done
[ -e wq.held ] || fail "the other holder did not take wq's lock"
kill -CONT "$server_pid"
st=0; wait "$al_pid" || st=$?
wait "$hold_pid" || true
[ "$st" = 3 ] && grep -q "the allowance is made at offpayd but not installed here: run 'offpay wallet sync' to take it, not another allowance (ESYNC_REQUIRED)" slow.out \
  && ! grep -q "try again" slow.out && [ "$(balance "$WQ")" = 800 ] \
  && ok "an allowance answered while the wallet was held elsewhere: made, not installed, 'sync, not another allowance'" \
  || fail "held allowance ($st): $(cat slow.out), WQ $(balance "$WQ")"
w sync wq
[ "$ws" = 0 ] && grep -q "^1 credential(s) installed from the server" w.out && [ "$(balance "$WQ")" = 800 ] \
  && ok "the sync installs it: one escrow, no second allowance" || fail "sync after held allowance: $ws $(cat w.out)"
audits "a sync that waited on offpayd"

# ---- 6c. a request answered before a sync, answered again after it ----------
# `pay-request` promises the same code again for a request answered before
# (nothing more reserved). A sync rewrites the sealed file with a
# checkpoint at the log's end, and a reopened wallet holds only the codes
# since: the first answer is in the older log, which is read for it.
req=$("$OFFPAY" terminal request --terminal ta --passphrase-file tp --amount 1.00 2>/dev/null)
c1=$("$OFFPAY" wallet pay-request --wallet wq --passphrase-file wp --code "$req" --yes 2>/dev/null)
w sync wq
[ "$ws" = 0 ] && ok "wq synced after answering the request" || fail "sync wq: $(cat w.out)"
w balance wq; avail0=$(grep -E "^  available" w.out | tr '\n' ' ')
c2=$("$OFFPAY" wallet pay-request --wallet wq --passphrase-file wp --code "$req" --yes 2>pr.err)
w balance wq; avail1=$(grep -E "^  available" w.out | tr '\n' ' ')
[ -n "$c1" ] && [ "$c1" = "$c2" ] \
  && grep -q "this request was answered before, by code [0-9]* of credential [0-9]*: the same code again, nothing more reserved" pr.err \
  && [ "$avail0" = "$avail1" ] \
  && ok "the same request after a sync: the same code, nothing more reserved ($avail1)" \
  || fail "request again after a sync: $(cat pr.err); available $avail0 -> $avail1; same code: $([ "$c1" = "$c2" ] && echo yes || echo no)"
# pay-request warns by the clock the last sync measured too (400 s ahead:
# the terminal's request still readable, 400 s old by this clock)
OFFPAY_NOW=$(( $(date +%s) + 400 )) w sync wq
req=$("$OFFPAY" terminal request --terminal ta --passphrase-file tp --amount 0.10 2>/dev/null)
OFFPAY_NOW=$(( $(date +%s) + 400 )) w pay-request wq --code "$req" --yes
[ "$ws" = 0 ] && grep -qE "^offpay: warning: at the last sync \([0-9T:-]+Z\) this device's clock was (39[89]|40[0-2]) s ahead of offpayd's: .*\(ECODE_FUTURE\)" w.out \
  && grep -q "^OPPY:" w.out \
  && ok "pay-request after a sync from a clock 400 s ahead: the code, and the warning" \
  || fail "pay-request, clock ahead: $ws $(cat w.out)"
w sync wq
audits "a request answered again after a sync"

# ---- 6d. a copied wallet gets no new credential -----------------------------
# wk (account 50.00, allowance 20.00) copied to wkc (`cp`): they pay 15.00
# and 14.00 with one counter at two terminals; the second upload opens a
# double_spend case against the credential (an overspend blocks the same:
# unit test_settle).
# The key then gets no new credential: its allowance and the operator's
# issue are 409 EWALLET_CASE naming the case, nothing moves, and the
# operator's view of the wallet lists the case (settlement.md §12).
wallet_init wk
w enroll wk --server "$URL" --code "$(enroll_code)"
WK=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
KEYK=$("$OFFPAY" wallet key --wallet wk --passphrase-file wp)
api POST "/v1/admin/accounts/$WK/deposit" '{"amount":"50.00"}'
w allowance wk --amount 20.00
SK=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
w allowance wk --amount 5.00   # a second credential, which the case leaves unrevoked
for f in wk wk.*; do cp -r "$f" "wkc${f#wk}"; done
new_terminal tka "$MERCHANT"; new_terminal tkb "$MERCHANT"
for tk in tka tkb; do
  "$OFFPAY" terminal risk --terminal $tk --passphrase-file tp \
      --set floor-unbound=100.00 >/dev/null
done
accept tka "$(pay wk 15.00)" 15.00 && accept tkb "$(pay wkc 14.00)" 14.00 \
  && ok "wk and its copy wkc paid 15.00 and 14.00 of credential $SK" || fail "wk payments"
upload tka; upload tkb
CASEK=$(jq -r '.results[0].case // empty' resp.json)
[ -n "$CASEK" ] && [ "$CASEK" != null ] && [ "$(outcomes)" = double_spend ] \
  && ok "the copy's payment opened case $CASEK: $(outcomes)" \
  || fail "no case: $(cat resp.json)"
wk_bal=$(balance "$WK")
w allowance wk --amount 30.00
[ "$ws" != 0 ] && grep -q "EWALLET_CASE" w.out && grep -q "case(s) $CASEK (a copy paid too)" w.out \
  && grep -q "offpayd holds a case against this wallet: .*a copy of this wallet may be in use elsewhere.*contact your operator" w.out \
  && ok "the allowance of the copied key is refused, naming case $CASEK, in the payer's words too" \
  || fail "allowance after the case: $ws $(cat w.out)"
api POST /v1/admin/credentials "{\"account\":\"$WK\",\"wallet_key\":\"$KEYK\",\"limit\":\"30.00\"}"
expect_http 409 EWALLET_CASE "the operator's credential for the copied key"
grep -q "revoke it (POST /v1/admin/wallets/$WK/revoke), then enroll a new key (offpay admin enroll-code --account $WK)" resp.json \
  && ok "the hint says what to do" || fail "hint: $(cat resp.json)"
[ "$(balance "$WK")" = "$wk_bal" ] && ok "account $WK keeps its $wk_bal" || fail "WK: $(balance "$WK"), was $wk_bal"
api GET "/v1/admin/wallets/$WK"
[ "$(jq -c .cases resp.json)" = "[\"$CASEK\"]" ] \
  && ok "GET /v1/admin/wallets/$WK lists case $CASEK" || fail "wallet: $(cat resp.json)"
w sync wkc
[ "$ws" = 0 ] && ! grep -q "installed" w.out \
  && ok "the copy's sync installs nothing new" || fail "wkc sync: $ws $(cat w.out)"
# a renewal offpayd refuses (this key's case) is a warning in the sync's
# report, not a failed sync: the report prints whole, exit 0
w sync wk --renew-days 31
[ "$ws" = 0 ] && grep -qE "^[0-9]+ codes sent" w.out && grep -q "EWALLET_CASE" w.out \
  && grep -q "^offpay: warning: wallet sync: offpayd refused the renewal of 5.00 EUR (see above; EREFUSED): everything else is synced" w.out \
  && grep -qE "^account $WK at .*: balance $(printf '%d.%02d' $((wk_bal / 100)) $((wk_bal % 100))) EUR$" w.out \
  && grep -q "^total: " w.out && [ "$(balance "$WK")" = "$wk_bal" ] \
  && ok "a renewal refused (EWALLET_CASE): a warning, the rest of the report printed, exit 0" \
  || fail "sync with a refused renewal: $ws $(cat w.out)"
audits "a copied wallet"

# ---- 7. every credential expired: the sync renews -----------------------------
# 31 days on, w3's credential (3.00, 30 days by default) has expired; its
# account still holds 6.00: the sync asks for a new one of the expired
# one's limit, where it used to ask for nothing
later=$(( $(date +%s) + 31 * 86400 ))
stop_server
OFFPAY_NOW=$later start_server
OFFPAY_NOW=$later run_cli 1 "credential [0-9]+: expired .*: 'offpay wallet sync' asks a new one" -- \
  "$OFFPAY" wallet pay --wallet w3 --passphrase-file wp --currency EUR --amount 1.00
OFFPAY_NOW=$later w sync w3 --server "$URL"
[ "$ws" = 0 ] && grep -qE "^renewed: credential [0-9]+$" w.out && [ "$(balance "$W3")" = 300 ] \
  && ok "all expired: renewed ($(grep ^renewed w.out)), the account 6.00 -> 3.00" \
  || fail "expired sync: $ws $(cat w.out), W3 $(balance "$W3")"
S3R=$(sed -n 's/^renewed: credential \([0-9]*\)$/\1/p' w.out)
OFFPAY_NOW=$later w sync w3 --server "$URL"
[ "$ws" = 0 ] && ! grep -q "^renewed" w.out && [ "$(balance "$W3")" = 300 ] \
  && ok "the next sync renews nothing" || fail "renewed twice: $(cat w.out)"
# the phone's clock 200 s behind offpayd's (inside the signing window): the
# new credential is not valid yet by it, and that is no reason to renew
OFFPAY_NOW=$((later - 200)) w sync w3 --server "$URL"
[ "$ws" = 0 ] && ! grep -q "^renewed" w.out && [ "$(balance "$W3")" = 300 ] \
  && ok "a sync from a clock 200 s slow renews nothing either" || fail "slow clock renewed: $(cat w.out), W3 $(balance "$W3")"
# 1,000 s slow, beyond the 300 s a signed request may be off: the sync is
# still heard (signed at offpayd's time, read from GET /v1/health) and
# warns that the device's codes are dated by its wrong clock
OFFPAY_NOW=$((later - 1000)) w sync w3 --server "$URL"
[ "$ws" = 0 ] && grep -qE "this device's clock is (999|1000|1001|1002) s behind offpayd's: .*set the clock right" w.out \
  && [ "$(grep -c "this device's clock is" w.out)" = 1 ] \
  && ok "a sync from a clock 1,000 s slow is heard, and warns once" || fail "slow sync: $ws $(cat w.out)"
OFFPAY_NOW=$later w balance w3
grep -qE "\(none of it can be spent: expired; settlement returns it to the account on [0-9T:-]+Z\)" w.out \
  && ok "balance: the expired credential's available is not spendable" || fail "balance: $(cat w.out)"
OFFPAY_NOW=$later audits "renewal of expired credentials"

# ---- 8. a phone whose clock runs 600 s ahead ------------------------------
# Its codes are dated 600 s in terminals' future (ECODE_FUTURE beyond their
# 120 s skew) and stay reserved until the credential's expiry and the
# upload grace. The sync measures it (and warns, as before); the offset is
# kept in w3.online, so each later `wallet pay` says it on one line, and
# still makes the code (the clock may have been set right since). A sync
# from a clock set right clears it.
OFFPAY_NOW=$((later + 600)) w sync w3 --server "$URL"
[ "$ws" = 0 ] && grep -qE "this device's clock is (59[89]|60[0-2]) s ahead of offpayd's" w.out \
  && [ "$(jq -r .clock_offset w3.online)" -le -598 ] && [ "$(jq -r .clock_at w3.online)" = $((later + 600)) ] \
  && ok "sync from a clock 600 s ahead: w3.online keeps clock_offset $(jq -r .clock_offset w3.online)" \
  || fail "ahead sync: $ws $(cat w.out) $(cat w3.online)"
clockwarn="^offpay: warning: at the last sync \([0-9T:-]+Z\) this device's clock was (59[89]|60[0-2]) s ahead of offpayd's: a terminal refuses a code dated more than 120 s after its own clock \(ECODE_FUTURE\).* set the clock right"
OFFPAY_NOW=$((later + 700)) w pay w3 --currency EUR --amount 0.50
[ "$ws" = 0 ] && grep -qE "$clockwarn" w.out && [ "$(grep -c "at the last sync" w.out)" = 1 ] \
  && grep -q "^OPPY:" w.out \
  && ok "wallet pay after it: the code made, and one line says the clock was 600 s ahead" \
  || fail "pay with a clock ahead: $ws $(cat w.out)"
# the code stays pending: balance says when its money comes back
# unpresented, on the release date offpayd gave at the sync (GET
# /v1/admin/credentials/N's release_due: its expiry + the 14-day grace)
api GET "/v1/admin/credentials/$S3R"
due3=$(jget .release_due); exp3=$(jget .expires)
[ "$due3" = $((exp3 + 14 * 86400)) ] && [ "$(jget .late_until)" = $((due3 + 30 * 86400)) ] \
  && [ "$(jget .escrow_account)" -gt 0 ] \
  && ok "credential $S3R: release_due = expires + 14 days, late_until 30 days after, escrow_account $(jget .escrow_account)" \
  || fail "credential $S3R's dues: $(cat resp.json)"
OFFPAY_NOW=$((later + 700)) w balance w3
grep -qx "  returns    $(iso "$due3"): offpayd's release of what the escrow still holds (the pending codes' money too, if no terminal presents them) to your account" w.out \
  && ok "balance: the pending code's money comes back unpresented on offpayd's release date" \
  || fail "balance returns: $(cat w.out)"
OFFPAY_NOW=$later w sync w3 --server "$URL"
OFFPAY_NOW=$later w pay w3 --currency EUR --amount 0.50
[ "$ws" = 0 ] && ! grep -q "at the last sync" w.out && [ "$(jq -r .clock_offset w3.online)" -le 2 ] \
  && ok "after a sync from a clock set right: no warning" || fail "pay, clock right: $ws $(cat w.out) $(cat w3.online)"
OFFPAY_NOW=$later audits "a clock ahead"

# ---- 9. the escrow released with codes pending --------------------------------
# Neither 0.50 code of w3's credential was ever presented; a day after its
# release date offpayd releases the whole 3.00. The sync after it keeps
# what offpayd says of the release, and `wallet balance` says the 3.00
# went back to the account and when, shows nothing available (not
# -1.00: the escrow holds nothing), promises no release any more, and
# says the pending codes are taken from the account if presented before
# the late window ends. Then an operator's revocation of the renewed
# credential: `admin revoke-credential` and `wallet balance` give the
# date its escrow comes back, not the credential's signed expiry.
rel=$((due3 + 86400))
stop_server
OFFPAY_NOW=$rel start_server
api POST /v1/admin/release '{}'
api GET "/v1/admin/credentials/$S3R"
rat3=$(jget .released_at)
[ "$(jget .released)" = true ] && [ "$(jget .escrow.released.minor)" = 300 ] \
  && [ "$(jget .late_until)" = $((rat3 + 30 * 86400)) ] \
  && ok "day $(( (rel - later) / 86400 )): $S3R's 3.00 released, the late window from the release" \
  || fail "release of $S3R: $(cat resp.json)"
OFFPAY_NOW=$rel w sync w3 --server "$URL"
S3N=$(sed -n 's/^renewed: credential \([0-9]*\)$/\1/p' w.out)
OFFPAY_NOW=$rel w balance w3
sed -n "/^credential $S3R:/,/^credential /p" w.out > c3.out
grep -qx "  returned   3.00 EUR released to your account on $(iso "$rat3") (what the escrow held then)" c3.out \
  && grep -qx "  late       a pending code a terminal presents until $(iso $((rat3 + 30 * 86400))) is paid from your account (up to 1.00 EUR)" c3.out \
  && grep -qE "^  available  0\.00 EUR  \(none of it can be spent: the escrow was released\)$" c3.out \
  && ! grep -q "returns" c3.out && ! grep -q -- "-1.00" c3.out \
  && ok "balance after the release: 3.00 returned on its date, available 0.00, pending codes the account's until the late window ends" \
  || fail "balance after the release: $(cat w.out)"
run_cli 0 "its escrow \(3.00 EUR left\) returns to the account on [0-9T:-]+Z \(its expiry, [0-9T:-]+Z, plus offpayd's upload grace\)" -- \
  env OFFPAY_NOW=$rel "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$S3N"
api GET "/v1/admin/credentials/$S3N"
dueN=$(jget .release_due)
OFFPAY_NOW=$rel w sync w3 --server "$URL"
OFFPAY_NOW=$rel w balance w3
sed -n "/^credential $S3N:/,/^credential /p" w.out > cN.out
grep -qx "  returns    $(iso "$dueN"): offpayd's release of what the escrow still holds to your account" cN.out \
  && grep -q "revoked" cN.out \
  && ok "balance of the revoked credential: its escrow back on $(iso "$dueN")" \
  || fail "revoked credential's balance: $(cat w.out)"
OFFPAY_NOW=$rel audits "an escrow released with codes pending"

# ---- 10. what came back is held for the late codes ---------------------------
# (settlement.md §6) From a day after part 9 (day 0): wallet wh has 50.00,
# an allowance of 50.00, and spends 2.00. It expires on day 30; offpayd
# releases the 48.00 left on day 45, which the account then holds until
# the late window ends, 30 days after the release. The wallet says so, the
# sync's renewal asks at most the balance less what is held (nothing: it
# says why; after a deposit of 20.00: 20.00), and the operator sees it.
# day  step                                       WH     held   sync
# 0    deposit 50.00, allowance 50.00, pay 2.00   0      -
# 31   expired: balance says when and the hold     0      -
# 45   release: 48.00 back                        4800   4800   not renewed
# 45   deposit 20.00                              6800   4800   renewed 20.00
# 76   the late window over                       4800   0
D=86400
B=$((rel + D))
export OFFPAY_NOW=$B
stop_server
start_server
wallet_init wh
w enroll wh --server "$URL" --code "$(enroll_code)"
WH=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$WH/deposit" '{"amount":"50.00"}'
w allowance wh --amount 50.00
SH=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
new_terminal th "$MERCHANT"
accept th "$(pay wh 2.00)" 2.00 && upload th --time "$B"
w sync wh --server "$URL"
[ "$ws" = 0 ] && ok "day 0: synced" || fail "day 0: $ws $(cat w.out)"
balances "W=$WH:0 esc=esc/$SH:4800" "day 0: 2.00 of 50.00 spent"
api GET "/v1/admin/credentials/$SH"
dueH=$(jget .release_due); lateH=$(jget .late_until)
export OFFPAY_NOW=$((B + 31 * D))
w balance wh
grep -qF "  available  48.00 EUR  (none of it can be spent: expired; settlement returns it to the account on $(iso "$dueH"))" w.out \
  && grep -qxF "  account    what comes back is held until $(iso "$lateH") for codes presented late (a new allowance from it then; a deposit funds one at once)" w.out \
  && ok "day 31: balance says when the 48.00 comes back, and until when it is held" \
  || fail "day 31 balance: $(cat w.out)"
export OFFPAY_NOW=$((B + 45 * D))
stop_server
start_server
api POST /v1/admin/release '{}'
api GET "/v1/admin/credentials/$SH"
ratH=$(jget .released_at); untilH=$(iso $((ratH + 30 * D)))
held_line="  of it held 48.00 EUR until $untilH for the codes of released credentials that terminals may still upload late (a new allowance from it then; a deposit funds one at once)"
w sync wh --server "$URL"
[ "$ws" = 0 ] && grep -qE "^[0-9]+ codes sent" w.out \
  && grep -qxF "not renewed: the account's 48.00 EUR of 48.00 EUR is held until $untilH for the codes of released credentials that terminals may still upload late (a new allowance from it then; a deposit funds one at once)" w.out \
  && grep -qxF "$held_line" w.out && ! grep -q "EFUNDS" w.out \
  && [ "$(balance "$WH")" = 4800 ] \
  && ok "day 45: the sync asks nothing of the 48.00 held until $untilH, and says so" \
  || fail "day 45 sync: $ws $(cat w.out)"
api POST "/v1/admin/accounts/$WH/deposit" '{"amount":"20.00"}'
w sync wh --server "$URL"
SH2=$(sed -n 's/^renewed: credential \([0-9]*\)$/\1/p' w.out)
[ "$ws" = 0 ] && [ -n "$SH2" ] \
  && grep -qxF "renewed for 20.00 EUR: the account's 48.00 EUR is held until $untilH" w.out \
  && grep -qE "^account $WH at .*: balance 48.00 EUR$" w.out && grep -qxF "$held_line" w.out \
  && ok "day 45, after a deposit of 20.00: renewed for 20.00 (credential $SH2)" \
  || fail "day 45 renewal: $ws $(cat w.out)"
balances "W=$WH:4800 esc=esc/$SH2:2000" "day 45: the renewal took the 20.00 deposited"
w balance wh
grep -qxF "  account    48.00 EUR came back; until $untilH codes presented late are paid from the account (a new allowance from it then; a deposit funds one at once)" w.out \
  && ok "day 45: balance says 48.00 came back, late codes paid from the account until $untilH" || fail "day 45 balance: $(cat w.out)"
api GET "/v1/admin/wallets/$WH"
[ "$(jget .late_held.decimal)" = 48.00 ] && [ "$(jget .late_held_until)" = $((ratH + 30 * D)) ] \
  && [ "$(jget .late_until)" -ge $((ratH + 30 * D)) ] \
  && ok "GET /v1/admin/wallets/$WH: late_held 48.00 until the late window's end" \
  || fail "admin wallet: $(cat resp.json)"
api GET "/v1/admin/accounts?after=$((WH - 1))&limit=1"
[ "$(jget '.accounts[0].late_held.decimal')" = 48.00 ] \
  && [ "$(jget '.accounts[0].late_held_until')" = $((ratH + 30 * D)) ] \
  && ok "GET /v1/admin/accounts: late_held 48.00" || fail "accounts: $(cat resp.json)"
run_cli 0 "^account $WH  48.00 EUR .*held 48.00 EUR until $untilH" -- \
  "$OFFPAY" admin accounts --db "$LEDGER" --after $((WH - 1)) --limit 1
"$OFFPAY" admin accounts --db "$LEDGER" --after $((WH - 1)) --limit 1 --json > acc.json
[ "$(jq -r '.accounts[0].late_held' acc.json)" = 48.00 ] \
  && [ "$(jq -r '.accounts[0].late_held_until' acc.json)" = "$untilH" ] \
  && ok "offpay admin accounts --json: late_held 48.00 until $untilH" || fail "accounts --json: $(cat acc.json)"
audits "day 45: what came back is held"
export OFFPAY_NOW=$((ratH + 30 * D + 1))
stop_server
start_server
api GET "/v1/admin/wallets/$WH"
[ "$(jget .late_held.decimal)" = 0.00 ] && [ "$(jget .late_held_until)" = null ] \
  && ok "a second after the late window: nothing held" || fail "after the window: $(cat resp.json)"
w balance wh
! grep -q "held 48.00" w.out && ok "balance: no hold after the late window" || fail "balance after: $(cat w.out)"
audits "the late window over"
unset OFFPAY_NOW


finish
