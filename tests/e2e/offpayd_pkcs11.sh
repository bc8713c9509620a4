#!/usr/bin/env bash
# offpayd_pkcs11.sh — keys in a PKCS#11 token (docs/pkcs11.md), through
# Debian's SoftHSM2 with a token made in the test's temporary directory:
#   1. the issuer's new daily key is generated in the token (issuer add-key
#      --key-uri); the offline ceremony tool signs a wallet and a terminal
#      credential there, and both verify under the trust bundle (the same
#      checks as the vectors: wallet add-credential, terminal
#      set-credential); a wrong PIN is refused with CKR_PIN_INCORRECT; a
#      terminal init that fails (wrong PIN, no such token, a journal that
#      cannot be made) leaves nothing, and runs again;
#   2. offpayd runs with that daily key in the token (by the URI the issuer
#      stored, and by --issuer-key-uri) and issues credentials through its
#      operator endpoints; a token key that is not in the bundle stops it;
#   3. a terminal whose key is in the token accepts a real payment (a QR
#      image through the real decoder), its receipt verifies in the wallet,
#      its request code is paid, and its signed upload (`terminal sync
#      --server`) is accepted by offpayd, which settles it; audit passes;
#   4. the token taken away under offpayd: issuing is 503 EPKCS11; put
#      back, offpayd opens its key anew by itself (health 200, no
#      restart); a fresh token with another key under the label is never
#      signed with;
#   5. a sealed key added and offpayd sent SIGHUP: it leaves the token's
#      key for the new one without a restart; a key pinned with
#      --issuer-key-uri and then retired is kept on SIGHUP, with a warning
#      to restart;
#   6. a key added with a URI that gives no PIN is not taken on SIGHUP
#      through the old key's login, as offpayd's start refuses it.
source "$(dirname "$0")/offpayd_lib.sh"
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -r "$MODULE" ] || { echo "softhsm2 missing: run scripts/setup.sh"; exit 1; }

mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$work" > softhsm2.conf
export SOFTHSM2_CONF=$work/softhsm2.conf
unset OFFPAY_PKCS11_PIN OFFPAY_PKCS11_MODULE
printf '7391-offpay\n' > pin      # user PIN, read through pin-source
chmod 600 pin                     # as docs/pkcs11.md says (else a warning)
softhsm2-util --init-token --free --label offpay --pin "$(cat pin)" \
  --so-pin 55-so-pin-77 >/dev/null
ISSUER_URI="pkcs11:token=offpay;object=issuer-kid-2?pin-source=file:$work/pin"

# ---- 1. the issuer's daily key in the token, offline ---------------------
run_cli 2 "no pin-value .*EPKCS11_URI" -- "$OFFPAY" issuer add-key --dir iss \
  --passphrase-file ip --key-uri "pkcs11:token=offpay;object=x?pin-value=1"
run_cli 2 "EPKCS11_URI" -- "$OFFPAY" issuer add-key --dir iss \
  --passphrase-file ip --key-uri "pkcs11:token=offpay;object=a b"
run_cli 2 "no pin-value .*EPKCS11_URI" -- "$OFFPAY" terminal init --terminal tx \
  --root iss/root.pub --bundle iss/bundle.opb --currency EUR \
  --key-uri "pkcs11:token=offpay;object=t?pin-value=1"
# A terminal init that fails leaves nothing of itself: its directory (or,
# in one that existed, its files) and a key pair it generated in the
# token, so init runs again into the same place (a half-made directory
# kept a partial state; one with terminal.keyuri was refused EEXISTS).
TILL_URI="pkcs11:token=offpay;object=till-new?pin-source=file:$work"
printf 'wrong-pin\n' > badpin; chmod 600 badpin
NOTHING_LEFT="terminal init: no terminal was made, and nothing of the attempt is left in"
# init_fails DIR REASON ARGS...: terminal init into DIR exits 3, saying
# REASON (the token's) and that nothing of the attempt is left.
init_fails() {
  local dir=$1 reason=$2 out st
  shift 2
  set +e
  out=$("$OFFPAY" terminal init --terminal "$dir" --root iss/root.pub \
    --bundle iss/bundle.opb --currency EUR "$@" 2>&1)
  st=$?
  set -e
  [ "$st" = 3 ] && grep -qE -- "$reason" <<<"$out" && grep -q "$NOTHING_LEFT $dir " <<<"$out" \
    && ok "init into $dir fails: $reason" || fail "init into $dir: $st $out"
}
init_fails tnew "token: C_Login: CKR_PIN_INCORRECT .* the PIN of pin-source $work/badpin" \
  --key-uri "$TILL_URI/badpin" --generate-key
[ ! -e tnew ] && ok "init with a wrong PIN: no directory left" || fail "wrong PIN left: $(ls -la tnew)"
init_fails tnew "token: no token matches the URI" --generate-key \
  --key-uri "pkcs11:token=no-such-token;object=till-new?pin-source=file:$work/pin"
[ ! -e tnew ] && ok "init into a missing token: no directory left" || fail "missing token left: $(ls -la tnew)"
# A directory that existed before stays, emptied of what init made.
mkdir tpre
init_fails tpre "CKR_PIN_INCORRECT" --key-uri "$TILL_URI/badpin" --generate-key
[ -d tpre ] && [ -z "$(ls -A tpre)" ] && ok "a directory made before init stays, empty" \
  || fail "the directory made before init: $(ls -la tpre 2>&1)"
# A failure after the key was generated (the journal cannot be made: a
# directory stands where its -wal file goes): the key is deleted from the
# token, terminal.keyuri and terminal.db removed, what was there stays.
mkdir tpre/terminal.db-wal
init_fails tpre "EISDIR" --key-uri "$TILL_URI/pin" --generate-key
[ "$(ls -A tpre)" = terminal.db-wal ] && ok "failed after the key's generation: only what was there before stays" \
  || fail "after a failure past the key's generation: $(ls -la tpre)"
# The same with a sealed key: terminal.key is removed too.
init_fails tpre "EISDIR" --passphrase-file tp
[ "$(ls -A tpre)" = terminal.db-wal ] && ok "a sealed key's failed init: terminal.key removed" \
  || fail "after a sealed key's failed init: $(ls -la tpre)"
rmdir tpre/terminal.db-wal
# Then init succeeds in both places; in tnew with --generate-key under the
# label the failed init had generated a key under (EEXISTS had the key
# been left in the token).
run_cli 0 "terminal created in tnew \(key in the PKCS#11 token\)" -- \
  "$OFFPAY" terminal init --terminal tnew --root iss/root.pub \
  --bundle iss/bundle.opb --currency EUR --key-uri "$TILL_URI/pin" --generate-key
run_cli 0 "terminal created in tpre" -- "$OFFPAY" terminal init --terminal tpre \
  --root iss/root.pub --bundle iss/bundle.opb --currency EUR --passphrase-file tp
# An add-key that fails after the key's generation (issuer.sealed cannot
# be written: a directory where its temporary goes) deletes the pair from
# the token again: the same label then takes a new key, not EEXISTS.
mkdir iss/issuer.sealed.tmp
run_cli 3 "cannot add a signing key" -- "$OFFPAY" issuer add-key --dir iss \
  --passphrase-file ip --key-uri "$ISSUER_URI" --generate-key
rmdir iss/issuer.sealed.tmp
run_cli 0 "signing key 2 added \(in the PKCS#11 token\)" -- \
  "$OFFPAY" issuer add-key --dir iss --passphrase-file ip \
  --key-uri "$ISSUER_URI" --generate-key
run_cli 2 "EEXISTS" -- "$OFFPAY" issuer add-key --dir iss --passphrase-file ip \
  --key-uri "$ISSUER_URI" --generate-key
# Under another id, the issuer's label is still taken: a terminal's key
# made beside it would leave the issuer's URI naming two keys (L1).
run_cli 2 "token: the token already holds a private key with that label \(label 'issuer-kid-2', id none, CKK_EC_EDWARDS\)" -- \
  "$OFFPAY" terminal init --terminal tdup --root iss/root.pub \
  --bundle iss/bundle.opb --currency EUR --generate-key \
  --key-uri "pkcs11:token=offpay;object=issuer-kid-2;id=%02?pin-source=file:$work/pin"
run_cli 0 "signing key 2 valid" -- "$OFFPAY" issuer show --dir iss
# Key 1, made sealed by init, stays valid beside the token's key 2: the
# passphrase the server keeps opens it. show (given the passphrase) says
# where each key is kept and warns.
run_cli 0 "WARNING: signing key 1 is sealed in issuer.sealed and valid now beside a key in a PKCS#11 token.*retire-key 1" -- \
  "$OFFPAY" issuer show --dir iss --passphrase-file ip
run_cli 0 "signing key 2 valid .*, in the PKCS#11 token pkcs11:token=offpay;object=issuer-kid-2" -- \
  "$OFFPAY" issuer show --dir iss --passphrase-file ip
cp iss/bundle.opb bundle.opb
# An issuer whose first daily key is made in the token (init --key-uri
# --generate-key): no daily key is sealed at all, so with the token away
# nothing signs with the passphrase alone; show is quiet (H1).
softhsm2-util --init-token --free --label iss2 --pin "$(cat pin)" \
  --so-pin 55-so-pin-77 >/dev/null
ISS2_URI="pkcs11:token=iss2;object=issuer-kid-1?pin-source=file:$work/pin"
run_cli 2 "no pin-value .*EPKCS11_URI" -- "$OFFPAY" issuer init --dir iss2x \
  --passphrase-file ip --key-uri "pkcs11:token=iss2;object=k?pin-value=1"
[ ! -e iss2x ] && ok "init with a pin-value URI made nothing" || fail "iss2x made"
# An issuer init that fails leaves its directory as it found it, as the
# terminal's does: no directory (not even issuer.lock) after a wrong PIN,
# and in one made before, after a failure past the key's generation (a
# directory where revlist.opb's temporary goes: the last file written),
# only what was there; the key is deleted from the token again.
ISS_LEFT="issuer init: no issuer was made, and nothing of the attempt is left in iss2 "
run_cli 3 "token: C_Login: CKR_PIN_INCORRECT" -- "$OFFPAY" issuer init --dir iss2 \
  --passphrase-file ip --generate-key \
  --key-uri "pkcs11:token=iss2;object=issuer-kid-1?pin-source=file:$work/badpin"
run_cli 3 "$ISS_LEFT" -- "$OFFPAY" issuer init --dir iss2 \
  --passphrase-file ip --generate-key \
  --key-uri "pkcs11:token=iss2;object=issuer-kid-1?pin-source=file:$work/badpin"
[ ! -e iss2 ] && ok "issuer init with a wrong PIN: no directory left (no issuer.lock)" \
  || fail "issuer init with a wrong PIN left: $(ls -la iss2)"
mkdir -p iss2/revlist.opb.tmp
run_cli 3 "$ISS_LEFT" -- "$OFFPAY" issuer init --dir iss2 \
  --passphrase-file ip --key-uri "$ISS2_URI" --generate-key
[ "$(ls -A iss2)" = revlist.opb.tmp ] && ok "issuer init failed after the key's generation: only what was there stays" \
  || fail "after a failed issuer init: $(ls -la iss2)"
rmdir iss2/revlist.opb.tmp
# Then init succeeds, with --generate-key under the label the failed one
# had used (EEXISTS had its key been left in the token), and leaves what
# `offpay issuer --help` lists.
run_cli 0 "signing key 1 is in the PKCS#11 token" -- "$OFFPAY" issuer init \
  --dir iss2 --passphrase-file ip --key-uri "$ISS2_URI" --generate-key
[ "$(ls -A iss2 | tr '\n' ' ')" = "bundle.opb issuer.lock issuer.sealed revlist.opb root.pub root.sealed " ] \
  && ok "issuer init leaves the files its --help lists" || fail "issuer init left: $(ls -A iss2)"
# Refused on an issuer there already (its lock file gone, as in a copy):
# named, and not even issuer.lock is made.
rm iss2/issuer.lock
run_cli 2 "iss2/issuer.sealed: an issuer is there already.*\(EEXISTS\)" -- \
  "$OFFPAY" issuer init --dir iss2 --passphrase-file ip --generate-key \
  --key-uri "pkcs11:token=iss2;object=issuer-kid-9?pin-source=file:$work/pin"
[ ! -e iss2/issuer.lock ] && ok "a refused issuer init makes no issuer.lock" \
  || fail "a refused issuer init left issuer.lock"
out=$("$OFFPAY" issuer show --dir iss2 --passphrase-file ip 2>&1)
grep -q "signing key 1 valid .*, in the PKCS#11 token pkcs11:token=iss2" <<<"$out" \
  && ! grep -q WARNING <<<"$out" && ok "show: iss2's key 1 in the token, no warning" \
  || fail "show iss2: $out"
run_cli 0 "serial 1" -- "$OFFPAY" issuer wallet-credential --dir iss2 \
  --passphrase-file ip --limit 1.00 --currency EUR --out iss2.cred \
  --wallet-key "$(cat iss/root.pub)"
mv tokens tokens.away
run_cli 3 "\(EPKCS11\)" -- "$OFFPAY" issuer wallet-credential --dir iss2 \
  --passphrase-file ip --limit 20.00 --currency EUR --out iss2b.cred \
  --wallet-key "$(cat iss/root.pub)"
mv tokens.away tokens
[ ! -e iss2b.cred ] && ok "token away: iss2 signs nothing with its passphrase alone" \
  || fail "iss2 signed without its token"
# iss2's token replaced by a fresh one of the same label, which holds
# another Ed25519 key under the stored URI's label: the ceremony tool and
# offpayd both say so, naming the URI and both public keys (M4).
softhsm2-util --delete-token --token iss2 >/dev/null
softhsm2-util --init-token --free --label iss2 --pin "$(cat pin)" \
  --so-pin 55-so-pin-77 >/dev/null
OFFPAY_PKCS11_PIN=$(cat pin) "$OFFPAY" terminal init --terminal tiss2 \
  --root iss/root.pub --bundle bundle.opb --currency EUR \
  --key-uri "pkcs11:token=iss2;object=issuer-kid-1" --generate-key >/dev/null
OTHER_KEY="the token's key at pkcs11:token=iss2;object=issuer-kid-1\?pin-source=file:$work/pin is not the issuer's key 1 \(its public key [0-9a-f]{16}\.\.\., issuer.sealed records [0-9a-f]{16}\.\.\.\): the token was replaced or its label reused for another key"
run_cli 3 "token: $OTHER_KEY" -- "$OFFPAY" issuer publish --dir iss2 --passphrase-file ip
set +e
timeout 60 "$OFFPAYD" --db m4.db --create --listen 127.0.0.1:0 --issuer iss2 \
  --passphrase-file ip --root iss2/root.pub --token-file token >m4.out 2>m4.err
st=$?
set -e
[ "$st" = 3 ] && grep -qE "issuer key in the token: .*\(EPKCS11\): $OTHER_KEY" m4.err \
  && ok "offpayd: the token's key under the stored URI is another key" \
  || fail "offpayd with iss2's token replaced: $st $(cat m4.err)"

"$OFFPAY" wallet init --wallet wo --root iss/root.pub --bundle bundle.opb \
  --passphrase-file wp >/dev/null
run_cli 0 "serial 1" -- "$OFFPAY" issuer wallet-credential --dir iss \
  --passphrase-file ip --limit 20.00 --currency EUR --out wo.cred \
  --wallet-key "$("$OFFPAY" wallet key --wallet wo --passphrase-file wp)"
run_cli 0 '"kid": 2' -- "$OFFPAY" decode --file wo.cred --json
run_cli 0 "credential added" -- "$OFFPAY" wallet add-credential wo.cred \
  --wallet wo --passphrase-file wp
# A byte changed in the token's signature: refused by the same check.
python3 -c "import sys; b=bytearray(open('wo.cred','rb').read()); b[-1]^=1; open('bad.cred','wb').write(b)"
run_cli 1 "ECRED_SIG" -- "$OFFPAY" wallet add-credential bad.cred \
  --wallet wo --passphrase-file wp
"$OFFPAY" terminal init --terminal to --root iss/root.pub --bundle bundle.opb \
  --currency EUR --passphrase-file tp >/dev/null
run_cli 0 "merchant 3, terminal 1" -- "$OFFPAY" issuer terminal-credential \
  --dir iss --passphrase-file ip --merchant-id 3 --name "Kiosk" \
  --currency EUR --out to.cred \
  --terminal-key "$("$OFFPAY" terminal key --terminal to --passphrase-file tp)"
run_cli 0 "credential installed" -- "$OFFPAY" terminal set-credential to.cred \
  --terminal to --passphrase-file tp
run_cli 0 "published" -- "$OFFPAY" issuer publish --dir iss --passphrase-file ip
run_cli 0 "synced" -- "$OFFPAY" terminal sync --terminal to --revlist iss/revlist.opb
# The PIN is checked by the token: a wrong one says so, nothing is issued.
# The wrong PIN's message names the file it was read from (L3).
cp pin pin.good; printf 'not-the-pin\n' > pin
run_cli 3 "C_Login: CKR_PIN_INCORRECT \(0xa0\): the PIN of pin-source $work/pin$" -- \
  "$OFFPAY" issuer publish --dir iss --passphrase-file ip
cp pin.good pin
# A pin-source others may read is used, with one warning naming it and
# its mode (L3).
chmod 644 pin
out=$("$OFFPAY" issuer publish --dir iss --passphrase-file ip 2>&1)
[ "$(grep -c "WARNING: the PKCS#11 pin-source $work/pin is readable by its group and others (mode 0644)" <<<"$out")" = 1 ] \
  && grep -q published <<<"$out" && ok "a pin-source of mode 0644: used, warned of once" \
  || fail "pin-source of mode 0644: $out"
chmod 600 pin

# A key imported from a file (SENSITIVE, not EXTRACTABLE, but never
# ALWAYS_SENSITIVE nor NEVER_EXTRACTABLE: a copy may be outside) is no
# key the token protects: refused, the bundle unchanged.
openssl genpkey -algorithm ED25519 -out ed.pem 2>/dev/null
softhsm2-util --import ed.pem --token offpay --label edimp --id 05 \
  --pin "$(cat pin)" >/dev/null
rm ed.pem
before=$(sha256sum iss/bundle.opb)
run_cli 3 "not made in the token .*imported, or was once readable.*--generate-key" -- \
  "$OFFPAY" issuer add-key --dir iss --passphrase-file ip \
  --key-uri "pkcs11:token=offpay;object=edimp?pin-source=file:$work/pin"
[ "$(sha256sum iss/bundle.opb)" = "$before" ] && ok "imported key: the bundle unchanged" \
  || fail "the imported key changed the bundle"

# ---- 2. offpayd with the daily key in the token --------------------------
# A token key that is not one of the bundle's: offpayd does not start.
OFFPAY_PKCS11_PIN=$(cat pin) "$OFFPAY" terminal init --terminal tt \
  --root iss/root.pub --bundle bundle.opb --currency EUR \
  --key-uri "pkcs11:token=offpay;object=till-1" --generate-key >/dev/null
set +e
"$OFFPAYD" --db "$LEDGER" --create --listen 127.0.0.1:0 --issuer iss --passphrase-file ip \
  --root iss/root.pub --token-file token \
  --issuer-key-uri "pkcs11:token=offpay;object=till-1?pin-source=file:$work/pin" \
  >bad.out 2>bad.err
st=$?
set -e
if [ "$st" = 3 ] && grep -q EUNKNOWN_KID bad.err; then
  ok "offpayd refuses a token key that is not in the bundle"
else
  fail "offpayd with a foreign token key: $st $(cat bad.err)"
fi

# A PIN in the URI (pin-value) would be on offpayd's command line, for
# any local user to read: refused before anything starts (since 0.12.0).
run_cli 2 "issuer-key-uri holds the PIN \(pin-value\)" -- \
  "$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token \
    --issuer-key-uri "pkcs11:token=offpay;object=till-1?pin-value=$(cat pin)"

start_server   # no option: the URI the issuer stored for kid 2
grep -q "WARNING: the issuer's daily key 1 is sealed in issuer.sealed and valid now beside a key in a PKCS#11 token" server.err \
  && ok "offpayd warns of the sealed key 1 beside the token's" \
  || fail "no start-up warning of the sealed key 1: $(cat server.err)"
new_merchant "Token shop"; MID=$MERCHANT; MA=$MACCT
W=$(new_account payer-1 100.00)
new_wallet w1 "$W" 50.00; S1=$SERIAL
run_cli 0 '"kid": 2' -- "$OFFPAY" decode --file w1.cred --json
stop_server TERM
start_server --issuer-key-uri "$ISSUER_URI"
W2=$(new_account payer-2 100.00)
new_wallet w2 "$W2" 30.00; S2=$SERIAL
run_cli 0 '"kid": 2' -- "$OFFPAY" decode --file w2.cred --json
api GET /v1/revlist
expect_http 200 - "revocation list signed in the token"
jget .revlist | base64 -d > revlist.opb
run_cli 0 '"kid": 2' -- "$OFFPAY" decode --file revlist.opb --json

# ---- 3. a terminal whose key is in the token ------------------------------
export OFFPAY_PKCS11_PIN
OFFPAY_PKCS11_PIN=$(cat pin)
run_cli 0 "^pkcs11:token=offpay;object=till-1$" -- cat tt/terminal.keyuri
if [ -e tt/terminal.key ]; then fail "a terminal.key beside the token key"
else ok "no private key file in the terminal's directory"; fi
TKEY=$("$OFFPAY" terminal key --terminal tt)
api POST /v1/admin/terminals "{\"merchant\":\"$MID\",\"terminal_key\":\"$TKEY\"}"
expect_http 200 - "terminal credential issued by offpayd's token key"
jget .credential | base64 -d > tt.tcred
run_cli 0 '"kid": 2' -- "$OFFPAY" decode --file tt.tcred --json
run_cli 0 "credential installed" -- "$OFFPAY" terminal set-credential tt.tcred --terminal tt
run_cli 0 "synced" -- "$OFFPAY" terminal sync --terminal tt --revlist revlist.opb

# A consumer-presented code from a QR image, through the real decoder; the
# receipt is signed in the token and verified by the wallet.
"$OFFPAY" wallet pay --wallet w1 --passphrase-file wp --currency EUR \
  --amount 12.50 --png c.png >/dev/null 2>&1
run_cli 0 "accepted: 12.50 EUR" -- "$OFFPAY" terminal accept --terminal tt \
  --image c.png --amount 12.50 --receipt-png rc.png
run_cli 0 'charged 12.50 EUR' -- "$OFFPAY" wallet receipt --wallet w1 \
  --passphrase-file wp --image rc.png
# A request code signed in the token, verified and paid by the wallet.
"$OFFPAY" terminal request --terminal tt --amount 4.75 --png r.png >/dev/null 2>&1
bound=$("$OFFPAY" wallet pay-request --wallet w2 --passphrase-file wp \
  --image r.png --yes 2>/dev/null)
run_cli 0 "accepted: 4.75 EUR" -- "$OFFPAY" terminal accept --terminal tt --code "$bound"
# Wrong PIN: the terminal says why, and makes nothing.
run_cli 3 "C_Login: CKR_PIN_INCORRECT" -- env OFFPAY_PKCS11_PIN=0000 \
  "$OFFPAY" terminal request --terminal tt --amount 1.00
# The signed upload: offpayd checks the token's signature and settles.
run_cli 0 "uploaded 2 payment\(s\): 2 decided \(2 paid, 17.25 EUR; 0 refused\), 0 left" -- \
  "$OFFPAY" terminal sync --terminal tt --server "$URL"
balances "esc1=esc/$S1:3750 esc2=esc/$S2:2525 M=$MA:1725" \
  "payments to the token terminal settled"
run_cli 0 "uploaded 0 payment\(s\)" -- "$OFFPAY" terminal sync --terminal tt --server "$URL"
audit_passes "keys in the token"
# status opens the token's key as a sync would: quiet while it signs, a
# warning when it cannot (here the wrong PIN; a key deleted in the token,
# a token gone) since accept goes on taking what nothing could upload
out=$("$OFFPAY" terminal status --terminal tt --json)
[ "$(jq -r '.accepting and ((.warnings // []) | index("key_unusable") | not)' <<<"$out")" = true ] \
  && ok "status: the token's key signs: accepting, no key_unusable warning" \
  || fail "status of a usable token key: $out"
run_cli 0 "WARNING: the terminal's key in its token cannot be used \(EPASSPHRASE: C_Login: CKR_PIN_INCORRECT" -- \
  env OFFPAY_PKCS11_PIN=0000 "$OFFPAY" terminal status --terminal tt
run_cli 0 '"key_unusable"' -- env OFFPAY_PKCS11_PIN=0000 "$OFFPAY" terminal status --terminal tt --json

# A terminal whose key is sealed (its uploads need no token) of another
# merchant, with a payment to upload while offpayd's token is away.
new_merchant "Sealed shop"; MA2=$MACCT
new_terminal ts "$MERCHANT"
accept ts "$(pay w2 2.00)" 2.00 || fail "ts accepts 2.00"
# The token goes away under a running offpayd: issuing fails with 503
# EPKCS11 and the token's reason, and nothing is issued or moved.
mv tokens tokens.away
# A signed request whose answer cannot be signed: 503 EPKCS11 naming the
# token's reason, never an unsigned 200 (the upload itself is settled:
# the resend below gets replays); counted, and /v1/health says 503.
run_cli 3 "HTTP 503: .*EPKCS11.*the answer could not be signed: .*CKR_" -- "$OFFPAY" terminal sync --terminal ts \
  --passphrase-file tp --server "$URL"
grep -q "POST /v1/terminal/upload: its answer (200) could not be signed: .*(EPKCS11): C_.*CKR_" server.err \
  && ok "the log names the unsigned answer and the CKR_ name" \
  || fail "log of the unsigned answer: $(tail -5 server.err)"
curl -s -H "Authorization: Bearer $TOKEN" "$URL/metrics" > metrics.txt
grep -qE '^offpayd_sign_failures_total [1-9]' metrics.txt \
  && grep -q 'route="/v1/terminal/upload",status="503"' metrics.txt \
  && ok "metrics: sign failures counted, the upload counted 503" \
  || fail "metrics with the token away: $(grep -E 'sign_failures|terminal/upload' metrics.txt)"
api GET /v1/health
[ "$status" = 503 ] && [ "$(jget .error)" = EPKCS11 ] && [ "$(jget .status)" = unavailable ] \
  && [ "$(jget .last_signing_error.error)" = EPKCS11 ] \
  && ok "health: 503 while the daily key cannot sign" || fail "health, token away: $status $(cat resp.json)"
api POST /v1/admin/credentials \
  "{\"account\":\"$W\",\"wallet_key\":\"$TKEY\",\"limit\":\"1.00\"}"
if [ "$status" = 503 ] && [ "$(jget .error)" = EPKCS11 ] && jget .hint | grep -q CKR_; then
  ok "503 EPKCS11 with the CKR_ name when the token is gone"
else
  fail "token gone: $status $(cat resp.json)"
fi
mv tokens.away tokens
balances "payer=$W:5000 esc1=esc/$S1:3750 M=$MA:1725" "nothing moved while the token was away"
# The token back (SoftHSM2's session lost the key's handle,
# CKR_OBJECT_HANDLE_INVALID, and its module finds the token again only
# once initialized anew): offpayd opens the key anew by its URI, in a new
# session, at a signature and at most every 5 s, checks it is the same
# key, and signs again; /v1/health, whose probe signs after a failure,
# answers 200 again without a restart. The log says the loss and the
# recovery once each.
pid=$server_pid
health_is() { # health_is STATUS [SECONDS]: polls /v1/health until STATUS
  for _ in $(seq $((${2:-15} * 4))); do
    api GET /v1/health; [ "$status" = "$1" ] && return 0; sleep 0.25
  done
  return 1
}
health_is 200 && [ "$(jget .status)" = ok ] && [ "$(jget .last_signing_error)" = null ] \
  && ok "health: 200 again once the token is back, without a restart" \
  || fail "health, token back: $status $(cat resp.json)"
[ "$server_pid" = "$pid" ] && kill -0 "$pid" && ok "the same offpayd" || fail "offpayd restarted"
[ "$(grep -c "PKCS#11 token 'offpay', object 'issuer-kid-2': the token lost the key's session or handle (C_SignInit: CKR_" server.err)" = 1 ] \
  && [ "$(grep -c "PKCS#11 token 'offpay', object 'issuer-kid-2': opened anew in a new session after C_SignInit: CKR_.*; the key signs again" server.err)" = 1 ] \
  && ok "the log: the loss and the recovery, once each" \
  || fail "log of the loss and recovery: $(grep -i pkcs11 server.err)"
run_cli 0 "uploaded 1 payment\(s\): 1 decided \(1 paid, 2.00 EUR" -- "$OFFPAY" terminal sync \
  --terminal ts --passphrase-file tp --server "$URL"
balances "M2=$MA2:200" "the upload answered 503 was settled once"
new_wallet w3 "$W" 1.00 && ok "a credential issued after the recovery verifies in a wallet" \
  || fail "credential after the recovery"
# The token's files replaced by a fresh token of the same label holding
# another Ed25519 key under the URI's label: offpayd signs nothing with it
# (503, the hint naming both public keys, a WARNING on the log), nothing
# moves; the right token put back, it signs again.
mv tokens tokens.right
mkdir tokens
softhsm2-util --init-token --free --label offpay --pin "$(cat pin)" \
  --so-pin 55-so-pin-77 >/dev/null
OFFPAY_PKCS11_PIN=$(cat pin) "$OFFPAY" terminal init --terminal tfake \
  --root iss/root.pub --bundle bundle.opb --currency EUR \
  --key-uri "pkcs11:token=offpay;object=issuer-kid-2" --generate-key >/dev/null
for _ in $(seq 60); do
  api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$TKEY\",\"limit\":\"1.00\"}"
  [ "$status" = 200 ] && break
  jget .hint | grep -q "the URI names another key now" && break
  sleep 0.25
done
[ "$status" = 503 ] && [ "$(jget .error)" = EPKCS11 ] \
  && jget .hint | grep -q "CKR_OBJECT_HANDLE_INVALID; opened anew: the URI names another key now" \
  && ok "another key under the URI: 503, nothing signed" \
  || fail "another key under the URI: $status $(cat resp.json)"
grep -q "WARNING: PKCS#11 token 'offpay', object 'issuer-kid-2': the URI names another key now (public key [0-9a-f]*\.\.\., the key opened [0-9a-f]*\.\.\.): the token was replaced or its label reused; nothing is signed with it" server.err \
  && ok "the log warns of the other key" || fail "no warning of the other key: $(tail -3 server.err)"
api GET /v1/health
[ "$status" = 503 ] \
  && jget .hint | grep -qE "the URI names another key now \(public key [0-9a-f]{16}\.\.\., the key opened [0-9a-f]{16}\.\.\.\)" \
  && ok "health: 503 while the URI names another key, both keys named" \
  || fail "health with another key: $status $(cat resp.json)"
balances "payer=$W:4900 M2=$MA2:200" "nothing moved while the URI named another key"
rm -rf tokens; mv tokens.right tokens
health_is 200 && ok "health: 200 with the right token back" \
  || fail "health, right token back: $status $(cat resp.json)"
new_wallet w4 "$W" 1.00 && ok "a credential issued then verifies in a wallet" \
  || fail "credential after the right token came back"
[ "$server_pid" = "$pid" ] && ok "the same offpayd throughout" || fail "offpayd restarted"
audit_passes "after the token came back"
stop_server TERM

# ---- 5. keys changed under offpayd (SIGHUP) ---------------------------------
# offpayd signing in the token (the stored URI) is sent SIGHUP after a
# sealed key 3 is added: it signs with key 3 from then on, and closes the
# token's key only when it stops.
start_server
pid=$server_pid
run_cli 0 "signing key 3 added" -- "$OFFPAY" issuer add-key --dir iss --passphrase-file ip
kill -HUP "$server_pid"
for _ in $(seq 100); do grep -q "SIGHUP: issuer read again" server.err && break; sleep 0.1; done
grep -q "SIGHUP: issuer read again from iss: signing with daily key 3 (until .*; was 2), trust bundle 3 (was 2)" server.err \
  && ok "SIGHUP: from the token's key 2 to the sealed key 3" \
  || fail "SIGHUP from the token's key: $(tail -3 server.err)"
api POST /v1/admin/credentials \
  "{\"account\":\"$W\",\"wallet_key\":\"$TKEY\",\"limit\":\"1.00\"}"
jget .credential > k3.cred
run_cli 0 '"kid": 3' -- "$OFFPAY" decode --file k3.cred --json
[ "$server_pid" = "$pid" ] && kill -0 "$pid" && ok "the same offpayd" || fail "offpayd restarted"
audit_passes "after SIGHUP"
stop_server TERM
# Pinned with --issuer-key-uri, the token's key 2 is what offpayd signs
# with, whatever else the issuer adds; retired (a compromise), SIGHUP
# cannot replace it: offpayd keeps it, says so loudly and how to restart.
start_server --issuer-key-uri "$ISSUER_URI"
run_cli 0 "signing key 2 retired" -- "$OFFPAY" issuer retire-key 2 --dir iss --passphrase-file ip
: > server.err
kill -HUP "$server_pid"
for _ in $(seq 100); do grep -q "SIGHUP: the issuer is unchanged" server.err && break; sleep 0.1; done
grep -q "issuer key in the token: .*(EUNKNOWN_KID)" server.err \
  && grep -q "SIGHUP: the issuer is unchanged (above): signing with daily key 2, trust bundle 3" server.err \
  && grep -q "WARNING: the key of --issuer-key-uri is no key of the issuer's trust bundle valid now (retired?): .*restart it with the URI of a key of the new bundle" server.err \
  && ok "SIGHUP after the pinned key's retirement: kept, with a warning to restart" \
  || fail "pinned key retired: $(cat server.err)"
stop_server TERM
start_server   # without the pin: the newest key valid now, the sealed key 3
api GET /v1/bundle
[ "$(jget .seq)" = 4 ] && ok "restarted without the pin: the bundle without key 2 (4)" \
  || fail "bundle after the restart: $(cat resp.json)"
stop_server TERM
# The retired key, still in the token, named again: refused (a retired
# key never signs again; the issuer keeps the retired public keys, since
# 0.12.0), the bundle unchanged.
before=$(sha256sum iss/bundle.opb)
run_cli 1 "is a key of the bundle already, or one retired" -- \
  "$OFFPAY" issuer add-key --dir iss --passphrase-file ip --key-uri "$ISSUER_URI"
[ "$(sha256sum iss/bundle.opb)" = "$before" ] && ok "the bundle unchanged" \
  || fail "the bundle changed"

# ---- 6. a key whose URI gives no PIN, on SIGHUP ------------------------------
# A daily key added with a URI that gives no PIN (the ceremony machine had
# $OFFPAY_PKCS11_PIN; offpayd has neither it nor a pin-source): offpayd
# does not start on it (without a PIN the token shows no private key),
# and on SIGHUP, while its key in the same token keeps the token logged
# in, it does not take it either (found only through that login): the
# key in use stays, the log says why. With the PIN in its environment,
# offpayd takes it at a start and on SIGHUP alike.
unset OFFPAY_PKCS11_PIN
run_cli 0 "signing key 1 is in the PKCS#11 token" -- "$OFFPAY" issuer init \
  --dir iss4 --passphrase-file ip --generate-key \
  --key-uri "pkcs11:token=offpay;object=iss4-kid-1?pin-source=file:$work/pin"
start_server --db iss4.db --issuer iss4 --root iss4/root.pub
run_cli 0 "signing key 2 added \(in the PKCS#11 token\)" -- \
  env OFFPAY_PKCS11_PIN="$(cat pin)" "$OFFPAY" issuer add-key --dir iss4 \
  --passphrase-file ip --key-uri "pkcs11:token=offpay;object=iss4-kid-2" --generate-key
: > server.err
kill -HUP "$server_pid"
for _ in $(seq 100); do grep -q "SIGHUP: issuer read again\|SIGHUP: the issuer is unchanged" server.err && break; sleep 0.1; done
grep -q "issuer key in the token: .*(EPKCS11_URI): the URI gives no PIN .*another key of this process logged the token in" server.err \
  && grep -q "SIGHUP: the issuer is unchanged (above): signing with daily key 1, trust bundle 1" server.err \
  && ok "SIGHUP: a key whose URI gives no PIN is not taken through another key's login" \
  || fail "SIGHUP with a URI without a PIN: $(cat server.err)"
api GET /v1/bundle
[ "$(jget .seq)" = 1 ] && ok "the bundle in use stays 1" || fail "bundle after the SIGHUP: $(cat resp.json)"
stop_server TERM
set +e
timeout 60 "$OFFPAYD" --db iss4.db --listen 127.0.0.1:0 --issuer iss4 --passphrase-file ip \
  --root iss4/root.pub --token-file token >nopin.out 2>nopin.err
st=$?
set -e
[ "$st" = 3 ] && grep -q "(EPKCS11_URI)" nopin.err \
  && ok "offpayd's start refuses the same key: exit 3, EPKCS11_URI" \
  || fail "start on a URI without a PIN: $st $(cat nopin.err)"
OFFPAY_PKCS11_PIN=$(cat pin) start_server --db iss4.db --issuer iss4 --root iss4/root.pub
api GET /v1/bundle
[ "$(jget .seq)" = 2 ] && ok "with the PIN in its environment offpayd starts on key 2" \
  || fail "start with the PIN in the environment: $(cat resp.json)"
stop_server TERM
finish
