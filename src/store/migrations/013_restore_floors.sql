-- 013_restore_floors.sql — the lowest counter the ledger handed out for
-- a credential to a restored copy of its wallet (0: none yet;
-- offpay_ledger_wallet_restore_floor, POST /v1/wallet/restore-floor).
-- Each unfreeze of a restored copy raises it by at least the restore gap
-- in one transaction, so two copies restored from one backup get
-- counter ranges of their own even when neither has uploaded a code
-- yet: the highest counter seen (011) alone would give both the same
-- next counter, and their codes would be taken for a double spend.
--
-- Placeholders as in 001_ledger.sql.

ALTER TABLE credentials ADD COLUMN restore_floor @INT@ NOT NULL DEFAULT 0;
