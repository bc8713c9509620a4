#!/usr/bin/env bash
# demo.sh — offpay's main demo: an issuer, a wallet and a terminal in a
# temporary directory complete two offline payments, every code passing
# through a real PNG image read back by the QR scanner:
#   1. consumer-presented: the wallet shows a code, the terminal scans it;
#   2. merchant-presented: the terminal shows a request, the wallet scans it,
#      confirms and shows a bound code; the terminal scans it and shows a
#      receipt, which the wallet scans.
# Then the terminal's journal and the wallet's balance.
# Usage: scripts/demo.sh [path/to/offpay]
set -euo pipefail

OFFPAY=${1:-$(dirname "$0")/../build/src/offpay}
OFFPAY=$(realpath "$OFFPAY")
work=$(mktemp -d "${TMPDIR:-/tmp}/offpay-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$OFFPAY|offpay|" >&2; "$@"; }

# The demo's passphrases live in files readable only here; real users are
# asked on the terminal.
umask 077
echo "issuer demo passphrase" > issuer.pass
echo "wallet demo passphrase" > wallet.pass
echo "terminal demo passphrase" > terminal.pass
echo "root key demo passphrase, kept offline" > root.pass

step "Issuer: root and signing keys (offline key ceremony)"
# The root key gets its own file and passphrase, for offline storage (here
# a directory standing for a removable medium); day-to-day issuing never
# reads it, only adding or retiring a signing key does.
mkdir offline
run "$OFFPAY" issuer init --dir issuer --passphrase-file issuer.pass \
    --root offline/root.sealed --root-passphrase-file root.pass

step "Wallet: key pair made on the payer's device"
run "$OFFPAY" wallet init --wallet wallet.opw --root issuer/root.pub \
    --bundle issuer/bundle.opb --passphrase-file wallet.pass
wkey=$("$OFFPAY" wallet key --wallet wallet.opw --passphrase-file wallet.pass)

step "Issuer: an offline allowance of 100.00 EUR for the wallet"
run "$OFFPAY" issuer wallet-credential --dir issuer --passphrase-file issuer.pass \
    --wallet-key "$wkey" --limit 100.00 --currency EUR --out wallet.cred
run "$OFFPAY" wallet add-credential wallet.cred --wallet wallet.opw \
    --passphrase-file wallet.pass

step "Terminal: a merchant's terminal, provisioned with the root key"
run "$OFFPAY" terminal init --terminal shop --root issuer/root.pub \
    --bundle issuer/bundle.opb --currency EUR --passphrase-file terminal.pass
tkey=$("$OFFPAY" terminal key --terminal shop --passphrase-file terminal.pass)
run "$OFFPAY" issuer terminal-credential --dir issuer --passphrase-file issuer.pass \
    --terminal-key "$tkey" --merchant-id 4242 --name "Corner Bakery" \
    --currency EUR --out shop.cred
run "$OFFPAY" terminal set-credential shop.cred --terminal shop \
    --passphrase-file terminal.pass
run "$OFFPAY" terminal sync --terminal shop --revlist issuer/revlist.opb

step "1. Consumer-presented: the payer shows a code (everything offline now)"
run "$OFFPAY" wallet pay --wallet wallet.opw --passphrase-file wallet.pass \
    --currency EUR --amount 20.00 --png cpm.png --show >/dev/null
echo "(the code is also in cpm.png; the terminal scans that image)"
run "$OFFPAY" terminal accept --terminal shop --image cpm.png --amount 12.50

step "2. Merchant-presented: the terminal shows a request for 4.80 EUR"
run "$OFFPAY" terminal request --terminal shop --passphrase-file terminal.pass \
    --amount 4.80 --png request.png --show >/dev/null
step "The payer scans the request, checks merchant and amount, confirms"
run "$OFFPAY" wallet pay-request --wallet wallet.opw --passphrase-file wallet.pass \
    --image request.png --yes --png bound.png >/dev/null
step "The terminal scans the bound code and prints a receipt code"
run "$OFFPAY" terminal accept --terminal shop --passphrase-file terminal.pass \
    --image bound.png --receipt-png receipt.png
run "$OFFPAY" wallet receipt --wallet wallet.opw --passphrase-file wallet.pass \
    --image receipt.png

step "A replayed code is refused"
"$OFFPAY" terminal accept --terminal shop --image cpm.png --amount 1.00 \
    && { echo "demo: the replay was accepted!" >&2; exit 1; } || true

step "What a code says (offpay decode)"
run "$OFFPAY" decode --image bound.png | head -11

step "Terminal journal"
run "$OFFPAY" terminal journal --terminal shop

step "Wallet balance (the unreceipted 20.00 code stays reserved as pending)"
run "$OFFPAY" wallet balance --wallet wallet.opw --passphrase-file wallet.pass
