-- 005_request_keys.sql — requests that move money, made once: an
-- operator's deposit or withdrawal sent with an Idempotency-Key, and a
-- wallet's allowance with its request_id (docs/api.md). The key is booked
-- in the transaction that does the request, so a retry after a lost reply
-- finds it and does nothing again. On a sharded ledger each shard holds
-- the keys of what it booked.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE request_keys (
  request_key TEXT NOT NULL UNIQUE,
  -- 1 deposit, 2 withdrawal (result: the transfer), 3 allowance (result:
  -- the credential's serial)
  op          @INT@ NOT NULL CHECK (op IN (1, 2, 3)),
  account     @INT@ NOT NULL REFERENCES accounts (id),
  amount      @INT@ NOT NULL CHECK (amount > 0),
  result      @INT@ NOT NULL,
  made_at     @INT@ NOT NULL
);
