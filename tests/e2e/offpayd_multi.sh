#!/usr/bin/env bash
# offpayd_multi.sh — several offpayd processes on one PostgreSQL ledger
# (PostgreSQL only: registered as e2e.offpayd_multi_pg). Exactly-once rests
# on the database, not on a lock inside one process, so:
#  A. three processes; two terminals' batches (the same wallet, so the
#     same escrow row) are uploaded at the same moment through different
#     processes, each batch twice or three times: every payment is settled
#     exactly once (once fresh, replays elsewhere), the statement counts
#     each once, escrow and merchant add up, the audit passes.
#  B. a process SIGKILLed by the test hook after 40 committed items of a
#     batch: the terminal resends through another process, 40 replays and
#     the rest settled now.
#  C. a process frozen mid-batch by a test hook, then SIGKILLed from
#     outside while another process settles the same batch: the other's reply is complete, a resend through a
#     third is all replays, nothing lost or counted twice.
# The audit passes through every process and from `offpay admin audit`.
source "$(dirname "$0")/offpayd_lib.sh"
[ "$BACKEND" = postgres ] || { echo "offpayd_multi.sh runs on PostgreSQL only (OFFPAY_TEST_BACKEND=postgres)"; exit 1; }
M=30   # payments per terminal in part A
N=100  # payments in the batches of parts B and C

# proc I [offpayd options]: offpayd number I on $LEDGER; sets P[I], U[I]
# (api calls keep going where they went).
declare -A P U
proc() {
  local i=$1 was=${URL:-}; shift
  start_server "$@"
  P[$i]=$server_pid; U[$i]=$URL; server_pid=; URL=${was:-$URL}
}
# via I: later api/upload calls go through process I.
via() { URL=${U[$1]}; }
# sign NAME TERMINAL [upload_tool options]: a signed upload in NAME.body/.hdr.
sign() {
  local name=$1 term=$2; shift 2
  "$UPLOAD_TOOL" --terminal "$term" --passphrase-file tp --body "$name.body" \
      --headers "$name.hdr" "$@" >/dev/null
}
# post NAME I: sends NAME's upload through process I; NAME.json, NAME.status.
post() {
  curl -s --max-time 120 -o "$1.json" -w '%{http_code}' -H @"$1.hdr" \
      -H 'Content-Type: application/json' --data-binary @"$1.body" \
      "${U[$2]}/v1/terminal/upload" > "$1.status" || true
}
# fresh FILE...: the seqs settled for the first time in these replies.
fresh() {
  cat "$@" | jq -r '.results[]? | select(.replay | not)
    | select(.outcome == "settled") | .seq | tostring' | sort -n
}
settled_count() { curl -s "$1/metrics" | sed -n 's/^offpayd_payments_total{outcome="settled"} //p'; }
alive() { kill -0 "${P[$1]}" 2>/dev/null && curl -sf "${U[$1]}/v1/health" >/dev/null; }

proc 1 --tx-items 1
proc 2
proc 3 --tx-items 4
via 1
fetch_bundle
new_merchant "Bakery A"; MA=$MACCT; MID=$MERCHANT
for t in ta tb tc td; do
  new_terminal "$t" "$MERCHANT"
  "$OFFPAY" terminal risk --terminal "$t" --set max-offline-payments=0 >/dev/null
done
W=$(new_account payer 1000.00)
new_wallet w "$W" 1000.00; S=$SERIAL
for i in $(seq 1 $M); do
  c=$(pay w 1.00); accept ta "$c" 1.00 || fail "ta accept $i"
  c=$(pay w 1.00); accept tb "$c" 1.00 || fail "tb accept $i"
done
for i in $(seq 1 $N); do
  c=$(pay w 1.00); accept tc "$c" 1.00 || fail "tc accept $i"
  c=$(pay w 1.00); accept td "$c" 1.00 || fail "td accept $i"
done
ok "$((2 * M + 2 * N)) payments accepted offline at 4 terminals, one credential"
via 2; audit_passes "set-up, seen through process 2"

# expect_settled TOTAL DESCRIPTION: statement, merchant and escrow.
expect_settled() {
  api GET "/v1/admin/merchants/$MID/statement"
  [ "$(jget .count)" = "$1" ] && ok "statement: $1 payments, each once: $2" \
    || fail "statement count $(jget .count), want $1: $2"
  balances "A=$MA:$(( $1 * 100 )) esc=esc/$S:$(( 100000 - $1 * 100 ))" "$2"
}

# ---- A. the same batches at once through three processes -------------------
# ta's batch through 1, 2 and 3; tb's through 2 and 3, all at the same moment.
sign a1 ta; sign a2 ta; sign a3 ta; sign b2 tb; sign b3 tb
jobs_=()
for x in a1:1 a2:2 a3:3 b2:2 b3:3; do post "${x%:*}" "${x#*:}" & jobs_+=($!); done
wait "${jobs_[@]}"
st=$(for x in a1 a2 a3 b2 b3; do printf '%s ' "$(cat $x.status)"; done)
[ "$st" = "200 200 200 200 200 " ] && ok "five concurrent uploads answered 200" || fail "statuses $st"
errs=$(cat a?.json b?.json | jq -s '[.[].results[]? | select(.outcome != "settled")] | length')
[ "$errs" = 0 ] && ok "every item of every reply settled (fresh or replay)" || fail "$errs items not settled"
for t in a b; do
  got=$(fresh $t?.json | tr '\n' ' ')
  want=$(seq 1 $M | tr '\n' ' ')
  [ "$got" = "$want" ] && ok "terminal $t: each of seq 1..$M settled fresh exactly once over the replies" \
    || fail "terminal $t: fresh seqs $got"
done
for i in 1 2 3; do
  echo "process $i: $(settled_count "${U[$i]}") settled"
done
expect_settled $((2 * M)) "after the concurrent uploads"
sign again ta; post again 3
[ "$(jq '[.results[] | select(.replay)] | length' again.json)" = $M ] \
  && ok "ta's batch once more: $M replays" || fail "again: $(cat again.json | head -c 300)"
audit_passes "after part A"

# ---- B. a process killed by the hook mid-batch, resend through another ----
# process 4 SIGKILLs itself once K=40 items are committed (one per
# transaction); the terminal resends the whole batch through process 2.
K=40
OFFPAYD_KILL_AFTER=$K proc 4 --tx-items 1
sign c4 tc; post c4 4
[ "$(cat c4.status)" = 000 ] && ok "process 4 died mid-batch, no reply" || fail "reply $(cat c4.status)"
wait "${P[4]}" 2>/dev/null && st=0 || st=$?
[ "$st" = 137 ] && ok "it was SIGKILLed (status 137)" || fail "exit status $st"
alive 1 && alive 2 && alive 3 && ok "processes 1-3 still serve" || fail "another process went down"
expect_settled $((2 * M + K)) "$K of tc's batch committed before the kill"
via 2; sign c2 tc; post c2 2
[ "$(cat c2.status)" = 200 ] \
  && [ "$(jq '[.results[] | select(.replay)] | length' c2.json)" = "$K" ] \
  && [ "$(fresh c2.json | wc -l)" = $((N - K)) ] \
  && ok "resent through process 2: $K replays + $((N - K)) settled now" \
  || fail "resend: $(cat c2.status) $(head -c 300 c2.json)"
expect_settled $((2 * M + N)) "tc's batch settled exactly once"
audit_passes "after part B"

# ---- C. SIGKILL from outside while another process settles the same batch --
# td's batch goes to process 5 (one item per transaction), which the test
# hook freezes (SIGSTOP) once it has committed J items: it is then in the
# middle of its batch whatever the machine's speed. The same batch goes to
# process 3 and, while that upload is in flight, process 5 is SIGKILLed.
# Process 3's reply must be whole (J replays, the rest fresh); a resend
# through process 2 is all replays.
J=10
OFFPAYD_STOP_AFTER=$J proc 5 --tx-items 1
# stopped PID: the process is frozen (state T in /proc/PID/stat).
stopped() { [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = T ]; }
sign d5 td; sign d3 td
post d5 5 & curl5=$!
for _ in $(seq 1 3000); do stopped "${P[5]}" && break; sleep 0.01; done
stopped "${P[5]}" && ok "process 5 frozen by the hook after $J items of its batch" \
  || fail "process 5 never reached $J committed items"
post d3 3 & curl3=$!
kill -9 "${P[5]}"; wait "${P[5]}" 2>/dev/null || true
wait "$curl5" "$curl3" || true
[ "$(cat d5.status)" = 000 ] && ok "process 5 killed in the middle of its batch (no reply)" \
  || fail "process 5 answered $(cat d5.status) before the kill: not mid-batch"
[ "$(cat d3.status)" = 200 ] \
  && [ "$(jq '[.results[] | select(.outcome == "settled")] | length' d3.json)" = $N ] \
  && [ "$(jq '[.results[] | select(.replay)] | length' d3.json)" = $J ] \
  && [ "$(fresh d3.json | wc -l)" = $((N - J)) ] \
  && ok "process 3's reply whole although process 5 died beside it ($J replays of what process 5 committed, $((N - J)) fresh)" \
  || fail "process 3: $(cat d3.status) $(head -c 300 d3.json)"
sign d2 td; post d2 2
[ "$(jq '[.results[] | select(.replay)] | length' d2.json)" = $N ] \
  && ok "resent through process 2: $N replays" || fail "d2: $(head -c 300 d2.json)"
via 2; expect_settled $((2 * M + 2 * N)) "every payment of every part settled once"
balances "W=$W:0" "the wallet account funded the credential, nothing else moved"
for i in 1 2 3; do via "$i"; audit_passes "through process $i"; done
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
for i in 1 2 3; do kill -TERM "${P[$i]}"; wait "${P[$i]}" 2>/dev/null || true; done
finish
