#!/usr/bin/env python3
"""check_independent.py -- an independent re-implementation of the offpay
wire format, written from docs/protocol.md alone, checked against
tests/vectors/messages.json.

It imports nothing from the C code: the encoders, the strict decoders, Base45
(RFC 9285) and the signing framing (domain || 0x00 || covered bytes) are
written here from the document. Ed25519 (RFC 8032) comes from the `openssl`
command line: the 32-byte seed is wrapped in a PKCS#8 DER
(302e020100300506032b657004220420 || seed) and signed with
`openssl pkeyutl -sign -rawin`. Ed25519 is deterministic, so every signature
must come out byte for byte as recorded.

For every message of the vectors it checks: the public keys derived from the
seeds; the signatures (embedded credentials' too) re-made from the seeds;
the exact bytes and text rebuilt from the fields; the text decoding back to
the bytes; the bytes decoding back to the fields; the sizes.

Usage: check_independent.py [path/to/messages.json]
Exit status 0 when everything matches ("N passed, 0 failed"), 1 on any
mismatch (each one named on stderr), 2 when it cannot run at all.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

# ---- §4 Base45 (RFC 9285) -------------------------------------------------

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
B45_VALUE = {c: i for i, c in enumerate(B45)}


def b45_encode(data):
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [B45[n % 45], B45[n // 45 % 45], B45[n // 2025]]
    if len(data) % 2:
        n = data[-1]
        out += [B45[n % 45], B45[n // 45]]
    return "".join(out)


class DecodeError(Exception):
    """A decoding failure, named by its OFFPAY_E* error."""


def b45_decode(text):
    if len(text) % 3 == 1:
        raise DecodeError("OFFPAY_EBASE45")
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = text[i:i + 3]
        try:
            digits = [B45_VALUE[c] for c in chunk]
        except KeyError:
            raise DecodeError("OFFPAY_EBASE45")
        n = sum(d * 45 ** k for k, d in enumerate(digits))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise DecodeError("OFFPAY_EBASE45")
            out += bytes([n >> 8, n & 0xFF])
        else:
            if n > 0xFF:
                raise DecodeError("OFFPAY_EBASE45")
            out.append(n)
    return bytes(out)


# ---- §2 and §4: types, prefixes, domains, currencies ---------------------

VERSION = 1
T_BUNDLE, T_WCRED, T_TCRED = 0x01, 0x02, 0x03
T_PAYMENT, T_PAYMENT_BOUND, T_REQUEST, T_RECEIPT, T_REVLIST = (
    0x10, 0x11, 0x20, 0x30, 0x40)

PREFIX = {T_BUNDLE: "OPTB:", T_WCRED: "OPWC:", T_TCRED: "OPTC:",
          T_PAYMENT: "OPPY:", T_PAYMENT_BOUND: "OPPY:", T_REQUEST: "OPRQ:",
          T_RECEIPT: "OPRC:", T_REVLIST: "OPRL:"}

DOMAIN = {T_BUNDLE: "offpay/v1/trust-bundle",
          T_WCRED: "offpay/v1/wallet-credential",
          T_TCRED: "offpay/v1/terminal-credential",
          T_PAYMENT: "offpay/v1/payment",
          T_PAYMENT_BOUND: "offpay/v1/payment",
          T_REQUEST: "offpay/v1/request",
          T_RECEIPT: "offpay/v1/receipt",
          T_REVLIST: "offpay/v1/revocation-list"}

# Appendix A: the known ISO 4217 numeric codes.
CURRENCIES = {32, 36, 48, 50, 124, 152, 156, 170, 203, 208, 344, 348, 352,
              356, 360, 368, 376, 392, 400, 404, 410, 414, 434, 458, 484,
              504, 512, 554, 566, 578, 586, 600, 604, 608, 634, 643, 646,
              682, 702, 704, 710, 752, 756, 764, 784, 788, 800, 818, 826,
              840, 901, 936, 946, 949, 950, 952, 978, 980, 985, 986, 990}

MSG_MAX_BYTES = 524362
SIG = 64


def header(msg_type):
    return bytes([VERSION, msg_type])


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def text_form(data):
    return PREFIX[data[1]] + b45_encode(data)


def text_decode(text):
    """§4: strict text decoding, in the document's order."""
    if len(text) < 5 or text[:5] not in set(PREFIX.values()):
        raise DecodeError("OFFPAY_EPREFIX")
    if 2 * ((len(text) - 5) // 3) > MSG_MAX_BYTES:
        raise DecodeError("OFFPAY_ETOOBIG")
    data = b45_decode(text[5:])
    if len(data) > MSG_MAX_BYTES:
        raise DecodeError("OFFPAY_ETOOBIG")
    if len(data) < 2:
        raise DecodeError("OFFPAY_ETRUNCATED")
    if PREFIX.get(data[1]) != text[:5]:
        raise DecodeError("OFFPAY_EPREFIX")
    return data


# ---- §2 encoders -----------------------------------------------------------

def wcred_body(f):
    """§2.2: kid..flags, 57 bytes."""
    return (u16(f["kid"]) + u64(int(f["serial"])) +
            bytes.fromhex(f["wallet_pk"]) + u32(f["limit"]) +
            u16(f["currency"]) + u32(f["valid_from"]) + u32(f["expires"]) +
            u8(f["flags"]))


def tcred_body(f):
    """§2.3: kid..name, 57 + N bytes."""
    name = bytes.fromhex(f["name_hex"])
    return (u16(f["kid"]) + u64(int(f["merchant_id"])) +
            u32(f["terminal_id"]) + bytes.fromhex(f["terminal_pk"]) +
            u16(f["currency"]) + u32(f["valid_from"]) + u32(f["expires"]) +
            u8(len(name)) + name)


def bundle_unsigned(f):
    out = header(T_BUNDLE) + u32(f["seq"]) + u32(f["issued_at"])
    out += u8(len(f["keys"]))
    for k in f["keys"]:
        out += (u16(k["kid"]) + bytes.fromhex(k["pk"]) +
                u32(k["valid_from"]) + u32(k["valid_until"]))
    return out


def payment_unsigned(f, bound):
    c = f["cred"]
    out = header(T_PAYMENT_BOUND if bound else T_PAYMENT)
    out += wcred_body(c) + bytes.fromhex(c["sig"])
    out += u32(f["counter"]) + u32(f["amount"]) + u32(f["time"])
    if bound:
        out += u64(int(f["merchant_id"])) + bytes.fromhex(f["nonce"])
    return out


def request_unsigned(f):
    c = f["tcred"]
    return (header(T_REQUEST) + tcred_body(c) + bytes.fromhex(c["sig"]) +
            u32(f["amount"]) + u16(f["currency"]) +
            bytes.fromhex(f["nonce"]) + u32(f["time"]))


def receipt_unsigned(f):
    c = f["tcred"]
    return (header(T_RECEIPT) + tcred_body(c) + bytes.fromhex(c["sig"]) +
            u64(int(f["serial"])) + u32(f["counter"]) + u32(f["amount"]) +
            u16(f["currency"]) + u32(f["time"]))


def revlist_unsigned(f):
    out = (header(T_REVLIST) + u16(f["kid"]) + u32(f["seq"]) +
           u32(f["base_seq"]) + u32(f["issued_at"]) + u16(len(f["serials"])))
    for s in f["serials"]:
        out += u64(int(s))
    return out


# ---- §2.10 strict decoders -------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if len(self.data) - self.pos < n:
            raise DecodeError("OFFPAY_ETRUNCATED")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u(self, n):
        return int.from_bytes(self.take(n), "big")

    def left(self):
        return len(self.data) - self.pos

    def finish(self):
        if self.left():
            raise DecodeError("OFFPAY_ETRAILING")


def read_header(r, types):
    if len(r.data) < 2:
        raise DecodeError("OFFPAY_ETRUNCATED")
    version, msg_type = r.u(1), r.u(1)
    if version != VERSION:
        raise DecodeError("OFFPAY_EVERSION")
    if msg_type not in types:
        raise DecodeError("OFFPAY_ETYPE")
    return msg_type


INVISIBLE = {0xAD, 0x61C, 0xFEFF} | set(range(0x200B, 0x2010)) | \
    set(range(0x202A, 0x202F)) | set(range(0x2060, 0x2065)) | \
    set(range(0x2066, 0x206A))


def name_ok(name):
    """§2.3: well-formed UTF-8, no C0/DEL/C1 control characters, no
    invisible or direction-changing format characters."""
    try:
        s = name.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or
                   ord(ch) in INVISIBLE for ch in s)


def read_wcred(r):
    f = {"kid": r.u(2), "serial": str(r.u(8)), "wallet_pk": r.take(32).hex(),
         "limit": r.u(4), "currency": r.u(2), "valid_from": r.u(4),
         "expires": r.u(4), "flags": r.u(1)}
    sig = r.take(SIG).hex()
    if f["flags"] & ~0x01 or f["limit"] == 0 or \
            f["valid_from"] > f["expires"]:
        raise DecodeError("OFFPAY_EMALFORMED")
    if f["currency"] not in CURRENCIES:
        raise DecodeError("OFFPAY_ECURRENCY_UNKNOWN")
    return f, sig


def read_tcred(r):
    f = {"kid": r.u(2), "merchant_id": str(r.u(8)), "terminal_id": r.u(4),
         "terminal_pk": r.take(32).hex(), "currency": r.u(2),
         "valid_from": r.u(4), "expires": r.u(4)}
    n = r.u(1)
    if n > 40:
        raise DecodeError("OFFPAY_EMALFORMED")
    name = r.take(n)
    sig = r.take(SIG).hex()
    if n == 0 or not name_ok(name) or f["valid_from"] > f["expires"]:
        raise DecodeError("OFFPAY_EMALFORMED")
    if f["currency"] not in CURRENCIES:
        raise DecodeError("OFFPAY_ECURRENCY_UNKNOWN")
    f["name"] = name.decode("utf-8")
    f["name_hex"] = name.hex()
    return f, sig


def decode(data):
    """Any message -> (type, fields, signature hex)."""
    r = Reader(data)
    t = read_header(r, set(PREFIX))
    if t == T_BUNDLE:
        f = {"seq": r.u(4), "issued_at": r.u(4)}
        n = r.u(1)
        if not 1 <= n <= 16:
            raise DecodeError("OFFPAY_EMALFORMED")
        f["keys"] = [{"kid": r.u(2), "pk": r.take(32).hex(),
                      "valid_from": r.u(4), "valid_until": r.u(4)}
                     for _ in range(n)]
        sig = r.take(SIG).hex()
        r.finish()
        kids = [k["kid"] for k in f["keys"]]
        if any(k["valid_from"] > k["valid_until"] for k in f["keys"]) or \
                any(b <= a for a, b in zip(kids, kids[1:])):
            raise DecodeError("OFFPAY_EMALFORMED")
    elif t == T_WCRED:
        f, sig = read_wcred(r)
        r.finish()
    elif t == T_TCRED:
        f, sig = read_tcred(r)
        r.finish()
    elif t in (T_PAYMENT, T_PAYMENT_BOUND):
        c, csig = read_wcred(r)
        c["sig"] = csig
        f = {"cred": c, "counter": r.u(4), "amount": r.u(4), "time": r.u(4)}
        if t == T_PAYMENT_BOUND:
            f["merchant_id"] = str(r.u(8))
            f["nonce"] = r.take(12).hex()
        sig = r.take(SIG).hex()
        r.finish()
        if f["counter"] == 0 or f["amount"] == 0:
            raise DecodeError("OFFPAY_EMALFORMED")
    elif t == T_REQUEST:
        c, csig = read_tcred(r)
        c["sig"] = csig
        f = {"tcred": c, "amount": r.u(4), "currency": r.u(2),
             "nonce": r.take(12).hex(), "time": r.u(4)}
        sig = r.take(SIG).hex()
        r.finish()
        if f["amount"] == 0:
            raise DecodeError("OFFPAY_EMALFORMED")
        if f["currency"] not in CURRENCIES:
            raise DecodeError("OFFPAY_ECURRENCY_UNKNOWN")
    elif t == T_RECEIPT:
        c, csig = read_tcred(r)
        c["sig"] = csig
        f = {"tcred": c, "serial": str(r.u(8)), "counter": r.u(4),
             "amount": r.u(4), "currency": r.u(2), "time": r.u(4)}
        sig = r.take(SIG).hex()
        r.finish()
        if f["counter"] == 0 or f["amount"] == 0:
            raise DecodeError("OFFPAY_EMALFORMED")
        if f["currency"] not in CURRENCIES:
            raise DecodeError("OFFPAY_ECURRENCY_UNKNOWN")
    else:  # T_REVLIST
        f = {"kid": r.u(2), "seq": r.u(4), "base_seq": r.u(4),
             "issued_at": r.u(4)}
        n = r.u(2)
        want = 8 * n + SIG
        if r.left() != want:
            raise DecodeError("OFFPAY_ETRUNCATED" if r.left() < want
                              else "OFFPAY_ETRAILING")
        serials = [r.u(8) for _ in range(n)]
        sig = r.take(SIG).hex()
        if f["base_seq"] >= f["seq"] or \
                any(b <= a for a, b in zip(serials, serials[1:])):
            raise DecodeError("OFFPAY_EMALFORMED")
        f["serials"] = [str(s) for s in serials]
    return t, f, sig


# ---- Ed25519 through the openssl command (RFC 8032) ------------------------

PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")


class Ed25519:
    def __init__(self, tmpdir):
        self.tmp = tmpdir
        self.n = 0

    def _path(self, what):
        self.n += 1
        return os.path.join(self.tmp, "%s%d" % (what, self.n))

    def _keyfile(self, seed):
        path = self._path("key")
        with open(path, "wb") as fh:
            fh.write(PKCS8_ED25519 + seed)
        return path

    def public_key(self, seed):
        der = subprocess.run(
            ["openssl", "pkey", "-inform", "DER", "-in", self._keyfile(seed),
             "-pubout", "-outform", "DER"],
            check=True, capture_output=True).stdout
        return der[-32:]

    def sign(self, seed, message):
        msg = self._path("msg")
        with open(msg, "wb") as fh:
            fh.write(message)
        return subprocess.run(
            ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey",
             self._keyfile(seed), "-keyform", "DER", "-in", msg],
            check=True, capture_output=True).stdout


def signed_message(msg_type, covered):
    """§3: domain || 0x00 || covered bytes."""
    return DOMAIN[msg_type].encode("ascii") + b"\x00" + covered


# ---- the checks -------------------------------------------------------------

class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("MISMATCH: " + what, file=sys.stderr)
        return ok


def expected_size(name, f):
    """§2.9: the exact size each message must have."""
    if name == "trust_bundle":
        return 75 + 42 * len(f["keys"])
    if name == "wallet_credential":
        return 123
    if name == "terminal_credential":
        return 123 + len(bytes.fromhex(f["name_hex"]))
    if name == "payment":
        return 199
    if name == "bound_payment":
        return 219
    if name in ("request", "receipt"):
        return 209 + len(bytes.fromhex(f["tcred"]["name_hex"]))
    return 82 + 8 * len(f["serials"])


def build(name, f):
    """The message's bytes without its final signature, and its type."""
    if name == "trust_bundle":
        return T_BUNDLE, bundle_unsigned(f)
    if name == "wallet_credential":
        return T_WCRED, header(T_WCRED) + wcred_body(f)
    if name == "terminal_credential":
        return T_TCRED, header(T_TCRED) + tcred_body(f)
    if name == "payment":
        return T_PAYMENT, payment_unsigned(f, False)
    if name == "bound_payment":
        return T_PAYMENT_BOUND, payment_unsigned(f, True)
    if name == "request":
        return T_REQUEST, request_unsigned(f)
    if name == "receipt":
        return T_RECEIPT, receipt_unsigned(f)
    if name == "revocation_list":
        return T_REVLIST, revlist_unsigned(f)
    raise KeyError(name)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "messages.json")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        print("check_independent: cannot read %s: %s" % (path, e),
              file=sys.stderr)
        return 2

    ck = Checker()
    with tempfile.TemporaryDirectory(prefix="offpay-vectors-") as tmp:
        ed = Ed25519(tmp)
        try:
            ed.public_key(bytes(32))
        except (OSError, subprocess.CalledProcessError) as e:
            print("check_independent: openssl Ed25519 unavailable: %s" % e,
                  file=sys.stderr)
            return 2

        seeds = {k: bytes.fromhex(v["seed"]) for k, v in doc["keys"].items()}
        for role, k in doc["keys"].items():
            ck.check(ed.public_key(seeds[role]).hex() == k["pk"],
                     "public key of %s from its seed" % role)
        ck.check(doc["protocol_version"] == VERSION, "protocol version")

        wanted = {"trust_bundle", "wallet_credential", "terminal_credential",
                  "payment", "bound_payment", "request", "receipt",
                  "revocation_list"}
        ck.check(set(doc["messages"]) == wanted,
                 "the vectors hold exactly the eight message kinds")

        for name, m in doc["messages"].items():
            f = m["fields"]
            msg_type, unsigned = build(name, f)
            ck.check(m["type"] == msg_type, name + ": type byte")
            ck.check(m["prefix"] == PREFIX[msg_type], name + ": prefix")
            ck.check(m["domain"] == DOMAIN[msg_type], name + ": domain")

            # Embedded credentials: their issuer signature covers the
            # standalone header and the body (§2.2, §2.3, §3).
            for key, t, body in (("cred", T_WCRED, wcred_body),
                                 ("tcred", T_TCRED, tcred_body)):
                if key in f:
                    covered = header(t) + body(f[key])
                    sig = ed.sign(seeds["issuer_kid%d" % f[key]["kid"]],
                                  signed_message(t, covered))
                    ck.check(sig.hex() == f[key]["sig"],
                             name + ": embedded credential signature")

            # The message's own signature, re-made from the signer's seed.
            sig = ed.sign(seeds[m["signer"]],
                          signed_message(msg_type, unsigned))
            ck.check(sig.hex() == m["sig"], name + ": signature")
            data = unsigned + sig
            ck.check(data.hex() == m["hex"], name + ": bytes")
            ck.check(len(data) == m["size"] == expected_size(name, f),
                     name + ": size")

            text = text_form(data)
            ck.check(text == m["text"], name + ": text form")
            ck.check(len(text) == m["text_length"] ==
                     5 + 3 * (len(data) // 2) + 2 * (len(data) % 2),
                     name + ": text length")

            # And back: text -> bytes -> fields.
            try:
                back = text_decode(m["text"])
                ck.check(back.hex() == m["hex"], name + ": text decodes")
                t, fields, dsig = decode(bytes.fromhex(m["hex"]))
                ck.check(t == msg_type and dsig == m["sig"],
                         name + ": decoded type and signature")
                ck.check(fields == f, name + ": decoded fields")
            except DecodeError as e:
                ck.check(False, "%s: decoding failed with %s" % (name, e))

        # The signers named by the vectors are the document's (§3).
        signer = {"trust_bundle": "root", "payment": "wallet",
                  "bound_payment": "wallet", "request": "terminal",
                  "receipt": "terminal"}
        for name, m in doc["messages"].items():
            want = signer.get(name, "issuer_kid%d" % m["fields"].get("kid", -1))
            ck.check(m["signer"] == want, name + ": signer")

    print("%d passed, %d failed" % (ck.passed, ck.failed))
    return 0 if ck.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
