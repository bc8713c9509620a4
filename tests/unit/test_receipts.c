/*
 * test_receipts.c — wallet uploads and receipts (docs/settlement.md §3,
 * §7) over the real store: a receipt standing for a lost terminal's
 * upload, the same wallet upload twice, the terminal turning up later
 * (replay, or a receipt_mismatch case when its charge differs), receipts
 * checked against an upload already there, a code's status without a
 * receipt, another wallet's code, receipts that fail a check, and a
 * wallet and its terminal uploading the same payments at once from two
 * connections. The money per account is checked after each step and the
 * audit after every scenario.
 *
 * With OFFPAY_TEST_PG set (tests/pg/with_postgres.sh) every scenario runs
 * on a fresh database of that PostgreSQL server instead of a SQLite file.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/message_int.h"
#include "harness.h"
#include "offpay/settle.h"

#define EUR      978
#define T0       1780000000u
#define DAY      86400u
#define CENTS(x) ((int64_t)(x)*100)
#define NTERM    3 /* terminal 2 is signed by the issuer, never registered */

typedef struct world {
    char                 path[512];
    offpay_ledger       *l;
    offpay_keypair       root, issuer, wallet, other;
    offpay_trust_bundle  bundle;
    uint64_t             wallet_acct, other_acct, guarantee;
    uint64_t             merchant[2], merchant_acct[2];
    offpay_keypair       tk[NTERM];
    offpay_terminal_cred tcred[NTERM];
    offpay_wallet_cred   cred, other_cred;
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
        snprintf(path, cap, "%s/receipts-%d.db", offpay_test_tmpdir(),
                 scenario);
        return OFFPAY_OK;
    }
    snprintf(create, sizeof create, "CREATE DATABASE receipts_%ld_%d",
             (long)getpid(), scenario);
    snprintf(admin, sizeof admin, "%spostgres", pg);
    c = PQconnectdb(admin);
    r = PQexec(c, create);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok)
        return OFFPAY_ESTORE;
    snprintf(path, cap, "%sreceipts_%ld_%d", pg, (long)getpid(), scenario);
    return OFFPAY_OK;
}

static offpay_err make_world(world *w)
{
    uint8_t    cred_bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t    tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t     tlen;
    offpay_err rc;

    memset(w, 0, sizeof *w);
    if ((rc = fresh_ledger(w->path, sizeof w->path)) != OFFPAY_OK)
        return rc;
    if ((rc = offpay_keypair_generate(&w->root)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->issuer)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->wallet)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->other)) != OFFPAY_OK)
        return rc;
    w->bundle.seq = 1;
    w->bundle.issued_at = T0 - DAY;
    w->bundle.n_keys = 1;
    w->bundle.keys[0].kid = 1;
    memcpy(w->bundle.keys[0].pk, w->issuer.pk, OFFPAY_PK_BYTES);
    w->bundle.keys[0].valid_from = T0 - DAY;
    w->bundle.keys[0].valid_until = T0 + 400 * DAY;
    if ((rc = offpay_issuer_sign_bundle(w->root.sk, &w->bundle)) != OFFPAY_OK ||
        (rc = offpay_ledger_open(w->path, NULL, &w->l)) != OFFPAY_OK ||
        (rc = offpay_ledger_set_trust(w->l, &w->bundle, 1, w->issuer.sk)) !=
            OFFPAY_OK)
        return rc;
    if ((rc = offpay_ledger_wallet_account(w->l, EUR, "payer", T0,
                                           &w->wallet_acct)) != OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->wallet_acct, CENTS(100), "top-up",
                                    T0, NULL)) != OFFPAY_OK ||
        (rc = offpay_ledger_wallet_account(w->l, EUR, "other", T0,
                                           &w->other_acct)) != OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->other_acct, CENTS(100), "top-up",
                                    T0, NULL)) != OFFPAY_OK ||
        (rc = offpay_ledger_guarantee_account(w->l, EUR, T0, &w->guarantee)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->guarantee, CENTS(1000), "fund", T0,
                                    NULL)) != OFFPAY_OK)
        return rc;
    for (int i = 0; i < 2; i++) {
        if ((rc = offpay_ledger_merchant_add(
                 w->l, i ? "Kiosk B" : "Bakery A", EUR, T0, &w->merchant[i],
                 &w->merchant_acct[i])) != OFFPAY_OK ||
            (rc = offpay_keypair_generate(&w->tk[i])) != OFFPAY_OK ||
            (rc = offpay_ledger_terminal_add(w->l, w->merchant[i], w->tk[i].pk,
                                             T0 + 365 * DAY, T0, tbytes, &tlen,
                                             &w->tcred[i])) != OFFPAY_OK)
            return rc;
    }
    /* A terminal credential the issuer signed that the ledger never
     * registered (say, from another ledger of the same issuer). */
    if ((rc = offpay_keypair_generate(&w->tk[2])) != OFFPAY_OK)
        return rc;
    w->tcred[2] = w->tcred[0];
    w->tcred[2].terminal_id = 999;
    memcpy(w->tcred[2].terminal_pk, w->tk[2].pk, OFFPAY_PK_BYTES);
    if ((rc = offpay_issuer_sign_terminal_cred(w->issuer.sk, &w->tcred[2])) !=
        OFFPAY_OK)
        return rc;
    if ((rc = offpay_ledger_issue(w->l, w->other_acct, w->other.pk, CENTS(50),
                                  OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY, T0,
                                  cred_bytes, &w->other_cred)) != OFFPAY_OK)
        return rc;
    return offpay_ledger_issue(w->l, w->wallet_acct, w->wallet.pk, CENTS(50),
                               OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY, T0,
                               cred_bytes, &w->cred);
}

static void drop_world(world *w)
{
    offpay_ledger_close(w->l);
    offpay_keypair_wipe(&w->root);
    offpay_keypair_wipe(&w->issuer);
    offpay_keypair_wipe(&w->wallet);
    offpay_keypair_wipe(&w->other);
    for (int i = 0; i < NTERM; i++)
        offpay_keypair_wipe(&w->tk[i]);
}

/* A code of w's wallet; merchant 0 makes it unbound. */
static size_t make_code(const world *w, uint32_t counter, int64_t amount,
                        uint32_t time, uint64_t merchant,
                        uint8_t out[OFFPAY_PAYMENT_BOUND_BYTES])
{
    offpay_payment p;
    uint8_t        msg[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         mlen = 0, len = 0;

    memset(&p, 0, sizeof p);
    p.cred = w->cred;
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

/* A receipt of terminal term for (serial, counter), signed by its key. */
static size_t make_receipt(const world *w, int term, uint64_t serial,
                           uint32_t counter, int64_t amount, uint32_t time,
                           uint8_t out[OFFPAY_SETTLE_RECEIPT_MAX_BYTES])
{
    offpay_receipt r;
    uint8_t        msg[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t         mlen = 0, len = 0;

    memset(&r, 0, sizeof r);
    r.tcred = w->tcred[term];
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

static offpay_settle_result settle(world *w, int term, const uint8_t *code,
                                   size_t len, int64_t charged,
                                   uint32_t accepted_at, uint32_t now)
{
    offpay_settle_item   it = {code, len, charged, accepted_at, 7};
    offpay_settle_result r;

    memset(&r, 0xee, sizeof r);
    if (offpay_ledger_settle(w->l, w->tcred[term].terminal_id, &it, now, &r) !=
        OFFPAY_OK)
        r.outcome = (offpay_settle_outcome)-1;
    return r;
}

/* One item uploaded by key (w's wallet's unless given). */
static offpay_wallet_result upload(world *w, const uint8_t *key,
                                   const uint8_t *code, size_t len,
                                   const uint8_t *r0, size_t n0,
                                   const uint8_t *r1, size_t n1, uint32_t now)
{
    offpay_wallet_item   it;
    offpay_wallet_result res;
    size_t               done = 99;

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
    memset(&res, 0xee, sizeof res);
    if (offpay_ledger_wallet_upload(w->l, key != NULL ? key : w->wallet.pk, &it,
                                    1, now, &res, &done) != OFFPAY_OK ||
        done != 1)
        res.reason = OFFPAY_EIO;
    return res;
}

static int64_t balance(world *w, uint64_t account)
{
    int64_t b = INT64_MIN;

    if (offpay_ledger_balance(w->l, account, &b, NULL, NULL) != OFFPAY_OK)
        return INT64_MIN;
    return b;
}

static int64_t remaining(world *w)
{
    offpay_ledger_cred_info ci;

    if (offpay_ledger_credential(w->l, w->cred.serial, &ci) != OFFPAY_OK)
        return INT64_MIN;
    return ci.remaining;
}

static int audit_ok(world *w)
{
    offpay_audit_report r;
    offpay_err          rc = offpay_ledger_audit(w->l, &r);

    if (rc != OFFPAY_OK)
        fprintf(stderr, "audit: %s: settle %llu escrow %llu\n",
                offpay_errname(rc), (unsigned long long)r.settle_mismatch,
                (unsigned long long)r.escrow_mismatch);
    return rc == OFFPAY_OK;
}

/* ---- the rules ------------------------------------------------------- */

/* Terminal A is lost before it uploads: the wallet's receipt stands for
 * its upload and the payment settles to A's merchant (§7). */
static void test_receipt_of_a_lost_terminal_settles_the_payment(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              rc0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nr;
    offpay_wallet_result r;

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nr = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, rc0);
    REQUIRE(n > 0 && nr > 0);
    r = upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 3600);
    CHECK(r.reason == OFFPAY_OK);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(r.serial == w.cred.serial && r.counter == 1);
    CHECK(r.presentments == 1 && r.paid == CENTS(12) && r.covered == 0);
    REQUIRE(r.n_receipts == 1);
    CHECK(r.receipt[0].outcome == OFFPAY_RECEIPT_SETTLED);
    CHECK(r.receipt[0].reason == OFFPAY_OK && r.receipt[0].replay == 0);
    CHECK(r.receipt[0].terminal_id == w.tcred[0].terminal_id);
    CHECK(r.receipt[0].amount == CENTS(12));
    CHECK(r.receipt[0].settle.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(r.receipt[0].settle.paid == CENTS(12));
    CHECK(r.receipt[0].settle.presentment != 0);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(balance(&w, w.merchant_acct[1]) == 0);
    CHECK(remaining(&w) == CENTS(38));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The same upload again: the stored results, nothing moves twice. */
static void test_same_wallet_upload_twice_moves_nothing(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              rc0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nr;
    offpay_wallet_result a, b;

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nr = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, rc0);
    a = upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 3600);
    b = upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 3700);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_SETTLED &&
          !a.receipt[0].replay);
    CHECK(b.reason == OFFPAY_OK && b.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.receipt[0].outcome == OFFPAY_RECEIPT_SETTLED);
    CHECK(b.receipt[0].replay == 1 && b.receipt[0].settle.replay == 1);
    CHECK(b.receipt[0].settle.presentment == a.receipt[0].settle.presentment);
    CHECK(b.receipt[0].settle.paid == CENTS(12));
    CHECK(b.paid == CENTS(12) && b.presentments == 1);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(remaining(&w) == CENTS(38));
    /* the receipt twice in one item: the second is a replay of the first */
    b = upload(&w, NULL, code, n, rc0, nr, rc0, nr, T0 + 3800);
    CHECK(b.n_receipts == 2 && b.receipt[1].replay == 1);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The terminal turns up later with the same charge: an exact replay of
 * what the receipt settled; the receipt is now agreed. */
static void test_terminal_turning_up_later_is_a_replay(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              rc0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nr;
    offpay_wallet_result a, b;
    offpay_settle_result s, s2;

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nr = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, rc0);
    a = upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 3600);
    s = settle(&w, 0, code, n, CENTS(12), T0 + 20, T0 + 7200);
    CHECK(s.outcome == OFFPAY_SETTLE_SETTLED && s.replay == 1);
    CHECK(s.paid == CENTS(12) && s.case_id == 0);
    CHECK(s.presentment == a.receipt[0].settle.presentment);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(remaining(&w) == CENTS(38));
    s2 = settle(&w, 0, code, n, CENTS(12), T0 + 20, T0 + 7300);
    CHECK(s2.replay == 1 && s2.case_id == 0);
    b = upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 7400);
    CHECK(b.receipt[0].outcome == OFFPAY_RECEIPT_AGREED);
    CHECK(b.receipt[0].claimed == CENTS(12) && b.receipt[0].replay == 1);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The terminal turns up later charging more than it receipted: the
 * receipt's amount stays paid, a receipt_mismatch case is opened. */
static void test_terminal_charge_differing_from_its_receipt_opens_case(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              rc0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nr;
    offpay_wallet_result b;
    offpay_settle_result s, s2;

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nr = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, rc0);
    (void)upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 3600);
    s = settle(&w, 0, code, n, CENTS(15), T0 + 20, T0 + 7200);
    CHECK(s.outcome == OFFPAY_SETTLE_SETTLED && s.replay == 1);
    CHECK(s.paid == CENTS(12));
    CHECK(s.case_id != 0);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(remaining(&w) == CENTS(38));
    /* again: the same case, no second one */
    s2 = settle(&w, 0, code, n, CENTS(15), T0 + 20, T0 + 7300);
    CHECK(s2.case_id == s.case_id && s2.reason == OFFPAY_OK);
    b = upload(&w, NULL, code, n, rc0, nr, NULL, 0, T0 + 7400);
    CHECK(b.receipt[0].outcome == OFFPAY_RECEIPT_MISMATCH);
    CHECK(b.receipt[0].case_id == s.case_id);
    CHECK(b.receipt[0].claimed == CENTS(15) &&
          b.receipt[0].amount == CENTS(12));
    /* a third charge from the same terminal: a charge_mismatch case
     * beside the receipt's, one however often it comes (settlement.md §4) */
    {
        offpay_settle_result c1, c2;
        offpay_case_filter   f = {w.cred.serial, OFFPAY_CASE_CHARGE_MISMATCH, 0,
                                  0, OFFPAY_CASES_ANY};
        offpay_case_info    *v = NULL;
        size_t               nv = 9;

        c1 = settle(&w, 0, code, n, CENTS(17), T0 + 20, T0 + 7500);
        c2 = settle(&w, 0, code, n, CENTS(17), T0 + 20, T0 + 7600);
        CHECK(c1.reason == OFFPAY_ECONFLICT && c1.paid == CENTS(12) &&
              c1.case_id != 0 && c1.case_id != s.case_id);
        CHECK(c2.reason == OFFPAY_ECONFLICT && c2.case_id == c1.case_id);
        REQUIRE_OK(offpay_ledger_cases(w.l, &f, 10, &v, &nv));
        CHECK(nv == 1 && v[0].id == c1.case_id);
        free(v);
    }
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The terminal uploaded first: a receipt that says the same is agreed,
 * one that says another amount opens a case; nothing moves either way. */
static void test_receipt_checked_against_the_terminals_upload(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              r1[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t              r2[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n1, n2, nr1, nr2;
    offpay_wallet_result a, b;

    REQUIRE_OK(make_world(&w));
    n1 = make_code(&w, 1, CENTS(20), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(20), T0 + 10, w.merchant[1], c2);
    nr1 = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, r1);
    nr2 = make_receipt(&w, 1, w.cred.serial, 2, CENTS(10), T0 + 20, r2);
    CHECK(settle(&w, 0, c1, n1, CENTS(12), T0 + 20, T0 + 600).outcome ==
          OFFPAY_SETTLE_SETTLED);
    CHECK(settle(&w, 1, c2, n2, CENTS(18), T0 + 20, T0 + 600).outcome ==
          OFFPAY_SETTLE_SETTLED);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(18));
    a = upload(&w, NULL, c1, n1, r1, nr1, NULL, 0, T0 + 3600);
    CHECK(a.reason == OFFPAY_OK && a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_AGREED);
    CHECK(a.receipt[0].claimed == CENTS(12) && a.receipt[0].case_id == 0);
    b = upload(&w, NULL, c2, n2, r2, nr2, NULL, 0, T0 + 3600);
    CHECK(b.receipt[0].outcome == OFFPAY_RECEIPT_MISMATCH);
    CHECK(b.receipt[0].claimed == CENTS(18) && b.receipt[0].case_id != 0);
    CHECK(b.paid == CENTS(18));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(18));
    CHECK(remaining(&w) == CENTS(20));
    /* the same receipt again: the same case */
    b = upload(&w, NULL, c2, n2, r2, nr2, NULL, 0, T0 + 3700);
    CHECK(b.receipt[0].outcome == OFFPAY_RECEIPT_MISMATCH &&
          b.receipt[0].replay == 1);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A second receipt of the same terminal after one stood: it waits, and
 * the terminal's upload is compared with both. */
static void test_second_receipt_waits_for_the_terminal(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              r1[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t              r2[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nr1, nr2;
    offpay_wallet_result a;
    offpay_settle_result s;

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nr1 = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, r1);
    nr2 = make_receipt(&w, 0, w.cred.serial, 1, CENTS(14), T0 + 25, r2);
    a = upload(&w, NULL, code, n, r1, nr1, r2, nr2, T0 + 3600);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_SETTLED);
    CHECK(a.receipt[1].outcome == OFFPAY_RECEIPT_WAITING);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    s = settle(&w, 0, code, n, CENTS(12), T0 + 20, T0 + 7200);
    CHECK(s.replay == 1 && s.case_id != 0); /* 14 differs from 12 */
    a = upload(&w, NULL, code, n, r1, nr1, r2, nr2, T0 + 7300);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_AGREED);
    CHECK(a.receipt[1].outcome == OFFPAY_RECEIPT_MISMATCH &&
          a.receipt[1].case_id == s.case_id);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A code uploaded without a receipt moves nothing; its result says what
 * the ledger holds for it. */
static void test_code_without_receipt_reports_its_status(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_wallet_result r;

    REQUIRE_OK(make_world(&w));
    n1 = make_code(&w, 1, CENTS(20), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(10), T0 + 10, 0, c2);
    r = upload(&w, NULL, c1, n1, NULL, 0, NULL, 0, T0 + 600);
    CHECK(r.reason == OFFPAY_ENOT_SETTLED);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED && r.paid == 0);
    CHECK(r.n_receipts == 0);
    CHECK(remaining(&w) == CENTS(50));
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(settle(&w, 0, c1, n1, CENTS(20), T0 + 20, T0 + 600).outcome ==
          OFFPAY_SETTLE_SETTLED);
    r = upload(&w, NULL, c1, n1, NULL, 0, NULL, 0, T0 + 700);
    CHECK(r.reason == OFFPAY_OK && r.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(r.paid == CENTS(20) && r.presentments == 1);
    /* shown to two terminals: a duplicate */
    CHECK(settle(&w, 0, c2, n2, CENTS(10), T0 + 20, T0 + 800).outcome ==
          OFFPAY_SETTLE_SETTLED);
    CHECK(settle(&w, 1, c2, n2, CENTS(10), T0 + 20, T0 + 800).outcome ==
          OFFPAY_SETTLE_DUPLICATE);
    r = upload(&w, NULL, c2, n2, NULL, 0, NULL, 0, T0 + 900);
    CHECK(r.reason == OFFPAY_OK && r.outcome == OFFPAY_SETTLE_DUPLICATE);
    CHECK(r.presentments == 2 && r.paid == CENTS(20));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(30));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(10));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Another wallet's code, a damaged code, and the ledger's knowledge of
 * wallet keys. */
static void test_another_wallets_code_is_rejected(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              bad[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              rc0[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nr;
    offpay_wallet_result r;
    offpay_keypair       stranger;

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nr = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, rc0);
    r = upload(&w, w.other.pk, code, n, rc0, nr, NULL, 0, T0 + 600);
    CHECK(r.reason == OFFPAY_ENOT_ISSUED);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED);
    REQUIRE(r.n_receipts == 1);
    CHECK(r.receipt[0].outcome == OFFPAY_RECEIPT_REJECTED &&
          r.receipt[0].reason == OFFPAY_ENOT_ISSUED);
    memcpy(bad, code, n);
    bad[130] ^= 1; /* the code's time: the wallet signature breaks */
    r = upload(&w, NULL, bad, n, rc0, nr, NULL, 0, T0 + 600);
    CHECK(r.reason == OFFPAY_ECODE_SIG);
    r = upload(&w, NULL, code, n - 1, NULL, 0, NULL, 0, T0 + 600);
    CHECK(r.reason == OFFPAY_ETRUNCATED);
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(remaining(&w) == CENTS(50));
    CHECK_ERR(offpay_ledger_wallet_known(w.l, w.wallet.pk), OFFPAY_OK);
    CHECK_ERR(offpay_ledger_wallet_known(w.l, w.other.pk), OFFPAY_OK);
    REQUIRE_OK(offpay_keypair_generate(&stranger));
    CHECK_ERR(offpay_ledger_wallet_known(w.l, stranger.pk), OFFPAY_ENOTFOUND);
    offpay_keypair_wipe(&stranger);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Receipts that fail a check are rejected with their reason, are not
 * kept, and move nothing. */
static void test_bad_receipts_are_rejected_and_move_nothing(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              bound[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              r[6][OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n, nb, nr[6];
    offpay_wallet_result a;
    offpay_wallet_item   it[2];
    offpay_wallet_result res[2];

    REQUIRE_OK(make_world(&w));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    nb = make_code(&w, 2, CENTS(20), T0 + 10, w.merchant[1], bound);
    nr[0] = make_receipt(&w, 0, w.cred.serial, 2, CENTS(12), T0 + 20, r[0]);
    nr[1] = make_receipt(&w, 0, w.cred.serial, 1, CENTS(21), T0 + 20, r[1]);
    nr[2] = make_receipt(&w, 2, w.cred.serial, 1, CENTS(12), T0 + 20, r[2]);
    nr[3] = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 20, r[3]);
    r[3][nr[3] - 1] ^= 1;
    nr[4] = make_receipt(&w, 0, w.cred.serial, 2, CENTS(12), T0 + 20, r[4]);
    nr[5] = make_receipt(&w, 0, w.cred.serial, 1, CENTS(12), T0 + 7200, r[5]);
    a = upload(&w, NULL, code, n, r[0], nr[0], r[1], nr[1], T0 + 600);
    CHECK(a.receipt[0].reason == OFFPAY_ERECEIPT_MISMATCH); /* counter */
    CHECK(a.receipt[1].reason == OFFPAY_ERECEIPT_MISMATCH); /* > authorized */
    a = upload(&w, NULL, code, n, r[2], nr[2], r[3], nr[3], T0 + 600);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_REJECTED &&
          a.receipt[0].reason == OFFPAY_ENOTFOUND); /* not registered */
    CHECK(a.receipt[1].reason == OFFPAY_ECODE_SIG);
    a = upload(&w, NULL, bound, nb, r[4], nr[4], NULL, 0, T0 + 600);
    CHECK(a.receipt[0].reason == OFFPAY_ERECEIPT_MISMATCH); /* merchant */
    a = upload(&w, NULL, code, n, r[5], nr[5], NULL, 0, T0 + 600);
    CHECK(a.receipt[0].reason == OFFPAY_ECODE_FUTURE);
    CHECK(a.reason == OFFPAY_ENOT_SETTLED);
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(balance(&w, w.merchant_acct[1]) == 0);
    CHECK(remaining(&w) == CENTS(50));
    /* the API's edge */
    memset(it, 0, sizeof it);
    it[0].code = code;
    it[0].code_len = n;
    it[1] = it[0];
    it[1].n_receipts = OFFPAY_SETTLE_RECEIPTS_MAX + 1;
    CHECK_ERR(
        offpay_ledger_wallet_upload(w.l, w.wallet.pk, it, 2, T0, res, NULL),
        OFFPAY_EINVAL);
    CHECK_ERR(
        offpay_ledger_wallet_upload(w.l, w.wallet.pk, it, 0, T0, res, NULL),
        OFFPAY_EINVAL);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A receipt stands for its terminal's upload under the same rules: one
 * dated after the terminal's revocation is refused (§8), one before
 * settles. */
static void test_receipt_of_a_revoked_terminal_follows_its_rule(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              r1[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t              r2[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t               n1, n2, nr1, nr2;
    offpay_wallet_result a;

    REQUIRE_OK(make_world(&w));
    n1 = make_code(&w, 1, CENTS(5), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(7), T0 + 150, 0, c2);
    nr1 = make_receipt(&w, 1, w.cred.serial, 1, CENTS(5), T0 + 20, r1);
    nr2 = make_receipt(&w, 1, w.cred.serial, 2, CENTS(7), T0 + 160, r2);
    REQUIRE_OK(
        offpay_ledger_terminal_revoke(w.l, w.tcred[1].terminal_id, T0 + 100));
    a = upload(&w, NULL, c1, n1, r1, nr1, NULL, 0, T0 + 600);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_SETTLED);
    a = upload(&w, NULL, c2, n2, r2, nr2, NULL, 0, T0 + 600);
    CHECK(a.receipt[0].outcome == OFFPAY_RECEIPT_REJECTED &&
          a.receipt[0].reason == OFFPAY_ETERMINAL_REVOKED);
    CHECK(a.reason == OFFPAY_ENOT_SETTLED);
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(5));
    CHECK(remaining(&w) == CENTS(45));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* ---- a wallet and its terminal at once -------------------------------- */

#define RACE_ITEMS 24

struct race {
    world  *w;
    uint8_t codes[RACE_ITEMS][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t  lens[RACE_ITEMS];
    uint8_t rcpt[RACE_ITEMS][OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    size_t  rlens[RACE_ITEMS];
    int     errors, stood, replays;
};

static void *race_wallet(void *arg)
{
    struct race   *ra = arg;
    offpay_ledger *l = NULL;

    if (offpay_ledger_open(ra->w->path, NULL, &l) != OFFPAY_OK ||
        offpay_ledger_set_trust(l, &ra->w->bundle, 1, ra->w->issuer.sk) !=
            OFFPAY_OK) {
        ra->errors++;
        offpay_ledger_close(l);
        return NULL;
    }
    for (int i = 0; i < RACE_ITEMS; i++) {
        offpay_wallet_item   it;
        offpay_wallet_result r;

        memset(&it, 0, sizeof it);
        it.code = ra->codes[i];
        it.code_len = ra->lens[i];
        it.n_receipts = 1;
        it.receipt[0] = ra->rcpt[i];
        it.receipt_len[0] = ra->rlens[i];
        if (offpay_ledger_wallet_upload(l, ra->w->wallet.pk, &it, 1, T0 + 3600,
                                        &r, NULL) != OFFPAY_OK ||
            (r.receipt[0].outcome != OFFPAY_RECEIPT_SETTLED &&
             r.receipt[0].outcome != OFFPAY_RECEIPT_AGREED))
            ra->errors++;
        else if (r.receipt[0].outcome == OFFPAY_RECEIPT_SETTLED)
            ra->stood++;
    }
    offpay_ledger_close(l);
    return NULL;
}

static void *race_terminal(void *arg)
{
    struct race   *ra = arg;
    offpay_ledger *l = NULL;

    if (offpay_ledger_open(ra->w->path, NULL, &l) != OFFPAY_OK ||
        offpay_ledger_set_trust(l, &ra->w->bundle, 1, ra->w->issuer.sk) !=
            OFFPAY_OK) {
        ra->errors += 1000;
        offpay_ledger_close(l);
        return NULL;
    }
    for (int i = RACE_ITEMS - 1; i >= 0; i--) {
        offpay_settle_item   it = {ra->codes[i], ra->lens[i], 100, T0 + 20, i};
        offpay_settle_result r;

        if (offpay_ledger_settle(l, ra->w->tcred[0].terminal_id, &it, T0 + 3600,
                                 &r) != OFFPAY_OK ||
            r.outcome != OFFPAY_SETTLE_SETTLED || r.case_id != 0)
            ra->errors += 1000;
        else if (r.replay)
            ra->replays++;
    }
    offpay_ledger_close(l);
    return NULL;
}

static void test_wallet_and_terminal_at_once_settle_each_payment_once(void)
{
    world       w;
    struct race ra;
    pthread_t   t0, t1;

    REQUIRE_OK(make_world(&w));
    memset(&ra, 0, sizeof ra);
    ra.w = &w;
    for (int i = 0; i < RACE_ITEMS; i++) {
        ra.lens[i] =
            make_code(&w, (uint32_t)i + 1, 100, T0 + 10, 0, ra.codes[i]);
        ra.rlens[i] = make_receipt(&w, 0, w.cred.serial, (uint32_t)i + 1, 100,
                                   T0 + 20, ra.rcpt[i]);
        REQUIRE(ra.lens[i] > 0 && ra.rlens[i] > 0);
    }
    REQUIRE(pthread_create(&t0, NULL, race_wallet, &ra) == 0);
    REQUIRE(pthread_create(&t1, NULL, race_terminal, &ra) == 0);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    CHECK(ra.errors == 0);
    /* each payment made once: by the receipt (then the terminal replays)
     * or by the terminal (then the receipt agrees) */
    CHECK(ra.stood == ra.replays);
    CHECK(balance(&w, w.merchant_acct[0]) == 100 * RACE_ITEMS);
    CHECK(remaining(&w) == CENTS(50) - 100 * RACE_ITEMS);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The highest counter the ledger reports to a restored wallet counts the
 * codes its wallet uploaded itself, presented by no terminal yet: a copy
 * restored again from the same backup must not sign them again. */
static uint32_t max_counter(world *w)
{
    offpay_ledger_wallet_cred *creds = NULL;
    size_t                     n = 0;
    uint32_t                   m = UINT32_MAX;

    if (offpay_ledger_wallet_creds(w->l, w->wallet.pk, &creds, &n) ==
            OFFPAY_OK &&
        n == 1)
        m = creds[0].max_counter;
    free(creds);
    return m;
}

static void test_codes_the_wallet_uploaded_count_for_its_restore(void)
{
    world                w;
    uint8_t              code[3][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[3];
    offpay_wallet_result res;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w));
    CHECK(max_counter(&w) == 0);
    n[0] = make_code(&w, 7, CENTS(2), T0 + 10, 0, code[0]);
    n[1] = make_code(&w, 3, CENTS(2), T0 + 20, 0, code[1]);
    n[2] = make_code(&w, 9, CENTS(2), T0 + 30, 0, code[2]);
    REQUIRE(n[0] && n[1] && n[2]);
    res = upload(&w, NULL, code[0], n[0], NULL, 0, NULL, 0, T0 + 100);
    CHECK(res.reason == OFFPAY_ENOT_SETTLED);
    CHECK(max_counter(&w) == 7);
    res = upload(&w, NULL, code[1], n[1], NULL, 0, NULL, 0, T0 + 100);
    CHECK(res.reason == OFFPAY_ENOT_SETTLED && max_counter(&w) == 7);
    /* another key's upload of the code counts nothing */
    res = upload(&w, w.other.pk, code[2], n[2], NULL, 0, NULL, 0, T0 + 100);
    CHECK(res.reason == OFFPAY_ENOT_ISSUED && max_counter(&w) == 7);
    r = settle(&w, 0, code[2], n[2], CENTS(2), T0 + 40, T0 + 100);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED && max_counter(&w) == 9);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static const offpay_test TESTS[] = {
    {"codes_the_wallet_uploaded_count_for_its_restore",
     test_codes_the_wallet_uploaded_count_for_its_restore},
    {"receipt_of_a_lost_terminal_settles_the_payment",
     test_receipt_of_a_lost_terminal_settles_the_payment},
    {"same_wallet_upload_twice_moves_nothing",
     test_same_wallet_upload_twice_moves_nothing},
    {"terminal_turning_up_later_is_a_replay",
     test_terminal_turning_up_later_is_a_replay},
    {"terminal_charge_differing_from_its_receipt_opens_case",
     test_terminal_charge_differing_from_its_receipt_opens_case},
    {"receipt_checked_against_the_terminals_upload",
     test_receipt_checked_against_the_terminals_upload},
    {"second_receipt_waits_for_the_terminal",
     test_second_receipt_waits_for_the_terminal},
    {"code_without_receipt_reports_its_status",
     test_code_without_receipt_reports_its_status},
    {"another_wallets_code_is_rejected", test_another_wallets_code_is_rejected},
    {"bad_receipts_are_rejected_and_move_nothing",
     test_bad_receipts_are_rejected_and_move_nothing},
    {"receipt_of_a_revoked_terminal_follows_its_rule",
     test_receipt_of_a_revoked_terminal_follows_its_rule},
    {"wallet_and_terminal_at_once_settle_each_payment_once",
     test_wallet_and_terminal_at_once_settle_each_payment_once},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
