#!/usr/bin/env bash
# offpayd_fleet.sh — watching a fleet of terminals (docs/operations.md,
# "Watching the terminals"): what each terminal says of itself at its
# sync (POST /v1/terminal/status: whether it accepts payments, when it
# last took offpayd's lists, the money it holds not uploaded), as
# `offpay admin terminals` (text, --json, --stale HOURS), GET
# /v1/admin/terminals and /metrics show it. Hours pass by restarting
# offpayd at a later OFFPAY_NOW; each terminal's clock is its own
# OFFPAY_NOW.
#
# step (offpayd's clock: T, then T+2h, then T+73h)      what is seen
# T:     gates g1, g2, g3 registered; w1 pays at g2     g3 never reports
# T+2h:  g1 syncs, 15 min ahead, one payment undecided  1 pending, 2.00 EUR
#        g2 syncs 10 min behind: lists refused (exit 3) its lists 2 h old,
#                                                       accepting still
# T+73h: g2 again: its 72 h offline window is over      REFUSING
#                                                       (ESYNC_REQUIRED);
#                                                       metrics: 1 refusing
#        g2's clock set right, synced                   accepting, fresh
#        g3 revoked                                     not counted live
# Then the report's own checks over HTTP: the three new fields together or
# none, a state that is no error name, an amount of too many decimals, an
# older terminal's report (no state), and the amount summed on /metrics.
# Last, where each gate stands (labels, since 0.27.0): given at the
# registration, over HTTP and by the CLI, shown, carried by a rotation,
# cleared, and the bad ones refused.
# `offpay admin audit` passes at the end.
source "$(dirname "$0")/offpayd_lib.sh"
T=$(( $(date +%s) + 3600 ))
export OFFPAY_NOW=$T
start_server
fetch_bundle

new_merchant "Metro Line 1"; M=$MERCHANT
new_terminal g1 "$M"; G1=$TID
new_terminal g2 "$M"; G2=$TID
new_terminal g3 "$M"; G3=$TID
W=$(new_account rider 200.00)
new_wallet w1 "$W" 100.00
c=$(pay w1 3.00); accept g2 "$c" 3.00 || fail "g2 accepts 3.00"

# tjson ID FILTER: terminal ID's entry in `admin terminals --json`, filtered
tjson() {
  "$OFFPAY" admin terminals --db "$LEDGER" --json \
    | jq -c --argjson t "$1" ".terminals[] | select(.terminal == \$t) | $2"
}
# block ID: terminal ID's lines in `admin terminals` (--stale H when given)
block() {
  local id=$1; shift
  "$OFFPAY" admin terminals --db "$LEDGER" "$@" \
    | awk -v t="terminal $id " 'index($0, t) == 1 { on = 1; print; next }
                                /^terminal / { on = 0 } on'
}

# ---- T+2h ------------------------------------------------------------------
stop_server
export OFFPAY_NOW=$(( T + 7200 ))
start_server
# g1, 15 minutes ahead: its payment is dated after offpayd's clock, left
# undecided (ECODE_FUTURE), so it reports it pending with its money
ahead=$(( T + 7200 + 900 ))
c=$(OFFPAY_NOW=$ahead pay w1 2.00); OFFPAY_NOW=$ahead accept g1 "$c" 2.00 || fail "g1 accepts 2.00"
st=0; OFFPAY_NOW=$ahead "$OFFPAY" terminal sync --terminal g1 --passphrase-file tp --server "$URL" >g1.out 2>&1 || st=$?
[ "$st" = 3 ] && grep -q "1 left to upload" g1.out && ok "g1: its payment dated ahead stays to upload (exit 3)" \
  || fail "g1 sync ($st): $(cat g1.out)"
[ "$(tjson "$G1" '[.report.pending, .report.pending_amount.decimal, .report.state, .report.accepting]')" = '[1,"2.00","OK",true]' ] \
  && ok "g1's report: 1 pending, 2.00 EUR, accepting" || fail "g1's report: $(tjson "$G1" .report)"
# the report after the lists: taken by its clock, at its sync
# (its clock ahead, it records the sync at offpayd's time: lists_at is
# then offpayd's, as its offline window counts from it)
[ "$(tjson "$G1" '(.report.lists_at | fromdate) - (.report.reported_at | fromdate) | . >= -5 and . <= 5')" = true ] \
  && ok "g1's lists taken at its sync (at offpayd's time, its clock ahead)" || fail "g1's lists: $(tjson "$G1" .report)"
# g2, 10 minutes behind: it uploads, reports, and refuses offpayd's lists
# (dated ahead of its clock)
behind=$(( T + 7200 - 600 ))
st=0; OFFPAY_NOW=$behind "$OFFPAY" terminal sync --terminal g2 --passphrase-file tp --server "$URL" >g2.out 2>&1 || st=$?
[ "$st" = 3 ] && grep -q "EFUTURE_DATED" g2.out && ok "g2 refuses offpayd's lists (EFUTURE_DATED, exit 3)" \
  || fail "g2 sync ($st): $(cat g2.out)"
[ "$(tjson "$G2" '[.report.pending, .report.state, .report.accepting, .report.lists_at, .presentments]')" \
  = "[0,\"OK\",true,\"$(iso "$T")\",1]" ] \
  && ok "g2's report: its payment uploaded, accepting, its lists from its registration" \
  || fail "g2's report: $(tjson "$G2" '[.report, .presentments]')"
out=$(block "$G2")
# (its clock runs on during the sync: a second or so after $behind)
grep -qxE "  last sync reported at $(iso $(( T + 7200 ))) \(its clock [0-9T:-]+Z, (5[0-9][0-9]|600) s behind offpayd's\): 0 payment\(s\) pending \(0\.00 EUR\)" <<<"$out" \
  && grep -qxF "  accepting payments then; lists taken at $(iso "$T") by its clock" <<<"$out" \
  && ok "admin terminals: g2's clock 600 s behind, its lists' time" || fail "admin terminals g2: $out"
# --stale 1: what needs a look an hour on, each with why and what to do
# (a clock's offset as reported: the terminal's clock runs on during its
# sync, offpayd's stands at OFFPAY_NOW, so g1 is 900 s ahead or a few more,
# g2 600 s behind or a few less):
# g2's lists 1.8 h old by its clock, and the cause, its clock behind (a
# sync alone fails again); g1's clock ahead; g3 never reported
out=$("$OFFPAY" admin terminals --db "$LEDGER" --stale 1)
grep -qxE "  needs a look: its lists are 1\.8 h old; its clock is (5[0-9][0-9]|600) s behind offpayd's, so it refuses offpayd's lists \(EFUTURE_DATED\): set its clock right \(NTP\), then sync it" <<<"$(block "$G2" --stale 1)" \
  && grep -qxE "  needs a look: its clock is 9[0-9][0-9] s ahead of offpayd's, so offpayd leaves the payments it dates ahead undecided: set its clock right \(NTP\)" <<<"$(block "$G1" --stale 1)" \
  && grep -qxF "  needs a look: never reported since it was registered $(iso "$T")" <<<"$(block "$G3" --stale 1)" \
  && grep -qxF "  never reported (no online sync yet)" <<<"$(block "$G3")" \
  && [ "$(grep -c "^terminal " <<<"$out")" = 3 ] \
  && ok "--stale 1: g2 (lists 1.8 h old, its clock behind: set it), g1 (clock ahead), g3 (never reported)" \
  || fail "--stale 1: $out"
[ "$(tjson "$G2" .attention)" = null ] && [ "$(tjson "$G3" .attention)" = null ] \
  && ok "--json without --stale: attention not judged (null)" || fail "attention: $(tjson "$G2" .attention)"
out=$("$OFFPAY" admin terminals --db "$LEDGER" --stale 1 --json)
[ "$(jq -c '[.terminals[] | [.terminal, .attention]]' <<<"$out")" = "[[$G1,[\"clock_ahead\"]],[$G2,[\"old_lists\",\"clock_behind\"]],[$G3,[\"never_reported\"]]]" ] \
  && ok "--stale 1 --json: g1 clock_ahead, g2 old_lists and clock_behind, g3 never_reported" || fail "--stale --json: $out"
run_cli 1 "admin terminals: no merchant 987654 \(ENOTFOUND" -- \
  "$OFFPAY" admin terminals --db "$LEDGER" --merchant 987654
run_cli 2 "admin terminals: --stale is a number of hours from 1" -- \
  "$OFFPAY" admin terminals --db "$LEDGER" --stale 0
[ "$(metric offpayd_terminals_live)" = 3 ] && [ "$(metric offpayd_terminals_refusing)" = 0 ] \
  && [ "$(metric offpayd_terminals_never_reported)" = 1 ] \
  && [ "$(metric offpayd_terminals_pending_payments)" = 1 ] \
  && [ "$(metric 'offpayd_terminals_pending_minor{currency="EUR"}')" = 200 ] \
  && [ "$(metric offpayd_terminals_oldest_report_timestamp_seconds)" = $(( T + 7200 )) ] \
  && [ "$(metric offpayd_terminals_oldest_lists_timestamp_seconds)" -ge $(( T + 500 )) ] \
  && [ "$(metric offpayd_terminals_oldest_lists_timestamp_seconds)" -le $(( T + 600 )) ] \
  && [ "$(metric 'offpayd_terminals_silent{hours="1"}')" = 1 ] && [ "$(metric 'offpayd_terminals_silent{hours="24"}')" = 0 ] \
  && [ "$(metric 'offpayd_terminals_old_lists{hours="1"}')" = 1 ] && [ "$(metric 'offpayd_terminals_old_lists{hours="24"}')" = 0 ] \
  && [ "$(metric offpayd_terminals_clock_off)" = 2 ] \
  && ok "/metrics: 3 live, none refusing, 1 never reported (silent over 1 h), 1 pending of 2.00 EUR, g2's lists the oldest (over 1 h), 2 clocks off" \
  || fail "/metrics: $(curl -s "$URL/metrics" | grep '^offpayd_terminals')"

# ---- T+73h: g2's window is over ---------------------------------------------
stop_server
export OFFPAY_NOW=$(( T + 73 * 3600 ))
start_server
behind=$(( T + 73 * 3600 - 600 ))
st=0; OFFPAY_NOW=$behind "$OFFPAY" terminal sync --terminal g2 --passphrase-file tp --server "$URL" >g2.out 2>&1 || st=$?
[ "$st" = 3 ] && ok "g2 still refuses the lists (exit 3)" || fail "g2 sync ($st): $(cat g2.out)"
[ "$(tjson "$G2" '[.report.state, .report.accepting]')" = '["ESYNC_REQUIRED",false]' ] \
  && ok "g2 reports it refuses payments (ESYNC_REQUIRED)" || fail "g2's report: $(tjson "$G2" .report)"
out=$(block "$G2" --stale 1)
grep -qE "^  REFUSING payments then: ESYNC_REQUIRED: sync required: .*; lists taken at $(iso "$T") by its clock$" <<<"$out" \
  && grep -qE "^  needs a look: it refuses payments \(ESYNC_REQUIRED\); its lists are 72\.8 h old; its clock is (5[0-9][0-9]|600) s behind offpayd's, so it refuses offpayd's lists" <<<"$out" \
  && ok "admin terminals --stale 1: g2 REFUSING, its lists 72.8 h old" || fail "g2 at T+73h: $out"
[ "$(metric offpayd_terminals_refusing)" = 1 ] && [ "$(metric 'offpayd_terminals_old_lists{hours="72"}')" = 1 ] \
  && [ "$(metric 'offpayd_terminals_silent{hours="24"}')" = 2 ] && [ "$(metric 'offpayd_terminals_silent{hours="72"}')" = 1 ] \
  && ok "/metrics: 1 terminal refusing, 1 with lists over 72 h old; 2 silent over 24 h (g1, g3), 1 over 72 h (g3)" \
  || fail "/metrics: $(curl -s "$URL/metrics" | grep '^offpayd_terminals')"
api GET "/v1/admin/terminals/$G2"
[ "$status" = 200 ] && [ "$(jq -c '[.report.state, .report.accepting, .report.lists_at, .report.synced_at >= '"$behind"']' resp.json)" \
  = "[\"ESYNC_REQUIRED\",false,$T,true]" ] \
  && ok "GET /v1/admin/terminals/$G2: its state, lists and clock" || fail "GET terminal: $status $(cat resp.json)"
# its clock set right: the lists are taken, and it accepts again
"$OFFPAY" terminal sync --terminal g2 --passphrase-file tp --server "$URL" >g2.out 2>&1 \
  && [ "$(tjson "$G2" '[.report.state, ((.report.synced_at | fromdate) - (.report.lists_at | fromdate) | . >= 0 and . <= 5)]')" = '["OK",true]' ] \
  && [ "$(metric offpayd_terminals_refusing)" = 0 ] \
  && ok "g2 with its clock right: accepting, lists fresh, none refusing" \
  || fail "g2 set right: $(cat g2.out) $(tjson "$G2" .report)"
api POST "/v1/admin/terminals/$G3/revoke" '{"reason":"never installed"}'
expect_http 200 - "g3 revoked"
[ "$(metric offpayd_terminals_live)" = 2 ] && [ "$(metric offpayd_terminals_never_reported)" = 0 ] \
  && ! grep -q "^terminal $G3 " <<<"$("$OFFPAY" admin terminals --db "$LEDGER" --stale 1)" \
  && ok "a revoked terminal: not live, not listed by --stale" \
  || fail "after g3's revocation: $(curl -s "$URL/metrics" | grep '^offpayd_terminals')"

# ---- the report over HTTP: strict -------------------------------------------
now=$OFFPAY_NOW
# status ID BODY: BODY sent to POST /v1/terminal/status signed by ID's key
# at offpayd's time
status_of() {
  printf '%s' "$2" > st.body
  "$UPLOAD_TOOL" --terminal "$1" --passphrase-file tp --path /v1/terminal/status \
      --sign-body st.body --body st.sent --headers st.hdr --time "$now" >/dev/null
  status=$(curl -s -o resp.json -w '%{http_code}' -H @st.hdr \
      -H 'Content-Type: application/json' --data-binary @st.body "$URL/v1/terminal/status")
}
status_of g1 "{\"pending\":1,\"synced_at\":$now,\"state\":\"OK\"}"
expect_http 400 BAD_FIELD "a state without lists_at and pending_amount"
hint_is "fields 'state', 'lists_at' and 'pending_amount' come together, or none of them"
status_of g1 "{\"pending\":1,\"synced_at\":$now,\"state\":\"esync\",\"lists_at\":$now,\"pending_amount\":\"1.00\"}"
expect_http 400 BAD_FIELD "a state that is no error name"
status_of g1 "{\"pending\":1,\"synced_at\":$now,\"state\":\"OK\",\"lists_at\":$now,\"pending_amount\":\"1.005\"}"
expect_http 400 EAMOUNT "an amount of three decimals in EUR"
jget .hint | grep -q "pending_amount" && ok "its hint names pending_amount" || fail "hint: $(cat resp.json)"
status_of g1 "{\"pending\":1,\"synced_at\":$now,\"state\":\"OK\",\"lists_at\":$now,\"pending_amount\":12.5}"
expect_http 400 BAD_FIELD "an amount as a JSON number"
[ "$(tjson "$G1" '[.report.pending, .report.pending_amount.decimal]')" = '[1,"2.00"]' ] \
  && ok "refused reports changed nothing" || fail "g1's report: $(tjson "$G1" .report)"
status_of g1 "{\"pending\":4,\"synced_at\":$now,\"state\":\"EREVLIST_STALE\",\"lists_at\":0,\"pending_amount\":\"1234.56\"}"
expect_http 200 - "a report of 4 payments, 1234.56 EUR, refusing for a stale list, lists never taken"
[ "$(tjson "$G1" '[.report.pending, .report.pending_amount.minor, .report.state, .report.lists_at]')" \
  = '[4,123456,"EREVLIST_STALE",null]' ] \
  && ok "kept as sent" || fail "g1's report: $(tjson "$G1" '[.report, .attention]')"
grep -qxF "  needs a look: it refuses payments (EREVLIST_STALE); it never took offpayd's lists" <<<"$(block "$G1" --stale 1)" \
  && ok "--stale: lists never taken" || fail "g1 --stale: $(block "$G1" --stale 1)"
[ "$(metric 'offpayd_terminals_pending_minor{currency="EUR"}')" = 123456 ] \
  && [ "$(metric offpayd_terminals_pending_payments)" = 4 ] \
  && [ "$(metric offpayd_terminals_oldest_lists_timestamp_seconds)" = "$T" ] \
  && ok "/metrics: 4 pending, 1234.56 EUR; g1's lists as old as its registration" \
  || fail "/metrics: $(curl -s "$URL/metrics" | grep '^offpayd_terminals')"
status_of g1 "{\"pending\":0,\"synced_at\":$now,\"state\":\"OK\",\"lists_at\":$now,\"pending_amount\":\"5.00\"}"
expect_http 400 BAD_FIELD "money pending with no payment pending"
# a terminal before 0.27.0 sends the first two only: its state is not known
status_of g1 "{\"pending\":2,\"synced_at\":$now}"
expect_http 200 - "an older terminal's report"
[ "$(tjson "$G1" '[.report.pending, .report.state, .report.accepting, .report.lists_at, .report.pending_amount]')" \
  = '[2,null,null,null,null]' ] && [ "$(metric offpayd_terminals_refusing)" = 0 ] \
  && [ "$(metric offpayd_terminals_oldest_lists_timestamp_seconds)" -ge $(( T + 73 * 3600 - 5 )) ] \
  && ok "its state unknown: not counted refusing, its lists not counted" \
  || fail "older report: $(tjson "$G1" .report) $(curl -s "$URL/metrics" | grep '^offpayd_terminals')"

# ---- labels: where each gate stands ------------------------------------------
api POST "/v1/admin/terminals/$G1/label" '{"label":"Central, north gate 1"}'
[ "$status" = 200 ] && [ "$(jq -c '[.terminal_id, .label]' resp.json)" = "[$G1,\"Central, north gate 1\"]" ] \
  && grep -qE "POST /v1/admin/terminals/$G1/label by operator token from 127\.0\.0\.1: terminal $G1 labelled \"Central, north gate 1\"$" server.err \
  && ok "g1 labelled over HTTP, logged" || fail "label g1: $status $(cat resp.json)"
run_cli 0 "^terminal $G2 labelled \"Central, south gate 2\"$" -- \
  "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id "$G2" --label "Central, south gate 2"
out=$(block "$G2")
[ "$(sed -n 2p <<<"$out")" = '  label "Central, south gate 2"' ] && [ "$(tjson "$G2" .label)" = '"Central, south gate 2"' ] \
  && [ "$(tjson "$G3" .label)" = null ] \
  && ok "admin terminals: g2's label under its first line (--json too), g3 none" || fail "labels shown: $out"
api GET "/v1/admin/terminals/$G2"
[ "$(jget .label)" = "Central, south gate 2" ] && ok "GET /v1/admin/terminals/$G2: its label" || fail "GET label: $(cat resp.json)"
api GET "/v1/admin/overview"
[ "$(jq -r --argjson t "$G1" '.terminals[] | select(.terminal == $t) | .label' resp.json)" = "Central, north gate 1" ] \
  && ok "the overview: g1's label" || fail "overview label: $(jq -c .terminals resp.json)"
# a rotation carries it: the gate's new key is the same gate
term_init g1b
t rotate g1 --server "$URL" --new-terminal g1b
G1B=$(sed -n 's/^rotated: g1b is terminal \([0-9]*\) .*/\1/p' t.out)
[ "$ts" = 0 ] && [ -n "$G1B" ] && [ "$(tjson "$G1B" .label)" = '"Central, north gate 1"' ] \
  && [ "$(tjson "$G1" .label)" = '"Central, north gate 1"' ] \
  && ok "rotated to terminal $G1B, which carries g1's label (g1 keeps it)" || fail "rotation's label: $ts $(cat t.out) $(tjson "$G1B" .label)"
# ... and syncs with the same offpayd without --server (since 0.27.0)
st=0; "$OFFPAY" terminal sync --terminal g1b --passphrase-file tp >g1b.out 2>&1 || st=$?
[ "$st" = 0 ] && grep -qF "offpay: syncing with $URL (the offpayd this terminal last synced with)" g1b.out \
  && ok "the rotated terminal remembers offpayd's address" || fail "g1b sync: $st $(cat g1b.out)"
# registered with one
term_init g4
key=$("$OFFPAY" terminal key --terminal g4 --passphrase-file tp)
api POST /v1/admin/terminals "{\"merchant\":\"$M\",\"terminal_key\":\"$key\",\"label\":\"Depot, platform 4\"}"
[ "$status" = 200 ] && [ "$(jget .label)" = "Depot, platform 4" ] && G4=$(jget .terminal_id) \
  && [ "$(tjson "$G4" .label)" = '"Depot, platform 4"' ] \
  && ok "registered with its label" || fail "register with label: $status $(cat resp.json)"
# cleared: {} over HTTP, no --label from the CLI
api POST "/v1/admin/terminals/$G4/label" '{}'
[ "$status" = 200 ] && [ "$(jget .label)" = null ] && [ "$(tjson "$G4" .label)" = null ] \
  && grep -qE "terminal $G4: label cleared$" server.err \
  && ok "a label cleared over HTTP" || fail "clear: $status $(cat resp.json)"
run_cli 0 "^terminal $G2: label cleared$" -- "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id "$G2"
[ "$(tjson "$G2" .label)" = null ] && ok "g2's label cleared by the CLI" || fail "g2 label: $(tjson "$G2" .label)"
# refused, nothing changed
api POST "/v1/admin/terminals/$G1B/label" '{"label":"north\ngate"}'
expect_http 400 BAD_FIELD "a label on two lines"
api POST "/v1/admin/terminals/$G1B/label" "{\"label\":\"$(printf 'x%.0s' $(seq 65))\"}"
expect_http 400 BAD_FIELD "a label of 65 bytes"
api POST "/v1/admin/terminals/987654/label" '{"label":"nowhere"}'
expect_http 404 ENOTFOUND "no such terminal"
run_cli 2 "admin label-terminal: --label is 1 to 64 bytes of text on one line" -- \
  "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id "$G1B" --label "$(printf 'north\ngate')"
run_cli 1 "no terminal 987654 \(ENOTFOUND" -- "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id 987654 --label x
# spaces at its ends, a line separator, an empty one from the CLI (a shell
# variable not set clears nothing): refused, saying how a label is cleared
api POST "/v1/admin/terminals/$G1B/label" '{"label":" north gate "}'
expect_http 400 BAD_FIELD "a label with spaces at its ends"
jget .hint | grep -qF "a label is cleared by {} sent to /v1/admin/terminals/N/label" \
  && ok "its hint says how a label is cleared" || fail "label hint: $(cat resp.json)"
api POST "/v1/admin/terminals/$G1B/label" '{"label":"north\u2028gate"}'
expect_http 400 BAD_FIELD "a label with a line separator"
# a label that looks like another gate's: a Hangul filler at its end, a
# tag character inside (since 0.28.0; docs/protocol.md §2.3)
api POST "/v1/admin/terminals/$G1B/label" '{"label":"north gate\u3164"}'
expect_http 400 BAD_FIELD "a label ending in a Hangul filler"
api POST "/v1/admin/terminals/$G1B/label" '{"label":"north\udb40\udc41gate"}'
expect_http 400 BAD_FIELD "a label with a tag character"
api POST "/v1/admin/terminals/$G1B/label" '{"label":""}'
expect_http 400 BAD_FIELD "an empty label"
run_cli 2 "leave --label out to clear it" -- \
  "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id "$G1B" --label ""
run_cli 2 "admin label-terminal: --terminal-id T is required \(a decimal id from 1\)" -- \
  "$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id 0 --label x
[ "$(tjson "$G1B" .label)" = '"Central, north gate 1"' ] && ok "the refusals changed nothing" || fail "g1b label: $(tjson "$G1B" .label)"
# a registration sent again under its Idempotency-Key (a provisioning
# script retrying) answers the label the terminal has now and changes
# nothing: an operator's new label since stays
term_init g5
key=$("$OFFPAY" terminal key --terminal g5 --passphrase-file tp)
body="{\"merchant\":\"$M\",\"terminal_key\":\"$key\",\"label\":\"Depot, gate 5\"}"
api_once gate-5 POST /v1/admin/terminals "$body"
G5=$(jget .terminal_id)
[ "$status" = 200 ] && grep -qE "new terminal $G5 of merchant $M, key [0-9a-f]{16}\.\.\., expires [0-9T:-]+Z, label \"Depot, gate 5\"$" server.err \
  && ok "registered with its label, logged" || fail "g5: $status $(cat resp.json)"
"$OFFPAY" admin label-terminal --db "$LEDGER" --terminal-id "$G5" --label "Depot, gate 5 (moved to platform 3)" >/dev/null
api_once gate-5 POST /v1/admin/terminals "$body"
[ "$status" = 200 ] && [ "$(jq -c '[.replayed, .label]' resp.json)" = '[true,"Depot, gate 5 (moved to platform 3)"]' ] \
  && [ "$(tjson "$G5" .label)" = '"Depot, gate 5 (moved to platform 3)"' ] \
  && ok "a registration replayed: the label it has now, the operator's new one kept" || fail "replay: $status $(cat resp.json) $(tjson "$G5" .label)"
# an offpayd before 0.27.0 refuses the new fields ("unknown field"): a
# terminal of 0.27.0 then sends the two it knows, and is still counted
stop_server
OFFPAY_TEST_STATUS_BEFORE_0_27=1 start_server
st=0; "$OFFPAY" terminal sync --terminal g1b --passphrase-file tp --server "$URL" >g1b.out 2>&1 || st=$?
[ "$st" = 0 ] && [ "$(tjson "$G1B" '[.report.pending, .report.state]')" = '[0,null]' ] \
  && [ "$(tjson "$G1B" '.report.reported_at | fromdate')" = "$OFFPAY_NOW" ] \
  && ok "with an offpayd before 0.27.0: the report of the two fields it knows" || fail "old offpayd: $st $(cat g1b.out) $(tjson "$G1B" .report)"
stop_server
start_server
out=$("$OFFPAY" admin terminals --db "$LEDGER" --stale 100000)
[ "$out" = "no terminal needs a look (none silent, refusing, with its clock off or lists over 100000 h old)" ] \
  && ok "--stale with nothing past it says so" || fail "--stale 100000: $out"
audits "the fleet"
finish
