/*
 * wallet_file.c — the wallet's passphrase-encrypted file and the atomic file
 * replace it is written with (wallet_file.h).
 *
 * File format, version 1. All integers are unsigned big-endian.
 *
 *   offset  size  field
 *   ------  ----  -----------------------------------------------------------
 *        0     8  magic, the ASCII bytes "OPWALLET"
 *        8     1  format version = 1
 *        9     1  KDF id = 1: Argon2id v1.3 (libsodium crypto_pwhash with
 *                 crypto_pwhash_ALG_ARGON2ID13)
 *       10     4  opslimit (Argon2 passes), 1 ..= 16
 *       14     4  memlimit in KiB, 8192 (8 MiB) ..= 1048576 (1 GiB)
 *       18    16  salt (crypto_pwhash_SALTBYTES), random per save
 *       34    24  nonce (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES),
 *                 random per save
 *       58     4  ciphertext length L, 16 ..= 16 + 1048576
 *       62     L  ciphertext: XChaCha20-Poly1305 IETF of the plaintext
 *                 (plaintext length L - 16, 16-byte tag at the end)
 *
 * The file is exactly 62 + L bytes: anything shorter is truncated and
 * anything longer has trailing bytes; both are OFFPAY_ECORRUPT.
 *
 * key = crypto_pwhash(32 bytes, passphrase without its NUL, salt, opslimit,
 *                     memlimit * 1024, crypto_pwhash_ALG_ARGON2ID13)
 * ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext,
 *                     ad = bytes 0..62 of the file, nonce, key)
 *
 * Because the whole header is associated data, changing any header byte
 * that still parses (salt, nonce, in-bounds KDF parameters, and the
 * ciphertext length can only change together with the file length) makes
 * authentication fail. Structural checks (everything above except the
 * authentication) run before the KDF, so a hostile file cannot make Argon2
 * run long or allocate much.
 */
#include "wallet/wallet_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/oserr.h"

_Static_assert(OFFPAY__WALLET_SALT_BYTES == crypto_pwhash_SALTBYTES,
               "salt size");
_Static_assert(OFFPAY__WALLET_NONCE_BYTES ==
                   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(OFFPAY__WALLET_TAG_BYTES ==
                   crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "tag size");
_Static_assert(OFFPAY__WALLET_OFF_SALT + OFFPAY__WALLET_SALT_BYTES ==
                   OFFPAY__WALLET_OFF_NONCE,
               "layout");
_Static_assert(OFFPAY__WALLET_OFF_NONCE + OFFPAY__WALLET_NONCE_BYTES ==
                   OFFPAY__WALLET_OFF_CT_LEN,
               "layout");
_Static_assert(OFFPAY__WALLET_OFF_CT_LEN + 4 == OFFPAY__WALLET_HEADER_BYTES,
               "layout");
/* The costs seal() may choose must be accepted by open(). */
_Static_assert(crypto_pwhash_OPSLIMIT_INTERACTIVE <=
                   OFFPAY__WALLET_OPSLIMIT_MAX,
               "default opslimit within bounds");
_Static_assert(crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024 >=
                       OFFPAY__WALLET_MEMLIMIT_KIB_MIN &&
                   crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024 <=
                       OFFPAY__WALLET_MEMLIMIT_KIB_MAX &&
                   crypto_pwhash_MEMLIMIT_INTERACTIVE % 1024 == 0,
               "default memlimit within bounds");
_Static_assert(crypto_pwhash_OPSLIMIT_MODERATE <= OFFPAY__WALLET_OPSLIMIT_MAX &&
                   crypto_pwhash_MEMLIMIT_MODERATE / 1024 <=
                       OFFPAY__WALLET_MEMLIMIT_KIB_MAX &&
                   crypto_pwhash_MEMLIMIT_MODERATE % 1024 == 0,
               "moderate cost within bounds");
_Static_assert(OFFPAY__WALLET_MEMLIMIT_KIB_MIN * 1024ull >=
                   crypto_pwhash_MEMLIMIT_MIN,
               "memlimit floor is one Argon2 accepts");

#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES

int (*offpay__file_fault_hook)(const char *step) = NULL;

/* True when the test hook asks step to fail. */
static int fault(const char *step)
{
    return offpay__file_fault_hook != NULL && offpay__file_fault_hook(step);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* ---- atomic replace ---------------------------------------------------- */

/* Writes all of data to fd, retrying on EINTR and short writes.
 * Returns 0, or -1 on failure. */
static int write_all(int fd, const uint8_t *data, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* no progress and no reason given */
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Opens and fsyncs the directory holding path. Returns 0, or -1. */
static int sync_parent_dir(const char *path)
{
    char        dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int         fd, rc = 0;

    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        /* The caller checked strlen(path) < PATH_MAX. */
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fault("dirsync"))
        rc = -1;
    else if (fsync(fd) != 0 && errno != EINVAL)
        rc = -1; /* EINVAL: this file system cannot sync directories */
    close(fd);
    return rc;
}

/* offpay__file_write_atomic; keep_owner: offpay__file_write_atomic_owned */
static offpay_err write_atomic(const char *path, const uint8_t *data,
                               size_t len, int keep_owner)
{
    struct stat old;
    char       tmp[PATH_MAX];
    size_t     plen;
    int        fd = -1;
    int        tmp_exists = 0;  /* we created path.tmp and must remove it */
    offpay_err rc = OFFPAY_EIO; /* what a test fault reports */

    if (path == NULL || (data == NULL && len > 0))
        return OFFPAY_EINVAL;
    plen = strlen(path);
    if (plen == 0 || plen + sizeof ".tmp" > sizeof tmp)
        return OFFPAY_EINVAL;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", sizeof ".tmp");

    /* Until the rename, every failure names its cause (errno, read right
     * after the failing call) and leaves path untouched. */
    /* A new file, never one found at path.tmp: a stale one (a crash) is
     * removed first, and O_EXCL refuses one made meanwhile. Opened as it
     * stood, a hard link planted there by whoever can write the directory
     * would have had its target truncated and written (and, for root,
     * handed to the replaced file's owner); O_NOFOLLOW alone stops only a
     * symbolic link. */
    if (fault("open"))
        goto out;
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    tmp_exists = 1;
    /* 0600 whatever the umask made of the mode */
    if (fchmod(fd, 0600) != 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    /* root replacing another user's file: the new one is that user's, as
     * the one it replaces was (a symbolic link is no file to follow) */
    if (keep_owner && geteuid() == 0 && lstat(path, &old) == 0 &&
        S_ISREG(old.st_mode) && fchown(fd, old.st_uid, old.st_gid) != 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    if (fault("write"))
        goto out;
    if (write_all(fd, data, len) != 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    if (fault("fsync"))
        goto out;
    if (fsync(fd) != 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    {
        int failed = fault("close");
        int cr = close(fd);
        int err = errno;

        fd = -1;
        if (failed)
            goto out;
        if (cr != 0) {
            rc = offpay__errno_err(err);
            goto out;
        }
    }
    if (fault("rename"))
        goto out;
    if (rename(tmp, path) != 0) {
        rc = offpay__errno_err(errno); /* EISDIR: path is a directory */
        goto out;
    }
    tmp_exists = 0;
    /* The data is in place; now make the directory entry durable too. A
     * failure here is OFFPAY_EIO whatever its cause: path has changed, and
     * a named error promises that it has not. */
    rc = OFFPAY_EIO;
    if (sync_parent_dir(path) != 0)
        goto out;
    rc = OFFPAY_OK;
out:
    if (fd >= 0)
        close(fd);
    if (tmp_exists)
        unlink(tmp);
    return rc;
}

offpay_err offpay__file_write_atomic(const char *path, const uint8_t *data,
                                     size_t len)
{
    return write_atomic(path, data, len, 0);
}

offpay_err offpay__file_write_atomic_owned(const char    *path,
                                           const uint8_t *data, size_t len)
{
    return write_atomic(path, data, len, 1);
}

offpay_err offpay__file_read(const char *path, size_t max, uint8_t **data,
                             size_t *len)
{
    struct stat st;
    uint8_t    *buf = NULL;
    size_t      cap, n = 0;
    int         fd = -1;
    offpay_err  rc = OFFPAY_EIO;

    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (path == NULL || data == NULL || len == NULL)
        return OFFPAY_EINVAL;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = OFFPAY_EISDIR;
        goto out;
    }
    /* The size is only a hint (the file may change under us); the read
     * loop below enforces max on what is actually read. */
    if (S_ISREG(st.st_mode) && st.st_size >= 0) {
        if ((uintmax_t)st.st_size > max) {
            rc = OFFPAY_ETOOBIG;
            goto out;
        }
        cap = (size_t)st.st_size;
    } else {
        cap = max < 4096 ? max : 4096;
    }
    buf = malloc(cap > 0 ? cap : 1);
    if (buf == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r;

        if (n == cap) {
            /* Full: probe one byte to tell end of file from more data. */
            uint8_t  extra;
            uint8_t *nb;
            size_t   ncap;

            r = read(fd, &extra, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = offpay__errno_err(errno);
                goto out;
            }
            if (r == 0)
                break;
            if (n == max) {
                rc = OFFPAY_ETOOBIG;
                goto out;
            }
            /* Double (plus a page), never beyond max, never overflowing. */
            ncap = (max - cap > cap && max - cap - cap > 4096) ? cap * 2 + 4096
                                                               : max;
            nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = OFFPAY_ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
            buf[n++] = extra;
            continue;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = offpay__errno_err(errno);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *data = buf;
    *len = n;
    buf = NULL;
    rc = OFFPAY_OK;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* ---- links (wallet forks) ---------------------------------------------- */

offpay_err offpay__path_check_unlinked(const char *path)
{
    struct stat st;

    if (path == NULL)
        return OFFPAY_EINVAL;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? OFFPAY_OK : offpay__errno_err(errno);
    if (S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 1))
        return OFFPAY_ELINKED;
    return OFFPAY_OK;
}

/* ---- locks ------------------------------------------------------------- */

int offpay__lock_wait_ms = 10000;

/* flock(fd, op | LOCK_NB), retried every 10 ms for up to timeout_ms.
 * Closes fd on failure. */
static offpay_err lock_wait(int fd, int op, int timeout_ms)
{
    int waited = 0;

    while (flock(fd, op | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= timeout_ms) {
            offpay_err rc = offpay__errno_err(errno); /* EWOULDBLOCK: EBUSY */

            close(fd);
            return rc;
        }
        usleep(10000);
        waited += 10;
    }
    return OFFPAY_OK;
}

offpay_err offpay__lock_acquire(const char *path, int timeout_ms, int *fd)
{
    int        lfd;
    offpay_err rc;

    if (fd != NULL)
        *fd = -1;
    if (path == NULL || fd == NULL)
        return OFFPAY_EINVAL;
    lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0)
        return offpay__errno_err(errno);
    rc = lock_wait(lfd, LOCK_EX, timeout_ms);
    if (rc == OFFPAY_OK)
        *fd = lfd;
    return rc;
}

offpay_err offpay__lock_acquire_shared(const char *path, int timeout_ms,
                                       int *fd)
{
    int        lfd;
    offpay_err rc;

    if (fd != NULL)
        *fd = -1;
    if (path == NULL || fd == NULL)
        return OFFPAY_EINVAL;
    /* Read-only, never created: nothing is written, so this works on a
     * read-only mount and a full disk. flock needs no write access. */
    lfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (lfd < 0)
        return errno == ENOENT ? OFFPAY_OK : offpay__errno_err(errno);
    rc = lock_wait(lfd, LOCK_SH, timeout_ms);
    if (rc == OFFPAY_OK)
        *fd = lfd;
    return rc;
}

void offpay__lock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the descriptor drops the flock */
}

/* ---- sealing ----------------------------------------------------------- */

/* The KDF cost for new files of the given strength (see wallet_file.h):
 * libsodium's INTERACTIVE or MODERATE limits, or with OFFPAY_KDF_COST=test
 * (test builds only) 8 MiB and 1 pass (interactive) or 2 passes
 * (moderate), so that tests stay fast and still tell the two apart. */
void offpay__kdf_cost(offpay__kdf_strength strength, uint32_t *opslimit,
                      uint32_t *memlimit_kib)
{
#ifdef OFFPAY_TEST_HOOKS
    const char *cost = getenv("OFFPAY_KDF_COST");
#else
    const char *cost = NULL; /* production builds ignore the variable */
#endif
    int moderate = strength == OFFPAY__KDF_MODERATE;

    if (cost != NULL && strcmp(cost, "test") == 0) {
        *opslimit = crypto_pwhash_OPSLIMIT_MIN + (moderate ? 1u : 0u);
        *memlimit_kib = OFFPAY__WALLET_TEST_MEMLIMIT_KIB;
    } else if (moderate) {
        *opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
        *memlimit_kib = crypto_pwhash_MEMLIMIT_MODERATE / 1024;
    } else {
        *opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *memlimit_kib = crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024;
    }
}

offpay_err offpay__passphrase_check(const char *passphrase)
{
    size_t chars = 0;

    if (passphrase == NULL)
        return OFFPAY_EINVAL;
    /* Count UTF-8 code points: every byte that is not a continuation
     * byte (10xxxxxx) starts one. Other bytes count as one each. */
    for (const unsigned char *p = (const unsigned char *)passphrase; *p; p++)
        if ((*p & 0xC0u) != 0x80u)
            chars++;
    return chars < OFFPAY__PASSPHRASE_MIN ? OFFPAY_EPASSPHRASE_SHORT
                                          : OFFPAY_OK;
}

/* key = Argon2id(passphrase, salt, opslimit, memlimit). The only failure
 * libsodium reports for in-bounds parameters is an allocation failure. */
static offpay_err derive_key(uint8_t key[KEY_BYTES], const char *passphrase,
                             const uint8_t *salt, uint32_t opslimit,
                             uint32_t memlimit_kib)
{
    if (crypto_pwhash(key, KEY_BYTES, passphrase, strlen(passphrase), salt,
                      opslimit, (size_t)memlimit_kib * 1024u,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return OFFPAY_ENOMEM;
    return OFFPAY_OK;
}

/* The key and the KDF parameters it was derived with: sealing again with
 * the same key (fresh nonce each time) skips the deliberately slow KDF. */
struct offpay__wallet_sealer {
    uint8_t  key[KEY_BYTES];
    uint8_t  salt[OFFPAY__WALLET_SALT_BYTES];
    uint32_t opslimit;
    uint32_t memlimit_kib;
};

/* Seals plain under an already derived key: header, fresh nonce, AEAD. */
static offpay_err seal_with(const offpay__wallet_sealer *s,
                            const uint8_t *plain, size_t plain_len,
                            uint8_t **out, size_t *out_len)
{
    uint8_t *buf;
    size_t   total;

    if (plain_len > OFFPAY__WALLET_PLAIN_MAX)
        return OFFPAY_ETOOBIG;
    total = OFFPAY__WALLET_HEADER_BYTES + plain_len + OFFPAY__WALLET_TAG_BYTES;
    buf = malloc(total);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    memcpy(buf, OFFPAY__WALLET_MAGIC, OFFPAY__WALLET_MAGIC_BYTES);
    buf[OFFPAY__WALLET_OFF_VERSION] = OFFPAY__WALLET_VERSION;
    buf[OFFPAY__WALLET_OFF_KDF] = OFFPAY__WALLET_KDF_ARGON2ID;
    put_u32(buf + OFFPAY__WALLET_OFF_OPSLIMIT, s->opslimit);
    put_u32(buf + OFFPAY__WALLET_OFF_MEMLIMIT, s->memlimit_kib);
    memcpy(buf + OFFPAY__WALLET_OFF_SALT, s->salt, OFFPAY__WALLET_SALT_BYTES);
    randombytes_buf(buf + OFFPAY__WALLET_OFF_NONCE, OFFPAY__WALLET_NONCE_BYTES);
    put_u32(buf + OFFPAY__WALLET_OFF_CT_LEN,
            (uint32_t)(plain_len + OFFPAY__WALLET_TAG_BYTES));
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(
            buf + OFFPAY__WALLET_HEADER_BYTES, NULL, plain, plain_len, buf,
            OFFPAY__WALLET_HEADER_BYTES, NULL, buf + OFFPAY__WALLET_OFF_NONCE,
            s->key) != 0) {
        free(buf);
        return OFFPAY_ECRYPTO;
    }
    *out = buf;
    *out_len = total;
    return OFFPAY_OK;
}

/* A sealer for passphrase with a fresh salt and the given costs; no
 * passphrase policy here (reseal_if_weak reuses an existing passphrase). */
static offpay_err sealer_derive(const char *passphrase, uint32_t opslimit,
                                uint32_t                memlimit_kib,
                                offpay__wallet_sealer **out)
{
    offpay__wallet_sealer *s;
    offpay_err             rc;

    *out = NULL;
    s = sodium_malloc(sizeof *s);
    if (s == NULL)
        return OFFPAY_ENOMEM;
    s->opslimit = opslimit;
    s->memlimit_kib = memlimit_kib;
    randombytes_buf(s->salt, sizeof s->salt);
    rc = derive_key(s->key, passphrase, s->salt, s->opslimit, s->memlimit_kib);
    if (rc != OFFPAY_OK) {
        sodium_free(s);
        return rc;
    }
    *out = s;
    return OFFPAY_OK;
}

offpay_err offpay__wallet_sealer_new_kdf(const char             *passphrase,
                                         offpay__kdf_strength    strength,
                                         offpay__wallet_sealer **out)
{
    uint32_t   opslimit = 0, memlimit_kib = 0;
    offpay_err rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (passphrase == NULL)
        return OFFPAY_EINVAL;
    if ((rc = offpay__passphrase_check(passphrase)) != OFFPAY_OK)
        return rc;
    offpay__kdf_cost(strength, &opslimit, &memlimit_kib);
    return sealer_derive(passphrase, opslimit, memlimit_kib, out);
}

offpay_err offpay__wallet_sealer_new(const char             *passphrase,
                                     offpay__wallet_sealer **out)
{
    return offpay__wallet_sealer_new_kdf(passphrase, OFFPAY__KDF_INTERACTIVE,
                                         out);
}

void offpay__wallet_sealer_free(offpay__wallet_sealer *s)
{
    if (s != NULL)
        sodium_free(s); /* zeroes the key */
}

offpay_err offpay__wallet_sealer_save(const offpay__wallet_sealer *s,
                                      const char *path, const uint8_t *plain,
                                      size_t len)
{
    uint8_t   *image = NULL;
    size_t     image_len = 0;
    offpay_err rc;

    if (s == NULL || path == NULL || (plain == NULL && len > 0))
        return OFFPAY_EINVAL;
    rc = seal_with(s, plain, len, &image, &image_len);
    if (rc == OFFPAY_OK)
        rc = offpay__file_write_atomic(path, image, image_len);
    free(image);
    return rc;
}

offpay_err offpay__wallet_seal(const char *passphrase, const uint8_t *plain,
                               size_t plain_len, uint8_t **out, size_t *out_len)
{
    offpay__wallet_sealer *s = NULL;
    offpay_err             rc;

    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (passphrase == NULL || (plain == NULL && plain_len > 0) || out == NULL ||
        out_len == NULL)
        return OFFPAY_EINVAL;
    if (plain_len > OFFPAY__WALLET_PLAIN_MAX)
        return OFFPAY_ETOOBIG;
    rc = offpay__wallet_sealer_new_kdf(passphrase, OFFPAY__KDF_INTERACTIVE, &s);
    if (rc == OFFPAY_OK)
        rc = seal_with(s, plain, plain_len, out, out_len);
    offpay__wallet_sealer_free(s);
    return rc;
}

/* Structural checks of a file image, in file order, before any KDF work.
 * On success fills the KDF parameters and the ciphertext length. */
static offpay_err parse_header(const uint8_t *file, size_t file_len,
                               uint32_t *opslimit, uint32_t *memlimit_kib,
                               uint32_t *ct_len)
{
    if (file_len < OFFPAY__WALLET_HEADER_BYTES)
        return OFFPAY_ECORRUPT; /* truncated inside the header */
    if (memcmp(file, OFFPAY__WALLET_MAGIC, OFFPAY__WALLET_MAGIC_BYTES) != 0 ||
        file[OFFPAY__WALLET_OFF_VERSION] != OFFPAY__WALLET_VERSION ||
        file[OFFPAY__WALLET_OFF_KDF] != OFFPAY__WALLET_KDF_ARGON2ID)
        return OFFPAY_ECORRUPT;
    *opslimit = get_u32(file + OFFPAY__WALLET_OFF_OPSLIMIT);
    *memlimit_kib = get_u32(file + OFFPAY__WALLET_OFF_MEMLIMIT);
    *ct_len = get_u32(file + OFFPAY__WALLET_OFF_CT_LEN);
    if (*opslimit < crypto_pwhash_OPSLIMIT_MIN ||
        *opslimit > OFFPAY__WALLET_OPSLIMIT_MAX ||
        *memlimit_kib < OFFPAY__WALLET_MEMLIMIT_KIB_MIN ||
        *memlimit_kib > OFFPAY__WALLET_MEMLIMIT_KIB_MAX)
        return OFFPAY_ECORRUPT;
    if (*ct_len < OFFPAY__WALLET_TAG_BYTES ||
        *ct_len - OFFPAY__WALLET_TAG_BYTES > OFFPAY__WALLET_PLAIN_MAX)
        return OFFPAY_ECORRUPT;
    /* Exactly header + ciphertext: shorter is truncated, longer trailing. */
    if (file_len - OFFPAY__WALLET_HEADER_BYTES != *ct_len)
        return OFFPAY_ECORRUPT;
    return OFFPAY_OK;
}

/* The AEAD step of opening, shared by open_image and
 * offpay__wallet_sealer_open: decrypts the ciphertext of a file whose header
 * parse_header accepted (ct_len its ciphertext length) under s's key into
 * a sodium_malloc'd *plain. */
static offpay_err decrypt_image(const offpay__wallet_sealer *s,
                                const uint8_t *file, uint32_t ct_len,
                                uint8_t **plain, size_t *plain_len)
{
    size_t m_len = ct_len - OFFPAY__WALLET_TAG_BYTES;
    /* sodium_malloc(0) is not guaranteed to return a usable pointer. */
    uint8_t *m = sodium_malloc(m_len > 0 ? m_len : 1);

    if (m == NULL)
        return OFFPAY_ENOMEM;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            m, NULL, NULL, file + OFFPAY__WALLET_HEADER_BYTES, ct_len, file,
            OFFPAY__WALLET_HEADER_BYTES, file + OFFPAY__WALLET_OFF_NONCE,
            s->key) != 0) {
        offpay__wallet_plain_free(m, m_len);
        return OFFPAY_EPASSPHRASE;
    }
    *plain = m;
    *plain_len = m_len;
    return OFFPAY_OK;
}

/* Opens a file image; on success also returns the sealer (derived key,
 * salt, parameters) when sealer_out is not NULL. */
static offpay_err open_image(const uint8_t *file, size_t file_len,
                             const char *passphrase, uint8_t **plain,
                             size_t                 *plain_len,
                             offpay__wallet_sealer **sealer_out)
{
    offpay__wallet_sealer *s = NULL;
    uint32_t               opslimit = 0, memlimit_kib = 0, ct_len = 0;
    offpay_err             rc;

    if (plain != NULL)
        *plain = NULL;
    if (plain_len != NULL)
        *plain_len = 0;
    if (file == NULL || passphrase == NULL || plain == NULL ||
        plain_len == NULL)
        return OFFPAY_EINVAL;

    rc = parse_header(file, file_len, &opslimit, &memlimit_kib, &ct_len);
    if (rc != OFFPAY_OK)
        goto out;
    s = sodium_malloc(sizeof *s);
    if (s == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    s->opslimit = opslimit;
    s->memlimit_kib = memlimit_kib;
    memcpy(s->salt, file + OFFPAY__WALLET_OFF_SALT, sizeof s->salt);
    rc = derive_key(s->key, passphrase, s->salt, opslimit, memlimit_kib);
    if (rc != OFFPAY_OK)
        goto out;
    rc = decrypt_image(s, file, ct_len, plain, plain_len);
    if (rc != OFFPAY_OK)
        goto out;
    if (sealer_out != NULL) {
        *sealer_out = s;
        s = NULL;
    }
out:
    offpay__wallet_sealer_free(s);
    return rc;
}

offpay_err offpay__wallet_sealer_seal(const offpay__wallet_sealer *s,
                                      const uint8_t *plain, size_t plain_len,
                                      uint8_t **out, size_t *out_len)
{
    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (s == NULL || (plain == NULL && plain_len > 0) || out == NULL ||
        out_len == NULL)
        return OFFPAY_EINVAL;
    return seal_with(s, plain, plain_len, out, out_len);
}

offpay_err offpay__wallet_sealer_open(const offpay__wallet_sealer *s,
                                      const uint8_t *file, size_t file_len,
                                      uint8_t **plain, size_t *plain_len)
{
    uint32_t   opslimit = 0, memlimit_kib = 0, ct_len = 0;
    offpay_err rc;

    if (plain != NULL)
        *plain = NULL;
    if (plain_len != NULL)
        *plain_len = 0;
    if (s == NULL || file == NULL || plain == NULL || plain_len == NULL)
        return OFFPAY_EINVAL;
    rc = parse_header(file, file_len, &opslimit, &memlimit_kib, &ct_len);
    if (rc != OFFPAY_OK)
        return rc;
    /* Another salt or cost means another key: not this sealer's file. */
    if (opslimit != s->opslimit || memlimit_kib != s->memlimit_kib ||
        sodium_memcmp(file + OFFPAY__WALLET_OFF_SALT, s->salt,
                      sizeof s->salt) != 0)
        return OFFPAY_EPASSPHRASE;
    return decrypt_image(s, file, ct_len, plain, plain_len);
}

offpay_err offpay__wallet_open(const uint8_t *file, size_t file_len,
                               const char *passphrase, uint8_t **plain,
                               size_t *plain_len)
{
    return open_image(file, file_len, passphrase, plain, plain_len, NULL);
}

void offpay__wallet_plain_free(uint8_t *plain, size_t plain_len)
{
    if (plain == NULL)
        return;
    /* sodium_free also zeroes, but the explicit wipe states the intent. */
    sodium_memzero(plain, plain_len);
    sodium_free(plain);
}

/* ---- convenience ------------------------------------------------------- */

offpay_err offpay__wallet_file_save(const char *path, const char *passphrase,
                                    const uint8_t *plain, size_t len)
{
    uint8_t   *image = NULL;
    size_t     image_len = 0;
    offpay_err rc;

    if (path == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__wallet_seal(passphrase, plain, len, &image, &image_len);
    if (rc != OFFPAY_OK)
        goto out;
    rc = offpay__file_write_atomic(path, image, image_len);
out:
    free(image);
    return rc;
}

offpay_err offpay__wallet_file_load(const char *path, const char *passphrase,
                                    uint8_t **plain, size_t *len)
{
    return offpay__wallet_sealer_load_kdf(
        path, passphrase, OFFPAY__KDF_INTERACTIVE, plain, len, NULL);
}

offpay_err offpay__wallet_sealer_load(const char *path, const char *passphrase,
                                      uint8_t **plain, size_t *len,
                                      offpay__wallet_sealer **sealer)
{
    return offpay__wallet_sealer_load_kdf(
        path, passphrase, OFFPAY__KDF_INTERACTIVE, plain, len, sealer);
}

/* When *s was derived with a lower cost than the default of strength (in
 * either dimension), replaces it with a sealer at the higher of the two in
 * each dimension and a fresh salt, so the next save upgrades the file.
 * Never lowers a cost. */
static offpay_err reseal_if_weak(offpay__wallet_sealer **s,
                                 const char             *passphrase,
                                 offpay__kdf_strength    strength)
{
    offpay__wallet_sealer *stronger = NULL;
    uint32_t               opslimit = 0, memlimit_kib = 0;
    offpay_err             rc;

    offpay__kdf_cost(strength, &opslimit, &memlimit_kib);
    if ((*s)->opslimit >= opslimit && (*s)->memlimit_kib >= memlimit_kib)
        return OFFPAY_OK;
    if ((*s)->opslimit > opslimit)
        opslimit = (*s)->opslimit;
    if ((*s)->memlimit_kib > memlimit_kib)
        memlimit_kib = (*s)->memlimit_kib;
    rc = sealer_derive(passphrase, opslimit, memlimit_kib, &stronger);
    if (rc != OFFPAY_OK)
        return rc;
    offpay__wallet_sealer_free(*s);
    *s = stronger;
    return OFFPAY_OK;
}

offpay_err offpay__wallet_sealer_load_kdf(const char          *path,
                                          const char          *passphrase,
                                          offpay__kdf_strength strength,
                                          uint8_t **plain, size_t *len,
                                          offpay__wallet_sealer **sealer)
{
    uint8_t               *image = NULL;
    size_t                 image_len = 0;
    offpay__wallet_sealer *s = NULL;
    offpay_err             rc;

    if (plain != NULL)
        *plain = NULL;
    if (len != NULL)
        *len = 0;
    if (sealer != NULL)
        *sealer = NULL;
    if (path == NULL || passphrase == NULL || plain == NULL || len == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__file_read(path, OFFPAY__WALLET_FILE_MAX, &image, &image_len);
    if (rc == OFFPAY_ETOOBIG)
        rc = OFFPAY_ECORRUPT; /* no well-formed wallet file is that large */
    if (rc != OFFPAY_OK)
        goto out;
    rc = open_image(image, image_len, passphrase, plain, len,
                    sealer != NULL ? &s : NULL);
    if (rc != OFFPAY_OK || sealer == NULL)
        goto out;
    rc = reseal_if_weak(&s, passphrase, strength);
    if (rc != OFFPAY_OK) {
        offpay__wallet_plain_free(*plain, *len);
        *plain = NULL;
        *len = 0;
        goto out;
    }
    *sealer = s;
    s = NULL;
out:
    offpay__wallet_sealer_free(s);
    free(image);
    return rc;
}
