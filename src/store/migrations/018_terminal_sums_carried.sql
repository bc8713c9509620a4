-- 018_terminal_sums_carried.sql — which rotations count as one device
-- for the guarantee's cumulative rule (docs/settlement.md §5). Since
-- 016_terminal_lineage the rule sums a credential's charges over a
-- terminal's whole rotation lineage, which is right only when the new
-- terminal went on from the old one's per-credential sums: a rotation made
-- by an offpay older than 0.16.0 carried nothing, so the new terminal
-- started from zero and accepted what the lineage's sum then left unpaid,
-- a payment accepted under the rules then in force.
--
-- sums_carried is 1 when the terminal's rotation to rotated_to was made
-- by a terminal that carried its sums into the new one (POST
-- /v1/terminal/rotate with "sums_carried": true, which offpayd requires
-- since 0.16.0), set with rotated_to in the rotation's transaction; the
-- lineage follows only such links. Every row here before stays 0: a
-- rotation made before the upgrade starts the sum again, as it did when it
-- was made. On a sharded ledger the column is part of the directory copied
-- from shard 0 to every shard (src/store/postgres.c,
-- offpay__pg_directory_copy), set once as rotated_to is.
--
-- Placeholders as in 001_ledger.sql.

ALTER TABLE terminals ADD COLUMN sums_carried @INT@ NOT NULL DEFAULT 0
  CHECK (sums_carried IN (0, 1));
