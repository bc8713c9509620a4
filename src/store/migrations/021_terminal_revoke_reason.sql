-- 021_terminal_revoke_reason.sql — why a terminal was revoked, kept with
-- its revocation (docs/api.md, "Merchants and terminals"), as a
-- credential's is (credentials.revoke_reason): an operator looking back
-- at a terminal revoked months ago, or a merchant asking why its terminal
-- stopped, reads it from the ledger, not from offpayd's rotated logs.
--
-- Set in the revocation's own update, once, as revoked_at is: the
-- operator's reason (POST /v1/admin/terminals/N/revoke's "reason",
-- `offpay admin revoke-terminal --reason`; "operator" when none is
-- given), "decommissioned" for a terminal's own decommission, "rotated to
-- terminal N" for its own rotation. A revocation again changes nothing:
-- the first reason stays, as the first time does. Every terminal revoked
-- before this migration keeps NULL (its reason went to offpayd's log
-- only). At most 128 bytes (the library refuses more): the check bounds
-- the characters, which is what both backends spell alike.
--
-- On a sharded ledger the column is part of the directory copied from
-- shard 0 to every shard (src/store/postgres.c, offpay__pg_directory_copy),
-- set once as revoked_at is.
--
-- Placeholders as in 001_ledger.sql.

ALTER TABLE terminals ADD COLUMN revoke_reason TEXT
  CHECK (length(revoke_reason) BETWEEN 1 AND 128);
