-- 032_operator_actions.sql — what each operator did (settlement.md §1,
-- "What operators did"). 031_booked_by keeps who booked each deposit,
-- withdrawal, refund and release, one transfer at a time; but a
-- credential, a wallet or a terminal revoked, a merchant closed, a
-- terminal labelled, an account, a merchant or a terminal registered,
-- enrollment codes made or voided, the clock vouched for, the marks
-- dropped or the ids skipped were on offpayd's log at best, and not at
-- all when `offpay admin` did them on the ledger, and one person's
-- bookings were found only account by account. A transfer booked under
-- a name is kept here too ('book', its id the subject).
--
-- One row per action that changed something, written in the action's
-- own transaction (so one is never without the other), on the shard
-- that transaction runs on, never changed nor removed: when, who (the
-- same names as booked_by: offpay_ledger_set_actor), what (an action's
-- name, such as 'revoke-terminal'), its subject (a serial, a terminal,
-- a merchant or an account id; NULL for an action on the whole ledger)
-- and a detail (a reason, a label, a name; at most 128 bytes). A handle
-- that names no one (a terminal's upload, a wallet's own request, a
-- program that never called offpay_ledger_set_actor) keeps none, but
-- for a case step, which names its author. The
-- actions' digest beside the ledger's (settlement.md §10) covers it.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE operator_actions (
  id      @ID@,
  at      @INT@ NOT NULL,
  who     TEXT NOT NULL CHECK (length(who) BETWEEN 1 AND 64),
  action  TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 32),
  subject @INT@,
  detail  TEXT CHECK (length(detail) BETWEEN 1 AND 128)
);
-- read in time order, a period at a time
CREATE INDEX operator_actions_at ON operator_actions (at, id);
-- one operator's (a name written in another case is the same operator's)
CREATE INDEX operator_actions_who ON operator_actions (lower(who), at, id);
-- what was done to one subject (the audit finds a booking's and a case
-- step's action by it)
CREATE INDEX operator_actions_subject ON operator_actions (subject, action);

-- The bookings and case steps kept before this migration, among them
-- too: at their time, under their name, a booking's detail its kind, a
-- step's none (the case keeps its words), so that the audit finds each
-- (settlement.md §10, rule 12).
INSERT INTO operator_actions (at, who, action, subject, detail)
  SELECT x.at, b.who, 'book', x.id, x.kind
  FROM booked_by b JOIN transfers x ON x.id = b.transfer
  ORDER BY x.at, x.id;
INSERT INTO operator_actions (at, who, action, subject, detail)
  SELECT n.at, n.author, 'case-' || n.action, n.case_id, NULL
  FROM case_notes n ORDER BY n.at, n.id;
