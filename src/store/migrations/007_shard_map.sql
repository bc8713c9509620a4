-- 007_shard_map.sql — the serial ranges of the shard map a sharded ledger
-- was last opened with, kept on every shard (docs/scaling.md, "The shard
-- map is checked"). A map that leaves out a range recorded here (a shard's
-- line deleted, or a range shortened) is refused before anything is
-- written: the serials of the missing shard would otherwise be judged
-- "not issued" by a shard that never held them, as would those of a range
-- whose line names another database. Each open that passes the check
-- replaces these rows with its map's ranges. Empty on SQLite and on
-- a PostgreSQL ledger opened by its URL alone.
--
-- Placeholders as in 001_ledger.sql.

CREATE TABLE shard_map (
  first @INT@ PRIMARY KEY CHECK (first >= 1),
  last  @INT@ NOT NULL CHECK (last >= first),
  -- 1 on the row of this database's own range: a map that gives a
  -- recorded range to another database (two URLs swapped, a typo naming
  -- an empty database) is refused
  here  @INT@ NOT NULL CHECK (here IN (0, 1))
);
