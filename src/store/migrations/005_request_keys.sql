-- 005_request_keys.sql — operator requests that move money, made once
-- (docs/api.md, "Idempotency-Key"): a deposit or withdrawal sent with a
-- key records the key here in the transaction that books its transfer,
-- so a retry after a lost reply finds it and moves nothing. On a sharded
-- ledger each shard holds the keys of the parts it booked.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE request_keys (
  request_key TEXT NOT NULL UNIQUE,
  op          @INT@ NOT NULL CHECK (op IN (1, 2)), -- 1 deposit, 2 withdrawal
  account     @INT@ NOT NULL REFERENCES accounts (id),
  amount      @INT@ NOT NULL CHECK (amount > 0),
  transfer    @INT@ NOT NULL REFERENCES transfers (id),
  made_at     @INT@ NOT NULL
);
