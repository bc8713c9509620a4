#!/usr/bin/env bash
# cli_flow.sh — the offline flow through the offpay CLI, as a table of steps
# with expected exit statuses and messages: both payment kinds, the three
# ways a code reaches 'terminal accept' (image, argument, keyboard-wedge
# standard input), rejections with their reasons, usage errors, --help;
# the wallet's receipts from several terminals, its refusal of linked
# paths, and its warning that a copy is not a backup.
source "$(dirname "$0")/lib.sh"
setup_world 100.00
W=(--wallet w --passphrase-file wp)
T=(--terminal shop)

# --help works on every command and subcommand group, exit 0.
for g in "" issuer wallet terminal decode; do
  expect 0 "Usage|Commands" -- "$OFFPAY" $g --help
done
for s in init wallet-credential terminal-credential revoke publish add-key retire-key migrate show; do
  expect 0 "Usage" -- "$OFFPAY" issuer "$s" --help
done
for s in init key add-credential sync balance pay pay-request receipt log; do
  expect 0 "Usage" -- "$OFFPAY" wallet "$s" --help
done
for s in init key set-credential sync risk request accept receipt journal; do
  expect 0 "Usage" -- "$OFFPAY" terminal "$s" --help
done

# Usage errors: exit 2 with a specific message.
expect 2 "unknown command" -- "$OFFPAY" frobnicate
expect 2 "--currency is required" -- "$OFFPAY" wallet pay "${W[@]}"
expect 2 "malformed amount" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.234
expect 2 "unknown currency" -- "$OFFPAY" wallet pay "${W[@]}" --currency XYZ
expect 1 "no credential in USD: this wallet's are in EUR" -- \
  "$OFFPAY" wallet pay "${W[@]}" --currency USD --amount 1.00
# ... and the same for a request of a terminal that charges in USD
new_offline_terminal ushop 8 "US Shop" USD
ureq=$("$OFFPAY" terminal request --terminal ushop --passphrase-file tp --amount 1.00 2>/dev/null)
expect 1 "no credential in USD: this wallet's are in EUR" -- \
  "$OFFPAY" wallet pay-request "${W[@]}" --code "$ureq" --yes

# Consumer-presented code, from an argument; no --amount is a usage error.
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 10.00 2>/dev/null)
expect 2 "needs --amount" -- "$OFFPAY" terminal accept "${T[@]}" --code "$code"
expect 1 "exceeds the amount the payer authorized" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 10.01
expect 0 "accepted: 9.99 EUR" -- "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 9.99
# A rescan says when and as what it was paid, so nobody charges twice.
expect 1 "already accepted at [0-9T:-]+Z as payment #1 for 9.99 EUR: do not charge again \(EREPLAY\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00

# From standard input as a keyboard-wedge scanner types it (CR LF at end).
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 5.00 2>/dev/null)
expect 0 "accepted: 5.00 EUR" -- bash -c \
  "printf '%s\r\n' '$code' | '$OFFPAY' terminal accept --terminal shop --amount 5.00"

# From a PNG image, through the real scanner.
"$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 3.00 --png c.png >/dev/null 2>&1
expect 0 "accepted: 3.00 EUR" -- "$OFFPAY" terminal accept "${T[@]}" --image c.png --amount 3.00
expect 1 "is not a PNG image: only PNG images are read \\(EIMAGE\\)" -- "$OFFPAY" terminal accept "${T[@]}" --image "$OFFPAY" --amount 1.00
python3 - <<'PY'
import struct, zlib
w, h = 64, 64
raw = b"".join(b"\x00" + b"\xff" * w for _ in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open("blank.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
expect 1 "ESCAN" -- "$OFFPAY" terminal accept "${T[@]}" --image blank.png --amount 1.00
expect 1 "^  take the picture again: the whole code, sharp, with a little white around it \(nothing was read, nothing charged\)$" -- \
  "$OFFPAY" terminal accept "${T[@]}" --image blank.png --amount 1.00

# A damaged code is refused with a reason, never accepted.
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 2.00 2>/dev/null)
bad="${code:0:40}$( [ "${code:40:1}" = A ] && echo B || echo A )${code:41}"
expect 1 "REJECTED" -- "$OFFPAY" terminal accept "${T[@]}" --code "$bad" --amount 1.00
expect 1 "EPREFIX" -- "$OFFPAY" terminal accept "${T[@]}" --code "HELLO:WORLD" --amount 1.00
expect 1 "ETRUNCATED|EBASE45" -- "$OFFPAY" terminal accept "${T[@]}" --code "${code:0:100}" --amount 1.00
# ... and the cashier is told what to do about it
expect 1 "the scan is incomplete or garbled, or not an offpay code: scan it again \(nothing was charged\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "${code:0:100}" --amount 1.00
expect 1 "the scan is in lower case \(is Caps Lock on\?\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "${code,,}" --amount 1.00
expect 1 "EOVER_AUTHORIZED" -- "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 3.00
expect 1 "the payer authorized at most 2.00 EUR, and 3.00 EUR was asked: charge 2.00 EUR or less" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 3.00
"$OFFPAY" terminal risk "${T[@]}" --set floor-unbound=1.50 >/dev/null
expect 1 "REJECTED: amount exceeds the per-payment limit \(EOVER_FLOOR\)" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 2.00
expect 1 "a code the payer shows is limited to 1.50 EUR here: for more, make a request" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 2.00
"$OFFPAY" terminal risk "${T[@]}" --set floor-unbound=50.00 >/dev/null
# The same code (fresh) at a terminal whose clock runs 10 minutes fast:
# refused as too old, with both clocks named so the cashier knows what to
# check
expect 1 "made at [0-9T:-]+Z by the payer's clock, (598|599|600|601) s before this terminal's [0-9T:-]+Z: an old code, or this terminal's clock is ahead" -- \
  env OFFPAY_NOW=$(( $(date +%s) + 600 )) "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00
expect 1 "ask the payer for a new code" -- \
  env OFFPAY_NOW=$(( $(date +%s) + 600 )) "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00

# Merchant-presented: request, confirmation, bound code, receipt.
"$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 7.25 --png r.png >/dev/null 2>&1
# no terminal to confirm on (setsid: none, as in CI): a usage error
expect 2 "give --yes; not paid" -- setsid bash -c "'$OFFPAY' wallet pay-request --wallet w --passphrase-file wp --image r.png </dev/null"
bound=$("$OFFPAY" wallet pay-request "${W[@]}" --image r.png --yes 2>/dev/null)
# the same request an hour later: expired, said so (since 0.25.0; before,
# only "code is too old")
expect 1 "the merchant's request has expired \(a request is good for a few minutes\): ask the merchant for a new one; nothing was paid" -- \
  env OFFPAY_NOW=$(( $(date +%s) + 3600 )) "$OFFPAY" wallet pay-request "${W[@]}" --image r.png --yes
expect 1 "EAMOUNT_MISMATCH" -- "$OFFPAY" terminal accept "${T[@]}" --code "$bound" --amount 7.00
expect 1 "this code pays a request for 7.25 EUR: accept it without --amount" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$bound" --amount 7.00
expect 1 "this is a payment request code, not a payment: show it to the payer" -- \
  "$OFFPAY" terminal accept "${T[@]}" --image r.png --amount 7.25
expect 0 "accepted: 7.25 EUR" -- "$OFFPAY" terminal accept "${T[@]}" --code "$bound" \
  --passphrase-file tp --receipt-png rc.png
expect 0 "charged 7.25 EUR" -- "$OFFPAY" wallet receipt "${W[@]}" --image rc.png
expect 1 "EREPLAY" -- "$OFFPAY" terminal accept "${T[@]}" --code "$bound"

# Journal and balance tell the same story.
expect 0 "4 payment\(s\), total 25.24 EUR" -- "$OFFPAY" terminal journal "${T[@]}"
expect 0 '"charged_minor":725' -- "$OFFPAY" terminal journal "${T[@]}" --json
expect 0 "confirmed  7.25 EUR" -- "$OFFPAY" wallet balance "${W[@]}"
# 10 + 5 + 3 + 2 pending (no receipts), 7.25 confirmed, 0 held: 72.75 available.
expect 0 "available  72.75 EUR" -- "$OFFPAY" wallet balance "${W[@]}"
# A torn last record (a crash in the middle of an append): a reader drops
# it and writes nothing; the next writer (a pay below) cuts it.
size=$(stat -c %s w.log)
head -c 100 /dev/urandom >> w.log
expect 0 "available  72.75 EUR" -- "$OFFPAY" wallet balance "${W[@]}"
[ "$(stat -c %s w.log)" = $((size + 100)) ] && ok "wallet balance wrote nothing, not even the cut" \
  || fail "the reader changed the log: $(stat -c %s w.log), was $((size + 100))"

# decode: human form and JSON of every kind of code.
expect 0 "bound payment" -- "$OFFPAY" decode --code "$bound"
expect 0 '"type": "request"' -- "$OFFPAY" decode --image r.png --json
expect 0 '"type": "trust bundle"' -- "$OFFPAY" decode --file iss/bundle.opb --json
expect 0 '"type": "revocation list"' -- "$OFFPAY" decode --file iss/revlist.opb
if command -v python3 >/dev/null; then
  expect 0 "" -- bash -c "'$OFFPAY' decode --code '$bound' --json | python3 -m json.tool"
fi

# Receipt poisoning: a second terminal ("Spy", merchant 9) that saw an
# unbound code takes it and delivers its receipt first; the genuine
# receipt from the shop is still taken, and both are listed.
new_offline_terminal spy 9 "Spy" EUR
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 4.00 2>/dev/null)
expect 0 "accepted: 1.00 EUR" -- "$OFFPAY" terminal accept --terminal spy \
  --code "$code" --amount 1.00 --passphrase-file tp --receipt-png spy.png
expect 0 "charged 1.00 EUR" -- "$OFFPAY" wallet receipt "${W[@]}" --image spy.png
expect 0 "accepted: 4.00 EUR" -- "$OFFPAY" terminal accept "${T[@]}" \
  --code "$code" --amount 4.00 --passphrase-file tp --receipt-png genuine.png
expect 0 '^receipt: "Shop" charged 4.00 EUR for code' -- "$OFFPAY" wallet receipt "${W[@]}" --image genuine.png
# the same receipt again (a reprint, a second scan): said, not shown as a
# new charge (since 0.26.0)
expect 0 '^receipt kept already: "Shop" charged 4.00 EUR for code [0-9]+ of credential [0-9]+ \(the same receipt again: nothing changed, not charged twice\)$' -- \
  "$OFFPAY" wallet receipt "${W[@]}" --image genuine.png
expect 0 'receipt 1: 1.00 EUR by "Spy" \(merchant 9' -- "$OFFPAY" wallet log "${W[@]}"
expect 0 'receipt 2: 4.00 EUR by "Shop" \(merchant 7' -- "$OFFPAY" wallet log "${W[@]}"
expect 0 "receipts   3 kept; 1 code\(s\) receipted by more than one terminal" -- \
  "$OFFPAY" wallet balance "${W[@]}"

# Passphrases: wrong one is exit 3 with the reason.
printf 'nope\n' > bad
expect 3 "EPASSPHRASE" -- "$OFFPAY" wallet balance --wallet w --passphrase-file bad
expect 3 "EPASSPHRASE" -- "$OFFPAY" terminal request "${T[@]}" --passphrase-file bad --amount 1.00

# The root key is kept apart: moved offline, day-to-day work goes on.
# Private files 0600 in a 0700 directory, handed-out files 0644.
mkdir offline && mv iss/root.sealed offline/root.sealed
expect 0 "^700 600 600 644 644 644 644$" -- bash -c \
  "stat -c %a iss iss/issuer.sealed offline/root.sealed iss/root.pub iss/bundle.opb iss/revlist.opb w.cred | tr '\n' ' ' | sed 's/ $//'"
expect 1 "never issued" -- "$OFFPAY" issuer revoke 99 --dir iss --passphrase-file ip
expect 2 "not a usable Ed25519 public key" -- "$OFFPAY" issuer wallet-credential \
  --dir iss --passphrase-file ip --limit 1.00 --currency EUR --out weak.cred \
  --wallet-key ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
expect 2 "not a usable Ed25519 public key" -- "$OFFPAY" issuer terminal-credential \
  --dir iss --passphrase-file ip --merchant-id 7 --name X --currency EUR --out weak.cred \
  --terminal-key 0100000000000000000000000000000000000000000000000000000000000000
tkey=$("$OFFPAY" terminal key "${T[@]}" --passphrase-file tp)
# a new name with a character that shows nothing (a Hangul filler after
# it: "Shop" twice to the eye) is refused (since 0.28.0), nothing written
expect 2 "--name: 1 to 40 bytes of UTF-8 without control characters or characters that show nothing" -- \
  "$OFFPAY" issuer terminal-credential --dir iss --passphrase-file ip \
  --terminal-key "$tkey" --merchant-id 7 --name "$(printf 'Shop\xe3\x85\xa4')" \
  --currency EUR --out filler.cred
[ ! -e filler.cred ] && ok "no credential written for it" || fail "filler.cred written"
expect 0 "terminal 1\)" -- "$OFFPAY" issuer terminal-credential --dir iss \
  --passphrase-file ip --terminal-key "$tkey" --merchant-id 7 --name Shop \
  --currency EUR --out shop2.cred
expect 1 "another merchant" -- "$OFFPAY" issuer terminal-credential --dir iss \
  --passphrase-file ip --terminal-key "$tkey" --merchant-id 8 --name Other \
  --currency EUR --out shop3.cred

# Revocation: the issuer revokes serial 1, the terminal syncs, codes stop.
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 0 "serial 1 revoked" -- "$OFFPAY" issuer revoke 1 --dir iss --passphrase-file ip
expect 0 "synced" -- "$OFFPAY" terminal sync "${T[@]}" --revlist iss/revlist.opb
expect 1 "EREVOKED" -- "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00

# Key rotation: a new signing key reaches the terminal with the bundle;
# credentials signed with either key are accepted.
expect 3 "root key file is not at iss/root.sealed" -- \
  "$OFFPAY" issuer add-key --dir iss --passphrase-file ip
expect 0 "signing key 2 added" -- "$OFFPAY" issuer add-key --dir iss \
  --passphrase-file ip --root offline/root.sealed
expect 0 "synced" -- "$OFFPAY" terminal sync "${T[@]}" --bundle iss/bundle.opb
# a file given for another: each named as what it looks like, nothing
# taken (not "unsupported protocol version")
expect 1 "^offpay: terminal sync: --bundle iss/revlist.opb is not a trust bundle: it looks like a revocation list \(an offpay message\); give the issuer's bundle.opb" -- \
  "$OFFPAY" terminal sync "${T[@]}" --bundle iss/revlist.opb
expect 1 "^offpay: terminal sync: --revlist iss/bundle.opb is not a revocation list: it looks like a trust bundle \(an offpay message\); give the issuer's revlist.opb" -- \
  "$OFFPAY" terminal sync "${T[@]}" --revlist iss/bundle.opb
expect 1 "^offpay: wallet sync: --bundle iss/root.pub is not a trust bundle: it looks like a public key in hex \(as the issuer's root.pub holds\)" -- \
  "$OFFPAY" wallet sync "${W[@]}" --bundle iss/root.pub
expect 1 "^offpay: wallet init: --bundle iss/issuer.sealed is not a trust bundle: it looks like a passphrase-sealed file" -- \
  "$OFFPAY" wallet init --wallet wrongfile --root iss/root.pub --bundle iss/issuer.sealed --passphrase-file wp
[ ! -e wrongfile ] && ok "no wallet made from the wrong file" || fail "wrongfile made"
expect 1 "^offpay: terminal init: --bundle w.cred is not a trust bundle: it looks like a wallet credential" -- \
  "$OFFPAY" terminal init --terminal wrongterm --root iss/root.pub --bundle w.cred --currency EUR --passphrase-file tp
[ ! -e wrongterm ] && ok "no terminal made from the wrong file" || fail "wrongterm made"
expect 2 "iss/bundle.opb: not a public key: .*this file looks like a trust bundle \(an offpay message\)" -- \
  "$OFFPAY" terminal init --terminal wrongterm --root iss/bundle.opb --bundle iss/bundle.opb --currency EUR --passphrase-file tp
expect 0 "signing key 2 valid" -- "$OFFPAY" issuer show --dir iss
expect 0 "trust bundle updated" -- "$OFFPAY" wallet sync "${W[@]}" --bundle iss/bundle.opb
# the same bundle again: nothing to write (the wallet file not replaced)
inode=$(stat -c %i w)
expect 0 "trust bundle updated" -- "$OFFPAY" wallet sync "${W[@]}" --bundle iss/bundle.opb
[ "$(stat -c %i w)" = "$inode" ] && ok "the same bundle again writes nothing" \
  || fail "the wallet file was rewritten for the bundle it held"
"$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip --limit 50.00 \
    --currency EUR --out w2.cred \
    --wallet-key "$("$OFFPAY" wallet key "${W[@]}")" >/dev/null
expect 0 "credential added" -- "$OFFPAY" wallet add-credential w2.cred "${W[@]}"
expect 0 '"kid": 2' -- "$OFFPAY" decode --file w2.cred --json
code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 2.00 2>/dev/null)
expect 0 "accepted: 2.00 EUR from credential 2" -- \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 2.00

# A week later the list is stale; the issuer publishes it afresh (nothing
# revoked meanwhile) and a sync brings the terminal back. Replaying the
# old file does not.
week=$(( $(date +%s) + 8 * 86400 ))
code=$(OFFPAY_NOW=$week "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.50 2>/dev/null)
cp iss/revlist.opb old.opb
expect 1 "EREVLIST_STALE|ESYNC_REQUIRED" -- env OFFPAY_NOW=$week \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.50
expect 0 "nothing newer" -- env OFFPAY_NOW=$week \
  "$OFFPAY" terminal sync "${T[@]}" --revlist old.opb
expect 1 "EREVLIST_STALE|ESYNC_REQUIRED" -- env OFFPAY_NOW=$week \
  "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1.00
expect 0 "published" -- env OFFPAY_NOW=$week \
  "$OFFPAY" issuer publish --dir iss --passphrase-file ip
expect 0 "synced" -- env OFFPAY_NOW=$week \
  "$OFFPAY" terminal sync "${T[@]}" --revlist iss/revlist.opb
expect 0 "accepted: 1.50 EUR" -- env OFFPAY_NOW=$week \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.50
expect 2 "give --server URL \(offpayd; remembered after its first sync\), or --revlist FILE" -- "$OFFPAY" terminal sync "${T[@]}"

# One name per wallet file: a symbolic link or a second hard link is
# refused and the wallet file stays as it was; without the link it works.
cp w w.before
ln -s w alias.opw
expect 3 "ELINKED" -- "$OFFPAY" wallet pay --wallet alias.opw --passphrase-file wp \
  --currency EUR --amount 1.00
ln w hard.opw
expect 3 "ELINKED" -- "$OFFPAY" wallet pay --wallet hard.opw --passphrase-file wp \
  --currency EUR --amount 1.00
expect 3 "ELINKED" -- "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00
expect 0 "" -- cmp w w.before
rm alias.opw hard.opw
expect 0 "payment code: up to 1.00 EUR" -- "$OFFPAY" wallet pay "${W[@]}" \
  --currency EUR --amount 1.00

# A new wallet says how (not) to back it up.
expect 0 "a copy of this file is NOT a backup" -- "$OFFPAY" wallet init \
  --wallet w3 --root iss/root.pub --bundle iss/bundle.opb --passphrase-file wp
expect 0 "never restore a wallet by copying" -- "$OFFPAY" wallet init --help

# Risk rules can be read and changed; unbound codes have their own,
# shorter age.
expect 0 "max-code-age-unbound +60 s" -- "$OFFPAY" terminal risk "${T[@]}"
expect 0 "max-code-age +300 s" -- "$OFFPAY" terminal risk "${T[@]}"
expect 0 "floor-unbound +20.00 EUR" -- "$OFFPAY" terminal risk "${T[@]}" --set floor-unbound=20.00
expect 0 "max-code-age-unbound +45 s" -- "$OFFPAY" terminal risk "${T[@]}" --set max-code-age-unbound=45
expect 0 "max-code-age-unbound" -- "$OFFPAY" terminal risk --help
expect 2 "unknown rule" -- "$OFFPAY" terminal risk "${T[@]}" --set bogus=1

# A terminal without a credential decodes first, then names what is
# missing (exit 3: not set up); damaged codes get their own reasons.
"$OFFPAY" terminal init --terminal bare --root iss/root.pub \
    --bundle iss/bundle.opb --currency EUR --passphrase-file tp >/dev/null
code=$(OFFPAY_NOW=$week "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 3 "no credential yet \(ENO_TERMINAL_CRED\)" -- \
  "$OFFPAY" terminal accept --terminal bare --code "$code" --amount 1.00
expect 1 "ETRUNCATED" -- "$OFFPAY" terminal accept --terminal bare --code "${code:0:101}" --amount 1.00
expect 1 "EBASE45" -- "$OFFPAY" terminal accept --terminal bare --code "${code:0:40}a${code:41}" --amount 1.00
expect 3 "ENO_TERMINAL_CRED" -- "$OFFPAY" terminal request --terminal bare --passphrase-file tp --amount 1.00

# Private files whatever existed before: a 0755 directory made before
# init, a loose umask.
mkdir -m 0755 loose
expect 0 "terminal created" -- bash -c "umask 022; '$OFFPAY' terminal init --terminal loose \
  --root iss/root.pub --bundle iss/bundle.opb --currency EUR --passphrase-file tp"
modes=$(stat -c '%a' loose loose/terminal.db loose/terminal.key | tr '\n' ' ')
[ "$modes" = "700 600 600 " ] && ok "private modes: $modes" || fail "modes: $modes"

# The terminal's own credential: a kiosk credentialed for one day refuses
# payments and requests a week later (once synced then: the issuer's list
# is from then, and a list from the future would be refused).
"$OFFPAY" terminal init --terminal kiosk --root iss/root.pub \
    --bundle iss/bundle.opb --currency EUR --passphrase-file tp >/dev/null
"$OFFPAY" issuer terminal-credential --dir iss --passphrase-file ip --days 1 \
    --terminal-key "$("$OFFPAY" terminal key --terminal kiosk --passphrase-file tp)" \
    --merchant-id 8 --name "Kiosk" --currency EUR --out kiosk.cred >/dev/null
"$OFFPAY" terminal set-credential kiosk.cred --terminal kiosk --passphrase-file tp >/dev/null
expect 1 "EFUTURE_DATED" -- "$OFFPAY" terminal sync --terminal kiosk --revlist iss/revlist.opb
later=$week
expect 0 "synced" -- env OFFPAY_NOW=$later \
  "$OFFPAY" terminal sync --terminal kiosk --revlist iss/revlist.opb
code=$(OFFPAY_NOW=$later "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 1 "ETERMINAL_EXPIRED" -- env OFFPAY_NOW=$later \
  "$OFFPAY" terminal accept --terminal kiosk --code "$code" --amount 1.00
expect 1 "ETERMINAL_EXPIRED" -- env OFFPAY_NOW=$later \
  "$OFFPAY" terminal request --terminal kiosk --passphrase-file tp --amount 1.00
# its status says EXPIRED, also within a day of the end (since 0.25.0;
# before, "expires in 0 day(s)")
expect 0 "^credential +valid .* \(EXPIRED [0-9]+ day\(s\) ago; 100 % of its window used\)" -- \
  env OFFPAY_NOW=$later "$OFFPAY" terminal status --terminal kiosk

# The clock: 'shop' accepted a payment a week ahead; with its clock back
# an hour before that it refuses, payments and requests alike.
back=$(( week - 3600 ))
code=$(OFFPAY_NOW=$back "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 1 "ECLOCK_BEHIND" -- env OFFPAY_NOW=$back \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00
expect 1 "ECLOCK_BEHIND" -- env OFFPAY_NOW=$back \
  "$OFFPAY" terminal request "${T[@]}" --passphrase-file tp --amount 1.00

# A list dated 600 days ahead is refused; the genuine lists that follow
# are taken.
expect 0 "published" -- env OFFPAY_NOW=$(( week + 600 * 86400 )) \
  "$OFFPAY" issuer publish --dir iss --passphrase-file ip
expect 1 "EFUTURE_DATED" -- env OFFPAY_NOW=$week \
  "$OFFPAY" terminal sync "${T[@]}" --revlist iss/revlist.opb

# Retiring the compromised key 2: after their sync, the terminal refuses a
# code under it and the wallet neither uses nor takes credential 2.
later=$(( week + 86400 ))
code=$(OFFPAY_NOW=$later "$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 1.00 2>/dev/null)
expect 0 "signing key 2 retired" -- env OFFPAY_NOW=$later "$OFFPAY" issuer \
  retire-key 2 --dir iss --passphrase-file ip --root offline/root.sealed
expect 1 "last signing key valid now" -- env OFFPAY_NOW=$later "$OFFPAY" issuer \
  retire-key 1 --dir iss --passphrase-file ip --root offline/root.sealed
expect 0 "signing key 1 valid" -- "$OFFPAY" issuer show --dir iss
expect 0 "synced" -- env OFFPAY_NOW=$later "$OFFPAY" terminal sync "${T[@]}" \
  --bundle iss/bundle.opb --revlist iss/revlist.opb
expect 1 "EUNKNOWN_KID" -- env OFFPAY_NOW=$later \
  "$OFFPAY" terminal accept "${T[@]}" --code "$code" --amount 1.00
expect 1 "EFUTURE_DATED" -- "$OFFPAY" wallet sync "${W[@]}" --bundle iss/bundle.opb
expect 0 "trust bundle updated" -- env OFFPAY_NOW=$later \
  "$OFFPAY" wallet sync "${W[@]}" --bundle iss/bundle.opb
expect 0 "credential 2: .*\(not usable now\)" -- env OFFPAY_NOW=$later \
  "$OFFPAY" wallet balance "${W[@]}"
expect 1 "EUNKNOWN_KID" -- env OFFPAY_NOW=$later \
  "$OFFPAY" wallet add-credential w2.cred "${W[@]}"
expect 1 "EUNKNOWN_KID" -- "$OFFPAY" issuer retire-key 2 --dir iss \
  --passphrase-file ip --root offline/root.sealed

finish
