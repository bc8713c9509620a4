-- 009_refunds.sql — a merchant's refund of a settled payment
-- (docs/settlement.md §13; offpay_ledger_refund): `refund` transfers out
-- of the merchant's account, tagged with the presentment they give back,
-- into the issuer's guarantee as far as the guarantee covered that
-- presentment, and the rest into the payer's wallet account.
--
-- A presentment's refunds are summed before each new one (at most what
-- was paid is given back), so they are indexed by presentment, as the
-- settle transfers are.
--
-- A refund may be sent once under the operator's request key, as a
-- deposit is: request_keys takes two more kinds of request, a refund and
-- a funded refund (the merchant paid its amount in, booked as a deposit
-- with it), whose account is the presentment and whose result is the
-- first refund transfer. A CHECK cannot be changed in place on SQLite, so
-- the table is built again with its rows.
--
-- The merchant list (offpay_ledger_merchants) counts each merchant's
-- terminals: they are indexed by merchant.
--
-- Placeholders as in 001_ledger.sql.

CREATE INDEX transfers_refund ON transfers (presentment)
  WHERE kind = 'refund';
-- A funded refund's deposit (the merchant paid the amount in) is tagged
-- with its presentment too; the audit finds it by it.
CREATE INDEX transfers_funded ON transfers (presentment)
  WHERE kind = 'deposit' AND presentment IS NOT NULL;

CREATE TABLE request_keys_009 (
  request_key TEXT NOT NULL UNIQUE,
  -- 1 deposit, 2 withdrawal, 3 allowance, 4 refund, 5 funded refund
  op          @INT@ NOT NULL CHECK (op IN (1, 2, 3, 4, 5)),
  -- the account the request named (on a sharded ledger it may live on
  -- another shard: no reference) and its whole amount; a refund's
  -- presentment
  account     @INT@ NOT NULL,
  amount      @INT@ NOT NULL CHECK (amount > 0),
  -- the transfer booked here, 0 for a shard a withdrawal passed over for
  -- want of funds; an allowance's credential serial; a refund's first
  -- transfer
  result      @INT@ NOT NULL,
  made_at     @INT@ NOT NULL
);
INSERT INTO request_keys_009 (request_key, op, account, amount, result,
                              made_at)
  SELECT request_key, op, account, amount, result, made_at
  FROM request_keys;
DROP TABLE request_keys;
ALTER TABLE request_keys_009 RENAME TO request_keys;

CREATE INDEX terminals_merchant ON terminals (merchant);
