/*
 * test_wallet.c — the payer's wallet on its own (wallet.h): its lifetime
 * (create, open, close), the passphrase, the checks on credentials it is
 * given, the default cap of codes made without an amount, refusals
 * (insufficient allowance, wrong currency, bound-only credential), and the
 * overspend-safety rule that a code's counter and reservation are on disk
 * before the code is returned (DESIGN.md invariant 2).
 *
 * A real issuer signs the credentials; no terminal is involved. Every test
 * uses its own directory under offpay_test_tmpdir() and OFFPAY_KDF_COST=test
 * so that each save (one Argon2id run) is cheap.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/jsonutil.h"
#include "wallet/wallet_file.h"

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
            spends, json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:i}", "serial",
                              (json_int_t)a.serial, "counter", i, "authorized",
                              1, "time", (int)NOW, "bound", 0, "merchant_id", 0,
                              "charged", 1));
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
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
