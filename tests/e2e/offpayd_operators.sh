#!/usr/bin/env bash
# offpayd_operators.sh — operators by name (docs/operations.md §1,
# "Operators by name"; settlement.md §1, "Who booked it"): offpayd's
# --operators-file gives each operator a token of their own, and every
# transfer an operator books keeps the name of the token offpayd matched,
# as `offpay admin --by` (or the login name) does on the ledger directly.
#
# step                                              what is seen
# offpayd with --token-file and --operators-file    both kinds of token work
#   (desk-1, night-shift)
# a deposit by each, a withdrawal by night-shift    each transfer names who
# offpay admin deposit --db, with --by and without  "cash office", the login,
#   (and through sudo)                              sudo's user
# SIGHUP: night-shift removed, desk-1's token       the log names each change;
#   changed, finance added                          the old tokens refused
# SIGHUP with a name twice, or --token-file's       refused whole, line named;
#   token for an operator                           the operators unchanged
# a case's step by finance's token                  by finance, not another
# SIGHUP with a file naming nobody                  --token-file's alone
# start-up with a bad file, or with neither option  exit 3 / 2, and why
# offpayd with --operators-file only                --token-file's token refused
# GET /v1/admin/actions, offpay admin actions       who revoked, registered,
#                                                   labelled, voided codes;
#                                                   filters, pages, refusals
# `offpay admin audit` passes at the end.
source "$(dirname "$0")/offpayd_lib.sh"
# the digests at a removal in 2 s, not once a minute made its time final
export OFFPAY_TEST_DIGESTS_AFTER=2

D1=desk-1-token-0123456789abcdef
N1=night-shift-token-0123456789
cat > ops <<EOF
# offpayd's operators: NAME TOKEN
desk-1       $D1

night-shift	$N1
EOF
start_server --operators-file ops
grep -q "operators from ops: desk-1, night-shift$" server.err \
  && grep -q "token-file and --operators-file are both given: whoever holds --token-file's token books as \"operator token\", and an operator taken out of ops who knows that token can still use it" server.err \
  && ok "offpayd names the operators it read, and warns of the shared token" \
  || fail "start-up: $(cat server.err)"
[ "$(metric offpayd_operators)" = 2 ] && ok "offpayd_operators 2" || fail "metric: $(metric offpayd_operators)"

# as_op TOKEN METHOD PATH [BODY]: api with that operator's token
as_op() {
  local tok=$1 data=(); shift
  if [ $# -ge 3 ]; then data=(--data-binary "$3"); fi
  status=$(curl -s -o resp.json -w '%{http_code}' -X "$1" \
      -H "Authorization: Bearer $tok" "${data[@]}" "$URL$2")
}

W=$(new_account payer-1 10.00)   # by the bearer of --token-file's token
as_op "$D1" POST "/v1/admin/accounts/$W/deposit" '{"amount":"2.50","ref":"cash in"}'
[ "$status" = 200 ] && ok "desk-1's token deposits" || fail "desk-1: $status $(cat resp.json)"
as_op "$N1" POST "/v1/admin/accounts/$W/withdraw" '{"amount":"1.00","ref":"paid out"}'
[ "$status" = 200 ] && ok "night-shift's token withdraws" || fail "night-shift: $status $(cat resp.json)"
as_op "$N1" POST "/v1/admin/accounts/$W/withdraw" '{"amount":"500.00"}'
expect_http 409 EFUNDS "night-shift's withdrawal beyond the balance"

api GET "/v1/admin/accounts/$W/transfers"
[ "$(jq -c '[.transfers[] | [.kind, .by]]' resp.json)" = '[["deposit","operator token"],["deposit","desk-1"],["withdraw","night-shift"]]' ] \
  && ok "each transfer names who booked it (the refused one booked nothing)" \
  || fail "by: $(cat resp.json)"
grep -qE "POST /v1/admin/accounts/$W/deposit by desk-1 from 127\.0\.0\.1: deposit 2\.50 EUR into wallet account $W \(ref \"cash in\"\): transfer [0-9]+$" server.err \
  && grep -qE "POST /v1/admin/accounts/$W/withdraw by night-shift from 127\.0\.0\.1: withdrawal 1\.00 EUR" server.err \
  && ok "offpayd's log names them too" || fail "log: $(grep /v1/admin/accounts server.err)"
grep -qE "POST /v1/admin/accounts/$W/withdraw by night-shift from 127\.0\.0\.1: refused 409 EFUNDS: .+" server.err \
  && ok "the refused withdrawal is on the log too, with who asked and why" \
  || fail "refused log: $(grep withdraw server.err)"

# on the ledger directly: --by, else the login name
run_cli 0 "deposit 0.25 EUR" -- "$OFFPAY" admin deposit --db "$LEDGER" --account "$W" --amount 0.25 --by "cash office"
run_cli 0 "withdrawal 0.05 EUR" -- "$OFFPAY" admin withdraw --db "$LEDGER" --account "$W" --amount 0.05
run_cli 0 "deposit 0.01 EUR" -- env SUDO_USER=cashier-2 "$OFFPAY" admin deposit --db "$LEDGER" \
    --account "$W" --amount 0.01
run_cli 2 "admin deposit: --by is 1 to 49 bytes" -- "$OFFPAY" admin deposit --db "$LEDGER" --account "$W" \
    --amount 0.25 --by "$(printf 'two\nlines')"
# an enrollment code night-shift makes, not used before night-shift goes
as_op "$N1" POST /v1/admin/enrollments '{"currency":"EUR"}'
NCODE=$(jget .code)
[ "$status" = 200 ] && [ ${#NCODE} = 24 ] && ok "night-shift makes an enrollment code" \
  || fail "night-shift's code: $status $(cat resp.json)"
# and one on the ledger directly, under their name: theirs too
NCODE2=$("$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR --by night-shift)
me=$(id -un)
"$OFFPAY" admin transfers --db "$LEDGER" --account "$W" > tr.txt
grep -qE "^transfer [0-9]+ .* deposit +\+0\.25 from world account [0-9]+  by cash office \(offpay admin\)$" tr.txt \
  && grep -qE "^transfer [0-9]+ .* withdraw +-0\.05 to world account [0-9]+  by $me \(offpay admin\)$" tr.txt \
  && grep -qE "^transfer [0-9]+ .* deposit +\+2\.50 from world account [0-9]+  \"cash in\"  by desk-1$" tr.txt \
  && grep -qE "^transfer [0-9]+ .* deposit +\+0\.01 from world account [0-9]+  by cashier-2 \(offpay admin\)$" tr.txt \
  && ok "admin transfers: by cash office, by $me, by the user who ran sudo, by desk-1" || fail "admin transfers: $(cat tr.txt)"
"$OFFPAY" admin transfers --db "$LEDGER" --account "$W" --json \
  | jq -e '[.transfers[].by] == ["operator token","desk-1","night-shift","cash office (offpay admin)","'"$me"' (offpay admin)","cashier-2 (offpay admin)"]' >/dev/null \
  && ok "admin transfers --json: the same names" || fail "admin transfers --json"

# SIGHUP: night-shift leaves, desk-1's token changes, finance joins
D2=desk-1-new-token-0123456789ab
F1=finance-token-0123456789abcdef
printf 'desk-1 %s\nfinance %s\n' "$D2" "$F1" > ops
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "SIGHUP: operator finance added" server.err && break; sleep 0.05; done
grep -q "SIGHUP: operator night-shift removed (ops): their token is refused from now on; 2 unused enrollment code(s) they made voided$" server.err \
  && grep -q "SIGHUP: operator desk-1 has a new token (ops, line 1): the one before is refused from now on (the enrollment codes they made are still theirs)$" server.err \
  && grep -q "SIGHUP: operator finance added (ops, line 2)$" server.err \
  && ok "SIGHUP: the log says who was added, removed, and whose token changed" \
  || fail "SIGHUP: $(grep SIGHUP server.err)"
# the ledger's digests until the removal, on the log (outside the
# ledger), the same as offpay admin digest computes until then
for _ in $(seq 1 100); do grep -q "to keep with the removal of operators night-shift:" server.err && break; sleep 0.1; done
line=$(grep "to keep with the removal of operators night-shift:" server.err | head -1)
RT=$(sed -n 's/.* digests until [0-9T:Z-]* (\([0-9]*\)).*/\1/p' <<<"$line")
LD=$(sed -n 's/.* transfer(s), digest \([0-9a-f]*\);.*/\1/p' <<<"$line")
LA=$(sed -n 's/.* actions digest \([0-9a-f]*\) .*/\1/p' <<<"$line")
"$OFFPAY" admin digest --db "$LEDGER" --to "$RT" > dg.txt
[ -n "$RT" ] && [ ${#LD} = 64 ] && [ ${#LA} = 64 ] \
  && grep -qx "digest $LD" dg.txt && grep -qx "actions digest $LA" dg.txt \
  && ok "the removal's digests on offpayd's log: those admin digest gives until then" \
  || fail "removal digests: $line | $(cat dg.txt)"
as_op "$N1" GET "/v1/admin/accounts/$W"
expect_http 401 UNAUTHORIZED "night-shift's token, removed"
grep -qE "GET /v1/admin/accounts/\* answered 401 UNAUTHORIZED to 127\.0\.0\.1: a token operator night-shift no longer has \(taken out of --operators-file, or replaced\) \(0 more refused since the last such line; at most one a 10 s\)$" server.err \
  && ok "the removed token tried: on the log, with whose it was" || fail "401 log: $(grep 401 server.err)"
as_op "$D1" GET "/v1/admin/accounts/$W"
expect_http 401 UNAUTHORIZED "desk-1's token before"
# night-shift's code went with them: a wallet sending it is refused
fetch_bundle
wallet_init wn
w enroll wn --server "$URL" --code "$NCODE"
[ "$ws" = 1 ] && grep -q "ENROLL_CODE_EXPIRED" w.out \
  && ok "night-shift's unused enrollment code: ENROLL_CODE_EXPIRED" || fail "voided code: $ws $(cat w.out)"
w enroll wn --server "$URL" --code "$NCODE2"
[ "$ws" = 1 ] && grep -q "ENROLL_CODE_EXPIRED" w.out \
  && ok "the code night-shift made through offpay admin: ENROLL_CODE_EXPIRED too" || fail "voided code 2: $ws $(cat w.out)"
as_op "$D2" POST "/v1/admin/accounts/$W/deposit" '{"amount":"0.10"}'
[ "$status" = 200 ] && ok "desk-1's new token" || fail "desk-1's new token: $status"
as_op "$F1" GET "/v1/admin/accounts/$W"
[ "$status" = 200 ] && ok "finance's token" || fail "finance: $status"
api GET "/v1/admin/accounts/$W"
[ "$status" = 200 ] && ok "--token-file's token still" || fail "the token file's token: $status"

# the same file again: said to be unchanged; then a file with a name twice
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "SIGHUP: operators unchanged" server.err && break; sleep 0.05; done
grep -q "SIGHUP: operators unchanged: ops names the same operators with the same tokens" server.err \
  && ok "SIGHUP: the same file, said unchanged" || fail "unchanged: $(grep SIGHUP server.err)"
# a file with a name twice (in another case: one name), desk-1 taken
# out and audit-1 added: refused whole, so desk-1 is still let in and
# audit-1 not, and counted on /metrics
A1=audit-1-token-0123456789abcdef
printf 'finance %s\n# a comment\nFinance %s\naudit-1 %s\n' "$F1" "$D1" "$A1" > ops
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "named on line" server.err && break; sleep 0.05; done
grep -q "SIGHUP: --operators-file ops: line 3: Finance is named on line 1 too (names that differ only in their letters' case are one name): the operators are unchanged: every one in use before (2), one taken out of the file too, is still let in$" server.err \
  && ok "SIGHUP: a name twice refused whole, its line named" || fail "bad SIGHUP: $(grep SIGHUP server.err)"
as_op "$D2" GET "/v1/admin/accounts/$W"
[ "$status" = 200 ] && ok "desk-1's token still works (said so)" || fail "after a bad file: $status"
as_op "$A1" GET "/v1/admin/accounts/$W"
expect_http 401 UNAUTHORIZED "the refused file's audit-1 not let in"
[ "$(metric offpayd_operators_reload_refused_total)" = 1 ] && [ "$(metric offpayd_operators)" = 2 ] \
  && ok "offpayd_operators_reload_refused_total 1, offpayd_operators 2" \
  || fail "metrics after a refused reload: $(metric offpayd_operators_reload_refused_total) $(metric offpayd_operators)"
# an operator given --token-file's token: refused, their line named
printf 'finance %s\nrogue %s\n' "$F1" "$TOKEN" > ops
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "rogue's token" server.err && break; sleep 0.05; done
grep -q "SIGHUP: --operators-file ops: line 2: rogue's token is --token-file's: each operator has a token of their own: the operators are unchanged" server.err \
  && ok "SIGHUP: an operator with --token-file's token refused" || fail "shared token: $(grep SIGHUP server.err)"

# the cases: a named operator's step is theirs; "by" cannot name another
new_merchant "Kiosk A"; new_terminal ta "$MERCHANT"
new_merchant "Kiosk B"; new_terminal tb "$MERCHANT"; TB=$TID
new_wallet w1 "$W" 5.00
c=$(pay w1 1.00)
accept ta "$c" 1.00 && accept tb "$c" 1.00 || fail "accepted at two terminals"
upload ta; upload tb
api GET "/v1/admin/cases?kind=duplicate"; CASE=$(jget '.cases[0].id')
as_op "$F1" POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called"}'
[ "$status" = 200 ] && [ "$(jget .step.by)" = finance ] \
  && ok "case $CASE: finance's note is finance's" || fail "note: $status $(cat resp.json)"
as_op "$F1" POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"desk-1"}'
expect_http 400 BAD_FIELD "finance's token taking a step as desk-1"
[ "$(jget .hint)" = "by: this is operator finance's token, whose steps are finance's: leave by out" ] \
  && ok "its hint says whose token it is" || fail "hint: $(jget .hint)"
printf '%s\n' "$F1" > finance.token
run_cli 0 "^case $CASE: note kept" -- \
  "$OFFPAY" admin case "$CASE" --server "$URL" --token-file finance.token --note "refund agreed"
run_cli 0 "  note +by finance: refund agreed" -- \
  "$OFFPAY" admin case "$CASE" --server "$URL" --token-file finance.token
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"Finance"}'
expect_http 400 BAD_FIELD "the shared token taking a step as operator finance"
[ "$(jget .hint)" = "by: Finance is an operator by name, whose steps are taken with their own token: name someone else, or leave by out" ] \
  && ok "its hint says finance takes steps with their own token" || fail "hint: $(jget .hint)"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"night-shift"}'
expect_http 400 BAD_FIELD "the shared token taking a step as night-shift, taken out"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"Offpayd Release Job"}'
expect_http 400 BAD_FIELD "the shared token taking a step under offpayd's own name"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"desk-1 (offpay admin)"}'
expect_http 400 BAD_FIELD "the shared token taking a step under offpay admin's form"
[ "$(jget .hint)" = "by: 'desk-1 (offpay admin)' is a name the ledger keeps for what offpay admin does: name who takes the step, or leave by out" ] \
  && ok "its hint says whose name that form is" || fail "hint: $(jget .hint)"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"'"$(printf 'n%.0s' $(seq 1 48))"'"}'
expect_http 400 BAD_FIELD "the shared token's by of 48 bytes (kept with ' (operator token)': 65)"
[ "$(jget .hint)" = "by: at most 47 bytes with --token-file's token (kept as 'NAME (operator token)')" ] \
  && ok "its hint says why" || fail "hint: $(jget .hint)"
run_cli 0 "  note +by night desk \(operator token\): on the phone" -- sh -c \
  "'$OFFPAY' admin case '$CASE' --server '$URL' --token-file token --note 'on the phone' --by 'night desk' && '$OFFPAY' admin case '$CASE' --db '$LEDGER'"
# finance's name written in capitals: the same operator, renamed (their
# codes are not voided, and are theirs still when they go)
as_op "$F1" POST /v1/admin/enrollments '{"currency":"EUR"}'
[ "$status" = 200 ] || fail "finance's code: $status"
printf 'Finance %s\n' "$F1" > ops
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "operator finance is written Finance now" server.err && break; sleep 0.05; done
grep -q "SIGHUP: operator finance is written Finance now (ops, line 1): what they book from now on is kept under Finance$" server.err \
  && ! grep -q "operator finance removed" server.err \
  && ok "SIGHUP: a name written in another case is a rename, not a removal" \
  || fail "rename: $(grep SIGHUP server.err | tail -3)"
# an empty file beside --token-file: every named operator removed
printf '# nobody by name\n' > ops
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "operator Finance removed" server.err && break; sleep 0.05; done
grep -q "SIGHUP: operator Finance removed (ops): their token is refused from now on; 1 unused enrollment code(s) they made voided$" server.err \
  && ok "Finance removed: the code made as finance voided too" || fail "renamed codes: $(grep SIGHUP server.err | tail -2)"
as_op "$F1" GET "/v1/admin/accounts/$W"
expect_http 401 UNAUTHORIZED "finance removed by an empty file"
api GET "/v1/admin/accounts/$W"
[ "$status" = 200 ] && [ "$(metric offpayd_operators)" = 0 ] \
  && ok "--token-file's token still works; offpayd_operators 0" || fail "empty file: $status"
stop_server

# start-up: a file that is not right stops offpayd, saying why
# start_refused WANT-EXIT PATTERN [offpayd options]: offpayd exits with
# WANT-EXIT before listening, its standard error matching PATTERN
start_refused() {
  local want=$1 pattern=$2 st; shift 2
  set +e
  "$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss --passphrase-file ip \
      --root iss/root.pub "$@" >refused.out 2>refused.err
  st=$?
  set -e
  if [ "$st" = "$want" ] && grep -qE -- "$pattern" refused.err; then ok "exit $want: $pattern"
  else fail "want $want /$pattern/, got $st: $(cat refused.err)"; fi
}
printf 'desk-1 short\n' > bad; start_refused 3 "--operators-file bad: line 1: desk-1's token has fewer than 16 bytes" --operators-file bad
printf '\n\nd\xc3\xa9sk %s\n' "$D1" > bad; start_refused 3 "--operators-file bad: line 3: a line is NAME TOKEN, NAME 1 to 32 of the characters" --operators-file bad
printf 'a %s\nb %s\n' "$D1" "$D1" > bad; start_refused 3 "line 2: b's token is a's too \(line 1\)" --operators-file bad
printf 'desk 1 %s\n' "$D1" > bad; start_refused 3 "line 1: text after desk's token: a line is NAME TOKEN and nothing more \(a name has no blank in it, a token is one word of printable ASCII, and a comment is a line of its own starting with #\)" --operators-file bad
printf '# nobody\n' > bad; start_refused 3 "--operators-file bad: names no operator \(lines NAME TOKEN\), and no --token-file is given" --operators-file bad
printf 'a %s\n' "$TOKEN" > bad; start_refused 3 "--operators-file bad: line 1: a's token is --token-file's" --operators-file bad --token-file token
start_refused 3 "--operators-file missing: cannot be read: No such file or directory" --operators-file missing
start_refused 2 "--token-file or --operators-file \(or both\) are required"

# --operators-file alone: --token-file's token is no operator's
printf 'desk-1 %s\n' "$D2" > ops
start_server_ops_only() {
  rm -f server.out
  "$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss --passphrase-file ip \
      --root iss/root.pub --operators-file ops --threads 2 >server.out 2>>server.err &
  server_pid=$!; all_pids+=("$server_pid")
  for _ in $(seq 1 1200); do
    grep -q "listening on" server.out 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05
  done
  URL=http://$(sed -n 's/^offpayd listening on //p' server.out)
}
start_server_ops_only
api GET "/v1/admin/accounts/$W"
expect_http 401 UNAUTHORIZED "without --token-file, its token is refused"
as_op "$D2" GET "/v1/admin/accounts/$W"
[ "$status" = 200 ] && [ "$(jget .balance.minor)" = 681 ] \
  && ok "desk-1 reads the balance: 10.00 + 2.50 - 1.00 + 0.25 - 0.05 + 0.01 + 0.10 - 5.00 (w1's credential)" \
  || fail "balance: $status $(cat resp.json)"
stop_server
# an operator removed by a restart (their line gone while offpayd was
# stopped): their codes are voided by hand, by the name they were made
# under; and a code made on the ledger directly, by its name
printf 'desk-1 %s\n' "$D2" > ops
start_server_ops_only
as_op "$D2" POST /v1/admin/enrollments '{"currency":"EUR"}'
run_cli 0 "^voided 1 unused enrollment code\(s\) made by desk-1$" -- \
  "$OFFPAY" admin void-codes --db "$LEDGER" --by desk-1
run_cli 0 "^voided 0 unused enrollment code\(s\) made by desk-1$" -- \
  "$OFFPAY" admin void-codes --db "$LEDGER" --by desk-1
"$OFFPAY" admin enroll-code --db "$LEDGER" --currency EUR --by "front desk" >/dev/null
run_cli 0 '^\{"by":"front desk \(offpay admin\)","voided":1\}$' -- \
  "$OFFPAY" admin void-codes --db "$LEDGER" --by "front desk (offpay admin)" --json
run_cli 2 "admin void-codes: --by NAME is required" -- "$OFFPAY" admin void-codes --db "$LEDGER"
stop_server

# what operators did that booked no transfer is kept with who did it and
# when (settlement.md §1, "What operators did"): over HTTP by the token
# offpayd matched, on the ledger as 'NAME (offpay admin)', a SIGHUP's
# voiding as offpayd's operators file
start_server --operators-file ops
as_op "$D2" POST "/v1/admin/terminals/$TB/revoke" '{"reason":"till stolen"}'
[ "$status" = 200 ] || fail "desk-1 revokes terminal $TB: $status $(cat resp.json)"
as_op "$D2" POST "/v1/admin/terminals/$TB/revoke" '{"reason":"again"}'
[ "$status" = 200 ] || fail "revoked again: $status $(cat resp.json)"
new_wallet w2 "$W" 1.00   # (w1's credential was revoked by its case)
run_cli 0 "^credential $SERIAL \(account [0-9]+\) revoked at" -- "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$SERIAL" \
    --reason "card lost" --by "risk desk"
api GET "/v1/admin/actions?subject=$TB&action=revoke-terminal"
[ "$status" = 200 ] && [ "$(jq -c '[.actions[] | [.who, .detail]]' resp.json)" = '[["desk-1","till stolen"]]' ] \
  && ok "terminal $TB's revocation: by desk-1, till stolen (its second changed nothing: not kept)" \
  || fail "revoke-terminal: $status $(cat resp.json)"
api GET "/v1/admin/actions?action=void-codes"
[ "$(jq -c '[.actions[] | [.who, .detail]]' resp.json)" = '[["offpayd operators file","2 codes of night-shift"],["offpayd operators file","1 code of Finance"],["'"$me"' (offpay admin)","1 code of desk-1"],["'"$me"' (offpay admin)","1 code of front desk (offpay admin)"]]' ] \
  && ok "the codes voided: at the two SIGHUPs, and by hand (the run that voided none not kept)" \
  || fail "void-codes: $(cat resp.json)"
api GET "/v1/admin/actions?action=case-note&subject=$CASE"
[ "$(jq -c '[.actions[] | [.who, .detail]]' resp.json)" = '[["finance","payer called"],["finance","refund agreed"],["night desk (operator token)","on the phone"]]' ] \
  && ok "case $CASE's notes among what operators did, each under its author (the refused ones not)" \
  || fail "case-note: $(cat resp.json)"
long=$(printf 'w%.0s' $(seq 1 200))
as_op "$D2" POST "/v1/admin/cases/$CASE/notes" '{"text":"'"$long"'"}'
[ "$status" = 200 ] || fail "a long note: $status $(cat resp.json)"
api GET "/v1/admin/actions?action=case-note&subject=$CASE&by=desk-1"
[ "$(jget '.actions[0].detail')" = "$(printf 'w%.0s' $(seq 1 125))…" ] \
  && ok "a note of 200 bytes among the actions: its first 125, marked cut" \
  || fail "long note: $(cat resp.json)"
api GET "/v1/admin/actions?action=book&by=night-shift"
[[ "$(jq -r '[.actions[] | .who + ": " + .detail] | join("|")' resp.json)" =~ ^night-shift:\ withdraw\ 1\.00\ EUR:\ wallet\ account\ $W\ to\ world\ account\ [0-9]+$ ]] \
  && ok "night-shift's bookings among their actions: the withdrawal (the refused one booked nothing)" \
  || fail "book: $(cat resp.json)"
api GET "/v1/admin/actions?action=register-merchant"
[ "$(jq -c '[.actions[] | [.who, .detail]]' resp.json)" = '[["operator token","Kiosk A"],["operator token","Kiosk B"]]' ] \
  && ok "the merchants registered by the token file's holder" || fail "register-merchant: $(cat resp.json)"
run_cli 0 "^[0-9T:-]+Z  revoke-credential credential $SERIAL  \"card lost\"  by risk desk \(offpay admin\)$" -- \
  "$OFFPAY" admin actions --db "$LEDGER" --action revoke-credential
run_cli 0 "^[0-9T:-]+Z  label-terminal terminal [0-9]+  \"gate 2\"  by $me \(offpay admin\)$" -- sh -c \
  "'$OFFPAY' admin label-terminal --db '$LEDGER' --terminal-id '$TB' --label 'gate 2' >/dev/null && '$OFFPAY' admin actions --db '$LEDGER' --by '$me (OFFPAY ADMIN)' --action label-terminal"
# the same page over HTTP and from the ledger; then a page at a time
api GET "/v1/admin/actions?by=DESK-1"
"$OFFPAY" admin actions --db "$LEDGER" --by desk-1 --json > cli.json
[ "$status" = 200 ] && jq -e --slurpfile c cli.json '. == $c[0] and .count >= 2 and ([.actions[].who] | unique) == ["desk-1"]' resp.json >/dev/null \
  && ok "desk-1's actions (named in any case): the same from offpayd and the ledger" \
  || fail "by desk-1: $(cat resp.json) | $(cat cli.json)"
api GET "/v1/admin/actions?limit=1000"; ALL=$(jq -c '[.actions[] | [.at, .action, .subject]]' resp.json)
N=$(jget .count)
pages=0; got='[]'; q="limit=3"
while :; do
  api GET "/v1/admin/actions?$q"; pages=$((pages + 1))
  got=$(jq -c --argjson g "$got" '$g + [.actions[] | [.at, .action, .subject]]' resp.json)
  next=$(jget .next_after); [ "$next" != null ] && [ "$pages" -lt 50 ] || break
  q="limit=3&after=$next"
done
[ "$got" = "$ALL" ] && [ "$pages" = $(( (N + 2) / 3 )) ] && [ "$N" -ge 10 ] \
  && ok "$N actions, $pages pages of 3: the same, in the same order" || fail "pages: $pages $got | $ALL"
last=$("$OFFPAY" admin actions --db "$LEDGER" --limit 3 | tail -1)
[[ "$last" =~ ^more:\ --after\ [0-9]+\.0\.[0-9]+$ ]] \
  && "$OFFPAY" admin actions --db "$LEDGER" --limit 1000 --after "${last#more: --after }" | grep -c . \
     | grep -qx "$((N - 3))" \
  && ok "admin actions: 'more: --after', and the rest after it" || fail "cli pages: $last"
api GET "/v1/admin/actions?action=revoke-termial"
expect_http 400 BAD_PARAMETER "an action not known"
[[ "$(jget .hint)" == "action: one of create-account, create-guarantee, "* ]] \
  && ok "its hint names the actions" || fail "hint: $(jget .hint)"
api GET "/v1/admin/actions?after=12.0"
expect_http 400 BAD_PARAMETER "a cursor not a page's"
api GET "/v1/admin/actions?by=a%0Ab"
expect_http 400 BAD_PARAMETER "a name of two lines"
api GET "/v1/admin/actions?kind=x"
expect_http 400 BAD_PARAMETER "a parameter it does not take"
run_cli 2 "admin actions: --action is one of create-account" -- \
  "$OFFPAY" admin actions --db "$LEDGER" --action nope
run_cli 2 "admin actions: --after is the 'more: --after AT.SHARD.ID'" -- \
  "$OFFPAY" admin actions --db "$LEDGER" --after 5
# who may act, as the SIGHUPs changed it, is on the ledger too; desk-1's
# token handed to the name carol: said so, not "refused"
printf 'carol %s\n' "$D2" > ops
kill -HUP "$server_pid"
for _ in $(seq 1 100); do grep -q "SIGHUP: operator carol added" server.err && break; sleep 0.05; done
grep -q "SIGHUP: operator desk-1 removed (ops): their token is carol's now: what it books from now on is kept under carol; 0 unused enrollment code(s) they made voided$" server.err \
  && ok "desk-1's token under the name carol: the log says whose it is now" \
  || fail "token renamed: $(grep SIGHUP server.err | tail -3)"
as_op "$D2" POST "/v1/admin/terminals/$TB/label" '{"label":"gate 3"}'
[ "$status" = 200 ] || fail "carol labels: $status $(cat resp.json)"
api GET "/v1/admin/actions?by=offpayd%20operators%20file"
[ "$(jq -c '[.actions[] | [.action, .detail]]' resp.json)" = '[["void-codes","2 codes of night-shift"],["operator-removed","night-shift"],["operator-new-token","desk-1 (line 1)"],["operator-added","finance (line 2)"],["operator-removed","desk-1"],["operator-renamed","finance is Finance now"],["void-codes","1 code of Finance"],["operator-removed","Finance"],["operator-removed","desk-1: their token is now carol"],["operator-added","carol (line 1)"]]' ] \
  && ok "every change to who may act at a SIGHUP is among what operators did" \
  || fail "operators file: $(jq -c '[.actions[] | [.action, .detail]]' resp.json)"
api GET "/v1/admin/actions?action=label-terminal&subject=$TB"
[ "$(jq -c '[.actions[] | [.who, .detail]]' resp.json)" = '[["'"$me"' (offpay admin)","gate 2"],["carol","gate 3"]]' ] \
  && ok "the label given with carol's token is carol's" || fail "carol: $(cat resp.json)"
api POST "/v1/admin/cases/$CASE/notes" '{"text":"payer called","by":"desk-1"}'
expect_http 400 BAD_FIELD "the shared token's step as desk-1, whose token is carol's now"
stop_server
start_server
audits "operators by name"
stop_server
# a ledger of 0.30.0 (no operator_actions yet, its bookings' names and
# case steps kept) upgraded: the bookings and case steps kept before are
# among the actions (book, case-*), and the audit finds them agreeing
"$OFFPAY" admin backup --db "$LEDGER" --out v30.db >/dev/null
ledger_sql v30 "DROP TABLE operator_actions" >/dev/null
ledger_sql v30 "DELETE FROM schema_version WHERE version >= 32" >/dev/null
nb=$(ledger_sql v30 "SELECT COUNT(*) FROM booked_by"); nc=$(ledger_sql v30 "SELECT COUNT(*) FROM case_notes")
kept=$LEDGER; LEDGER=$work/v30.db; start_server; stop_server; LEDGER=$kept
[ "$(ledger_sql v30 "SELECT COUNT(*) FROM operator_actions WHERE action = 'book'")" = "$nb" ] \
  && [ "$(ledger_sql v30 "SELECT COUNT(*) FROM operator_actions WHERE action LIKE 'case-%'")" = "$nc" ] \
  && [ "$nb" -gt 5 ] && [ "$nc" -gt 2 ] \
  && ok "a 0.30.0 ledger upgraded: its $nb bookings and $nc case steps among the actions" \
  || fail "upgrade: $nb $nc $(ledger_sql v30 "SELECT action, COUNT(*) FROM operator_actions GROUP BY action")"
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$work/v30.db"
finish
