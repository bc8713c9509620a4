#!/usr/bin/env bash
# cli_outputs.sh — the offpay CLI as users meet it (issue 6): output files
# never destroy data (each output option refuses an existing file without
# --force and an offpay state always), outputs are checked before anything
# is reserved, an outstanding code can be shown again, ambiguous input is a
# usage error, messages say what happened, and output is consistent (ISO
# 8601 times, JSON amounts, per-subcommand help, one exit-status table).
here=$(cd "$(dirname "$0")" && pwd)
README=$here/../../README.md
source "$here/lib.sh"
setup_world 100.00
W=(--wallet w --passphrase-file wp)
T=(--terminal shop)

scanned() { "$OFFPAY" decode --image "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])'; }
same() { [ "$1" = "$2" ] && ok "$3" || fail "$3: '$1' != '$2'"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }
codes_made() { "$OFFPAY" wallet balance "${W[@]}" | grep -oE '[0-9]+ code\(s\) made'; }
no_temp_left() {
  if ls -a "$@" | grep -qE '^\.offpay-out-|\.tmp$'; then
    fail "temporary files left in $*: $(ls -a "$@" | tr '\n' ' ')"
  else ok "no temporary file left in $*"; fi
}

# ---- 1. output options never overwrite data --------------------------------
wsum=$(sum w)
# --png onto the wallet: refused, even with --force; the wallet still opens.
expect 2 "holds an offpay state" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --png w
expect 2 "even with --force" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --png w --force
# --svg onto the wallet's lock (present once the wallet was opened).
[ -e w.lock ] && expect 2 "lock or temporary file of an offpay state" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --svg w.lock --force
[ "$(sum w)" = "$wsum" ] && ok "the wallet file is untouched" || fail "the wallet file changed"
expect 0 "0 code\(s\) made" -- "$OFFPAY" wallet balance "${W[@]}"

# ... nor onto its spend log (the codes it made), even with --force.
cp w.log w.log.before
expect 2 "even with --force" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --png w.log --force
expect 0 "" -- cmp w.log w.log.before
rm w.log.before

# --png onto an existing file: refused without --force, replaced with it.
printf 'keep me\n' > keep.png
expect 2 "exists; give --force" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --png keep.png
[ "$(cat keep.png)" = "keep me" ] && ok "--png left the existing file" || fail "--png replaced keep.png"
expect 0 "0 code\(s\) made" -- "$OFFPAY" wallet balance "${W[@]}"
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --png keep.png --force 2>/dev/null)
same "$(scanned keep.png)" "$code" "--png --force wrote the code"
# --svg the same.
printf 'keep me\n' > keep.svg
expect 2 "exists; give --force" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --svg keep.svg
expect 0 "" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --svg keep.svg --force
grep -q "<svg" keep.svg && ok "--svg --force wrote an SVG" || fail "--svg --force"
[ "$(stat -c %a keep.svg)" = 600 ] && ok "a code's image is private (0600)" || fail "mode $(stat -c %a keep.svg)"
no_temp_left .

# terminal accept --receipt-png onto the journal: refused before accepting.
dbsum=$(sum shop/terminal.db)
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 2.00 2>/dev/null)
expect 2 "inside a terminal's directory" -- "$OFFPAY" terminal accept "${T[@]}" \
  --code "$code" --amount 2.00 --passphrase-file tp --receipt-png shop/terminal.db --force
[ "$(sum shop/terminal.db)" = "$dbsum" ] && ok "the journal is untouched" || fail "terminal.db changed"
expect 0 "0 payment\(s\)" -- "$OFFPAY" terminal journal "${T[@]}"
printf 'old receipt\n' > rc.png
expect 2 "exists; give --force" -- "$OFFPAY" terminal accept "${T[@]}" \
  --code "$code" --amount 2.00 --passphrase-file tp --receipt-png rc.png
expect 2 "NOT ACCEPTED: --receipt-png cannot be written \(above\); no code was read and nothing was recorded: do not hand over the goods" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 2.00 --passphrase-file tp --receipt-png rc.png
expect 3 "^offpay: NOT ACCEPTED: --receipt-png cannot be written" -- "$OFFPAY" terminal accept "${T[@]}" \
  --code "$code" --amount 2.00 --passphrase-file tp --receipt-png nodir/rc.png
expect 0 "0 payment\(s\)" -- "$OFFPAY" terminal journal "${T[@]}"
expect 0 "receipt written to rc.png" -- "$OFFPAY" terminal accept "${T[@]}" \
  --code "$code" --amount 2.00 --passphrase-file tp --receipt-png rc.png --force
expect 0 "charged 2.00 EUR" -- "$OFFPAY" wallet receipt "${W[@]}" --image rc.png

# terminal receipt --png onto the terminal's key: refused; the key still opens.
ksum=$(sum shop/terminal.key)
expect 2 "inside a terminal's directory" -- "$OFFPAY" terminal receipt "${T[@]}" \
  --passphrase-file tp --seq 1 --png shop/terminal.key --force
[ "$(sum shop/terminal.key)" = "$ksum" ] && ok "terminal.key is untouched" || fail "terminal.key changed"
expect 2 "inside a terminal's directory" -- "$OFFPAY" terminal request "${T[@]}" \
  --passphrase-file tp --amount 1.00 --svg shop/request.svg
printf 'x\n' > r1.png
expect 2 "exists; give --force" -- "$OFFPAY" terminal receipt "${T[@]}" --passphrase-file tp --seq 1 --png r1.png
expect 0 "" -- "$OFFPAY" terminal receipt "${T[@]}" --passphrase-file tp --seq 1 --png r1.png --force
expect 2 "--seq 99: no such journal entry \(the journal has [0-9]+; 'terminal journal' lists them\)" -- \
  "$OFFPAY" terminal receipt "${T[@]}" --passphrase-file tp --seq 99
expect 0 '"type": "receipt"' -- "$OFFPAY" decode --image r1.png --json

# issuer --out onto a passphrase file: refused without --force; the
# issuer's directory and sealed files never, even with --force.
cp ip ip.keep
key=$("$OFFPAY" wallet key "${W[@]}")
expect 2 "exists; give --force" -- "$OFFPAY" issuer wallet-credential --dir iss \
  --passphrase-file ip --wallet-key "$key" --limit 5 --currency EUR --out ip
cmp -s ip ip.keep && ok "--out left the passphrase file" || fail "--out overwrote ip"
expect 2 "inside an issuer's directory" -- "$OFFPAY" issuer wallet-credential --dir iss \
  --passphrase-file ip --wallet-key "$key" --limit 5 --currency EUR --out iss/w9.cred --force
expect 2 "holds an offpay state" -- "$OFFPAY" issuer wallet-credential --dir iss \
  --passphrase-file ip --wallet-key "$key" --limit 5 --currency EUR --out w --force
expect 2 "exists; give --force" -- "$OFFPAY" issuer terminal-credential --dir iss \
  --passphrase-file ip --terminal-key "$("$OFFPAY" terminal key "${T[@]}" --passphrase-file tp)" \
  --merchant-id 7 --name Shop --currency EUR --out shop.cred
cp w.cred w2.cred
expect 0 "written to w2.cred" -- "$OFFPAY" issuer wallet-credential --dir iss \
  --passphrase-file ip --wallet-key "$key" --limit 5 --currency EUR --out w2.cred --force
[ "$(stat -c %a w2.cred)" = 644 ] && ok "a credential is handed out (0644)" || fail "mode $(stat -c %a w2.cred)"
no_temp_left . iss shop

# ---- 2. outputs checked before reserving; a code shown again ---------------
before=$(codes_made)
expect 3 "cannot create a file in nodir" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 3.00 --png nodir/c.png
[ "$(codes_made)" = "$before" ] && ok "nothing reserved for an unwritable --png" || fail "reserved: $(codes_made) was $before"
out=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 3.00 --png nodir/c.png 2>/dev/null || true)
[ -z "$out" ] && ok "no code printed for an unwritable --png" || fail "printed a code: $out"
"$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 2.50 --png req0.png >/dev/null 2>&1
expect 3 "cannot create a file in nodir" -- "$OFFPAY" wallet pay-request "${W[@]}" --image req0.png --yes --svg nodir/c.svg
[ "$(codes_made)" = "$before" ] && ok "nothing reserved for an unwritable pay-request --svg" || fail "reserved: $(codes_made) was $before"
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 3.00 2>/dev/null)
after=$(codes_made)
again=$("$OFFPAY" wallet show-code "${W[@]}" 2>/dev/null)
[ "$again" = "$code" ] && ok "show-code gives the same code, byte for byte" || fail "show-code: $again != $code"
[ "$(codes_made)" = "$after" ] && ok "show-code reserves nothing" || fail "show-code reserved"
counter=$("$OFFPAY" decode --code "$code" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counter"])')
expect 0 "nothing new reserved" -- "$OFFPAY" wallet show-code "${W[@]}" "$counter" --png again.png
same "$(scanned again.png)" "$code" "show-code --png draws the same code"
expect 0 "accepted: 3.00 EUR" -- "$OFFPAY" terminal accept "${T[@]}" --code "$again" --amount 3.00
expect 2 "\[SERIAL:\]COUNTER" -- "$OFFPAY" wallet show-code "${W[@]}" x7
expect 1 "no such code" -- "$OFFPAY" wallet show-code "${W[@]}" 999

# ---- 5. ambiguity is a usage error -----------------------------------------
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --png amb.png 2>/dev/null)
expect 2 "--image or --code, not both" -- "$OFFPAY" terminal accept "${T[@]}" --image amb.png --code "$code" --amount 1.00
expect 2 "'--amount' given twice" -- "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00 --amount 0.50
expect 2 "'--amount' given twice" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --amount=2.00
expect 2 "'--wallet' given twice" -- "$OFFPAY" wallet balance "${W[@]}" --wallet other
expect 2 "'--limit' given twice" -- "$OFFPAY" issuer wallet-credential --dir iss --limit 1 --limit 2
expect 2 "'--code' given twice" -- "$OFFPAY" decode --code "$code" --code "$code"
# An option of another subcommand of the group is refused, not ignored,
# before anything is read or written.
before=$(codes_made)
expect 2 "wallet balance: --currency is not an option of 'wallet balance'; see 'offpay wallet balance --help'" -- \
  "$OFFPAY" wallet balance "${W[@]}" --currency EUR
expect 2 "wallet pay: --server is not an option of 'wallet pay'" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 --server http://127.0.0.1:9
[ "$(codes_made)" = "$before" ] && ok "nothing reserved for a pay with a stray option" || fail "reserved: $(codes_made) was $before"
expect 2 "terminal journal: --amount is not an option of 'terminal journal'" -- \
  "$OFFPAY" terminal journal "${T[@]}" --amount 3
expect 2 "terminal accept: --batch is not an option of 'terminal accept'" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00 --batch 5
expect 2 "issuer show: --limit is not an option of 'issuer show'" -- \
  "$OFFPAY" issuer show --dir iss --limit 5
expect 0 "code\(s\) made" -- "$OFFPAY" wallet balance "${W[@]}"
expect 2 "give the code once" -- "$OFFPAY" decode --file w.cred --code "$code"
code2=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 2 "more than one line on standard input" -- bash -c \
  "printf '%s\n%s\n' '$code' '$code2' | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
expect 2 "more than one line on standard input \(lines ended by CR\)" -- bash -c \
  "printf '%s\r%s\r' '$code' '$code2' | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
expect 1 "holds a NUL byte: not a code \(EMALFORMED\)" -- bash -c \
  "printf '%s\\0junk\n' '$code2' | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
expect 0 "2 payment\(s\)" -- "$OFFPAY" terminal journal "${T[@]}"
expect 0 "accepted: 1.00 EUR" -- bash -c \
  "printf '%s\r\n\n' '$code' | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
expect 0 "max-offline-payments +9" -- "$OFFPAY" terminal risk "${T[@]}" \
  --set max-offline-payments=8 --set max-offline-payments=9
out=$("$OFFPAY" terminal risk "${T[@]}" 2>&1)
! grep -q "warning" <<<"$out" && ok "the default rules: no warning" || fail "warned: $out"
expect 0 "warning: floor-unbound is above the guarantee's 50.00 EUR" -- \
  "$OFFPAY" terminal risk "${T[@]}" --set floor-unbound=100.00
expect 0 "the merchant is not paid the rest" -- "$OFFPAY" terminal risk "${T[@]}"
expect 0 "floor-unbound +50.00 EUR" -- "$OFFPAY" terminal risk "${T[@]}" --set floor-unbound=50.00
expect 0 "^\(risk unit 1.00 EUR: the defaults are 50, 200 and 500 of it\)$" -- "$OFFPAY" terminal risk "${T[@]}"
# A yen terminal's defaults count in its risk unit, 100 JPY; one holding
# the rules a terminal saved before (50, 200 and 500 JPY) is told each is
# below the default and how to take it.
"$OFFPAY" terminal init --terminal yen --root iss/root.pub --bundle iss/bundle.opb \
    --currency JPY --passphrase-file tp >/dev/null
expect 0 "^floor-unbound +5000 JPY$" -- "$OFFPAY" terminal risk --terminal yen --passphrase-file tp
expect 0 "^\(risk unit 100 JPY: the defaults are 50, 200 and 500 of it\)$" -- \
  "$OFFPAY" terminal risk --terminal yen --passphrase-file tp
expect 0 "^note: cumulative 500 JPY is below the default 50000 JPY, which the guarantee covers \(--set cumulative=50000 takes it\)$" -- \
  "$OFFPAY" terminal risk --terminal yen --passphrase-file tp --set floor-unbound=50 \
  --set floor-bound=200 --set cumulative=500
out=$("$OFFPAY" terminal risk --terminal yen --passphrase-file tp --set floor-unbound=5000 \
  --set floor-bound=20000 --set cumulative=50000 2>&1)
! grep -q "^note" <<<"$out" && ok "at the defaults: no note" || fail "noted: $out"
# A credential of another currency is refused naming both currencies and
# what to do; a payer's code in another currency names both too.
"$OFFPAY" issuer terminal-credential --dir iss --passphrase-file ip --merchant-id 44 \
    --terminal-key "$("$OFFPAY" terminal key --terminal yen --passphrase-file tp)" \
    --name "Euro shop" --currency EUR --out yen-eur.cred >/dev/null
expect 1 "yen-eur.cred: this credential is in EUR and this terminal charges in JPY .*nothing was installed \(ECURRENCY\)" -- \
  "$OFFPAY" terminal set-credential yen-eur.cred --terminal yen --passphrase-file tp
expect 1 "registered for merchant 44, whose currency is EUR: have the operator revoke that registration \('offpay admin revoke-terminal --terminal-id [0-9]+'\) and register this key for a merchant in JPY" -- \
  "$OFFPAY" terminal set-credential yen-eur.cred --terminal yen --passphrase-file tp
"$OFFPAY" issuer terminal-credential --dir iss --passphrase-file ip --merchant-id 44 \
    --terminal-key "$("$OFFPAY" terminal key --terminal yen --passphrase-file tp)" \
    --name "Yen shop" --currency JPY --out yen.cred >/dev/null
"$OFFPAY" terminal set-credential yen.cred --terminal yen --passphrase-file tp >/dev/null
expect 1 "^  the payer's wallet pays in EUR and this terminal charges in JPY: it cannot pay here offline; the payer needs a JPY credential" -- \
  "$OFFPAY" terminal accept --terminal yen --passphrase-file tp --amount 100 \
  --code "$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)"
# An amount refused names the currency's own way of writing one, as the
# --amount options' help does.
expect 0 "--amount AMOUNT \(12.50 EUR, 1250 JPY, 12.500 KWD: the" -- "$OFFPAY" terminal request --help
expect 0 "sign: 12.50 \(EUR\), 1250 \(JPY\), 12.500 \(KWD\)" -- "$OFFPAY" wallet pay --help
expect 2 "^offpay: 12.50: malformed amount \(it has 2 decimals and JPY has none: write amounts like 1250\)$" -- \
  "$OFFPAY" terminal request --terminal yen --passphrase-file tp --amount 12.50
expect 2 "^offpay: 12,5: malformed amount \(write EUR amounts like 12.50, with at most 2 decimals, no sign\)$" -- \
  "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 12,5
expect 2 "^offpay: 1.2345: malformed amount \(it has 4 decimals and KWD has 3: write amounts like 12.500\)$" -- \
  "$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip --limit 1.2345 --currency KWD \
  --wallet-key "$(printf '%064x' 5)" --out kwd.cred
# 0 means no limit: said as such, not as "above" the guarantee's figure
expect 0 "warning: max-revlist-age 0 \(no limit\) is looser than the guarantee's 604800 s" -- \
  "$OFFPAY" terminal risk "${T[@]}" --set max-revlist-age=0
expect 0 "warning: max-revlist-age is above the guarantee's 604800 s" -- \
  "$OFFPAY" terminal risk "${T[@]}" --set max-revlist-age=604801
# max-upload-days past offpayd's late window (44 days at the earliest with
# its defaults), or 0: a payment uploaded that late is paid nothing (ELATE)
expect 0 "warning: max-upload-days 0 \(no limit\) lets a payment wait past offpayd's late window, at the earliest 44 days after it .*not paid at all \(ELATE" -- \
  "$OFFPAY" terminal risk "${T[@]}" --set max-revlist-age=604800 --set max-upload-days=0
expect 0 "warning: max-upload-days is above offpayd's late window, at the earliest 44 days after a payment .*not paid at all \(ELATE" -- \
  "$OFFPAY" terminal risk "${T[@]}" --set max-upload-days=49711
out=$("$OFFPAY" terminal risk "${T[@]}" --set max-upload-days=44 2>&1)
! grep -q "warning" <<<"$out" && ok "max-upload-days 44: no warning" || fail "warned: $out"
expect 0 "max-upload-days +14 d" -- "$OFFPAY" terminal risk "${T[@]}" --set max-upload-days=14

# ---- 6. messages say what happened -----------------------------------------
# A request answered twice (scanned again): the same code, nothing more
# reserved; the terminal takes it once.
"$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 4.00 --png req.png >/dev/null 2>&1
before=$(codes_made)
b1=$("$OFFPAY" wallet pay-request "${W[@]}" --image req.png --yes 2>/dev/null)
after=$(codes_made)
b2=$("$OFFPAY" wallet pay-request "${W[@]}" --image req.png --yes 2>twice.err)
same "$b2" "$b1" "a request answered twice gets the same code"
grep -qE "^this request was answered before, by code [0-9]+ of credential [0-9]+: the same code again, nothing more reserved$" twice.err &&
  ok "the second answer says so" || fail "the second answer: $(cat twice.err)"
[ "$after" != "$before" ] && [ "$(codes_made)" = "$after" ] &&
  ok "one code made for the request" || fail "codes made: $before, $after, $(codes_made)"
expect 0 "accepted: 4.00 EUR" -- "$OFFPAY" terminal accept "${T[@]}" --code "$b1"
expect 1 "already accepted at [0-9T:-]+Z as payment #[0-9]+ for 4.00 EUR: do not charge again \(EREPLAY\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$b2"
# Another wallet's code for the paid request: the terminal says it was paid.
"$OFFPAY" wallet init --wallet other --root iss/root.pub --bundle iss/bundle.opb --passphrase-file wp >/dev/null
"$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip \
  --wallet-key "$("$OFFPAY" wallet key --wallet other --passphrase-file wp)" \
  --limit 10.00 --currency EUR --out other.cred >/dev/null
"$OFFPAY" wallet add-credential other.cred --wallet other --passphrase-file wp >/dev/null
b3=$("$OFFPAY" wallet pay-request --wallet other --passphrase-file wp --image req.png --yes 2>/dev/null)
expect 1 "request this code answers was already paid, at [0-9T:-]+Z as payment #[0-9]+ for 4.00 EUR: do not charge again \(EWRONG_NONCE\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$b3"
# a bound code without a receipt comes back byte for byte, still bound
b2c=$("$OFFPAY" decode --code "$b2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counter"])')
again=$("$OFFPAY" wallet show-code "${W[@]}" "$b2c" 2>/dev/null)
same "$again" "$b2" "show-code gives a bound code back, byte for byte"
expect 2 "--amount must be more than 0" -- "$OFFPAY" terminal accept "${T[@]}" --code "$code2" --amount 0
expect 2 "amount must be more than 0" -- "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 0
expect 2 "--limit: the allowance must be more than 0" -- "$OFFPAY" issuer wallet-credential \
  --dir iss --passphrase-file ip --wallet-key "$key" --limit 0 --currency EUR --out z.cred
expect 2 "--terminal w: not a directory" -- "$OFFPAY" terminal journal --terminal w
expect 2 "--terminal shopp: no terminal there \(no such directory\): give the terminal's directory" -- \
  "$OFFPAY" terminal journal --terminal shopp
mkdir -p not-a-terminal
expect 2 "--terminal not-a-terminal: no terminal there \(no terminal.key or terminal.db\)" -- \
  "$OFFPAY" terminal status --terminal not-a-terminal
expect 0 "already in the wallet: nothing changed" -- "$OFFPAY" wallet add-credential w.cred "${W[@]}"
python3 - <<'PY'
import struct, zlib
w, h = 9000, 1
raw = b"\x00" + b"\xff" * w
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open("wide.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
expect 1 "9000 x 1 pixels; at most 8192 a side" -- "$OFFPAY" terminal accept "${T[@]}" --image wide.png --amount 1.00
expect 1 "asked for 500.00 EUR; available: [0-9.]+ EUR on credential [0-9]+" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 500.00
now=$(date +%s)
OFFPAY_NOW=$now "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1.50 --png old.png >/dev/null 2>&1
expect 0 "made 400 s ago.*probably expired" -- env OFFPAY_NOW=$((now + 400)) \
  "$OFFPAY" wallet pay-request "${W[@]}" --image old.png --yes
# A payer's clock 200 s ahead: the wallet warns of its own clock, and the
# terminal, whose own request the code answers, blames the payer's clock.
OFFPAY_NOW=$now "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1.25 --png ahead.png >/dev/null 2>&1
expect 0 "made 200 s ago by this device's clock. If the merchant has just made it, this device's clock is ahead" -- \
  env OFFPAY_NOW=$((now + 200)) "$OFFPAY" wallet pay-request "${W[@]}" --image ahead.png --yes --png ahead-code.png
expect 1 "200 s after this terminal's [0-9T:-]+Z; it answers a request this terminal made by its own clock, so the payer's clock is ahead" -- \
  env OFFPAY_NOW=$now "$OFFPAY" terminal accept "${T[@]}" --image ahead-code.png --amount 1.25
expect 2 "^offpay wallet pay: unrecognized option '--bogus'" -- "$OFFPAY" wallet pay "${W[@]}" --bogus
expect 2 "^offpay decode: unrecognized option" -- "$OFFPAY" decode --bogus
# an option's first letters are not that option (since 0.25.0): --backup
# is not --backup-passphrase-file, nor --acc --account, nor --amount=
# cut short; given whole, with its value joined by '=' or apart, it is
expect 2 "^offpay wallet restore: unrecognized option '--backup' \(options are given whole: it only begins --backup-passphrase-file\)" -- \
  "$OFFPAY" wallet restore --wallet w9 --backup w.bak --passphrase-file wp
expect 2 "unrecognized option '--amo' \(options are given whole: it only begins --amount\)" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amo=1.00
expect 0 "^OPPY:" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount=1.00
# an amount with leading zeros: said why (since 0.25.0)
expect 2 "00001.00: malformed amount \(it starts with a zero before another digit: write amounts like 12.50\)" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 00001.00
# An empty new passphrase is refused at once, before "Repeat it".
expect 0 "EMPTY-REFUSED" -- python3 - "$OFFPAY" <<'PY'
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "wallet", "init", "--wallet", "nw",
             "--root", "iss/root.pub", "--bundle", "iss/bundle.opb"])
out = b""
def read_for(pat, t):
    global out
    end = time.time() + t
    while pat not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 1024)
            except OSError:
                break
read_for(b"passphrase: ", 20)
time.sleep(1)  # the prompt turns echo off with TCSAFLUSH: answer after it
os.write(fd, b"\n")
read_for(b"Repeat", 5)
try:
    os.kill(pid, signal.SIGKILL)
except ProcessLookupError:
    pass
os.waitpid(pid, 0)
print("EMPTY-REFUSED" if b"empty" in out and b"Repeat" not in out else out)
PY

# ---- 8. consistency ---------------------------------------------------------
expect 0 "signing key 1 valid [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \.\. [0-9-]+T" -- "$OFFPAY" issuer show --dir iss
expect 0 '"valid_from": "[0-9-]+T[0-9:]+Z"' -- "$OFFPAY" decode --file w.cred --json
expect 0 '"charged_minor":200,"charged":"2.00","authorized_minor":200,"authorized":"2.00"' -- \
  "$OFFPAY" terminal journal "${T[@]}" --json
help=$("$OFFPAY" wallet pay --help)
if grep -q "^Usage: offpay wallet pay " <<<"$help" && grep -q -- "--currency CODE" <<<"$help" \
   && ! grep -q "add-credential" <<<"$help"; then ok "wallet pay --help is that command's help"
else fail "wallet pay --help: $help"; fi
expect 0 "Usage: offpay terminal accept" -- "$OFFPAY" terminal accept --help
# offpay --help names every subcommand of every group, in that group's
# entry (its lines from "  GROUP " to the next entry).
missing=""; seen=""
for g in issuer wallet terminal admin; do
  top=$("$OFFPAY" --help | awk -v g="$g" '/^  [a-z]/ {f = ($1 == g)} f' | tr -s ' \n,:' ' ')
  list=Subcommands; [ $g = admin ] && list=Commands
  # (admin's list has a blank line inside, and ends at its options)
  for c in $("$OFFPAY" $g --help | awk -v l="$list:" '$0 == l {f=1; next}
             f && /^  --/ {exit} f && /^$/ && n && l != "Commands:" {exit}
             f && /^  [a-z]/ {print $1; n++}'); do
    seen="$seen $g/$c"
    grep -qw -- "$c" <<<"$top" || missing="$missing $g/$c"
  done
done
[ -z "$missing" ] && [[ "$seen" == *" admin/backup"* ]] && [[ "$seen" == *" wallet/nfc"* ]] \
  && ok "offpay --help names every subcommand of every group" \
  || fail "offpay --help lacks:$missing (read:$seen)"
# A wrong file for --root or --bundle is named as what it is not.
expect 2 "iss/bundle.opb: not a public key: give 64 hex digits, or the file that holds them \(the issuer's root.pub\); this file looks like a trust bundle \(an offpay message\)" -- \
  "$OFFPAY" wallet init --wallet w9 --root iss/bundle.opb --bundle iss/bundle.opb --passphrase-file wp
expect 1 "wallet init: --bundle iss/root.pub is not a trust bundle: it looks like a public key in hex \(as the issuer's root.pub holds\); give the issuer's bundle.opb" -- \
  "$OFFPAY" wallet init --wallet w9 --root iss/root.pub --bundle iss/root.pub --passphrase-file wp
[ ! -e w9 ] && ok "no wallet made from a wrong file" || fail "w9 was made"
# Refusals that say what to do next: a request above the floor names it,
# and splits it only within the cumulative limit (one payer's 1000.00 in
# parts would be refused past 500.00); a terminal with no credential yet
# says how to get one.
expect 1 "a payment above 200.00 EUR is not accepted offline here \(terminal risk: floor-bound\): split it into payments of at most that, 500.00 EUR in all from one payer \(cumulative\)" -- \
  "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 300.00
expect 1 "one payer pays at most 500.00 EUR in all here offline \(terminal risk: cumulative, per credential\), and at most 200.00 EUR a payment \(floor-bound\): split or not, this amount is not taken offline" -- \
  "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1000.00
out=$("$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1000.00 2>&1 || true)
! grep -q "split it into" <<<"$out" && ok "1000.00: no advice to split past the cumulative limit" \
  || fail "1000.00 advised to split: $out"
"$OFFPAY" terminal init --terminal nocred --root iss/root.pub --bundle iss/bundle.opb \
    --currency EUR --passphrase-file tp >/dev/null
expect 3 "give 'offpay terminal key' to the operator, then install the credential it sends back" -- \
  "$OFFPAY" terminal accept --terminal nocred --passphrase-file tp --code "$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 0.10 2>/dev/null)"
# A currency in lower case is the same currency.
expect 0 "limit 1.00 EUR, written to w9.cred" -- "$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip \
  --wallet-key "$("$OFFPAY" wallet key "${W[@]}")" --limit 1.00 --currency eur --out w9.cred
# An admin command's --help is its own usage, entry and options, not the
# whole group's: refund's options, not enroll-code's nor another entry.
help=$("$OFFPAY" admin refund --help)
if grep -q "^Usage: offpay admin refund --db LEDGER --presentment N" <<<"$help" \
   && grep -q "^  refund    the merchant gives back" <<<"$help" \
   && grep -q -- "^  --funded " <<<"$help" && grep -q -- "^  --db LEDGER" <<<"$help" \
   && grep -q "^Exit status" <<<"$help" \
   && ! grep -q -- "--currency\|^  audit\|enroll-code --db" <<<"$help"; then
  ok "admin refund --help is that command's help"
else fail "admin refund --help: $help"; fi
for c in audit release cases evidence enroll-code revoke-wallet credential revoke-credential revoke-terminal transfers merchants accounts backup lists; do
  expect 0 "^Usage: offpay admin $c " -- "$OFFPAY" admin "$c" --help
done
expect 0 "Usage: offpay issuer show" -- "$OFFPAY" issuer show --help

# At a market stall (since 0.12.0). A scanner that ends with a Tab (or a
# space) before Enter: the code reads.
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 0 "accepted: 1.00 EUR" -- bash -c "printf '%s\t\r\n' '$code' | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 0 "accepted: 1.00 EUR" -- bash -c "printf '%s \n' '$code' | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
# A scanner in another keyboard layout: said, not "scan it again".
garbled=$(sed 's/:/Ö/' <<<"$code")
expect 1 "is the scanner set to another keyboard layout than this computer's" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --code "$garbled"
# Another kind of QR code altogether (a web address), scanned or read from
# an image (rendered by liboffpay's own QR writer): said to be no offpay
# code, not blamed on a keyboard; an image's code with a character no
# offpay code has is not a keyboard's either (since 0.25.0)
qr_png() {
  # (an ASan build's library loads into python only so, its leaks python's)
  ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 python3 -c 'import ctypes, sys
sys.exit(ctypes.CDLL(sys.argv[1]).offpay_qr_write_png(sys.argv[2].encode(), sys.argv[3].encode(), 4, 4))' \
    "$(dirname "$OFFPAY")/liboffpay.so" "$1" "$2"
}
# (a scanner typing in a Cyrillic layout garbles the "OPP" too: still the
# keyboard's hint, not "no offpay code")
cyr="ЩЗЗН${code:4}"
expect 1 "is the scanner set to another keyboard layout than this computer's" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --code "$cyr"
qr_png 'https://example.com/pay?x=1' url.png || fail "url.png not written"
expect 1 'this is not an offpay payment code \(it reads "https://example.com/pay\?x=1"\): ask the payer for the code their offpay wallet shows \(nothing was charged\)' -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image url.png
expect 1 'this is not an offpay payment code \(it reads "https://example.com/pay\?x=1"\)' -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --code 'https://example.com/pay?x=1'
# Two codes in one picture (since 0.26.0): two payers' phones side by side
# are refused, exit 1, nothing recorded, since which one pays is not the
# scanner's to guess (before, one of them was charged); a payer's code
# beside a poster's web address is the payer's code. Pictures made by
# tests/e2e/qr_pair.py from liboffpay's own QR writer.
qr_pair() {
  ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 python3 "$(dirname "$0")/qr_pair.py" \
    "$(dirname "$OFFPAY")/liboffpay.so" "$@"
}
c1=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
c2=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
qr_pair "$c1" "$c2" two.png || fail "two.png not written"
n0=$("$OFFPAY" terminal status --terminal shop --json | jq '.journal.entries')
expect 1 "^offpay: two.png: the image shows more than one offpay code: show one code at a time \(ESCAN_SEVERAL\)" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image two.png
expect 1 "take the picture again with one code in it: cover the others or crop them out \(nothing was read, nothing charged\)" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image two.png
[ "$n0" -gt 0 ] && [ "$("$OFFPAY" terminal status --terminal shop --json | jq '.journal.entries')" = "$n0" ] \
  && ok "two codes in a picture: nothing recorded ($n0 entries)" || fail "two codes: the journal changed from $n0"
qr_pair 'https://example.com/menu' "$c2" beside.png || fail "beside.png not written"
expect 0 "accepted: 1.00 EUR" -- "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image beside.png
expect 1 "already accepted at [0-9T:-]+Z as payment #[0-9]+ for 1.00 EUR: do not charge again \(EREPLAY\)" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --code "$c2"
# An image offpay does not read, said as what it is (since 0.25.0; before,
# "cannot read or write the image", exit 3): a JPEG, a PNG cut short, a
# photo of 4000 x 3000 pixels (exit 1 each: nothing was read or charged)
printf '\377\330\377\340\000\020JFIF\000' > photo.jpg
expect 1 "photo.jpg is a JPEG image: only PNG images are read; save or convert it as PNG \(EIMAGE\)" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image photo.jpg
head -c 100 url.png > cut.png
expect 1 "cut.png: a damaged or cut-short PNG image: save or take it again \(EIMAGE\)" -- \
  "$OFFPAY" decode --image cut.png
python3 - <<'PY'
import struct, zlib
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
w, h = 4000, 3000
raw = zlib.compress(b'\xff' * ((w + 1) * h))
open('photo.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
                              + chunk(b'IDAT', raw) + chunk(b'IEND', b''))
PY
expect 1 "photo.png: the image is 4000 x 3000 pixels, more than is read at once \(8 MiB once decoded\): crop it to the code or scale it down \(EIMAGE_TOO_LARGE\)" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image photo.png
qr_png "$garbled" garbled.png || fail "garbled.png not written"
expect 1 "the image's code holds a character no offpay code has \(byte 0xC3, character 5\): it is not an offpay payment code, or a damaged one" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --image garbled.png
# The time of a payment is when the code is read, not when the terminal
# began waiting for the scanner: with a skew of 1 s, a code dated 3 s
# ahead is accepted when it comes 5 s after accept started (it was refused
# ECODE_FUTURE as dated after a clock read before the wait).
"$OFFPAY" terminal risk "${T[@]}" --set skew=1 >/dev/null
code=$(OFFPAY_NOW=$(( $(date +%s) + 3 )) "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 0 "accepted: 1.00 EUR" -- bash -c "(sleep 5; echo '$code') | '$OFFPAY' terminal accept --terminal shop --amount 1.00"
"$OFFPAY" terminal risk "${T[@]}" --set skew=120 >/dev/null
# A skew wider than a revocation stays listed after its credential's
# expiry: refused, naming the bound, the rules as they were.
expect 2 "--set skew=43201: at most 43200 s \(12 hours\)" -- \
  "$OFFPAY" terminal risk "${T[@]}" --set skew=43201
expect 0 "skew +120 s" -- "$OFFPAY" terminal risk "${T[@]}"
# A request of a terminal with a long name, scanned at accept by mistake:
# named a request (its text is longer than any payment's).
new_offline_terminal stall 8 "Mama Fruit Stall Market" EUR
"$OFFPAY" terminal request --terminal stall --passphrase-file tp --amount 4.80 --png long-req.png >/dev/null 2>&1
expect 1 "this is a payment request code, not a payment: show it to the payer" -- \
  "$OFFPAY" terminal accept --terminal stall --image long-req.png --amount 4.80
# A revoked payer's code: the hint says it is the payer's wallet, not
# this terminal, that is blocked.
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
"$OFFPAY" issuer revoke 1 --dir iss --passphrase-file ip >/dev/null
"$OFFPAY" terminal sync --terminal shop --revlist iss/revlist.opb >/dev/null
expect 1 "the payer's wallet credential is revoked \(blocked by the issuer" -- \
  "$OFFPAY" terminal accept --terminal shop --amount 1.00 --code "$code"
# A code the payer shows above what terminals take by default (50.00):
# made, with a warning that it stays reserved if refused (since 0.25.0)
expect 0 "warning: terminals by default take a code the payer shows only up to 50.00 EUR" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 50.01
# One exit-status table: --help prints it, the README has the same lines.
table=$("$OFFPAY" --help | sed -n '/^Exit status/,$p' | tail -n +2)
missing=0
while IFS= read -r line; do
  grep -qF -- "$line" "$README" || { missing=1; echo "    README lacks: $line"; }
done <<<"$table"
[ -n "$table" ] && [ $missing -eq 0 ] && ok "the README has --help's exit-status table" || fail "exit table differs"
finish
