#!/usr/bin/env bash
# terminal_ops.sh — what a merchant asks of the terminal besides payments,
# through the real offpay binary: `terminal status` (each limit against
# its value, a warning at 80 % naming the limit before "sync required",
# human and --json) and `terminal export` (a new directory holding a
# consistent, read-only copy of the journal with every payment, and CSV and
# JSON of the payments with ISO 8601 times and amounts in minor units and
# as decimal strings; never written over anything), and `terminal init`
# refusing a directory holding a journal without its key.
source "$(dirname "$0")/lib.sh"
setup_world 100.00
W=(--wallet w --passphrase-file wp)
T=(--terminal shop)
now=$(date +%s)

# pay AMOUNT: the wallet's consumer-presented code, accepted by the shop.
pay() {
  local code
  code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount "$1" 2>/dev/null)
  expect 0 "^accepted" -- "$OFFPAY" terminal accept "${T[@]}" --amount "$1" --code "$code"
}

expect 0 "Usage" -- "$OFFPAY" terminal status --help
expect 0 "Usage" -- "$OFFPAY" terminal export --help

# A terminal never synced: no list yet, and no warning of a list's age
"$OFFPAY" terminal init --terminal unsynced --root iss/root.pub \
    --bundle iss/bundle.opb --currency EUR --passphrase-file tp >/dev/null
out=$("$OFFPAY" terminal status --terminal unsynced)
if grep -q "revocation list  none yet" <<<"$out" && grep -q "offline time     none: never synced" <<<"$out" \
   && ! grep -q "9999 %" <<<"$out" && ! grep -q WARNING <<<"$out"; then
  ok "unsynced terminal: no list yet, never synced, no warning"
else fail "unsynced status: $out"; fi
# Its credential installed (which starts the offline clock), still no
# list: the last sync's time says it was the installation
"$OFFPAY" issuer terminal-credential --dir iss --passphrase-file ip \
    --terminal-key "$("$OFFPAY" terminal key --terminal unsynced --passphrase-file tp)" \
    --merchant-id 7 --name "Shop 2" --currency EUR --out unsynced.cred >/dev/null
"$OFFPAY" terminal set-credential unsynced.cred --terminal unsynced --passphrase-file tp >/dev/null
expect 0 "last sync +[0-9T:-]+Z \(its credential's installation, or a bundle: no revocation list taken yet\)" -- \
  "$OFFPAY" terminal status --terminal unsynced

# A fresh terminal: accepting, every limit shown, no warning.
expect 0 "state +accepting payments" -- "$OFFPAY" terminal status "${T[@]}"
expect 0 "payments +0 since the last sync, limit 500 \(0 %\)" -- \
  "$OFFPAY" terminal status "${T[@]}"
expect 0 "credential +valid .*Z to .*Z \(expires in 36[45] day" -- \
  "$OFFPAY" terminal status "${T[@]}"
expect 0 "revocation list +#1 signed [0-9-]+T[0-9:]+Z" -- "$OFFPAY" terminal status "${T[@]}"
expect 0 "journal +0 payment\(s\)" -- "$OFFPAY" terminal status "${T[@]}"
out=$("$OFFPAY" terminal status "${T[@]}")
if grep -q WARNING <<<"$out"; then fail "fresh terminal warns"; else ok "fresh terminal: no warning"; fi

# Payments since the sync: 3 of 5 is quiet, 4 of 5 warns and names the
# limit (the accept itself, and status), 5 of 5 is "sync required".
"$OFFPAY" terminal risk "${T[@]}" --set max-offline-payments=5 >/dev/null
for a in 1.00 2.00 3.00; do pay $a; done
out=$("$OFFPAY" terminal status "${T[@]}")
if grep -q WARNING <<<"$out"; then fail "3 of 5 warns"; else ok "3 of 5 payments: no warning"; fi
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 4.00 2>/dev/null)
expect 0 "WARNING: 4 of 5 payments since the last sync: sync soon" -- \
  "$OFFPAY" terminal accept "${T[@]}" --amount 4.00 --code "$code"
expect 0 "WARNING: payments since the last sync at 80 % of its limit \(4 of 5\)" -- \
  "$OFFPAY" terminal status "${T[@]}"
expect 0 '^ +"payments_since_sync"$' -- \
  "$OFFPAY" terminal status "${T[@]}" --json
expect 0 '"state": "OK"' -- "$OFFPAY" terminal status "${T[@]}" --json
"$OFFPAY" terminal status "${T[@]}" --json > st.json
if python3 -c '
import json, sys
s = json.load(open("st.json"))
p = s["payments_since_sync"]
assert (p["value"], p["limit"], p["percent"]) == (4, 5, 80), p
assert s["journal"]["entries"] == 4 and s["open_requests"] == 0
assert s["credential"]["merchant_id"] == "7"
assert s["clock"]["high_water"].endswith("Z")
'; then ok "status --json: values, limits, percentages"; else fail "status --json"; fi
# the fifth, the last the limit allows: the next is refused, and the
# warning says so, not "sync soon" (since 0.27.0)
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 5.00 2>/dev/null)
expect 0 "WARNING: 5 of 5 payments since the last sync: that was the last one; the next is refused \('sync required'\) until the terminal syncs" -- \
  "$OFFPAY" terminal accept "${T[@]}" --amount 5.00 --code "$code"
expect 0 "state +SYNC REQUIRED" -- "$OFFPAY" terminal status "${T[@]}"
expect 0 "at 100 % of its limit \(5 of 5\): payments are refused" -- \
  "$OFFPAY" terminal status "${T[@]}"
expect 0 '"state": "ESYNC_REQUIRED"' -- "$OFFPAY" terminal status "${T[@]}" --json
code6=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 1 "must sync first: 5 payments since its last sync, its limit is 5 \(ESYNC_REQUIRED\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --amount 1.00 --code "$code6"
"$OFFPAY" terminal risk "${T[@]}" --set max-offline-payments=500 >/dev/null

# Hours since the sync, on a clock moved forward: 8 of 10 hours warns.
"$OFFPAY" terminal risk "${T[@]}" --set max-offline-hours=10 >/dev/null
expect 0 "WARNING: time since the last sync at 8[0-9] % of its limit" -- \
  env OFFPAY_NOW=$((now + 8 * 3600 + 60)) "$OFFPAY" terminal status "${T[@]}"
expect 0 '^ +"seconds_since_sync"$' -- \
  env OFFPAY_NOW=$((now + 8 * 3600 + 60)) "$OFFPAY" terminal status "${T[@]}" --json
expect 0 "state +SYNC REQUIRED" -- \
  env OFFPAY_NOW=$((now + 11 * 3600)) "$OFFPAY" terminal status "${T[@]}"
# The oldest payment offpayd has not decided waits at most 14 days (the
# other offline limits off here): warned at 80 %, then the terminal
# refuses, and says to upload, for a request too (since 0.12.0).
"$OFFPAY" terminal risk "${T[@]}" --set max-offline-hours=0 --set max-revlist-age=0 >/dev/null
expect 0 "WARNING: a payment has waited for offpayd 2[89][0-9].[0-9] h, 8[0-9] % of the 14 day\(s\) allowed" -- \
  env OFFPAY_NOW=$((now + 12 * 86400)) "$OFFPAY" terminal status "${T[@]}"
expect 0 "state +UPLOAD REQUIRED: refusing payments until its payments are uploaded" -- \
  env OFFPAY_NOW=$((now + 15 * 86400)) "$OFFPAY" terminal status "${T[@]}"
expect 1 "cannot make a request: this terminal must upload first: its oldest payment not decided by offpayd has waited" -- \
  env OFFPAY_NOW=$((now + 15 * 86400)) "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1.00
"$OFFPAY" terminal risk "${T[@]}" --set max-offline-hours=10 --set max-revlist-age=604800 >/dev/null
# An open request is counted.
"$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 2.50 >/dev/null 2>&1
expect 0 "open requests +1" -- "$OFFPAY" terminal status "${T[@]}"

# Export: a new directory with the copy and the accounting files.
expect 0 "exported 5 payment\(s\), total 15.00 EUR" -- \
  "$OFFPAY" terminal export "${T[@]}" backup
for f in terminal.db payments.csv payments.json; do
  if [ -f "backup/$f" ]; then ok "export wrote $f"; else fail "export: no $f"; fi
done
expect 0 "^seq,accepted_at,serial,counter,kind,currency,charged_minor,charged,authorized_minor,authorized,settlement,paid_minor,paid,reason,case,ledger_lost,lost_paid_minor,covered_minor,covered"$'\r'"$" -- \
  cat backup/payments.csv
expect 0 "^3,[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z,[0-9]+,3,unbound,EUR,300,3.00,300,3.00,not_uploaded,,,,,,,,"$'\r'"$" -- \
  cat backup/payments.csv
if [ "$(wc -l < backup/payments.csv)" -eq 6 ]; then ok "CSV: 5 rows"; else fail "CSV rows"; fi
if python3 -c '
import json
d = json.load(open("backup/payments.json"))
assert d["count"] == 5 and d["total_charged_minor"] == 1500
assert d["total_charged"] == "15.00" and d["currency"] == "EUR"
p = d["payments"][1]
assert p["charged_minor"] == 200 and p["charged"] == "2.00", p
assert p["accepted_at"].endswith("Z") and p["serial"].isdigit()
assert p["uploaded"] is False and p["settlement"] is None, p
'; then ok "JSON: counts, minor units and decimal strings"; else fail "payments.json"; fi

# The copy opens as a terminal journal and holds every payment...
"$OFFPAY" terminal journal "${T[@]}" --json > live.jsonl
"$OFFPAY" terminal journal --terminal backup --json > copy.jsonl
if [ -s live.jsonl ] && cmp -s live.jsonl copy.jsonl; then
  ok "the copy's journal is the terminal's"; else fail "copy journal differs"; fi
expect 0 "an exported copy: for reading only" -- "$OFFPAY" terminal status --terminal backup
# ...and never accepts: a restored copy would forget later payments.
pay 6.00
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 2 "^NOT ACCEPTED: backup is an exported copy of a terminal.s journal \\(taken [0-9T:-]+Z\\): it never accepts; nothing was recorded: accept on the terminal itself \\(EROFS\\)$" -- "$OFFPAY" terminal accept --terminal backup --amount 1.00 --code "$code"
expect 3 "EROFS" -- "$OFFPAY" terminal sync --terminal backup --revlist iss/revlist.opb
# a terminal that never synced with offpayd has no offpayd to go back to
expect 2 "give --server URL \(offpayd; remembered after its first sync\)" -- \
  "$OFFPAY" terminal sync "${T[@]}" --passphrase-file tp
# an online sync needs the key, which a copy does not hold: said as such
# (it read "no such file or directory while opening backup")
expect 2 "backup is an exported copy of a terminal's journal \(taken [0-9T:-]+Z\): it holds no key" -- \
  "$OFFPAY" terminal sync --terminal backup --passphrase-file tp --server http://127.0.0.1:9
expect 0 "5 payment\(s\), total 15.00 EUR" -- "$OFFPAY" terminal journal --terminal backup

# Never over anything: an existing directory or file, the terminal itself.
before=$(ls -l backup | md5sum)
expect 2 "already exists" -- "$OFFPAY" terminal export "${T[@]}" backup
if [ "$(ls -l backup | md5sum)" = "$before" ]; then ok "existing export untouched"; else fail "export overwritten"; fi
: > somefile
expect 2 "already exists" -- "$OFFPAY" terminal export "${T[@]}" somefile
if [ ! -s somefile ]; then ok "existing file untouched"; else fail "file overwritten"; fi
expect 2 "already exists" -- "$OFFPAY" terminal export "${T[@]}" shop
expect 3 "cannot make the directory" -- "$OFFPAY" terminal export "${T[@]}" no/such/dir
expect 2 "give a new directory|positional|argument" -- "$OFFPAY" terminal export "${T[@]}"
if ls -d ./*.tmp-* >/dev/null 2>&1; then fail "temporary directory left"; else ok "no temporary left"; fi
# An export killed midway leaves its temporary directory (a copy of every
# payment) and DIR made empty: the next export to DIR removes the
# temporary and says what to do with DIR (the test hook holds the copy
# once its temporary is written).
OFFPAY_TEST_COPY_DELAY_MS=60000 "$OFFPAY" terminal export "${T[@]}" killed >/dev/null 2>&1 &
xp=$!
for _ in $(seq 1 200); do ls -d killed.tmp-*/terminal.db.tmp-* >/dev/null 2>&1 && break; sleep 0.05; done
kill -9 "$xp"; wait "$xp" 2>/dev/null || true
if ls -d killed.tmp-* >/dev/null 2>&1; then ok "a killed export left its temporary"; else fail "no temporary to remove"; fi
expect 2 "already exists: .*an export to it was stopped midway .*remove it \(rmdir\) and export again" -- \
  "$OFFPAY" terminal export "${T[@]}" killed
if ls -d ./*.tmp-* >/dev/null 2>&1; then fail "the killed export's temporary left: $(ls -d ./*.tmp-*)"; else ok "the killed export's temporary removed"; fi
rmdir killed
expect 0 "to killed: terminal.db" -- "$OFFPAY" terminal export "${T[@]}" killed
# A second export takes the payment made since.
expect 0 "exported 6 payment\(s\), total 21.00 EUR" -- \
  "$OFFPAY" terminal export "${T[@]}" backup2

# A journal truncated, emptied or gone: named, and nothing written into it.
for cut in 4096 0 gone; do
  rm -rf broken; cp -a shop broken; rm -f broken/terminal.db-wal broken/terminal.db-shm
  if [ "$cut" = gone ]; then rm broken/terminal.db; else truncate -s "$cut" broken/terminal.db; fi
  want="could not be read \(damaged or truncated\?\)"
  [ "$cut" = gone ] && want="is missing"
  expect 3 "broken/terminal.db, the terminal's journal, $want" -- \
    "$OFFPAY" terminal status --terminal broken
  if [ "$cut" = 0 ]; then
    [ "$(stat -c %s broken/terminal.db)" = 0 ] && ok "the emptied journal stays empty (no schema written)" \
      || fail "the emptied journal was written: $(stat -c %s broken/terminal.db) bytes"
  fi
done
# A damaged key file is named as such: the journal is fine and kept.
rm -rf broken; cp -a shop broken; truncate -s 20 broken/terminal.key
expect 3 "broken: terminal.key \(or terminal.keyuri\) could not be read .*the journal is fine, keep it" -- \
  "$OFFPAY" terminal request --terminal broken --passphrase-file tp --amount 1.00
rm -rf broken

# init into a directory holding a journal without its key (copied without
# terminal.key, or left by a crash of an older init) never reuses nor
# replaces it: refused (exit 2) naming the file and what it holds, the
# payments offpayd has not decided included, and nothing changes; with the
# key back the terminal goes on with them.
I=(--root iss/root.pub --bundle iss/bundle.opb --currency EUR --passphrase-file tp)
cp -a shop nokey; rm nokey/terminal.key
before=$(cd nokey && ls -l --time-style=+%s . && md5sum ./*)
expect 2 "nokey/terminal.db is a terminal's journal without its key \(no terminal.key or terminal.keyuri beside it\): 6 accepted payment\(s\), 6 of them NOT decided by offpayd yet .*\(EEXISTS\)" -- \
  "$OFFPAY" terminal init --terminal nokey "${I[@]}"
expect 2 "Put the terminal's key file back beside it .*'offpay terminal journal --terminal nokey' lists the payments" -- \
  "$OFFPAY" terminal init --terminal nokey "${I[@]}"
expect 2 "^offpay: terminal init: no terminal was made, and nothing in nokey was changed$" -- \
  "$OFFPAY" terminal init --terminal nokey "${I[@]}"
[ "$(cd nokey && ls -l --time-style=+%s . && md5sum ./*)" = "$before" ] \
  && ok "the journal without its key is left as it was" || fail "init changed nokey: $(ls -la nokey)"
# Without its key the terminal accepts nothing (no upload could carry it):
# status says so, a payment is refused with nothing recorded, and what
# needs the key names the missing file (since 0.25.0; before, status said
# "accepting payments", the payment was taken, and a sync said only ENOENT)
expect 0 "^state +KEY MISSING: terminal.key is not in its directory: not accepting payments" -- \
  "$OFFPAY" terminal status --terminal nokey
expect 0 '"state": "ETERMINAL_KEY_MISSING"' -- "$OFFPAY" terminal status --terminal nokey --json
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 1 "^REJECTED: this terminal's key file is missing" -- "$OFFPAY" terminal accept --terminal nokey --amount 1.00 --code "$code"
expect 1 "this terminal's key file \(terminal.key\) is not in its directory: nothing it accepted could be uploaded, so it accepts nothing \(nothing was charged\)" -- \
  "$OFFPAY" terminal accept --terminal nokey --amount 1.00 --code "$code"
expect 3 "^offpay: nokey/terminal.key, this terminal's key, is missing .*nothing in its journal can be uploaded without it.* \(ETERMINAL_KEY_MISSING\)$" -- \
  "$OFFPAY" terminal sync --terminal nokey --passphrase-file tp --server http://127.0.0.1:9
expect 3 "nokey/terminal.key, this terminal's key, is missing" -- \
  "$OFFPAY" terminal request --terminal nokey --passphrase-file tp --amount 1.00
[ "$(cd nokey && ls -l --time-style=+%s . && md5sum ./*)" = "$before" ] \
  && ok "nothing recorded without the key" || fail "nokey changed: $(ls -la nokey)"
cp -a shop/terminal.key nokey/
expect 0 "^state +accepting payments" -- "$OFFPAY" terminal status --terminal nokey
expect 0 "6 payment\(s\), total 21.00 EUR" -- "$OFFPAY" terminal journal --terminal nokey
expect 0 "^[0-9a-f]{64}$" -- "$OFFPAY" terminal key --terminal nokey --passphrase-file tp
# An export, a journal with no payment, one that does not open, a -wal
# file alone: each refused, said as such.
expect 2 "backup/terminal.db is an exported copy of a terminal's journal \(taken [0-9T:-]+Z, 5 payment\(s\)\)" -- \
  "$OFFPAY" terminal init --terminal backup "${I[@]}"
"$OFFPAY" terminal init --terminal fresh "${I[@]}" >/dev/null; rm fresh/terminal.key
expect 2 "fresh/terminal.db is a terminal's journal without its key .*holding no accepted payment" -- \
  "$OFFPAY" terminal init --terminal fresh "${I[@]}"
mkdir junk; head -c 4096 /dev/urandom > junk/terminal.db
expect 2 "junk/terminal.db is there without the terminal's key .*does not open as a terminal's journal \(EJOURNAL\): it may hold accepted payments" -- \
  "$OFFPAY" terminal init --terminal junk "${I[@]}"
mkdir walonly; printf 'frames' > walonly/terminal.db-wal
expect 2 "walonly/terminal.db-wal is there without terminal.db" -- \
  "$OFFPAY" terminal init --terminal walonly "${I[@]}"
[ "$(ls -A walonly)" = terminal.db-wal ] && [ "$(cat walonly/terminal.db-wal)" = frames ] \
  && ok "a -wal file alone is left as it was" || fail "walonly: $(ls -la walonly)"

finish
