-- 010_wallet_accounts.sql — the payers' accounts listed and found by
-- their reference (offpay_ledger_wallet_accounts; `GET
-- /v1/admin/accounts?ref=`, `offpay admin accounts --ref`): an operator
-- answering a payer looks the account up by the reference it was opened
-- with, and sees its credentials counted.
--
-- Placeholders as in 001_ledger.sql.

-- (Escrows, one per credential, are most of the accounts: the pages
-- walk the wallet accounts alone.)
CREATE INDEX accounts_wallet ON accounts (id) WHERE kind = 2;
CREATE INDEX accounts_wallet_ref ON accounts (ref) WHERE kind = 2;
CREATE INDEX credentials_wallet_account ON credentials (wallet_account);
