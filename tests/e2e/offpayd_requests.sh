#!/usr/bin/env bash
# offpayd_requests.sh — requests offpayd must refuse: malformed, oversized,
# unsigned, wrongly signed, stale-timestamp and replayed uploads, an
# unknown terminal, a missing or wrong operator token, bad operator bodies.
# Each gets a 4xx with a JSON error naming the problem, and nothing
# changes: the balances are the same and the audit passes afterwards.
# Also: offpayd refuses to start without an operator token.
source "$(dirname "$0")/offpayd_lib.sh"

# Start-up refusals: no token file, a token shorter than 16 bytes.
set +e
"$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub >out.txt 2>&1
[ $? -eq 2 ] && grep -q "token-file" out.txt && ok "no --token-file: refused (2)" \
  || fail "started without a token: $(cat out.txt)"
printf 'short\n' > short
"$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub --token-file short >out.txt 2>&1
[ $? -eq 3 ] && grep -q "fewer than 16" out.txt && ok "short token: refused (3)" \
  || fail "short token: $(cat out.txt)"
# (into a file: grep -q stops reading at its match, and a help text longer
# than a pipe's first write would get SIGPIPE, failing under pipefail)
"$OFFPAYD" --help >help.txt && grep -q "Usage: offpayd" help.txt \
  && grep -q -- "--metrics-token-file FILE" help.txt && ok "--help" || fail "--help: $(head -3 help.txt)"
"$OFFPAYD" --version | grep -qE "^offpayd [0-9]+\.[0-9]+\.[0-9]+$" && ok "--version" || fail "--version"
"$OFFPAYD" --verbose x >out.txt 2>&1
[ $? -eq 2 ] && grep -q "^offpayd: --verbose: unknown option" out.txt \
  && ok "an unknown option named (2)" || fail "unknown option: $(cat out.txt)"
"$OFFPAYD" --threads 999 >out.txt 2>&1
[ $? -eq 2 ] && grep -q "^offpayd: --threads 999: out of range" out.txt \
  && ok "an option out of range named with its value (2)" || fail "out of range: $(cat out.txt)"
for o in "--window 10s" "--release-every 1h"; do
  "$OFFPAYD" $o >out.txt 2>&1
  [ $? -eq 2 ] && grep -q "^offpayd: $o: a whole number of seconds" out.txt \
    && ok "$o: a whole number of seconds (2)" || fail "$o: $(cat out.txt)"
done
"$OFFPAYD" --db "$LEDGER" --listen localhost:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
[ $? -eq 2 ] && grep -q "takes an IPv4 address" out.txt \
  && ok "--listen localhost:0: refused (2), the form named" || fail "localhost: $(cat out.txt)"
if [ "$BACKEND" = sqlite ]; then
  "$OFFPAYD" --db no-such-dir/l.db --create --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
  [ $? -eq 3 ] && grep -q "its directory no-such-dir: No such file or directory" out.txt \
    && ok "a ledger in a missing directory: refused (3), the directory named" \
    || fail "missing dir: $(cat out.txt)"
  # a ledger file that is not there (a volume not mounted, a wrong path):
  # refused without --create, and no file made
  "$OFFPAYD" --db gone.db --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
  [ $? -eq 3 ] && grep -q "ledger gone.db does not exist: give --create" out.txt && [ ! -e gone.db ] \
    && ok "a missing ledger without --create: refused (3), no file made" \
    || fail "missing ledger: $(cat out.txt; ls gone.db* 2>&1)"
  # nor a file without the ledger's schema: an empty file (a power cut, a
  # `touch` before `chown`) or another program's database; nothing
  # written to either, and `offpay
  # admin` says the same instead of advising an upgrade
  : > empty.db
  python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE journal(seq INTEGER PRIMARY KEY)"); c.commit()' other.db
  other_sum=$(sha256sum < other.db)
  for f in empty.db other.db; do
    "$OFFPAYD" --db "$f" --listen 127.0.0.1:0 --issuer iss \
        --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
    st=$?
    [ "$st" -eq 3 ] && grep -q "$f holds no offpay ledger (an empty file, or another program's database): give --create" out.txt \
      && ok "$f without --create: refused (3)" || fail "$f: $st $(cat out.txt)"
    run_cli 3 "$f: no offpay ledger there \(an empty file, or another program's database\)" -- \
      "$OFFPAY" admin audit --db "$f"
    set +e # (run_cli sets it)
  done
  [ ! -s empty.db ] && [ "$(sha256sum < other.db)" = "$other_sum" ] && [ ! -e empty.db-wal ] \
    && ok "neither file written" || fail "written: $(ls -la empty.db* other.db*)"
  # a port in use: said with its reason before the ledger is opened, so
  # no new ledger file is made
  python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(20)' >port.txt &
  holder=$!
  for _ in $(seq 1 100); do [ -s port.txt ] && break; sleep 0.05; done
  "$OFFPAYD" --db fresh.db --create --listen "127.0.0.1:$(cat port.txt)" --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
  st=$?
  kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
  [ "$st" -eq 3 ] && grep -q "cannot listen on .*: Address already in use" out.txt && [ ! -e fresh.db ] \
    && ok "a port in use: refused (3), no ledger file left" || fail "port in use: $st $(cat out.txt; ls fresh.db* 2>&1)"
  # a PostgreSQL password in --db (here a server that is not there) is
  # never printed, by offpayd or `offpay admin`: the URL is named with
  # user:***@, and the command line's password is warned of, once
  pw_url='postgresql://user:PGSECRETPW@127.0.0.1:1/db?connect_timeout=2'
  pw_warn="WARNING: --db holds the PostgreSQL password.*PGPASSFILE"
  "$OFFPAYD" --db "$pw_url" --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
  st=$?
  "$OFFPAY" admin audit --db "$pw_url" >>out.txt 2>&1
  "$OFFPAY" admin backup --db "$pw_url" --out pw.db >>out.txt 2>&1
  "$OFFPAY" admin audit --db 'host=127.0.0.1 password=PGSECRETPW' >>out.txt 2>&1
  [ "$st" -eq 4 ] && ! grep -q PGSECRETPW out.txt \
    && grep -q "ledger postgresql://user:\*\*\*@127.0.0.1:1/db?connect_timeout=2: input/output error (EIO)" out.txt \
    && grep -q "^offpay: postgresql://user:\*\*\*@127.0.0.1:1/db?connect_timeout=2: input/output error (EIO)" out.txt \
    && grep -q "^offpay: admin backup: postgresql://user:\*\*\*@.* is not a SQLite ledger" out.txt \
    && grep -q "opening host=127.0.0.1 password=\*\*\* (ENOENT)" out.txt \
    && [ "$(grep -c "^offpayd: .* $pw_warn" out.txt)" = 1 ] \
    && [ "$(grep -c "^offpay: $pw_warn" out.txt)" = 3 ] \
    && ok "a password in --db: never printed (offpayd, admin audit, admin backup), warned of once each" \
    || fail "password in --db: $st $(cat out.txt)"
else
  # the ledger's database still empty (a wrong URL, a database restored
  # empty): refused without --create, and nothing made in it; the URL
  # said without the password it holds (the test server trusts loopback,
  # so a password there is never asked for)
  db_pw=$(sed 's|^\(postgresql://[^@/]*\)@|\1:PGSECRETPW@|' <<<"$LEDGER")
  db0=$LEDGER; want="holds no offpay ledger (a database without its schema): give --create"
  if [ -n "${OFFPAY_TEST_SHARDS:-}" ]; then
    db0=$(awk 'NR == 1 {print $3}' shards.map); want="shard 0 of the map: .*$want"
    sed 's|^\(shard [^ ]* postgresql://[^@/]*\)@|\1:PGSECRETPW@|' shards.map > pw.map
    db_pw=shards:$work/pw.map
  fi
  "$OFFPAYD" --db "$db_pw" --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
  st=$?
  tables=$(psql -q -X -A -t "$db0" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
  [ "$st" -eq 3 ] && grep -q "$want" out.txt && [ "$tables" = 0 ] \
    && grep -q "postgresql://[^ ]*:\*\*\*@" out.txt && ! grep -q PGSECRETPW out.txt \
    && ok "an empty database without --create: refused (3), nothing made in it, the URL's password not said" \
    || fail "empty database: $st, $tables tables: $(cat out.txt)"
  # a server that answers and refuses (no such database) does not mend by
  # a restart: 3, as before
  "$OFFPAYD" --db "${OFFPAY_TEST_PG}no_such_offpay_db" --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
  st=$?
  [ "$st" -eq 3 ] && grep -q "does not exist" out.txt \
    && ok "a database the server does not have: refused (3)" || fail "no such database: $st $(cat out.txt)"
fi
# a PostgreSQL server not answering (yet): 4, which the unit restarts
# (docs/operations.md §2), libpq's reason on the log; any backend's run
"$OFFPAYD" --db postgresql://127.0.0.1:1/offpay --listen 127.0.0.1:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub --token-file token >out.txt 2>&1
st=$?
[ "$st" -eq 4 ] && grep -q "PostgreSQL: .*127.0.0.1.*port 1 failed" out.txt \
  && grep -q "input/output error (EIO): this may pass .*exit status 4" out.txt \
  && ok "a PostgreSQL server not answering: 4 (restarted), libpq's reason said" \
  || fail "server not answering: $st $(cat out.txt)"
set -e

start_server --batch-max 3 --body-max 4096
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; new_terminal ta "$MERCHANT"
W=$(new_account payer 100.00)
new_wallet w "$W" 50.00; S=$SERIAL
for a in 1.00 2.00 3.00 4.00; do c=$(pay w "$a"); accept ta "$c" "$a"; done
audit_passes "set-up"
before="W=$W:5000 esc=esc/$S:5000 A=$MA:0"
balances "$before" "nothing settled yet"

# Uploads.                                     status  error
"$UPLOAD_TOOL" --terminal ta --passphrase-file tp --body up.body --headers up.hdr \
    --from 1 --to 2 >/dev/null
status=$(curl -s -o resp.json -w '%{http_code}' --data-binary @up.body "$URL/v1/terminal/upload")
expect_http 401 SIGNATURE_MISSING "unsigned upload"
cp up.body good.body
sed 's/"charged":100/"charged":900/' good.body > up.body
send_upload
expect_http 401 SIGNATURE_INVALID "body changed after signing"
cp good.body up.body
# the signature's first character changed: A becomes B, anything else A
# (the old one-line edit left a signature starting "A" followed by another
# letter unchanged, one run in 64)
sed 's/^\(X-Offpay-Signature: \)A/\1B/; t; s/^\(X-Offpay-Signature: \)./\1A/' up.hdr > bad.hdr
cmp -s up.hdr bad.hdr && fail "the edited signature header is unchanged"
status=$(curl -s -o resp.json -w '%{http_code}' -H @bad.hdr --data-binary @up.body "$URL/v1/terminal/upload")
expect_http 401 SIGNATURE_INVALID "signature bytes changed"
sed 's/^\(X-Offpay-Time: \).*/\1012/' up.hdr > bad.hdr
status=$(curl -s -o resp.json -w '%{http_code}' -H @bad.hdr --data-binary @up.body "$URL/v1/terminal/upload")
expect_http 401 SIGNATURE_MALFORMED "time with a leading zero"
sed 's/^\(X-Offpay-Key: \).*/\1zz/' up.hdr > bad.hdr
status=$(curl -s -o resp.json -w '%{http_code}' -H @bad.hdr --data-binary @up.body "$URL/v1/terminal/upload")
expect_http 401 SIGNATURE_MALFORMED "key not hex"
upload ta --from 1 --to 2 --time $(( $(date +%s) - 1000 ))
expect_http 401 STALE_TIMESTAMP "signed 1000 s ago (window 300 s)"
grep -qE "the sender's clock is (999|1000|1001) s behind offpayd's .*set it right" resp.json \
  && ok "the hint says the sender's clock is 1000 s behind" || fail "hint: $(cat resp.json)"
upload ta --from 1 --to 2 --time $(( $(date +%s) + 1000 ))
expect_http 401 STALE_TIMESTAMP "signed 1000 s ahead"
grep -qE "the sender's clock is (999|1000|1001) s ahead of offpayd's" resp.json \
  && ok "the hint says it is 1000 s ahead" || fail "hint: $(cat resp.json)"
upload ta --from 1 --to 2 --path /v1/other
expect_http 401 SIGNATURE_INVALID "signed for another path"
# an unknown terminal: a real terminal key the server never registered
term_init stranger
printf '{"items":[{"seq":"1","code":"AAAA","charged":1,"accepted_at":1}]}' > any.json
upload stranger --sign-body any.json
expect_http 403 UNKNOWN_TERMINAL "a key that is not a registered terminal"
# signed but malformed bodies
for body in 'not json' '{"items":[]}' '{"items":[{"seq":"1"}]}' \
    '{"items":[{"seq":"01","code":"AAAA","charged":1,"accepted_at":1}]}' \
    '{"items":[{"seq":"1","code":"%%%","charged":1,"accepted_at":1}]}' \
    '{"items":[{"seq":"1","code":"AAAA","charged":-1,"accepted_at":1}]}' \
    '{"items":[{"seq":"1","code":"AAAA","charged":1,"accepted_at":1,"x":0}]}' \
    '{"items":[],"items":[]}' '{"items":[]} trailing'; do
  printf '%s' "$body" > any.json
  upload ta --sign-body any.json
  if [ "$status" = 400 ] && jq -e '.error == "MALFORMED_JSON" or .error == "BAD_FIELD"' \
       resp.json >/dev/null; then ok "400 $(jget .error): $body"
  else fail "malformed body $body: $status $(cat resp.json)"; fi
done
upload ta --from 1 --to 4
expect_http 413 BATCH_TOO_LARGE "4 items, batch cap 3"
head -c 5000 /dev/zero | tr '\0' ' ' > up.body
send_upload
expect_http 413 BODY_TOO_LARGE "5000-byte body, cap 4096 (Content-Length)"
status=$(curl -s -o resp.json -w '%{http_code}' -H @up.hdr -H 'Transfer-Encoding: chunked' \
    --data-binary @up.body "$URL/v1/terminal/upload")
expect_http 413 BODY_TOO_LARGE "5000-byte chunked body, cap 4096"
# a chunked body that never ends: the connection closed once it is twice
# past the cap, not read on for as long as it comes
python3 - "$URL" up.hdr >chunked.txt <<'PY' || true
import socket, sys, time
host, port = sys.argv[1][7:].split(":")
hdrs = [l.rstrip("\r\n") for l in open(sys.argv[2]) if l.strip()]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # little in flight
s.connect((host, int(port)))
s.sendall(("POST /v1/terminal/upload HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n" + "".join(h + "\r\n" for h in hdrs)
           + "\r\n").encode())
sent, chunk = 0, b"400\r\n" + b" " * 1024 + b"\r\n"
s.settimeout(5)  # a server that stops reading without closing: a timeout
closed = False
while sent < (64 << 20):
    try:
        s.sendall(chunk); sent += 1024
    except socket.timeout:
        break
    except OSError:  # reset or broken pipe: closed by the server
        closed = True
        break
print(sent if closed else 99999999, "closed" if closed else "not closed")
PY
read -r sent line < chunked.txt || true
[ "${sent:-99999999}" -lt $((1 << 20)) ] \
  && ok "an endless chunked body: the connection closed after $sent bytes (cap 4096)" \
  || fail "endless chunked body: $(cat chunked.txt)"
# A transfer coding other than chunked (and no Content-Length): offpayd
# cannot tell where such a body ends, so it is refused from the headers,
# 400 BAD_HEADER naming the coding, and the connection closed (it used to
# go unanswered until the connection timed out, ~11 s).
for te in gzip "gzip, chunked"; do
  python3 - "$URL" "$(cat token)" "$te" >te.txt <<'PY' || true
import socket, sys, time
host, port = sys.argv[1][7:].split(":")
s = socket.create_connection((host, int(port)))
t0 = time.time()
s.sendall(("POST /v1/admin/accounts HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Bearer " + sys.argv[2] + "\r\n"
           "Transfer-Encoding: " + sys.argv[3] + "\r\n\r\n").encode())
s.settimeout(5)  # an answer comes at once or not at all
data, closed = b"", False
try:
    while True:
        b = s.recv(4096)
        if not b:
            closed = True
            break
        data += b
except socket.timeout:
    pass
except OSError:  # reset: closed by the server
    closed = True
head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
print(head.split()[1] if head else "none",
      "closed" if closed else "open", round(time.time() - t0, 1))
print(body)
PY
  read -r code state secs < te.txt || true
  tail -n +2 te.txt > resp.json
  if [ "${code:-}" = 400 ] && [ "${state:-}" = closed ] && [ "$(jget .error)" = BAD_HEADER ] \
     && [ "$(jget .hint)" = "Transfer-Encoding '$te' not taken: send the body with a Content-Length, or Transfer-Encoding: chunked" ]; then
    ok "Transfer-Encoding: $te: 400 BAD_HEADER, connection closed (${secs} s)"
  else
    fail "Transfer-Encoding: $te: $(cat te.txt)"
  fi
done
balances "$before" "no refused upload moved money"
audit_passes "after refused uploads"

# A good upload, then its exact request again: the nonce is taken.
upload ta --from 1 --to 2
expect_http 200 - "good upload"
balances "esc=esc/$S:4700 A=$MA:300" "two payments settled"
send_upload
expect_http 409 NONCE_REPLAYED "the same request replayed"
balances "esc=esc/$S:4700 A=$MA:300" "the replayed request moved nothing"

# Operator requests.
for hdr in "" "Authorization: Bearer wrong-token-0123456789" "Authorization: Basic abc"; do
  status=$(curl -s -o resp.json -w '%{http_code}' ${hdr:+-H "$hdr"} \
      --data-binary '{"currency":"EUR"}' "$URL/v1/admin/accounts")
  expect_http 401 UNAUTHORIZED "operator call with '${hdr:-no header}'"
done
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.001"}'
expect_http 400 EAMOUNT "deposit of 1.001 EUR"
api POST "/v1/admin/accounts/$W/deposit" '{"amount":10}'
expect_http 400 BAD_FIELD "amount as a number"
api GET "/v1/admin/accounts/$W"; wbal=$(jget .balance.decimal)
api POST "/v1/admin/accounts/$W/withdraw" '{"amount":"1000.00"}'
expect_http 409 EFUNDS "withdraw more than the balance"
# hints that name the cause
hint_is "withdrawal: account $W holds $wbal EUR, less than the 1000.00 EUR asked; nothing was withdrawn"
api GET "/v1/admin/accounts/$W"
[ "$(jget .balance.decimal)" = "$wbal" ] && ok "nothing withdrawn" || fail "balance $wbal -> $(jget .balance.decimal)"
api POST "/v1/admin/accounts/999/deposit" '{"amount":"1.00"}'
expect_http 404 ENOTFOUND "deposit to an unknown account"
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"0"}'
expect_http 400 EAMOUNT "a deposit of 0"
hint_is "amount: more than 0 is needed"
# an amount or an id sent as a JSON number: the string it takes said
api POST "/v1/admin/accounts/$W/deposit" '{"amount":5}'
expect_http 400 BAD_FIELD "an amount as a JSON number"
hint_is "field 'amount' is malformed: a JSON string, such as \"5\", not the number 5"
api POST "/v1/admin/accounts/$W/deposit" '{"amount":12.5}'
hint_is "field 'amount' is malformed: a JSON string (an amount, such as \"12.50\"), not a number"
api POST /v1/admin/credentials "{\"account\":$W,\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"1.00\"}"
expect_http 400 BAD_FIELD "an account id as a JSON number"
hint_is "field 'account' is malformed: a JSON string, such as \"$W\", not the number $W"
api POST /v1/admin/accounts '{"currency":978}'
hint_is "field 'currency' is malformed: a JSON string, not a number"
# a number out of its range, an id with a sign, a flag as text: the form
# and range said (since 0.28.0; before, only "is malformed")
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"1.00\",\"expires\":-1}"
expect_http 400 BAD_FIELD "an expiry below 0"
hint_is "field 'expires' is malformed: a whole JSON number from 0 to 4294967295"
api POST /v1/admin/credentials "{\"account\":\"-$W\",\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"1.00\"}"
expect_http 400 BAD_FIELD "an account id with a sign"
hint_is "field 'account' is malformed: a JSON string of decimal digits, no leading zero, at most 9223372036854775807"
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"1.00\",\"allow_unbound\":\"yes\"}"
expect_http 400 BAD_FIELD "a flag as text"
hint_is "field 'allow_unbound' is malformed: true or false"
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"12,50"}'
expect_http 400 EAMOUNT "an amount with a comma"
hint_is 'amount: "12,50" is not an amount in EUR: a string such as "12.50" (or "12"), at most 2 decimals, no sign'
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"-1\"}"
expect_http 400 EAMOUNT "a negative limit"
hint_is 'limit: "-1" is not an amount in EUR: a string such as "12.50" (or "12"), at most 2 decimals, no sign'
# an expiry in the past: said so, not a bare EINVAL (since 0.26.0)
past_hint() { [[ $(jget .hint) =~ ^expires:\ 1000\ is\ not\ after\ now\ \([0-9]+\):\ a\ unix\ time\ in\ seconds\ in\ the\ future,\ or\ leave\ it\ out\ for\ the\ default\ term\;\ nothing\ was\ made$ ]] \
  && ok "hint: $(jget .hint)" || fail "the past expiry's hint: $(jget .hint)"; }
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"1.00\",\"expires\":1000}"
expect_http 400 BAD_FIELD "a credential expiring in 1970"; past_hint
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$(printf '%064x' 1)\",\"limit\":\"1.00\",\"expires\":0}"
expect_http 400 BAD_FIELD "a credential expiring at 0"
api POST /v1/admin/enrollments '{"currency":"EUR","expires":1000}'
expect_http 400 BAD_FIELD "an enrollment code expiring in 1970"; past_hint
api POST /v1/admin/terminals "{\"merchant\":\"$MERCHANT\",\"terminal_key\":\"$(printf '%064x' 7)\",\"expires\":1000}"
expect_http 400 BAD_FIELD "a terminal expiring in 1970"; past_hint
# the example in the currency's own decimals, and too many decimals counted
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.001"}'
hint_is 'amount: "1.001" is not an amount in EUR: it has 3 decimals and EUR has 2: a string such as "12.50" (or "12"), at most 2 decimals, no sign'
# a leading zero said as such (since 0.25.0)
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"007.50"}'
hint_is 'amount: "007.50" is not an amount in EUR: it starts with a zero before another digit: a string such as "12.50" (or "12"), at most 2 decimals, no sign'
api POST /v1/admin/accounts '{"currency":"JPY","ref":"yen payer"}'; WJ=$(jget .account)
api POST "/v1/admin/accounts/$WJ/deposit" '{"amount":"12.50"}'
expect_http 400 EAMOUNT "12.50 in yen"
hint_is 'amount: "12.50" is not an amount in JPY: it has 2 decimals and JPY has none: a string such as "1250", no decimals, no sign'
api POST "/v1/admin/accounts/$WJ/deposit" '{"amount":"1,250"}'
hint_is 'amount: "1,250" is not an amount in JPY: a string such as "1250", no decimals, no sign'
# A deposit bounded so no balance or sum can overflow 64 bits (2^63 - 1
# minor units once broke every read of the currency): refused, nothing booked.
api GET "/v1/admin/accounts/$W"; wbal=$(jget .balance.minor)
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"92233720368547758.07"}'
expect_http 400 EOVERFLOW "a deposit of 2^63 - 1 minor units"
hint_is "deposit: a deposit is at most 100000000000.00 and leaves an account at most 1000000000000.00"
for n in 1 2 3 4 5 6 7 8 9 10; do
  api POST "/v1/admin/accounts/$W/deposit" '{"amount":"100000000000.00"}'
  [ "$status" = 200 ] || break
done
expect_http 400 EOVERFLOW "the deposit that would take the account past 10^14 minor units"
api GET "/v1/admin/accounts/$W"
[ "$(jget .balance.minor)" = $((wbal + (n - 1) * 10000000000000)) ] && [ "$n" = 10 ] \
  && ok "nine deposits of 10^13 booked, the tenth refused: balance $(jget .balance.decimal)" \
  || fail "bounded deposits: $n tried, balance $(jget .balance.minor) (was $wbal)"
api POST "/v1/admin/accounts/$W/withdraw" '{"amount":"900000000000.00"}'
expect_http 200 - "the nine deposits withdrawn again"
ESC=
for i in $(seq 1 12); do
  api GET "/v1/admin/accounts/$i"; [ "$(jget .kind)" = escrow ] && { ESC=$i; break; }
done
api POST "/v1/admin/accounts/$ESC/deposit" '{"amount":"1.00"}'
expect_http 400 EINVAL "a deposit into an escrow"
hint_is "deposit: account $ESC is an escrow account: only settlement moves its money; deposits and withdrawals are for wallet, merchant and guarantee accounts"
# the world account is the other side of every deposit: said so
api GET "/v1/admin/accounts/$W/transfers?limit=1"; WORLD=$(jq -r '.transfers[0].other' resp.json)
api POST "/v1/admin/accounts/$WORLD/withdraw" '{"amount":"1.00"}'
expect_http 400 EINVAL "a withdrawal from the world account"
hint_is "withdrawal: account $WORLD is a world account: the outside itself, the other side of every deposit and withdrawal; they are made into and out of wallet, merchant and guarantee accounts"
api POST /v1/admin/credentials "{\"account\":\"$MA\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w --passphrase-file wp)\",\"limit\":\"1.00\"}"
expect_http 400 EINVAL "a credential from a merchant account"
hint_is "account $MA is a merchant account: credentials are issued from a wallet account"
api POST /v1/admin/credentials "{\"account\":\"999\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w --passphrase-file wp)\",\"limit\":\"1.00\"}"
expect_http 404 ENOTFOUND "a credential from an unknown account"
hint_is "account 999: no such account"
api POST /v1/admin/terminals "{\"merchant\":\"99\",\"terminal_key\":\"$("$OFFPAY" wallet key --wallet w --passphrase-file wp)\"}"
expect_http 404 ENOTFOUND "a terminal for an unknown merchant"
hint_is "merchant 99: no such merchant"
# An operator's retry after a lost reply, under its Idempotency-Key: the
# money moves once; the key for anything else, or malformed, is refused.
w0=$(balance "$W")
api_once "bank-881" POST "/v1/admin/accounts/$W/deposit" '{"amount":"2.50","ref":"bank 881"}'
t1=$(jget .transfer)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && ok "deposit under key bank-881: transfer $t1" \
  || fail "keyed deposit: $status $(cat resp.json)"
api_once "bank-881" POST "/v1/admin/accounts/$W/deposit" '{"amount":"2.50","ref":"bank 881"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .transfer)" = "$t1" ] \
  && ok "the same request again: replayed, transfer $t1" || fail "retry: $status $(cat resp.json)"
api_once "bank-881" POST "/v1/admin/accounts/$W/deposit" '{"amount":"2.51"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "the key again with another amount"
api_once "bank-881" POST "/v1/admin/accounts/$W/withdraw" '{"amount":"2.50"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "the key again for a withdrawal"
api_once "with space" POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.00"}'
expect_http 400 IDEMPOTENCY_KEY_MALFORMED "a key with a space"
api_once "$(printf 'k%.0s' $(seq 65))" POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.00"}'
expect_http 400 IDEMPOTENCY_KEY_MALFORMED "a key of 65 characters"
# an endpoint that keeps no key refuses one rather than act twice on a
# resend: no enrollment code made
api_once "enr-1" POST /v1/admin/enrollments "{\"account\":\"$W\"}"
expect_http 400 IDEMPOTENCY_KEY_NOT_TAKEN "an enrollment code asked under an Idempotency-Key"
# A merchant, a wallet account and a terminal made under a key, sent
# again after a lost reply: made once, the same answer "replayed" (a
# terminal's with the credential bytes signed the first time); the key
# for another request, or for a deposit's, refused and nothing made.
api POST /v1/admin/merchants '{"name":"Kiosk K1","currency":"EUR"}'; mk1=$(jget .merchant)
api_once "mk-2" POST /v1/admin/merchants '{"name":"Kiosk K2","currency":"EUR"}'
mk2=$(jget .merchant); mka=$(jget .account)
[ "$status" = 200 ] && [ "$mk2" = $((mk1 + 1)) ] && [ "$(jget .replayed)" = false ] \
  && ok "merchant under key mk-2: merchant $mk2" || fail "mk-2: $status $(cat resp.json)"
api_once "mk-2" POST /v1/admin/merchants '{"name":"Kiosk K2","currency":"EUR"}'
[ "$status" = 200 ] && [ "$(jget .merchant)" = "$mk2" ] && [ "$(jget .account)" = "$mka" ] \
  && [ "$(jget .replayed)" = true ] && ok "mk-2 again: merchant $mk2 replayed" \
  || fail "mk-2 again: $status $(cat resp.json)"
grep -q "POST /v1/admin/merchants by operator token from .* Idempotency-Key \"mk-2\": new merchant $mk2 \"Kiosk K2\" (EUR), account $mka (replayed: nothing changed now)$" server.err \
  && ok "the replay on the log, key named" || fail "log: $(grep mk-2 server.err)"
api_once "mk-2" POST /v1/admin/merchants '{"name":"Kiosk K3","currency":"EUR"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "mk-2 for another name"
api_once "mk-2" POST /v1/admin/merchants '{"name":"Kiosk K2","currency":"USD"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "mk-2 for another currency"
api_once "bank-881" POST /v1/admin/merchants '{"name":"Kiosk K2","currency":"EUR"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "a deposit's key for a merchant"
api_once "mk-2" POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.00"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "a merchant's key for a deposit"
api POST /v1/admin/merchants '{"name":"Kiosk K3","currency":"EUR"}'
[ "$(jget .merchant)" = $((mk2 + 1)) ] && ok "no merchant made by the replay nor the refused" \
  || fail "merchants: $mk2 then $(jget .merchant)"
api_once "acct-1" POST /v1/admin/accounts '{"currency":"EUR","ref":"payer 77"}'
ka=$(jget .account)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && ok "account under key acct-1: $ka" \
  || fail "acct-1: $status $(cat resp.json)"
api POST "/v1/admin/accounts/$ka/deposit" '{"amount":"3.00"}'
api_once "acct-1" POST /v1/admin/accounts '{"currency":"EUR","ref":"payer 77"}'
[ "$status" = 200 ] && [ "$(jget .account)" = "$ka" ] && [ "$(jget .replayed)" = true ] \
  && [ "$(jget .balance.minor)" = 300 ] && ok "acct-1 again: account $ka replayed, its balance now" \
  || fail "acct-1 again: $status $(cat resp.json)"
api_once "acct-1" POST /v1/admin/accounts '{"currency":"EUR","ref":"payer 78"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "acct-1 for another ref"
api_once "acct-1" POST /v1/admin/accounts '{"currency":"EUR"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "acct-1 without its ref"
api_once "acct-1" POST /v1/admin/accounts '{"currency":"USD","ref":"payer 77"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "acct-1 for another currency"
api GET "/v1/admin/accounts?ref=payer%2077"
[ "$(jget .count)" = 1 ] && ok "one account of ref \"payer 77\"" || fail "accounts: $(cat resp.json)"
tkey() { openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n'; }
TK1=$(tkey); TK2=$(tkey)
api_once "till-1" POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK1\"}"
kt=$(jget .terminal_id); kc=$(jget .credential)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && ok "terminal under key till-1: $kt" \
  || fail "till-1: $status $(cat resp.json)"
sleep 1 # a credential signed again now would differ (valid_from)
api_once "till-1" POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK1\"}"
[ "$status" = 200 ] && [ "$(jget .terminal_id)" = "$kt" ] && [ "$(jget .credential)" = "$kc" ] \
  && [ "$(jget .replayed)" = true ] && ok "till-1 again: terminal $kt, the same credential bytes, replayed" \
  || fail "till-1 again: $status $(cat resp.json)"
grep -q "POST /v1/admin/terminals by operator token from .* Idempotency-Key \"till-1\": new terminal $kt of merchant $mk2, key ${TK1:0:16}\.\.\., expires [0-9T:-]*Z (replayed: nothing changed now)$" server.err \
  && ok "the terminal's replay on the log" || fail "log: $(grep till-1 server.err)"
api_once "till-1" POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK1\",\"expires\":$(jq -r .expires resp.json)}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && ok "till-1 with its own expires sent: replayed" \
  || fail "till-1 with expires: $status $(cat resp.json)"
api_once "till-1" POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK1\",\"expires\":$(($(date +%s) + 3600))}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "till-1 asking an expiry in an hour"
api_once "till-1" POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK2\"}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "till-1 for another terminal key"
api_once "till-1" POST /v1/admin/terminals "{\"merchant\":\"$mk1\",\"terminal_key\":\"$TK1\"}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "till-1 for another merchant"
api_once "till-2" POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK1\"}"
expect_http 409 EEXISTS "the key registered, under another Idempotency-Key"
api POST /v1/admin/terminals "{\"merchant\":\"$mk2\",\"terminal_key\":\"$TK2\"}"
[ "$(jget .terminal_id)" = $((kt + 1)) ] && ok "no terminal made by the replays nor the refused" \
  || fail "terminals: $kt then $(cat resp.json)"
# the same keyed registration sent 8 times at once (a client's retry
# while the first is in flight): one terminal, every answer 200 with it,
# 7 replays; never 422 (on PostgreSQL a resend once read the key not yet
# booked, then the first's terminal committed: "another request"). The
# test hook holds the n-th registration n x 150 ms between its key's
# look-up and its terminal's, so that one looks its terminal up after
# another committed, every time
stop_server TERM
OFFPAY_TEST_ONCE_DELAY_MS=150 start_server --batch-max 3 --body-max 4096
for r in 1 2; do
  tk=$(tkey); pids=()
  for i in 1 2 3 4 5 6 7 8; do
    curl -s -o "race.$i.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -H "Idempotency-Key: till-race-$r" --data-binary "{\"merchant\":\"$mk2\",\"terminal_key\":\"$tk\"}" \
        "$URL/v1/admin/terminals" > "race.$i.st" &
    pids+=($!)
  done
  wait "${pids[@]}"
  got=$(for i in 1 2 3 4 5 6 7 8; do echo "$(cat race.$i.st) $(jq -c '[.terminal_id, .replayed, .error]' race.$i.json)"; done | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')
  grep -qE '^1 200 \[[0-9]+,false,null\];7 200 \[[0-9]+,true,null\];$' <<<"$got" \
    && [ "$(jq -s 'map(.terminal_id) | unique | length' race.*.json)" = 1 ] \
    && ok "round $r: 8 registrations at once under one key: one terminal, 7 replays" \
    || fail "round $r: 8 registrations at once: $got"
done
stop_server TERM; start_server --batch-max 3 --body-max 4096
audit_passes "after the keyed merchants, accounts and terminals"
api_once "atm-12" POST "/v1/admin/accounts/$W/withdraw" '{"amount":"1.00"}'
api_once "atm-12" POST "/v1/admin/accounts/$W/withdraw" '{"amount":"1.00"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && ok "a keyed withdrawal twice: replayed" \
  || fail "keyed withdrawal: $status $(cat resp.json)"
[ "$(balance "$W")" = $((w0 + 150)) ] && ok "the wallet account moved by 2.50 - 1.00 once" \
  || fail "balance $(balance "$W"), was $w0"
# a credential issued under a key, sent twice: one escrow
WK=$("$OFFPAY" wallet key --wallet w --passphrase-file wp)
api_once "cred-7" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"1.00\"}"
c7=$(jget .serial); b7=$(jget .credential)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && ok "credential under key cred-7: serial $c7" \
  || fail "cred-7: $status $(cat resp.json)"
api_once "cred-7" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"1.00\"}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .serial)" = "$c7" ] \
  && [ "$(jget .credential)" = "$b7" ] && ok "cred-7 again: the same credential, replayed" \
  || fail "cred-7 again: $status $(cat resp.json)"
api_once "cred-7" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"2.00\"}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "cred-7 for another limit"
[ "$(balance "$W")" = $((w0 + 50)) ] && ok "one escrow of 1.00 moved out of the wallet account" \
  || fail "balance after cred-7: $(balance "$W"), was $w0"
# the key again asking a looser or tighter credential: refused, where the
# first one came back as if it were the one asked; an expires as the
# credential has it (the default, sent), and one past the signing key's
# end that the first was cut to, replay
api_once "cred-7" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"1.00\",\"allow_unbound\":false}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "cred-7 asking allow_unbound false"
api_once "cred-7" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"1.00\",\"expires\":$(($(date +%s) + 3600))}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "cred-7 asking an expiry in an hour"
api GET "/v1/admin/credentials/$c7"; e7=$(jget .expires)
api_once "cred-7" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"1.00\",\"expires\":$e7,\"allow_unbound\":true}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .credential)" = "$b7" ] \
  && ok "cred-7 with its own expires and allow_unbound sent: replayed" || fail "cred-7 as made: $status $(cat resp.json)"
api_once "cred-8" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"0.01\",\"expires\":4000000000,\"allow_unbound\":false}"
c8=$(jget .serial); e8=$(jget .expires)
[ "$status" = 200 ] && [ "$e8" -lt 4000000000 ] && ok "cred-8: expires cut to the key's end ($e8)" \
  || fail "cred-8: $status $(cat resp.json)"
api_once "cred-8" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"0.01\",\"expires\":4000000000,\"allow_unbound\":false}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .serial)" = "$c8" ] \
  && ok "cred-8 again as sent: replayed" || fail "cred-8 again: $status $(cat resp.json)"
api_once "cred-8" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"0.01\",\"expires\":$((e8 - 1)),\"allow_unbound\":false}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "cred-8 asking an expiry before the key's end"
api_once "cred-8" POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$WK\",\"limit\":\"0.01\",\"expires\":4000000000}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "cred-8 without allow_unbound (true by default)"
[ "$(balance "$W")" = $((w0 + 49)) ] && ok "two escrows moved, 1.00 and 0.01, nothing for the refused" \
  || fail "balance after cred-8: $(balance "$W"), was $w0"
api POST "/v1/admin/accounts/abc/deposit" '{"amount":"1.00"}'
expect_http 400 BAD_PARAMETER "account id not a number"
api GET "/v1/admin/accounts/9223372036854775808"
expect_http 400 BAD_PARAMETER "an account id above 2^63 - 1"
# no id is 0, so 0 is malformed on every route (accounts, credentials and
# statements answered 404 ENOTFOUND where cases said 400)
for req in "GET /v1/admin/accounts/0" "GET /v1/admin/accounts/0/transfers" \
    "POST /v1/admin/accounts/0/deposit" "GET /v1/admin/credentials/0" \
    "GET /v1/admin/merchants/0/statement" "GET /v1/admin/cases/0/evidence" \
    "GET /v1/admin/wallets/0" "POST /v1/admin/terminals/0/revoke"; do
  case $req in
    */deposit) api $req '{"amount":"1.00"}' ;;
    POST*) api $req '{}' ;;
    *) api $req ;;
  esac
  if [ "$status" = 400 ] && [ "$(jget .error)" = BAD_PARAMETER ] \
     && jget .hint | grep -q "a decimal id from 1"; then ok "$req: 400 BAD_PARAMETER"
  else fail "$req: $status $(cat resp.json)"; fi
done
api POST /v1/admin/terminals '{"merchant":"18446744073709551615","terminal_key":"'"$(printf '%064x' 7)"'"}'
expect_http 400 BAD_FIELD "a merchant id above 2^63 - 1 in a body"
api POST /v1/admin/accounts '{"currency":"XYZ"}'
expect_http 400 ECURRENCY_UNKNOWN "unknown currency"
hint_is 'currency: "XYZ" is no ISO 4217 code offpay knows (such as EUR, JPY)'
# a known code in lower case: said so (since 0.25.0; before, "unknown")
api POST /v1/admin/accounts '{"currency":"eur"}'
expect_http 400 ECURRENCY_UNKNOWN "a currency in lower case"
hint_is 'currency "eur": ISO 4217 codes are written in capitals: EUR'
api POST /v1/admin/guarantee '{"currency":"jpy"}'
hint_is 'currency "jpy": ISO 4217 codes are written in capitals: JPY'
api POST /v1/admin/merchants '{"name":"Shop","currency":"Eur"}'
hint_is 'currency "Eur": ISO 4217 codes are written in capitals: EUR'
api POST /v1/admin/enrollments '{"currency":"eur"}'
expect_http 400 BAD_FIELD "an enrollment code's currency in lower case"
hint_is 'currency "eur": ISO 4217 codes are written in capitals: EUR'
api POST /v1/admin/accounts '{"currency":"EUR","currency":"USD"}'
expect_http 400 MALFORMED_JSON "duplicate key"
jget .hint | grep -q "^the body is not one JSON object: duplicate object key near '\"currency\"' (byte [0-9]*)$" \
  && ok "the hint gives the parser's reason: $(jget .hint)" || fail "duplicate key hint: $(cat resp.json)"
api POST /v1/admin/accounts '["EUR"]'
expect_http 400 MALFORMED_JSON "an array"
jget .hint | grep -q "it is a JSON array" && ok "the hint says it is an array" || fail "array hint: $(cat resp.json)"
# a body starting with a UTF-8 byte-order mark stays refused, and is
# told so (the parser's reason quoted its bytes as '???')
api POST /v1/admin/accounts "$(printf '\xef\xbb\xbf{"currency":"EUR"}')"
expect_http 400 MALFORMED_JSON "a body with a byte-order mark"
[ "$(jget .hint)" = "the body starts with a byte-order mark: send UTF-8 without one" ] \
  && ok "the hint names the byte-order mark" || fail "BOM hint: $(cat resp.json)"
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"00\",\"limit\":\"1.00\"}"
expect_http 400 BAD_FIELD "wallet key too short"
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$(printf '%064d' 0)\",\"limit\":\"1.00\"}"
expect_http 400 EWEAK_KEY "an all-zero wallet key"
api POST /v1/admin/credentials "{\"account\":\"$W\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w --passphrase-file wp)\",\"limit\":\"500.00\"}"
expect_http 409 EFUNDS "a limit above the wallet account's balance"
api GET "/v1/admin/credentials/424242"
expect_http 404 ENOT_ISSUED "an unknown serial"
api GET "/v1/revlist?since=x"
expect_http 400 BAD_PARAMETER "revlist since not a number"
api GET "/v1/revlist?since=99"
expect_http 409 EREVLIST_SEQ "revlist since a future list"
# Names the client chose are quoted in hints only as text: a parameter
# named by a byte that is not UTF-8, a field name cut in a character, an
# amount cut in one (Jansson refuses a hint that is not UTF-8; the answer
# was a 500 INTERNAL, logged each time)
api GET "/v1/health?%ff=1"
expect_http 400 BAD_PARAMETER "a parameter named by byte 0xff"
jget .hint | grep -q "(not text)" && ok "its hint: $(jget .hint)" || fail "hint: $(cat resp.json)"
api POST /v1/admin/merchants "{\"a$(printf 'é%.0s' $(seq 1 20))\":1}"
expect_http 400 BAD_FIELD "a field name of 41 bytes ending in a character cut at 40"
jget .hint | grep -q "unknown field 'aé" && ok "its hint: $(jget .hint)" || fail "hint: $(cat resp.json)"
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.éé"}'
expect_http 400 EAMOUNT "an amount that is not one, not ASCII"
jget .hint | grep -q '"1.éé" is not an amount' && ok "its hint: $(jget .hint)" || fail "hint: $(cat resp.json)"
! grep -q "answered 500" server.err && ok "none of them answered 500" \
  || fail "a 500 logged: $(grep 'answered 500' server.err | head -3)"
api DELETE /v1/health
expect_http 405 METHOD_NOT_ALLOWED "DELETE /v1/health"
# a 405 names the methods its path takes (RFC 9110: Allow); HEAD on
# /v1/health and /metrics is GET without the body, for load balancers'
# probes
allow_of() {  # allow_of METHOD PATH: the status and the Allow header
  local how=(-o /dev/null -D - -X "$1")
  if [ "$1" = HEAD ]; then how=(-I); fi   # curl waits for no body
  curl -s "${how[@]}" -H "Authorization: Bearer $TOKEN" "$URL$2" \
    | tr -d '\r' | awk 'NR == 1 { printf "%s", $2 } tolower($1) == "allow:" { sub(/^[^:]*: /, ""); printf " [%s]", $0 }'
}
for want in "DELETE /v1/health|405 [GET, HEAD]" "PUT /v1/admin/accounts|405 [POST, GET]" \
    "DELETE /v1/admin/terminals/3/revoke|405 [POST]" "POST /metrics|405 [GET, HEAD]" \
    "HEAD /v1/limits|405 [GET]" "GET /v1/nothing|404"; do
  got=$(allow_of ${want%%|*})
  [ "$got" = "${want#*|}" ] && ok "${want%%|*}: $got" || fail "${want%%|*}: want ${want#*|}, got $got"
done
for path in /v1/health /metrics; do
  head=$(curl -s -I "$URL$path" | tr -d '\r')
  len=$(curl -s -o /dev/null -w '%{size_download}' "$URL$path")
  grep -q "^HTTP/1.1 200" <<<"$head" && [ "$(curl -s --head -o /dev/null -w '%{size_download}' "$URL$path")" = 0 ] \
    && [ "$len" -gt 0 ] \
    && ok "HEAD $path: 200 without a body (GET's is $len bytes)" || fail "HEAD $path: $head"
done
api GET /v1/nothing
expect_http 404 NOT_FOUND "an unknown path"
api POST /v1/admin/merchants "$(head -c 5000 /dev/zero | tr '\0' 'a')"
expect_http 413 BODY_TOO_LARGE "operator body over 4096 bytes"
balances "W=$W:5049 esc=esc/$S:4700 A=$MA:300" "refused operator calls moved nothing (2.50 in, 1.00 out and escrows of 1.00 and 0.01 under keys)"
audit_passes "after refused operator calls"
api GET /v1/limits
[ "$(jget .batch_max)" = 3 ] && [ "$(jget .upload_body_max)" = 4096 ] \
  && ok "limits advertised: $(jq -c . resp.json)" || fail "limits $(cat resp.json)"
stop_server TERM

# One client address holds at most --max-per-ip open connections, so a
# client that opens many and sends nothing cannot take every slot.
start_server --max-per-ip 2
python3 -c '
import socket, sys, time
host, port = sys.argv[1][7:].split(":")
held = [socket.create_connection((host, int(port))) for _ in range(2)]
for s in held: s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
print("held", flush=True); time.sleep(15)' "$URL" >held.txt &
holder=$!
for _ in $(seq 1 100); do [ -s held.txt ] && break; sleep 0.05; done
sleep 0.3
st=0; curl -s -m 5 -o /dev/null "$URL/v1/health" || st=$?
[ "$st" != 0 ] && ok "a third connection from 127.0.0.1 refused (curl $st)" \
  || fail "a third connection from the same address was served"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$URL/v1/health" || true)
[ "$code" = 200 ] && ok "another address (127.0.0.2) still served: 200" || fail "127.0.0.2: $code"
# offpayd says which limit shed it (libmicrohttpd's words are the same for
# the 256 in all), and counts it
grep -q "a client address holds --max-per-ip 2 open connections: its next one was closed unanswered (behind a proxy or NAT" server.err \
  && ok "the log names the per-address limit and --max-per-ip 0" || fail "log: $(tail -5 server.err)"
curl -s --interface 127.0.0.2 "$URL/metrics" > m.txt || true
grep -q '^offpayd_connections_refused_total{limit="per_ip"} [1-9]' m.txt \
  && grep -q '^offpayd_connections_refused_total{limit="all"} 0$' m.txt \
  && ok "offpayd_connections_refused_total counts it as per_ip" \
  || fail "metric: $(grep connections_refused m.txt)"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
stop_server TERM

# One audit at a time (since 0.12.0): it holds a ledger connection while
# it reads every transfer, and a dashboard refreshed again and again had
# every connection busy with audits while terminals waited. A second
# audit while one runs (test hook: each takes 3 s more) is 429
# AUDIT_RUNNING; the first ends 200; terminals' requests go on. Two
# ledger connections: without the rule the second and third audits would
# take the other one for 3 s, and the terminal's request would wait.
OFFPAYD_AUDIT_DELAY_MS=3000 start_server --threads 2
audit_bg() {
  curl -s -o "audit$1.json" -w '%{http_code}' -H "Authorization: Bearer $(cat token)" \
    "$URL/v1/admin/audit" > "audit$1.code" &
}
audit_bg 1; a1=$!
sleep 1
audit_bg 2; a2=$!
audit_bg 3; a3=$!
sleep 0.3
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/v1/revlist" || true)
[ "$code" = 200 ] && ok "a terminal's revocation list meanwhile: 200" || fail "revlist meanwhile: $code"
wait "$a2" "$a3" || true
[ "$(cat audit2.code) $(jq -r .error audit2.json) $(cat audit3.code) $(jq -r .error audit3.json)" \
    = "429 AUDIT_RUNNING 429 AUDIT_RUNNING" ] \
  && ok "429 AUDIT_RUNNING: two more audits while one runs" \
  || fail "audits while one runs: $(cat audit2.code audit2.json audit3.code audit3.json)"
wait "$a1"
[ "$(cat audit1.code)" = 200 ] && [ "$(jq -r .ok audit1.json)" = true ] \
  && ok "the first audit ends: 200, passed" || fail "first audit: $(cat audit1.code) $(cat audit1.json)"
api GET /v1/admin/audit
[ "$status" = 200 ] && ok "an audit after it: 200" || fail "audit after: $status"
stop_server TERM

# offpayd's own clock jumping (docs/operations.md, "offpayd's clock
# jumped"). A malformed OFFPAY_NOW (test builds) is said, not ignored
# silently, and the system clock is used.
OFFPAY_NOW=1h start_server
grep -q "ignoring malformed OFFPAY_NOW" server.err \
  && ok "a malformed OFFPAY_NOW: said on the log, offpayd started" || fail "OFFPAY_NOW=1h: $(tail -3 server.err)"
stop_server TERM
T0=$(date +%s)
# The release job on a clock a year ahead: a 30-day credential's escrow
# stays (its payment, accepted offline, is paid from it once the clock is
# right); the job's last run is kept in the ledger (the first run here
# had none, and ran).
start_server --release-every 1
WR=$(new_account payer-r 30.00)
new_wallet wr "$WR" 20.00; SR=$SERIAL
c=$(pay wr 5.00); accept ta "$c" 5.00 || fail "accept 5.00"
seq=$("$OFFPAY" terminal journal --terminal ta --json | tail -1 | jq -r .seq)
sleep 1.5
stop_server TERM
: > server.err
OFFPAY_NOW=$((T0 + 365 * 86400)) start_server --release-every 1
sleep 2.5
grep -q "release job: NOT RUN: offpayd's clock reads .*, [0-9]* s after the release's last run at .*release by hand" server.err \
  && ok "a year ahead: the release job does not run, and says why" || fail "release job ahead: $(tail -3 server.err)"
curl -s "$URL/metrics" > metrics.txt
grep -qE '^offpayd_release_held_total\{reason="clock_ahead"\} [1-9]' metrics.txt \
  && grep -qE '^offpayd_release_failures_total [1-9]' metrics.txt \
  && ok "counted: offpayd_release_held_total{reason=\"clock_ahead\"} and the failures" \
  || fail "metrics: $(grep release metrics.txt)"
balances "W=$WR:1000 esc=esc/$SR:2000" "the live escrow stays"
stop_server TERM
OFFPAY_NOW=$((T0 + 30)) start_server --release-every 1
upload ta --from "$seq" --to "$seq"
[ "$(outcomes)" = settled ] && [ "$(jq -r '.results[0].paid.minor' resp.json)" = 500 ] \
  && ok "back at T0 + 30: the payment is paid from the escrow" || fail "upload: $(jq -c .results resp.json)"
balances "W=$WR:1000 esc=esc/$SR:1500" "5.00 settled from the escrow"
api POST /v1/admin/release '{}'
[ "$status" = 200 ] && [ "$(jget .released)" = 0 ] && [ "$(jget .time)" = $((T0 + 30)) ] \
  && ok "the operator's release runs (nothing due)" || fail "release: $status $(cat resp.json)"
audit_passes "after the release job held"
stop_server TERM

# A signed request replayed after offpayd's clock ran a day ahead for one
# request (which forgot every nonce) and came back: refused, as is a new
# request signed before the time the ledger forgot up to, until the clock
# passes it; then a new one is taken.
start_server
wallet_init wj
w enroll wj --server "$URL" --code "$(enroll_code)"
WJ=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$WJ/deposit" '{"amount":"10.00"}'
# wsigned TIME PATH BODY: BODY signed by wj at TIME for PATH; resend_wj
# PATH sends wj.hdr and wj.body (as they are) again
resend_wj() {
  status=$(curl -s -o resp.json -w '%{http_code}' -H @wj.hdr \
      -H 'Content-Type: application/json' --data-binary @wj.body "$URL$1") || true
}
wsigned() {
  printf '%s' "$3" > wj.body
  "$UPLOAD_TOOL" --wallet wj --passphrase-file wp --path "$2" --time "$1" \
      --sign-body wj.body --body wj.sent --headers wj.hdr >/dev/null
  resend_wj "$2"
}
wsigned "$(date +%s)" /v1/wallet/allowance '{"amount":"1.00"}'   # no request_id
expect_http 200 - "an allowance without request_id"
cp wj.hdr captured.hdr
stop_server TERM
OFFPAY_NOW=$((T0 + 86400)) start_server
wsigned $((T0 + 86400)) /v1/wallet/status '{}'
expect_http 200 - "one signed request while offpayd's clock is a day ahead"
stop_server TERM
OFFPAY_NOW=$((T0 + 10)) start_server
printf '%s' '{"amount":"1.00"}' > wj.body; cp captured.hdr wj.hdr
resend_wj /v1/wallet/allowance
expect_http 401 STALE_TIMESTAMP "the captured allowance replayed once the clock is right"
jget .hint | grep -q "offpayd forgot the signed requests made before .* ($((T0 + 85800))) because its clock was ahead" \
  && ok "the hint says offpayd forgot them, and until when" || fail "hint: $(jget .hint)"
balances "W=$WJ:900" "one escrow, not two"
wsigned $((T0 + 10)) /v1/wallet/status '{}'
expect_http 401 STALE_TIMESTAMP "a new request signed at the corrected time, before the mark"
stop_server TERM
OFFPAY_NOW=$((T0 + 85800)) start_server
wsigned $((T0 + 85800)) /v1/wallet/status '{}'
expect_http 200 - "once the clock reaches the mark: a new request is taken"
audit_passes "after offpayd's clock jumped"
stop_server TERM

# A clock gone back books nothing into a period that may already have
# been read as final (settlement.md §10, "The ledger's clock"): neither
# offpayd's (an operator's deposit, a terminal's upload) nor that of a
# machine running `offpay admin` on the ledger. Here offpayd's clock ran
# an hour ahead while it booked, then was set right: the right clock is
# an hour behind the newest transfer, as a clock gone back would be. 30 s
# behind is a request still committing, and is booked; an operator's
# release vouches for the clock, and bookings go on. (All of it after the
# signed requests' mark the day ahead above left.)
export OFFPAY_NOW=$((T0 + 86400 + 600))
BASE=$OFFPAY_NOW AHEAD=$((OFFPAY_NOW + 3600))
start_server
WB=$(new_account payer-b 10.00)
new_wallet wb "$WB" 5.00; SB=$SERIAL
c=$(pay wb 2.00); accept ta "$c" 2.00 || fail "accept 2.00"
seqb=$("$OFFPAY" terminal journal --terminal ta --json | tail -1 | jq -r .seq)
stop_server TERM
OFFPAY_NOW=$AHEAD start_server
api POST "/v1/admin/accounts/$WB/deposit" '{"amount":"1.00"}'
expect_http 200 - "a deposit on offpayd's clock an hour ahead"
stop_server TERM
start_server
api POST "/v1/admin/accounts/$WB/deposit" '{"amount":"1.00"}'
expect_http 503 ECLOCK_BEHIND "a deposit an hour behind the newest transfer"
jget .hint | grep -qE "this clock reads [0-9T:Z-]+ \($BASE\), 3600 s before the ledger's newest transfer, dated [0-9T:Z-]+ \($AHEAD\): a transfer dated more than 60 s before it would change a period that may already have been read as final; nothing was booked: set this machine's clock right" \
  && ok "its hint gives both times and what to do" || fail "hint: $(jget .hint)"
upload ta --from "$seqb" --to "$seqb" --time "$BASE"
[ "$status" = 200 ] && [ "$(outcomes)" = error ] \
  && [ "$(jq -r '.results[0].reason' resp.json)" = ECLOCK_BEHIND ] \
  && jq -r '.results[0].hint' resp.json | grep -q "before the ledger's newest transfer" \
  && ok "an upload then: its payment left undecided (error, ECLOCK_BEHIND), to be sent again" \
  || fail "upload behind: $status $(cat resp.json)"
balances "W=$WB:600 esc=esc/$SB:500" "nothing booked on the clock behind"
stop_server TERM
rc=0; "$OFFPAY" admin deposit --db "$LEDGER" --account "$WB" --amount 1.00 >dep.out 2>dep.err || rc=$?
[ "$rc" = 1 ] && grep -q "this clock reads .* before the ledger's newest transfer.*(ECLOCK_BEHIND)" dep.err \
  && ok "offpay admin deposit on that clock: exit 1, both times said" \
  || fail "admin deposit behind: rc $rc $(cat dep.out dep.err)"
OFFPAY_NOW=$((AHEAD - 30)) "$OFFPAY" admin deposit --db "$LEDGER" --account "$WB" --amount 1.00 \
    >dep.out 2>dep.err \
  && ok "30 s behind the newest: booked (a request may still be committing)" \
  || fail "admin deposit 30 s behind: $(cat dep.out dep.err)"
"$OFFPAY" admin release --db "$LEDGER" >rel.out 2>&1 || fail "release: $(cat rel.out)"
rc=0; "$OFFPAY" admin deposit --db "$LEDGER" --account "$WB" --amount 1.00 >dep.out 2>dep.err || rc=$?
[ "$rc" = 1 ] && grep -q "vouch for it: offpay admin release --vouch" dep.err \
  && ok "a release without --vouch (nothing due) vouches for nothing: a deposit still refused, saying how to vouch" \
  || fail "deposit after a plain release: rc $rc $(cat dep.out dep.err)"
"$OFFPAY" admin release --db "$LEDGER" --vouch >rel.out 2>&1 \
  && grep -qE "^vouched for this clock \(.*\): bookings are held to it and to what is booked from now on; the newest transfer was dated 3600 s ahead of it$" rel.out \
  && ok "admin release --vouch: vouches for the clock, and says how far the newest transfer was ahead" \
  || fail "release --vouch: $(cat rel.out)"
start_server
api POST "/v1/admin/accounts/$WB/deposit" '{"amount":"1.00"}'
expect_http 200 - "a deposit after it"
upload ta --from "$seqb" --to "$seqb" --time "$BASE"
[ "$(outcomes)" = settled ] && ok "the payment sent again settles" \
  || fail "upload after: $(jq -c .results resp.json)"
balances "W=$WB:800 esc=esc/$SB:300" "1.00 deposited once on each clock, 2.00 settled once"
# held to the vouch's time and to what was booked since: not any date
rc=0; OFFPAY_NOW=$((BASE - 600)) "$OFFPAY" admin deposit --db "$LEDGER" --account "$WB" \
    --amount 1.00 >dep.out 2>dep.err || rc=$?
[ "$rc" = 1 ] && grep -q "(ECLOCK_BEHIND)" dep.err \
  && ok "after the vouch, a deposit 10 minutes behind it: refused" \
  || fail "deposit behind the vouch: rc $rc $(cat dep.out dep.err)"
api POST /v1/admin/release '{"vouch":"yes"}'
expect_http 400 BAD_FIELD "release: vouch not a boolean"
audit_passes "after the clock gone back"
stop_server TERM
unset OFFPAY_NOW
clock_back # from a day ahead: the sections below run on the real clock

# ---- a merchant in a currency whose guarantee holds nothing ---------------
# registered, with a warning (answer and log): its terminals' overspends
# would wait as claims until the guarantee is funded; none once it is
start_server
new_merchant "Pound Shop" GBP
[ "$status" = 200 ] && jget .warning | grep -Eq "^the guarantee of GBP holds nothing( on some shard)?: an overspend at this merchant's terminals is paid only once it is funded" \
  && grep -q "merchant $MERCHANT: the guarantee of GBP holds nothing" server.err \
  && ok "a GBP merchant with no GBP guarantee: registered, warned (answer and log)" \
  || fail "no guarantee warning: $status $(cat resp.json)"
api POST /v1/admin/guarantee '{"currency":"GBP"}'; GG=$(jget .account)
api POST "/v1/admin/accounts/$GG/deposit" '{"amount":"100.00"}'
new_merchant "Pound Shop 2" GBP
[ "$status" = 200 ] && [ "$(jq -c .warning resp.json)" = null ] \
  && ok "the GBP guarantee funded: the next merchant without a warning" || fail "warning with a funded guarantee: $(cat resp.json)"

# ---- a merchant leaving ----------------------------------------------------
# POST /v1/admin/merchants/M/close: each active terminal revoked ("merchant
# closed"), no terminal registered for it any more (409 EMERCHANT_CLOSED),
# the list and offpayd's log say when; again: the first time, nothing more;
# then offpay admin close-merchant says the same (docs/operations.md)
CM=$MERCHANT
new_terminal tclose1 "$CM" GBP; TC1=$TID
new_terminal tclose2 "$CM" GBP; TC2=$TID
api POST "/v1/admin/terminals/$TC2/revoke" '{"reason":"lost"}'
api POST "/v1/admin/merchants/$CM/close" '{}'
[ "$status" = 200 ] && [ "$(jq -c '[.merchant, .terminals_revoked, .replayed]' resp.json)" = "[\"$CM\",1,false]" ] \
  && ok "merchant $CM closed: its one active terminal revoked" || fail "close: $status $(cat resp.json)"
closed=$(jget .closed_at)
api GET "/v1/admin/terminals/$TC1"
[ "$(jq -c '[.state, .revoke_reason]' resp.json)" = '["revoked","merchant closed"]' ] \
  && ok "its terminal revoked, 'merchant closed'" || fail "terminal after the closing: $(cat resp.json)"
api GET "/v1/admin/terminals/$TC2"
[ "$(jget .revoke_reason)" = lost ] && ok "the one revoked before keeps its reason" || fail "revoked before: $(cat resp.json)"
term_init tclose3 GBP
api POST /v1/admin/terminals "{\"merchant\":\"$CM\",\"terminal_key\":\"$("$OFFPAY" terminal key --terminal tclose3 --passphrase-file tp)\"}"
expect_http 409 EMERCHANT_CLOSED "a terminal for the closed merchant"
api GET "/v1/admin/merchants?after=$((CM - 1))&limit=1"
[ "$(jq -c ".merchants[0] | [.merchant, .closed_at, .terminals_active]" resp.json)" = "[\"$CM\",$closed,0]" ] \
  && ok "the merchants list: closed at $closed, no terminal active" || fail "list after the closing: $(cat resp.json)"
api GET "/v1/admin/merchants?limit=1"
[ "$(jq -c '.merchants[0].closed_at' resp.json)" = null ] && ok "an open merchant: closed_at null" || fail "open merchant: $(cat resp.json)"
grep -q "POST /v1/admin/merchants/$CM/close by operator token from 127\.0\.0\.1: merchant $CM closed at $(iso "$closed"): 1 terminal(s) revoked" server.err \
  && ok "the closing on offpayd's log" || fail "close log: $(grep close server.err | tail -2)"
api POST "/v1/admin/merchants/$CM/close"
[ "$status" = 200 ] && [ "$(jq -c '[.closed_at, .terminals_revoked, .replayed]' resp.json)" = "[$closed,0,true]" ] \
  && ok "closed again (no body): the first time, nothing more" || fail "close again: $status $(cat resp.json)"
api POST "/v1/admin/merchants/99999/close" '{}'
expect_http 404 ENOTFOUND "closing no merchant"
api POST "/v1/admin/merchants/x/close" '{}'
expect_http 400 BAD_PARAMETER "closing a malformed id"
api POST "/v1/admin/merchants/$CM/close" '{"reason":"gone"}'
expect_http 400 BAD_FIELD "a field the closing does not take"
audit_passes "a merchant closed"
stop_server TERM
run_cli 0 "^merchant $CM: already closed at $(iso "$closed"); 0 terminal\(s\) revoked now$" -- \
  "$OFFPAY" admin close-merchant --db "$LEDGER" --merchant "$CM"
run_cli 0 "^merchant $CM  GBP  account [0-9]+  balance 0.00 GBP  terminals 2 \(0 active\)  since [0-9T:-]+Z  CLOSED $(iso "$closed")  Pound Shop 2$" -- \
  "$OFFPAY" admin merchants --db "$LEDGER" --after "$((CM - 1))" --limit 1
run_cli 1 "no merchant 99999 \(ENOTFOUND" -- "$OFFPAY" admin close-merchant --db "$LEDGER" --merchant 99999
run_cli 2 "--merchant N is required" -- "$OFFPAY" admin close-merchant --db "$LEDGER"

# ---- the open-file limit -------------------------------------------------
# A soft limit below what offpayd may hold (its files and one descriptor
# per connection, up to 256) is raised as far as the hard one allows; one
# it cannot raise is said at start, and running out of descriptors is said
# in offpayd's words.
REAL_OFFPAYD=$OFFPAYD
printf '#!/bin/sh\nulimit -S -n 64\nexec "%s" "$@"\n' "$REAL_OFFPAYD" > soft64
printf '#!/bin/sh\nulimit -n 64\nexec "%s" "$@"\n' "$REAL_OFFPAYD" > hard64
chmod +x soft64 hard64
: > server.err
OFFPAYD=./soft64 start_server
soft=$(awk '/^Max open files/ {print $4}' "/proc/$server_pid/limits")
[ "$soft" -ge 256 ] && ! grep -q "open-file limit" server.err \
  && ok "a soft limit of 64 raised to $soft, nothing said" || fail "soft limit $soft: $(cat server.err)"
stop_server TERM
OFFPAYD=./hard64 start_server
grep -q "WARNING: the open-file limit is 64, and offpayd may need [0-9]* (.*LimitNOFILE=" server.err \
  && ok "a hard limit of 64: said at start" || fail "no warning: $(cat server.err)"
port=${URL##*:}
fds=()
for _ in $(seq 80); do exec {fd}<>"/dev/tcp/127.0.0.1/$port" && fds+=("$fd"); done 2>/dev/null
for _ in $(seq 100); do grep -q "out of file descriptors" server.err && break; sleep 0.05; done
grep -q "out of file descriptors (the open-file limit is 64): new connections wait unanswered" server.err \
  && ! grep -q "MHD_OPTION_CONNECTION_LIMIT" server.err \
  && ok "out of descriptors: said in offpayd's words" || fail "EMFILE line: $(tail -3 server.err)"
for fd in "${fds[@]}"; do exec {fd}>&-; done
for _ in $(seq 100); do curl -sf "$URL/v1/health" >/dev/null && break; sleep 0.1; done
api GET /v1/health
expect_http 200 - "the connections closed: health answers again"
stop_server TERM
OFFPAYD=$REAL_OFFPAYD
finish
