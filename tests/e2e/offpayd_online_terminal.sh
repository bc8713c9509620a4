#!/usr/bin/env bash
# offpayd_online_terminal.sh — a terminal's lifecycle through the real
# offpayd and the CLI (docs/api.md, "Terminal lifecycle";
# docs/settlement.md §12), as tables of steps with the money per account:
#  1. rotating a terminal's key: a final upload, then the new key is
#     registered for the same merchant and the old one revoked in one
#     step; what the old key accepted before settles, what it accepts after
#     is refused (ETERMINAL_REVOKED), the new key's payments settle;
#  1b. the new key starts from the old one's per-credential sums (and a
#     third from both): a wallet copy's code refused EOVER_CUMULATIVE
#     there as at the old one, and a rerun carries them once; offpayd
#     records each such rotation as carrying its sums (018);
#  1c. a rotation without "sums_carried" (an offpay older than 0.16.0)
#     refused, registering nothing; a rotation made before the upgrade
#     (nothing carried, sums_carried 0) counted per terminal, so what its
#     new terminal accepted is paid;
#  2. decommissioning: refused while offpayd has not decided a payment (a
#     payment dated after offpayd's clock), then the final upload and the
#     revocation;
#  3. bad input: a rotated terminal rotating to another key (403
#     TERMINAL_REVOKED), a new key already registered (409 EEXISTS; the
#     operator registering a registered key for another merchant: 409
#     EEXISTS naming the terminal and merchant holding it),
#     a malformed key (400 BAD_FIELD), an unknown key (403
#     UNKNOWN_TERMINAL), a key the sender does not hold (an enrolled
#     wallet's) without the new key's key_signature (400 BAD_FIELD, "upgrade")
#     or with a signature of another rotation (400 KEY_SIGNATURE_INVALID),
#     each changing nothing; a decommissioned terminal
#     decommissioning again is told it is done;
#  4. retries after a lost reply: the same signed rotation sent again
#     (a new nonce and time, the same body) answers 200 "replayed" with
#     the same credential and registers nothing; the CLI run again after a
#     rotation whose reply it never got installs the new credential and
#     the new key's payments settle; a rotation to another key, and
#     requests of terminals the operator revoked, stay TERMINAL_REVOKED;
#     a decommission sent twice answers the first revocation's time;
#  5. the CLI's own request whose answer is lost (SQLite only): from the
#     moment it is sent the terminal accepts nothing (RETIRING) until a
#     rerun finishes it, so nothing it takes is refused as accepted after
#     the revocation; a refusal offpayd signed (nothing made) ends it.
#  6. the operator's list over HTTP (GET /v1/admin/terminals, at the
#     end, once every state above is in the ledger): the terminals `admin
#     terminals` lists, each with its state, key, term and last report,
#     in pages, one by id, and the 404s and 400s.
# `offpay admin audit` passes after every part.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
fetch_bundle

last() { jq -r '.results[-1] | .outcome + (if .reason then ":" + .reason else "" end)' resp.json; }

new_merchant "Bakery A"; MA=$MACCT; new_terminal ta "$MERCHANT"; TA=$TID
W=$(new_account payer 200.00)
new_wallet w1 "$W" 100.00; S=$SERIAL
audits "set-up"

# ---- 1. rotating a terminal's key ------------------------------------------------
# step                                             esc     A
# ta accepts 10.00 (not uploaded)                  10000   0
# terminal rotate ta -> tb: final upload, then     9000    1000
#   tb registered, ta revoked
# ta (revoked, and it knows) refuses 5.00          9000    1000   ETERMINAL_REVOKED
# tb accepts 7.00, syncs                           8300    1700
c=$(pay w1 10.00); accept ta "$c" 10.00 && ok "ta accepted 10.00" || fail "accept"
term_init tb
t rotate ta --server "$URL" --new-terminal tb
[ "$ts" = 0 ] && grep -q "final upload: 1 payment(s) sent, 1 decided" t.out \
  && grep -qE "rotated: tb is terminal [0-9]+ with the new key; ta is revoked" t.out \
  && ok "rotate: $(tail -1 t.out)" || fail "rotate: $ts $(cat t.out)"
TB=$(sed -n 's/^rotated: tb is terminal \([0-9]*\) .*/\1/p' t.out)
[ "$TB" != "$TA" ] && ok "tb is a new terminal ($TB), ta was $TA" || fail "ids $TA $TB"
grep -qE "^offpayd: [0-9T:-]+Z POST /v1/terminal/rotate from 127\.0\.0\.1: terminal $TA \(merchant $MERCHANT\) rotated to terminal $TB, expires [0-9T:-]+Z$" server.err \
  && ok "the rotation is on offpayd's log: $TA -> $TB" || fail "rotation log: $(grep rotate server.err)"
balances "esc=esc/$S:9000 A=$MA:1000" "ta's payment settled before its key was revoked"
t status tb
grep -q "Bakery A" t.out && ok "tb holds Bakery A's credential" || fail "tb status: $(cat t.out)"
c=$(pay w1 5.00)
set +e; "$OFFPAY" terminal accept --terminal ta --code "$c" --amount 5.00 >t.out 2>&1; ts=$?; set -e
[ "$ts" = 1 ] && grep -q "ETERMINAL_REVOKED" t.out \
  && ok "ta, rotated away, refuses a payment itself: ETERMINAL_REVOKED" || fail "accept ta: $ts $(cat t.out)"
c=$(pay w1 7.00); accept tb "$c" 7.00 && ok "tb accepted 7.00" || fail "accept tb"
t sync tb --server "$URL"
[ "$ts" = 0 ] && grep -q "1 decided (1 paid, 7.00 EUR" t.out && ok "tb's upload settled 7.00" \
  || fail "tb sync: $(cat t.out)"
balances "esc=esc/$S:8300 A=$MA:1700" "the new key's payment settled"
audits "rotation"

# ---- 1b. the device's cumulative sum goes on after a rotation -------------
# offpayd's guarantee sums a credential's charges over a terminal's
# rotations as one device (settlement.md §5): the new terminal's local
# cumulative check starts from the old one's sums. A credential of 100.00
# (its cumulative cap at a terminal); wgc is a copy of its wallet.
# step                                             expected
# g1 accepts 50.00 and 30.00                       accepted (80.00 here)
# the copy's 30.00 at g1                           refused EOVER_CUMULATIVE
# rotate g1 -> g1b, then again (replayed)          exit 0; the sums replaced, not added
# the copy's 30.00 at g1b                          refused EOVER_CUMULATIVE
# the wallet's 20.00 at g1b (exactly the rest)     accepted, settles 20.00
# rotate g1b -> g1c; the copy's 5.00 at g1c        refused EOVER_CUMULATIVE (g1's and g1b's)
M_A=$MERCHANT; new_merchant "Gate B"; MGB=$MERCHANT; new_terminal g1 "$MERCHANT"; MERCHANT=$M_A; TG1=$TID
WG=$(new_account payer-g 100.00)
new_wallet wg "$WG" 100.00; SG=$SERIAL
c=$(pay wg 50.00); accept g1 "$c" 50.00 || fail "g1 accept 50.00"
cp wg wgc; cp wg.log wgc.log   # a wallet is its file and its log
c=$(pay wg 30.00); accept g1 "$c" 30.00 && ok "g1 accepted 50.00 and 30.00" || fail "g1 accept 30.00"
pay wgc 0.01 >/dev/null; pay wgc 0.01 >/dev/null   # the copy's counters 2, 3: never shown
c3=$(pay wgc 30.00)
t accept g1 --code "$c3" --amount 30.00
[ "$ts" = 1 ] && grep -q "EOVER_CUMULATIVE" t.out && ok "g1 refuses the copy's 30.00: EOVER_CUMULATIVE" \
  || fail "g1 accept c3: $ts $(cat t.out)"
term_init g1b
t rotate g1 --server "$URL" --new-terminal g1b
[ "$ts" = 0 ] && grep -q "rotated: g1b is terminal" t.out && ok "rotate g1 -> g1b" || fail "rotate g1: $ts $(cat t.out)"
TG1B=$(sed -n 's/^rotated: g1b is terminal \([0-9]*\) .*/\1/p' t.out)
t rotate g1 --server "$URL" --new-terminal g1b
[ "$ts" = 0 ] && grep -q "the new terminal holds its credential: nothing to change" t.out \
  && ok "rotate g1 -> g1b again: replayed" || fail "rotate g1 again: $ts $(cat t.out)"
t accept g1b --code "$c3" --amount 30.00
[ "$ts" = 1 ] && grep -q "EOVER_CUMULATIVE" t.out \
  && ok "g1b, g1's new key, refuses the copy's 30.00 too: EOVER_CUMULATIVE" || fail "g1b accept c3: $ts $(cat t.out)"
c=$(pay wg 20.00); accept g1b "$c" 20.00 \
  && ok "g1b accepts the wallet's 20.00, the rest of the 100.00 (g1's sums carried once, not twice)" \
  || fail "g1b accept 20.00: $("$OFFPAY" terminal status --terminal g1b --passphrase-file tp)"
t sync g1b --server "$URL"
[ "$ts" = 0 ] && grep -q "1 decided (1 paid, 20.00 EUR" t.out && ok "g1b's 20.00 settled" \
  || fail "g1b sync: $ts $(cat t.out)"
term_init g1c
t rotate g1b --server "$URL" --new-terminal g1c
[ "$ts" = 0 ] && grep -q "rotated: g1c is terminal" t.out && ok "rotate g1b -> g1c" || fail "rotate g1b: $ts $(cat t.out)"
c=$(pay wgc 5.00)
t accept g1c --code "$c" --amount 5.00
[ "$ts" = 1 ] && grep -q "EOVER_CUMULATIVE" t.out \
  && ok "g1c refuses the copy's 5.00: EOVER_CUMULATIVE (g1's sums and g1b's, carried on)" \
  || fail "g1c accept: $ts $(cat t.out)"
balances "esc=esc/$SG:0" "the credential's 100.00 paid, none of it by the guarantee"
# dir_sql SQL: SQL on the terminals' directory: ledger_sql, or on a sharded
# ledger on every shard (each holds the directory's copy its own
# settlement reads)
dir_sql() {
  local u
  if [ -n "${OFFPAY_TEST_SHARDS:-}" ]; then
    for u in $(awk '{print $3}' "$work/shards.map"); do
      psql -q -X -A -t -v ON_ERROR_STOP=1 "$u" -c "$1"
    done
  else
    ledger_sql ledger "$1"
  fi
}
got=$(dir_sql "SELECT sums_carried FROM terminals WHERE id IN ($TG1, $TG1B)" | tr -d '\n')
[ "$got" = "$(printf '11%.0s' $(seq 1 "${OFFPAY_TEST_SHARDS:-1}"))" ] \
  && ok "g1's and g1b's rotations recorded as carrying their sums (018), in every copy of the directory" \
  || fail "sums_carried of $TG1, $TG1B: '$got'"
audits "the device's sum after rotations"

# ---- 1c. a rotation made before 0.16.0 ------------------------------------
# An offpay older than 0.16.0 carried no sums into the new terminal, which
# started from nothing: offpayd now refuses its rotation (the body without
# "sums_carried"), and counts a link made before the upgrade (018 leaves
# it sums_carried 0) per terminal, as 0.15.0 did (settlement.md §5), so
# what the new terminal accepted is paid. 0.15.0's rotation is made here
# by hand: the request, the credential installed, nothing carried; then
# sums_carried 0 as the migration leaves it (on shards, on every shard:
# each holds the directory its sums read). A credential of 100.00, a
# guarantee of 50.00.
# step                                             expected
# g2 -> g2b without sums_carried (0.15.0's body)   400 BAD_FIELD "upgrade", nothing registered
# g2 accepts 50.00 and 30.00, uploads               both settled (20.00 left in escrow)
# g2 -> g2b by hand, nothing carried                200, replayed false
# the copy's 30.00 at g2b, uploaded                 settled_guaranteed: paid 30.00, 10.00 covered
new_terminal g2 "$MGB"; TG2=$TID
api POST /v1/admin/guarantee '{"currency":"EUR"}'; G=$(jget .account)
api POST "/v1/admin/accounts/$G/deposit" '{"amount":"50.00","ref":"guarantee"}'
WH=$(new_account payer-h 100.00)
new_wallet wh "$WH" 100.00; SH=$SERIAL
term_init g2b
KG2B=$("$OFFPAY" terminal key --terminal g2b --passphrase-file tp)
treq g2 /v1/terminal/rotate "{\"terminal_key\":\"$KG2B\",\"key_signature\":\"$(rproof g2 g2b)\"}"
expect_http 400 BAD_FIELD "a rotation without sums_carried (an offpay older than 0.16.0)"
jget .hint | grep -q "^sums_carried missing: since 0.16.0 .*upgrade offpay and run the rotation again$" \
  && ok "the hint says to upgrade: $(jget .hint)" || fail "no-sums hint: $(cat resp.json)"
c=$(pay wh 50.00); accept g2 "$c" 50.00 || fail "g2 accept 50.00"
cp wh whc; cp wh.log whc.log   # a copy of the wallet
c=$(pay wh 30.00); accept g2 "$c" 30.00 && ok "g2, not revoked by the refused rotation, accepted 50.00 and 30.00" \
  || fail "g2 accept 30.00"
upload g2
[ "$status" = 200 ] && [ "$(outcomes)" = "settled settled" ] && ok "g2's 80.00 settled" \
  || fail "g2 upload: $status $(cat resp.json)"
treq g2 /v1/terminal/rotate "{\"terminal_key\":\"$KG2B\",\"key_signature\":\"$(rproof g2 g2b)\",\"sums_carried\":true}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] \
  && ok "g2 -> g2b: 200, replayed false (the refused request had registered nothing)" \
  || fail "rotate g2: $status $(cat resp.json)"
jget .credential > g2b.tcred
"$OFFPAY" terminal set-credential g2b.tcred --terminal g2b --passphrase-file tp >/dev/null
sync_terminal g2b
dir_sql "UPDATE terminals SET sums_carried = 0 WHERE id = $TG2" >/dev/null
pay whc 0.01 >/dev/null   # the copy's counter 2: never shown
c=$(pay whc 30.00)
accept g2b "$c" 30.00 && ok "g2b, carrying nothing (0.15.0's rotation), accepts the copy's 30.00" \
  || fail "g2b accept 30.00"
upload g2b
[ "$status" = 200 ] \
  && [ "$(jq -c '.results[0] | [.outcome, .paid.minor, .covered.minor]' resp.json)" = '["settled_guaranteed",3000,1000]' ] \
  && ok "the copy's 30.00 at g2b: settled_guaranteed, paid 30.00, 10.00 of it covered (g2's sums not counted)" \
  || fail "g2b upload: $status $(cat resp.json)"
balances "esc=esc/$SH:0 G=$G:4000" "the credential's 100.00 paid out, and 10.00 by the guarantee"
audits "a rotation made before 0.16.0"

# ---- 2. decommissioning -------------------------------------------------------------
# step                                             esc     A
# tb accepts 4.00 dated an hour ahead of offpayd   8300    1700
# decommission: not decided (ECODE_FUTURE): kept   8300    1700   tb not revoked
# an hour later: decommission                      7900    2100   tb revoked
later=$(( $(date +%s) + 3600 ))
c=$(OFFPAY_NOW=$later pay w1 4.00); OFFPAY_NOW=$later accept tb "$c" 4.00 \
  && ok "tb accepted 4.00 an hour ahead" || fail "accept tb 4"
t decommission tb --server "$URL"
# (since 0.27.0 in its own words, exit 3 as a sync leaving payments; before,
# ESYNC_REQUIRED's generic "offline limits reached", exit 1)
[ "$ts" = 3 ] && grep -q "not decided by offpayd yet" t.out \
  && grep -qF "offpay: terminal decommission: 1 payment(s) not decided by offpayd yet (why is above: one dated after offpayd's clock is decided once its clock reaches it): nothing was done, this terminal keeps its key and accepts as before; run it again then (ESYNC_REQUIRED)" t.out \
  && ! grep -q "offline limits reached" t.out \
  && ok "decommission refused while a payment is not decided: said so, exit 3" || fail "early decommission: $ts $(cat t.out)"
balances "esc=esc/$S:8300 A=$MA:1700" "nothing moved, tb still registered"
stop_server
OFFPAY_NOW=$(( later + 60 )) start_server
set +e; OFFPAY_NOW=$(( later + 60 )) "$OFFPAY" terminal decommission --terminal tb \
    --passphrase-file tp --server "$URL" >t.out 2>&1; ts=$?; set -e
[ "$ts" = 0 ] && grep -q "final upload: 1 payment(s) sent, 1 decided" t.out \
  && grep -q "decommissioned: offpayd revoked this terminal" t.out \
  && ok "an hour later: the final upload, then tb revoked" || fail "decommission tb: $ts $(cat t.out)"
balances "esc=esc/$S:7900 A=$MA:2100" "tb's last payment settled"
stop_server
clock_back # from an hour on
start_server
new_terminal tc "$MERCHANT"
c=$(pay w1 3.00); accept tc "$c" 3.00 && ok "tc accepted 3.00" || fail "accept tc"
t decommission tc --server "$URL"
[ "$ts" = 0 ] && grep -q "final upload: 1 payment(s) sent, 1 decided" t.out \
  && grep -q "decommissioned: offpayd revoked this terminal" t.out \
  && ok "decommission: final upload, then revoked" || fail "decommission: $ts $(cat t.out)"
grep -qE "^offpayd: [0-9T:-]+Z POST /v1/terminal/decommission from 127\.0\.0\.1: terminal [0-9]+ \(merchant $MERCHANT\) decommissioned at [0-9T:-]+Z$" server.err \
  && ok "the decommission is on offpayd's log" || fail "decommission log: $(grep decommission server.err)"
balances "esc=esc/$S:7600 A=$MA:2400" "tc's last payment settled"
audits "decommission"

# ---- 3. bad input ---------------------------------------------------------------------
t decommission tc --server "$URL"
[ "$ts" = 0 ] && grep -q "decommissioned: offpayd revoked this terminal" t.out \
  && ok "decommission again: done already, told so" || fail "again: $ts $(cat t.out)"
term_init td
t rotate ta --server "$URL" --new-terminal td
[ "$ts" != 0 ] && grep -q "TERMINAL_REVOKED" t.out && ok "rotating a revoked key: TERMINAL_REVOKED" \
  || fail "rotate revoked: $(cat t.out)"
KB=$("$OFFPAY" terminal key --terminal tb --passphrase-file tp)
new_terminal te "$MERCHANT"; TEID=$TID
treq te /v1/terminal/rotate "{\"terminal_key\":\"$KB\",\"key_signature\":\"$(rproof te tb)\",\"sums_carried\":true}"
expect_http 409 EEXISTS "rotating to a key already registered"
# a device sold with its shop, registered for its new merchant with its
# old key: refused, the hint naming the terminal and merchant that hold
# the key (revoked or not) and saying to set the device up anew
api POST /v1/admin/merchants '{"name":"Kiosk B","currency":"EUR"}'; MB=$(jget .merchant)
api POST /v1/admin/terminals "{\"merchant\":\"$MB\",\"terminal_key\":\"$KB\"}"
expect_http 409 EEXISTS "tb's key (decommissioned) registered for another merchant"
jget .hint | grep -qx "terminal_key: registered already as terminal $TB of merchant $MERCHANT (revoked); a device moving to another merchant (a shop sold) needs a new key: 'offpay terminal init' anew, then register that key" \
  && ok "the hint names terminal $TB of merchant $MERCHANT, revoked" || fail "EEXISTS hint: $(cat resp.json)"
api POST /v1/admin/terminals "{\"merchant\":\"$MB\",\"terminal_key\":\"$("$OFFPAY" terminal key --terminal te --passphrase-file tp)\"}"
expect_http 409 EEXISTS "te's key (active) registered for another merchant"
jget .hint | grep -q "^terminal_key: registered already as terminal $TEID of merchant $MERCHANT (active); .*'offpay terminal init' anew" \
  && ok "the hint names terminal $TEID of merchant $MERCHANT, active" || fail "EEXISTS hint: $(cat resp.json)"
treq te /v1/terminal/rotate '{"terminal_key":"XYZ"}'
expect_http 400 BAD_FIELD "rotating to a malformed key"
treq td /v1/terminal/rotate "{\"terminal_key\":\"$KB\",\"key_signature\":\"$(rproof te tb)\",\"sums_carried\":true}"
expect_http 403 UNKNOWN_TERMINAL "a rotation signed by an unregistered key"
# a key te does not hold (the wallet w1's): without the new key's
# signature (a terminal older than 0.13.0) or with one made for another
# rotation, refused; the wallet's key is no terminal afterwards
KW=$("$OFFPAY" wallet key --wallet w1 --passphrase-file wp)
treq te /v1/terminal/rotate "{\"terminal_key\":\"$KW\"}"
expect_http 400 BAD_FIELD "rotating to a wallet's key without key_signature"
jget .hint | grep -q "^key_signature missing: .*upgrade offpay and run the rotation again$" \
  && ok "the hint says to upgrade: $(jget .hint)" || fail "no-proof hint: $(cat resp.json)"
treq te /v1/terminal/rotate "{\"terminal_key\":\"$KW\",\"key_signature\":\"$(rproof te tb)\",\"sums_carried\":true}"
expect_http 400 KEY_SIGNATURE_INVALID "rotating to a wallet's key with another key's signature"
wreq w1 /v1/terminal/decommission '{}'
expect_http 403 UNKNOWN_TERMINAL "the wallet's key is no terminal after the refused rotations"
c=$(pay w1 2.00); accept te "$c" 2.00 && ok "te still accepts (nothing changed)" || fail "te"
upload te
[ "$(last)" = "settled" ] && ok "te's payment settles: it was not revoked" || fail "te: $(cat resp.json)"
balances "esc=esc/$S:7400 A=$MA:2600" "bad input moved nothing else"
audits "bad input"

# ---- 4. retries after a lost reply ----------------------------------------------------
# step (each request signed by the terminal named first)            answer
# tf rotate -> tg's key (the reply read here, as if then lost)       200 replayed false
# tf the same body again (new nonce and time)                        200 replayed true, same body
# tf rotate -> th's key                                              403 TERMINAL_REVOKED
# te: next terminal registered by the operator gets TG+1             nothing registered by the replay
# tf, never told, accepts 0.50 with the old key                     (refused at its upload)
# CLI: terminal rotate tf -> tg (its reply was "lost")               exit 0, tg holds the credential
# CLI: the same again                                                exit 0
# tg accepts 1.50, syncs                                             settles (esc 7250, A 2750)
# tg decommission (HTTP) twice                                       200 revoked_at T, then T replayed
# CLI: terminal decommission tg                                      exit 0
# tg rotate -> th's key                                              403 TERMINAL_REVOKED
# ti revoked by the operator: decommission, rotate                   403 TERMINAL_REVOKED
# tf decommission (rotated)                                          403 TERMINAL_REVOKED
new_terminal tf "$MERCHANT"; TF=$TID
term_init tg; term_init th
KG=$("$OFFPAY" terminal key --terminal tg --passphrase-file tp)
KH=$("$OFFPAY" terminal key --terminal th --passphrase-file tp)
PFG=$(rproof tf tg)   # tg's key_signature of tf's rotation to it
treq te /v1/terminal/rotate "{\"terminal_key\":\"$KG\",\"key_signature\":\"$PFG\",\"sums_carried\":true}"
expect_http 400 KEY_SIGNATURE_INVALID "tf's proof sent by te (it binds the old terminal)"
treq tf /v1/terminal/rotate "{\"terminal_key\":\"$KG\",\"key_signature\":\"$PFG\",\"sums_carried\":true}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && [ "$(jget .old_terminal_id)" = "$TF" ] \
  && ok "rotate tf -> tg: 200, replayed false" || fail "rotate tf: $status $(cat resp.json)"
TG=$(jget .terminal_id); jq -S 'del(.replayed)' resp.json > first.json
treq tf /v1/terminal/rotate "{\"terminal_key\":\"$KG\",\"key_signature\":\"$PFG\",\"sums_carried\":true}"
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] \
  && [ "$(jq -S 'del(.replayed)' resp.json)" = "$(cat first.json)" ] \
  && ok "the same rotation again: 200, replayed true, the same body and credential" \
  || fail "replay: $status $(cat resp.json) first: $(cat first.json)"
treq tf /v1/terminal/rotate "{\"terminal_key\":\"$KH\",\"key_signature\":\"$(rproof tf th)\",\"sums_carried\":true}"
expect_http 403 TERMINAL_REVOKED "the rotated terminal rotating to another key"
new_terminal ti "$MERCHANT"; TI=$TID
[ "$TI" = $((TG + 1)) ] && ok "the replay registered no terminal (next id $TI)" \
  || fail "ids: tg $TG, next $TI"
t status tg
grep -q "Bakery A" t.out && fail "tg has a credential before the CLI ran" \
  || ok "tg has no credential yet (the reply was lost)"
c=$(pay w1 0.50); accept tf "$c" 0.50 && ok "tf, never told, accepted 0.50 with the old key" \
  || fail "accept tf"
t rotate tf --server "$URL" --new-terminal tg
[ "$ts" = 1 ] && grep -q "final upload: 1 payment(s) sent, 1 decided (0 paid" t.out \
  && grep -q "had made this rotation already" t.out \
  && grep -q "rotated: tg is terminal $TG with the new key" t.out \
  && grep -q "1 payment(s) of the final upload refused or not paid in full: 'offpay terminal journal --terminal tf'" t.out \
  && ok "CLI rotate again after the lost reply: final upload (tf's 0.50 refused: exit 1), done, tg is terminal $TG" \
  || fail "CLI rotate rerun: $ts $(cat t.out)"
"$OFFPAY" terminal risk --terminal tg --passphrase-file tp --set cumulative=321.00 >/dev/null
t rotate tf --server "$URL" --new-terminal tg
[ "$ts" = 0 ] && grep -q "rotated: tg is terminal $TG" t.out \
  && grep -q "the new terminal holds its credential: nothing to change" t.out \
  && ok "CLI rotate once more: still done, tg left as it was" || fail "CLI rotate third run: $ts $(cat t.out)"
"$OFFPAY" terminal risk --terminal tg --passphrase-file tp | grep -q "321.00" \
  && ok "the rules set on tg after its rotation are kept by the rerun" \
  || fail "tg's rules after the rerun: $("$OFFPAY" terminal risk --terminal tg --passphrase-file tp)"
t status tg
grep -q "Bakery A" t.out && ok "tg holds Bakery A's credential" || fail "tg status: $(cat t.out)"
c=$(pay w1 1.50); accept tg "$c" 1.50 && ok "tg accepted 1.50" || fail "accept tg"
t sync tg --server "$URL"
[ "$ts" = 0 ] && grep -q "1 decided (1 paid, 1.50 EUR" t.out && ok "tg's upload settled 1.50" \
  || fail "tg sync: $(cat t.out)"
balances "esc=esc/$S:7250 A=$MA:2750" "the rotated key's payment settled once"
treq tg /v1/terminal/decommission '{}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = false ] && [ "$(jget .revoked)" = true ] \
  && ok "decommission tg: 200, replayed false" || fail "decommission tg: $status $(cat resp.json)"
AT=$(jget .revoked_at)
sleep 1
treq tg /v1/terminal/decommission '{}'
[ "$status" = 200 ] && [ "$(jget .replayed)" = true ] && [ "$(jget .revoked_at)" = "$AT" ] \
  && ok "decommission tg again: 200, replayed true, revoked_at $AT" \
  || fail "decommission again: $status $(cat resp.json) (first at $AT)"
t decommission tg --server "$URL"
[ "$ts" = 0 ] && grep -q "had decommissioned this terminal already" t.out \
  && grep -q "decommissioned: offpayd revoked this terminal" t.out \
  && ok "CLI decommission after it: done" || fail "CLI decommission tg: $ts $(cat t.out)"
treq tg /v1/terminal/rotate "{\"terminal_key\":\"$KH\",\"key_signature\":\"$(rproof tg th)\",\"sums_carried\":true}"
expect_http 403 TERMINAL_REVOKED "a decommissioned terminal rotating"
treq tf /v1/terminal/rotate "{\"terminal_key\":\"$KG\",\"key_signature\":\"$PFG\",\"sums_carried\":true}"
expect_http 403 TERMINAL_REVOKED "tf's rotation again, now that tg is revoked"
api POST "/v1/admin/terminals/$TI/revoke" '{}'
[ "$status" = 200 ] && ok "the operator revokes ti" || fail "revoke ti: $status $(cat resp.json)"
treq ti /v1/terminal/decommission '{}'
expect_http 403 TERMINAL_REVOKED "a terminal the operator revoked decommissioning"
treq ti /v1/terminal/rotate "{\"terminal_key\":\"$KH\",\"key_signature\":\"$(rproof ti th)\",\"sums_carried\":true}"
expect_http 403 TERMINAL_REVOKED "a terminal the operator revoked rotating"
treq tf /v1/terminal/decommission '{}'
expect_http 403 TERMINAL_REVOKED "a rotated terminal decommissioning"
balances "esc=esc/$S:7250 A=$MA:2750" "the retries moved nothing"
audits "retries"

# ---- 5. the CLI's rotation or decommission, its answer lost ---------------------------
# Through tests/e2e/slow_proxy.py, which sends the request on to offpayd
# and drops the answer. The terminal's side: SQLite only.
# step                                                 expected
# tj accepts 1.00; decommission, its answer dropped    exit 3, "may have revoked"; the
#                                                      final upload paid the 1.00
# tj status; tj asked to accept 2.00                   RETIRING; refused ETERMINAL_RETIRING
# decommission again, straight to offpayd              exit 0, made already; nothing refused
# tk: rotate to tb's key (registered already)          409 EEXISTS, signed: tk accepts on
if [ "$BACKEND" = sqlite ] && [ -z "${OFFPAY_TEST_SHARDS:-}" ]; then
  start_proxy
  new_terminal tj "$MERCHANT"
  a0=$(balance "$MA")
  c=$(pay w1 1.00); accept tj "$c" 1.00 || fail "accept tj"
  echo /v1/terminal/decommission > ctl/drop
  t decommission tj --server "$PURL"
  [ "$ts" = 3 ] && grep -q "1 decided (1 paid, 1.00 EUR" t.out \
    && grep -q "offpayd may have revoked this terminal (its answer did not arrive): it accepts nothing until this is run again" t.out \
    && ok "decommission, its answer dropped: exit 3, offpayd may have revoked it" \
    || fail "decommission with its answer dropped: $ts $(cat t.out)"
  t status tj
  grep -q "RETIRING: its rotation or decommission went to offpayd unanswered" t.out \
    && ok "tj's status: RETIRING" || fail "tj status: $(cat t.out)"
  c=$(pay w1 2.00)
  t accept tj --code "$c" --amount 2.00
  [ "$ts" = 1 ] && grep -q "ETERMINAL_RETIRING" t.out && [ "$(t journal tj --json; grep -c . t.out)" = 1 ] \
    && ok "tj refuses a payment meanwhile (ETERMINAL_RETIRING), journals nothing" \
    || fail "tj accept while retiring: $ts $(cat t.out)"
  rm ctl/drop
  t decommission tj --server "$URL"
  [ "$ts" = 0 ] && grep -q "had decommissioned this terminal already" t.out \
    && grep -q "decommissioned: offpayd revoked this terminal" t.out \
    && ok "decommission run again: made already, done, nothing refused" || fail "decommission rerun: $ts $(cat t.out)"
  [ "$(balance "$MA")" = $((a0 + 100)) ] && ok "merchant A was paid tj's 1.00 once" \
    || fail "merchant A $(balance "$MA"), was $a0"
  new_terminal tk "$MERCHANT"
  t rotate tk --server "$URL" --new-terminal tb
  [ "$ts" != 0 ] && grep -q "EEXISTS" t.out && ! grep -q "may have revoked" t.out \
    && ok "tk's rotation to a registered key: EEXISTS, nothing made" || fail "tk rotate: $ts $(cat t.out)"
  c=$(pay w1 0.75); accept tk "$c" 0.75 && ok "tk accepts on after the signed refusal" \
    || fail "tk accept after a refused rotation: $("$OFFPAY" terminal status --terminal tk)"
  audits "lost answers"
fi

# the operator's list of terminals (a lost one's id, to revoke it): the
# live ones first, ti revoked (when, and why: "operator", none was given)
out=$("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT")
head -1 <<<"$out" | grep -qE "^terminal [0-9]+  merchant $MERCHANT  since [0-9T:-]+Z  active  key 1  payments [0-9]+  last upload ([0-9T:-]+Z|never)  Bakery A$" \
  && grep -A1 -E "^terminal $TI  merchant $MERCHANT  since [0-9T:-]+Z  REVOKED  " <<<"$out" | grep -qE "^  revoked at [0-9T:-]+Z \(reason \"operator\"\)$" \
  && ok "admin terminals: live ones first, ti REVOKED with its time and reason" || fail "admin terminals: $out"
out=$("$OFFPAY" admin terminals --db "$LEDGER" --json)
[ "$(jq -r ".terminals[] | select(.terminal == $TI) | .revoked_at | test(\"Z$\")" <<<"$out")" = true ] \
  && [ "$(jq -r '[.terminals[].revoked_at == null] | index(false) as $f | .[$f:] | all(. == false)' <<<"$out")" = true ] \
  && ok "admin terminals --json: ti revoked, the live ones listed first" || fail "terminals --json: $out"
# no such merchant: said, exit 1, as GET /v1/admin/terminals?merchant=
# answers 404 (since 0.27.0; before, an empty list and exit 0)
run_cli 1 "^offpay: admin terminals: no merchant 999 \(ENOTFOUND; 'offpay admin merchants' lists them\)$" -- \
  "$OFFPAY" admin terminals --db "$LEDGER" --merchant 999

# the operator revokes from the command line (since 0.12.0): a stolen
# terminal tz by its id (for a reason the ledger keeps), a credential of
# a wallet that never enrolled by its serial; each again changes nothing
# and says when it was revoked (and tz why: its first reason)
new_terminal tz "$MERCHANT"; TZ=$TID
W=$(new_account payer-z 20.00)
new_wallet wz "$W" 10.00; SZ=$SERIAL
c=$(pay wz 1.50); accept tz "$c" 1.50 || fail "tz accepts before its revocation"
sleep 1
# a reason the ledger could not show on one line is refused, nothing
# revoked
for bad in "" "$(printf 'left\non the bus')" "$(head -c 129 /dev/zero | tr '\0' x)"; do
  run_cli 2 "admin revoke-terminal: --reason is (1 to 128 bytes of text, without control or invisible format characters|at most 128 bytes)" -- \
    "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TZ" --reason "$bad"
done
# a credential's reason the same (its length alone was checked: a
# control character went into the ledger from the command line)
run_cli 2 "admin revoke-credential: --reason is 1 to 128 bytes of text, without control or invisible format characters" -- \
  "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$SZ" --reason "$(printf 'lost\non the bus')"
api GET "/v1/admin/credentials/$SZ"
[ "$(jget .revoked)" = false ] && ok "the credential not revoked" || fail "revoked by a refused reason: $(cat resp.json)"
api POST "/v1/admin/terminals/$TZ/revoke" '{"reason":""}'
expect_http 400 BAD_FIELD "an empty reason"
api POST "/v1/admin/terminals/$TZ/revoke" '{"reason":"left\u0007on the bus"}'
expect_http 400 BAD_FIELD "a reason with a control character"
api GET "/v1/admin/terminals/$TZ"
[ "$(jq -c '[.state, .revoked_at, .revoke_reason]' resp.json)" = '["active",null,null]' ] \
  && ok "tz is still active, no reason kept" || fail "tz after the refused reasons: $(cat resp.json)"
first_out=$("$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TZ" --reason "left on the bus")
grep -qE "^terminal $TZ of merchant $MERCHANT revoked at [0-9T:-]+Z \(reason \"left on the bus\"\): what it accepted before is paid" <<<"$first_out" \
  && ok "revoke-terminal: tz revoked for its reason, what it accepted before is paid" || fail "revoke-terminal: $first_out"
sleep 1
run_cli 0 "^terminal $TZ: already revoked at [0-9T:-]+Z \(reason \"left on the bus\"\); nothing changed$" -- \
  "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TZ" --reason "found again"
out=$("$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TZ" --json)
first=$(jq -r .revoked_at <<<"$out")
[ "$(jq -r .already_revoked <<<"$out")" = true ] && [ "$(jq -r .revoke_reason <<<"$out")" = "left on the bus" ] &&
  grep -q "revoked at $(date -u -d "@$first" +%Y-%m-%dT%H:%M:%SZ) " <<<"$first_out" \
  && [ "$(jq -c '[.report, .warning]' <<<"$out")" = "[null,null]" ] && ! grep -q WARNING <<<"$first_out" \
  && ok "revoke-terminal --json: already revoked, at the first time, for the first reason; tz never reported: no warning" || fail "revoke-terminal --json: $out | $first_out"
api POST "/v1/admin/terminals/$TZ/revoke" '{"reason":"found again"}'
[ "$status" = 200 ] && [ "$(jget .revoked_at)" = "$first" ] && [ "$(jget .revoke_reason)" = "left on the bus" ] \
  && [ "$(jq -c '[.report, .warning]' resp.json)" = "[null,null]" ] \
  && grep -qE "POST /v1/admin/terminals/$TZ/revoke by operator token from 127\.0\.0\.1: terminal $TZ already revoked at $(iso "$first"): left on the bus$" server.err \
  && ok "POST revoke again answers the first revocation's time and reason, and logs them" || fail "revoke again: $(cat resp.json)"
"$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT" | grep -A1 -E "^terminal $TZ  merchant $MERCHANT  " \
  | grep -qxE "  revoked at [0-9T:-]+Z \(reason \"left on the bus\"\)" \
  && [ "$("$OFFPAY" admin terminals --db "$LEDGER" --json | jq -r ".terminals[] | select(.terminal == $TZ) | .revoke_reason")" = "left on the bus" ] \
  && ok "admin terminals (text and --json): tz's reason" || fail "admin terminals tz: $("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT")"
upload tz
[ "$status" = 200 ] && [ "$(last)" = settled ] \
  && ok "what tz accepted before its revocation settles" || fail "tz upload: $status $(cat resp.json)"
run_cli 1 "no terminal 987654 \(ENOTFOUND" -- \
  "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id 987654
# a terminal whose sync left a payment undecided (accepted on its clock
# 15 minutes ahead of offpayd's: ECODE_FUTURE) reported it pending: `admin
# terminals` shows that report, and revoke-terminal (CLI and HTTP) warns
# that what it accepted after the revocation will be refused, and names
# `terminal decommission` for a terminal at hand
new_terminal tq "$MERCHANT"; TQ=$TID
ahead=$(( $(date +%s) + 900 )); ahead_iso=$(date -u -d "@$ahead" +%Y-%m-%dT%H:%M:%SZ)
c=$(OFFPAY_NOW=$ahead pay w1 2.00); OFFPAY_NOW=$ahead accept tq "$c" 2.00 || fail "tq accepts 15 minutes ahead"
set +e; OFFPAY_NOW=$ahead "$OFFPAY" terminal sync --terminal tq --passphrase-file tp --server "$URL" >t.out 2>&1; set -e
# the terminal's clock starts at OFFPAY_NOW and runs on during the sync,
# so its report is dated $ahead or a second or so after: the checks below
# take the time it reported, once it is seen to be in that range
ahead_iso=$("$OFFPAY" admin terminals --db "$LEDGER" --json \
  | jq -r ".terminals[] | select(.terminal == $TQ) | .report.synced_at")
reported=$(date -u -d "$ahead_iso" +%s) || fail "tq's report: no time ($ahead_iso)"
[ "$reported" -ge "$ahead" ] && [ "$reported" -le $((ahead + 10)) ] \
  && ok "tq's report is dated by its clock, 15 minutes ahead" || fail "tq's report at $ahead_iso, not $ahead"
ahead=$reported
out=$("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT")
grep -A1 -E "^terminal $TQ  merchant $MERCHANT  since [0-9T:-]+Z  active  key 1  payments 0  last upload never  Bakery A$" <<<"$out" \
  | grep -qE "^  last sync reported at [0-9T:-]+Z \(its clock $ahead_iso, [89][0-9][0-9] s ahead of offpayd's\): 1 payment\(s\) pending \(2\.00 EUR\)$" \
  && ok "admin terminals: tq's last sync reported 1 payment pending" || fail "admin terminals tq: $out | $(cat t.out)"
out=$("$OFFPAY" admin terminals --db "$LEDGER" --json)
[ "$(jq -c ".terminals[] | select(.terminal == $TQ) | [.report.synced_at, .report.pending, (.report.reported_at | test(\"Z$\"))]" <<<"$out")" \
  = "[\"$ahead_iso\",1,true]" ] && [ "$(jq -c ".terminals[] | select(.terminal == $TZ) | .report" <<<"$out")" = null ] \
  && ok "admin terminals --json: tq's report, tz's null" || fail "terminals --json report: $out"
run_cli 0 "^WARNING: terminal $TQ's last sync reported 1 payment\(s\) not uploaded or not decided by offpayd: those it accepted before the revocation are paid when they are uploaded .*those after are refused \(ETERMINAL_REVOKED\)\. A terminal still at hand is better retired with 'offpay terminal decommission'" -- \
  "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TQ"
api POST "/v1/admin/terminals/$TQ/revoke" '{}'
[ "$status" = 200 ] && [ "$(jq -c '[.report.synced_at, .report.pending]' resp.json)" = "[$ahead,1]" ] \
  && jget .warning | grep -q "^terminal $TQ's last sync reported 1 payment(s) not uploaded or not decided by offpayd: .*'offpay terminal decommission'" \
  && ok "POST revoke: tq's report and the warning" || fail "POST revoke tq: $status $(cat resp.json)"
run_cli 2 "--terminal-id T is required" -- "$OFFPAY" admin revoke-terminal --db "$LEDGER"
api GET "/v1/revlist"; revoked0=$(jget .serials)
run_cli 0 "^credential $SZ \(account $W\) revoked at [0-9T:-]+Z: terminals refuse its codes" -- \
  "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$SZ" --reason "lost, never enrolled"
run_cli 0 "^credential $SZ: already revoked at [0-9T:-]+Z; nothing changed$" -- \
  "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$SZ"
# over HTTP too: offpayd's log says nothing changed, not a revocation for
# "operator" (the ledger keeps the first reason; since 0.26.0)
api POST "/v1/admin/credentials/$SZ/revoke" '{}'
[ "$status" = 200 ] && grep -qE "POST /v1/admin/credentials/$SZ/revoke by operator token from 127\.0\.0\.1: credential $SZ already revoked at [0-9T:-]+Z: nothing changed \(its first reason kept\)$" server.err \
  && ! grep -q "credential $SZ revoked (reason \"operator\")" server.err \
  && ok "POST revoke again: the log says already revoked, nothing changed" \
  || fail "revoke again over HTTP: $status $(grep "credentials/$SZ/revoke" server.err)"
out=$("$OFFPAY" admin revoke-credential --db "$LEDGER" --serial "$SZ" --json)
[ "$(jq -c '[.already_revoked, .remaining]' <<<"$out")" = '[true,"8.50"]' ] \
  && ok "revoke-credential --json: already revoked, 8.50 left in its escrow" || fail "revoke-credential --json: $out"
api GET "/v1/revlist"
[ "$status" = 200 ] && [ "$(jget .serials)" = "$((revoked0 + 1))" ] \
  && ok "the ledger's revocation list names one more" || fail "revlist: $revoked0, $(cat resp.json)"
run_cli 1 "no credential was issued with serial 987654 \(ENOT_ISSUED\)" -- \
  "$OFFPAY" admin revoke-credential --db "$LEDGER" --serial 987654
audit_passes "revocations from the command line"

# a stolen terminal its thief rotated to their own key lives on in the
# terminal it was rotated to: revoke-terminal names it, --chain (CLI) and
# "chain": true (HTTP) revoke it too
new_terminal ts "$MERCHANT"; TS=$TID
term_init tevil
t rotate ts --server "$URL" --new-terminal tevil
TE=$(sed -n 's/^rotated: tevil is terminal \([0-9]*\) .*/\1/p' t.out)
[ "$ts" = 0 ] && [ -n "$TE" ] && ok "the thief rotated ts ($TS) to tevil ($TE)" || fail "thief rotate: $ts $(cat t.out)"
# without --chain: nothing changed and the device still accepts under
# its new key: a WARNING naming it and the command that revokes it, and
# exit 1 (a script must not take it as done)
st=0; out=$("$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TS") || st=$?
[ "$st" = 1 ] && grep -qE "^terminal $TS: already revoked at [0-9T:-]+Z \(reason \"rotated to terminal $TE\"\); nothing changed$" <<<"$out" \
  && grep -qxF "WARNING: terminal $TS was rotated to terminal $TE, which is still ACTIVE: whoever holds that terminal's key (a stolen terminal rotated to a key of its thief's) is still paid for what it accepts. Revoke it: offpay admin revoke-terminal --db $LEDGER --terminal-id $TE (or this command again with --chain)" <<<"$out" \
  && ok "revoke-terminal on a rotated terminal warns of the active one it was rotated to, with the command; exit 1" \
  || fail "revoke-terminal rotated ($st): $out"
st=0; out=$("$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TS" --json 2>rt.err) || st=$?
[ "$st" = 1 ] && [ "$(jq -c "[.rotated_to[] | [.terminal, .revoked]]" <<<"$out")" = "[[$TE,false]]" ] \
  && grep -q "^WARNING: terminal $TS was rotated to terminal $TE, which is still ACTIVE" rt.err \
  && ok "--json: the same exit 1, the WARNING on stderr, the JSON whole" || fail "revoke-terminal --json rotated ($st): $out $(cat rt.err)"
run_cli 0 "^terminal $TS was rotated to terminal $TE: revoked at [0-9T:-]+Z \(reason \"rotated away by a thief\"\) \(--chain\)$" -- \
  "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TS" --chain --reason "rotated away by a thief"
out=$("$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TS" --json)
[ "$(jq -c "[.rotated_to[] | [.terminal, .rotated_from, .revoked, .revoke_reason]]" <<<"$out")" = "[[$TE,$TS,true,\"rotated away by a thief\"]]" ] \
  && [ "$(jq -r .revoke_reason <<<"$out")" = "rotated to terminal $TE" ] \
  && ok "--json: the chain, $TE revoked for the reason given; $TS's own rotation's reason" || fail "revoke-terminal --json chain: $out"
# (read whole first: grep -q leaving a pipe early would end a long list
# with SIGPIPE, which pipefail counts as a failure)
out=$("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT")
grep -qE "^terminal $TE  merchant $MERCHANT  since [0-9T:-]+Z  REVOKED  " <<<"$out" \
  && ok "admin terminals: $TE REVOKED" || fail "terminals: $out"
new_terminal tu "$MERCHANT"; TU=$TID
term_init tv
t rotate tu --server "$URL" --new-terminal tv
TV=$(sed -n 's/^rotated: tv is terminal \([0-9]*\) .*/\1/p' t.out)
api POST "/v1/admin/terminals/$TU/revoke" '{"reason":"stolen"}'
[ "$status" = 200 ] && [ "$(jq -c '[.rotated_to[] | [.terminal, .revoked, .revoked_at, .revoke_reason]]' resp.json)" = "[[$TV,false,null,null]]" ] \
  && [ "$(jget .revoke_reason)" = "rotated to terminal $TV" ] \
  && ok "POST revoke names $TV, rotated to and active; $TU's reason is its rotation's" || fail "POST revoke rotated: $status $(cat resp.json)"
# ... and warns of it, as the CLI does (since 0.27.0; before, "warning"
# was null), on the answer and offpayd's log
[ "$(jget .warning)" = "terminal $TU was rotated to terminal $TV, which is still ACTIVE: whoever holds its key (a stolen terminal rotated to a key of its thief's) is still paid for what it accepts. Revoke it: POST /v1/admin/terminals/$TV/revoke, or this request again with \"chain\": true" ] \
  && grep -qE "POST /v1/admin/terminals/$TU/revoke by operator token from 127\.0\.0\.1: WARNING: terminal $TV, rotated from terminal $TU, is still active \(revoked without \"chain\"\)$" server.err \
  && ok "POST revoke without chain: the warning names $TV and what revokes it; logged" \
  || fail "POST revoke warning: $(jget .warning) | $(grep WARNING server.err | tail -2)"
api POST "/v1/admin/terminals/$TU/revoke" '{"reason":"stolen","chain":true}'
[ "$status" = 200 ] && [ "$(jq -c '[.rotated_to[] | [.terminal, .rotated_from, .revoked, .revoke_reason]]' resp.json)" = "[[$TV,$TU,true,\"stolen\"]]" ] \
  && grep -qE "POST /v1/admin/terminals/$TU/revoke by operator token from 127\.0\.0\.1: terminal $TV \(rotated from terminal $TU\) revoked at [0-9T:-]+Z with the chain: stolen$" server.err \
  && [ "$(jget .warning)" = null ] \
  && ok "POST revoke with chain: $TV revoked for the reason given, logged, no warning" || fail "POST revoke chain: $status $(cat resp.json)"
api POST "/v1/admin/terminals/$TU/revoke" '{"chain":1}'
expect_http 400 BAD_FIELD "chain must be a boolean"
# the command the WARNING names, run as printed (its reason quoted for
# the shell), revokes the active one; then the first exits 0
new_terminal tw "$MERCHANT"; TW=$TID
term_init tx
t rotate tw --server "$URL" --new-terminal tx
TX=$(sed -n 's/^rotated: tx is terminal \([0-9]*\) .*/\1/p' t.out)
st=0; out=$("$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TW" --reason "stolen, it's gone") || st=$?
cmd=$(sed -n 's/^WARNING: terminal [0-9]* was rotated to terminal [0-9]*, which is still ACTIVE: .* Revoke it: \(offpay admin revoke-terminal .*\) (or this command again with --chain)$/\1/p' <<<"$out")
[ "$st" = 1 ] && [ "$cmd" = "offpay admin revoke-terminal --db $LEDGER --terminal-id $TX --reason 'stolen, it'\\''s gone'" ] \
  && ok "the WARNING's command names $TX and the reason, quoted" || fail "revoke-terminal $TW ($st): $out"
st=0; eval "\"\$OFFPAY\" ${cmd#offpay }" >rt.out 2>&1 || st=$?
[ "$st" = 0 ] && grep -qE "^terminal $TX of merchant $MERCHANT revoked at [0-9T:-]+Z \(reason \"stolen, it's gone\"\)" rt.out \
  && ok "that command, run as printed, revokes $TX for the reason" || fail "the WARNING's command ($st): $(cat rt.out)"
run_cli 0 "^terminal $TW was rotated to terminal $TX: already revoked at [0-9T:-]+Z \(reason \"stolen, it's gone\"\)$" -- \
  "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$TW"

# the operator's terminal list over HTTP (GET /v1/admin/terminals): the
# terminals `admin terminals` lists, by id, a page at a time, each with its
# state, key, term and last report; one by id; 404 for an unknown merchant
# or terminal
api GET "/v1/admin/terminals?merchant=$MERCHANT&limit=1000"
cli=$("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT" --json | jq -c '[.terminals[].terminal] | sort')
[ "$status" = 200 ] && [ "$(jq -c '[.terminals[].terminal_id]' resp.json)" = "$cli" ] \
  && [ "$(jget .count)" = "$(jq length <<<"$cli")" ] && [ "$(jget .next_after)" = null ] \
  && ok "GET /v1/admin/terminals?merchant=$MERCHANT: the $(jget .count) terminals admin terminals lists, by id" \
  || fail "terminal list: $status $(head -c 400 resp.json) | $cli"
cp resp.json list.json
pick() { jq -c ".terminals[] | select(.terminal_id == $1) | $2" list.json; }
[ "$(pick "$TA" '[.state, .rotated_to, (.revoked_at | type), .terminal_key]')" = "[\"rotated\",$TB,\"number\",\"$("$OFFPAY" terminal key --terminal ta --passphrase-file tp)\"]" ] \
  && [ "$(pick "$TB" '[.state, .rotated_to]')" = '["decommissioned",null]' ] \
  && [ "$(pick "$TS" '[.state, .rotated_to]')" = "[\"rotated\",$TE]" ] \
  && [ "$(pick "$TE" '[.state, .rotated_to]')" = '["revoked",null]' ] \
  && [ "$(pick "$TEID" '[.state, .revoked_at, .merchant, .merchant_name, .currency]')" = "[\"active\",null,\"$MERCHANT\",\"Bakery A\",\"EUR\"]" ] \
  && ok "states: $TA rotated to $TB, $TB decommissioned, $TS rotated to $TE, $TE revoked, $TEID active" \
  || fail "states: $(jq -c '[.terminals[] | [.terminal_id, .state, .rotated_to]]' list.json)"
[ "$(pick "$TA" .revoke_reason)" = "\"rotated to terminal $TB\"" ] \
  && [ "$(pick "$TB" .revoke_reason)" = '"decommissioned"' ] \
  && [ "$(pick "$TE" .revoke_reason)" = '"rotated away by a thief"' ] \
  && [ "$(pick "$TZ" .revoke_reason)" = '"left on the bus"' ] \
  && [ "$(pick "$TQ" .revoke_reason)" = '"operator"' ] \
  && [ "$(pick "$TEID" .revoke_reason)" = null ] \
  && ok "reasons kept: $TA's rotation, $TB's decommission, the operator's for $TE and $TZ, 'operator' for $TQ (none given), none for $TEID (active)" \
  || fail "reasons: $(jq -c '[.terminals[] | [.terminal_id, .state, .revoke_reason]]' list.json)"
[ "$(pick "$TQ" '[.report.synced_at, .report.pending, (.report.reported_at | type)]')" = "[$ahead,1,\"number\"]" ] \
  && [ "$(pick "$TZ" .report)" = null ] \
  && [ "$(pick "$TB" '(.valid_from | type) == "number" and .expires > .valid_from')" = true ] \
  && [ "$(pick "$TB" .expires)" -le "$(pick "$TA" .expires)" ] \
  && [ "$(pick "$TA" '.created_at <= .revoked_at')" = true ] \
  && ok "$TQ's last report (1 pending), $TZ's null; terms from the credentials ($TB's not past $TA's)" \
  || fail "reports and terms: $(pick "$TQ" .) $(pick "$TA" .) $(pick "$TB" .)"
# each one's credential signed by the issuer's one key, as admin
# terminals says of each
[ "$(jq -c '[.terminals[] | [.terminal_id, .kid]]' list.json)" = "$("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT" --json | jq -c '[.terminals[] | [.terminal, .kid]] | sort')" ] \
  && [ "$(jq -c '[.terminals[].kid] | unique' list.json)" = "[1]" ] \
  && ok "each terminal's kid (1), as admin terminals --json gives it" || fail "kids: $(jq -c '[.terminals[] | [.terminal_id, .kid]]' list.json)"
got=; after=0; pages=0
while [ "$after" != null ] && [ "$pages" -lt 20 ]; do
  api GET "/v1/admin/terminals?merchant=$MERCHANT&limit=4&after=$after"
  [ "$status" = 200 ] || break
  got=$got$(jq -r '.terminals[].terminal_id' resp.json | tr '\n' ' '); after=$(jget .next_after); pages=$((pages + 1))
done
[ "$got" = "$(jq -r '.terminals[].terminal_id' list.json | tr '\n' ' ')" ] \
  && ok "in pages of 4 ($pages): the same terminals, next_after a terminal id" || fail "pages: $got"
api GET "/v1/admin/terminals/$TS"
[ "$status" = 200 ] && [ "$(jq -c . resp.json)" = "$(pick "$TS" .)" ] \
  && ok "GET /v1/admin/terminals/$TS: its entry of the list" || fail "terminal $TS: $status $(cat resp.json)"
api GET /v1/admin/terminals
[ "$status" = 200 ] && [ "$(jget .count)" -ge "$(jq .count list.json)" ] \
  && ok "GET /v1/admin/terminals: every merchant's" || fail "all terminals: $status $(head -c 300 resp.json)"
api GET "/v1/admin/terminals?merchant=$MB"
[ "$status" = 200 ] && [ "$(jq -c '[.count, .terminals, .next_after]' resp.json)" = "[0,[],null]" ] \
  && ok "a merchant without terminals: none" || fail "merchant $MB: $status $(cat resp.json)"
api GET "/v1/admin/terminals?merchant=987654"
expect_http 404 ENOTFOUND "the terminals of an unknown merchant"
jget .hint | grep -q "no merchant 987654" && ok "its hint: $(jget .hint)" || fail "hint: $(cat resp.json)"
api GET /v1/admin/terminals/987654
expect_http 404 ENOTFOUND "an unknown terminal"
for q in "terminals?merchant=0" "terminals?limit=0" "terminals?limit=1001" "terminals?after=x" \
    "terminals?after=4294967296" "terminals?gate=1" "terminals/0"; do
  api GET "/v1/admin/$q"
  expect_http 400 BAD_PARAMETER "GET /v1/admin/$q"
done
status=$(curl -s -o resp.json -w '%{http_code}' "$URL/v1/admin/terminals")
expect_http 401 UNAUTHORIZED "the terminal list without the operator's token"

finish
