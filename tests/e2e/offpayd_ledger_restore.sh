#!/usr/bin/env bash
# offpayd_ledger_restore.sh — a ledger taken back to an older copy (a
# restore from a backup, docs/operations.md §5) loses payments terminals
# were told were paid. Each terminal's sync checks its newest paid payment
# first (sent again: an exact replay moves nothing); a terminal whose
# payments the ledger lost says LEDGER LOST PAYMENTS and sends them again,
# so they are paid again from the escrow that still backs them; one whose
# credential the older ledger never issued is refused now (ENOT_ISSUED)
# and said. A terminal with nothing lost only checks; a second sync finds
# nothing more. The audit passes after every step.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle
new_merchant "Kiosk"; MA=$MACCT; MID=$MERCHANT
new_terminal ta "$MID"; new_terminal tb "$MID"
W=$(new_account payer-1 200.00)
new_wallet w1 "$W" 100.00; S1=$SERIAL
TA=(--terminal ta --passphrase-file tp); TB=(--terminal tb --passphrase-file tp)

# ---- 1. before the backup --------------------------------------------------
for a in 1.00 2.00; do c=$(pay w1 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
c=$(pay w1 0.50); accept tb "$c" 0.50 || fail "accept 0.50"
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 3.00 EUR" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL"
run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 0.50 EUR" -- \
  "$OFFPAY" terminal sync "${TB[@]}" --server "$URL"
# nothing lost: the sync checked its newest paid payment, and said nothing
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --json > s.json 2> s.err || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.sent, .rechecked, .lost]' s.json)" = '[0,1,0]' ] && [ ! -s s.err ] \
  && ok "a sync with nothing new checks one paid payment, finds it held" || fail "check ($st): $(cat s.json s.err)"
balances "esc=esc/$S1:9650 A=$MA:350" "three payments settled"
audit_passes "before the backup"

# ---- 2. the backup, then more payments ----------------------------------
if [ "$BACKEND" = sqlite ]; then
  # taken while offpayd runs, as docs/operations.md says
  "$OFFPAY" admin backup --db "$LEDGER" --out backup.db >/dev/null
else
  stop_server TERM; ledger_copy ledger backup; start_server
fi
new_wallet w2 "$W" 20.00; S2=$SERIAL # issued after the backup
c=$(pay w1 3.00); accept ta "$c" 3.00 || fail "accept 3.00"
c=$(pay w2 4.00); accept ta "$c" 4.00 || fail "accept 4.00"
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 7.00 EUR" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL"
balances "esc=esc/$S1:9350 esc=esc/$S2:1600 A=$MA:1050" "after the backup: 3.00 and 4.00 settled"

# ---- 3. the ledger taken back to the backup ------------------------------
stop_server TERM
LEDGER=$(ledger_url backup)
start_server
balances "esc=esc/$S1:9650 A=$MA:350" "the restored ledger: 3.00 and 4.00 are gone"
# tb lost nothing: its check finds its payment held, and it says nothing
st=0; "$OFFPAY" terminal sync "${TB[@]}" --server "$URL" > tb.out 2> tb.err || st=$?
[ "$st" = 0 ] && ! grep -q "LEDGER LOST" tb.out tb.err \
  && ok "tb: nothing of its lost, nothing said" || fail "tb ($st): $(cat tb.out tb.err)"
# ta: one payment more, then the sync finds what the ledger lost
c=$(pay w1 0.25); accept ta "$c" 0.25 || fail "accept 0.25"
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" > ta.out 2> ta.err || st=$?
[ "$st" = 1 ] \
  && grep -q "^LEDGER LOST PAYMENTS: offpayd's ledger no longer held 2 payment(s) it had paid this terminal: they were sent again" ta.out \
  && grep -q "^uploaded 3 payment(s): 3 decided (2 paid, 3.25 EUR; 1 refused), 0 left to upload$" ta.out \
  && grep -q "offpayd's ledger had lost 2 payment(s) it had paid this terminal (was it taken back to an older copy" ta.err \
  && grep -q "journal entry 4 refused by offpayd: ENOT_ISSUED" ta.err \
  && ok "ta: LEDGER LOST PAYMENTS, 3.00 paid again, 4.00 refused (its credential unknown now), exit 1" \
  || fail "ta ($st): $(cat ta.out ta.err)"
balances "esc=esc/$S1:9325 A=$MA:675" "3.00 paid again from w1's escrow, with the new 0.25"
"$OFFPAY" terminal journal --terminal ta --json > j.json
[ "$(jq -sc '[.[] | [.seq, .settlement.outcome, .settlement.paid_minor, .settlement.reason]]' j.json)" = \
  '[[1,"settled",100,null],[2,"settled",200,null],[3,"settled",300,null],[4,"rejected",0,"ENOT_ISSUED"],[5,"settled",25,null]]' ] \
  && ok "ta's journal: what the ledger decided again for each" || fail "journal: $(cat j.json)"
audit_passes "after the ledger found its lost payments"

# ---- 4. a second sync: nothing more to find ------------------------------
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --json > s2.json 2> s2.err || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.sent, .rechecked, .lost, .refused]' s2.json)" = '[0,1,0,0]' ] \
  && ok "the next sync checks one and finds it held" || fail "second ($st): $(cat s2.json s2.err)"
balances "esc=esc/$S1:9325 A=$MA:675" "nothing moved again"
audit_passes "at the end"
finish
