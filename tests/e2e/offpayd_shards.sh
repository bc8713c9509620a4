#!/usr/bin/env bash
# offpayd_shards.sh — the ledger sharded by credential serial over two
# PostgreSQL servers (docs/scaling.md; registered as e2e.offpayd_shards_pg,
# run under tests/pg/with_postgres.sh --servers 2). Two offpayd processes
# read the same shard map:
#  A. an unusable shard map is refused with its file, line and what is
#     wrong (offpayd and `offpay admin`);
#  B. two wallets' accounts, credentials and escrows land on different
#     shards (ids from each shard's range); the guarantee is funded on both;
#  C. one terminal uploads one batch mixing both wallets' codes through
#     process 1, again through process 2 (replays); a duplicate at a second
#     terminal and a double spend by a clone, each on its own shard;
#  D. revocations (the automatic ones and an operator's on shard 1) are in
#     the revocation list served by both processes;
#  E. the merchant's statement and balance, and the dashboard's overview,
#     sum both shards; refunds are booked on their presentment's shard;
#  F. each shard holds only its own serials' rows (psql on each server),
#     and the merchant has one account row per shard;
#  G. a serial in no shard's range: not issued, nothing written;
#  H. `offpay admin audit --shards` checks each shard and the total;
#  I. a terminal rotated through offpayd: every shard knows the new one
#     and the old one's revocation at once, and which terminal it was
#     rotated to (the CLI run again after it, through the other process,
#     is answered from that record and writes nothing);
#  J. a guarantee deposit that failed on shard 1 after shard 0 booked its
#     half, retried under its Idempotency-Key: only the missing half is
#     booked, and a third try moves nothing; a keyed withdrawal shard 0
#     could not pay, resent after shard 0 was funded, is not paid twice; a
#     terminal's sync while shard 1 fails leaves its payment undecided and
#     exits 3, and the next sync settles it;
#  K. the shard map checked against the ledger's: a map that leaves out a
#     shard, swaps two shards' URLs or merges two ranges onto one database
#     is refused with what is wrong and nothing changed (offpayd and
#     `offpay admin`), as is one shard's URL given as the whole ledger; a
#     shard added at the end is recorded, and leaving it out again is
#     refused until the operator retires it;
#  L. the directory copy sends a shard only what it lacks, and a terminal
#     committed out of id order still reaches it; a terminal's revocation
#     that fails on one shard leaves no shard paying what another refuses,
#     and the release job finishes it in the directory at the first
#     shard's time (sent again, it then answers that time);
#  M. one Idempotency-Key for two requests at once whose homes are two
#     shards: the second is refused, nothing of it booked;
#  N. a wallet enrolled (shard 0) and reported lost gets no credential
#     from an account on shard 1 (409 EWALLET_LOST, nothing moves);
#  O. a claim on the guarantee on shard 1: with both parts emptied, a
#     copied wallet's overspend there is unpaid EFUNDS and owed; a deposit
#     into the guarantee pays it from shard 1's part, once (a second
#     deposit and the release job pay nothing more).
# The marking job runs every second in both processes (docs/settlement.md
# §10): balances and statements over the shards read through marks.
export OFFPAYD_MARK_EVERY=1
source "$(dirname "$0")/offpayd_lib.sh"
[ "$BACKEND" = postgres ] || { echo "offpayd_shards.sh runs on PostgreSQL only (OFFPAY_TEST_BACKEND=postgres)"; exit 1; }
read -r -a PG <<<"${OFFPAY_TEST_PG_ALL:-}"
[ "${#PG[@]}" -ge 2 ] || { echo "offpayd_shards.sh needs two servers (tests/pg/with_postgres.sh --servers 2)"; exit 1; }

# one database per shard, each on its own server
for k in 0 1; do
  psql -q -X -v ON_ERROR_STOP=1 "${PG[$k]}postgres" \
      -c "CREATE DATABASE \"${pg_prefix}_shard$k\"" >/dev/null
done
cleanup_shards() {
  for k in 0 1 2 3; do
    psql -q -X "${PG[$((k % 2))]}postgres" \
        -c "DROP DATABASE IF EXISTS \"${pg_prefix}_shard$k\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap 'cleanup_shards; cleanup' EXIT
SH0="${PG[0]}${pg_prefix}_shard0"
SH1="${PG[1]}${pg_prefix}_shard1"
R1=1000000000   # shard 1's first id
cat > shards.conf <<EOF_CONF
# two shards: serials and every other id by range
shard 1-999999999 $SH0
shard $R1-1999999999 $SH1
EOF_CONF
shard_sql() { psql -q -X -A -t -v ON_ERROR_STOP=1 "$([ "$1" = 0 ] && echo "$SH0" || echo "$SH1")" -c "$2"; }

# ---- A. an unusable shard map ------------------------------------------
printf 'shard 1-999999999 %s\nshard 5-2000000000 %s\n' "$SH0" "$SH1" > overlap.conf
run_cli 2 'overlap.conf:2: ranges must ascend without overlapping' -- \
  "$OFFPAYD" --shards overlap.conf --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token
printf 'shard 1-10 %s\nshard 11-20 sqlite.db\n' "$SH0" > notpg.conf
run_cli 2 'notpg.conf:2: a shard is a PostgreSQL URL' -- \
  "$OFFPAYD" --shards notpg.conf --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token
printf '# nothing\n' > empty.conf
run_cli 2 'empty.conf:0: the shard map names no shard' -- \
  "$OFFPAY" admin audit --shards empty.conf
run_cli 2 'give --db or --shards' -- \
  "$OFFPAYD" --db x.db --shards shards.conf --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token

# ---- B. set-up on two shards, two processes ----------------------------
LEDGER="shards:$work/shards.conf"   # offpayd --db shards:FILE = --shards FILE
declare -A U
start_server; U[1]=$URL; p1=$server_pid; server_pid=
start_server; U[2]=$URL; server_pid=
via() { URL=${U[$1]}; }
via 1
fetch_bundle
api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"500.00"}'
new_merchant "Bakery A"; MA=$MACCT; MID=$MERCHANT
new_terminal ta "$MERCHANT"
via 2
new_terminal tb "$MERCHANT"   # made through the other process
W1=$(new_account payer-1 200.00)
new_wallet w1 "$W1" 100.00; S1=$SERIAL
W2=$(new_account payer-2 200.00)
new_wallet w2 "$W2" 100.00; S2=$SERIAL
echo "# wallet accounts $W1 $W2, serials $S1 $S2"
[ "$S1" -lt "$R1" ] && [ "$W1" -lt "$R1" ] && ok "wallet 1's account and credential on shard 0" \
  || fail "wallet 1: account $W1 serial $S1"
[ "$S2" -ge "$R1" ] && [ "$W2" -ge "$R1" ] && ok "wallet 2's account and credential on shard 1" \
  || fail "wallet 2: account $W2 serial $S2"
[ "$(shard_sql 0 "SELECT count(*) FROM accounts WHERE kind = 5")" = 1 ] &&
[ "$(shard_sql 1 "SELECT count(*) FROM accounts WHERE kind = 5")" = 1 ] &&
[ "$(balance "$G")" = 50000 ] && ok "a guarantee on each shard, 500.00 in all" \
  || fail "guarantee: $(balance "$G")"
[ "$(shard_sql 1 "SELECT sum(amount) FROM transfers WHERE kind = 'deposit' AND credit IN (SELECT id FROM accounts WHERE kind = 5)")" = 25000 ] \
  && ok "shard 1's guarantee holds its half" || fail "shard 1's guarantee"
audit_passes "set-up"

# ---- C. one batch mixing both shards, twice; duplicate; double spend ----
cp w2 w2clone; cp w2.log w2clone.log
for a in 1.00 2.00 3.00; do
  c=$(pay w1 "$a"); accept ta "$c" "$a" || fail "w1 accept $a"
  c=$(pay w2 "$a"); accept ta "$c" "$a" || fail "w2 accept $a"
done
dup=$(pay w1 8.00); accept ta "$dup" 4.00 || fail "dup at ta"   # 4.00 of 8.00
c=$(pay w2 5.00); accept ta "$c" 5.00 || fail "w2 5.00"
via 1; upload ta
expect_http 200 - "ta's batch of 8, both shards, through process 1"
[ "$(outcomes)" = "settled settled settled settled settled settled settled settled" ] \
  && ok "all 8 settled: one transaction per shard" || fail "ta: $(outcomes)"
via 2; upload ta
[ "$status" = 200 ] && [ "$(outcomes | tr ' ' '\n' | sort -u)" = "settled(replay)" ] \
  && ok "the same batch through process 2: 8 replays" || fail "replay: $status $(outcomes)"
accept tb "$dup" 4.00 || fail "dup at tb"
pay w2clone 1.00 >/dev/null; pay w2clone 1.00 >/dev/null; pay w2clone 1.00 >/dev/null
ds=$(pay w2clone 6.00)   # w2's counter 3 again, other bytes
accept tb "$ds" 6.00 || fail "double spend at tb"
via 1; upload tb
# the duplicate is the merchant's own (ta and tb are both Bakery A's):
# paid the 4.00 left of the code's 8.00, no case (settlement.md §4)
[ "$(outcomes)" = "duplicate double_spend" ] && [ "$(jq -r '.results[0].reason' resp.json)" = null ] \
  && [ "$(jq -r '.results[0].paid.minor' resp.json)" = 400 ] && [ "$(jq -r '.results[0].case' resp.json)" = null ] \
  && ok "tb: the merchant's duplicate (shard 0, the code's 4.00 left, no case), double spend (shard 1)" \
  || fail "tb: $(outcomes) $(jq -c .results resp.json)"
api GET "/v1/admin/credentials/$S1"; r1=$(jget .revoked)
api GET "/v1/admin/credentials/$S2"; r2=$(jget .revoked)
[ "$r1" = false ] && [ "$r2" = true ] && ok "the double spend's credential revoked on its shard, the other not" \
  || fail "revoked: $r1 $r2"
api GET "/v1/admin/cases"
[ "$(jq -r '[.cases[].kind] | join(" ")' resp.json)" = "double_spend" ] \
  && ok "the case listed" || fail "cases: $(cat resp.json)"
CASE2=$(jq -r '.cases[0].id' resp.json)
[ "$(jq -r '.cases[0].serial' resp.json)" = "$S2" ] && [ "$CASE2" -ge "$R1" ] \
  && ok "the double spend's case $CASE2 is shard 1's" || fail "case 2: $(cat resp.json)"
api GET "/v1/admin/cases/$CASE2/evidence"
[ "$status" = 200 ] && ok "its evidence is read from shard 1" \
  || fail "evidence of case $CASE2: $status $(head -c 300 resp.json)"
audit_passes "after the batches"

# ---- D. revocations seen by every process ------------------------------
W3=$(new_account payer-3 50.00)   # the shard with fewer wallets: shard 0
W4=$(new_account payer-4 50.00)
new_wallet w4 "$W4" 10.00; S4=$SERIAL
[ "$S4" -ge "$R1" ] && ok "wallet 4 on shard 1" || fail "wallet 4 serial $S4"
via 2; api POST "/v1/admin/credentials/$S4/revoke" '{"reason":"lost"}'
expect_http 200 - "an operator revokes a shard-1 credential through process 2"
for i in 1 2; do
  via "$i"; api GET /v1/revlist
  jget .revlist | base64 -d > "rl$i.opb"
  n=$(jget .serials)
  [ "$n" = 2 ] && ok "process $i serves a revocation list of 2 serials" \
    || fail "process $i revlist: $(cat resp.json)"
done
"$OFFPAY" terminal sync --terminal ta --revlist rl1.opb >/dev/null && ok "terminal syncs it" \
  || fail "terminal sync"
c=$(pay w4 1.00 || true)
if [ -n "$c" ] && accept ta "$c" 1.00; then fail "a revoked shard-1 credential accepted offline"
else ok "the terminal refuses the revoked shard-1 credential"; fi

# ---- E. statement and balance sum both shards ---------------------------
# ta: 1+2+3 (w1) + 1+2+3 (w2) + 4 + 5 = 21.00; tb: the merchant's
# duplicate 4.00 + double spend 6.00 = 10.00; 31.00 in all
api GET "/v1/admin/merchants/$MID/statement"
[ "$status" = 200 ] && [ "$(jget .count)" = 10 ] && [ "$(jget .paid.decimal)" = 31.00 ] \
  && ok "statement: 10 presentments, 31.00 paid, from both shards" \
  || fail "statement: $status $(cat resp.json)"
[ "$(balance "$MA")" = 3100 ] && ok "merchant balance 31.00: the sum of its shard rows" \
  || fail "merchant balance $(balance "$MA")"
s0=$(shard_sql 0 "SELECT COALESCE(sum(amount),0) FROM transfers WHERE credit = $MA")
s1=$(shard_sql 1 "SELECT COALESCE(sum(amount),0) FROM transfers WHERE credit = $MA")
[ "$s0" = 1400 ] && [ "$s1" = 1700 ] && ok "merchant rows: 14.00 on shard 0, 17.00 on shard 1" \
  || fail "merchant rows: $s0 $s1"
api POST "/v1/admin/accounts/$MA/withdraw" '{"amount":"15.00"}'
expect_http 200 - "a withdrawal one shard's share covers (shard 1)"
api POST "/v1/admin/accounts/$MA/withdraw" '{"amount":"15.00"}'
[ "$status" != 200 ] && ok "15.00 more: no one shard holds it ($status $(jget .error))" \
  || fail "withdrawal across shards accepted"
[ "$(balance "$MA")" = 1600 ] && ok "merchant balance 16.00 after" || fail "balance $(balance "$MA")"
# its history: both shards' rows, ascending, summing to its balance; the
# same in pages of 3
api GET "/v1/admin/accounts/$MA/transfers?limit=1000"
all=$(jq -c '[.transfers[].id]' resp.json)
[ "$status" = 200 ] && [ "$(jq '[.transfers[].amount.minor] | add' resp.json)" = 1600 ] \
  && [ "$(jq '[.transfers[].id | tonumber] | . == sort' resp.json)" = true ] \
  && [ "$(jq '[.transfers[] | select(.kind == "withdraw" and .amount.minor == -1500)] | length' resp.json)" = 1 ] \
  && [ "$(jget .next_after)" = null ] \
  && ok "merchant history over both shards: $(jget .count) transfers summing to 16.00" \
  || fail "merchant history: $status $(cat resp.json)"
# each payment's transfer names its credential, read on its own shard;
# and shard 1's escrow account its serial
[ "$(jq -c '[.transfers[] | select(.kind == "settle") | .serial] | group_by(.) | map([.[0], length]) | sort_by(.[0] | tonumber)' resp.json)" \
  = "[[\"$S1\",5],[\"$S2\",5]]" ] \
  && ok "its settle transfers name serial $S1 (shard 0) five times, $S2 (shard 1) five times" \
  || fail "settle serials: $(jq -c '[.transfers[] | select(.kind == "settle") | .serial]' resp.json)"
api GET "/v1/admin/credentials/$S2"; E2=$(jget .escrow_account)
api GET "/v1/admin/accounts/$E2"
[ "$(jq -c '[.kind, .serial]' resp.json)" = "[\"escrow\",\"$S2\"]" ] \
  && ok "shard 1's escrow account $E2 names serial $S2" || fail "escrow $E2: $(cat resp.json)"
paged='[]'; after=0
while :; do
  api GET "/v1/admin/accounts/$MA/transfers?limit=3&after=$after"
  [ "$status" = 200 ] || break
  paged=$(jq -c --argjson p "$paged" '$p + [.transfers[].id]' resp.json)
  after=$(jget .next_after); [ "$after" = null ] && break
done
[ "$paged" = "$all" ] && ok "the history in pages of 3 is the same" || fail "paged $paged vs $all"
# a period of it (from its latest transfer's second; until the second
# before): the same transfers as the whole history's in that period, over
# both shards, in pages of 2
api GET "/v1/admin/accounts/$MA/transfers?limit=1000"
full=$(jq -c '[.transfers[] | {id, at}]' resp.json)
wat=$(jq -r '[.[] | .at] | max' <<<"$full")
for q in "from=$wat" "to=$((wat - 1))"; do
  if [ "${q%%=*}" = from ]; then want=$(jq -c --argjson w "$wat" '[.[] | select(.at >= $w) | .id]' <<<"$full")
  else want=$(jq -c --argjson w "$wat" '[.[] | select(.at < $w) | .id]' <<<"$full"); fi
  paged='[]'; after=0
  while :; do
    api GET "/v1/admin/accounts/$MA/transfers?$q&limit=2&after=$after"
    [ "$status" = 200 ] || break
    paged=$(jq -c --argjson p "$paged" '$p + [.transfers[].id]' resp.json)
    after=$(jget .next_after); [ "$after" = null ] && break
  done
  [ "$paged" = "$want" ] && [ "$(jget .balance.minor)" = 1600 ] \
    && ok "merchant history with $q over both shards in pages of 2: $(jq length <<<"$want") of $(jq length <<<"$full")" \
    || fail "history $q: $paged, want $want ($status $(cat resp.json))"
done
# the merchant's 16.00 is held in parts on both shards: a withdrawal of
# all of it is taken from no one part, and the hint says so (the balance
# in all, not "less than asked")
api POST "/v1/admin/accounts/$MA/withdraw" '{"amount":"16.00"}'
expect_http 409 EFUNDS "16.00 from the merchant: no one shard holds it"
[ "$(jget .hint)" = "withdrawal: account $MA holds 16.00 EUR in all, in parts, one per shard, and a withdrawal is taken whole from one part: no part holds 16.00 EUR; withdraw in parts; nothing was withdrawn" ] \
  && ok "the hint gives the balance in all, and why" || fail "16.00: $(cat resp.json)"
# the guarantee: 250.00 on each shard; a withdrawal is taken whole from
# one shard's part, and the answer shows the parts after it
api POST "/v1/admin/accounts/$G/withdraw" '{"amount":"300.00"}'
expect_http 409 EFUNDS "300.00 from the guarantee: no one shard holds it"
jget .hint | grep -q "held in parts, one per shard" && ok "the hint says why" || fail "300.00: $(cat resp.json)"
api POST "/v1/admin/accounts/$G/withdraw" '{"amount":"240.00"}'
expect_http 200 - "240.00 from the guarantee, taken from one shard"
parts=$(jq -c '[.shards[].balance.minor]' resp.json)
[ "$parts" = "[1000,25000]" ] && [ "$(balance "$G")" = 26000 ] \
  && ok "guarantee 260.00 left over both shards; the answer shows shard 0's part at 10.00" \
  || fail "guarantee $(balance "$G"), parts $parts"
api POST /v1/admin/guarantee '{"currency":"EUR"}'
[ "$(jq -c '[.shards[].shard, .shards[].balance.minor]' resp.json)" = "[0,1,1000,25000]" ] \
  && ok "POST /v1/admin/guarantee shows each shard's part" || fail "guarantee parts: $(cat resp.json)"
# its history: each shard's own guarantee account, in turn, summing to it
api GET "/v1/admin/accounts/$G/transfers?limit=1000"
[ "$status" = 200 ] && [ "$(jget .balance.minor)" = 26000 ] \
  && [ "$(jq '[.transfers[].amount.minor] | add' resp.json)" = 26000 ] \
  && [ "$(jq '[.transfers[] | select(.kind == "deposit")] | length' resp.json)" = 2 ] \
  && ok "guarantee history over both shards: both deposit parts, summing to 260.00" \
  || fail "guarantee history: $status $(cat resp.json)"
# ... and a period of it (since 0.28.0): its balances summed over the
# shards' guarantees, 0.00 before, 260.00 after
api GET "/v1/admin/accounts/$G/transfers?from=0&to=$(( $(date +%s) + 60 ))&limit=1"
[ "$(jq -c '.period | [.opening_balance.minor, .closing_balance.minor, .movement_sums.deposits.minor + .movement_sums.withdrawals.minor]' resp.json)" = "[0,26000,26000]" ] \
  && ok "a period of the guarantee's history over both shards: 0.00 to 260.00" \
  || fail "guarantee period: $(jq -c .period resp.json)"
# the dashboard's overview sums the shards: one merchant account (its
# rows on both shards), a guarantee per shard, the wallets of both
api GET "/v1/admin/overview?width=86400&from=$(($(date +%s) - 86400))"
expect_http 200 - "the overview of a sharded ledger"
kind() { jq -r --arg k "$1" --arg f "$2" '[.kinds[] | select(.kind == $k)][0] | if $f == "n" then .accounts else .balance.minor end' resp.json; }
[ "$(kind merchant n)" = 1 ] && [ "$(kind merchant b)" = 1600 ] \
  && ok "overview: 1 merchant account holding 16.00 over both shards" \
  || fail "overview merchant: $(kind merchant n) $(kind merchant b)"
[ "$(kind guarantee n)" = 2 ] && [ "$(kind guarantee b)" = 26000 ] \
  && ok "overview: 2 guarantee accounts (one per shard), 260.00" \
  || fail "overview guarantee: $(kind guarantee n) $(kind guarantee b)"
[ "$(kind wallet n)" = 4 ] && ok "overview: the 4 wallet accounts of both shards" \
  || fail "overview wallets: $(kind wallet n)"
[ "$(jq '[.settlement.buckets[].count] | add' resp.json)" = 10 ] &&
[ "$(jq '[.settlement.buckets[].paid.minor] | add' resp.json)" = 3100 ] \
  && ok "overview: 10 presentments, 31.00 paid, in its buckets" \
  || fail "overview buckets: $(jq -c .settlement resp.json)"
[ "$(jq '[.terminals[].presentments] | add' resp.json)" = 10 ] &&
[ "$(jq '.terminals | length' resp.json)" = 2 ] \
  && ok "overview: 2 terminals, their presentments from both shards" \
  || fail "overview terminals: $(jq -c .terminals resp.json)"
[ "$(jq '.revoked_credentials | length' resp.json)" = 2 ] &&
jq -e --arg s "$S4" '[.revoked_credentials[].serial] | index($s) != null' resp.json >/dev/null \
  && ok "overview: 2 revoked credentials, shard 1's among them" \
  || fail "overview revoked: $(jq -c .revoked_credentials resp.json)"

# ---- E2. refunds on their presentment's shard ------------------------------
# A refund is booked on its presentment's shard, out of the merchant's row
# there: shard 1's row holds 2.00 after the withdrawal, so a refund of 3.00
# there is refused though the merchant holds 16.00 in all (a deposit would
# land on shard 0); 1.00 is booked on shard 1 alone, to the payer's account
# on that shard; 2.00 more is booked "funded", the merchant paying it in
# on shard 1 with the refund. A key taken by a refund on shard 0 is
# refused for a refund on shard 1.
api GET "/v1/admin/merchants/$MID/statement"
P0=$(jq -r --argjson r "$R1" '[.lines[] | select((.presentment | tonumber) < $r and .paid.minor >= 300)][0].presentment' resp.json)
P1=$(jq -r --argjson r "$R1" '[.lines[] | select((.presentment | tonumber) >= $r and .paid.minor >= 300)][0].presentment' resp.json)
api POST "/v1/admin/presentments/$P1/refund" '{"amount":"3.00"}'
expect_http 409 EFUNDS "3.00 refunded from shard 1's 2.00"
grep -q 'holds less than the 3.00 EUR refund .*nothing was refunded; send it with \\"funded\\":true' resp.json && ok "the hint says the amount and how: funded" \
  || fail "EFUNDS hint: $(cat resp.json)"
api POST "/v1/admin/presentments/$P1/refund" '{"amount":"1.00"}'
expect_http 200 - "1.00 refunded on shard 1"
[ "$(jget .wallet_account)" -ge "$R1" ] && ok "to a wallet account of shard 1" \
  || fail "refund's wallet account: $(cat resp.json)"
api POST "/v1/admin/presentments/$P1/refund" '{"amount":"2.00","funded":true}'
[ "$status" = 200 ] && [ "$(jget .deposited.decimal)" = 2.00 ] \
  && ok "2.00 more, funded: paid in on shard 1 with the refund" || fail "funded refund: $status $(cat resp.json)"
[ "$(shard_sql 1 "SELECT count(*), sum(amount) FROM transfers WHERE kind = 'refund' AND presentment = $P1")" = "2|300" ] &&
[ "$(shard_sql 1 "SELECT count(*), sum(amount) FROM transfers WHERE kind = 'deposit' AND presentment = $P1 AND credit = $MA")" = "1|200" ] &&
[ "$(shard_sql 0 "SELECT count(*) FROM transfers WHERE kind = 'refund'")" = 0 ] \
  && ok "the refund transfers and the deposit are on shard 1 only" || fail "refund transfers by shard"
sleep 1 # shard 0's refund a second after shard 1's: the movements by time
api_once rk-1 POST "/v1/admin/presentments/$P0/refund" '{"amount":"1.00"}'
expect_http 200 - "1.00 refunded on shard 0 under key rk-1"
api_once rk-1 POST "/v1/admin/presentments/$P1/refund" '{"amount":"1.00"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "rk-1 again, for shard 1's presentment"
[ "$(balance "$MA")" = 1400 ] && ok "merchant balance 14.00 after two refunds" \
  || fail "balance $(balance "$MA")"
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jget .refunded.decimal)" = 4.00 ] && ok "the statement's refunds sum both shards: 4.00" \
  || fail "statement refunded: $(jget .refunded.decimal)"
# its movements by transfer time sum both shards' parts of the account:
# the refunds (-4.00), the funded one's deposit on shard 1 among the
# deposits, and opening + sums = closing = the balance
[ "$(jget .movement_sums.refunds.minor)" = -400 ] && [ "$(jget .closing_balance.minor)" = 1400 ] \
  && [ "$(jq '(.opening_balance.minor + ([.movement_sums[].minor] | add)) == .closing_balance.minor' resp.json)" = true ] \
  && [ "$(jq -c '[.movements[] | select(.kind == "refund") | .amount.minor] | sort' resp.json)" = '[-200,-100,-100]' ] \
  && [ "$(jq -c '[.movements[] | select(.kind == "deposit" and .presentment != null) | .amount.minor]' resp.json)" = '[200]' ] \
  && ok "the statement's movements sum both shards: refunds -4.00, closing 14.00" \
  || fail "statement movements: $(jq -c 'del(.lines)' resp.json)"
# listed by time, not shard after shard: shard 0's refund, a second later
# than shard 1's, comes last
[ "$(jq -c '[.movements[] | [.at, (.id | tonumber)]] | . == sort' resp.json)" = true ] &&
[ "$(jq -c '[.movements[] | select(.kind == "refund") | .amount.minor]' resp.json)" = '[-100,-200,-100]' ] \
  && ok "the statement's movements by time across the shards" \
  || fail "statement movements' order: $(jq -c '.movements' resp.json)"
audit_passes "after the refunds"
# the merchants are the directory's: one, with both terminals, and its
# balance summed over both shards' rows (as the account's own read)
bm=$(balance "$MA")
p1=$(shard_sql 1 "SELECT (SELECT COALESCE(sum(amount),0) FROM transfers WHERE credit = $MA) - (SELECT COALESCE(sum(amount),0) FROM transfers WHERE debit = $MA)")
[ "$p1" != 0 ] || fail "merchant A holds nothing on shard 1 here: the check needs it"
api GET /v1/admin/merchants
[ "$status" = 200 ] && [ "$(jq -c '[.count, .merchants[0].merchant, .merchants[0].account, .merchants[0].terminals, .merchants[0].balance.minor]' resp.json)" \
  = "[1,\"$MID\",\"$MA\",2,$bm]" ] && ok "the merchant list: one merchant, its two terminals, its balance over both shards ($bm, $p1 of it on shard 1)" \
  || fail "merchants: $status $(cat resp.json) (balance $bm, shard 1 $p1)"
[ "$("$OFFPAY" admin merchants --db "$LEDGER" --json | jq -r '.merchants[0].balance')" = "$(jget '.merchants[0].balance.decimal')" ] \
  && ok "admin merchants --json: the same balance" || fail "admin merchants: $("$OFFPAY" admin merchants --db "$LEDGER" --json)"
# the payers' accounts live on their shards: listed shard by shard, ids
# ascending, a page crossing from shard 0 to shard 1, one found by its
# reference on shard 1
api GET /v1/admin/accounts
[ "$status" = 200 ] && [ "$(jq -c '[.accounts[].account]' resp.json)" = "[\"$W1\",\"$W3\",\"$W2\",\"$W4\"]" ] \
  && ok "the accounts list: $W1 $W3 on shard 0, then $W2 $W4 on shard 1" \
  || fail "accounts over the shards: $status $(cat resp.json)"
api GET "/v1/admin/accounts?after=$W1&limit=2"
[ "$(jq -c '[[.accounts[].account], .next_after]' resp.json)" = "[[\"$W3\",\"$W2\"],\"$W2\"]" ] \
  && ok "a page of two crossing the shards" || fail "page across shards: $(cat resp.json)"
api GET "/v1/admin/accounts?ref=payer-4"
[ "$(jq -c '[.count, .accounts[0].account, .accounts[0].balance.minor, .accounts[0].credentials, .accounts[0].credentials_active]' resp.json)" \
  = "[1,\"$W4\",4000,1,0]" ] \
  && ok "payer-4 found on shard 1: 40.00, its revoked credential not active" \
  || fail "ref on shard 1: $(cat resp.json)"

# ---- F. each shard holds its own serials only --------------------------
for k in 0 1; do
  if [ "$k" = 0 ]; then cond="serial >= $R1"; else cond="serial < $R1"; fi
  bad=$(shard_sql "$k" "SELECT (SELECT count(*) FROM credentials WHERE $cond) +
    (SELECT count(*) FROM payments WHERE $cond) + (SELECT count(*) FROM presentments WHERE $cond) +
    (SELECT count(*) FROM cases WHERE $cond)")
  mine=$(shard_sql "$k" "SELECT count(*) FROM presentments")
  [ "$bad" = 0 ] && ok "shard $k: no row of another shard's serial ($mine presentments)" \
    || fail "shard $k holds $bad foreign rows"
done
[ "$(shard_sql 0 "SELECT count(*) FROM presentments")" = 5 ] &&
[ "$(shard_sql 1 "SELECT count(*) FROM presentments")" = 5 ] && ok "5 presentments per shard" \
  || fail "presentments per shard"
idr=$(shard_sql 1 "SELECT count(*) FROM transfers WHERE id < $R1")
[ "$idr" = 0 ] && ok "shard 1's transfers all numbered from its range" || fail "$idr transfers outside"
[ "$(shard_sql 0 "SELECT count(*) FROM accounts WHERE id = $MA")" = 1 ] &&
[ "$(shard_sql 1 "SELECT count(*) FROM accounts WHERE id = $MA")" = 1 ] \
  && ok "the merchant's account exists on both shards (id $MA)" || fail "merchant rows"

# ---- G. a serial in no shard's range ------------------------------------
api GET /v1/admin/credentials/5000000000
[ "$status" = 404 ] && ok "serial 5000000000 (no shard): $status $(jget .error)" \
  || fail "no-shard serial: $status $(cat resp.json)"
api POST /v1/admin/credentials/5000000000/revoke '{}'
[ "$status" = 404 ] && ok "revoking it: $status $(jget .error)" || fail "revoke: $status $(cat resp.json)"
n0=$(shard_sql 0 "SELECT count(*) FROM revocations")
[ "$n0" = 2 ] && ok "nothing written for it" || fail "revocations $n0"

# ---- H. the audit across shards ------------------------------------------
audit_passes "through process 1"
via 2; audit_passes "through process 2"
run_cli 0 'shard 1: .*passed' -- "$OFFPAY" admin audit --shards shards.conf
out=$("$OFFPAY" admin audit --shards shards.conf --json)
[ "$(jq -r '.ok' <<<"$out")" = true ] && [ "$(jq -r '.shards | length' <<<"$out")" = 2 ] \
  && ok "admin audit --json: 2 shards, ok" || fail "admin audit json: $out"
# the money per currency summed over the shards, currency by currency
[ "$(jq -c '[.money[] | [.currency, .inside_minor]]' <<<"$out")" \
  = "$(jq -c '[.shards[].money[]] | group_by(.currency) | map([.[0].currency, (map(.inside_minor) | add)])' <<<"$out")" ] \
  && [ "$(jq -c '[.shards[] | .money | length > 0] | all' <<<"$out")" = true ] \
  && api GET /v1/admin/audit \
  && [ "$(jq -c '[.money[] | [.currency, .inside.minor]]' resp.json)" = "$(jq -c '[.money[] | [.currency, .inside_minor]]' <<<"$out")" ] \
  && ok "the money per currency: each shard's, summed, as offpayd says" || fail "money: $out $(cat resp.json)"
# a shard whose money does not add up is named
shard_sql 1 "UPDATE credentials SET remaining = remaining + 1 WHERE serial = $S4" >/dev/null
run_cli 1 'shard 1: .*FAILED' -- "$OFFPAY" admin audit --db "$LEDGER"
shard_sql 1 "UPDATE credentials SET remaining = remaining - 1 WHERE serial = $S4" >/dev/null
run_cli 0 'audit passed' -- "$OFFPAY" admin audit --db "$LEDGER"

# ---- I. a terminal rotated: every shard knows at once --------------------
# the new terminal's uploads settle on shard 1, the old one's are refused
# there (the directory is copied to every shard before rotate answers)
new_wallet w5 "$W2" 20.00; S5=$SERIAL
[ "$S5" -ge "$R1" ] && ok "wallet 5's credential on shard 1 (W2's account)" || fail "S5 $S5"
term_init tc
cp -a ta ta-copy # a copy that will not learn of the rotation (a spare till)
via 1
run_cli 0 'rotated: tc is terminal [0-9]+ with the new key; ta is revoked' -- \
  "$OFFPAY" terminal rotate --terminal ta --passphrase-file tp --server "$URL" --new-terminal tc
c=$(pay w5 2.00); accept tc "$c" 2.00 || fail "tc accept"
c=$(pay w5 3.00)
run_cli 1 "ETERMINAL_REVOKED" -- "$OFFPAY" terminal accept --terminal ta --code "$c" --amount 3.00
rm -rf ta; mv ta-copy ta # from here ta is the copy, which never heard
accept ta "$c" 3.00 || fail "ta's copy, revoked but never told, accept"
via 2; upload tc
[ "$status" = 200 ] && [ "$(outcomes)" = settled ] \
  && ok "the new terminal's payment settles on shard 1 (through process 2)" \
  || fail "tc upload: $status $(cat resp.json)"
upload ta
[ "$status" = 200 ] && [ "$(jq -r '.results[-1].outcome + " " + .results[-1].reason' resp.json)" = "rejected ETERMINAL_REVOKED" ] \
  && ok "the old terminal's later payment is refused on shard 1" \
  || fail "ta upload: $status $(cat resp.json)"
KC=$("$OFFPAY" terminal key --terminal tc --passphrase-file tp)
TC=$(shard_sql 0 "SELECT id FROM terminals WHERE pk = decode('$KC', 'hex')")
for k in 0 1; do
  got=$(shard_sql $k "SELECT t.retired || '/' || t.rotated_to FROM terminals t JOIN terminals n ON n.id = t.rotated_to WHERE n.id = $TC")
  [ "$got" = "2/$TC" ] && ok "shard $k: ta is recorded as rotated to tc (terminal $TC)" \
    || fail "shard $k: ta's rotation record: '$got'"
done
n0=$(shard_sql 0 "SELECT count(*) FROM terminals")
via 2   # (exit 1: its final upload had the copy's 3.00 refused)
run_cli 1 "rotated: tc is terminal $TC with the new key" -- \
  "$OFFPAY" terminal rotate --terminal ta --passphrase-file tp --server "$URL" --new-terminal tc
[ "$(shard_sql 0 "SELECT count(*) FROM terminals")" = "$n0" ] \
  && [ "$(shard_sql 1 "SELECT count(*) FROM terminals")" = "$n0" ] \
  && ok "the rotation asked again registered nothing on either shard" \
  || fail "terminals after the retry: $(shard_sql 0 "SELECT count(*) FROM terminals") / $(shard_sql 1 "SELECT count(*) FROM terminals"), were $n0"
audit_passes "after the rotation"

# ---- J. a split deposit stopped part-way, retried under its key ----------
# A trigger on shard 1 fails every transfer insert while test_fault holds a
# row: the injected fault of a shard that went away mid-request.
shard_sql 1 "CREATE TABLE test_fault (x int);
  CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS
    \$\$ BEGIN IF EXISTS (SELECT 1 FROM test_fault) THEN
      RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END \$\$;
  CREATE TRIGGER test_fault BEFORE INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION test_fault();
  INSERT INTO test_fault VALUES (1)" >/dev/null
# a terminal's sync while shard 1 fails: its payment (w5, shard 1) is not
# decided, nothing moves, and the sync exits 3 saying so; once the shard
# works again, the next sync settles it
c=$(pay w5 1.50); accept tc "$c" 1.50 || fail "tc accept 1.50"
e5=$(remaining "$S5")
run_cli 3 '1 payment\(s\) not decided by offpayd' -- \
  "$OFFPAY" terminal sync --terminal tc --passphrase-file tp --server "$URL"
[ "$(remaining "$S5")" = "$e5" ] && ok "nothing taken from w5's escrow while shard 1 fails" \
  || fail "escrow of $S5: $(remaining "$S5"), was $e5"
shard_sql 1 "DELETE FROM test_fault" >/dev/null
run_cli 0 '1 decided \(1 paid, 1.50 EUR.*0 left to upload' -- \
  "$OFFPAY" terminal sync --terminal tc --passphrase-file tp --server "$URL"
[ "$(remaining "$S5")" = $((e5 - 150)) ] && ok "settled once shard 1 is back" \
  || fail "escrow of $S5 after: $(remaining "$S5")"
shard_sql 1 "INSERT INTO test_fault VALUES (1)" >/dev/null
g0=$(balance "$G")
api_once fund-j POST "/v1/admin/accounts/$G/deposit" '{"amount":"10.01","ref":"bank 77"}'
[ "$status" -ge 500 ] && ok "deposit of 10.01 fails on shard 1 ($status $(jget .error))" \
  || fail "deposit with shard 1 failing: $status $(cat resp.json)"
[ "$(balance "$G")" = $((g0 + 501)) ] && ok "shard 0 booked its part (5.01) before the failure" \
  || fail "guarantee after the failure: $(balance "$G") (was $g0)"
shard_sql 1 "DELETE FROM test_fault" >/dev/null
api_once fund-j POST "/v1/admin/accounts/$G/deposit" '{"amount":"10.01","ref":"bank 77"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && [ "$(balance "$G")" = $((g0 + 1001)) ] \
  && ok "the retry books only shard 1's missing 5.00: 10.01 in all" \
  || fail "retry: $status $(cat resp.json), guarantee $(balance "$G")"
api_once fund-j POST "/v1/admin/accounts/$G/deposit" '{"amount":"10.01","ref":"bank 77"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(balance "$G")" = $((g0 + 1001)) ] \
  && ok "a third try moves nothing (replayed)" || fail "third: $status $(cat resp.json)"
[ "$(shard_sql 0 "SELECT count(*) FROM request_keys WHERE request_key = 'operator/fund-j'")" = 1 ] &&
[ "$(shard_sql 1 "SELECT count(*) FROM request_keys WHERE request_key = 'operator/fund-j'")" = 1 ] \
  && ok "each shard holds the key of the part it booked" || fail "request_keys rows"
# A keyed withdrawal that shard 0 cannot pay is taken from shard 1; shard 0
# books that it passed. Funds arrive on shard 0; the resend replays shard
# 1's transfer instead of taking the money again from shard 0.
g1=$(balance "$G")
api_once wd-j POST "/v1/admin/accounts/$G/withdraw" '{"amount":"100.00"}'
t1=$(jget .transfer)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && [ "$(balance "$G")" = $((g1 - 10000)) ] \
  && ok "withdrawal wd-j of 100.00: shard 0 short, paid by shard 1" || fail "wd-j: $status $(cat resp.json)"
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"200.00"}'
api_once wd-j POST "/v1/admin/accounts/$G/withdraw" '{"amount":"100.00"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .transfer)" = "$t1" ] \
  && [ "$(balance "$G")" = $((g1 + 10000)) ] \
  && ok "wd-j resent after shard 0 was funded: replayed (transfer $t1), nothing taken again" \
  || fail "wd-j resent: $status $(cat resp.json), guarantee $(balance "$G")"
# A merchant's withdrawal is taken whole from one shard: under a key, a
# shard that cannot pay books that it passed. Funds arrive on shard 0; the
# resend replays shard 1's transfer instead of taking the money again from
# shard 0.
part() { shard_sql "$1" "SELECT coalesce(sum(CASE WHEN credit = $MA THEN amount ELSE -amount END), 0) FROM transfers WHERE $MA IN (debit, credit)"; }
p0=$(part 0); p1=$(part 1)
echo "# merchant A's parts: shard 0 $p0, shard 1 $p1"
[ "$p1" -gt 0 ] || fail "merchant A holds nothing on shard 1 here: the scenario needs it"
if [ "$p0" -gt 0 ]; then
  api POST "/v1/admin/accounts/$MA/withdraw" "{\"amount\":\"$(printf '%d.%02d' $((p0 / 100)) $((p0 % 100)))\"}"
  expect_http 200 - "merchant A paid out its part on shard 0"
fi
m1=$(balance "$MA")
amt=$(printf '%d.%02d' $((p1 / 100)) $((p1 % 100)))
api_once wd-m POST "/v1/admin/accounts/$MA/withdraw" "{\"amount\":\"$amt\"}"
t1=$(jget .transfer)
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && [ "$(balance "$MA")" = $((m1 - p1)) ] \
  && ok "withdrawal wd-m of $amt: shard 0 short, paid by shard 1" || fail "wd-m: $status $(cat resp.json)"
api POST "/v1/admin/accounts/$MA/deposit" "{\"amount\":\"$amt\"}"
api_once wd-m POST "/v1/admin/accounts/$MA/withdraw" "{\"amount\":\"$amt\"}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .transfer)" = "$t1" ] \
  && [ "$(balance "$MA")" = "$m1" ] \
  && ok "wd-m resent after shard 0 was funded: replayed (transfer $t1), nothing taken again" \
  || fail "wd-m resent: $status $(cat resp.json), merchant $(balance "$MA")"
api_once wd-j POST "/v1/admin/accounts/$W2/withdraw" '{"amount":"100.00"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "wd-j for another account's withdrawal"
api_once wd-j POST "/v1/admin/accounts/$G/withdraw" '{"amount":"99.99"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "wd-j for another amount"
# a key booked on shard 0 and 1 (fund-j) reused for a credential issued on
# shard 1 (W2's): refused before any escrow is funded
w2b=$(balance "$W2")
api_once fund-j POST /v1/admin/credentials \
  "{\"account\":\"$W2\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w2 --passphrase-file wp)\",\"limit\":\"1.00\"}"
expect_http 422 IDEMPOTENCY_KEY_REUSED "fund-j reused for a credential on shard 1"
[ "$(balance "$W2")" = "$w2b" ] && ok "no escrow funded from W2" || fail "W2 $(balance "$W2"), was $w2b"
# the same key for a wallet deposit (one shard) is refused
api_once fund-j POST "/v1/admin/accounts/$W2/deposit" '{"amount":"10.01"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "the guarantee's key reused for a wallet on shard 1"
shard_sql 1 "DROP TRIGGER test_fault ON transfers; DROP FUNCTION test_fault(); DROP TABLE test_fault" >/dev/null
audit_passes "after the retried deposit"

# ---- K. the shard map checked against the ledger's ------------------------
recorded() { shard_sql "$1" "SELECT string_agg(first || '-' || last, ' ' ORDER BY first) FROM shard_map"; }
[ "$(recorded 0)" = "1-999999999 $R1-1999999999" ] && [ "$(recorded 1)" = "$(recorded 0)" ] \
  && ok "both shards record the map's ranges: $(recorded 0)" \
  || fail "recorded: '$(recorded 0)' / '$(recorded 1)'"
n_before=$(shard_sql 0 "SELECT count(*) FROM transfers")
printf 'shard 1-999999999 %s\n' "$SH0" > missing.conf
run_cli 3 "missing.conf names no shard for some of the serials $R1-1999999999" -- \
  "$OFFPAYD" --shards missing.conf --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token
run_cli 3 "does not match the ledger's shards.*ESHARD_MAP" -- \
  "$OFFPAY" admin audit --shards missing.conf
printf 'shard 1-999999999 %s\nshard %s-1999999999 %s\n' "$SH1" "$R1" "$SH0" > swapped.conf
run_cli 3 "the database of shard 0 \\(serials 1-999999999\\) is the shard of the serials $R1-1999999999" -- \
  "$OFFPAYD" --shards swapped.conf --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token
printf 'shard 1-1999999999 %s\n' "$SH0" > merged.conf
run_cli 3 "over the ranges 1-999999999 and $R1-1999999999" -- \
  "$OFFPAY" admin audit --shards merged.conf
psql -q -X -v ON_ERROR_STOP=1 "${PG[1]}postgres" \
    -c "CREATE DATABASE \"${pg_prefix}_shard3\"" >/dev/null
printf 'shard 1-999999999 %s\nshard %s-1999999999 %s\n' "$SH0" "$R1" "${PG[1]}${pg_prefix}_shard3" > typo.conf
run_cli 3 "the database of shard 1 \\(serials $R1-1999999999\\) was no shard of this ledger" -- \
  "$OFFPAYD" --shards typo.conf --issuer iss --passphrase-file ip \
    --root iss/root.pub --token-file token
run_cli 3 'one of the 2 shards of a sharded ledger.*--shards FILE' -- \
  "$OFFPAY" admin audit --db "$SH1"
seqmax() { shard_sql "$1" "SELECT seqmax FROM pg_sequence WHERE seqrelid = pg_get_serial_sequence('accounts', 'id')::regclass"; }
[ "$(recorded 0)" = "1-999999999 $R1-1999999999" ] && [ "$(recorded 1)" = "$(recorded 0)" ] \
  && [ "$(shard_sql 0 "SELECT count(*) FROM transfers")" = "$n_before" ] \
  && [ "$(seqmax 0)" = 999999999 ] && [ "$(seqmax 1)" = 1999999999 ] \
  && [ "$(psql -q -X -A -t "${PG[1]}${pg_prefix}_shard3" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] \
  && ok "the refused maps changed nothing (recorded ranges, rows, id ranges; no table in the empty database)" \
  || fail "after the refused maps: '$(recorded 0)' / '$(recorded 1)', seqmax $(seqmax 0) $(seqmax 1)"
# before any map was recorded (a ledger made before migration 007): two
# swapped URLs are still refused, by the ids each database assigned,
# and nothing is bound to the wrong range
for k in 0 1; do shard_sql "$k" "DELETE FROM shard_map" >/dev/null; done
run_cli 3 "its accounts reached id [0-9]+, outside this shard's range" -- \
  "$OFFPAY" admin audit --shards swapped.conf
[ "$(seqmax 0)" = 999999999 ] && [ "$(seqmax 1)" = 1999999999 ] && [ -z "$(recorded 0)" ] \
  && ok "nothing bound or recorded for the swapped map" || fail "seqmax $(seqmax 0) $(seqmax 1), recorded '$(recorded 0)'"
# six opens at once of the unrecorded ledger: one at a time records the map
# (a lock on shard 0), none is refused
pids=()
for i in 1 2 3 4 5 6; do
  "$OFFPAY" admin audit --shards shards.conf >"open$i.out" 2>&1 & pids+=($!)
done
bad=0; for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
[ "$bad" = 0 ] && [ "$(recorded 0)" = "1-999999999 $R1-1999999999" ] && [ "$(recorded 1)" = "$(recorded 0)" ] \
  && ok "six opens at once: all pass, the map recorded once" \
  || fail "$bad of six concurrent opens failed: $(cat open*.out | grep -v passed | head -5)"
# a third shard at the end: recorded; leaving it out again is refused
psql -q -X -v ON_ERROR_STOP=1 "${PG[0]}postgres" \
    -c "CREATE DATABASE \"${pg_prefix}_shard2\"" >/dev/null
SH2="${PG[0]}${pg_prefix}_shard2"
{ cat shards.conf; echo "shard 2000000000-2999999999 $SH2"; } > grown.conf
run_cli 3 'shard 2 \(serials 2000000000-2999999999\) holds no offpay ledger' -- \
  "$OFFPAY" admin audit --shards grown.conf
# a first start with the new map cut short once the new database holds
# its schema and record (a trigger on shard 0 fails its write): neither
# the old map nor the new one is stuck
shard_sql 0 "CREATE FUNCTION test_fault_map() RETURNS trigger LANGUAGE plpgsql AS
    \$\$ BEGIN RAISE EXCEPTION 'injected fault'; END \$\$;
  CREATE TRIGGER test_fault_map BEFORE INSERT ON shard_map
    FOR EACH ROW EXECUTE FUNCTION test_fault_map()" >/dev/null
run_cli 3 'ESTORE' -- "$OFFPAYD" --shards grown.conf --issuer iss --passphrase-file ip \
  --root iss/root.pub --token-file token
shard_sql 0 "DROP TRIGGER test_fault_map ON shard_map; DROP FUNCTION test_fault_map()" >/dev/null
[ "$(psql -q -X -A -t "$SH2" -c "SELECT string_agg(first || '-' || last || '/' || here, ' ' ORDER BY first) FROM shard_map")" \
    = "1-999999999/0 $R1-1999999999/0 2000000000-2999999999/1" ] && [ "$(recorded 0)" = "1-999999999 $R1-1999999999" ] \
  && ok "the cut-short start recorded the map on the new shard only" || fail "records after the cut-short start"
run_cli 0 'audit passed' -- "$OFFPAY" admin audit --shards shards.conf
LEDGER="shards:$work/grown.conf"; start_server; stop_server; via 1  # then it starts
run_cli 0 'shard 2: .*passed' -- "$OFFPAY" admin audit --shards grown.conf
[ "$(recorded 1)" = "1-999999999 $R1-1999999999 2000000000-2999999999" ] \
  && ok "the added shard is recorded on the others" || fail "recorded after growing: '$(recorded 1)'"
# the added shard has no guarantee account yet (it covered nothing):
# reading the guarantee's balance and history skips it and makes none
run_cli 0 "account $G: guarantee, balance [0-9]+\.[0-9]{2} EUR" -- \
  "$OFFPAY" admin transfers --shards grown.conf --account "$G"
start_server                 # (on the grown map) the balance over the shards
api GET "/v1/admin/accounts/$G"
[ "$status" = 200 ] && [ "$(jget .kind)" = guarantee ] \
  && ok "the guarantee's balance over three shards: $(jget .balance.decimal)" \
  || fail "guarantee balance on the grown map: $status $(cat resp.json)"
stop_server; via 1
[ "$(psql -q -X -A -t "$SH2" -c "SELECT count(*) FROM accounts WHERE kind = 5")" = 0 ] \
  && ok "reading the guarantee made no guarantee account on the added shard" \
  || fail "a read made a guarantee account on shard 2"
# the operator sees it among the guarantee's parts: POST /v1/admin/guarantee
# makes the added shard's (empty) for the next deposit to fund
start_server
api POST /v1/admin/guarantee '{"currency":"EUR"}'
[ "$status" = 200 ] && [ "$(jq -c '[.shards[].shard]' resp.json)" = "[0,1,2]" ] \
  && [ "$(jq -r '.shards[2].balance.minor' resp.json)" = 0 ] \
  && ok "the guarantee's parts show the added shard's, empty" || fail "parts on the grown map: $(cat resp.json)"
stop_server; via 1
run_cli 3 'names no shard for some of the serials 2000000000-2999999999' -- \
  "$OFFPAY" admin audit --shards shards.conf
# retired as docs/scaling.md says (it holds no wallet): its range deleted
# from every shard's record, then the map without it opens
for k in 0 1; do shard_sql "$k" "DELETE FROM shard_map WHERE first = 2000000000" >/dev/null; done
run_cli 0 'audit passed' -- "$OFFPAY" admin audit --shards shards.conf

# ---- L. the directory copy: only what a shard lacks, and nothing missed ---
# A registration copies the rows above the shard's highest ids (not every
# row again); a row committed out of id order (two registrations at once)
# is found by the counts and the whole directory copied.
via 1
m=$(shard_sql 0 "SELECT max(id) FROM terminals")
shard_sql 0 "INSERT INTO terminals (id, merchant, pk, created_at) VALUES ($((m + 1000)), $MID, decode(md5('late') || md5('row'), 'hex'), 1)" >/dev/null
new_terminal te "$MID"; TE=$TID
[ "$TE" = $((m + 1)) ] && [ "$(shard_sql 1 "SELECT count(*) FROM terminals WHERE id IN ($TE, $((m + 1000)))")" = 2 ] \
  && ok "a new terminal ($TE) and the rows above it reach shard 1" \
  || fail "te $TE: shard 1 holds $(shard_sql 1 "SELECT string_agg(id::text, ' ') FROM terminals WHERE id > $m")"
new_terminal tf "$MID"; TF=$TID
[ "$(shard_sql 1 "SELECT count(*) FROM terminals WHERE id = $TF")" = 1 ] \
  && [ "$(shard_sql 1 "SELECT count(*) FROM terminals")" = "$(shard_sql 0 "SELECT count(*) FROM terminals")" ] \
  && ok "terminal $TF, below shard 1's highest id, found by the counts and copied" \
  || fail "tf $TF missing on shard 1"
api POST "/v1/admin/terminals/$TF/revoke" '{"reason":"sold with the shop"}'
[ "$(shard_sql 1 "SELECT revoked_at IS NOT NULL FROM terminals WHERE id = $TF")" = t ] \
  && [ "$(shard_sql 1 "SELECT revoke_reason FROM terminals WHERE id = $TF")" = "sold with the shop" ] \
  && [ "$(jget .revoke_reason)" = "sold with the shop" ] \
  && ok "its revocation copied to shard 1, with its reason" || fail "tf's revocation on shard 1: $(cat resp.json)"
# A revocation is written to shard 1 before the directory: one that fails
# on shard 1 (a trigger refuses the write) is made nowhere, so no shard
# refuses the terminal while another pays it (committed on shard 0 first,
# it was answered 503 with shard 0 revoked and shard 1 paying on); one
# that fails on shard 0 after shard 1 took it is finished by the next
# call, with shard 1's time and reason.
fault_on() {
  shard_sql "$1" "CREATE FUNCTION test_fault_rev() RETURNS trigger LANGUAGE plpgsql AS
      \$\$ BEGIN RAISE EXCEPTION 'injected fault'; END \$\$;
    CREATE TRIGGER test_fault_rev BEFORE UPDATE ON terminals
      FOR EACH ROW EXECUTE FUNCTION test_fault_rev()" >/dev/null
}
fault_off() { shard_sql "$1" "DROP TRIGGER test_fault_rev ON terminals; DROP FUNCTION test_fault_rev()" >/dev/null; }
rev_at() { shard_sql "$1" "SELECT coalesce(revoked_at::text, 'none') FROM terminals WHERE id = $TE"; }
rev_why() { shard_sql "$1" "SELECT coalesce(revoke_reason, 'none') FROM terminals WHERE id = $TE"; }
fault_on 1
api POST "/v1/admin/terminals/$TE/revoke" '{"reason":"refused on shard 1"}'
[ "$status" = 503 ] && [ "$(rev_at 0)" = none ] && [ "$(rev_at 1)" = none ] \
  && ok "a revocation shard 1 refused: 503, revoked on neither shard" \
  || fail "revocation with shard 1 failing: $status $(cat resp.json); shard 0 $(rev_at 0), shard 1 $(rev_at 1)"
fault_off 1
fault_on 0
api POST "/v1/admin/terminals/$TE/revoke" '{"reason":"taken by shard 1"}'
t1=$(rev_at 1)
[ "$status" = 503 ] && [ "$(rev_at 0)" = none ] && [ "$t1" != none ] && [ "$(rev_why 1)" = "taken by shard 1" ] \
  && ok "a revocation shard 0 refused: 503, shard 1 refuses the terminal from $t1, for its reason" \
  || fail "revocation with shard 0 failing: $status $(cat resp.json); shard 0 $(rev_at 0), shard 1 $t1"
fault_off 0
# not sent again: the release job finishes it in the directory, at shard
# 1's time (else the shards disagree until it is, and every directory
# copy copies every row)
api POST /v1/admin/release '{}'
[ "$status" = 200 ] && [ "$(rev_at 0)" = "$t1" ] && [ "$(rev_why 0)" = "taken by shard 1" ] \
  && grep -q "1 terminal revocation(s) shard 1 held and the directory did not" server.err \
  && ok "the release job finishes it in the directory at $t1 with shard 1's reason, and says so" \
  || fail "release job after a revocation shard 0 refused: $status; shard 0 $(rev_at 0), shard 1 $t1; $(grep -i revocation server.err | tail -2)"
sleep 1
api POST "/v1/admin/terminals/$TE/revoke" '{"reason":"sent again"}'
[ "$status" = 200 ] && [ "$(jget .revoked_at)" = "$t1" ] && [ "$(rev_at 0)" = "$t1" ] \
  && [ "$(jget .revoke_reason)" = "taken by shard 1" ] && [ "$(rev_why 0)" = "taken by shard 1" ] \
  && ok "sent again: revoked on both shards at shard 1's time ($t1), for its first reason" \
  || fail "revocation retried: $status $(cat resp.json); shard 0 $(rev_at 0), shard 1 $t1"
audit_passes "after the map checks and the directory copies"


# skip-ids (after a restore, docs/operations.md §5): each shard's next
# serial moves, within its range; past a range it is refused, nothing
# moved on that shard
next_serial() { shard_sql "$1" "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM credentials_serial_seq"; }
n0=$(next_serial 0); n1=$(next_serial 1)
run_cli 0 "the next credential serial is now $((n0 + 10)), the next terminal id [0-9]+ \(10 past where they stood\)" -- \
  "$OFFPAY" admin skip-ids --shards shards.conf --by 10
[ "$(next_serial 1)" = $((n1 + 10)) ] && ok "shard 1's next serial moved too: $((n1 + 10))" \
  || fail "shard 1's next serial: $(next_serial 1), want $((n1 + 10))"
run_cli 3 "moving by 1000000000 passes the ids a shard" -- \
  "$OFFPAY" admin skip-ids --shards shards.conf --by 1000000000
[ "$(next_serial 0)" = $((n0 + 10)) ] && ok "past shard 0's range: nothing moved there" \
  || fail "shard 0 after a refused skip: $(next_serial 0)"

# ---- M. one key for two requests at once, on two shards -------------------
# A key is claimed on shard 0 before its request books anything (since
# 0.13.0). A third process holds each keyed request 3 s between the claim
# and the booking (a test hook); a deposit to W2 (shard 1) under the same
# key, sent meanwhile through process 1, is refused and moves nothing.
# (Before, both passed the look at the shards, and both were booked; each
# one's resend was then refused, though it had moved money.)
LEDGER="shards:$work/shards.conf"
OFFPAY_TEST_CLAIM_DELAY_MS=3000 start_server; U[3]=$URL; p3=$server_pid; server_pid=
w1b=$(balance "$W1"); w2b=$(balance "$W2")
curl -s -o race1.json -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  -H "Idempotency-Key: race-k" --data-binary '{"amount":"1.00"}' \
  "${U[3]}/v1/admin/accounts/$W1/deposit" > race1.code &
rp=$!
sleep 1
via 1
api_once race-k POST "/v1/admin/accounts/$W2/deposit" '{"amount":"2.00"}'
expect_http 422 IDEMPOTENCY_KEY_REUSED "the key of a deposit to W1 still under way, for W2 on shard 1"
wait "$rp" || true
[ "$(cat race1.code)" = 200 ] && [ "$(balance "$W1")" = $((w1b + 100)) ] && [ "$(balance "$W2")" = "$w2b" ] \
  && ok "the first request booked its 1.00 to W1; W2 got nothing" \
  || fail "race: $(cat race1.code) $(cat race1.json); W1 $(balance "$W1") (was $w1b), W2 $(balance "$W2") (was $w2b)"
api_once race-k POST "/v1/admin/accounts/$W1/deposit" '{"amount":"1.00"}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(balance "$W1")" = $((w1b + 100)) ] \
  && ok "its resend replays it" || fail "resend: $status $(cat resp.json)"
kill "$p3"; wait "$p3" 2>/dev/null || true
audit_passes "after a key claimed at once for two shards"

# ---- N. a lost wallet's key gets no credential from a shard-1 account ----
# An enrolled key lives on shard 0 (settlement.md §11 rule 10); its report
# revokes its credentials on every shard (one issued from W2, shard 1,
# before it too), and once it is reported lost the operator cannot issue
# it a credential from W2 (shard 1) either: 409 EWALLET_LOST, nothing
# moves (read on shard 0 first).
via 1
api POST /v1/admin/enrollments '{"currency":"EUR"}'
wallet_init w9
w enroll w9 --server "$URL" --code "$(jget .code)"
W9=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
# before the report, the operator issued the key a credential from W2:
# it lives on shard 1, and the loss report revokes it there too
api POST /v1/admin/credentials "{\"account\":\"$W2\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w9 --passphrase-file wp)\",\"limit\":\"1.00\"}"
expect_http 200 - "w9's credential from W2 (shard 1), before the report"
S9=$(jget .serial)
# and one from W1, on shard 0
api POST /v1/admin/credentials "{\"account\":\"$W1\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w9 --passphrase-file wp)\",\"limit\":\"1.00\"}"
expect_http 200 - "w9's credential from W1 (shard 0), before the report"
S9a=$(jget .serial)
# the wallet's status lists it beside its shard-0 ones, and its restore
# floor is handed out on its own shard (both read shard 0 only before)
wreq w9 /v1/wallet/status '{}'
[ "$status" = 200 ] && jq -e --arg s "$S9" '[.credentials[].serial] | index($s) != null' resp.json >/dev/null \
  && [ "$(jq -c '[.credentials[].serial | tonumber] | . == (sort | reverse)' resp.json)" = true ] \
  && [ "$(jget .credentials_open)" = 2 ] && [ "$(jget '.credentials | length')" = 2 ] \
  && ok "w9's status lists its credential $S9 on shard 1, the newest first, counted on both shards" \
  || fail "w9 status: $status $(cat resp.json)"
# its pages (since 0.19.0) walk both shards in ascending serial, the
# first counting them on both
wreq w9 /v1/wallet/credentials '{"limit":1}'
p1=$(jget '.credentials[0].serial'); a1=$(jget .next_after); n9=$(jget .credentials_total)
wreq w9 /v1/wallet/credentials "{\"after\":\"$(jget .next_after)\",\"limit\":500}"
[ "$status" = 200 ] && [ "$n9" = 2 ] && [ "$a1" = "$p1" ] && [ "$p1" = "$S9a" ] \
  && [ "$(jq -c --arg p "$p1" '[$p] + [.credentials[].serial]' resp.json | jq -c 'map(tonumber) | . == sort')" = true ] \
  && [ "$(( $(jget '.credentials | length') + 1 ))" = "$n9" ] \
  && [ "$(jq -r '.credentials[-1].serial' resp.json)" = "$S9" ] && [ "$(jget .next_after)" = null ] \
  && ok "w9's credentials a page at a time: $S9a (shard 0), then $S9 (shard 1)" \
  || fail "w9 pages: $status $(cat resp.json)"
wreq w9 /v1/wallet/restore-floor "{\"serial\":\"$S9\"}"
[ "$status" = 200 ] && [ "$(jget .serial)" = "$S9" ] && [ "$(jget .floor)" -ge 100 ] \
  && ok "w9's restore floor of $S9, on shard 1: $(jget .floor)" || fail "w9 restore floor: $status $(cat resp.json)"
w report-lost w9
[ -n "$W9" ] && [ "$W9" -lt "$R1" ] && [ "$ws" = 0 ] \
  && ok "a wallet enrolled on shard 0 ($W9), reported lost" || fail "w9: $ws $(cat w.out)"
api GET "/v1/admin/credentials/$S9"
[ "$S9" -ge "$R1" ] && [ "$(jget .revoked)" = true ] \
  && ok "its credential $S9 on shard 1 revoked by the report" \
  || fail "credential $S9 after the report: $(cat resp.json)"
w2b=$(balance "$W2")
api POST /v1/admin/credentials "{\"account\":\"$W2\",\"wallet_key\":\"$("$OFFPAY" wallet key --wallet w9 --passphrase-file wp)\",\"limit\":\"1.00\"}"
expect_http 409 EWALLET_LOST "the lost key's credential from W2 on shard 1"
[ "$(balance "$W2")" = "$w2b" ] && ok "W2 keeps its $w2b" || fail "W2: $(balance "$W2"), was $w2b"

# ---- O. a claim on shard 1's part of the guarantee ---------------------
# Each shard's part pays its own shard's claims (settlement.md §5, §11 rule
# 6). Both parts emptied (a withdrawal is taken whole from the first part
# that covers it: shard 0's, then shard 1's), a copy of w10 (W2, shard 1)
# overspends its 2.00 escrow:
# step                                          esc     MA      parts   owed
# w10 pays 1.50 at tc, its copy 1.50 at tb      200     m       0 0     0
# tc uploads; tb uploads: 0.50 paid, EFUNDS     0       m+200   0 0     1.00
# deposit 10.00 into the guarantee              0       m+300   500 400 0
# deposit 1.00 more; the release job            0       m+300   550 450 0
via 1
eur() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }
parts() { api POST /v1/admin/guarantee '{"currency":"EUR"}'; jq -c '[.shards[].balance.minor]' resp.json; }
for k in 0 1; do
  p=$(parts | jq ".[$k]")
  [ "$p" = 0 ] || api POST "/v1/admin/accounts/$G/withdraw" "{\"amount\":\"$(eur "$p")\"}"
done
[ "$(parts)" = "[0,0]" ] && ok "the guarantee's parts both emptied" || fail "parts: $(parts)"
# a withdrawal that empties one part while the other holds money says so
# (since 0.28.0): each part pays its own shard's overspends alone
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"0.02"}'
api POST "/v1/admin/accounts/$G/withdraw" '{"amount":"0.01"}'
jget .warning | grep -qF "the EUR guarantee holds 0.01 EUR now and owes 0.00 EUR in 0 open claim(s); the part of shard(s) 0 is empty, and a shard's part alone pays its own shard's overspends" \
  && ok "the withdrawal that empties shard 0's part says so, 0.01 still held" || fail "sharded withdrawal warning: $(cat resp.json)"
api POST "/v1/admin/accounts/$G/withdraw" '{"amount":"0.01"}'
[ "$(parts)" = "[0,0]" ] || fail "parts again: $(parts)"
new_wallet w10 "$W2" 2.00; S10=$SERIAL
[ "$S10" -ge "$R1" ] || fail "w10's credential $S10 not on shard 1"
cp w10 w10copy; cp w10.log w10copy.log
c=$(pay w10 1.50); accept tc "$c" 1.50 || fail "tc accepts w10's 1.50"
pay w10copy 0.01 >/dev/null   # its counter, never shown
c=$(pay w10copy 1.50); accept tb "$c" 1.50 || fail "tb accepts the copy's 1.50"
m0=$(balance "$MA")
upload tc
[ "$(jq -r '.results[-1].outcome' resp.json)" = settled ] || fail "tc: $(jq -c '.results[-1]' resp.json)"
upload tb
PO=$(jq -r '.results[-1].presentment' resp.json)
[ "$(jq -c '.results[-1] | [.outcome, .reason, .paid.minor, .covered.minor]' resp.json)" = '["unpaid","EFUNDS",50,0]' ] \
  && [ "$PO" -ge "$R1" ] \
  && ok "the copy's 1.50 on shard 1: unpaid EFUNDS, 0.50 from the escrow, 1.00 owed" \
  || fail "tb (claim): $(jq -c '.results[-1]' resp.json)"
api GET /v1/admin/audit
[ "$(jq -c '.money[] | select(.currency == "EUR") | .guarantee_owed.minor' resp.json)" = 100 ] && [ "$(jget .ok)" = true ] \
  && ok "the audit: the guarantee owes 1.00" || fail "audit owed: $(cat resp.json)"
balances "MA=$MA:$((m0 + 200)) esc=esc/$S10:0" "1.50 and 0.50 paid, the claim not yet"
# the guarantee's view over both shards (since 0.28.0): its balance and
# history summed over the parts, the claim on shard 1 named, its opening
# and movements adding up to its closing balance
api GET "/v1/admin/guarantee?currency=EUR"
[ "$(jq -c '[.account, .balance.minor, .owed.count, .owed.amount.minor, .claims[0].presentment, .claims[0].serial]' resp.json)" = "[\"$G\",0,1,100,\"$PO\",\"$S10\"]" ] \
  && [ "$(jq '.opening_balance.minor + .covered.amount.minor + .claims_paid.amount.minor + .refunds.amount.minor + .deposits.minor + .withdrawals.minor + .other.minor - .closing_balance.minor' resp.json)" = 0 ] \
  && [ "$(jq '.transfers_count' resp.json)" = "$(jq '.transfers | length' resp.json)" ] \
  && [ "$(jq -c --arg s "$S10" '[.losses[] | select(.serial == $s) | [.owed.minor, .net_loss.minor]][0]' resp.json)" = "[100,100]" ] \
  && ok "GET /v1/admin/guarantee over both shards: 0.00 held, the 1.00 claim on shard 1 owed, its loss on $S10" \
  || fail "sharded guarantee view: $(cat resp.json)"
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"10.00"}'
expect_http 200 - "10.00 into the guarantee, 5.00 a part"
[ "$(balance "$MA")" = $((m0 + 300)) ] && [ "$(parts)" = "[500,400]" ] \
  && [ "$(shard_sql 1 "SELECT count(*) || '|' || sum(amount) FROM transfers WHERE kind = 'claim' AND presentment = $PO AND credit = $MA")" = "1|100" ] \
  && [ "$(shard_sql 0 "SELECT count(*) FROM transfers WHERE kind = 'claim'")" = 0 ] \
  && grep -q "the guarantee of EUR on shard 1 paid 1 claim(s) on it, 1.00 EUR" server.err \
  && ok "the deposit paid the 1.00 owed from shard 1's part (parts 5.00 and 4.00), and the log says so" \
  || fail "the claim after the deposit: merchant $(balance "$MA") (want $((m0 + 300))), parts $(parts)"
api GET "/v1/admin/merchants/$MID/statement"
[ "$(jq -c --arg p "$PO" '.lines[] | select(.presentment == $p) | [.outcome, .paid.minor, .paid_later.minor, (.paid_later_at > 0)]' resp.json)" = '["unpaid",50,100,true]' ] \
  && ok "its statement line: 0.50 paid, 1.00 paid later" || fail "statement line $PO: $(jq -c --arg p "$PO" '.lines[] | select(.presentment == $p)' resp.json)"
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"1.00"}'
api POST /v1/admin/release '{}'
[ "$(balance "$MA")" = $((m0 + 300)) ] && [ "$(parts)" = "[550,450]" ] \
  && [ "$(shard_sql 1 "SELECT count(*) FROM transfers WHERE kind = 'claim'")" = 1 ] \
  && ok "a second deposit and the release job pay nothing more" \
  || fail "after the second deposit: merchant $(balance "$MA"), parts $(parts)"
api GET /v1/admin/audit
[ "$(jq -c '.money[] | select(.currency == "EUR") | .guarantee_owed.minor' resp.json)" = 0 ] \
  && ok "the audit: nothing owed" || fail "audit owed after: $(cat resp.json)"
audit_passes "a claim on shard 1's guarantee, paid"

# The marking job ran on both shards: each holds transfer marks and the
# balance marks of merchant accounts, all of which the audits above
# checked against the transfers.
for k in 0 1; do
  n=$(shard_sql "$k" "SELECT count(*) FROM transfer_marks")
  b=$(shard_sql "$k" "SELECT count(*) FROM balance_marks m JOIN accounts a ON a.id = m.account WHERE a.kind = 4")
  [ "$n" -gt 0 ] && [ "$b" -gt 0 ] \
    && ok "shard $k: marked ($n transfer marks, $b merchant balance marks)" \
    || fail "shard $k: no marks ($n, $b)"
done

finish
