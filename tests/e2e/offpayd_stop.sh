#!/usr/bin/env bash
# offpayd_stop.sh — offpayd stopped (SIGTERM, SIGINT) while an operator
# sends deposits one after another, without Idempotency-Keys: each round
# stops it mid-stream, starts it again on the same ledger and checks that
# the money booked is exactly what was answered 200. A request the stop
# caught in progress gets its reply; one that arrives on an open
# connection after the stop began gets 503 STOPPING with nothing done;
# after the stop, connections are refused. An operator who resends every
# request that got no 200 therefore never deposits twice. The audit passes
# after every round. Last, SIGHUP: the operator token changed without a
# restart, a token file unchanged said to be (systemd's LoadCredential=
# copy), a token file that cannot be read named with the system's reason;
# secret files offpayd cannot read at its start; and /metrics behind its
# own token (--metrics-token-file).
source "$(dirname "$0")/offpayd_lib.sh"
start_server
A=$(new_account stop-test 0.01)
booked=1 # minor units: the opening deposit

# deposits SECONDS: deposits of 1.00 back to back over one kept-alive
# connection per batch of 20, for at most SECONDS; each status on its own
# line in codes.txt (000: no reply).
deposits() {
  local end=$((SECONDS + $1)) urls=()
  for _ in $(seq 1 20); do urls+=(-o /dev/null "$URL/v1/admin/accounts/$A/deposit"); done
  : > codes.txt
  while [ $SECONDS -lt "$end" ]; do
    curl -s -w '%{http_code}\n' -X POST \
      -H "Authorization: Bearer $TOKEN" --data-binary '{"amount":"1.00"}' \
      "${urls[@]}" >>codes.txt 2>/dev/null || true
    grep -q '^000$' codes.txt && break
  done
}

for round in 1 2 3 4; do
  sig=TERM; [ $((round % 2)) = 0 ] && sig=INT
  deposits 20 &
  client=$!
  sleep 0.$((3 + round))
  kill -"$sig" "$server_pid"
  wait "$server_pid" 2>/dev/null; st=$?
  wait "$client" || true
  n200=$(grep -c '^200$' codes.txt || true)
  other=$(grep -vcE '^(200|503|000)$' codes.txt || true)
  [ "$st" = 0 ] && ok "round $round: SIG$sig, offpayd exited 0 after $n200 deposits" \
    || fail "round $round: offpayd exit $st"
  [ "$other" = 0 ] && ok "round $round: every answer is 200 or 503 STOPPING" \
    || fail "round $round: other answers: $(sort codes.txt | uniq -c | head -5 | tr '\n' ' ')"
  grep -q "stopping" server.err && ok "round $round: it said it was stopping" \
    || fail "round $round: server.err: $(tail -3 server.err)"
  booked=$((booked + 100 * n200))
  start_server
  balances "A=$A:$booked" "round $round: booked exactly what was answered 200"
  audit_passes "round $round"
done

# SIGHUP reads the operator token file again: the old token is refused
# and the new one taken, with no restart and the same process; a token
# file that became unusable (too short) leaves the token in use.
# hup_said TEXT: offpayd's log says TEXT within 10 s of the signal
hup_said() {
  for _ in $(seq 100); do grep -q "$1" server.err && return 0; sleep 0.1; done
  return 1
}
pid=$server_pid
printf 'operator-token-rotated-0123456789\n' > token
kill -HUP "$server_pid"
hup_said "SIGHUP: operator token read again from token: a new token" || fail "no SIGHUP line: $(tail -2 server.err)"
api GET /v1/admin/audit
[ "$status" = 401 ] && ok "SIGHUP: the old token is refused" || fail "old token after SIGHUP: $status"
TOKEN=$(cat token)
api GET /v1/admin/audit
[ "$status" = 200 ] && [ "$server_pid" = "$pid" ] && kill -0 "$pid" \
  && grep -q "SIGHUP: operator token read again from token: a new token, the one before refused from now on" server.err \
  && ok "SIGHUP: the new token works, the same offpayd, the log says so" \
  || fail "new token after SIGHUP: $status $(tail -2 server.err)"
api GET "/v1/admin/actions?action=operator-new-token"
[ "$(jq -c '[.actions[] | [.who, .detail]]' resp.json)" = '[["offpayd operators file","operator token (--token-file)"]]' ] \
  && ok "the new token is among what operators did (since 0.31.0)" || fail "actions: $(cat resp.json)"
# SIGHUP with the file unchanged (under systemd's LoadCredential= offpayd
# reads the copy made at the start, whatever /etc holds now): said to be
# unchanged, with what to do, never "read again"
n_read=$(grep -c "operator token read again" server.err)
kill -HUP "$server_pid"
hup_said "SIGHUP: operator token unchanged: token holds the token in use" \
  || fail "no unchanged line: $(tail -2 server.err)"
api GET /v1/admin/audit
[ "$status" = 200 ] && [ "$(grep -c "operator token read again" server.err)" = "$n_read" ] \
  && grep -q "operator token unchanged: token holds the token in use, which still works (under systemd's LoadCredential= it is the copy made when the unit started: restart the unit to take a new token" server.err \
  && ok "SIGHUP with the token file unchanged: said unchanged, restart named" \
  || fail "unchanged token on SIGHUP: $status $(tail -3 server.err)"
# a token file that cannot be read: the system's reason named
mv token token.kept; mkdir token
kill -HUP "$server_pid"
hup_said "cannot read --token-file token: is a directory (EISDIR)" \
  || fail "no reason for an unreadable token file: $(tail -3 server.err)"
rmdir token; mv token.kept token
api GET /v1/admin/audit
[ "$status" = 200 ] && ok "SIGHUP with a directory for the token file: the reason said, the token kept" \
  || fail "token after an unreadable file: $status"
printf 'short\n' > token
kill -HUP "$server_pid"
hup_said "SIGHUP: the operator token is unchanged" || fail "no SIGHUP line: $(tail -2 server.err)"
api GET /v1/admin/audit
[ "$status" = 200 ] && grep -q -- "--token-file token holds fewer than 16 bytes" server.err \
  && grep -q "SIGHUP: the operator token is unchanged" server.err \
  && ok "SIGHUP with a token file too short: the token in use stays, said why" \
  || fail "short token on SIGHUP: $status $(tail -3 server.err)"

# /metrics: public without --metrics-token-file; with it, for the bearer
# of that token or of the operator's only, and that token opens nothing
# else; SIGHUP reads it again too.
# metrics_status [TOKEN]: the status of GET /metrics (with TOKEN as bearer).
metrics_status() {
  local auth=()
  [ $# -eq 0 ] || auth=(-H "Authorization: Bearer $1")
  curl -s -o metrics.txt -w '%{http_code}' "${auth[@]}" "$URL/metrics"
}
[ "$(metrics_status)" = 200 ] && grep -q '^offpayd_requests_total' metrics.txt \
  && ok "/metrics public without --metrics-token-file" || fail "public /metrics: $(head -3 metrics.txt)"
stop_server TERM
printf '%s\n' "$TOKEN" > token   # the token in use (the file held a short one)
printf 'short\n' > mtoken
set +e
"$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss --passphrase-file ip \
  --root iss/root.pub --token-file token --metrics-token-file mtoken >/dev/null 2>m.err
st=$?
set -e
[ "$st" = 3 ] && grep -q -- "--metrics-token-file mtoken holds fewer than 16 bytes" m.err \
  && ok "a metrics token too short: offpayd does not start, says why" \
  || fail "short metrics token at start: $st $(cat m.err)"
# a secret file offpayd cannot read: the start fails naming the file and
# the system's reason (missing; a directory, which fopen takes)
# start_refused WANT ARGS...: offpayd with ARGS exits 3, its log saying WANT
start_refused() {
  local want=$1 st
  shift
  set +e
  "$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss \
    --root iss/root.pub "$@" >/dev/null 2>m.err
  st=$?
  set -e
  [ "$st" = 3 ] && grep -qF "$want" m.err && ok "unreadable at start: exit 3, \"$want\"" \
    || fail "unreadable at start: want 3 \"$want\", got $st $(cat m.err)"
}
start_refused "cannot read --token-file no-such-token: no such file or directory (ENOENT)" \
  --passphrase-file ip --token-file no-such-token
start_refused "cannot read --passphrase-file .: is a directory (EISDIR)" \
  --passphrase-file . --token-file token
start_refused "cannot read --metrics-token-file no-such-mtoken: no such file or directory (ENOENT)" \
  --passphrase-file ip --token-file token --metrics-token-file no-such-mtoken
# the operator's own token as the metrics token: warned of at the start
cp token mtoken
start_server --metrics-token-file mtoken
grep -q "WARNING: --metrics-token-file holds the operator's token" server.err \
  && ok "the operator's token given as the metrics token: warned" \
  || fail "no warning for the operator's token as metrics token: $(tail -3 server.err)"
# and when a SIGHUP makes them the same again
printf 'metrics-scraper-token-0123456789\n' > mtoken
kill -HUP "$server_pid"
hup_said "SIGHUP: metrics token read again" || fail "no metrics SIGHUP line"
n0=$(grep -c "WARNING: --metrics-token-file holds the operator's token" server.err)
cp token mtoken
kill -HUP "$server_pid"
for _ in $(seq 100); do
  [ "$(grep -c "WARNING: --metrics-token-file holds the operator's token" server.err)" -gt "$n0" ] && break
  sleep 0.1
done
[ "$(grep -c "WARNING: --metrics-token-file holds the operator's token" server.err)" = $((n0 + 1)) ] \
  && ok "SIGHUP to the operator's token as the metrics token: warned again" \
  || fail "no warning after SIGHUP: $(tail -3 server.err)"
stop_server TERM
printf 'metrics-scraper-token-0123456789\n' > mtoken
start_server --metrics-token-file mtoken
st=$(metrics_status)
[ "$st" = 401 ] && jq -e '.error == "UNAUTHORIZED" and (.hint | test("metrics-token-file"))' metrics.txt >/dev/null \
  && ok "/metrics without a token: 401, the hint names --metrics-token-file" \
  || fail "/metrics without a token: $st $(cat metrics.txt)"
[ "$(metrics_status wrong-token-0123456789)" = 401 ] \
  && ok "/metrics with a wrong token: 401" || fail "/metrics wrong token"
[ "$(metrics_status "$(cat mtoken)")" = 200 ] && grep -q '^offpayd_requests_total' metrics.txt \
  && ok "/metrics with the metrics token" || fail "/metrics with the metrics token: $(head -3 metrics.txt)"
[ "$(metrics_status "$TOKEN")" = 200 ] && ok "/metrics with the operator's token" \
  || fail "/metrics with the operator's token"
st=$(curl -s -o resp.json -w '%{http_code}' -H "Authorization: Bearer $(cat mtoken)" "$URL/v1/admin/audit")
[ "$st" = 401 ] && ok "the metrics token opens no operator endpoint" || fail "metrics token on /v1/admin/audit: $st"
old_mtoken=$(cat mtoken)
printf 'metrics-scraper-token-rotated-98765\n' > mtoken
kill -HUP "$server_pid"
hup_said "SIGHUP: metrics token read again from mtoken" || fail "no metrics SIGHUP line: $(tail -3 server.err)"
[ "$(metrics_status "$old_mtoken")" = 401 ] && [ "$(metrics_status "$(cat mtoken)")" = 200 ] \
  && ok "SIGHUP: the old metrics token refused, the new one taken" \
  || fail "metrics token after SIGHUP"
n_read=$(grep -c "metrics token read again" server.err)
kill -HUP "$server_pid"
hup_said "SIGHUP: metrics token unchanged: mtoken holds the token in use" \
  || fail "no metrics unchanged line: $(tail -3 server.err)"
[ "$(grep -c "metrics token read again" server.err)" = "$n_read" ] && [ "$(metrics_status "$(cat mtoken)")" = 200 ] \
  && ok "SIGHUP with the metrics token file unchanged: said unchanged" \
  || fail "metrics token unchanged on SIGHUP: $(tail -3 server.err)"
stop_server TERM
finish
