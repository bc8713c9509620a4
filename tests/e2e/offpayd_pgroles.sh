#!/usr/bin/env bash
# offpayd_pgroles.sh — offpayd under a PostgreSQL role that does not own
# the ledger, and PostgreSQL's refusals said (PostgreSQL only:
# e2e.offpayd_pgroles_pg). The owner makes the ledger; a role with only
# DML on its tables and USAGE/SELECT/UPDATE on its sequences runs
# offpayd and settles (an up-to-date ledger is only read at the start,
# nothing created). A missing privilege (42501), a read-only database
# (25006) and a statement_timeout (57014) answer 503 EACCES, EROFS and
# EBUSY, and the log carries PostgreSQL's line with its SQLSTATE, once a
# minute per message however many requests meet it.
source "$(dirname "$0")/offpayd_lib.sh"
[ "$BACKEND" = postgres ] && [ -z "${OFFPAY_TEST_SHARDS:-}" ] || {
  echo "offpayd_pgroles.sh runs on PostgreSQL only, under tests/pg/with_postgres.sh"; exit 1; }
OWNER_LEDGER=$LEDGER
db=${LEDGER##*/}
role=${pg_prefix}_rw
# the day-to-day role: what docs/operations.md "PostgreSQL roles" grants
start_server
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; new_terminal ta "$MERCHANT"
W=$(new_account payer 100.00)
new_wallet w "$W" 50.00; S=$SERIAL
for a in 1.00 2.00 3.00 4.00; do c=$(pay w "$a"); accept ta "$c" "$a"; done
stop_server TERM
psql -q -X -v ON_ERROR_STOP=1 "$OWNER_LEDGER" >/dev/null <<SQL
CREATE ROLE "$role" LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "$role";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "$role";
REVOKE UPDATE, DELETE, TRUNCATE ON operator_actions, booked_by, case_notes FROM "$role";
SQL
LEDGER=$(sed "s|//[^@]*@|//$role@|" <<<"$OWNER_LEDGER")
start_server
grep -q "permission denied" server.err && fail "the role met a refusal at start: $(cat server.err)" \
  || ok "offpayd started under a role that owns nothing"
upload ta --from 1 --to 1
[ "$status" = 200 ] && [ "$(outcomes)" = settled ] && ok "the non-owner's offpayd settles" \
  || fail "non-owner upload: $status $(head -c 200 resp.json)"
balances "A=$MA:100 esc=esc/$S:4900" "settled under the non-owner role"
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
# the record of who did what, added to only (docs/operations.md,
# "PostgreSQL roles"): the role books and acts without
# the right to change or remove a row of it, and cannot remove one
W2=$(new_account payer-2 5.00)
[ "$status" = 200 ] && ok "a new account and its deposit under the role" || fail "account: $status $(cat resp.json)"
new_wallet w2 "$W2" 1.00; S2=$SERIAL
run_cli 0 "revoked" -- "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$S2" --reason "card lost" --by desk
api GET "/v1/admin/actions?action=revoke-credential"
[ "$(jq -c '[.actions[] | [.who, .subject]]' resp.json)" = "[[\"desk (offpay admin)\",\"$S2\"]]" ] \
  && ok "the revocation kept under the role" || fail "actions: $(cat resp.json)"
psql -q -X "$LEDGER" -c "DELETE FROM operator_actions" >del.out 2>&1 \
  && fail "the role removed the actions: $(cat del.out)" \
  || { grep -q "permission denied for table operator_actions" del.out \
         && ok "the role cannot remove an action: permission denied" || fail "delete: $(cat del.out)"; }

# a privilege taken away: 503 EACCES, and PostgreSQL's reason on the log
psql -q -X -v ON_ERROR_STOP=1 "$OWNER_LEDGER" -c "REVOKE INSERT ON request_nonces FROM \"$role\""
: > server.err
for i in 1 2 3; do upload ta --from 2 --to 2; done
expect_http 503 EACCES "a missing privilege is EACCES"
[ "$(grep -c "PostgreSQL: permission denied for table request_nonces (SQLSTATE 42501): offpayd's role lacks a privilege" server.err)" = 1 ] \
  && ok "PostgreSQL's reason logged once for three requests" || fail "42501 log: $(cat server.err)"
psql -q -X -v ON_ERROR_STOP=1 "$OWNER_LEDGER" -c "GRANT INSERT ON request_nonces TO \"$role\""

# a statement_timeout of the role cuts a statement waiting for a lock
psql -q -X -v ON_ERROR_STOP=1 "$OWNER_LEDGER" -c "ALTER ROLE \"$role\" SET statement_timeout = '200ms'"
stop_server TERM; start_server
psql -q -X "$OWNER_LEDGER" -c "BEGIN" -c "LOCK TABLE request_nonces" -c "SELECT pg_sleep(4)" >/dev/null 2>&1 &
holder=$!; all_pids+=("$holder")
sleep 0.5
upload ta --from 2 --to 2
expect_http 503 EBUSY "a statement cut by statement_timeout is EBUSY"
grep -q "PostgreSQL: canceling statement due to statement timeout (SQLSTATE 57014): a statement_timeout" server.err \
  && ok "the statement timeout said, with its hint" || fail "57014 log: $(cat server.err)"
kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true
psql -q -X -v ON_ERROR_STOP=1 "$OWNER_LEDGER" -c "ALTER ROLE \"$role\" RESET statement_timeout"

# a read-only database (a replica's URL, or this): 503 EROFS, and why
psql -q -X -v ON_ERROR_STOP=1 "${OFFPAY_TEST_PG}postgres" \
    -c "ALTER DATABASE \"$db\" SET default_transaction_read_only = on"
stop_server TERM; start_server
upload ta --from 2 --to 2
expect_http 503 EROFS "a read-only transaction is EROFS"
grep -qE "PostgreSQL: cannot execute [A-Z]+ in a read-only transaction \(SQLSTATE 25006\): the database is read-only" server.err \
  && ok "offpayd logs why: a read-only transaction" || fail "25006 log: $(cat server.err)"
run_cli 3 "PostgreSQL: cannot execute [A-Z]+ in a read-only transaction \(SQLSTATE 25006\)" -- \
  "$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR
run_cli 3 "EROFS" -- "$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR
psql -q -X -v ON_ERROR_STOP=1 "${OFFPAY_TEST_PG}postgres" \
    -c "ALTER DATABASE \"$db\" RESET default_transaction_read_only"
stop_server TERM; start_server
upload ta --from 2 --to 4
[ "$status" = 200 ] && [ "$(outcomes)" = "settled settled settled" ] \
  && ok "writable again: the rest settles once" || fail "after: $status $(outcomes)"
balances "A=$MA:1000 esc=esc/$S:4000" "every payment settled once"
stop_server TERM

# an upgrade keeps the day-to-day role's privileges: a ledger as an older
# offpayd left it (schema version 16, by the test hook
# OFFPAY_TEST_MIGRATE_TO), owned by a role that is no superuser nor the
# database's owner, in a database hardened against temporary tables (no
# TEMPORARY for PUBLIC), granted to the day-to-day
# role as the docs say (one grant WITH GRANT OPTION besides), then
# upgraded by the owner's offpayd: migration 017 builds request_keys again
# under its name, and the role's keyed requests and the audit go on
owner=${pg_prefix}_own
ledger_new old
psql -q -X -v ON_ERROR_STOP=1 "${OFFPAY_TEST_PG}postgres" >/dev/null <<SQL
CREATE ROLE "$owner" LOGIN;
REVOKE TEMPORARY ON DATABASE "${pg_prefix}_old" FROM PUBLIC;
SQL
psql -q -X -v ON_ERROR_STOP=1 "$(ledger_url old)" -c "GRANT USAGE, CREATE ON SCHEMA public TO \"$owner\"" >/dev/null
ROLE_LEDGER=$LEDGER
LEDGER=$(sed "s|//[^@]*@|//$owner@|" <<<"$(ledger_url old)")
OFFPAY_TEST_MIGRATE_TO=16 "$OFFPAYD" --db "$LEDGER" --create --listen 127.0.0.1:0 --issuer iss \
    --passphrase-file ip --root iss/root.pub --token-file token >/dev/null 2>old.err \
  && fail "offpayd ran on a ledger left at version 16"
grep -q "ledger left at schema version 16 (OFFPAY_TEST_MIGRATE_TO)" old.err || fail "old ledger: $(cat old.err)"
[ "$(psql -qtAX "$LEDGER" -c "SELECT max(version) FROM schema_version")" = 16 ] \
  && ok "a ledger at schema version 16, made by a role that is no superuser and may not make temporary tables" \
  || fail "old ledger: $(cat old.err)"
psql -q -X -v ON_ERROR_STOP=1 "$LEDGER" >/dev/null <<SQL
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "$role";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "$role";
GRANT SELECT ON request_keys TO "$role" WITH GRANT OPTION;
SQL
: > server.err
start_server; stop_server TERM
grep -q "ledger upgraded from schema version 16 to" server.err \
  && ok "the owner's offpayd upgraded it" || fail "upgrade: $(cat server.err)"
OWNER_OLD=$LEDGER
LEDGER=$(sed "s|//[^@]*@|//$role@|" <<<"$LEDGER")
start_server --mark-every 1
api_once up-1 POST /v1/admin/accounts '{"currency":"EUR","ref":"after the upgrade"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] \
  && ok "the role's keyed request after the upgrade: 200" || fail "keyed account after the upgrade: $status $(cat resp.json)"
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
[ "$(psql -qtAX "$OWNER_OLD" -c "SELECT has_table_privilege('$role', 'request_keys', 'INSERT'), has_table_privilege('$role', 'request_keys', 'SELECT WITH GRANT OPTION')")" = "t|t" ] \
  && ok "request_keys, built again by 017, kept the role's grants and its grant option" || fail "request_keys grants lost"
# the tables 019 added have the role's grants on transfers (the role's
# balance reads, its audit and its marking job use them), its grant
# option on request_keys not among them
[ "$(psql -qtAX "$OWNER_OLD" -c "SELECT has_table_privilege('$role', 'balance_marks', 'SELECT'), has_table_privilege('$role', 'transfer_marks', 'INSERT'), has_table_privilege('$role', 'balance_marks', 'SELECT WITH GRANT OPTION')")" = "t|t|f" ] \
  && ok "the tables 019 added: the role's grants on transfers" || fail "019's tables' grants"
api POST /v1/admin/accounts/1/deposit '{"amount":"1.00"}'
for _ in $(seq 1 100); do
  curl -s "$URL/metrics" | grep -qE '^offpayd_marks_ids_total [1-9]' && break
  sleep 0.1
done
curl -s "$URL/metrics" > metrics.txt
grep -qE '^offpayd_marks_ids_total [1-9]' metrics.txt && grep -q '^offpayd_marks_failures_total 0$' metrics.txt \
  && ok "the role's marking job marks (SHARE ROW EXCLUSIVE on transfers, the marks written)" \
  || fail "marking as the role: $(grep marks metrics.txt; tail -3 server.err)"
stop_server TERM
LEDGER=$ROLE_LEDGER
finish
