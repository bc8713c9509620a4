#!/usr/bin/env bash
# offpayd_copyledger.sh — a ledger moved from SQLite to PostgreSQL with
# `offpay admin copy-ledger` (docs/operations.md, "Moving from SQLite to
# PostgreSQL"). PostgreSQL only (e2e.offpayd_copyledger_pg): a SQLite
# ledger is built through a real offpayd with every kind of row (payments
# settled, bound ones with their request nonces, a duplicate presentment,
# a double spend with its evidence, a keyed refund, a lost wallet's
# credential revoked, a terminal rotated, an enrollment code, a credential
# released by the operator, terminals' reports, skip-ids' floors), offpayd
# stops, the ledger is copied, and offpayd starts on the PostgreSQL URL
# with the same issuer files: every table holds the same rows (psql's
# count of each table the SQLite file holds), the audit, balances,
# statements, cases and account lists are the same, a new credential,
# terminal and payment take the ids after the copied ones, an old upload
# again is an exact replay (nothing moves), and a second copy into the now
# non-empty database is refused with nothing changed.
source "$(dirname "$0")/offpayd_lib.sh"
PG=$LEDGER                # the fresh database offpayd_lib.sh made
LEDGER=$work/ledger.db    # the world is built on SQLite first
T0=$(date +%s)

# ---- 1. the world, on SQLite ----------------------------------------------
start_server
fetch_bundle
api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
api_once g-1 POST "/v1/admin/accounts/$G/deposit" '{"amount":"100.00","ref":"guarantee"}'
new_merchant "Bakery"; MA=$MACCT; MID=$MERCHANT
new_terminal ta "$MID"; new_terminal tb "$MID"
W=$(new_account payer-1 100.00)
new_wallet w1 "$W" 50.00; S1=$SERIAL
c=$(pay w1 5.00); accept ta "$c" 5.00 || fail "accept 5.00"
pay_bound ta w1 2.50 || fail "bound 2.50"
# the same code at both terminals of the merchant: 1.50 of its 3.00 at
# each, both paid (the merchant's duplicate, settlement.md §4)
c=$(pay w1 3.00); accept ta "$c" 1.50 && accept tb "$c" 1.50 || fail "accept twice"
W4=$(new_account payer-4 50.00)
new_wallet w4 "$W4" 40.00; S4=$SERIAL
cp w4 w4clone; cp w4.log w4clone.log
c=$(pay w4 10.00); accept ta "$c" 10.00 || fail "w4 accept"
c=$(pay w4clone 12.00); accept tb "$c" 12.00 || fail "w4clone accept"
"$OFFPAY" terminal sync --terminal ta --passphrase-file tp --server "$URL" >/dev/null
"$OFFPAY" terminal sync --terminal tb --passphrase-file tp --server "$URL" >/dev/null
api GET "/v1/admin/cases?kind=double_spend"
[ "$(jq '.cases | length' resp.json)" = 1 ] && ok "a double spend on SQLite" || fail "cases: $(cat resp.json)"
CASE=$(jget '.cases[0].id')
# the case worked: a note, a closing with a resolution (case_notes' rows,
# copied with the case they name)
run_cli 0 "note kept" -- "$OFFPAY" admin case "$CASE" --db "$LEDGER" --note "payer reached" --by "fraud desk"
run_cli 0 "closed" -- "$OFFPAY" admin case "$CASE" --db "$LEDGER" --close "wallet revoked; écrit au payeur"
api GET "/v1/admin/merchants/$MID/statement"; P1=$(jq -r '.lines[0].presentment' resp.json)
run_cli 0 "refund" -- "$OFFPAY" admin refund --db "$LEDGER" --presentment "$P1" --amount 1.00 --key r-1
W5=$(new_account payer-5 20.00)
new_wallet w5 "$W5" 10.00; S5=$SERIAL
run_cli 0 "^credential $S5 .*revoked" -- "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$S5" --reason lost
# an enrolled wallet, with a credential that expires in minutes
wallet_init w6
w enroll w6 --server "$URL" --code "$(enroll_code --ref payer-6)"
W6=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$W6/deposit" '{"amount":"20.00"}'
api POST /v1/admin/credentials "{\"account\":\"$W6\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w6 --passphrase-file wp)\",\"limit\":\"5.00\",\"expires\":$((T0 + 400))}"
[ "$status" = 200 ] && S6=$(jget .serial) || fail "short credential: $(cat resp.json)"
enroll_code --ref later >/dev/null
# a receipt the wallet took and uploaded
c=$(pay w1 1.50); accept ta "$c" 1.50 || fail "accept 1.50"
seq=$("$OFFPAY" terminal journal --terminal ta --json | tail -1 | jq -r .seq)
w receipt w1 --code "$("$OFFPAY" terminal receipt --terminal ta --passphrase-file tp --seq "$seq" 2>/dev/null)"
w upload w1 --server "$URL"
[ "$ws" = 0 ] || fail "wallet upload: $(cat w.out)"
term_init tc
t rotate tb --server "$URL" --new-terminal tc
[ "$ts" = 0 ] || fail "rotate: $(cat t.out)"
stop_server TERM
# the short credential's escrow released by the operator, 15 days on;
# skip-ids' floors; offpayd runs at that time from here on
export OFFPAY_NOW=$((T0 + 15 * 86400))
run_cli 0 "" -- "$OFFPAY" admin release --db "$LEDGER"
run_cli 0 "" -- "$OFFPAY" admin skip-ids --db "$LEDGER" --by 100
start_server
api GET "/v1/admin/credentials/$S6"
[ "$(jget .released)" = true ] && ok "a released escrow on SQLite" || fail "release: $(cat resp.json)"
audit_passes "the world on SQLite"
# what the operator sees, kept to compare after the move
snap() {
  api GET /v1/admin/audit; jq -S -c . resp.json > "$1.audit"
  api GET "/v1/admin/merchants/$MID/statement?to=$OFFPAY_NOW"; jq -S -c . resp.json > "$1.statement"
  api GET /v1/admin/cases; jq -S -c . resp.json > "$1.cases"
  api GET "/v1/admin/cases/$CASE"; jq -S -c . resp.json >> "$1.cases"
  api GET /v1/admin/merchants; jq -S -c . resp.json > "$1.merchants"
  api GET /v1/admin/accounts; jq -S -c . resp.json > "$1.accounts"
  for a in "$G" "$MA" "$W" "$W4" "$W5" "$W6"; do api GET "/v1/admin/accounts/$a"; jget .balance.minor; done > "$1.balances"
}
rows() { psql -q -X -A -t "$PG" -c "SELECT (SELECT count(*) FROM transfers) || '/' || (SELECT count(*) FROM accounts)"; }
sealed() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM ledger_sealed").fetchone()[0])' "$LEDGER"; }

# ---- 2. the copy ----------------------------------------------------------
# offpayd left running on the file, the release job off (it would write)
stop_server TERM
start_server --release-every 0
# deposits while the copy runs (the test hook holds it 3 s between its
# proof and the seal): the file was written since the copy's read, so the
# seal fails and nothing is committed into PostgreSQL
OFFPAY_TEST_COPY_SEAL_DELAY_MS=3000 "$OFFPAY" admin copy-ledger --db "$LEDGER" --into "$PG" > race.out 2>&1 &
cp_pid=$!; all_pids+=("$cp_pid"); n=0
while kill -0 "$cp_pid" 2>/dev/null; do
  api POST "/v1/admin/accounts/$W/deposit" '{"amount":"0.01","ref":"during the copy"}'
  [ "$status" = 200 ] && n=$((n + 1))
  sleep 0.2
done
st=0; wait "$cp_pid" || st=$?
[ "$st" = 1 ] && [ "$n" -ge 10 ] \
  && grep -q "was written while it was copied.*stop every offpayd on the file, then copy again; rolled back, no row was committed into .*the file is not sealed (ERETRY)" race.out \
  && [ "$(rows)" = 0/0 ] && [ "$(sealed)" = 0 ] \
  && ok "a copy while offpayd wrote $n deposits: refused, nothing committed, not sealed" \
  || fail "copy while written ($st, $n deposits, rows $(rows), sealed $(sealed)): $(cat race.out)"
snap sqlite
run_cli 2 "not a sharded ledger.*shard 0" -- \
  "$OFFPAY" admin copy-ledger --db "$LEDGER" --into "shards:$work/none.map"
run_cli 2 "is not a SQLite ledger" -- "$OFFPAY" admin copy-ledger --db "$PG" --into "$PG"
# a password in --into (a server not there): warned of, never printed
"$OFFPAY" admin copy-ledger --db "$LEDGER" \
    --into 'postgresql://u:CPSECRETPW@127.0.0.1:1/db?connect_timeout=2' > pw.out 2>&1 || true
grep -q "^offpay: WARNING: --into holds the PostgreSQL password.*PGPASSFILE" pw.out && ! grep -q CPSECRETPW pw.out \
  && ok "a password in --into: warned of, never printed" || fail "--into password: $(cat pw.out)"
# again with offpayd still running, idle: copied, and the file sealed
st=0; "$OFFPAY" admin copy-ledger --db "$LEDGER" --into "$PG" --json > copy.json 2> copy.err || st=$?
[ "$st" = 0 ] && [ "$(jq -c '[.audit.same, (.sealed | test("^copied into postgresql://[^ ]*@127.0.0.1:[0-9]+/[a-z0-9_]+ by .offpay admin copy-ledger. at 20[0-9-]+T"))]' copy.json)" = '[true,true]' ] \
  && [ ! -s copy.err ] && [ "$(sealed)" = 1 ] \
  && ok "copied, proved: $(jq -r .rows copy.json) rows in $(jq '.tables | length' copy.json) tables; sealed" \
  || fail "copy ($st): $(cat copy.json copy.err)"
# the offpayd left running writes nothing more: 503 ELEDGER_SEALED, its
# health 503, one log line saying where the ledger went; reads go on
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.00"}'
expect_http 503 ELEDGER_SEALED "a deposit on the sealed file"
jq -e '.hint | test("copied to PostgreSQL")' resp.json >/dev/null || fail "sealed hint: $(cat resp.json)"
api GET /v1/health
expect_http 503 ELEDGER_SEALED "the health of an offpayd on the sealed file"
api GET "/v1/admin/accounts/$W"
[ "$status" = 200 ] && ok "reads go on" || fail "read on the sealed file: $status $(cat resp.json)"
[ "$(grep -c "is sealed: copied into postgresql://" server.err)" = 1 ] && grep -qF "'offpay admin unseal --db $LEDGER --into ${PG%%\?*}" server.err \
  && ok "said once on offpayd's log, with the way back" || fail "log: $(grep sealed server.err)"
stop_server TERM
# offpayd does not start on it (exit 3: not restarted); the audit reads it;
# an operator's write is refused
st=0; timeout 60 "$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token > s2.out 2> s2.err || st=$?
[ "$st" = 3 ] && ! grep -q listening s2.out && grep -q "is sealed: copied into postgresql://" s2.err \
  && grep -q "ELEDGER_SEALED" s2.err \
  && ok "offpayd refuses to start on the sealed file (exit 3)" || fail "start on sealed ($st): $(cat s2.out s2.err)"
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
run_cli 3 "is sealed.*ELEDGER_SEALED" -- "$OFFPAY" admin release --db "$LEDGER"
# a copy committed whose seal was lost (a kill between the two commits, a
# failed seal): unsealed while PostgreSQL is still the copy (compared),
# the same copy-ledger again finds the copy the same and seals the file
run_cli 2 "give --into URL.*or --force" -- "$OFFPAY" admin unseal --db "$LEDGER"
run_cli 0 "^unsealed .*ledger.db: it was sealed \(copied into postgresql://.*\); the copy still holds what the file holds" -- \
  "$OFFPAY" admin unseal --db "$LEDGER" --into "$PG"
[ "$(sealed)" = 0 ] || fail "not unsealed"
st=0; out=$("$OFFPAY" admin copy-ledger --db "$LEDGER" --into "$PG" 2>&1) || st=$?
[ "$st" = 0 ] && grep -qE "ledger.db was copied into postgresql://.* before \(schema version [0-9]+\): [0-9]+ rows in [0-9]+ tables, the same there now, ids unchanged$" <<<"$out" \
  && grep -qF "'offpay admin unseal --db $LEDGER --into $PG' is the way back while nothing has settled on the copy" <<<"$out" \
  && ok "copied before, found the same; the way back named as a whole command" || fail "copy again ($st): $out"
[ "$(sealed)" = 1 ] && ok "copied before, found the same: sealed" || fail "sealed $(sealed)"
# every table of the SQLite file, with as many rows in PostgreSQL: the
# tables listed from the file here, not from the copy's own report
bad=""; n=0
for tb in $(python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = '"'table'"' AND name NOT LIKE '"'sqlite%'"' AND name <> '"'schema_version'"'"): print(t)' "$LEDGER"); do
  a=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM " + sys.argv[2]).fetchone()[0])' "$LEDGER" "$tb")
  b=$(psql -q -X -A -t -v ON_ERROR_STOP=1 "$PG" -c "SELECT count(*) FROM $tb")
  # the seal is the file's own (PostgreSQL's table stays empty)
  if [ "$tb" = ledger_sealed ]; then [ "$a/$b" = 1/0 ] || bad="$bad $tb:$a/$b"; continue; fi
  [ "$a" = "$b" ] || bad="$bad $tb:$a/$b"
  [ "$a" = 0 ] || n=$((n + 1))
done
[ -z "$bad" ] && [ "$n" -ge 17 ] && ok "each table's rows in PostgreSQL ($n tables with rows)" || fail "tables (SQLite/PostgreSQL):$bad ($n with rows)"
next() { jq -r --arg t "$1" '.tables[] | select(.name == $t) | .next_id' copy.json; }

# ---- 3. offpayd on PostgreSQL ---------------------------------------------
LEDGER=$PG
start_server
snap pg
for f in audit statement cases merchants accounts balances; do
  cmp -s "sqlite.$f" "pg.$f" && ok "the same $f" || fail "$f: $(cat "sqlite.$f") | $(cat "pg.$f")"
done
grep -q '"action":"note","at":[0-9]*,"by":"fraud desk (offpay admin)","step":"[0-9]*","text":"payer reached"' pg.cases \
  && grep -q '"resolution":"wallet revoked; écrit au payeur"' pg.cases \
  && ok "the case's steps and resolution copied" || fail "case steps: $(cat pg.cases)"
# new rows take the ids after the copied ones
W7=$(new_account payer-7 30.00)
[ "$W7" = "$(next accounts)" ] && ok "a new account: id $W7" || fail "account id $W7, want $(next accounts)"
new_wallet w7 "$W7" 20.00
[ "$SERIAL" = "$(next credentials)" ] && ok "a new credential: serial $SERIAL, past skip-ids' floor" \
  || fail "serial $SERIAL, want $(next credentials)"
new_terminal td "$MID"
[ "$TID" = "$(next terminals)" ] && ok "a new terminal: id $TID" || fail "terminal $TID, want $(next terminals)"
"$OFFPAY" terminal sync --terminal ta --passphrase-file tp --server "$URL" >/dev/null # 15 days on
c=$(pay w7 4.00); accept ta "$c" 4.00 || fail "accept 4.00"
upload ta --time "$OFFPAY_NOW"
[ "$status" = 200 ] && [ "$(jq -r '[.results[] | select(.replay | not) | .outcome] | join(" ")' resp.json)" = settled ] \
  && [ "$(jq -r '[.results[] | select(.replay | not) | .presentment] | join(" ")' resp.json)" = "$(next presentments)" ] \
  && ok "a new payment settles as presentment $(next presentments), the old ones replays" \
  || fail "new payment: $status $(cat resp.json)"
audit_passes "after a new payment on PostgreSQL"
api GET /v1/admin/audit; before=$(jq -S -c . resp.json)
upload tb --time "$OFFPAY_NOW"
[ "$status" = 200 ] && [ "$(jq -r '[.results[] | .replay] | all' resp.json)" = true ] \
  && [ "$(jq '.results | length' resp.json)" = 2 ] \
  && ok "an old upload again: exact replays" || fail "old upload: $status $(cat resp.json)"
api GET /v1/admin/audit
[ "$(jq -S -c . resp.json)" = "$before" ] && ok "nothing moved" || fail "moved: $before | $(cat resp.json)"
stop_server TERM

# ---- 4. a second copy ------------------------------------------------------
LEDGER=$work/ledger.db
r0=$(rows)
# of the sealed file: refused, naming the copy before and the way back
# (the way back as a whole command: --into the database it went to)
run_cli 1 "is sealed: copied into postgresql://.*not copied twice.*first 'offpay admin unseal --db $LEDGER --into ${PG//\?/\\?}' \(the database it was copied into.*--force instead of --into.*nothing was written \(ELEDGER_SEALED\)" -- \
  "$OFFPAY" admin copy-ledger --db "$LEDGER" --into "$PG"
# --into another database than the one it was copied into: said as such,
# naming both and when (passwords aside: the same database with one in
# its URL is not another); the seal stays
ledger_new other; PG2=$(ledger_url other)
run_cli 1 "^offpay: admin unseal: $LEDGER was sealed into ${PG//\?/\\?} \(copied at 20[0-9-]+T[0-9:]+Z\), not ${PG2//\?/\\?}: give --into the database it was copied into .*the seal stays \(EEXISTS\)$" -- \
  "$OFFPAY" admin unseal --db "$LEDGER" --into "$PG2"
[ "$(sealed)" = 1 ] && ok "still sealed" || fail "unsealed by an unseal into another database"
[ "$(rows)" = "$r0" ] && ok "nothing changed ($r0)" || fail "rows $r0 -> $(rows)"
# PostgreSQL settled since: the seal stays unless forced (the way back
# only once that is accounted for), then into the database, which now
# holds rows that are not the file's
run_cli 1 "is not the copy of .*ledger.db \(its table [a-z_]+ holds rows, and they are not this file's: .*\).*the seal stays.*\(EEXISTS\)" -- \
  "$OFFPAY" admin unseal --db "$LEDGER" --into "$PG"
[ "$(sealed)" = 1 ] && ok "still sealed" || fail "unsealed by a refused unseal"
run_cli 0 "^unsealed .*ledger.db: it was sealed \(copied into postgresql://.*\); not compared with the copy" -- "$OFFPAY" admin unseal --db "$LEDGER" --force
run_cli 0 "is not sealed: nothing changed" -- "$OFFPAY" admin unseal --db "$LEDGER" --force
run_cli 2 "is not a SQLite ledger" -- "$OFFPAY" admin unseal --db "$PG" --force
run_cli 1 "is not empty \(its table [a-z_]+ holds rows, and they are not this file's: .*\).*nothing was written \(EEXISTS\)" -- \
  "$OFFPAY" admin copy-ledger --db "$LEDGER" --into "$PG"
[ "$(rows)" = "$r0" ] && [ "$(sealed)" = 0 ] && ok "nothing changed ($r0), not sealed" || fail "rows $r0 -> $(rows), sealed $(sealed)"
start_server
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"0.01"}'
[ "$status" = 200 ] && ok "offpayd writes to the unsealed file again" || fail "unsealed deposit: $status $(cat resp.json)"
stop_server TERM
finish
