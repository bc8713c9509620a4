#!/usr/bin/env bash
# offpayd_ledger_restore.sh — a ledger taken back to an older copy (a
# restore from a backup, docs/operations.md §5) loses payments terminals
# were told were paid. Each terminal's sync asks offpayd whether its
# ledger still holds the newest payments it paid (POST /v1/terminal/check,
# which changes nothing); a terminal whose payments the ledger lost says
# LEDGER LOST PAYMENTS and uploads them again, so they are paid again from
# the escrow that still backs them, and one whose credential the older
# ledger never issued is refused now (ENOT_ISSUED) and said. The check
# goes past a page held in part, stops at a page held whole, and a sync
# cut off while uploading what was lost (offpayd killed once it committed
# the first two of them) is taken up by the next, each payment paid once.
# A terminal with nothing lost only asks. offpayd logs and counts what
# was missing. A credential revoked after the backup stays revoked at the
# terminal that took that list: the restored ledger's lists are numbered
# below the terminal's, and the sync takes its full list (signed later)
# keeping what it held revoked (since 0.13.0; before, every sync was
# refused EREVLIST_SEQ from then on). A terminal registered after the
# backup is unknown to the restored ledger: its sync says so (offpayd logs
# and counts it), and once its key is registered again its next sync
# uploads what the ledger lost. The audit passes after every step.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle
new_merchant "Kiosk"; MA=$MACCT; MID=$MERCHANT
new_terminal ta "$MID"; new_terminal tb "$MID"
W=$(new_account payer-1 200.00)
new_wallet w1 "$W" 100.00; S1=$SERIAL
TA=(--terminal ta --passphrase-file tp); TB=(--terminal tb --passphrase-file tp)
run_cli 2 "--batch: a number of payments from 1 to 10000, not '0'" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --batch 0

# ---- 1. before the backup --------------------------------------------------
for a in 1.00 2.00; do c=$(pay w1 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
c=$(pay w1 0.50); accept tb "$c" 0.50 || fail "accept 0.50"
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 3.00 EUR" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL"
run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 0.50 EUR" -- \
  "$OFFPAY" terminal sync "${TB[@]}" --server "$URL"
for i in $(seq 1 18); do c=$(pay w1 0.01); accept ta "$c" 0.01 || fail "accept 0.01 ($i)"; done
run_cli 0 "uploaded 18 payment\(s\): 18 decided \(18 paid, 0.18 EUR" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL"
# nothing lost: the sync asked about its 20 paid payments, said nothing
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --json > s.json 2> s.err || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.sent, .rechecked, .lost]' s.json)" = '[0,20,0]' ] && [ ! -s s.err ] \
  && ok "a sync with nothing new asks about its paid payments, finds them held" || fail "check ($st): $(cat s.json s.err)"
balances "esc=esc/$S1:9632 A=$MA:368" "21 payments settled, the check moved nothing"
# we: an enrolled wallet, its allowance SA (2.00) held by the backup, SB
# (20.00) taken after it (part 2)
wallet_init we; w enroll we --server "$URL" --code "$(enroll_code)"
WE=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$WE/deposit" '{"amount":"50.00"}'
w allowance we --amount 2.00; SA=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
[ -n "$WE" ] && [ -n "$SA" ] || fail "we: $(cat w.out)"
new_wallet wr "$W" 5.00; SR=$SERIAL # revoked after the backup (part 2)
audit_passes "before the backup"

# ---- 2. the backup, then more payments ----------------------------------
if [ "$BACKEND" = sqlite ]; then
  # taken while offpayd runs, as docs/operations.md says
  "$OFFPAY" admin backup --db "$LEDGER" --out backup.db >/dev/null
else
  stop_server TERM; ledger_copy ledger backup; start_server
fi
run_cli 0 "^credential $SR .*revoked at" -- "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$SR"
new_wallet w2 "$W" 20.00; S2=$SERIAL # issued after the backup
w allowance we --amount 20.00 --server "$URL"; SB=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' w.out)
c=$(pay we 1.50) && [ -n "$SB" ] || fail "we's allowance after the backup: $(cat w.out)"
c=$(pay w1 3.00); accept ta "$c" 3.00 || fail "accept 3.00"
c=$(pay w2 4.00); accept ta "$c" 4.00 || fail "accept 4.00"
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 7.00 EUR" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL"
for a in 0.10 0.20 0.30 0.40; do c=$(pay w1 "$a"); accept ta "$c" "$a" || fail "accept $a"; done
run_cli 0 "uploaded 4 payment\(s\): 4 decided \(4 paid, 1.00 EUR" -- \
  "$OFFPAY" terminal sync "${TA[@]}" --server "$URL"
balances "esc=esc/$S1:9232 esc=esc/$S2:1600 A=$MA:1168" "after the backup: six more settled"

# ---- 3. the ledger taken back to the backup ------------------------------
stop_server TERM
LEDGER=$(ledger_url backup)
start_server
balances "esc=esc/$S1:9632 A=$MA:368" "the restored ledger: the six are gone"
# tb lost nothing: its check finds its payment held, and it says nothing
st=0; "$OFFPAY" terminal sync "${TB[@]}" --server "$URL" > tb.out 2> tb.err || st=$?
[ "$st" = 0 ] && ! grep -q "LEDGER LOST" tb.out tb.err \
  && ok "tb: nothing of its lost, nothing said" || fail "tb ($st): $(cat tb.out tb.err)"
# ta (--batch 2: no request carries more than 2): three pages lack the
# six, the fourth (0.01, 0.01) is held whole, and the check stops there
# (18 older ones not asked about). Uploading the six again, offpayd dies
# once it committed the first two (their reply lost): the sync fails,
# saying what it found.
stop_server TERM
OFFPAYD_KILL_AFTER=2 start_server
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --batch 2 --json > cut.json 2> cut.err || st=$?
[ "$st" = 3 ] && [ "$(jq -c '[.rechecked, .lost, .decided, .left]' cut.json)" = '[8,6,0,6]' ] \
  && ok "cut off while uploading the lost: 8 asked about, 6 lost, exit 3, nothing decided, all 6 left (not one batch's 2)" || fail "cut ($st): $(cat cut.json cut.err)"
wait "$server_pid" 2>/dev/null || true
# offpayd's log says it for the operator: one line a minute at most for a
# terminal, so one for the three pages that lacked some
[ "$(grep -cE "^offpayd: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z terminal [0-9]+ asked about 2 payment\(s\) it says the ledger paid it: 2 are not in the ledger \(was it taken back to an older copy.* \(1 check\(s\) since its last such line, one a minute at most\)$" server.err)" = 1 ] \
  && [ "$(grep -c "asked about" server.err)" = 1 ] \
  && ok "offpayd's log: the first page of 2 not in the ledger, the next two held back (one line a minute)" || fail "offpayd's log: $(grep 'asked about' server.err)"
start_server
balances "esc=esc/$S1:9332 A=$MA:668" "the two committed before offpayd died: 3.00 paid, 4.00 refused"
"$OFFPAY" terminal journal --terminal ta > jcut.txt
grep -qE "^26 .*  paid 0.40; LOST by offpayd's ledger: to upload again$" jcut.txt \
  && grep -qE "^20 .*  paid 0.01$" jcut.txt \
  && ok "journal after the cut: the six listed to upload again, the others as they were" || fail "journal: $(cat jcut.txt)"
c=$(pay w1 0.25); accept ta "$c" 0.25 || fail "accept 0.25"
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --batch 2 > ta.out 2> ta.err || st=$?
[ "$st" = 1 ] \
  && grep -q "^LEDGER LOST PAYMENTS: offpayd's ledger no longer held 6 payment(s) it had paid this terminal" ta.out \
  && grep -q "^uploaded 7 payment(s): 7 decided (6 paid, 4.25 EUR; 1 refused), 0 left to upload$" ta.out \
  && grep -q "offpayd's ledger had lost 6 payment(s) it had paid this terminal (was it taken back to an older copy" ta.err \
  && grep -q "journal entry 22: offpayd had paid it, and its ledger no longer held it: sent again" ta.err \
  && grep -q "journal entry 22 refused by offpayd: ENOT_ISSUED" ta.err \
  && ok "ta: the list taken up: LEDGER LOST PAYMENTS, five paid again, 4.00 refused (its credential unknown now), exit 1" \
  || fail "ta ($st): $(cat ta.out ta.err)"
grep -q "offpayd's revocation list is numbered below this terminal's (2): asking its full list" ta.err \
  && grep -q "the revocation list's number went back from 2 to 1 in a list signed later" ta.err \
  && "$OFFPAY" terminal status --terminal ta --json | jq -e '.revocation_list.seq == 1' >/dev/null \
  && ok "ta: offpayd's list numbered below its own (the revocation after the backup is gone): its full list taken" \
  || fail "ta's list after the restore: $(cat ta.err; "$OFFPAY" terminal status --terminal ta --json)"
c=$(pay wr 1.00)
run_cli 1 "EREVOKED" -- "$OFFPAY" terminal accept --terminal ta --code "$c" --amount 1.00
balances "esc=esc/$S1:9207 A=$MA:793" "each lost payment of w1 paid once again, with the new 0.25"
"$OFFPAY" terminal journal --terminal ta --json > j.json
[ "$(jq -sc '[.[] | select(.seq >= 20) | [.seq, .settlement.outcome, .settlement.paid_minor, .settlement.reason]]' j.json)" = \
  '[[20,"settled",1,null],[21,"settled",300,null],[22,"rejected",0,"ENOT_ISSUED"],[23,"settled",10,null],[24,"settled",20,null],[25,"settled",30,null],[26,"settled",40,null],[27,"settled",25,null]]' ] \
  && [ "$(jq -s '[.[] | select(.settlement.outcome == "settled")] | length' j.json)" = 26 ] \
  && [ "$(jq -sc '[.[] | select(.seq == 21 or .seq == 22) | .settlement.lost]' j.json)" = \
  '[{"uploaded_again":true,"outcome":"settled","paid_minor":300,"paid":"3.00"},{"uploaded_again":true,"outcome":"settled","paid_minor":400,"paid":"4.00"}]' ] \
  && [ "$(jq -s '[.[] | select(.settlement.lost != null)] | length' j.json)" = 6 ] \
  && ok "ta's journal: what the ledger decided again for each, and what it had paid before" || fail "journal: $(cat j.json)"
"$OFFPAY" terminal journal --terminal ta > j.txt
grep -qE "^22 .*  refused: ENOT_ISSUED \(offpayd's ledger lost it after paying 4.00\)$" j.txt \
  && ok "journal: 4.00 refused now, paid before the ledger lost it" || fail "journal text: $(cat j.txt)"
# the merchant's statement keeps it as refused (since 0.28.0): after a
# restore the ledger itself says which merchant took what nothing pays
run_cli 0 "^refused: 1 payment\(s\) taken at the merchant's terminals that nothing pays, charged 4\.00 EUR: 1 of a credential the ledger did not issue \(ENOT_ISSUED\), 0 accepted by a terminal after its revocation \(ETERMINAL_REVOKED\)$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MID"
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jq -c '[.refused.count, [.refused.lines[] | [.reason, .charged.decimal]]]' resp.json)" = '[1,[["ENOT_ISSUED","4.00"]]]' ] \
  && ok "its statement lists the 4.00 refused ENOT_ISSUED" || fail "statement refused: $(jq -c .refused resp.json)"
"$OFFPAY" terminal export --terminal ta --passphrase-file tp exp >/dev/null
grep -qE "^22,.*,rejected,0,0.00,ENOT_ISSUED,,uploaded_again,400,0,0.00"$'\r'"$" exp/payments.csv \
  && grep -qE "^20,.*,settled,1,0.01,,,,,0,0.00"$'\r'"$" exp/payments.csv \
  && ok "export: the CSV says what the ledger lost" || fail "export: $(grep -E '^(20|22),' exp/payments.csv)"
audit_passes "after the ledger found its lost payments"

# ---- 4. a second sync: nothing more to find ------------------------------
st=0; "$OFFPAY" terminal sync "${TA[@]}" --server "$URL" --json > s2.json 2> s2.err || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.sent, .rechecked, .lost, .refused]' s2.json)" = '[0,20,0,0]' ] \
  && ok "the next sync asks about its 20 newest paid, finds them held" || fail "second ($st): $(cat s2.json s2.err)"
balances "esc=esc/$S1:9207 A=$MA:793" "nothing moved again"
curl -s "$URL/metrics" > metrics.txt
grep -q '^offpayd_terminal_checked_total{held="yes"} 23$' metrics.txt \
  && grep -q '^offpayd_terminal_checked_total{held="no"} 5$' metrics.txt \
  && ok "/metrics: 28 asked about since the restart, 5 of them not held" || fail "metrics: $(grep checked metrics.txt)"
# A check of things that are no payment code: none held, none counted as
# lost (no false alarm), and the log tells them apart.
treq tb /v1/terminal/check '{"items":[{"seq":"1","code":"AA==","charged":1,"accepted_at":1},{"seq":"2","code":"AQI=","charged":1,"accepted_at":1}]}'
curl -s "$URL/metrics" > metrics.txt
[ "$status" = 200 ] && [ "$(jq -c '[.checked, .held, .malformed]' resp.json)" = '[2,0,2]' ] \
  && grep -q '^offpayd_terminal_checked_total{held="no"} 5$' metrics.txt \
  && grep -q "terminal [0-9]* asked about 2 code(s) that are no payment code and 0 that do not verify or name another merchant: not counted as lost" server.err \
  && ok "a check of two codes that are no payment code: malformed 2, no alarm" \
  || fail "check of junk: $status $(cat resp.json) $(grep checked metrics.txt)"
# A terminal's word alone makes no loss. tf holds a real code of w1 the
# ledger never saw; it asks about it and about 20 copies of it whose
# wallet signature was changed: the 20 are invalid, not lost (one line
# for each kind, the real one counted "no"). Revoked, it asks again: its
# word counts apart ("revoked"), and within the minute nothing is logged.
new_terminal tf "$MID"; TF=$TID
c=$(pay w1 0.07); accept tf "$c" 0.07 || fail "tf accepts 0.07"
"$UPLOAD_TOOL" --terminal tf --passphrase-file tp --body tf.body --headers tf.hdr >/dev/null
python3 - tf.body > forged.json <<'PY'
import base64, json, sys
item = json.load(open(sys.argv[1]))["items"][0]
code = bytearray(base64.b64decode(item["code"]))
items = [dict(item, seq="1")]
for i in range(1, 21):
    c = bytearray(code); c[-1] ^= i
    items.append(dict(item, seq=str(i + 1), code=base64.b64encode(bytes(c)).decode()))
print(json.dumps({"items": items}))
PY
treq tf /v1/terminal/check "$(cat forged.json)"
curl -s "$URL/metrics" > metrics.txt
[ "$status" = 200 ] && [ "$(jq -c '[.checked, .held, .malformed, .invalid]' resp.json)" = '[21,0,0,20]' ] \
  && grep -q '^offpayd_terminal_checked_total{held="no"} 6$' metrics.txt \
  && grep -q '^offpayd_terminal_checked_total{held="invalid"} 20$' metrics.txt \
  && grep -q "terminal $TF asked about 1 payment(s) it says the ledger paid it: 1 are not in the ledger" server.err \
  && grep -q "terminal $TF asked about 0 code(s) that are no payment code and 20 that do not verify or name another merchant: not counted as lost" server.err \
  && ok "20 codes whose wallet signature was changed: invalid, not lost; the real one counted not held" \
  || fail "forged codes: $status $(cat resp.json) $(grep checked metrics.txt)"
api POST "/v1/admin/terminals/$TF/revoke" '{}'
treq tf /v1/terminal/check "$(cat forged.json)"
curl -s "$URL/metrics" > metrics.txt
[ "$status" = 200 ] && grep -q '^offpayd_terminal_checked_total{held="no"} 6$' metrics.txt \
  && grep -q '^offpayd_terminal_checked_total{held="revoked"} 1$' metrics.txt \
  && grep -q '^offpayd_terminal_checked_total{held="invalid"} 40$' metrics.txt \
  && [ "$(grep -c "terminal $TF asked about" server.err)" = 2 ] \
  && ok "revoked, tf's check counts apart (revoked 1), and the log holds it back within the minute" \
  || fail "revoked tf: $status $(cat resp.json) $(grep checked metrics.txt) $(grep "terminal $TF" server.err)"
audit_passes "at the end"

# ---- 4b. a terminal registered after the backup -------------------------
# te is registered and paid on a ledger (live2); the ledger is then taken
# back to a copy from before te's registration (old2, its ids moved on as
# docs/operations.md §5 says). te's sync is refused UNKNOWN_TERMINAL: it
# says that offpayd does not know it and why, and exits 1, its journal as
# it was; offpayd logs and counts it. Its key registered again (a new id,
# a new credential), the next sync finds what the ledger lost and uploads
# it again.
stop_server TERM
ledger_copy backup live2; ledger_copy backup old2
LEDGER=$(ledger_url live2)
start_server
new_terminal te "$MID"; TE1=$TID
TE=(--terminal te --passphrase-file tp)
# tg too, which syncs but has taken no payment yet
new_terminal tg "$MID"; TG1=$TID
run_cli 0 "^synced with" -- "$OFFPAY" terminal sync --terminal tg --passphrase-file tp --server "$URL"
for a in 0.05 0.06; do c=$(pay w1 "$a"); accept te "$c" "$a" || fail "te accepts $a"; done
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 0.11 EUR" -- \
  "$OFFPAY" terminal sync "${TE[@]}" --server "$URL"
stop_server TERM
LEDGER=$(ledger_url old2)
"$OFFPAY" admin skip-ids --db "$LEDGER" --by 10 >/dev/null
start_server
st=0; "$OFFPAY" terminal sync "${TE[@]}" --server "$URL" > te.out 2> te.err || st=$?
[ "$st" = 1 ] \
  && grep -q "^NOT SYNCED: offpayd does not know this terminal (terminal $TE1): its ledger may have been restored from a copy older than the terminal's registration. Ask the operator to register this terminal's key again (docs/operations.md section 5); its 2 payment(s) paid before are kept in its journal and uploaded again then$" te.out \
  && ! grep -q "stay safe" te.out && grep -q "(ETERMINAL_UNKNOWN)$" te.err \
  && ok "te unknown to the restored ledger: its sync says so, and that its 2 paid payments are kept, exit 1" \
  || fail "te's sync ($st): $(cat te.out te.err)"
# said once a request's signature verified (the one refused from its
# headers alone is counted, not said: anyone can send any key)
grep -q "refused 2 request(s) signed by a key that is no registered terminal (1 with a signature that verified; the last by key [0-9a-f]\{8\}...): a terminal registered after the backup the ledger was restored from? Register its key again" server.err \
  && ok "offpayd's log says a key it does not know signed requests" \
  || fail "offpayd's log: $(grep -i 'registered terminal' server.err)"
curl -s "$URL/metrics" > metrics.txt
grep -q '^offpayd_unknown_terminal_total{signature="verified"} 1$' metrics.txt \
  && grep -q '^offpayd_unknown_terminal_total{signature="unchecked"} 1$' metrics.txt \
  && ok "/metrics: the check refused before its body, the report that confirmed it with its signature verified" \
  || fail "metrics: $(grep unknown_terminal metrics.txt)"
"$OFFPAY" terminal journal --terminal te --json > je.json
[ "$(jq -s -c '[.[] | .settlement.outcome]' je.json)" = '["settled","settled"]' ] \
  && ok "te's journal unchanged: both paid" || fail "te's journal: $(cat je.json)"
# tg has nothing to upload or check: its status report's signed answer
# says that offpayd does not know it (before 0.25.0 it printed "synced"),
# and the sync is not recorded as one (its offline window not renewed)
tg_last=$("$OFFPAY" terminal status --terminal tg --json | jq -c .last_sync)
sleep 1
st=0; "$OFFPAY" terminal sync --terminal tg --passphrase-file tp --server "$URL" > tg.out 2> tg.err || st=$?
[ "$("$OFFPAY" terminal status --terminal tg --json | jq -c .last_sync)" = "$tg_last" ] \
  && ok "tg's refused sync left its last sync as it was ($tg_last)" \
  || fail "tg's last sync moved: $tg_last -> $("$OFFPAY" terminal status --terminal tg --json | jq -c .last_sync)"
[ "$st" = 1 ] \
  && grep -q "^NOT SYNCED: offpayd does not know this terminal (terminal $TG1): its ledger may have been restored from a copy older than the terminal's registration. Ask the operator to register this terminal's key again (docs/operations.md section 5); what it accepts meanwhile is kept in its journal and paid once it is$" tg.out \
  && ! grep -q "^synced" tg.out && grep -q "(ETERMINAL_UNKNOWN)$" tg.err \
  && ok "tg, with nothing to upload, unknown to the restored ledger: NOT SYNCED, exit 1" \
  || fail "tg's sync ($st): $(cat tg.out tg.err)"
# the operator registers te's key again: a new id, a new credential
key=$("$OFFPAY" terminal key "${TE[@]}")
api POST /v1/admin/terminals "{\"merchant\":\"$MID\",\"terminal_key\":\"$key\"}"
TE2=$(jget .terminal_id); jget .credential > te2.tcred
[ "$status" = 200 ] && [ "$TE2" != "$TE1" ] \
  && ok "te's key registered again: terminal $TE2 (it was $TE1)" || fail "registered again: $status $(cat resp.json)"
"$OFFPAY" terminal set-credential te2.tcred "${TE[@]}" >/dev/null
st=0; "$OFFPAY" terminal sync "${TE[@]}" --server "$URL" > te2.out 2> te2.err || st=$?
[ "$st" = 0 ] \
  && grep -q "^LEDGER LOST PAYMENTS: offpayd's ledger no longer held 2 payment(s) it had paid this terminal" te2.out \
  && grep -q "^uploaded 2 payment(s): 2 decided (2 paid, 0.11 EUR; 0 refused), 0 left to upload$" te2.out \
  && ok "te's next sync: the 2 the ledger lost found and paid again" || fail "te after registering again ($st): $(cat te2.out te2.err)"
balances "esc=esc/$S1:9196 A=$MA:804" "te's two paid once on the restored ledger"
audit_passes "after te was registered again"
stop_server TERM
LEDGER=$(ledger_url backup)
start_server

# ---- 5. the ids moved past what devices hold ---------------------------
# w2's credential (S2) and nothing else was issued after the backup: the
# restored ledger would issue S2 again. `offpay admin skip-ids`, run with
# offpayd stopped, moves the next serial and terminal id past them.
stop_server TERM
run_cli 2 "admin skip-ids: --by is 1..1000000000" -- "$OFFPAY" admin skip-ids --db "$LEDGER" --by 0
run_cli 0 "the next credential serial is now $((SR + 1001)), the next terminal id 1004 \(1000 past where they stood\); the revocation list.s number moved as far, so that every device.s next sync takes the restored ledger.s revocations whole$" -- \
  "$OFFPAY" admin skip-ids --db "$LEDGER" --by 1000
if [ "$BACKEND" = postgres ]; then
  # the ledger opened as a one-line shard map (as docs/scaling.md allows)
  # binds its sequences to the range: the moved ids stay moved
  echo "shard 1-1000000000 $LEDGER" > one.map
  run_cli 0 "audit passed" -- "$OFFPAY" admin audit --shards one.map
fi
start_server
# we's sync on the restored ledger: the code of SB (issued after the
# backup) is refused ENOT_ISSUED and offpayd lists no SB: SB is frozen
# for good, said, exit 1; SA (held by the ledger) still pays
w sync we --server "$URL" --no-renew
[ "$ws" = 1 ] && grep -qE "^$SB +1 +rejected \\(ENOT_ISSUED\\)" w.out \
  && grep -q "^offpay: WARNING: wallet sync: offpayd does not know credential $SB: its ledger may have been restored from a backup older than the credential; it is not spent again" w.out \
  && grep -qE "^$SB +0.00 EUR +0.00 EUR .*\(unknown to offpayd: frozen\)$" w.out \
  && grep -q "available offline 2.00 EUR$" w.out \
  && ok "we's sync: SB unknown to the restored ledger, frozen and said (WARNING, exit 1), not available" \
  || fail "we's sync ($ws): $(cat w.out)"
w balance we
grep -q "^  unknown    offpayd does not know credential $SB" w.out && ! grep -q "18.50 EUR  (the server's" w.out \
  && ok "we's balance: SB unknown, no escrow of it shown" || fail "we's balance: $(cat w.out)"
c=$(pay we 2.00); accept tb "$c" 2.00 && [ -n "$c" ] || fail "we pays 2.00 from SA"
run_cli 1 "offpay: cannot make a code: offpayd does not know credential $SB: .* it is not spent again" -- \
  "$OFFPAY" wallet pay --wallet we --passphrase-file wp --currency EUR --amount 5.00
run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 2.00 EUR" -- \
  "$OFFPAY" terminal sync "${TB[@]}" --server "$URL"
# frozen for good: the state is in the sealed file, and the next sync
# says it without exiting 1 again
w sync we --server "$URL" --no-renew
[ "$ws" = 0 ] && grep -qE "^$SB .*\(unknown to offpayd: frozen\)$" w.out \
  && ok "we's next sync: SB still frozen (kept in the wallet file), exit 0" || fail "we's second sync ($ws): $(cat w.out)"
new_wallet w3 "$W" 5.00
[ "$SERIAL" = $((SR + 1001)) ] && [ "$SERIAL" != "$S2" ] \
  && ok "a credential issued after the restore: serial $SERIAL, not w2's $S2 again" \
  || fail "serial after skip-ids: $SERIAL (w2 holds $S2)"
new_terminal tc "$MID"
[ "$TID" = 1004 ] && ok "a terminal registered after it: id 1004" || fail "terminal id after skip-ids: $TID"
c=$(pay w3 1.00); accept tc "$c" 1.00 || fail "tc accepts w3's 1.00"
run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 1.00 EUR" -- \
  "$OFFPAY" terminal sync --terminal tc --passphrase-file tp --server "$URL"
audit_passes "after skip-ids"
# a move past a terminal id's 32 bits is refused and moves nothing: the
# next terminal still registers
# (the next terminal id put at 2^32 - 5 behind the ledger's back)
stop_server TERM
if [ "$BACKEND" = sqlite ]; then
  ledger_sql backup "UPDATE id_floors SET next = 4294967291 WHERE what = 'terminal'" >/dev/null
else
  ledger_sql backup "SELECT setval(pg_get_serial_sequence('terminals', 'id'), 4294967290, true)" >/dev/null
fi
run_cli 3 "moving by 10 passes the ids" -- "$OFFPAY" admin skip-ids --db "$LEDGER" --by 10
start_server
new_terminal td "$MID"
[ "$TID" = 4294967291 ] && ok "a terminal after a refused move: id $TID" || fail "terminal after a refused move: $TID"
finish
