/*
 * test_evidence.c — cases and evidence (docs/settlement.md §9) over the
 * real store: a double spend, a duplicate presentment and an overspend
 * settled by the engine open cases that list by credential, kind and time;
 * each exports as an evidence file that verifies offline against the root
 * key and proves its kind; and a file changed in any way that matters (a
 * flipped byte in a code, a swapped terminal credential, a wrong root key,
 * two codes with different counters, a presentment taken away, a format
 * not of version 1) is refused with the specific error.
 *
 * With OFFPAY_TEST_PG set (tests/pg/with_postgres.sh), the ledger is a
 * fresh database of that real PostgreSQL server instead of a SQLite file.
 */
#include <libpq-fe.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/jsonutil.h"
#include "core/message_int.h"
#include "harness.h"
#include "offpay/settle.h"

#define EUR      978
#define T0       1780000000u
#define DAY      86400u
#define CENTS(x) ((int64_t)(x)*100)

/* The root key of every world, fixed so that fuzz/fuzz_evidence.c can
 * verify the seed corpus these tests write (OFFPAY_EVIDENCE_CORPUS_OUT). */
static const uint8_t ROOT_SEED[OFFPAY_SEED_BYTES] =
    "offpay fuzz evidence root seed!";

typedef struct world {
    char                path[512];
    offpay_ledger      *l;
    offpay_keypair      root, issuer, wallet;
    offpay_trust_bundle bundle;
    uint8_t             bundle_bytes[1024];
    size_t              bundle_len;
    uint64_t            wallet_acct, guarantee;
    uint64_t            merchant[3], merchant_acct[3];
    uint32_t            terminal[3];
    uint8_t             tcred[3][OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t              tcred_len[3];
    offpay_wallet_cred  cred[3]; /* A: double spend, B: duplicate, C:
                                    overspend */
    uint64_t             case_ds, case_dup, case_over;
    offpay_keypair       tk[3]; /* the terminals' keys: they sign receipts */
    offpay_terminal_cred tc[3];
    /* receipt_cases(): D, a credential whose wallet uploaded receipts */
    offpay_wallet_cred cred_d;
    uint64_t           case_rm, case_rm_stood, case_dup_r;
    uint8_t            code_d1[OFFPAY_PAYMENT_BOUND_BYTES]; /* counter 1 */
    size_t             code_d1_len;
} world;

static int scenario;

static const char *pg_prefix(void)
{
    const char *p = getenv("OFFPAY_TEST_PG");

    return p != NULL && *p != '\0' ? p : NULL;
}

static offpay_err fresh_ledger(char *path, size_t cap)
{
    const char *pg = pg_prefix();
    char        admin[400], create[128];
    PGconn     *c;
    PGresult   *r;
    int         ok;

    scenario++;
    if (pg == NULL) {
        snprintf(path, cap, "%s/evidence-%d.db", offpay_test_tmpdir(),
                 scenario);
        return OFFPAY_OK;
    }
    snprintf(create, sizeof create, "CREATE DATABASE evidence_%ld_%d",
             (long)getpid(), scenario);
    snprintf(admin, sizeof admin, "%spostgres", pg);
    c = PQconnectdb(admin);
    r = PQexec(c, create);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok)
        return OFFPAY_ESTORE;
    snprintf(path, cap, "%sevidence_%ld_%d", pg, (long)getpid(), scenario);
    return OFFPAY_OK;
}

/* A code of credential cred signed by w's wallet key (a clone has the
 * same key), bound to merchant (0: unbound). */
static size_t make_code_for(const world *w, const offpay_wallet_cred *cred,
                            uint32_t counter, int64_t amount, uint32_t time,
                            uint64_t merchant,
                            uint8_t  out[OFFPAY_PAYMENT_BOUND_BYTES])
{
    offpay_payment p;
    uint8_t        msg[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         mlen = 0, len = 0;

    memset(&p, 0, sizeof p);
    p.cred = *cred;
    p.counter = counter;
    p.amount = (uint32_t)amount;
    p.time = time;
    p.bound = merchant != 0;
    p.merchant_id = merchant;
    randombytes_buf(p.nonce, sizeof p.nonce);
    if (offpay__payment_signed_bytes(&p, msg, sizeof msg, &mlen) != OFFPAY_OK ||
        offpay_sign(OFFPAY_DS_PAYMENT, msg, mlen, w->wallet.sk, p.sig) !=
            OFFPAY_OK ||
        offpay_payment_encode(&p, out, OFFPAY_PAYMENT_BOUND_BYTES, &len) !=
            OFFPAY_OK)
        return 0;
    return len;
}

static size_t make_code(const world *w, const offpay_wallet_cred *cred,
                        uint32_t counter, int64_t amount, uint32_t time,
                        uint8_t out[OFFPAY_PAYMENT_BOUND_BYTES])
{
    return make_code_for(w, cred, counter, amount, time, 0, out);
}

static offpay_settle_result settle(world *w, int term, const uint8_t *code,
                                   size_t len, int64_t charged,
                                   uint32_t accepted_at, uint32_t now)
{
    offpay_settle_item   it = {code, len, charged, accepted_at, 1};
    offpay_settle_result r;

    memset(&r, 0, sizeof r);
    if (offpay_ledger_settle(w->l, w->terminal[term], &it, now, &r) !=
        OFFPAY_OK)
        r.outcome = (offpay_settle_outcome)-1;
    return r;
}

/* The world of every test: three merchants with a terminal each, three
 * credentials of 50.00 of one wallet key, and a case settled on each. */
static offpay_err make_world(world *w)
{
    static const char *const names[3] = {"Bakery A", "Kiosk B", "Cafe C"};
    uint8_t                  cb[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                  c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                  c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                   n1, n2;
    offpay_settle_result     a, b;
    offpay_err               rc;

    memset(w, 0, sizeof *w);
    if ((rc = fresh_ledger(w->path, sizeof w->path)) != OFFPAY_OK ||
        (rc = offpay_keypair_from_seed(ROOT_SEED, &w->root)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->issuer)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->wallet)) != OFFPAY_OK)
        return rc;
    w->bundle.seq = 1;
    w->bundle.issued_at = T0 - DAY;
    w->bundle.n_keys = 1;
    w->bundle.keys[0].kid = 1;
    memcpy(w->bundle.keys[0].pk, w->issuer.pk, OFFPAY_PK_BYTES);
    w->bundle.keys[0].valid_from = T0 - DAY;
    w->bundle.keys[0].valid_until = T0 + 400 * DAY;
    if ((rc = offpay_issuer_sign_bundle(w->root.sk, &w->bundle)) != OFFPAY_OK ||
        (rc = offpay_bundle_encode(&w->bundle, w->bundle_bytes,
                                   sizeof w->bundle_bytes, &w->bundle_len)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_open(w->path, NULL, &w->l)) != OFFPAY_OK ||
        (rc = offpay_ledger_set_trust(w->l, &w->bundle, 1, w->issuer.sk)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_wallet_account(w->l, EUR, "payer", T0,
                                           &w->wallet_acct)) != OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->wallet_acct, CENTS(200), "top-up",
                                    T0, NULL)) != OFFPAY_OK ||
        (rc = offpay_ledger_guarantee_account(w->l, EUR, T0, &w->guarantee)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->guarantee, CENTS(1000), "fund", T0,
                                    NULL)) != OFFPAY_OK)
        return rc;
    for (int i = 0; i < 3; i++) {
        if ((rc = offpay_ledger_merchant_add(
                 w->l, names[i], EUR, T0, &w->merchant[i],
                 &w->merchant_acct[i])) != OFFPAY_OK ||
            (rc = offpay_keypair_generate(&w->tk[i])) != OFFPAY_OK ||
            (rc = offpay_ledger_terminal_add(
                 w->l, w->merchant[i], w->tk[i].pk, T0 + 365 * DAY, T0,
                 w->tcred[i], &w->tcred_len[i], &w->tc[i])) != OFFPAY_OK)
            return rc;
        w->terminal[i] = w->tc[i].terminal_id;
    }
    for (int i = 0; i < 3; i++)
        if ((rc = offpay_ledger_issue(w->l, w->wallet_acct, w->wallet.pk,
                                      CENTS(50), OFFPAY_CRED_ALLOW_UNBOUND,
                                      T0 + 30 * DAY, T0, cb, &w->cred[i])) !=
            OFFPAY_OK)
            return rc;

    /* A: a clone reuses counter 7 at the other terminal (now T0+200) */
    n1 = make_code(w, &w->cred[0], 7, CENTS(30), T0 + 10, c1);
    n2 = make_code(w, &w->cred[0], 7, CENTS(30), T0 + 11, c2);
    a = settle(w, 0, c1, n1, CENTS(30), T0 + 20, T0 + 100);
    b = settle(w, 1, c2, n2, CENTS(12), T0 + 21, T0 + 200);
    if (a.outcome != OFFPAY_SETTLE_SETTLED ||
        b.outcome != OFFPAY_SETTLE_DOUBLE_SPEND)
        return OFFPAY_EEVIDENCE;
    w->case_ds = b.case_id;
    /* B: one unbound code at two terminals (now T0+300) */
    n1 = make_code(w, &w->cred[1], 1, CENTS(20), T0 + 30, c1);
    a = settle(w, 0, c1, n1, CENTS(15), T0 + 40, T0 + 300);
    b = settle(w, 1, c1, n1, CENTS(15), T0 + 45, T0 + 300);
    if (a.outcome != OFFPAY_SETTLE_SETTLED ||
        b.outcome != OFFPAY_SETTLE_DUPLICATE)
        return OFFPAY_EEVIDENCE;
    w->case_dup = b.case_id;
    /* C: two codes of 40.00 on a limit of 50.00 (now T0+400) */
    n1 = make_code(w, &w->cred[2], 1, CENTS(40), T0 + 50, c1);
    n2 = make_code(w, &w->cred[2], 2, CENTS(40), T0 + 60, c2);
    a = settle(w, 0, c1, n1, CENTS(40), T0 + 55, T0 + 400);
    b = settle(w, 1, c2, n2, CENTS(40), T0 + 65, T0 + 400);
    if (a.outcome != OFFPAY_SETTLE_SETTLED ||
        b.outcome != OFFPAY_SETTLE_GUARANTEED)
        return OFFPAY_EEVIDENCE;
    w->case_over = b.case_id;
    return OFFPAY_OK;
}

static void drop_world(world *w)
{
    offpay_ledger_close(w->l);
    offpay_keypair_wipe(&w->root);
    offpay_keypair_wipe(&w->issuer);
    offpay_keypair_wipe(&w->wallet);
    for (int i = 0; i < 3; i++)
        offpay_keypair_wipe(&w->tk[i]);
}

/* A receipt of terminal term for (serial, counter), signed by its key. */
static size_t make_receipt(const world *w, int term, uint64_t serial,
                           uint32_t counter, int64_t amount, uint32_t time,
                           uint8_t out[OFFPAY_SETTLE_RECEIPT_MAX_BYTES])
{
    offpay_receipt r;
    uint8_t        msg[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t         mlen = 0, len = 0;

    memset(&r, 0, sizeof r);
    r.tcred = w->tc[term];
    r.serial = serial;
    r.counter = counter;
    r.amount = (uint32_t)amount;
    r.currency = EUR;
    r.time = time;
    if (offpay__receipt_signed_bytes(&r, msg, sizeof msg, &mlen) != OFFPAY_OK ||
        offpay_sign(OFFPAY_DS_RECEIPT, msg, mlen, w->tk[term].sk, r.sig) !=
            OFFPAY_OK ||
        offpay_receipt_encode(&r, out, OFFPAY_SETTLE_RECEIPT_MAX_BYTES, &len) !=
            OFFPAY_OK)
        return 0;
    return len;
}

/* The wallet uploads one code with up to two receipts. */
static offpay_wallet_result upload(world *w, const uint8_t *code, size_t len,
                                   const uint8_t *r0, size_t n0,
                                   const uint8_t *r1, size_t n1, uint32_t now)
{
    offpay_wallet_item   it;
    offpay_wallet_result res;
    size_t               done = 0;

    memset(&it, 0, sizeof it);
    it.code = code;
    it.code_len = len;
    if (r0 != NULL) {
        it.receipt[it.n_receipts] = r0;
        it.receipt_len[it.n_receipts++] = n0;
    }
    if (r1 != NULL) {
        it.receipt[it.n_receipts] = r1;
        it.receipt_len[it.n_receipts++] = n1;
    }
    memset(&res, 0, sizeof res);
    if (offpay_ledger_wallet_upload(w->l, w->wallet.pk, &it, 1, now, &res,
                                    &done) != OFFPAY_OK ||
        done != 1)
        res.reason = OFFPAY_EIO;
    return res;
}

/* D: a fourth credential of 50.00 whose wallet uploads receipts:
 *  counter 1: terminal A uploads 15.00, then the wallet its receipt
 *    saying 12.00: a receipt_mismatch (case_rm);
 *  counter 2: the wallet's receipt of terminal C saying 5.00 stands for
 *    C's upload, then C uploads 6.00: a receipt_mismatch (case_rm_stood);
 *  counter 3: terminals A and B both upload 8.00 (a duplicate,
 *    case_dup_r), then the wallet their receipts, both saying 8.00. */
static offpay_err receipt_cases(world *w)
{
    uint8_t              cb[OFFPAY_WALLET_CRED_BYTES];
    uint8_t              c[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              r0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t              r1[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, n0, n1;
    uint64_t             serial;
    offpay_settle_result a, b;
    offpay_wallet_result u;
    offpay_err           rc;

    rc = offpay_ledger_issue(w->l, w->wallet_acct, w->wallet.pk, CENTS(50),
                             OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY, T0 + 400,
                             cb, &w->cred_d);
    if (rc != OFFPAY_OK)
        return rc;
    serial = w->cred_d.serial;

    n = make_code(w, &w->cred_d, 1, CENTS(20), T0 + 500, c);
    memcpy(w->code_d1, c, n);
    w->code_d1_len = n;
    a = settle(w, 0, c, n, CENTS(15), T0 + 510, T0 + 600);
    n0 = make_receipt(w, 0, serial, 1, CENTS(12), T0 + 510, r0);
    u = upload(w, c, n, r0, n0, NULL, 0, T0 + 700);
    if (a.outcome != OFFPAY_SETTLE_SETTLED || u.n_receipts != 1 ||
        u.receipt[0].outcome != OFFPAY_RECEIPT_MISMATCH)
        return OFFPAY_EEVIDENCE;
    w->case_rm = u.receipt[0].case_id;

    n = make_code(w, &w->cred_d, 2, CENTS(10), T0 + 800, c);
    n0 = make_receipt(w, 2, serial, 2, CENTS(5), T0 + 810, r0);
    u = upload(w, c, n, r0, n0, NULL, 0, T0 + 900);
    a = settle(w, 2, c, n, CENTS(6), T0 + 810, T0 + 1000);
    if (u.receipt[0].outcome != OFFPAY_RECEIPT_SETTLED || a.replay != 1 ||
        a.case_id == 0)
        return OFFPAY_EEVIDENCE;
    w->case_rm_stood = a.case_id;

    n = make_code(w, &w->cred_d, 3, CENTS(8), T0 + 1100, c);
    a = settle(w, 0, c, n, CENTS(8), T0 + 1110, T0 + 1200);
    b = settle(w, 1, c, n, CENTS(8), T0 + 1120, T0 + 1200);
    n0 = make_receipt(w, 0, serial, 3, CENTS(8), T0 + 1110, r0);
    n1 = make_receipt(w, 1, serial, 3, CENTS(8), T0 + 1120, r1);
    u = upload(w, c, n, r0, n0, r1, n1, T0 + 1300);
    if (a.outcome != OFFPAY_SETTLE_SETTLED ||
        b.outcome != OFFPAY_SETTLE_DUPLICATE ||
        u.receipt[0].outcome != OFFPAY_RECEIPT_AGREED ||
        u.receipt[1].outcome != OFFPAY_RECEIPT_AGREED)
        return OFFPAY_EEVIDENCE;
    w->case_dup_r = b.case_id;
    return OFFPAY_OK;
}

/* A new credential of 50.00 for w's wallet key, unbound codes allowed,
 * issued at T0 + 400 (after make_world's transfers), until T0 + 30 days. */
static offpay_err issue_50(world *w, offpay_wallet_cred *cred)
{
    uint8_t cb[OFFPAY_WALLET_CRED_BYTES];

    return offpay_ledger_issue(w->l, w->wallet_acct, w->wallet.pk, CENTS(50),
                               OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY,
                               T0 + 400, cb, cred);
}

/* A new terminal of merchant m (a key of its own, for a year). */
static offpay_err add_terminal(world *w, int m, offpay_terminal_cred *tc)
{
    uint8_t        tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t         tlen;
    offpay_keypair tk;
    offpay_err     rc = offpay_keypair_generate(&tk);

    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_add(w->l, w->merchant[m], tk.pk,
                                        T0 + 365 * DAY, T0, tbytes, &tlen, tc);
    offpay_keypair_wipe(&tk);
    return rc;
}

static offpay_err export(world *w, uint64_t id, char **file, size_t *len)
{
    return offpay_ledger_evidence(w->l, id, w->bundle_bytes, w->bundle_len,
                                  file, len);
}

static offpay_err verify_text(const world *w, const char *text,
                              offpay_evidence_report *r)
{
    return offpay_evidence_verify((const uint8_t *)text, strlen(text),
                                  w->root.pk, r);
}

/* Verifies doc (as JSON text); keeps doc. */
static offpay_err verify_doc(const world *w, json_t *doc,
                             offpay_evidence_report *r)
{
    char      *text = json_dumps(doc, JSON_COMPACT);
    offpay_err rc;

    if (text == NULL)
        return OFFPAY_ENOMEM;
    rc = verify_text(w, text, r);
    offpay__json_free(text);
    return rc;
}

static json_t *load(const char *text)
{
    return json_loads(text, JSON_REJECT_DUPLICATES, NULL);
}

/* arr[i] = base64 of b. */
static void set_b64(json_t *arr, size_t i, const uint8_t *b, size_t n)
{
    char text[1024];

    sodium_bin2base64(text, sizeof text, b, n, sodium_base64_VARIANT_ORIGINAL);
    json_array_set_new(arr, i, json_string(text));
}

/* Flips byte `at` (from the end when negative) of the base64 arr[i]. */
static void flip(json_t *arr, size_t i, long at)
{
    uint8_t     b[1024];
    size_t      n = 0;
    const char *s = json_string_value(json_array_get(arr, i));

    if (s == NULL ||
        sodium_base642bin(b, sizeof b, s, strlen(s), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return;
    b[at < 0 ? n - (size_t)-at : (size_t)at] ^= 0x01;
    set_b64(arr, i, b, n);
}

/* ---- listing --------------------------------------------------------- */

static void test_cases_list_by_serial_kind_time_and_page(void)
{
    world              w;
    offpay_case_info  *v = NULL, one;
    offpay_case_filter f;
    size_t             n = 0;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_ledger_cases(w.l, NULL, 100, &v, &n));
    REQUIRE(n == 3);
    CHECK(v[0].id == w.case_ds && v[1].id == w.case_dup &&
          v[2].id == w.case_over);
    CHECK(v[0].kind == OFFPAY_CASE_DOUBLE_SPEND &&
          v[1].kind == OFFPAY_CASE_DUPLICATE &&
          v[2].kind == OFFPAY_CASE_OVERSPEND);
    CHECK(v[0].serial == w.cred[0].serial && v[0].counter == 7 &&
          v[0].terminal_id == w.terminal[1] && v[0].opened_at == T0 + 200);
    free(v);

    memset(&f, 0, sizeof f);
    f.serial = w.cred[1].serial;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 100, &v, &n));
    CHECK(n == 1 && v[0].id == w.case_dup);
    free(v);

    memset(&f, 0, sizeof f);
    f.kind = OFFPAY_CASE_OVERSPEND;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 100, &v, &n));
    CHECK(n == 1 && v[0].id == w.case_over && v[0].counter == 2);
    free(v);

    memset(&f, 0, sizeof f);
    f.since = T0 + 250;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 100, &v, &n));
    CHECK(n == 2 && v[0].id == w.case_dup);
    free(v);

    memset(&f, 0, sizeof f); /* a page of one after the first */
    f.after_id = w.case_ds;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 1, &v, &n));
    CHECK(n == 1 && v[0].id == w.case_dup);
    free(v);

    memset(&f, 0, sizeof f); /* nothing matches: NULL and 0 */
    f.serial = w.cred[1].serial;
    f.kind = OFFPAY_CASE_DOUBLE_SPEND;
    v = (offpay_case_info *)&one;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 100, &v, &n));
    CHECK(n == 0 && v == NULL);

    f.kind = (offpay_case_kind)9;
    CHECK_ERR(offpay_ledger_cases(w.l, &f, 100, &v, &n), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_cases(w.l, NULL, 0, &v, &n), OFFPAY_EINVAL);

    REQUIRE_OK(offpay_ledger_case(w.l, w.case_dup, &one));
    CHECK(one.kind == OFFPAY_CASE_DUPLICATE && one.serial == w.cred[1].serial &&
          one.terminal_id == w.terminal[1] && one.counter == 1);
    CHECK_ERR(offpay_ledger_case(w.l, w.case_over + 100, &one),
              OFFPAY_ENOTFOUND);
    drop_world(&w);
}

static void test_case_kind_names_round_trip(void)
{
    offpay_case_kind k;

    for (int i = 1; i <= 5; i++) {
        const char *name = offpay_case_kind_name((offpay_case_kind)i);

        REQUIRE(name != NULL);
        REQUIRE_OK(offpay_case_kind_from_name(name, &k));
        CHECK((int)k == i);
    }
    CHECK(offpay_case_kind_name((offpay_case_kind)0) == NULL);
    CHECK(offpay_case_kind_name((offpay_case_kind)6) == NULL);
    CHECK_ERR(offpay_case_kind_from_name("Duplicate", &k), OFFPAY_EINVAL);
}

/* ---- export and what verifies ------------------------------------------ */

static void test_double_spend_evidence_proves_the_key_signed_twice(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(export(&w, w.case_ds, &file, &len));
    CHECK(len == strlen(file) && len < OFFPAY_EVIDENCE_MAX_BYTES);
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_DOUBLE_SPEND && r.case_id == w.case_ds);
    CHECK(r.serial == w.cred[0].serial && r.limit == CENTS(50));
    CHECK(memcmp(r.wallet_pk, w.wallet.pk, OFFPAY_PK_BYTES) == 0);
    CHECK(r.n_codes == 2 && r.n_presentments == 2 && r.n_terminals == 2 &&
          r.n_receipts == 0);
    CHECK(r.a.counter == 7 && r.b.counter == 7 && r.a.code == 0 &&
          r.b.code == 1);
    CHECK(r.a.terminal_id == w.terminal[0] && r.b.terminal_id == w.terminal[1]);
    CHECK(r.a.charged == CENTS(30) && r.b.charged == CENTS(12));
    CHECK(strcmp(r.b.merchant_name, "Kiosk B") == 0);
    free(file);
    drop_world(&w);
}

static void test_duplicate_evidence_names_both_terminals_and_merchants(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(export(&w, w.case_dup, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_DUPLICATE && r.n_codes == 1 &&
          r.n_presentments == 2);
    CHECK(r.a.terminal_id == w.terminal[0] && r.a.merchant_id == w.merchant[0]);
    CHECK(r.b.terminal_id == w.terminal[1] && r.b.merchant_id == w.merchant[1]);
    CHECK(strcmp(r.a.merchant_name, "Bakery A") == 0 &&
          strcmp(r.b.merchant_name, "Kiosk B") == 0);
    CHECK(r.a.code == 0 && r.b.code == 0 && r.a.accepted_at == T0 + 40 &&
          r.b.accepted_at == T0 + 45);
    free(file);
    drop_world(&w);
}

/* With OFFPAY_EVIDENCE_CORPUS_OUT=DIR, writes one exported file of each
 * kind there: the seed corpus of fuzz/fuzz_evidence.c. */
static void write_seed(world *w, uint64_t id, const char *name)
{
    const char *dir = getenv("OFFPAY_EVIDENCE_CORPUS_OUT");
    char        path[600], *file = NULL;
    size_t      len = 0;
    FILE       *f;

    if (dir == NULL)
        return;
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (export(w, id, &file, &len) != OFFPAY_OK)
        return;
    f = fopen(path, "w");
    if (f != NULL) {
        fwrite(file, 1, len, f);
        fclose(f);
    }
    free(file);
}

static void write_corpus(world *w)
{
    write_seed(w, w->case_ds, "double_spend");
    write_seed(w, w->case_dup, "duplicate");
    write_seed(w, w->case_over, "overspend");
}

static void test_overspend_evidence_sums_charges_above_the_limit(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(export(&w, w.case_over, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_OVERSPEND && r.n_codes == 2);
    CHECK(r.total == CENTS(80) && r.limit == CENTS(50));
    free(file);
    write_corpus(&w);
    drop_world(&w);
}

/* Found by the simulation (tests/sim, seed 3): duplicate presentments
 * are paid from the escrow beyond their code's authorized amount (§4), so
 * they can empty it while the codes together authorize less than the
 * limit; the next code's presentment is then an overspend, and its
 * evidence must prove it: each presentment counts, at most at its code's
 * amount (the verifier capped each code once, and refused this file). */
static void test_overspend_after_duplicates_evidence_verifies(void)
{
    world                  w;
    uint8_t                c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                c2[OFFPAY_PAYMENT_BOUND_BYTES];
    offpay_wallet_cred     cred;
    offpay_settle_result   a, b, c;
    size_t                 n1, n2, len = 0;
    char                  *file = NULL;
    offpay_evidence_report r;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(issue_50(&w, &cred));
    n1 = make_code(&w, &cred, 1, CENTS(20), T0 + 500, c1);
    n2 = make_code(&w, &cred, 2, CENTS(20), T0 + 520, c2);
    a = settle(&w, 0, c1, n1, CENTS(20), T0 + 505, T0 + 600);
    b = settle(&w, 1, c1, n1, CENTS(20), T0 + 510, T0 + 600);
    c = settle(&w, 2, c2, n2, CENTS(20), T0 + 525, T0 + 600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_DUPLICATE && b.paid == CENTS(20));
    REQUIRE(c.outcome == OFFPAY_SETTLE_GUARANTEED && c.case_id != 0);
    REQUIRE_OK(export(&w, c.case_id, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_OVERSPEND && r.serial == cred.serial);
    CHECK(r.n_codes == 2 && r.n_presentments == 3);
    CHECK(r.total == CENTS(60) && r.limit == CENTS(50));
    free(file);
    drop_world(&w);
}

/* A bound code presented again by another terminal of its merchant is
 * paid nothing (docs/settlement.md §4): an overspend's evidence counts it
 * once, at its first presentment (the one paid), not at each, nor at a
 * larger charge the second terminal recorded. */
static void test_overspend_evidence_counts_a_bound_code_once(void)
{
    world                  w;
    uint8_t                c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                c2[OFFPAY_PAYMENT_BOUND_BYTES];
    offpay_wallet_cred     cred;
    offpay_terminal_cred   tc;
    offpay_settle_item     it;
    offpay_settle_result   a, b, c;
    size_t                 n1, n2, len = 0;
    char                  *file = NULL;
    offpay_evidence_report r;
    json_t                *doc, *items, *kase;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(issue_50(&w, &cred));
    REQUIRE_OK(add_terminal(&w, 0, &tc));
    n1 = make_code_for(&w, &cred, 1, CENTS(25), T0 + 500, w.merchant[0], c1);
    n2 = make_code(&w, &cred, 2, CENTS(35), T0 + 520, c2);
    a = settle(&w, 0, c1, n1, CENTS(20), T0 + 505, T0 + 600);
    it = (offpay_settle_item){c1, n1, CENTS(25), T0 + 510, 1};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 600, &b));
    c = settle(&w, 2, c2, n2, CENTS(35), T0 + 525, T0 + 600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_DUPLICATE && b.paid == 0);
    REQUIRE(c.outcome == OFFPAY_SETTLE_GUARANTEED && c.case_id != 0);
    REQUIRE_OK(export(&w, c.case_id, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_OVERSPEND && r.n_presentments == 3);
    CHECK(r.total == CENTS(55) && r.limit == CENTS(50));
    /* each code once: the bound one at its first presentment, the one
     * paid (20.00), and 35.00 */
    CHECK(r.total_once == CENTS(55));

    /* The bound code's two presentments made into a "duplicate" file (by
     * an operator wanting a case the ledger never opened): refused, a
     * bound code presented again proves nothing against its payer. */
    doc = load(file);
    REQUIRE(doc != NULL);
    items = json_object_get(doc, "presentments");
    REQUIRE(json_array_size(items) == 3 &&
            json_array_size(json_object_get(doc, "codes")) == 2);
    json_array_remove(json_object_get(doc, "codes"), 1);
    json_array_remove(items, 2);
    json_array_remove(json_object_get(doc, "terminals"), 2);
    kase = json_object_get(doc, "case");
    json_object_set_new(kase, "kind", json_string("duplicate"));
    json_object_set(kase, "presentment",
                    json_object_get(json_array_get(items, 1), "id"));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "presented again it is paid nothing") != NULL);
    json_decref(doc);
    free(file);
    drop_world(&w);
}

static void test_export_refuses_unknown_case_and_bundle_without_the_key(void)
{
    world               w;
    offpay_keypair      other;
    offpay_trust_bundle b;
    uint8_t             bb[1024];
    size_t              blen = 0, len = 0;
    char               *file = NULL;

    REQUIRE_OK(make_world(&w));
    CHECK_ERR(export(&w, w.case_over + 100, &file, &len), OFFPAY_ENOTFOUND);
    CHECK(file == NULL && len == 0);
    /* a bundle whose only key is another kid */
    REQUIRE_OK(offpay_keypair_generate(&other));
    b = w.bundle;
    b.keys[0].kid = 2;
    memcpy(b.keys[0].pk, other.pk, OFFPAY_PK_BYTES);
    REQUIRE_OK(offpay_issuer_sign_bundle(w.root.sk, &b));
    REQUIRE_OK(offpay_bundle_encode(&b, bb, sizeof bb, &blen));
    CHECK_ERR(offpay_ledger_evidence(w.l, w.case_ds, bb, blen, &file, &len),
              OFFPAY_EUNKNOWN_KID);
    CHECK_ERR(offpay_ledger_evidence(w.l, w.case_ds, bb, 10, &file, &len),
              OFFPAY_ETRUNCATED);
    offpay_keypair_wipe(&other);
    drop_world(&w);
}

/* ---- tampered files ---------------------------------------------------- */

static void test_tampered_double_spend_files_are_refused_specifically(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;
    offpay_keypair         wrong;
    uint8_t                c3[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                 n3;
    json_t                *doc;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(export(&w, w.case_ds, &file, &len));

    /* a flipped byte in the second code's wallet signature */
    doc = load(file);
    REQUIRE(doc != NULL);
    flip(json_object_get(doc, "codes"), 1, -1);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_ECODE_SIG);
    CHECK(strstr(r.why, "code 1") != NULL);
    json_decref(doc);

    /* a flipped byte in the first code's credential signature */
    doc = load(file);
    flip(json_object_get(doc, "codes"), 0, 2 + 57 + 3);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_ECRED_SIG);
    json_decref(doc);

    /* a flipped byte in the amount: the wallet never signed it */
    doc = load(file);
    flip(json_object_get(doc, "codes"), 0, 2 + 57 + 64 + 4);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_ECODE_SIG);
    json_decref(doc);

    /* a swapped terminal credential: another real terminal's, valid */
    doc = load(file);
    set_b64(json_object_get(doc, "terminals"), 1, w.tcred[2], w.tcred_len[2]);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "terminal") != NULL);
    json_decref(doc);

    /* a forged terminal credential */
    doc = load(file);
    flip(json_object_get(doc, "terminals"), 0, -1);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_ECRED_SIG);
    json_decref(doc);

    /* a wrong root key */
    REQUIRE_OK(offpay_keypair_generate(&wrong));
    CHECK_ERR(offpay_evidence_verify((const uint8_t *)file, len, wrong.pk, &r),
              OFFPAY_EBUNDLE_SIG);
    offpay_keypair_wipe(&wrong);

    /* two valid codes of the credential, but different counters */
    doc = load(file);
    n3 = make_code(&w, &w.cred[0], 8, CENTS(30), T0 + 12, c3);
    REQUIRE(n3 > 0);
    set_b64(json_object_get(doc, "codes"), 1, c3, n3);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "counters 7 and 8") != NULL);
    json_decref(doc);

    /* the same file claiming another kind proves nothing of it */
    doc = load(file);
    json_object_set_new(json_object_get(doc, "case"), "kind",
                        json_string("duplicate"));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_object_set_new(json_object_get(doc, "case"), "kind",
                        json_string("overspend"));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE); /* 42 <= 50 */
    json_decref(doc);

    /* a charge above what the code authorized */
    doc = load(file);
    json_object_set_new(json_array_get(json_object_get(doc, "presentments"), 0),
                        "charged", json_integer(CENTS(31)));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_decref(doc);

    /* a code of another credential */
    doc = load(file);
    n3 = make_code(&w, &w.cred[1], 7, CENTS(30), T0 + 12, c3);
    set_b64(json_object_get(doc, "codes"), 1, c3, n3);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_decref(doc);
    free(file);
    drop_world(&w);
}

static void
test_duplicate_and_overspend_files_missing_a_part_prove_nothing(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;
    json_t                *doc;

    REQUIRE_OK(make_world(&w));
    /* a duplicate whose second presentment (and terminal) is taken away */
    REQUIRE_OK(export(&w, w.case_dup, &file, &len));
    doc = load(file);
    json_array_remove(json_object_get(doc, "presentments"), 1);
    json_array_remove(json_object_get(doc, "terminals"), 1);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_decref(doc);
    /* the same, but the terminal is left: it presented nothing */
    doc = load(file);
    json_array_remove(json_object_get(doc, "presentments"), 1);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "presented nothing") != NULL);
    json_decref(doc);
    free(file);

    /* an overspend left with one code of 40.00 on a limit of 50.00 */
    REQUIRE_OK(export(&w, w.case_over, &file, &len));
    doc = load(file);
    json_array_remove(json_object_get(doc, "presentments"), 0);
    json_array_remove(json_object_get(doc, "codes"), 0);
    json_array_remove(json_object_get(doc, "terminals"), 0);
    json_object_set_new(json_array_get(json_object_get(doc, "presentments"), 0),
                        "code", json_integer(0));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "within the limit") != NULL);
    json_decref(doc);
    free(file);
    drop_world(&w);
}

static void test_evidence_format_is_strict_and_bounded(void)
{
    world                  w;
    char                  *file = NULL, *big;
    size_t                 len = 0;
    offpay_evidence_report r;
    json_t                *doc;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(export(&w, w.case_ds, &file, &len));

    doc = load(file);
    json_object_set_new(doc, "version", json_integer(2));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EVERSION);
    json_object_set_new(doc, "version", json_integer(1));
    REQUIRE_OK(verify_doc(&w, doc, &r));
    json_object_set_new(doc, "comment", json_string("x"));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EMALFORMED); /* unknown key */
    json_object_del(doc, "comment");
    json_object_del(doc, "receipts");
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EMALFORMED); /* missing key */
    json_decref(doc);

    doc = load(file); /* base64 that is not canonical */
    {
        json_t *codes = json_object_get(doc, "codes");
        char    t[1024];

        snprintf(t, sizeof t, "%s\n",
                 json_string_value(json_array_get(codes, 0)));
        json_array_set_new(codes, 0, json_string(t));
        CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EMALFORMED);
    }
    json_decref(doc);

    doc = load(file); /* a presentment naming a code that is not there */
    json_object_set_new(json_array_get(json_object_get(doc, "presentments"), 0),
                        "code", json_integer(2));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EMALFORMED);
    json_decref(doc);

    doc = load(file); /* the same code twice */
    json_array_append(json_object_get(doc, "codes"),
                      json_array_get(json_object_get(doc, "codes"), 0));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EMALFORMED);
    json_decref(doc);

    /* a duplicate key, trailing bytes, not JSON, too big */
    {
        char *dup = malloc(len + 32);

        REQUIRE(dup != NULL);
        snprintf(dup, len + 32, "{\"version\":1,%s", file + 1);
        CHECK_ERR(verify_text(&w, dup, &r), OFFPAY_EMALFORMED);
        snprintf(dup, len + 32, "%s{}", file);
        CHECK_ERR(verify_text(&w, dup, &r), OFFPAY_EMALFORMED);
        free(dup);
    }
    CHECK_ERR(verify_text(&w, "[]", &r), OFFPAY_EMALFORMED);
    CHECK_ERR(verify_text(&w, "", &r), OFFPAY_EMALFORMED);
    big = calloc(1, OFFPAY_EVIDENCE_MAX_BYTES + 2);
    REQUIRE(big != NULL);
    memset(big, ' ', OFFPAY_EVIDENCE_MAX_BYTES + 1);
    CHECK_ERR(verify_text(&w, big, &r), OFFPAY_ETOOBIG);
    free(big);
    CHECK_ERR(offpay_evidence_verify(NULL, 0, w.root.pk, &r), OFFPAY_EINVAL);
    free(file);
    drop_world(&w);
}

/* ---- receipts ------------------------------------------------------- */

/* Both ways a receipt_mismatch opens (the terminal uploaded first; a
 * receipt stood for the upload first) export with the receipt and prove
 * that the terminal's key signed another amount than its upload. */
static void
test_receipt_mismatch_evidence_proves_the_terminal_signed_another_amount(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;
    offpay_case_info       one;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(receipt_cases(&w));
    REQUIRE_OK(offpay_ledger_case(w.l, w.case_rm, &one));
    CHECK(one.kind == OFFPAY_CASE_RECEIPT_MISMATCH &&
          one.serial == w.cred_d.serial && one.counter == 1 &&
          one.terminal_id == w.terminal[0]);

    REQUIRE_OK(export(&w, w.case_rm, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_RECEIPT_MISMATCH && r.case_id == w.case_rm);
    CHECK(r.serial == w.cred_d.serial && r.n_codes == 1 &&
          r.n_presentments == 1 && r.n_terminals == 1 && r.n_receipts == 1);
    CHECK(r.receipt == 0 && r.a.counter == 1 && r.b.counter == 1);
    CHECK(r.a.terminal_id == w.terminal[0] && r.b.terminal_id == w.terminal[0]);
    CHECK(r.a.charged == CENTS(15) && r.b.charged == CENTS(12));
    CHECK(r.a.accepted_at == T0 + 510 && r.b.accepted_at == T0 + 510);
    CHECK(strcmp(r.a.merchant_name, "Bakery A") == 0);
    write_seed(&w, w.case_rm, "receipt_mismatch");
    write_seed(&w, w.case_rm_stood, "receipt_mismatch_stood");
    write_seed(&w, w.case_dup_r, "duplicate_receipts");
    free(file);

    /* the receipt stood first: money moved at 5.00, the terminal's own
     * upload said 6.00, and the file shows that upload */
    file = NULL;
    REQUIRE_OK(export(&w, w.case_rm_stood, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_RECEIPT_MISMATCH && r.n_receipts == 1);
    CHECK(r.a.terminal_id == w.terminal[2] && r.a.counter == 2);
    CHECK(r.a.charged == CENTS(6) && r.b.charged == CENTS(5));
    free(file);
    drop_world(&w);
}

/* Any kind's file carries the receipts the ledger holds for its codes,
 * and they are verified: a duplicate whose wallet uploaded both
 * terminals' receipts. */
static void test_duplicate_evidence_carries_the_wallets_receipts(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;
    uint8_t                other[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t                 n;
    json_t                *doc;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(receipt_cases(&w));
    REQUIRE_OK(export(&w, w.case_dup_r, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_DUPLICATE && r.n_codes == 1 &&
          r.n_presentments == 2 && r.n_receipts == 2);
    CHECK(r.a.terminal_id == w.terminal[0] && r.b.terminal_id == w.terminal[1]);

    doc = load(file);
    REQUIRE(doc != NULL);
    flip(json_object_get(doc, "receipts"), 1, -1); /* B's signature */
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_ECODE_SIG);
    json_decref(doc);

    /* a genuine receipt of the credential, but for a counter with no
     * code in the file */
    doc = load(file);
    REQUIRE(doc != NULL);
    n = make_receipt(&w, 0, w.cred_d.serial, 1, CENTS(12), T0 + 510, other);
    REQUIRE(n > 0);
    set_b64(json_object_get(doc, "receipts"), 0, other, n);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_decref(doc);
    free(file);

    /* the other kinds' cases of make_world hold no receipts */
    file = NULL;
    REQUIRE_OK(export(&w, w.case_dup, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.n_receipts == 0);
    free(file);
    drop_world(&w);
}

static void test_tampered_receipt_mismatch_files_are_refused_specifically(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;
    uint8_t                rb[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t                 n;
    json_t                *doc;
    uint64_t               serial;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(receipt_cases(&w));
    serial = w.cred_d.serial;
    REQUIRE_OK(export(&w, w.case_rm, &file, &len));

    /* the receipt's amount changed by one byte: the terminal's signature
     * no longer holds (amount is 4 bytes before currency and time) */
    doc = load(file);
    REQUIRE(doc != NULL);
    flip(json_object_get(doc, "receipts"), 0, -71);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_ECODE_SIG);
    json_decref(doc);

    /* another terminal's genuine receipt for the code, another amount:
     * not the terminal whose upload opened the case */
    doc = load(file);
    REQUIRE(doc != NULL);
    n = make_receipt(&w, 1, serial, 1, CENTS(12), T0 + 510, rb);
    REQUIRE(n > 0);
    set_b64(json_object_get(doc, "receipts"), 0, rb, n);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "no receipt of terminal") != NULL);
    json_decref(doc);

    /* the terminal's own receipt saying what it uploaded: no mismatch */
    doc = load(file);
    REQUIRE(doc != NULL);
    n = make_receipt(&w, 0, serial, 1, CENTS(15), T0 + 510, rb);
    REQUIRE(n > 0);
    set_b64(json_object_get(doc, "receipts"), 0, rb, n);
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    CHECK(strstr(r.why, "no mismatch") != NULL);
    json_decref(doc);

    /* the receipt taken away */
    doc = load(file);
    REQUIRE(doc != NULL);
    json_array_clear(json_object_get(doc, "receipts"));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_decref(doc);

    /* the case's counter is not its code's */
    doc = load(file);
    REQUIRE(doc != NULL);
    json_object_set_new(json_object_get(doc, "case"), "counter",
                        json_integer(2));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_decref(doc);

    /* What the file cannot prove: the upload's amount is the ledger's
     * record, not a signature here. Set to the receipt's, nothing
     * differs; set to another, the file still proves a mismatch. */
    doc = load(file);
    REQUIRE(doc != NULL);
    json_object_set_new(json_array_get(json_object_get(doc, "presentments"), 0),
                        "charged", json_integer(CENTS(12)));
    CHECK_ERR(verify_doc(&w, doc, &r), OFFPAY_EEVIDENCE);
    json_object_set_new(json_array_get(json_object_get(doc, "presentments"), 0),
                        "charged", json_integer(CENTS(13)));
    REQUIRE_OK(verify_doc(&w, doc, &r));
    CHECK(r.a.charged == CENTS(13) && r.b.charged == CENTS(12));
    json_decref(doc);
    free(file);
    drop_world(&w);
}

/* Receipts signed again and again leave the case provable: the terminal
 * of a receipt_mismatch case signed its agreeing receipt 2,002 times more
 * (at other times), more than a file holds, which the wallet uploaded.
 * The file carries what they say once, and the receipt the case rests on.
 * (More than 2,000 receipts saying different things cannot be made for
 * one code's counter by one terminal: amounts are at most the code's.) */
static void test_receipts_signed_again_leave_the_case_provable(void)
{
    world                  w;
    char                  *file = NULL;
    size_t                 len = 0;
    offpay_evidence_report r;
    uint8_t                r0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t                r1[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t                 n0, n1;
    offpay_wallet_result   u;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(receipt_cases(&w));
    for (uint32_t k = 0; k < 1001; k++) {
        n0 = make_receipt(&w, 0, w.cred_d.serial, 1, CENTS(15),
                          T0 + 520 + 2 * k, r0);
        n1 = make_receipt(&w, 0, w.cred_d.serial, 1, CENTS(15),
                          T0 + 521 + 2 * k, r1);
        u = upload(&w, w.code_d1, w.code_d1_len, r0, n0, r1, n1, T0 + 3000);
        REQUIRE(u.n_receipts == 2 &&
                u.receipt[0].outcome == OFFPAY_RECEIPT_AGREED &&
                u.receipt[1].outcome == OFFPAY_RECEIPT_AGREED);
    }
    REQUIRE_OK(export(&w, w.case_rm, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_RECEIPT_MISMATCH && r.n_receipts == 2);
    CHECK(r.a.charged == CENTS(15) && r.b.charged == CENTS(12));
    free(file);
    drop_world(&w);
}

/* An overspend after more payments than a file holds: the file carries a
 * part of the presentments that proves it, the case's and the largest
 * (1,200 payments of 0.01, then two of 30.00 on a limit of 50.00). */
static void test_overspend_past_the_caps_proved_by_a_part(void)
{
    enum { SMALL = 1200 };
    world w;
    uint8_t(*codes)[OFFPAY_PAYMENT_BOUND_BYTES];
    offpay_settle_item    *it;
    offpay_settle_result  *res, a, b;
    offpay_wallet_cred     cred;
    size_t                 len = 0;
    char                  *file = NULL;
    offpay_evidence_report r;

    codes = calloc(SMALL + 2, sizeof *codes);
    it = calloc(SMALL, sizeof *it);
    res = calloc(SMALL, sizeof *res);
    REQUIRE(codes != NULL && it != NULL && res != NULL);
    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(issue_50(&w, &cred));
    for (uint32_t k = 0; k < SMALL; k++) {
        size_t n = make_code(&w, &cred, k + 1, 1, T0 + 500, codes[k]);

        REQUIRE(n > 0);
        it[k] = (offpay_settle_item){codes[k], n, 1, T0 + 505, k + 1};
    }
    for (size_t k = 0; k < SMALL; k += 600)
        REQUIRE_OK(offpay_ledger_settle_batch(w.l, w.terminal[0], it + k, 600,
                                              T0 + 600, res + k));
    for (size_t k = 0; k < SMALL; k++)
        REQUIRE(res[k].outcome == OFFPAY_SETTLE_SETTLED);
    a = settle(
        &w, 1, codes[SMALL],
        make_code(&w, &cred, SMALL + 1, CENTS(30), T0 + 510, codes[SMALL]),
        CENTS(30), T0 + 515, T0 + 600);
    b = settle(
        &w, 2, codes[SMALL + 1],
        make_code(&w, &cred, SMALL + 2, CENTS(30), T0 + 520, codes[SMALL + 1]),
        CENTS(30), T0 + 525, T0 + 600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.case_id != 0);
    REQUIRE_OK(export(&w, b.case_id, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_OVERSPEND && r.case_id == b.case_id);
    CHECK(r.n_codes == 2 && r.n_presentments == 2 && r.n_terminals == 2);
    CHECK(r.total == CENTS(60) && r.limit == CENTS(50));
    free(file);
    free(codes);
    free(it);
    free(res);
    drop_world(&w);
}

/* An overspend presented by more terminals than a file holds (260 gates
 * took 0.01 each): a part of the presentments, at two terminals, proves
 * it. */
static void test_overspend_past_the_terminals_cap_proved_by_a_part(void)
{
    enum { GATES = 260 };
    world                  w;
    uint8_t                code[OFFPAY_PAYMENT_BOUND_BYTES];
    offpay_wallet_cred     cred;
    offpay_terminal_cred   tc;
    offpay_settle_item     it;
    offpay_settle_result   a, b;
    size_t                 n, len = 0;
    char                  *file = NULL;
    offpay_evidence_report r;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(issue_50(&w, &cred));
    for (uint32_t k = 0; k < GATES; k++) {
        REQUIRE_OK(add_terminal(&w, 0, &tc));
        n = make_code(&w, &cred, k + 1, 1, T0 + 500, code);
        REQUIRE(n > 0);
        it = (offpay_settle_item){code, n, 1, T0 + 505, 1};
        REQUIRE_OK(
            offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 600, &a));
        REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED);
    }
    n = make_code(&w, &cred, GATES + 1, CENTS(30), T0 + 510, code);
    a = settle(&w, 1, code, n, CENTS(30), T0 + 515, T0 + 600);
    n = make_code(&w, &cred, GATES + 2, CENTS(30), T0 + 520, code);
    b = settle(&w, 2, code, n, CENTS(30), T0 + 525, T0 + 600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.case_id != 0);
    REQUIRE_OK(export(&w, b.case_id, &file, &len));
    REQUIRE_OK(
        offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r));
    CHECK(r.kind == OFFPAY_CASE_OVERSPEND && r.n_terminals == 2 &&
          r.n_presentments == 2 && r.total == CENTS(60));
    free(file);
    drop_world(&w);
}

static const offpay_test TESTS[] = {
    {"overspend_past_the_terminals_cap_proved_by_a_part",
     test_overspend_past_the_terminals_cap_proved_by_a_part},
    {"overspend_past_the_caps_proved_by_a_part",
     test_overspend_past_the_caps_proved_by_a_part},
    {"receipts_signed_again_leave_the_case_provable",
     test_receipts_signed_again_leave_the_case_provable},
    {"case_kind_names_round_trip", test_case_kind_names_round_trip},
    {"cases_list_by_serial_kind_time_and_page",
     test_cases_list_by_serial_kind_time_and_page},
    {"double_spend_evidence_proves_the_key_signed_twice",
     test_double_spend_evidence_proves_the_key_signed_twice},
    {"duplicate_evidence_names_both_terminals_and_merchants",
     test_duplicate_evidence_names_both_terminals_and_merchants},
    {"overspend_evidence_sums_charges_above_the_limit",
     test_overspend_evidence_sums_charges_above_the_limit},
    {"overspend_after_duplicates_evidence_verifies",
     test_overspend_after_duplicates_evidence_verifies},
    {"overspend_evidence_counts_a_bound_code_once",
     test_overspend_evidence_counts_a_bound_code_once},
    {"export_refuses_unknown_case_and_bundle_without_the_key",
     test_export_refuses_unknown_case_and_bundle_without_the_key},
    {"tampered_double_spend_files_are_refused_specifically",
     test_tampered_double_spend_files_are_refused_specifically},
    {"duplicate_and_overspend_files_missing_a_part_prove_nothing",
     test_duplicate_and_overspend_files_missing_a_part_prove_nothing},
    {"evidence_format_is_strict_and_bounded",
     test_evidence_format_is_strict_and_bounded},
    {"receipt_mismatch_evidence_proves_the_terminal_signed_another_amount",
     test_receipt_mismatch_evidence_proves_the_terminal_signed_another_amount},
    {"duplicate_evidence_carries_the_wallets_receipts",
     test_duplicate_evidence_carries_the_wallets_receipts},
    {"tampered_receipt_mismatch_files_are_refused_specifically",
     test_tampered_receipt_mismatch_files_are_refused_specifically},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
