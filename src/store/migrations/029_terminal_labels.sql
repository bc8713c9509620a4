-- 029_terminal_labels.sql — an operator's name for a terminal: where it
-- stands ("Central, north gate 3"), so that a fleet's ids mean a place
-- (offpay admin label-terminal, POST /v1/admin/terminals/N/label, the
-- "label" of a registration). Before, a gate was an id only, and its id
-- changes with each rotation.
--
-- One row per labelled terminal, on the directory (shard 0 of a sharded
-- ledger, which its reads take: settlement.md §11); set again, it
-- replaces the one before; cleared, the row goes. A rotation carries it
-- to the new terminal, in the rotation's transaction. At most 64 bytes
-- of one line of text (the library refuses more, and control or
-- invisible format characters): the check bounds the characters, which
-- is what both backends spell alike.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE terminal_labels (
  terminal @INT@ PRIMARY KEY REFERENCES terminals (id),
  label    TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 64),
  set_at   @INT@ NOT NULL
);
