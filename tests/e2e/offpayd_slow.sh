#!/usr/bin/env bash
# offpayd_slow.sh — clients that send their requests slowly or with
# framing in doubt (docs/api.md, "Connections"):
#   1. 255 connections that trickle their headers a byte at a time, and one
#      that trickles its body, fill every connection offpayd serves: a
#      health check waits; they are closed at their deadlines (shortened
#      in this test build: headers within 3 s of the connection, 5 s of an
#      answer, a body at 1,024 bytes/s after 2 s) and the health check is
#      answered; the metric and the log count them; a kept-alive
#      connection idle 4 s after an answer is still served, and closed
#      once idle past 5 s;
#   2. a body that arrives in parts within its time is answered;
#   3. two Content-Lengths (a request smuggled behind the first), a length
#      and a chunked encoding together, a header of the signature given
#      twice: 400 BAD_HEADER, the connection closed, nothing done; a length
#      written with leading zeros is read;
#   4. a query parameter named without a value: 400 BAD_PARAMETER; the
#      Bearer scheme is case-insensitive; an escaped NUL (%00) does not cut
#      a path short (400), other escapes are decoded;
#   5. an upload (1 MiB bodies) signed by a key that is no registered
#      terminal or wallet, or at a stale time, is refused before its body
#      is sent; a registered terminal's upload whose body comes mostly at
#      once and then a byte every 1.5 s is closed at the body's whole-time
#      cap (6 s here, 1,050 s by default), and one whose body stops is
#      closed 2 s after its last byte (20 s by default), however much came
#      before: bytes sent up front buy no time.
# Nothing is booked by a refused request: the balances and the audit say so.
source "$(dirname "$0")/offpayd_lib.sh"
export OFFPAYD_TEST_SLOW=3,5,2,1024,2,6
start_server --max-per-ip 0   # one address may fill all 256
unset OFFPAYD_TEST_SLOW
grep -q "test hook: headers within 3 s of the connection, 5 s of an answer, a body at 1024 bytes/s after 2 s, never 2 s without a byte, whole within 6 s" server.err \
  && ok "test deadlines: headers 3 s (5 s after an answer), body 1,024 bytes/s after 2 s, 2 s of silence at most, 6 s in all" \
  || fail "no test deadlines: $(tail -3 server.err)"
A=$(new_account slow-test 10.00)
new_merchant "Slow shop"
fetch_bundle
new_terminal ts "$MERCHANT"
TS_KEY=$("$OFFPAY" terminal key --terminal ts --passphrase-file tp)
HOSTPORT=${URL#http://}

# ---- 1. trickling clients closed, others served -------------------------
python3 - "$HOSTPORT" "$TOKEN" "$A" >slow.txt <<'PY'
import select, socket, sys, threading, time
host, port = sys.argv[1].split(":"); port = int(port)
token, acct = sys.argv[2], sys.argv[3]
N = 255
t0 = time.monotonic()
head = b"GET /v1/health HTTP/1.1\r\nHost: offpayd\r\nX-Pad: "
trick = [socket.create_connection((host, port)) for _ in range(N)]
body = socket.create_connection((host, port))
body.sendall(("POST /v1/admin/accounts/%s/deposit HTTP/1.1\r\nHost: offpayd\r\n"
              "Authorization: Bearer %s\r\nContent-Length: 2000\r\n\r\n"
              % (acct, token)).encode())
body_t0 = time.monotonic()
health = []   # (seconds after t0, status) of each try

def check_health():
    # tries until answered: while the trickling connections hold all 256,
    # offpayd takes no new one
    time.sleep(0.5)
    while time.monotonic() - t0 < 14:
        try:
            c = socket.create_connection((host, port), timeout=1)
            c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: offpayd\r\n"
                      b"Connection: close\r\n\r\n")
            st = c.recv(64).split(b" ")[1].decode()
            c.close()
        except Exception:
            st = "none"
        health.append((time.monotonic() - t0, st))
        if st == "200":
            return
        time.sleep(0.2)

checker = threading.Thread(target=check_health)
checker.start()
closed = {}        # socket -> seconds after its clock started
socks = {s: t0 for s in trick}
socks[body] = body_t0
i = 0
while socks and time.monotonic() - t0 < 15:
    for s in list(socks):
        try:
            s.send(head[i % len(head):i % len(head) + 1] if s is not body else b"x" * 10)
        except OSError:
            pass
    r, _, _ = select.select(list(socks), [], [], 0.5)
    for s in r:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed[s] = time.monotonic() - socks.pop(s)
            s.close()
    i += 1
checker.join()
hdr = [closed[s] for s in trick if s in closed]
print("headers_closed %d of %d" % (len(hdr), N))
print("headers_first %.1f last %.1f" % (min(hdr or [0]), max(hdr or [0])))
print("body_closed %s" % ("%.1f" % closed[body] if body in closed else "no"))
ok = [t for t, st in health if st == "200"]
print("health_first %s tries %d" % ("%.1f" % ok[0] if ok else "never", len(health)))
PY
sed 's/^/    | /' slow.txt
read -r _ nclosed _ n <<<"$(grep ^headers_closed slow.txt)"
read -r _ first _ last <<<"$(grep ^headers_first slow.txt)"
[ "$nclosed" = 255 ] && [ "$n" = 255 ] \
  && awk -v a="$first" -v b="$last" 'BEGIN { exit !(a >= 2.9 && b <= 9) }' \
  && ok "255 connections trickling their headers closed after 3 s ($first..$last s)" \
  || fail "trickled headers: $nclosed of $n closed, $first..$last s"
body_after=$(sed -n 's/^body_closed //p' slow.txt)
[ "$body_after" != no ] && awk -v a="$body_after" 'BEGIN { exit !(a >= 1.9 && a <= 8) }' \
  && ok "a body at 20 bytes/s closed after its 2 s grace ($body_after s)" \
  || fail "trickled body: closed after '$body_after'"
read -r _ answered _ tries <<<"$(grep ^health_first slow.txt)"
[ "$answered" != never ] && awk -v a="$answered" 'BEGIN { exit !(a >= 1.9 && a <= 10) }' \
  && ok "a health check waited while they held every connection, answered at $answered s ($tries tries)" \
  || fail "health check during the trickle: answered at '$answered' ($tries tries)"
curl -s "$URL/metrics" >metrics.txt
grep -q "^offpayd_slow_connections_closed_total 256$" metrics.txt \
  && ok "metric: 256 slow connections closed" \
  || fail "metric: $(grep slow_connections metrics.txt)"
grep -q "closed [0-9]* connection(s) whose request did not arrive in time" server.err \
  && ok "the log says so" || fail "no log line: $(tail -3 server.err)"
# A kept-alive connection: idle 4 s after an answer (past a new
# connection's 3 s), it is still served; idle past 5 s, it is closed.
python3 - "$HOSTPORT" >idle.txt <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=12)
req = b"GET /v1/health HTTP/1.1\r\nHost: offpayd\r\n\r\n"
def ask():
    s.sendall(req)
    return s.recv(4096).split(b" ")[1].decode()
first = ask()
time.sleep(4)
second = ask()
t = time.monotonic()
try:
    gone = s.recv(4096) == b""
except OSError:
    gone = True
print(first, second, "closed" if gone else "open", "%.1f" % (time.monotonic() - t))
PY
read -r first second gone after <<<"$(cat idle.txt)"
[ "$first $second $gone" = "200 200 closed" ] && awk -v a="$after" 'BEGIN { exit !(a >= 4.5 && a <= 9) }' \
  && ok "kept alive: answered again after 4 s idle, closed idle after $after s" \
  || fail "kept-alive connection: $(cat idle.txt)"
balances "A=$A:1000" "the trickled deposit booked nothing"

# ---- 2. a body in parts, within its time ---------------------------------
python3 - "$HOSTPORT" "$TOKEN" "$A" >parts.txt <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
token, acct = sys.argv[2], sys.argv[3]
b = b'{"amount":"1.00"}'
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(("POST /v1/admin/accounts/%s/deposit HTTP/1.1\r\nHost: offpayd\r\n"
           "Authorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
           % (acct, token, len(b))).encode() + b[:8])
time.sleep(1.2)
s.sendall(b[8:])
print(s.recv(4096).split(b" ")[1].decode())
PY
[ "$(cat parts.txt)" = 200 ] && ok "a body sent in two parts 1.2 s apart: 200" \
  || fail "body in parts: $(cat parts.txt)"
balances "A=$A:1100" "the deposit in parts booked once"

# ---- 3. framing in doubt -------------------------------------------------
# raw REQUEST-BYTES: sends them on one connection, prints what comes back
# until offpayd closes it (or 5 s).
raw() {
  python3 - "$HOSTPORT" "$1" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            out += b"\n[closed]"
            break
        out += d
except socket.timeout:
    out += b"\n[open]"
sys.stdout.write(out.decode("latin-1"))
PY
}
dep="POST /v1/admin/accounts/$A/deposit HTTP/1.1\\r\\nHost: offpayd\\r\\nAuthorization: Bearer $TOKEN\\r\\n"
smuggled="GET /v1/admin/accounts/$A HTTP/1.1\\r\\nHost: offpayd\\r\\nAuthorization: Bearer $TOKEN\\r\\n\\r\\n"
# two_answers FILE: how many HTTP status lines came back
answers() { grep -c '^HTTP/1.1 ' "$1" || true; }
raw "${dep}Content-Length: 17\\r\\nContent-Length: $((17 + ${#smuggled} - 24))\\r\\n\\r\\n{\"amount\":\"1.00\"}$smuggled" >r1.txt
grep -q '^HTTP/1.1 400' r1.txt && grep -q '"error":"BAD_HEADER"' r1.txt \
  && grep -q 'header Content-Length given twice' r1.txt && [ "$(answers r1.txt)" = 1 ] \
  && grep -q '^\[closed\]' r1.txt \
  && ok "two Content-Lengths: 400 BAD_HEADER, the connection closed, the request behind it not run" \
  || fail "two lengths: $(cat r1.txt)"
raw "${dep}Content-Length: 17\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n11\\r\\n{\"amount\":\"1.00\"}\\r\\n0\\r\\n\\r\\n" >r2.txt
grep -q '^HTTP/1.1 400' r2.txt && grep -q 'Content-Length and Transfer-Encoding both given' r2.txt \
  && grep -q '^\[closed\]' r2.txt \
  && ok "a length and a chunked encoding: 400 BAD_HEADER, closed" || fail "length and chunked: $(cat r2.txt)"
raw "${dep}Authorization: Bearer $TOKEN\\r\\nContent-Length: 17\\r\\n\\r\\n{\"amount\":\"1.00\"}" >r3.txt
grep -q '^HTTP/1.1 400' r3.txt && grep -q 'header Authorization given twice' r3.txt \
  && ok "Authorization given twice: 400 BAD_HEADER" || fail "two Authorization: $(cat r3.txt)"
raw "POST /v1/terminal/upload HTTP/1.1\\r\\nHost: offpayd\\r\\nX-Offpay-Nonce: 00\\r\\nX-Offpay-Nonce: 01\\r\\nContent-Length: 2\\r\\n\\r\\n{}" >r4.txt
grep -q '^HTTP/1.1 400' r4.txt && grep -q 'header X-Offpay-Nonce given twice' r4.txt \
  && ok "a signature header given twice: 400 BAD_HEADER" || fail "two nonces: $(cat r4.txt)"
raw "${dep}Content-Length: 017\\r\\nConnection: close\\r\\n\\r\\n{\"amount\":\"1.00\"}" >r5.txt
grep -q '^HTTP/1.1 200' r5.txt && ok "Content-Length 017: seventeen bytes, 200" \
  || fail "Content-Length 017: $(cat r5.txt)"
balances "A=$A:1200" "only the well-framed deposits booked"

# ---- 4. query parameters and the scheme's case ---------------------------
api GET "/v1/admin/merchants/$MERCHANT/statement?terminal"
[ "$status" = 400 ] && [ "$(jget .error)" = BAD_PARAMETER ] \
  && jget .hint | grep -q "query parameter 'terminal' without a value" \
  && ok "?terminal without a value: 400 BAD_PARAMETER, not every terminal's lines" \
  || fail "?terminal: $status $(cat resp.json)"
api GET "/v1/admin/accounts?ref"
[ "$status" = 400 ] && ok "?ref without a value: 400" || fail "?ref: $status $(cat resp.json)"
api GET "/v1/admin/accounts/$A%00junk"
[ "$status" = 400 ] && [ "$(jget .error)" = BAD_PARAMETER ] \
  && ok "an escaped NUL in the path does not cut it short: 400" || fail "%00: $status $(cat resp.json)"
api GET "/v1/admin/accounts?ref=slow%2Dtest"
[ "$status" = 200 ] && [ "$(jget .count)" = 1 ] \
  && ok "other escapes are decoded (ref=slow%2Dtest finds slow-test)" || fail "%2D: $status $(cat resp.json)"
status=$(curl -s -o resp.json -w '%{http_code}' -H "Authorization: bearer $TOKEN" "$URL/v1/admin/accounts/$A")
[ "$status" = 200 ] && ok "'bearer' in lower case is the Bearer scheme" || fail "bearer: $status $(cat resp.json)"

# ---- 5. uploads: refused before the body, or held only so long ----------
python3 - "$HOSTPORT" "$TS_KEY" >hold.txt <<'PY'
import select, socket, sys, time
host, port = sys.argv[1].split(":"); port = int(port)
key = sys.argv[2]

def head(path, key, t, length):
    return ("POST %s HTTP/1.1\r\nHost: offpayd\r\nContent-Length: %d\r\n"
            "X-Offpay-Key: %s\r\nX-Offpay-Time: %d\r\n"
            "X-Offpay-Nonce: %s\r\nX-Offpay-Signature: %s==\r\n\r\n"
            % (path, length, key, t, "cd" * 16, "A" * 86)).encode()

def early(path, key, t):
    # the headers of a 1 MiB upload, no byte of its body: the answer
    s = socket.create_connection((host, port), timeout=3)
    s.sendall(head(path, key, t, 1 << 20))
    try:
        d = s.recv(4096)
    except OSError:
        d = b""
    s.close()
    err = d.split(b'"error":"')[1].split(b'"')[0].decode() if b'"error":"' in d else "-"
    return "%s %s" % (d.split(b" ")[1].decode() if d else "none", err)

now = int(time.time())
print("unknown_terminal", early("/v1/terminal/upload", "ab" * 32, now))
print("unknown_check", early("/v1/terminal/check", "ab" * 32, now))
print("unknown_wallet", early("/v1/wallet/upload", "ab" * 32, now))
print("stale", early("/v1/terminal/upload", key, now - 1000))

# a registered terminal's key (its signature made up): one body comes
# almost whole at once then a byte every 1.5 s, another stops after 100 kB
drip = socket.create_connection((host, port))
drip.sendall(head("/v1/terminal/upload", key, now, 200000) + b" " * 190000)
stop = socket.create_connection((host, port))
stop.sendall(head("/v1/terminal/upload", key, now, 200000) + b" " * 100000)
t0 = time.monotonic()
closed = {}
last = t0
while len(closed) < 2 and time.monotonic() - t0 < 12:
    if drip not in closed and time.monotonic() - last >= 1.5:
        try:
            drip.send(b" ")
        except OSError:
            pass
        last = time.monotonic()
    r, _, _ = select.select([s for s in (drip, stop) if s not in closed], [], [], 0.2)
    for s in r:
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:
            closed[s] = time.monotonic() - t0
print("drip %s" % ("%.1f" % closed[drip] if drip in closed else "open"))
print("stop %s" % ("%.1f" % closed[stop] if stop in closed else "open"))
PY
sed 's/^/    | /' hold.txt
grep -q "^unknown_terminal 403 UNKNOWN_TERMINAL$" hold.txt \
  && grep -q "^unknown_check 403 UNKNOWN_TERMINAL$" hold.txt \
  && ok "an upload and a check signed by a key that is no registered terminal: 403 UNKNOWN_TERMINAL before the body" \
  || fail "unknown terminal's upload: $(cat hold.txt)"
grep -q "^unknown_wallet 403 UNKNOWN_WALLET$" hold.txt \
  && ok "a wallet upload signed by a key no credential was issued to: 403 UNKNOWN_WALLET before the body" \
  || fail "unknown wallet's upload: $(grep wallet hold.txt)"
grep -q "^stale 401 STALE_TIMESTAMP$" hold.txt \
  && ok "an upload signed 1000 s ago: 401 STALE_TIMESTAMP before the body" \
  || fail "stale upload: $(grep stale hold.txt)"
drip=$(sed -n 's/^drip //p' hold.txt); stopped=$(sed -n 's/^stop //p' hold.txt)
[ "$drip" != open ] && awk -v a="$drip" 'BEGIN { exit !(a >= 5.5 && a <= 9) }' \
  && ok "190 kB at once, then a byte every 1.5 s: closed at the 6 s cap ($drip s), not after 187 s" \
  || fail "dripped body: closed after '$drip'"
[ "$stopped" != open ] && awk -v a="$stopped" 'BEGIN { exit !(a >= 1.9 && a <= 4.5) }' \
  && ok "100 kB at once, then nothing: closed 2 s after its last byte ($stopped s), not after 99 s" \
  || fail "stopped body: closed after '$stopped'"
audits "after slow and doubtful requests"
stop_server TERM
finish
