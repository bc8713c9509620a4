-- 031_booked_by.sql — who booked a transfer that no payment's upload
-- booked (settlement.md §1, "Who booked it"). Before, a deposit, a
-- withdrawal, a refund or a credential's funding said what moved and
-- why, but not who asked for it: offpayd's log named the route and the
-- client's address, and `offpay admin` on the ledger left no trace at all.
--
-- One row per such transfer, written in the transfer's own transaction
-- (so one is never without the other), never changed nor removed: the
-- name of the operator whose bearer token offpayd matched (its
-- --operators-file), "operator token" for the one of --token-file,
-- `offpay admin --by` or the login name running `offpay admin`, or the
-- job of offpayd that booked it ("offpayd release job"). A transfer
-- booked for a terminal's upload or a wallet's own request has none:
-- its presentment or credential says whose request it was. A transfer
-- booked before this migration has none either. At most 64 bytes of one
-- line of text (the library refuses more): the check bounds the
-- characters, which is what both backends spell alike. The row lives on
-- its transfer's shard. The ledger's digest (settlement.md §10) does
-- not cover it.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE booked_by (
  transfer @INT@ PRIMARY KEY REFERENCES transfers (id),
  who      TEXT NOT NULL CHECK (length(who) BETWEEN 1 AND 64)
);

-- Who made an enrollment code (the same names), so that the codes an
-- operator made and no wallet used can be voided when the operator goes
-- (offpay_ledger_enrollments_void_by; docs/operations.md §1): a code is
-- a way into a payer's account. NULL for a code made without a name, or
-- before this migration.
ALTER TABLE enrollments ADD COLUMN made_by TEXT
  CHECK (length(made_by) BETWEEN 1 AND 64);
-- the codes of one maker still open, for voiding them (a name written
-- in another case is the same operator's)
CREATE INDEX enrollments_made_by ON enrollments (lower(made_by))
  WHERE used_at IS NULL;
