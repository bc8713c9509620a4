-- 003_terminal_reports.sql — the operator's dashboard (docs/dashboard.md):
-- what each terminal reported at its last sync (POST /v1/terminal/status),
-- and the indexes the overview reads presentments by.
--
-- Placeholders as in 001_ledger.sql.

-- One row per terminal that ever reported: the newest report replaces
-- the one before.
CREATE TABLE terminal_reports (
  terminal    @INT@ PRIMARY KEY REFERENCES terminals (id),
  reported_at @INT@ NOT NULL, -- offpayd's clock when the report came
  synced_at   @INT@ NOT NULL, -- the terminal's clock at its sync
  pending     @INT@ NOT NULL CHECK (pending >= 0) -- entries not uploaded
);

-- Settlement over time (uploads per bucket) and each terminal's last
-- upload and count.
CREATE INDEX presentments_uploaded ON presentments (uploaded_at);
CREATE INDEX presentments_by_terminal ON presentments (terminal, uploaded_at);
