-- 005_request_keys.sql — requests that move money, made once: an
-- operator's deposit or withdrawal sent with an Idempotency-Key, and a
-- wallet's allowance with its request_id (docs/api.md). The key is booked
-- in the transaction that does the request, so a retry after a lost reply
-- finds it and does nothing again. Keys are stored with who sent them
-- ("operator/KEY", "wallet/ACCOUNT/ID"), so one sender's keys never block
-- another's. On a sharded ledger each shard holds the keys of what it
-- booked, each row with the request's own account and whole amount.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE request_keys (
  request_key TEXT NOT NULL UNIQUE,
  -- 1 deposit, 2 withdrawal, 3 allowance
  op          @INT@ NOT NULL CHECK (op IN (1, 2, 3)),
  -- the account the request named (on a sharded ledger it may live on
  -- another shard: no reference) and its whole amount
  account     @INT@ NOT NULL,
  amount      @INT@ NOT NULL CHECK (amount > 0),
  -- the transfer booked here, 0 for a shard a withdrawal passed over for
  -- want of funds; an allowance's credential serial
  result      @INT@ NOT NULL,
  made_at     @INT@ NOT NULL
);
