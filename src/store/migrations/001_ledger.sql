-- 001_ledger.sql — the ledger of docs/settlement.md: accounts, immutable
-- transfers, wallet credentials with their escrow, merchants, terminals,
-- payments (one per (serial, counter)), presentments (one per terminal's
-- upload of a payment), cases and revocations.
--
-- Written in the subset SQLite and PostgreSQL share: INTEGER/BIGINT ids,
-- BLOB/BYTEA spelled by the backend (@BLOB@), no AUTOINCREMENT.

CREATE TABLE accounts (
  id         INTEGER PRIMARY KEY,
  kind       INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 5),
  currency   INTEGER NOT NULL,
  ref        TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
-- One world and one guarantee account per currency.
CREATE UNIQUE INDEX accounts_singleton ON accounts (kind, currency)
  WHERE kind IN (1, 5);

CREATE TABLE transfers (
  id          INTEGER PRIMARY KEY,
  debit       INTEGER NOT NULL REFERENCES accounts (id),
  credit      INTEGER NOT NULL REFERENCES accounts (id),
  amount      INTEGER NOT NULL CHECK (amount > 0),
  kind        TEXT NOT NULL,
  presentment INTEGER,
  case_id     INTEGER,
  ref         TEXT,
  at          INTEGER NOT NULL,
  CHECK (debit <> credit)
);
CREATE INDEX transfers_debit ON transfers (debit);
CREATE INDEX transfers_credit ON transfers (credit);
-- At most one settle transfer per presentment (docs/settlement.md §10).
CREATE UNIQUE INDEX transfers_settle ON transfers (presentment)
  WHERE kind = 'settle';

CREATE TABLE credentials (
  serial         INTEGER PRIMARY KEY,
  wallet_account INTEGER NOT NULL REFERENCES accounts (id),
  escrow_account INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
  wallet_pk      @BLOB@ NOT NULL,
  lim            INTEGER NOT NULL,
  currency       INTEGER NOT NULL,
  valid_from     INTEGER NOT NULL,
  expires        INTEGER NOT NULL,
  flags          INTEGER NOT NULL,
  bytes          @BLOB@,
  remaining      INTEGER NOT NULL CHECK (remaining >= 0),
  released_at    INTEGER,
  revoked_at     INTEGER,
  revoke_reason  TEXT
);
CREATE INDEX credentials_expires ON credentials (expires)
  WHERE released_at IS NULL;

CREATE TABLE merchants (
  id         INTEGER PRIMARY KEY,
  account    INTEGER NOT NULL REFERENCES accounts (id),
  name       TEXT NOT NULL,
  currency   INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE terminals (
  id         INTEGER PRIMARY KEY,
  merchant   INTEGER NOT NULL REFERENCES merchants (id),
  pk         @BLOB@ NOT NULL UNIQUE,
  bytes      @BLOB@,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE payments (
  id          INTEGER PRIMARY KEY,
  serial      INTEGER NOT NULL REFERENCES credentials (serial),
  counter     INTEGER NOT NULL,
  code        @BLOB@ NOT NULL,
  authorized  INTEGER NOT NULL,
  charged     INTEGER NOT NULL,
  first_at    INTEGER NOT NULL,
  UNIQUE (serial, counter)
);

CREATE TABLE presentments (
  id           INTEGER PRIMARY KEY,
  payment      INTEGER NOT NULL REFERENCES payments (id),
  serial       INTEGER NOT NULL,
  counter      INTEGER NOT NULL,
  terminal     INTEGER NOT NULL REFERENCES terminals (id),
  code_hash    @BLOB@ NOT NULL,
  code         @BLOB@,
  charged      INTEGER NOT NULL,
  accepted_at  INTEGER NOT NULL,
  terminal_seq INTEGER NOT NULL,
  uploaded_at  INTEGER NOT NULL,
  outcome      INTEGER NOT NULL,
  reason       INTEGER NOT NULL,
  paid         INTEGER NOT NULL,
  covered      INTEGER NOT NULL,
  case_id      INTEGER,
  UNIQUE (serial, counter, terminal)
);
CREATE INDEX presentments_terminal ON presentments (serial, terminal);

CREATE TABLE cases (
  id        INTEGER PRIMARY KEY,
  serial    INTEGER NOT NULL REFERENCES credentials (serial),
  kind      TEXT NOT NULL,
  first     INTEGER,
  second    INTEGER,
  opened_at INTEGER NOT NULL
);
CREATE INDEX cases_serial ON cases (serial, kind);

CREATE TABLE revocations (
  seq    INTEGER PRIMARY KEY,
  serial INTEGER NOT NULL UNIQUE,
  reason TEXT NOT NULL,
  at     INTEGER NOT NULL
);

-- Signed requests from terminals and wallets carry a nonce; each (key,
-- nonce) is taken once within the accepted clock window.
CREATE TABLE request_nonces (
  pk    @BLOB@ NOT NULL,
  nonce @BLOB@ NOT NULL,
  at    INTEGER NOT NULL,
  PRIMARY KEY (pk, nonce)
);
CREATE INDEX request_nonces_at ON request_nonces (at);
