#!/usr/bin/env python3
"""digest_check.py — the ledger's digest computed again from its rows, by
another program than offpay's, from docs/settlement.md §10 ("The ledger's
digest") alone: e2e.offpayd_report compares it with offpayd's and
`offpay admin digest`'s.

  digest_check.py sqlite LEDGER.db UPTO UNTIL  the rows of a SQLite ledger
  digest_check.py json UPTO UNTIL < ROWS.json  rows as a JSON array of
                                               objects named as COLS, as
                                               PostgreSQL's json_agg gives

  digest_check.py actions-sqlite LEDGER.db UNTIL  the digest of what
  digest_check.py actions-json UNTIL < ROWS.json   operators did (since
                                                   0.31.0), rows named
                                                   as ACOLS

UPTO: the highest id covered; UNTIL: the latest time (4294967295: any).
Prints the digest in hex."""
import hashlib
import json
import sqlite3
import struct
import sys

COLS = ("id", "debit", "credit", "amount", "kind", "presentment", "case_id",
        "ref", "at", "debit_kind", "debit_currency", "credit_kind",
        "credit_currency")
SQL = ("SELECT x.id, x.debit, x.credit, x.amount, x.kind, x.presentment,"
       " x.case_id, x.ref, x.at, d.kind, d.currency, k.kind, k.currency"
       " FROM transfers x JOIN accounts d ON d.id = x.debit"
       " JOIN accounts k ON k.id = x.credit")


def digest(rows, upto, until):
    h = hashlib.blake2b(digest_size=32)
    h.update(b"offpay transfers v1\0")
    for (i, debit, credit, amount, kind, pres, case, ref, at,
         dk, dc, ck, cc) in sorted(rows, key=lambda r: int(r[0])):
        if i > upto or at > until:
            continue
        k = kind.encode()
        h.update(struct.pack(">qQQqqQQI", i, debit, credit, amount, at,
                             pres or 0, case or 0, len(k)) + k)
        r = b"" if ref is None else ref.encode()
        h.update(struct.pack(">BI", ref is not None, len(r)) + r)
        h.update(struct.pack(">qqqq", dk, dc, ck, cc))
    return h.hexdigest()


ACOLS = ("id", "at", "who", "action", "subject", "detail")
ASQL = ("SELECT id, at, who, action, subject, detail FROM operator_actions")


def actions_digest(rows, until):
    h = hashlib.blake2b(digest_size=32)
    h.update(b"offpay operator actions v1\0")
    for (i, at, who, action, subject, detail) in sorted(
            rows, key=lambda r: (int(r[1]), int(r[0]))):
        if at > until:
            continue
        h.update(struct.pack(">QQQ", i, at, subject or 0))
        for t in (who, action, detail):
            b = b"" if t is None else t.encode()
            h.update(struct.pack(">BI", len(b) > 0, len(b)) + b)
    return h.hexdigest()


def main():
    if sys.argv[1] == "actions-sqlite":
        rows = list(sqlite3.connect(sys.argv[2]).execute(ASQL))
        print(actions_digest(rows, int(sys.argv[3])))
        return
    if sys.argv[1] == "actions-json":
        rows = [tuple(r[c] for c in ACOLS) for r in json.load(sys.stdin) or []]
        print(actions_digest(rows, int(sys.argv[2])))
        return
    if sys.argv[1] == "sqlite":
        rows = list(sqlite3.connect(sys.argv[2]).execute(SQL))
        upto, until = int(sys.argv[3]), int(sys.argv[4])
    else:
        rows = [tuple(r[c] for c in COLS) for r in json.load(sys.stdin) or []]
        upto, until = int(sys.argv[2]), int(sys.argv[3])
    print(digest(rows, upto, until))


if __name__ == "__main__":
    main()
