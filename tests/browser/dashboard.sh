#!/usr/bin/env bash
# dashboard.sh — the operator dashboard (docs/dashboard.md) in a real
# browser: headless Chromium (Debian's chromium) driven by puppeteer-core
# (tests/browser/package-lock.json, installed by scripts/setup.sh; nothing
# is fetched here) against a real offpayd that ran a double spend (a
# cloned wallet reuses a counter at two terminals), a duplicate
# presentment (one code at two terminals), a revoked terminal, and a
# terminal whose clock runs an hour ahead, so offpayd leaves its payment
# undecided and the terminal reports one entry not uploaded.
#
# The page must show: money by account kind equal to the sums of the
# accounts' balances read one by one and to `offpay admin audit`'s money
# inside; the audit passing; both cases with their kinds; the revoked
# credentials (a reason of 128 bytes whole) and terminal (its reason as
# text, also beside its state in the terminals' table); each terminal's
# last sync and un-uploaded count, and what needs attention in words in
# its row. A wrong token gives a clear error and no data. One case's
# evidence is downloaded by the browser and checked with
# `offpay verify-evidence`. A ledger broken behind offpayd's back shows
# "AUDIT FAILED" (then it is put back), in the alert and the title too.
# What the page says when things fail (requests the browser answers
# itself, dashboard.js), and a charge_mismatch case shown without a
# download button. Also GET /v1/admin/overview (401
# without the token, the reply's shape) and POST /v1/terminal/status's
# refusals. The page's accessibility (focus, the range's Apply, reflow at
# 390 and 320 px, the chart's legend, contrasts), checked
# by dashboard.js in the page ("checks"), each check required here.
# Screenshots: ARTIFACTS/dashboard-*.png (paths printed).
#
#   dashboard.sh OFFPAY OFFPAYD UPLOAD_TOOL ARTIFACTS
here=$(cd "$(dirname "$0")" && pwd)
ARTIFACTS=$(realpath -m "${4:?usage: dashboard.sh OFFPAY OFFPAYD UPLOAD_TOOL ARTIFACTS}")

# ---- the browser and its driver: installed by scripts/setup.sh only ----
DEPS=${OFFPAY_BROWSER_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/offpay-browser}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
need() { echo "FAIL $1 (run scripts/setup.sh)"; exit 1; }
command -v node >/dev/null || need "node not found"
[ -x "$CHROMIUM" ] || need "no Chromium at $CHROMIUM"
[ -f "$DEPS/node_modules/puppeteer-core/package.json" ] \
  || need "puppeteer-core is not installed in $DEPS"
cmp -s "$here/package-lock.json" "$DEPS/package-lock.json" \
  || need "$DEPS holds another driver than tests/browser/package-lock.json"
export NODE_PATH=$DEPS/node_modules CHROMIUM
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/dashboard-*.png "$ARTIFACTS"/case-*.json

source "$here/../e2e/offpayd_lib.sh"
start_server
fetch_bundle

# ---- the scenario (as tests/e2e/offpayd_evidence.sh) --------------------
api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"500.00","ref":"guarantee"}'
expect_http 200 - "guarantee funded"
new_merchant "Bakery A"; MA=$MACCT; new_terminal ta "$MERCHANT"; TA=$TID
new_merchant "Kiosk B"; MB=$MACCT; new_terminal tb "$MERCHANT"; TB=$TID
new_merchant "Cafe C"; MC=$MACCT; new_terminal tc "$MERCHANT"; TC=$TID
new_merchant "Stall D"; MD=$MACCT; new_terminal td "$MERCHANT"; TD=$TID
new_merchant "Van E"; ME=$MACCT; new_terminal te "$MERCHANT"; TE=$TID
# tg: Van E's second terminal, registered and never synced
new_terminal tg "$MERCHANT"; TG=$TID
sync() { "$OFFPAY" terminal sync --terminal "$1" --passphrase-file tp --server "$URL" >sync.out 2>&1; }

# step                                       W      esc    A     B     C     G
# a double spend: w1 pays 10.00 at ta, its clone 12.00 at tb (same counter)
# ta, tb sync                                6000   1800   1000  1200  0     50000
W=$(new_account payer-1 100.00)
new_wallet w1 "$W" 40.00; S=$SERIAL
cp w1 w1clone; cp w1.log w1clone.log
c=$(pay w1 10.00); accept ta "$c" 10.00 && ok "w1 accepted at ta" || fail "w1 accept"
c=$(pay w1clone 12.00); accept tb "$c" 12.00 && ok "the clone accepted at tb" || fail "clone accept"
sync ta && sync tb && ok "ta and tb synced" || fail "sync: $(cat sync.out)"
balances "W=$W:6000 esc=esc/$S:1800 A=$MA:1000 B=$MB:1200 G=$G:50000" "double spend settled"
# a duplicate presentment: one code of w2 (15.00) at ta and at tc
# ta, tc sync                                W2 3000  esc2 0  A 2500  C 1500  G 49000
W2=$(new_account payer-2 50.00)
new_wallet w2 "$W2" 20.00; S2=$SERIAL
c=$(pay w2 15.00)
accept ta "$c" 15.00 && accept tc "$c" 15.00 && ok "one code accepted at ta and tc" || fail "accept twice"
sync ta && sync tc && ok "ta and tc synced" || fail "sync: $(cat sync.out)"
balances "W2=$W2:3000 esc2=esc/$S2:0 A=$MA:2500 C=$MC:1500 G=$G:49000" "duplicate settled"
# td is revoked by the operator, for a reason the page must show as text
TD_WHY='lost at the fair <i>Sunday</i>'
api POST "/v1/admin/terminals/$TD/revoke" "{\"reason\":\"$TD_WHY\"}"
expect_http 200 - "terminal $TD revoked"
# te's clock runs an hour ahead: offpayd leaves its payment undecided, so
# te reports one entry not uploaded at its sync (and exits 3)
W3=$(new_account payer-3 30.00)
new_wallet w3 "$W3" 10.00; S3=$SERIAL
ahead=$(( $(date +%s) + 3600 ))
c=$(OFFPAY_NOW=$ahead pay w3 4.00)
OFFPAY_NOW=$ahead accept te "$c" 4.00 && ok "te accepted a payment an hour ahead" || fail "te accept"
st=0; OFFPAY_NOW=$ahead sync te || st=$?
[ "$st" = 3 ] && grep -q "1 left to upload" sync.out && ok "te: 1 left to upload (exit 3)" \
  || fail "te sync ($st) said: $(cat sync.out)"
balances "W3=$W3:2000 esc3=esc/$S3:1000 E=$ME:0" "te's payment not settled yet"
audit_passes "the scenario"
# w3's credential revoked for a reason of the ledger's whole 128 bytes,
# two-byte characters across the 64th byte and to the last: the overview
# lists it whole (it cut it at 64 bytes before), and the page shows it so
S3_WHY="$(printf 'a%.0s' $(seq 63))éé Verlust gemeldet$(printf 'ü%.0s' $(seq 22))"
[ "$(printf %s "$S3_WHY" | wc -c)" = 128 ] || fail "the long reason is not 128 bytes"
api POST "/v1/admin/credentials/$S3/revoke" "{\"reason\":\"$S3_WHY\"}"
expect_http 200 - "credential $S3 revoked for a reason of 128 bytes"
# tc reports (as a terminal of 0.27.0 does) that it refuses payments and
# that its lists are two hours older than its sync: the page says both
tc_now=$(date +%s)
treq tc /v1/terminal/status "{\"pending\":0,\"synced_at\":$tc_now,\"state\":\"ESYNC_REQUIRED\",\"lists_at\":$((tc_now - 7200)),\"pending_amount\":\"0.00\"}"
expect_http 200 - "tc's report: refusing, its lists 2 h old"
# tc is labelled where it stands: the page says it beside its id, as text
TC_LABEL='Cafe C <b>till</b> 2'
api POST "/v1/admin/terminals/$TC/label" "{\"label\":\"$TC_LABEL\"}"
expect_http 200 - "tc labelled"

# ---- what the page must show, computed here -----------------------------
api GET "/v1/admin/cases?kind=double_spend"; CASE_DS=$(jget '.cases[0].id')
api GET "/v1/admin/cases?kind=duplicate"; CASE_DUP=$(jget '.cases[0].id')
[ -n "$CASE_DS" ] && [ "$CASE_DS" != null ] && [ -n "$CASE_DUP" ] && [ "$CASE_DUP" != null ] \
  && ok "cases $CASE_DS (double_spend) and $CASE_DUP (duplicate)" || fail "cases missing"
sum() { local t=0 v; for v in "$@"; do t=$((t + v)); done; echo "$t"; }
want_wallet=$(sum "$(balance "$W")" "$(balance "$W2")" "$(balance "$W3")")
want_escrow=$(sum "$(remaining "$S")" "$(remaining "$S2")" "$(remaining "$S3")")
want_merchant=$(sum "$(balance "$MA")" "$(balance "$MB")" "$(balance "$MC")" \
  "$(balance "$MD")" "$(balance "$ME")")
want_guarantee=$(balance "$G")
"$OFFPAY" admin audit --db "$LEDGER" --json > audit.json
inside=$(jq -r '.money[] | select(.currency == "EUR") | .inside_minor' audit.json)
[ "$(jq -r .ok audit.json)" = true ] && ok "offpay admin audit passes beside offpayd" \
  || fail "admin audit: $(cat audit.json)"
[ "$(sum "$want_wallet" "$want_escrow" "$want_merchant" "$want_guarantee")" = "$inside" ] \
  && ok "the accounts' balances add up to the audit's money inside ($inside)" \
  || fail "balances do not add up to $inside"
want_world=$((-inside))
echo "# expected by kind: wallet $want_wallet escrow $want_escrow merchant $want_merchant guarantee $want_guarantee world $want_world"
now_before=$(date +%s)

# ---- GET /v1/admin/overview ---------------------------------------------
status=$(curl -s -o resp.json -w '%{http_code}' "$URL/v1/admin/overview")
expect_http 401 UNAUTHORIZED "overview without the operator token"
status=$(curl -s -o resp.json -w '%{http_code}' -H 'Authorization: Bearer wrong' "$URL/v1/admin/overview")
expect_http 401 UNAUTHORIZED "overview with a wrong token"
api GET "/v1/admin/overview?width=10"
expect_http 400 BAD_PARAMETER "a bucket narrower than a minute"
api GET "/v1/admin/overview?from=0"
expect_http 400 BAD_PARAMETER "more than 744 buckets"
api GET "/v1/admin/overview?from=x"
expect_http 400 BAD_PARAMETER "a malformed from"
api POST /v1/admin/overview '{}'
expect_http 405 METHOD_NOT_ALLOWED "overview is GET only"
api GET /v1/admin/overview
expect_http 200 - "overview"
cp resp.json overview.json
kind_minor() { jq -r --arg k "$1" '[.kinds[] | select(.kind == $k) | .balance.minor] | add // 0' overview.json; }
[ "$(jq -r 'has("audit")' overview.json)" = false ] \
  && [ "$(jq -r '[.time, .settlement.from, .settlement.to, .settlement.width] | map(type) | join(",")' overview.json)" = "number,number,number,number" ] \
  && [ "$(jq -r '.settlement.width' overview.json)" = 3600 ] \
  && [ "$(jq -r '.settlement.to - .settlement.from <= 86400 + 3600' overview.json)" = true ] \
  && ok "overview: hourly buckets over the last day (the audit is asked for apart)" || fail "overview shape: $(head -c 400 overview.json)"
[ "$(kind_minor wallet)" = "$want_wallet" ] && [ "$(kind_minor escrow)" = "$want_escrow" ] \
  && [ "$(kind_minor merchant)" = "$want_merchant" ] && [ "$(kind_minor guarantee)" = "$want_guarantee" ] \
  && [ "$(kind_minor world)" = "$want_world" ] \
  && [ "$(jq -r '[.kinds[] | select(.kind == "wallet") | .accounts] | add' overview.json)" = 3 ] \
  && ok "overview: money by kind as computed" || fail "overview kinds: $(jq -c .kinds overview.json)"
[ "$(jq -r '[.settlement.buckets[] | select(.outcome == "double_spend") | .count] | add' overview.json)" = 1 ] \
  && [ "$(jq -r '[.settlement.buckets[] | select(.outcome == "duplicate") | .count] | add' overview.json)" = 1 ] \
  && [ "$(jq -r '[.settlement.buckets[] | .count] | add' overview.json)" = 4 ] \
  && [ "$(jq -r '[.settlement.buckets[] | .paid.minor] | add' overview.json)" = "$want_merchant" ] \
  && [ "$(jq -r '[.settlement.buckets[] | .covered.minor] | add' overview.json)" = 1000 ] \
  && ok "overview: 4 presentments (1 double_spend, 1 duplicate), paid what the merchants hold, 10.00 of it covered" \
  || fail "overview buckets: $(jq -c .settlement.buckets overview.json)"
tjq() { jq -r --argjson t "$1" ".terminals[] | select(.terminal == \$t) | $2" overview.json; }
[ "$(tjq "$TA" .presentments)" = 2 ] && [ "$(tjq "$TA" '.report.pending')" = 0 ] \
  && [ "$(tjq "$TE" '.report.pending')" = 1 ] && [ "$(tjq "$TE" '.presentments')" = 0 ] \
  && [ "$(tjq "$TE" '.report.synced_at - .report.reported_at > 3000')" = true ] \
  && [ "$(tjq "$TD" '.report')" = null ] && [ "$(tjq "$TD" '.revoked')" = true ] \
  && [ "$(tjq "$TA" '.merchant_name')" = "Bakery A" ] \
  && ok "overview: terminals' uploads and reports (te: 1 pending, its clock an hour ahead)" \
  || fail "overview terminals: $(jq -c .terminals overview.json)"
[ "$(jq -r '[.revoked_credentials[].serial] | sort | join(" ")' overview.json)" = "$(printf '%s\n' "$S" "$S2" "$S3" | sort | tr '\n' ' ' | sed 's/ $//')" ] \
  && [ "$(jq -r --arg s "$S" '.revoked_credentials[] | select(.serial == $s) | .remaining.minor' overview.json)" = 1800 ] \
  && ok "overview: credentials $S, $S2 and $S3 revoked" || fail "revoked: $(jq -c .revoked_credentials overview.json)"
[ "$(jq -r --arg s "$S3" '.revoked_credentials[] | select(.serial == $s) | .reason' overview.json)" = "$S3_WHY" ] \
  && ok "overview: $S3's reason whole, 128 bytes" \
  || fail "the long reason: $(jq -c --arg s "$S3" '.revoked_credentials[] | select(.serial == $s)' overview.json)"

# ---- the page in headless Chromium --------------------------------------
set +e
node "$here/dashboard.js" "$URL" "$TOKEN" "$ARTIFACTS" "$CASE_DS" > seen.json 2> node.err
node_rc=$?
set -e
if [ "$node_rc" -ne 0 ]; then
  fail "the browser run failed ($node_rc): $(tail -n 20 node.err)"
  finish
fi
ok "the page ran in $(chromium --version 2>/dev/null | head -n 1)"
cp seen.json "$ARTIFACTS/dashboard-seen.json"
seen() { jq -r "$1" seen.json; }
[ "$(seen .status)" = 200 ] \
  && seen '.headers["content-security-policy"]' | grep -q "default-src 'none'; script-src 'self'" \
  && seen '.headers["content-security-policy"]' | grep -q "connect-src 'self'" \
  && [ "$(seen '.headers["x-content-type-options"]')" = nosniff ] \
  && [ "$(seen '.headers["x-frame-options"]')" = DENY ] \
  && ok "the page comes with a strict Content-Security-Policy" || fail "page headers: $(jq -c .headers seen.json)"
[ "$(seen .html_has_data)" = false ] && ok "the page's HTML holds no data" || fail "the HTML holds data"
[ "$(seen '.console_errors | length')" = 1 ] \
  && seen '.console_errors[0]' | grep -q "401" \
  && ok "no console error but the wrong token's 401 (no CSP violation)" \
  || fail "console errors: $(jq -c .console_errors seen.json)"
[ "$(seen '.requests_elsewhere | length')" = 0 ] && ok "every request stayed on offpayd's origin" \
  || fail "requests elsewhere: $(jq -c .requests_elsewhere seen.json)"
seen .wrong_token.error | grep -q "Wrong operator token: offpayd answered 401" \
  && [ "$(seen .wrong_token.board_hidden)" = true ] && [ "$(seen .wrong_token.stored)" = 0 ] \
  && [ "$(seen .wrong_token.as_of)" = "" ] \
  && ok "a wrong token: a clear error on the page, nothing shown, nothing kept, nothing called STALE" \
  || fail "wrong token: $(jq -c .wrong_token seen.json)"
[ "$(seen .error_hidden)" = true ] && [ "$(seen .token_field_empty)" = true ] \
  && [ "$(seen .login_hidden)" = true ] \
  && ok "the right token: the board, no error, no token field" || fail "after the token: $(jq -c '{error_hidden, token_field_empty, login_hidden}' seen.json)"
[ "$(seen .audit.ok)" = true ] && seen .audit.text | grep -q "audit passed" \
  && ok "the page: $(seen .audit.text)" || fail "audit on the page: $(jq -c .audit seen.json)"
page_kind() { jq -r --arg k "$1" '[.kinds[] | select(.data.kind == $k) | .cells[3].data.minor | tonumber] | add // 0' seen.json; }
page_text() { jq -r --arg k "$1" '[.kinds[] | select(.data.kind == $k) | .cells[3].text] | join(",")' seen.json; }
for k in wallet:$want_wallet escrow:$want_escrow merchant:$want_merchant guarantee:$want_guarantee world:$want_world; do
  name=${k%%:*}; want=${k#*:}
  dec=$(printf '%d.%02d EUR' $((want / 100)) $(( (want < 0 ? -want : want) % 100 )))
  [ "$want" -lt 0 ] && [ $((want / 100)) -eq 0 ] && dec="-$dec"
  [ "$(page_kind "$name")" = "$want" ] && [ "$(page_text "$name")" = "$dec" ] \
    && ok "the page: $name $dec" || fail "the page: $name $(page_kind "$name") '$(page_text "$name")', want $want '$dec'"
done
[ "$(seen '[.cases[] | .data.case + ":" + .data.kind] | join(" ")')" = "$CASE_DS:double_spend $CASE_DUP:duplicate" ] \
  && ok "the page: case $CASE_DS double_spend, case $CASE_DUP duplicate" \
  || fail "cases on the page: $(jq -c '[.cases[].data]' seen.json)"
[ "$(seen '[.revoked_credentials[].data.serial] | sort | join(" ")')" = "$(jq -r '[.revoked_credentials[].serial] | sort | join(" ")' overview.json)" ] \
  && [ "$(seen '.revoked_credentials | length')" = 3 ] \
  && ok "the page: revoked credentials $S, $S2 and $S3" || fail "revoked on the page: $(jq -c '[.revoked_credentials[].data]' seen.json)"
[ "$(jq -r --arg s "$S3" '.revoked_credentials[] | select(.data.serial == $s) | .cells[3].text' seen.json)" = "$S3_WHY" ] \
  && ok "the page: $S3's reason whole" || fail "the long reason on the page: $(jq -c '.revoked_credentials' seen.json)"
[ "$(seen '[.revoked_terminals[].data.terminal] | join(" ")')" = "$TD" ] \
  && [ "$(seen '.revoked_terminals[0].cells[3].text')" = "$TD_WHY" ] \
  && [ "$(tjq "$TD" '.revoke_reason')" = "$TD_WHY" ] \
  && ok "the page: terminal $TD revoked, its reason as text" || fail "revoked terminals: $(jq -c '.revoked_terminals' seen.json)"
trow() { jq -r --arg t "$1" ".terminals[] | select(.data.terminal == \$t) | $2" seen.json; }
te_sync=$(tjq "$TE" .report.reported_at)
[ "$(trow "$TE" '.cells[5].data.pending')" = 1 ] && [ "$(trow "$TE" '.cells[5].text')" = 1 ] \
  && [ "$(trow "$TE" '.cells[3].data.time')" = "$te_sync" ] \
  && [ "$(trow "$TE" '.cells[3].text')" = "$(date -u -d "@$te_sync" '+%Y-%m-%d %H:%M:%S UTC')" ] \
  && ok "the page: terminal $TE synced $(trow "$TE" '.cells[3].text'), 1 entry not uploaded" \
  || fail "te on the page: $(jq -c --arg t "$TE" '.terminals[] | select(.data.terminal == $t)' seen.json)"
ta_sync=$(tjq "$TA" .report.reported_at)
[ "$(trow "$TA" '.cells[5].text')" = 0 ] && [ "$(trow "$TA" '.cells[3].data.time')" = "$ta_sync" ] \
  && [ "$ta_sync" -le "$now_before" ] && [ "$(trow "$TA" '.cells[6].text')" = 2 ] \
  && ok "the page: terminal $TA synced, nothing left, 2 presentments" \
  || fail "ta on the page: $(jq -c --arg t "$TA" '.terminals[] | select(.data.terminal == $t)' seen.json)"
[ "$(trow "$TD" '.cells[5].text')" = unknown ] && [ "$(trow "$TD" '.cells[3].text')" = "not reported" ] \
  && ok "the page: terminal $TD never reported" || fail "td on the page"
# why a terminal was revoked, beside its state in the terminals' own table
# (under its header), as text; '-' for a live one
td_at=$(tjq "$TD" .revoked_at)
[ "$(seen '.terminals_head[7:10] | join("|")')" = "state|revocation reason|attention" ] \
  && [ "$(trow "$TD" '.cells[7].text')" = "revoked $(date -u -d "@$td_at" '+%Y-%m-%d %H:%M:%S UTC')" ] \
  && [ "$(trow "$TD" '.cells[8].text')" = "$TD_WHY" ] \
  && [ "$(trow "$TA" '.cells[7].text')" = active ] && [ "$(trow "$TA" '.cells[8].text')" = "-" ] \
  && ok "the page: terminal $TD's row says why it was revoked ($TD_WHY), $TA's '-'" \
  || fail "the terminals' reasons: $(jq -c '{h: .terminals_head, t: [.terminals[] | [.data.terminal, .cells[7].text, .cells[8].text]]}' seen.json)"
# a terminal needing attention says so in words in its row (not colour only)
trow "$TE" '.cells[9].text' | grep -Eq "^needs attention: 1 entry not uploaded \(4\.00 EUR\); clock (59 min|1 h [0-9]+ min) ahead of offpayd's$" \
  && [ "$(trow "$TE" '.data.attention')" = "pending clock" ] \
  && ok "the page: terminal $TE $(trow "$TE" '.cells[9].text')" \
  || fail "te's attention: $(jq -c --arg t "$TE" '.terminals[] | select(.data.terminal == $t)' seen.json)"
[ "$(trow "$TC" '.cells[0].text')" = "$TC ($TC_LABEL)" ] && [ "$(trow "$TA" '.cells[0].text')" = "$TA" ] \
  && ok "the page: terminal $TC's label beside its id, as text; $TA's id alone" \
  || fail "labels on the page: $(jq -c '[.terminals[] | .cells[0].text]' seen.json)"
[ "$(trow "$TC" '.cells[9].text')" = "needs attention: refusing payments (ESYNC_REQUIRED); lists not taken at its last sync (2 h 0 min old then)" ] \
  && [ "$(trow "$TC" '.data.attention')" = "refusing lists" ] \
  && ok "the page: terminal $TC $(trow "$TC" '.cells[9].text')" \
  || fail "tc's attention: $(jq -c --arg t "$TC" '.terminals[] | select(.data.terminal == $t)' seen.json)"
[ "$(trow "$TG" '.cells[9].text')" = "not known (no report)" ] && [ "$(trow "$TG" '.data.attention')" = "" ] \
  && ok "the page: terminal $TG, registered just now and never synced, is not flagged yet" \
  || fail "tg's attention: $(jq -c --arg t "$TG" '.terminals[] | select(.data.terminal == $t)' seen.json)"
[ "$(trow "$TA" '.cells[9].text')" = none ] && [ "$(trow "$TA" '.data.attention')" = "" ] \
  && [ "$(trow "$TD" '.cells[9].text')" = "not known (no report)" ] \
  && ok "the page: terminal $TA needs no attention, $TD's is not known" \
  || fail "ta/td attention: $(jq -c '[.terminals[] | [.data.terminal, .data.attention, .cells[9].text]]' seen.json)"
[ "$(seen '[.buckets[] | .cells[3].text | tonumber] | add')" = 4 ] && [ "$(seen .bars)" -ge 1 ] \
  && ok "the page: settlement over time, 4 presentments, $(seen .bars) bar(s)" \
  || fail "buckets on the page: $(jq -c '.buckets' seen.json)"
[ "$(seen '[.daily.buckets[] | .cells[3].text | tonumber] | add')" = 4 ] \
  && [ "$(seen '[.daily.buckets[].data.start | tonumber | . % 86400] | unique | join(",")')" = 0 ] \
  && ok "the page: $(seen .daily.range)" || fail "daily buckets: $(jq -c .daily seen.json)"

# ---- what the page said when things failed (dashboard.js's faults) -------
fs() { jq -r ".faults.$1" seen.json; }
[ "$(fs download.note)" = "could not download case $CASE_DS: /v1/admin/cases/$CASE_DS/evidence answered HTTP 503 ESTORE: evidence: the ledger did not answer" ] \
  && [ "$(fs download.error)" = null ] && ! fs download.as_of | grep -q STALE \
  && ok "a failed download: said beside its button, the board not STALE" \
  || fail "a failed download: $(jq -c .faults.download seen.json)"
fs unreachable.error | grep -qx "Could not load the dashboard: offpayd did not answer (down, or the network or a proxy): nothing new is shown" \
  && fs unreachable.as_of | grep -q "(STALE: the last refresh failed)" \
  && fs unreachable.audit | grep -q "^audit not known: the last refresh failed (the last result, at .* UTC, was: audit passed: " \
  && [ "$(fs unreachable.audit_class)" = audit ] \
  && ok "offpayd not answering: said so, the board STALE, the audit not known (the last result given)" \
  || fail "offpayd not answering: $(jq -c .faults.unreachable seen.json)"
fs proxy.error | grep -q "^Could not load the dashboard: HTTP 502 from something in front of offpayd, not offpayd" \
  && ! fs proxy.error | grep -q "JSON" \
  && ok "a proxy's HTML 502: $(fs proxy.error)" || fail "a proxy's 502: $(jq -c .faults.proxy seen.json)"
fs audit_503.error | grep -q "^The audit did not run: /v1/admin/audit answered HTTP 503 ESTORE: audit: the ledger did not answer in time" \
  && ! fs audit_503.as_of | grep -q STALE && fs audit_503.audit | grep -q "^audit not known: the audit did not run" \
  && [ "$(fs audit_503.audit_class)" = audit ] \
  && ok "an audit that cannot run (503 ESTORE): its hint kept, the fresh figures not STALE" \
  || fail "an audit that cannot run: $(jq -c .faults.audit_503 seen.json)"
fs audit_failed.title | grep -q "^AUDIT FAILED – offpay operator dashboard$" \
  && fs audit_failed.error | grep -q "^AUDIT FAILED: .*escrow mismatch 1.*, mark mismatch 2, case mismatch 0, result mismatch 3, fund mismatch 0 " \
  && [ "$(fs audit_failed.audit_class)" = "audit fail" ] \
  && ok "a failed audit: in the title and in the alert" || fail "a failed audit: $(jq -c .faults.audit_failed seen.json)"
[ "$(fs passed_again.title)" = "offpay operator dashboard" ] && [ "$(fs passed_again.error)" = null ] \
  && fs passed_again.audit | grep -q "^audit passed" && ! fs passed_again.as_of | grep -q STALE \
  && [ "$(fs passed_again.audit_class)" = "audit pass" ] \
  && ok "passing again: the title and the alert cleared" || fail "passing again: $(jq -c .faults.passed_again seen.json)"

# ---- the evidence the browser saved --------------------------------------
ev=$(seen .downloaded)
[ -n "$ev" ] && [ "$ev" != null ] && [ -s "$ev" ] && [ "$(seen .button_after)" = downloaded ] \
  && ok "the browser saved $ev" || fail "no evidence download: $(jq -c '{downloaded, button_after}' seen.json)"
run_cli 0 "PROVES: the wallet key of credential $S signed two different payment codes with the same counter 1" -- \
  "$OFFPAY" verify-evidence "$ARTIFACTS/case-$CASE_DS.json" --root iss/root.pub
[ "$(seen .reloaded)" = true ] && ok "a reload keeps the tab's token" || fail "reload"

# ---- what dashboard.js checked in the page itself (accessibility) -------
for name in login_focus range_arrow_no_reload range_focus refresh_focus token_focus relogin_focus \
            old_sync never_reported reason_not_recorded money_grouped buckets_by_currency narrow_login narrow_login_320 narrow_board \
            narrow_board_320 chart_legend chart_contrast chart_legend_all empty_contrast text_contrast; do
  c=$(jq -c --arg n "$name" '.checks[] | select(.name == $n)' seen.json)
  [ -n "$c" ] && [ "$(jq -r .ok <<<"$c")" = true ] && ok "the page: $(jq -r .what <<<"$c")" \
    || fail "the page: $name: ${c:-not checked}"
done

for png in "$ARTIFACTS"/dashboard-login.png "$ARTIFACTS"/dashboard-wrong-token.png \
           "$ARTIFACTS"/dashboard-overview.png "$ARTIFACTS"/dashboard-narrow-login.png \
           "$ARTIFACTS"/dashboard-narrow-board.png; do
  [ -s "$png" ] && [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
    && ok "screenshot $png" || fail "no screenshot $png"
done

# ---- POST /v1/terminal/status: signed by a terminal, strict -------------
"$UPLOAD_TOOL" --terminal ta --passphrase-file tp --body up.body --headers up.hdr >/dev/null
printf '{"pending":3,"synced_at":%s}' "$(date +%s)" > up.body
send_status() {
  status=$(curl -s -o resp.json -w '%{http_code}' -H @up.hdr "$@" \
      -H 'Content-Type: application/json' --data-binary @up.body "$URL/v1/terminal/status")
}
send_status
expect_http 401 SIGNATURE_INVALID "a status report whose body the signature does not cover"
status=$(curl -s -o resp.json -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"pending":3,"synced_at":1}' "$URL/v1/terminal/status")
expect_http 401 SIGNATURE_MISSING "an unsigned status report"
# (signed by ta: who sent a body is checked before the body is read)
treq ta /v1/terminal/status '{"pending":-1,"synced_at":1}'
expect_http 400 BAD_FIELD "a negative pending count"
treq ta /v1/terminal/status '{"pending":1,"synced_at":1,"x":1}'
expect_http 400 BAD_FIELD "an unknown field"
api GET /v1/admin/overview
[ "$(jq -r --argjson t "$TA" '.terminals[] | select(.terminal == $t) | .report.pending' resp.json)" = 0 ] \
  && ok "refused reports changed nothing" || fail "report changed: $(jq -c .terminals resp.json)"
# Signed by td's key (revoked: it may still report what it holds).
printf '{"pending":7,"synced_at":1700000000}' > status.body
"$UPLOAD_TOOL" --terminal td --passphrase-file tp --body up.body --headers up.hdr \
    --path /v1/terminal/status --sign-body status.body >/dev/null
cp status.body up.body
send_status
expect_http 200 - "a revoked terminal's signed report"
[ "$(jget .terminal_id)" = "$TD" ] && [ "$(jget .pending)" = 7 ] && ok "recorded for terminal $TD" \
  || fail "report reply: $(cat resp.json)"
send_status
expect_http 409 NONCE_REPLAYED "the same report again"
api GET /v1/admin/overview
[ "$(jq -r --argjson t "$TD" '.terminals[] | select(.terminal == $t) | [.report.pending, .report.synced_at] | join(" ")' resp.json)" = "7 1700000000" ] \
  && ok "the overview shows td's report" || fail "td report: $(jq -c .terminals resp.json)"

# ---- a charge_mismatch case: no evidence file ----------------------------
# tf accepts 2.50 of a code authorizing 5.00; its key (copied) uploads it
# charged 5.00 first; tf's own sync then opens a charge_mismatch case
new_merchant "Shop F"; new_terminal tf "$MERCHANT"
new_wallet w4 "$W3" 5.00
c=$(pay w4 5.00); accept tf "$c" 2.50 || fail "tf accepts 2.50"
"$UPLOAD_TOOL" --terminal tf --passphrase-file tp --body up.body --headers up.hdr >/dev/null
jq -c '.items[0].charged = 500' up.body > forged.json
upload tf --sign-body forged.json
"$OFFPAY" terminal sync --terminal tf --passphrase-file tp --server "$URL" >sync.out 2>&1 || true
api GET "/v1/admin/cases?kind=charge_mismatch"; CASE_CM=$(jget '.cases[0].id')
api GET "/v1/admin/cases/$CASE_CM/evidence"
expect_http 400 EEVIDENCE "no evidence file for charge_mismatch case $CASE_CM"
[ "$(jget .hint)" = "case $CASE_CM: a charge_mismatch case has no evidence file: the terminal's two uploads in the ledger are the record" ] \
  && ok "its hint: $(jget .hint)" || fail "its hint: $(cat resp.json)"

# The duplicate's case worked and closed: the page lists the open ones only
api POST "/v1/admin/cases/$CASE_DUP/close" '{"resolution":"the payer refunded the merchant"}'
expect_http 200 - "case $CASE_DUP closed"

# ---- a ledger that does not hold: the page says so ----------------------
# An escrow's stored remainder changed behind offpayd's back, then put back.
ledger_sql ledger "UPDATE credentials SET remaining = remaining + 1 WHERE serial = $S3"
set +e
node "$here/dashboard.js" "$URL" "$TOKEN" "$ARTIFACTS" - > seen2.json 2> node.err
node_rc=$?
set -e
[ "$node_rc" -eq 0 ] && [ "$(jq -r .audit.ok seen2.json)" = false ] \
  && jq -r .audit.text seen2.json | grep -q "AUDIT FAILED: .*escrow mismatch 1" \
  && ok "the page: $(jq -r .audit.text seen2.json)" \
  || fail "a failing audit on the page ($node_rc): $(cat seen2.json; tail -n 5 node.err)"
jq -r .title seen2.json | grep -q "^AUDIT FAILED – " && jq -r .error seen2.json | grep -q "^AUDIT FAILED: .*escrow mismatch 1" \
  && [ "$(jq -r .roles seen2.json)" = "as-of=status error=alert audit=status" ] \
  && ok "the failed audit announced: in the alert and the title; the audit line and the time are status regions" \
  || fail "the failed audit announced: $(jq -c '{title, error, roles}' seen2.json)"
[ "$(jq -r --arg c "$CASE_CM" '.cases[] | select(.data.case == $c) | .data.kind + ": " + .cells[6].text' seen2.json)" \
    = "charge_mismatch: no evidence file: the two uploads in the ledger are the record" ] \
  && [ "$(jq -r '.evidence_buttons | join(" ")' seen2.json)" = "$CASE_DS" ] \
  && ok "the page: case $CASE_CM (charge_mismatch) has no download button, and says why" \
  || fail "the charge_mismatch case on the page: $(jq -c '{cases, evidence_buttons}' seen2.json)"
[ "$(jq -r '[.cases[] | .data.case] | join(" ")' seen2.json)" = "$CASE_DS $CASE_CM" ] \
  && ok "the page: the open cases $CASE_DS and $CASE_CM, not $CASE_DUP, closed" \
  || fail "open cases on the page: $(jq -c '[.cases[].data]' seen2.json)"
ledger_sql ledger "UPDATE credentials SET remaining = remaining - 1 WHERE serial = $S3"
audit_passes "the ledger put back"
[ -s "$ARTIFACTS/dashboard-audit-failed.png" ] && ok "screenshot $ARTIFACTS/dashboard-audit-failed.png" \
  || fail "no screenshot of the failed audit"

# ---- texts operators read, and what admin answers carry ------------------
api GET /v1/admin/overview
[ "$(jq -r '.more | [.kinds, .buckets, .terminals, .revoked_credentials] | map(tostring) | join(" ")' resp.json)" = "false false false false" ] \
  && ok "overview: every list whole (more: all false)" || fail "more: $(jq -c .more resp.json)"
curl -s -D hdr.txt -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL/v1/admin/overview"
grep -qi '^cache-control: no-store' hdr.txt && grep -qi '^x-content-type-options: nosniff' hdr.txt \
  && ok "an admin answer is not cached nor sniffed" || fail "admin headers: $(cat hdr.txt)"
# a reason that would break a line or turn text around is refused
api POST "/v1/admin/credentials/$S3/revoke" '{"reason":"double_spend\u202e"}'
expect_http 400 BAD_FIELD "a reason with a bidirectional override"
api POST "/v1/admin/credentials/$S3/revoke" '{"reason":"lost\nfound"}'
expect_http 400 BAD_FIELD "a reason with a line break"

stop_server TERM
run_cli 0 "audit passed" -- "$OFFPAY" admin audit --db "$LEDGER"
echo "# final balances (minor units): wallet $want_wallet, escrow $want_escrow, merchant $want_merchant, guarantee $want_guarantee, world $want_world"
finish
