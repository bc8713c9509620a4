-- 008_transfer_history.sql — an account's transfers in id order, a page at
-- a time (offpay_ledger_transfers, GET /v1/admin/accounts/N/transfers):
-- the indexes of a transfer's two sides carry its id, so a page is one
-- range of each index. SQLite's single-column indexes already ended with
-- the row id; PostgreSQL's did not, and a page read the whole table. The
-- audit's and the balance's sums use the new indexes as they used the old.
-- Building them reads every transfer once: on a big ledger this upgrade
-- takes that long (docs/operations.md §6).
--
-- Placeholders as in 001_ledger.sql.

CREATE INDEX transfers_debit_id ON transfers (debit, id);
CREATE INDEX transfers_credit_id ON transfers (credit, id);
DROP INDEX transfers_debit;
DROP INDEX transfers_credit;
