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

/* Fails the given step of the next atomic file writes (wallet_file.h). */
static const char *fail_step;

static int fault(const char *step)
{
    return fail_step != NULL && strcmp(step, fail_step) == 0;
}

/* A code the wallet cannot save is never returned, whichever step of the
 * atomic replace fails before the rename. */
static void test_no_code_without_save(void)
{
    static const char *steps[] = {"open", "write", "fsync", "close", "rename"};
    fixture            f;
    offpay_wallet_balance b;
    char                 *code = NULL;

    REQUIRE(fixture_init(&f, "no_save"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    offpay__file_fault_hook = fault;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fail_step = steps[i];
        CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
                  OFFPAY_EIO);
        CHECK(code == NULL);
    }
    fail_step = NULL;
    offpay__file_fault_hook = NULL;
    /* In memory each reservation was kept (the safe side). On disk there
     * is none: after a restart counter 1 may be used again, which is safe
     * because no code with it ever left the wallet. */
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.pending == 500 && b.codes == 5);
    REQUIRE(reopen(&f));
    REQUIRE_OK(offpay_wallet_get_balance(f.w, 0, NOW, &b));
    CHECK(b.pending == 0 && b.codes == 0);
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL));
    free(code);
    fixture_free(&f);
}

/*
 * The spend log is bounded (OFFPAY_WALLET_SPENDS_MAX). A full log whose
 * credentials are all live refuses new codes with OFFPAY_ERANGE (nothing is
 * lost, no code is made); once a credential has been expired 90 days, it
 * and its codes are dropped and codes can be made again.
 */
static void test_spend_log_full(void)
{
    fixture                f;
    offpay__wallet_sealer *sealer = NULL;
    offpay_wallet_cred     a;
    uint8_t                pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    uint8_t               *plain = NULL;
    size_t                 len = 0, plain_len = 0;
    json_t                *root = NULL, *spends;
    char                  *text = NULL, *code = NULL;
    uint32_t               later = NOW + DAY + 91 * DAY;

    REQUIRE(fixture_init(&f, "spend_log_full"));
    offpay_wallet_public_key(f.w, pk);
    /* A expires tomorrow; B lasts 200 days. */
    REQUIRE(issue(&f, pk, 100000, EUR, NOW - DAY, NOW + DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, &a));
    REQUIRE(offpay_wallet_add_credential(f.w, buf, len, NOW) == OFFPAY_OK);
    REQUIRE(issue(&f, pk, 100000, EUR, NOW - DAY, NOW + 200 * DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
    REQUIRE(offpay_wallet_add_credential(f.w, buf, len, NOW) == OFFPAY_OK);
    offpay_wallet_close(f.w);
    f.w = NULL;

    /* Fill the log with receipted codes of A, as years of use would. */
    REQUIRE_OK(
        offpay__wallet_sealer_load(f.path, PASS, &plain, &plain_len, &sealer));
    root = json_loadb((const char *)plain, plain_len, 0, NULL);
    offpay__wallet_plain_free(plain, plain_len);
    REQUIRE(root != NULL);
    spends = json_object_get(root, "spends");
    /* A's counters 1..MAX are used: its next counter follows them. */
    json_object_set_new(json_array_get(json_object_get(root, "creds"), 0),
                        "next_counter",
                        json_integer(OFFPAY_WALLET_SPENDS_MAX + 1));
    for (int i = 1; i <= OFFPAY_WALLET_SPENDS_MAX; i++)
        json_array_append_new(
            spends, json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:[]}",
                              "serial", (json_int_t)a.serial, "counter", i,
                              "authorized", 1, "time", (int)NOW, "bound", 0,
                              "merchant_id", 0, "charged", 1, "receipts"));
    text = json_dumps(root, JSON_COMPACT);
    REQUIRE(text != NULL);
    CHECK(offpay__wallet_sealer_save(sealer, f.path, (const uint8_t *)text,
                                     strlen(text)) == OFFPAY_OK);
    offpay__json_free(text);
    json_decref(root);
    offpay__wallet_sealer_free(sealer);

    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == OFFPAY_WALLET_SPENDS_MAX);
    CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, NULL),
              OFFPAY_ERANGE);
    CHECK(code == NULL);
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == OFFPAY_WALLET_SPENDS_MAX);

    /* 91 days after A expired: A's log goes, B pays. A stays, so it can
     * never be added again with its counters restarted. */
    CHECK_ERR(offpay_wallet_pay(f.w, 100, EUR, later, &code, NULL), OFFPAY_OK);
    CHECK(code != NULL);
    CHECK(offpay_wallet_n_credentials(f.w) == 2);
    free(code);
    code = NULL;
    /* Retired: with the clock set back to when A was valid, A (its log
     * gone) still cannot pay; B cannot cover this much. */
    CHECK_ERR(offpay_wallet_pay(f.w, 99950, EUR, NOW, &code, NULL),
              OFFPAY_ECOUNTER);
    CHECK(code == NULL);
    CHECK(offpay_wallet_n_spends(f.w) == 1);
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == 1);
    free(code);
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
    unlink(dirlink);
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
    char           alias[700];
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
 * no receipts) opens with its balances; the next save writes format 2 and
 * it opens again the same. Taking again the receipt whose amount it
 * recorded replaces that amount by the receipt itself.
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
    CHECK(plain_len > 12 && memcmp(plain, "{\"format\":2,", 12) == 0);
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

/*
 * The state loader on its own (what fuzz_wallet_state feeds): a real state
 * loads and dumps back to itself; wrong types, unknown keys, duplicate
 * codes and receipts that do not match their code are refused.
 */
static void test_state_loader_strict(void)
{
    fixture        f;
    term           shop;
    offpay_payment p;
    offpay_wallet *w = NULL;
    char          *code = NULL, *rt, *text = NULL, *text2 = NULL;
    size_t         len = 0, len2 = 0;
    json_t        *root, *sp, *e;

    REQUIRE(fixture_init(&f, "state_loader"));
    REQUIRE(give(&f, 10000, EUR, OFFPAY_CRED_ALLOW_UNBOUND));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    REQUIRE_OK(offpay_wallet_pay(f.w, 1000, EUR, NOW, &code, &p));
    free(code);
    rt = receipt(&shop, p.cred.serial, p.counter, 900, NOW + 1);
    REQUIRE(rt != NULL);
    REQUIRE_OK(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL));
    free(rt);
    REQUIRE_OK(offpay__wallet_state_dump(f.w, &text, &len));
    REQUIRE_OK(offpay__wallet_state_load((const uint8_t *)text, len, &w));
    REQUIRE_OK(offpay__wallet_state_dump(w, &text2, &len2));
    CHECK(len == len2 && memcmp(text, text2, len) == 0);
    /* A handle without a file cannot save. */
    CHECK_ERR(offpay_wallet_set_default_cap(w, 5), OFFPAY_EINVAL);
    offpay_wallet_close(w);
    w = NULL;
    offpay__json_free(text2);

#define MUTATE(stmt)                                                           \
    do {                                                                       \
        char *m_;                                                              \
        root = json_loads(text, 0, NULL);                                      \
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
    MUTATE(json_object_set_new(root, "format", json_integer(3)));
    MUTATE(json_object_set_new(e, "extra", json_true()));
    MUTATE(json_object_set_new(e, "receipts", json_string("")));
    MUTATE(json_object_set_new(e, "counter", json_integer(2))); /* >= next */
    MUTATE(json_object_set_new(e, "authorized", json_integer(899)));
    MUTATE(json_object_set_new(e, "merchant_id", json_integer(7)));
    MUTATE(json_object_set_new(e, "charged", json_integer(-1)));
    MUTATE(json_object_set_new(e, "serial", json_integer(424242)));
    MUTATE(json_array_append(sp, e)); /* the same code twice */
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
    offpay__json_free(text);
    offpay_keypair_wipe(&shop.kp);
    fixture_free(&f);
}

/* Hex of a receipt by t charging amount for (serial, counter), signed. */
static json_t *receipt_hex(const term *t, uint64_t serial, uint32_t counter,
                           uint32_t amount)
{
    offpay_receipt r;
    uint8_t        msg[OFFPAY_SIGNED_MAX], buf[512];
    char           hex[1025];
    size_t         len = 0;

    memset(&r, 0, sizeof r);
    r.tcred = t->tc;
    r.serial = serial;
    r.counter = counter;
    r.amount = amount;
    r.currency = EUR;
    r.time = NOW;
    if (offpay__receipt_signed_bytes(&r, msg, sizeof msg, &len) != OFFPAY_OK ||
        offpay_sign(OFFPAY_DS_RECEIPT, msg, len, t->kp.sk, r.sig) !=
            OFFPAY_OK ||
        offpay_receipt_encode(&r, buf, sizeof buf, &len) != OFFPAY_OK)
        return NULL;
    return json_string(sodium_bin2hex(hex, sizeof hex, buf, len));
}

/* Size of v's compact JSON, plus the comma before it in an array. */
static size_t json_size(const json_t *v)
{
    char  *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = t != NULL ? strlen(t) + 1 : 0;

    offpay__json_free(t);
    return n;
}

/*
 * The state must fit the wallet file (1 MiB of plaintext). A receipt that
 * would outgrow it is refused with OFFPAY_ERANGE and not kept, the file
 * untouched; so is a code (its counter not used); once a credential has
 * been expired 90 days its log is pruned to make room and codes work.
 */
static void test_state_too_large_refused(void)
{
    fixture                f;
    term                   shop;
    offpay__wallet_sealer *sealer = NULL;
    offpay_wallet_cred     a;
    offpay_wallet_spend    s;
    offpay_payment         p;
    uint8_t                pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    uint8_t               *plain = NULL, *before = NULL;
    size_t                 len = 0, plain_len = 0, before_len = 0, total;
    size_t                 n_before;
    json_t                *root = NULL, *spends;
    char                  *text = NULL, *code = NULL, *rt = NULL;
    uint32_t               counter = 0, later = NOW + DAY + 91 * DAY;
    offpay_err             rc = OFFPAY_OK;

    REQUIRE(fixture_init(&f, "too_large"));
    REQUIRE(term_init(&f, &shop, 7, "Shop"));
    offpay_wallet_public_key(f.w, pk);
    /* A expires tomorrow and holds the big log; B lasts 200 days. */
    REQUIRE(issue(&f, pk, 100000, EUR, NOW - DAY, NOW + DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, &a));
    REQUIRE_OK(offpay_wallet_add_credential(f.w, buf, len, NOW));
    REQUIRE(issue(&f, pk, 100000, EUR, NOW - DAY, NOW + 200 * DAY,
                  OFFPAY_CRED_ALLOW_UNBOUND, buf, &len, NULL));
    REQUIRE_OK(offpay_wallet_add_credential(f.w, buf, len, NOW));
    offpay_wallet_close(f.w);
    f.w = NULL;

    REQUIRE_OK(
        offpay__wallet_sealer_load(f.path, PASS, &plain, &plain_len, &sealer));
    root = json_loadb((const char *)plain, plain_len, 0, NULL);
    offpay__wallet_plain_free(plain, plain_len);
    REQUIRE(root != NULL);
    spends = json_object_get(root, "spends");
    total = json_size(root);
    /* Receipted codes of A while they fit with 1000 bytes to spare, then
     * codes without receipts while 300 to spare: room for one more code,
     * not for its receipt. */
    for (int pass = 0; pass < 2; pass++) {
        for (;;) {
            json_t *e =
                json_pack("{s:I, s:I, s:i, s:i, s:i, s:i, s:[]}", "serial",
                          (json_int_t)a.serial, "counter",
                          (json_int_t)(counter + 1), "authorized", 1, "time",
                          (int)NOW, "bound", 0, "merchant_id", 0, "receipts");
            size_t n;

            REQUIRE(e != NULL);
            if (pass == 0)
                json_array_append_new(
                    json_object_get(e, "receipts"),
                    receipt_hex(&shop, a.serial, counter + 1, 1));
            n = json_size(e);
            if (total + n > OFFPAY__WALLET_PLAIN_MAX - (pass ? 300 : 1000)) {
                json_decref(e);
                break;
            }
            json_array_append_new(spends, e);
            total += n;
            counter++;
        }
    }
    REQUIRE(counter < OFFPAY_WALLET_SPENDS_MAX - 4);
    json_object_set_new(json_array_get(json_object_get(root, "creds"), 0),
                        "next_counter", json_integer(counter + 1));
    text = json_dumps(root, JSON_COMPACT);
    REQUIRE(text != NULL);
    CHECK(strlen(text) + 290 < OFFPAY__WALLET_PLAIN_MAX &&
          strlen(text) + 450 > OFFPAY__WALLET_PLAIN_MAX);
    REQUIRE_OK(offpay__wallet_sealer_save(sealer, f.path, (const uint8_t *)text,
                                          strlen(text)));
    offpay__json_free(text);
    json_decref(root);
    offpay__wallet_sealer_free(sealer);

    /* One more code of B fits; its receipt does not, and is not kept. */
    REQUIRE(reopen(&f));
    REQUIRE(offpay_wallet_n_spends(f.w) == counter);
    REQUIRE_OK(offpay_wallet_pay(f.w, 100, EUR, NOW, &code, &p));
    free(code);
    code = NULL;
    rt = receipt(&shop, p.cred.serial, p.counter, 100, NOW + 1);
    REQUIRE(rt != NULL);
    before = slurp(f.path, &before_len);
    REQUIRE(before != NULL);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, rt, NOW + 2, NULL),
              OFFPAY_ERANGE);
    CHECK(same_bytes(f.path, before, before_len));
    REQUIRE_OK(offpay_wallet_get_spend(f.w, counter, &s));
    CHECK(s.counter == p.counter && s.n_receipts == 0 && s.charged == -1);
    /* Codes until the file is full: then ERANGE, no counter used. */
    for (int i = 0; i < 8 && rc == OFFPAY_OK; i++) {
        rc = offpay_wallet_pay(f.w, 1, EUR, NOW, &code, NULL);
        free(code);
        code = NULL;
    }
    CHECK_ERR(rc, OFFPAY_ERANGE);
    n_before = offpay_wallet_n_spends(f.w);
    free(before);
    before = slurp(f.path, &before_len);
    REQUIRE(before != NULL);
    CHECK_ERR(offpay_wallet_pay(f.w, 1, EUR, NOW, &code, NULL), OFFPAY_ERANGE);
    CHECK(code == NULL && offpay_wallet_n_spends(f.w) == n_before);
    CHECK(same_bytes(f.path, before, before_len));
    REQUIRE(reopen(&f));
    CHECK(offpay_wallet_n_spends(f.w) == n_before);
    /* 91 days after A expired its log goes: room again. */
    CHECK_ERR(offpay_wallet_pay(f.w, 1, EUR, later, &code, &p), OFFPAY_OK);
    CHECK(code != NULL && p.cred.serial != a.serial);
    CHECK(offpay_wallet_n_spends(f.w) == n_before - counter + 1);
    CHECK_ERR(offpay_wallet_take_receipt(f.w, rt, later, NULL), OFFPAY_OK);
    free(code);
    free(rt);
    free(before);
    offpay_keypair_wipe(&shop.kp);
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
        {"spend_log_full", test_spend_log_full},
        {"symlink_refused", test_symlink_refused},
        {"hard_link_refused", test_hard_link_refused},
        {"every_receipt_kept", test_every_receipt_kept},
        {"receipt_over_authorized_refused",
         test_receipt_over_authorized_refused},
        {"format1_wallet_opens", test_format1_wallet_opens},
        {"state_loader_strict", test_state_loader_strict},
        {"state_too_large_refused", test_state_too_large_refused},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
