#!/usr/bin/env bash
# offpayd_rotate.sh — the issuer's daily keys changed under a running
# offpayd (docs/operations.md §6): SIGHUP reads the issuer's directory
# again, with no restart and nothing lost.
#   1. a key added (offpay issuer add-key): after SIGHUP offpayd serves the
#      new bundle and signs with the new key; codes under credentials of
#      either key settle;
#   2. SIGHUP with nothing changed, and with a passphrase file that no
#      longer opens the issuer: the key and bundle in use stay, the log
#      says why;
#   3. the new key retired (a compromise): after SIGHUP offpayd signs with
#      the old key again, serves the bundle without the retired one, and
#      refuses a code whose credential the retired key signed, as a
#      terminal holding that bundle would;
#   4. three keys added and offpayd sent SIGHUP after each while
#      credentials are issued back to back: every request answered, the
#      keys in order;
#   5. offpayd started in the newest key's last days warns of its end,
#      once.
# What each key signed is read before a retirement: the terminals listed
# with their credential's kid (GET /v1/admin/terminals, admin terminals),
# a credential's kid (GET /v1/admin/credentials/N), and per key its live
# terminals and the credentials not released (GET /v1/admin/keys, admin
# keys); retiring a key that signed live terminals is warned of at the
# SIGHUP.
# The audit passes after parts 1 to 4.
source "$(dirname "$0")/offpayd_lib.sh"
start_server
pid=$server_pid
# hup_said TEXT: offpayd's log says TEXT within 10 s (it gets one more
# line for each SIGHUP: the token's, then the issuer's).
hup_said() {
  for _ in $(seq 100); do grep -q "$1" server.err && return 0; sleep 0.1; done
  return 1
}
# hup TEXT: SIGHUP, then offpayd's log says TEXT, from the same process.
hup() {
  : > server.err.before; cp server.err server.err.before
  kill -HUP "$server_pid"
  if hup_said "$1" && [ "$server_pid" = "$pid" ] && kill -0 "$pid"; then
    ok "SIGHUP: the log says '$1'"
  else
    fail "SIGHUP: no '$1': $(diff server.err.before server.err | tail -3)"
  fi
}
# cred_kid FILE: the kid of the credential offpayd answered into FILE.
cred_kid() { "$OFFPAY" decode --file "$1" --json | jq -r .kid; }
# bundle_is SEQ KIDS DESCRIPTION: /v1/bundle has that seq and those kids
# ("1 2"), and is the issuer's bundle.opb byte for byte.
# (ISSUER_DIR: the directory whose bundle it is; iss unless set)
bundle_is() {
  fetch_bundle
  local seq kids dir=${ISSUER_DIR:-iss}
  seq=$(jget .seq)
  kids=$("$OFFPAY" decode --file bundle.opb --json | jq -r '[.keys[].kid] | join(" ")')
  if [ "$seq" = "$1" ] && [ "$kids" = "$2" ] && cmp -s bundle.opb "$dir/bundle.opb"; then
    ok "bundle $1 (keys $2): $3"
  else
    fail "bundle: $3: seq $seq keys '$kids' (want $1, '$2'); same as $dir's: $(cmp -s bundle.opb "$dir/bundle.opb" && echo yes || echo no)"
  fi
}

fetch_bundle
seq0=$(jget .seq)
# key_metric_is KID DESCRIPTION: /metrics gives the end of daily key KID
# (its valid_until in iss/bundle.opb, Unix time) as the key in use, alone.
key_metric_is() {
  local want got
  want=$(date -u -d "$("$OFFPAY" decode --file iss/bundle.opb --json \
      | jq -r ".keys[] | select(.kid == $1) | .valid_until")" +%s)
  got=$(curl -s "$URL/metrics" | grep '^offpayd_signing_key_expiry_timestamp_seconds')
  if [ "$got" = "offpayd_signing_key_expiry_timestamp_seconds{kid=\"$1\"} $want" ]; then
    ok "metric: daily key $1 ends at $want: $2"
  else
    fail "metric: $2: '$got', want kid $1 at $want"
  fi
}
key_metric_is 1 "at start-up"
A=$(new_account payer 100.00)
new_merchant shop
new_terminal t1 "$MERCHANT"; T1=$TID
TID1=$TID
new_wallet w1 "$A" 20.00
S1=$SERIAL
[ "$(cred_kid w1.cred)" = 1 ] && ok "a credential before any change: key 1" \
  || fail "first credential's kid: $(cred_kid w1.cred)"
c1=$(pay w1 1.00)
accept t1 "$c1" 1.00 || fail "t1 accepts a key-1 code"
# An online wallet enrolled now holds bundle seq0 (key 1 only).
wallet_init ow
w enroll ow --server "$URL" --code "$(enroll_code)"
OW=$(sed -n 's/^enrolled: account \([0-9]*\).*/\1/p' w.out)
api POST "/v1/admin/accounts/$OW/deposit" '{"amount":"10.00"}'

# ---- 1. a key added ------------------------------------------------------
cp -a iss iss.key1   # the issuer as a second offpayd still reads it
cp bundle.opb bundle.key1.opb   # the bundle the shops had before key 2
run_cli 0 "signing key 2 added" -- "$OFFPAY" issuer add-key --dir iss --passphrase-file ip
bundle_the_issuer_has=$("$OFFPAY" decode --file iss/bundle.opb --json | jq -r .seq)
fetch_bundle
[ "$(jget .seq)" = "$seq0" ] && [ "$bundle_the_issuer_has" = $((seq0 + 1)) ] \
  && ok "before SIGHUP offpayd serves bundle $seq0, the issuer's is $((seq0 + 1))" \
  || fail "bundle before SIGHUP: $(jget .seq), issuer's $bundle_the_issuer_has"
hup "SIGHUP: issuer read again from iss: signing with daily key 2 (until .*; was 1), trust bundle $((seq0 + 1)) (was $seq0)"
grep -q "SIGHUP: operator token unchanged: token holds the token in use" server.err \
  && ok "SIGHUP also read the token (the same: said unchanged)" || fail "no token line: $(tail -3 server.err)"
key_metric_is 2 "after SIGHUP, the new key's"
bundle_is $((seq0 + 1)) "1 2" "served after SIGHUP"
new_terminal t2 "$MERCHANT"   # its credential signed by key 2
T2=$TID
new_wallet w2 "$A" 20.00   # wallet init takes the fetched (new) bundle
S2=$SERIAL
[ "$(cred_kid w2.cred)" = 2 ] && ok "a credential after SIGHUP: key 2" \
  || fail "credential after SIGHUP: kid $(cred_kid w2.cred)"
t sync t1 --bundle bundle.opb
[ "$ts" = 0 ] || fail "t1 takes the new bundle: $(cat t.out)"
c2=$(pay w2 2.00)
accept t1 "$c2" 2.00 || fail "t1 accepts a key-2 code"
# The online wallet's allowance is signed by key 2, which its bundle
# lacks: it takes offpayd's bundle and installs the credential, once.
w allowance ow --amount 3.00
[ "$ws" = 0 ] && grep -qE "^credential [0-9]+ installed: 3.00 EUR" w.out \
  && ok "an allowance under the new key, the wallet's bundle older: $(head -1 w.out)" \
  || fail "allowance after add-key: $ws $(cat w.out)"
balances "OW=$OW:700" "one escrow of 3.00 made"
co=$(pay ow 1.50)
accept t1 "$co" 1.50 || fail "t1 accepts the online wallet's key-2 code"
# A second offpayd on the same ledger that has not read the new key yet
# (not sent SIGHUP): the key-2 codes are not decided, not refused for
# good, and it says what to do; the terminal sends them again.
main_url=$URL
"$OFFPAYD" --db "$LEDGER" --listen 127.0.0.1:0 --issuer iss.key1 \
    --passphrase-file ip --root iss/root.pub --token-file token \
    >server2.out 2>server2.err &
all_pids+=("$!")
for _ in $(seq 1 1200); do
  grep -q "listening on" server2.out 2>/dev/null && break
  sleep 0.05
done
URL=http://$(sed -n 's/^offpayd listening on //p' server2.out)
upload t1
reasons=$(jq -r '[.results[] | .reason // "-"] | join(" ")' resp.json)
[ "$status" = 200 ] && [ "$(outcomes)" = "settled error error" ] \
  && [ "$reasons" = "- EBUNDLE_OLD EBUNDLE_OLD" ] \
  && [ "$(jget .decided)" = 1 ] \
  && ok "an offpayd without key 2 leaves its codes undecided (EBUNDLE_OLD)" \
  || fail "upload to the offpayd without key 2: $status $(cat resp.json)"
grep -q "2 uploaded code(s) of terminal $TID1 carry an issuer key .*this offpayd's trust bundle does not hold yet .*send offpayd SIGHUP" server2.err \
  && ok "that offpayd says to send it SIGHUP" \
  || fail "no SIGHUP advice: $(tail -3 server2.err)"
kill "${all_pids[-1]}"; wait "${all_pids[-1]}" 2>/dev/null || true
URL=$main_url
upload t1
[ "$status" = 200 ] && [ "$(outcomes)" = "settled(replay) settled settled" ] \
  && ok "codes under key 1 and key 2 settle after the change" \
  || fail "upload after add-key: $status $(cat resp.json)"
balances "shop=$MACCT:450" "the three codes paid"
audits "after a key added under offpayd"

# Which key signed what: each terminal's credential and each wallet
# credential name their kid, and GET /v1/admin/keys (admin keys) sums
# them per key: key 1 signed t1 and w1's credential, key 2 (signing) t2
# and the credentials of w2 and ow.
api GET "/v1/admin/terminals?merchant=$MERCHANT"
[ "$status" = 200 ] && [ "$(jq -c "[.terminals[] | [.terminal_id, .kid]]" resp.json)" = "[[$T1,1],[$T2,2]]" ] \
  && ok "GET /v1/admin/terminals: t1's credential by key 1, t2's by key 2" || fail "terminals' kid: $status $(cat resp.json)"
api GET "/v1/admin/terminals/$T2"
[ "$status" = 200 ] && [ "$(jget .kid)" = 2 ] && ok "GET /v1/admin/terminals/$T2: kid 2" || fail "terminal $T2: $(cat resp.json)"
api GET "/v1/admin/credentials/$S1"; k1=$(jget .kid)
api GET "/v1/admin/credentials/$S2"; k2=$(jget .kid)
[ "$status" = 200 ] && [ "$k1 $k2" = "1 2" ] && ok "GET /v1/admin/credentials/N: w1's kid 1, w2's kid 2" \
  || fail "credentials' kid: $k1 $k2 $(cat resp.json)"
out=$("$OFFPAY" admin terminals --db "$LEDGER" --merchant "$MERCHANT")
grep -qE "^terminal $T1  merchant $MERCHANT  since [0-9T:-]+Z  active  key 1  payments 3  " <<<"$out" \
  && grep -qE "^terminal $T2  merchant $MERCHANT  since [0-9T:-]+Z  active  key 2  payments 0  " <<<"$out" \
  && [ "$("$OFFPAY" admin terminals --db "$LEDGER" --json | jq -c "[.terminals[] | select(.merchant == \"$MERCHANT\") | .kid] | sort")" = "[1,2]" ] \
  && ok "admin terminals (text, --json): each one's key" || fail "admin terminals' key: $out"
api GET /v1/admin/keys
[ "$status" = 200 ] && [ "$(jget .signing_kid)" = 2 ] && [ "$(jget .bundle_seq)" = $((seq0 + 1)) ] \
  && [ "$(jq -c '[.keys[] | [.kid, .in_bundle, .signing, .live_terminals, .terminal_ids, .credentials, .credentials_live, .retire_stops_terminals, .retire_strands_credentials]]' resp.json)" \
       = "[[1,true,false,1,[$T1],1,1,true,true],[2,true,true,1,[$T2],2,2,true,true]]" ] \
  && [ "$(jq -r '.keys[0] | .release_due - .credentials_expire' resp.json)" = $((14 * 86400)) ] \
  && ok "GET /v1/admin/keys: key 1 signed t1 and 1 credential, key 2 (signing) t2 and 2" \
  || fail "keys: $status $(cat resp.json)"
cp resp.json keys.api.json
run_cli 0 "^key 1$" -- "$OFFPAY" admin keys --db "$LEDGER"
out=$("$OFFPAY" admin keys --db "$LEDGER")
grep -qxE "  live terminals 1: $T1" <<<"$out" \
  && grep -qE "^  wallet credentials not released 1 \(1 not expired\), the last expiring [0-9T:-]+Z, its escrow released [0-9T:-]+Z$" <<<"$out" \
  && grep -qE "^  retiring it now: STOPS 1 terminal\(s\): .* STRANDS 1 credential\(s\): .*; retire it after [0-9T:-]+Z$" <<<"$out" \
  && grep -qxE "  live terminals 1: $T2" <<<"$out" \
  && ok "admin keys: what each key signed, what retiring it now would do" || fail "admin keys: $out"
keys_cli=$("$OFFPAY" admin keys --db "$LEDGER" --json | jq -c '[.keys[] | del(.in_bundle, .signing, .valid_from, .valid_until)]')
[ "$keys_cli" = "$(jq -c '[.keys[] | del(.in_bundle, .signing, .valid_from, .valid_until)]' keys.api.json)" ] \
  && ok "admin keys --json: what GET /v1/admin/keys says of each key" || fail "admin keys --json: $keys_cli"

# ---- 2. nothing changed; an issuer that cannot be read -------------------
hup "SIGHUP: issuer read again from iss: unchanged (daily key 2, trust bundle $((seq0 + 1)))"
cp ip ip.good
printf 'not the passphrase\n' > ip
hup "SIGHUP: the issuer is unchanged (above): signing with daily key 2, trust bundle $((seq0 + 1))"
grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z issuer iss: .*\(E" server.err \
  && ok "SIGHUP with a wrong passphrase: the reason is logged" \
  || fail "no reason for the failed reload: $(tail -3 server.err)"
cp ip.good ip
new_wallet w3 "$A" 5.00
[ "$(cred_kid w3.cred)" = 2 ] && ok "a failed reload leaves key 2 signing" \
  || fail "after a failed reload: kid $(cred_kid w3.cred)"
bundle_is $((seq0 + 1)) "1 2" "a failed reload leaves the bundle"

# A till rotated into a device made from the bundle the shop had before
# key 2 (the runbook's DIR2): its new credential is key 2's, which that
# bundle lacks; the new terminal takes offpayd's bundle, then the
# credential, and accepts (since 0.26.0; before, the old terminal was
# revoked and the new one held no credential, EUNKNOWN_KID). Then
# decommissioned: key 2 keeps t2 alone as its live terminal below.
new_terminal t4 "$MERCHANT"; T4=$TID
"$OFFPAY" terminal init --terminal t4b --root iss/root.pub --bundle bundle.key1.opb \
  --currency EUR --passphrase-file tp >/dev/null
[ "$("$OFFPAY" decode --file bundle.key1.opb --json | jq -r '[.keys[].kid] | join(" ")')" = 1 ] \
  || fail "the shops' old bundle holds key 2 already"
t rotate t4 --server "$URL" --new-terminal t4b --new-passphrase-file tp
st4=$ts; t status t4b --json
[ "$st4" = 0 ] && [ "$(jq -c '[.accepting, (.credential.terminal_id != '"$T4"')]' t.out)" = '[true,true]' ] \
  && ok "a rotation into a terminal made from the bundle before key 2: it takes offpayd's bundle, accepts" \
  || fail "rotate into an old bundle: $st4 $(cat t.out)"
t decommission t4b --server "$URL"
[ "$ts" = 0 ] || fail "t4b decommissioned: $(cat t.out)"

# ---- 3. the new key retired ----------------------------------------------
c3=$(pay w2 3.00)   # made before the retirement, under key 2
accept t1 "$c3" 3.00 || fail "t1 accepts a second key-2 code (old bundle)"
cp -a iss iss.before-retire
run_cli 0 "signing key 2 retired" -- "$OFFPAY" issuer retire-key 2 --dir iss --passphrase-file ip
hup "SIGHUP: issuer read again from iss: signing with daily key 1 (until .*; was 2), trust bundle $((seq0 + 2)) (was $((seq0 + 1)))"
# t2's credential was signed by key 2: the SIGHUP says so, with the
# command that lists such terminals
hup "WARNING: issuer key 2, retired: it is not in the new trust bundle $((seq0 + 2)), signed the credential of 1 live terminal(s) ($T2): what they upload is refused (ETERMINAL_EXPIRED) .*rotate each (offpay terminal rotate). List them: offpay admin keys --db .* (or GET /v1/admin/keys)$"
[ "$(grep -c "WARNING: issuer key" server.err)" = 1 ] \
  && ok "only key 2 is warned of (key 1, in the bundle, signed t1)" || fail "warnings: $(grep "WARNING: issuer key" server.err)"
api GET /v1/admin/keys
[ "$(jq -c '[.keys[] | [.kid, .in_bundle, .signing, .live_terminals, .credentials]]' resp.json)" = "[[1,true,true,1,1],[2,false,false,1,3]]" ] \
  && ok "GET /v1/admin/keys after the retirement: key 2 out of the bundle, with what it signed" \
  || fail "keys after retire: $(cat resp.json)"
bundle_is $((seq0 + 2)) "1" "without the retired key"
# the directory put back from a copy taken before the retirement (a
# restore of the wrong backup): refused, the retired key stays out
mv iss iss.now; cp -a iss.before-retire iss
hup "SIGHUP: iss holds trust bundle $((seq0 + 1)), older than the one in use ($((seq0 + 2))): .* Refused"
ISSUER_DIR=iss.now bundle_is $((seq0 + 2)) "1" "an older issuer directory refused"
# another issuer's directory at the same path, with its own root.pub
# beside it: offpayd keeps the root it started with, so it is refused
rm -rf iss; "$OFFPAY" issuer init --dir iss --passphrase-file ip >/dev/null
hup "Z issuer iss: trust bundle signature is invalid (EBUNDLE_SIG)"
ISSUER_DIR=iss.now bundle_is $((seq0 + 2)) "1" "another issuer's directory refused"
rm -rf iss; mv iss.now iss
hup "SIGHUP: issuer read again from iss: unchanged (daily key 1, trust bundle $((seq0 + 2)))"
new_wallet w4 "$A" 5.00
[ "$(cred_kid w4.cred)" = 1 ] && ok "a credential after the retirement: key 1" \
  || fail "credential after retire: kid $(cred_kid w4.cred)"
# a credential the ledger never issued, signed with the issuer's key (as
# whoever stole the key would make one): t1 takes its code offline
wallet_init wf
"$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip --limit 50.00 --currency EUR \
  --wallet-key "$("$OFFPAY" wallet key --wallet wf --passphrase-file wp)" --out wf.cred >/dev/null
"$OFFPAY" wallet add-credential wf.cred --wallet wf --passphrase-file wp >/dev/null
new_terminal tf "$MERCHANT"; TF=$TID
cf=$(pay wf 4.00); accept tf "$cf" 4.00 || fail "tf accepts the forged credential's code offline"
upload t1
[ "$status" = 200 ] && [ "$(jq -r '.results[3].outcome' resp.json)" = rejected ] \
  && [ "$(jq -r '.results[3].reason' resp.json)" = EUNKNOWN_KID ] \
  && ok "a code under the retired key is refused (EUNKNOWN_KID)" \
  || fail "upload of a retired-key code: $status $(cat resp.json)"
upload tf
[ "$status" = 200 ] && [ "$(jq -r '.results[0] | .outcome + ":" + .reason' resp.json)" = rejected:ENOT_ISSUED ] \
  && ok "the forged credential's code is refused (ENOT_ISSUED)" || fail "forged: $(cat resp.json)"
# each logged (one line a minute at most per terminal) and counted
grep -qE "^offpayd: [0-9T:-]+Z terminal $TF uploaded 1 code\(s\) refused ENOT_ISSUED \(a credential the ledger never issued under its serial, yet signed by an issuer key: after a restore, one issued after the backup, expected .*; else has one leaked\? .*\) and 0 refused EUNKNOWN_KID .*\(1 upload\(s\) since its last such line, one a minute at most\)$" server.err \
  && grep -qE "^offpayd: [0-9T:-]+Z terminal $T1 uploaded 0 code\(s\) refused ENOT_ISSUED .* and 3 refused EUNKNOWN_KID " server.err \
  && ok "the forged and the foreign codes are on the log" || fail "log: $(grep ENOT_ISSUED server.err)"
m=$(curl -s "$URL/metrics")
grep -qx 'offpayd_rejected_total{reason="ENOT_ISSUED"} 1' <<<"$m" && grep -qx 'offpayd_rejected_total{reason="EUNKNOWN_KID"} 3' <<<"$m" \
  && ok "offpayd_rejected_total counts each reason" || fail "metrics: $(grep rejected <<<"$m")"
balances "shop=$MACCT:450" "the refused code paid nothing"
# t1's syncs ask whether the ledger still holds what it paid, a key-2
# code among them: held, though the bundle lacks key 2 now (a held code
# is held whatever the bundle says of it; only a code the ledger lacks is
# checked against the bundle, to tell a loss from a forgery)
t sync t1 --server "$URL"
t sync t1 --server "$URL" --json
[ "$(jq -r '.rechecked > 0 and .lost == 0' t.out 2>/dev/null)" = true ] && ! grep -q "LEDGER LOST" t.out \
  && ok "t1's check after the retirement: its key-2 payments held, none reported lost" \
  || fail "t1's check after the retirement: $(cat t.out)"
t sync t1 --bundle bundle.opb
[ "$ts" = 0 ] || fail "t1 takes the bundle without key 2: $(cat t.out)"
# t2's own credential was signed by key 2: its status says so, and how
# to get a new one (wallets refuse its payment requests now).
t sync t2 --bundle bundle.opb
t status t2
grep -q "^WARNING: the terminal's own credential was signed by issuer key 2, which its trust bundle no longer holds (retired)" t.out \
  && grep -q "terminal rotate --server URL" t.out \
  && ok "a terminal whose credential the retired key signed is told to rotate" \
  || fail "t2 status after the retirement: $ts $(cat t.out)"
# it accepts nothing (settlement would not pay it): the state says why,
# not that its credential is expired (it is valid until next year), and
# no line says that consumer-presented codes are still accepted
grep -q "^state  *NOT ACCEPTING payments: its credential was signed by issuer key 2, which its trust bundle no longer holds (retired): it accepts no payment until it has a new credential (below) (ETERMINAL_EXPIRED)$" t.out \
  && grep -q "^WARNING: .*(retired): it accepts no payment, consumer-presented or bound .*'offpay terminal rotate --server URL --new-terminal DIR2'" t.out \
  && ! grep -qi "still accepted\|expired or not yet valid" t.out \
  && ok "t2's state names the retired key, not an expiry" \
  || fail "t2's state after the retirement: $(cat t.out)"
t status t2 --json
[ "$(jq -c '.warnings | index("credential_key_retired") != null' t.out)" = true ] \
  && [ "$(jq -r .accepting t.out)" = false ] \
  && jq -r .message t.out | grep -q "signed by issuer key 2, which its trust bundle no longer holds" \
  && ok "status --json: credential_key_retired, not accepting, the message says why" \
  || fail "t2 status --json: $(cat t.out)"
t accept t2 --code "$(pay w1 1.00)" --amount 1.00
[ "$ts" = 1 ] && grep -q "^REJECTED: this terminal's own credential was signed by issuer key 2, which its trust bundle no longer holds (retired): it accepts no payment until it has a new credential" t.out \
  && grep -q "offpay terminal rotate --server URL --new-terminal DIR2" t.out \
  && ! grep -q "expired or not yet valid" t.out \
  && ok "t2 refuses a consumer-presented code, naming the retired key and the rotation" \
  || fail "t2 accept after the retirement: $ts $(cat t.out)"
# the rotation it names gives it a credential of key 1, and it accepts
term_init t2b
t rotate t2 --server "$URL" --new-terminal t2b --new-passphrase-file tp
t accept t2b --code "$(pay w1 1.00)" --amount 1.00
[ "$ts" = 0 ] && ok "after 'terminal rotate', the new terminal accepts" \
  || fail "t2b after the rotation: $ts $(cat t.out)"
t status t1
! grep -q "credential was signed by issuer key" t.out \
  && ok "t1 (key 1) has no such warning" || fail "t1 warned: $(cat t.out)"
sync_terminal t1   # the revocation list, signed with key 1 now
t accept t1 --code "$(pay w1 1.00)" --amount 1.00
[ "$ts" = 0 ] && ok "t1 synced with the new bundle and list still takes key-1 codes" \
  || fail "t1 after the retirement: $(cat t.out)"
# t2 was revoked by its rotation (revoke-terminal says so and exits 1:
# its successor t2b, a key-1 credential, stays active): key 2 signed no
# live terminal any more, and the SIGHUPs below do not warn of it again
run_cli 1 "^terminal $T2: already revoked at .*rotated to terminal" -- "$OFFPAY" admin revoke-terminal --db "$LEDGER" --terminal-id "$T2"
api GET /v1/admin/keys
[ "$(jq -c '.keys[] | select(.kid == 2) | [.live_terminals, .terminal_ids, .retire_stops_terminals]' resp.json)" = "[0,[],false]" ] \
  && ok "GET /v1/admin/keys: t2 revoked, key 2 stops no terminal" || fail "keys after t2 revoked: $(cat resp.json)"
audits "after a key retired under offpayd"

# ---- 4. keys changed while requests run ----------------------------------
# Credentials are issued back to back from before the first of three
# keys is added (each followed by SIGHUP) until after the last: every
# request is answered 200, by the key in use when it took its ledger
# handle, never an older key after a newer one, the first by key 1 and
# the last by key 5.
wk=$("$OFFPAY" wallet key --wallet w1 --passphrase-file wp)
issue_loop() {   # until keys.done, then 5 more; at most 600
  local i=0 after=0
  : > issued.txt
  while [ $i -lt 600 ] && [ $after -lt 5 ]; do
    i=$((i + 1)); [ -e keys.done ] && after=$((after + 1))
    curl -s -o "iss.$i.json" -w '%{http_code}\n' -X POST \
      -H "Authorization: Bearer $TOKEN" \
      --data-binary "{\"account\":\"$A\",\"wallet_key\":\"$wk\",\"limit\":\"0.10\"}" \
      "$URL/v1/admin/credentials" >> issued.txt
  done
}
rm -f keys.done
issue_loop &
loop=$!
for _ in $(seq 200); do [ "$(wc -l < issued.txt 2>/dev/null || echo 0)" -ge 5 ] && break; sleep 0.05; done
for k in 3 4 5; do
  "$OFFPAY" issuer add-key --dir iss --passphrase-file ip >/dev/null
  kill -HUP "$server_pid"
  hup_said "signing with daily key $k " || fail "no SIGHUP line for key $k"
done
touch keys.done
wait "$loop"
n=$(wc -l < issued.txt)
kids=$(for i in $(seq 1 "$n"); do jq -r .credential "iss.$i.json" > k.cred; cred_kid k.cred; done | uniq | tr '\n' ' ')
if [ "$(sort -u issued.txt)" = 200 ] && [ "${kids%% *}" = 1 ] && [ "$(echo $kids | awk '{print $NF}')" = 5 ] \
   && printf '%s\n' $kids | sort -n -c 2>/dev/null; then   # never an older key again
  ok "$n credentials issued while three keys were added: all 200 (kids in order: ${kids% })"
else
  fail "issuing during SIGHUPs: kids '$kids', $(sort issued.txt | uniq -c | tr '\n' ' ')"
fi
bundle_is $((seq0 + 5)) "1 3 4 5" "after three keys added"
new_wallet w5 "$A" 1.00   # its bundle: the one just fetched
[ "$(cred_kid w5.cred)" = 5 ] && ok "after the last SIGHUP: key 5" \
  || fail "after the last SIGHUP: kid $(cred_kid w5.cred)"
audits "after keys changed while requests ran"
[ "$(grep -c "WARNING: issuer key" server.err)" = 1 ] \
  && ok "no warning at the SIGHUPs after t2 was revoked" || fail "warnings: $(grep "WARNING: issuer key" server.err)"
stop_server TERM

# ---- 5. the daily key's end ------------------------------------------------
# Started in the last 30 days of the newest key (5), offpayd warns of its
# end once; a SIGHUP that changes nothing does not warn again that day.
end_iso=$("$OFFPAY" decode --file iss/bundle.opb --json | jq -r '.keys[] | select(.kid == 5) | .valid_until')
end=$(date -u -d "$end_iso" +%s)
: > server.err
OFFPAY_NOW=$((end - 5 * 86400)) start_server
pid=$server_pid
grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z WARNING: the issuer's daily key 5 ends at $end_iso, in 5 day\(s\); .*send offpayd SIGHUP before then" server.err \
  && ok "started 5 days before key 5 ends: warned" || fail "no end warning: $(cat server.err)"
hup "SIGHUP: issuer read again from iss: unchanged (daily key 5"
[ "$(grep -c "daily key 5 ends at" server.err)" = 1 ] \
  && ok "the warning is said once a day, not again on SIGHUP" \
  || fail "warnings: $(grep -c "daily key 5 ends at" server.err)"
stop_server TERM

# ---- 6. the root key left beside offpayd -----------------------------------
# iss/root.sealed (where issuer init wrote it) was there at every start:
# warned of; moved off the server, offpayd starts without the warning.
grep -qE "^offpayd: [0-9-]{10}T[0-9:]{8}Z WARNING: iss/root.sealed holds the issuer's root key: .*move it to offline storage" server.err \
  && ok "root.sealed in the issuer directory: warned at start-up" \
  || fail "no root key warning: $(head -3 server.err)"
mkdir -p offline; mv iss/root.sealed offline/
: > server.err
start_server
[ ! -e iss/root.sealed ] && ! grep -q "root.sealed" server.err \
  && ok "root.sealed moved off: no warning" || fail "root key warning: $(cat server.err)"
stop_server TERM
finish
