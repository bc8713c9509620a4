-- 010_wallet_accounts.sql — the payers' accounts listed and found by
-- their reference (offpay_ledger_wallet_accounts; `GET
-- /v1/admin/accounts?ref=`, `offpay admin accounts --ref`): an operator
-- answering a payer looks the account up by the reference it was opened
-- with, and sees its credentials counted.
--
-- And a lost wallet's account enrolls its owner's new wallet
-- (offpay_ledger_enrollment_for): an account may have had several
-- wallet keys, one of them live at most. wallet_keys loses the UNIQUE on
-- account for a partial unique index; a constraint cannot be dropped in
-- place on SQLite, so the table is built again with its rows (on
-- PostgreSQL its constraints keep the names of wallet_keys_010's).
--
-- Placeholders as in 001_ledger.sql.

-- (Escrows, one per credential, are most of the accounts: the pages
-- walk the wallet accounts alone.)
CREATE INDEX accounts_wallet ON accounts (id) WHERE kind = 2;
CREATE INDEX accounts_wallet_ref ON accounts (ref) WHERE kind = 2;
CREATE INDEX credentials_wallet_account ON credentials (wallet_account);

CREATE TABLE wallet_keys_010 (
  pk          @BLOB@ NOT NULL UNIQUE,
  account     @INT@ NOT NULL REFERENCES accounts (id),
  enrolled_at @INT@ NOT NULL,
  revoked_at  @INT@
);
INSERT INTO wallet_keys_010 (pk, account, enrolled_at, revoked_at)
  SELECT pk, account, enrolled_at, revoked_at FROM wallet_keys;
DROP TABLE wallet_keys;
ALTER TABLE wallet_keys_010 RENAME TO wallet_keys;
CREATE UNIQUE INDEX wallet_keys_live ON wallet_keys (account)
  WHERE revoked_at IS NULL;
CREATE INDEX wallet_keys_account ON wallet_keys (account, enrolled_at);
