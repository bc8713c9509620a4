-- 019_balance_marks.sql — an account's balance and a statement's period
-- read without reading the account's whole history (docs/settlement.md
-- §10, "Marks"). A balance is still the sum of the account's transfers;
-- a mark only says what a first part of that sum is, and the audit checks
-- every mark against the transfers it sums.
--
-- transfer_marks: one row each time the marking job (offpay_ledger_marks,
-- run by offpayd beside the escrow release) looked at the transfers up to
-- id upto, all committed then (the job holds the ledger's write lock: on
-- SQLite its one writer, on PostgreSQL a SHARE lock on transfers, so no
-- transfer with a lower id commits after it). latest_at is the latest
-- time of any transfer up to upto, so a period from f reads only the
-- transfers above the last row whose latest_at is before f.
--
-- balance_marks: for a world, merchant or guarantee account that had a
-- transfer up to a transfer mark, its balance from its transfers up to
-- upto; its balance is that plus its transfers above upto. Escrows have
-- a few transfers each and get none; wallet accounts get theirs since
-- 0.18.0 (in a transaction after the transfer mark's: docs/settlement.md
-- §10, "Marks").
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE transfer_marks (
  upto      @INT@ PRIMARY KEY,
  latest_at @INT@ NOT NULL,
  made_at   @INT@ NOT NULL
);
CREATE INDEX transfer_marks_at ON transfer_marks (latest_at, upto);

-- (No foreign key to accounts: its check would lock the account's row
-- for key share under the job's lock on transfers, while a refund or
-- withdrawal holding that row for update waits for the lock: a deadlock.
-- The audit checks every mark against its account's transfers.)
CREATE TABLE balance_marks (
  account @INT@ PRIMARY KEY,
  upto    @INT@ NOT NULL,
  balance @INT@ NOT NULL
);
