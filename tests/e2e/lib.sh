# lib.sh — shared setup for the end-to-end scenarios: a fresh issuer,
# wallet and terminal in a temporary directory, driven through the real
# offpay binary. Sourced by tests/e2e/*.sh with the binary as $1.
set -euo pipefail
OFFPAY=$(realpath "$1")
export OFFPAY_KDF_COST=test   # small Argon2id cost: tests only
work=$(mktemp -d "${TMPDIR:-/tmp}/offpay-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
passed=0
failed=0

ok()   { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# expect STATUS PATTERN -- COMMAND...: runs COMMAND, checks its exit status
# and that PATTERN (grep -E) appears in its stdout+stderr.
expect() {
  local want=$1 pattern=$2 out status
  shift 3
  set +e
  out=$("$@" 2>&1)
  status=$?
  set -e
  if [ "$status" -eq "$want" ] && grep -qE -- "$pattern" <<<"$out"; then
    ok "$want /$pattern/: ${*:2:3}"
  else
    fail "want $want /$pattern/, got $status: $*"
    printf '%s\n' "$out" | sed 's/^/    | /' | head -20
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

umask 077
printf 'issuer pass\n' > ip; printf 'wallet pass\n' > wp; printf 'terminal pass\n' > tp

# setup_world [LIMIT]: issuer, one wallet with a EUR credential, one
# terminal ("shop", merchant 7) provisioned and synced.
setup_world() {
  local limit=${1:-100.00}
  "$OFFPAY" issuer init --dir iss --passphrase-file ip >/dev/null
  "$OFFPAY" wallet init --wallet w --root iss/root.pub --bundle iss/bundle.opb \
      --passphrase-file wp >/dev/null
  "$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip \
      --wallet-key "$("$OFFPAY" wallet key --wallet w --passphrase-file wp)" \
      --limit "$limit" --currency EUR --out w.cred >/dev/null
  "$OFFPAY" wallet add-credential w.cred --wallet w --passphrase-file wp >/dev/null
  new_offline_terminal shop 7 "Shop" EUR
}

# new_offline_terminal DIR MERCHANT_ID NAME CURRENCY: a terminal made with
# the issuer's files (no offpayd), its credential installed and its first
# revocation list taken.
new_offline_terminal() {
  "$OFFPAY" terminal init --terminal "$1" --root iss/root.pub \
      --bundle iss/bundle.opb --currency "$4" --passphrase-file tp >/dev/null
  "$OFFPAY" issuer terminal-credential --dir iss --passphrase-file ip \
      --terminal-key "$("$OFFPAY" terminal key --terminal "$1" --passphrase-file tp)" \
      --merchant-id "$2" --name "$3" --currency "$4" --out "$1.cred" >/dev/null
  "$OFFPAY" terminal set-credential "$1.cred" --terminal "$1" \
      --passphrase-file tp >/dev/null
  "$OFFPAY" terminal sync --terminal "$1" --revlist iss/revlist.opb >/dev/null
}
