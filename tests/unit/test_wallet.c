/*
 * test_wallet.c — the payer's wallet on its own (wallet.h): its lifetime
 * (create, open, close), the passphrase, the checks on credentials it is
 * given, the default cap of codes made without an amount, refusals
 * (insufficient allowance, wrong currency, bound-only credential), and the
 * overspend-safety rule that a code's counter and reservation are on disk
 * before the code is returned (DESIGN.md invariant 2), one name per wallet
 * file (links refused), receipts (every valid one kept, none above what the
 * code authorized) and opening a wallet of the older state format.
 *
 * A real issuer signs the credentials. Receipts are signed here with
 * terminal keys the issuer certified, so that a test can make receipts no
 * honest terminal would (charging more than authorized). Every test
 * uses its own directory under offpay_test_tmpdir() and OFFPAY_KDF_COST=test
 * so that each save (one Argon2id run) is cheap.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "core/jsonutil.h"
#include "core/message_int.h"
#include "wallet/spendlog.h"
#include "wallet/wallet_file.h"
#include "wallet/wallet_int.h"

#define NOW  1700000000u
#define DAY  86400u
#define EUR  978
#define USD  840
#define PASS "wallet test passphrase"

/* One test's issuer and wallet. */
typedef struct fixture {
    char           dir[512];
    char           path[600]; /* the wallet file */
    offpay_issuer *is;
    uint8_t        root_pk[OFFPAY_PK_BYTES];
    uint8_t       *bundle;
    size_t         bundle_len;
    offpay_wallet *w;
} fixture;

static void fixture_free(fixture *f)
{
    offpay_wallet_close(f->w);
    offpay_issuer_close(f->is);
    free(f->bundle);
    memset(f, 0, sizeof *f);
}

/* Issuer (key valid from NOW - DAY) and a new wallet in tmpdir/name.
 * Returns 0 on failure. */
static int fixture_init(fixture *f, const char *name)
{
    char path[600];

    memset(f, 0, sizeof *f);
    setenv("OFFPAY_KDF_COST", "test", 1);
    snprintf(f->dir, sizeof f->dir, "%s/%s", offpay_test_tmpdir(), name);
    if (mkdir(f->dir, 0700) != 0 && errno != EEXIST)
        return 0;
    snprintf(f->path, sizeof f->path, "%s/wallet", f->dir);
    snprintf(path, sizeof path, "%s/issuer", f->dir);
    if (offpay_issuer_create(path, PASS, NOW - DAY, &f->is) != OFFPAY_OK)
        return 0;
    offpay_issuer_root_pk(f->is, f->root_pk);
    return offpay_issuer_bundle(f->is, &f->bundle, &f->bundle_len) ==
               OFFPAY_OK &&
           offpay_wallet_create(f->path, PASS, f->root_pk, f->bundle,
                                f->bundle_len, &f->w) == OFFPAY_OK;
}

/* Encoded credential for pk; *c (may be NULL) receives its value. */
static int issue(fixture *f, const uint8_t pk[OFFPAY_PK_BYTES], int64_t limit,
                 uint16_t currency, uint32_t from, uint32_t until,
                 uint8_t flags, uint8_t buf[OFFPAY_WALLET_CRED_BYTES],
                 size_t *len, offpay_wallet_cred *c)
{
    offpay_wallet_cred tmp;

    if (offpay_issuer_issue_wallet(f->is, pk, limit, currency, from, until,
                                   flags, &tmp) != OFFPAY_OK)
        return 0;
    if (c != NULL)
        *c = tmp;
    return offpay_wallet_cred_encode(&tmp, buf, OFFPAY_WALLET_CRED_BYTES,
                                     len) == OFFPAY_OK;
}

/* Issues a credential to the fixture's wallet and adds it at NOW. */
static int give(fixture *f, int64_t limit, uint16_t currency, uint8_t flags)
{
    uint8_t pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    size_t  len = 0;

    offpay_wallet_public_key(f->w, pk);
    return issue(f, pk, limit, currency, NOW - DAY, NOW + 30 * DAY, flags, buf,
                 &len, NULL) &&
           offpay_wallet_add_credential(f->w, buf, len, NOW) == OFFPAY_OK;
}

/* Closes and reopens the fixture's wallet (a restart). */
static int reopen(fixture *f)
{
    offpay_wallet_close(f->w);
    f->w = NULL;
    return offpay_wallet_open(f->path, PASS, &f->w) == OFFPAY_OK;
}

static void test_lifetime(void)
{
    fixture        f;
    offpay_wallet *w = NULL;
    uint8_t        pk1[OFFPAY_PK_BYTES], pk2[OFFPAY_PK_BYTES];
    char           other[700];

    REQUIRE(fixture_init(&f, "lifetime"));
    offpay_wallet_public_key(f.w, pk1);
    CHECK(offpay_wallet_n_credentials(f.w) == 0);
    CHECK(offpay_wallet_n_spends(f.w) == 0);
    /* The key is the wallet's own and survives a restart. */
    REQUIRE(reopen(&f));
    offpay_wallet_public_key(f.w, pk2);
    CHECK(memcmp(pk1, pk2, sizeof pk1) == 0);
    /* An open wallet is locked against a second handle. */
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_EBUSY);
    CHECK(w == NULL);
    /* Never over an existing file. */
    offpay_wallet_close(f.w);
    f.w = NULL;
    CHECK_ERR(offpay_wallet_create(f.path, PASS, f.root_pk, f.bundle,
                                   f.bundle_len, &w),
              OFFPAY_EEXISTS);
    CHECK(w == NULL);
    /* Two wallets have two keys. */
    snprintf(other, sizeof other, "%s/other", f.dir);
    REQUIRE_OK(offpay_wallet_create(other, PASS, f.root_pk, f.bundle,
                                    f.bundle_len, &w));
    offpay_wallet_public_key(w, pk2);
    CHECK(memcmp(pk1, pk2, sizeof pk1) != 0);
    offpay_wallet_close(w);
    w = NULL;
    /* Bad arguments and a missing file. */
    CHECK_ERR(
        offpay_wallet_create(other, "", f.root_pk, f.bundle, f.bundle_len, &w),
        OFFPAY_EINVAL);
    CHECK_ERR(offpay_wallet_open(NULL, PASS, &w), OFFPAY_EINVAL);
    snprintf(other, sizeof other, "%s/missing", f.dir);
    CHECK_ERR(offpay_wallet_open(other, PASS, &w), OFFPAY_ENOTFOUND);
    /* A bundle not signed by the pinned root is refused at creation. */
    snprintf(other, sizeof other, "%s/badroot", f.dir);
    pk2[0] ^= 1;
    CHECK_ERR(
        offpay_wallet_create(other, PASS, pk2, f.bundle, f.bundle_len, &w),
        OFFPAY_EBUNDLE_SIG);
    offpay_wallet_close(NULL); /* a no-op */
    fixture_free(&f);
}

static void test_wrong_passphrase(void)
{
    fixture        f;
    offpay_wallet *w = NULL;

    REQUIRE(fixture_init(&f, "passphrase"));
    offpay_wallet_close(f.w);
    f.w = NULL;
    CHECK_ERR(offpay_wallet_open(f.path, "wallet test passphrasE", &w),
              OFFPAY_EPASSPHRASE);
    CHECK(w == NULL);
    CHECK_ERR(offpay_wallet_open(f.path, "", &w), OFFPAY_EPASSPHRASE);
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_OK);
    offpay_wallet_close(w);
    fixture_free(&f);
}

static void test_add_credential(void)
{
    fixture               f;
    offpay_keypair        stranger;
    uint8_t               pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    size_t                len = 0;
    offpay_wallet_balance b;
    offpay_wallet_cred    c;

    REQUIRE(fixture_init(&f, "add_credential"));
    offpay_wallet_public_key(f.w, pk);
    /* Issued to another wallet's key. */
    REQUIRE_OK(offpay_keypair_generate(&stranger));
    REQUIRE(issue(&f, stranger.pk, 10000, EUR, NOW - DAY, NOW + DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW), OFFPAY_EINVAL);
    offpay_keypair_wipe(&stranger);
    /* Expired already. */
    REQUIRE(
        issue(&f, pk, 10000, EUR, NOW - DAY, NOW - 3600, 0, buf, &len, NULL));
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW),
              OFFPAY_EEXPIRED);
    /* Damaged: its issuer signature fails; truncated: not decodable. */
    REQUIRE(issue(&f, pk, 10000, EUR, NOW - DAY, NOW + DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, &c));
    buf[20] ^= 1;
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW),
              OFFPAY_ECRED_SIG);
    buf[20] ^= 1;
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len - 1, NOW),
              OFFPAY_ETRUNCATED);
    CHECK(offpay_wallet_n_credentials(f.w) == 0);
    /* Good, then the same again. */
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW), OFFPAY_OK);
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW), OFFPAY_EEXISTS);
    CHECK(offpay_wallet_n_credentials(f.w) == 1);
    /* A future one is stored but not usable yet. */
    REQUIRE(issue(&f, pk, 20000, EUR, NOW + DAY, NOW + 2 * DAY, 0, buf, &len,
                  NULL));
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW), OFFPAY_OK);
    /* Persisted, with their balances. */
    REQUIRE(reopen(&f));
    REQUIRE(offpay_wallet_n_credentials(f.w) == 2);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.serial == c.serial && b.currency == EUR && b.limit == 10000 &&
          b.available == 10000 && b.pending == 0 && b.confirmed == 0 &&
          b.codes == 0 && b.usable == 1 && b.expires == NOW + DAY);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 1, NOW, &b));
    CHECK(b.limit == 20000 && b.usable == 0);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 1, NOW + DAY, &b));
    CHECK(b.usable == 1);
    CHECK_ERR(offpay_wallet_get_balance(f.w, 2, NOW, &b), OFFPAY_ENOTFOUND);
    fixture_free(&f);
}

static void test_default_cap(void)
{
    fixture               f;
    offpay_payment        p;
    offpay_wallet_balance b;
    char                 *code = NULL;

    REQUIRE(fixture_init(&f, "default_cap"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    /* Without an amount: a tenth of the limit. */
    REQUIRE_OK(offpay_wallet_pay(f.w, 0, EUR, NOW, &code, &p));
    CHECK(p.amount == 1000 && !p.bound);
    free(code);
    /* A configured cap, kept across a restart. */
    CHECK_ERR(offpay_wallet_set_default_cap(f.w, -1), OFFPAY_EINVAL);
    CHECK_ERR(offpay_wallet_set_default_cap(f.w, OFFPAY_WIRE_AMOUNT_MAX + 1),
              OFFPAY_EINVAL);
    REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 2500));
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_pay(f.w, 0, EUR, NOW + 1, &code, &p));
    CHECK(p.amount == 2500);
    free(code);
    /* 10000 - 1000 - 2500 = 6500 left: 2500, 2500, then the 1500 left. */
    REQUIRE_OK(offpay_wallet_pay(f.w, 0, EUR, NOW + 2, &code, &p));
    free(code);
    REQUIRE_OK(offpay_wallet_pay(f.w, 0, EUR, NOW + 3, &code, &p));
    free(code);
    REQUIRE_OK(offpay_wallet_pay(f.w, 0, EUR, NOW + 4, &code, &p));
    CHECK(p.amount == 1500);
    free(code);
    code = NULL;
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 4, &b));
    CHECK(b.available == 0 && b.pending == 10000 && b.codes == 5);
    CHECK_ERR(offpay_wallet_pay(f.w, 0, EUR, NOW + 5, &code, &p),
              OFFPAY_EINSUFFICIENT);
    CHECK(code == NULL);
    /* Back to the default (0). */
    REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 0));
    fixture_free(&f);
}

static void test_insufficient(void)
{
    fixture               f;
    offpay_payment        p;
    offpay_wallet_balance b;
    char                 *code = NULL;

    REQUIRE(fixture_init(&f, "insufficient"));
    /* Nothing to pay with yet. */
    CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
              OFFPAY_ENO_CREDENTIAL);
    REQUIRE(give(&f, 5000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    CHECK_ERR(offpay_wallet_pay(f.w, 5001, EUR, NOW, &code, NULL),
              OFFPAY_EINSUFFICIENT);
    CHECK_ERR(offpay_wallet_pay(f.w, OFFPAY_WIRE_AMOUNT_MAX + 1, EUR, NOW,
                                &code, NULL),
              OFFPAY_EINSUFFICIENT);
    CHECK_ERR(offpay_wallet_pay(f.w, -1, EUR, NOW, &code, NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_wallet_pay(f.w, 100, USD, NOW, &code, NULL),
              OFFPAY_ENO_CREDENTIAL);
    /* A refusal reserves nothing. */
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.available == 5000 && b.codes == 0);
    CHECK(offpay_wallet_n_spends(f.w) == 0);
    REQUIRE_OK(offpay_wallet_pay(f.w, 3000, EUR, NOW, &code, &p));
    free(code);
    CHECK_ERR(offpay_wallet_pay(f.w, 2001, EUR, NOW, &code, NULL),
              OFFPAY_EINSUFFICIENT);
    REQUIRE_OK(offpay_wallet_pay(f.w, 2000, EUR, NOW, &code, &p));
    free(code);
    code = NULL;
    CHECK_ERR(offpay_wallet_pay(f.w, 1, EUR, NOW, &code, NULL),
              OFFPAY_EINSUFFICIENT);
    /* After expiry the credential is not usable at all. */
    CHECK_ERR(offpay_wallet_pay(f.w, 1, EUR, NOW + 31 * DAY, &code, NULL),
              OFFPAY_ENO_CREDENTIAL);
    CHECK(code == NULL);
    fixture_free(&f);
}

static void test_bound_only_credential(void)
{
    fixture f;
    char   *code = NULL;

    REQUIRE(fixture_init(&f, "bound_only"));
    REQUIRE(give(&f, 5000, EUR, 0));
    CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
              OFFPAY_EUNBOUND_REFUSED);
    CHECK(code == NULL && offpay_wallet_n_spends(f.w) == 0);
    /* A second credential that allows it is used instead. */
    REQUIRE(give(&f, 3000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL));
    free(code);
    fixture_free(&f);
}

/* The newest usable credential that can cover the amount is used. */
static void test_credential_choice(void)
{
    fixture               f;
    offpay_payment        p;
    offpay_wallet_balance b0, b1;
    char                 *code = NULL;

    REQUIRE(fixture_init(&f, "choice"));
    REQUIRE(give(&f, 5000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(give(&f, 1000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b0));
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 1, NOW, &b1));
    REQUIRE_OK(offpay_wallet_pay(f.w, 800, EUR, NOW, &code, &p));
    CHECK(p.cred.serial == b1.serial && p.counter == 1);
    free(code);
    REQUIRE_OK(offpay_wallet_pay(f.w, 800, EUR, NOW, &code, &p));
    CHECK(p.cred.serial == b0.serial && p.counter == 1); /* its own counter */
    free(code);
    fixture_free(&f);
}

/* The counter and the reservation are on disk before the code exists: a
 * handle opened right after offpay_wallet_pay, once the first is dropped
 * without any further save (as if the process died then), sees the spend;
 * and counters never repeat. */
static void test_counter_persisted(void)
{
    fixture               f;
    offpay_wallet        *w2 = NULL;
    offpay_wallet_spend   s;
    offpay_wallet_balance b;
    offpay_payment        p, p2;
    char                 *code = NULL;

    REQUIRE(fixture_init(&f, "counter"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE_OK(offpay_wallet_pay(f.w, 1234, EUR, NOW, &code, &p));
    REQUIRE(code != NULL);
    CHECK(p.counter == 1 && p.amount == 1234 && p.time == NOW);
    /* The "crashed" handle is dropped: closing saves nothing, so what the
     * next handle sees is what was on disk when the code came out. (An open
     * wallet is locked, so the handle must go first.) */
    offpay_wallet_close(f.w);
    f.w = NULL;
    REQUIRE_OK(offpay_wallet_open(f.path, PASS, &w2));
    REQUIRE(offpay_wallet_n_spends(w2) == 1);
    REQUIRE_OK(offpay_wallet_get_spend(w2, 0, &s));
    CHECK(s.serial == p.cred.serial && s.counter == p.counter &&
          s.authorized == 1234 && s.time == NOW && s.bound == 0 &&
          s.charged == -1);
    REQUIRE_OK(offpay_wallet_get_balance(w2, 0, NOW, &b));
    CHECK(b.codes == 1 && b.pending == 1234 && b.available == 10000 - 1234);
    CHECK_ERR(offpay_wallet_get_spend(w2, 1, &s), OFFPAY_ENOTFOUND);
    free(code);
    /* The file alone decides the next counter. */
    f.w = w2;
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW + 1, &code, &p2));
    CHECK(p2.counter == 2 && p2.cred.serial == p.cred.serial);
    free(code);
    /* Many codes, restarts in between: strictly increasing, persisted. */
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t prev = p2.counter;

        if (i % 5 == 4)
            REQUIRE(reopen(&f));
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW + 2 + i, &code, &p2));
        CHECK(p2.counter == prev + 1);
        free(code);
    }
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 22);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 21, &s));
    CHECK(s.counter == 22);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 30, &b));
    CHECK(b.codes == 22 && b.pending == 1234 + 100 + 20 * 10);
    fixture_free(&f);
}

static uint8_t *slurp(const char *path, size_t *len);
static int same_bytes(const char *path, const uint8_t *want, size_t want_len);

/* Fails the given step of the next file writes and appends
 * (wallet_file.h). */
static const char *fail_step;

static int fault(const char *step)
{
    return fail_step != NULL && strcmp(step, fail_step) == 0;
}

/* A code the wallet cannot log is never returned, whichever step of the
 * append fails (the write or the fdatasync); nothing of it stays in the
 * log, and the wallet file is untouched. */
static void test_no_code_without_save(void)
{
    static const char    *steps[] = {"append", "datasync"};
    fixture               f;
    offpay_wallet_balance b;
    char                  log[700];
    struct stat           st0, st1;
    uint8_t              *before = NULL;
    size_t                before_len = 0;
    char                 *code = NULL;

    REQUIRE(fixture_init(&f, "no_save"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    snprintf(log, sizeof log, "%s.log", f.path);
    REQUIRE(stat(log, &st0) == 0);
    before = slurp(f.path, &before_len);
    REQUIRE(before != NULL);
    offpay__file_fault_hook = fault;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fail_step = steps[i];
        CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
                  OFFPAY_EIO);
        CHECK(code == NULL);
        REQUIRE(stat(log, &st1) == 0);
        CHECK(st1.st_size == st0.st_size);
    }
    fail_step = NULL;
    offpay__file_fault_hook = NULL;
    CHECK(same_bytes(f.path, before, before_len));
    /* In memory each reservation was kept (the safe side). On disk there
     * is none: after a restart counter 1 may be used again, which is safe
     * because no code with it ever left the wallet. */
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.pending == 200 && b.codes == 2);
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.pending == 0 && b.codes == 0);
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL));
    free(code);
    free(before);
    fixture_free(&f);
}

/* A terminal certified by the fixture's issuer, making receipts. */
typedef struct term {
    offpay_keypair       kp;
    offpay_terminal_cred tc;
} term;

static int term_init(fixture *f, term *t, uint64_t merchant_id,
                     const char *name)
{
    return offpay_keypair_generate(&t->kp) == OFFPAY_OK &&
           offpay_issuer_issue_terminal(f->is, merchant_id, t->kp.pk, EUR, name,
                                        NOW - DAY, NOW + 60 * DAY,
                                        &t->tc) == OFFPAY_OK;
}

/* Text of a receipt by t charging amount for (serial, counter) at time;
 * NULL on failure. free() it. */
static char *receipt(const term *t, uint64_t serial, uint32_t counter,
                     uint32_t amount, uint32_t time)
{
    offpay_receipt r;
    uint8_t        msg[OFFPAY_SIGNED_MAX], buf[512];
    size_t         len = 0;
    char          *text = NULL;

    memset(&r, 0, sizeof r);
    r.tcred = t->tc;
    r.serial = serial;
    r.counter = counter;
    r.amount = amount;
    r.currency = EUR;
    r.time = time;
    if (offpay__receipt_signed_bytes(&r, msg, sizeof msg, &len) != OFFPAY_OK ||
        offpay_sign(OFFPAY_DS_RECEIPT, msg, len, t->kp.sk, r.sig) !=
            OFFPAY_OK ||
        offpay_receipt_encode(&r, buf, sizeof buf, &len) != OFFPAY_OK ||
        offpay_text_encode(buf, len, &text) != OFFPAY_OK)
        return NULL;
    return text;
}

/* Reads the whole file at path (for comparing before and after). */
static uint8_t *slurp(const char *path, size_t *len)
{
    return (uint8_t *)offpay_test_read_file(path, len);
}

/* 1 when the file at path holds exactly want[0..want_len). */
static int same_bytes(const char *path, const uint8_t *want, size_t want_len)
{
    size_t   len = 0;
    uint8_t *now = slurp(path, &len);
    int same = now != NULL && len == want_len && memcmp(now, want, len) == 0;

    free(now);
    return same;
}

/* 1 when b[0..len) contains the string needle. */
static int contains(const uint8_t *b, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(b + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Records in the fixture wallet's spend log (-1 if unreadable). */
static long log_records(const fixture *f)
{
    char        log[700];
    struct stat st;

    snprintf(log, sizeof log, "%s.log", f->path);
    if (stat(log, &st) != 0 || st.st_size < OFFPAY__LOG_HEADER_BYTES)
        return -1;
    return (long)((st.st_size - OFFPAY__LOG_HEADER_BYTES) /
                  OFFPAY__LOG_RECORD_BYTES);
}

/*
 * Issue item 9: a symbolic link to a wallet file is refused (OFFPAY_ELINKED)
 * at open and at create, and nothing about the real wallet changes; the
 * real name keeps working and counters continue. A link among the
 * directories is harmless: it reaches the same lock.
 */
static void test_symlink_refused(void)
{
    fixture        f;
    offpay_wallet *w = NULL;
    offpay_payment p;
    struct stat    st0, st1;
    uint8_t       *before = NULL;
    size_t         before_len = 0;
    char           alias[700], dangling[700], dirlink[700], via_dir[800];
    char          *code = NULL;

    REQUIRE(fixture_init(&f, "symlink"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    CHECK(p.counter == 1);
    free(code);
    code = NULL;
    offpay_wallet_close(f.w);
    f.w = NULL;
    before = slurp(f.path, &before_len);
    REQUIRE(before != NULL);
    REQUIRE(stat(f.path, &st0) == 0);

    snprintf(alias, sizeof alias, "%s/alias.opw", f.dir);
    REQUIRE(symlink("wallet", alias) == 0);
    CHECK_ERR(offpay_wallet_open(alias, PASS, &w), OFFPAY_ELINKED);
    CHECK(w == NULL);
    snprintf(via_dir, sizeof via_dir, "%s.lock", alias);
    CHECK(access(via_dir, F_OK) != 0); /* not even a lock file made */
    /* Not even a new wallet through a link, dangling or not. */
    snprintf(dangling, sizeof dangling, "%s/dangling.opw", f.dir);
    REQUIRE(symlink("nowhere", dangling) == 0);
    CHECK_ERR(offpay_wallet_create(dangling, PASS, f.root_pk, f.bundle,
                                   f.bundle_len, &w),
              OFFPAY_ELINKED);
    CHECK(w == NULL);
    snprintf(alias, sizeof alias, "%s/nowhere", f.dir);
    CHECK(lstat(dangling, &st1) == 0 && S_ISLNK(st1.st_mode) &&
          access(alias, F_OK) != 0);
    snprintf(alias, sizeof alias, "%s/alias.opw", f.dir);
    /* The real wallet: same bytes, same file, still one link. */
    CHECK(same_bytes(f.path, before, before_len));
    REQUIRE(stat(f.path, &st1) == 0);
    CHECK(st1.st_ino == st0.st_ino && st1.st_nlink == 1 &&
          st1.st_mtime == st0.st_mtime);
    /* Through its own name it works, and its counter goes on. */
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    CHECK(p.counter == 2);
    free(code);
    /* A directory link names the same lock: a second open is busy. */
    snprintf(dirlink, sizeof dirlink, "%s.dirlink", f.dir);
    REQUIRE(symlink(f.dir, dirlink) == 0);
    snprintf(via_dir, sizeof via_dir, "%s/wallet", dirlink);
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay_wallet_open(via_dir, PASS, &w), OFFPAY_EBUSY);
    CHECK(w == NULL);
    offpay_wallet_close(f.w);
    f.w = NULL;
    CHECK_ERR(offpay_wallet_open(via_dir, PASS, &w), OFFPAY_OK);
    offpay_wallet_close(w);
    w = NULL;
    unlink(dirlink);
    /* A spend log replaced by a symbolic link to it: refused at open. */
    snprintf(alias, sizeof alias, "%s.log", f.path);
    snprintf(dangling, sizeof dangling, "%s/moved.log", f.dir);
    REQUIRE(rename(alias, dangling) == 0);
    REQUIRE(symlink("moved.log", alias) == 0);
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_ELINKED);
    CHECK(w == NULL);
    REQUIRE(unlink(alias) == 0 && rename(dangling, alias) == 0);
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_OK);
    offpay_wallet_close(w);
    free(before);
    fixture_free(&f);
}

/*
 * Issue item 9: a wallet file with a second hard link is refused under
 * both names (OFFPAY_ELINKED), and nothing about it changes; a link made
 * while the wallet is open stops the next save (no code), so the two names
 * never part.
 */
static void test_hard_link_refused(void)
{
    fixture        f;
    offpay_wallet *w = NULL;
    offpay_payment p;
    struct stat    st0, st1;
    uint8_t       *before = NULL;
    size_t         before_len = 0;
    char           alias[700], log[700];
    char          *code = NULL;

    REQUIRE(fixture_init(&f, "hardlink"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    free(code);
    code = NULL;
    offpay_wallet_close(f.w);
    f.w = NULL;
    before = slurp(f.path, &before_len);
    REQUIRE(before != NULL);
    REQUIRE(stat(f.path, &st0) == 0);

    snprintf(alias, sizeof alias, "%s/alias.opw", f.dir);
    REQUIRE(link(f.path, alias) == 0);
    CHECK_ERR(offpay_wallet_open(alias, PASS, &w), OFFPAY_ELINKED);
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_ELINKED);
    CHECK(w == NULL);
    CHECK(same_bytes(f.path, before, before_len));
    REQUIRE(stat(f.path, &st1) == 0);
    CHECK(st1.st_ino == st0.st_ino && st1.st_nlink == 2 &&
          st1.st_mtime == st0.st_mtime);
    REQUIRE(unlink(alias) == 0);

    /* A link made while open: the next code is refused, nothing written. */
    REQUIRE(reopen(&f));
    REQUIRE(link(f.path, alias) == 0);
    CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
              OFFPAY_ELINKED);
    CHECK(code == NULL);
    CHECK(same_bytes(f.path, before, before_len));
    CHECK(same_bytes(alias, before, before_len));
    offpay_wallet_close(f.w);
    f.w = NULL;
    REQUIRE(unlink(alias) == 0);
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    CHECK(p.counter == 2);
    free(code);
    code = NULL;

    /* The same for the spend log: a second name made while open stops the
     * next code; one there at open refuses the wallet. */
    snprintf(log, sizeof log, "%s.log", f.path);
    snprintf(alias, sizeof alias, "%s/alias.log", f.dir);
    REQUIRE(link(log, alias) == 0);
    CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
              OFFPAY_ELINKED);
    CHECK(code == NULL);
    offpay_wallet_close(f.w);
    f.w = NULL;
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_ELINKED);
    CHECK(w == NULL);
    REQUIRE(unlink(alias) == 0);
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    CHECK(p.counter == 3);
    free(code);
    free(before);
    fixture_free(&f);
}

/*
 * Issue item 10: for an unbound code, a terminal that only saw it delivers
 * its receipt first; the genuine receipt is still kept, and so is every
 * other valid one (up to OFFPAY_WALLET_RECEIPTS_PER_CODE), all listed by
 * offpay_wallet_get_receipt and kept across a restart. No receipt releases
 * anything; a reprint by the same terminal is not a second charge.
 */
static void test_every_receipt_kept(void)
{
    fixture               f;
    term                  spy, shop, third;
    offpay_payment        p;
    offpay_wallet_spend   s;
    offpay_wallet_balance b;
    offpay_receipt        r;
    char                 *code = NULL, *t1, *t2, *t3, *t4, *t5;

    REQUIRE(fixture_init(&f, "receipts"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &spy, 9, "Spy"));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    REQUIRE(term_init(&f, &third, 8, "Third"));
    REQUIRE_OK(offpay_wallet_pay(f.w, 2000, EUR, NOW, &code, &p));
    free(code);
    t1 = receipt(&spy, p.cred.serial, p.counter, 500, NOW + 1);
    t2 = receipt(&shop, p.cred.serial, p.counter, 1200, NOW + 2);
    t3 = receipt(&shop, p.cred.serial, p.counter, 1200, NOW + 3); /* reprint */
    t4 = receipt(&third, p.cred.serial, p.counter, 1000, NOW + 4);
    t5 = receipt(&third, p.cred.serial, p.counter, 1, NOW + 5);
    REQUIRE(t1 != NULL && t2 != NULL && t3 != NULL && t4 != NULL && t5 != NULL);

    /* The spy's receipt first, then the genuine one: both kept. */
    CHECK_ERR(offpay_wallet_take_receipt(f.w, t1, NOW + 10, &r), OFFPAY_OK);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, t2, NOW + 10, &r), OFFPAY_OK);
    CHECK(r.amount == 1200 && r.tcred.merchant_id == 7);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.n_receipts == 2 && s.charged == 1700);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 10, &b));
    CHECK(b.confirmed == 1700 && b.held == 300 && b.pending == 0 &&
          b.available == 8000);
    /* The same bytes again: nothing changes. A reprint: kept, not added. */
    CHECK_ERR(offpay_wallet_take_receipt(f.w, t1, NOW + 10, NULL), OFFPAY_OK);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, t3, NOW + 10, NULL), OFFPAY_OK);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.n_receipts == 3 && s.charged == 1700);
    /* A third terminal took it too: more than authorized in all, so less
     * is available, never more. */
    CHECK_ERR(offpay_wallet_take_receipt(f.w, t4, NOW + 10, NULL), OFFPAY_OK);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 10, &b));
    CHECK(b.confirmed == 2700 && b.held == 0 && b.available == 7300);
    /* At most OFFPAY_WALLET_RECEIPTS_PER_CODE receipts for one code. */
    CHECK_ERR(offpay_wallet_take_receipt(f.w, t5, NOW + 10, NULL),
              OFFPAY_ERANGE);

    /* All kept on disk, in order, with their exact bytes. */
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.n_receipts == OFFPAY_WALLET_RECEIPTS_PER_CODE && s.charged == 2700);
    REQUIRE_OK(offpay_wallet_get_receipt(f.w, 0, 0, &r));
    CHECK(r.tcred.merchant_id == 9 && r.amount == 500 && r.time == NOW + 1);
    REQUIRE_OK(offpay_wallet_get_receipt(f.w, 0, 1, &r));
    CHECK(r.tcred.merchant_id == 7 && r.amount == 1200 && r.time == NOW + 2);
    REQUIRE_OK(offpay_wallet_get_receipt(f.w, 0, 3, &r));
    CHECK(r.tcred.merchant_id == 8 && r.amount == 1000);
    {
        uint8_t  buf[512];
        size_t   len = 0;
        uint8_t *orig = NULL;
        size_t   orig_len = 0;

        REQUIRE_OK(offpay_receipt_encode(&r, buf, sizeof buf, &len));
        REQUIRE_OK(offpay_text_decode(t4, strlen(t4), &orig, &orig_len));
        CHECK(orig_len == len && memcmp(orig, buf, len) == 0);
        free(orig);
    }
    CHECK_ERR(offpay_wallet_get_receipt(f.w, 0, 4, &r), OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_wallet_get_receipt(f.w, 1, 0, &r), OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_wallet_get_receipt(NULL, 0, 0, &r), OFFPAY_EINVAL);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 10, &b));
    CHECK(b.confirmed == 2700 && b.available == 7300);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(t5);
    offpay_keypair_wipe(&spy.kp);
    offpay_keypair_wipe(&shop.kp);
    offpay_keypair_wipe(&third.kp);
    fixture_free(&f);
}

/*
 * Issue item 19c: a receipt charging more than the code authorized is
 * refused (OFFPAY_ERECEIPT_MISMATCH) and not kept, even signed by a
 * certified terminal: nothing is charged above what was authorized and
 * held never goes negative. So is a receipt of a bound code from another
 * merchant. One at exactly the authorized amount is taken.
 */
static void test_receipt_over_authorized_refused(void)
{
    fixture               f;
    term                  shop;
    offpay_payment        p;
    offpay_wallet_spend   s;
    offpay_wallet_balance b;
    char                 *code = NULL, *over, *exact;

    REQUIRE(fixture_init(&f, "over_authorized"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    REQUIRE_OK(offpay_wallet_pay(f.w, 1000, EUR, NOW, &code, &p));
    free(code);
    over = receipt(&shop, p.cred.serial, p.counter, 1001, NOW + 1);
    exact = receipt(&shop, p.cred.serial, p.counter, 1000, NOW + 2);
    REQUIRE(over != NULL && exact != NULL);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, over, NOW + 5, NULL),
              OFFPAY_ERECEIPT_MISMATCH);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.charged == -1 && s.n_receipts == 0);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 5, &b));
    CHECK(b.confirmed == 0 && b.held == 0 && b.pending == 1000 &&
          b.available == 9000);
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.charged == -1 && s.n_receipts == 0);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, exact, NOW + 5, NULL), OFFPAY_OK);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW + 5, &b));
    CHECK(b.confirmed == 1000 && b.held == 0 && b.available == 9000);
    free(over);
    free(exact);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/* A wallet state written by the older version (format 1, one of the seeds
 * of fuzz/corpus/wallet_state/): three codes, two of them receipted. */
#define V1_STATE                                                               \
    OFFPAY_SOURCE_DIR "/fuzz/corpus/wallet_state/v1_spends_receipts"
#define V1_TIME 1796163540u
/* The receipt of its code 1 (9.99 EUR at terminal 1 of merchant 7). */
static const char v1_receipt[] =
    "OPRC:Y60100000000000700000100WCO$YAYCH$WK8 540PRF0BOE9$MIDC%6H279EPCRTU+"
    "0W-QBXL02ODS39XYDRQFRO059DWAEZGCZ8VD$NFONK:SZ:QO87$1S1ISKDS1W5MQS914XGQRZ"
    "M3LOWRU5B9:OL08S9M8SLJB%I1P1K7WC$PM93+:9YPNX$MZNG6Y0000000000V50000V50300"
    "99T2RQ--1K-QTK1JKI279%1W+2F%7U:L3 FB%B1J*9YY2TGRF$6PXAG/ARDRF MR:96D7S3U%"
    "OMZ+7YHEINQG567ZEVG9YSNZ53MJR0YP50";

/*
 * A wallet file of the older state format (one charged amount per code,
 * no receipts) opens with its balances, migrated at once to format 3 with
 * its codes in the spend log, and opens again the same. Taking again the
 * receipt whose amount it recorded replaces that amount by the receipt itself.
 */
static void test_format1_wallet_opens(void)
{
    fixture               f;
    offpay_wallet_spend   s;
    offpay_wallet_balance b;
    uint8_t              *plain = NULL;
    size_t                len = 0, plain_len = 0;
    char                 *v1 = NULL;

    REQUIRE(fixture_init(&f, "format1"));
    offpay_wallet_close(f.w);
    f.w = NULL;
    v1 = offpay_test_read_file(V1_STATE, &len);
    REQUIRE(v1 != NULL);
    CHECK(strstr(v1, "\"format\":1") != NULL);
    REQUIRE(unlink(f.path) == 0);
    REQUIRE_OK(
        offpay__wallet_file_save(f.path, PASS, (const uint8_t *)v1, len));
    free(v1);

    for (int round = 0; round < 2; round++) {
        REQUIRE(reopen(&f));
        if (round == 0) {
            /* Migrated at open, once: the log moved out of the file. */
            REQUIRE_OK(
                offpay__wallet_file_load(f.path, PASS, &plain, &plain_len));
            CHECK(memcmp(plain, "{\"format\":4,", 12) == 0);
            offpay__wallet_plain_free(plain, plain_len);
            plain = NULL;
            CHECK(log_records(&f) == 3);
        }
        REQUIRE(offpay_wallet_n_credentials(f.w) == 1);
        REQUIRE(offpay_wallet_n_spends(f.w) == 3);
        REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
        CHECK(s.counter == 1 && s.authorized == 1000 && s.charged == 999 &&
              s.n_receipts == 0);
        REQUIRE_OK(offpay_wallet_get_spend(f.w, 1, &s));
        CHECK(s.charged == -1 && s.n_receipts == 0);
        REQUIRE_OK(offpay_wallet_get_spend(f.w, 2, &s));
        CHECK(s.bound && s.merchant_id == 7 && s.charged == 725);
        REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, V1_TIME, &b));
        CHECK(b.limit == 10000 && b.confirmed == 1724 && b.pending == 500 &&
              b.held == 1 && b.available == 7775 && b.codes == 3);
        /* A save (any change) rewrites it in the current format. */
        REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 0));
    }
    REQUIRE_OK(offpay__wallet_file_load(f.path, PASS, &plain, &plain_len));
    CHECK(plain_len > 12 && memcmp(plain, "{\"format\":4,", 12) == 0 &&
          !contains(plain, plain_len, "spends"));
    offpay__wallet_plain_free(plain, plain_len);

    /* The receipt it recorded, taken again: the same charge, now with its
     * evidence kept. */
    CHECK_ERR(offpay_wallet_take_receipt(f.w, v1_receipt, V1_TIME + 60, NULL),
              OFFPAY_OK);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.charged == 999 && s.n_receipts == 1);
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.charged == 999 && s.n_receipts == 1);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, V1_TIME, &b));
    CHECK(b.confirmed == 1724 && b.available == 7775);
    fixture_free(&f);
}

/* A record plaintext of a code, as wallet.c lays it out (big-endian). */
static void code_plain(uint8_t p[OFFPAY__LOG_PLAIN_BYTES], uint64_t serial,
                       uint32_t counter, uint32_t authorized)
{
    memset(p, 0, OFFPAY__LOG_PLAIN_BYTES);
    p[0] = 1;
    for (int i = 0; i < 8; i++)
        p[1 + i] = (uint8_t)(serial >> (56 - 8 * i));
    for (int i = 0; i < 4; i++) {
        p[9 + i] = (uint8_t)(counter >> (24 - 8 * i));
        p[13 + i] = (uint8_t)(authorized >> (24 - 8 * i));
        p[17 + i] = (uint8_t)(NOW >> (24 - 8 * i));
    }
    memset(p + 30 + OFFPAY_NONCE_BYTES, 0xff, 8); /* legacy -1 */
}

/* Loads state text and replays log img into a new handle: the loader's
 * answer for the pair; *out set on OFFPAY_OK. */
static offpay_err load_pair(const char *text, size_t len, const uint8_t *img,
                            size_t img_len, offpay_wallet **out)
{
    offpay_wallet *w = NULL;
    offpay_err rc = offpay__wallet_state_load((const uint8_t *)text, len, &w);

    *out = NULL;
    if (rc == OFFPAY_OK)
        rc = offpay__wallet_log_replay(w, img, img_len, NULL);
    if (rc != OFFPAY_OK)
        offpay_wallet_close(w);
    else
        *out = w;
    return rc;
}

/*
 * The state loader and the log replay on their own (what fuzz_wallet_state
 * and fuzz_wallet_log feed). A real state and its log load back to the
 * same wallet. The sealed state refuses unknown keys and formats. The log
 * refuses a record that does not authenticate before the last (flipped,
 * moved, or from another wallet's log), and records a wallet would never
 * write even when they authenticate (a counter used twice, an unknown
 * type, stray bytes, a receipt for no code or above what it authorized).
 * A format 2 state (the log inside) is as strict as it was, and its codes
 * must come in counter order.
 */
static void test_state_loader_strict(void)
{
    fixture             f, g;
    term                shop;
    offpay_payment      p;
    offpay_wallet      *w = NULL, *other = NULL;
    offpay_wallet_spend s1, s2;
    char               *code = NULL, *rt, *text = NULL, *text2 = NULL;
    char               *v2 = NULL;
    uint8_t            *img = NULL, *img2 = NULL, *bad = NULL;
    uint8_t             pl[OFFPAY__LOG_PLAIN_BYTES];
    size_t              len = 0, len2 = 0, img_len = 0, img2_len = 0, v2_len;
    size_t              valid = 0, rec0 = OFFPAY__LOG_HEADER_BYTES;
    json_t             *root, *sp, *e;

    REQUIRE(fixture_init(&f, "state_loader"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    REQUIRE_OK(offpay_wallet_pay(f.w, 1000, EUR, NOW, &code, &p));
    free(code);
    rt = receipt(&shop, p.cred.serial, p.counter, 900, NOW + 1);
    REQUIRE(rt != NULL);
    REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
    free(rt);
    REQUIRE_OK(offpay_wallet_pay(f.w, 300, EUR, NOW, &code, NULL));
    free(code);
    REQUIRE_OK(offpay__wallet_state_dump(f.w, &text, &len));
    CHECK(strstr(text, "\"format\":4,") != NULL &&
          strstr(text, "spends") == NULL);
    REQUIRE_OK(offpay__wallet_log_image(f.w, &img, &img_len));
    CHECK(img_len == OFFPAY__LOG_HEADER_BYTES + 3 * OFFPAY__LOG_RECORD_BYTES);
    REQUIRE_OK(load_pair(text, len, img, img_len, &w));
    REQUIRE_OK(offpay__wallet_state_dump(w, &text2, &len2));
    CHECK(len == len2 && memcmp(text, text2, len) == 0);
    REQUIRE(offpay_wallet_n_spends(w) == 2);
    for (size_t i = 0; i < 2; i++) {
        REQUIRE_OK(offpay_wallet_get_spend(w, i, &s1));
        REQUIRE_OK(offpay_wallet_get_spend(f.w, i, &s2));
        CHECK(memcmp(&s1, &s2, sizeof s1) == 0);
    }
    /* A handle without a file cannot save. */
    CHECK_ERR(offpay_wallet_set_default_cap(w, 5), OFFPAY_EINVAL);
    /* A log belongs to an empty format 3 state. */
    CHECK_ERR(offpay__wallet_log_replay(w, img, img_len, NULL), OFFPAY_EINVAL);
    offpay_wallet_close(w);
    w = NULL;
    offpay__json_free(text2);

    bad = malloc(img_len + 2 * OFFPAY__LOG_RECORD_BYTES);
    REQUIRE(bad != NULL);
#define LOG_BAD(make, want)                                                    \
    do {                                                                       \
        size_t bl_ = img_len;                                                  \
        memcpy(bad, img, img_len);                                             \
        make;                                                                  \
        CHECK_ERR(load_pair(text, len, bad, bl_, &w), want);                   \
        CHECK(w == NULL);                                                      \
    } while (0)

    /* Flipped in the first or second record: corruption. */
    LOG_BAD(bad[rec0 + 40] ^= 1, OFFPAY_ECORRUPT);
    LOG_BAD(bad[rec0 + OFFPAY__LOG_RECORD_BYTES + 3] ^= 1, OFFPAY_ECORRUPT);
    LOG_BAD(bad[2] ^= 1, OFFPAY_ECORRUPT); /* header */
    /* Two records swapped: each is at the wrong index. */
    LOG_BAD((memcpy(bad + rec0, img + rec0 + OFFPAY__LOG_RECORD_BYTES,
                    OFFPAY__LOG_RECORD_BYTES),
             memcpy(bad + rec0 + OFFPAY__LOG_RECORD_BYTES, img + rec0,
                    OFFPAY__LOG_RECORD_BYTES)),
            OFFPAY_ECORRUPT);
    /* A code used twice, sealed genuinely at the next index. */
    code_plain(pl, p.cred.serial, p.counter, 5);
    LOG_BAD(((void)offpay__wallet_log_seal(f.w, 3, pl, bad + bl_),
             bl_ += OFFPAY__LOG_RECORD_BYTES,
             memcpy(bad + bl_, bad + bl_ - OFFPAY__LOG_RECORD_BYTES,
                    OFFPAY__LOG_RECORD_BYTES),
             (void)offpay__wallet_log_seal(f.w, 4, pl, bad + bl_),
             bl_ += OFFPAY__LOG_RECORD_BYTES),
            OFFPAY_ECORRUPT);
#define SEALED_BAD(edit)                                                       \
    LOG_BAD((code_plain(pl, p.cred.serial, 9, 5), edit,                        \
             (void)offpay__wallet_log_seal(f.w, 3, pl, bad + bl_),             \
             bl_ += OFFPAY__LOG_RECORD_BYTES, memset(pl, 0, sizeof pl),        \
             (void)offpay__wallet_log_seal(f.w, 4, pl, bad + bl_),             \
             bl_ += OFFPAY__LOG_RECORD_BYTES),                                 \
            OFFPAY_ECORRUPT)
    SEALED_BAD(pl[0] = 3);              /* unknown type */
    SEALED_BAD(pl[255] = 1);            /* stray byte */
    SEALED_BAD(pl[1] ^= 0x40);          /* no such credential */
    SEALED_BAD(pl[12] = 1);             /* counter below the last */
    SEALED_BAD(memset(pl + 13, 0, 4));  /* authorizes nothing */
    SEALED_BAD(pl[29] = 7);             /* unbound, with a merchant */
    SEALED_BAD((pl[0] = 2, pl[2] = 8)); /* receipt, not decodable */
#undef SEALED_BAD
    /* Another wallet's log under this state: its records do not open. */
    REQUIRE(fixture_init(&g, "state_loader_other"));
    REQUIRE_OK(offpay__wallet_state_dump(g.w, &text2, &len2));
    REQUIRE_OK(offpay__wallet_state_load((const uint8_t *)text2, len2, &other));
    offpay__json_free(text2);
    /* g's key, this wallet's records. */
    CHECK_ERR(offpay__wallet_log_replay(other, img, img_len, NULL),
              OFFPAY_ECORRUPT);
    offpay_wallet_close(other);
    fixture_free(&g);
    /* The last record damaged is a torn append: dropped, the rest kept. */
    memcpy(bad, img, img_len);
    bad[img_len - 1] ^= 1;
    REQUIRE_OK(offpay__wallet_state_load((const uint8_t *)text, len, &w));
    CHECK_ERR(offpay__wallet_log_replay(w, bad, img_len, &valid), OFFPAY_OK);
    CHECK(valid == img_len - OFFPAY__LOG_RECORD_BYTES &&
          offpay_wallet_n_spends(w) == 1);
    offpay_wallet_close(w);
    w = NULL;
#undef LOG_BAD
    free(bad);

    /* The sealed state, format 3. */
#define MUTATE3(stmt)                                                          \
    do {                                                                       \
        char *m_;                                                              \
        root = json_loads(text, 0, NULL);                                      \
        REQUIRE(root != NULL);                                                 \
        stmt;                                                                  \
        m_ = json_dumps(root, JSON_COMPACT);                                   \
        json_decref(root);                                                     \
        REQUIRE(m_ != NULL);                                                   \
        CHECK_ERR(                                                             \
            offpay__wallet_state_load((const uint8_t *)m_, strlen(m_), &w),    \
            OFFPAY_ECORRUPT);                                                  \
        CHECK(w == NULL);                                                      \
        offpay__json_free(m_);                                                 \
    } while (0)
    MUTATE3(json_object_set_new(root, "extra", json_true()));
    MUTATE3(json_object_set_new(root, "format", json_integer(5)));
    /* The checkpoint: exact keys, its codes the credentials' sum, sums a
     * code count can make. */
    MUTATE3(json_object_del(root, "checkpoint"));
    MUTATE3(json_object_set_new(json_object_get(root, "checkpoint"), "codes",
                                json_integer(1)));
    MUTATE3(json_object_set_new(json_object_get(root, "checkpoint"), "extra",
                                json_integer(1)));
    MUTATE3(json_object_set_new(json_object_get(root, "checkpoint"), "chain",
                                json_string("00")));
    MUTATE3(json_object_del(json_array_get(json_object_get(root, "creds"), 0),
                            "held"));
    MUTATE3(json_object_set_new(
        json_array_get(json_object_get(root, "creds"), 0), "pending",
        json_integer(5))); /* sums without a code */
    MUTATE3(json_object_set_new(root, "log_key", json_string("00")));
    MUTATE3(json_object_del(root, "log_key"));
    MUTATE3(json_object_set_new(root, "spends", json_array()));
    MUTATE3(
        json_array_append(json_object_get(root, "creds"),
                          json_array_get(json_object_get(root, "creds"), 0)));
#undef MUTATE3

    /* A format 2 state (from the previous version), as strict as before. */
    v2 = offpay_test_read_file(OFFPAY_SOURCE_DIR
                               "/fuzz/corpus/wallet_state/v2_two_terminals",
                               &v2_len);
    REQUIRE(v2 != NULL);
    REQUIRE_OK(offpay__wallet_state_load((const uint8_t *)v2, v2_len, &w));
    CHECK(offpay_wallet_n_spends(w) == 4);
    REQUIRE_OK(offpay__wallet_log_image(w, &img2, &img2_len));
    CHECK(img2_len ==
          OFFPAY__LOG_HEADER_BYTES + (4 + 4) * OFFPAY__LOG_RECORD_BYTES);
    offpay_wallet_close(w);
    w = NULL;
#define MUTATE(stmt)                                                           \
    do {                                                                       \
        char *m_;                                                              \
        root = json_loadb(v2, v2_len, 0, NULL);                                \
        REQUIRE(root != NULL);                                                 \
        sp = json_object_get(root, "spends");                                  \
        e = json_array_get(sp, 0);                                             \
        stmt;                                                                  \
        m_ = json_dumps(root, JSON_COMPACT);                                   \
        json_decref(root);                                                     \
        REQUIRE(m_ != NULL);                                                   \
        CHECK_ERR(                                                             \
            offpay__wallet_state_load((const uint8_t *)m_, strlen(m_), &w),    \
            OFFPAY_ECORRUPT);                                                  \
        CHECK(w == NULL);                                                      \
        offpay__json_free(m_);                                                 \
    } while (0)

    MUTATE(json_object_set_new(root, "extra", json_true()));
    MUTATE(json_object_set_new(root, "format", json_integer(4)));
    MUTATE(json_object_set_new(root, "log_key", json_string("")));
    MUTATE(json_object_set_new(e, "extra", json_true()));
    MUTATE(json_object_set_new(e, "receipts", json_string("")));
    MUTATE(json_object_set_new(e, "counter", json_integer(5))); /* >= next */
    MUTATE(json_object_set_new(e, "authorized", json_integer(1)));
    MUTATE(json_object_set_new(e, "charged", json_integer(-1)));
    MUTATE(json_object_set_new(e, "serial", json_integer(424242)));
    MUTATE(json_array_append(sp, e)); /* the same code twice */
    MUTATE((json_array_append(sp, e), json_array_remove(sp, 0))); /* 2,3,4,1 */
    MUTATE(
        json_array_append(json_object_get(e, "receipts"),
                          json_array_get(json_object_get(e, "receipts"), 0)));
    MUTATE(
        json_array_append(json_object_get(root, "creds"),
                          json_array_get(json_object_get(root, "creds"), 0)));
    MUTATE(json_object_del(e, "receipts"));
#undef MUTATE
    CHECK_ERR(offpay__wallet_state_load((const uint8_t *)"{}", 2, &w),
              OFFPAY_ECORRUPT);
    CHECK_ERR(offpay__wallet_state_load(NULL, 0, &w), OFFPAY_ECORRUPT);
    CHECK_ERR(offpay__wallet_state_load(NULL, 1, &w), OFFPAY_EINVAL);
    free(v2);
    free(img);
    free(img2);
    offpay__json_free(text);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/* Size of the file at path, or -1. */
static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/*
 * Issue 6 item 12: a code costs one durable append of one fixed-size
 * record, whatever the history; so does a receipt. The sealed wallet file
 * is not written at all, and the log only grows (nothing before its end
 * changes).
 */
static void test_code_is_one_append(void)
{
    fixture        f;
    term           shop;
    offpay_payment p;
    char           log[700];
    char          *code = NULL, *rt;
    uint8_t       *sealed = NULL, *log0 = NULL, *log1 = NULL;
    size_t         sealed_len = 0, log0_len = 0, log1_len = 0;

    REQUIRE(fixture_init(&f, "one_append"));
    REQUIRE(give(&f, 100000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    snprintf(log, sizeof log, "%s.log", f.path);
    CHECK(file_size(log) == OFFPAY__LOG_HEADER_BYTES);
    sealed = slurp(f.path, &sealed_len);
    REQUIRE(sealed != NULL);
    for (int i = 0; i < 50; i++) {
        long long before = file_size(log);

        log0 = slurp(log, &log0_len);
        REQUIRE(log0 != NULL);
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
        free(code);
        log1 = slurp(log, &log1_len);
        REQUIRE(log1 != NULL);
        CHECK(file_size(log) == before + OFFPAY__LOG_RECORD_BYTES);
        CHECK(log1_len == log0_len + OFFPAY__LOG_RECORD_BYTES &&
              memcmp(log0, log1, log0_len) == 0);
        free(log0);
        free(log1);
        if (i % 10 == 0) {
            rt = receipt(&shop, p.cred.serial, p.counter, 9, NOW + 1);
            REQUIRE(rt != NULL);
            before = file_size(log);
            REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
            CHECK(file_size(log) == before + OFFPAY__LOG_RECORD_BYTES);
            /* The same receipt again: kept already, nothing written. */
            REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
            CHECK(file_size(log) == before + OFFPAY__LOG_RECORD_BYTES);
            free(rt);
        }
    }
    CHECK(same_bytes(f.path, sealed, sealed_len));
    CHECK(log_records(&f) == 55);
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 50);
    free(sealed);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/* Writes data[0..len) to path (replacing it); 1 on success. */
static int put_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    int   ok = fp != NULL && fwrite(data, 1, len, fp) == len;

    if (fp != NULL && fclose(fp) != 0)
        ok = 0;
    return ok;
}

/*
 * Issue 6 item 12: a power cut in the middle of an append. The log is cut
 * at every byte offset of its last record (and, separately, that record
 * is left whole but zeroed, as a size update that reached the disk before
 * the data): the wallet opens, keeps every code before it, and the next
 * code's counter is above every counter of a code that was returned. The
 * log cut back to whole records and the code whose record survived whole
 * is never given out again. A damaged record before the last is
 * corruption; so is a missing log.
 */
static void test_torn_last_record_every_offset(void)
{
    fixture               f;
    offpay_wallet        *w = NULL;
    offpay_payment        p;
    offpay_wallet_balance b;
    char                  log[700];
    char                 *code = NULL;
    uint8_t              *full = NULL, *z;
    size_t                full_len = 0, last;
    uint32_t              shown = 0; /* highest counter returned */

    REQUIRE(fixture_init(&f, "torn"));
    REQUIRE(give(&f, 100000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    snprintf(log, sizeof log, "%s.log", f.path);
    for (int i = 0; i < 4; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
        free(code);
        shown = p.counter;
    }
    /* The last append, whose code we pretend never came out. */
    REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == shown + 1);
    offpay_wallet_close(f.w);
    f.w = NULL;
    full = slurp(log, &full_len);
    REQUIRE(full != NULL);
    last = full_len - OFFPAY__LOG_RECORD_BYTES;

    for (size_t cut = last; cut < full_len; cut++) {
        REQUIRE(put_file(log, full, cut));
        CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_OK);
        if (w == NULL)
            continue;
        CHECK(offpay_wallet_n_spends(w) == 4);
        CHECK(file_size(log) == (long long)last); /* the torn bytes cut */
        CHECK_ERR(offpay_wallet_pay(w, 10, EUR, NOW, &code, &p), OFFPAY_OK);
        free(code);
        code = NULL;
        CHECK(p.counter > shown);
        offpay_wallet_close(w);
        w = NULL;
        /* That code is durable: the next open goes on after it. */
        CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_OK);
        if (w != NULL) {
            REQUIRE_OK(offpay_wallet_get_balance(w, 0, NOW, &b));
            CHECK(b.codes == 5 && offpay_wallet_n_spends(w) == 5);
        }
        offpay_wallet_close(w);
        w = NULL;
    }
    /* Whole but zeroed: dropped too. */
    z = malloc(full_len);
    REQUIRE(z != NULL);
    memcpy(z, full, full_len);
    memset(z + last, 0, OFFPAY__LOG_RECORD_BYTES);
    REQUIRE(put_file(log, z, full_len));
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_OK);
    CHECK(w != NULL && offpay_wallet_n_spends(w) == 4);
    offpay_wallet_close(w);
    w = NULL;
    /* The record intact: its code counts, its counter is never reused. */
    REQUIRE(put_file(log, full, full_len));
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_OK);
    CHECK(w != NULL && offpay_wallet_n_spends(w) == 5);
    if (w != NULL) {
        CHECK_ERR(offpay_wallet_pay(w, 10, EUR, NOW, &code, &p), OFFPAY_OK);
        CHECK(p.counter == shown + 2);
        free(code);
        code = NULL;
    }
    offpay_wallet_close(w);
    w = NULL;
    /* A damaged record before the last: corruption, nothing dropped. */
    memcpy(z, full, full_len);
    z[OFFPAY__LOG_HEADER_BYTES + OFFPAY__LOG_RECORD_BYTES + 100] ^= 1;
    REQUIRE(put_file(log, z, full_len));
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_ECORRUPT);
    CHECK(w == NULL && file_size(log) == (long long)full_len);
    /* The wallet file without its log does not open (its codes would be
     * forgotten and their counters used again). */
    REQUIRE(unlink(log) == 0);
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &w), OFFPAY_ECORRUPT);
    CHECK(w == NULL);
    free(z);
    free(full);
    fixture_free(&f);
}

/*
 * Issue 6 item 12: the old caps are gone. A format 2 wallet holding the
 * old maximum of 6,000 codes (a full log) migrates at open and goes on
 * making codes, the counter following its log; a wallet holds more than
 * the old 64 credentials.
 */
static void test_old_caps_gone(void)
{
    fixture                f;
    offpay__wallet_sealer *sealer = NULL;
    offpay_wallet_cred     a;
    offpay_wallet_balance  b;
    offpay_payment         p;
    uint8_t                pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    char                  *state = NULL, *text = NULL, *code = NULL;
    size_t                 len = 0, state_len = 0;
    json_t                *root, *spends;

    REQUIRE(fixture_init(&f, "caps_gone"));
    offpay_wallet_public_key(f.w, pk);
    REQUIRE(issue(&f, pk, 10000000, EUR, NOW - DAY, NOW + 200 * DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, &a));
    REQUIRE_OK(offpay_wallet_add_credential(f.w, buf, len, NOW));
    /* The state as the previous version held it: format 2, 6,000 codes. */
    REQUIRE_OK(offpay__wallet_state_dump(f.w, &state, &state_len));
    offpay_wallet_close(f.w);
    f.w = NULL;
    root = json_loadb(state, state_len, 0, NULL);
    offpay__json_free(state);
    REQUIRE(root != NULL);
    json_object_del(root, "log_key");
    json_object_del(root, "checkpoint");
    json_object_set_new(root, "format", json_integer(2));
    {
        json_t *c0 = json_array_get(json_object_get(root, "creds"), 0);
        static const char *const ck[] = {"highest", "codes", "confirmed",
                                         "pending", "held"};

        for (size_t i = 0; i < sizeof ck / sizeof ck[0]; i++)
            json_object_del(c0, ck[i]);
    }
    spends = json_array();
    for (int i = 1; i <= 6000; i++)
        json_array_append_new(
            spends, json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:[]}", "serial",
                              (json_int_t)a.serial, "counter", i, "authorized",
                              1, "time", (int)NOW, "bound", 0, "merchant_id", 0,
                              "receipts"));
    json_object_set_new(root, "spends", spends);
    json_object_set_new(json_array_get(json_object_get(root, "creds"), 0),
                        "next_counter", json_integer(6001));
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    REQUIRE(text != NULL);
    REQUIRE_OK(offpay__wallet_sealer_new(PASS, &sealer));
    REQUIRE_OK(offpay__wallet_sealer_save(sealer, f.path, (const uint8_t *)text,
                                          strlen(text)));
    offpay__wallet_sealer_free(sealer);
    offpay__json_free(text);

    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 6000);
    CHECK(log_records(&f) == 6000);
    for (int i = 0; i < 10; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
        free(code);
        CHECK(p.counter == 6001u + (uint32_t)i);
    }
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 6010);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.codes == 6010 && b.pending == 6000 + 1000);
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    CHECK(p.counter == 6011);
    free(code);
    /* More credentials than the old 64. */
    for (int i = 0; i < 70; i++) {
        REQUIRE(issue(&f, pk, 100, USD, NOW - DAY, NOW + 200 * DAY, 0, buf,
                      &len, NULL));
        REQUIRE_OK(offpay_wallet_add_credential(f.w, buf, len, NOW));
    }
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_credentials(f.w) == 71);
    fixture_free(&f);
}

/* The Argon2id opslimit a wallet file's header records. */
static uint32_t file_opslimit(const char *path)
{
    size_t   len = 0;
    uint8_t *b = slurp(path, &len);
    uint32_t v = 0;

    if (b != NULL && len >= OFFPAY__WALLET_HEADER_BYTES)
        v = (uint32_t)b[OFFPAY__WALLET_OFF_OPSLIMIT] << 24 |
            (uint32_t)b[OFFPAY__WALLET_OFF_OPSLIMIT + 1] << 16 |
            (uint32_t)b[OFFPAY__WALLET_OFF_OPSLIMIT + 2] << 8 |
            b[OFFPAY__WALLET_OFF_OPSLIMIT + 3];
    free(b);
    return v;
}

/*
 * A wallet file sealed below the default KDF cost is resealed at the
 * default by the first code after opening it, now that codes no longer
 * rewrite the file (before the log, every code did).
 */
static void test_weak_file_resealed_by_first_code(void)
{
    fixture  f;
    uint32_t ops = 0, mem = 0;
    char    *code = NULL;

    REQUIRE(fixture_init(&f, "reseal")); /* sealed at the test cost */
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    offpay_wallet_close(f.w);
    f.w = NULL;
    CHECK(file_opslimit(f.path) == crypto_pwhash_OPSLIMIT_MIN);
    unsetenv("OFFPAY_KDF_COST");
    offpay__kdf_cost(OFFPAY__KDF_INTERACTIVE, &ops, &mem);
    REQUIRE(reopen(&f));
    CHECK(file_opslimit(f.path) == crypto_pwhash_OPSLIMIT_MIN);
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL));
    free(code);
    CHECK(file_opslimit(f.path) == ops);
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 1);
    setenv("OFFPAY_KDF_COST", "test", 1);
    fixture_free(&f);
}

/* The record count of the checkpoint in the fixture's sealed file (-1 if
 * unreadable). */
static long long sealed_ck_records(const fixture *f)
{
    uint8_t  *plain = NULL;
    size_t    plain_len = 0;
    json_t   *root;
    long long k = -1;

    if (offpay__wallet_file_load(f->path, PASS, &plain, &plain_len) !=
        OFFPAY_OK)
        return -1;
    root = json_loadb((const char *)plain, plain_len, 0, NULL);
    offpay__wallet_plain_free(plain, plain_len);
    if (root != NULL && json_is_integer(json_object_get(
                            json_object_get(root, "checkpoint"), "records")))
        k = json_integer_value(
            json_object_get(json_object_get(root, "checkpoint"), "records"));
    json_decref(root);
    return k;
}

/* Flips one byte of the fixture's log at off; 1 on success. */
static int flip_log_byte(const fixture *f, long off)
{
    char    log[700];
    uint8_t c;
    int     fd, ok;

    snprintf(log, sizeof log, "%s.log", f->path);
    fd = open(log, O_RDWR);
    if (fd < 0)
        return 0;
    ok = pread(fd, &c, 1, off) == 1;
    c ^= 0x40;
    ok = ok && pwrite(fd, &c, 1, off) == 1;
    return close(fd) == 0 && ok;
}

/* Cuts the fixture's log to n whole records; 1 on success. */
static int cut_log(const fixture *f, long n)
{
    char log[700];

    snprintf(log, sizeof log, "%s.log", f->path);
    return truncate(log, OFFPAY__LOG_HEADER_BYTES +
                             n * (long)OFFPAY__LOG_RECORD_BYTES) == 0;
}

/*
 * Issue 6 item 12: opening a wallet decrypts only the log records after
 * the checkpoint its sealed file carries (a change of the sealed state
 * writes one): balances and counters come from the checkpoint. The older
 * records are read, every one of them, only when the log is listed, and
 * the list is the one before the restart.
 */
static void test_open_reads_only_records_after_checkpoint(void)
{
    fixture               f;
    term                  shop;
    offpay_payment        p;
    offpay_wallet_balance b0, b1;
    offpay_wallet_spend   before[40], s;
    char                 *code = NULL, *rt;
    uint64_t              opened;
    size_t                n;

    REQUIRE(fixture_init(&f, "ck_open"));
    REQUIRE(give(&f, 1000000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    for (int i = 0; i < 30; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10 + i, EUR, NOW, &code, &p));
        free(code);
        if (i % 5 == 0) {
            rt = receipt(&shop, p.cred.serial, p.counter, 9, NOW + 1);
            REQUIRE(rt != NULL);
            REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
            free(rt);
        }
    }
    /* 30 codes and 6 receipts: a change of the sealed state checkpoints
     * them. */
    REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 0));
    CHECK(sealed_ck_records(&f) == 36);
    for (int i = 0; i < 3; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 5, EUR, NOW, &code, NULL));
        free(code);
    }
    n = offpay_wallet_n_spends(f.w);
    REQUIRE(n == 33);
    for (size_t i = 0; i < n; i++)
        REQUIRE_OK(offpay_wallet_get_spend(f.w, i, &before[i]));
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b0));

    opened = offpay__log_records_opened;
    REQUIRE(reopen(&f));
    CHECK(offpay__log_records_opened - opened == 3);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b1));
    CHECK(memcmp(&b0, &b1, sizeof b0) == 0);
    CHECK(b1.codes == 33 && b1.confirmed == 54 && b1.held > 0);
    CHECK(offpay_wallet_n_spends(f.w) == 33);
    /* Listing reads the whole log once, checked against the checkpoint. */
    opened = offpay__log_records_opened;
    for (size_t i = 0; i < n; i++) {
        REQUIRE_OK(offpay_wallet_get_spend(f.w, i, &s));
        CHECK(memcmp(&s, &before[i], sizeof s) == 0);
    }
    CHECK(offpay__log_records_opened - opened == 39);
    REQUIRE_OK(offpay_wallet_pay(f.w, 5, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == 34);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b1));
    CHECK(b1.codes == 34 && b1.pending == b0.pending + 5);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/*
 * Issue 6 item 12: the checkpoint binds the records before it (a BLAKE2b
 * chain of their bytes). A damaged one is not read at open, but reading
 * the log (a listing, show-code, a receipt naming an old code) finds it:
 * OFFPAY_ECORRUPT, while balances and new codes go on. A log cut below
 * the checkpoint does not open.
 */
static void test_checkpoint_binds_older_records(void)
{
    fixture               f;
    term                  shop;
    offpay_payment        p, p3;
    offpay_wallet_balance b;
    offpay_wallet_spend   s;
    offpay_receipt        r;
    char                 *code = NULL, *rt;
    const long rec3 = OFFPAY__LOG_HEADER_BYTES + 3 * OFFPAY__LOG_RECORD_BYTES;

    memset(&p3, 0, sizeof p3);
    REQUIRE(fixture_init(&f, "ck_binds"));
    REQUIRE(give(&f, 100000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    for (int i = 0; i < 10; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
        free(code);
        if (i == 3)
            p3 = p;
    }
    REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 0));
    CHECK(sealed_ck_records(&f) == 10);
    REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL));
    free(code);
    offpay_wallet_close(f.w);
    f.w = NULL;

    REQUIRE(flip_log_byte(&f, rec3 + 20));
    REQUIRE(reopen(&f)); /* not read */
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.codes == 11 && b.pending == 110);
    CHECK(offpay_wallet_n_spends(f.w) == 11);
    CHECK_ERR(offpay_wallet_get_spend(f.w, 0, &s), OFFPAY_ECORRUPT);
    CHECK_ERR(offpay_wallet_get_receipt(f.w, 0, 0, &r), OFFPAY_ECORRUPT);
    CHECK_ERR(offpay_wallet_code_text(f.w, 10, &code), OFFPAY_ECORRUPT);
    CHECK(code == NULL);
    rt = receipt(&shop, p3.cred.serial, p3.counter, 9, NOW + 1);
    REQUIRE(rt != NULL);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL),
              OFFPAY_ECORRUPT);
    /* The wallet goes on paying from the checkpoint's sums. */
    REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == 12);
    offpay_wallet_close(f.w);
    f.w = NULL;

    /* Repaired, the whole log reads again. */
    REQUIRE(flip_log_byte(&f, rec3 + 20));
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 3, &s));
    CHECK(s.counter == 4);
    REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 3, &s));
    CHECK(s.n_receipts == 1 && s.charged == 9);
    free(rt);
    offpay_wallet_close(f.w);
    f.w = NULL;

    /* The receipt above checkpointed nothing: K is still 10. */
    CHECK(sealed_ck_records(&f) == 10);
    REQUIRE(cut_log(&f, 9));
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &f.w), OFFPAY_ECORRUPT);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/*
 * Issue 6 item 12: every offpay__wallet_checkpoint_every codes the sealed
 * file takes a checkpoint; a crash (here: the replace of the sealed file
 * failing) between a code's append and its checkpoint loses nothing: the
 * code was returned, the next open replays it from the older checkpoint,
 * and counters never go back. A checkpoint naming more records than the
 * log holds is corruption.
 */
static void test_checkpoint_every_n_codes_and_crash(void)
{
    fixture               f;
    offpay_payment        p;
    offpay_wallet_balance b;
    char                 *code = NULL;
    uint64_t              opened;

    offpay__wallet_checkpoint_every = 8;
    REQUIRE(fixture_init(&f, "ck_every"));
    REQUIRE(give(&f, 100000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    for (int i = 0; i < 7; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL));
        free(code);
    }
    CHECK(sealed_ck_records(&f) == 0);
    /* The 8th code's checkpoint cannot be written: the code stands. */
    offpay__file_fault_hook = fault;
    fail_step = "rename";
    REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
    free(code);
    fail_step = NULL;
    offpay__file_fault_hook = NULL;
    CHECK(p.counter == 8);
    CHECK(sealed_ck_records(&f) == 0);
    opened = offpay__log_records_opened;
    REQUIRE(reopen(&f));
    CHECK(offpay__log_records_opened - opened == 8);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.codes == 8 && b.pending == 80);
    REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == 9);
    /* Reopened from the file's checkpoint (0), that code is 9 records
     * past it: its checkpoint is written. */
    CHECK(sealed_ck_records(&f) == 9);
    for (int i = 0; i < 11; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
        free(code);
    }
    CHECK(p.counter == 20);
    CHECK(sealed_ck_records(&f) == 17);
    opened = offpay__log_records_opened;
    REQUIRE(reopen(&f));
    CHECK(offpay__log_records_opened - opened == 3);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.codes == 20 && b.pending == 200);
    REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == 21);
    offpay_wallet_close(f.w);
    f.w = NULL;
    /* Records after the checkpoint cut at a record boundary read as never
     * appended; below it, the checkpoint's records are missing. */
    REQUIRE(cut_log(&f, 17));
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.codes == 17);
    offpay_wallet_close(f.w);
    f.w = NULL;
    REQUIRE(cut_log(&f, 16));
    CHECK_ERR(offpay_wallet_open(f.path, PASS, &f.w), OFFPAY_ECORRUPT);
    offpay__wallet_checkpoint_every = 4096;
    fixture_free(&f);
}

/*
 * A receipt taken after the checkpoint for a code before it: taking it
 * reads the older records; the next open meets it among the records after
 * the checkpoint and reads the whole log (checked) to place it.
 */
static void test_receipt_for_code_before_checkpoint(void)
{
    fixture               f;
    term                  shop;
    offpay_payment        p, p2;
    offpay_wallet_balance b0, b1;
    offpay_wallet_spend   s;
    char                 *code = NULL, *rt;
    uint64_t              opened;

    memset(&p2, 0, sizeof p2);
    REQUIRE(fixture_init(&f, "ck_receipt"));
    REQUIRE(give(&f, 100000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    for (int i = 0; i < 5; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
        free(code);
        if (i == 1)
            p2 = p;
    }
    REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 0));
    REQUIRE(reopen(&f));
    rt = receipt(&shop, p2.cred.serial, p2.counter, 60, NOW + 1);
    REQUIRE(rt != NULL);
    REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
    free(rt);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b0));
    CHECK(b0.confirmed == 60 && b0.held == 40 && b0.pending == 400);
    opened = offpay__log_records_opened;
    REQUIRE(reopen(&f));
    CHECK(offpay__log_records_opened - opened >= 6);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b1));
    CHECK(memcmp(&b0, &b1, sizeof b0) == 0);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 1, &s));
    CHECK(s.n_receipts == 1 && s.charged == 60);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/* Copies file from to to; 1 on success. */
static int copy_file(const char *from, const char *to)
{
    size_t   len = 0;
    uint8_t *b = slurp(from, &len);
    int      ok = b != NULL && put_file(to, b, len);

    free(b);
    return ok;
}

/*
 * Issue 6 item 12: a log swapped for another one of the same wallet (every
 * record authentic at its index: a copy of the wallet that went on
 * differently) under a sealed file whose checkpoint counts as many
 * records opens, but its first read of the older records fails on the
 * chain (OFFPAY_ECORRUPT) instead of listing codes that were never made.
 */
static void test_swapped_log_caught_by_chain(void)
{
    fixture             f;
    offpay_wallet_spend s;
    char                log[700], wa[700], la[700], ws[700], ls[700];
    char               *code = NULL;

    REQUIRE(fixture_init(&f, "ck_swap"));
    REQUIRE(give(&f, 100000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    snprintf(log, sizeof log, "%s.log", f.path);
    snprintf(ws, sizeof ws, "%s/w.s", f.dir);
    snprintf(ls, sizeof ls, "%s/l.s", f.dir);
    snprintf(wa, sizeof wa, "%s/w.a", f.dir);
    snprintf(la, sizeof la, "%s/l.a", f.dir);
    for (int i = 0; i < 5; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL));
        free(code);
    }
    offpay_wallet_close(f.w);
    f.w = NULL;
    REQUIRE(copy_file(f.path, ws) && copy_file(log, ls));
    /* Copy A: five more codes of 10, checkpointed at 10 records. */
    REQUIRE(reopen(&f));
    for (int i = 0; i < 5; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL));
        free(code);
    }
    REQUIRE_OK(offpay_wallet_set_default_cap(f.w, 0));
    offpay_wallet_close(f.w);
    f.w = NULL;
    REQUIRE(copy_file(f.path, wa) && copy_file(log, la));
    /* Copy B: from the same five, five others of 10 a minute later (the
     * same sums: only the chain tells them apart). */
    REQUIRE(copy_file(ws, f.path) && copy_file(ls, log));
    REQUIRE(reopen(&f));
    for (int i = 0; i < 5; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW + 60, &code, NULL));
        free(code);
    }
    offpay_wallet_close(f.w);
    f.w = NULL;
    /* A's sealed file over B's log. */
    REQUIRE(copy_file(wa, f.path));
    REQUIRE(reopen(&f));
    CHECK_ERR(offpay_wallet_get_spend(f.w, 9, &s), OFFPAY_ECORRUPT);
    offpay_wallet_close(f.w);
    f.w = NULL;
    /* A's own log reads. */
    REQUIRE(copy_file(la, log));
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 9, &s));
    CHECK(s.time == NOW && s.counter == 10);
    fixture_free(&f);
}

/*
 * A sync lets the wallet go while it waits on offpayd
 * (offpay__wallet_let_go, online.c): a payment in another process goes
 * on meanwhile, and the sync's handle, taken back, reads what it wrote,
 * so no counter is used twice. Let go, that handle writes nothing; while
 * another holds the wallet it stays let go. A weakly sealed file is sealed
 * again before it is let go, so that the other process's write does not
 * seal it under a key the handle lacks. One sync at a time
 * (path.sync.lock).
 */
static void test_let_go_while_syncing(void)
{
    fixture             f;
    offpay_wallet      *b = NULL;
    offpay_payment      p;
    offpay_wallet_spend s;
    char               *code = NULL;
    uint64_t            opened;
    int                 let = 0, fd = -1, fd2 = -1, wait = offpay__lock_wait_ms;

    offpay__wallet_checkpoint_every = 4;
    REQUIRE(fixture_init(&f, "let_go"));
    REQUIRE(give(&f, 1000000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    for (int i = 0; i < 5; i++) {
        REQUIRE_OK(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL));
        free(code);
    }
    REQUIRE(reopen(&f)); /* opened from the checkpoint after 4 codes */

    /* Let go: nothing written, not even a code. */
    REQUIRE_OK(offpay__wallet_let_go(f.w, &let));
    CHECK(let == 1);
    CHECK_ERR(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL), OFFPAY_EBUSY);
    CHECK(code == NULL);
    CHECK_ERR(offpay_wallet_set_default_cap(f.w, 100), OFFPAY_EBUSY);
    CHECK_ERR(offpay__wallet_sync_apply(f.w, NULL, 0), OFFPAY_EBUSY);
    /* Taken back, it reads the files again (the records after the
     * checkpoint), changed or not. */
    opened = offpay__log_records_opened;
    REQUIRE_OK(offpay__wallet_retake(f.w));
    CHECK(offpay__log_records_opened - opened == 1);

    /* Another process pays five times while the sync waits (a checkpoint
     * among them), then the sync takes the wallet back. */
    REQUIRE_OK(offpay__wallet_let_go(f.w, &let));
    REQUIRE_OK(offpay_wallet_open(f.path, PASS, &b));
    for (int i = 0; i < 5; i++) {
        REQUIRE_OK(offpay_wallet_pay(b, 20 + i, EUR, NOW, &code, &p));
        free(code);
    }
    CHECK(p.counter == 10);
    /* the sync's upload reads the codes as they were when it let go, those
     * before the checkpoint too (read from the log, which has grown) */
    CHECK(offpay_wallet_n_spends(f.w) == 5);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.counter == 1);
    /* ... and still holds the wallet: the retake waits, then gives up, and
     * the handle stays let go */
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay__wallet_retake(f.w), OFFPAY_EBUSY);
    CHECK_ERR(offpay_wallet_pay(f.w, 10, EUR, NOW, &code, NULL), OFFPAY_EBUSY);
    offpay_wallet_close(b);
    b = NULL;
    REQUIRE_OK(offpay__wallet_retake(f.w));
    CHECK(offpay_wallet_n_spends(f.w) == 10);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 9, &s));
    CHECK(s.counter == 10 && s.authorized == 24);
    REQUIRE_OK(offpay_wallet_get_spend(f.w, 0, &s));
    CHECK(s.counter == 1 && s.authorized == 10);
    /* the next code takes the next counter, not one the other used */
    REQUIRE_OK(offpay_wallet_pay(f.w, 30, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == 11);
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 11);

    /* One sync at a time: a second, in another process while the first
     * waits on offpayd, does not wait. */
    REQUIRE_OK(offpay__wallet_sync_lock(f.w, &fd));
    REQUIRE_OK(offpay__wallet_let_go(f.w, &let));
    REQUIRE_OK(offpay_wallet_open(f.path, PASS, &b));
    CHECK_ERR(offpay__wallet_sync_lock(b, &fd2), OFFPAY_EBUSY);
    offpay__lock_release(fd);
    REQUIRE_OK(offpay__wallet_sync_lock(b, &fd2));
    offpay__lock_release(fd2);
    offpay_wallet_close(b);
    REQUIRE_OK(offpay__wallet_retake(f.w));

    /* A file sealed at a lower cost than the default: sealed again at the
     * let go (its key is the handle's), so the retake after another
     * process's payment reads it. */
    offpay_wallet_close(f.w);
    f.w = NULL;
    unsetenv("OFFPAY_KDF_COST");
    REQUIRE(reopen(&f));
    CHECK(file_opslimit(f.path) == crypto_pwhash_OPSLIMIT_MIN);
    REQUIRE_OK(offpay__wallet_let_go(f.w, &let));
    CHECK(file_opslimit(f.path) != crypto_pwhash_OPSLIMIT_MIN);
    REQUIRE_OK(offpay_wallet_open(f.path, PASS, &b));
    REQUIRE_OK(offpay_wallet_pay(b, 5, EUR, NOW, &code, &p));
    free(code);
    offpay_wallet_close(b);
    REQUIRE_OK(offpay__wallet_retake(f.w));
    REQUIRE_OK(offpay_wallet_pay(f.w, 5, EUR, NOW, &code, &p));
    free(code);
    CHECK(p.counter == 13);
    setenv("OFFPAY_KDF_COST", "test", 1);

    /* A retake that cannot read the wallet (here: another wallet's file,
     * sealed under another key, put at its path) leaves the handle let go
     * and the wallet free to others. */
    REQUIRE_OK(offpay__wallet_let_go(f.w, &let));
    {
        fixture g;

        REQUIRE(fixture_init(&g, "let_go_other"));
        REQUIRE(rename(g.path, f.path) == 0);
        fixture_free(&g);
    }
    CHECK_ERR(offpay__wallet_retake(f.w), OFFPAY_EPASSPHRASE);
    CHECK_ERR(offpay_wallet_pay(f.w, 5, EUR, NOW, &code, NULL), OFFPAY_EBUSY);
    /* nor does it ask offpayd anything more (an answer it could not keep) */
    CHECK_ERR(offpay__wallet_let_go(f.w, &let), OFFPAY_EBUSY);
    {
        char lock[700];

        snprintf(lock, sizeof lock, "%s.lock", f.path);
        REQUIRE_OK(offpay__lock_acquire(lock, 0, &fd));
        offpay__lock_release(fd);
    }

    offpay__lock_wait_ms = wait;
    offpay__wallet_checkpoint_every = 4096;
    fixture_free(&f);
}

static char prune_said[600];

static void keep_said(void *ctx, const char *line)
{
    (void)ctx;
    snprintf(prune_said, sizeof prune_said, "%s", line);
}

/* Reads the whole file at path into buf (cap bytes); its length or 0. */
static size_t slurp_into(const char *path, uint8_t *buf, size_t cap)
{
    FILE  *fp = fopen(path, "rb");
    size_t n;

    if (fp == NULL)
        return 0;
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

/* Fails the rename that puts a wallet's new state in place
 * (offpay__file_fault_hook). */
static int fail_rename(const char *step)
{
    return strcmp(step, "rename") == 0;
}

/* A wallet file full of credentials (OFFPAY_WALLET_CREDS_MAX): one more
 * drops the oldest finished one (released, late window over) in the same
 * write; none finished: a clear refusal, nothing changed. The dropped
 * credentials' codes and receipts stay in the log (replayed at every
 * open, whole), their serials are never installed again. */
static void test_full_wallet_drops_finished(void)
{
    fixture                  f;
    uint8_t                  pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                  first[3][OFFPAY_WALLET_CRED_BYTES];
    size_t                   len = 0, first_len[3], n_file, n_file2;
    offpay_wallet_cred       c[3];
    offpay__wallet_sync_cred v[3];
    offpay_wallet_balance    b;
    offpay_wallet_spend      sp;
    char                    *code = NULL;
    uint32_t                 next_before = 0;
    static uint8_t           file1[1 << 21], file2[1 << 21];
    const size_t             max = OFFPAY_WALLET_CREDS_MAX;

    REQUIRE(fixture_init(&f, "full_wallet_drops"));
    offpay_wallet_public_key(f.w, pk);
    for (int i = 0; i < 3; i++) {
        REQUIRE(issue(&f, pk, 1000, EUR, NOW - DAY,
                      NOW + (uint32_t)(i + 1) * DAY, OFFPAY_CRED_ALLOW_UNBOUND,
                      first[i], &first_len[i], &c[i]));
        REQUIRE_OK(
            offpay_wallet_add_credential(f.w, first[i], first_len[i], NOW));
        /* a code of each (the others are full) */
        REQUIRE_OK(offpay_wallet_pay(f.w, 1000, EUR, NOW, &code, NULL));
        free(code);
    }
    CHECK(offpay_wallet_n_spends(f.w) == 3);
    for (size_t i = 3; i < max; i++) {
        REQUIRE(issue(&f, pk, 1000, EUR, NOW - DAY, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
        REQUIRE_OK(offpay_wallet_add_credential(f.w, buf, len, NOW));
    }
    CHECK(offpay_wallet_n_credentials(f.w) == max);
    REQUIRE_OK(offpay_wallet_get_balance(f.w, max - 1, NOW, &b));
    next_before = b.next_counter;

    /* None finished: refused with why, the file as it was. */
    REQUIRE(issue(&f, pk, 1000, EUR, NOW - DAY, NOW + 60 * DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
    n_file = slurp_into(f.path, file1, sizeof file1);
    REQUIRE(n_file > 0);
    offpay_set_log(keep_said, NULL);
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW + 11 * DAY),
              OFFPAY_ERANGE);
    offpay_set_log(offpay_log_stderr, NULL);
    CHECK(strstr(prune_said, "2048 credentials, its most, and none is "
                             "finished: 2045 not yet expired, 0 expired and "
                             "not yet released") != NULL);
    CHECK(strstr(prune_said, "3 never synced") != NULL);
    CHECK(strstr(prune_said, "sync when online") != NULL);
    n_file2 = slurp_into(f.path, file2, sizeof file2);
    CHECK(n_file2 == n_file && memcmp(file1, file2, n_file) == 0);
    CHECK(offpay_wallet_n_credentials(f.w) == max);

    /* offpayd says the three were released, their late window ends at
     * NOW + 10 days. */
    memset(v, 0, sizeof v);
    for (int i = 0; i < 3; i++) {
        v[i].serial = c[i].serial;
        v[i].synced = 1;
        v[i].remaining = 0;
        v[i].released = 1;
        v[i].released_at = NOW + 5 * DAY;
        v[i].release_due = NOW + 5 * DAY;
        v[i].late_until = NOW + 10 * DAY;
    }
    REQUIRE_OK(offpay__wallet_sync_apply(f.w, v, 3));
    /* Still in their late window: nothing finished. */
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW + 10 * DAY),
              OFFPAY_ERANGE);
    /* After it, an install whose write fails (EIO, the fault's) drops
     * nothing: the file as it was, the oldest finished one still held
     * (and dropped by the next install, below), the codes all there. */
    n_file = slurp_into(f.path, file1, sizeof file1);
    offpay__file_fault_hook = fail_rename;
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW + 11 * DAY),
              OFFPAY_EIO);
    offpay__file_fault_hook = NULL;
    n_file2 = slurp_into(f.path, file2, sizeof file2);
    CHECK(n_file2 == n_file && memcmp(file1, file2, n_file) == 0);
    CHECK(offpay_wallet_n_credentials(f.w) == max);
    CHECK(offpay_test_wallet_holds(f.w, c[0].serial, NOW + 11 * DAY));
    CHECK(offpay_wallet_n_spends(f.w) == 3);
    /* After it: each install drops the oldest finished one. */
    for (int i = 0; i < 3; i++) {
        if (i > 0)
            REQUIRE(issue(&f, pk, 1000, EUR, NOW - DAY, NOW + 60 * DAY,
                          OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
        REQUIRE_OK(offpay_wallet_add_credential(f.w, buf, len, NOW + 11 * DAY));
        CHECK(offpay_wallet_n_credentials(f.w) == max);
        for (size_t k = 0; k < max; k++) {
            REQUIRE_OK(offpay_wallet_get_balance(f.w, k, NOW + 11 * DAY, &b));
            for (int j = 0; j <= i; j++)
                CHECK(b.serial != c[j].serial);
        }
    }
    REQUIRE(issue(&f, pk, 1000, EUR, NOW - DAY, NOW + 60 * DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
    CHECK_ERR(offpay_wallet_add_credential(f.w, buf, len, NOW + 11 * DAY),
              OFFPAY_ERANGE);

    /* Reopened: the log whole (the codes of the dropped ones read again
     * from the first record), the others' counters as they were, and a
     * dropped credential never comes back. */
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_credentials(f.w) == max);
    CHECK(offpay_wallet_n_spends(f.w) == 3);
    for (size_t i = 0; i < 3; i++) {
        REQUIRE_OK(offpay_wallet_get_spend(f.w, i, &sp));
        CHECK(sp.serial == c[i].serial && sp.counter == 1 &&
              sp.authorized == 1000);
    }
    REQUIRE_OK(offpay_wallet_get_balance(f.w, max - 4, NOW, &b));
    CHECK(b.next_counter == next_before);
    for (int i = 0; i < 3; i++)
        CHECK_ERR(
            offpay_wallet_add_credential(f.w, first[i], first_len[i], NOW),
            OFFPAY_EEXISTS);
    fixture_free(&f);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"lifetime", test_lifetime},
        {"wrong_passphrase", test_wrong_passphrase},
        {"add_credential", test_add_credential},
        {"default_cap", test_default_cap},
        {"insufficient", test_insufficient},
        {"bound_only_credential", test_bound_only_credential},
        {"credential_choice", test_credential_choice},
        {"counter_persisted", test_counter_persisted},
        {"no_code_without_save", test_no_code_without_save},
        {"symlink_refused", test_symlink_refused},
        {"hard_link_refused", test_hard_link_refused},
        {"every_receipt_kept", test_every_receipt_kept},
        {"receipt_over_authorized_refused",
         test_receipt_over_authorized_refused},
        {"format1_wallet_opens", test_format1_wallet_opens},
        {"state_loader_strict", test_state_loader_strict},
        {"code_is_one_append", test_code_is_one_append},
        {"torn_last_record_every_offset", test_torn_last_record_every_offset},
        {"old_caps_gone", test_old_caps_gone},
        {"weak_file_resealed_by_first_code",
         test_weak_file_resealed_by_first_code},
        {"open_reads_only_records_after_checkpoint",
         test_open_reads_only_records_after_checkpoint},
        {"checkpoint_binds_older_records", test_checkpoint_binds_older_records},
        {"checkpoint_every_n_codes_and_crash",
         test_checkpoint_every_n_codes_and_crash},
        {"receipt_for_code_before_checkpoint",
         test_receipt_for_code_before_checkpoint},
        {"swapped_log_caught_by_chain", test_swapped_log_caught_by_chain},
        {"let_go_while_syncing", test_let_go_while_syncing},
        {"full_wallet_drops_finished", test_full_wallet_drops_finished},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
