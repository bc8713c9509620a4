-- 020_ledger_sealed.sql — a SQLite ledger copied to PostgreSQL takes no
-- more writes (docs/operations.md, "Moving from SQLite to PostgreSQL").
--
-- `offpay admin copy-ledger` reads the file in one transaction and, once
-- the copy is proved, writes this table's one row in that same
-- transaction before PostgreSQL commits: the row goes in only if nothing
-- was committed to the file since the copy's read began (SQLite refuses
-- to turn a read transaction into a write one over a newer snapshot), so
-- the copy holds everything the file held. From then on every write
-- transaction on the file is refused (OFFPAY_ELEDGER_SEALED: the store
-- reads this row with the schema's version at each begin), offpayd does
-- not start on it, and no migration runs on it: a payment accepted on
-- the file after the move would be lost once offpayd runs on PostgreSQL.
-- `offpay admin unseal` removes the row (the way back, while nothing has
-- settled on PostgreSQL). Reads, the audit and backups go on.
--
-- The table exists on PostgreSQL too (one schema for both backends, so a
-- copy finds the same tables on both sides); it stays empty there.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE ledger_sealed (
  id     @INT@ PRIMARY KEY CHECK (id = 1),
  at     @INT@ NOT NULL,
  reason TEXT NOT NULL
);
