-- 025_revocations_expires.sql — the revocation list names only the
-- credentials a terminal could still accept (docs/protocol.md §2.8,
-- docs/settlement.md "The revocation list"). It named every revocation
-- ever made, and a list holds at most 65,535 serials: a transit
-- operator's lost wallets and cases would have filled it within months,
-- after which no full list could be made at all (ETOOBIG) and a new
-- terminal could not start. A revocation now carries its credential's
-- signed expiry, and leaves the lists once that is more than the upload
-- grace past: a terminal's clock is never behind the list it holds by
-- more than its skew, so no terminal that holds such a list takes the
-- credential's codes any more.
--
-- expires is the credential's own (signed) expiry, copied when it is
-- revoked, before a lost wallet's report brings the ledger's expiry
-- (credentials.expires) forward. A revocation made before this version
-- has none (NULL) and stays in every list, as before: the ledger's
-- expiry may have been brought forward since, and the signed one is in
-- the credential's bytes, which SQL does not read the same way on both
-- backends.

ALTER TABLE revocations ADD COLUMN expires @INT@;
CREATE INDEX revocations_expires ON revocations (expires);
