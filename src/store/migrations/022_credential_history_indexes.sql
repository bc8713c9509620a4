-- 022_credential_history_indexes.sql — a payer renewed a few times a day
-- for years holds thousands of credentials, and two reads of every
-- credential issue and allowance, and of the accounts list, went
-- through all of them (docs/benchmarks.md, "A payer's long history"):
--
-- credentials_wallet_pk_revoked: the check that refuses a copied
-- wallet's key a new credential reads the key's revoked credentials only
-- (its double-spend and overspend cases hang on them); a key's revoked
-- ones are few, whatever its history (SQLite, a key of 10^4 credentials:
-- 1.5 ms to 0.013 ms).
--
-- credentials_wallet_released: an account's credentials not yet released
-- (the escrow it still holds), and those released in the late window,
-- found by the release time rather than by reading each (an account of
-- 10^4 credentials found by its reference: 7.9 ms to 1.0 ms; of 10^5:
-- 76 ms to 3.8 ms).
--
-- Building them reads the credentials once at the upgrade. Placeholders
-- as in 001_ledger.sql.

CREATE INDEX credentials_wallet_pk_revoked ON credentials (wallet_pk)
  WHERE revoked_at IS NOT NULL;
CREATE INDEX credentials_wallet_released ON credentials (wallet_account,
  released_at);
