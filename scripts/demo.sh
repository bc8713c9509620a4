#!/usr/bin/env bash
# demo.sh — offpay's main demo: the whole life of two offline payments,
# from the payer's enrollment to the merchant's statement, in a temporary
# directory:
#   * the issuer's key ceremony (offline), then the settlement server
#     offpayd on a fresh SQLite ledger; the operator funds the issuer's
#     guarantee and registers a merchant;
#   * a payer's wallet enrolls with the operator's one-time code, its
#     account is topped up (a bank transfer, booked by the operator), and
#     the wallet takes an offline allowance: money moved into escrow;
#   * the merchant's terminal registers through offpayd;
#   * offpayd stops (the network is gone) and two payments happen offline,
#     every code passing through a real PNG image read back by the QR
#     scanner: a consumer-presented one, and a merchant-presented one with
#     a bound code and a receipt;
#   * offpayd comes back; the terminal and the wallet sync; the merchant's
#     statement shows each payment settled exactly once, the wallet sees
#     what settlement did not take released, the audit passes, and the
#     operator dashboard's address is printed (offpayd keeps running until
#     Enter is pressed, when the demo runs in a terminal).
# Usage: scripts/demo.sh [path/to/offpay [path/to/offpayd]]
set -euo pipefail

OFFPAY=${1:-$(dirname "$0")/../build/src/offpay}
OFFPAY=$(realpath "$OFFPAY")
OFFPAYD=$(realpath "${2:-$(dirname "$OFFPAY")/offpayd}")
work=$(mktemp -d "${TMPDIR:-/tmp}/offpay-demo.XXXXXX")
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
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

echo "operator token for this demo only, 0123456789" > operator.token

# api METHOD PATH [BODY]: an operator request to offpayd, printed; the
# answer goes to resp.json, and show prints it (or the fields a reader
# follows).
api() {
  local method=$1 path=$2 body=${3:-}
  printf '$ curl -X %s %s%s%s\n' "$method" "$path" "${body:+ -d }" "$body" >&2
  local args=(-s -f -S -X "$method" -H "Authorization: Bearer $(cat operator.token)")
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
  curl "${args[@]}" "$URL$path" > resp.json
}
show() { jq -c "${1:-.}" resp.json; }
money() { # ACCOUNT -> "123.45 EUR"
  api GET "/v1/admin/accounts/$1" 2>/dev/null
  jq -r '.balance.decimal + " " + .balance.currency' resp.json
}
start_offpayd() {
  rm -f offpayd.out   # never read the previous run's "listening" line
  "$OFFPAYD" --db ledger.db --create --listen 127.0.0.1:0 --issuer issuer \
      --passphrase-file issuer.pass --root issuer/root.pub \
      --token-file operator.token --threads 2 > offpayd.out 2> offpayd.err &
  server_pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" offpayd.out 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  URL=http://$(sed -n 's/^offpayd listening on //p' offpayd.out)
  [ "$URL" != "http://" ] || { cat offpayd.err >&2; echo "demo: offpayd did not start" >&2; exit 1; }
  echo "offpayd listening on ${URL#http://} (ledger.db)"
}
stop_offpayd() {
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=
}

step "Settlement server: offpayd on a fresh SQLite ledger"
# offpayd holds the issuer's day-to-day signing key, never the root key.
echo '$ offpayd --db ledger.db --create --listen 127.0.0.1:0 --issuer issuer --root issuer/root.pub ...' >&2
start_offpayd

step "Operator: the issuer's guarantee and a merchant"
api POST /v1/admin/guarantee '{"currency":"EUR"}'; show; G=$(jq -r .account resp.json)
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"500.00","ref":"guarantee fund"}'; show
api POST /v1/admin/merchants '{"name":"Corner Bakery","currency":"EUR"}'; show
M=$(jq -r .merchant resp.json); MA=$(jq -r .account resp.json)

step "Operator: a one-time enrollment code for a new payer"
api POST /v1/admin/enrollments '{"currency":"EUR","ref":"demo payer"}'
show '{code,currency,expires}'; CODE=$(jq -r .code resp.json)

step "Wallet: key pair made on the payer's device, enrolled with the code"
api GET /v1/bundle; jq -r .bundle resp.json | base64 -d > bundle.opb
run "$OFFPAY" wallet init --wallet wallet.opw --root issuer/root.pub \
    --bundle bundle.opb --passphrase-file wallet.pass
run "$OFFPAY" wallet enroll --wallet wallet.opw --passphrase-file wallet.pass \
    --server "$URL" --code "$CODE" | tee enroll.out
P=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' enroll.out)

step "Bank: the payer tops up the account with 150.00 EUR (booked by the operator)"
api POST "/v1/admin/accounts/$P/deposit" '{"amount":"150.00","ref":"bank transfer"}'; show

step "Wallet: an offline allowance of 100.00 EUR, moved from the account into escrow"
run "$OFFPAY" wallet allowance --wallet wallet.opw --passphrase-file wallet.pass \
    --amount 100.00 | tee allowance.out
S=$(sed -n 's/^credential \([0-9]*\) installed.*/\1/p' allowance.out)

step "Terminal: the merchant's terminal, registered through offpayd"
run "$OFFPAY" terminal init --terminal shop --root issuer/root.pub \
    --bundle bundle.opb --currency EUR --passphrase-file terminal.pass
tkey=$("$OFFPAY" terminal key --terminal shop --passphrase-file terminal.pass)
api POST /v1/admin/terminals \
    "$(jq -cn --arg m "$M" --arg k "$tkey" '{merchant:$m,terminal_key:$k}')"
show '{terminal_id,merchant,name,expires}'
jq -r .credential resp.json | base64 -d > shop.cred
run "$OFFPAY" terminal set-credential shop.cred --terminal shop \
    --passphrase-file terminal.pass
run "$OFFPAY" terminal sync --terminal shop --passphrase-file terminal.pass \
    --server "$URL"

step "The network goes down: offpayd stops"
stop_offpayd
echo "offpayd stopped; wallet and terminal are on their own now"

step "1. Consumer-presented: the payer shows a code (offline)"
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

step "The network is back: offpayd restarts, the terminal syncs"
start_offpayd
run "$OFFPAY" terminal sync --terminal shop --passphrase-file terminal.pass \
    --server "$URL"

step "The merchant's statement: each payment settled once"
api GET "/v1/admin/merchants/$M/statement"
jq -r '.lines[] | "  payment \(.serial)/\(.counter): charged \(.charged.decimal), paid \(.paid.decimal) (\(.outcome))"' resp.json
jq -r '"  total paid \(.paid.decimal) EUR; merchant account \(.balance.decimal) EUR"' resp.json
settled=$(jq -r '[.lines[] | select(.outcome == "settled")] | length' resp.json)
[ "$settled" = 2 ] || { echo "demo: expected 2 settled payments, got $settled" >&2; exit 1; }

step "The terminal's journal now says what offpayd paid for each payment"
run "$OFFPAY" terminal journal --terminal shop | tee journal.out
grep -q "^settlement: 2 paid in full, 0 paid in part, 0 not paid, 0 refused; paid 17.30 EUR in all; 0 not uploaded yet" journal.out \
  || { echo "demo: the journal does not show both payments paid" >&2; exit 1; }

step "The wallet syncs: what settled, what is released, balances beside the server's"
# The 20.00 code was charged 12.50: settlement took 12.50 and the wallet
# no longer holds the other 7.50; the bound code's receipt said 4.80.
# (--server: this demo's offpayd came back on another port; a real
# wallet syncs with the server it enrolled with)
run "$OFFPAY" wallet sync --wallet wallet.opw --passphrase-file wallet.pass \
    --server "$URL" | tee sync.out
grep -qE "^total: account 50.00 EUR, escrow 82.70 EUR, available offline 82.70 EUR" sync.out \
  || { echo "demo: the wallet's balances after the sync are not the server's" >&2; exit 1; }

step "Where the money is now (the server's view)"
api GET "/v1/admin/credentials/$S" 2>/dev/null
escrow=$(jq -r '.remaining.decimal + " " + .remaining.currency' resp.json)
echo "payer's account         $(money "$P")    (150.00 deposited, 100.00 into escrow)"
echo "escrow of credential $S  $escrow    (100.00 less the 12.50 and 4.80 paid)"
echo "Corner Bakery           $(money "$MA")"
echo "issuer's guarantee      $(money "$G")   (untouched: nobody overspent)"
echo "What the escrow still holds returns to the payer's account once the"
echo "credential has expired and the upload grace has passed."

step "A second sync sends nothing: nothing is counted twice"
run "$OFFPAY" terminal sync --terminal shop --passphrase-file terminal.pass \
    --server "$URL"
run "$OFFPAY" wallet sync --wallet wallet.opw --passphrase-file wallet.pass \
    --server "$URL" | tail -1

step "A returned item: the bakery refunds 2.00 of the 12.50 payment"
# The refund comes out of the merchant's account and goes to the payer's
# online account (not back into the offline escrow); --key makes it once.
api GET "/v1/admin/merchants/$M/statement" 2>/dev/null
PR=$(jq -r '[.lines[] | select(.charged.minor == 1250)][0].presentment' resp.json)
run "$OFFPAY" admin refund --db ledger.db --presentment "$PR" --amount 2.00 \
    --ref "returned item" --key return-1
run "$OFFPAY" admin refund --db ledger.db --presentment "$PR" --amount 2.00 \
    --ref "returned item" --key return-1 | head -1
echo "payer's account         $(money "$P")    (50.00 and the 2.00 refunded)"
echo "Corner Bakery           $(money "$MA")    (17.30 less the refund)"
[ "$(money "$P")" = "52.00 EUR" ] && [ "$(money "$MA")" = "15.30 EUR" ] \
  || { echo "demo: the refund did not move 2.00 once" >&2; exit 1; }
run "$OFFPAY" wallet sync --wallet wallet.opw --passphrase-file wallet.pass \
    --server "$URL" | tee sync3.out
grep -qE "^[0-9]+ +[0-9]+ +settled +12\.50 EUR +refunded 2\.00 EUR" sync3.out \
  || { echo "demo: the wallet does not show the refund" >&2; exit 1; }

step "The audit: every balance recomputed from the transfers"
api GET /v1/admin/audit; show
[ "$(jq -r .ok resp.json)" = true ] || { echo "demo: the audit failed" >&2; exit 1; }
run "$OFFPAY" admin audit --db ledger.db

step "The operator's dashboard"
echo "open $URL/dashboard in a browser on this machine; the operator token"
echo "is in $work/operator.token: $(cat operator.token)"
if [ -t 0 ] && [ -t 1 ]; then
  read -r -p "press Enter to stop offpayd and end the demo " _ || true
fi
stop_offpayd
