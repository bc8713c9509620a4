/*
 * faultfs.c — simulated power loss for tests (faultfs.h): a SQLite VFS
 * shim over the "unix" VFS and a model of the wallet's files behind
 * offpay__file_fault_hook. Linked into test_powerloss only.
 */
#include "faultfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wallet/wallet_file.h"

#define SECTOR 512u

/* A file's bytes, or its absence. */
typedef struct fbuf {
    uint8_t *p;
    size_t   n;
    int      exists;
} fbuf;

/* A SQLite file seen through the VFS (kept by path across handles). */
typedef struct track {
    char         *path;
    fbuf          dur;   /* its bytes at its last xSync (or at arm) */
    int           dirty; /* written since */
    int           refs;  /* open handles */
    struct track *next;
} track;

/* One file of the image taken at the cut. */
typedef struct image {
    char         *path;
    fbuf          b;
    struct image *next;
} image;

static struct {
    int                  installed, armed, dead;
    uint64_t             steps, cut_at, rng;
    offpay__faultfs_mode mode;
    track               *files;
    image               *img;
    /* the wallet model */
    char *w_path, *w_log, *w_tmp;
    fbuf  w_main_dur, w_log_dur, w_tmp_synced;
    int   w_pending_rename;
    char  w_prev[16]; /* the last wallet step, its effect not yet counted */
} F;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs  shim_vfs;

static void fbuf_free(fbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Reads the whole file at path into b (absent: exists = 0). */
static void fbuf_read(const char *path, fbuf *b)
{
    struct stat st;
    int         fd;
    size_t      off = 0;

    fbuf_free(b);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    b->exists = 1;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return;
    }
    b->p = malloc((size_t)st.st_size);
    if (b->p == NULL) {
        close(fd);
        return;
    }
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, b->p + off, (size_t)st.st_size - off);
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    b->n = off;
    close(fd);
}

static void fbuf_copy(fbuf *dst, const fbuf *src)
{
    fbuf_free(dst);
    dst->exists = src->exists;
    if (src->n > 0 && (dst->p = malloc(src->n)) != NULL) {
        memcpy(dst->p, src->p, src->n);
        dst->n = src->n;
    }
}

static uint64_t rnd(uint64_t n)
{
    uint64_t z = (F.rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return n == 0 ? 0 : z % n;
}

static void image_add(const char *path, fbuf *b)
{
    image *e = calloc(1, sizeof *e);

    if (e == NULL || (e->path = strdup(path)) == NULL) {
        free(e);
        fbuf_free(b);
        return;
    }
    e->b = *b; /* takes b's bytes */
    memset(b, 0, sizeof *b);
    e->next = F.img;
    F.img = e;
}

/* What a cut leaves of a SQLite file. */
static void image_sqlite(const track *t)
{
    fbuf out = {0}, cur = {0};

    if (!t->dirty || F.mode == OFFPAY__FAULTFS_LOST) {
        fbuf_copy(&out, &t->dur);
    } else if (F.mode == OFFPAY__FAULTFS_KEPT) {
        fbuf_read(t->path, &out);
    } else {
        /* Torn: the old or the new length, each sector old or new. */
        size_t len;

        fbuf_read(t->path, &cur);
        len = rnd(2) ? cur.n : t->dur.n;
        out.exists = cur.exists || t->dur.exists;
        if (len > 0 && (out.p = calloc(1, len)) != NULL) {
            out.n = len;
            for (size_t s = 0; s < len; s += SECTOR) {
                const fbuf *src = rnd(2) ? &cur : &t->dur;
                size_t      end = s + SECTOR < len ? s + SECTOR : len;

                if (src->n > s)
                    memcpy(out.p + s, src->p + s,
                           (src->n < end ? src->n : end) - s);
            }
        }
        fbuf_free(&cur);
    }
    image_add(t->path, &out);
}

/* What a cut leaves of the wallet's files. */
static void image_wallet(void)
{
    fbuf main_f = {0}, log_f = {0}, tmp_f = {0}, cur = {0};

    if (F.mode == OFFPAY__FAULTFS_KEPT) {
        fbuf_read(F.w_path, &main_f);
        fbuf_read(F.w_log, &log_f);
        fbuf_read(F.w_tmp, &tmp_f);
    } else {
        /* A rename not yet made durable: lost, or (torn) kept, and then
         * the name holds what the temporary file's fsync made durable. */
        if (F.mode == OFFPAY__FAULTFS_TORN && F.w_pending_rename)
            fbuf_copy(&main_f, &F.w_tmp_synced);
        else
            fbuf_copy(&main_f, &F.w_main_dur);
        fbuf_copy(&log_f, &F.w_log_dur);
        if (F.mode == OFFPAY__FAULTFS_TORN) {
            /* A random prefix of the log's unsynced tail. */
            fbuf_read(F.w_log, &cur);
            if (cur.n > log_f.n) {
                size_t   keep = (size_t)rnd(cur.n - log_f.n + 1);
                uint8_t *p = realloc(log_f.p, log_f.n + keep + 1);

                if (p != NULL) {
                    memcpy(p + log_f.n, cur.p + log_f.n, keep);
                    log_f.p = p;
                    log_f.n += keep;
                }
            }
            fbuf_free(&cur);
        }
    }
    image_add(F.w_path, &main_f);
    image_add(F.w_log, &log_f);
    image_add(F.w_tmp, &tmp_f);
}

/* Counts the durable effect of the wallet step that last ran. */
static void wallet_commit(void)
{
    const char *s = F.w_prev;

    if (F.w_path == NULL || s[0] == '\0')
        return;
    if (strcmp(s, "open") == 0) {
        fbuf_free(&F.w_tmp_synced); /* a new, empty, unsynced file */
    } else if (strcmp(s, "fsync") == 0) {
        fbuf_read(F.w_tmp, &F.w_tmp_synced);
    } else if (strcmp(s, "rename") == 0) {
        F.w_pending_rename = 1;
    } else if (strcmp(s, "dirsync") == 0) {
        fbuf_copy(&F.w_main_dur, &F.w_tmp_synced);
        F.w_pending_rename = 0;
    } else if (strcmp(s, "datasync") == 0) {
        fbuf_read(F.w_log, &F.w_log_dur);
    }
    F.w_prev[0] = '\0';
}

/* One I/O step (what, on path): 0 to go on, -1 when the power is (now)
 * off. OFFPAY_FAULTFS_TRACE set: each step is printed to stderr. */
static int step(const char *what, const char *path)
{
    if (!F.armed)
        return 0;
    if (F.dead)
        return -1;
    wallet_commit();
    F.steps++;
    if (getenv("OFFPAY_FAULTFS_TRACE") != NULL)
        fprintf(stderr, "faultfs: step %llu %s %s%s\n",
                (unsigned long long)F.steps, what, path,
                F.steps == F.cut_at ? " <- power cut" : "");
    if (F.cut_at == 0 || F.steps != F.cut_at)
        return 0;
    for (track *t = F.files; t != NULL; t = t->next)
        image_sqlite(t);
    if (F.w_path != NULL)
        image_wallet();
    F.dead = 1;
    return -1;
}

/* The hook wallet_file.c and spendlog.c call before each step. */
static int file_hook(const char *s)
{
    if (step(s, F.w_path != NULL ? F.w_path : "(wallet file)") != 0)
        return 1;
    if (F.armed)
        snprintf(F.w_prev, sizeof F.w_prev, "%s", s);
    return 0;
}

/* ---- the VFS -------------------------------------------------------- */

typedef struct shim_file {
    sqlite3_file  base;
    track        *t;    /* NULL: not modelled (temporary files) */
    sqlite3_file *real; /* the unix VFS's file, right after this struct */
} shim_file;

#define REAL(f) (((shim_file *)(f))->real)

static track *track_get(const char *path)
{
    track *t;

    for (t = F.files; t != NULL; t = t->next)
        if (strcmp(t->path, path) == 0)
            return t;
    t = calloc(1, sizeof *t);
    if (t == NULL || (t->path = strdup(path)) == NULL) {
        free(t);
        return NULL;
    }
    fbuf_read(path, &t->dur); /* before the open that may create it */
    t->next = F.files;
    F.files = t;
    return t;
}

static int x_close(sqlite3_file *f)
{
    shim_file *s = (shim_file *)f;
    int        rc = s->real->pMethods->xClose(s->real);

    if (s->t != NULL)
        s->t->refs--;
    return rc;
}

static int x_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}

static int x_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    shim_file *s = (shim_file *)f;

    if (s->t != NULL) {
        if (step("xWrite", s->t->path) != 0)
            return SQLITE_IOERR_WRITE;
        s->t->dirty = 1;
    }
    return s->real->pMethods->xWrite(s->real, b, n, off);
}

static int x_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    shim_file *s = (shim_file *)f;

    if (s->t != NULL) {
        if (step("xTruncate", s->t->path) != 0)
            return SQLITE_IOERR_TRUNCATE;
        s->t->dirty = 1;
    }
    return s->real->pMethods->xTruncate(s->real, size);
}

static int x_sync(sqlite3_file *f, int flags)
{
    shim_file *s = (shim_file *)f;
    int        rc;

    if (s->t != NULL && step("xSync", s->t->path) != 0)
        return SQLITE_IOERR_FSYNC;
    /* The model decides what is durable: the disk's own fsync would only
     * slow the tests down (and every test on the machine with them). */
    (void)flags;
    rc = SQLITE_OK;
    if (rc == SQLITE_OK && s->t != NULL && F.armed) {
        fbuf_read(s->t->path, &s->t->dur);
        s->t->dirty = 0;
    }
    return rc;
}

static int x_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int x_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int x_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int x_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int x_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int x_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int x_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int x_shm_map(sqlite3_file *f, int pg, int sz, int extend,
                     void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}

static int x_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void x_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int x_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int x_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int x_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
    3,           x_close,          x_read,         x_write,
    x_truncate,  x_sync,           x_file_size,    x_lock,
    x_unlock,    x_check_reserved, x_file_control, x_sector_size,
    x_device,    x_shm_map,        x_shm_lock,     x_shm_barrier,
    x_shm_unmap, x_fetch,          x_unfetch};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags)
{
    shim_file *s = (shim_file *)f;
    int        rc;

    (void)vfs;
    memset(s, 0, sizeof *s);
    s->real = (sqlite3_file *)(s + 1);
    if (name != NULL &&
        (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL |
                  SQLITE_OPEN_WAL)) != 0)
        s->t = track_get(name);
    rc = real_vfs->xOpen(real_vfs, name, s->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        s->base.pMethods = NULL;
        return rc;
    }
    if (s->t != NULL)
        s->t->refs++;
    s->base.pMethods = &shim_methods;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int dir_sync)
{
    track *t = NULL;
    int    rc;

    (void)vfs;
    for (track *u = F.files; u != NULL; u = u->next)
        if (strcmp(u->path, name) == 0)
            t = u;
    if (t != NULL && step("xDelete", name) != 0)
        return SQLITE_IOERR_DELETE;
    rc = real_vfs->xDelete(real_vfs, name, dir_sync);
    if (rc == SQLITE_OK && t != NULL && F.armed) {
        fbuf_free(&t->dur); /* taken as durable: SQLite syncs the dir */
        t->dirty = 0;
    }
    return rc;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

/* ---- the interface -------------------------------------------------- */

int offpay__faultfs_install(void)
{
    if (F.installed)
        return 0;
    real_vfs = sqlite3_vfs_find("unix");
    if (real_vfs == NULL)
        return -1;
    memset(&shim_vfs, 0, sizeof shim_vfs);
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
    shim_vfs.mxPathname = real_vfs->mxPathname;
    shim_vfs.zName = "offpay-powerloss";
    shim_vfs.xOpen = v_open;
    shim_vfs.xDelete = v_delete;
    shim_vfs.xAccess = v_access;
    shim_vfs.xFullPathname = v_full;
    shim_vfs.xDlOpen = v_dlopen;
    shim_vfs.xDlError = v_dlerror;
    shim_vfs.xDlSym = v_dlsym;
    shim_vfs.xDlClose = v_dlclose;
    shim_vfs.xRandomness = v_random;
    shim_vfs.xSleep = v_sleep;
    shim_vfs.xCurrentTime = v_time;
    shim_vfs.xGetLastError = v_last_error;
    shim_vfs.xCurrentTimeInt64 = v_time64;
    if (sqlite3_vfs_register(&shim_vfs, 1) != SQLITE_OK)
        return -1;
    offpay__file_fault_hook = file_hook;
    F.installed = 1;
    return 0;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char  *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

void offpay__faultfs_track_wallet(const char *path)
{
    free(F.w_path);
    free(F.w_log);
    free(F.w_tmp);
    F.w_path = F.w_log = F.w_tmp = NULL;
    if (path == NULL)
        return;
    F.w_path = strdup(path);
    F.w_log = join(path, ".log");
    F.w_tmp = join(path, ".tmp");
    if (F.w_path == NULL || F.w_log == NULL || F.w_tmp == NULL)
        offpay__faultfs_track_wallet(NULL);
}

void offpay__faultfs_arm(uint64_t cut_at, offpay__faultfs_mode mode,
                         uint64_t seed)
{
    for (track *t = F.files; t != NULL; t = t->next) {
        fbuf_read(t->path, &t->dur);
        t->dirty = 0;
    }
    if (F.w_path != NULL) {
        fbuf_read(F.w_path, &F.w_main_dur);
        fbuf_read(F.w_log, &F.w_log_dur);
        fbuf_free(&F.w_tmp_synced);
    }
    F.w_pending_rename = 0;
    F.w_prev[0] = '\0';
    F.steps = 0;
    F.cut_at = cut_at;
    F.mode = mode;
    F.rng = seed;
    F.dead = 0;
    F.armed = 1;
}

uint64_t offpay__faultfs_steps(void)
{
    return F.steps;
}

int offpay__faultfs_dead(void)
{
    return F.dead;
}

/* Writes b (or removes path when b holds no file). */
static int put_file(const char *path, const fbuf *b)
{
    int    fd;
    size_t off = 0;

    if (!b->exists)
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    while (off < b->n) {
        ssize_t w = write(fd, b->p + off, b->n - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

int offpay__faultfs_reboot(void)
{
    int     rc = 0;
    track **pt;

    while (F.img != NULL) {
        image *e = F.img;

        F.img = e->next;
        if (put_file(e->path, &e->b) != 0)
            rc = -1;
        free(e->path);
        fbuf_free(&e->b);
        free(e);
    }
    /* The shared-memory index does not survive a reboot; drop the
     * records of files no handle has open. */
    pt = &F.files;
    while (*pt != NULL) {
        track *t = *pt;
        char  *shm = join(t->path, "-shm");

        if (F.dead && shm != NULL)
            unlink(shm);
        free(shm);
        if (t->refs > 0) {
            pt = &t->next;
            continue;
        }
        *pt = t->next;
        free(t->path);
        fbuf_free(&t->dur);
        free(t);
    }
    F.armed = 0;
    F.dead = 0;
    F.cut_at = 0;
    F.w_prev[0] = '\0';
    return rc;
}
