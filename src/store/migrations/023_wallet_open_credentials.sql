-- 023_wallet_open_credentials.sql — a wallet's status lists the
-- credentials of its key that it can still need (docs/api.md, "Status"):
-- not released, or released within the late window, when a code
-- presented late still changes them. A key renewed a few times a day for
-- years holds thousands of credentials and only a few hundred such ones;
-- this index finds them by the release time (two ranges: not released,
-- and released since the late window's start), where the key's index
-- read every credential for its released_at (SQLite, a key of 10^4
-- credentials: the status's read 2.6 ms to 0.06 ms before the rows of
-- its page are read).
--
-- Building it reads the credentials once at the upgrade.

CREATE INDEX credentials_wallet_pk_released ON credentials (wallet_pk,
  released_at);
