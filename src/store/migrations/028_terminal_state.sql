-- 028_terminal_state.sql — what a terminal says of itself at its sync
-- (POST /v1/terminal/status, from terminals of 0.27.0 on): whether it
-- accepts payments, when it last took offpayd's lists, and the money its
-- journal holds not uploaded. Before, a terminal whose clock made it
-- refuse offpayd's lists (EFUTURE_DATED) still reported, and looked
-- healthy on the dashboard while it refused every payer once its
-- offline window ran out.
--
-- NULL in the three: the report came from an older terminal (or before
-- this migration), which said none of it.
--
-- Placeholders as in 001_ledger.sql.

-- "OK", or the error name a payment met there ("ESYNC_REQUIRED")
ALTER TABLE terminal_reports ADD COLUMN state TEXT
  CHECK (length(state) BETWEEN 1 AND 31);
-- the terminal's clock when it last took the bundle and revocation list
-- (0: never)
ALTER TABLE terminal_reports ADD COLUMN lists_at @INT@
  CHECK (lists_at >= 0);
-- the pending payments' charges summed, minor units of its currency
ALTER TABLE terminal_reports ADD COLUMN pending_amount @INT@
  CHECK (pending_amount >= 0);
