#!/usr/bin/env bash
# offpayd_lockwait.sh — another process holds a lock on the ledger (on
# SQLite the file's write lock, taken by python3's sqlite3 module with
# BEGIN IMMEDIATE; on PostgreSQL a psql session's LOCK TABLE transfers,
# enrollments IN EXCLUSIVE MODE, which lets readers through as SQLite's
# lock does) while offpayd runs with --lock-wait 2 (the bound, 30 s by
# default, made short):
#  - a deposit is answered 503 EBUSY once it has waited the bound, not
#    minutes later, its hint saying that another process holds the
#    ledger's lock (the file; PostgreSQL: who, and pg_stat_activity) and
#    that nothing was changed; the log says the wait once while it lasts
#    ("waiting for the ledger's ... lock, held by another process"), then
#    the 503;
#  - /v1/health answers 503 EBUSY while the deposit waits
#    ("ledger_lock_wait") and after it gave up ("ledger_locked"), and 200
#    again once the lock is gone; /metrics counts the wait;
#  - a read is answered at once (a reader does not need that lock);
#  - `offpay admin enroll-code --db` says once on stderr that it waits,
#    and gives up after the bound (OFFPAY_TEST_LOCK_WAIT_MS) with EBUSY;
#  - on SQLite health, past the bound, still 503: it tries the file's
#    lock itself, and answers 200 at once when it is let go;
#  - on PostgreSQL, the lock taken ACCESS EXCLUSIVE (which keeps readers
#    out too, and the statements a new session prepares): a read is
#    bounded as well, and `admin enroll-code` at its open;
#  - nothing was changed: the balances as before, the audit passes; the
#    same deposit (its Idempotency-Key) sent again once the lock is gone
#    is booked, once;
#  - every ledger connection held past the bound (--threads 1, an upload
#    held by OFFPAYD_TEST_CHUNK_MS) is health's 503
#    "ledger_connections_busy", 200 again once it is free.
source "$(dirname "$0")/offpayd_lib.sh"
[ -z "${OFFPAY_TEST_SHARDS:-}" ] || { echo "not on shards"; exit 1; }
now_ms() { date +%s%3N; }
# op KEY METHOD PATH [BODY]: an operator request as api_once (KEY -:
# none), given up after 20 s (a wait that is not bounded fails the test,
# not hangs it); sets $status, writes resp.json.
op() {
  local key=() data=()
  [ "$1" = - ] || key=(-H "Idempotency-Key: $1")
  shift
  if [ $# -ge 3 ]; then data=(--data-binary "$3"); fi
  status=$(curl -s --max-time 20 -o resp.json -w '%{http_code}' -X "$1" \
      -H "Authorization: Bearer $TOKEN" "${key[@]}" "${data[@]}" "$URL$2") || true
}
# health: GET /v1/health into health.json; sets $hstatus.
health() { hstatus=$(curl -s -o health.json -w '%{http_code}' "$URL/v1/health"); }
hget() { jq -r "$1" health.json; }
# health_until STATUS REASON TRIES [DONE]: health asked every 0.05 s, at
# most TRIES times, until it answers STATUS with that reason (- : any),
# or until the file DONE is written (the request it watches ended);
# status 0 when it did.
health_until() {
  local _
  for _ in $(seq "$3"); do
    [ -z "${4:-}" ] || [ ! -s "$4" ] || return 1
    health
    [ "$hstatus" = "$1" ] && { [ "$2" = - ] || [ "$(hget .reason)" = "$2" ]; } && return 0
    sleep 0.05
  done
  return 1
}

# hold [MODE]: another process takes the ledger's lock (PostgreSQL: of
# MODE, EXCLUSIVE unless told) and keeps it until release; both wait
# until it is so.
hold() {
  rm -f lockctl holder.out; mkfifo lockctl
  if [ "$BACKEND" = sqlite ]; then
    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
c.execute("ROLLBACK")
print("released", flush=True)' "$work/ledger.db" < lockctl > holder.out 2>&1 &
  else
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$LEDGER" < lockctl > holder.out 2>&1 &
  fi
  holder=$!
  all_pids+=("$holder")
  exec 9>lockctl
  [ "$BACKEND" = sqlite ] || echo "BEGIN; LOCK TABLE transfers, enrollments IN ${1:-EXCLUSIVE} MODE; SELECT 'held';" >&9
  for _ in $(seq 100); do grep -q held holder.out && break; sleep 0.05; done
  grep -q held holder.out || { cat holder.out; fail "the lock was not taken"; exit 1; }
}
release() {
  if [ "$BACKEND" = sqlite ]; then echo >&9; else echo "ROLLBACK;" >&9; fi
  exec 9>&-
  wait "$holder" 2>/dev/null || true
}

start_server --lock-wait 2
fetch_bundle
new_merchant "Kiosk"; MA=$MACCT; MID=$MERCHANT
W=$(new_account payer-1 50.00)
new_wallet w1 "$W" 20.00; S1=$SERIAL
A=$(new_account other 10.00)
new_terminal ta "$MID"
c=$(pay w1 2.00); accept ta "$c" 2.00 || fail "accept 2.00"
upload ta
expect_http 200 - "an upload before the lock"
health
[ "$hstatus" = 200 ] && ok "health 200 before the lock" || fail "health: $hstatus $(cat health.json)"
before="A=$A:1000 W=$W:3000 esc/$S1:1800 MA=$MA:200"
balances "$before" "before the lock"

# ---- the lock held by another process ---------------------------------
hold
t0=$(now_ms)
( op dep-1 POST "/v1/admin/accounts/$A/deposit" '{"amount":"1.00"}'
  cp resp.json dep.json; echo "$status" > dep.status; now_ms > dep.end ) &
dep=$!
# while it waits: health 503, "ledger_lock_wait"
seen=
health_until 503 ledger_lock_wait 60 dep.status && seen=1
[ -n "$seen" ] && [ "$(hget .error)" = EBUSY ] && [ "$(hget .status)" = unavailable ] \
  && jq -e '.hint | test("waited [0-9]+ s so far for a lock another process holds on the ledger")' health.json >/dev/null \
  && ok "health 503 EBUSY ledger_lock_wait while the deposit waits" \
  || fail "health while waiting: $hstatus $(cat health.json)"
wait "$dep"
took=$(( $(cat dep.end) - t0 ))
cp dep.json resp.json; status=$(cat dep.status)
expect_http 503 EBUSY "a deposit while another process holds the lock"
[ "$took" -ge 1900 ] && [ "$took" -le 6000 ] \
  && ok "answered after the bound: $took ms (--lock-wait 2)" || fail "answered after $took ms"
if [ "$BACKEND" = sqlite ]; then
  want="another process holds the ledger's write lock: the SQLite file $work/ledger.db has a write transaction open elsewhere"
else
  want="another process holds the ledger's lock: held by pid [0-9]+ \\(role [^,]+, psql, idle in transaction, .*on [a-z, ]*transfers"
fi
jq -e --arg w "$want" '.hint | test($w) and test("nothing was changed")' resp.json >/dev/null \
  && ok "the hint names the lock's holder and says nothing was changed" \
  || fail "hint: $(cat resp.json)"
[ "$BACKEND" = sqlite ] || jq -e '.hint | test("pg_stat_activity and pg_locks")' resp.json >/dev/null \
  && ok "the hint says how to find who holds it" || fail "hint: $(cat resp.json)"
n=$(grep -cE "^offpayd: [0-9-]{10}T[0-9:]{8}Z waiting for the ledger's (write )?lock, held by another process: [0-9.]+ s so far \(giving up at 2 s, with nothing changed\)" server.err || true)
[ "$n" = 1 ] && ok "the wait said once on the log while it lasted" \
  || fail "waiting lines: $n: $(grep -i waiting server.err | tail -3)"
grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z POST /v1/admin/accounts/\*/deposit answered 503 EBUSY: .*another process holds the ledger's" server.err \
  && ok "the 503 on the log" || fail "log: $(tail -3 server.err)"
health
[ "$hstatus" = 503 ] && [ "$(hget .error)" = EBUSY ] && [ "$(hget .reason)" = ledger_locked ] \
  && jq -e '.hint | test("gave up: another process holds the ledger")' health.json >/dev/null \
  && ok "health 503 EBUSY ledger_locked after the give-up, the lock still held" \
  || fail "health after the give-up: $hstatus $(cat health.json)"
[ "$(metric 'offpayd_ledger_lock_waits_total{outcome="gave_up"}')" = 1 ] \
  && [ "$(metric 'offpayd_ledger_errors_total{error="EBUSY"}')" -ge 1 ] \
  && ok "metrics: one wait given up" || fail "metrics: $(curl -s "$URL/metrics" | grep lock)"
# a read
t1=$(now_ms)
op - GET "/v1/admin/accounts/$A"
took=$(( $(now_ms) - t1 ))
[ "$status" = 200 ] && [ "$took" -lt 1000 ] && [ "$(jget .balance.minor)" = 1000 ] \
  && ok "a read answered at once ($took ms): a reader needs no write lock" \
  || fail "read: $status after $took ms: $(cat resp.json)"
# cli_waits DESCRIPTION: `offpay admin enroll-code` on the held ledger
# says the wait once and gives up EBUSY, exit 3, printing no code.
cli_waits() {
  local st n
  set +e
  OFFPAY_TEST_LOCK_WAIT_MS=2000 timeout 20 "$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR >cli.out 2>cli.err
  st=$?
  set -e
  n=$(grep -cE "^offpay: waiting for the ledger's (write )?lock, held by another process: [0-9.]+ s so far" cli.err || true)
  [ "$st" = 3 ] && [ "$n" = 1 ] && [ ! -s cli.out ] \
    && grep -qE "\(EBUSY\)" cli.err && grep -q "another process holds the ledger's" cli.err \
    && grep -q "nothing was changed" cli.err \
    && ok "admin enroll-code: the wait said once, then EBUSY, exit 3: $1" \
    || fail "enroll-code: $1: exit $st: $(cat cli.out cli.err)"
}
cli_waits "its write"

if [ "$BACKEND" = sqlite ]; then
  # the bound long past its give-up, the lock still held: health still
  # 503, from its own try of the file's lock
  sleep 0.5
  health
  [ "$hstatus" = 503 ] && [ "$(hget .reason)" = ledger_locked ] \
    && ok "health still 503 ledger_locked past the bound: the file's lock tried, still held" \
    || fail "health while still held: $hstatus $(cat health.json)"
  # a probe every few seconds through an incident: each answer 503, the
  # log one line of each kind (a minute apart at most), not one a probe
  n=0
  for _ in $(seq 8); do health; [ "$hstatus" != 503 ] || n=$((n + 1)); done
  [ "$n" = 8 ] \
    && [ "$(grep -c "GET /v1/health answered 503 EBUSY (ledger_locked): ledger: the last transaction that waited for the ledger's lock gave up" server.err)" = 1 ] \
    && [ "$(grep -c "GET /v1/health answered 503 EBUSY (ledger_lock_wait): ledger: a transaction has waited" server.err)" = 1 ] \
    && [ "$(grep -c "/v1/health answered" server.err)" = 2 ] \
    && ok "health answered 503 through the incident (8 probes more): one log line of each reason" \
    || fail "health's log lines ($n of 8 were 503): $(grep "/v1/health" server.err)"
fi

# ---- the lock let go ----------------------------------------------------
release
ok "the other process let the lock go"
t1=$(now_ms)
hok=
health_until 200 - 100 && hok=1
took=$(( $(now_ms) - t1 ))
[ -n "$hok" ] && [ "$(hget .status)" = ok ] && ok "health 200 again once the lock is gone ($took ms)" \
  || fail "health after the release: $hstatus $(cat health.json)"
[ "$BACKEND" != sqlite ] || [ "$took" -lt 1000 ] \
  && ok "at once on SQLite, with no write to clear it" || fail "health 200 only after $took ms"
balances "$before" "nothing was changed by the refused deposit"
audits "after the lock"
api_once dep-1 POST "/v1/admin/accounts/$A/deposit" '{"amount":"1.00"}'
expect_http 200 - "the same deposit once the lock is gone"
api_once dep-1 POST "/v1/admin/accounts/$A/deposit" '{"amount":"1.00"}'
expect_http 200 - "and once more: a replay"
balances "A=$A:1100" "booked once"
"$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR >cli.out 2>cli.err \
  && ok "admin enroll-code once the lock is gone" || fail "enroll-code: $(cat cli.err)"
[ "$(metric 'offpayd_ledger_lock_waiting')" = 0 ] \
  && ok "metrics: none waits now" || fail "metrics: $(curl -s "$URL/metrics" | grep lock)"

# ---- PostgreSQL: ACCESS EXCLUSIVE keeps readers out too ----------------
if [ "$BACKEND" = postgres ]; then
  hold "ACCESS EXCLUSIVE"
  t1=$(now_ms)
  op - GET "/v1/admin/accounts/$A"
  took=$(( $(now_ms) - t1 ))
  [ "$status" = 503 ] && [ "$(jget .error)" = EBUSY ] && [ "$took" -ge 1900 ] && [ "$took" -le 6000 ] \
    && jq -e '.hint | test("another process holds the ledger.s lock: held by pid [0-9]+")' resp.json >/dev/null \
    && ok "a read kept out by the table's lock is bounded too ($took ms)" \
    || fail "read: $status after $took ms: $(cat resp.json)"
  cli_waits "its open (the statements it prepares)"
  release
  hok=
  health_until 200 - 100 && hok=1
  [ -n "$hok" ] && ok "health 200 again, the bound after the last give-up" \
    || fail "health after the release: $hstatus $(cat health.json)"
  balances "A=$A:1100" "the read's 503 changed nothing"
fi

# ---- every connection held past the bound ------------------------------
# The one connection held 7 s by an upload: health says so past 2 s; a
# request waiting for it gets 503 EBUSY after its 2 s, while the upload
# still holds it, nothing done, counted, logged once; once it is free the
# same request goes through.
stop_server
OFFPAYD_TEST_CHUNK_MS=7000 start_server --lock-wait 2 --threads 1
c=$(pay w1 1.00); accept ta "$c" 1.00 || fail "accept 1.00"
( upload ta; echo "$status" > up.status ) &
up=$!
seen=
health_until 503 ledger_connections_busy 100 up.status && seen=1
[ -n "$seen" ] && [ "$(hget .error)" = EBUSY ] \
  && jq -e '.hint | test("each of its 1 connection\\(s\\) has been held by its request for over 2 s")' health.json >/dev/null \
  && ok "health 503 ledger_connections_busy while the one connection is held past 2 s" \
  || fail "health while held: $hstatus $(cat health.json)"
ebusy_before=$(metric 'offpayd_ledger_errors_total{error="EBUSY"}')
( op dep-pool POST "/v1/admin/accounts/$A/deposit" '{"amount":"5.00","ref":"waits for a connection"}'
  echo "$status" > dep.status ) &
dep=$!
waiters=
for _ in $(seq 40); do
  [ "$(metric offpayd_ledger_connection_waiters)" = 1 ] && { waiters=1; break; }
  sleep 0.05
done
[ -n "$waiters" ] && ok "offpayd_ledger_connection_waiters 1 while the deposit waits" \
  || fail "waiters gauge: $(metric offpayd_ledger_connection_waiters)"
wait "$dep"
status=$(cat dep.status)
[ "$(metric offpayd_ledger_connection_waiters)" = 0 ] \
  && ok "offpayd_ledger_connection_waiters 0 once it gave up" \
  || fail "waiters after: $(metric offpayd_ledger_connection_waiters)"
[ "$status" = 503 ] && [ "$(jget .error)" = EBUSY ] && [ ! -s up.status ] \
  && jq -e '.hint | test("each of offpayd.s 1 ledger connection\\(s\\) stayed busy for the 2 s a request waits for one \\(--lock-wait\\): nothing was done; send the request again")' resp.json >/dev/null \
  && ok "a deposit waiting for the held connection: 503 EBUSY after its 2 s, the upload still holding it" \
  || fail "deposit behind the held connection: $status $(cat resp.json) (upload: $(cat up.status 2>/dev/null))"
[ "$(metric offpayd_ledger_connection_timeouts_total)" = 1 ] \
  && ok "counted in offpayd_ledger_connection_timeouts_total" \
  || fail "timeouts metric: $(metric offpayd_ledger_connection_timeouts_total)"
[ "$(grep -c "POST /v1/admin/accounts/$A/deposit: 503 EBUSY: every one of the 1 ledger connection(s) stayed busy for 2 s" server.err)" = 1 ] \
  && [ "$(grep -c "answered 503 EBUSY: ledger: each of offpayd's" server.err)" = 0 ] \
  && ok "logged once (its own line, not the 5xx line besides)" || fail "log: $(tail -5 server.err)"
[ "$(metric 'offpayd_ledger_errors_total{error="EBUSY"}')" = "$ebusy_before" ] \
  && ok "no storage failed: offpayd_ledger_errors_total{EBUSY} as it was" \
  || fail "ledger errors: $ebusy_before -> $(metric 'offpayd_ledger_errors_total{error="EBUSY"}')"
wait "$up"
[ "$(cat up.status)" = 200 ] && ok "the upload went through" || fail "upload: $(cat up.status)"
health
[ "$hstatus" = 200 ] && ok "health 200 once the connection is free" \
  || fail "health after: $hstatus $(cat health.json)"
balances "A=$A:1100" "the deposit's 503 changed nothing"
op dep-pool POST "/v1/admin/accounts/$A/deposit" '{"amount":"5.00","ref":"waits for a connection"}'
[ "$status" = 200 ] && ok "the same deposit sent again once it is free: booked" || fail "deposit again: $status $(cat resp.json)"
balances "A=$A:1600" "booked once"
stop_server
finish
