-- 015_guarantee_claims.sql — what the guarantee owes (docs/settlement.md
-- §5): a presentment unpaid for want of funds in the guarantee (reason
-- EFUNDS, 76) is a claim on it of charged - paid, in its credential's
-- currency, from its upload time. Nothing is stored twice: the claim is
-- the presentment; what was paid of it later are the 'claim' transfers
-- (guarantee -> the presentment's merchant) tagged with it. The
-- presentments that are claims, and those transfers, are indexed, so the
-- release job and a deposit into the guarantee find the open claims
-- without reading every presentment.
--
-- Placeholders as in 001_ledger.sql.

CREATE INDEX presentments_owed ON presentments (id) WHERE reason = 76;
CREATE INDEX transfers_claim ON transfers (presentment) WHERE kind = 'claim';
