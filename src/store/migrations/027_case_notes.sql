-- 027_case_notes.sql — what the operator did about a case
-- (docs/operations.md "Working a case"; offpay admin case, POST
-- /v1/admin/cases/N/notes, /close and /reopen). A case was a row that
-- settlement opened and nothing closed: an operator who had contacted the
-- payer, refunded a merchant or written a loss off kept that elsewhere,
-- and the list of cases never got shorter.
--
-- case_notes holds each step, in order, never changed nor removed: a
-- note, a closing (its text is the resolution) or a reopening (its text
-- the reason), with who took it (the name the operator's tool gave:
-- `offpay admin case --by`, the login name by default, or offpayd's
-- "by"; not an authenticated identity) and its time. The audit checks
-- that the closings and reopenings alternate and that cases.closed_at
-- is the newest closing's time (settlement.md §10, case_mismatch).
-- cases.closed_at is when the case was last
-- closed (NULL: open); a closing sets it and a reopening clears it, in
-- the same transaction as their note, so it is always what the case's
-- newest close or reopen says. A case lives on its credential's shard,
-- and so do its notes; their ids are each shard's own (a note is named
-- by its case). At most 1,000 bytes of text and 64 of author (the
-- library refuses more):
-- the check bounds the characters, which is what both backends spell
-- alike.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE case_notes (
  id      @ID@,
  case_id @INT@ NOT NULL REFERENCES cases (id),
  action  TEXT NOT NULL CHECK (action IN ('note', 'close', 'reopen')),
  text    TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 1000),
  author  TEXT NOT NULL CHECK (length(author) BETWEEN 1 AND 64),
  at      @INT@ NOT NULL
);
CREATE INDEX case_notes_case ON case_notes (case_id, id);

ALTER TABLE cases ADD COLUMN closed_at @INT@;
-- the open cases, which an operator works from, without reading the
-- closed ones
CREATE INDEX cases_open ON cases (id) WHERE closed_at IS NULL;
