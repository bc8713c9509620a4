/*
 * dbcopy.h — internal: a consistent copy of a SQLite database into a new
 * file, for a terminal's export (offpay_terminal_export) and a SQLite
 * ledger's backup (offpay_ledger_backup): one read transaction (so the
 * copy is one moment of the database, while writers go on in WAL mode),
 * written to a temporary file beside the target, synced, renamed into
 * place without replacing anything, and the directory synced. A
 * temporary left by a writer that was killed is removed by the next copy
 * to the same path (offpay__tmp_sweep).
 */
#ifndef OFFPAY_CORE_DBCOPY_H
#define OFFPAY_CORE_DBCOPY_H

#include <sqlite3.h>

#include "offpay/error.h"

/* The offpay error for SQLite's last failure on db while writing a copy:
 * a full disk, a read-only file system and an unwritable file are named;
 * anything else is other. */
offpay_err offpay__db_error(sqlite3 *db, offpay_err other);

/*
 * offpay__db_copy — src's main database into a new file at path, which
 * must not exist (OFFPAY_EEXISTS). The copy is a single file (rollback
 * journal mode), mode 0600. mark (may be NULL) runs on the copy before it
 * is synced, and may change it. Errors: OFFPAY_EINVAL, OFFPAY_EEXISTS,
 * the file system's (offpay__errno_err), mark's, and other for SQLite's
 * own failures. Nothing is left at path on an error.
 */
offpay_err offpay__db_copy(sqlite3 *src, const char *path,
                           offpay_err (*mark)(sqlite3 *dst, void *ctx),
                           void *ctx, offpay_err other);

/*
 * offpay__tmp_make — a new temporary beside path, "path.tmp-XXXXXX" (a
 * file, mode 0600, or with dir a directory, mode 0700), its name into tmp
 * (cap bytes) and *lock an open descriptor of it holding an exclusive
 * flock until the caller closes it (after renaming or removing tmp): the
 * lock tells offpay__tmp_sweep that its writer still runs. Errors:
 * OFFPAY_EINVAL (the name does not fit), the file system's.
 */
offpay_err offpay__tmp_make(const char *path, int dir, char *tmp, size_t cap,
                            int *lock);

/*
 * offpay__tmp_sweep — removes the temporaries of path that a writer killed
 * before it finished left behind: each "path.tmp-XXXXXX" whose lock
 * (offpay__tmp_make's) nobody holds, with its SQLite side files (-journal,
 * -wal, -shm), and the side files of one that is gone. A directory (dir)
 * loses the entries named in entries (a NULL-terminated list), their own
 * temporaries and side files, then itself when that empties it. A live
 * writer's temporary is never touched. Returns how many it removed.
 */
size_t offpay__tmp_sweep(const char *path, int dir, const char *const *entries);

#endif
