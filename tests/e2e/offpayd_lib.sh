# offpayd_lib.sh — shared setup of the scenarios against the real offpayd:
# a temporary directory with an issuer, an operator token, and offpayd on
# a free loopback port with its own ledger, stopped (and the directory
# removed) by a trap whatever happens. Sourced by tests/e2e/offpayd_*.sh
# with the offpay, offpayd and upload_tool binaries as $1 $2 $3.
#
# The backend: SQLite (ledger.db in the directory) unless
# OFFPAY_TEST_BACKEND=postgres, which the e2e.offpayd_*_pg cases set; they
# run under tests/pg/with_postgres.sh, and the ledger is then a fresh
# database on that server made for this scenario. Scenarios name the
# ledger only through $LEDGER / ledger_url, and change it behind the
# engine's back only through ledger_copy and ledger_sql, so that each runs
# on both backends unchanged.
set -Eeuo pipefail   # -E: the ERR trap below also sees failures in functions
OFFPAY=$(realpath "$1")
OFFPAYD=$(realpath "$2")
UPLOAD_TOOL=$(realpath "$3")
export OFFPAY_KDF_COST=test   # small Argon2id cost: tests only
work=$(mktemp -d "${TMPDIR:-/tmp}/offpayd-e2e.XXXXXX")
server_pid=
all_pids=()   # every offpayd started here, for the trap
BACKEND=${OFFPAY_TEST_BACKEND:-sqlite}
pg_dbs=()
watchdog_pid=
cleanup() {
  local p d
  [ -z "$watchdog_pid" ] || kill "$watchdog_pid" 2>/dev/null || true
  for p in $server_pid "${all_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for d in "${pg_dbs[@]}"; do   # the server itself goes with with_postgres.sh
    psql -q -X "${OFFPAY_TEST_PG}postgres" \
        -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
# The watchdog: a scenario still running after OFFPAY_TEST_WATCHDOG
# seconds (540: ctest stops it at 600) is stuck, and says where, while its
# processes are still there to ask: each one's state and kernel wait, the
# threads' stacks of offpay's own binaries and psql (gdb, when there is
# one), and on PostgreSQL what each session waits for. It then goes on
# (ctest's timeout ends it); a scenario that finishes stops the watchdog.
descendants() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
watchdog_report() {
  local p pids
  echo "# WATCHDOG: the scenario still runs after $1 s; what its processes wait on:"
  pids=$(descendants "$$" | tr '\n' ',' | sed 's/,$//')
  [ -n "$pids" ] && ps -o pid,ppid,etimes,stat,wchan:32,args -p "$pids" | cut -c1-220
  for p in ${pids//,/ }; do
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in
      offpayd|offpay|upload_tool|history_tool|psql|timeout) ;;
      *) continue ;;
    esac
    echo "# $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-160)"
    if command -v gdb >/dev/null; then
      timeout 15 gdb -p "$p" -batch -ex "thread apply all bt 15" </dev/null 2>/dev/null \
        | grep -E '^(Thread|#)' | head -80
    else
      cat "/proc/$p/stack" 2>/dev/null | head -20
    fi
  done
  if [ "$BACKEND" = postgres ] && [ -n "${OFFPAY_TEST_PG:-}" ]; then
    timeout 20 psql -X -A -F ' | ' "${OFFPAY_TEST_PG}postgres" -c "SELECT pid, datname, application_name, state, wait_event_type, wait_event, now() - xact_start AS in_transaction, left(query, 120) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" \
      -c "SELECT l.pid, l.locktype, l.database, l.relation, l.objid, l.mode FROM pg_locks l WHERE NOT l.granted" 2>&1
  fi
}
(
  set +eE +o pipefail; trap - ERR
  # against the shell's own clock: a loaded machine's sleeps run late
  end=$((SECONDS + ${OFFPAY_TEST_WATCHDOG:-540}))
  while [ "$SECONDS" -lt "$end" ]; do sleep 1 </dev/null >/dev/null 2>&1; done
  watchdog_report "${OFFPAY_TEST_WATCHDOG:-540}"
) &
watchdog_pid=$!
# A command that stops the scenario (set -e) says which, with what offpayd
# last wrote to its standard error: a failure is never silent.
on_error() {
  # Only a failure that stops the script: with set +e (run_cli expecting a
  # non-zero status) the ERR trap still runs, and must stay quiet.
  [[ $- == *e* ]] || return 0
  echo "FAIL line $1: '$2' exited $3"
  if [ -s "$work/server.err" ]; then
    echo "    offpayd's standard error (last 30 lines):"
    tail -n 30 "$work/server.err" | sed 's/^/    | /'
  fi
}
trap 'on_error "$LINENO" "$BASH_COMMAND" "$?"' ERR
cd "$work"
passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  echo "$passed passed, $failed failed"
  trap - ERR   # the count above says what failed
  [ "$failed" -eq 0 ]
}

# clock_back: a scenario that moved offpayd's clock ahead (OFFPAY_NOW) to
# make time pass goes back to the real clock, which offpayd rightly takes
# for its clock gone back (docs/operations.md, "offpayd's clock jumped";
# offpayd_requests.sh shows it): the ledger's clock marks (014) are
# dropped, as if the real clock had caught up, and the transfers dated
# ahead are taken as vouched past on the real clock (vouched_upto and
# vouched, as `offpay admin release --vouch` records them on every shard),
# so that bookings go on, held to the real time (settlement.md §10, "The
# ledger's clock"). With no offpayd running.
clock_back() {
  local drop="DELETE FROM clock_marks"
  local seen="INSERT INTO clock_marks (what, at)
      SELECT 'vouched_upto', COALESCE(MAX(id), 0) FROM transfers
      UNION ALL SELECT 'vouched', $(date +%s)"
  if [ -n "${OFFPAY_TEST_SHARDS:-}" ]; then
    awk '$1 == "shard" {print $3}' "$work/shards.map" | while read -r url; do
      psql -q -X -v ON_ERROR_STOP=1 "$url" -c "$drop" -c "$seen" >/dev/null
    done
  else
    ledger_sql ledger "$drop"
    ledger_sql ledger "$seen"
  fi
}

# ledger_url [NAME]: the --db argument of ledger NAME ("ledger" by
# default): NAME.db here, or the database offpay_e2e_<id>_NAME on the test
# server. ledger_new NAME makes an empty PostgreSQL database (offpayd and
# `offpay admin` create the schema; a SQLite file needs nothing).
case $BACKEND in
  sqlite) ;;
  postgres)
    [ -n "${OFFPAY_TEST_PG:-}" ] || {
      echo "OFFPAY_TEST_BACKEND=postgres needs OFFPAY_TEST_PG (run under tests/pg/with_postgres.sh)"; exit 1; }
    command -v psql >/dev/null || { echo "psql not found (scripts/setup.sh installs postgresql-15)"; exit 1; } ;;
  *) echo "OFFPAY_TEST_BACKEND: sqlite or postgres, not '$BACKEND'"; exit 1 ;;
esac
pg_prefix="offpay_e2e_$(basename "$work" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')"
ledger_url() {
  if [ "$BACKEND" = sqlite ]; then echo "${1:-ledger}.db"
  else echo "${OFFPAY_TEST_PG}${pg_prefix}_${1:-ledger}"; fi
}
ledger_new() {
  [ "$BACKEND" = postgres ] || return 0
  psql -q -X -v ON_ERROR_STOP=1 "${OFFPAY_TEST_PG}postgres" \
      -c "CREATE DATABASE \"${pg_prefix}_$1\"" >/dev/null
  pg_dbs+=("${pg_prefix}_$1")
}
# ledger_copy FROM TO: ledger TO becomes a copy of ledger FROM (no
# offpayd may be using FROM).
ledger_copy() {
  if [ "$BACKEND" = sqlite ]; then
    # the file and, when its last commits are still there, its WAL
    rm -f "$work/$2.db-wal" "$work/$2.db-shm"
    cp "$work/$1.db" "$work/$2.db"
    [ ! -f "$work/$1.db-wal" ] || cp "$work/$1.db-wal" "$work/$2.db-wal"
    return
  fi
  psql -q -X -v ON_ERROR_STOP=1 "${OFFPAY_TEST_PG}postgres" \
      -c "CREATE DATABASE \"${pg_prefix}_$2\" TEMPLATE \"${pg_prefix}_$1\"" >/dev/null
  pg_dbs+=("${pg_prefix}_$2")
}
# ledger_sql NAME SQL: runs SQL (common to both dialects) on ledger NAME,
# printing what a query returns, one row a line, columns separated by |.
ledger_sql() {
  if [ "$BACKEND" = sqlite ]; then
    python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
for r in c.execute(sys.argv[2]): print("|".join(str(x) for x in r))
c.commit()' "$work/$1.db" "$2"
  else
    psql -q -X -A -t -v ON_ERROR_STOP=1 "$(ledger_url "$1")" -c "$2"
  fi
}
ledger_new ledger
LEDGER=$(ledger_url ledger)
# OFFPAY_TEST_SHARDS=2 (the e2e.offpayd_*_shards cases, under
# with_postgres.sh --servers 2): $LEDGER is instead a ledger sharded by
# credential serial over a fresh database on each server (docs/scaling.md),
# offpayd's `--db shards:FILE`; ledger_sql and ledger_copy do not apply.
if [ -n "${OFFPAY_TEST_SHARDS:-}" ]; then
  read -r -a shard_pg <<<"${OFFPAY_TEST_PG_ALL:-}"
  [ "$BACKEND" = postgres ] && [ "${#shard_pg[@]}" -ge "$OFFPAY_TEST_SHARDS" ] || {
    echo "OFFPAY_TEST_SHARDS=$OFFPAY_TEST_SHARDS needs as many servers (tests/pg/with_postgres.sh --servers N)"; exit 1; }
  : > "$work/shards.map"
  for ((k = 0; k < OFFPAY_TEST_SHARDS; k++)); do
    psql -q -X -v ON_ERROR_STOP=1 "${shard_pg[$k]}postgres" \
        -c "CREATE DATABASE \"${pg_prefix}_shard$k\"" >/dev/null
    echo "shard $((k * 1000000000 + 1))-$(((k + 1) * 1000000000)) ${shard_pg[$k]}${pg_prefix}_shard$k" >> "$work/shards.map"
  done
  LEDGER="shards:$work/shards.map"
  ledger_sql() { echo "ledger_sql: not on a sharded ledger" >&2; return 1; }
  ledger_copy() { echo "ledger_copy: not on a sharded ledger" >&2; return 1; }
fi
echo "# backend $BACKEND, ledger $LEDGER"

umask 077
printf 'issuer pass\n' > ip; printf 'wallet pass\n' > wp; printf 'terminal pass\n' > tp
printf 'operator-token-for-tests-0123456789\n' > token
TOKEN=$(cat token)
"$OFFPAY" issuer init --dir iss --passphrase-file ip >/dev/null

# start_server: offpayd on 127.0.0.1, a free port, $LEDGER; waits for
# its "listening" line and sets $URL.
# OFFPAYD_MARK_EVERY set: the marking job runs that often (a test that
# checks balances and statements throughout sets 1, so they are read
# through marks made at every point of it).
start_server() {
  # The old output goes first: the child truncates server.out only once it
  # runs, and a wait that read the previous server's "listening" line would
  # talk to a port nobody listens on any more.
  rm -f server.out
  "$OFFPAYD" --db "$LEDGER" --create --listen 127.0.0.1:0 --issuer iss \
      --passphrase-file ip --root iss/root.pub --token-file token \
      --threads 2 ${OFFPAYD_MARK_EVERY:+--mark-every "$OFFPAYD_MARK_EVERY"} \
      "$@" >server.out 2>>server.err &
  server_pid=$!
  all_pids+=("$server_pid")
  # Up to 60 s: a sanitizer build on a loaded machine, recovering a
  # ledger after a SIGKILL, can take several seconds to start.
  for _ in $(seq 1 1200); do
    if grep -q "listening on" server.out 2>/dev/null; then break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  URL=http://$(sed -n 's/^offpayd listening on //p' server.out)
  [ "$URL" != "http://" ] || { cat server.err; echo "offpayd did not start"; exit 1; }
}
# start_proxy: tests/e2e/slow_proxy.py in front of $URL, controlled by the
# files of ./ctl (made here); sets PURL, its URL. Killed with the test.
start_proxy() {
  mkdir -p ctl
  rm -f proxy.out   # a proxy started before left its line there
  python3 "$(dirname "${BASH_SOURCE[0]}")/slow_proxy.py" "${URL#http://}" ctl > proxy.out 2> proxy.err &
  all_pids+=("$!")
  for _ in $(seq 1 200); do grep -q "^proxy listening" proxy.out 2>/dev/null && break; sleep 0.05; done
  PURL=http://$(sed -n 's/^proxy listening on //p' proxy.out)
  [ "$PURL" != "http://" ] || { cat proxy.err; fail "slow_proxy.py did not start"; }
}
# default_chunk_is_right: a server started without --tx-items settles a
# whole default batch per commit on SQLite, 100 items on PostgreSQL and on
# shards (other processes may share the database), and says so.
default_chunk_is_right() {
  local chunk=100 kind=PostgreSQL
  [ "$BACKEND" = sqlite ] && chunk=1000 kind=SQLite
  [ -z "${OFFPAY_TEST_SHARDS:-}" ] || kind="PostgreSQL shards"
  if grep -q "^offpayd: ledger on $kind, .* up to $chunk upload items per transaction$" server.out; then
    ok "default --tx-items on $kind: $chunk"
  else
    fail "default --tx-items on $kind: want $chunk"; sed 's/^/    | /' server.out
  fi
}
# stop_server [SIGNAL]: TERM (clean) by default.
stop_server() {
  stop_pid "$server_pid" "${1:-TERM}"
  server_pid=
}

# stop_pid PID [SIGNAL]: sends SIGNAL (TERM) to PID, a process this script
# started, and waits for its end, at most 60 s: one still there then is
# stuck, and the scenario fails, with the watchdog's report of where, and
# the process is killed. Signal offpayd itself, never a `timeout` in front
# of it: timeout follows the signal with SIGCONT to its process group,
# which can cancel the stop a sanitizer build's leak check at exit waits
# for (ptrace), and leave offpayd spinning there for good.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -"${2:-TERM}" "$pid" 2>/dev/null || true
  for i in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep "$([ "$i" -le 25 ] && echo 0.02 || echo 0.1)"
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)) still there 60 s after SIG${2:-TERM}"
    # (its pipelines may fail, a process gone or not attachable: never
    # the scenario's end)
    ( set +eE +o pipefail; trap - ERR; watchdog_report 60 ) || true
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# api METHOD PATH [BODY]: an operator request; sets $status, writes resp.json.
api() {
  local data=()
  if [ $# -ge 3 ]; then data=(--data-binary "$3"); fi
  status=$(curl -s -o resp.json -w '%{http_code}' -X "$1" \
      -H "Authorization: Bearer $TOKEN" "${data[@]}" "$URL$2")
}
# api_once KEY METHOD PATH [BODY]: api with "Idempotency-Key: KEY".
api_once() {
  local key=$1 data=(); shift
  if [ $# -ge 3 ]; then data=(--data-binary "$3"); fi
  status=$(curl -s -o resp.json -w '%{http_code}' -X "$1" \
      -H "Authorization: Bearer $TOKEN" -H "Idempotency-Key: $key" \
      "${data[@]}" "$URL$2")
}
# jget FILTER: a field of the last response (jq -r).
jget() { jq -r "$1" resp.json; }
# metric NAME: its value on /metrics (NAME with its labels, as printed).
metric() { curl -s "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# run_cli STATUS PATTERN -- COMMAND...: a command-line step, its exit
# status and a pattern (grep -E) of its output.
run_cli() {
  local want=$1 pattern=$2 out st
  shift 3
  set +e
  out=$("$@" 2>&1)
  st=$?
  set -e
  if [ "$st" -eq "$want" ] && grep -qE -- "$pattern" <<<"$out"; then
    ok "$want /$pattern/: ${*:2:3}"
  else
    fail "want $want /$pattern/, got $st: $* | $out"
  fi
}

# iso UNIXTIME: the time as offpay prints it (ISO 8601, UTC)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# hint_is TEXT: the last reply's hint is TEXT
hint_is() { [ "$(jget .hint)" = "$1" ] && ok "hint: $1" || fail "hint: $(jget .hint) (want $1)"; }

# expect_http STATUS ERROR-NAME|- DESCRIPTION: checks the last response.
expect_http() {
  local want=$1 err=$2 got_err
  got_err=$(jq -r '.error // "-"' resp.json 2>/dev/null || echo "not-json")
  if [ "$status" = "$want" ] && [ "$got_err" = "$err" ]; then
    ok "$want $err: $3"
  else
    fail "$3: want $want $err, got $status $got_err"
    head -c 600 resp.json | sed 's/^/    | /'; echo
  fi
}

# upload TERMINAL [upload_tool options]: signs the terminal's journal (or a
# part) and sends it; sets $status, writes resp.json, keeps body/headers.
upload() {
  local term=$1; shift
  "$UPLOAD_TOOL" --terminal "$term" --passphrase-file tp --body up.body \
      --headers up.hdr "$@" >/dev/null
  send_upload
}
# send_upload [curl options]: sends up.body with up.hdr (as they are).
send_upload() {
  status=$(curl -s -o resp.json -w '%{http_code}' -H @up.hdr "$@" \
      -H 'Content-Type: application/json' --data-binary @up.body \
      "$URL/v1/terminal/upload") || true   # 000 when no reply came
}
# outcomes: the per-item outcomes of the last upload, e.g. "settled settled".
outcomes() { jq -r '[.results[] | .outcome + (if .replay then "(replay)" else "" end)] | join(" ")' resp.json; }

# balance ACCOUNT: minor units.
balance() { api GET "/v1/admin/accounts/$1"; jget .balance.minor; }
# remaining SERIAL: what the credential's escrow holds, minor units.
remaining() { api GET "/v1/admin/credentials/$1"; jget .remaining.minor; }

# balances "LABEL=ACCOUNT:MINOR ..." DESCRIPTION: every account as expected.
# ACCOUNT "esc/SERIAL" is a credential's escrow.
balances() {
  local spec=$1 desc=$2 item label acct want got bad=""
  for item in $spec; do
    label=${item%%=*}; acct=${item#*=}; want=${acct#*:}; acct=${acct%%:*}
    if [[ $acct == esc/* ]]; then got=$(remaining "${acct#esc/}")
    else got=$(balance "$acct"); fi
    [ "$got" = "$want" ] || bad="$bad $label=$got(want $want)"
  done
  if [ -z "$bad" ]; then ok "balances $spec: $desc"; else fail "balances: $desc:$bad"; fi
}

# audit_passes DESCRIPTION
audit_passes() {
  api GET /v1/admin/audit
  if [ "$status" = 200 ] && [ "$(jget .ok)" = true ]; then ok "audit passes: $1"
  else fail "audit: $1: $status $(cat resp.json)"; fi
}
# audits WHAT: the audit through offpayd and `offpay admin audit` both.
audits() {
  audit_passes "$1"
  run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
}
# w CMD WALLET [ARGS]: `offpay wallet CMD`, output in w.out, status in $ws.
w() {
  local cmd=$1 wal=$2; shift 2
  set +e
  "$OFFPAY" wallet "$cmd" --wallet "$wal" --passphrase-file wp "$@" >w.out 2>&1
  ws=$?
  set -e
}
# t CMD TERMINAL [ARGS]: `offpay terminal CMD`, output in t.out, status in $ts.
t() {
  local cmd=$1 dir=$2; shift 2
  set +e
  "$OFFPAY" terminal "$cmd" --terminal "$dir" --passphrase-file tp "$@" >t.out 2>&1
  ts=$?
  set -e
}
# enroll_code [ARGS]: a one-time code made by the operator (the CLI on the
# ledger).
enroll_code() { "$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR "$@"; }
# signed_req wallet|terminal DIR PATH BODY [curl options]: BODY signed by
# the wallet's or terminal's key for PATH, sent; sets $status, writes
# resp.json and keeps wr.* (a wallet's) or tr.* (a terminal's) files.
signed_req() {
  local kind=$1 dir=$2 path=$3 f pass; shift 3
  if [ "$kind" = wallet ]; then f=wr; pass=wp; else f=tr; pass=tp; fi
  printf '%s' "$1" > "$f.body"; shift
  "$UPLOAD_TOOL" "--$kind" "$dir" --passphrase-file "$pass" --path "$path" \
      --sign-body "$f.body" --body "$f.sent" --headers "$f.hdr" >/dev/null
  status=$(curl -s -o resp.json -w '%{http_code}' -H @"$f.hdr" "$@" \
      -H 'Content-Type: application/json' --data-binary @"$f.body" \
      "$URL$path") || true
}
wreq() { signed_req wallet "$@"; }
treq() { signed_req terminal "$@"; }
# rproof OLD NEW: the key_signature of terminal OLD's rotation to NEW's key
# (POST /v1/terminal/rotate), made by NEW.
rproof() { "$UPLOAD_TOOL" --terminal "$1" --passphrase-file tp --rotation-proof "$2"; }

# new_account REF DEPOSIT [CURRENCY] -> prints the wallet account id
new_account() {
  api POST /v1/admin/accounts "{\"currency\":\"${3:-EUR}\",\"ref\":\"$1\"}"
  local id; id=$(jget .account)
  api POST "/v1/admin/accounts/$id/deposit" "{\"amount\":\"$2\"}"
  echo "$id"
}
# new_merchant NAME [CURRENCY] -> sets MERCHANT and MACCT
new_merchant() {
  api POST /v1/admin/merchants "{\"name\":\"$1\",\"currency\":\"${2:-EUR}\"}"
  MERCHANT=$(jget .merchant); MACCT=$(jget .account)
}
# new_wallet DIR ACCOUNT LIMIT -> sets SERIAL; the wallet holds the
# credential the server issued for its key.
# wallet_init DIR: a fresh wallet (its own key, no account yet).
wallet_init() {
  "$OFFPAY" wallet init --wallet "$1" --root iss/root.pub --bundle bundle.opb \
      --passphrase-file wp >/dev/null
}
# term_init DIR [CURRENCY]: a fresh terminal (its own key, no credential
# yet), in EUR unless told.
term_init() {
  "$OFFPAY" terminal init --terminal "$1" --root iss/root.pub \
      --bundle bundle.opb --currency "${2:-EUR}" --passphrase-file tp >/dev/null
}
new_wallet() {
  wallet_init "$1"
  local key; key=$("$OFFPAY" wallet key --wallet "$1" --passphrase-file wp)
  api POST /v1/admin/credentials \
      "{\"account\":\"$2\",\"wallet_key\":\"$key\",\"limit\":\"$3\"}"
  [ "$status" = 200 ] || { cat resp.json; return 1; }
  SERIAL=$(jget .serial)
  jget .credential > "$1.cred" # the base64 text as offpayd answers it
  "$OFFPAY" wallet add-credential "$1.cred" --wallet "$1" --passphrase-file wp >/dev/null
}
# new_terminal DIR MERCHANT [CURRENCY] -> sets TID; provisioned through
# offpayd and synced with its revocation list.
new_terminal() {
  term_init "$1" "${3:-EUR}"
  local key; key=$("$OFFPAY" terminal key --terminal "$1" --passphrase-file tp)
  api POST /v1/admin/terminals "{\"merchant\":\"$2\",\"terminal_key\":\"$key\"}"
  [ "$status" = 200 ] || { cat resp.json; return 1; }
  TID=$(jget .terminal_id)
  jget .credential > "$1.tcred" # the base64 text as offpayd answers it
  "$OFFPAY" terminal set-credential "$1.tcred" --terminal "$1" --passphrase-file tp >/dev/null
  sync_terminal "$1"
}
sync_terminal() {
  api GET /v1/revlist
  jget .revlist | base64 -d > revlist.opb
  "$OFFPAY" terminal sync --terminal "$1" --revlist revlist.opb >/dev/null
}
fetch_bundle() {
  api GET /v1/bundle
  jget .bundle | base64 -d > bundle.opb
}

# pay WALLET AMOUNT [CURRENCY]: a consumer-presented code (prints its text).
pay() { "$OFFPAY" wallet pay --wallet "$1" --passphrase-file wp --currency "${3:-EUR}" --amount "$2" 2>/dev/null; }
# accept TERMINAL CODE CHARGE: the terminal accepts (exit 0) or fails.
accept() { "$OFFPAY" terminal accept --terminal "$1" --code "$2" --amount "$3" >/dev/null 2>&1; }
# pay_bound TERMINAL WALLET AMOUNT: request, pay-request, accept.
pay_bound() {
  local req code
  req=$("$OFFPAY" terminal request --terminal "$1" --passphrase-file tp --amount "$3" 2>/dev/null)
  code=$("$OFFPAY" wallet pay-request --wallet "$2" --passphrase-file wp --code "$req" --yes 2>/dev/null)
  "$OFFPAY" terminal accept --terminal "$1" --code "$code" >/dev/null 2>&1
}
