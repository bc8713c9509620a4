/*
 * initdir.h — internal: what an init makes in its directory, undone when
 * the init fails or is refused, so that the directory is left as it was
 * found (terminal init, src/terminal/terminal.c; issuer init,
 * src/issuer/store.c). One way for both: the directory is made if it was
 * missing (and removed again), the files the init may make are noted
 * before it makes any (those there before stay), and the files it made
 * are removed under its lock, the lock file last while still held.
 */
#ifndef OFFPAY_CORE_INITDIR_H
#define OFFPAY_CORE_INITDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "offpay/error.h"

/* The most file names one init may make. */
#define OFFPAY__INIT_FILES_MAX 16

typedef struct offpay__init_dir {
    const char        *dir;   /* borrowed for the init's time */
    const char *const *names; /* the files it may make in dir, the lock
                                 file last (names[n - 1]) */
    size_t      n;
    const char *what;     /* "terminal init", for the log */
    unsigned    present;  /* bit i: names[i] was there before */
    int         made_dir; /* dir was made by this init */
    mode_t      mode;     /* dir's permission bits before the init */
} offpay__init_dir;

/*
 * offpay__init_dir_begin — starts an init in dir: makes it (mode 0700) if
 * missing, else notes its mode, and notes which of names[0..n) are there
 * (the lock's file must be noted before the lock is taken, which makes
 * it; n at most OFFPAY__INIT_FILES_MAX). d borrows dir, names and what
 * until the init ends. Errors: OFFPAY_EINVAL (n, a NULL), mkdir's and
 * stat's failure as offpay__errno_err names it (OFFPAY_ENOTDIR: dir is
 * a file), with nothing made.
 */
offpay_err offpay__init_dir_begin(offpay__init_dir *d, const char *dir,
                                  const char *const *names, size_t n,
                                  const char *what);

/*
 * offpay__init_dir_locked — once the init holds its lock: notes again
 * which of the names other than the lock's are there (no other process
 * makes them while the lock is held, so what is there now is not the
 * init's to remove).
 */
void offpay__init_dir_locked(offpay__init_dir *d);

/*
 * offpay__init_dir_undo — undoes a failed or refused init: removes the
 * files of names it made (not those noted present), only if it holds the
 * lock (lock_fd >= 0: without it another process may be making them, a
 * running terminal's journal), the lock file last while still held, then
 * lets the lock go (lock_fd is closed), removes dir if the init made it,
 * else gives it back the mode it had. What cannot be undone is said on the
 * log, naming the path. Every file handle on dir's files must be closed
 * first (a database).
 */
void offpay__init_dir_undo(offpay__init_dir *d, int lock_fd);

/*
 * offpay__lock_take — offpay__lock_acquire (wallet/wallet_file.h), and
 * then the lock is on the file path names still: a lock file removed by
 * an undone init (offpay__init_dir_undo) while this process waited on
 * it guards nothing any more (the next process makes a new one at path),
 * so it is let go and the one at path taken instead (a few times, then
 * OFFPAY_EBUSY). Errors: those of offpay__lock_acquire.
 */
offpay_err offpay__lock_take(const char *path, int timeout_ms, int *fd);

#endif /* OFFPAY_CORE_INITDIR_H */
