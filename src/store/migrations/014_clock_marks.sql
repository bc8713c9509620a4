-- 014_clock_marks.sql — times the ledger keeps so that offpayd is not
-- fooled by its own clock jumping (docs/operations.md, "offpayd's clock
-- jumped"). One row per mark, none until it is first set:
--
-- 'nonces'   the signed requests' nonces made before it are forgotten
--            (offpay_ledger_nonce moves it, in the transaction of each
--            prune, to the prune's cut-off, never back): a signed request
--            made before it is refused, whatever the clock says now, so a
--            prune on a clock that ran ahead does not let a captured
--            request be replayed once the clock is right again.
-- 'release'  the time of the escrow release's last run
--            (offpay_ledger_release_auto moves it forward; an operator's
--            release, offpay_ledger_release_due, sets it to its own
--            time): the automatic job does not run on a clock far ahead
--            of it or behind it.
-- 'release_seen'  the newest transfer time when an operator's release
--            last ran: the automatic job holds back for a newer one only
--            (the operator vouched for the clock, transfers made ahead
--            of it included).
--
-- On a sharded ledger both are on shard 0 (the directory), beside the
-- nonces; the other shards hold the table empty.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE clock_marks (
  what TEXT NOT NULL UNIQUE,
  at   @INT@ NOT NULL
);
