-- 024_enrollments_account.sql — when a lost wallet's owner enrolls a new
-- wallet into its account, the account's other codes not used yet are
-- made void (docs/settlement.md §12). Nothing found them by account: each
-- such enrollment read every code ever made, one for each wallet the
-- operator enrolled (a transit operator's millions), under the writer's
-- lock (SQLite, 10^6 codes: 74 ms; through this index 0.02 ms). It
-- holds the codes not used yet only (a used code is never changed
-- again), so it stays small.
--
-- Building it reads the enrollment codes once at the upgrade.

CREATE INDEX enrollments_account_open ON enrollments (account)
  WHERE used_at IS NULL;
