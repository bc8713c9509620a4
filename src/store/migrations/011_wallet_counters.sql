-- 011_wallet_counters.sql — the highest counter of a credential that its
-- wallet uploaded itself (offpay_ledger_wallet_upload: `wallet sync`,
-- `wallet upload`), verified and of a credential issued to the uploading
-- key, whether or not a terminal presented the code yet. A restored
-- wallet starts past the highest counter the ledger has seen
-- (offpay_ledger_wallet_creds' max_counter): a code the lost device made
-- and uploaded, but that no terminal presented yet, counts too, or the
-- restored wallet would sign that counter again and be taken for a clone.
--
-- Placeholders as in 001_ledger.sql.

ALTER TABLE credentials ADD COLUMN wallet_counter @INT@ NOT NULL DEFAULT 0;
