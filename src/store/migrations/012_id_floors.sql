-- 012_id_floors.sql — the lowest id the ledger may give the next
-- credential (its serial) and the next terminal, when an operator raised
-- it (offpay_ledger_skip_ids, `offpay admin skip-ids`): after a restore
-- from a backup, devices hold serials and terminal ids the restored
-- ledger never issued, and would otherwise issue again
-- (docs/operations.md §5). On SQLite a new row takes the higher of this
-- floor and its table's highest id + 1; PostgreSQL's sequences are moved
-- instead, and this table stays empty there.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE id_floors (
  -- 'serial' (credentials) or 'terminal' (terminals)
  what TEXT NOT NULL UNIQUE,
  next @INT@ NOT NULL
);
