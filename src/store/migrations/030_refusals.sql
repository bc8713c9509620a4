-- 030_refusals.sql — payments a revoked terminal uploaded as accepted
-- after its revocation, which settlement refuses (ETERMINAL_REVOKED,
-- settlement.md §8). Nothing moves for them, so before, no row recorded
-- them: the merchant's statement and the operator's report left them out,
-- and a payer charged at a stolen till was a line on offpayd's log only.
-- Each is kept once per terminal and code (a resent upload finds it
-- there), on the credential's shard, as its presentments are. A payment
-- refused for other reasons (a code that does not verify, another
-- merchant's) is no sale of the merchant's: not kept here.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE refusals (
  id          @ID@,
  terminal    @INT@ NOT NULL REFERENCES terminals (id),
  serial      @INT@ NOT NULL,
  counter     @INT@ NOT NULL,
  code_hash   @BLOB@ NOT NULL,
  charged     @INT@ NOT NULL CHECK (charged >= 0),
  reason      @INT@ NOT NULL, -- the offpay error, ETERMINAL_REVOKED
  accepted_at @INT@ NOT NULL, -- by the terminal's clock
  uploaded_at @INT@ NOT NULL,
  UNIQUE (terminal, code_hash)
);
-- a merchant's period, through its terminals (statement, report)
CREATE INDEX refusals_terminal ON refusals (terminal, uploaded_at);
