#!/usr/bin/env bash
# with_postgres.sh COMMAND [ARGS...] — runs COMMAND against a private
# PostgreSQL 15 started here and stopped whatever happens: a fresh cluster
# (initdb) in a temporary directory, owned by an unprivileged user (the
# `postgres` account of Debian's packages when run as root, else the
# caller), listening on 127.0.0.1 only, on a free port. COMMAND finds it
# through OFFPAY_TEST_PG, a libpq URL prefix to which a database name is
# appended ("postgresql://USER@127.0.0.1:PORT/"); the database `postgres`
# exists for creating others. OFFPAY_TEST_PG_PID is the server's main
# process (the postmaster), whose children are the server's other
# processes (bench/settle_bench.c counts their CPU time).
# OFFPAY_TEST_PG_RESTART is a command that restarts the server (a fast
# shutdown: every connection is dropped) on the same port and data.
#
# with_postgres.sh --servers N COMMAND [ARGS...] starts N such servers (1
# to 4; the shards of tests/e2e/offpayd_shards.sh): each in its own
# directory and port, the script calling itself once per server.
# OFFPAY_TEST_PG_ALL lists their URL prefixes and OFFPAY_TEST_PG_PIDS their
# postmasters, space-separated, in the order started; OFFPAY_TEST_PG and
# the others name the last one.
set -euo pipefail
servers=1
if [ "${1:-}" = "--servers" ]; then
  servers=${2:-}
  case "$servers" in
    1|2|3|4) ;;
    *) echo "with_postgres: --servers takes 1 to 4" >&2; exit 2 ;;
  esac
  shift 2
fi
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with_postgres: PostgreSQL server binaries not found (scripts/setup.sh installs postgresql-15)" >&2
  exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/offpay-pg.XXXXXX")
chmod 755 "$dir"
as=()
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  user=postgres
  id -u "$user" >/dev/null 2>&1 || { echo "with_postgres: no '$user' account" >&2; exit 1; }
  chown "$user" "$dir"
  as=(runuser -u "$user" --)
fi
stop() {
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as[@]}" "$bindir/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 \
    --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# A free port, then the server on it: another test's server (CTest runs
# several at once) may take the port between the two, so a start that
# could not bind it tries another one, up to 5 times.
started=0
for _ in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start \
      >/dev/null; then
    started=1
    break
  fi
  grep -q "Address already in use" "$dir/server.log" || break
done
[ "$started" = 1 ] || { cat "$dir/server.log" >&2; exit 1; }
export OFFPAY_TEST_PG="postgresql://$user@127.0.0.1:$port/"
OFFPAY_TEST_PG_PID=$(head -n 1 "$dir/data/postmaster.pid")
export OFFPAY_TEST_PG_PID
cat > "$dir/restart" <<EOF_RESTART
#!/usr/bin/env bash
cd "$dir" && ${as[*]} "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -m fast restart >/dev/null
EOF_RESTART
chmod 755 "$dir/restart"
export OFFPAY_TEST_PG_RESTART="$dir/restart"
export OFFPAY_TEST_PG_ALL="${OFFPAY_TEST_PG_ALL:+$OFFPAY_TEST_PG_ALL }$OFFPAY_TEST_PG"
export OFFPAY_TEST_PG_PIDS="${OFFPAY_TEST_PG_PIDS:+$OFFPAY_TEST_PG_PIDS }$OFFPAY_TEST_PG_PID"
set +e
if [ "$servers" -gt 1 ]; then
  bash "${BASH_SOURCE[0]}" --servers $((servers - 1)) "$@"
else
  "$@"
fi
status=$?
set -e
exit "$status"
