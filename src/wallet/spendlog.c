/*
 * spendlog.c — the wallet's append-only spend log file (spendlog.h): the
 * header, record sealing, replay with the torn-tail rule, and the durable
 * append. What a record says is wallet.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wallet/spendlog.h"
#include "wallet/wallet_file.h"

/* Records read per pread while replaying a file. */
#define CHUNK_RECORDS 512

/* Associated data of a record: the header, its index, its kind. */
#define AD_BYTES (OFFPAY__LOG_HEADER_BYTES + 8 + 1)

/* Where a slot's parts are. */
#define AT_KIND (OFFPAY__LOG_NONCE_BYTES)
#define AT_BODY (OFFPAY__LOG_NONCE_BYTES + 1)

/* Body size of kind, or 0 for an unknown kind. */
static size_t body_of(uint8_t kind)
{
    return kind == OFFPAY__LOG_KIND_CODE      ? OFFPAY__LOG_BODY_CODE
           : kind == OFFPAY__LOG_KIND_RECEIPT ? OFFPAY__LOG_BODY_RECEIPT
                                              : 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* True when the test hook (wallet_file.h) asks step to fail. */
static int fault(const char *step)
{
    return offpay__file_fault_hook != NULL && offpay__file_fault_hook(step);
}

/* The library's error for errno e after a failed write or sync. */
static offpay_err os_err(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return OFFPAY_ENOSPC;
    case EROFS:
        return OFFPAY_EROFS;
    case EACCES:
    case EPERM:
    case EBADF: /* opened read-only */
        return OFFPAY_EACCES;
    default:
        return OFFPAY_EIO;
    }
}

offpay_err offpay__log_header(const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                              uint8_t       h[OFFPAY__LOG_HEADER_BYTES])
{
    static const char what[] = "offpay wallet log";

    memcpy(h, OFFPAY__LOG_MAGIC, 8);
    put_u32(h + 8, OFFPAY__LOG_VERSION);
    put_u32(h + 12, OFFPAY__LOG_RECORD_BYTES);
    if (crypto_generichash(h + 16, 16, (const uint8_t *)what, sizeof what - 1,
                           key, OFFPAY__LOG_KEY_BYTES) != 0)
        return OFFPAY_ECRYPTO;
    return OFFPAY_OK;
}

/* Sets the index and kind of ad, whose header part is set. */
static void set_ad(uint8_t ad[AD_BYTES], uint64_t index, uint8_t kind)
{
    for (int i = 0; i < 8; i++)
        ad[OFFPAY__LOG_HEADER_BYTES + i] = (uint8_t)(index >> (56 - 8 * i));
    ad[OFFPAY__LOG_HEADER_BYTES + 8] = kind;
}

/* 1 when p[from..to) are all zero. */
static int all_zero(const uint8_t *p, size_t from, size_t to)
{
    uint8_t acc = 0;

    for (size_t i = from; i < to; i++)
        acc |= p[i];
    return acc == 0;
}

offpay_err offpay__log_seal(const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                            uint64_t      index,
                            const uint8_t plain[OFFPAY__LOG_PLAIN_BYTES],
                            uint8_t       rec[OFFPAY__LOG_RECORD_BYTES])
{
    uint8_t ad[AD_BYTES];
    size_t  body = body_of(plain[0]);

    if (body == 0 || !all_zero(plain, 1 + body, OFFPAY__LOG_PLAIN_BYTES))
        return OFFPAY_EINVAL;
    if (offpay__log_header(key, ad) != OFFPAY_OK)
        return OFFPAY_ECRYPTO;
    set_ad(ad, index, plain[0]);
    memset(rec, 0, OFFPAY__LOG_RECORD_BYTES);
    randombytes_buf(rec, OFFPAY__LOG_NONCE_BYTES);
    rec[AT_KIND] = plain[0];
    if (crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            rec + AT_BODY, rec + AT_BODY + body, NULL, plain + 1, body, ad,
            sizeof ad, NULL, rec, key) != 0)
        return OFFPAY_ECRYPTO;
    return OFFPAY_OK;
}

uint64_t offpay__log_records_opened;

void offpay__log_chain_next(uint8_t        chain[OFFPAY__LOG_CHAIN_BYTES],
                            const uint8_t *rec)
{
    uint8_t in[OFFPAY__LOG_CHAIN_BYTES + OFFPAY__LOG_RECORD_BYTES];

    memcpy(in, chain, OFFPAY__LOG_CHAIN_BYTES);
    memcpy(in + OFFPAY__LOG_CHAIN_BYTES, rec, OFFPAY__LOG_RECORD_BYTES);
    /* Cannot fail with these sizes (no key, 32-byte output). */
    (void)crypto_generichash(chain, OFFPAY__LOG_CHAIN_BYTES, in, sizeof in,
                             NULL, 0);
}

/* Opens record index into plain (256 bytes, zero past the body): 0, or -1
 * when it does not authenticate (or is not canonical). ad holds the
 * header. */
static int open_record(const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                       uint8_t ad[AD_BYTES], uint64_t index, const uint8_t *rec,
                       uint8_t plain[OFFPAY__LOG_PLAIN_BYTES])
{
    size_t body = body_of(rec[AT_KIND]);

    if (body == 0 || !all_zero(rec, AT_BODY + body + OFFPAY__LOG_TAG_BYTES,
                               OFFPAY__LOG_RECORD_BYTES))
        return -1;
    set_ad(ad, index, rec[AT_KIND]);
#ifdef OFFPAY_TEST_HOOKS
    offpay__log_records_opened++;
#endif
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            plain + 1, NULL, rec + AT_BODY, body, rec + AT_BODY + body, ad,
            AD_BYTES, rec, key) != 0)
        return -1;
    plain[0] = rec[AT_KIND];
    memset(plain + 1 + body, 0, OFFPAY__LOG_PLAIN_BYTES - 1 - body);
    return 0;
}

/* Where a replay stands: records seen and kept so far, out of how many. */
typedef struct replay {
    const uint8_t    *key;
    uint8_t           ad[AD_BYTES]; /* the header part set once */
    offpay__log_visit visit;
    void             *ctx;
    uint64_t          total; /* whole records in the file */
    int               tail;  /* a partial record follows them */
    uint64_t          n;     /* records kept */
    int               dropped;
    offpay__log_mark  mark;                           /* the checkpoint */
    uint8_t           chain[OFFPAY__LOG_CHAIN_BYTES]; /* chain(n) */
} replay;

/* Starts r: the header of the log, its records, and the mark (NULL: none)
 * replayed from the first record, or (skip) from the mark on. */
static void replay_start(replay *r, const uint8_t *key, const uint8_t *h,
                         uint64_t body, const offpay__log_mark *mark, int skip,
                         offpay__log_visit visit, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->key = key;
    memcpy(r->ad, h, OFFPAY__LOG_HEADER_BYTES);
    r->visit = visit;
    r->ctx = ctx;
    r->total = body / OFFPAY__LOG_RECORD_BYTES;
    r->tail = body % OFFPAY__LOG_RECORD_BYTES != 0;
    if (mark != NULL)
        r->mark = *mark;
    if (skip) {
        r->n = r->mark.n;
        memcpy(r->chain, r->mark.chain, sizeof r->chain);
    }
}

/* OFFPAY_ECORRUPT when the replay stands at the mark with another chain. */
static offpay_err check_mark(const replay *r)
{
    if (r->n == r->mark.n &&
        sodium_memcmp(r->chain, r->mark.chain, sizeof r->chain) != 0)
        return OFFPAY_ECORRUPT;
    return OFFPAY_OK;
}

/* Replays count records starting at index r->n. The last whole record of
 * a log with no partial tail may be torn (dropped) unless the mark covers
 * it; any other record that fails to authenticate is corruption. */
static offpay_err replay_records(replay *r, const uint8_t *recs, size_t count)
{
    uint8_t    plain[OFFPAY__LOG_PLAIN_BYTES];
    offpay_err rc = OFFPAY_OK;

    for (size_t k = 0; k < count; k++) {
        const uint8_t *rec = recs + k * OFFPAY__LOG_RECORD_BYTES;

        rc = check_mark(r);
        if (rc != OFFPAY_OK)
            break;
        if (open_record(r->key, r->ad, r->n, rec, plain) != 0) {
            if (r->n + 1 == r->total && !r->tail && r->n >= r->mark.n) {
                r->dropped = 1;
                break;
            }
            rc = OFFPAY_ECORRUPT;
            break;
        }
        offpay__log_chain_next(r->chain, rec);
        rc = r->visit(r->ctx, r->n, plain);
        if (rc != OFFPAY_OK)
            break;
        r->n++;
    }
    sodium_memzero(plain, sizeof plain);
    return rc;
}

/* After the last record: the mark must have been reached, and matched. */
static offpay_err replay_end(const replay *r)
{
    return r->n < r->mark.n ? OFFPAY_ECORRUPT : check_mark(r);
}

/* 1 when h is the header of a log sealed with key. */
static int header_ok(const uint8_t key[OFFPAY__LOG_KEY_BYTES], const uint8_t *h)
{
    uint8_t want[OFFPAY__LOG_HEADER_BYTES];

    return offpay__log_header(key, want) == OFFPAY_OK &&
           sodium_memcmp(h, want, sizeof want) == 0;
}

offpay_err offpay__log_replay_image(const uint8_t *img, size_t len,
                                    const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                                    const offpay__log_mark *mark,
                                    offpay__log_visit visit, void *ctx,
                                    uint64_t *n_valid, size_t *valid_len)
{
    replay     r;
    offpay_err rc;

    *n_valid = 0;
    *valid_len = 0;
    if (img == NULL || len < OFFPAY__LOG_HEADER_BYTES || !header_ok(key, img))
        return OFFPAY_ECORRUPT;
    replay_start(&r, key, img, len - OFFPAY__LOG_HEADER_BYTES, mark, 0, visit,
                 ctx);
    if (r.total < r.mark.n)
        return OFFPAY_ECORRUPT;
    rc = replay_records(&r, img + OFFPAY__LOG_HEADER_BYTES, (size_t)r.total);
    if (rc == OFFPAY_OK)
        rc = replay_end(&r);
    *n_valid = r.n;
    *valid_len =
        OFFPAY__LOG_HEADER_BYTES + (size_t)r.n * OFFPAY__LOG_RECORD_BYTES;
    return rc;
}

void offpay__log_init(offpay__log *lg)
{
    memset(lg, 0, sizeof *lg);
    lg->fd = -1;
}

offpay_err offpay__log_sync(offpay__log *lg)
{
    if (lg->fd < 0 || lg->synced)
        return OFFPAY_OK;
    if (fault("datasync"))
        return os_err(EIO);
    if (fdatasync(lg->fd) != 0 && errno != EROFS && errno != EINVAL)
        return os_err(errno);
    lg->synced = 1;
    return OFFPAY_OK;
}

void offpay__log_close(offpay__log *lg)
{
    if (lg->fd >= 0)
        close(lg->fd);
    free(lg->path);
    offpay__log_init(lg);
}

offpay_err offpay__log_create(const char *path, const uint8_t *image,
                              size_t len)
{
    return offpay__file_write_atomic(path, image, len);
}

/* pread of exactly len bytes at off: 0, or -1. */
static int read_at(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Replays r's records up to r->total from fd, a chunk at a time. */
static offpay_err replay_fd(int fd, replay *r)
{
    uint8_t   *buf = malloc((size_t)CHUNK_RECORDS * OFFPAY__LOG_RECORD_BYTES);
    offpay_err rc = OFFPAY_OK;

    if (buf == NULL)
        return OFFPAY_ENOMEM;
    while (rc == OFFPAY_OK && !r->dropped && r->n < r->total) {
        uint64_t left = r->total - r->n;
        size_t   count = left < CHUNK_RECORDS ? (size_t)left : CHUNK_RECORDS;

        if (read_at(fd, buf, count * OFFPAY__LOG_RECORD_BYTES,
                    OFFPAY__LOG_HEADER_BYTES +
                        r->n * OFFPAY__LOG_RECORD_BYTES) != 0) {
            rc = OFFPAY_EIO;
            break;
        }
        rc = replay_records(r, buf, count);
    }
    if (rc == OFFPAY_OK)
        rc = replay_end(r);
    free(buf);
    return rc;
}

offpay_err offpay__log_open(offpay__log *lg, const char *path,
                            const uint8_t           key[OFFPAY__LOG_KEY_BYTES],
                            const offpay__log_mark *mark, int skip,
                            int read_only, offpay__log_visit visit, void *ctx)
{
    uint8_t     h[OFFPAY__LOG_HEADER_BYTES];
    struct stat st;
    replay      r;
    offpay_err  rc;

    offpay__log_init(lg);
    rc = offpay__path_check_unlinked(path);
    if (rc != OFFPAY_OK)
        goto out;
    rc = OFFPAY_ENOMEM;
    lg->path = strdup(path);
    if (lg->path == NULL)
        goto out;
    lg->fd = read_only ? -1 : open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    lg->writable = lg->fd >= 0;
    if (read_only || (lg->fd < 0 && (errno == EROFS || errno == EACCES)))
        lg->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (lg->fd < 0) {
        /* The sealed file names a log: without it, its codes would be
         * forgotten and their counters used again. */
        rc = errno == ENOENT  ? OFFPAY_ECORRUPT
             : errno == ELOOP ? OFFPAY_ELINKED
                              : OFFPAY_EIO;
        goto out;
    }
    if (fstat(lg->fd, &st) != 0) {
        rc = OFFPAY_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = OFFPAY_ECORRUPT;
        goto out;
    }
    if (st.st_nlink > 1) {
        rc = OFFPAY_ELINKED;
        goto out;
    }
    lg->dev = st.st_dev;
    lg->ino = st.st_ino;
    rc = OFFPAY_ECORRUPT;
    if ((uint64_t)st.st_size < OFFPAY__LOG_HEADER_BYTES ||
        read_at(lg->fd, h, sizeof h, 0) != 0 || !header_ok(key, h))
        goto out;
    replay_start(&r, key, h, (uint64_t)st.st_size - OFFPAY__LOG_HEADER_BYTES,
                 mark, skip, visit, ctx);
    /* Records the checkpoint counts were cut: their codes would be
     * forgotten. */
    if (r.total < r.mark.n)
        goto out;
    rc = replay_fd(lg->fd, &r);
    if (rc != OFFPAY_OK)
        goto out;
    lg->n = r.n;
    lg->size = OFFPAY__LOG_HEADER_BYTES + r.n * OFFPAY__LOG_RECORD_BYTES;
    memcpy(lg->chain, r.chain, sizeof lg->chain);
    /* A torn tail is cut now if it can be; else before the next append. */
    lg->excess = lg->size != (uint64_t)st.st_size;
    if (lg->excess && lg->writable && ftruncate(lg->fd, (off_t)lg->size) == 0 &&
        fdatasync(lg->fd) == 0)
        lg->excess = 0;
out:
    if (rc != OFFPAY_OK)
        offpay__log_close(lg);
    return rc;
}

offpay_err offpay__log_reread(offpay__log  *lg,
                              const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                              const offpay__log_mark *mark,
                              offpay__log_visit visit, void *ctx)
{
    uint8_t    h[OFFPAY__LOG_HEADER_BYTES];
    replay     r;
    offpay_err rc;

    if (lg->fd < 0 || mark->n > lg->n)
        return OFFPAY_EINVAL;
    if (read_at(lg->fd, h, sizeof h, 0) != 0)
        return OFFPAY_EIO;
    if (!header_ok(key, h))
        return OFFPAY_ECORRUPT;
    replay_start(&r, key, h, lg->n * OFFPAY__LOG_RECORD_BYTES, mark, 0, visit,
                 ctx);
    rc = replay_fd(lg->fd, &r);
    /* All lg->n were valid when opened or appended: none may be torn now,
     * and they must make the chain they made then. */
    if (rc == OFFPAY_OK &&
        (r.dropped || r.n != lg->n ||
         sodium_memcmp(r.chain, lg->chain, sizeof r.chain) != 0))
        rc = OFFPAY_ECORRUPT;
    return rc;
}

/* OFFPAY_OK when lg->path still names the file lg has open, with one
 * link: else two names could fork the log. */
static offpay_err check_same_file(const offpay__log *lg)
{
    struct stat st;

    if (lstat(lg->path, &st) != 0)
        return errno == ENOENT ? OFFPAY_ELINKED : OFFPAY_EIO;
    if (S_ISLNK(st.st_mode) || st.st_nlink != 1 || st.st_dev != lg->dev ||
        st.st_ino != lg->ino)
        return OFFPAY_ELINKED;
    return OFFPAY_OK;
}

offpay_err offpay__log_append(offpay__log  *lg,
                              const uint8_t key[OFFPAY__LOG_KEY_BYTES],
                              const uint8_t plain[OFFPAY__LOG_PLAIN_BYTES])
{
    uint8_t    rec[OFFPAY__LOG_RECORD_BYTES];
    size_t     done = 0;
    offpay_err rc;

    if (lg->fd < 0)
        return OFFPAY_EINVAL;
    if (!lg->writable)
        return OFFPAY_EACCES;
    rc = check_same_file(lg);
    if (rc != OFFPAY_OK)
        return rc;
    if (lg->excess) {
        if (ftruncate(lg->fd, (off_t)lg->size) != 0)
            return os_err(errno);
        lg->excess = 0;
    }
    rc = offpay__log_seal(key, lg->n, plain, rec);
    if (rc != OFFPAY_OK)
        return rc;
    while (done < sizeof rec) {
        ssize_t n;

        if (fault("append")) {
            errno = EIO;
            n = -1;
        } else {
            n = pwrite(lg->fd, rec + done, sizeof rec - done,
                       (off_t)(lg->size + done));
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = os_err(n < 0 ? errno : EIO);
            goto fail;
        }
        done += (size_t)n;
    }
    if (fault("datasync") || fdatasync(lg->fd) != 0) {
        rc = os_err(fault("datasync") ? EIO : errno);
        goto fail;
    }
    lg->synced = 1; /* the records before it went down with it */
    lg->n++;
    lg->size += sizeof rec;
    offpay__log_chain_next(lg->chain, rec);
    return OFFPAY_OK;
fail:
    /* Not valid: cut it (a later append would overwrite it anyway, and a
     * replay after a crash drops it as a torn tail). */
    lg->excess = 1;
    if (ftruncate(lg->fd, (off_t)lg->size) == 0)
        lg->excess = 0;
    return rc;
}
