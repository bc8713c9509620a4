/*
 * test_wallet_file.c — the wallet's encrypted file format and the atomic
 * file replace (src/wallet/wallet_file.c): round trips, every header field
 * corrupted, truncation at every length, hostile KDF parameters, fault
 * injection at every step of the atomic write, and a SIGKILL crash test.
 *
 * Every test sets OFFPAY_KDF_COST=test first so Argon2 runs at its minimum
 * cost (1 pass, 8 MiB).
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/oserr.h"
#include "offpay/issuer.h"
#include "offpay/terminal.h"
#include "offpay/wallet.h"
#include "wallet/wallet_file.h"

#define PASS "correct horse battery staple"
static const uint8_t sample_plain[] = "hello wallet: 12 credentials";

/* Minimum KDF cost for the test that calls it. */
static void fast_kdf(void)
{
    setenv("OFFPAY_KDF_COST", "test", 1);
}

/* A fresh directory tmpdir/name for one test; returns a static buffer. */
static const char *test_dir(const char *name)
{
    static char dir[512];

    snprintf(dir, sizeof dir, "%s/%s", offpay_test_tmpdir(), name);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        perror(dir);
        exit(2);
    }
    return dir;
}

/* Number of directory entries of dir whose name ends in ".tmp". */
static int count_tmp_files(const char *dir)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    int            n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l >= 4 && strcmp(e->d_name + l - 4, ".tmp") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void set_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * A wallet file image built here from the format description in
 * wallet_file.c, with any KDF cost and any passphrase (even one the
 * library would refuse for a new file): a file "sealed elsewhere or
 * earlier". *img is malloc'd. Returns 1 on success.
 */
static int raw_seal(const char *pass, uint32_t ops, uint32_t mem_kib,
                    const uint8_t *plain, size_t plain_len, uint8_t **img,
                    size_t *len)
{
    uint8_t  key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    size_t   n = OFFPAY__WALLET_HEADER_BYTES + plain_len + 16;
    uint8_t *b = malloc(n);
    int      ok;

    if (b == NULL)
        return 0;
    memcpy(b, OFFPAY__WALLET_MAGIC, OFFPAY__WALLET_MAGIC_BYTES);
    b[OFFPAY__WALLET_OFF_VERSION] = OFFPAY__WALLET_VERSION;
    b[OFFPAY__WALLET_OFF_KDF] = OFFPAY__WALLET_KDF_ARGON2ID;
    set_be32(b + OFFPAY__WALLET_OFF_OPSLIMIT, ops);
    set_be32(b + OFFPAY__WALLET_OFF_MEMLIMIT, mem_kib);
    randombytes_buf(b + OFFPAY__WALLET_OFF_SALT, OFFPAY__WALLET_SALT_BYTES);
    randombytes_buf(b + OFFPAY__WALLET_OFF_NONCE, OFFPAY__WALLET_NONCE_BYTES);
    set_be32(b + OFFPAY__WALLET_OFF_CT_LEN, (uint32_t)(plain_len + 16));
    ok = crypto_pwhash(
             key, sizeof key, pass, strlen(pass), b + OFFPAY__WALLET_OFF_SALT,
             ops, (size_t)mem_kib * 1024u, crypto_pwhash_ALG_ARGON2ID13) == 0 &&
         crypto_aead_xchacha20poly1305_ietf_encrypt(
             b + OFFPAY__WALLET_HEADER_BYTES, NULL, plain, plain_len, b,
             OFFPAY__WALLET_HEADER_BYTES, NULL, b + OFFPAY__WALLET_OFF_NONCE,
             key) == 0;
    sodium_memzero(key, sizeof key);
    if (!ok) {
        free(b);
        return 0;
    }
    *img = b;
    *len = n;
    return 1;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens img with PASS and returns the error; frees any plaintext. */
static offpay_err open_rc(const uint8_t *img, size_t len)
{
    uint8_t   *plain = NULL;
    size_t     plain_len = 0;
    offpay_err rc = offpay__wallet_open(img, len, PASS, &plain, &plain_len);

    if (rc != OFFPAY_OK && (plain != NULL || plain_len != 0))
        rc = OFFPAY_ERANGE; /* outputs must be cleared on failure */
    offpay__wallet_plain_free(plain, plain_len);
    return rc;
}

/* Round trips of several sizes, header contents, fresh salt and nonce. */
static void test_round_trip(void)
{
    static const size_t sizes[] = {0, 1, 16, 1000, OFFPAY__WALLET_PLAIN_MAX};
    uint8_t            *big = malloc(OFFPAY__WALLET_PLAIN_MAX);

    fast_kdf();
    REQUIRE(big != NULL);
    randombytes_buf(big, OFFPAY__WALLET_PLAIN_MAX);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *img = NULL, *plain = NULL;
        size_t   img_len = 0, plain_len = 0;
        size_t   n = sizes[i];

        CHECK_ERR(offpay__wallet_seal(PASS, n ? big : NULL, n, &img, &img_len),
                  OFFPAY_OK);
        if (img == NULL)
            continue;
        CHECK(img_len == OFFPAY__WALLET_HEADER_BYTES + 16 + n);
        CHECK(memcmp(img, "OPWALLET", 8) == 0);
        CHECK(img[OFFPAY__WALLET_OFF_VERSION] == 1);
        CHECK(img[OFFPAY__WALLET_OFF_KDF] == 1);
        CHECK(be32(img + OFFPAY__WALLET_OFF_OPSLIMIT) ==
              crypto_pwhash_OPSLIMIT_MIN);
        CHECK(be32(img + OFFPAY__WALLET_OFF_MEMLIMIT) == 8192);
        CHECK(be32(img + OFFPAY__WALLET_OFF_CT_LEN) == n + 16);
        CHECK_ERR(offpay__wallet_open(img, img_len, PASS, &plain, &plain_len),
                  OFFPAY_OK);
        CHECK(plain != NULL);
        CHECK(plain_len == n);
        if (plain != NULL && plain_len == n && n > 0)
            CHECK(memcmp(plain, big, n) == 0);
        offpay__wallet_plain_free(plain, plain_len);
        free(img);
    }
    free(big);

    /* Two seals of the same plaintext share nothing random. */
    {
        uint8_t *a = NULL, *b = NULL;
        size_t   al = 0, bl = 0;

        REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, sizeof sample_plain,
                                       &a, &al));
        CHECK_ERR(offpay__wallet_seal(PASS, sample_plain, sizeof sample_plain,
                                      &b, &bl),
                  OFFPAY_OK);
        if (b != NULL) {
            CHECK(al == bl);
            CHECK(memcmp(a + OFFPAY__WALLET_OFF_SALT,
                         b + OFFPAY__WALLET_OFF_SALT, 16) != 0);
            CHECK(memcmp(a + OFFPAY__WALLET_OFF_NONCE,
                         b + OFFPAY__WALLET_OFF_NONCE, 24) != 0);
            CHECK(memcmp(a + OFFPAY__WALLET_HEADER_BYTES,
                         b + OFFPAY__WALLET_HEADER_BYTES,
                         al - OFFPAY__WALLET_HEADER_BYTES) != 0);
        }
        free(a);
        free(b);
    }
}

/* save + load through the file system. */
static void test_file_round_trip(void)
{
    char     path[600];
    uint8_t *plain = NULL;
    size_t   len = 0;

    fast_kdf();
    snprintf(path, sizeof path, "%s/wallet", test_dir("file_round_trip"));
    REQUIRE_OK(offpay__wallet_file_save(path, PASS, sample_plain,
                                        sizeof sample_plain));
    REQUIRE_OK(offpay__wallet_file_load(path, PASS, &plain, &len));
    CHECK(len == sizeof sample_plain);
    CHECK(memcmp(plain, sample_plain, sizeof sample_plain) == 0);
    offpay__wallet_plain_free(plain, len);
    plain = NULL;

    /* Saving again replaces the file. */
    REQUIRE_OK(offpay__wallet_file_save(path, PASS, (const uint8_t *)"v2", 2));
    REQUIRE_OK(offpay__wallet_file_load(path, PASS, &plain, &len));
    CHECK(len == 2 && memcmp(plain, "v2", 2) == 0);
    offpay__wallet_plain_free(plain, len);
    plain = NULL;

    CHECK_ERR(offpay__wallet_file_load(path, "wrong", &plain, &len),
              OFFPAY_EPASSPHRASE);
    CHECK(plain == NULL && len == 0);
    CHECK(count_tmp_files(test_dir("file_round_trip")) == 0);
}

/* Unset (or unknown) OFFPAY_KDF_COST means the interactive cost. */
static void test_default_cost(void)
{
    uint8_t *img = NULL;
    size_t   len = 0;

    setenv("OFFPAY_KDF_COST", "fast-please", 1); /* not "test": ignored */
    CHECK_ERR(offpay__wallet_seal(PASS, sample_plain, 4, &img, &len),
              OFFPAY_OK);
    fast_kdf();
    REQUIRE(img != NULL);
    CHECK(be32(img + OFFPAY__WALLET_OFF_OPSLIMIT) ==
          crypto_pwhash_OPSLIMIT_INTERACTIVE);
    CHECK(be32(img + OFFPAY__WALLET_OFF_MEMLIMIT) ==
          crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024);
    /* Opening uses the file's parameters, whatever the environment says. */
    CHECK_ERR(open_rc(img, len), OFFPAY_OK);
    free(img);
}

static void test_wrong_passphrase(void)
{
    uint8_t *img = NULL, *plain = NULL;
    size_t   len = 0, plain_len = 7;

    fast_kdf();
    REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, sizeof sample_plain,
                                   &img, &len));
    CHECK_ERR(offpay__wallet_open(img, len, "correct horse battery stapl",
                                  &plain, &plain_len),
              OFFPAY_EPASSPHRASE);
    CHECK(plain == NULL && plain_len == 0);
    CHECK_ERR(offpay__wallet_open(img, len, "", &plain, &plain_len),
              OFFPAY_EPASSPHRASE);
    free(img);

    /* A file sealed before the passphrase rule, with a short (here empty)
     * passphrase, still opens with it. */
    REQUIRE(raw_seal("", 1, OFFPAY__WALLET_TEST_MEMLIMIT_KIB, sample_plain, 3,
                     &img, &len));
    CHECK_ERR(offpay__wallet_open(img, len, "", &plain, &plain_len), OFFPAY_OK);
    offpay__wallet_plain_free(plain, plain_len);
    plain = NULL;
    CHECK_ERR(offpay__wallet_open(img, len, " ", &plain, &plain_len),
              OFFPAY_EPASSPHRASE);
    free(img);
}

static void test_bad_arguments(void)
{
    uint8_t *img = NULL, *plain = NULL;
    size_t   len = 0, plain_len = 0;
    uint8_t  one = 0;

    fast_kdf();
    CHECK_ERR(offpay__wallet_seal(NULL, sample_plain, 1, &img, &len),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_seal(PASS, NULL, 1, &img, &len), OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_seal(PASS, sample_plain, 1, NULL, &len),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_seal(PASS, sample_plain, 1, &img, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_open(NULL, 0, PASS, &plain, &plain_len),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_open(&one, 1, NULL, &plain, &plain_len),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_open(&one, 1, PASS, NULL, &plain_len),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_open(&one, 1, PASS, &plain, NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay__file_write_atomic(NULL, &one, 1), OFFPAY_EINVAL);
    CHECK_ERR(offpay__file_write_atomic("", &one, 1), OFFPAY_EINVAL);
    CHECK_ERR(offpay__file_write_atomic("x", NULL, 1), OFFPAY_EINVAL);
    CHECK_ERR(offpay__file_read(NULL, 10, &img, &len), OFFPAY_EINVAL);
    CHECK_ERR(offpay__file_read("x", 10, NULL, &len), OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_file_save(NULL, PASS, &one, 1), OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_file_load(NULL, PASS, &plain, &plain_len),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__wallet_file_load("x", NULL, &plain, &plain_len),
              OFFPAY_EINVAL);
    offpay__wallet_plain_free(NULL, 0); /* no-op */
    {
        char *longpath = malloc(PATH_MAX + 10);
        REQUIRE(longpath != NULL);
        memset(longpath, 'a', PATH_MAX + 9);
        longpath[PATH_MAX + 9] = '\0';
        CHECK_ERR(offpay__file_write_atomic(longpath, &one, 1), OFFPAY_EINVAL);
        free(longpath);
    }
}

/* Plaintext limit: 1 MiB seals, one byte more does not; a file claiming
 * more is corrupt. */
static void test_size_limits(void)
{
    uint8_t *big = calloc(1, OFFPAY__WALLET_PLAIN_MAX + 1);
    uint8_t *img = NULL, *good = NULL;
    size_t   len = 0, good_len = 0;

    fast_kdf();
    REQUIRE(big != NULL);
    CHECK_ERR(offpay__wallet_seal(PASS, big, OFFPAY__WALLET_PLAIN_MAX + 1, &img,
                                  &len),
              OFFPAY_ETOOBIG);
    CHECK(img == NULL && len == 0);
    free(big);

    /* A consistent file (length matches) whose ciphertext is 1 byte too
     * long for the limit: rejected before the KDF. */
    len = OFFPAY__WALLET_HEADER_BYTES + 16 + OFFPAY__WALLET_PLAIN_MAX + 1;
    img = calloc(1, len);
    REQUIRE(img != NULL);
    REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, 1, &good, &good_len));
    memcpy(img, good, OFFPAY__WALLET_HEADER_BYTES);
    free(good);
    set_be32(img + OFFPAY__WALLET_OFF_CT_LEN,
             (uint32_t)(len - OFFPAY__WALLET_HEADER_BYTES));
    CHECK_ERR(open_rc(img, len), OFFPAY_ECORRUPT);
    free(img);
}

/* Each header field corrupted gives the documented error: structural
 * damage is OFFPAY_ECORRUPT (found before the KDF); damage that still
 * parses fails authentication, OFFPAY_EPASSPHRASE. */
static void test_header_fields(void)
{
    static const struct {
        const char *what;
        size_t      off;
        int         u32;   /* 1: set a u32 field, 0: set a byte */
        uint32_t    value; /* new value */
        offpay_err  want;
    } cases[] = {
        {"version 0", OFFPAY__WALLET_OFF_VERSION, 0, 0, OFFPAY_ECORRUPT},
        {"version 2", OFFPAY__WALLET_OFF_VERSION, 0, 2, OFFPAY_ECORRUPT},
        {"version 255", OFFPAY__WALLET_OFF_VERSION, 0, 255, OFFPAY_ECORRUPT},
        {"kdf 0", OFFPAY__WALLET_OFF_KDF, 0, 0, OFFPAY_ECORRUPT},
        {"kdf 2", OFFPAY__WALLET_OFF_KDF, 0, 2, OFFPAY_ECORRUPT},
        {"opslimit 0", OFFPAY__WALLET_OFF_OPSLIMIT, 1, 0, OFFPAY_ECORRUPT},
        {"opslimit 17", OFFPAY__WALLET_OFF_OPSLIMIT, 1, 17, OFFPAY_ECORRUPT},
        {"opslimit 2^32-1", OFFPAY__WALLET_OFF_OPSLIMIT, 1, 0xffffffffu,
         OFFPAY_ECORRUPT},
        {"opslimit 2 (in bounds)", OFFPAY__WALLET_OFF_OPSLIMIT, 1, 2,
         OFFPAY_EPASSPHRASE},
        {"opslimit 16 (upper bound)", OFFPAY__WALLET_OFF_OPSLIMIT, 1, 16,
         OFFPAY_EPASSPHRASE},
        {"memlimit 0", OFFPAY__WALLET_OFF_MEMLIMIT, 1, 0, OFFPAY_ECORRUPT},
        {"memlimit 8191 KiB", OFFPAY__WALLET_OFF_MEMLIMIT, 1, 8191,
         OFFPAY_ECORRUPT},
        {"memlimit 1 GiB + 1 KiB", OFFPAY__WALLET_OFF_MEMLIMIT, 1, 1048577,
         OFFPAY_ECORRUPT},
        {"memlimit 2^32-1 KiB", OFFPAY__WALLET_OFF_MEMLIMIT, 1, 0xffffffffu,
         OFFPAY_ECORRUPT},
        {"memlimit 8193 KiB (in bounds)", OFFPAY__WALLET_OFF_MEMLIMIT, 1, 8193,
         OFFPAY_EPASSPHRASE},
        {"ct_len 0", OFFPAY__WALLET_OFF_CT_LEN, 1, 0, OFFPAY_ECORRUPT},
        {"ct_len 15", OFFPAY__WALLET_OFF_CT_LEN, 1, 15, OFFPAY_ECORRUPT},
        {"ct_len 2^32-1", OFFPAY__WALLET_OFF_CT_LEN, 1, 0xffffffffu,
         OFFPAY_ECORRUPT},
        {"ct_len over limit", OFFPAY__WALLET_OFF_CT_LEN, 1,
         OFFPAY__WALLET_PLAIN_MAX + 17, OFFPAY_ECORRUPT},
    };
    uint8_t *img = NULL, *bad = NULL;
    size_t   len = 0;
    uint32_t ct_len;

    fast_kdf();
    REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, sizeof sample_plain,
                                   &img, &len));
    bad = malloc(len + 1);
    REQUIRE(bad != NULL);
    ct_len = be32(img + OFFPAY__WALLET_OFF_CT_LEN);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        offpay_err got;

        memcpy(bad, img, len);
        if (cases[i].u32)
            set_be32(bad + cases[i].off, cases[i].value);
        else
            bad[cases[i].off] = (uint8_t)cases[i].value;
        got = open_rc(bad, len);
        if (got != cases[i].want) {
            fprintf(stderr, "  header case '%s': got %s, want %s\n",
                    cases[i].what, offpay_errname(got),
                    offpay_errname(cases[i].want));
            offpay_test_failures++;
        }
    }

    /* ct_len off by one either way disagrees with the file length. */
    memcpy(bad, img, len);
    set_be32(bad + OFFPAY__WALLET_OFF_CT_LEN, ct_len - 1);
    CHECK_ERR(open_rc(bad, len), OFFPAY_ECORRUPT);
    set_be32(bad + OFFPAY__WALLET_OFF_CT_LEN, ct_len + 1);
    CHECK_ERR(open_rc(bad, len), OFFPAY_ECORRUPT);
    /* ...but a byte appended together with ct_len + 1 is structurally
     * fine, and the changed header fails authentication. */
    bad[len] = 0;
    CHECK_ERR(open_rc(bad, len + 1), OFFPAY_EPASSPHRASE);

    /* Every byte of magic, salt and nonce, one bit flipped. */
    for (size_t off = 0; off < OFFPAY__WALLET_OFF_CT_LEN; off++) {
        offpay_err want;

        if (off < OFFPAY__WALLET_MAGIC_BYTES)
            want = OFFPAY_ECORRUPT;
        else if (off >= OFFPAY__WALLET_OFF_SALT)
            want = OFFPAY_EPASSPHRASE;
        else
            continue; /* version, kdf, limits: covered by the table */
        memcpy(bad, img, len);
        bad[off] ^= (uint8_t)(1u << (off % 8));
        if (open_rc(bad, len) != want) {
            fprintf(stderr, "  header byte %zu flipped: want %s\n", off,
                    offpay_errname(want));
            offpay_test_failures++;
        }
    }
    free(bad);
    free(img);
}

/* Any change to the ciphertext or tag fails authentication. */
static void test_ciphertext_bit_flip(void)
{
    uint8_t *img = NULL;
    size_t   len = 0;

    fast_kdf();
    REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, 8, &img, &len));
    for (size_t off = OFFPAY__WALLET_HEADER_BYTES; off < len; off++) {
        offpay_err got;

        img[off] ^= (uint8_t)(0x80u >> (off % 8));
        got = open_rc(img, len);
        img[off] ^= (uint8_t)(0x80u >> (off % 8));
        if (got != OFFPAY_EPASSPHRASE) {
            fprintf(stderr, "  ciphertext byte %zu flipped: got %s\n", off,
                    offpay_errname(got));
            offpay_test_failures++;
        }
    }
    CHECK_ERR(open_rc(img, len), OFFPAY_OK); /* restored */
    free(img);
}

/* Every proper prefix is corrupt (before any KDF work); a byte added is
 * corrupt; ciphertext cut consistently with ct_len fails authentication. */
static void test_truncation_and_trailing(void)
{
    uint8_t *img = NULL, *bad = NULL;
    size_t   len = 0;
    double   t0;

    fast_kdf();
    REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, sizeof sample_plain,
                                   &img, &len));
    bad = malloc(len + 1);
    REQUIRE(bad != NULL);

    t0 = now_seconds();
    for (size_t cut = 0; cut < len; cut++) {
        /* A fresh exact-size copy so ASan catches any read past the end. */
        uint8_t *p = malloc(cut > 0 ? cut : 1);
        REQUIRE(p != NULL);
        memcpy(p, img, cut);
        if (open_rc(p, cut) != OFFPAY_ECORRUPT) {
            fprintf(stderr, "  truncated to %zu: not ECORRUPT\n", cut);
            offpay_test_failures++;
        }
        free(p);
    }
    CHECK(now_seconds() - t0 < 2.0); /* no KDF ran */

    memcpy(bad, img, len);
    bad[len] = 0;
    CHECK_ERR(open_rc(bad, len + 1), OFFPAY_ECORRUPT);
    bad[len] = 0xff;
    CHECK_ERR(open_rc(bad, len + 1), OFFPAY_ECORRUPT);

    for (size_t ct = 0; ct < len - OFFPAY__WALLET_HEADER_BYTES; ct++) {
        memcpy(bad, img, OFFPAY__WALLET_HEADER_BYTES + ct);
        set_be32(bad + OFFPAY__WALLET_OFF_CT_LEN, (uint32_t)ct);
        CHECK_ERR(open_rc(bad, OFFPAY__WALLET_HEADER_BYTES + ct),
                  ct < 16 ? OFFPAY_ECORRUPT : OFFPAY_EPASSPHRASE);
    }
    free(bad);
    free(img);
}

/* Hostile KDF parameters are refused at once, not after minutes of Argon2
 * or a 4 GiB allocation. */
static void test_hostile_kdf_params(void)
{
    uint8_t *img = NULL;
    size_t   len = 0;
    double   t0;

    fast_kdf();
    REQUIRE_OK(offpay__wallet_seal(PASS, sample_plain, sizeof sample_plain,
                                   &img, &len));
    t0 = now_seconds();
    for (int i = 0; i < 100; i++) {
        set_be32(img + OFFPAY__WALLET_OFF_MEMLIMIT, 0xffffffffu);
        CHECK_ERR(open_rc(img, len), OFFPAY_ECORRUPT);
        set_be32(img + OFFPAY__WALLET_OFF_MEMLIMIT, 4u * 1024u * 1024u);
        CHECK_ERR(open_rc(img, len), OFFPAY_ECORRUPT); /* 4 GiB */
        set_be32(img + OFFPAY__WALLET_OFF_MEMLIMIT, 8192);
        set_be32(img + OFFPAY__WALLET_OFF_OPSLIMIT, 0xffffffffu);
        CHECK_ERR(open_rc(img, len), OFFPAY_ECORRUPT);
        set_be32(img + OFFPAY__WALLET_OFF_OPSLIMIT, 1);
    }
    /* 300 rejections in far less time than 300 minimum-cost Argon2 runs
     * (about 3 ms each) would take: no KDF ran. */
    CHECK(now_seconds() - t0 < 0.5);
    CHECK_ERR(open_rc(img, len), OFFPAY_OK);
    free(img);
}

/* Records the steps of offpay__file_write_atomic and fails fail_at. */
static char        steps[256];
static const char *fail_at;

static int record_step(const char *step)
{
    size_t n = strlen(steps);

    snprintf(steps + n, sizeof steps - n, "%s%s", n ? " " : "", step);
    return fail_at != NULL && strcmp(step, fail_at) == 0;
}

/* Atomic write: content, mode 0600 (even replacing a 0644 file), no .tmp
 * left, and every step ran, the directory fsync included. */
static void test_atomic_write(void)
{
    const char *dir = test_dir("atomic_write");
    char        path[600];
    struct stat st;
    char       *got;
    size_t      got_len = 0;
    FILE       *f;

    fast_kdf();
    snprintf(path, sizeof path, "%s/data", dir);
    f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs("old", f);
    fclose(f);
    REQUIRE(chmod(path, 0644) == 0);

    steps[0] = '\0';
    fail_at = NULL;
    offpay__file_fault_hook = record_step;
    CHECK_ERR(offpay__file_write_atomic(path, (const uint8_t *)"new data", 8),
              OFFPAY_OK);
    offpay__file_fault_hook = NULL;
    CHECK(strcmp(steps, "open write fsync close rename dirsync") == 0);

    got = offpay_test_read_file(path, &got_len);
    REQUIRE(got != NULL);
    CHECK(got_len == 8 && memcmp(got, "new data", 8) == 0);
    free(got);
    REQUIRE(stat(path, &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(count_tmp_files(dir) == 0);

    /* Empty contents are fine, data may be NULL. */
    CHECK_ERR(offpay__file_write_atomic(path, NULL, 0), OFFPAY_OK);
    REQUIRE(stat(path, &st) == 0);
    CHECK(st.st_size == 0);

    /* A relative path (directory ".") works too. */
    {
        char cwd[600];
        REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
        REQUIRE(chdir(dir) == 0);
        CHECK_ERR(offpay__file_write_atomic("rel", (const uint8_t *)"r", 1),
                  OFFPAY_OK);
        REQUIRE(chdir(cwd) == 0);
        snprintf(path, sizeof path, "%s/rel", dir);
        got = offpay_test_read_file(path, &got_len);
        CHECK(got != NULL && got_len == 1 && got[0] == 'r');
        free(got);
    }

    /* A stale .tmp left by a crash is simply overwritten. */
    snprintf(path, sizeof path, "%s/data.tmp", dir);
    f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs("stale stale stale", f);
    fclose(f);
    REQUIRE(chmod(path, 0644) == 0);
    snprintf(path, sizeof path, "%s/data", dir);
    CHECK_ERR(offpay__file_write_atomic(path, (const uint8_t *)"x", 1),
              OFFPAY_OK);
    CHECK(count_tmp_files(dir) == 0);
    REQUIRE(stat(path, &st) == 0);
    CHECK((st.st_mode & 07777) == 0600); /* not the stale file's 0644 */
}

/* A failure at any step before the rename leaves the old file intact and
 * no .tmp; a failed directory fsync reports EIO after the replace. */
static void test_atomic_write_faults(void)
{
    static const char *pre_rename[] = {"open", "write", "fsync", "close",
                                       "rename"};
    const char        *dir = test_dir("atomic_faults");
    char               path[600];
    char              *got;
    size_t             got_len = 0;

    fast_kdf();
    snprintf(path, sizeof path, "%s/data", dir);
    REQUIRE_OK(offpay__file_write_atomic(path, (const uint8_t *)"old", 3));
    offpay__file_fault_hook = record_step;
    for (size_t i = 0; i < sizeof pre_rename / sizeof pre_rename[0]; i++) {
        steps[0] = '\0';
        fail_at = pre_rename[i];
        CHECK_ERR(offpay__file_write_atomic(path, (const uint8_t *)"new", 3),
                  OFFPAY_EIO);
        got = offpay_test_read_file(path, &got_len);
        if (got == NULL || got_len != 3 || memcmp(got, "old", 3) != 0) {
            fprintf(stderr, "  fault at %s: old file not intact\n", fail_at);
            offpay_test_failures++;
        }
        free(got);
        if (count_tmp_files(dir) != 0) {
            fprintf(stderr, "  fault at %s: .tmp left\n", fail_at);
            offpay_test_failures++;
        }
    }
    steps[0] = '\0';
    fail_at = "dirsync";
    CHECK_ERR(offpay__file_write_atomic(path, (const uint8_t *)"new", 3),
              OFFPAY_EIO);
    offpay__file_fault_hook = NULL;
    fail_at = NULL;
    got = offpay_test_read_file(path, &got_len);
    CHECK(got != NULL && got_len == 3 && memcmp(got, "new", 3) == 0);
    free(got);
    CHECK(count_tmp_files(dir) == 0);
}

/* Writing into a directory that does not exist: ENOENT, nothing created. */
static void test_atomic_write_missing_dir_is_enoent(void)
{
    const char *dir = test_dir("missing_dir");
    char        path[600], sub[600];
    struct stat st;
    DIR        *d;
    int         entries = 0;

    fast_kdf();
    snprintf(sub, sizeof sub, "%s/nope", dir);
    snprintf(path, sizeof path, "%s/nope/wallet", dir);
    CHECK_ERR(offpay__file_write_atomic(path, (const uint8_t *)"x", 1),
              OFFPAY_ENOENT);
    CHECK_ERR(offpay__wallet_file_save(path, PASS, sample_plain, 4),
              OFFPAY_ENOENT);
    CHECK(stat(sub, &st) != 0 && errno == ENOENT);
    d = opendir(dir);
    REQUIRE(d != NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            entries++;
    closedir(d);
    CHECK(entries == 0);
}

static void test_file_read(void)
{
    const char    *dir = test_dir("file_read");
    char           path[600];
    static uint8_t sentinel[1];
    uint8_t       *data = sentinel; /* must be cleared on failure */
    size_t         len = 99;

    fast_kdf();
    snprintf(path, sizeof path, "%s/absent", dir);
    CHECK_ERR(offpay__file_read(path, 100, &data, &len), OFFPAY_ENOENT);
    CHECK(data == NULL && len == 0);
    CHECK_ERR(offpay__wallet_file_load(path, PASS, &data, &len), OFFPAY_ENOENT);
    CHECK_ERR(offpay__file_read(dir, 100, &data, &len), OFFPAY_EISDIR);
    CHECK(data == NULL && len == 0);

    snprintf(path, sizeof path, "%s/ten", dir);
    REQUIRE_OK(
        offpay__file_write_atomic(path, (const uint8_t *)"0123456789", 10));
    CHECK_ERR(offpay__file_read(path, 9, &data, &len), OFFPAY_ETOOBIG);
    CHECK(data == NULL);
    CHECK_ERR(offpay__file_read(path, 0, &data, &len), OFFPAY_ETOOBIG);
    CHECK_ERR(offpay__file_read(path, 10, &data, &len), OFFPAY_OK);
    CHECK(data != NULL && len == 10 && memcmp(data, "0123456789", 10) == 0);
    free(data);
    data = NULL;
    CHECK_ERR(offpay__file_read(path, (size_t)-1, &data, &len), OFFPAY_OK);
    CHECK(len == 10);
    free(data);
    data = NULL;

    snprintf(path, sizeof path, "%s/empty", dir);
    REQUIRE_OK(offpay__file_write_atomic(path, NULL, 0));
    CHECK_ERR(offpay__file_read(path, 0, &data, &len), OFFPAY_OK);
    CHECK(data != NULL && len == 0);
    free(data);
    data = NULL;
    /* An empty file is not a wallet file. */
    CHECK_ERR(offpay__wallet_file_load(path, PASS, &data, &len),
              OFFPAY_ECORRUPT);

    /* A non-regular file (no size hint) is read through the growth path
     * and still capped. */
    CHECK_ERR(offpay__file_read("/dev/zero", 100000, &data, &len),
              OFFPAY_ETOOBIG);
    CHECK(data == NULL);
    CHECK_ERR(offpay__file_read("/dev/null", 100, &data, &len), OFFPAY_OK);
    CHECK(data != NULL && len == 0);
    free(data);
    data = NULL;

    /* A file larger than any wallet file is corrupt, not read whole. */
    {
        size_t   n = OFFPAY__WALLET_FILE_MAX + 1;
        uint8_t *big = calloc(1, n);
        REQUIRE(big != NULL);
        snprintf(path, sizeof path, "%s/huge", dir);
        REQUIRE_OK(offpay__file_write_atomic(path, big, n));
        free(big);
        CHECK_ERR(offpay__wallet_file_load(path, PASS, &data, &len),
                  OFFPAY_ECORRUPT);
    }
}

/* ---- named OS errors and read-only locks -------------------------------- */

/* The one errno translation: each named cause, and EIO for the rest. */
static void test_errno_names_each_cause(void)
{
    CHECK_ERR(offpay__errno_err(ENOSPC), OFFPAY_ENOSPC);
    CHECK_ERR(offpay__errno_err(EDQUOT), OFFPAY_ENOSPC);
    CHECK_ERR(offpay__errno_err(EROFS), OFFPAY_EROFS);
    CHECK_ERR(offpay__errno_err(EACCES), OFFPAY_EACCES);
    CHECK_ERR(offpay__errno_err(EPERM), OFFPAY_EACCES);
    CHECK_ERR(offpay__errno_err(ENOENT), OFFPAY_ENOENT);
    CHECK_ERR(offpay__errno_err(EISDIR), OFFPAY_EISDIR);
    CHECK_ERR(offpay__errno_err(ENOTDIR), OFFPAY_ENOTDIR);
    CHECK_ERR(offpay__errno_err(ENOMEM), OFFPAY_ENOMEM);
    CHECK_ERR(offpay__errno_err(EWOULDBLOCK), OFFPAY_EBUSY);
    CHECK_ERR(offpay__errno_err(EIO), OFFPAY_EIO);
    CHECK_ERR(offpay__errno_err(EBADF), OFFPAY_EIO);
    CHECK_ERR(offpay__errno_err(0), OFFPAY_EIO);
}

/* A directory given as the file, and a file given as a directory: each
 * named, the directory and the file untouched, no .tmp left. */
static void test_atomic_write_isdir_and_notdir_named(void)
{
    const char *dir = test_dir("isdir_notdir");
    char        path[600], sub[600];
    uint8_t    *data = NULL;
    size_t      len = 0;
    struct stat st;

    snprintf(sub, sizeof sub, "%s/adir", dir);
    REQUIRE(mkdir(sub, 0700) == 0);
    CHECK_ERR(offpay__file_write_atomic(sub, (const uint8_t *)"x", 1),
              OFFPAY_EISDIR);
    CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(count_tmp_files(dir) == 0);

    snprintf(path, sizeof path, "%s/afile", dir);
    REQUIRE_OK(offpay__file_write_atomic(path, (const uint8_t *)"keep", 4));
    snprintf(sub, sizeof sub, "%s/afile/wallet", dir);
    CHECK_ERR(offpay__file_write_atomic(sub, (const uint8_t *)"x", 1),
              OFFPAY_ENOTDIR);
    CHECK_ERR(offpay__file_read(sub, 100, &data, &len), OFFPAY_ENOTDIR);
    CHECK_ERR(offpay__path_check_unlinked(sub), OFFPAY_ENOTDIR);
    CHECK_ERR(offpay__file_read(path, 100, &data, &len), OFFPAY_OK);
    CHECK(len == 4 && memcmp(data, "keep", 4) == 0);
    free(data);
}

/* Readers lock without creating anything: a missing lock file is no lock
 * (and is not created); an existing one is shared among readers and
 * excludes a writer, both ways. */
static void test_shared_lock_creates_nothing_and_excludes_writer(void)
{
    const char *dir = test_dir("shared_lock");
    char        path[600];
    struct stat st;
    int         r1 = -1, r2 = -1, w = -1;

    snprintf(path, sizeof path, "%s/x.lock", dir);
    CHECK_ERR(offpay__lock_acquire_shared(path, 0, &r1), OFFPAY_OK);
    CHECK(r1 == -1);
    CHECK(lstat(path, &st) != 0 && errno == ENOENT);

    REQUIRE_OK(offpay__lock_acquire(path, 0, &w));
    CHECK_ERR(offpay__lock_acquire_shared(path, 30, &r1), OFFPAY_EBUSY);
    CHECK(r1 == -1);
    offpay__lock_release(w);
    w = -1;
    CHECK_ERR(offpay__lock_acquire_shared(path, 0, &r1), OFFPAY_OK);
    CHECK_ERR(offpay__lock_acquire_shared(path, 0, &r2), OFFPAY_OK);
    CHECK(r1 >= 0 && r2 >= 0);
    CHECK_ERR(offpay__lock_acquire(path, 30, &w), OFFPAY_EBUSY);
    offpay__lock_release(r1);
    offpay__lock_release(r2);
    CHECK_ERR(offpay__lock_acquire(path, 0, &w), OFFPAY_OK);
    offpay__lock_release(w);
}

/* Real conditions on a small tmpfs (needs CAP_SYS_ADMIN, e.g. root; said
 * and skipped otherwise): a full disk makes the atomic replace fail with
 * OFFPAY_ENOSPC and the old file intact; remounted read-only, writes and
 * the writer's lock fail with OFFPAY_EROFS while reads and the reader's
 * lock work. */
static void test_full_and_readonly_disk_named(void)
{
    const char *dir = test_dir("tmpfs");
    char        path[600], lock[600], fill[600];
    uint8_t    *data = NULL, *junk;
    size_t      len = 0;
    int         fd = -1;

    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
        fprintf(stderr,
                "     SKIPPED full_and_readonly_disk_named: cannot mount a "
                "tmpfs (%s; needs root)\n",
                strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/data", dir);
    snprintf(lock, sizeof lock, "%s/data.lock", dir);
    snprintf(fill, sizeof fill, "%s/fill", dir);
    REQUIRE_OK(offpay__file_write_atomic(path, (const uint8_t *)"old", 3));
    REQUIRE_OK(offpay__lock_acquire(lock, 0, &fd));
    offpay__lock_release(fd);
    /* Fill the file system to the last page. */
    junk = calloc(1, 4096);
    REQUIRE(junk != NULL);
    fd = open(fill, O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd >= 0);
    while (write(fd, junk, 4096) > 0)
        ;
    close(fd);
    CHECK_ERR(offpay__file_write_atomic(path, junk, 4096), OFFPAY_ENOSPC);
    free(junk);
    CHECK(count_tmp_files(dir) == 0);
    CHECK_ERR(offpay__file_read(path, 100, &data, &len), OFFPAY_OK);
    CHECK(len == 3 && memcmp(data, "old", 3) == 0);
    free(data);
    data = NULL;
    /* Read-only. */
    REQUIRE(unlink(fill) == 0);
    if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        fprintf(stderr, "     SKIPPED read-only half: remount failed: %s\n",
                strerror(errno));
    } else {
        CHECK_ERR(offpay__file_write_atomic(path, (const uint8_t *)"new", 3),
                  OFFPAY_EROFS);
        CHECK_ERR(offpay__lock_acquire(lock, 0, &fd), OFFPAY_EROFS);
        CHECK_ERR(offpay__lock_acquire_shared(lock, 0, &fd), OFFPAY_OK);
        CHECK(fd >= 0);
        offpay__lock_release(fd);
        CHECK_ERR(offpay__file_read(path, 100, &data, &len), OFFPAY_OK);
        CHECK(len == 3 && memcmp(data, "old", 3) == 0);
        free(data);
    }
    CHECK(umount2(dir, MNT_DETACH) == 0);
}

/* 1 when path exists (as anything). */
static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* The read-only opens of the library: no lock file is created, nothing is
 * written; a read-only wallet holds no lock after open (a writer opens
 * meanwhile) and refuses to save; a read-only terminal shares the lock, so
 * a writer waits for it, and refuses writes. */
static void test_readonly_opens_write_nothing(void)
{
    const char *dir = test_dir("readonly_opens");
    char        iss[600], wpath[600], wlock[600], tdir[600], tlock[600];
    uint8_t     root_pk[OFFPAY_PK_BYTES], *bundle = NULL, *before = NULL,
                                      *after = NULL;
    size_t           blen = 0, n1 = 0, n2 = 0;
    offpay_issuer   *is = NULL;
    offpay_wallet   *ro = NULL, *rw = NULL;
    offpay_terminal *tro = NULL, *trw = NULL;
    offpay_risk      r;

    fast_kdf();
    snprintf(iss, sizeof iss, "%s/iss", dir);
    snprintf(wpath, sizeof wpath, "%s/w", dir);
    snprintf(wlock, sizeof wlock, "%s/w.lock", dir);
    snprintf(tdir, sizeof tdir, "%s/t", dir);
    snprintf(tlock, sizeof tlock, "%s/t/terminal.lock", dir);
    REQUIRE_OK(offpay_issuer_create(iss, PASS, 1700000000u, &is));
    offpay_issuer_root_pk(is, root_pk);
    REQUIRE_OK(offpay_issuer_bundle(is, &bundle, &blen));
    offpay_issuer_close(is);

    /* Wallet. */
    REQUIRE_OK(offpay_wallet_create(wpath, PASS, root_pk, bundle, blen, &rw));
    offpay_wallet_close(rw);
    rw = NULL;
    REQUIRE(unlink(wlock) == 0);
    REQUIRE_OK(offpay__file_read(wpath, OFFPAY__WALLET_FILE_MAX, &before, &n1));
    REQUIRE_OK(offpay_wallet_open_readonly(wpath, PASS, &ro));
    CHECK(!exists(wlock));
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay_wallet_open(wpath, PASS, &rw), OFFPAY_OK);
    offpay_wallet_close(rw);
    CHECK_ERR(offpay_wallet_set_default_cap(ro, 500), OFFPAY_EINVAL);
    offpay_wallet_close(ro);
    REQUIRE_OK(offpay__file_read(wpath, OFFPAY__WALLET_FILE_MAX, &after, &n2));
    CHECK(n1 == n2 && memcmp(before, after, n1) == 0);
    free(before);
    free(after);

    /* Terminal. */
    REQUIRE_OK(
        offpay_terminal_create(tdir, PASS, root_pk, bundle, blen, 978, &trw));
    offpay_terminal_close(trw);
    trw = NULL;
    REQUIRE(unlink(tlock) == 0);
    REQUIRE_OK(offpay_terminal_open_readonly(tdir, NULL, &tro));
    CHECK(!exists(tlock));
    offpay_terminal_close(tro);
    tro = NULL;
    /* With the lock file there, readers share it and writers wait. */
    REQUIRE_OK(offpay_terminal_open(tdir, NULL, &trw));
    offpay_terminal_close(trw);
    trw = NULL;
    REQUIRE_OK(offpay_terminal_open_readonly(tdir, PASS, &tro));
    CHECK_ERR(offpay_terminal_open(tdir, NULL, &trw), OFFPAY_EBUSY);
    REQUIRE_OK(offpay_terminal_get_risk(tro, &r));
    r.skew += 1;
    CHECK_ERR(offpay_terminal_set_risk(tro, &r), OFFPAY_EACCES);
    offpay_terminal_close(tro);
    offpay__lock_wait_ms = 10000;
    REQUIRE_OK(offpay_terminal_open(tdir, NULL, &trw));
    {
        offpay_risk now;

        REQUIRE_OK(offpay_terminal_get_risk(trw, &now));
        CHECK(now.skew + 1 == r.skew); /* the refused change did not land */
    }
    offpay_terminal_close(trw);
    free(bundle);
}

/* ---- crash safety ------------------------------------------------------ */

#define CRASH_BYTES  8192
#define CRASH_ROUNDS 30

/* A crash-test image: 32-byte BLAKE2b of the body, then the body. */
static void make_crash_image(uint8_t *img, uint8_t fill)
{
    for (size_t i = 32; i < CRASH_BYTES; i++)
        img[i] = (uint8_t)(fill ^ (uint8_t)(i * 31u));
    crypto_generichash(img, 32, img + 32, CRASH_BYTES - 32, NULL, 0);
}

static int crash_image_ok(const uint8_t *img, size_t len)
{
    uint8_t h[32];

    if (len != CRASH_BYTES)
        return 0;
    crypto_generichash(h, sizeof h, img + 32, CRASH_BYTES - 32, NULL, 0);
    return memcmp(h, img, 32) == 0;
}

/* A child rewrites one file alternately with A and B in a loop and is
 * SIGKILLed at random moments; each time the file must be exactly A or B.
 * (This covers process crashes; power loss is what the fsyncs are for and
 * cannot be simulated here.) */
static void test_crash_safety(void)
{
    const char *dir = test_dir("crash");
    char        path[600];
    uint8_t    *a = malloc(CRASH_BYTES), *b = malloc(CRASH_BYTES);
    int         seen_a = 0, seen_b = 0;

    fast_kdf();
    REQUIRE(a != NULL && b != NULL);
    make_crash_image(a, 0xaa);
    make_crash_image(b, 0x55);
    snprintf(path, sizeof path, "%s/state", dir);
    /* The first complete write, before any kill. */
    REQUIRE_OK(offpay__file_write_atomic(path, a, CRASH_BYTES));

    fflush(NULL); /* the child must not flush the parent's stdio buffers */
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        struct timespec ts;
        uint8_t        *got = NULL;
        size_t          got_len = 0;
        int             status = 0;
        pid_t           pid = fork();

        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (unsigned i = (unsigned)round;; i++)
                if (offpay__file_write_atomic(path, (i & 1) ? b : a,
                                              CRASH_BYTES) != OFFPAY_OK)
                    _exit(3);
        }
        ts.tv_sec = 0;
        ts.tv_nsec = (long)randombytes_uniform(3001) * 1000L; /* 0-3 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        CHECK_ERR(offpay__file_read(path, CRASH_BYTES * 2, &got, &got_len),
                  OFFPAY_OK);
        if (got == NULL || !crash_image_ok(got, got_len) ||
            (memcmp(got, a, CRASH_BYTES) != 0 &&
             memcmp(got, b, CRASH_BYTES) != 0)) {
            fprintf(stderr, "  round %d: file torn or missing (%zu bytes)\n",
                    round, got_len);
            offpay_test_failures++;
        } else if (memcmp(got, a, CRASH_BYTES) == 0) {
            seen_a++;
        } else {
            seen_b++;
        }
        free(got);
    }
    printf("     crash: %d rounds, file was A %d times, B %d times\n",
           CRASH_ROUNDS, seen_a, seen_b);
    free(a);
    free(b);
}

/* ---- passphrase rule, KDF strength, resealing, file modes ------------- */

/* New passphrases need OFFPAY__PASSPHRASE_MIN characters (code points)
 * on every path that sets one; 8 are enough. */
static void test_new_passphrase_too_short(void)
{
    static const char *shorts[] = {
        "", "a", "ab", "1234567",
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9"}; /* 7 x e-acute */
    const char            *path = "/nonexistent-dir/never-written";
    uint8_t               *img = NULL;
    size_t                 len = 0;
    offpay__wallet_sealer *s = NULL;

    fast_kdf();
    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++) {
        CHECK_ERR(offpay__passphrase_check(shorts[i]),
                  OFFPAY_EPASSPHRASE_SHORT);
        CHECK_ERR(offpay__wallet_seal(shorts[i], sample_plain, 3, &img, &len),
                  OFFPAY_EPASSPHRASE_SHORT);
        CHECK(img == NULL && len == 0);
        CHECK_ERR(offpay__wallet_file_save(path, shorts[i], sample_plain, 3),
                  OFFPAY_EPASSPHRASE_SHORT);
        CHECK_ERR(offpay__wallet_sealer_new(shorts[i], &s),
                  OFFPAY_EPASSPHRASE_SHORT);
        CHECK(s == NULL);
        CHECK_ERR(
            offpay__wallet_sealer_new_kdf(shorts[i], OFFPAY__KDF_MODERATE, &s),
            OFFPAY_EPASSPHRASE_SHORT);
        CHECK(s == NULL);
    }
    CHECK_ERR(offpay__passphrase_check(NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay__passphrase_check("12345678"), OFFPAY_OK);
    CHECK_ERR(offpay__passphrase_check("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
              OFFPAY_OK);
    REQUIRE_OK(offpay__wallet_seal("12345678", sample_plain, 3, &img, &len));
    free(img);
    REQUIRE_OK(offpay__wallet_sealer_new("12345678", &s));
    offpay__wallet_sealer_free(s);
}

/* The issuer's strength costs more than the wallet's, in production and
 * with the test cost; sealer_new_kdf writes the cost of its strength. */
static void test_kdf_strength(void)
{
    uint32_t               ops_i = 0, mem_i = 0, ops_m = 0, mem_m = 0;
    offpay__wallet_sealer *s = NULL;
    const char            *path = "moderate.sealed";
    char                   full[512];
    uint8_t               *img = NULL;
    size_t                 len = 0;

    unsetenv("OFFPAY_KDF_COST");
    offpay__kdf_cost(OFFPAY__KDF_INTERACTIVE, &ops_i, &mem_i);
    offpay__kdf_cost(OFFPAY__KDF_MODERATE, &ops_m, &mem_m);
    CHECK(ops_i == crypto_pwhash_OPSLIMIT_INTERACTIVE &&
          mem_i == crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024);
    CHECK(ops_m == crypto_pwhash_OPSLIMIT_MODERATE &&
          mem_m == crypto_pwhash_MEMLIMIT_MODERATE / 1024);
    fast_kdf();
    offpay__kdf_cost(OFFPAY__KDF_INTERACTIVE, &ops_i, &mem_i);
    offpay__kdf_cost(OFFPAY__KDF_MODERATE, &ops_m, &mem_m);
    CHECK(ops_m > ops_i && mem_m >= mem_i);

    snprintf(full, sizeof full, "%s/%s", test_dir("kdf_strength"), path);
    REQUIRE_OK(offpay__wallet_sealer_new_kdf(PASS, OFFPAY__KDF_MODERATE, &s));
    CHECK_ERR(offpay__wallet_sealer_save(s, full, sample_plain, 5), OFFPAY_OK);
    offpay__wallet_sealer_free(s);
    REQUIRE_OK(offpay__file_read(full, 4096, &img, &len));
    REQUIRE(len > OFFPAY__WALLET_HEADER_BYTES);
    CHECK(be32(img + OFFPAY__WALLET_OFF_OPSLIMIT) == ops_m);
    CHECK(be32(img + OFFPAY__WALLET_OFF_MEMLIMIT) == mem_m);
    free(img);
}

/* Writes a raw_seal image with the given cost to path. */
static int write_weak_file(const char *path, uint32_t ops, uint32_t mem_kib)
{
    uint8_t *img = NULL;
    size_t   len = 0;
    int ok = raw_seal(PASS, ops, mem_kib, sample_plain, sizeof sample_plain,
                      &img, &len) &&
             offpay__file_write_atomic(path, img, len) == OFFPAY_OK;

    free(img);
    return ok;
}

/* Opens path with strength, saves it again through the returned sealer,
 * and reads back the header's cost (0, 0 on any failure). */
static void load_save_cost(const char *path, offpay__kdf_strength strength,
                           uint32_t *ops, uint32_t *mem_kib)
{
    offpay__wallet_sealer *s = NULL;
    uint8_t               *plain = NULL, *img = NULL;
    size_t                 plain_len = 0, len = 0;

    *ops = *mem_kib = 0;
    if (offpay__wallet_sealer_load_kdf(path, PASS, strength, &plain, &plain_len,
                                       &s) != OFFPAY_OK)
        return;
    CHECK(plain_len == sizeof sample_plain &&
          memcmp(plain, sample_plain, plain_len) == 0);
    if (offpay__wallet_sealer_save(s, path, plain, plain_len) == OFFPAY_OK &&
        offpay__file_read(path, 4096, &img, &len) == OFFPAY_OK &&
        len > OFFPAY__WALLET_HEADER_BYTES) {
        *ops = be32(img + OFFPAY__WALLET_OFF_OPSLIMIT);
        *mem_kib = be32(img + OFFPAY__WALLET_OFF_MEMLIMIT);
    }
    offpay__wallet_plain_free(plain, plain_len);
    offpay__wallet_sealer_free(s);
    free(img);
}

/* A file sealed at a lower cost than the build's default for its owner is
 * resealed at the default on its next save, still opens with the same
 * passphrase, and a cost is never lowered. */
static void test_weak_file_resealed_at_default(void)
{
    char     path[512];
    uint32_t ops = 0, mem = 0;
    uint8_t *plain = NULL;
    size_t   plain_len = 0;

    snprintf(path, sizeof path, "%s/weak", test_dir("weak_reseal"));

    /* Production default, interactive: (1 pass, 8 MiB) -> (2, 64 MiB). */
    unsetenv("OFFPAY_KDF_COST");
    REQUIRE(write_weak_file(path, 1, OFFPAY__WALLET_MEMLIMIT_KIB_MIN));
    load_save_cost(path, OFFPAY__KDF_INTERACTIVE, &ops, &mem);
    CHECK(ops == crypto_pwhash_OPSLIMIT_INTERACTIVE);
    CHECK(mem == crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024);
    CHECK_ERR(offpay__wallet_file_load(path, PASS, &plain, &plain_len),
              OFFPAY_OK);
    offpay__wallet_plain_free(plain, plain_len);

    /* Test cost, moderate (the issuer): 1 pass -> 2 passes. */
    fast_kdf();
    REQUIRE(write_weak_file(path, 1, OFFPAY__WALLET_TEST_MEMLIMIT_KIB));
    load_save_cost(path, OFFPAY__KDF_MODERATE, &ops, &mem);
    CHECK(ops == 2 && mem == OFFPAY__WALLET_TEST_MEMLIMIT_KIB);

    /* Each dimension is raised to the default, never lowered: (1, 16 MiB)
     * under (2, 8 MiB) becomes (2, 16 MiB); (3, 8 MiB) stays. */
    REQUIRE(write_weak_file(path, 1, 2 * OFFPAY__WALLET_TEST_MEMLIMIT_KIB));
    load_save_cost(path, OFFPAY__KDF_MODERATE, &ops, &mem);
    CHECK(ops == 2 && mem == 2 * OFFPAY__WALLET_TEST_MEMLIMIT_KIB);
    REQUIRE(write_weak_file(path, 3, OFFPAY__WALLET_TEST_MEMLIMIT_KIB));
    load_save_cost(path, OFFPAY__KDF_MODERATE, &ops, &mem);
    CHECK(ops == 3 && mem == OFFPAY__WALLET_TEST_MEMLIMIT_KIB);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (st.st_mode & 07777) : (mode_t)-1;
}

/* Sealed files are 0600 whatever the umask, the old file's mode, or a
 * stale path.tmp's mode. */
static void test_sealed_file_mode_0600(void)
{
    static const mode_t    umasks[] = {0, 022, 077};
    char                   path[512], tmp[520];
    offpay__wallet_sealer *s = NULL;
    mode_t                 old_umask;
    FILE                  *f;

    fast_kdf();
    snprintf(path, sizeof path, "%s/sealed", test_dir("sealed_mode"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    REQUIRE_OK(offpay__wallet_sealer_new(PASS, &s));
    for (size_t i = 0; i < sizeof umasks / sizeof umasks[0]; i++) {
        old_umask = umask(umasks[i]);
        /* An old file and a stale temporary file, both world-readable. */
        f = fopen(path, "w");
        CHECK(f != NULL && fclose(f) == 0);
        f = fopen(tmp, "w");
        CHECK(f != NULL && fclose(f) == 0);
        CHECK(chmod(path, 0644) == 0 && chmod(tmp, 0644) == 0);
        CHECK_ERR(offpay__wallet_file_save(path, PASS, sample_plain, 4),
                  OFFPAY_OK);
        CHECK(mode_of(path) == 0600);
        CHECK(chmod(path, 0644) == 0);
        f = fopen(tmp, "w");
        CHECK(f != NULL && fclose(f) == 0);
        CHECK(chmod(tmp, 0666) == 0);
        CHECK_ERR(offpay__wallet_sealer_save(s, path, sample_plain, 4),
                  OFFPAY_OK);
        CHECK(mode_of(path) == 0600);
        umask(old_umask);
    }
    offpay__wallet_sealer_free(s);
}

/* A sealer opens what it sealed without a KDF run, refuses another
 * sealer's file (other salt) and shares the structural checks. */
static void test_sealer_seal_open(void)
{
    offpay__wallet_sealer *a = NULL, *b = NULL;
    uint8_t               *img = NULL, *plain = NULL;
    size_t                 len = 0, plain_len = 0;

    fast_kdf();
    REQUIRE_OK(offpay__wallet_sealer_new(PASS, &a));
    REQUIRE_OK(offpay__wallet_sealer_new(PASS, &b));
    REQUIRE_OK(offpay__wallet_sealer_seal(a, sample_plain, sizeof sample_plain,
                                          &img, &len));
    CHECK_ERR(offpay__wallet_sealer_open(a, img, len, &plain, &plain_len),
              OFFPAY_OK);
    CHECK(plain_len == sizeof sample_plain &&
          memcmp(plain, sample_plain, plain_len) == 0);
    offpay__wallet_plain_free(plain, plain_len);
    plain = NULL;
    /* The passphrase path opens it too: one format. */
    CHECK_ERR(offpay__wallet_open(img, len, PASS, &plain, &plain_len),
              OFFPAY_OK);
    offpay__wallet_plain_free(plain, plain_len);
    plain = NULL;
    CHECK_ERR(offpay__wallet_sealer_open(b, img, len, &plain, &plain_len),
              OFFPAY_EPASSPHRASE);
    CHECK(plain == NULL && plain_len == 0);
    CHECK_ERR(offpay__wallet_sealer_open(a, img, len - 1, &plain, &plain_len),
              OFFPAY_ECORRUPT);
    img[len - 1] ^= 1;
    CHECK_ERR(offpay__wallet_sealer_open(a, img, len, &plain, &plain_len),
              OFFPAY_EPASSPHRASE);
    CHECK_ERR(offpay__wallet_sealer_open(NULL, img, len, &plain, &plain_len),
              OFFPAY_EINVAL);
    free(img);
    CHECK_ERR(offpay__wallet_sealer_seal(NULL, sample_plain, 1, &img, &len),
              OFFPAY_EINVAL);
    CHECK(img == NULL && len == 0);
    offpay__wallet_sealer_free(a);
    offpay__wallet_sealer_free(b);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"round_trip", test_round_trip},
        {"file_round_trip", test_file_round_trip},
        {"default_cost", test_default_cost},
        {"wrong_passphrase", test_wrong_passphrase},
        {"bad_arguments", test_bad_arguments},
        {"size_limits", test_size_limits},
        {"header_fields", test_header_fields},
        {"ciphertext_bit_flip", test_ciphertext_bit_flip},
        {"truncation_and_trailing", test_truncation_and_trailing},
        {"hostile_kdf_params", test_hostile_kdf_params},
        {"atomic_write", test_atomic_write},
        {"atomic_write_faults", test_atomic_write_faults},
        {"atomic_write_missing_dir_is_enoent",
         test_atomic_write_missing_dir_is_enoent},
        {"errno_names_each_cause", test_errno_names_each_cause},
        {"atomic_write_isdir_and_notdir_named",
         test_atomic_write_isdir_and_notdir_named},
        {"shared_lock_creates_nothing_and_excludes_writer",
         test_shared_lock_creates_nothing_and_excludes_writer},
        {"full_and_readonly_disk_named", test_full_and_readonly_disk_named},
        {"readonly_opens_write_nothing", test_readonly_opens_write_nothing},
        {"file_read", test_file_read},
        {"crash_safety", test_crash_safety},
        {"new_passphrase_too_short", test_new_passphrase_too_short},
        {"kdf_strength", test_kdf_strength},
        {"weak_file_resealed_at_default", test_weak_file_resealed_at_default},
        {"sealed_file_mode_0600", test_sealed_file_mode_0600},
        {"sealer_seal_open", test_sealer_seal_open},
        {NULL, NULL},
    };
    return offpay_test_main(tests);
}
