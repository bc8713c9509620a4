#!/usr/bin/env python3
"""slow_proxy.py UPSTREAM_HOSTPORT CTL_DIR: a loopback HTTP proxy in front of
offpayd for the e2e tests of a sync over a slow link (offpayd_sync.sh) and
of a terminal's rotation whose answer is lost (offpayd_online_terminal.sh).
Prints "proxy listening on 127.0.0.1:PORT"; runs until it is killed.

At each request it reads from files in CTL_DIR:
  upload_delay   seconds to wait before forwarding POST /v1/terminal/upload
  bundle_delay   seconds to wait before forwarding GET /v1/bundle (the file
                 in_bundle is made when the wait starts)
  status_grab    a lock file: on POST /v1/terminal/status, another process
                 (`flock -x PATH sleep 12`) takes the terminal for 12 s,
                 and the request goes on 0.5 s later
  tamper         what it does to offpayd's answers to POSTs, as something
                 between a device and offpayd could: "body" turns every
                 "settled" into "rejected" and "ok" into "no" (the signature
                 header kept), "strip" drops the X-Offpay-Answer header;
                 "forge403" and "forge404" answer every POST themselves,
                 unsigned: 403 WALLET_REVOKED, 404 NOT_FOUND; "twice"
                 sends every POST to offpayd twice and answers with the
                 second answer (offpayd's signed 409 NONCE_REPLAYED);
                 "expires" turns every "expires":N into "expires":1 (an
                 expiry long past, the signature header kept)
  tamper_only    a path: tamper applies only to POSTs to it
  drop           a path: a POST to it goes to offpayd, and its answer is
                 dropped (the connection closed without one), as a link
                 failing after offpayd committed
  notfound       a path: a POST to it is answered 404 NOT_FOUND, unsigned,
                 as an offpayd without that endpoint answers
  shed           a number N: the next N requests, whatever they are, have
                 their connection closed without an answer (N counts down
                 in the file), as offpayd sheds connections past its
                 per-address limit
and appends every request's method and path to CTL_DIR/log.
"""
import http.client
import os
import re
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UP = sys.argv[1]
CTL = sys.argv[2]


def ctl(name):
    try:
        with open(os.path.join(CTL, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def go(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        with open(os.path.join(CTL, "log"), "a") as f:
            f.write("%.3f %s %s\n" % (time.time(), self.command, self.path))
        shed = ctl("shed")
        if shed and int(shed) > 0:
            with open(os.path.join(CTL, "shed"), "w") as f:
                f.write(str(int(shed) - 1))
            self.close_connection = True
            return
        if self.command == "POST" and self.path.startswith("/v1/terminal/upload"):
            d = ctl("upload_delay")
            if d:
                time.sleep(float(d))
        if self.command == "GET" and self.path.startswith("/v1/bundle"):
            d = ctl("bundle_delay")
            if d:
                open(os.path.join(CTL, "in_bundle"), "w").close()
                time.sleep(float(d))
        if self.command == "POST" and self.path.startswith("/v1/terminal/status"):
            p = ctl("status_grab")
            if p:
                subprocess.Popen(["flock", "-x", p, "sleep", "12"])
                time.sleep(0.5)
        tamper = ctl("tamper") if self.command == "POST" else None
        only = ctl("tamper_only")
        if only and not self.path.startswith(only):
            tamper = None
        forged = {"forge403": (403, b'{"error":"WALLET_REVOKED","hint":"forged"}'),
                  "forge404": (404, b'{"error":"NOT_FOUND"}')}.get(tamper)
        if self.command == "POST" and ctl("notfound") == self.path:
            forged = (404, b'{"error":"NOT_FOUND","hint":"no such endpoint"}')
        if forged is not None:
            self.send_response(forged[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(forged[1])))
            self.end_headers()
            self.wfile.write(forged[1])
            return
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "content-length")}
        sends = 2 if tamper == "twice" else 1
        for _ in range(sends):
            c = http.client.HTTPConnection(UP, timeout=120)
            c.request(self.command, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
        if self.command == "POST" and ctl("drop") == self.path:
            c.close()
            self.close_connection = True
            return
        if tamper == "body":
            data = data.replace(b'"settled"', b'"rejected"').replace(b'"ok"', b'"no"')
        if tamper == "expires":
            data = re.sub(rb'"expires":[0-9]+', b'"expires":1', data)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("connection", "content-length", "transfer-encoding"):
                continue
            if tamper == "strip" and k.lower() == "x-offpay-answer":
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    do_GET = go
    do_POST = go


s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("proxy listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
