#!/usr/bin/env bash
# upload_profile.sh — where offpayd's work per uploaded payment goes, in
# instructions counted by valgrind's callgrind, beside one Ed25519
# verification's (docs/benchmarks.md, "Instructions per payment").
#
# Runs `settle_bench --quick --payments N` against offpayd under callgrind
# (on a fresh SQLite ledger, as settle_bench always does) and prints, per
# uploaded payment, the instructions of each stage of POST
# /v1/terminal/upload. Instruction counts do not move with the other
# tenants of a shared machine the way timings do, so two builds can be
# compared to a fraction of a percent; they are not times (the signature
# code runs more instructions per cycle than JSON or SQLite code: see
# settle_bench for the time), and they count offpayd's own code only: the
# kernel's share (the WAL's write and fdatasync, the sockets) is not in
# them.
#
# Usage: bench/upload_profile.sh [--payments N] BUILD_DIR [OFFPAYD]
#   BUILD_DIR holds bench/settle_bench (and src/offpayd, unless OFFPAYD is
#   given: another build's offpayd to compare). N: 2000 (some seconds).
# Needs valgrind (apt-get install valgrind). Exit 0, 1 on failure, 2 on
# bad usage.
set -u
PAYMENTS=2000
usage() { sed -n '17,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --payments) PAYMENTS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --*) echo "upload_profile: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || { usage >&2; exit 2; }
BUILD=$1
OFFPAYD=${2:-$BUILD/src/offpayd}
for f in "$BUILD/bench/settle_bench" "$OFFPAYD"; do
  [ -x "$f" ] || { echo "upload_profile: $f is not an executable" >&2; exit 2; }
done
for t in valgrind callgrind_annotate; do
  command -v "$t" >/dev/null || {
    echo "upload_profile: needs $t (apt-get install valgrind)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/offpay-profile.XXXXXX") || exit 1
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
# settle_bench starts offpayd by path: a wrapper runs it under callgrind.
cat >"$work/offpayd" <<EOF
#!/bin/sh
exec valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.out" \
  "$(readlink -f "$OFFPAYD")" "\$@"
EOF
chmod +x "$work/offpayd"
if ! "$BUILD/bench/settle_bench" --offpayd "$work/offpayd" --quick \
     --payments "$PAYMENTS" >"$work/bench.log" 2>&1; then
  cat "$work/bench.log" >&2
  echo "upload_profile: settle_bench failed" >&2
  exit 1
fi
[ -s "$work/cg.out" ] || { echo "upload_profile: no callgrind output" >&2; exit 1; }

callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$work/cg.out" \
  >"$work/incl.txt" 2>/dev/null || exit 1
callgrind_annotate --auto=no --tree=caller --threshold=100 "$work/cg.out" \
  >"$work/callers.txt" 2>/dev/null || exit 1

# Inclusive instructions of function $1 (callgrind_annotate may list a
# function twice, under two spellings of its file: the largest entry).
ir() {
  awk -v f="$1" '{ gsub(",", "", $1); n = split($0, w, ":");
    name = w[n]; sub(/ .*/, "", name);
    if (name == f && $1 ~ /^[0-9]+$/ && $1 + 0 > s) s = $1 + 0 }
    END { print s + 0 }' "$work/incl.txt"
}
# How many times function $1 was called (its callers' counts summed).
calls() {
  awk -v f="$1" '
    /^ *[0-9,]+ .*< / { if (match($0, /\(([0-9,]+)x\)/)) {
        c = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", c); acc += c } next }
    /\* / { n = split($0, w, ":"); name = w[n]; sub(/ .*/, "", name);
        if (name == f && acc > s) s = acc; acc = 0; next }
    { acc = 0 }
    END { print s + 0 }' "$work/callers.txt"
}

items=$(calls settle_tx)
verifies=$(calls crypto_sign_ed25519_verify_detached)
[ "$items" -gt 0 ] && [ "$verifies" -gt 0 ] || {
  echo "upload_profile: no upload was settled" >&2; exit 1; }
v_ir=$(ir crypto_sign_ed25519_verify_detached)
upload=$(ir srv_upload_batch)
engine=$(ir offpay_ledger_settle_batch)
checks=$(ir pure_checks)
sig=$(ir offpay_payment_verify_sig)
store=$(ir settle_tx)
commit=$(ir s_commit)
parse=$(ir srv_parse_upload)
auth=$(ir srv_auth_terminal)
# the request's signature and its body's SHA-256, checked before the
# handler runs (http.c's run_handler), so outside srv_upload_batch
sigreq=$(ir srv_auth_signature)
reply=$(( $(ir send_reply) + $(ir sign_answer) ))

# Each payment is verified once: if the signature's row is not about one
# verification, the figures were misread (callgrind_annotate's format).
awk -v s="$sig" -v i="$items" -v v="$v_ir" -v n="$verifies" \
  'BEGIN { r = s / i / (v / n); exit !(r > 0.95 && r < 1.1) }' || {
  echo "upload_profile: the figures do not add up: is callgrind_annotate's" \
       "output in the format this script reads?" >&2; exit 1; }
awk -v items="$items" -v vn="$verifies" -v v="$v_ir" -v up="$upload" \
    -v eng="$engine" -v chk="$checks" -v sig="$sig" -v st="$store" \
    -v cm="$commit" -v pa="$parse" -v au="$auth" -v rp="$reply" \
    -v sq="$sigreq" '
  function row(name, x) {
    printf "  %-44s %9.0f  %5.3f\n", name, x / items, x / items / one }
  BEGIN {
    one = v / vn
    printf "offpayd instructions per uploaded payment (callgrind, %d payments, SQLite)\n", items
    printf "  %-44s %9s  %5s\n", "stage", "instr.", "x one verification"
    row("the wallet'"'"'s signature", sig)
    row("the other checks (issuer chain cached)", chk - sig)
    row("the store: rows, indexes, updates", st)
    row("the commit (SQLite'"'"'s part; not the kernel'"'"'s)", cm)
    row("the rest of the engine", eng - chk - st - cm)
    row("parsing the body (Jansson, base64)", pa)
    row("the request'"'"'s authentication", au)
    row("building the results", up - eng - pa - au)
    row("the request'"'"'s signature, body digest (all)", sq)
    row("signing and writing the reply (all requests)", rp)
    printf "  %-44s %9.0f  %5.3f\n", "total", (up + sq + rp) / items, (up + sq + rp) / items / one
    printf "  one verification: %.0f instructions (%d verified)\n", one, vn
  }'
