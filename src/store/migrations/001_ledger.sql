-- 001_ledger.sql — the ledger of docs/settlement.md: accounts, immutable
-- transfers, wallet credentials with their escrow, merchants, terminals,
-- payments (one per (serial, counter)), presentments (one per terminal's
-- upload of a payment), cases and revocations.
--
-- Written in the subset SQLite and PostgreSQL share. Each backend spells
-- three types its own way: @ID@ a 64-bit row id assigned from 1 upwards,
-- @INT@ a 64-bit integer, @BLOB@ a byte string (src/store/migrations.h).

CREATE TABLE accounts (
  id         @ID@,
  kind       @INT@ NOT NULL CHECK (kind BETWEEN 1 AND 5),
  currency   @INT@ NOT NULL,
  ref        TEXT NOT NULL,
  created_at @INT@ NOT NULL
);
-- One world and one guarantee account per currency.
CREATE UNIQUE INDEX accounts_singleton ON accounts (kind, currency)
  WHERE kind IN (1, 5);

CREATE TABLE transfers (
  id          @ID@,
  debit       @INT@ NOT NULL REFERENCES accounts (id),
  credit      @INT@ NOT NULL REFERENCES accounts (id),
  amount      @INT@ NOT NULL CHECK (amount > 0),
  kind        TEXT NOT NULL,
  presentment @INT@,
  case_id     @INT@,
  ref         TEXT,
  at          @INT@ NOT NULL,
  CHECK (debit <> credit)
);
CREATE INDEX transfers_debit ON transfers (debit);
CREATE INDEX transfers_credit ON transfers (credit);
-- At most one settle transfer per presentment (docs/settlement.md §10).
CREATE UNIQUE INDEX transfers_settle ON transfers (presentment)
  WHERE kind = 'settle';

CREATE TABLE credentials (
  serial         @ID@,
  wallet_account @INT@ NOT NULL REFERENCES accounts (id),
  escrow_account @INT@ NOT NULL UNIQUE REFERENCES accounts (id),
  wallet_pk      @BLOB@ NOT NULL,
  lim            @INT@ NOT NULL,
  currency       @INT@ NOT NULL,
  valid_from     @INT@ NOT NULL,
  expires        @INT@ NOT NULL,
  flags          @INT@ NOT NULL,
  bytes          @BLOB@,
  remaining      @INT@ NOT NULL CHECK (remaining >= 0),
  released_at    @INT@,
  revoked_at     @INT@,
  revoke_reason  TEXT
);
CREATE INDEX credentials_expires ON credentials (expires)
  WHERE released_at IS NULL;

CREATE TABLE merchants (
  id         @ID@,
  account    @INT@ NOT NULL REFERENCES accounts (id),
  name       TEXT NOT NULL,
  currency   @INT@ NOT NULL,
  created_at @INT@ NOT NULL
);

CREATE TABLE terminals (
  id         @ID@,
  merchant   @INT@ NOT NULL REFERENCES merchants (id),
  pk         @BLOB@ NOT NULL UNIQUE,
  bytes      @BLOB@,
  created_at @INT@ NOT NULL,
  revoked_at @INT@
);

CREATE TABLE payments (
  id          @ID@,
  serial      @INT@ NOT NULL REFERENCES credentials (serial),
  counter     @INT@ NOT NULL,
  code        @BLOB@ NOT NULL,
  authorized  @INT@ NOT NULL,
  charged     @INT@ NOT NULL,
  first_at    @INT@ NOT NULL,
  UNIQUE (serial, counter)
);

CREATE TABLE presentments (
  id           @ID@,
  payment      @INT@ NOT NULL REFERENCES payments (id),
  serial       @INT@ NOT NULL,
  counter      @INT@ NOT NULL,
  terminal     @INT@ NOT NULL REFERENCES terminals (id),
  code_hash    @BLOB@ NOT NULL,
  code         @BLOB@,
  charged      @INT@ NOT NULL,
  accepted_at  @INT@ NOT NULL,
  terminal_seq @INT@ NOT NULL,
  uploaded_at  @INT@ NOT NULL,
  outcome      @INT@ NOT NULL,
  reason       @INT@ NOT NULL,
  paid         @INT@ NOT NULL,
  covered      @INT@ NOT NULL,
  case_id      @INT@,
  UNIQUE (serial, counter, terminal)
);
CREATE INDEX presentments_terminal ON presentments (serial, terminal);

CREATE TABLE cases (
  id        @ID@,
  serial    @INT@ NOT NULL REFERENCES credentials (serial),
  kind      TEXT NOT NULL,
  first     @INT@,
  second    @INT@,
  opened_at @INT@ NOT NULL
);
CREATE INDEX cases_serial ON cases (serial, kind);

CREATE TABLE revocations (
  seq    @ID@,
  serial @INT@ NOT NULL UNIQUE,
  reason TEXT NOT NULL,
  at     @INT@ NOT NULL
);

-- Signed requests from terminals and wallets carry a nonce; each (key,
-- nonce) is taken once within the accepted clock window.
CREATE TABLE request_nonces (
  pk    @BLOB@ NOT NULL,
  nonce @BLOB@ NOT NULL,
  at    @INT@ NOT NULL,
  PRIMARY KEY (pk, nonce)
);
CREATE INDEX request_nonces_at ON request_nonces (at);
