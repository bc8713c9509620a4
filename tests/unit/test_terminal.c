/*
 * test_terminal.c — the merchant's terminal (terminal.h) against real
 * issuers and wallets: every rejection of docs/protocol.md §5 and of the
 * risk rules with its SPECIFIC error (DESIGN.md invariant 5), the wallet
 * file's refusals, and the positive paths: the journal, receipts moving a
 * wallet's balance from pending to confirmed, and the wallet-side
 * conservation rule of invariant 2 over many random codes and restarts.
 *
 * Each test builds its own small world (issuer, wallet, terminal) in its
 * own directory under offpay_test_tmpdir(), with OFFPAY_KDF_COST=test so
 * every Argon2id run is cheap. Time is simulated: NOW is a fixed instant,
 * the issuer's signing key is valid from NOW - DAY for two years, and the
 * terminal is provisioned and synced at NOW (so its offline limits, 72
 * hours and a 7-day revocation list, count from there).
 *
 * Codes a wallet will not make (unbound codes of a bound-only credential,
 * forged nonces, unknown key ids, amounts beyond the limit) are made by
 * hand: a key pair of the test's own, a credential for it (from the real
 * issuer, or signed by a stranger), and offpay_sign over the code's bytes.
 */
#include "harness.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/message_int.h"
#include "issuer/issuer_int.h"
#include "terminal/terminal_int.h"
#include "terminal/upload_int.h"
#include "wallet/wallet_file.h"
#include "wallet/wallet_int.h"

#define NOW  1700000000u
#define DAY  86400u
#define EUR  978
#define USD  840
#define PASS "terminal test passphrase"

/* One test's world. */
typedef struct world {
    char             dir[512];
    offpay_issuer   *is;
    uint8_t          root_pk[OFFPAY_PK_BYTES];
    uint8_t         *bundle;
    size_t           bundle_len;
    offpay_wallet   *w;
    offpay_terminal *t; /* merchant 1, EUR */
    char             wallet_path[600];
    char             term_path[600];
} world;

static void world_free(world *x)
{
    offpay_terminal_close(x->t);
    offpay_wallet_close(x->w);
    offpay_issuer_close(x->is);
    free(x->bundle);
    memset(x, 0, sizeof *x);
}

/* Path dir/name into out. */
static const char *in_dir(const world *x, const char *name, char *out,
                          size_t cap)
{
    snprintf(out, cap, "%s/%s", x->dir, name);
    return out;
}

/* Issues a credential to wallet w (limit in minor units) and adds it.
 * out may be NULL. Returns 0 on failure. */
static int give_cred(world *x, offpay_wallet *w, int64_t limit,
                     uint16_t currency, uint32_t from, uint32_t until,
                     uint8_t flags, uint32_t now, offpay_wallet_cred *out)
{
    uint8_t            pk[OFFPAY_PK_BYTES], buf[OFFPAY_WALLET_CRED_BYTES];
    size_t             n = 0;
    offpay_wallet_cred c;

    offpay_wallet_public_key(w, pk);
    if (offpay_issuer_issue_wallet(x->is, pk, limit, currency, from, until,
                                   flags, &c) != OFFPAY_OK ||
        offpay_wallet_cred_encode(&c, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_wallet_add_credential(w, buf, n, now) != OFFPAY_OK)
        return 0;
    if (out != NULL)
        *out = c;
    return 1;
}

/* A new terminal in x->dir/name for merchant in currency, its own
 * credential valid from..until, provisioned and synced (full revocation
 * list) at now. NULL on failure. */
static offpay_terminal *new_terminal_window(world *x, const char *name,
                                            uint64_t merchant,
                                            uint16_t currency, uint32_t now,
                                            uint32_t from, uint32_t until)
{
    char                 path[600];
    offpay_terminal     *t = NULL;
    offpay_terminal_cred tc;
    uint8_t              pk[OFFPAY_PK_BYTES], buf[512], *rl = NULL;
    size_t               n = 0, rllen = 0;

    if (offpay_terminal_create(in_dir(x, name, path, sizeof path), PASS,
                               x->root_pk, x->bundle, x->bundle_len, currency,
                               &t) != OFFPAY_OK)
        return NULL;
    offpay_terminal_public_key(t, pk);
    if (offpay_issuer_issue_terminal(x->is, merchant, pk, currency,
                                     "Test Merchant", from, until,
                                     &tc) != OFFPAY_OK ||
        offpay_terminal_cred_encode(&tc, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_terminal_set_credential(t, buf, n, now) != OFFPAY_OK ||
        offpay_issuer_revlist(x->is, now, &rl, &rllen) != OFFPAY_OK ||
        offpay_terminal_sync(t, NULL, 0, rl, rllen, now) != OFFPAY_OK) {
        offpay_terminal_close(t);
        t = NULL;
    }
    free(rl);
    return t;
}

/* new_terminal_window with a credential valid NOW - DAY .. NOW + 365 days. */
static offpay_terminal *new_terminal(world *x, const char *name,
                                     uint64_t merchant, uint16_t currency,
                                     uint32_t now)
{
    return new_terminal_window(x, name, merchant, currency, now, NOW - DAY,
                               NOW + 365 * DAY);
}

/*
 * A world named name: issuer (key valid from NOW - DAY), a wallet, and
 * terminal x->t of merchant 1 in EUR. With cred_limit > 0, the wallet also
 * gets an EUR credential of that limit, valid NOW - DAY .. NOW + 30 days,
 * allowing unbound codes. Returns 0 on failure.
 */
static int world_init(world *x, const char *name, int64_t cred_limit)
{
    char path[600];

    memset(x, 0, sizeof *x);
    setenv("OFFPAY_KDF_COST", "test", 1);
    snprintf(x->dir, sizeof x->dir, "%s/%s", offpay_test_tmpdir(), name);
    if (mkdir(x->dir, 0700) != 0 && errno != EEXIST)
        return 0;
    snprintf(x->wallet_path, sizeof x->wallet_path, "%s/wallet", x->dir);
    snprintf(x->term_path, sizeof x->term_path, "%s/terminal", x->dir);
    if (offpay_issuer_create(in_dir(x, "issuer", path, sizeof path), PASS,
                             NOW - DAY, &x->is) != OFFPAY_OK)
        return 0;
    offpay_issuer_root_pk(x->is, x->root_pk);
    if (offpay_issuer_bundle(x->is, &x->bundle, &x->bundle_len) != OFFPAY_OK ||
        offpay_wallet_create(x->wallet_path, PASS, x->root_pk, x->bundle,
                             x->bundle_len, &x->w) != OFFPAY_OK)
        return 0;
    x->t = new_terminal(x, "terminal", 1, EUR, NOW);
    if (x->t == NULL)
        return 0;
    if (cred_limit > 0 &&
        !give_cred(x, x->w, cred_limit, EUR, NOW - DAY, NOW + 30 * DAY,
                   OFFPAY_CRED_ALLOW_UNBOUND, NOW, NULL))
        return 0;
    return 1;
}

/* A consumer-presented code from x->w, made at now. NULL on failure. */
static char *cpm(world *x, int64_t amount, uint32_t now)
{
    char *text = NULL;

    if (offpay_wallet_pay(x->w, amount, EUR, now, &text, NULL) != OFFPAY_OK)
        return NULL;
    return text;
}

/* A request of t for amount at now, paid by x->w at now: the bound code.
 * *q (may be NULL) receives the request. NULL on failure. */
static char *bound(world *x, offpay_terminal *t, int64_t amount, uint32_t now,
                   offpay_request *q_out)
{
    char          *rq = NULL, *text = NULL;
    offpay_request q;

    if (offpay_terminal_request(t, amount, now, &rq, NULL) == OFFPAY_OK &&
        offpay_wallet_read_request(x->w, rq, now, &q) == OFFPAY_OK &&
        offpay_wallet_pay_request(x->w, &q, now, &text, NULL) == OFFPAY_OK &&
        q_out != NULL)
        *q_out = q;
    free(rq);
    return text;
}

/* check / accept a text code (NUL-terminated) on t. */
static offpay_err check(offpay_terminal *t, const char *text, int64_t charge,
                        uint32_t now)
{
    if (text == NULL)
        return OFFPAY_EINVAL;
    return offpay_terminal_check(t, text, strlen(text), charge, now, NULL);
}

static offpay_err accept(offpay_terminal *t, const char *text, int64_t charge,
                         uint32_t now)
{
    if (text == NULL)
        return OFFPAY_EINVAL;
    return offpay_terminal_accept(t, text, strlen(text), charge, now, NULL);
}

/*
 * A code made by hand: cred (whose wallet_pk is kp's) + the fields given,
 * signed with kp under the payment domain. bound: merchant and nonce are
 * present. malloc'd text; NULL on failure.
 */
static char *craft(const offpay_keypair *kp, const offpay_wallet_cred *cred,
                   uint32_t counter, uint32_t amount, uint32_t time,
                   int is_bound, uint64_t merchant,
                   const uint8_t nonce[OFFPAY_NONCE_BYTES])
{
    offpay_payment p;
    uint8_t        buf[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         len = 0;
    char          *text = NULL;

    memset(&p, 0, sizeof p);
    p.cred = *cred;
    p.counter = counter;
    p.amount = amount;
    p.time = time;
    p.bound = is_bound;
    if (is_bound) {
        p.merchant_id = merchant;
        memcpy(p.nonce, nonce, OFFPAY_NONCE_BYTES);
    }
    /* Encode with a blank signature, sign everything before it. */
    if (offpay_payment_encode(&p, buf, sizeof buf, &len) != OFFPAY_OK ||
        offpay_sign(OFFPAY_DS_PAYMENT, buf, len - OFFPAY_SIG_BYTES, kp->sk,
                    p.sig) != OFFPAY_OK ||
        offpay_payment_encode(&p, buf, sizeof buf, &len) != OFFPAY_OK ||
        offpay_text_encode(buf, len, &text) != OFFPAY_OK)
        return NULL;
    return text;
}

/* A key pair of the test's own and a credential for it from x's issuer. */
static int own_cred(world *x, offpay_keypair *kp, int64_t limit, uint8_t flags,
                    offpay_wallet_cred *c)
{
    return offpay_keypair_generate(kp) == OFFPAY_OK &&
           offpay_issuer_issue_wallet(x->is, kp->pk, limit, EUR, NOW - DAY,
                                      NOW + 30 * DAY, flags, c) == OFFPAY_OK;
}

/* ---- credential checks ---------------------------------------------- */

static void test_expired(void)
{
    world       x;
    offpay_risk r;
    char       *code;

    REQUIRE(world_init(&x, "expired", 0));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - DAY, NOW + 1000,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, NULL));
    /* The code's own age is not what this test is about. */
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.max_code_age_unbound = r.max_code_age;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    code = cpm(&x, 1000, NOW + 900);
    CHECK(code != NULL);
    /* Within the credential's window widened by the skew (120 s): fine. */
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 + 120), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 + 121), OFFPAY_EEXPIRED);
    /* The credential cache must not hide expiry: second look, same answer. */
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 + 121), OFFPAY_EEXPIRED);
    offpay_terminal_set_cred_cache(x.t, 0);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 + 121), OFFPAY_EEXPIRED);
    free(code);
    world_free(&x);
}

static void test_not_yet_valid(void)
{
    world x;
    char *code;

    REQUIRE(world_init(&x, "not_yet_valid", 0));
    /* The wallet stores a future credential but uses it only once valid. */
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW + 1000, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, NULL));
    CHECK(cpm(&x, 1000, NOW + 999) == NULL);
    code = cpm(&x, 1000, NOW + 1000);
    CHECK(code != NULL);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 - 121), OFFPAY_ENOT_YET_VALID);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 - 120), OFFPAY_OK);
    /* Cached now; the window still holds. */
    CHECK_ERR(check(x.t, code, 1000, NOW + 1000 - 121), OFFPAY_ENOT_YET_VALID);
    free(code);
    world_free(&x);
}

static void test_revoked(void)
{
    world              x;
    offpay_wallet_cred c;
    char              *code;
    uint8_t           *rl = NULL;
    size_t             rllen = 0;

    REQUIRE(world_init(&x, "revoked", 0));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - DAY, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, &c));
    code = cpm(&x, 1000, NOW + 10);
    CHECK_ERR(check(x.t, code, 1000, NOW + 11), OFFPAY_OK);
    REQUIRE_OK(offpay_issuer_revoke(x.is, c.serial, NOW + 5));
    CHECK_ERR(offpay_issuer_revoke(x.is, c.serial, NOW + 5), OFFPAY_EEXISTS);
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 5, &rl, &rllen));
    /* Not known to the terminal until it syncs. */
    CHECK_ERR(check(x.t, code, 1000, NOW + 11), OFFPAY_OK);
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 6),
              OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + 11), OFFPAY_EREVOKED);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 11), OFFPAY_EREVOKED);
    /* And after a restart. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    CHECK_ERR(check(x.t, code, 1000, NOW + 11), OFFPAY_EREVOKED);
    /* Opened without the passphrase, it cannot sign: the upload is
     * refused before anything is sent (no server listens on port 9) */
    CHECK_ERR(offpay_terminal_upload(x.t, "http://127.0.0.1:9", 0, NOW + 11,
                                     NULL),
              OFFPAY_EPASSPHRASE);
    free(rl);
    free(code);
    world_free(&x);
}

/*
 * 64-bit identifiers of 2^63 and more: SQLite and JSON hold them as signed
 * integers, so they must still sort and round-trip as unsigned. A revoked
 * set {5, 2^63 + 1, 2^64 - 1} is searched in unsigned order, and a wallet
 * that paid a merchant numbered 2^63 still opens.
 */
static void test_big_identifiers(void)
{
    world            x;
    offpay_terminal *big;
    uint8_t         *rl = NULL;
    size_t           rllen = 0;
    char            *code;
    const uint64_t   serials[] = {UINT64_MAX, 5, (1ULL << 63) + 1};

    REQUIRE(world_init(&x, "big_identifiers", 100000));
    for (size_t i = 0; i < 3; i++)
        REQUIRE_OK(offpay__issuer_revoke_any(x.is, serials[i], NOW + 1));
    offpay_issuer_close(x.is);
    x.is = NULL;
    {
        char path[600];

        /* The issuer's sealed state round-trips them too. */
        REQUIRE_OK(offpay_issuer_open(in_dir(&x, "issuer", path, sizeof path),
                                      PASS, &x.is));
    }
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 2, &rl, &rllen));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 3));
    REQUIRE(x.t->n_revoked == 3);
    CHECK(x.t->revoked[0] == 5);
    CHECK(x.t->revoked[1] == (1ULL << 63) + 1);
    CHECK(x.t->revoked[2] == UINT64_MAX);
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    REQUIRE(x.t->n_revoked == 3);
    CHECK(x.t->revoked[1] == (1ULL << 63) + 1);

    big = new_terminal(&x, "big", 1ULL << 63, EUR, NOW + 3);
    REQUIRE(big != NULL);
    code = bound(&x, big, 500, NOW + 4, NULL);
    CHECK(code != NULL);
    CHECK_ERR(accept(big, code, 0, NOW + 5), OFFPAY_OK);
    offpay_wallet_close(x.w);
    x.w = NULL;
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &x.w), OFFPAY_OK);
    if (x.w != NULL) {
        offpay_wallet_spend sp;

        CHECK_ERR(offpay_wallet_get_spend(x.w, 0, &sp), OFFPAY_OK);
        CHECK(sp.merchant_id == 1ULL << 63);
    }
    offpay_terminal_close(big);
    free(code);
    free(rl);
    world_free(&x);
}

/* An open terminal is locked: a second handle (another process, or this
 * one) is refused, so the first handle's in-memory seen-set and sums can
 * never go stale behind another writer. */
static void test_terminal_locked(void)
{
    world            x;
    offpay_terminal *t2 = NULL;

    REQUIRE(world_init(&x, "terminal_locked", 0));
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay_terminal_open(x.term_path, NULL, &t2), OFFPAY_EBUSY);
    CHECK(t2 == NULL);
    offpay_terminal_close(x.t);
    x.t = NULL;
    CHECK_ERR(offpay_terminal_open(x.term_path, NULL, &t2), OFFPAY_OK);
    offpay_terminal_close(t2);
    offpay__lock_wait_ms = 10000;
    world_free(&x);
}

/* Durability rests on the journal's connection settings: WAL mode and
 * synchronous=FULL (per connection), so COMMIT returns only after the WAL
 * is fsynced. SIGKILL tests cannot see a missing fsync; this test can. */
static void pragma_is(sqlite3 *db, const char *pragma, const char *want)
{
    sqlite3_stmt *st = NULL;

    REQUIRE(sqlite3_prepare_v2(db, pragma, -1, &st, NULL) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(st, 0), want) != 0) {
        fprintf(stderr, "%s is %s, want %s\n", pragma,
                (const char *)sqlite3_column_text(st, 0), want);
        offpay_test_failures++;
    }
    sqlite3_finalize(st);
}

static void test_durable_settings(void)
{
    world x;

    REQUIRE(world_init(&x, "durable_settings", 0));
    pragma_is(x.t->db, "PRAGMA journal_mode", "wal");
    pragma_is(x.t->db, "PRAGMA synchronous", "2"); /* FULL */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    pragma_is(x.t->db, "PRAGMA journal_mode", "wal");
    pragma_is(x.t->db, "PRAGMA synchronous", "2");
    world_free(&x);
}

static void test_wrong_currency(void)
{
    world x;
    char *code = NULL;

    REQUIRE(world_init(&x, "wrong_currency", 0));
    REQUIRE(give_cred(&x, x.w, 100000, USD, NOW - DAY, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, NULL));
    CHECK_ERR(offpay_wallet_pay(x.w, 1000, EUR, NOW, &code, NULL),
              OFFPAY_ENO_CREDENTIAL);
    CHECK_ERR(offpay_wallet_pay(x.w, 1000, USD, NOW, &code, NULL), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_ECURRENCY);
    free(code);
    world_free(&x);
}

static void test_unknown_kid(void)
{
    world              x, y;
    offpay_keypair     kp, stranger;
    offpay_wallet_cred c;
    char              *code;

    REQUIRE(world_init(&x, "unknown_kid", 0));
    /* A credential claiming kid 99, which the bundle does not have: the kid
     * is checked before any signature. */
    REQUIRE_OK(offpay_keypair_generate(&kp));
    REQUIRE_OK(offpay_keypair_generate(&stranger));
    memset(&c, 0, sizeof c);
    c.kid = 99;
    c.serial = 4242;
    memcpy(c.wallet_pk, kp.pk, OFFPAY_PK_BYTES);
    c.limit = 100000;
    c.currency = EUR;
    c.valid_from = NOW - DAY;
    c.expires = NOW + DAY;
    c.flags = OFFPAY_CRED_ALLOW_UNBOUND;
    REQUIRE_OK(offpay_issuer_sign_wallet_cred(stranger.sk, &c));
    code = craft(&kp, &c, 1, 1000, NOW, 0, 0, NULL);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_EUNKNOWN_KID);
    free(code);

    /* A second issuer's credential names kid 1, which this bundle has with
     * another key: the issuer signature fails. */
    REQUIRE(world_init(&y, "unknown_kid_other_issuer", 0));
    REQUIRE_OK(offpay_issuer_issue_wallet(y.is, kp.pk, 100000, EUR, NOW - DAY,
                                          NOW + DAY, OFFPAY_CRED_ALLOW_UNBOUND,
                                          &c));
    code = craft(&kp, &c, 1, 1000, NOW, 0, 0, NULL);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_ECRED_SIG);
    CHECK_ERR(check(y.t, code, 1000, NOW + 1), OFFPAY_OK);
    free(code);
    offpay_keypair_wipe(&kp);
    offpay_keypair_wipe(&stranger);
    world_free(&y);
    world_free(&x);
}

static void test_kid_expired(void)
{
    world               x;
    offpay_trust_bundle b;
    offpay_terminal    *late, *early;
    char               *code;
    uint32_t            from, until;

    REQUIRE(world_init(&x, "kid_expired", 100000));
    REQUIRE_OK(offpay_bundle_decode(x.bundle, x.bundle_len, &b));
    REQUIRE(b.n_keys == 1 && b.keys[0].kid == 1);
    from = b.keys[0].valid_from;
    until = b.keys[0].valid_until;
    code = cpm(&x, 1000, NOW);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_OK);
    /* Past the key's window the key id is refused before anything else of
     * the code, with the credential cache warm or cold. A terminal's own
     * credential lies within the same key's window, and the terminal
     * judges it as settlement does (docs/settlement.md §8): past the key's
     * end, even within the skew of its credential's, it refuses itself
     * first, since nothing it accepted would be paid. */
    late = new_terminal_window(&x, "late", 1, EUR, NOW, NOW - DAY, until);
    REQUIRE(late != NULL);
    CHECK_ERR(check(late, code, 1000, NOW + 1), OFFPAY_OK);
    CHECK_ERR(check(late, code, 1000, until + 1), OFFPAY_ETERMINAL_EXPIRED);
    offpay_terminal_set_cred_cache(late, 0);
    CHECK_ERR(check(late, code, 1000, until + 1), OFFPAY_ETERMINAL_EXPIRED);
    /* x.t's own credential ends a year earlier: the terminal refuses first. */
    CHECK_ERR(check(x.t, code, 1000, until + 1), OFFPAY_ETERMINAL_EXPIRED);
    /* Before the key's window too: a terminal provisioned at its first
     * second, its clock then 1 s behind (within the skew). */
    early = new_terminal_window(&x, "early", 1, EUR, from, from, NOW + DAY);
    REQUIRE(early != NULL);
    CHECK_ERR(check(early, code, 1000, from - 1), OFFPAY_ETERMINAL_EXPIRED);
    /* Further back, the clock check refuses before any key is looked at. */
    CHECK_ERR(check(x.t, code, 1000, from - 1), OFFPAY_ECLOCK_BEHIND);
    offpay_terminal_close(late);
    offpay_terminal_close(early);
    free(code);
    world_free(&x);
}

/* Key rotation: a credential signed under a key newer than the terminal's
 * trust bundle names a kid the terminal does not know until it syncs; an
 * older bundle is then refused. */
static void test_key_rotation(void)
{
    world              x;
    offpay_wallet_cred c;
    uint8_t           *b2 = NULL;
    size_t             b2_len = 0;
    uint16_t           kid = 0;
    char              *code;

    REQUIRE(world_init(&x, "key_rotation", 0));
    REQUIRE_OK(offpay_issuer_add_key(x.is, NOW - 60, 365 * DAY, &kid));
    CHECK(kid == 2);
    REQUIRE_OK(offpay_issuer_bundle(x.is, &b2, &b2_len));
    /* a wallet whose clock is a day behind the bundle's date refuses it */
    CHECK_ERR(offpay_wallet_update_bundle(x.w, b2, b2_len, NOW - DAY),
              OFFPAY_EFUTURE_DATED);
    REQUIRE_OK(offpay_wallet_update_bundle(x.w, b2, b2_len, NOW));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - 60, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, &c));
    CHECK(c.kid == 2);
    code = cpm(&x, 1000, NOW);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_EUNKNOWN_KID);
    CHECK_ERR(offpay_terminal_sync(x.t, b2, b2_len, NULL, 0, NOW + 1),
              OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_OK);
    CHECK_ERR(
        offpay_terminal_sync(x.t, x.bundle, x.bundle_len, NULL, 0, NOW + 2),
        OFFPAY_EBUNDLE_OLD);
    CHECK_ERR(check(x.t, code, 1000, NOW + 2), OFFPAY_OK);
    /* The new bundle is kept across a restart. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    CHECK_ERR(check(x.t, code, 1000, NOW + 2), OFFPAY_OK);
    free(code);
    free(b2);
    world_free(&x);
}

/* ---- the code's own fields ------------------------------------------ */

static void test_code_too_old(void)
{
    world       x;
    offpay_risk r;
    char       *code;

    REQUIRE(world_init(&x, "code_too_old", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    /* Unbound codes by max_code_age_unbound... */
    code = cpm(&x, 1000, NOW);
    CHECK_ERR(check(x.t, code, 1000, NOW + r.max_code_age_unbound), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + r.max_code_age_unbound + 1),
              OFFPAY_ECODE_TOO_OLD);
    CHECK_ERR(accept(x.t, code, 1000, NOW + r.max_code_age_unbound + 1),
              OFFPAY_ECODE_TOO_OLD);
    free(code);
    /* ...bound ones by max_code_age. */
    r.request_ttl = r.max_code_age + 10;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    code = bound(&x, x.t, 1000, NOW, NULL);
    CHECK_ERR(check(x.t, code, 0, NOW + r.max_code_age), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 0, NOW + r.max_code_age + 1),
              OFFPAY_ECODE_TOO_OLD);
    free(code);
    world_free(&x);
}

/* An accepted payment found in the journal by its (serial, counter), as
 * after OFFPAY_EOUTCOME. */
static void test_journal_find(void)
{
    world                x;
    offpay_journal_entry e;
    offpay_payment       p;
    char                *code;

    REQUIRE(world_init(&x, "journal_find", 100000));
    code = bound(&x, x.t, 1234, NOW, NULL);
    REQUIRE(code != NULL);
    CHECK_ERR(offpay_terminal_check(x.t, code, strlen(code), 0, NOW + 1, &p),
              OFFPAY_OK);
    CHECK_ERR(offpay_terminal_journal_find(x.t, p.cred.serial, p.counter, &e),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(accept(x.t, code, 0, NOW + 1), OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_journal_find(x.t, p.cred.serial, p.counter, &e));
    CHECK(e.charged == 1234 && e.counter == p.counter && e.bound == 1 &&
          e.seq >= 1 && e.code == NULL && e.code_len > 0);
    CHECK_ERR(offpay_terminal_journal_find(x.t, p.cred.serial, p.counter + 1,
                                           &e),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_terminal_journal_find(x.t, 0, 1, NULL), OFFPAY_EINVAL);
    free(code);
    world_free(&x);
}

static void test_code_future(void)
{
    world       x;
    offpay_risk r;
    char       *code;

    REQUIRE(world_init(&x, "code_future", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    code = cpm(&x, 1000, NOW + 500);
    CHECK_ERR(check(x.t, code, 1000, NOW + 500 - r.skew - 1),
              OFFPAY_ECODE_FUTURE);
    CHECK_ERR(check(x.t, code, 1000, NOW + 500 - r.skew), OFFPAY_OK);
    free(code);
    world_free(&x);
}

static void test_over_authorized(void)
{
    world x;
    char *code;

    REQUIRE(world_init(&x, "over_authorized", 100000));
    code = cpm(&x, 1000, NOW);
    CHECK_ERR(check(x.t, code, 1001, NOW + 1), OFFPAY_EOVER_AUTHORIZED);
    CHECK_ERR(accept(x.t, code, 1001, NOW + 1), OFFPAY_EOVER_AUTHORIZED);
    /* An unbound code needs an amount to charge. */
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_EINVAL);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 1), OFFPAY_OK);
    free(code);
    world_free(&x);
}

static void test_over_limit(void)
{
    world              x;
    offpay_keypair     kp;
    offpay_wallet_cred c;
    char              *code;

    /* A code authorizing more than its own credential's limit (a wallet
     * never makes one). */
    REQUIRE(world_init(&x, "over_limit", 0));
    REQUIRE(own_cred(&x, &kp, 1000, OFFPAY_CRED_ALLOW_UNBOUND, &c));
    code = craft(&kp, &c, 1, 2000, NOW, 0, 0, NULL);
    CHECK_ERR(check(x.t, code, 500, NOW + 1), OFFPAY_EOVER_LIMIT);
    free(code);
    code = craft(&kp, &c, 2, 1000, NOW, 0, 0, NULL);
    CHECK_ERR(check(x.t, code, 500, NOW + 1), OFFPAY_OK);
    free(code);
    offpay_keypair_wipe(&kp);
    world_free(&x);
}

static void test_unbound_refused(void)
{
    world              x;
    offpay_keypair     kp;
    offpay_wallet_cred c;
    char              *code = NULL;

    REQUIRE(world_init(&x, "unbound_refused", 0));
    /* The wallet itself refuses to make the code... */
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - DAY, NOW + 30 * DAY, 0, NOW,
                      NULL));
    CHECK_ERR(offpay_wallet_pay(x.w, 1000, EUR, NOW, &code, NULL),
              OFFPAY_EUNBOUND_REFUSED);
    CHECK(code == NULL);
    /* ...so it is made by hand; the terminal refuses it too. */
    REQUIRE(own_cred(&x, &kp, 100000, 0, &c));
    code = craft(&kp, &c, 1, 1000, NOW, 0, 0, NULL);
    CHECK_ERR(check(x.t, code, 1000, NOW + 1), OFFPAY_EUNBOUND_REFUSED);
    free(code);
    /* The same credential answering a request is fine. */
    code = bound(&x, x.t, 1000, NOW, NULL);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    offpay_keypair_wipe(&kp);
    world_free(&x);
}

/* ---- risk rules ------------------------------------------------------ */

static void test_over_floor(void)
{
    world       x;
    offpay_risk r;
    char       *code;

    REQUIRE(world_init(&x, "over_floor", 4000000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    CHECK(r.floor_unbound == 5000 && r.floor_bound == 20000);
    code = cpm(&x, r.floor_unbound + 1, NOW);
    CHECK_ERR(check(x.t, code, r.floor_unbound + 1, NOW + 1),
              OFFPAY_EOVER_FLOOR);
    CHECK_ERR(check(x.t, code, r.floor_unbound, NOW + 1), OFFPAY_OK);
    free(code);
    /* Bound codes have their own, higher floor. The terminal does not even
     * make a request above it... */
    {
        char *rq = NULL;

        CHECK_ERR(
            offpay_terminal_request(x.t, r.floor_bound + 1, NOW, &rq, NULL),
            OFFPAY_EOVER_FLOOR);
        CHECK(rq == NULL);
    }
    /* ...and refuses a bound code above it (a request made before the
     * floor was lowered). */
    r.floor_bound += 1;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    code = bound(&x, x.t, r.floor_bound, NOW, NULL);
    r.floor_bound -= 1;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_EOVER_FLOOR);
    free(code);
    code = bound(&x, x.t, r.floor_bound, NOW, NULL);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    world_free(&x);
}

static void test_over_cumulative(void)
{
    world       x;
    offpay_risk r;
    char       *code;

    REQUIRE(world_init(&x, "over_cumulative", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.cumulative = 10000;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    for (int i = 0; i < 3; i++) {
        code = cpm(&x, 3000, NOW + (uint32_t)i);
        CHECK_ERR(accept(x.t, code, 3000, NOW + 10), OFFPAY_OK);
        free(code);
    }
    code = cpm(&x, 3000, NOW + 5);
    CHECK_ERR(check(x.t, code, 3000, NOW + 10), OFFPAY_EOVER_CUMULATIVE);
    CHECK_ERR(accept(x.t, code, 1001, NOW + 10), OFFPAY_EOVER_CUMULATIVE);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 10), OFFPAY_OK); /* exactly 10000 */
    free(code);
    code = cpm(&x, 1, NOW + 6);
    CHECK_ERR(check(x.t, code, 1, NOW + 10), OFFPAY_EOVER_CUMULATIVE);
    /* The sum is rebuilt from the journal after a restart. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK_ERR(check(x.t, code, 1, NOW + 10), OFFPAY_EOVER_CUMULATIVE);
    free(code);
    world_free(&x);
}

static void test_replay(void)
{
    world x;
    char *code, *bcode;

    REQUIRE(world_init(&x, "replay", 100000));
    code = cpm(&x, 1000, NOW);
    bcode = bound(&x, x.t, 1500, NOW, NULL);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 1), OFFPAY_OK);
    CHECK_ERR(accept(x.t, bcode, 0, NOW + 1), OFFPAY_OK);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 2), OFFPAY_EREPLAY);
    /* A rescan tells when, as which entry and for how much it was paid,
     * so nobody asks the payer to pay twice. */
    {
        offpay_acceptance prior;

        CHECK_ERR(offpay_terminal_accept(x.t, code, strlen(code), 1000, NOW + 2,
                                         &prior),
                  OFFPAY_EREPLAY);
        CHECK(prior.seq == 1 && prior.charged == 1000 &&
              prior.time == NOW + 1 && prior.payment.counter > 0);
        CHECK_ERR(offpay_terminal_accept(x.t, bcode, strlen(bcode), 0, NOW + 2,
                                         &prior),
                  OFFPAY_EREPLAY);
        CHECK(prior.seq == 2 && prior.charged == 1500);
    }
    CHECK_ERR(check(x.t, code, 1000, NOW + 2), OFFPAY_EREPLAY);
    CHECK_ERR(accept(x.t, bcode, 0, NOW + 2), OFFPAY_EREPLAY);
    /* A smaller charge does not make it new. */
    CHECK_ERR(accept(x.t, code, 1, NOW + 2), OFFPAY_EREPLAY);
    /* The seen-set survives a restart (with and without the key). */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK_ERR(accept(x.t, code, 1000, NOW + 3), OFFPAY_EREPLAY);
    CHECK_ERR(accept(x.t, bcode, 0, NOW + 3), OFFPAY_EREPLAY);
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    CHECK_ERR(check(x.t, code, 1000, NOW + 3), OFFPAY_EREPLAY);
    free(code);
    free(bcode);
    world_free(&x);
}

/* Rows in the terminal's evidence table, or -1. */
static int evidence_rows(offpay_terminal *t)
{
    sqlite3_stmt *st = NULL;
    int           n = -1;

    if (sqlite3_prepare_v2(t->db, "SELECT count(*) FROM evidence", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/*
 * Invariant 6: two different codes under one (serial, counter) — a wallet
 * that reused a counter — are refused as a double spend and the second is
 * kept as evidence; replaying the very same code is refused as a replay,
 * without evidence.
 */
static void test_double_spend_evidence(void)
{
    world              x;
    offpay_keypair     kp;
    offpay_wallet_cred c;
    char              *first, *second;

    REQUIRE(world_init(&x, "double_spend", 0));
    REQUIRE(own_cred(&x, &kp, 100000, OFFPAY_CRED_ALLOW_UNBOUND, &c));
    first = craft(&kp, &c, 7, 1000, NOW, 0, 0, NULL);
    second = craft(&kp, &c, 7, 2000, NOW, 0, 0, NULL);
    REQUIRE(first != NULL && second != NULL);
    CHECK_ERR(accept(x.t, first, 1000, NOW + 1), OFFPAY_OK);
    CHECK_ERR(accept(x.t, first, 1000, NOW + 2), OFFPAY_EREPLAY);
    CHECK(evidence_rows(x.t) == 0);
    /* Another code under the same counter has its own error, for the
     * check as for the acceptance; only the acceptance keeps evidence. */
    CHECK_ERR(check(x.t, second, 2000, NOW + 2), OFFPAY_EDOUBLE_SPEND);
    CHECK(evidence_rows(x.t) == 0);
    {
        offpay_acceptance prior;

        CHECK_ERR(offpay_terminal_accept(x.t, second, strlen(second), 2000,
                                         NOW + 2, &prior),
                  OFFPAY_EDOUBLE_SPEND);
        /* ...naming the acceptance of the first one. */
        CHECK(prior.seq == 1 && prior.charged == 1000 && prior.time == NOW + 1);
    }
    CHECK(evidence_rows(x.t) == 1);
    /* Durable, and caught the same way after a restart. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    CHECK(evidence_rows(x.t) == 1);
    CHECK_ERR(accept(x.t, second, 2000, NOW + 3), OFFPAY_EDOUBLE_SPEND);
    CHECK(evidence_rows(x.t) == 2);
    CHECK_ERR(accept(x.t, first, 1000, NOW + 3), OFFPAY_EREPLAY);
    offpay_keypair_wipe(&kp);
    free(first);
    free(second);
    world_free(&x);
}

static void test_wrong_merchant(void)
{
    world            x;
    offpay_terminal *b;
    char            *code;

    REQUIRE(world_init(&x, "wrong_merchant", 100000));
    b = new_terminal(&x, "terminal_b", 2, EUR, NOW);
    REQUIRE(b != NULL);
    code = bound(&x, x.t, 1500, NOW, NULL);
    CHECK_ERR(check(b, code, 0, NOW + 1), OFFPAY_EWRONG_MERCHANT);
    CHECK_ERR(accept(b, code, 0, NOW + 1), OFFPAY_EWRONG_MERCHANT);
    CHECK_ERR(accept(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    offpay_terminal_close(b);
    world_free(&x);
}

static void test_wrong_nonce(void)
{
    world              x;
    offpay_terminal   *c;
    offpay_keypair     kp;
    offpay_wallet_cred cred;
    offpay_request     q;
    uint8_t            nonce[OFFPAY_NONCE_BYTES];
    char              *code;

    REQUIRE(world_init(&x, "wrong_nonce", 100000));
    /* Another terminal of the same merchant did not make the request. */
    c = new_terminal(&x, "terminal_c", 1, EUR, NOW);
    REQUIRE(c != NULL);
    code = bound(&x, x.t, 1500, NOW, NULL);
    CHECK_ERR(check(c, code, 0, NOW + 1), OFFPAY_EWRONG_NONCE);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    /* A forged nonce, for the right merchant. */
    REQUIRE(own_cred(&x, &kp, 100000, 0, &cred));
    randombytes_buf(nonce, sizeof nonce);
    code = craft(&kp, &cred, 1, 1500, NOW, 1, 1, nonce);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_EWRONG_NONCE);
    free(code);
    /* A paid request's nonce is closed: another code for it (new counter,
     * so not a replay) is refused, before and after a restart. */
    code = bound(&x, x.t, 700, NOW, &q);
    CHECK_ERR(accept(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    code = craft(&kp, &cred, 2, 700, NOW, 1, 1, q.nonce);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_EWRONG_NONCE);
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_EWRONG_NONCE);
    free(code);
    offpay_keypair_wipe(&kp);
    offpay_terminal_close(c);
    world_free(&x);
}

static void test_amount_mismatch(void)
{
    world              x;
    offpay_keypair     kp;
    offpay_wallet_cred cred;
    offpay_request     q;
    char              *code, *rq = NULL;

    REQUIRE(world_init(&x, "amount_mismatch", 100000));
    code = bound(&x, x.t, 1500, NOW, NULL);
    CHECK_ERR(check(x.t, code, 1400, NOW + 1), OFFPAY_EAMOUNT_MISMATCH);
    CHECK_ERR(check(x.t, code, 1600, NOW + 1), OFFPAY_EAMOUNT_MISMATCH);
    CHECK_ERR(check(x.t, code, 1500, NOW + 1), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    /* A code bound to a real open request but authorizing another amount. */
    REQUIRE_OK(offpay_terminal_request(x.t, 2500, NOW, &rq, &q));
    REQUIRE(own_cred(&x, &kp, 100000, 0, &cred));
    code = craft(&kp, &cred, 1, 2000, NOW, 1, 1, q.nonce);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_EAMOUNT_MISMATCH);
    free(code);
    code = craft(&kp, &cred, 2, 2500, NOW, 1, 1, q.nonce);
    CHECK_ERR(check(x.t, code, 0, NOW + 1), OFFPAY_OK);
    free(code);
    free(rq);
    offpay_keypair_wipe(&kp);
    world_free(&x);
}

static void test_request_expired(void)
{
    world          x;
    offpay_risk    r;
    offpay_request q;
    char          *rq = NULL, *code = NULL;

    REQUIRE(world_init(&x, "request_expired", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    REQUIRE_OK(offpay_terminal_request(x.t, 1500, NOW, &rq, NULL));
    /* The payer confirms late, but within the wallet's request age. */
    REQUIRE_OK(offpay_wallet_read_request(x.w, rq, NOW + r.request_ttl, &q));
    REQUIRE_OK(
        offpay_wallet_pay_request(x.w, &q, NOW + r.request_ttl, &code, NULL));
    CHECK_ERR(check(x.t, code, 0, NOW + r.request_ttl), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 0, NOW + r.request_ttl + 1),
              OFFPAY_EREQUEST_EXPIRED);
    free(code);
    free(rq);
    world_free(&x);
}

/* Fails every fdatasync of the wallet's log (offpay__file_fault_hook). */
static int fail_datasync(const char *step)
{
    return strcmp(step, "datasync") == 0;
}

/* A request answered twice (the payer scanned it again, or the terminal
 * never read the first code): the same code, byte for byte, and nothing
 * more reserved, in the same process and after a reopen; the terminal
 * takes it once. The same nonce at another amount (a terminal reusing a
 * request) is refused. After a checkpoint the reopened wallet no longer
 * holds the first answer: a new code, reserved, which the terminal refuses
 * once the first is paid (wallet.h says so). */
static void test_request_answered_twice(void)
{
    world                 x;
    offpay_request        q, q2;
    offpay_wallet_balance b0, b;
    offpay_payment        p1, p2;
    uint8_t               msg[OFFPAY_SIGNED_MAX];
    size_t                n, len = 0;
    char                 *rq = NULL, *first = NULL, *again = NULL;
    uint32_t              saved_every = offpay__wallet_checkpoint_every;

    REQUIRE(world_init(&x, "request_answered_twice", 100000));
    REQUIRE_OK(offpay_terminal_request(x.t, 1500, NOW, &rq, NULL));
    REQUIRE_OK(offpay_wallet_read_request(x.w, rq, NOW, &q));
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b0));
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW, &first, &p1));
    n = offpay_wallet_n_spends(x.w);
    CHECK(n == 1);
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 5, &again, &p2));
    CHECK(strcmp(first, again) == 0);
    CHECK(p2.counter == p1.counter && p2.cred.serial == p1.cred.serial &&
          p2.time == NOW);
    CHECK(offpay_wallet_n_spends(x.w) == n);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW + 5, &b));
    CHECK(b.available == b0.available - 1500 && b.codes == 1);
    free(again);
    again = NULL;

    /* After a reopen: the log's code. */
    offpay_wallet_close(x.w);
    x.w = NULL;
    REQUIRE_OK(offpay_wallet_open(x.wallet_path, PASS, &x.w));
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 9, &again, NULL));
    CHECK(strcmp(first, again) == 0);
    CHECK(offpay_wallet_n_spends(x.w) == n);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW + 9, &b));
    CHECK(b.available == b0.available - 1500);
    free(again);
    again = NULL;

    /* The terminal takes it once; the same code again is a rescan. */
    CHECK_ERR(accept(x.t, first, 0, NOW + 10), OFFPAY_OK);
    CHECK_ERR(accept(x.t, first, 0, NOW + 11), OFFPAY_EREPLAY);

    /* The same request's nonce at another amount, signed by the same
     * terminal: refused, nothing reserved. */
    q2 = q;
    q2.amount = 1600;
    REQUIRE_OK(offpay__request_signed_bytes(&q2, msg, sizeof msg, &len));
    REQUIRE_OK(
        offpay__terminal_sign(x.t, OFFPAY_DS_REQUEST, msg, len, q2.sig));
    CHECK_ERR(offpay_wallet_pay_request(x.w, &q2, NOW + 12, &again, NULL),
              OFFPAY_EAMOUNT_MISMATCH);
    CHECK(again == NULL);
    CHECK(offpay_wallet_n_spends(x.w) == n);

    /* A checkpoint after the first answer (here after every code), then a
     * reopen: the answer is before it, in the older log, which is read for
     * it (since 0.13.0; a new code was made before): the same code. */
    free(rq);
    REQUIRE_OK(offpay_terminal_request(x.t, 700, NOW + 20, &rq, NULL));
    REQUIRE_OK(offpay_wallet_read_request(x.w, rq, NOW + 20, &q));
    offpay__wallet_checkpoint_every = 1;
    free(first);
    first = NULL;
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 20, &first, NULL));
    offpay_wallet_close(x.w);
    x.w = NULL;
    REQUIRE_OK(offpay_wallet_open(x.wallet_path, PASS, &x.w));
    offpay__wallet_checkpoint_every = saved_every;
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 21, &again, NULL));
    CHECK(strcmp(first, again) == 0);
    CHECK(offpay_wallet_n_spends(x.w) == n + 1);
    CHECK_ERR(accept(x.t, first, 0, NOW + 22), OFFPAY_OK);
    CHECK_ERR(check(x.t, again, 0, NOW + 22), OFFPAY_EREPLAY);

    offpay__wallet_checkpoint_every = saved_every;
    free(first);
    free(again);
    free(rq);
    first = again = rq = NULL;

    /* A reopened wallet shows a code read from its log again only once the
     * log is on disk: a failing sync shows nothing, and a working one the
     * same code. */
    REQUIRE_OK(offpay_terminal_request(x.t, 300, NOW + 30, &rq, NULL));
    REQUIRE_OK(offpay_wallet_read_request(x.w, rq, NOW + 30, &q));
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 30, &first, NULL));
    n = offpay_wallet_n_spends(x.w);
    offpay_wallet_close(x.w);
    x.w = NULL;
    REQUIRE_OK(offpay_wallet_open(x.wallet_path, PASS, &x.w));
    offpay__file_fault_hook = fail_datasync;
    CHECK_ERR(offpay_wallet_pay_request(x.w, &q, NOW + 31, &again, NULL),
              OFFPAY_EIO);
    CHECK(again == NULL);
    offpay__file_fault_hook = NULL;
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 31, &again, NULL));
    CHECK(strcmp(first, again) == 0 && offpay_wallet_n_spends(x.w) == n);
    free(first);
    free(again);
    free(rq);
    first = again = rq = NULL;

    /* An answer whose append failed (no code came out) is never given
     * again: the same request then gets a new code, with a new counter,
     * once the log works. */
    REQUIRE_OK(offpay_terminal_request(x.t, 400, NOW + 40, &rq, NULL));
    REQUIRE_OK(offpay_wallet_read_request(x.w, rq, NOW + 40, &q));
    offpay__file_fault_hook = fail_datasync;
    CHECK_ERR(offpay_wallet_pay_request(x.w, &q, NOW + 40, &first, &p1),
              OFFPAY_EIO);
    CHECK(first == NULL);
    offpay__file_fault_hook = NULL;
    n = offpay_wallet_n_spends(x.w); /* the failed one, held in memory */
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW + 41, &again, &p2));
    CHECK(offpay_wallet_n_spends(x.w) == n + 1);
    CHECK_ERR(accept(x.t, again, 0, NOW + 42), OFFPAY_OK);
    free(again);
    free(rq);
    world_free(&x);
}

/* A sync with the issuer's current list, signed at now: something newer
 * than the terminal holds, as a real sync brings. 0 on failure. */
static int resync(world *x, uint32_t now)
{
    uint8_t   *rl = NULL;
    size_t     rllen = 0;
    offpay_err rc = offpay_issuer_revlist(x->is, now, &rl, &rllen);

    if (rc == OFFPAY_OK)
        rc = offpay_terminal_sync(x->t, NULL, 0, rl, rllen, now);
    free(rl);
    return rc == OFFPAY_OK;
}

static void test_sync_required(void)
{
    world       x;
    offpay_risk r;
    char       *code;

    REQUIRE(world_init(&x, "sync_required", 1000000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.max_offline_payments = 2;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    for (int i = 0; i < 2; i++) {
        code = cpm(&x, 100, NOW + (uint32_t)i);
        CHECK_ERR(accept(x.t, code, 100, NOW + 10), OFFPAY_OK);
        free(code);
    }
    code = cpm(&x, 100, NOW + 5);
    CHECK_ERR(check(x.t, code, 100, NOW + 10), OFFPAY_ESYNC_REQUIRED);
    /* The count is durable... */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK_ERR(check(x.t, code, 100, NOW + 10), OFFPAY_ESYNC_REQUIRED);
    /* ...replaying the list the terminal already holds does not reset
     * it (nothing new proves contact with the issuer)... */
    {
        uint8_t *rl = NULL;
        size_t   rllen = 0;

        offpay_sync_state s0, s1;

        REQUIRE_OK(offpay_issuer_revlist(x.is, NOW, &rl, &rllen));
        REQUIRE_OK(offpay_terminal_sync_state(x.t, &s0));
        CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 10),
                  OFFPAY_OK);
        REQUIRE_OK(offpay_terminal_sync_state(x.t, &s1));
        CHECK(memcmp(&s0, &s1, sizeof s0) == 0); /* a no-op */
        CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, NULL, 0, NOW + 10),
                  OFFPAY_EINVAL);
        free(rl);
    }
    CHECK_ERR(check(x.t, code, 100, NOW + 10), OFFPAY_ESYNC_REQUIRED);
    /* ...a real sync does. */
    REQUIRE(resync(&x, NOW + 10));
    CHECK_ERR(accept(x.t, code, 100, NOW + 10), OFFPAY_OK);
    free(code);

    /* Hours offline since the last sync (at NOW + 10). */
    r.max_offline_payments = 0;
    r.max_offline_hours = 1;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    code = cpm(&x, 100, NOW + 10 + 3600);
    CHECK_ERR(check(x.t, code, 100, NOW + 10 + 3600), OFFPAY_OK);
    free(code);
    code = cpm(&x, 100, NOW + 10 + 3601);
    CHECK_ERR(check(x.t, code, 100, NOW + 10 + 3601), OFFPAY_ESYNC_REQUIRED);
    REQUIRE(resync(&x, NOW + 10 + 3601));
    CHECK_ERR(check(x.t, code, 100, NOW + 10 + 3601), OFFPAY_OK);
    free(code);
    world_free(&x);
}

/* The oldest payment offpayd has not decided may wait max_upload_days:
 * lists carried in (file syncs) reset the offline counts but not this
 * wait, which only an upload ends (before offpayd's late window passes
 * and the payment goes unpaid). Warned at 80 %, refused past it, the same
 * after a reopen; 0 turns it off. */
static void test_upload_wait(void)
{
    world                  x;
    offpay_risk            r;
    offpay_terminal_status st;
    offpay__upload_result  res;
    offpay_sync_state      ss;
    char                  *code;
    const uint32_t         day = 86400;

    REQUIRE(world_init(&x, "upload_wait", 1000000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    CHECK(r.max_upload_days == 14); /* the default */
    code = cpm(&x, 100, NOW);
    CHECK_ERR(accept(x.t, code, 100, NOW), OFFPAY_OK);
    free(code);
    /* lists carried in at day 10 and 12: the offline counts restart */
    REQUIRE(resync(&x, NOW + 10 * day));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &ss));
    CHECK(ss.payments_since_sync == 0 && ss.oldest_waiting == NOW);
    REQUIRE(resync(&x, NOW + 12 * day));
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 12 * day, &st));
    CHECK(st.state == OFFPAY_OK && st.oldest_waiting == NOW &&
          st.waiting_age == 12 * day && st.upload_pct == 85 &&
          (st.warnings & OFFPAY_STATUS_WARN_UPLOAD) != 0 &&
          (st.warnings & OFFPAY_STATUS_WARN_PAYMENTS) == 0);
    /* a list at day 14 + 1 s, and the wait is past its limit */
    REQUIRE(resync(&x, NOW + 14 * day + 1));
    code = cpm(&x, 100, NOW + 14 * day + 1);
    CHECK_ERR(check(x.t, code, 100, NOW + 14 * day + 1), OFFPAY_ESYNC_REQUIRED);
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 14 * day + 1, &st));
    CHECK(st.state == OFFPAY_ESYNC_REQUIRED && st.upload_pct == 100);
    offpay_terminal_close(x.t); /* read again from the journal */
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK_ERR(check(x.t, code, 100, NOW + 14 * day + 1), OFFPAY_ESYNC_REQUIRED);
    /* the upload decides it: accepting again */
    memset(&res, 0, sizeof res);
    res.seq = 1;
    strcpy(res.outcome, "settled");
    res.paid = 100;
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, &res, 1, NOW + 14 * day));
    CHECK_ERR(accept(x.t, code, 100, NOW + 14 * day + 1), OFFPAY_OK);
    free(code);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &ss));
    CHECK(ss.oldest_waiting == NOW + 14 * day + 1);
    /* read again from where the upload left it: the new one */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &ss));
    CHECK(ss.oldest_waiting == NOW + 14 * day + 1);
    /* 0: no limit */
    r.max_upload_days = 0;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE(resync(&x, NOW + 29 * day + 2)); /* the oldest waits 15 days */
    code = cpm(&x, 100, NOW + 29 * day + 2);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, NOW + 29 * day + 2), OFFPAY_OK);
    free(code);
    world_free(&x);
}

static void test_revlist_stale(void)
{
    world       x;
    offpay_risk r;
    char       *code;
    uint8_t    *rl = NULL;
    size_t      rllen = 0;
    uint32_t    later;

    REQUIRE(world_init(&x, "revlist_stale", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    later = NOW + r.max_revlist_age + 1;
    /* Only the list's age counts here, not the time since the last sync. */
    r.max_offline_hours = 0;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    code = cpm(&x, 1000, later);
    CHECK_ERR(check(x.t, code, 1000, later), OFFPAY_EREVLIST_STALE);
    REQUIRE_OK(offpay_issuer_revlist(x.is, later, &rl, &rllen));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, later));
    CHECK_ERR(check(x.t, code, 1000, later), OFFPAY_OK);
    free(rl);
    free(code);
    world_free(&x);
}

static void test_revlist_seq(void)
{
    world    x;
    uint8_t *rl2 = NULL, *rl3 = NULL, *junk = NULL;
    size_t   len2 = 0, len3 = 0, junk_len = 0;

    REQUIRE(world_init(&x, "revlist_seq", 0));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1001, NOW + 1));
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 1, &rl2, &len2));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1002, NOW + 2));
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 2, &rl3, &len3));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl3, len3, NOW + 3),
              OFFPAY_OK);
    /* An older full list would un-revoke 1002. */
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl2, len2, NOW + 4),
              OFFPAY_EREVLIST_SEQ);
    /* The same list again brings nothing new: a no-op, so it cannot reset
     * the offline limits. */
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl3, len3, NOW + 4),
              OFFPAY_OK);
    /* A damaged list is refused by its signature. */
    junk = malloc(len3);
    REQUIRE(junk != NULL);
    memcpy(junk, rl3, len3);
    junk_len = len3;
    junk[junk_len - 1] ^= 1;
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, junk, junk_len, NOW + 4),
              OFFPAY_EREVLIST_SIG);
    free(junk);
    free(rl2);
    free(rl3);
    world_free(&x);
}

/* A ledger restored from an older copy numbers its lists from that copy's
 * (docs/operations.md §5): its full list, signed after the one held, is
 * taken, and every serial held revoked stays revoked; an older list of
 * the same copy, signed before, is still refused. (Before, every later
 * list was EREVLIST_SEQ until the copy's numbering passed the terminal's,
 * and the terminal's list grew stale.) */
static void test_revlist_went_back(void)
{
    world              x;
    offpay_wallet_cred c;
    offpay_issuer     *copy = NULL;
    offpay_sync_state  st;
    char               cmd[1400], path[600];
    uint8_t           *rl4 = NULL, *early = NULL, *later = NULL;
    size_t             len4 = 0, early_len = 0, later_len = 0;
    char              *code;

    REQUIRE(world_init(&x, "revlist_back", 0));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - DAY, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, &c));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1001, NOW + 1)); /* list 2 */
    /* the backup: the issuer's state as it is now */
    snprintf(cmd, sizeof cmd, "cp -a '%s/issuer' '%s/issuer-copy'", x.dir,
             x.dir);
    REQUIRE(system(cmd) == 0);
    REQUIRE_OK(offpay_issuer_revoke(x.is, c.serial, NOW + 2));  /* list 3 */
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1002, NOW + 3)); /* list 4 */
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 3, &rl4, &len4));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl4, len4, NOW + 4));
    REQUIRE_OK(offpay_issuer_open(in_dir(&x, "issuer-copy", path, sizeof path),
                                  PASS, &copy));
    /* the copy's list 2, signed before list 4: an older list */
    REQUIRE_OK(offpay_issuer_revlist(copy, NOW + 2, &early, &early_len));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, early, early_len, NOW + 5),
              OFFPAY_EREVLIST_SEQ);
    /* its list 3 (one revocation since the backup), signed later: taken */
    REQUIRE_OK(offpay__issuer_revoke_any(copy, 1003, NOW + 10));
    REQUIRE_OK(offpay_issuer_revlist(copy, NOW + 10, &later, &later_len));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, later, later_len, NOW + 11),
              OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &st));
    CHECK(st.revlist_seq == 3 && st.revlist_issued_at == NOW + 10);
    /* the credential revoked after the backup stays revoked here */
    code = cpm(&x, 100, NOW + 12);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, NOW + 12), OFFPAY_EREVOKED);
    free(code);
    offpay_issuer_close(copy);
    free(rl4);
    free(early);
    free(later);
    world_free(&x);
}

/* A leaked daily key (a copy of the issuer's state) signs a full list of
 * the sequence the terminal holds, later, leaving out a serial the issuer
 * revoked: the terminal takes it (its age is refreshed) but keeps every
 * serial it held revoked (docs/protocol.md §5.7). Before, a full list
 * replaced the serials held, and the credential was usable again. */
static void test_revlist_full_list_never_unrevokes(void)
{
    world              x;
    offpay_wallet_cred c;
    offpay_issuer     *copy = NULL;
    offpay_sync_state  st;
    char               cmd[1400], path[600];
    uint8_t           *rl = NULL, *forged = NULL;
    size_t             len = 0, forged_len = 0;
    char              *code;

    REQUIRE(world_init(&x, "revlist_union", 0));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - DAY, NOW + 30 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, &c));
    snprintf(cmd, sizeof cmd, "cp -a '%s/issuer' '%s/issuer-copy'", x.dir,
             x.dir);
    REQUIRE(system(cmd) == 0);
    REQUIRE_OK(offpay_issuer_revoke(x.is, c.serial, NOW + 2)); /* list 2 */
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 2, &rl, &len));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, len, NOW + 3));
    /* the attacker's list 2: another serial, not c's, signed later */
    REQUIRE_OK(offpay_issuer_open(in_dir(&x, "issuer-copy", path, sizeof path),
                                  PASS, &copy));
    REQUIRE_OK(offpay__issuer_revoke_any(copy, 1003, NOW + 10));
    REQUIRE_OK(offpay_issuer_revlist(copy, NOW + 10, &forged, &forged_len));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, forged, forged_len, NOW + 11),
              OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &st));
    CHECK(st.revlist_seq == 2 && st.revlist_issued_at == NOW + 10);
    code = cpm(&x, 100, NOW + 12);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, NOW + 12), OFFPAY_EREVOKED);
    free(code);
    /* read again from terminal.db: still revoked */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    code = cpm(&x, 100, NOW + 13);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, NOW + 13), OFFPAY_EREVOKED);
    free(code);
    offpay_issuer_close(copy);
    free(rl);
    free(forged);
    world_free(&x);
}

/* A list that would make the terminal hold more revoked serials than it
 * can load (lowered here to 3) is not taken: ETOOBIG, the list held and
 * what it names stay, and the terminal opens and accepts as before. Before,
 * it was stored, and every later open failed ECORRUPT: the terminal could
 * not even upload what it had accepted. A skew above 12 hours is refused
 * (a revocation stays listed a day after its credential's expiry). */
static void past_what_a_terminal_holds(world *w, uint8_t **b, size_t *b_len,
                                       uint32_t *held_seq)
{
    world             x = *w;
    offpay_sync_state st;
    uint8_t          *a = NULL;
    size_t            a_len = 0;
    uint32_t          held = 0;
    char             *code;

    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1001, NOW + 1));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1002, NOW + 1));
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 1, &a, &a_len));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, a, a_len, NOW + 2), OFFPAY_OK);
    free(a);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &st));
    held = *held_seq = st.revlist_seq;
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1003, NOW + 3));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1004, NOW + 3));
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 3, b, b_len));
    {
        offpay_terminal_status ts;

        /* 2 of 3 held: 66 %, no warning yet */
        REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 3, &ts));
        CHECK(ts.revoked_held == 2 && ts.revoked_pct == 66 &&
              !(ts.warnings & OFFPAY_STATUS_WARN_REVOKED));
    }
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, *b, *b_len, NOW + 4),
              OFFPAY_ETOOBIG);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &st));
    CHECK(st.revlist_seq == held && st.revlist_issued_at == NOW + 1);
    CHECK(x.t->n_revoked == 2);
    offpay_terminal_close(x.t);
    w->t = NULL;
    CHECK_ERR(offpay_terminal_open(x.term_path, PASS, &w->t), OFFPAY_OK);
    REQUIRE(w->t != NULL);
    CHECK(w->t->n_revoked == 2);
    code = cpm(w, 100, NOW + 5);
    REQUIRE(code != NULL);
    CHECK_ERR(check(w->t, code, 100, NOW + 5), OFFPAY_OK);
    free(code);
}

static void test_revlist_past_what_a_terminal_holds(void)
{
    world             x;
    offpay_sync_state st;
    uint8_t          *b = NULL;
    size_t            b_len = 0;
    uint32_t          held = 0;

    REQUIRE(world_init(&x, "revlist_max", 1000));
    offpay__terminal_revoked_max = 3;
    past_what_a_terminal_holds(&x, &b, &b_len, &held);
    offpay__terminal_revoked_max = OFFPAY_TERMINAL_REVOKED_MAX; /* whatever
                                                                 failed */
    REQUIRE(x.t != NULL && b != NULL);
    /* room again: taken */
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, b, b_len, NOW + 6), OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &st));
    CHECK(st.revlist_seq > held && x.t->n_revoked == 4);
    free(b);
    {
        offpay_terminal_status ts;

        /* 4 of 5: the status warns (80 %) */
        offpay__terminal_revoked_max = 5;
        REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 7, &ts));
        offpay__terminal_revoked_max = OFFPAY_TERMINAL_REVOKED_MAX;
        CHECK(ts.revoked_held == 4 && ts.revoked_pct == 80 &&
              (ts.warnings & OFFPAY_STATUS_WARN_REVOKED));
    }
    /* a skew past what a revocation stays listed after expiry covers */
    {
        offpay_risk r, got;

        REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
        r.skew = OFFPAY_RISK_SKEW_MAX + 1;
        CHECK_ERR(offpay_terminal_set_risk(x.t, &r), OFFPAY_EINVAL);
        REQUIRE_OK(offpay_terminal_get_risk(x.t, &got));
        CHECK(got.skew == 120);
        r.skew = OFFPAY_RISK_SKEW_MAX;
        CHECK_ERR(offpay_terminal_set_risk(x.t, &r), OFFPAY_OK);
    }
    world_free(&x);
}

/* Whether the terminal holds serial revoked (its loaded set). */
static int holds(const offpay_terminal *t, uint64_t serial)
{
    for (uint32_t i = 0; i < t->n_revoked; i++)
        if (t->revoked[i] == serial)
            return 1;
    return 0;
}

/* A revoked serial is let go once offpayd's signed answer gave its
 * credential's expiry and that is more than OFFPAY_TERMINAL_EXPIRED_KEEP
 * (15 days) before the held list's issued_at: no code of it passes the
 * expiry check any more, and offpayd's lists no longer name it. Serials
 * offpayd does not answer for stay, and are asked again after the others;
 * a known expiry is never brought forward; a high-water mark raised by a
 * clock that ran ahead moves no cut; a credential that expired before
 * the cut is refused even where the clock and mark would let it through.
 * Before 0.21.0 a terminal kept every serial it took (docs/protocol.md
 * §5.7). */
static void test_revoked_expiries(void)
{
    world              x;
    offpay_wallet_cred c;
    offpay_risk        r;
    uint8_t           *rl = NULL;
    size_t             len = 0, n = 0, dropped = 0;
    uint64_t           got[4], asked[3] = {1001, 1002, 1003};
    uint64_t           s1[1] = {1001}, s2[1] = {1002}, s3[1] = {1003};
    uint64_t           sc[1];
    const uint32_t     at = NOW + 30 * DAY; /* the list's time */
    uint32_t           e1[1] = {at - 16 * DAY}, e2[1], e3[1], ec[1];
    char              *code;

    REQUIRE(world_init(&x, "revoked_expiries", 0));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.max_offline_hours = 0; /* "no limit", both */
    r.max_revlist_age = 0;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW - DAY, NOW + 5 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, &c));
    sc[0] = c.serial;
    ec[0] = c.expires;
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1001, NOW + 1));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1002, NOW + 1));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1003, NOW + 1));
    REQUIRE_OK(offpay_issuer_revoke(x.is, c.serial, NOW + 1));
    REQUIRE_OK(offpay_issuer_revlist(x.is, at, &rl, &len));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, len, at));
    free(rl);
    REQUIRE(x.t->n_revoked == 4 && x.t->revlist_issued_at == at);
    /* none known: the first asked, ascending (c's serial is the issuer's
     * first) */
    REQUIRE(c.serial < 1001);
    REQUIRE_OK(offpay__terminal_revoked_unknown(x.t, 3, at, got, &n));
    CHECK(n == 3 && got[0] == c.serial && got[1] == 1001 && got[2] == 1002);
    /* offpayd answers for 1001 only, expired 16 days before the list */
    REQUIRE_OK(offpay__terminal_revoked_learn(x.t, asked, 2, at, s1, e1, 1));
    /* a clock a day behind the list: nothing goes (a list dated ahead of
     * the clock may be the one that ran ahead); a minute behind it: the
     * cut is from the clock */
    REQUIRE_OK(offpay__terminal_revoked_drop(x.t, at - DAY, &dropped));
    CHECK(dropped == 0 && x.t->n_revoked == 4 && x.t->expired_before == 0);
    REQUIRE_OK(offpay__terminal_revoked_drop(x.t, at - 60, &dropped));
    CHECK(dropped == 1 && x.t->n_revoked == 3 && !holds(x.t, 1001));
    CHECK(x.t->expired_before == at - 60 - OFFPAY_TERMINAL_EXPIRED_KEEP);
    /* asked before at: 1003 and c's, never asked; 1002 was asked at it */
    REQUIRE_OK(offpay__terminal_revoked_unknown(x.t, 4, at, got, &n));
    CHECK(n == 2 && got[0] == c.serial && got[1] == 1003);
    /* 1003's expiry 15 days before the list, to the second: kept; 1002's
     * far ahead, then an earlier one: not brought forward */
    e3[0] = at - OFFPAY_TERMINAL_EXPIRED_KEEP;
    e2[0] = at + 100 * DAY;
    REQUIRE_OK(offpay__terminal_revoked_learn(x.t, s3, 1, at, s3, e3, 1));
    REQUIRE_OK(offpay__terminal_revoked_learn(x.t, s2, 1, at, s2, e2, 1));
    e2[0] = at - 20 * DAY;
    REQUIRE_OK(offpay__terminal_revoked_learn(x.t, s2, 1, at, s2, e2, 1));
    /* nothing let go: no write transaction, the cut stored stays (a
     * writer holding terminal.db shows it: a write transaction would
     * wait for it and fail EBUSY) */
    {
        sqlite3 *rd = NULL;
        char     db[700];

        snprintf(db, sizeof db, "%s/terminal.db", x.term_path);
        REQUIRE(sqlite3_open(db, &rd) == SQLITE_OK);
        REQUIRE(sqlite3_exec(rd, "BEGIN EXCLUSIVE", NULL, NULL, NULL) ==
                SQLITE_OK);
        sqlite3_busy_timeout(x.t->db, 0);
        CHECK_ERR(offpay__terminal_revoked_drop(x.t, at + 1, &dropped),
                  OFFPAY_OK);
        sqlite3_exec(rd, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(rd);
        sqlite3_busy_timeout(x.t->db, 5000);
    }
    CHECK(dropped == 0 && holds(x.t, 1003) && holds(x.t, 1002));
    CHECK(x.t->expired_before == at - 60 - OFFPAY_TERMINAL_EXPIRED_KEEP);
    /* the mark and the clock 60 days ahead (as a payment accepted on a
     * clock that ran ahead leaves the mark, until a sync forgives it):
     * the cut stays 15 days before the list's time */
    x.t->high_water = at + 60 * DAY;
    REQUIRE_OK(offpay__terminal_revoked_drop(x.t, at + 60 * DAY, &dropped));
    CHECK(dropped == 0 && holds(x.t, 1003) && holds(x.t, 1002));
    CHECK(x.t->expired_before == at - 60 - OFFPAY_TERMINAL_EXPIRED_KEEP);
    /* another process's cut kept: a handle's own, older, never lowers
     * it, and the handle reads it */
    x.t->expired_before = 0;
    REQUIRE_OK(offpay__terminal_revoked_drop(x.t, at - 120, &dropped));
    CHECK(x.t->expired_before == at - 60 - OFFPAY_TERMINAL_EXPIRED_KEEP);
    /* a second later (a newer list): 1003 goes. The issuer directory's
     * list names 1001 again (it lists every revocation, offpayd's only
     * the live ones): held again, its expiry not known */
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, 1004, NOW + 2));
    REQUIRE_OK(offpay_issuer_revlist(x.is, at + 1, &rl, &len));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, len, at + 1));
    free(rl);
    REQUIRE_OK(offpay__terminal_revoked_drop(x.t, at + 1, &dropped));
    CHECK(dropped == 1 && !holds(x.t, 1003) && holds(x.t, 1004) &&
          holds(x.t, 1002) && holds(x.t, 1001));
    /* c's expiry (day 5) learnt: let go. Its code at day 5, with the
     * mark lowered below it (as a sync forgives a clock that ran ahead,
     * were the list not there), is refused all the same: EEXPIRED */
    REQUIRE_OK(offpay__terminal_revoked_learn(x.t, sc, 1, at, sc, ec, 1));
    REQUIRE_OK(offpay__terminal_revoked_drop(x.t, at + 1, &dropped));
    CHECK(dropped == 1 && !holds(x.t, c.serial));
    x.t->high_water = NOW + 4 * DAY;
    code = cpm(&x, 100, NOW + 5 * DAY - 10);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, NOW + 5 * DAY - 10), OFFPAY_EEXPIRED);
    free(code);
    /* read again from terminal.db: the same */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK(x.t->n_revoked == 3 && holds(x.t, 1002) && holds(x.t, 1004) &&
          !holds(x.t, c.serial));
    CHECK(x.t->expired_before == at + 1 - OFFPAY_TERMINAL_EXPIRED_KEEP);
    REQUIRE_OK(offpay__terminal_revoked_unknown(x.t, 4, at + 1, got, &n));
    CHECK(n == 2 && got[0] == 1001 && got[1] == 1004);
    world_free(&x);
}

/* ---- the wallet file ------------------------------------------------- */

/* Writes len bytes to path (replacing it). 1 on success. */
static int write_file(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    int   ok;

    if (f == NULL)
        return 0;
    ok = fwrite(b, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static void test_wallet_passphrase(void)
{
    world          x;
    offpay_wallet *w = NULL;

    REQUIRE(world_init(&x, "wallet_passphrase", 0));
    offpay_wallet_close(x.w); /* an open wallet is locked */
    x.w = NULL;
    CHECK_ERR(offpay_wallet_open(x.wallet_path, "not the passphrase", &w),
              OFFPAY_EPASSPHRASE);
    CHECK(w == NULL);
    CHECK_ERR(offpay_wallet_open(x.wallet_path, "", &w), OFFPAY_EPASSPHRASE);
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_OK);
    offpay_wallet_close(w);
    world_free(&x);
}

static void test_wallet_corrupt(void)
{
    world          x;
    offpay_wallet *w = NULL;
    char          *orig, *copy;
    size_t         len = 0;

    REQUIRE(world_init(&x, "wallet_corrupt", 100000));
    offpay_wallet_close(x.w); /* an open wallet is locked */
    x.w = NULL;
    orig = offpay_test_read_file(x.wallet_path, &len);
    REQUIRE(orig != NULL);
    REQUIRE(len > OFFPAY__WALLET_HEADER_BYTES + OFFPAY__WALLET_TAG_BYTES);
    copy = malloc(len);
    REQUIRE(copy != NULL);

    /* Header magic: structurally not a wallet file. */
    memcpy(copy, orig, len);
    copy[0] ^= 0x20;
    REQUIRE(write_file(x.wallet_path, copy, len));
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_ECORRUPT);
    CHECK(w == NULL);
    /* Truncated: also structural. */
    REQUIRE(write_file(x.wallet_path, orig, len - 1));
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_ECORRUPT);
    /* A ciphertext byte: the AEAD cannot tell it from a wrong passphrase
     * (wallet_file.h documents OFFPAY_EPASSPHRASE). */
    memcpy(copy, orig, len);
    copy[OFFPAY__WALLET_HEADER_BYTES + 3] ^= 0x01;
    REQUIRE(write_file(x.wallet_path, copy, len));
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_EPASSPHRASE);
    /* The tag, likewise. */
    memcpy(copy, orig, len);
    copy[len - 1] ^= 0x40;
    REQUIRE(write_file(x.wallet_path, copy, len));
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_EPASSPHRASE);
    /* Gone. */
    REQUIRE(remove(x.wallet_path) == 0);
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_ENOTFOUND);
    /* Restored, it opens again. */
    REQUIRE(write_file(x.wallet_path, orig, len));
    CHECK_ERR(offpay_wallet_open(x.wallet_path, PASS, &w), OFFPAY_OK);
    CHECK(offpay_wallet_n_credentials(w) == 1);
    offpay_wallet_close(w);
    free(copy);
    free(orig);
    world_free(&x);
}

/* ---- positive paths -------------------------------------------------- */

typedef struct journal_view {
    int                  n;
    offpay_journal_entry e[8];
    uint8_t              code[8][OFFPAY_PAYMENT_BOUND_BYTES];
} journal_view;

static int collect(const offpay_journal_entry *e, void *ctx)
{
    journal_view *v = ctx;

    if (v->n >= 8)
        return 1;
    v->e[v->n] = *e;
    if (e->code_len <= sizeof v->code[0])
        memcpy(v->code[v->n], e->code, e->code_len);
    v->e[v->n].code = v->code[v->n]; /* e->code dies with the callback */
    v->n++;
    return 0;
}

/* 1 when the journal entry holds exactly the bytes of text. */
static int same_code(const offpay_journal_entry *e, const char *text)
{
    uint8_t *b = NULL;
    size_t   n = 0;
    int      same;

    if (offpay_text_decode(text, strlen(text), &b, &n) != OFFPAY_OK)
        return 0;
    same = n == e->code_len && memcmp(b, e->code, n) == 0;
    free(b);
    return same;
}

static void test_journal(void)
{
    world             x;
    journal_view      v;
    offpay_acceptance a1, a2;
    offpay_payment    p1;
    char             *c1, *c2;

    REQUIRE(world_init(&x, "journal", 100000));
    c1 = cpm(&x, 2000, NOW);
    c2 = bound(&x, x.t, 1500, NOW + 1, NULL);
    REQUIRE(c1 != NULL && c2 != NULL);
    CHECK_ERR(offpay_terminal_check(x.t, c1, strlen(c1), 1800, NOW + 2, &p1),
              OFFPAY_OK);
    CHECK_ERR(offpay_terminal_accept(x.t, c1, strlen(c1), 1800, NOW + 2, &a1),
              OFFPAY_OK);
    CHECK_ERR(offpay_terminal_accept(x.t, c2, strlen(c2), 0, NOW + 3, &a2),
              OFFPAY_OK);
    CHECK(a1.charged == 1800 && a1.payment.amount == 2000 &&
          !a1.payment.bound && a1.time == NOW + 2);
    CHECK(a2.charged == 1500 && a2.payment.amount == 1500 && a2.payment.bound &&
          a2.payment.merchant_id == 1);
    CHECK(a1.seq != a2.seq);
    /* Read back after a restart: the rows were durable. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    memset(&v, 0, sizeof v);
    CHECK_ERR(offpay_terminal_journal(x.t, collect, &v), OFFPAY_OK);
    REQUIRE(v.n == 2);
    CHECK(v.e[0].seq == a1.seq && v.e[0].serial == p1.cred.serial &&
          v.e[0].counter == p1.counter && v.e[0].charged == 1800 &&
          v.e[0].authorized == 2000 && v.e[0].currency == EUR &&
          v.e[0].bound == 0 && v.e[0].accepted_at == NOW + 2);
    CHECK(same_code(&v.e[0], c1));
    CHECK(v.e[1].seq == a2.seq && v.e[1].serial == p1.cred.serial &&
          v.e[1].counter == p1.counter + 1 && v.e[1].charged == 1500 &&
          v.e[1].authorized == 1500 && v.e[1].bound == 1 &&
          v.e[1].accepted_at == NOW + 3);
    CHECK(same_code(&v.e[1], c2));
    /* Refusals leave no row. */
    CHECK_ERR(accept(x.t, c1, 1800, NOW + 4), OFFPAY_EREPLAY);
    memset(&v, 0, sizeof v);
    CHECK_ERR(offpay_terminal_journal(x.t, collect, &v), OFFPAY_OK);
    CHECK(v.n == 2);
    free(c1);
    free(c2);
    world_free(&x);
}

static void test_receipt(void)
{
    world                 x;
    offpay_acceptance     a;
    offpay_wallet_balance b;
    offpay_wallet_spend   s;
    offpay_receipt        r;
    char                 *code, *rc_text = NULL, *bcode, *brc = NULL;

    REQUIRE(world_init(&x, "receipt", 100000));
    code = cpm(&x, 2000, NOW);
    REQUIRE(code != NULL);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b));
    CHECK(b.limit == 100000 && b.pending == 2000 && b.confirmed == 0 &&
          b.available == 98000 && b.codes == 1 && b.usable);
    REQUIRE_OK(
        offpay_terminal_accept(x.t, code, strlen(code), 1200, NOW + 1, &a));
    REQUIRE_OK(offpay_terminal_receipt(x.t, a.seq, NOW + 2, &rc_text));
    CHECK_ERR(offpay_wallet_take_receipt(x.w, rc_text, NOW + 3, &r), OFFPAY_OK);
    CHECK(r.amount == 1200 && r.counter == a.payment.counter &&
          r.serial == a.payment.cred.serial && r.currency == EUR);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW + 3, &b));
    /* Confirmed is what the receipt says; the rest stays held (another
     * terminal may have taken the same code for more): nothing released. */
    CHECK(b.pending == 0 && b.confirmed == 1200 && b.held == 800 &&
          b.available == 98000);
    REQUIRE_OK(offpay_wallet_get_spend(x.w, 0, &s));
    CHECK(s.charged == 1200 && s.authorized == 2000);
    /* The same receipt again changes nothing. */
    CHECK_ERR(offpay_wallet_take_receipt(x.w, rc_text, NOW + 4, NULL),
              OFFPAY_OK);
    /* A bound payment's receipt; and it survives a wallet restart. */
    bcode = bound(&x, x.t, 1500, NOW + 5, NULL);
    REQUIRE_OK(
        offpay_terminal_accept(x.t, bcode, strlen(bcode), 0, NOW + 6, &a));
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW + 6, &b));
    CHECK(b.pending == 1500 && b.confirmed == 1200);
    REQUIRE_OK(offpay_terminal_receipt(x.t, a.seq, NOW + 7, &brc));
    CHECK_ERR(offpay_wallet_take_receipt(x.w, brc, NOW + 8, NULL), OFFPAY_OK);
    offpay_wallet_close(x.w);
    x.w = NULL;
    REQUIRE_OK(offpay_wallet_open(x.wallet_path, PASS, &x.w));
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW + 8, &b));
    CHECK(b.pending == 0 && b.confirmed == 2700 && b.held == 800 &&
          b.available == 96500 && b.codes == 2);
    /* A receipt of another wallet's payment does not match here. */
    {
        char           path[600];
        offpay_wallet *w2 = NULL;

        REQUIRE_OK(
            offpay_wallet_create(in_dir(&x, "wallet2", path, sizeof path), PASS,
                                 x.root_pk, x.bundle, x.bundle_len, &w2));
        CHECK_ERR(offpay_wallet_take_receipt(w2, brc, NOW + 9, NULL),
                  OFFPAY_ERECEIPT_MISMATCH);
        offpay_wallet_close(w2);
    }
    free(brc);
    free(bcode);
    free(rc_text);
    free(code);
    world_free(&x);
}

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (rng_state * 2685821657736338717ULL) % n;
}

/* Sums the spend log: pending authorizations and confirmed charges. */
static void spend_sums(const offpay_wallet *w, int64_t *pending,
                       int64_t *charged, uint32_t *max_counter)
{
    offpay_wallet_spend s;

    *pending = *charged = 0;
    *max_counter = 0;
    for (size_t i = 0; i < offpay_wallet_n_spends(w); i++) {
        if (offpay_wallet_get_spend(w, i, &s) != OFFPAY_OK)
            continue;
        if (s.charged >= 0)
            *charged += s.charged;
        else
            *pending += s.authorized;
        if (s.counter > *max_counter)
            *max_counter = s.counter;
    }
}

/* A receipt the terminal made but the wallet has not taken yet. */
typedef struct late_receipt {
    char   *text;
    int64_t authorized, charged;
} late_receipt;

static void test_conservation(void)
{
    const int64_t limit = 50000;
    world         x;
    offpay_risk   r;
    late_receipt  late[256];
    int           n_late = 0;
    int64_t       m_conf = 0, m_pend = 0, m_held = 0, term_sum = 0;
    uint32_t      last_counter = 0, t = NOW;
    int           made = 0, refused = 0, receipted = 0, unscanned = 0;
    int           restarts = 0, lost = 0;

    REQUIRE(world_init(&x, "conservation", limit));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.floor_unbound = limit;
    r.cumulative = limit;
    r.max_offline_payments = 0;
    r.max_offline_hours = 0;
    r.max_revlist_age = 0;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    /* Codes made without an amount reserve this much (not limit / 10), so
     * the allowance lasts a few hundred steps. */
    REQUIRE_OK(offpay_wallet_set_default_cap(x.w, 1500));

    for (int step = 0; step < 240; step++) {
        offpay_wallet_balance b;
        offpay_payment        p;
        char                 *code = NULL;
        int64_t               avail = limit - m_conf - m_pend - m_held;
        int64_t               amount;
        int64_t               pend, conf;
        uint32_t              maxc;
        offpay_err            rc;
        uint64_t              kind = rnd(10), fate;

        t += 7;
        /* Mostly affordable amounts, sometimes the default cap (0) or one
         * unit more than available; late on, exactly what is available. */
        if (kind == 0)
            amount = 0;
        else if (kind == 1)
            amount = avail + 1;
        else if (kind == 2 && step > 200)
            amount = avail;
        else
            amount = 1 + (int64_t)rnd((uint64_t)limit / 40);
        rc = offpay_wallet_pay(x.w, amount, EUR, t, &code, &p);
        if (avail <= 0 || amount > avail) {
            CHECK_ERR(rc, OFFPAY_EINSUFFICIENT);
            CHECK(code == NULL);
            refused++;
        } else {
            int64_t want = amount;

            if (amount == 0)
                want = 1500 < avail ? 1500 : avail;
            CHECK_ERR(rc, OFFPAY_OK);
            REQUIRE(code != NULL);
            CHECK(p.amount == want);
            CHECK(p.counter > last_counter); /* never repeats */
            last_counter = p.counter;
            m_pend += p.amount;
            made++;
            /* 0: shown, never scanned (stays reserved); 1, 2: accepted at
             * a random amount up to the authorized one; with 1 the receipt
             * is lost (the wallet keeps the whole reservation), with 2 it
             * reaches the wallet at some later step. */
            fate = rnd(3);
            if (fate == 0)
                unscanned++;
            if (fate >= 1) {
                int64_t           charge = 1 + (int64_t)rnd(p.amount);
                offpay_acceptance a;
                char             *rt = NULL;

                CHECK_ERR(offpay_terminal_accept(x.t, code, strlen(code),
                                                 charge, t, &a),
                          OFFPAY_OK);
                term_sum += charge;
                CHECK_ERR(offpay_terminal_receipt(x.t, a.seq, t, &rt),
                          OFFPAY_OK);
                if (fate == 1) {
                    lost++;
                    free(rt);
                } else if (rt != NULL && n_late < 256) {
                    late[n_late].text = rt;
                    late[n_late].authorized = p.amount;
                    late[n_late].charged = charge;
                    n_late++;
                } else {
                    free(rt);
                }
            }
        }
        free(code);

        /* Now and then a pending receipt arrives (in any order). */
        if (n_late > 0 && rnd(3) == 0) {
            int i = (int)rnd((uint64_t)n_late);

            CHECK_ERR(offpay_wallet_take_receipt(x.w, late[i].text, t, NULL),
                      OFFPAY_OK);
            m_pend -= late[i].authorized;
            m_conf += late[i].charged;
            m_held += late[i].authorized - late[i].charged;
            receipted++;
            free(late[i].text);
            late[i] = late[--n_late];
        }

        /* The invariant, by the wallet's own numbers and by its log. */
        REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, t, &b));
        CHECK(b.limit == limit && b.confirmed == m_conf &&
              b.pending == m_pend && b.held == m_held);
        CHECK(b.available == limit - m_conf - m_pend - m_held &&
              b.available >= 0);
        spend_sums(x.w, &pend, &conf, &maxc);
        CHECK(pend == m_pend && conf == m_conf &&
              pend + conf + m_held <= limit);
        CHECK(maxc == last_counter);
        CHECK(term_sum <= limit);

        /* A simulated restart every few steps. */
        if (step % 8 == 7) {
            offpay_wallet_close(x.w);
            x.w = NULL;
            REQUIRE_OK(offpay_wallet_open(x.wallet_path, PASS, &x.w));
            restarts++;
            REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, t, &b));
            CHECK(b.confirmed == m_conf && b.pending == m_pend &&
                  b.codes == (uint32_t)made);
        }
        if (offpay_test_failures > 0)
            break;
    }
    lost += n_late; /* still undelivered at the end */
    while (n_late > 0)
        free(late[--n_late].text);
    printf("     %d codes made, %d refused (insufficient), %d receipted, "
           "%d receipts lost, %d never scanned, %d restarts; "
           "confirmed %lld + pending %lld + held %lld <= limit %lld\n",
           made, refused, receipted, lost, unscanned, restarts,
           (long long)m_conf, (long long)m_pend, (long long)m_held,
           (long long)limit);
    CHECK(made > 50 && refused > 20 && receipted > 20 && lost > 10 &&
          unscanned > 10);
    world_free(&x);
}

/* ---- security review findings ------------------------------------------ */

/* Sets meta[key] of t's database to the text value (a test's way to write
 * what an older version, or a damaged file, left there). */
static int meta_set(offpay_terminal *t, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int           ok;

    ok = sqlite3_prepare_v2(t->db,
                            "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                            " ON CONFLICT(key) DO UPDATE SET value = ?2",
                            -1, &st, NULL) == SQLITE_OK &&
         sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_blob(st, 2, value, (int)strlen(value), SQLITE_STATIC) ==
             SQLITE_OK &&
         sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

static int reopen(world *x)
{
    offpay_terminal_close(x->t);
    x->t = NULL;
    return offpay_terminal_open(x->term_path, PASS, &x->t) == OFFPAY_OK;
}

/*
 * An online sync lets the terminal go while it waits on offpayd
 * (offpay__terminal_let_go), so that the till goes on accepting: another
 * handle (another process) opens it meanwhile, and the sync's handle,
 * taken again, sees what that one did — the journal's newest row, the
 * offline count, the high-water time, the credential's running sum, the
 * requests. Let go, the handle writes nothing. A sync that sent the rows
 * up to a seq leaves the later ones counted toward the offline limits.
 */
static void test_let_go_while_online(void)
{
    world                  x;
    offpay_terminal       *t2 = NULL;
    offpay_terminal_status st;
    offpay_risk            r;
    uint8_t               *rl = NULL;
    size_t                 rllen = 0;
    char                  *code, *rq = NULL;

    REQUIRE(world_init(&x, "let_go", 1000000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.cumulative = 400;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    code = cpm(&x, 100, NOW + 1);
    CHECK_ERR(accept(x.t, code, 100, NOW + 2), OFFPAY_OK);
    free(code);
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay_terminal_open(x.term_path, NULL, &t2), OFFPAY_EBUSY);
    offpay__lock_wait_ms = 10000;
    offpay__terminal_let_go(x.t);
    /* let go, it changes nothing */
    code = cpm(&x, 100, NOW + 3);
    CHECK_ERR(accept(x.t, code, 100, NOW + 3), OFFPAY_EBUSY);
    free(code);
    CHECK_ERR(offpay__terminal_record_clock(x.t, NOW + 3, 5), OFFPAY_EBUSY);
    /* the till, meanwhile: a bound payment of 250, an open request */
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &t2));
    code = bound(&x, t2, 250, NOW + 50, NULL);
    CHECK_ERR(accept(t2, code, 0, NOW + 60), OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_request(t2, 70, NOW + 61, &rq, NULL));
    free(rq);
    offpay__lock_wait_ms = 50;
    CHECK_ERR(offpay__terminal_retake(x.t), OFFPAY_EBUSY); /* t2 holds it */
    offpay__lock_wait_ms = 10000;
    offpay_terminal_close(t2);
    t2 = NULL;
    REQUIRE_OK(offpay__terminal_retake(x.t));
    CHECK_ERR(offpay__terminal_retake(x.t), OFFPAY_OK); /* held: a no-op */
    CHECK(offpay__terminal_max_seq(x.t) == 2);
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 62, &st));
    CHECK(st.payments_since_sync == 2);
    CHECK(st.high_water == NOW + 60);
    CHECK(st.open_requests == 1);
    CHECK(st.journal_entries == 2);
    /* the running sum holds t2's 250: 100 + 250 + 100 is over 400 */
    CHECK_ERR(accept(x.t, code, 0, NOW + 63), OFFPAY_EREPLAY);
    free(code);
    code = cpm(&x, 100, NOW + 63);
    CHECK_ERR(check(x.t, code, 100, NOW + 63), OFFPAY_EOVER_CUMULATIVE);
    free(code);
    /* taken again, it writes: */
    CHECK_ERR(offpay__terminal_record_clock(x.t, NOW + 63, 5), OFFPAY_OK);
    /* a sync that had sent the rows up to seq 1 leaves seq 2 counted,
     * and the mark it saves stays raised by that row */
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 40, &rl, &rllen));
    REQUIRE_OK(offpay__terminal_sync_seen(x.t, NULL, 0, rl, rllen, NOW + 70,
                                          NOW + 30, 1));
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 71, &st));
    CHECK(st.payments_since_sync == 1);
    CHECK(st.last_sync == NOW + 30);
    CHECK(st.high_water == NOW + 60); /* the list's NOW + 40, raised */
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 71, &st));
    CHECK(st.payments_since_sync == 1);
    CHECK(st.high_water == NOW + 60);
    free(rl);
    world_free(&x);
}

/*
 * An unbound code is a bearer token while it is acceptable: its own,
 * stricter rules (60 s instead of 300 s; a floor below the bound one) by
 * default, configurable and durable, and rules saved before the field
 * existed load with the stricter default.
 */
static void test_unbound_rules(void)
{
    world       x;
    offpay_risk r, d;
    char       *code;

    REQUIRE(world_init(&x, "unbound_rules", 100000));
    offpay_risk_defaults(EUR, &d);
    CHECK(d.max_code_age_unbound == 60 && d.max_code_age == 300);
    CHECK(d.floor_unbound < d.floor_bound);
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    CHECK(r.max_code_age_unbound == 60);
    code = cpm(&x, 1000, NOW);
    CHECK_ERR(check(x.t, code, 1000, NOW + 60), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + 61), OFFPAY_ECODE_TOO_OLD);
    /* Configurable, and saved. */
    r.max_code_age_unbound = 90;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    CHECK(r.max_code_age_unbound == 90);
    CHECK_ERR(check(x.t, code, 1000, NOW + 90), OFFPAY_OK);
    CHECK_ERR(check(x.t, code, 1000, NOW + 91), OFFPAY_ECODE_TOO_OLD);
    /* Rules of an older terminal (nine fields) take the stricter default,
     * or max_code_age when that is shorter still. */
    REQUIRE(
        meta_set(x.t, "risk", "5000 20000 50000 500 72 300 120 604800 300"));
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    CHECK(r.max_code_age_unbound == 60 && r.max_code_age == 300);
    REQUIRE(meta_set(x.t, "risk", "5000 20000 50000 500 72 30 120 604800 300"));
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    CHECK(r.max_code_age_unbound == 30);
    /* Anything else is a damaged file. */
    REQUIRE(meta_set(x.t, "risk", "5000 20000 50000 500 72 30 120 604800"));
    offpay_terminal_close(x.t);
    x.t = NULL;
    CHECK_ERR(offpay_terminal_open(x.term_path, NULL, &x.t), OFFPAY_ECORRUPT);
    free(code);
    world_free(&x);
}

/*
 * The clock's high-water mark: after an acceptance at T, a clock more than
 * skew behind T is refused (durably, for payments and requests), and only a
 * sync bringing something newer from the issuer lowers the mark — never
 * below what the issuer signed.
 */
static void test_clock_behind(void)
{
    world             x;
    offpay_risk       r;
    offpay_sync_state s;
    char             *code, *rq = NULL;
    const uint32_t    ahead = NOW + 5000;

    REQUIRE(world_init(&x, "clock_behind", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.high_water == NOW);
    /* The clock runs ahead by mistake; a payment is accepted then. */
    code = cpm(&x, 1000, ahead);
    CHECK_ERR(accept(x.t, code, 1000, ahead), OFFPAY_OK);
    free(code);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.high_water == ahead);
    /* Set back: refused beyond the skew, with its own error... */
    code = cpm(&x, 1000, NOW + 100);
    CHECK_ERR(check(x.t, code, 1000, ahead - r.skew - 1), OFFPAY_ECLOCK_BEHIND);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 100), OFFPAY_ECLOCK_BEHIND);
    CHECK_ERR(offpay_terminal_request(x.t, 1000, NOW + 100, &rq, NULL),
              OFFPAY_ECLOCK_BEHIND);
    CHECK(rq == NULL);
    /* ...durably... */
    REQUIRE(reopen(&x));
    CHECK_ERR(accept(x.t, code, 1000, NOW + 100), OFFPAY_ECLOCK_BEHIND);
    free(code);
    code = cpm(&x, 1000, ahead - r.skew);
    CHECK_ERR(check(x.t, code, 1000, ahead - r.skew), OFFPAY_OK);
    free(code);
    /* ...until the issuer's next list vouches for the clock. */
    REQUIRE(resync(&x, NOW + 100));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.high_water == NOW + 100);
    code = cpm(&x, 1000, NOW + 100);
    CHECK_ERR(accept(x.t, code, 1000, NOW + 100), OFFPAY_OK);
    free(code);
    /* A sync never takes the mark back past the list it brings. */
    {
        uint8_t *rl = NULL;
        size_t   rllen = 0;

        REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 3000, &rl, &rllen));
        REQUIRE_OK(
            offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 3000 - r.skew));
        REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
        CHECK(s.high_water == NOW + 3000);
        free(rl);
    }
    code = cpm(&x, 1000, NOW + 100);
    CHECK_ERR(check(x.t, code, 1000, NOW + 100), OFFPAY_ECLOCK_BEHIND);
    free(code);
    world_free(&x);
}

/*
 * Lists and bundles dated after now + skew are refused: once held, they
 * would outrank every genuine file. A terminal that already holds one
 * (from before this check) takes the next genuine list of its sequence.
 */
static void test_future_dated(void)
{
    world             x;
    offpay_risk       r;
    offpay_sync_state s0, s1;
    uint8_t          *rl = NULL, *b = NULL;
    size_t            rllen = 0, blen = 0;
    char              buf[32];

    REQUIRE(world_init(&x, "future_dated", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s0));
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 600 * DAY, &rl, &rllen));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 10),
              OFFPAY_EFUTURE_DATED);
    free(rl);
    rl = NULL;
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 10 + r.skew + 1, &rl, &rllen));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 10),
              OFFPAY_EFUTURE_DATED);
    free(rl);
    rl = NULL;
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s1));
    CHECK(memcmp(&s0, &s1, sizeof s0) == 0);
    /* Within the skew: taken. */
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 10 + r.skew, &rl, &rllen));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 10),
              OFFPAY_OK);
    free(rl);
    rl = NULL;
    /* A bundle dated in the future (its issued_at is its newest key's
     * start) is refused at sync... */
    REQUIRE_OK(offpay_issuer_add_key(x.is, NOW + 600 * DAY, 365 * DAY, NULL));
    REQUIRE_OK(offpay_issuer_bundle(x.is, &b, &blen));
    CHECK_ERR(offpay_terminal_sync(x.t, b, blen, NULL, 0, NOW + 20),
              OFFPAY_EFUTURE_DATED);
    /* ...and, given at creation, when the terminal first has a clock. */
    {
        offpay_terminal     *t2 = NULL;
        offpay_terminal_cred tc;
        uint8_t              pk[OFFPAY_PK_BYTES], cb[512];
        size_t               n = 0;
        char                 path[600];

        REQUIRE_OK(offpay_terminal_create(in_dir(&x, "t2", path, sizeof path),
                                          PASS, x.root_pk, b, blen, EUR, &t2));
        offpay_terminal_public_key(t2, pk);
        REQUIRE_OK(offpay_issuer_issue_terminal(x.is, 1, pk, EUR, "T2",
                                                NOW - DAY, NOW + DAY, &tc));
        REQUIRE_OK(offpay_terminal_cred_encode(&tc, cb, sizeof cb, &n));
        CHECK_ERR(offpay_terminal_set_credential(t2, cb, n, NOW),
                  OFFPAY_EFUTURE_DATED);
        offpay_terminal_close(t2);
    }
    free(b);
    /* A list held from before: dated 600 days ahead, it would make every
     * genuine list of its sequence "nothing newer". */
    snprintf(buf, sizeof buf, "%u", NOW + 600 * DAY);
    REQUIRE(meta_set(x.t, "revlist_issued_at", buf));
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s0));
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 30, &rl, &rllen));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW + 30),
              OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s1));
    CHECK(s1.revlist_seq == s0.revlist_seq);
    CHECK(s1.revlist_issued_at == NOW + 30 && s1.last_sync == NOW + 30);
    free(rl);
    world_free(&x);
}

/* The delta after list seq, signed with the issuer's key at issued_at,
 * revoking serial: into out (room for 256 bytes), *len. */
static void delta_by_hand(world *x, uint32_t seq, uint32_t issued_at,
                          uint64_t *serial, uint8_t *out, size_t *len)
{
    offpay_revlist d;
    uint8_t        sk[OFFPAY_SK_BYTES];
    uint16_t       kid = 0;

    memset(&d, 0, sizeof d);
    REQUIRE_OK(offpay_issuer_signing_key(x->is, issued_at, &kid, sk));
    d.kid = kid;
    d.seq = seq + 1;
    d.base_seq = seq;
    d.issued_at = issued_at;
    d.n_serials = 1;
    d.serials = serial;
    REQUIRE_OK(offpay_issuer_sign_revlist(sk, &d));
    sodium_memzero(sk, sizeof sk);
    REQUIRE_OK(offpay_revlist_encode(&d, out, 256, len));
}

/* A delta signed before the list held (offpayd's clock went back after it
 * signed that list ahead) adds its serials but does not bring the time the
 * serials held are complete for below that list's: the list left out
 * credentials a day past their expiry by its own issued_at (protocol.md
 * §2.8), so the terminal keeps refusing (ECLOCK_BEHIND) at a clock more
 * than its skew before it. The list's own issued_at is the delta's (its
 * age, what is newer). A sync bringing only a bundle does not bring it
 * back either, though the list held is then dated after now + skew; a
 * full list of the right clock does (§5.3 step 0b). */
static void test_delta_older_than_list_held(void)
{
    world             x;
    offpay_risk       r;
    offpay_sync_state s;
    uint8_t           dbytes[256];
    uint8_t          *rl = NULL, *b = NULL;
    uint64_t          serial = 4242;
    size_t            rllen = 0, blen = 0, dlen = 0;
    uint32_t          ahead = NOW + 2 * DAY, right = NOW + 3600, seq;
    char             *code;

    REQUIRE(world_init(&x, "delta_older", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.max_offline_hours = 0;
    r.max_revlist_age = 0;
    r.skew = OFFPAY_RISK_SKEW_MAX;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    /* 1. Within the skew: offpayd's clock 11 hours ahead signs a full
     * list, which the terminal, its clock right, takes; then, offpayd's
     * clock set right, the delta after it. A clock set back to 11 hours
     * and a second before the full list's time (within the skew of the
     * delta's) is refused: the full list left out credentials that
     * expired a day before its time */
    REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 11 * 3600, &rl, &rllen));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, NOW));
    free(rl);
    rl = NULL;
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    seq = s.revlist_seq;
    delta_by_hand(&x, seq, NOW + 60, &serial, dbytes, &dlen);
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, dbytes, dlen, NOW + 60),
              OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.revlist_seq == seq + 1 && s.revlist_issued_at == NOW + 60 &&
          s.high_water == NOW + 11 * 3600);
    code = cpm(&x, 100, NOW - 3600 - 1);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, NOW - 3600 - 1), OFFPAY_ECLOCK_BEHIND);
    free(code);
    /* 2. Beyond the skew: the issuer's clock and the terminal's both 2
     * days ahead; both set right, the delta after that list, signed at
     * the right time: taken (its serial held), the mark still 2 days
     * ahead, a code refused */
    r.skew = 120;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE_OK(offpay_issuer_revlist(x.is, ahead, &rl, &rllen));
    REQUIRE_OK(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, ahead));
    free(rl);
    rl = NULL;
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    REQUIRE(s.revlist_issued_at == ahead);
    seq = s.revlist_seq;
    serial++;
    delta_by_hand(&x, seq, right, &serial, dbytes, &dlen);
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, dbytes, dlen, right),
              OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.revlist_seq == seq + 1 && s.revlist_issued_at == right &&
          s.high_water >= ahead);
    code = cpm(&x, 100, right);
    REQUIRE(code != NULL);
    CHECK_ERR(check(x.t, code, 100, right), OFFPAY_ECLOCK_BEHIND);
    /* a new bundle alone: the same */
    REQUIRE_OK(offpay_issuer_add_key(x.is, NOW, 365 * DAY, NULL));
    REQUIRE_OK(offpay_issuer_bundle(x.is, &b, &blen));
    CHECK_ERR(offpay_terminal_sync(x.t, b, blen, NULL, 0, right), OFFPAY_OK);
    free(b);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.high_water >= ahead);
    CHECK_ERR(check(x.t, code, 100, right), OFFPAY_ECLOCK_BEHIND);
    /* the same after a reopen (the time is kept in terminal.db) */
    REQUIRE(reopen(&x));
    CHECK_ERR(check(x.t, code, 100, right), OFFPAY_ECLOCK_BEHIND);
    /* the issuer's full list at the right time, which names both serials
     * too: taken, and the terminal works again */
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, serial - 1, right));
    REQUIRE_OK(offpay__issuer_revoke_any(x.is, serial, right));
    REQUIRE_OK(offpay_issuer_revlist(x.is, right + 60, &rl, &rllen));
    CHECK_ERR(offpay_terminal_sync(x.t, NULL, 0, rl, rllen, right + 60),
              OFFPAY_OK);
    free(rl);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.revlist_issued_at == right + 60 && s.high_water == right + 60);
    CHECK_ERR(check(x.t, code, 100, right + 60), OFFPAY_OK);
    free(code);
    world_free(&x);
}

/* The terminal's own credential: outside its window (with the skew) the
 * terminal refuses payments and requests. */
static void test_terminal_expired(void)
{
    world          x;
    offpay_risk    r;
    char          *code, *rq = NULL;
    const uint32_t end = NOW + 365 * DAY; /* new_terminal's credential */

    REQUIRE(world_init(&x, "terminal_expired", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    /* Only the credential counts here: no offline or list limits. */
    r.max_offline_hours = 0;
    r.max_revlist_age = 0;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE(give_cred(&x, x.w, 100000, EUR, NOW, end + 10 * DAY,
                      OFFPAY_CRED_ALLOW_UNBOUND, NOW, NULL));
    code = cpm(&x, 1000, end + r.skew);
    CHECK_ERR(check(x.t, code, 1000, end + r.skew), OFFPAY_OK);
    free(code);
    code = cpm(&x, 1000, end + DAY);
    CHECK_ERR(check(x.t, code, 1000, end + DAY), OFFPAY_ETERMINAL_EXPIRED);
    CHECK_ERR(accept(x.t, code, 1000, end + DAY), OFFPAY_ETERMINAL_EXPIRED);
    CHECK_ERR(offpay_terminal_request(x.t, 1000, end + DAY, &rq, NULL),
              OFFPAY_ETERMINAL_EXPIRED);
    CHECK(rq == NULL);
    free(code);
    world_free(&x);
}

/*
 * A terminal with no credential yet: decoding comes first (a damaged code
 * gets its decoding error), then OFFPAY_ENO_TERMINAL_CRED for a code that
 * decodes — docs/protocol.md §5.3 step 0.
 */
static void test_no_terminal_cred(void)
{
    world                x;
    offpay_terminal     *t = NULL;
    offpay_terminal_cred c;
    char                 path[600], *code, *rq = NULL, *cut;

    REQUIRE(world_init(&x, "no_terminal_cred", 100000));
    REQUIRE_OK(offpay_terminal_create(in_dir(&x, "bare", path, sizeof path),
                                      PASS, x.root_pk, x.bundle, x.bundle_len,
                                      EUR, &t));
    code = cpm(&x, 1000, NOW);
    REQUIRE(code != NULL);
    CHECK_ERR(check(t, code, 1000, NOW), OFFPAY_ENO_TERMINAL_CRED);
    CHECK_ERR(accept(t, code, 1000, NOW), OFFPAY_ENO_TERMINAL_CRED);
    {
        uint8_t *bytes = NULL;
        size_t   n = 0;

        /* The code's bytes, ten short, in text form. */
        REQUIRE_OK(offpay_text_decode(code, strlen(code), &bytes, &n));
        cut = NULL;
        CHECK_ERR(offpay_text_encode(bytes, n - 10, &cut), OFFPAY_OK);
        free(bytes);
        REQUIRE(cut != NULL);
    }
    CHECK_ERR(check(t, cut, 1000, NOW), OFFPAY_ETRUNCATED);
    cut[10] = 'a'; /* not in the Base45 alphabet */
    CHECK_ERR(check(t, cut, 1000, NOW), OFFPAY_EBASE45);
    CHECK_ERR(check(t, "HELLO:WORLD", 1000, NOW), OFFPAY_EPREFIX);
    CHECK_ERR(offpay_terminal_request(t, 1000, NOW, &rq, NULL),
              OFFPAY_ENO_TERMINAL_CRED);
    CHECK_ERR(offpay_terminal_credential(t, &c), OFFPAY_ENO_TERMINAL_CRED);
    free(cut);
    free(code);
    offpay_terminal_close(t);
    world_free(&x);
}

/* Rows in the journal, or -1. */
static int journal_rows(offpay_terminal *t)
{
    sqlite3_stmt *st = NULL;
    int           n = -1;

    if (sqlite3_prepare_v2(t->db, "SELECT count(*) FROM journal", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/*
 * The cumulative limit is min(rule, credential's limit): a copied key
 * spending at one terminal whose rule is generous still stops at the
 * credential's limit.
 */
static void test_cumulative_capped_by_credential(void)
{
    world              x;
    offpay_risk        r;
    offpay_keypair     kp;
    offpay_wallet_cred c;
    char              *a, *b, *d;

    REQUIRE(world_init(&x, "cumulative_cred_cap", 0));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.cumulative = 100000;
    r.floor_unbound = 100000;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE(own_cred(&x, &kp, 3000, OFFPAY_CRED_ALLOW_UNBOUND, &c));
    a = craft(&kp, &c, 1, 2000, NOW, 0, 0, NULL);
    b = craft(&kp, &c, 2, 2000, NOW, 0, 0, NULL);
    d = craft(&kp, &c, 3, 1000, NOW, 0, 0, NULL);
    CHECK_ERR(accept(x.t, a, 2000, NOW + 1), OFFPAY_OK);
    CHECK_ERR(check(x.t, b, 2000, NOW + 1), OFFPAY_EOVER_CUMULATIVE);
    CHECK_ERR(accept(x.t, b, 1001, NOW + 1), OFFPAY_EOVER_CUMULATIVE);
    CHECK_ERR(accept(x.t, d, 1000, NOW + 1), OFFPAY_OK); /* exactly 3000 */
    CHECK(journal_rows(x.t) == 2);
    offpay_keypair_wipe(&kp);
    free(a);
    free(b);
    free(d);
    world_free(&x);
}

/*
 * The journal's UNIQUE(serial, counter) key on its own: with the in-memory
 * seen-set emptied (as if it had missed the code), a replay and a double
 * spend are still refused by the database, with their own errors, and
 * nothing is recorded twice.
 */
static void test_journal_unique_backstop(void)
{
    world              x;
    offpay_keypair     kp;
    offpay_wallet_cred c;
    offpay_acceptance  prior;
    char              *first, *second;

    REQUIRE(world_init(&x, "journal_unique", 0));
    REQUIRE(own_cred(&x, &kp, 100000, OFFPAY_CRED_ALLOW_UNBOUND, &c));
    first = craft(&kp, &c, 9, 1000, NOW, 0, 0, NULL);
    second = craft(&kp, &c, 9, 1500, NOW, 0, 0, NULL);
    REQUIRE(first != NULL && second != NULL);
    CHECK_ERR(accept(x.t, first, 1000, NOW + 1), OFFPAY_OK);
    offpay__tables_free(&x.t->tables); /* the seen-set forgets */
    CHECK(offpay__seen_find(&x.t->tables, c.serial, 9) == NULL);
    CHECK_ERR(offpay_terminal_accept(x.t, first, strlen(first), 1000, NOW + 2,
                                     &prior),
              OFFPAY_EREPLAY);
    CHECK(prior.seq == 1 && prior.time == NOW + 1);
    offpay__tables_free(&x.t->tables);
    CHECK_ERR(accept(x.t, second, 1500, NOW + 2), OFFPAY_EDOUBLE_SPEND);
    CHECK(journal_rows(x.t) == 1);
    CHECK(evidence_rows(x.t) == 1);
    offpay_keypair_wipe(&kp);
    free(first);
    free(second);
    world_free(&x);
}

/* Mode bits of path, or -1. */
static int mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/*
 * Private state is 0700/0600 whatever existed before and whatever the
 * umask: the directory made before `init`, terminal.db and its -wal and
 * -shm (the journal holds just-accepted codes), terminal.key; and a
 * terminal left with loose modes is tightened when opened.
 */
static void test_file_modes(void)
{
    world                    x;
    offpay_terminal         *t = NULL;
    char                     dir[600], p[700];
    mode_t                   old = umask(022);
    static const char *const files[] = {"terminal.db", "terminal.db-wal",
                                        "terminal.db-shm", "terminal.key"};

    REQUIRE(world_init(&x, "file_modes", 0));
    in_dir(&x, "pre", dir, sizeof dir);
    REQUIRE(mkdir(dir, 0755) == 0);
    REQUIRE(chmod(dir, 0755) == 0);
    REQUIRE_OK(offpay_terminal_create(dir, PASS, x.root_pk, x.bundle,
                                      x.bundle_len, EUR, &t));
    CHECK(mode_of(dir) == 0700);
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (mode_of(p) != 0600) {
            fprintf(stderr, "%s: mode %o\n", p, (unsigned)mode_of(p));
            offpay_test_failures++;
        }
    }
    offpay_terminal_close(t);
    t = NULL;
    /* Loosened by hand (or by an older version): tightened at open. */
    REQUIRE(chmod(dir, 0755) == 0);
    snprintf(p, sizeof p, "%s/terminal.db", dir);
    REQUIRE(chmod(p, 0644) == 0);
    REQUIRE_OK(offpay_terminal_open(dir, NULL, &t));
    CHECK(mode_of(dir) == 0700);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        CHECK(mode_of(p) == 0600);
    }
    offpay_terminal_close(t);
    umask(old);
    world_free(&x);
}

/*
 * init into a directory holding a journal without its key (a crash of an
 * older init, a directory copied without terminal.key, an export) is
 * refused EEXISTS, the journal untouched: it may hold accepted payments
 * not uploaded yet. So is a -wal file alone (a journal's newest commits,
 * which SQLite drops beside an empty database). With the key file put
 * back the terminal goes on with every payment.
 */
static void test_init_refuses_a_journal_without_its_key(void)
{
    world                  x;
    offpay_terminal       *t = NULL;
    offpay_terminal_status st;
    char                   key[700], db[700], dir[600], wal[700];
    char                  *key_bytes = NULL, *db_before = NULL, *db_after;
    size_t                 key_len = 0, db_len = 0, after_len = 0;

    REQUIRE(world_init(&x, "init_journal_nokey", 10000));
    for (int i = 1; i <= 2; i++) {
        char *code = cpm(&x, 100 * i, NOW + (uint32_t)i);

        CHECK_ERR(accept(x.t, code, 100 * i, NOW + (uint32_t)i), OFFPAY_OK);
        free(code);
    }
    offpay_terminal_close(x.t);
    x.t = NULL;
    snprintf(key, sizeof key, "%s/terminal.key", x.term_path);
    snprintf(db, sizeof db, "%s/terminal.db", x.term_path);
    key_bytes = offpay_test_read_file(key, &key_len);
    REQUIRE(key_bytes != NULL);
    REQUIRE(unlink(key) == 0);
    REQUIRE(chmod(x.term_path, 0750) == 0);
    db_before = offpay_test_read_file(db, &db_len);
    REQUIRE(db_before != NULL);
    CHECK_ERR(offpay_terminal_create(x.term_path, PASS, x.root_pk, x.bundle,
                                     x.bundle_len, EUR, &t),
              OFFPAY_EEXISTS);
    CHECK(t == NULL);
    db_after = offpay_test_read_file(db, &after_len);
    CHECK(db_after != NULL && after_len == db_len &&
          memcmp(db_before, db_after, db_len) == 0);
    free(db_after);
    CHECK(access(key, F_OK) != 0);
    CHECK(mode_of(x.term_path) == 0750); /* left as it was found */
    /* what the CLI reads to say what it holds: without the key */
    REQUIRE_OK(offpay_terminal_open_readonly(x.term_path, NULL, &t));
    REQUIRE_OK(offpay_terminal_get_status(t, NOW + 2, &st));
    CHECK(st.journal_entries == 2 && st.not_uploaded == 2);
    offpay_terminal_close(t);
    t = NULL;
    /* the key back: the same terminal, both payments */
    REQUIRE(write_file(key, key_bytes, key_len));
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &t));
    REQUIRE_OK(offpay_terminal_get_status(t, NOW + 2, &st));
    CHECK(st.journal_entries == 2 && st.not_uploaded == 2);
    offpay_terminal_close(t);
    t = NULL;

    /* A -wal file alone: refused, kept as it was. */
    in_dir(&x, "walonly", dir, sizeof dir);
    REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(wal, sizeof wal, "%s/terminal.db-wal", dir);
    REQUIRE(write_file(wal, "frames", 6));
    CHECK_ERR(offpay_terminal_create(dir, PASS, x.root_pk, x.bundle,
                                     x.bundle_len, EUR, &t),
              OFFPAY_EEXISTS);
    CHECK(t == NULL);
    db_after = offpay_test_read_file(wal, &after_len);
    CHECK(db_after != NULL && after_len == 6 &&
          memcmp(db_after, "frames", 6) == 0);
    free(db_after);
    snprintf(wal, sizeof wal, "%s/terminal.db", dir);
    CHECK(access(wal, F_OK) != 0);
    snprintf(wal, sizeof wal, "%s/terminal.lock", dir);
    CHECK(access(wal, F_OK) != 0); /* made under the lock, and removed */
    if (key_bytes != NULL)
        sodium_memzero(key_bytes, key_len);
    free(key_bytes);
    free(db_before);
    world_free(&x);
}

/* ---- WAL frames per accept (issue 6 item 13) ------------------------ */

/* sqlite3_wal_hook callback: the pages the WAL holds after a commit. */
static int wal_pages(void *ctx, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    *(int *)ctx = pages;
    return SQLITE_OK;
}

/* Accepts code on t with the WAL emptied first, and returns the frames
 * that one commit appended (-1 if none was seen); *rc gets accept's
 * result. The hook replaces SQLite's auto-checkpoint hook for the call,
 * which is restored after. */
static int accept_frames(offpay_terminal *t, const char *code, int64_t charge,
                         uint32_t now, offpay_err *rc)
{
    int pages = -1;

    if (sqlite3_wal_checkpoint_v2(t->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                  NULL) != SQLITE_OK)
        return -2;
    sqlite3_wal_hook(t->db, wal_pages, &pages);
    *rc = accept(t, code, charge, now);
    sqlite3_wal_autocheckpoint(t->db, 1000);
    return pages;
}

/*
 * One accepted payment is two WAL frames (the journal table's page and
 * its UNIQUE(serial, counter) index's page), three for a bound code
 * (its request marked paid): no sqlite_sequence page (AUTOINCREMENT) and
 * no meta page (the offline count and the high-water time are derived
 * from the journal). Checked on a fresh connection too.
 */
static void test_accept_wal_frames(void)
{
    world      x;
    offpay_err rc = OFFPAY_EINVAL;
    char      *a, *b, *c;

    REQUIRE(world_init(&x, "wal_frames", 100000));
    a = cpm(&x, 100, NOW);
    b = bound(&x, x.t, 200, NOW, NULL);
    REQUIRE(a != NULL && b != NULL);
    CHECK(accept_frames(x.t, a, 100, NOW + 1, &rc) == 2);
    CHECK_ERR(rc, OFFPAY_OK);
    CHECK(accept_frames(x.t, b, 0, NOW + 1, &rc) == 3);
    CHECK_ERR(rc, OFFPAY_OK);
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    c = cpm(&x, 100, NOW + 2);
    REQUIRE(c != NULL);
    CHECK(accept_frames(x.t, c, 100, NOW + 2, &rc) == 2);
    CHECK_ERR(rc, OFFPAY_OK);
    free(a);
    free(b);
    free(c);
    world_free(&x);
}

/* Runs sql on the database file of the (closed) terminal in dir; 1 on
 * success. */
static int sql_on(const char *dir, const char *sql)
{
    char     path[700];
    sqlite3 *db = NULL;
    int      ok;

    snprintf(path, sizeof path, "%s/terminal.db", dir);
    ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "sql_on: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return ok;
}

/* The integer sql yields on t's database, or -1. */
static int64_t sql_int(offpay_terminal *t, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t       v = -1;

    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * A terminal.db of the previous layout (journal.seq AUTOINCREMENT, meta
 * payments_since_sync rewritten by every accept, no sync_seq) is upgraded
 * at open: the same rows under the same seqs, the same count of payments
 * since the sync, and from then on two WAL frames a payment, no seq
 * reused, and the journal refuses deletes.
 */
static void test_legacy_journal_upgrade(void)
{
    world             x;
    offpay_sync_state s;
    offpay_acceptance a;
    offpay_err        rc = OFFPAY_EINVAL;
    char             *code;

    REQUIRE(world_init(&x, "legacy_upgrade", 100000));
    for (uint32_t i = 0; i < 5; i++) {
        if (i == 2)
            REQUIRE(resync(&x, NOW + 2));
        code = cpm(&x, 100, NOW + i);
        CHECK_ERR(accept(x.t, code, 100, NOW + i), OFFPAY_OK);
        free(code);
    }
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.payments_since_sync == 3);
    offpay_terminal_close(x.t);
    x.t = NULL;
    /* Back to the old layout, as an older version left it. */
    REQUIRE(sql_on(x.term_path,
                   "DROP TRIGGER journal_append_only;"
                   "DROP TRIGGER journal_seq_fixed;"
                   "CREATE TABLE old(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " serial INTEGER NOT NULL, counter INTEGER NOT NULL,"
                   " charged INTEGER NOT NULL, authorized INTEGER NOT NULL,"
                   " currency INTEGER NOT NULL, bound INTEGER NOT NULL,"
                   " accepted_at INTEGER NOT NULL, code BLOB NOT NULL,"
                   " uploaded INTEGER NOT NULL DEFAULT 0,"
                   " UNIQUE(serial, counter));"
                   "INSERT INTO old SELECT * FROM journal;"
                   "DROP TABLE journal;"
                   "ALTER TABLE old RENAME TO journal;"
                   "DELETE FROM meta WHERE key = 'sync_seq';"
                   "INSERT INTO meta(key, value) VALUES"
                   " ('payments_since_sync', '3');"
                   "CREATE TABLE journal_v2(x);"));
    /* An upgrade that cannot be done (here the name it needs is taken;
     * read-only media or a full disk alike) still opens for reading, with
     * the right count, and refuses to accept: its accepts would not be
     * counted. Nothing is changed. */
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    CHECK_ERR(x.t->frozen, OFFPAY_EJOURNAL);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.payments_since_sync == 3);
    CHECK(journal_rows(x.t) == 5);
    code = cpm(&x, 100, NOW + 5);
    CHECK_ERR(accept(x.t, code, 100, NOW + 5), OFFPAY_EJOURNAL);
    free(code);
    CHECK(journal_rows(x.t) == 5);
    CHECK(sql_int(x.t, "SELECT count(*) FROM sqlite_master WHERE sql LIKE"
                       " '%AUTOINCREMENT%'") == 1);
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE(sql_on(x.term_path, "DROP TABLE journal_v2;"));
    REQUIRE_OK(offpay_terminal_open(x.term_path, NULL, &x.t));
    CHECK_ERR(x.t->frozen, OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.payments_since_sync == 3);
    CHECK(sql_int(x.t, "SELECT count(*) FROM sqlite_master WHERE sql LIKE"
                       " '%AUTOINCREMENT%'") == 0);
    CHECK(sql_int(x.t, "SELECT count(*) FROM meta WHERE key ="
                       " 'payments_since_sync'") == 0);
    CHECK(sql_int(x.t, "SELECT value FROM meta WHERE key = 'sync_seq'") == 2);
    CHECK(journal_rows(x.t) == 5);
    CHECK(sql_int(x.t, "SELECT max(seq) FROM journal") == 5);
    /* Upgraded: a payment is two frames, and takes the next seq. */
    code = cpm(&x, 100, NOW + 5);
    CHECK(accept_frames(x.t, code, 100, NOW + 5, &rc) == 2);
    CHECK_ERR(rc, OFFPAY_OK);
    free(code);
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.payments_since_sync == 4);
    /* The newest row cannot be deleted (its seq would be given again), nor
     * renumbered. */
    CHECK(sqlite3_exec(x.t->db, "DELETE FROM journal WHERE seq = 6", NULL, NULL,
                       NULL) != SQLITE_OK);
    CHECK(sqlite3_exec(x.t->db, "UPDATE journal SET seq = 99 WHERE seq = 6",
                       NULL, NULL, NULL) != SQLITE_OK);
    CHECK(journal_rows(x.t) == 6);
    code = cpm(&x, 100, NOW + 6);
    REQUIRE(code != NULL);
    CHECK_ERR(offpay_terminal_accept(x.t, code, strlen(code), 100, NOW + 6, &a),
              OFFPAY_OK);
    CHECK(a.seq == 7);
    free(code);
    /* The count survives a restart, and a sync resets it durably. */
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.payments_since_sync == 5);
    REQUIRE(resync(&x, NOW + 7));
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.payments_since_sync == 0);
    world_free(&x);
}

/* Copies the journal's entries (without their code) for the checks of
 * test_results_kept. */
typedef struct entries {
    offpay_journal_entry e[8];
    int                  n;
} entries;

static int collect_entry(const offpay_journal_entry *e, void *ctx)
{
    entries *all = ctx;

    if (all->n == 8)
        return 1;
    all->e[all->n] = *e;
    all->e[all->n].code = NULL;
    all->n++;
    return 0;
}

static int read_entries(offpay_terminal *t, entries *all)
{
    memset(all, 0, sizeof *all);
    return offpay_terminal_journal(t, collect_entry, all) == OFFPAY_OK;
}

/*
 * offpayd's result for each entry is kept with it when the sync marks it
 * uploaded (all of a batch or none), and read back with the journal and
 * by journal_find. The first such transaction makes the results table: a
 * terminal.db from before it opens as before (read-only too, and then as
 * healthy as it is, not frozen), its uploaded entries reading "decided,
 * result not kept", and writes nothing until a sync keeps a result.
 */
static void test_results_kept(void)
{
    world                 x;
    entries               all;
    offpay_journal_entry  one;
    offpay_terminal      *ro = NULL;
    offpay__upload_result r[2];
    char                 *code;

    REQUIRE(world_init(&x, "results_kept", 100000));
    for (uint32_t i = 0; i < 3; i++) {
        code = cpm(&x, 100 + i, NOW + i);
        CHECK_ERR(accept(x.t, code, 100 + i, NOW + i), OFFPAY_OK);
        free(code);
    }
    memset(r, 0, sizeof r);
    r[0].seq = 1;
    strcpy(r[0].outcome, "settled");
    r[0].paid = 100;
    r[1].seq = 2;
    strcpy(r[1].outcome, "duplicate");
    r[1].paid = 101;
    r[1].covered = 1;
    strcpy(r[1].case_id, "17");
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, r, 2, NOW + 50));
    REQUIRE(read_entries(x.t, &all));
    REQUIRE(all.n == 3);
    CHECK(all.e[0].uploaded && strcmp(all.e[0].outcome, "settled") == 0 &&
          all.e[0].paid == 100 && all.e[0].covered == 0 &&
          all.e[0].reason[0] == '\0' && all.e[0].case_id[0] == '\0' &&
          all.e[0].decided_at == NOW + 50);
    CHECK(all.e[1].uploaded && strcmp(all.e[1].outcome, "duplicate") == 0 &&
          all.e[1].paid == 101 && all.e[1].covered == 1 &&
          strcmp(all.e[1].case_id, "17") == 0);
    CHECK(!all.e[2].uploaded && all.e[2].outcome[0] == '\0' &&
          all.e[2].paid == 0);
    REQUIRE_OK(offpay_terminal_journal_find(x.t, all.e[1].serial, 2, &one));
    CHECK(one.seq == 2 && strcmp(one.outcome, "duplicate") == 0 &&
          one.paid == 101);
    /* A replayed result replaces the kept one; a batch with a seq the
     * journal does not have marks none of its entries. */
    r[0].seq = 3;
    strcpy(r[0].outcome, "rejected");
    r[0].paid = 0;
    strcpy(r[0].reason, "ECODE_SIG");
    r[1].seq = 99;
    CHECK_ERR(offpay__terminal_mark_uploaded(x.t, r, 2, NOW + 55),
              OFFPAY_EJOURNAL);
    REQUIRE(read_entries(x.t, &all));
    CHECK(!all.e[2].uploaded && all.e[2].outcome[0] == '\0');
    CHECK(sql_int(x.t, "SELECT count(*) FROM results") == 2);
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, r, 1, NOW + 60));
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.e[2].uploaded && strcmp(all.e[2].outcome, "rejected") == 0 &&
          strcmp(all.e[2].reason, "ECODE_SIG") == 0 &&
          all.e[2].decided_at == NOW + 60);
    CHECK(sql_int(x.t, "SELECT count(*) FROM results") == 3);
    /* A text of another form in the file (written by something else) is
     * read as none: it goes to screens and CSV files. */
    CHECK(sqlite3_exec(x.t->db,
                       "UPDATE results SET reason = 'A,B' WHERE seq = 3;"
                       "UPDATE results SET case_id = 'x' WHERE seq = 2;",
                       NULL, NULL, NULL) == SQLITE_OK);
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.e[2].reason[0] == '\0' && all.e[1].case_id[0] == '\0' &&
          strcmp(all.e[1].outcome, "duplicate") == 0);

    /* As an older version left it: no results table, entries uploaded. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE(sql_on(x.term_path, "DROP TABLE results;"));
    /* Read-only: listed, not frozen, nothing written. */
    REQUIRE_OK(offpay_terminal_open_readonly(x.term_path, NULL, &ro));
    CHECK_ERR(ro->frozen, OFFPAY_OK);
    REQUIRE(read_entries(ro, &all));
    CHECK(all.n == 3 && all.e[0].uploaded && all.e[0].outcome[0] == '\0' &&
          all.e[2].uploaded && all.e[2].outcome[0] == '\0');
    CHECK(offpay__terminal_mark_uploaded(ro, r, 1, NOW + 70) != OFFPAY_OK);
    CHECK(sql_int(ro, "SELECT count(*) FROM main.sqlite_master WHERE name ="
                      " 'results'") == 0);
    offpay_terminal_close(ro);
    /* Read-write: opens as before, without the table, until a sync keeps
     * a result; the old entries read "decided, result not kept". */
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK_ERR(x.t->frozen, OFFPAY_OK);
    CHECK(sql_int(x.t, "SELECT count(*) FROM main.sqlite_master WHERE name ="
                       " 'results'") == 0);
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.n == 3 && all.e[1].uploaded && all.e[1].outcome[0] == '\0');
    code = cpm(&x, 100, NOW + 90);
    CHECK_ERR(accept(x.t, code, 100, NOW + 90), OFFPAY_OK);
    free(code);
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, r, 1, NOW + 80));
    CHECK(sql_int(x.t, "SELECT count(*) FROM main.sqlite_master WHERE name ="
                       " 'results'") == 1);
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.n == 4 && strcmp(all.e[2].outcome, "rejected") == 0 &&
          all.e[1].outcome[0] == '\0' && !all.e[3].uploaded);
    world_free(&x);
}

/* Collects the seqs of a walk (at most 8). */
static int collect_seq(const offpay_journal_entry *e, void *ctx)
{
    entries *all = ctx;

    if (all->n == 8)
        return 1;
    all->e[all->n].seq = e->seq;
    all->n++;
    return 0;
}

static int64_t paid_walk(offpay_terminal *t, size_t max, size_t skip,
                         entries *all)
{
    memset(all, 0, sizeof *all);
    if (offpay__terminal_paid_walk(t, max, skip, collect_seq, all) !=
        OFFPAY_OK)
        return -1;
    return all->n > 0 ? all->e[0].seq : 0;
}

static int64_t lost_walk(offpay_terminal *t, size_t max, entries *all)
{
    memset(all, 0, sizeof *all);
    if (offpay__terminal_lost_walk(t, max, collect_seq, all) != OFFPAY_OK)
        return -1;
    return all->n > 0 ? all->e[0].seq : 0;
}

/*
 * The ledger's check (upload.c). The paid entries (a kept result but
 * "rejected") come newest result first in the order they were kept, not
 * by the terminal's clock (set back here after a sync 2 hours ahead) nor
 * by seq (an entry decided a sync after those behind it); a result kept
 * again moves to the front. Results kept by 0.3.0, before the order, go
 * by seq, and the next result kept puts them in the order before itself.
 * The list of what the ledger lacks outlives the terminal closed and
 * opened again (a cut-off sync), and an entry leaves it with the result
 * kept for it and its earlier result as history.
 */
static void test_ledger_check_lists(void)
{
    world                 x;
    entries               all;
    offpay__upload_result r[5];
    int64_t               seqs[3] = {1, 4, 5};
    char                 *code;

    REQUIRE(world_init(&x, "ledger_check", 100000));
    for (uint32_t i = 0; i < 5; i++) {
        code = cpm(&x, 100 + i, NOW + i);
        CHECK_ERR(accept(x.t, code, 100 + i, NOW + i), OFFPAY_OK);
        free(code);
    }
    /* nothing kept yet: nothing paid, nothing listed */
    CHECK(paid_walk(x.t, 8, 0, &all) == 0);
    CHECK(lost_walk(x.t, 8, &all) == 0);
    memset(r, 0, sizeof r);
    for (int i = 0; i < 5; i++) {
        r[i].seq = i + 1;
        strcpy(r[i].outcome, "settled");
        r[i].paid = 100 + i;
    }
    strcpy(r[1].outcome, "rejected"); /* seq 2 refused: no payment */
    strcpy(r[1].reason, "ECODE_SIG");
    /* seqs 1, 2 and 4 kept first, with the clock 2 hours ahead; seq 3
     * (undecided then) and 5 at the next sync, the clock set right */
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, &r[0], 2, NOW + 7200));
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, &r[3], 1, NOW + 7201));
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, &r[2], 1, NOW + 60));
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, &r[4], 1, NOW + 60));
    CHECK(paid_walk(x.t, 8, 0, &all) == 5 && all.n == 4 &&
          all.e[1].seq == 3 && all.e[2].seq == 4 && all.e[3].seq == 1);
    CHECK(paid_walk(x.t, 2, 1, &all) == 3 && all.n == 2 &&
          all.e[1].seq == 4);
    CHECK(paid_walk(x.t, 8, 4, &all) == 0);

    /* Listed: 1, 4 and 5; kept across a close and an open. */
    REQUIRE_OK(offpay__terminal_lost_list(x.t, seqs, 3, NOW + 100));
    REQUIRE_OK(offpay__terminal_lost_list(x.t, seqs, 1, NOW + 101)); /* once */
    offpay_terminal_close(x.t);
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK(lost_walk(x.t, 8, &all) == 1 && all.n == 3 && all.e[1].seq == 4 &&
          all.e[2].seq == 5);
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.e[0].lost == 1 && strcmp(all.e[0].lost_outcome, "settled") == 0 &&
          all.e[0].lost_paid == 100 && all.e[1].lost == 0 &&
          all.e[2].lost == 0 && all.e[3].lost == 1 && all.e[3].lost_paid == 103);
    /* Seq 1 paid again, seq 4 refused now (its credential unknown to the
     * ledger): kept, off the list, seq 1 now the newest paid. */
    r[0].paid = 90;
    strcpy(r[3].outcome, "rejected");
    strcpy(r[3].reason, "ENOT_ISSUED");
    r[3].paid = 0;
    r[1] = r[3];
    REQUIRE_OK(offpay__terminal_lost_decided(x.t, r, 2, NOW + 120));
    CHECK(lost_walk(x.t, 8, &all) == 5 && all.n == 1);
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.e[0].paid == 90 && all.e[0].decided_at == NOW + 120 &&
          strcmp(all.e[3].reason, "ENOT_ISSUED") == 0);
    /* what offpayd had decided before stays with each (history) */
    CHECK(all.e[0].lost == 2 && all.e[0].lost_paid == 100 &&
          all.e[3].lost == 2 && strcmp(all.e[3].lost_outcome, "settled") == 0 &&
          all.e[3].lost_paid == 103 && all.e[4].lost == 1);
    CHECK(paid_walk(x.t, 8, 0, &all) == 1 && all.n == 3 &&
          all.e[1].seq == 5 && all.e[2].seq == 3);
    /* A batch naming a seq the journal lacks keeps nothing. */
    r[0].seq = 5;
    r[1].seq = 99;
    CHECK(offpay__terminal_lost_decided(x.t, r, 2, NOW + 130) != OFFPAY_OK);
    CHECK(lost_walk(x.t, 8, &all) == 5);
    /* Lost again by a later restore: listed again, its history now the
     * result it was given the second time. */
    REQUIRE_OK(offpay__terminal_lost_list(x.t, seqs, 1, NOW + 135));
    CHECK(lost_walk(x.t, 8, &all) == 1 && all.n == 2);
    REQUIRE(read_entries(x.t, &all));
    CHECK(all.e[0].lost == 1 && all.e[0].lost_paid == 90);
    r[0].seq = 1;
    REQUIRE_OK(offpay__terminal_lost_decided(x.t, r, 1, NOW + 136));
    r[0].seq = 5;

    /* Results kept before the order (0.3.0's file): by seq, then older
     * than the next result kept. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    REQUIRE(sql_on(x.term_path, "DROP TABLE result_order;"));
    REQUIRE_OK(offpay_terminal_open(x.term_path, PASS, &x.t));
    CHECK(paid_walk(x.t, 8, 0, &all) == 5 && all.n == 3 &&
          all.e[1].seq == 3 && all.e[2].seq == 1);
    r[0].seq = 3;
    REQUIRE_OK(offpay__terminal_mark_uploaded(x.t, r, 1, NOW + 140));
    CHECK(paid_walk(x.t, 8, 0, &all) == 3 && all.n == 3 &&
          all.e[1].seq == 5 && all.e[2].seq == 1);
    CHECK(sql_int(x.t, "SELECT count(*) FROM result_order") == 5);
    /* Read-only: nothing listed or kept. */
    offpay_terminal_close(x.t);
    x.t = NULL;
    {
        offpay_terminal *ro = NULL;

        REQUIRE_OK(offpay_terminal_open_readonly(x.term_path, NULL, &ro));
        CHECK(offpay__terminal_lost_list(ro, seqs, 1, NOW) != OFFPAY_OK);
        CHECK(lost_walk(ro, 8, &all) == 5);
        offpay_terminal_close(ro);
    }
    world_free(&x);
}

/*
 * The high-water time is not saved by each accept but derived at open
 * from the journal rows after the last sync: an acceptance at a clock
 * that ran ahead holds after a restart, and once a sync has forgiven it,
 * that old row does not raise the mark again at the next open.
 */
static void test_high_water_from_journal(void)
{
    world             x;
    offpay_sync_state s;
    char             *code;
    const uint32_t    ahead = NOW + 5000;

    REQUIRE(world_init(&x, "high_water_journal", 100000));
    code = cpm(&x, 100, ahead);
    CHECK_ERR(accept(x.t, code, 100, ahead), OFFPAY_OK);
    free(code);
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.high_water == ahead);
    CHECK(s.payments_since_sync == 1);
    REQUIRE(resync(&x, NOW + 100));
    REQUIRE(reopen(&x));
    REQUIRE_OK(offpay_terminal_sync_state(x.t, &s));
    CHECK(s.high_water == NOW + 100);
    CHECK(s.payments_since_sync == 0);
    world_free(&x);
}

/* ---- status and export (issue 6 items 7 and 9) ---------------------- */

/*
 * offpay_terminal_get_status reports each limit against its value and
 * warns at 80 % of it, and no sooner: 3 of 5 payments is quiet, 4 of 5
 * warns; 8 of 10 hours offline warns; a list at 80 % of its age warns;
 * then the state says what a payment would meet (sync required). It also
 * counts open requests, the journal, and the credential's window used.
 */
static void test_status_limits(void)
{
    world                  x;
    offpay_risk            r;
    offpay_terminal_status s;
    char                  *code, *rq = NULL;

    REQUIRE(world_init(&x, "status", 100000));
    REQUIRE_OK(offpay_terminal_get_risk(x.t, &r));
    r.max_offline_payments = 5;
    r.max_offline_hours = 10;
    r.max_revlist_age = 20 * 3600;
    REQUIRE_OK(offpay_terminal_set_risk(x.t, &r));
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW, &s));
    CHECK_ERR(s.state, OFFPAY_OK);
    CHECK(s.warnings == 0);
    CHECK(s.has_cred && s.cred.merchant_id == 1 &&
          s.cred.expires == NOW + 365 * DAY && s.currency == EUR);
    CHECK(s.last_sync == NOW && s.payments_since_sync == 0 &&
          s.max_offline_payments == 5 && s.max_offline_hours == 10);
    CHECK(s.revlist_seq >= 1 && s.revlist_issued_at == NOW &&
          s.revlist_age == 0 && s.max_revlist_age == 20 * 3600);
    CHECK(s.journal_entries == 0 && s.journal_bytes > 0);
    CHECK(s.high_water == NOW && s.copied_at == 0 && s.open_requests == 0);
    for (uint32_t i = 0; i < 4; i++) {
        code = cpm(&x, 100, NOW + i);
        CHECK_ERR(accept(x.t, code, 100, NOW + i), OFFPAY_OK);
        free(code);
        REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + i, &s));
        CHECK(s.payments_since_sync == i + 1);
        CHECK(s.payments_pct == (i + 1) * 20);
        CHECK(!!(s.warnings & OFFPAY_STATUS_WARN_PAYMENTS) == (i + 1 >= 4));
    }
    CHECK(s.journal_entries == 4 && s.high_water == NOW + 3);
    CHECK_ERR(s.state, OFFPAY_OK);
    /* Requests: open until their time-to-live passes. */
    REQUIRE_OK(offpay_terminal_request(x.t, 500, NOW + 4, &rq, NULL));
    free(rq);
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 4, &s));
    CHECK(s.open_requests == 1);
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 5 + r.request_ttl, &s));
    CHECK(s.open_requests == 0);
    /* Hours: 7.9 of 10 is quiet, 8 of 10 warns. */
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 8 * 3600 - 400, &s));
    CHECK(!(s.warnings & OFFPAY_STATUS_WARN_HOURS) && s.hours_pct == 78);
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 8 * 3600, &s));
    CHECK((s.warnings & OFFPAY_STATUS_WARN_HOURS) && s.hours_pct == 80);
    CHECK(!(s.warnings & OFFPAY_STATUS_WARN_REVLIST) && s.revlist_pct == 40);
    CHECK(s.seconds_since_sync == 8 * 3600);
    CHECK_ERR(s.state, OFFPAY_OK);
    /* Past the hours: the state a payment would meet. */
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 16 * 3600, &s));
    CHECK((s.warnings & OFFPAY_STATUS_WARN_REVLIST) && s.revlist_pct == 80);
    CHECK(s.hours_pct == 160);
    CHECK_ERR(s.state, OFFPAY_ESYNC_REQUIRED);
    /* A sync clears the offline counters' warnings. */
    REQUIRE(resync(&x, NOW + 16 * 3600));
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 16 * 3600, &s));
    CHECK(s.warnings == 0 && s.payments_since_sync == 0);
    CHECK_ERR(s.state, OFFPAY_OK);
    /* The credential (NOW - DAY .. NOW + 365 days): 80 % of its window. */
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 300 * DAY, &s));
    CHECK((s.warnings & OFFPAY_STATUS_WARN_CREDENTIAL) &&
          s.credential_pct == 82);
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW + 400 * DAY, &s));
    CHECK_ERR(s.state, OFFPAY_ETERMINAL_EXPIRED);
    CHECK(s.credential_pct == 100);
    /* A clock set back behind the high-water mark. */
    REQUIRE_OK(offpay_terminal_get_status(x.t, NOW, &s));
    CHECK_ERR(s.state, OFFPAY_ECLOCK_BEHIND);
    /* A credential issued short (in its issuer key's last days): 10 days
     * of window, 10 % used, 9 days left: it warns by its end all the same
     * (since 0.13.0; the percentage alone said nothing for 8 days). */
    {
        offpay_terminal *t2 = new_terminal_window(&x, "short", 1, EUR, NOW,
                                                  NOW - DAY, NOW + 9 * DAY);

        REQUIRE(t2 != NULL);
        REQUIRE_OK(offpay_terminal_get_status(t2, NOW, &s));
        CHECK((s.warnings & OFFPAY_STATUS_WARN_CREDENTIAL) &&
              s.credential_pct == 10);
        offpay_terminal_close(t2);
    }
    world_free(&x);
}

/*
 * offpay_terminal_export: a copy that opens as a terminal's journal and
 * holds every payment (also those still only in the WAL), the same seqs
 * and code bytes; a single 0600 file, never written over an existing one;
 * and a handle on it accepts nothing and changes nothing (EROFS), so a
 * restored copy cannot forget the payments made after it and take their
 * codes again.
 */
static void test_export_copy(void)
{
    world                  x;
    journal_view           live, copy;
    offpay_terminal       *c = NULL;
    offpay_terminal_status s;
    offpay_risk            r;
    char                   cdir[600], cpath[700], p[800], *code[4], *rq = NULL;
    struct stat            st;

    REQUIRE(world_init(&x, "export", 100000));
    code[0] = cpm(&x, 100, NOW);
    code[1] = bound(&x, x.t, 250, NOW, NULL);
    code[2] = cpm(&x, 300, NOW + 1);
    code[3] = cpm(&x, 400, NOW + 2);
    REQUIRE(code[0] && code[1] && code[2] && code[3]);
    CHECK_ERR(accept(x.t, code[0], 100, NOW), OFFPAY_OK);
    CHECK_ERR(accept(x.t, code[1], 0, NOW), OFFPAY_OK);
    CHECK_ERR(accept(x.t, code[2], 300, NOW + 1), OFFPAY_OK);
    in_dir(&x, "copy", cdir, sizeof cdir);
    REQUIRE(mkdir(cdir, 0700) == 0);
    snprintf(cpath, sizeof cpath, "%s/terminal.db", cdir);
    CHECK_ERR(offpay_terminal_export(x.t, cpath, NOW + 10), OFFPAY_OK);
    CHECK_ERR(offpay_terminal_export(x.t, cpath, NOW + 11), OFFPAY_EEXISTS);
    CHECK_ERR(offpay_terminal_export(x.t, "", NOW), OFFPAY_EINVAL);
    in_dir(&x, "no/such/dir/t.db", p, sizeof p);
    CHECK_ERR(offpay_terminal_export(x.t, p, NOW), OFFPAY_ENOENT);
    CHECK(mode_of(cpath) == 0600);
    snprintf(p, sizeof p, "%s-wal", cpath);
    CHECK(stat(p, &st) != 0); /* one self-contained file */
    /* The live terminal goes on; the copy does not see it. */
    CHECK_ERR(accept(x.t, code[3], 400, NOW + 12), OFFPAY_OK);
    REQUIRE_OK(offpay_terminal_open(cdir, NULL, &c));
    memset(&live, 0, sizeof live);
    memset(&copy, 0, sizeof copy);
    CHECK_ERR(offpay_terminal_journal(x.t, collect, &live), OFFPAY_OK);
    CHECK_ERR(offpay_terminal_journal(c, collect, &copy), OFFPAY_OK);
    REQUIRE(live.n == 4 && copy.n == 3);
    for (int i = 0; i < 3; i++) {
        CHECK(copy.e[i].seq == live.e[i].seq);
        CHECK(copy.e[i].charged == live.e[i].charged);
        CHECK(copy.e[i].accepted_at == live.e[i].accepted_at);
        CHECK(same_code(&copy.e[i], code[i]));
    }
    REQUIRE_OK(offpay_terminal_get_status(c, NOW + 20, &s));
    CHECK_ERR(s.state, OFFPAY_EROFS);
    CHECK(s.copied_at == NOW + 10 && s.journal_entries == 3);
    /* Read-only: no payment (not even the one it never saw), no request,
     * no sync, no settings. */
    CHECK_ERR(accept(c, code[3], 400, NOW + 20), OFFPAY_EROFS);
    CHECK_ERR(check(c, code[3], 400, NOW + 20), OFFPAY_EROFS);
    CHECK_ERR(offpay_terminal_request(c, 100, NOW + 20, &rq, NULL),
              OFFPAY_EROFS);
    CHECK(rq == NULL);
    {
        uint8_t *rl = NULL;
        size_t   rllen = 0;

        REQUIRE_OK(offpay_issuer_revlist(x.is, NOW + 20, &rl, &rllen));
        CHECK_ERR(offpay_terminal_sync(c, NULL, 0, rl, rllen, NOW + 20),
                  OFFPAY_EROFS);
        free(rl);
    }
    REQUIRE_OK(offpay_terminal_get_risk(c, &r));
    CHECK_ERR(offpay_terminal_set_risk(c, &r), OFFPAY_EROFS);
    memset(&copy, 0, sizeof copy);
    CHECK_ERR(offpay_terminal_journal(c, collect, &copy), OFFPAY_OK);
    CHECK(copy.n == 3);
    offpay_terminal_close(c);
    for (int i = 0; i < 4; i++)
        free(code[i]);
    world_free(&x);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"expired", test_expired},
        {"journal_find", test_journal_find},
        {"not_yet_valid", test_not_yet_valid},
        {"revoked", test_revoked},
        {"big_identifiers", test_big_identifiers},
        {"terminal_locked", test_terminal_locked},
        {"let_go_while_online", test_let_go_while_online},
        {"double_spend_evidence", test_double_spend_evidence},
        {"durable_settings", test_durable_settings},
        {"wrong_currency", test_wrong_currency},
        {"unknown_kid", test_unknown_kid},
        {"kid_expired", test_kid_expired},
        {"key_rotation", test_key_rotation},
        {"code_too_old", test_code_too_old},
        {"code_future", test_code_future},
        {"over_authorized", test_over_authorized},
        {"over_limit", test_over_limit},
        {"unbound_refused", test_unbound_refused},
        {"over_floor", test_over_floor},
        {"over_cumulative", test_over_cumulative},
        {"replay", test_replay},
        {"wrong_merchant", test_wrong_merchant},
        {"wrong_nonce", test_wrong_nonce},
        {"amount_mismatch", test_amount_mismatch},
        {"request_expired", test_request_expired},
        {"request_answered_twice", test_request_answered_twice},
        {"sync_required", test_sync_required},
        {"upload_wait", test_upload_wait},
        {"revlist_stale", test_revlist_stale},
        {"revlist_seq", test_revlist_seq},
        {"revlist_went_back", test_revlist_went_back},
        {"revlist_full_list_never_unrevokes",
         test_revlist_full_list_never_unrevokes},
        {"revlist_past_what_a_terminal_holds",
         test_revlist_past_what_a_terminal_holds},
        {"revoked_expiries", test_revoked_expiries},
        {"wallet_passphrase", test_wallet_passphrase},
        {"wallet_corrupt", test_wallet_corrupt},
        {"journal", test_journal},
        {"receipt", test_receipt},
        {"conservation", test_conservation},
        {"unbound_rules", test_unbound_rules},
        {"clock_behind", test_clock_behind},
        {"future_dated", test_future_dated},
        {"delta_older_than_list_held", test_delta_older_than_list_held},
        {"terminal_expired", test_terminal_expired},
        {"no_terminal_cred", test_no_terminal_cred},
        {"cumulative_capped_by_credential",
         test_cumulative_capped_by_credential},
        {"journal_unique_backstop", test_journal_unique_backstop},
        {"file_modes", test_file_modes},
        {"init_refuses_a_journal_without_its_key",
         test_init_refuses_a_journal_without_its_key},
        {"accept_wal_frames", test_accept_wal_frames},
        {"legacy_journal_upgrade", test_legacy_journal_upgrade},
        {"results_kept", test_results_kept},
        {"ledger_check_lists", test_ledger_check_lists},
        {"high_water_from_journal", test_high_water_from_journal},
        {"status_limits", test_status_limits},
        {"export_copy", test_export_copy},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
