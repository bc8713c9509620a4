#!/usr/bin/env bash
# crashloop.sh — crash loops with real processes (issue 10, item 3;
# docs/reliability.md).
#
# For R rounds, while traffic runs (codes made by `offpay wallet pay`,
# accepted by `offpay terminal accept`, terminals syncing with `offpay
# terminal sync --server` in the background), SIGKILLs `wallet pay`,
# `terminal accept`, `terminal sync` and `offpayd` at random moments. Then
# (every --check-every rounds and at the end), after a clean sync of every
# terminal, it checks every invariant:
#   - every acceptance a terminal reported is in its journal, once;
#   - every code a wallet showed is in its log, and no counter repeats;
#   - every journal entry is settled exactly once: its merchant's statement
#     holds one paid line for it, of its charge, and nothing else;
#   - each merchant's statement and balance equal its journal's total;
#   - each credential's escrow equals its limit minus what was settled;
#   - `offpay admin audit` (and GET /v1/admin/audit) passes.
# It prints its random seed (replay: --seed S with the same --rounds), is
# bounded in time (--time-limit), stops by itself and leaves nothing
# running. The kills' timing follows the seed; what a kill interrupts
# depends on the machine's speed, so a replay repeats the schedule, not
# necessarily the exact interleaving.
#
# Usage: scripts/crashloop.sh [--rounds R] [--seed S] [--check-every N]
#            [--time-limit SECONDS] OFFPAY OFFPAYD [UPLOAD_TOOL]
# Needs a build with -DOFFPAY_TEST_HOOKS=ON (cheap Argon2id in tests).
# Exit 0 when no invariant was ever violated, 1 otherwise, 2 on bad usage.
ROUNDS=1000
SEED=
CHECK_EVERY=100
TIME_LIMIT=3600
usage() { sed -n '24,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --check-every) CHECK_EVERY=$2; shift 2 ;;
    --time-limit) TIME_LIMIT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --*) echo "crashloop: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then usage >&2; exit 2; fi
for n in "$ROUNDS" "$CHECK_EVERY" "$TIME_LIMIT"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "crashloop: not a count: $n" >&2; exit 2; }
done
if [ -z "$SEED" ]; then SEED=$(od -An -N2 -tu2 /dev/urandom | tr -d ' '); fi
[[ $SEED =~ ^[0-9]+$ ]] || { echo "crashloop: --seed takes a number" >&2; exit 2; }
set -- "$1" "$2" "${3:-$2}"
source "$(dirname "$(realpath "$0")")/../tests/e2e/offpayd_lib.sh"

echo "crashloop: seed $SEED, $ROUNDS rounds, checks every $CHECK_EVERY," \
     "at most $TIME_LIMIT s (replay: --seed $SEED --rounds $ROUNDS)"
RANDOM=$SEED

# Every background process, killed on exit whatever happens.
bg=()
crashloop_cleanup() {
  local st=$? p
  # Stopped by an error (offpayd_lib.sh's start_server exits when offpayd
  # does not come up): say what offpayd was doing.
  if [ "$st" -ne 0 ] && [ -n "${server_pid:-}" ]; then
    echo "crashloop: stopped (status $st) after round ${r:-0}; offpayd" \
         "$server_pid: state $(cut -d' ' -f3 "/proc/$server_pid/stat" 2>/dev/null || echo gone)," \
         "wchan $(cat "/proc/$server_pid/wchan" 2>/dev/null || echo -)," \
         "stderr: $(tail -c 300 "$work/server.err" 2>/dev/null | tr '\n' ' ')"
    violations=$((${violations:-0} + 1))
  fi
  for p in "${bg[@]}"; do
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # The shell's own messages of the rounds, less its "Killed" notices.
  if [ -s "$work/shell.err" ]; then grep -v ' Killed ' "$work/shell.err" >&2 || true; fi
  # CRASHLOOP_KEEP=DIR: after a violation, the run's files are kept there.
  if [ "${violations:-0}" -gt 0 ] && [ -n "${CRASHLOOP_KEEP:-}" ]; then
    mkdir -p "$CRASHLOOP_KEEP" && cp -a "$work"/. "$CRASHLOOP_KEEP"/ &&
      echo "crashloop: files kept in $CRASHLOOP_KEEP"
  fi
  cleanup
}
trap crashloop_cleanup EXIT

export OFFPAY_WALLET_CHECKPOINT_EVERY=2 # kills between appends and checkpoints
start_server
fetch_bundle
declare -A term_merchant term_macct wallet_serial
LIMIT_MINOR=200000
new_merchant "Crash Bakery"; new_terminal ta "$MERCHANT"
term_merchant[ta]=$MERCHANT; term_macct[ta]=$MACCT
new_merchant "Crash Kiosk"; new_terminal tb "$MERCHANT"
term_merchant[tb]=$MERCHANT; term_macct[tb]=$MACCT
TERMS=(ta tb)
WALLETS=(w1 w2 w3)
for w in "${WALLETS[@]}"; do
  acct=$(new_account "payer-$w" 3000.00)
  new_wallet "$w" "$acct" 2000.00
  wallet_serial[$w]=$SERIAL
done
for t in "${TERMS[@]}"; do
  "$OFFPAY" terminal risk --terminal "$t" --set cumulative=10000.00 \
      --set max-offline-payments=100000 --set max-code-age-unbound=3600 \
      --set max-code-age=3600 >/dev/null
done
: > shown.txt    # wallet counter
: > accepted.txt # terminal serial counter charged_minor
: > sync_kills.txt

kills_pay=0 kills_accept=0 kills_server=0
codes=0 acceptances=0 syncs=0 checks=0 violations=0

# run_maybe_killed OUT KILL DELAY_MS COMMAND...: runs COMMAND (stdout and
# stderr to OUT); with KILL=1, SIGKILLs it after DELAY_MS. Sets $rc (137
# when the kill landed) and $killed.
run_maybe_killed() {
  local out=$1 kill=$2 delay=$3 pid
  shift 3
  # Emptied here: a kill landing before the child's own redirection must
  # not leave the last command's output to be read as this one's.
  : >"$out"
  "$@" >"$out" 2>&1 &
  pid=$!
  bg+=("$pid")
  killed=0
  if [ "$kill" -eq 1 ]; then
    sleep "$(printf '0.%03d' "$delay")"
    if kill -9 "$pid" 2>/dev/null; then killed=1; fi
  fi
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  unset 'bg[-1]'
}

violation() { violations=$((violations + 1)); fail "$*"; }

# record_accept TERMINAL OUTFILE COUNTER: a reported "accepted" line, kept;
# it must name the code's counter.
record_accept() {
  local line
  line=$(grep -E '^accepted: ' "$2" || true)
  [ -n "$line" ] || return 0
  grep -q "(code $3)" <<<"$line" ||
    violation "accept of counter $3 reported another code: $line"
  # "accepted: 0.37 EUR from credential 1 (code 1), journal entry 1"
  sed -E 's/^accepted: ([0-9]+)\.([0-9]{2}) EUR from credential ([0-9]+) \(code ([0-9]+)\).*/\3 \4 \1\2/' \
      <<<"$line" | awk -v t="$1" '{printf "%s %s %s %d\n", t, $1, $2, $3 + 0}' >>accepted.txt
  acceptances=$((acceptances + 1))
}

one_round() {
  local r=$1 w t st cents amt code counter spid="" kill_srv delay_srv killed0
  w=${WALLETS[RANDOM % 3]}
  t=${TERMS[RANDOM % 2]}
  st=${TERMS[RANDOM % 2]}
  cents=$((1 + RANDOM % 100))
  amt=$(printf '%d.%02d' $((cents / 100)) $((cents % 100)))
  kill_srv=$((RANDOM % 15 == 0))
  delay_srv=$((RANDOM % 300))

  # Background traffic: a terminal uploading, SIGKILLed half the time
  # at a random moment, and offpayd SIGKILLed now and then under it, while
  # the payment below runs (on the same terminal, it waits for the lock).
  local kpid=""
  if [ $((RANDOM % 3)) -eq 0 ]; then
    "$OFFPAY" terminal sync --terminal "$st" --passphrase-file tp \
        --server "$URL" >sync.out 2>&1 &
    spid=$!
    bg+=("$spid")
    syncs=$((syncs + 1))
    local d=$((RANDOM % 150)) # drawn here: a subshell reseeds RANDOM
    if [ $((RANDOM % 2)) -eq 0 ]; then
      (sleep "$(printf '0.%03d' "$d")"
       kill -9 "$spid" 2>/dev/null && echo killed >>sync_kills.txt) &
      kpid=$!
      bg+=("$kpid")
    fi
  fi
  if [ "$kill_srv" -eq 1 ]; then
    sleep "$(printf '0.%03d' $((delay_srv / 3)))"
    stop_server KILL
    kills_server=$((kills_server + 1))
    start_server
  fi

  run_maybe_killed "pay.out" $((RANDOM % 4 == 0)) $((RANDOM % 120)) \
      "$OFFPAY" wallet pay --wallet "$w" --passphrase-file wp --currency EUR \
      --amount "$amt"
  kills_pay=$((kills_pay + killed))
  code=$(grep -E '^OPPY:' pay.out || true)
  if [ -n "$code" ]; then
    codes=$((codes + 1))
    counter=$("$OFFPAY" decode --code "$code" --json | jq -r .counter)
    echo "$w $counter" >>shown.txt
    run_maybe_killed "acc.out" $((RANDOM % 3 == 0)) $((RANDOM % 120)) \
        "$OFFPAY" terminal accept --terminal "$t" --code "$code" --amount "$amt"
    kills_accept=$((kills_accept + killed))
    killed0=$killed
    record_accept "$t" acc.out "$counter"
    if [ "$killed" -eq 1 ] || [ "$rc" -ne 0 ]; then
      # Again, to the end: in the journal already (a replay), or now.
      run_maybe_killed "acc2.out" 0 0 "$OFFPAY" terminal accept \
          --terminal "$t" --code "$code" --amount "$amt"
      record_accept "$t" acc2.out "$counter"
      if [ "$rc" -ne 0 ] && ! grep -q EREPLAY acc2.out; then
        violation "round $r: code refused on retry: $(head -c 300 acc2.out)"
      fi
      if grep -qE '^accepted: ' acc.out && [ "$rc" -eq 0 ]; then
        violation "round $r: an accepted code accepted again (first, killed" \
          "$killed0: $(tr '\n' ' ' <acc.out); again: $(tr '\n' ' ' <acc2.out))"
      fi
    fi
  fi

  local p
  for p in $kpid $spid; do
    wait "$p" 2>/dev/null || true
    unset 'bg[-1]'
  done
}

# clean_sync TERMINAL: uploads until nothing is left.
clean_sync() {
  local i
  for i in 1 2 3 4 5; do
    if "$OFFPAY" terminal sync --terminal "$1" --passphrase-file tp \
        --server "$URL" >csync.out 2>&1 && grep -q ', 0 left' csync.out; then
      return 0
    fi
    grep -q "uploaded 0 payment" csync.out && return 0
    sleep 0.2
  done
  violation "terminal $1: no clean sync: $(tail -c 400 csync.out)"
}

check_all() {
  local when=$1 t w m journal lines total bal stmt n_j n_s missing
  checks=$((checks + 1))
  for t in "${TERMS[@]}"; do clean_sync "$t"; done
  : > journal.all
  for t in "${TERMS[@]}"; do
    "$OFFPAY" terminal journal --terminal "$t" --json |
      jq -r --arg t "$t" '"\($t) \(.serial) \(.counter) \(.charged_minor)"' >>journal.all
  done
  # 1. Each reported acceptance in its terminal's journal, once; no
  #    (serial, counter) twice in any journal.
  # (FILENAME, not NR == FNR: with an empty first file that would read
  # the second as the first, and find nothing missing)
  missing=$(awk 'FILENAME == ARGV[1] { n[$1" "$2" "$3]++; next }
                 { if (n[$1" "$2" "$3] != 1) print }' journal.all accepted.txt | wc -l)
  [ "$missing" -eq 0 ] || violation "$when: $missing reported acceptances not in the journal once"
  n_j=$(awk '{print $2, $3}' journal.all | sort | uniq -d | wc -l)
  [ "$n_j" -eq 0 ] || violation "$when: $n_j codes in the journals twice"
  # 2. Every shown code in its wallet's log; no counter repeats.
  for w in "${WALLETS[@]}"; do
    if ! "$OFFPAY" wallet log --wallet "$w" --passphrase-file wp >"wlog.$w" 2>&1; then
      violation "$when: wallet $w: its log cannot be read: $(tail -c 300 "wlog.$w")"
    fi
    awk 'NR > 1 {print $2}' "wlog.$w" | sort -n >"log.$w"
    n_j=$(uniq -d "log.$w" | wc -l)
    [ "$n_j" -eq 0 ] || violation "$when: wallet $w: $n_j counters repeat"
    missing=$(awk -v w="$w" 'FILENAME == ARGV[1] { c[$1] = 1; next }
                             $1 == w && !($2 in c)' "log.$w" shown.txt | wc -l)
    [ "$missing" -eq 0 ] || violation "$when: wallet $w: $missing shown codes not in its log"
  done
  # 3. Each journal entry settled exactly once, at its charge; statements
  #    and balances equal the journals' totals.
  for t in "${TERMS[@]}"; do
    m=${term_merchant[$t]}
    api GET "/v1/admin/merchants/$m/statement"
    if [ "$status" != 200 ] || [ "$(jget .truncated)" != false ]; then
      violation "$when: statement of merchant $m: $status"
      continue
    fi
    jq -r '.lines[] | "\(.serial) \(.counter) \(.paid.minor) \(.outcome)"' resp.json | sort >stmt.txt
    stmt=$(jget .paid.minor)
    awk -v t="$t" '$1 == t {print $2, $3, $4, "settled"}' journal.all | sort >jrnl.txt
    if ! cmp -s stmt.txt jrnl.txt; then
      violation "$when: merchant $m: statement differs from the journal of $t:" \
        "$(diff jrnl.txt stmt.txt | head -5 | tr '\n' ' ')"
    fi
    total=$(awk -v t="$t" '$1 == t {s += $4} END {print s + 0}' journal.all)
    bal=$(balance "${term_macct[$t]}")
    [ "$stmt" = "$total" ] && [ "$bal" = "$total" ] ||
      violation "$when: merchant $m: statement $stmt, balance $bal, journal $total"
  done
  # 4. Escrow = limit - settled, per credential.
  for w in "${WALLETS[@]}"; do
    local s=${wallet_serial[$w]} settled left
    settled=$(awk -v s="$s" '$2 == s {x += $4} END {print x + 0}' journal.all)
    left=$(remaining "$s")
    [ "$left" = $((LIMIT_MINOR - settled)) ] ||
      violation "$when: escrow of $s: $left, want $((LIMIT_MINOR - settled))"
  done
  # 5. The audit, through the CLI and through offpayd.
  "$OFFPAY" admin audit --db "$LEDGER" >audit.out 2>&1 ||
    violation "$when: offpay admin audit: $(tail -c 300 audit.out)"
  api GET /v1/admin/audit
  [ "$status" = 200 ] && [ "$(jget .ok)" = true ] ||
    violation "$when: GET /v1/admin/audit: $status"
  echo "check after $when: $(wc -l <journal.all) journal entries," \
       "$(wc -l <accepted.txt) reported acceptances, $violations violations"
}

r=0
while [ "$r" -lt "$ROUNDS" ]; do
  if [ "$SECONDS" -ge "$TIME_LIMIT" ]; then
    echo "crashloop: time limit ($TIME_LIMIT s) reached after $r rounds"
    break
  fi
  r=$((r + 1))
  one_round "$r" 2>>"$work/shell.err"
  if [ $((r % CHECK_EVERY)) -eq 0 ] && [ "$r" -lt "$ROUNDS" ]; then
    check_all "round $r"
  fi
done
# CRASHLOOP_PLANT=1 (the CI's check of the checks): a reported acceptance
# that no journal holds and a shown code that no log holds, planted before
# the last check, which must then report both.
if [ -n "${CRASHLOOP_PLANT:-}" ]; then
  echo "ta ${wallet_serial[w1]} 999999 100" >>accepted.txt
  echo "w1 999999" >>shown.txt
fi
check_all "the last round ($r)"
[ "$violations" -eq 0 ] && ok "crashloop: $r rounds, every invariant held at $checks checks"
echo "crashloop: seed $SEED, $r rounds in $SECONDS s; codes shown $codes," \
     "acceptances reported $acceptances, background syncs $syncs;" \
     "SIGKILLs: wallet pay $kills_pay, terminal accept $kills_accept," \
     "terminal sync $(wc -l <sync_kills.txt), offpayd $kills_server; checks $checks;" \
     "violations $violations"
stop_server TERM
finish
