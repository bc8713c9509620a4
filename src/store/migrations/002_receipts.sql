-- 002_receipts.sql — wallet uploads (docs/settlement.md §3, §7): the
-- terminal-signed receipts wallets upload, each kept once (its hash is
-- unique) with what it was checked against, and the terminal's own charge
-- on a presentment a receipt stood for.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE receipts (
  id          @ID@,
  hash        @BLOB@ NOT NULL UNIQUE,
  serial      @INT@ NOT NULL REFERENCES credentials (serial),
  counter     @INT@ NOT NULL,
  terminal    @INT@ NOT NULL REFERENCES terminals (id),
  amount      @INT@ NOT NULL CHECK (amount > 0),
  made_at     @INT@ NOT NULL,
  bytes       @BLOB@ NOT NULL,
  uploaded_at @INT@ NOT NULL,
  -- 1: no presentment of (serial, counter, terminal) existed, so this
  -- receipt stood for the terminal's upload and made `presentment`
  stood       @INT@ NOT NULL CHECK (stood IN (0, 1)),
  presentment @INT@ REFERENCES presentments (id),
  -- 1: compared with the terminal's own upload of the code
  checked     @INT@ NOT NULL CHECK (checked IN (0, 1)),
  case_id     @INT@ REFERENCES cases (id)
);
CREATE INDEX receipts_key ON receipts (serial, counter, terminal);
CREATE INDEX receipts_case ON receipts (case_id);

-- A presentment a receipt stood for has terminal_seq -1 and no claim;
-- when the terminal uploads the code itself, its journal seq and its own
-- charge are recorded here (the money moved once, at the receipt's
-- amount).
ALTER TABLE presentments ADD COLUMN claimed @INT@;

-- A wallet's signed request names its key: it must hold a credential.
CREATE INDEX credentials_wallet_pk ON credentials (wallet_pk);
