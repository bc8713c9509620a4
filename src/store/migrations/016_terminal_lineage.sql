-- 016_terminal_lineage.sql — a terminal and the terminals its key was
-- rotated from and to are one device (docs/settlement.md §5): the
-- guarantee's cumulative rule sums a credential's charges over all of
-- them, so that a rotation (POST /v1/terminal/rotate, which the terminal
-- asks for itself) does not start the sum again. A terminal's forebears
-- are found by rotated_to, indexed here.
--
-- Placeholders as in 001_ledger.sql.

CREATE INDEX terminals_rotated_to ON terminals (rotated_to)
  WHERE rotated_to IS NOT NULL;
