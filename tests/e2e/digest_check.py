#!/usr/bin/env python3
"""digest_check.py — the ledger's digest computed again from its rows, by
another program than offpay's, from docs/settlement.md §10 ("The ledger's
digest") alone: e2e.offpayd_report compares it with offpayd's and
`offpay admin digest`'s.

  digest_check.py sqlite LEDGER.db UPTO   the rows of a SQLite ledger
  digest_check.py json UPTO < ROWS.json   rows as a JSON array of objects
                                          (id, debit, credit, amount, kind,
                                          presentment, case_id, ref, at), as
                                          PostgreSQL's json_agg gives them

Prints the digest in hex."""
import hashlib
import json
import sqlite3
import struct
import sys

COLS = "id, debit, credit, amount, kind, presentment, case_id, ref, at"


def digest(rows):
    h = hashlib.blake2b(digest_size=32)
    h.update(b"offpay transfers v1\0")
    for (i, debit, credit, amount, kind, pres, case, ref, at) in rows:
        k = kind.encode()
        h.update(struct.pack(">QQQqqQQI", i, debit, credit, amount, at,
                             pres or 0, case or 0, len(k)) + k)
        r = b"" if ref is None else ref.encode()
        h.update(struct.pack(">BI", ref is not None, len(r)) + r)
    return h.hexdigest()


def main():
    if sys.argv[1] == "sqlite":
        upto = int(sys.argv[3])
        rows = sqlite3.connect(sys.argv[2]).execute(
            f"SELECT {COLS} FROM transfers WHERE id <= ? ORDER BY id", (upto,))
    else:
        upto = int(sys.argv[2])
        rows = [tuple(r[c.strip()] for c in COLS.split(","))
                for r in json.load(sys.stdin) or [] if int(r["id"]) <= upto]
        rows.sort(key=lambda r: int(r[0]))
    print(digest(rows))


if __name__ == "__main__":
    main()
