/*
 * initdir.c — an init's directory left as it was found when the init
 * fails or is refused (initdir.h): the terminal's and the issuer's init
 * share it, so both undo the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/initdir.h"
#include "core/log.h"
#include "core/oserr.h"
#include "wallet/wallet_file.h"

#define PATH_MAX_LEN 4096

/* dir/name into out; -1 when it does not fit. */
static int path_of(const char *dir, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);

    return n > 0 && n < PATH_MAX_LEN ? 0 : -1;
}

/* Which of d's names dir holds now (bit i: names[i]). */
static unsigned files_present(const offpay__init_dir *d)
{
    char        path[PATH_MAX_LEN];
    struct stat st;
    unsigned    present = 0;

    for (size_t i = 0; i < d->n; i++)
        if (path_of(d->dir, d->names[i], path) == 0 && lstat(path, &st) == 0)
            present |= 1u << i;
    return present;
}

offpay_err offpay__init_dir_begin(offpay__init_dir *d, const char *dir,
                                  const char *const *names, size_t n,
                                  const char *what)
{
    struct stat st;

    if (d == NULL)
        return OFFPAY_EINVAL;
    memset(d, 0, sizeof *d);
    if (dir == NULL || names == NULL || what == NULL || n == 0 ||
        n > OFFPAY__INIT_FILES_MAX)
        return OFFPAY_EINVAL;
    d->dir = dir;
    d->names = names;
    d->n = n;
    d->what = what;
    if (mkdir(dir, 0700) == 0) {
        d->made_dir = 1;
        d->mode = 0700;
        return OFFPAY_OK;
    }
    if (errno != EEXIST)
        return offpay__errno_err(errno);
    if (stat(dir, &st) != 0)
        return offpay__errno_err(errno);
    if (!S_ISDIR(st.st_mode))
        return OFFPAY_ENOTDIR;
    d->mode = st.st_mode & 07777;
    d->present = files_present(d);
    return OFFPAY_OK;
}

void offpay__init_dir_locked(offpay__init_dir *d)
{
    unsigned lock_bit = 1u << (d->n - 1);

    d->present = (d->present & lock_bit) | (files_present(d) & ~lock_bit);
}

void offpay__init_dir_undo(offpay__init_dir *d, int lock_fd)
{
    char        path[PATH_MAX_LEN];
    struct stat st;

    for (size_t i = 0; i < d->n && lock_fd >= 0; i++) {
        if ((d->present & (1u << i)) || path_of(d->dir, d->names[i], path) != 0)
            continue;
        if (unlink(path) != 0 && errno != ENOENT)
            offpay__log("offpay: could not remove %s after the failed %s: "
                        "%s; remove it before init again\n",
                        path, d->what, strerror(errno));
    }
    offpay__lock_release(lock_fd);
    if (d->made_dir) {
        if (rmdir(d->dir) != 0)
            offpay__log("offpay: could not remove the directory %s after "
                        "the failed %s: %s\n",
                        d->dir, d->what, strerror(errno));
    } else if (stat(d->dir, &st) == 0 && (st.st_mode & 07777) != d->mode &&
               chmod(d->dir, d->mode) != 0)
        offpay__log("offpay: could not give %s its mode %04o back after the "
                    "failed %s: %s\n",
                    d->dir, (unsigned)d->mode, d->what, strerror(errno));
}

offpay_err offpay__lock_take(const char *path, int timeout_ms, int *fd)
{
    struct stat held, named;
    offpay_err  rc;

    for (int tries = 0;; tries++) {
        rc = offpay__lock_acquire(path, timeout_ms, fd);
        if (rc != OFFPAY_OK)
            return rc;
        if (fstat(*fd, &held) != 0) {
            rc = offpay__errno_err(errno);
            break;
        }
        if (lstat(path, &named) == 0 && named.st_dev == held.st_dev &&
            named.st_ino == held.st_ino)
            return OFFPAY_OK;
        /* removed (or replaced) while this process waited on it */
        if (tries == 4) {
            rc = OFFPAY_EBUSY;
            break;
        }
        offpay__lock_release(*fd);
        *fd = -1;
    }
    offpay__lock_release(*fd);
    *fd = -1;
    return rc;
}
