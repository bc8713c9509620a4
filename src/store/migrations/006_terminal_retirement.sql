-- 006_terminal_retirement.sql — how a terminal that revoked itself ended
-- (docs/api.md, "Terminal lifecycle"; docs/settlement.md §12), so that a
-- rotation or a decommission whose reply was lost can be asked again:
-- the retry finds what the first request did and answers it again,
-- writing nothing. A terminal the operator revoked (or one revoked before
-- this migration) keeps both columns NULL: nothing is replayed for it.
-- On a sharded ledger both columns are part of the directory copied from
-- shard 0 to every shard (src/store/postgres.c, offpay__pg_directory_copy).
--
-- Placeholders as in 001_ledger.sql.

-- 1: decommissioned by itself (POST /v1/terminal/decommission);
-- 2: rotated to the terminal rotated_to (POST /v1/terminal/rotate).
ALTER TABLE terminals ADD COLUMN retired @INT@ CHECK (retired IN (1, 2));

-- The new terminal a rotation registered, set with retired = 2 in the
-- rotation's transaction. Deferred: the directory copy writes terminals
-- in id order, the old one before the new one it names.
ALTER TABLE terminals ADD COLUMN rotated_to @INT@
  REFERENCES terminals (id) DEFERRABLE INITIALLY DEFERRED;
