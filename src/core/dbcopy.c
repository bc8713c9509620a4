/*
 * dbcopy.c — a consistent copy of a SQLite database into a new file
 * (dbcopy.h).
 */
#define _GNU_SOURCE /* renameat2 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/testhook.h"
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

/* SQLite's side files of a database, removed with it. */
static const char *const SIDE[] = {"-journal", "-wal", "-shm"};

/* 1 when name is base's temporary, base + ".tmp-" + six letters or
 * digits (mkstemp's, mkdtemp's), or (*side then 1) one of its side
 * files. */
static int tmp_name(const char *name, const char *base, size_t blen, int *side)
{
    const char *p = name + blen + 5;

    if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp-", 5))
        return 0;
    for (int i = 0; i < 6; i++)
        if (!isalnum((unsigned char)p[i]))
            return 0;
    p += 6;
    *side = *p != '\0';
    for (size_t i = 0; *side && i < sizeof SIDE / sizeof SIDE[0]; i++)
        if (strcmp(p, SIDE[i]) == 0)
            return 1;
    return !*side;
}

/* Unlinks path's side files. */
static void unlink_sides(const char *path)
{
    char side[COPY_PATH_MAX + 16];

    for (size_t i = 0; i < sizeof SIDE / sizeof SIDE[0]; i++) {
        if (snprintf(side, sizeof side, "%s%s", path, SIDE[i]) <
            (int)sizeof side)
            unlink(side);
    }
}

/* Removes the temporary tmp when its writer is gone: nobody holds its
 * lock, and it is still the file the lock was taken on, ours. 1 when
 * removed. */
static int stale_remove(const char *tmp, int dir, const char *const *entries)
{
    struct stat a, b;
    char        path[COPY_PATH_MAX];
    int         fd, gone = 0;

    fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
        lstat(tmp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
        a.st_uid == geteuid() &&
        (dir ? S_ISDIR(a.st_mode) : S_ISREG(a.st_mode))) {
        if (dir) {
            for (size_t i = 0; entries != NULL && entries[i] != NULL; i++) {
                if (snprintf(path, sizeof path, "%s/%s", tmp, entries[i]) >=
                    (int)sizeof path)
                    continue;
                (void)offpay__tmp_sweep(path, 0, NULL);
                unlink(path);
                unlink_sides(path);
            }
            gone = rmdir(tmp) == 0;
        } else {
            gone = unlink(tmp) == 0;
            unlink_sides(tmp);
        }
    }
    close(fd); /* the lock with it */
    return gone;
}

size_t offpay__tmp_sweep(const char *path, int dir, const char *const *entries)
{
    char           d[COPY_PATH_MAX], full[COPY_PATH_MAX];
    const char    *slash = strrchr(path, '/'), *base;
    size_t         blen, n = 0;
    DIR           *dh;
    struct dirent *e;
    struct stat    st;
    size_t         cut;
    char           ch;
    int            side, orphan;

    base = slash != NULL ? slash + 1 : path;
    blen = strlen(base);
    if (blen == 0)
        return 0;
    dir_of(path, d);
    dh = opendir(d);
    if (dh == NULL)
        return 0;
    /* the temporaries first, each by its lock; then side files whose
     * temporary is gone (a live writer's exist only beside it) */
    for (int pass = 0; pass < 2; pass++) {
        rewinddir(dh);
        while ((e = readdir(dh)) != NULL) {
            if (!tmp_name(e->d_name, base, blen, &side) || side != pass)
                continue;
            if (snprintf(full, sizeof full, "%s/%s", d, e->d_name) >=
                (int)sizeof full)
                continue;
            if (pass == 0) {
                n += (size_t)stale_remove(full, dir, entries);
                continue;
            }
            /* full cut to its temporary's name, then whole again */
            cut = strlen(d) + 1 + blen + 11;
            ch = full[cut];
            full[cut] = '\0';
            orphan = lstat(full, &st) != 0 && errno == ENOENT;
            full[cut] = ch;
            if (orphan)
                n += unlink(full) == 0;
        }
    }
    closedir(dh);
    return n;
}

offpay_err offpay__tmp_make(const char *path, int dir, char *tmp, size_t cap,
                            int *lock)
{
    struct stat a, b;
    offpay_err  rc = OFFPAY_EIO;
    int         fd = -1, n;

    *lock = -1;
    /* a sweep between making the name and locking it may remove it (it
     * looked stale): then another name */
    for (int tries = 0; tries < 8; tries++) {
        n = snprintf(tmp, cap, "%s.tmp-XXXXXX", path);
        if (n <= 0 || (size_t)n >= cap)
            return OFFPAY_EINVAL;
        if (dir) {
            if (mkdtemp(tmp) == NULL)
                return from_errno(errno);
            fd = open(tmp, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
        } else {
            fd = mkstemp(tmp); /* 0600 */
        }
        if (fd < 0)
            return from_errno(errno);
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 &&
            lstat(tmp, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            *lock = fd;
            return OFFPAY_OK;
        }
        rc = errno == ENOENT ? OFFPAY_EIO : from_errno(errno);
        close(fd);
    }
    return rc;
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
    int         lock = -1;
    offpay_err  rc;

    if (src == NULL || path == NULL || path[0] == '\0')
        return OFFPAY_EINVAL;
    if (lstat(path, &st) == 0)
        return OFFPAY_EEXISTS;
    if (errno != ENOENT)
        return from_errno(errno);
    /* what an earlier copy to path killed midway left (a whole copy of
     * the database, and its journal) */
    (void)offpay__tmp_sweep(path, 0, NULL);
    rc = offpay__tmp_make(path, 0, tmp, sizeof tmp, &lock);
    if (rc != OFFPAY_OK)
        return rc;
    rc = copy_into(src, tmp, mark, ctx, other);
    if (rc != OFFPAY_OK)
        goto fail;
#ifdef OFFPAY_TEST_HOOKS
    /* held once its temporary is written, before the rename (a kill then
     * leaves it) */
    offpay__test_delay_ms("OFFPAY_TEST_COPY_DELAY_MS");
#endif
    if (sync_path(tmp) != 0 || rename_noreplace(tmp, path) != 0) {
        rc = from_errno(errno);
        goto fail;
    }
    close(lock);
    dir_of(path, dir);
    if (sync_path(dir) != 0)
        return from_errno(errno); /* in place, but maybe not durably */
    return OFFPAY_OK;
fail:
    unlink(tmp);
    unlink_sides(tmp);
    close(lock);
    return rc;
}
