/*
 * dbcopy.c — a consistent copy of a SQLite database into a new file
 * (dbcopy.h).
 */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dbcopy.h"
#include "core/oserr.h"

#define COPY_PATH_MAX 4096

/* The offpay error for an errno from creating or writing a file. */
static offpay_err from_errno(int e)
{
    return e == EEXIST ? OFFPAY_EEXISTS : offpay__errno_err(e);
}

offpay_err offpay__db_error(sqlite3 *db, offpay_err other)
{
    switch (sqlite3_errcode(db)) {
    case SQLITE_FULL:
        return OFFPAY_ENOSPC;
    case SQLITE_READONLY:
        return OFFPAY_EROFS;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return OFFPAY_EACCES;
    case SQLITE_NOMEM:
        return OFFPAY_ENOMEM;
    default:
        return other;
    }
}

/* fsync of path (a file or a directory). */
static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int ok;

    if (fd < 0)
        return -1;
    ok = fsync(fd) == 0;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* The directory part of path into dir ("." when it has none). */
static void dir_of(const char *path, char dir[COPY_PATH_MAX])
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(dir, COPY_PATH_MAX, ".");
    else if (slash == path)
        snprintf(dir, COPY_PATH_MAX, "/");
    else
        snprintf(dir, COPY_PATH_MAX, "%.*s", (int)(slash - path), path);
}

/* Renames from to to, failing with EEXIST when to exists (atomically where
 * the file system can say so). Returns 0 or -1 with errno set. */
static int rename_noreplace(const char *from, const char *to)
{
    struct stat st;

    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -1;
    /* A file system without RENAME_NOREPLACE (some network ones). */
    if (lstat(to, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

/* Copies src into the (empty) file tmp, then mark. */
static offpay_err copy_into(sqlite3 *src, const char *tmp,
                            offpay_err (*mark)(sqlite3 *dst, void *ctx),
                            void *ctx, offpay_err other)
{
    sqlite3        *dst = NULL;
    sqlite3_backup *bk;
    offpay_err      rc = other;

    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        goto fail;
    /* One step of -1 pages: the whole database under one read
     * transaction, so the copy is one moment of it. */
    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (bk == NULL)
        goto fail;
    if (sqlite3_backup_step(bk, -1) != SQLITE_DONE) {
        sqlite3_backup_finish(bk);
        goto fail;
    }
    if (sqlite3_backup_finish(bk) != SQLITE_OK)
        goto fail;
    /* a single self-contained file */
    if (sqlite3_exec(dst,
                     "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    rc = mark != NULL ? mark(dst, ctx) : OFFPAY_OK;
    goto out;
fail:
    rc = dst != NULL ? offpay__db_error(dst, other) : other;
out:
    if (sqlite3_close(dst) != SQLITE_OK && rc == OFFPAY_OK)
        rc = other;
    return rc;
}

offpay_err offpay__db_copy(sqlite3 *src, const char *path,
                           offpay_err (*mark)(sqlite3 *dst, void *ctx),
                           void *ctx, offpay_err other)
{
    char        tmp[COPY_PATH_MAX], dir[COPY_PATH_MAX];
    struct stat st;
    int         fd, n;
    offpay_err  rc;

    if (src == NULL || path == NULL || path[0] == '\0')
        return OFFPAY_EINVAL;
    if (lstat(path, &st) == 0)
        return OFFPAY_EEXISTS;
    if (errno != ENOENT)
        return from_errno(errno);
    n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (n <= 0 || n >= (int)sizeof tmp)
        return OFFPAY_EINVAL;
    fd = mkstemp(tmp); /* 0600 */
    if (fd < 0)
        return from_errno(errno);
    if (close(fd) != 0) {
        rc = from_errno(errno);
        goto fail;
    }
    rc = copy_into(src, tmp, mark, ctx, other);
    if (rc != OFFPAY_OK)
        goto fail;
    if (sync_path(tmp) != 0 || rename_noreplace(tmp, path) != 0) {
        rc = from_errno(errno);
        goto fail;
    }
    dir_of(path, dir);
    if (sync_path(dir) != 0)
        return from_errno(errno); /* in place, but maybe not durably */
    return OFFPAY_OK;
fail:
    unlink(tmp);
    return rc;
}
