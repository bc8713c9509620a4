#!/usr/bin/env bash
# offpayd_sync.sh — the terminal's own uploader, `offpay terminal sync
# --server URL`, against the real offpayd: payments accepted offline reach
# the ledger exactly once, a second sync sends nothing, the terminal takes
# offpayd's newest revocation list (and refuses a revoked credential after
# it), an upload while offpayd is down fails with nothing marked and is
# resent whole later, and a sync killed at random moments never loses or
# doubles a payment, a terminal whose clock runs ahead records the offset
# it saw and still delivers, and a terminal the operator revoked learns it
# at its sync and accepts nothing more; a code one merchant's two terminals
# took (a gate that did not open) is said at the second one's sync, in
# words: the merchant was paid for it already, and refunding the first
# charge would lose the fare. The audit passes after every step.
# The marking job runs every second throughout (docs/settlement.md §10):
# the statements and balances are read through marks made at every point.
export OFFPAYD_MARK_EVERY=1
source "$(dirname "$0")/offpayd_lib.sh"
start_server
default_chunk_is_right
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; MID=$MERCHANT; new_terminal ta "$MERCHANT"
W=$(new_account payer-1 200.00)
new_wallet w1 "$W" 100.00; S1=$SERIAL
T=(--terminal ta --passphrase-file tp)
# ta's and w1's credentials were installed from offpayd's base64 text
# (offpayd_lib.sh); text that is not canonical base64 is refused
run_cli 2 "--server is offpayd's address with its scheme" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "${URL#http://}"
# the address with /v1 on it (every path of api.md begins with it): said,
# not "no such endpoint" for /v1/v1/... (since 0.25.0)
run_cli 2 "--server is offpayd's address without /v1 \(each request's path begins with it\)" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL/v1"
run_cli 2 "--server is offpayd's address without /v1" -- \
  "$OFFPAY" admin cases --server "$URL/v1/" --token-file token
printf 'QR==\n' > bad.cred
run_cli 1 "bad.cred: neither a credential nor one in base64 \(EMALFORMED\)" -- \
  "$OFFPAY" terminal set-credential bad.cred "${T[@]}"

# ---- 1. offline, then one sync ------------------------------------------
for a in 1.00 2.00 3.00; do c=$(pay w1 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
run_cli 0 "uploaded 3 payment\(s\): 3 decided \(3 paid, 6.00 EUR; 0 refused\), 0 left" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S1:9400 A=$MA:600" "three payments settled"
run_cli 0 "uploaded 0 payment\(s\)" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S1:9400 A=$MA:600" "a second sync sends nothing"
run_cli 0 "synced with .*/: the newest bundle and revocation list taken" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL/"
# the offpayd a terminal synced with is remembered: no --server needed
run_cli 0 "syncing with $URL/ \(the offpayd this terminal last synced with\)" -- "$OFFPAY" terminal sync "${T[@]}"
run_cli 0 "synced with $URL/: the newest" -- "$OFFPAY" terminal sync "${T[@]}"
# --json, for a script watching a fleet: one object, the same exit status
c=$(pay w1 0.50); accept ta "$c" 0.50 || fail "accept 0.50"
# the journal keeps each result: the merchant sees what was paid, later too
"$OFFPAY" terminal journal --terminal ta --json > j.json
[ "$(jq -sc '[.[] | [.seq, .uploaded, .settlement.outcome, .settlement.paid_minor, .settlement.case]]' j.json)" = \
  '[[1,true,"settled",100,null],[2,true,"settled",200,null],[3,true,"settled",300,null],[4,false,null,null,null]]' ] \
  && "$OFFPAY" decode --json --code "$(jq -r 'select(.seq == 1) | .code' j.json)" > code.json \
  && [ "$(jq -c '[.credential.serial, .counter]' code.json)" = '["'"$S1"'",1]' ] \
  && ok "journal --json: three settled with what was paid, the new one not uploaded, each with its code" \
  || fail "journal --json: $(cat j.json)"
"$OFFPAY" terminal journal --terminal ta > j.txt
grep -qE "^3 .* 3.00 EUR +3.00 EUR  paid 3.00$" j.txt && grep -qE "^4 .*  not uploaded yet$" j.txt \
  && grep -q "^settlement: 3 paid in full, 0 paid in part, 0 not paid, 0 refused; paid 6.00 EUR in all; 1 not uploaded yet$" j.txt \
  && ok "journal: paid 3.00, not uploaded yet, and the sums" || fail "journal: $(cat j.txt)"
st=0; "$OFFPAY" terminal sync "${T[@]}" --server "$URL" --json >sync.json 2>sync.err || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.sent, .decided, .paid_count, .refused, .not_paid_in_full, .left, .paid.minor, .paid.decimal, .synced, .revoked, .rechecked, .lost, .exit, .error]' sync.json)" = \
  '[1,1,1,0,0,0,50,"0.50",true,false,3,0,0,""]' ] && [ "$(jq -r '.clock_offset | type' sync.json)" = number ] \
  && [ "$(wc -l < sync.json)" = 1 ] \
  && ok "sync --json: one object, 1 paid 0.50, the 3 paid before asked about and held, exit 0" || fail "sync --json ($st): $(cat sync.json sync.err)"
balances "esc=esc/$S1:9350 A=$MA:650" "the payment synced with --json settled"
[ "$("$OFFPAY" terminal journal --terminal ta --json | jq -c 'select(.seq == 4) | [.uploaded, .settlement.outcome, .settlement.paid]')" = \
  '[true,"settled","0.50"]' ] && ok "journal: the 0.50 settled since" || fail "journal after the sync"
audit_passes "terminal sync --server"

# ---- 1b. the merchant's duplicate, said in words at the sync -------------
# (settlement.md §4) a gate that did not open: one unbound code of 20.00
# charged 15.00 at gm1 and again at gm2, the same merchant's
# step                                          escrow  M
# gm1 syncs: paid 15.00                         500     1500
# gm2 syncs: paid only the code's 5.00 left     0       2000   EDUPLICATE_MERCHANT,
#   (no case), exit 1; the line says why and              why, do not refund
#   not to refund the first charge
new_merchant "Gates"; MG=$MACCT; new_terminal gm1 "$MERCHANT"; new_terminal gm2 "$MERCHANT"
WD=$(new_account payer-d 20.00)
new_wallet wd "$WD" 20.00; SD=$SERIAL
c=$(pay wd 20.00)
accept gm1 "$c" 15.00 && accept gm2 "$c" 15.00 && ok "one code accepted at gm1 and gm2" \
  || fail "accept at gm1 and gm2"
run_cli 0 "1 decided \(1 paid, 15.00 EUR" -- "$OFFPAY" terminal sync --terminal gm1 --passphrase-file tp --server "$URL"
st=0; out=$("$OFFPAY" terminal sync --terminal gm2 --passphrase-file tp --server "$URL" 2>&1) || st=$?
[ "$st" = 1 ] && grep -qx "offpay: journal entry 1 not paid in full by offpayd (EDUPLICATE_MERCHANT): paid 5.00 EUR of its charge, duplicate: this merchant was already paid for this code, when one of its terminals presented it before, so it is not paid again beyond what the code authorized; do not refund that first charge to make up for it: this one would still not be paid, and the fare would be lost" <<<"$out" \
  && ! grep -qE "case [0-9]" <<<"$out" \
  && ok "gm2's sync: paid 5.00, EDUPLICATE_MERCHANT, why and not to refund the first charge, exit 1" \
  || fail "gm2 sync ($st): $out"
balances "esc=esc/$SD:0 M=$MG:2000" "the merchant paid the code's 20.00, once"
# the report: 30.00 charged at the gates, 20.00 paid, and the 10.00 the
# second gate charged beyond the code is unpaid (since 0.28.0), neither
# owed nor paid later: what no one pays
api GET "/v1/admin/report"
[ "$(jq -c --arg m "$MERCHANT" '.merchants[] | select(.merchant == $m) | [.charged.minor, .paid.minor, .owed.minor, .paid_later.minor, .unpaid.minor]' resp.json)" = "[3000,2000,0,0,1000]" ] \
  && ok "report: the gates' 30.00 charged, 20.00 paid, 10.00 unpaid (the duplicate beyond the code)" \
  || fail "report of the gates: $(jq -c --arg m "$MERCHANT" '.merchants[] | select(.merchant == $m)' resp.json)"
# ... as the merchant's statement totals them (since 0.28.0), in words too
api GET "/v1/admin/merchants/$MERCHANT/statement"
[ "$(jq -c '[.charged.minor, .paid.minor, .paid_later.minor, .owed.minor, .unpaid.minor]' resp.json)" = "[3000,2000,0,0,1000]" ] \
  && ok "statement: charged 30.00, paid 20.00, unpaid 10.00" || fail "statement of the gates: $(jq -c '{charged, paid, paid_later, owed, unpaid}' resp.json)"
run_cli 0 "^charged 30.00 EUR: paid 20.00 EUR, paid later by the guarantee 0.00 EUR to date, owed by it 0.00 EUR now, not paid 10.00 EUR \(refused on these lines, beyond the rules, or presented again\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MERCHANT"
audit_passes "the merchant's duplicate"

# ---- 1c. a duplicate the guarantee owes, said as owed at the sync --------
# (settlement.md §5) one unbound code of 10.00 taken by three merchants'
# terminals, the guarantee empty: the second and third are duplicates,
# paid 0.00, EFUNDS: claims on the guarantee, which a deposit pays. The
# sync says the 10.00 is owed by the guarantee, paid once it is funded,
# never that it will not be paid; the journal says so too, --json counts it.
# step                                          escrow  X1    X2    X3    G
# dx1 syncs: paid 10.00                         0       1000  0     0     0
# dx2 syncs: duplicate, paid 0.00, EFUNDS,      0       1000  0     0     0
#   case opened, exit 1; owed
# dx3 syncs --json: the same, owed_by_guarantee 1
# 20.00 deposited into the guarantee            0       1000  1000  1000  0
new_merchant "Kiosk X1"; MX1=$MACCT; new_terminal dx1 "$MERCHANT"
new_merchant "Kiosk X2"; MX2=$MACCT; MIDX2=$MERCHANT; new_terminal dx2 "$MERCHANT"
new_merchant "Kiosk X3"; MX3=$MACCT; new_terminal dx3 "$MERCHANT"
WX=$(new_account payer-x 10.00)
new_wallet wx "$WX" 10.00; SX=$SERIAL
c=$(pay wx 10.00)
accept dx1 "$c" 10.00 && accept dx2 "$c" 10.00 && accept dx3 "$c" 10.00 \
  && ok "one code accepted at three merchants' terminals" || fail "accept at dx1, dx2 and dx3"
run_cli 0 "1 decided \(1 paid, 10.00 EUR" -- "$OFFPAY" terminal sync --terminal dx1 --passphrase-file tp --server "$URL"
st=0; out=$("$OFFPAY" terminal sync --terminal dx2 --passphrase-file tp --server "$URL" 2>&1) || st=$?
[ "$st" = 1 ] && grep -qE "^offpay: journal entry 1 not paid in full by offpayd \(EFUNDS\): paid 0.00 EUR of its charge, duplicate, case [0-9]+: the rest is owed by the issuer's guarantee, which pays it to the merchant once it is funded \(the merchant's statement shows it: paid_later\)$" <<<"$out" \
  && grep -qx "offpay: sync with offpayd: 1 payment(s) not paid in full (why is above): 1 of them owed by the issuer's guarantee, paid once it is funded" <<<"$out" \
  && ! grep -q "will not be" <<<"$out" \
  && ok "dx2's sync: a duplicate paid 0.00 (EFUNDS), said as owed by the guarantee, exit 1" \
  || fail "dx2 sync ($st): $out"
run_cli 0 "paid 0.00 of it: EFUNDS, owed by the issuer's guarantee \(duplicate, case [0-9]+\)" -- \
  "$OFFPAY" terminal journal --terminal dx2
# offpayd's log line of the upload counts it, with the money short (since
# 0.26.0; before, "0 left unpaid": only an outcome named unpaid counted)
grep -qE "terminal [0-9]+ \(merchant $MIDX2\) uploaded 1 item\(s\): 0 paid partly or wholly by the guarantee \(0.00 EUR covered\), 1 case\(s\) opened \(the first: case [0-9]+\), 1 not paid in full \(10.00 EUR short: each result says whether it is owed\), 0 refused" server.err \
  && ok "offpayd's log: dx2's upload 1 not paid in full, 10.00 EUR short" \
  || fail "dx2's upload log: $(grep "merchant $MIDX2) uploaded" server.err)"
st=0; "$OFFPAY" terminal sync --terminal dx3 --passphrase-file tp --server "$URL" --json >sync.json 2>sync.err || st=$?
[ "$st" = 1 ] && [ "$(jq -c '[.decided, .not_paid_in_full, .owed_by_guarantee, .paid.minor]' sync.json)" = '[1,1,1,0]' ] \
  && ok "dx3's sync --json: owed_by_guarantee 1" || fail "dx3 sync --json ($st): $(cat sync.json sync.err)"
api POST /v1/admin/guarantee '{"currency":"EUR"}'; GX=$(jget .account)
# (on shards a deposit into the guarantee is split evenly over the shards'
# parts, and each pays its own shard's claims: settlement.md §11 rule 6;
# each part gets 20.00 there, what is left stays)
fund=20.00 left=0
[ -z "${OFFPAY_TEST_SHARDS:-}" ] || fund=$((20 * OFFPAY_TEST_SHARDS)).00 left=$((2000 * OFFPAY_TEST_SHARDS - 2000))
api POST "/v1/admin/accounts/$GX/deposit" "{\"amount\":\"$fund\",\"ref\":\"guarantee funded\"}"
expect_http 200 - "$fund into the guarantee"
balances "X1=$MX1:1000 X2=$MX2:1000 X3=$MX3:1000 G=$GX:$left esc=esc/$SX:0" "the deposit paid what was owed to dx2's and dx3's merchants"
api GET "/v1/admin/merchants/$MIDX2/statement"
[ "$(jq -c '.lines[0] | [.outcome, .reason, .paid.minor, .paid_later.minor]' resp.json)" = '["duplicate","EFUNDS",0,1000]' ] \
  && [ "$(jq -c '[.movement_sums | .settled.minor, .other.minor]' resp.json)" = '[0,1000]' ] \
  && [ "$(jq -c '[.movements[] | [.kind, .other_kind, .amount.minor]]' resp.json)" = '[["claim","guarantee",1000]]' ] \
  && ok "the statement: dx2's duplicate paid later by the guarantee, a claim summed in movement_sums.other" \
  || fail "statement X2: $(cat resp.json)"
audit_passes "a duplicate the guarantee owed, paid later"

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
# in batches of one: both still counted (before 0.25.0, one batch's worth)
run_cli 3 "0 decided .*, 2 left to upload" -- "$OFFPAY" terminal sync "${T[@]}" --server "$URL" --batch 1
st=0; "$OFFPAY" terminal sync "${T[@]}" --server "$URL" > down.out 2> down.err || st=$?
[ "$st" = 3 ] && head -1 down.out | grep -q "^NOT SYNCED with $URL: 2 payment(s) not uploaded yet stay safe in the journal" \
  && grep -q "offpayd could not be reached" down.err \
  && ok "offpayd down: its first line says NOT SYNCED, and that the 2 payments are safe" || fail "down ($st): $(cat down.out down.err)"
run_cli 3 "sync with offpayd: offpayd could not be reached" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
start_server
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 9.00 EUR" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S2:9100 A=$MA:1550" "resent after the outage, settled once"
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
balances "esc=esc/$S3:$((30000 - total)) A=$MA:$((1550 + total))" \
  "30 payments after 6 killed syncs: each settled exactly once"
audit_passes "killed syncs"

# ---- 5. the clock offset it saw ---------------------------------------------
# The terminal's clock runs 10 minutes ahead (OFFPAY_NOW for it and the
# payer's phone), beyond offpayd's 300 s request window: the sync reads
# offpayd's time, records the offset, warns, and signs its requests at the
# corrected time, so they are heard. The payment, dated 10 minutes after
# offpayd's clock, is not decided (nothing lost, nothing moves) and is sent
# again at each sync until offpayd's clock has reached it (here offpayd is
# restarted 10 minutes on, with OFFPAY_NOW); then it settles.
ahead=$(( $(date +%s) + 600 ))
c=$(OFFPAY_NOW=$ahead pay w3 2.00)
OFFPAY_NOW=$ahead accept ta "$c" 2.00 || fail "accept with the clock ahead"
# (each of these syncs exits 3: a payment is left undecided, and a script
# running the sync must see that it is not settled)
OFFPAY_NOW=$ahead run_cli 3 "clock: this terminal's is (599|600|601) s ahead of offpayd's clock" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
OFFPAY_NOW=$ahead run_cli 3 "WARNING: this terminal's clock was (599|600|601) s ahead" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
OFFPAY_NOW=$ahead run_cli 3 "journal entry [0-9]+ not decided by offpayd yet \(ECODE_FUTURE\): it was accepted at a time after offpayd's clock now \(this terminal's clock ran ahead then\); it is sent again at each sync and decided once offpayd's clock passes that time" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
# its clock set right, the status says the payment is dated after it (not
# "0.0 h ago")
run_cli 0 "the oldest accepted [0-9T:-]+Z: after this clock now, as the clock read then \(it ran ahead\)" -- \
  "$OFFPAY" terminal status --terminal ta
OFFPAY_NOW=$ahead run_cli 3 "uploaded 1 payment\(s\): 0 decided .*, 1 left to upload" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
OFFPAY_NOW=$ahead run_cli 3 "1 payment\(s\) not decided by offpayd \(why is above\): they stay in the journal" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
OFFPAY_NOW=$ahead run_cli 0 "journal .* 1 not yet decided by offpayd \(terminal sync --server\)" -- \
  "$OFFPAY" terminal status --terminal ta
[ "$(OFFPAY_NOW=$ahead "$OFFPAY" terminal status --terminal ta --json | jq .journal.not_uploaded)" = 1 ] \
  && ok "status --json: journal.not_uploaded 1" || fail "status --json not_uploaded"
balances "esc=esc/$S3:$((30000 - total)) A=$MA:$((1550 + total))" \
  "dated after offpayd's clock: not decided, nothing moved"
off=$("$OFFPAY" terminal status --terminal ta --json | jq .clock.offpayd_offset_seconds)
[ "$off" -ge -601 ] && [ "$off" -le -599 ] && ok "status: offset $off s recorded" \
  || fail "status: offset $off"
OFFPAY_NOW=$ahead run_cli 0 "at the last sync \(.*\): (599|600|601) s ahead of offpayd's clock" -- \
  "$OFFPAY" terminal status --terminal ta
stop_server TERM
OFFPAY_NOW=$((ahead + 5)) start_server
OFFPAY_NOW=$ahead run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 2.00 EUR.*0 left" -- \
  "$OFFPAY" terminal sync "${T[@]}" --server "$URL"
balances "esc=esc/$S3:$((30000 - total - 200)) A=$MA:$((1550 + total + 200))" \
  "offpayd's clock reached it: settled"
off=$("$OFFPAY" terminal status --terminal ta --json | jq .clock.offpayd_offset_seconds)
[ "$off" -ge 3 ] && [ "$off" -le 7 ] && ok "clock now within seconds: offset $off s" \
  || fail "offset after the restart: $off"
audit_passes "clock offset"

# ---- 6. a terminal revoked by the operator learns it at its sync ----------
# tb: 1.00 accepted after its    its sync: refused (ETERMINAL_REVOKED, never
#     revocation                 paid, exit 1), says REVOKED, accepts no more
# tc: 3.00 accepted, then        its sync uploads the 3.00 (paid: accepted
#     the operator revokes it    before the revocation), says REVOKED;
#                                accept refuses ETERMINAL_REVOKED, status says so
stop_server TERM
clock_back
start_server # on the real clock again
# ta holds the list offpayd signed 10 minutes ahead (section 5): on the
# real clock it refuses (ECLOCK_BEHIND). After a credential's revocation
# its sync asks offpayd's full list, not the delta after the list held:
# a delta signed before that list would not make up for what the list
# left out, so the terminal would take it and go on refusing until real
# time reached that list (docs/protocol.md §5.3 step 0b, §5.7); the full
# list forgives the clock that ran ahead, and ta accepts at once
# (a credential from W3's account for a key of its own: no new account,
# which would change the shard later payers land on)
run_cli 0 "NOT ACCEPTING payments \(ECLOCK_BEHIND" -- "$OFFPAY" terminal status --terminal ta
wallet_init w6a
api POST /v1/admin/credentials "{\"account\":\"$W3\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w6a --passphrase-file wp)\",\"limit\":\"5.00\"}"
S6a=$(jget .serial)
api POST "/v1/admin/credentials/$S6a/revoke" '{}'
[ "$status" = 200 ] || fail "revoke $S6a: $status $(cat resp.json)"
held=$("$OFFPAY" terminal status --terminal ta --json | jq -c .revocation_list)
st=0; "$OFFPAY" terminal sync "${T[@]}" --server "$URL" > s6.out 2>&1 || st=$?
[ "$st" = 0 ] && "$OFFPAY" terminal status --terminal ta | grep -qE "^state +accepting payments" \
  && ok "ta took offpayd's full list and accepts again" \
  || fail "ta after its sync (exit $st; held $held): $(cat s6.out; "$OFFPAY" terminal status --terminal ta --json | jq -c '[.revocation_list, .clock]')"
new_terminal tb "$MID"; TB=$TID
new_terminal tc "$MID"; TC=$TID
W4=$(new_account payer-4 50.00)
new_wallet w4 "$W4" 20.00; S4=$SERIAL
c=$(pay w4 3.00)
accept tc "$c" 3.00 && ok "tc accepted 3.00" || fail "tc accept"
sleep 1
for t in "$TB" "$TC"; do
  api POST "/v1/admin/terminals/$t/revoke" '{}'
  expect_http 200 - "terminal $t revoked"
done
c=$(pay w4 1.00)
accept tb "$c" 1.00 && ok "tb, revoked but not told yet, accepted 1.00" || fail "tb accept"
st=0; out=$("$OFFPAY" terminal sync --terminal tb --passphrase-file tp --server "$URL" 2>&1) || st=$?
[ "$st" = 1 ] && grep -q "REVOKED: offpayd has revoked this terminal" <<<"$out" \
  && grep -q "journal entry 1 refused by offpayd: ETERMINAL_REVOKED" <<<"$out" \
  && grep -q "1 payment(s) refused by offpayd (why is above): they will not be paid" <<<"$out" \
  && ok "tb's sync: its 1.00 refused (ETERMINAL_REVOKED), REVOKED, exit 1" || fail "tb sync ($st): $out"
run_cli 0 "refused: ETERMINAL_REVOKED" -- "$OFFPAY" terminal journal --terminal tb
run_cli 0 "settlement: 0 paid in full, 0 paid in part, 0 not paid, 1 refused; paid 0.00 EUR in all; 0 not uploaded yet" -- \
  "$OFFPAY" terminal journal --terminal tb
run_cli 0 "exported 1 payment" -- "$OFFPAY" terminal export --terminal tb tb-export
grep -qE "^1,.*,1.00,rejected,0,0.00,ETERMINAL_REVOKED,,,,0,0.00"$'\r'"$" tb-export/payments.csv \
  && [ "$(jq -c '.payments[0].settlement | [.outcome, .paid_minor, .reason]' tb-export/payments.json)" = '["rejected",0,"ETERMINAL_REVOKED"]' ] \
  && ok "export: the CSV and JSON say it was refused, and why" || fail "export: $(cat tb-export/payments.csv)"
run_cli 1 "uploaded 0 payment" -- "$OFFPAY" terminal sync --terminal tb --passphrase-file tp --server "$URL"
st=0; out=$("$OFFPAY" terminal sync --terminal tc --passphrase-file tp --server "$URL" 2>&1) || st=$?
[ "$st" = 1 ] && grep -q "uploaded 1 payment(s): 1 decided (1 paid, 3.00 EUR" <<<"$out" \
  && grep -q "REVOKED: offpayd has revoked this terminal" <<<"$out" \
  && ok "tc: its 3.00 uploaded and paid, then REVOKED, exit 1" || fail "tc sync ($st): $out"
balances "esc=esc/$S4:1700" "what tc accepted before its revocation is paid"
c=$(pay w4 1.00)
for t in tb tc; do
  run_cli 1 "ETERMINAL_REVOKED" -- \
    "$OFFPAY" terminal accept --terminal "$t" --code "$c" --amount 1.00
  run_cli 0 "NOT ACCEPTING payments \(ETERMINAL_REVOKED" -- \
    "$OFFPAY" terminal status --terminal "$t"
done
balances "esc=esc/$S4:1700" "nothing accepted after the sync"
audit_passes "revoked terminals"

# ---- 7. a clock set right after a sync that found it ahead ---------------
# td (max-offline-hours 1) syncs with its clock 2 hours ahead of
# offpayd's: the sync happened at offpayd's time, so with its clock still
# ahead it has been offline 2 hours by its own count and refuses (a clock
# set ahead for a sync must not buy offline hours once set back, where it
# used to count from its own clock); once its clock is set right it
# accepts at once (the newest time it has seen is offpayd's), where it
# used to refuse ECLOCK_BEHIND until another sync
term_init td # registered, never synced: its first sync brings the lists
api POST /v1/admin/terminals "{\"merchant\":\"$MID\",\"terminal_key\":\"$("$OFFPAY" terminal key --terminal td --passphrase-file tp)\"}"
jget .credential > td.tcred
"$OFFPAY" terminal set-credential td.tcred --terminal td --passphrase-file tp >/dev/null
"$OFFPAY" terminal risk --terminal td --passphrase-file tp --set max-offline-hours=1 >/dev/null
ahead2=$(( $(date +%s) + 7200 ))
run_cli 0 "clock: this terminal's is (7199|7200|7201) s ahead of offpayd's clock" -- \
  env OFFPAY_NOW=$ahead2 "$OFFPAY" terminal sync --terminal td \
    --passphrase-file tp --server "$URL"
run_cli 0 "state +SYNC REQUIRED" -- env OFFPAY_NOW=$((ahead2 + 60)) "$OFFPAY" terminal status --terminal td
run_cli 0 "state +accepting payments" -- "$OFFPAY" terminal status --terminal td
c=$(pay w4 2.00)
run_cli 0 "^accepted: 2.00 EUR" -- "$OFFPAY" terminal accept --terminal td --code "$c" --amount 2.00
run_cli 0 "1 decided \(1 paid, 2.00 EUR" -- \
  "$OFFPAY" terminal sync --terminal td --passphrase-file tp --server "$URL"
balances "esc=esc/$S4:1500" "td's payment, accepted with its clock set right, paid"
audit_passes "a clock set right"
# tj's clock reset to 1970 (a battery gone): its sync still uploads what
# it accepted, and offpayd's lists look future-dated to it: exit 3 (not
# "refused"), saying to set the clock right
new_terminal tj "$MID"
c=$(pay w4 1.00); accept tj "$c" 1.00 || fail "tj accepts"
run_cli 3 "the lists offpayd signed now look dated in the future to this terminal, whose clock is behind" -- \
  env OFFPAY_NOW=86400 "$OFFPAY" terminal sync --terminal tj --passphrase-file tp --server "$URL"
balances "esc=esc/$S4:1400" "tj's payment paid, its clock behind"
st=0; out=$(OFFPAY_NOW=86400 "$OFFPAY" terminal sync --terminal tj --passphrase-file tp --server "$URL" --json 2>/dev/null) || st=$?
[ "$st" = 3 ] && [ "$(jq -c '[.exit, .error]' <<<"$out")" = '[3,"EFUTURE_DATED"]' ] \
  && ok "--json says the same: exit 3" || fail "sync --json with the clock behind ($st): $out"

# ---- 10. the till goes on while a sync waits on offpayd -------------------
# offpayd frozen (SIGSTOP: its port still takes connections, nothing
# answers), as behind a link that hangs.
# step                                   expected
# 1 payment at tg; offpayd frozen; tg syncs (in the background): it waits
# tg accepts another payment             accepted at once (was EBUSY after 10 s)
# terminal status                        answers
# a second sync of tg                    exit 3, another sync is running
# offpayd goes on (SIGCONT)              the first sync uploads both, exit 0
new_terminal tg "$MID"; TG=(--terminal tg --passphrase-file tp)
W10=$(new_account payer-10 100.00)
new_wallet w10 "$W10" 50.00; S10=$SERIAL
c=$(pay w10 1.10); accept tg "$c" 1.10 || fail "accept 1.10"
c2=$(pay w10 2.20)
kill -STOP "$server_pid"
"$OFFPAY" terminal sync "${TG[@]}" --server "$URL" >slow.out 2>slow.err &
sync_pid=$!
# waiting on offpayd: the sync has its socket open
for _ in $(seq 1 400); do
  ls -l "/proc/$sync_pid/fd" 2>/dev/null | grep -q "socket:" && break
  sleep 0.05
done
run_cli 0 "^accepted" -- "$OFFPAY" terminal accept --terminal tg --code "$c2" --amount 2.20
run_cli 0 "accepting payments" -- "$OFFPAY" terminal status --terminal tg
run_cli 3 "another sync of this terminal with offpayd is running" -- \
  "$OFFPAY" terminal sync "${TG[@]}" --server "$URL"
# it says how many wait in the journal, and gives no upload counts it has
# not got ("0 left to upload" under "2 not uploaded" read as a contradiction)
st=0; "$OFFPAY" terminal sync "${TG[@]}" --server "$URL" >second.out 2>&1 || st=$?
[ "$st" = 3 ] && grep -q "^NOT SYNCED with .*: [0-9]* payment(s) not uploaded yet" second.out \
  && ! grep -q "left to upload" second.out \
  && ok "the second sync: NOT SYNCED with the journal's count, no upload counts" \
  || fail "second sync's counts ($st): $(cat second.out)"
kill -0 "$sync_pid" 2>/dev/null && ok "the first sync was still waiting on offpayd meanwhile" \
  || fail "the first sync ended before offpayd went on: $(cat slow.out slow.err)"
kill -CONT "$server_pid"
st=0; wait "$sync_pid" || st=$?
[ "$st" = 0 ] && grep -q "uploaded 2 payment(s): 2 decided (2 paid, 3.30 EUR; 0 refused), 0 left" slow.out \
  && ok "offpayd answered: the sync uploaded both, the one accepted while it waited too" \
  || fail "the waiting sync ($st): $(cat slow.out slow.err)"
balances "esc=esc/$S10:4670" "both settled once"
audit_passes "a sync that waited on offpayd"

# ---- 11. a sync over a slow link (tests/e2e/slow_proxy.py) ----------------
# The terminal's side alone: run on SQLite only.
# step                                          expected
# tg2: 1 payment; sync through the proxy, the
#   bundle's request held 3 s; meanwhile an     the sync sends 1, reports 1
#   accept                                      accepted during it; the new
#                                               one counts since the sync
# the next sync                                 uploads it; both paid once
# a busy till: 12 payments while a sync runs    the sync sends what was there
#   whose uploads take 1 s each (--batch 1,     at its first look, ends,
#   skew 8 s)                                   synced (it no longer chases the
#                                               till, then fails EFUTURE_DATED);
#                                               the rest go next, all paid once
# decommission while another process takes      the sync takes it again after
#   the terminal for 12 s at the status report  (the wait ran out once, said):
#                                               the terminal knows it is
#                                               revoked, and accepts nothing
if [ "$BACKEND" = sqlite ] && [ -z "${OFFPAY_TEST_SHARDS:-}" ]; then
  start_proxy
  new_merchant "Slow Link"; M11=$MACCT; M11ID=$MERCHANT; new_terminal tg2 "$M11ID"
  T2=(--terminal tg2 --passphrase-file tp)
  W11=$(new_account payer-11 100.00)
  new_wallet w11 "$W11" 90.00
  c=$(pay w11 1.00); accept tg2 "$c" 1.00 || fail "accept 1.00"
  c2=$(pay w11 2.00)
  echo 3 > ctl/bundle_delay
  "$OFFPAY" terminal sync "${T2[@]}" --server "$PURL" --json > s11.json 2> s11.err &
  sp=$!
  for _ in $(seq 1 400); do [ -e ctl/in_bundle ] && break; sleep 0.05; done
  run_cli 0 "^accepted" -- "$OFFPAY" terminal accept --terminal tg2 --code "$c2" --amount 2.00
  st=0; wait "$sp" || st=$?
  [ "$st" = 0 ] && [ "$(jq -c '[.sent, .left, .accepted_during, .synced]' s11.json)" = '[1,0,1,true]' ] \
    && ok "a sync over a slow link sent 1 and reports the 1 accepted while it waited" \
    || fail "slow sync ($st): $(cat s11.json s11.err)"
  "$OFFPAY" terminal status --terminal tg2 --json > st11.json
  [ "$(jq -r '.payments_since_sync.value' st11.json)" = 1 ] \
    && ok "the payment accepted during the sync counts toward the offline limit" \
    || fail "status after the slow sync: $(jq -c . st11.json)"
  rm -f ctl/bundle_delay
  # its first request (the clock read) shed, as offpayd sheds a fleet
  # past its per-address limit: tried again after a random wait, the sync
  # goes through (it used to stop there, a third of a fleet each minute)
  echo 1 > ctl/shed; : > ctl/log
  run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 2.00 EUR" -- \
    "$OFFPAY" terminal sync "${T2[@]}" --server "$PURL"
  [ "$(grep -c 'GET /v1/health' ctl/log)" = 2 ] && ok "the shed clock read was tried again" \
    || fail "clock reads: $(cat ctl/log)"
  balances "M11=$M11:300" "both paid once"

  "$OFFPAY" terminal risk "${T2[@]}" --set skew=8 >/dev/null
  for a in 0.10 0.20 0.30; do c=$(pay w11 $a); accept tg2 "$c" $a || fail "accept $a"; done
  echo 1 > ctl/upload_delay
  "$OFFPAY" terminal sync "${T2[@]}" --server "$PURL" --batch 1 > s12.out 2> s12.err &
  sp=$!
  n=0
  for _ in $(seq 1 12); do
    c=$(pay w11 0.01)
    "$OFFPAY" terminal accept --terminal tg2 --code "$c" --amount 0.01 >/dev/null 2>&1 && n=$((n + 1))
    sleep 0.3
  done
  st=0; wait "$sp" || st=$?
  rm -f ctl/upload_delay
  [ "$n" = 12 ] && ok "the till accepted 12 payments while the sync ran" || fail "the till accepted $n of 12"
  sent1=$(sed -n 's/^uploaded \([0-9]*\) payment(s).*/\1/p' s12.out)
  during=$(sed -n 's/^\([0-9]*\) payment(s) accepted while the sync ran.*/\1/p' s12.out)
  [ "$st" = 0 ] && grep -q "^synced with" s12.out && [ "${during:-0}" -gt 0 ] \
    && ok "the sync took what was there at its first look ($sent1), ended, synced; $during came after" \
    || fail "busy-till sync ($st): $(cat s12.out s12.err)"
  st=0; "$OFFPAY" terminal sync "${T2[@]}" --server "$URL" > s13.out 2>&1 || st=$?
  sent2=$(sed -n 's/^uploaded \([0-9]*\) payment(s).*/\1/p' s13.out)
  [ "$st" = 0 ] && [ $(( ${sent1:-0} + ${sent2:-0} )) = 15 ] \
    && ok "the next sync sent the other $sent2: 15 in all" || fail "next sync ($st): $(cat s13.out)"
  balances "M11=$M11:372" "each paid once"
  audit_passes "syncs over a slow link"

  echo "$work/tg2/terminal.lock" > ctl/status_grab
  st=0; "$OFFPAY" terminal decommission "${T2[@]}" --server "$PURL" > dec.out 2> dec.err || st=$?
  rm -f ctl/status_grab
  [ "$st" = 0 ] && grep -q "another process held the terminal past the wait" dec.err \
    && grep -q "^decommissioned" dec.out \
    && ok "decommission: the status report's wait ran out (said), the terminal taken again after" \
    || fail "decommission ($st): $(cat dec.out dec.err)"
  until flock -n tg2/terminal.lock true; do sleep 0.2; done
  c=$(pay w11 0.05)
  if accept tg2 "$c" 0.05; then
    fail "offpayd decommissioned tg2, and tg2 still accepted"
  else
    ok "tg2 refuses after the decommission offpayd made"
  fi
  run_cli 0 "^decommissioned" -- "$OFFPAY" terminal decommission "${T2[@]}" --server "$URL"
  audit_passes "a decommission that met a busy terminal"

  # ---- 12. answers changed on the way (docs/api.md, "Signed answers") ----
  # step                                      expected
  # tg3: 1 payment; its sync's answers        exit 3, "fails its signature
  #   rewritten ("settled" -> "rejected")     check": nothing kept, the
  #                                           payment still not uploaded
  # the same with the signature dropped       exit 3, "is not signed"
  # w11's wallet upload, signature dropped    exit 3, "is not signed"
  # unsigned refusals forged by the proxy:
  #   403 WALLET_REVOKED to w11's sync        refused, said unsigned; w11
  #                                           not revoked here: it still pays
  #   404 to tg3's ledger check               refused, said unsigned; the
  #                                           check is not skipped
  # tg3's upload sent twice by the proxy,      exit 3, not known (EIO), no
  #   offpayd's signed NONCE_REPLAYED relayed  refusal: offpayd paid it
  # the proxy leaves the answers alone        the payment settled once (a
  #                                           replay), the audit passes
  new_terminal tg3 "$M11ID"; T3=(--terminal tg3 --passphrase-file tp)
  c=$(pay w11 0.40); accept tg3 "$c" 0.40 || fail "accept 0.40"
  echo body > ctl/tamper
  run_cli 3 "fails its signature check \(ECODE_SIG\)" -- "$OFFPAY" terminal sync "${T3[@]}" --server "$PURL"
  "$OFFPAY" terminal journal --terminal tg3 --json > j12.json
  [ "$(jq -sc '[.[] | .uploaded]' j12.json)" = '[false]' ] \
    && ok "a rewritten answer: nothing kept, the payment waits for the next sync" \
    || fail "journal after a rewritten answer: $(cat j12.json)"
  echo strip > ctl/tamper
  run_cli 3 "is not signed" -- "$OFFPAY" terminal sync "${T3[@]}" --server "$PURL"
  run_cli 3 "is not signed" -- "$OFFPAY" wallet upload --wallet w11 --passphrase-file wp --server "$PURL"
  echo forge403 > ctl/tamper
  st=0; "$OFFPAY" wallet sync --wallet w11 --passphrase-file wp --server "$PURL" > ws12.out 2>&1 || st=$?
  [ "$st" != 0 ] && grep -q "WALLET_REVOKED.*(unsigned: not known to be offpayd's)" ws12.out \
    && ! grep -qi "marked revoked" ws12.out \
    && ok "a forged unsigned WALLET_REVOKED: refused, said unsigned, not acted on (exit $st)" \
    || fail "wallet sync with a forged refusal ($st): $(cat ws12.out)"
  rm -f ctl/tamper
  [ -n "$(pay w11 0.01)" ] && ok "w11 still pays after the forged refusal" \
    || fail "w11 no longer pays after a forged WALLET_REVOKED"
  echo forge404 > ctl/tamper
  st=0; "$OFFPAY" terminal sync "${T3[@]}" --server "$PURL" > ts12.out 2>&1 || st=$?
  [ "$st" != 0 ] && grep -q "(unsigned: not known to be offpayd's)" ts12.out \
    && ! grep -q "older than 0.4.0" ts12.out \
    && ok "a forged unsigned 404 to the ledger check: refused, the check not skipped (exit $st)" \
    || fail "terminal sync with a forged 404 ($st): $(cat ts12.out)"
  echo twice > ctl/tamper
  run_cli 3 "offpayd had the upload already .*run the command again" -- \
    "$OFFPAY" terminal sync "${T3[@]}" --server "$PURL"
  rm -f ctl/tamper
  run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 0.40 EUR" -- \
    "$OFFPAY" terminal sync "${T3[@]}" --server "$PURL"
  balances "M11=$M11:412" "paid once, whatever was answered on the way"
  audit_passes "answers changed on the way"
fi

# ---- 12. a period is final a bounded time after its end ------------------
# offpayd with one ledger connection, each upload transaction held 1.5 s
# (OFFPAYD_TEST_CHUNK_MS), uploads bounded to 2.5 s after their time
# (OFFPAYD_TEST_COMMIT_WITHIN_MS; SRV_COMMIT_WITHIN, 30 s, in production),
# one item a transaction:
# step                                         expected
# tp12 uploads 4 payments                      the first ones settled, the
#                                              rest "error" EBUSY: none
#                                              committed past the bound
# a deposit sent while that upload holds the   dated when it got the
#   only connection                            connection (2 s or more
#                                              after it was sent), not before
# the same upload again (no hooks)             replays, then the rest settled
# statement and history to now - 1, now - 61   "final" false, then true
stop_server TERM
OFFPAYD_TEST_CHUNK_MS=1500 OFFPAYD_TEST_COMMIT_WITHIN_MS=2500 start_server --threads 1 --tx-items 1
new_merchant "Period"; M12=$MACCT; new_terminal tp12 "$MERCHANT"
W12=$(new_account payer-12 50.00)
new_wallet w12 "$W12" 20.00
for i in 1 2 3 4; do c=$(pay w12 1.00); accept tp12 "$c" 1.00 || fail "accept $i"; done
"$UPLOAD_TOOL" --terminal tp12 --passphrase-file tp --body up.body --headers up.hdr >/dev/null
curl -s -o up12.json -H @up.hdr -H 'Content-Type: application/json' \
  --data-binary @up.body "$URL/v1/terminal/upload" & up12=$!
sleep 0.5
sent=$(date +%s)
api POST "/v1/admin/accounts/$M12/deposit" '{"amount":"0.50","ref":"waited"}'
wait "$up12"
d12=$(jq .decided up12.json)
[ "$d12" -ge 1 ] && [ "$d12" -lt 4 ] \
  && [ "$(jq -c "[.results[$d12:][] | [.outcome, .reason]] | unique" up12.json)" = '[["error","EBUSY"]]' ] \
  && jq -r ".results[$d12].hint" up12.json | grep -q "ran past 2 s after its time" \
  && ok "an upload past its bound: $d12 settled, the rest undecided (EBUSY)" || fail "bounded upload: $(cat up12.json)"
api GET "/v1/admin/accounts/$M12/transfers"
at=$(jq '[.transfers[] | select(.kind == "deposit")][0].at' resp.json)
[ "$at" -ge $((sent + 2)) ] && ok "the deposit dated once it had the connection ($((at - sent)) s after it was sent)" \
  || fail "deposit sent at $sent dated $at: $(cat resp.json)"
stop_server TERM
start_server
upload tp12
[ "$status" = 200 ] && [ "$(jq .decided resp.json)" = 4 ] \
  && [ "$(jq "[.results[:$d12][] | .replay] | all" resp.json)" = true ] \
  && [ "$(jq "[.results[$d12:][] | .outcome] | unique" -c resp.json)" = '["settled"]' ] \
  && ok "sent again: $d12 replays, the rest settled" || fail "resend: $(cat resp.json)"
balances "M12=$M12:450" "four payments and the deposit, once each"
now=$(date +%s)
api GET "/v1/admin/merchants/$MERCHANT/statement?from=0&to=$((now - 1))"
[ "$(jget .final)" = false ] && ok "a statement to now - 1: not final" || fail "statement to now - 1: $(jget .final)"
api GET "/v1/admin/merchants/$MERCHANT/statement?from=0&to=$((now - 61))"
[ "$(jget .final)" = true ] && ok "a statement to now - 61: final" || fail "statement to now - 61: $(jget .final)"
api GET "/v1/admin/accounts/$M12/transfers?to=$((now - 1))"
[ "$(jget .final)" = false ] && ok "a history to now - 1: not final" || fail "history to now - 1: $(jget .final)"
api GET "/v1/admin/accounts/$M12/transfers?to=$((now - 61))"
[ "$(jget .final)" = true ] && ok "a history to now - 61: final" || fail "history to now - 61: $(jget .final)"
api GET "/v1/admin/accounts/$M12/transfers"
[ "$(jget .final)" = false ] && ok "a history without to: not final" || fail "history without to: $(jget .final)"
# the command line says it in its text: a NOT FINAL line naming when the
# period is final (to + 61 s), and the closing balance marked; nothing
# once final; `admin transfers` the same, and `final` in its --json
out=$(OFFPAY_NOW=$now "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MERCHANT" --from 0 --to $((now - 1)))
grep -qx "NOT FINAL: what is dated up to $(iso $((now - 1))) may still be booked until 60 s after it: this statement is final from $(iso $((now + 60))) on; read it again then (--json: \"final\": false)" <<<"$out" \
  && grep -qE "^closing balance [0-9.]+ EUR after $(iso $((now - 1))) \(NOT FINAL\)$" <<<"$out" \
  && ok "admin statement to now - 1: NOT FINAL, final at to + 61 s" || fail "admin statement to now - 1: $out"
out=$(OFFPAY_NOW=$now "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MERCHANT" --from 0 --to $((now - 61)))
! grep -q "NOT FINAL" <<<"$out" && grep -qE "^closing balance .* after $(iso $((now - 61)))$" <<<"$out" \
  && ok "admin statement to now - 61: final, nothing said" || fail "admin statement to now - 61: $out"
out=$(OFFPAY_NOW=$now "$OFFPAY" admin transfers --db "$LEDGER" --account "$M12" --to $((now - 1)))
grep -qx "NOT FINAL: what is dated up to $(iso $((now - 1))) may still be booked until 60 s after it: this period's history is final from $(iso $((now + 60))) on; read it again then (--json: \"final\": false)" <<<"$out" \
  && ok "admin transfers to now - 1: NOT FINAL" || fail "admin transfers to now - 1: $out"
out=$(OFFPAY_NOW=$now "$OFFPAY" admin transfers --db "$LEDGER" --account "$M12" --from 1)
grep -qx "NOT FINAL: the period has no end (no --to): this period's history can still change (--json: \"final\": false)" <<<"$out" \
  && ok "admin transfers --from without --to: NOT FINAL" || fail "admin transfers --from: $out"
out=$(OFFPAY_NOW=$now "$OFFPAY" admin transfers --db "$LEDGER" --account "$M12" --to $((now - 61)))
! grep -q "NOT FINAL" <<<"$out" && ok "admin transfers to now - 61: final, nothing said" || fail "admin transfers to now - 61: $out"
[ "$(OFFPAY_NOW=$now "$OFFPAY" admin transfers --db "$LEDGER" --account "$M12" --to $((now - 1)) --json | jq .final),$(OFFPAY_NOW=$now "$OFFPAY" admin transfers --db "$LEDGER" --account "$M12" --to $((now - 61)) --json | jq .final),$(OFFPAY_NOW=$now "$OFFPAY" admin transfers --db "$LEDGER" --account "$M12" --json | jq .final)" = false,true,false ] \
  && ok "admin transfers --json: final false, true, false without --to, as offpayd's" || fail "admin transfers --json final"
audit_passes "an upload cut at its bound"

# ---- 12b. a refund between a claim's time and its commit ------------------
# A copy's overspend the guarantee cannot cover (this ledger has no
# guarantee: a claim on it) is dated with its upload's time, and its
# transaction comes 3 s later (OFFPAYD_TEST_CHUNK_MS); a refund of the
# original's payment in between does not see it and goes to the payer, as
# settlement.md §13 says; the audit does not call that a refund "before
# the guarantee" (rule 7 judges a claim from 60 s after its time).
stop_server TERM
OFFPAYD_TEST_CHUNK_MS=3000 start_server --tx-items 1
new_merchant "Refunds A"; new_terminal tr1 "$MERCHANT"; MR1=$MACCT; MIDR1=$MERCHANT
new_merchant "Refunds B"; new_terminal tr2 "$MERCHANT"
W13=$(new_account payer-13 50.00)
new_wallet w13 "$W13" 10.00
cp w13 w13clone; cp w13.log w13clone.log
c=$(pay w13 10.00); accept tr1 "$c" 10.00 || fail "w13 at tr1"
pay w13clone 0.01 >/dev/null   # the copy's first counter, the original's
c=$(pay w13clone 5.00); accept tr2 "$c" 5.00 || fail "the copy at tr2"
upload tr1
[ "$(outcomes)" = settled ] || fail "tr1: $(outcomes)"
api GET "/v1/admin/merchants/$MIDR1/statement"; PR13=$(jq -r '.lines[0].presentment' resp.json)
"$UPLOAD_TOOL" --terminal tr2 --passphrase-file tp --body up.body --headers up.hdr >/dev/null
curl -s -o up13.json -H @up.hdr -H 'Content-Type: application/json' \
  --data-binary @up.body "$URL/v1/terminal/upload" & up13=$!
sleep 1.5
api POST "/v1/admin/presentments/$PR13/refund" '{"amount":"10.00"}'
[ "$status" = 200 ] && [ "$(jq -c '[.to_guarantee.decimal, .to_wallet.decimal]' resp.json)" = '["0.00","10.00"]' ] \
  && ok "the refund, before the copy's claim is there: to the payer" || fail "refund: $status $(cat resp.json)"
wait "$up13"
[ "$(jq -c '[.results[0].outcome, .results[0].reason]' up13.json)" = '["unpaid","EFUNDS"]' ] \
  && ok "the copy's 5.00 after it: a claim on the guarantee" || fail "copy's upload: $(cat up13.json)"
audit_passes "a refund made while a claim dated before it was still on its way"

# ---- 8. a payment uploaded after the late window: decided, not paid ------
# step                                          W5      esc S5  A
# w5 (30 days) pays 3.00 at te, kept offline    1000    2000    -
# day 45: the escrow released (after expiry     3000    0       -
#   and the 14-day grace)
# day 76: te syncs: past the 30-day late window: 3000    0       unchanged
#   decided, not paid (ELATE), "not paid in full", exit 1
new_terminal te "$MID"
W5=$(new_account payer-5 30.00)
new_wallet w5 "$W5" 20.00; S5=$SERIAL
c=$(pay w5 3.00); accept te "$c" 3.00 && ok "te accepted 3.00" || fail "te accept"
a0=$(balance "$MA")
stop_server TERM
OFFPAY_NOW=$(( $(date +%s) + 45 * 86400 )) start_server
api POST /v1/admin/release '{}'
balances "W5=$W5:3000 esc=esc/$S5:0" "day 45: the escrow released to W5's account"
far=$(( $(date +%s) + 76 * 86400 ))
stop_server TERM
OFFPAY_NOW=$far start_server
st=0; out=$(OFFPAY_NOW=$far "$OFFPAY" terminal sync --terminal te --passphrase-file tp --server "$URL" 2>&1) || st=$?
[ "$st" = 1 ] && grep -qE "journal entry [0-9]+ not paid in full by offpayd \(ELATE\): paid 0.00 EUR" <<<"$out" \
  && grep -qE "1 decided \(0 paid in full, 1 in part or not at all, 0.00 EUR in all; 0 refused\)" <<<"$out" \
  && ok "te's late payment: decided, not paid (ELATE), exit 1" || fail "te late sync ($st): $out"
OFFPAY_NOW=$far run_cli 0 "paid 0.00 of it: ELATE" -- "$OFFPAY" terminal journal --terminal te
OFFPAY_NOW=$far run_cli 0 "settlement: 0 paid in full, 0 paid in part, 1 not paid, 0 refused; paid 0.00 EUR in all" -- \
  "$OFFPAY" terminal journal --terminal te
balances "W5=$W5:3000 A=$MA:$a0" "nothing paid for it"
OFFPAY_NOW=$far audit_passes "a payment after the late window"
stop_server TERM

# ---- 9. the ledger's disk full: undecided, not refused -------------------
# (SQLite, on a 2 MiB tmpfs this script mounts: root only, else skipped;
# room for the ledger and its WAL, so that offpayd's clean stop
# checkpoints and removes the WAL, as it does on a disk with room: at
# 1 MiB the ledger's WAL of this part no longer fitted beside it, and
# the start on the full disk found its WAL and ran)
# step                                          sync exit   offpayd's log
# 3 payments at tf; offpayd stopped; the disk   -           exit 4, SQLite's
#   filled; offpayd started                                 reason, ENOSPC
# room made, offpayd started; the disk filled;  3, 3 left   503 ENOSPC, dated
#   tf syncs
# the filler removed; tf syncs                  0, 3 paid   -
mnt=$work/mnt; mkdir -p "$mnt"
if [ "$BACKEND" != sqlite ]; then
  echo "SKIP part 9 (the ledger's disk full): a SQLite ledger on a tmpfs"
elif ! mount -t tmpfs -o size=2m tmpfs "$mnt" 2>/dev/null; then
  echo "SKIP part 9 (the ledger's disk full): mount -t tmpfs failed (not root?)"
else
  trap 'stop_server KILL; umount -l "$mnt"; cleanup' EXIT
  LEDGER=$mnt/full.db start_server
  fetch_bundle
  new_merchant "Full Disk"; MF=$MACCT; new_terminal tf "$MERCHANT"
  WF=$(new_account payer-f 100.00)
  new_wallet wf "$WF" 50.00
  for a in 1.00 2.00 3.00; do c=$(pay wf $a); accept tf "$c" $a; done
  # stopped cleanly, the disk filled, started again: the open names the
  # disk (SQLite's words, the system's reason) and exits 4, which the
  # unit restarts, not 3 (docs/operations.md §2)
  stop_server TERM
  dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null || true
  st=0; timeout 20 "$OFFPAYD" --db "$mnt/full.db" --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >full.out 2>&1 || st=$?
  [ "$st" = 4 ] && grep -q "full.db: SQLite: .*(No space left on device)" full.out \
    && grep -q "full.db: disk full (ENOSPC): this may pass" full.out \
    && ok "started on the full disk: exit 4, the disk named" || fail "start on a full disk ($st): $(cat full.out)"
  rm -f "$mnt/filler"
  LEDGER=$mnt/full.db start_server
  dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null || true
  st=0; out=$("$OFFPAY" terminal sync --terminal tf --passphrase-file tp --server "$URL" 2>&1) || st=$?
  [ "$st" = 3 ] && grep -q "offpayd failed (HTTP 503: {\"error\":\"ENOSPC\"" <<<"$out" \
    && grep -q "3 left to upload" <<<"$out" \
    && ok "disk full: the sync exits 3 (not decided), nothing refused" || fail "disk full sync ($st): $out"
  grep -qE "^offpayd: 20[0-9-]+T[0-9:]+Z POST /v1/terminal/upload answered 503 ENOSPC: " server.err \
    && ok "offpayd's log names the time, the endpoint and ENOSPC" || fail "log: $(tail -3 server.err)"
  rm -f "$mnt/filler"
  st=0; out=$("$OFFPAY" terminal sync --terminal tf --passphrase-file tp --server "$URL" 2>&1) || st=$?
  [ "$st" = 0 ] && grep -q "3 decided (3 paid, 6.00 EUR; 0 refused), 0 left" <<<"$out" \
    && ok "space freed: the same three settled at the next sync" || fail "after space freed ($st): $out"
  balances "MF=$MF:600" "paid once"
  audit_passes "a disk that filled"
  stop_server TERM
fi
finish
