#!/usr/bin/env bash
# offpayd_report.sh — the settlement report (GET /v1/admin/report, `offpay
# admin report`; docs/api.md "Settlement report") through the real
# offpayd: two merchants' payments, one of them unpaid in part while the
# guarantee is empty (a claim on it), a refund and a payout, then the
# guarantee funded (the claim paid later). After each step every
# merchant's row and each currency's totals are checked, a row against
# its merchant's statement of the same period, the command line's report
# against offpayd's, and the pages, the days and the refusals. The audit
# passes at the end.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle
T0=$(date +%s)

# The world: an empty EUR guarantee, three merchants (C sells nothing).
api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
new_merchant "Bakery A"; MA=$MACCT; MIDA=$MERCHANT; new_terminal ta "$MERCHANT"
new_merchant "Kiosk B"; MB=$MACCT; MIDB=$MERCHANT; new_terminal tb "$MERCHANT"
new_merchant "Cafe C"; MIDC=$MERCHANT

# step                                          W     esc    A      B     G
# account 100.00, credential 20.00              8000  2000   0      0     0
# 5.00 and 3.00 at ta, uploaded                 8000  1200   800    0     0
# 10.00 at ta; the clone's 6.00 at tb            8000  0      1800   200   0
#   (tb: unpaid EFUNDS, 2.00 from the escrow, 4.00 owed by the guarantee)
# refund 1.00 of A's first payment: to the     8000  0      1700   300   0
#   guarantee, which the credential's claim is owed (settlement.md §13),
#   and from it at once to B (1.00 of the 4.00 paid later, 3.00 owed)
# payout (withdrawal) of 5.00 from A            8000  0      1200   300   0
W=$(new_account payer 100.00)
new_wallet w "$W" 20.00; S=$SERIAL
c=$(pay w 5.00); accept ta "$c" 5.00 || fail "5.00 at ta"
c=$(pay w 3.00); accept ta "$c" 3.00 || fail "3.00 at ta"
upload ta
[ "$(outcomes)" = "settled settled" ] && ok "ta: two settled" || fail "ta: $(outcomes)"
PR1=$(jq -r '.results[0].presentment' resp.json)
cp w wclone; cp w.log wclone.log   # a wallet is its file and its log
c=$(pay w 10.00); accept ta "$c" 10.00 || fail "10.00 at ta"
pay wclone 1.00 >/dev/null   # the clone's next counter, shown to nobody
c=$(pay wclone 6.00); accept tb "$c" 6.00 || fail "the clone's 6.00 at tb"
upload ta --from 3
upload tb
[ "$(jq -c '.results[0] | [.outcome, .reason, .paid.minor]' resp.json)" = '["unpaid","EFUNDS",200]' ] \
  && ok "tb: unpaid EFUNDS, 2.00 from the escrow" || fail "tb: $(jq -c .results resp.json)"
api POST "/v1/admin/presentments/$PR1/refund" '{"amount":"1.00","ref":"returned"}'
expect_http 200 - "refund of 1.00"
api POST "/v1/admin/accounts/$MA/withdraw" '{"amount":"5.00","ref":"payout"}'
expect_http 200 - "payout of 5.00 to Bakery A"
balances "W=$W:8000 esc=esc/$S:0 A=$MA:1200 B=$MB:300 G=$G:0" "the day's money"

# row MERCHANT: a merchant's row of the last report, its figures in minor
# units: payments rejected late charged paid covered owed paid_later
# refunded | opening settled refunds deposits withdrawals other closing
row() {
  jq -r --arg m "$1" '.merchants[] | select(.merchant == $m) |
    [.payments, .rejected, .late, .charged.minor, .paid.minor, .covered.minor,
     .owed.minor, .paid_later.minor, .refunded.minor, "|",
     .opening_balance.minor, .movement_sums.settled.minor,
     .movement_sums.refunds.minor, .movement_sums.deposits.minor,
     .movement_sums.withdrawals.minor, .movement_sums.other.minor,
     .closing_balance.minor] | join(" ")' resp.json
}
total() {
  jq -r --arg c "$1" '.totals[] | select(.currency == $c) |
    [.merchants, .payments, .charged.minor, .paid.minor, .owed.minor,
     .paid_later.minor, .refunded.minor, "|", .opening_balance.minor,
     .movement_sums.settled.minor, .movement_sums.withdrawals.minor,
     .movement_sums.other.minor, .closing_balance.minor] | join(" ")' resp.json
}
# same_as_statement MERCHANT FROM TO: the row's account figures are its
# statement's of the same period
same_as_statement() {
  local r s
  r=$(jq -c --arg m "$1" '.merchants[] | select(.merchant == $m) |
        [.opening_balance, .movement_sums, .closing_balance, .paid, .covered]' resp.json)
  cp resp.json report.json
  api GET "/v1/admin/merchants/$1/statement?from=$2&to=$3"
  s=$(jq -c '[.opening_balance, .movement_sums, .closing_balance, .paid, .covered]' resp.json)
  cp report.json resp.json
  [ -n "$r" ] && [ "$r" = "$s" ] && ok "merchant $1's row is its statement's" \
    || fail "merchant $1: report $r, statement $s"
}

NOW=$(date +%s)
api GET "/v1/admin/report?from=$T0&to=$((NOW + 5))"
expect_http 200 - "the report of the day so far"
[ "$(row "$MIDA")" = "3 0 0 1800 1800 0 0 0 100 | 0 1800 -100 0 -500 0 1200" ] \
  && ok "A: 3 payments, 18.00 paid, 1.00 refunded; paid out 5.00, closing 12.00" \
  || fail "A's row: $(row "$MIDA")"
[ "$(row "$MIDB")" = "1 0 0 600 200 0 300 100 0 | 0 200 0 0 0 100 300" ] \
  && ok "B: 6.00 charged, 2.00 paid, 1.00 paid later (other), 3.00 owed by the guarantee" \
  || fail "B's row: $(row "$MIDB")"
[ "$(row "$MIDC")" = "0 0 0 0 0 0 0 0 0 | 0 0 0 0 0 0 0" ] \
  && ok "C: a row of zeros" || fail "C's row: $(row "$MIDC")"
[ "$(total EUR)" = "3 4 2400 2000 300 100 100 | 0 2000 -500 100 1500" ] \
  && ok "EUR totals: 4 payments, 20.00 paid, 3.00 owed, 5.00 paid out, 15.00 held" \
  || fail "EUR totals: $(total EUR)"
[ "$(jq -c '[.final, .complete, .count, .next_after, (.merchants | map(.name))]' resp.json)" \
  = "[false,true,3,null,[\"Bakery A\",\"Kiosk B\",\"Cafe C\"]]" ] \
  && ok "not final, every merchant, in id order" || fail "report: $(jq -c '[.final, .complete, .count, .next_after]' resp.json)"
same_as_statement "$MIDA" "$T0" "$((NOW + 5))"
# the account's history of the same period has its balances and sums too
# (since 0.28.0): the report's, whatever the page holds
cp resp.json rep.json
api GET "/v1/admin/accounts/$MA/transfers?from=$T0&to=$((NOW + 5))&limit=1"
[ "$(jq -c '.period | [.opening_balance.minor, .movement_sums.settled.minor, .movement_sums.refunds.minor, .movement_sums.withdrawals.minor, .closing_balance.minor]' resp.json)" = "[0,1800,-100,-500,1200]" ] \
  && [ "$(jget .count)" = 1 ] \
  && ok "GET /v1/admin/accounts/N/transfers?from&to: the period's balances 0.00 to 12.00, as the report's" \
  || fail "transfers period: $(jq -c .period resp.json)"
api GET "/v1/admin/accounts/$MA/transfers"
[ "$(jq -c 'has("period")' resp.json)" = false ] && ok "no period asked, none given" || fail "period without one: $(cat resp.json)"
cp rep.json resp.json
same_as_statement "$MIDB" "$T0" "$((NOW + 5))"

# the command line gives the same report, and says it is not final
"$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))" --json > cli.json
[ "$(jq -c '[.merchants, .totals]' cli.json)" = "$(jq -c '[.merchants, .totals]' resp.json)" ] \
  && ok "admin report --json: offpayd's rows and totals" || fail "admin report --json: $(head -c 400 cli.json)"
# --csv (since 0.26.0): a table of the same figures, a row per merchant,
# for a spreadsheet; each row equal to the JSON's, the header once, a
# name quoted (and one a spreadsheet would run as a formula kept text)
"$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))" --csv > report.csv
python3 - report.csv cli.json <<'PY' && ok "admin report --csv: offpayd's figures, row for row" || fail "admin report --csv: $(cat report.csv)"
import csv, json, re, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
doc = json.load(open(sys.argv[2]))
assert open(sys.argv[1], "rb").read().count(b"from,to,final,") == 1
assert len(rows) == len(doc["merchants"]) == 3, rows
for r, m in zip(rows, doc["merchants"]):
    ms = m["movement_sums"]
    want = {"merchant": m["merchant"], "name": m["name"], "currency": m["currency"],
            "final": "false", "payments": str(m["payments"]), "refused": str(m["rejected"]),
            "late": str(m["late"]), "charged": m["charged"]["decimal"], "paid": m["paid"]["decimal"],
            "covered": m["covered"]["decimal"], "owed_now": m["owed"]["decimal"],
            "paid_later_to_date": m["paid_later"]["decimal"],
            "refunded_to_date": m["refunded"]["decimal"], "account": m["account"],
            "opening": m["opening_balance"]["decimal"], "settled": ms["settled"]["decimal"],
            "refunds": ms["refunds"]["decimal"], "deposits": ms["deposits"]["decimal"],
            "withdrawals": ms["withdrawals"]["decimal"], "other": ms["other"]["decimal"],
            "closing": m["closing_balance"]["decimal"], "unpaid": m["unpaid"]["decimal"]}
    got = {k: r[k] for k in want}
    assert got == want, (got, want)
    # when its "to date" and "now" figures were read
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["read_at"]), r
PY
# a row's charges add up (since 0.28.0): paid, paid later, owed now, and
# what no one pays (unpaid), in every row and total
[ "$(jq '[(.merchants[], .totals[]) | .charged.minor - .paid.minor - .paid_later.minor - .owed.minor - .unpaid.minor] | map(select(. != 0)) | length' cli.json)" = 0 ] \
  && [ "$(jq '[.merchants[] | .unpaid.minor] | add' cli.json)" = 0 ] \
  && ok "report: charged = paid + paid later + owed + unpaid in each row and total" || fail "report sums: $(jq -c '[.merchants[] | [.charged.minor, .paid.minor, .paid_later.minor, .owed.minor, .unpaid.minor]]' cli.json)"
"$OFFPAY" admin report --db "$LEDGER" --from "$((T0 - 86400))" --to "$((NOW + 5))" --by-day --csv > days.csv
[ "$(grep -c '^from,to,final,' days.csv)" = 1 ] && [ "$(tail -n +2 days.csv | cut -d, -f1 | sort -u | wc -l)" -ge 2 ] \
  && ok "--by-day --csv: one header, rows of each day" || fail "--by-day --csv: $(cat days.csv)"
# a day whose read fails (test hook: the second day's): nothing on
# standard output, not the first day's rows, for an import to take as
# the period; the reason on standard error, exit 3 (a storage failure)
set +e
OFFPAY_TEST_REPORT_FAIL_AT=2 "$OFFPAY" admin report --db "$LEDGER" --from "$((T0 - 86400))" \
    --to "$((NOW + 5))" --by-day --csv > failed.csv 2> failed.err
st=$?
set -e
[ "$st" = 3 ] && [ ! -s failed.csv ] && grep -q "ESTORE" failed.err \
  && ok "--by-day --csv with a day that fails: nothing written, exit 3" \
  || fail "a failing day: exit $st, $(wc -c < failed.csv) bytes: $(cat failed.err)"
# --tz (since 0.28.0): the days of a zone, cut at its midnight (the
# times still written in UTC), over a week across a clock change (a
# day of 23 hours): each day's rows from its local midnight to the next
# and a week across its clock change back (a day of 25 hours)
"$OFFPAY" admin report --db "$LEDGER" --from 1774566000 --to 1775167199 --by-day --tz Europe/Berlin --csv > tz.csv
"$OFFPAY" admin report --db "$LEDGER" --from 1792706400 --to 1793314799 --by-day --tz Europe/Berlin --csv > tz2.csv
python3 - tz.csv 23 <<'PY' && python3 - tz2.csv 25 <<'PY2' && ok "--by-day --tz Europe/Berlin: weeks of days from local midnight to midnight, one of 23 hours in March, one of 25 in October" || fail "--tz days: $(cut -d, -f1,2 tz.csv tz2.csv | sort -u)"
import csv, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
z = ZoneInfo("Europe/Berlin")
days = sorted({(r["from"], r["to"]) for r in csv.DictReader(open(sys.argv[1], newline=""))})
assert len(days) == 7, days
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
for f, to in days:
    lf, lt = t(f).astimezone(z), t(to).astimezone(z)
    assert (lf.hour, lf.minute, lf.second) == (0, 0, 0), f
    assert (lt.hour, lt.minute, lt.second) == (23, 59, 59) and lt.date() == lf.date(), to
hours = sorted(round(((t(to) - t(f)).total_seconds() + 1) / 3600) for f, to in days)
assert hours == sorted([int(sys.argv[2])] + [24] * 6), hours
PY
import csv, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
z = ZoneInfo("Europe/Berlin")
days = sorted({(r["from"], r["to"]) for r in csv.DictReader(open(sys.argv[1], newline=""))})
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
assert len(days) == 7 and all(t(f).astimezone(z).hour == 0 for f, _ in days), days
hours = sorted(round(((t(to) - t(f)).total_seconds() + 1) / 3600) for f, to in days)
assert hours == sorted([int(sys.argv[2])] + [24] * 6), hours
PY2
# not a zone: the zone database's own tables, the right/ zones (they
# count leap seconds, which would move every UTC time printed)
for z in zone.tab right/Europe/Berlin; do
  run_cli 2 "admin report: --tz: no time zone '$z' in the system's zone database" -- \
    "$OFFPAY" admin report --db "$LEDGER" --by-day --tz "$z" --from 0 --to 86399
done
run_cli 2 "admin report: --tz: no time zone 'Mars/Olympus' in the system's zone database" -- \
  "$OFFPAY" admin report --db "$LEDGER" --by-day --tz Mars/Olympus --from 0 --to 86399
run_cli 2 "admin report: --tz is for --by-day" -- \
  "$OFFPAY" admin report --db "$LEDGER" --tz Europe/Berlin
run_cli 2 "give --json or --csv, not both" -- \
  "$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))" --csv --json
run_cli 0 "NOT FINAL: payments may still be uploaded into it; final from " -- \
  "$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))"
run_cli 0 "merchant $MIDB \"Kiosk B\" EUR  1 payment\(s\) \(0 refused, 0 late\): charged 6.00 EUR  paid 2.00 EUR  covered by the guarantee 0.00 EUR  owed by the guarantee now 3.00 EUR  paid later to date 1.00 EUR  refunded to date 0.00 EUR  not paid on these lines \(refused, beyond the rules, or presented again\) 0.00 EUR$" -- \
  "$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))"
run_cli 0 "account $MA: opening 0.00 EUR  settled \+18.00 EUR  refunds -1.00 EUR  deposits 0.00 EUR  withdrawals -5.00 EUR  other 0.00 EUR  closing 12.00 EUR" -- \
  "$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))"
run_cli 0 "total EUR, 3 merchant\(s\): 4 payment\(s\) .*owed by the guarantee now 3.00 EUR" -- \
  "$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))"
# the statement's line says how much is owed, not only that it is (since
# 0.26.0); a final report says which of its figures still move on
run_cli 0 "paid later by the guarantee 1.00 EUR to date \(last [0-9T:-]+Z\)  owed by the guarantee 3.00 EUR now, paid once it is funded$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB"
run_cli 0 "\(both included\): final \(what is owed, paid later and refunded of its payments is as of now: it moves on\)$" -- \
  env OFFPAY_NOW=$((NOW + 5 + 61)) "$OFFPAY" admin report --db "$LEDGER" --from "$T0" --to "$((NOW + 5))"

# The guarantee funded: the rest of the claim is paid at once (`claim`
# transfers, in B's movements as `other`), and B's row says paid later,
# nothing owed.
# step                                          A      B     G
# deposit 10.00 into the guarantee (3.00 owed)  1200   600   700
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"10.00","ref":"guarantee"}'
expect_http 200 - "the guarantee funded"
balances "A=$MA:1200 B=$MB:600 G=$G:700" "the claim paid"
api GET "/v1/admin/report?from=$T0&to=$((NOW + 5))"
[ "$(row "$MIDB")" = "1 0 0 600 200 0 0 400 0 | 0 200 0 0 0 400 600" ] \
  && ok "B: 4.00 paid later by the guarantee, in its movements, nothing owed" || fail "B's row after: $(row "$MIDB")"
[ "$(total EUR)" = "3 4 2400 2000 0 400 100 | 0 2000 -500 400 1800" ] \
  && ok "EUR totals: nothing owed, 4.00 paid later" || fail "EUR totals after: $(total EUR)"
# its statement line keeps its outcome (unpaid EFUNDS) and says the money
# is all in (since 0.28.0)
run_cli 0 "paid later by the guarantee 4.00 EUR to date \(last [0-9T:-]+Z\)  paid in full since$" -- \
  "$OFFPAY" admin statement --db "$LEDGER" --merchant "$MIDB"
same_as_statement "$MIDB" "$T0" "$((NOW + 5))"

# The ledger's balances by kind (GET /v1/admin/balances, `offpay admin
# balances`; since 0.29.0): every kind's money per currency before the
# day and now, what came in and went out of each, and the day's movements
# by kind (the claim of 1.00 paid at the refund and of 3.00 at the
# deposit); the command line's JSON is offpayd's; before the day, nothing.
# kind        opening  in     out    closing
# world       0        500    11000  -10500
# wallet      0        10000  2000   8000
# escrow      0        2000   2000   0
# merchant    0        2400   600    1800
# guarantee   0        1100   400    700
api GET "/v1/admin/balances?from=$T0"
[ "$(jq -c '[.final, (.currencies | length), .currencies[0].currency, .currencies[0].transfers, [.currencies[0].kinds[] | [.kind, .opening.minor, .in.minor, .out.minor, .closing.minor]]]' resp.json)" \
  = '[false,1,"EUR",11,[["world",0,500,11000,-10500],["wallet",0,10000,2000,8000],["escrow",0,2000,2000,0],["merchant",0,2400,600,1800],["guarantee",0,1100,400,700]]]' ] \
  && ok "GET /v1/admin/balances: each kind's money before and after the day, as the balances say" \
  || fail "balances: $(jq -c '[.final, .currencies[0].transfers, [.currencies[0].kinds[] | [.kind, .opening.minor, .in.minor, .out.minor, .closing.minor]]]' resp.json)"
[ "$(jq -c '[.currencies[0].movements[] | [.kind, .from, .to, .count, .amount.minor]]' resp.json)" \
  = '[["claim","guarantee","merchant",2,400],["deposit","world","wallet",1,10000],["deposit","world","guarantee",1,1000],["fund","wallet","escrow",1,2000],["refund","merchant","guarantee",1,100],["settle","escrow","merchant",4,2000],["withdraw","merchant","world",1,500]]' ] \
  && ok "its movements by kind, between kinds of account" \
  || fail "movements: $(jq -c '[.currencies[0].movements[] | [.kind, .from, .to, .count, .amount.minor]]' resp.json)"
TB=$(jget .to)
"$OFFPAY" admin balances --db "$LEDGER" --from "$T0" --to "$TB" --json > cli.json
[ "$(jq -c . cli.json)" = "$(jq -c . resp.json)" ] \
  && ok "admin balances --json: offpayd's answer" || fail "admin balances --json: $(head -c 300 cli.json)"
run_cli 0 "^  merchants +0\.00 EUR +24\.00 EUR +6\.00 EUR +18\.00 EUR$" -- \
  "$OFFPAY" admin balances --db "$LEDGER" --from "$T0" --to "$TB"
run_cli 0 "^    withdraw +merchant +-> world +1  5\.00 EUR$" -- \
  "$OFFPAY" admin balances --db "$LEDGER" --from "$T0" --to "$TB"
run_cli 0 "^NOT FINAL: what is dated up to .* this balance sheet is final from" -- \
  "$OFFPAY" admin balances --db "$LEDGER" --from "$T0" --to "$TB"
# the sheet at the second before the day: nothing; after it, the day's
# closing as its opening and nothing moving
api GET "/v1/admin/balances?to=$((T0 - 100))"
[ "$(jq -c '[.final, .currencies]' resp.json)" = '[true,[]]' ] \
  && ok "before the day: final, no currency" || fail "before: $(cat resp.json)"
api GET "/v1/admin/balances?from=$((TB + 1))&to=$((TB + 2))"
[ "$(jq -c '[.currencies[0].transfers, [.currencies[0].kinds[] | [.opening.minor, .closing.minor]], .currencies[0].movements]' resp.json)" \
  = '[0,[[-10500,-10500],[8000,8000],[0,0],[1800,1800],[700,700]],[]]' ] \
  && ok "after it: the day's closing, nothing moving" || fail "after: $(jq -c . resp.json | head -c 400)"
api GET "/v1/admin/balances?from=$((T0 + 10))&to=$T0"
expect_http 400 BAD_PARAMETER "balances: from after to"
api GET "/v1/admin/balances?at=$T0"
expect_http 400 BAD_PARAMETER "balances: a parameter it does not take"
run_cli 2 "--from is after --to" -- "$OFFPAY" admin balances --db "$LEDGER" --from 10 --to 5

# The ledger's digest (GET /v1/admin/digest, `offpay admin digest`; since
# 0.29.0) of every transfer up to an id (by default the last transfer mark,
# or the highest id) and of those dated until a time: the same over HTTP
# and on the command line, and computed again from the rows by another
# program (tests/e2e/digest_check.py, from settlement.md §10 alone); kept,
# it is the same after a later booking, and another on a copy whose
# transfer's reference was rewritten, or with a transfer dated back into
# the period.
api GET /v1/admin/digest
UPTO=$(jq -r '.shards[0].upto' resp.json)
DG=$(jq -r '.shards[0].digest' resp.json)
n=$(ledger_sql ledger "SELECT COUNT(*) FROM transfers WHERE id <= $UPTO")
[ "$status" = 200 ] && [ "$n" -gt 10 ] \
  && [ "$(jq -c '[(.shards | length), .shards[0].transfers, .shards[0].last_id, .shards[0].until]' resp.json)" = "[1,$n,$UPTO,null]" ] \
  && ok "GET /v1/admin/digest: the $n transfers up to id $UPTO" \
  || fail "digest: $status $(cat resp.json)"
TD=$(date +%s)
api GET "/v1/admin/digest?to=$TD"
DT=$(jq -r '.shards[0].digest' resp.json)
[ "$(jq -c '[.shards[0].upto, .shards[0].until, .final]' resp.json)" = "[null,$TD,false]" ] \
  && ok "GET /v1/admin/digest?to: of the transfers dated until then" || fail "digest?to: $(cat resp.json)"
# beside it (since 0.31.0), the digest of what operators did until then
DA=$(jq -r '.shards[0].actions.digest' resp.json)
NA=$(ledger_sql ledger "SELECT COUNT(*) FROM operator_actions WHERE at <= $TD")
arows() {
  if [ "$BACKEND" = sqlite ]; then
    python3 "$(dirname "$0")/digest_check.py" actions-sqlite "$work/ledger.db" "$1"
  else
    ledger_sql ledger "SELECT json_agg(t) FROM (SELECT id, at, who, action, subject, detail FROM operator_actions) t" \
      | python3 "$(dirname "$0")/digest_check.py" actions-json "$1"
  fi
}
[ "$NA" -gt 3 ] && [ "$(jq -c '[.shards[0].actions.until, .shards[0].actions.count]' resp.json)" = "[$TD,$NA]" ] \
  && [ "$(arows "$TD")" = "$DA" ] \
  && ok "the $NA operators' actions until then: their digest, computed again from the rows by another program: the same" \
  || fail "actions digest: $(jq -c '.shards[0].actions' resp.json) $(arows "$TD") ($NA)"
rows() {
  if [ "$BACKEND" = sqlite ]; then
    python3 "$(dirname "$0")/digest_check.py" sqlite "$work/ledger.db" "$1" "$2"
  else
    ledger_sql ledger "SELECT json_agg(t) FROM (SELECT x.id, x.debit, x.credit, x.amount, x.kind, x.presentment, x.case_id, x.ref, x.at, d.kind AS debit_kind, d.currency AS debit_currency, k.kind AS credit_kind, k.currency AS credit_currency FROM transfers x JOIN accounts d ON d.id = x.debit JOIN accounts k ON k.id = x.credit) t" \
      | python3 "$(dirname "$0")/digest_check.py" json "$1" "$2"
  fi
}
[ "$(rows "$UPTO" 4294967295)" = "$DG" ] && [ "$(rows 9223372036854775807 "$TD")" = "$DT" ] \
  && ok "both computed again from the rows by another program: the same" \
  || fail "digest_check.py: $(rows "$UPTO" 4294967295) $(rows 9223372036854775807 "$TD"), offpayd: $DG $DT"
run_cli 0 "^digest $DG$" -- "$OFFPAY" admin digest --db "$LEDGER" --upto "$UPTO"
"$OFFPAY" admin digest --db "$LEDGER" --upto "$UPTO" --json > cli.json
api GET "/v1/admin/digest?upto=$UPTO"
[ "$(jq -c . cli.json)" = "$(jq -c . resp.json)" ] \
  && ok "admin digest --json: offpayd's answer" || fail "admin digest --json: $(cat cli.json)"
sleep 1
api POST "/v1/admin/accounts/$W/deposit" '{"amount":"1.00","ref":"after the close"}'
expect_http 200 - "a deposit after the digests were kept"
run_cli 0 "^the same as the digest expected: the transfers it covers are those it was kept of$" -- \
  "$OFFPAY" admin digest --db "$LEDGER" --upto "$UPTO" --expect "$DG"
run_cli 0 "^the same as the digest expected" -- \
  "$OFFPAY" admin digest --db "$LEDGER" --to "$TD" --expect "$DT"
api POST /v1/admin/accounts '{"currency":"EUR","ref":"after the close"}'
expect_http 200 - "an account opened after the digests were kept"
run_cli 0 "^the same as the actions digest expected: the operators' actions it covers are those it was kept of$" -- \
  "$OFFPAY" admin digest --db "$LEDGER" --to "$TD" --expect "$DT" --expect-actions "$DA"
run_cli 1 "^DIFFERS from the actions digest expected" -- \
  "$OFFPAY" admin digest --db "$LEDGER" --to "$(date +%s)" --expect-actions "$DA"
run_cli 2 "--expect-actions needs the --to" -- \
  "$OFFPAY" admin digest --db "$LEDGER" --expect-actions "$DA"
if [ "$BACKEND" = sqlite ]; then
  "$OFFPAY" admin backup --db "$LEDGER" --out kept.db >/dev/null
  python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE transfers SET ref = ? WHERE kind = ?", ("bank 9999", "withdraw"))
c.commit()' kept.db
  run_cli 1 "^DIFFERS from the digest expected: a transfer it covers was changed, removed, added or booked since" -- \
    "$OFFPAY" admin digest --db kept.db --upto "$UPTO" --expect "$DG"
  "$OFFPAY" admin backup --db "$LEDGER" --out back.db >/dev/null
  python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO transfers (debit, credit, amount, kind, at) SELECT debit, credit, 100, kind, ? FROM transfers WHERE kind = ? LIMIT 1", (int(sys.argv[2]) - 100, "deposit"))
c.commit()' back.db "$TD"
  run_cli 1 "^DIFFERS" -- "$OFFPAY" admin digest --db back.db --to "$TD" --expect "$DT"
  # an operator's action rewritten behind offpay's back: the transfers'
  # digest is the same, the actions' is not
  "$OFFPAY" admin backup --db "$LEDGER" --out acts.db >/dev/null
  python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE operator_actions SET who = ? WHERE id = (SELECT MIN(id) FROM operator_actions)", ("someone else",))
c.commit()' acts.db
  run_cli 1 "^DIFFERS from the actions digest expected: an operator's action it covers was changed, removed or added since" -- \
    "$OFFPAY" admin digest --db acts.db --to "$TD" --expect "$DT" --expect-actions "$DA"
  run_cli 1 "^the same as the digest expected" -- \
    "$OFFPAY" admin digest --db acts.db --to "$TD" --expect "$DT" --expect-actions "$DA"
fi
run_cli 2 "64 hex digits" -- "$OFFPAY" admin digest --db "$LEDGER" --upto "$UPTO" --expect abc
api GET "/v1/admin/digest?upto=0"
expect_http 400 BAD_PARAMETER "digest: upto 0"
# the audit is of now: asked of a past date, it says where that is
run_cli 2 "the audit reads the ledger as it is now and takes no --from or --to; the money by kind of account at a past date: offpay admin balances --db LEDGER --to T" -- \
  "$OFFPAY" admin audit --db "$LEDGER" --to "$T0"

# Pages of merchants: two, then the rest (the totals are the page's)
api GET "/v1/admin/report?from=$T0&to=$((NOW + 5))&limit=2"
[ "$(jq -c '[.count, .next_after, .complete, (.totals[0].merchants)]' resp.json)" = "[2,\"$MIDB\",false,2]" ] \
  && ok "limit 2: two merchants, next_after B, not complete" || fail "page 1: $(jq -c '[.count, .next_after, .complete]' resp.json)"
api GET "/v1/admin/report?from=$T0&to=$((NOW + 5))&after=$MIDB"
[ "$(jq -c '[.count, .next_after, .complete, .merchants[0].merchant]' resp.json)" = "[1,null,false,\"$MIDC\"]" ] \
  && ok "after B: C alone, the last page" || fail "page 2: $(jq -c '[.count, .next_after, .complete]' resp.json)"

# A period before any of it: final, every row and total zero
api GET "/v1/admin/report?from=$((T0 - 86400))&to=$((T0 - 3600))"
[ "$(jq -c '[.final, .count, ([.merchants[] | .payments, .closing_balance.minor] | add), .totals[0].closing_balance.minor]' resp.json)" = "[true,3,0,0]" ] \
  && ok "an earlier period: final, nothing in it" || fail "earlier: $(jq -c . resp.json | head -c 300)"

# Day by day: yesterday (nothing) and today (the day's report)
DAY=$(( NOW - NOW % 86400 ))
"$OFFPAY" admin report --db "$LEDGER" --from "$((DAY - 86400))" --to "$NOW" --by-day --json > days.json
[ "$(jq -c '[(.days | length), .days[0].from, .days[0].to, .days[1].from, ([.days[0].merchants[].payments] | add), ([.days[1].merchants[].payments] | add)]' days.json)" \
  = "[2,$((DAY - 86400)),$((DAY - 1)),$DAY,0,4]" ] \
  && ok "--by-day: yesterday with nothing, today's 4 payments" || fail "--by-day: $(jq -c '[.days[] | [.from, .to]]' days.json)"
run_cli 2 "at most 366 days at once \(give --from and --to\)" -- \
  "$OFFPAY" admin report --db "$LEDGER" --by-day
run_cli 2 "--from is after --to" -- \
  "$OFFPAY" admin report --db "$LEDGER" --from "$NOW" --to "$T0"

# Refusals: nothing read
api GET "/v1/admin/report?from=$NOW&to=$T0"
expect_http 400 BAD_PARAMETER "from after to"
api GET "/v1/admin/report?limit=0"
expect_http 400 BAD_PARAMETER "limit 0"
api GET "/v1/admin/report?from=1796530000000"
expect_http 400 BAD_PARAMETER "a time in milliseconds"
api GET "/v1/admin/report?merchant=1"
expect_http 400 BAD_PARAMETER "an unknown parameter"
status=$(curl -s -o resp.json -w '%{http_code}' "$URL/v1/admin/report")
expect_http 401 UNAUTHORIZED "the report without the operator token"
# a merchant's name a spreadsheet would run as a formula, with quotes:
# one quoted field, kept as text (--csv, since 0.26.0)
api POST /v1/admin/merchants '{"name":"=HYPERLINK(\"x\") Shop","currency":"EUR"}'
expect_http 200 - "a merchant named like a formula"; MERCHANT=$(jget .merchant)
"$OFFPAY" admin report --db "$LEDGER" --csv > names.csv
grep -q "^[^,]*,[^,]*,[a-z]*,$MERCHANT,\"'=HYPERLINK(\"\"x\"\") Shop\",EUR," names.csv \
  && python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1],newline=""))); assert r[-1]["name"] == "'"'"'=HYPERLINK(\"x\") Shop", r[-1]' names.csv \
  && ok "--csv: a formula-like name quoted and kept as text" || fail "--csv name: $(tail -1 names.csv)"
audits "the report's day"
finish
