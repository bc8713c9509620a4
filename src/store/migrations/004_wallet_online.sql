-- 004_wallet_online.sql — the wallet's online life (docs/settlement.md
-- §12; docs/api.md, "Wallet online"): the one-time enrollment codes the
-- operator makes, and each enrolled wallet key with its account (a lost
-- wallet is revoked here, and its credentials with it).
--
-- Placeholders as in 001_ledger.sql.

-- An enrollment code is kept as its BLAKE2b-256 hash only: the ledger
-- never holds a code that could still be used.
CREATE TABLE enrollments (
  id          @ID@,
  code_hash   @BLOB@ NOT NULL UNIQUE,
  currency    @INT@ NOT NULL,
  ref         TEXT,
  created_at  @INT@ NOT NULL,
  expires_at  @INT@ NOT NULL,
  used_at     @INT@,
  account     @INT@ REFERENCES accounts (id)
);

CREATE TABLE wallet_keys (
  pk          @BLOB@ NOT NULL UNIQUE,
  account     @INT@ NOT NULL UNIQUE REFERENCES accounts (id),
  enrolled_at @INT@ NOT NULL,
  revoked_at  @INT@
);

