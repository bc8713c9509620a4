-- 017_request_keys_made.sql — the operator's requests that make a row
-- (docs/api.md, "Idempotency-Key"), made once under a request key as a
-- deposit is: a merchant (POST /v1/admin/merchants), a wallet account
-- (POST /v1/admin/accounts) and a terminal (POST /v1/admin/terminals),
-- so that a resend after a lost reply makes nothing twice and a
-- terminal's gets the credential signed the first time.
--
-- request_keys takes three more kinds of request, which move no money
-- (amount 0): a merchant's key names its currency in account, its name
-- in the new column request, and the merchant in result; a wallet
-- account's its currency, its ref and the account; a terminal's the
-- merchant it was registered for and the terminal. The audit checks that
-- each names such a row (docs/settlement.md §10 rule 6). On a sharded
-- ledger a key's claim on shard 0 ("claim/KEY") of a wallet account
-- holds, in result, the shard the account is made on.
--
-- A CHECK cannot be changed in place on SQLite, so the table is built
-- again with its rows, as 009_refunds did (the same on PostgreSQL). Its
-- keys' uniqueness is an index of its own name, made before the old table
-- goes, so that this migration run again on a ledger that has it fails
-- (request_keys_key exists) rather than build the table once more.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE request_keys_017 (
  request_key TEXT NOT NULL,
  -- 1 deposit, 2 withdrawal, 3 allowance, 4 refund, 5 funded refund,
  -- 6 merchant, 7 wallet account, 8 terminal
  op          @INT@ NOT NULL CHECK (op BETWEEN 1 AND 8),
  -- the account the request named (on a sharded ledger it may live on
  -- another shard: no reference) and its whole amount; a refund's
  -- presentment; a merchant's or wallet account's currency and a
  -- terminal's merchant, with no amount
  account     @INT@ NOT NULL,
  amount      @INT@ NOT NULL CHECK ((op <= 5 AND amount > 0)
                                    OR (op >= 6 AND amount = 0)),
  -- the transfer booked here, 0 for a shard a withdrawal passed over for
  -- want of funds; an allowance's credential serial; a refund's first
  -- transfer; the merchant, wallet account or terminal made
  result      @INT@ NOT NULL,
  made_at     @INT@ NOT NULL,
  -- a merchant's name, a wallet account's ref; NULL for the others
  request     TEXT CHECK ((op IN (6, 7)) = (request IS NOT NULL))
);
-- made while the table it replaces still stands: run again, this fails
CREATE UNIQUE INDEX request_keys_key ON request_keys_017 (request_key);
INSERT INTO request_keys_017 (request_key, op, account, amount, result,
                              made_at)
  SELECT request_key, op, account, amount, result, made_at
  FROM request_keys;
DROP TABLE request_keys;
ALTER TABLE request_keys_017 RENAME TO request_keys;
