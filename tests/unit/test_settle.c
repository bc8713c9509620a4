/*
 * test_settle.c — the settlement engine over the real SQLite store: every
 * case of docs/settlement.md §4 with the money per account after it, the
 * guarantee, release and late presentment, revoked terminals, rejections
 * that move nothing, concurrent settlement from two connections, debits
 * of one wallet account and the guarantee from four at once, and an
 * audit that catches a ledger changed behind its back. After every
 * scenario the audit must pass (conservation, DESIGN.md invariant 1).
 *
 * With OFFPAY_TEST_PG set (tests/pg/with_postgres.sh), every scenario runs
 * on a fresh database of that real PostgreSQL server instead of a SQLite
 * file: the same cases against the second backend.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/message_int.h"
#include "harness.h"
#include "offpay/settle.h"
#include "settle/render.h"
#include "settle/settle_int.h"
#include "store/lockwait.h"

#define EUR      978
#define T0       1780000000u /* "now" at the start of every scenario */
#define DAY      86400u
#define CENTS(x) ((int64_t)(x)*100)

typedef struct world {
    char                path[512];
    offpay_ledger      *l;
    offpay_keypair      root, issuer, wallet;
    offpay_trust_bundle bundle;
    uint64_t            wallet_acct, guarantee;
    uint64_t            merchant[2], merchant_acct[2];
    uint32_t            terminal[2];
    offpay_wallet_cred  cred;
} world;

static int scenario;

/* The PostgreSQL server to run on (a URL prefix), or NULL for SQLite. */
static const char *pg_prefix(void)
{
    const char *p = getenv("OFFPAY_TEST_PG");

    return p != NULL && *p != '\0' ? p : NULL;
}

/* Runs sql on the ledger at path behind the engine's back. */
static int run_sql(const char *path, const char *sql)
{
    int ok;

    if (pg_prefix() != NULL) {
        PGconn   *c = PQconnectdb(path);
        PGresult *r = PQexec(c, sql);

        ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
             PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;

        ok = sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
        sqlite3_close(db);
    }
    return ok;
}

/* The first value of sql's first row on the PostgreSQL database url into
 * buf ("NULL" for a null, "" when there is no row); 0 when it failed. */
static int pg_value(const char *url, const char *sql, char *buf, size_t cap)
{
    PGconn   *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    int       ok = PQresultStatus(r) == PGRES_TUPLES_OK;

    buf[0] = '\0';
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    else if (PQntuples(r) > 0)
        snprintf(buf, cap, "%s",
                 PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return ok;
}

/* The first value of sql's first row on the ledger at path (SQLite or
 * PostgreSQL), as text ("NULL" for a null, "" when there is no row). */
static int sql_value(const char *path, const char *sql, char *buf, size_t cap)
{
    sqlite3      *db = NULL;
    sqlite3_stmt *st = NULL;
    int           ok;

    if (pg_prefix() != NULL)
        return pg_value(path, sql, buf, cap);
    buf[0] = '\0';
    ok = sqlite3_open(path, &db) == SQLITE_OK &&
         sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
    if (ok && sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, cap, "%s",
                 sqlite3_column_type(st, 0) == SQLITE_NULL
                     ? "NULL"
                     : (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

/* 1: the next fresh_ledger on PostgreSQL is a ledger sharded over two new
 * databases ("shards:FILE"; shard_url[k] names shard k's database). */
static int  want_shards;
static char shard_url[2][400];

/* A new, empty ledger: a SQLite file, or a new PostgreSQL database (two,
 * and their shard map, when want_shards). */
static offpay_err fresh_ledger(char *path, size_t cap)
{
    const char *pg = pg_prefix();
    char        admin[400], create[128];

    scenario++;
    if (pg != NULL && want_shards) {
        char  map[400];
        FILE *f;

        snprintf(admin, sizeof admin, "%spostgres", pg);
        for (int k = 0; k < 2; k++) {
            snprintf(create, sizeof create, "CREATE DATABASE ledger_%ld_%d_s%d",
                     (long)getpid(), scenario, k);
            if (!run_sql(admin, create))
                return OFFPAY_ESTORE;
            snprintf(shard_url[k], sizeof shard_url[k], "%sledger_%ld_%d_s%d",
                     pg, (long)getpid(), scenario, k);
        }
        snprintf(map, sizeof map, "%s/shards-%d.map", offpay_test_tmpdir(),
                 scenario);
        f = fopen(map, "w");
        if (f == NULL)
            return OFFPAY_ESTORE;
        fprintf(f, "shard 1-1000000000 %s\nshard 1000000001-2000000000 %s\n",
                shard_url[0], shard_url[1]);
        if (fclose(f) != 0)
            return OFFPAY_ESTORE;
        snprintf(path, cap, "shards:%s", map);
        return OFFPAY_OK;
    }
    if (pg == NULL) {
        snprintf(path, cap, "%s/ledger-%d.db", offpay_test_tmpdir(), scenario);
        return OFFPAY_OK;
    }
    snprintf(create, sizeof create, "CREATE DATABASE ledger_%ld_%d",
             (long)getpid(), scenario);
    snprintf(admin, sizeof admin, "%spostgres", pg);
    if (!run_sql(admin, create))
        return OFFPAY_ESTORE;
    snprintf(path, cap, "%sledger_%ld_%d", pg, (long)getpid(), scenario);
    return OFFPAY_OK;
}

static offpay_err make_world(world *w, int64_t deposit, int64_t limit)
{
    uint8_t        cred_bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t        tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t         tlen;
    offpay_keypair tk;
    offpay_err     rc;

    memset(w, 0, sizeof *w);
    if ((rc = fresh_ledger(w->path, sizeof w->path)) != OFFPAY_OK)
        return rc;
    if ((rc = offpay_keypair_generate(&w->root)) != OFFPAY_OK ||
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
        (rc = offpay_ledger_open(w->path, NULL, &w->l)) != OFFPAY_OK ||
        (rc = offpay_ledger_set_trust(w->l, &w->bundle, 1, w->issuer.sk)) !=
            OFFPAY_OK)
        return rc;
    if ((rc = offpay_ledger_wallet_account(w->l, EUR, "payer", T0,
                                           &w->wallet_acct)) != OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->wallet_acct, deposit, "top-up", T0,
                                    NULL)) != OFFPAY_OK ||
        (rc = offpay_ledger_guarantee_account(w->l, EUR, T0, &w->guarantee)) !=
            OFFPAY_OK ||
        (rc = offpay_ledger_deposit(w->l, w->guarantee, CENTS(1000), "fund", T0,
                                    NULL)) != OFFPAY_OK)
        return rc;
    for (int i = 0; i < 2; i++) {
        offpay_terminal_cred tc;

        if ((rc = offpay_ledger_merchant_add(
                 w->l, i ? "Kiosk B" : "Bakery A", EUR, T0, &w->merchant[i],
                 &w->merchant_acct[i])) != OFFPAY_OK ||
            (rc = offpay_keypair_generate(&tk)) != OFFPAY_OK ||
            (rc = offpay_ledger_terminal_add(w->l, w->merchant[i], tk.pk,
                                             T0 + 365 * DAY, T0, tbytes, &tlen,
                                             &tc)) != OFFPAY_OK)
            return rc;
        w->terminal[i] = tc.terminal_id;
        offpay_keypair_wipe(&tk);
    }
    return offpay_ledger_issue(w->l, w->wallet_acct, w->wallet.pk, limit,
                               OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY, T0,
                               cred_bytes, &w->cred);
}

/* make_world on a ledger sharded over two new PostgreSQL databases
 * (shard_url[k] names shard k's). */
static offpay_err make_sharded_world(world *w, int64_t deposit, int64_t limit)
{
    offpay_err rc;

    want_shards = 1;
    rc = make_world(w, deposit, limit);
    want_shards = 0;
    return rc;
}

static void drop_world(world *w)
{
    offpay_ledger_close(w->l);
    offpay_keypair_wipe(&w->root);
    offpay_keypair_wipe(&w->issuer);
    offpay_keypair_wipe(&w->wallet);
}

/* A payment code of w's wallet, signed by key (the wallet's own, or a
 * clone's: the same key). merchant 0 makes it unbound. */
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

static offpay_settle_result settle(world *w, int term, const uint8_t *code,
                                   size_t len, int64_t charged,
                                   uint32_t accepted_at, uint32_t now)
{
    offpay_settle_item   it = {code, len, charged, accepted_at, 1};
    offpay_settle_result r;

    memset(&r, 0xee, sizeof r);
    if (offpay_ledger_settle(w->l, w->terminal[term], &it, now, &r) !=
        OFFPAY_OK)
        r.outcome = (offpay_settle_outcome)-1;
    return r;
}

/* A new terminal of merchant m (a key of its own), its credential valid
 * from now to expires. */
static offpay_err add_terminal(world *w, int m, uint32_t expires, uint32_t now,
                               offpay_terminal_cred *tc)
{
    uint8_t        tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t         tlen;
    offpay_keypair tk;
    offpay_err     rc = offpay_keypair_generate(&tk);

    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_add(w->l, w->merchant[m], tk.pk, expires,
                                        now, tbytes, &tlen, tc);
    offpay_keypair_wipe(&tk);
    return rc;
}

static int64_t balance(world *w, uint64_t account)
{
    int64_t b = INT64_MIN;

    if (offpay_ledger_balance(w->l, account, &b, NULL, NULL) != OFFPAY_OK)
        return INT64_MIN;
    return b;
}

/* The escrow's balance: escrow accounts are created right after the
 * wallet's, so the test finds it through the audit's totals instead:
 * inside minus every other balance of this world. */
static int64_t escrow(world *w)
{
    offpay_audit_report r;

    if (offpay_ledger_audit(w->l, &r) != OFFPAY_OK || r.n_money != 1 ||
        r.money[0].currency != EUR)
        return INT64_MIN;
    return r.money[0].inside - balance(w, w->wallet_acct) -
           balance(w, w->guarantee) - balance(w, w->merchant_acct[0]) -
           balance(w, w->merchant_acct[1]);
}

/* 1 when the ledger holds w's credential as revoked. */
static int revoked(world *w)
{
    offpay_ledger_cred_info ci;

    return offpay_ledger_credential(w->l, w->cred.serial, &ci) == OFFPAY_OK &&
           ci.revoked;
}

static int audit_ok(world *w)
{
    offpay_audit_report r;
    offpay_err          rc = offpay_ledger_audit(w->l, &r);

    if (rc != OFFPAY_OK)
        fprintf(stderr,
                "audit: %s: imbalanced %llu negative %llu escrow %llu "
                "settle %llu release %llu money %llu\n",
                offpay_errname(rc), (unsigned long long)r.imbalanced,
                (unsigned long long)r.negative,
                (unsigned long long)r.escrow_mismatch,
                (unsigned long long)r.settle_mismatch,
                (unsigned long long)r.release_mismatch,
                (unsigned long long)r.money_mismatch);
    return rc == OFFPAY_OK;
}

/* ---- the cases ------------------------------------------------------- */

/* One transaction for a batch gives what settling the items one by one in
 * order gives: a first presentment, a rejection decided before the
 * transaction, the same code again (an exact replay inside the batch), and
 * an overspend beyond the rules (paid from the escrow only). */
static void test_batch_settles_as_the_items_one_by_one(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              bad[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_item   it[4];
    offpay_settle_result r[4], again[4];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(40), T0 + 30, 0, c2);
    memcpy(bad, c2, n2);
    bad[n2 - 1] ^= 1; /* the wallet signature broken */
    it[0] = (offpay_settle_item){c1, n1, CENTS(40), T0 + 20, 1};
    it[1] = (offpay_settle_item){bad, n2, CENTS(40), T0 + 40, 2};
    it[2] = (offpay_settle_item){c1, n1, CENTS(40), T0 + 20, 1};
    it[3] = (offpay_settle_item){c2, n2, CENTS(40), T0 + 40, 3};
    CHECK(offpay_ledger_settle_batch(w.l, w.terminal[0], it, 0, T0 + 3600, r) ==
          OFFPAY_EINVAL);
    REQUIRE_OK(
        offpay_ledger_settle_batch(w.l, w.terminal[0], it, 4, T0 + 3600, r));
    CHECK(r[0].outcome == OFFPAY_SETTLE_SETTLED && !r[0].replay);
    CHECK(r[1].outcome == OFFPAY_SETTLE_REJECTED &&
          r[1].reason == OFFPAY_ECODE_SIG);
    CHECK(r[2].outcome == OFFPAY_SETTLE_SETTLED && r[2].replay &&
          r[2].presentment == r[0].presentment);
    /* beyond the escrow at one terminal: the cumulative rule is broken,
     * so only the escrow's 10 is paid, as one by one */
    CHECK(r[3].outcome == OFFPAY_SETTLE_UNPAID &&
          r[3].reason == OFFPAY_EOVER_CUMULATIVE && r[3].paid == CENTS(10) &&
          r[3].covered == 0);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(50));
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(escrow(&w) == 0);
    /* the whole batch again: replays, nothing moves */
    REQUIRE_OK(offpay_ledger_settle_batch(w.l, w.terminal[0], it, 4, T0 + 3700,
                                          again));
    CHECK(again[0].replay && again[2].replay && again[3].replay);
    CHECK(again[3].outcome == OFFPAY_SETTLE_UNPAID);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(50));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_first_presentment_moves_charge_from_escrow_to_merchant(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    CHECK(balance(&w, w.wallet_acct) == CENTS(50)); /* 50 went to escrow */
    CHECK(escrow(&w) == CENTS(50));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    REQUIRE(n > 0);
    r = settle(&w, 0, code, n, CENTS(12), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(r.reason == OFFPAY_OK);
    CHECK(r.paid == CENTS(12) && r.covered == 0 && r.replay == 0);
    CHECK(r.case_id == 0 && r.presentment != 0);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(12));
    CHECK(escrow(&w) == CENTS(38));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_exact_replay_returns_first_result_and_moves_nothing(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result a, b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n = make_code(&w, 1, CENTS(20), T0 + 10, w.merchant[0], code);
    a = settle(&w, 0, code, n, CENTS(20), T0 + 20, T0 + 3600);
    b = settle(&w, 0, code, n, CENTS(20), T0 + 20, T0 + 7200);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && a.replay == 0);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.replay == 1);
    CHECK(b.presentment == a.presentment && b.paid == a.paid);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(20));
    CHECK(escrow(&w) == CENTS(30));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A terminal's key (copied) uploads a payment with another charge before
 * the terminal itself: the first upload was paid and stands, but the
 * terminal's own upload is no silent replay: reason ECONFLICT and a
 * charge_mismatch case, nothing more moves; sent again, the same case. */
static void test_same_terminal_other_charge_opens_a_case(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n, n_cases = 9;
    offpay_settle_result a, b, c;
    offpay_case_info    *cases = NULL;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n = make_code(&w, 1, CENTS(30), T0 + 10, 0, code);
    a = settle(&w, 0, code, n, CENTS(30), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && a.paid == CENTS(30));
    b = settle(&w, 0, code, n, 1250, T0 + 20, T0 + 7200);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.replay == 1 &&
          b.reason == OFFPAY_ECONFLICT && b.paid == CENTS(30) &&
          b.presentment == a.presentment && b.case_id != 0);
    c = settle(&w, 0, code, n, 1250, T0 + 20, T0 + 9000);
    CHECK(c.replay == 1 && c.reason == OFFPAY_ECONFLICT &&
          c.case_id == b.case_id);
    REQUIRE_OK(offpay_ledger_cases(w.l, NULL, 10, &cases, &n_cases));
    CHECK(n_cases == 1 && cases[0].kind == OFFPAY_CASE_CHARGE_MISMATCH &&
          cases[0].id == b.case_id && cases[0].presentment == a.presentment);
    free(cases);
    CHECK(!revoked(&w)); /* the terminal's doing, not the payer's */
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(30));
    CHECK(escrow(&w) == CENTS(20));
    CHECK(balance(&w, w.wallet_acct) == CENTS(50));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_duplicate_presentment_pays_opens_case_and_revokes(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result a, b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    a = settle(&w, 0, code, n, CENTS(15), T0 + 20, T0 + 3600);
    b = settle(&w, 1, code, n, CENTS(15), T0 + 40, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_DUPLICATE);
    CHECK(b.paid == CENTS(15) && b.covered == 0 && b.case_id != 0);
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(15));
    CHECK(escrow(&w) == CENTS(20));
    CHECK(revoked(&w)); /* one duplicate case revokes (the default) */
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* One unbound code presented again by a terminal of the merchant that
 * was paid for it (a gate that did not open, the same code shown at the
 * next): paid at most what remains of the code's authorized amount, the
 * rest unpaid EDUPLICATE_MERCHANT, no case, nothing revoked, the guarantee
 * not drawn on; so the payer's next code finds its escrow whole (no
 * overspend case against an honest payer). Another merchant's terminal
 * (a photographed code) is a duplicate as before: from the escrow, then
 * the guarantee, a case (settlement.md §4, §5). */
static void test_duplicate_at_the_same_merchant_not_paid_again(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n, n2;
    offpay_terminal_cred tc;
    offpay_settle_item   it;
    offpay_settle_result a, b, e, d;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 300 * DAY, T0, &tc));
    /* a code of 20.00 charged 15.00, then 15.00 again at the next gate */
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    a = settle(&w, 0, code, n, CENTS(15), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    it = (offpay_settle_item){code, n, CENTS(15), T0 + 30, 1};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 3600, &b));
    CHECK(b.outcome == OFFPAY_SETTLE_DUPLICATE &&
          b.reason == OFFPAY_EDUPLICATE_MERCHANT && b.paid == CENTS(5) &&
          b.covered == 0 && b.case_id == 0);
    CHECK(!revoked(&w));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(20));
    CHECK(escrow(&w) == CENTS(30));
    /* the payer's next code: the escrow pays it, no case */
    n2 = make_code(&w, 2, CENTS(30), T0 + 40, 0, c2);
    e = settle(&w, 0, c2, n2, CENTS(30), T0 + 50, T0 + 3600);
    CHECK(e.outcome == OFFPAY_SETTLE_SETTLED && e.case_id == 0);
    CHECK(!revoked(&w));
    /* the first code at another merchant: a duplicate, the escrow empty,
     * covered by the guarantee, a case */
    d = settle(&w, 1, code, n, CENTS(15), T0 + 60, T0 + 3600);
    CHECK(d.outcome == OFFPAY_SETTLE_DUPLICATE && d.reason == OFFPAY_OK &&
          d.covered == CENTS(15) && d.case_id != 0);
    CHECK(balance(&w, w.guarantee) == CENTS(985));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_double_spend_keeps_evidence_revokes_and_pays_terminal(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_result a, b, c;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    /* a cloned wallet: the same key and counter, other bytes */
    n1 = make_code(&w, 7, CENTS(30), T0 + 10, 0, c1);
    n2 = make_code(&w, 7, CENTS(30), T0 + 11, 0, c2);
    a = settle(&w, 0, c1, n1, CENTS(30), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(!revoked(&w));
    b = settle(&w, 1, c2, n2, CENTS(30), T0 + 21, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_DOUBLE_SPEND);
    CHECK(b.case_id != 0);
    CHECK(revoked(&w));
    /* the escrow had 20 left: 10 came from the guarantee */
    CHECK(b.paid == CENTS(30) && b.covered == CENTS(10));
    CHECK(balance(&w, w.guarantee) == CENTS(990));
    CHECK(escrow(&w) == 0);
    /* the second upload of the clone's code is its own exact replay */
    c = settle(&w, 1, c2, n2, CENTS(30), T0 + 21, T0 + 3700);
    CHECK(c.replay == 1 && c.outcome == OFFPAY_SETTLE_DOUBLE_SPEND);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The last line offpay_set_log's sink was given. */
static void keep_line(void *ctx, const char *line)
{
    snprintf(ctx, 512, "%s", line);
}

/* A guarantee that holds less than an overspend owes: covered as far as
 * it holds, the rest unpaid (EFUNDS), and the log tells the operator. */
static void test_overspend_beyond_the_guarantee_is_logged(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    char                 said[512] = "";
    offpay_settle_result b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.guarantee, CENTS(995), "payout",
                                      T0, NULL));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(40), T0 + 30, 0, c2);
    (void)settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    offpay_set_log(keep_line, said);
    b = settle(&w, 1, c2, n2, CENTS(40), T0 + 40, T0 + 3600);
    offpay_set_log(offpay_log_stderr, NULL);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_EFUNDS);
    CHECK(b.paid == CENTS(15) && b.covered == CENTS(5));
    CHECK(strstr(said, "the guarantee of EUR holds 5.00 EUR") != NULL &&
          strstr(said, "owed 30.00 EUR under the guarantee, is covered 5.00 "
                       "EUR (EFUNDS): the 25.00 EUR left is a claim") != NULL);
    CHECK(balance(&w, w.guarantee) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* What the guarantee cannot cover is a claim on it (settlement.md §5):
 * recorded (the audit's owed), paid right after a deposit into the
 * guarantee, oldest first and as far as the deposit goes, and never
 * twice (a later deposit and the release job's runs pay only what is
 * still owed; the audit checks every claim transfer against it). */
static void test_claims_on_the_guarantee_paid_once_oldest_first(void)
{
    world                w;
    uint8_t              c[3][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[3], released;
    offpay_settle_result a, b, d, again;
    offpay_audit_report  r;
    char                 said[512] = "";

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.guarantee, CENTS(1000), "payout",
                                      T0, NULL));
    n[0] = make_code(&w, 1, CENTS(30), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(30), T0 + 30, 0, c[1]);
    n[2] = make_code(&w, 3, CENTS(15), T0 + 50, 0, c[2]);
    a = settle(&w, 0, c[0], n[0], CENTS(30), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    /* a clone's overspend at merchant 1: 20 from the escrow, 10 owed */
    offpay_set_log(keep_line, said);
    b = settle(&w, 1, c[1], n[1], CENTS(30), T0 + 40, T0 + 3600);
    offpay_set_log(offpay_log_stderr, NULL);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_EFUNDS &&
          b.paid == CENTS(20) && b.covered == 0);
    CHECK(strstr(said,
                 "the 10.00 EUR left is a claim on the guarantee, paid to "
                 "the merchant once the guarantee is funded") != NULL);
    /* then at merchant 0: 15 owed */
    d = settle(&w, 0, c[2], n[2], CENTS(15), T0 + 60, T0 + 3600);
    CHECK(d.outcome == OFFPAY_SETTLE_UNPAID && d.reason == OFFPAY_EFUNDS &&
          d.paid == 0);
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.n_money == 1 && r.money[0].owed == CENTS(25));
    CHECK(audit_ok(&w));

    /* a deposit of 15 pays the oldest claim (10) in full, 5 of the next */
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.guarantee, CENTS(15), "fund",
                                     T0 + 3700, NULL));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(30));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(35));
    CHECK(balance(&w, w.guarantee) == 0);
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.money[0].owed == CENTS(10));
    CHECK(audit_ok(&w));

    /* the terminal's upload again replays the stored result */
    again = settle(&w, 1, c[1], n[1], CENTS(30), T0 + 40, T0 + 3800);
    CHECK(again.replay == 1 && again.outcome == OFFPAY_SETTLE_UNPAID &&
          again.reason == OFFPAY_EFUNDS && again.paid == CENTS(20));

    /* the next deposit pays the rest once; the release job's runs, and a
     * third deposit, pay nothing more */
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.guarantee, CENTS(100), "fund",
                                     T0 + 3900, NULL));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(45));
    CHECK(balance(&w, w.guarantee) == CENTS(90));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 4000, &released));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 4100, &released));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.guarantee, CENTS(5), "fund",
                                     T0 + 4200, NULL));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(45));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(30));
    CHECK(balance(&w, w.guarantee) == CENTS(95));
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.money[0].owed == 0);
    CHECK(audit_ok(&w));

    /* what the claim paid merchant 1 later is its to give back too (since
     * 0.23.0): b is refundable whole, 20 + 10, the guarantee's 25 (both
     * claims) back to it first, the rest to the payer; not a cent more */
    {
        offpay_refund rf;

        REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(30), 0, NULL,
                                        NULL, T0 + 4300, &rf, NULL));
        CHECK(rf.paid == CENTS(30) && rf.refunded == CENTS(30));
        CHECK(rf.to_guarantee == CENTS(25) && rf.to_wallet == CENTS(5));
        CHECK_ERR(offpay_ledger_refund(w.l, b.presentment, 1, 0, NULL, NULL,
                                       T0 + 4300, &rf, NULL),
                  OFFPAY_EOVER_REFUND);
        CHECK(balance(&w, w.merchant_acct[1]) == 0);
        CHECK(balance(&w, w.guarantee) == CENTS(120));
        CHECK(audit_ok(&w));
    }
    drop_world(&w);
}

/* Money a refund gives back to the guarantee pays its claims at once,
 * oldest first, as a deposit does (settlement.md §5). */
static void test_refund_into_the_guarantee_pays_its_claims(void)
{
    world                w;
    uint8_t              c[3][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[3];
    offpay_settle_result a, b, d;
    offpay_refund        rf;
    offpay_audit_report  r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.guarantee, CENTS(995), "payout",
                                      T0, NULL));
    n[0] = make_code(&w, 1, CENTS(30), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(30), T0 + 30, 0, c[1]);
    n[2] = make_code(&w, 3, CENTS(15), T0 + 50, 0, c[2]);
    a = settle(&w, 0, c[0], n[0], CENTS(30), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    /* 20 from the escrow, 5 covered (all the guarantee holds), 5 owed */
    b = settle(&w, 1, c[1], n[1], CENTS(30), T0 + 40, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_EFUNDS &&
          b.covered == CENTS(5));
    d = settle(&w, 0, c[2], n[2], CENTS(15), T0 + 60, T0 + 3600);
    CHECK(d.outcome == OFFPAY_SETTLE_UNPAID && d.reason == OFFPAY_EFUNDS);
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.money[0].owed == CENTS(20));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(25));
    /* a refund of 5 of b: its cover back to the guarantee, which pays the
     * oldest claim (b's own 5) to merchant 1 at once */
    REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(5), 0, NULL, NULL,
                                    T0 + 3700, &rf, NULL));
    CHECK(rf.to_guarantee == CENTS(5));
    CHECK(balance(&w, w.guarantee) == 0);
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(25));
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.money[0].owed == CENTS(15));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A terminal whose key was rotated (POST /v1/terminal/rotate, which the
 * terminal asks for itself) is the same device: the guarantee's
 * cumulative rule sums a credential's charges over the old and the new
 * terminal, whichever uploads first (settlement.md §5). Else a merchant
 * rotating after each payment of a copied wallet would draw on the
 * guarantee without bound. */
static void test_cumulative_rule_follows_a_rotated_terminal(void)
{
    for (int first_new = 0; first_new < 2; first_new++) {
        world                w;
        uint8_t              c[2][OFFPAY_PAYMENT_BOUND_BYTES];
        uint8_t              tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
        size_t               n[2], tlen;
        offpay_keypair       k;
        offpay_terminal_cred tc;
        offpay_settle_item   it;
        offpay_settle_result a, b;
        uint32_t             old;

        REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
        old = w.terminal[0];
        /* a at the old terminal before the rotation, b at the new one */
        n[0] = make_code(&w, 1, CENTS(40), T0 + 10, 0, c[0]);
        n[1] = make_code(&w, 2, CENTS(40), T0 + 300, 0, c[1]);
        REQUIRE_OK(offpay_keypair_generate(&k));
        REQUIRE_OK(offpay_ledger_terminal_rotate(w.l, old, k.pk, T0 + 300 * DAY,
                                                 T0 + 100, tbytes, &tlen, &tc,
                                                 NULL));
        offpay_keypair_wipe(&k);
        it = (offpay_settle_item){c[1], n[1], CENTS(40), T0 + 310, 1};
        if (first_new) { /* the new terminal uploads first */
            REQUIRE_OK(
                offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 3600, &b));
            a = settle(&w, 0, c[0], n[0], CENTS(40), T0 + 20, T0 + 3700);
            CHECK(b.outcome == OFFPAY_SETTLE_SETTLED);
            CHECK(a.outcome == OFFPAY_SETTLE_UNPAID &&
                  a.reason == OFFPAY_EOVER_CUMULATIVE && a.paid == CENTS(10) &&
                  a.covered == 0);
        } else {
            a = settle(&w, 0, c[0], n[0], CENTS(40), T0 + 20, T0 + 3600);
            REQUIRE_OK(
                offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 3700, &b));
            CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
            CHECK(b.outcome == OFFPAY_SETTLE_UNPAID &&
                  b.reason == OFFPAY_EOVER_CUMULATIVE && b.paid == CENTS(10) &&
                  b.covered == 0);
        }
        CHECK(balance(&w, w.guarantee) == CENTS(1000));
        CHECK(audit_ok(&w));
        drop_world(&w);
    }
}

/* Rotates terminal from to a new key at now (as POST /v1/terminal/rotate,
 * which records it as carrying from's sums); *to is the new terminal. */
static offpay_err rotate(world *w, uint32_t from, uint32_t now, uint32_t *to)
{
    uint8_t              tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               tlen;
    offpay_keypair       k;
    offpay_terminal_cred tc;
    offpay_err           rc = offpay_keypair_generate(&k);

    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_rotate(w->l, from, k.pk, T0 + 300 * DAY,
                                           now, tbytes, &tlen, &tc, NULL);
    offpay_keypair_wipe(&k);
    *to = rc == OFFPAY_OK ? tc.terminal_id : 0;
    return rc;
}

/* The item settled by terminal (an id, not w's index). */
static offpay_settle_result settle_at(world *w, uint32_t terminal,
                                      const uint8_t *code, size_t len,
                                      int64_t charged, uint32_t accepted_at,
                                      uint32_t now)
{
    offpay_settle_item   it = {code, len, charged, accepted_at, 1};
    offpay_settle_result r;

    memset(&r, 0xee, sizeof r);
    if (offpay_ledger_settle(w->l, terminal, &it, now, &r) != OFFPAY_OK)
        r.outcome = (offpay_settle_outcome)-1;
    return r;
}

/* A rotation made before 0.16.0 carried nothing into the new terminal,
 * which started its sums again and accepted what the old one refused:
 * 018_terminal_sums_carried leaves it sums_carried = 0, and the guarantee
 * counts such a link per terminal, as 0.15.0 did (settlement.md §5). A
 * credential of 100.00: g1 charged 50.00 and 30.00, then rotated to g1b,
 * where a copy's 30.00 is accepted. With the rotation's sums carried (1,
 * every rotation offpayd makes now) the later of g1's 30.00 and g1b's
 * 30.00 to settle is over the device's cumulative rule (EOVER_CUMULATIVE,
 * 20.00 from the escrow); with 0 (set here as the migration leaves an
 * older rotation) it is covered, 10.00 by the guarantee, whichever
 * terminal uploads first. Then g1b -> g1c by this version: the lineage
 * from g1c sums g1b's and g1c's charges (what g1c carries), not g1's. */
static void test_cumulative_rule_per_terminal_before_sums_carried(void)
{
    for (int carried = 0; carried < 2; carried++)
        for (int first_new = 0; first_new < 2; first_new++) {
            world                w;
            uint8_t              c[5][OFFPAY_PAYMENT_BOUND_BYTES];
            size_t               n[5];
            offpay_settle_result a, b, d, e, late;
            uint32_t             g1, g1b, g1c;
            char                 sql[128];

            REQUIRE_OK(make_world(&w, CENTS(100), CENTS(100)));
            g1 = w.terminal[0];
            n[0] = make_code(&w, 1, CENTS(50), T0 + 10, 0, c[0]);
            n[1] = make_code(&w, 2, CENTS(30), T0 + 20, 0, c[1]);
            n[2] = make_code(&w, 3, CENTS(30), T0 + 300, 0, c[2]);
            REQUIRE_OK(rotate(&w, g1, T0 + 100, &g1b));
            if (!carried) {
                snprintf(sql, sizeof sql,
                         "UPDATE terminals SET sums_carried = 0 WHERE id = %u",
                         (unsigned)g1);
                REQUIRE(run_sql(w.path, sql));
            }
            a = settle_at(&w, g1, c[0], n[0], CENTS(50), T0 + 15, T0 + 3600);
            CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
            if (first_new) { /* g1b uploads before g1's 30.00 */
                d = settle_at(&w, g1b, c[2], n[2], CENTS(30), T0 + 310,
                              T0 + 3600);
                b = settle_at(&w, g1, c[1], n[1], CENTS(30), T0 + 25,
                              T0 + 3700);
                CHECK(d.outcome == OFFPAY_SETTLE_SETTLED);
                late = b;
            } else {
                b = settle_at(&w, g1, c[1], n[1], CENTS(30), T0 + 25,
                              T0 + 3600);
                d = settle_at(&w, g1b, c[2], n[2], CENTS(30), T0 + 310,
                              T0 + 3700);
                CHECK(b.outcome == OFFPAY_SETTLE_SETTLED);
                late = d;
            }
            if (carried)
                CHECK(late.outcome == OFFPAY_SETTLE_UNPAID &&
                      late.reason == OFFPAY_EOVER_CUMULATIVE &&
                      late.paid == CENTS(20) && late.covered == 0);
            else
                CHECK(late.outcome == OFFPAY_SETTLE_GUARANTEED &&
                      late.paid == CENTS(30) && late.covered == CENTS(10));
            CHECK(balance(&w, w.guarantee) ==
                  (carried ? CENTS(1000) : CENTS(990)));
            if (!carried) {
                /* g1b -> g1c carried g1b's 30.00, not g1's 80.00: 50.00 at
                 * g1c is covered (g1b + g1c 80.00), 25.00 more is not
                 * (105.00), though g1c alone holds 75.00 */
                REQUIRE_OK(rotate(&w, g1b, T0 + 500, &g1c));
                n[3] = make_code(&w, 4, CENTS(50), T0 + 600, 0, c[3]);
                n[4] = make_code(&w, 5, CENTS(25), T0 + 620, 0, c[4]);
                e = settle_at(&w, g1c, c[3], n[3], CENTS(50), T0 + 610,
                              T0 + 3800);
                CHECK(e.outcome == OFFPAY_SETTLE_GUARANTEED &&
                      e.paid == CENTS(50) && e.covered == CENTS(50));
                e = settle_at(&w, g1c, c[4], n[4], CENTS(25), T0 + 630,
                              T0 + 3800);
                CHECK(e.outcome == OFFPAY_SETTLE_UNPAID &&
                      e.reason == OFFPAY_EOVER_CUMULATIVE && e.paid == 0 &&
                      e.covered == 0);
            }
            CHECK(audit_ok(&w));
            drop_world(&w);
        }
}

/* A world whose credential of 50.00 is charged 40.00 at terminal 0 (a,
 * from its escrow) and 40.00 at terminal 1 (b: 10.00 left in the escrow,
 * 30.00 under the guarantee). */
static offpay_err overspent_world(world *w, offpay_settle_result *a,
                                  offpay_settle_result *b)
{
    uint8_t    c1[OFFPAY_PAYMENT_BOUND_BYTES], c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t     n1, n2;
    offpay_err rc = make_world(w, CENTS(100), CENTS(50));

    if (rc != OFFPAY_OK)
        return rc;
    n1 = make_code(w, 1, CENTS(40), T0 + 10, 0, c1);
    n2 = make_code(w, 2, CENTS(40), T0 + 30, 0, c2);
    *a = settle(w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    *b = settle(w, 1, c2, n2, CENTS(40), T0 + 40, T0 + 3600);
    return OFFPAY_OK;
}

static void test_overspend_paid_from_guarantee_when_rules_followed(void)
{
    world                w;
    offpay_settle_result a, b;

    REQUIRE_OK(overspent_world(&w, &a, &b));
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_GUARANTEED);
    CHECK(b.paid == CENTS(40) && b.covered == CENTS(30) && b.case_id != 0);
    CHECK(revoked(&w));
    {
        /* where the escrow's money went, from its transfers */
        offpay_ledger_cred_info ci;

        REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
        CHECK(ci.funded == CENTS(50) && ci.late == 0 &&
              ci.covered == CENTS(30) && ci.paid == CENTS(80) &&
              ci.released_amount == 0 && ci.remaining == 0);
    }
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(40));
    CHECK(balance(&w, w.guarantee) == CENTS(970));
    CHECK(escrow(&w) == 0);
    CHECK(audit_ok(&w));
    /* the stored covered part, which statements and the overview read, is
     * checked against the cover transfers */
    {
        char sql[128];

        snprintf(sql, sizeof sql,
                 "UPDATE presentments SET covered = covered - 1 WHERE id = "
                 "%llu",
                 (unsigned long long)b.presentment);
        REQUIRE(run_sql(w.path, sql));
        CHECK(!audit_ok(&w)); /* covered 29.99, cover transfer 30.00 */
        snprintf(sql, sizeof sql,
                 "UPDATE presentments SET covered = covered + 1 WHERE id = "
                 "%llu",
                 (unsigned long long)b.presentment);
        REQUIRE(run_sql(w.path, sql));
        REQUIRE(audit_ok(&w));
        snprintf(sql, sizeof sql,
                 "UPDATE presentments SET covered = 5 WHERE id = %llu",
                 (unsigned long long)a.presentment);
        REQUIRE(run_sql(w.path, sql));
        CHECK(!audit_ok(&w)); /* covered with no cover transfer */
        snprintf(sql, sizeof sql,
                 "UPDATE presentments SET covered = 0 WHERE id = %llu",
                 (unsigned long long)a.presentment);
        REQUIRE(run_sql(w.path, sql));
    }
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A copied wallet: once an overspend case is opened against one of its
 * key's credentials, the key gets no new credential, neither its own
 * allowance nor the operator's issue (EWALLET_CASE, nothing moved), and
 * offpay_ledger_wallet_cases names the case; a keyed issue made before
 * replays; a new key gets one (docs/settlement.md §12). */
static void test_copied_wallets_key_gets_no_new_credential(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              bytes[OFFPAY_WALLET_CRED_BYTES];
    char                 code[OFFPAY_ENROLL_CODE_CHARS + 1];
    size_t               n1, n2, n = 0;
    uint64_t             ids[4], own = 0;
    offpay_wallet_cred   wc, keyed;
    offpay_keypair       fresh;
    offpay_settle_result b;
    int                  replayed = -1;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(20)));
    /* the wallet enrolls too: its allowances come from its own account */
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &own, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, own, CENTS(50), "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_issue_once(w.l, "op-1", w.wallet_acct, w.wallet.pk,
                                        CENTS(5), 1, T0 + DAY, T0, bytes,
                                        &keyed, NULL));
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, w.wallet.pk, ids, 4, &n));
    CHECK(n == 0);
    /* the original and its copy each pay 15.00 of the 20.00 */
    n1 = make_code(&w, 1, CENTS(15), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(15), T0 + 30, 0, c2);
    (void)settle(&w, 0, c1, n1, CENTS(15), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c2, n2, CENTS(15), T0 + 40, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.case_id != 0);
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, w.wallet.pk, ids, 4, &n));
    CHECK(n == 1 && ids[0] == b.case_id);
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, CENTS(30), 0, T0 + DAY,
                                      T0 + 3700, bytes, &wc),
              OFFPAY_EWALLET_CASE);
    CHECK(balance(&w, own) == CENTS(50));
    CHECK_ERR(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(30), 0,
                                  T0 + DAY, T0 + 3700, bytes, &wc),
              OFFPAY_EWALLET_CASE);
    CHECK_ERR(offpay_ledger_issue_once(w.l, "op-2", own, w.wallet.pk, CENTS(30),
                                       0, T0 + DAY, T0 + 3700, bytes, &wc,
                                       NULL),
              OFFPAY_EWALLET_CASE);
    CHECK(balance(&w, own) == CENTS(50));
    /* the operator's keyed issue from before the case replays */
    CHECK_ERR(offpay_ledger_issue_once(w.l, "op-1", w.wallet_acct, w.wallet.pk,
                                       CENTS(5), 1, T0 + DAY, T0 + 3700, bytes,
                                       &wc, &replayed),
              OFFPAY_OK);
    CHECK(replayed == 1 && wc.serial == keyed.serial);
    /* a new key (the payer's next wallet) gets one */
    REQUIRE_OK(offpay_keypair_generate(&fresh));
    CHECK_ERR(offpay_ledger_issue(w.l, own, fresh.pk, CENTS(30), 0, T0 + DAY,
                                  T0 + 3700, bytes, &wc),
              OFFPAY_OK);
    offpay_keypair_wipe(&fresh);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A key's double spend (a clone's code of the same counter) on
 * credential c, by key: its case id. */
static uint64_t double_spend_on(world *w, const offpay_wallet_cred *c,
                                const offpay_keypair *key, uint32_t at)
{
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    offpay_keypair       own = w->wallet;
    size_t               n1, n2;
    offpay_settle_result b;

    w->cred = *c;
    w->wallet = *key;
    n1 = make_code(w, 1, 50, at, 0, c1);
    n2 = make_code(w, 1, 50, at + 1, 0, c2);
    w->wallet = own;
    (void)settle(w, 0, c1, n1, 50, at + 2, at + 60);
    b = settle(w, 1, c2, n2, 50, at + 3, at + 60);
    return b.outcome == OFFPAY_SETTLE_DOUBLE_SPEND ? b.case_id : 0;
}

/* A key's cases (offpay_ledger_wallet_cases, and the gate of its issues
 * and allowances) among many credentials, more revoked than one page of
 * the key's revoked serials (store.h's key_revoked): none while it has
 * only revoked credentials without a case; then its two cases, one on
 * the first page and one past it, in serial order, and not another key's
 * (a revoked credential with a double spend of its own). */
static void test_key_cases_among_many_revoked_credentials(void)
{
    enum { CREDS = 70 };
    world              w;
    offpay_wallet_cred creds[CREDS], other_cred, wc;
    offpay_keypair     other;
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    char               code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint64_t           ids[4], own = 0, early, late, others;
    size_t             n = 9;

    REQUIRE_OK(make_world(&w, CENTS(1000), CENTS(10)));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &own, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, own, CENTS(50), "top-up", T0, NULL));
    for (int i = 0; i < CREDS; i++) {
        REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk,
                                       CENTS(1), OFFPAY_CRED_ALLOW_UNBOUND,
                                       T0 + DAY, T0, bytes, &creds[i]));
        if (i % 2 == 0) /* 35 revoked, without a case */
            REQUIRE_OK(
                offpay_ledger_revoke(w.l, creds[i].serial, "lost", T0 + 1));
    }
    REQUIRE_OK(offpay_keypair_generate(&other));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, other.pk, CENTS(1),
                                   OFFPAY_CRED_ALLOW_UNBOUND, T0 + DAY, T0,
                                   bytes, &other_cred));
    others = double_spend_on(&w, &other_cred, &other, T0 + 10);
    REQUIRE(others != 0);
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, w.wallet.pk, ids, 4, &n));
    CHECK(n == 0);
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, CENTS(1), 0, T0 + DAY,
                                       T0 + 100, bytes, &wc));
    /* the 35 revoked without a case come first: the second case is
     * past the first page */
    late = double_spend_on(&w, &creds[CREDS - 1], &w.wallet, T0 + 200);
    early = double_spend_on(&w, &creds[3], &w.wallet, T0 + 300);
    REQUIRE(late != 0 && early != 0);
    n = 9;
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, w.wallet.pk, ids, 4, &n));
    CHECK(n == 2 && ids[0] == early && ids[1] == late);
    n = 9;
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, w.wallet.pk, ids, 1, &n));
    CHECK(n == 1 && ids[0] == early);
    n = 9;
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, other.pk, ids, 4, &n));
    CHECK(n == 1 && ids[0] == others);
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, CENTS(1), 0, T0 + DAY,
                                      T0 + 400, bytes, &wc),
              OFFPAY_EWALLET_CASE);
    CHECK_ERR(offpay_ledger_issue(w.l, own, w.wallet.pk, CENTS(1), 0, T0 + DAY,
                                  T0 + 400, bytes, &wc),
              OFFPAY_EWALLET_CASE);
    offpay_keypair_wipe(&other);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The sum of account's whole history (offpay_ledger_transfers), or
 * INT64_MIN; *n_out (may be NULL) its length. Read a page of 2 at a time,
 * so the paging is checked too. */
static int64_t history_sum(world *w, uint64_t account, size_t *n_out)
{
    offpay_account_transfer *v = NULL;
    uint64_t                 after = 0, last = 0;
    int64_t                  sum = 0;
    size_t                   n = 0, total = 0;

    do {
        if (offpay_ledger_transfers(w->l, account, after, 2, &v, &n, NULL) !=
            OFFPAY_OK)
            return INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            if (v[i].id <= last || v[i].amount == 0 || v[i].other == 0 ||
                v[i].other == account)
                sum = INT64_MIN / 2; /* out of order, or not its side */
            last = v[i].id;
            sum += v[i].amount;
        }
        total += n;
        if (n > 0)
            after = v[n - 1].id;
        free(v);
        v = NULL;
    } while (n == 2);
    if (n_out != NULL)
        *n_out = total;
    return sum;
}

/* Every account's history recomputes its balance: the wallet's (deposit,
 * then its credential's allowance out to the escrow, which the fund
 * transfer names), the escrow's, each merchant's (a settle from the
 * escrow; a cover from the guarantee naming the presentment and case),
 * the guarantee's, and the world's; pages of 2 give the same as one page;
 * an unknown account and bad bounds are refused. */
static void test_transfers_recompute_each_balance(void)
{
    world                    w;
    uint8_t                  c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                  c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                   n1, n2, n;
    offpay_settle_result     a, b;
    offpay_account_transfer *v = NULL;
    uint64_t                 escrow_acct = 0, world_acct = 0;
    offpay_account_state     st;
    int                      saw_cover = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(40), T0 + 30, 0, c2);
    a = settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c2, n2, CENTS(40), T0 + 40, T0 + 3600);
    REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED &&
            b.outcome == OFFPAY_SETTLE_GUARANTEED && b.covered == CENTS(30));

    /* the wallet: a deposit from the world, the allowance to the escrow */
    REQUIRE_OK(offpay_ledger_transfers(w.l, w.wallet_acct, 0,
                                       OFFPAY_LEDGER_TRANSFERS_MAX, &v, &n,
                                       &st));
    CHECK(st.balance == balance(&w, w.wallet_acct) &&
          st.balance == CENTS(50) && st.kind == OFFPAY_ACCOUNT_WALLET &&
          st.currency == EUR);
    REQUIRE(n == 2);
    CHECK(strcmp(v[0].kind, "deposit") == 0 && v[0].amount == CENTS(100) &&
          v[0].other_kind == OFFPAY_ACCOUNT_WORLD);
    CHECK(strcmp(v[1].kind, "fund") == 0 && v[1].amount == -CENTS(50) &&
          v[1].other_kind == OFFPAY_ACCOUNT_ESCROW && v[1].id > v[0].id);
    world_acct = v[0].other;
    escrow_acct = v[1].other;
    free(v);
    v = NULL;
    CHECK(history_sum(&w, w.wallet_acct, &n) == balance(&w, w.wallet_acct) &&
          n == 2);
    CHECK(history_sum(&w, escrow_acct, &n) == escrow(&w) && escrow(&w) == 0 &&
          n == 4); /* fund, settle 40, cover 30, settle 40 */
    CHECK(history_sum(&w, w.merchant_acct[0], &n) == CENTS(40) && n == 1);
    CHECK(history_sum(&w, w.merchant_acct[1], &n) == CENTS(40) && n == 1);
    CHECK(history_sum(&w, w.guarantee, NULL) == balance(&w, w.guarantee) &&
          balance(&w, w.guarantee) == CENTS(970));
    CHECK(history_sum(&w, world_acct, NULL) == balance(&w, world_acct));
    /* the cover, seen from the escrow: from the guarantee, for b */
    REQUIRE_OK(offpay_ledger_transfers(w.l, escrow_acct, 0, 100, &v, &n,
                                       &st));
    CHECK(st.balance == 0 && st.kind == OFFPAY_ACCOUNT_ESCROW);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].kind, "cover") == 0)
            saw_cover = v[i].amount == CENTS(30) &&
                        v[i].other == w.guarantee &&
                        v[i].other_kind == OFFPAY_ACCOUNT_GUARANTEE &&
                        v[i].presentment == b.presentment &&
                        v[i].case_id == b.case_id;
    CHECK(saw_cover);
    free(v);
    v = NULL;
    /* after the last one: nothing */
    CHECK_ERR(offpay_ledger_transfers(w.l, w.wallet_acct, UINT64_MAX / 2, 10,
                                      &v, &n, &st),
              OFFPAY_OK);
    CHECK(st.balance == CENTS(50)); /* even with no transfer listed */
    CHECK(n == 0 && v == NULL);
    CHECK_ERR(offpay_ledger_transfers(w.l, 999999, 0, 10, &v, &n, NULL),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_transfers(w.l, w.wallet_acct, 0, 0, &v, &n, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_transfers(w.l, w.wallet_acct, 0,
                                      OFFPAY_LEDGER_TRANSFERS_MAX + 1, &v, &n,
                                      NULL),
              OFFPAY_EINVAL);
    /* a period: from after to is refused at the API's edge; an empty one
     * lists nothing and still gives the balance */
    CHECK_ERR(offpay_ledger_transfers_period(w.l, w.wallet_acct, T0 + 1, T0, 0,
                                             10, &v, &n, NULL),
              OFFPAY_EINVAL);
    CHECK(n == 0 && v == NULL);
    CHECK_ERR(offpay_ledger_transfers_period(w.l, w.wallet_acct, 0, 1, 0, 10,
                                             &v, &n, &st),
              OFFPAY_OK);
    CHECK(n == 0 && v == NULL && st.balance == CENTS(50));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_overspend_beyond_rules_is_unpaid_with_the_rule_named(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_result b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(40), T0 + 30, 0, c2);
    (void)settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    /* accepted an hour after the code was made: beyond the code age */
    b = settle(&w, 1, c2, n2, CENTS(40), T0 + 30 + 3600, T0 + 7200);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID);
    CHECK(b.reason == OFFPAY_ECODE_TOO_OLD);
    CHECK(b.paid == CENTS(10) && b.covered == 0);
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Unbound codes have the shorter age (60 s), bound ones 300 s: the same
 * two minutes between code and acceptance is guaranteed only when bound. */
static void test_guarantee_code_age_is_shorter_for_unbound_codes(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c3[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2, n3;
    offpay_settle_result a, b, c;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(50), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(10), T0 + 100, 0, c2);
    n3 = make_code(&w, 3, CENTS(10), T0 + 100, w.merchant[1], c3);
    a = settle(&w, 0, c1, n1, CENTS(50), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED); /* the escrow is empty now */
    b = settle(&w, 1, c2, n2, CENTS(10), T0 + 220, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID &&
          b.reason == OFFPAY_ECODE_TOO_OLD);
    c = settle(&w, 1, c3, n3, CENTS(10), T0 + 220, T0 + 3600);
    CHECK(c.outcome == OFFPAY_SETTLE_GUARANTEED && c.covered == CENTS(10));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The engine remembers credentials it verified; a credential with any
 * other byte (here its issuer signature) is verified again and refused,
 * even though the wallet signed the code properly. */
static void test_cached_credential_needs_every_byte(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n = make_code(&w, 1, CENTS(5), T0 + 10, 0, code);
    r = settle(&w, 0, code, n, CENTS(5), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    w.cred.sig[0] ^= 1;
    n = make_code(&w, 2, CENTS(5), T0 + 10, 0, code);
    w.cred.sig[0] ^= 1;
    r = settle(&w, 0, code, n, CENTS(5), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED && r.reason == OFFPAY_ECRED_SIG);
    /* and the genuine credential still settles from the cache */
    n = make_code(&w, 3, CENTS(5), T0 + 10, 0, code);
    r = settle(&w, 0, code, n, CENTS(5), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* offpay_ledger_refusals' callback: how many, and the last. */
struct refusals_seen {
    size_t         n;
    offpay_refusal last;
};

static int refusal_seen(const offpay_refusal *f, void *ctx)
{
    struct refusals_seen *s = ctx;

    s->n++;
    s->last = *f;
    return 0;
}

/* A credential the issuer signed elsewhere (the offline `offpay issuer
 * wallet-credential`) under a serial the ledger gave another wallet: its
 * payments are not the ledger's credential's, and must not touch its
 * escrow. Also a copy of the genuine one with only its start changed. */
/* w's credential, signed again by the issuer as it now reads, pays 7.00:
 * refused ENOT_ISSUED, the escrow untouched. */
static void refused_as_not_issued(world *w)
{
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;
    struct refusals_seen before = {0, {0}}, seen = {0, {0}};

    REQUIRE_OK(offpay_ledger_refusals(w->l, w->merchant[0], 0, UINT32_MAX,
                                      refusal_seen, &before));
    REQUIRE_OK(offpay_issuer_sign_wallet_cred(w->issuer.sk, &w->cred));
    n = make_code(w, 1, CENTS(7), T0 + 10, 0, code);
    r = settle(w, 0, code, n, CENTS(7), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_ENOT_ISSUED);
    CHECK(escrow(w) == CENTS(50));
    CHECK(balance(w, w->merchant_acct[0]) == 0);
    /* kept as the merchant's refusal (since 0.28.0), once however often
     * the terminal sends it: its terminal took 7.00 nothing pays */
    r = settle(w, 0, code, n, CENTS(7), T0 + 20, T0 + 3601);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_ENOT_ISSUED);
    REQUIRE_OK(offpay_ledger_refusals(w->l, w->merchant[0], 0, UINT32_MAX,
                                      refusal_seen, &seen));
    CHECK(seen.n == before.n + 1 && seen.last.reason == OFFPAY_ENOT_ISSUED &&
          seen.last.charged == CENTS(7) && seen.last.serial == w->cred.serial);
}

static void test_credential_not_issued_by_the_ledger_is_refused(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;
    offpay_keypair       genuine;
    offpay_wallet_cred   issued;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    genuine = w.wallet;
    issued = w.cred;
    REQUIRE_OK(offpay_keypair_generate(&w.wallet)); /* another customer */
    memcpy(w.cred.wallet_pk, w.wallet.pk, OFFPAY_PK_BYTES);
    refused_as_not_issued(&w);

    offpay_keypair_wipe(&w.wallet);
    w.wallet = genuine;
    w.cred = issued;
    w.cred.valid_from -= DAY;
    refused_as_not_issued(&w);

    /* the credential the ledger issued still pays */
    w.cred = issued;
    n = make_code(&w, 2, CENTS(7), T0 + 10, 0, code);
    r = settle(&w, 0, code, n, CENTS(7), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(escrow(&w) == CENTS(43));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_rejected_items_move_nothing(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;
    offpay_audit_report  before, after;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_audit(w.l, &before));
    n = make_code(&w, 1, CENTS(20), T0 + 10, w.merchant[0], code);
    /* bound to merchant A, uploaded by merchant B's terminal */
    r = settle(&w, 1, code, n, CENTS(20), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED);
    CHECK(r.reason == OFFPAY_EWRONG_MERCHANT);
    /* more than the payer authorized */
    r = settle(&w, 0, code, n, CENTS(20) + 1, T0 + 20, T0 + 3600);
    CHECK(r.reason == OFFPAY_EOVER_AUTHORIZED);
    /* accepted in the future */
    r = settle(&w, 0, code, n, CENTS(20), T0 + 9000, T0 + 3600);
    CHECK(r.reason == OFFPAY_ECODE_FUTURE);
    /* one byte changed */
    code[n - 1] ^= 1;
    r = settle(&w, 0, code, n, CENTS(20), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED && r.reason == OFFPAY_ECODE_SIG);
    /* truncated */
    r = settle(&w, 0, code, n - 5, CENTS(20), T0 + 20, T0 + 3600);
    CHECK(r.reason == OFFPAY_ETRUNCATED);
    REQUIRE_OK(offpay_ledger_audit(w.l, &after));
    CHECK(after.transfers == before.transfers);
    CHECK(escrow(&w) == CENTS(50));
    drop_world(&w);
}

static void test_release_after_grace_returns_escrow_once(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n, released = 99;
    offpay_settle_result r;
    offpay_ledger_config cfg;

    offpay_ledger_config_defaults(&cfg);
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    r = settle(&w, 0, code, n, CENTS(20), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    /* expiry T0+30d; grace 14 d */
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 40 * DAY, &released));
    CHECK(released == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(50));
    {
        /* what came back, in its currency (since 0.26.0) */
        offpay_release_report rr;

        REQUIRE_OK(offpay_ledger_release_report(w.l, T0 + 45 * DAY, &rr));
        released = rr.released;
        CHECK(rr.n_sums == 1 && rr.sums[0].currency == EUR &&
              rr.sums[0].escrows == 1 && rr.sums[0].returned == CENTS(30) &&
              !rr.more && rr.claims_paid == 0);
    }
    CHECK(released == 1);
    CHECK(balance(&w, w.wallet_acct) == CENTS(80));
    CHECK(escrow(&w) == 0);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 46 * DAY, &released));
    CHECK(released == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(80));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The release job reads what is due a page at a time (64) in the order of
 * expiry, not of serial: here expiries run against the serials, three
 * credentials share each one, and more than two pages are due at once.
 * Every due credential is released once, none early, none missed. */
static void test_release_pages_in_expiry_order(void)
{
    enum { N = 150, SHARE = 3 };
    world              w;
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred info;
    size_t             released = 0;
    uint32_t           grace, last;

    REQUIRE_OK(make_world(&w, CENTS(500), CENTS(10)));
    grace = 14 * DAY; /* the default upload grace */
    for (uint32_t i = 0; i < N; i++)
        REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk,
                                       CENTS(1), OFFPAY_CRED_ALLOW_UNBOUND,
                                       T0 + DAY + (N - 1 - i) / SHARE * 60, T0,
                                       bytes, &info));
    /* the expiries of groups 0..40 (123 credentials) are before it */
    last = T0 + DAY + 40 * 60;
    REQUIRE_OK(offpay_ledger_release_due(w.l, last + 1 + grace, &released));
    CHECK(released == 41 * SHARE);
    CHECK(balance(&w, w.wallet_acct) ==
          CENTS(500) - CENTS(10) - CENTS(N) + CENTS(41 * SHARE));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 2 * DAY + grace, &released));
    CHECK(released == N - 41 * SHARE);
    CHECK(balance(&w, w.wallet_acct) == CENTS(500) - CENTS(10));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 3 * DAY + grace, &released));
    CHECK(released == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The automatic release (offpayd's job) on a clock that jumps: a year
 * ahead it releases nothing (the live escrow stays), behind its last run
 * likewise; an operator's release runs whatever the clock, and the job
 * measures from it again, past the transfers it saw. */
static void test_release_auto_holds_on_a_clock_that_jumped(void)
{
    world                     w;
    offpay_ledger_release_run run;
    size_t                    n = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_release_auto(w.l, T0 + 100, 3600, &run));
    CHECK(run.held == 0 && run.last_run == 0 && run.released == 0);
    REQUIRE_OK(offpay_ledger_release_auto(w.l, T0 + 365 * DAY, 3600, &run));
    CHECK(run.held == OFFPAY_RELEASE_HELD_AHEAD && run.last_run == T0 + 100);
    CHECK(escrow(&w) == CENTS(50));
    /* a day and the interval is the bound */
    REQUIRE_OK(
        offpay_ledger_release_auto(w.l, T0 + 100 + 3600 + DAY, 3600, &run));
    CHECK(run.held == 0);
    REQUIRE_OK(offpay_ledger_release_auto(w.l, T0 + 100, 3600, &run));
    CHECK(run.held == OFFPAY_RELEASE_HELD_BEHIND &&
          run.newest == T0 + 100 + 3600 + DAY);
    /* the operator's release: runs a year on (released), then back at
     * T0 + 200 (the operator vouches for the clock) */
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 365 * DAY, &n));
    CHECK(n == 1 && escrow(&w) == 0);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 200, &n));
    CHECK(n == 0);
    REQUIRE_OK(offpay_ledger_release_auto(w.l, T0 + 300, 3600, &run));
    CHECK(run.held == 0 && run.last_run == T0 + 200);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_late_presentment_paid_from_wallet_then_refused(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_result a, b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(20), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(20), T0 + 30, 0, c2);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    /* within the late window (30 d after release) */
    a = settle(&w, 0, c1, n1, CENTS(20), T0 + 20, T0 + 50 * DAY);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && a.paid == CENTS(20));
    CHECK(balance(&w, w.wallet_acct) == CENTS(80));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(20));
    /* after it */
    b = settle(&w, 1, c2, n2, CENTS(20), T0 + 40, T0 + 80 * DAY);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_ELATE);
    CHECK(b.paid == 0);
    {
        offpay_ledger_cred_info ci;

        REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
        CHECK(ci.funded == CENTS(50) && ci.released_amount == CENTS(50) &&
              ci.late == CENTS(20) && ci.paid == CENTS(20) &&
              ci.covered == 0 && ci.remaining == 0);
    }
    CHECK(balance(&w, w.merchant_acct[1]) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A late presentment the wallet account no longer covers (its balance
 * moved out after the release, as for a lost wallet's): the guarantee pays
 * the merchant who followed the rules, and no overspend case is opened,
 * since nothing overspent the escrow (its evidence would not verify). */
static void test_late_presentment_beyond_the_account_is_covered_no_case(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1;
    offpay_settle_result a;
    offpay_case_info    *cases = NULL;
    size_t               n_cases = 9;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(20), T0 + 10, 0, c1);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    /* the 50.00 released is held for the late codes: a withdrawal takes
     * it only when told to (since 0.23.0), keyed or not; a key a refusal
     * did not book is free for the withdrawal that takes it */
    CHECK_ERR(offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(100), "moved",
                                     T0 + 45 * DAY, NULL),
              OFFPAY_EFUNDS);
    CHECK_ERR(offpay_ledger_move_once(w.l, w.wallet_acct, CENTS(50) + 1, 1,
                                      "moved", "wd-1", T0 + 45 * DAY, NULL,
                                      NULL),
              OFFPAY_EFUNDS);
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(50), "moved",
                                      T0 + 45 * DAY, NULL));
    {
        uint64_t t1 = 0, t2 = 0;
        int      replayed = -1;

        REQUIRE_OK(offpay_ledger_withdraw_held(w.l, w.wallet_acct, CENTS(50),
                                               "moved", "wd-1", T0 + 45 * DAY,
                                               &t1, &replayed));
        CHECK(replayed == 0 && t1 != 0);
        REQUIRE_OK(offpay_ledger_withdraw_held(w.l, w.wallet_acct, CENTS(50),
                                               "moved", "wd-1", T0 + 45 * DAY,
                                               &t2, &replayed));
        CHECK(replayed == 1 && t2 == t1);
    }
    CHECK(balance(&w, w.wallet_acct) == 0);
    a = settle(&w, 0, c1, n1, CENTS(20), T0 + 20, T0 + 50 * DAY);
    CHECK(a.outcome == OFFPAY_SETTLE_GUARANTEED && a.paid == CENTS(20) &&
          a.covered == CENTS(20));
    CHECK(a.case_id == 0);
    CHECK(!revoked(&w));
    REQUIRE_OK(offpay_ledger_cases(w.l, NULL, 10, &cases, &n_cases));
    CHECK(n_cases == 0);
    free(cases);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(20));
    CHECK(balance(&w, w.guarantee) == CENTS(980));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* What came back from an escrow is held for its late presentments until
 * the late window ends (settlement.md §6): it funds no new credential, or
 * a payer could spend it again while the old codes are still out and
 * leave the guarantee to pay them. The rest of the balance does; a late
 * presentment takes from the held part; after the window nothing is
 * held. */
/* The wallet account's late_held and late_held_until as the accounts
 * list gives them at now (offpay_ledger_wallet_accounts_at; now 0: the
 * list without a time, offpay_ledger_wallet_accounts). */
static void listed_hold(world *w, uint32_t now, int64_t *held, uint32_t *until)
{
    offpay_wallet_account_info *v = NULL;
    size_t                      n = 0;

    *held = -1;
    *until = 1;
    if (now != 0)
        REQUIRE_OK(offpay_ledger_wallet_accounts_at(
            w->l, NULL, w->wallet_acct - 1, 1, now, &v, &n));
    else
        REQUIRE_OK(offpay_ledger_wallet_accounts(w->l, NULL, w->wallet_acct - 1,
                                                 1, &v, &n));
    if (n == 1 && v[0].id == w->wallet_acct) {
        *held = v[0].late_held;
        *until = v[0].late_held_until;
    }
    free(v);
}

static void test_released_money_held_for_late_payments(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              bytes[OFFPAY_WALLET_CRED_BYTES];
    size_t               n1;
    offpay_wallet_cred   wc;
    offpay_settle_result a;
    int64_t              held = -1;
    uint32_t             until = 1, rel = T0 + 45 * DAY, late_end;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(20), T0 + 10, 0, c1);
    REQUIRE_OK(offpay_ledger_late_hold(w.l, w.wallet_acct, T0, &held, &until));
    CHECK(held == 0 && until == 0);
    REQUIRE_OK(offpay_ledger_release_due(w.l, rel, NULL));
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    REQUIRE_OK(
        offpay_ledger_late_hold(w.l, w.wallet_acct, rel + DAY, &held, &until));
    late_end = until;
    CHECK(held == CENTS(50) && until > rel && until <= rel + 31 * DAY);
    /* 60.00 of the 100.00: 50.00 of it is held */
    CHECK_ERR(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(60), 0,
                                  rel + 60 * DAY, rel + DAY, bytes, &wc),
              OFFPAY_EFUNDS);
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(50),
                                   0, rel + 60 * DAY, rel + DAY, bytes, &wc));
    CHECK(balance(&w, w.wallet_acct) == CENTS(50));
    /* the late code takes 20.00 of it: 30.00 left held, all the balance */
    a = settle(&w, 0, c1, n1, CENTS(20), T0 + 20, rel + 2 * DAY);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && a.covered == 0);
    REQUIRE_OK(offpay_ledger_late_hold(w.l, w.wallet_acct, rel + 2 * DAY, &held,
                                       &until));
    CHECK(held == CENTS(30) && until == late_end);
    /* the operator's accounts list says the same at its time (none
     * without one) */
    listed_hold(&w, rel + 2 * DAY, &held, &until);
    CHECK(held == CENTS(30) && until == late_end);
    listed_hold(&w, 0, &held, &until);
    CHECK(held == 0 && until == 0);
    listed_hold(&w, late_end + 1, &held, &until);
    CHECK(held == 0 && until == 0);
    CHECK_ERR(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, 1, 0,
                                  rel + 60 * DAY, rel + 2 * DAY, bytes, &wc),
              OFFPAY_EFUNDS);
    /* the window's last second, then after it: nothing held (a
     * withdrawal takes no cent of it until then) */
    REQUIRE_OK(
        offpay_ledger_late_hold(w.l, w.wallet_acct, late_end, &held, &until));
    CHECK(held == CENTS(30));
    CHECK_ERR(
        offpay_ledger_withdraw(w.l, w.wallet_acct, 1, "out", late_end, NULL),
        OFFPAY_EFUNDS);
    REQUIRE_OK(offpay_ledger_late_hold(w.l, w.wallet_acct, late_end + 1, &held,
                                       &until));
    CHECK(held == 0 && until == 0);
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(30),
                                   0, late_end + 60 * DAY, late_end + 1, bytes,
                                   &wc));
    CHECK(balance(&w, w.wallet_acct) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* What the account holds for late codes, from the credentials one by
 * one (offpay_ledger_credential): for each released at or after now less
 * the late window, what its release returned less what late codes took
 * back, when that is above 0; until the newest such release's window
 * end. *n_late counts those a late code took part of. */
static void late_hold_from_credentials(world *w, uint32_t now, int64_t *held,
                                       uint32_t *until, int *n_held,
                                       int *n_late)
{
    offpay_ledger_config       cfg;
    offpay_ledger_wallet_cred *v = NULL;
    offpay_ledger_cred_info    ci;
    size_t                     n = 0;
    uint32_t                   since, newest = 0;

    offpay_ledger_config_defaults(&cfg);
    since = now > cfg.late_window ? now - cfg.late_window : 0;
    *held = 0;
    *until = 0;
    *n_held = *n_late = 0;
    REQUIRE_OK(offpay_ledger_wallet_creds(w->l, w->wallet.pk, &v, &n));
    for (size_t i = 0; i < n; i++) {
        if (!v[i].info.released || v[i].info.released_at < since)
            continue;
        REQUIRE_OK(offpay_ledger_credential(w->l, v[i].info.serial, &ci));
        if (ci.released_amount - ci.late <= 0)
            continue;
        *held += ci.released_amount - ci.late;
        (*n_held)++;
        *n_late += ci.late > 0;
        if (ci.released_at > newest)
            newest = ci.released_at;
    }
    *until = *held > 0 ? newest + cfg.late_window : 0;
    free(v);
}

/* offpay_ledger_late_hold on an account of many credentials, with the
 * marking job run after each day's release as offpayd runs it (store.h's
 * late_hold reads the account's releases above the marks, not each of
 * its credentials): at every time asked, at a release's own second and
 * at its window's last second (the marks' latest time equal to the
 * window's start), and again with the marks dropped, what the credentials
 * say one by one; the accounts list the same. Credentials emptied by a
 * payment (released with nothing), part spent, and taken from by a late
 * code after their release. */
static void test_late_hold_over_a_long_history_with_marks(void)
{
    enum { DAYS = 40 };
    world              w;
    offpay_wallet_cred creds[DAYS];
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t            late[DAYS][OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t            code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t             nl[DAYS], n;
    uint64_t           marked;
    int                more, n_held, n_late, most_held = 0, saw_late = 0;
    int                asked = 0;
    int64_t            held = 0, want_held = 0, listed = 0;
    uint32_t           until = 0, want_until = 0, listed_until = 0, t;

    REQUIRE_OK(make_world(&w, CENTS(1000), CENTS(10)));
    for (uint32_t d = 0; d < DAYS + 50; d++) {
        t = T0 + d * DAY;
        if (d < DAYS) {
            REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk,
                                           CENTS(10), OFFPAY_CRED_ALLOW_UNBOUND,
                                           t + 60 + DAY, t + 60, bytes,
                                           &creds[d]));
            w.cred = creds[d];
            nl[d] = 0;
            if (d % 3 != 2) { /* all of it, or 4.00 of it */
                n = make_code(&w, 1, CENTS(d % 3 == 0 ? 10 : 4), t + 100, 0,
                              code);
                REQUIRE(settle(&w, 0, code, n, CENTS(d % 3 == 0 ? 10 : 4),
                               t + 110, t + 120)
                            .outcome == OFFPAY_SETTLE_SETTLED);
            } else /* a code of 3.00 uploaded after the release */
                nl[d] = make_code(&w, 2, CENTS(3), t + 100, 0, late[d]);
        }
        /* the late codes 20 days after their credential's day, released
         * on its 15th */
        if (d >= 20 && d - 20 < DAYS && nl[d - 20] != 0) {
            w.cred = creds[d - 20];
            REQUIRE(settle(&w, 1, late[d - 20], nl[d - 20], CENTS(3),
                           t - 20 * DAY + 110, t + 1800)
                        .outcome == OFFPAY_SETTLE_SETTLED);
        }
        REQUIRE_OK(offpay_ledger_release_due(w.l, t + 3660, NULL));
        for (more = 1; more;)
            REQUIRE_OK(offpay_ledger_marks(w.l, t + 3661, 0, &marked, &more));
    }
    for (int dropped = 0; dropped < 2; dropped++) {
        for (uint32_t d = 0; d < DAYS + 50 + 31; d++) {
            /* a day's start, its release's second, that second a late
             * window later (the window's last second), and one more */
            const uint32_t at[] = {T0 + d * DAY, T0 + d * DAY + 3660,
                                   T0 + d * DAY + 3660 + 30 * DAY,
                                   T0 + d * DAY + 3661 + 30 * DAY};

            for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
                late_hold_from_credentials(&w, at[k], &want_held, &want_until,
                                           &n_held, &n_late);
                REQUIRE_OK(offpay_ledger_late_hold(w.l, w.wallet_acct, at[k],
                                                   &held, &until));
                CHECK(held == want_held && until == want_until);
                listed_hold(&w, at[k], &listed, &listed_until);
                CHECK(listed == want_held && listed_until == want_until);
                most_held = n_held > most_held ? n_held : most_held;
                saw_late |= n_late > 0;
                asked++;
            }
        }
        REQUIRE(run_sql(w.path, "DELETE FROM balance_marks"));
        REQUIRE(run_sql(w.path, "DELETE FROM transfer_marks"));
    }
    /* the window held many releases at once, some taken from late */
    CHECK(most_held >= 15 && saw_late && asked == 2 * 4 * (DAYS + 81));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A wallet's credentials as its sync reads them
 * (offpay_ledger_wallet_creds, what each release returned read with the
 * list since 0.18.0) are each what the ledger says of it alone
 * (offpay_ledger_credential): emptied by a payment and released with
 * nothing, part spent, untouched, revoked, taken from by a late code
 * after the release, and not released yet. */
static void test_wallet_creds_give_what_each_release_returned(void)
{
    enum { CREDS = 12 };
    world                      w;
    offpay_wallet_cred         creds[CREDS];
    offpay_ledger_wallet_cred *v = NULL;
    offpay_ledger_cred_info    ci;
    uint8_t                    bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                    code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                     n = 0, len;
    int                        released = 0, late = 0;
    uint32_t                   t;

    REQUIRE_OK(make_world(&w, CENTS(500), CENTS(10)));
    for (uint32_t i = 0; i < CREDS; i++) {
        t = T0 + i * DAY;
        REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk,
                                       CENTS(10), OFFPAY_CRED_ALLOW_UNBOUND,
                                       t + DAY, t, bytes, &creds[i]));
        w.cred = creds[i];
        if (i % 4 == 0 || i % 4 == 1) { /* all of it, or 4.00 */
            len = make_code(&w, 1, CENTS(i % 4 == 0 ? 10 : 4), t + 10, 0, code);
            REQUIRE(settle(&w, 0, code, len, CENTS(i % 4 == 0 ? 10 : 4), t + 20,
                           t + 30)
                        .outcome == OFFPAY_SETTLE_SETTLED);
        } else if (i % 4 == 2)
            REQUIRE_OK(
                offpay_ledger_revoke(w.l, creds[i].serial, "lost", t + 40));
    }
    /* all released but the first (due on day 44), then a late code
     * of 3.00 on the eighth */
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + (CREDS + 16) * DAY, NULL));
    w.cred = creds[7];
    len = make_code(&w, 1, CENTS(3), T0 + 7 * DAY + 10, 0, code);
    REQUIRE(settle(&w, 0, code, len, CENTS(3), T0 + 7 * DAY + 20,
                   T0 + (CREDS + 17) * DAY)
                .outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &v, &n));
    CHECK(n == CREDS + 1);
    for (size_t i = 0; i < n; i++) {
        REQUIRE_OK(offpay_ledger_credential(w.l, v[i].info.serial, &ci));
        CHECK(v[i].info.released == ci.released &&
              v[i].info.released_at == ci.released_at &&
              v[i].info.released_amount == ci.released_amount &&
              v[i].info.remaining == ci.remaining &&
              v[i].info.revoked == ci.revoked &&
              v[i].info.late_until == ci.late_until);
        released += ci.released && ci.released_amount > 0;
        late += ci.late > 0;
    }
    /* released with something: the part spent, revoked and untouched
     * ones (the emptied ones with nothing); one taken from late */
    CHECK(released == 9 && late == 1);
    free(v);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The credentials of v[0..n) open at `at` (not released, or released at
 * most the late window before it), or every one (at 0), in the order of
 * flags, into out[0..*m). */
static void creds_expected(const offpay_ledger_wallet_cred *v, size_t n,
                           uint32_t at, uint32_t late_window, unsigned flags,
                           offpay_ledger_wallet_cred *out, size_t *m)
{
    *m = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = flags & OFFPAY_LEDGER_CREDS_NEWEST ? n - 1 - k : k;

        if ((flags & OFFPAY_LEDGER_CREDS_OPEN) && v[i].info.released &&
            (uint64_t)v[i].info.released_at + late_window < at)
            continue;
        out[(*m)++] = v[i];
    }
}

/* offpay_ledger_wallet_creds_page (POST /v1/wallet/status and
 * /v1/wallet/credentials, since 0.19.0) against the key's whole list
 * (offpay_ledger_wallet_creds): a history of 30 credentials, a code
 * settled on every other one, some revoked, released day by day, a few
 * not yet, and another key's among them. At the start, at each of three
 * releases' late window's last second and the second after it, and once
 * every window is over: the open ones (not released, or released within
 * the late window) newest first and ascending, and every one both ways,
 * paged 1, 3 and 500 at a time, are exactly the list's, each credential
 * whole; the counts are the list's. Bad arguments are EINVAL. */
static void test_wallet_creds_page_lists_the_open_ones(void)
{
    enum { CREDS = 30 };
    static const unsigned modes[] = {
        OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_NEWEST,
        OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_TOTAL, 0,
        OFFPAY_LEDGER_CREDS_NEWEST | OFFPAY_LEDGER_CREDS_TOTAL};
    static const size_t        sizes[] = {1, 3, OFFPAY_LEDGER_CREDS_PAGE_MAX};
    world                      w;
    offpay_keypair             other;
    offpay_ledger_config       cfg;
    offpay_ledger_wallet_cred *all = NULL, *page = NULL, *want, *got;
    offpay_ledger_creds_count  count;
    offpay_wallet_cred         wc;
    uint8_t                    bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                    code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                     n_all = 0, n, m, len, n_got, n_open;
    uint32_t                   t, at[9];
    size_t                     n_at = 0;
    int                        released = 0, unreleased = 0, mixed = 0;

    offpay_ledger_config_defaults(&cfg);
    REQUIRE_OK(make_world(&w, CENTS(500), CENTS(10)));
    REQUIRE_OK(offpay_keypair_generate(&other));
    /* a credential a day, and the release job once a day after it:
     * credential i released on day i + 15, the last two and the world's
     * first (30 days) not by day 42 */
    for (uint32_t i = 0; i <= CREDS + 12; i++) {
        t = T0 + i * DAY + 60;
        if (i < CREDS) {
            REQUIRE_OK(offpay_ledger_issue(
                w.l, w.wallet_acct, i % 10 == 4 ? other.pk : w.wallet.pk,
                CENTS(10), OFFPAY_CRED_ALLOW_UNBOUND, t + DAY, t, bytes, &wc));
            w.cred = wc;
        }
        if (i < CREDS && i % 2 == 0 && i % 10 != 4) {
            len = make_code(&w, 1 + i, CENTS(1), t + 10, 0, code);
            REQUIRE(
                settle(&w, 0, code, len, CENTS(1), t + 20, t + 30).outcome ==
                OFFPAY_SETTLE_SETTLED);
        }
        if (i < CREDS && i % 7 == 3)
            REQUIRE_OK(offpay_ledger_revoke(w.l, wc.serial, "lost", t + 40));
        REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + i * DAY + 3600, NULL));
    }
    REQUIRE_OK(offpay_ledger_wallet_creds(w.l, w.wallet.pk, &all, &n_all));
    REQUIRE(n_all == CREDS - 3 + 1);
    want = calloc(n_all, sizeof *want);
    got = calloc(n_all + 1, sizeof *got);
    REQUIRE(want != NULL && got != NULL);
    at[n_at++] = T0;
    for (size_t i = 0; i < n_all; i++) {
        released += all[i].info.released;
        unreleased += !all[i].info.released;
        if (all[i].info.released && (i == 3 || i == 10 || i == 20)) {
            at[n_at++] = all[i].info.released_at + cfg.late_window;
            at[n_at++] = all[i].info.released_at + cfg.late_window + 1;
        }
    }
    at[n_at++] = T0 + 200 * DAY;
    REQUIRE(released >= 20 && unreleased == 3 && n_at == 8);
    for (size_t a = 0; a < n_at; a++)
        for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
                uint64_t after = 0;

                creds_expected(all, n_all, at[a], cfg.late_window,
                               OFFPAY_LEDGER_CREDS_OPEN, want, &n_open);
                creds_expected(all, n_all, at[a], cfg.late_window, modes[k],
                               want, &m);
                mixed |= n_open > 3 && n_open < n_all;
                n_got = 0;
                do {
                    REQUIRE_OK(offpay_ledger_wallet_creds_page(
                        w.l, w.wallet.pk, modes[k], after, sizes[z], at[a],
                        &page, &n, &count));
                    CHECK(n <= sizes[z] && n_got + n <= n_all);
                    CHECK(
                        count.open == n_open &&
                        count.total ==
                            (modes[k] & OFFPAY_LEDGER_CREDS_TOTAL ? n_all : 0));
                    for (size_t i = 0; i < n && n_got < n_all; i++)
                        got[n_got++] = page[i];
                    if (n > 0)
                        after = page[n - 1].info.serial;
                    free(page);
                    page = NULL;
                } while (n == sizes[z]);
                CHECK(n_got == m);
                for (size_t i = 0; i < m && i < n_got; i++)
                    CHECK(memcmp(&got[i], &want[i], sizeof got[i]) == 0);
            }
    /* seen with some released ones open and others' windows over */
    CHECK(mixed);
    /* the open ones at the end: the three not released */
    REQUIRE_OK(offpay_ledger_wallet_creds_page(
        w.l, w.wallet.pk, OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_TOTAL,
        0, 500, T0 + 200 * DAY, &page, &n, &count));
    CHECK(n == 3 && count.open == 3 && count.total == n_all);
    free(page);
    page = NULL;
    /* bad arguments */
    CHECK_ERR(offpay_ledger_wallet_creds_page(w.l, w.wallet.pk, 0, 0, 0, T0,
                                              &page, &n, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_wallet_creds_page(w.l, w.wallet.pk, 0, 0,
                                              OFFPAY_LEDGER_CREDS_PAGE_MAX + 1,
                                              T0, &page, &n, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_wallet_creds_page(w.l, w.wallet.pk, 8, 0, 1, T0,
                                              &page, &n, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_wallet_creds_page(w.l, w.wallet.pk, 0,
                                              (uint64_t)INT64_MAX + 1, 1, T0,
                                              &page, &n, NULL),
              OFFPAY_EINVAL);
    CHECK(page == NULL && n == 0);
    /* a key with none: nothing, counted 0 */
    REQUIRE_OK(offpay_keypair_generate(&other));
    REQUIRE_OK(offpay_ledger_wallet_creds_page(
        w.l, other.pk, OFFPAY_LEDGER_CREDS_OPEN | OFFPAY_LEDGER_CREDS_TOTAL, 0,
        10, T0, &page, &n, &count));
    CHECK(page == NULL && n == 0 && count.total == 0 && count.open == 0);
    offpay_keypair_wipe(&other);
    free(all);
    free(want);
    free(got);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A copy's codes held back past the release (settlement.md §6): the
 * second late payment takes the credential's charges over its limit
 * (40.00 + 40.00 on 50.00) with the account short: an overspend case
 * (its evidence proves it), the credential revoked, the wallet key
 * named; the first, within the limit, opens none. */
static void test_late_payments_beyond_the_limit_open_an_overspend_case(void)
{
    world                w;
    uint8_t              c[2][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[2], n_ids = 9;
    uint64_t             ids[4];
    offpay_settle_result a, b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(40), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(40), T0 + 30, 0, c[1]);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    /* 20.00 of the 50.00 held taken out by the operator's decision */
    REQUIRE_OK(offpay_ledger_withdraw_held(w.l, w.wallet_acct, CENTS(70), "out",
                                           NULL, T0 + 45 * DAY, NULL, NULL));
    a = settle(&w, 0, c[0], n[0], CENTS(40), T0 + 20, T0 + 50 * DAY);
    CHECK(a.outcome == OFFPAY_SETTLE_GUARANTEED && a.covered == CENTS(10) &&
          a.case_id == 0);
    CHECK(!revoked(&w));
    b = settle(&w, 1, c[1], n[1], CENTS(40), T0 + 40, T0 + 50 * DAY);
    CHECK(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.covered == CENTS(40) &&
          b.case_id != 0);
    CHECK(revoked(&w));
    REQUIRE_OK(offpay_ledger_wallet_cases(w.l, w.wallet.pk, ids, 4, &n_ids));
    CHECK(n_ids == 1 && ids[0] == b.case_id);
    CHECK(balance(&w, w.guarantee) == CENTS(950));
    CHECK(audit_ok(&w));
    {
        /* the case's evidence proves the overspend offline */
        uint8_t                bundle[4096];
        size_t                 blen = 0, len = 0;
        char                  *file = NULL;
        offpay_evidence_report r;

        REQUIRE_OK(
            offpay_bundle_encode(&w.bundle, bundle, sizeof bundle, &blen));
        REQUIRE_OK(
            offpay_ledger_evidence(w.l, b.case_id, bundle, blen, &file, &len));
        CHECK_ERR(
            offpay_evidence_verify((const uint8_t *)file, len, w.root.pk, &r),
            OFFPAY_OK);
        CHECK(r.kind == OFFPAY_CASE_OVERSPEND && r.total == CENTS(80) &&
              r.limit == CENTS(50));
        free(file);
    }
    drop_world(&w);
}

/* A lost wallet (settlement.md §6, §12): after the release, what
 * terminals accepted before the revocation is taken from the account;
 * what they accepted after it (the lost device still paying) never is:
 * the guarantee pays a terminal that followed its rules (within the
 * revocation list's age), else it is unpaid with the rule named. A
 * credential revoked for a case (a double spend) is the fraudster's: its
 * later codes are still taken from the account. */
static void test_late_presentment_after_a_lost_wallets_revocation(void)
{
    world                w;
    uint8_t              c[5][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[5];
    offpay_settle_result a, b, d, e;
    const uint32_t       lost = T0 + 1000, late = T0 + 50 * DAY;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(10), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(30), lost + 100, 0, c[1]);
    n[2] = make_code(&w, 3, CENTS(10), lost + 8 * DAY, 0, c[2]);
    n[3] = make_code(&w, 4, CENTS(5), T0 + 500, 0, c[3]);
    a = settle(&w, 0, c[0], n[0], CENTS(10), T0 + 20, T0 + 100);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "wallet lost", lost));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    CHECK(balance(&w, w.wallet_acct) == CENTS(90));
    /* accepted after the revocation, within the list's age: guaranteed */
    b = settle(&w, 0, c[1], n[1], CENTS(30), lost + 110, late);
    CHECK(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.paid == CENTS(30) &&
          b.covered == CENTS(30) && b.case_id == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(90));
    /* beyond it: the terminal should have known, unpaid */
    d = settle(&w, 1, c[2], n[2], CENTS(10), lost + 8 * DAY + 10, late);
    CHECK(d.outcome == OFFPAY_SETTLE_UNPAID && d.reason == OFFPAY_EREVOKED &&
          d.paid == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(90));
    /* accepted before it: the payer's, from the account */
    e = settle(&w, 1, c[3], n[3], CENTS(5), T0 + 510, late);
    CHECK(e.outcome == OFFPAY_SETTLE_SETTLED && e.paid == CENTS(5) &&
          e.covered == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(85));
    CHECK(balance(&w, w.guarantee) == CENTS(970));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(40));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(5));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* revoked for a double spend: still the account's */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(10), T0 + 10, 0, c[0]);
    n[4] = make_code(&w, 1, CENTS(10), T0 + 15, 0, c[4]);
    n[1] = make_code(&w, 2, CENTS(30), lost + 100, 0, c[1]);
    a = settle(&w, 0, c[0], n[0], CENTS(10), T0 + 20, lost - 10);
    a = settle(&w, 1, c[4], n[4], CENTS(10), T0 + 25, lost);
    CHECK(a.outcome == OFFPAY_SETTLE_DOUBLE_SPEND && revoked(&w));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    CHECK(balance(&w, w.wallet_acct) == CENTS(80));
    b = settle(&w, 0, c[1], n[1], CENTS(30), lost + 110, late);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.covered == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(50));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* reported lost first, then double-spent (the revocation keeps its
     * first reason): the double spend's case makes it the owner's all the
     * same, not the guarantee's */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(10), lost + 10, 0, c[0]);
    n[4] = make_code(&w, 1, CENTS(10), lost + 15, 0, c[4]);
    n[1] = make_code(&w, 2, CENTS(30), lost + 100, 0, c[1]);
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "wallet lost", lost));
    a = settle(&w, 0, c[0], n[0], CENTS(10), lost + 20, lost + 30);
    a = settle(&w, 1, c[4], n[4], CENTS(10), lost + 25, lost + 40);
    CHECK(a.outcome == OFFPAY_SETTLE_DOUBLE_SPEND && a.case_id != 0);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    CHECK(balance(&w, w.wallet_acct) == CENTS(80));
    b = settle(&w, 0, c[1], n[1], CENTS(30), lost + 110, late);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.covered == 0 &&
          b.paid == CENTS(30));
    CHECK(balance(&w, w.wallet_acct) == CENTS(50));
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* a terminal that dates its acceptance of a code made after the
     * report to before it does not move it onto the payer's account */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[1] = make_code(&w, 2, CENTS(30), lost + 1000, 0, c[1]);
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "wallet lost", lost));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    b = settle(&w, 0, c[1], n[1], CENTS(30), lost - 500, late);
    CHECK(b.outcome != OFFPAY_SETTLE_SETTLED);
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A bound code answers one request of one terminal: presented again by
 * another terminal of its merchant it is paid nothing, and the payer's
 * credential opens no case and is not revoked. An unbound code presented
 * twice stays a duplicate paid from the escrow. */
static void test_bound_code_presented_again_is_paid_nothing(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_terminal_cred tc;
    offpay_settle_item   it;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 365 * DAY, T0, &tc));
    n = make_code(&w, 1, CENTS(30), T0 + 10, w.merchant[0], code);
    r = settle(&w, 0, code, n, CENTS(30), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED && r.paid == CENTS(30));
    it = (offpay_settle_item){code, n, CENTS(30), T0 + 20, 1};
    for (int again = 0; again < 2; again++) {
        REQUIRE_OK(
            offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 3700, &r));
        CHECK(r.outcome == OFFPAY_SETTLE_DUPLICATE &&
              r.reason == OFFPAY_EREPLAY && r.paid == 0 && r.covered == 0 &&
              r.case_id == 0 && r.replay == again);
    }
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(30));
    CHECK(escrow(&w) == CENTS(20));
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(!revoked(&w));
    n = make_code(&w, 2, CENTS(5), T0 + 30, 0, code);
    r = settle(&w, 0, code, n, CENTS(5), T0 + 40, T0 + 3700);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED);
    it = (offpay_settle_item){code, n, CENTS(5), T0 + 40, 2};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 3700, &r));
    /* an unbound code the merchant was paid for, again at its other
     * terminal: nothing beyond its authorized amount, no case (§4) */
    CHECK(r.outcome == OFFPAY_SETTLE_DUPLICATE &&
          r.reason == OFFPAY_EDUPLICATE_MERCHANT && r.paid == 0 &&
          r.case_id == 0);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(35));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_revoked_terminal_settles_only_what_came_before(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_result a, b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(10), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(10), T0 + 1000, 0, c2);
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[0], T0 + 500));
    a = settle(&w, 0, c1, n1, CENTS(10), T0 + 20, T0 + 3600);
    /* made after the revocation and dated before it by the terminal's
     * key: accepted no earlier than the code's time less the skew */
    b = settle(&w, 0, c2, n2, CENTS(10), T0 + 20, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_REJECTED &&
          b.reason == OFFPAY_ETERMINAL_REVOKED);
    b = settle(&w, 0, c2, n2, CENTS(10), T0 + 1010, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(!revoked(&w));
    CHECK(b.outcome == OFFPAY_SETTLE_REJECTED &&
          b.reason == OFFPAY_ETERMINAL_REVOKED);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(10));
    CHECK(audit_ok(&w));
    /* the refused code kept once (030_refusals), however often sent, as
     * the merchant's, in the period of its upload only; the statement's
     * lines and the report's money paid leave it out, the report counts
     * it refused and charged (since 0.27.0) */
    {
        struct refusals_seen seen = {0, {0}};
        offpay_merchant_info m;
        offpay__report_row   row;

        REQUIRE_OK(offpay_ledger_refusals(w.l, w.merchant[0], 0, UINT32_MAX,
                                          refusal_seen, &seen));
        CHECK(seen.n == 1 && seen.last.terminal_id == w.terminal[0] &&
              seen.last.serial == w.cred.serial && seen.last.counter == 2 &&
              seen.last.charged == CENTS(10) &&
              seen.last.reason == OFFPAY_ETERMINAL_REVOKED &&
              seen.last.accepted_at == T0 + 20 &&
              seen.last.uploaded_at == T0 + 3600);
        seen.n = 0;
        REQUIRE_OK(offpay_ledger_refusals(w.l, w.merchant[0], 0, T0 + 3599,
                                          refusal_seen, &seen));
        CHECK(seen.n == 0);
        REQUIRE_OK(offpay_ledger_refusals(w.l, w.merchant[1], 0, UINT32_MAX,
                                          refusal_seen, &seen));
        CHECK(seen.n == 0);
        CHECK_ERR(offpay_ledger_refusals(w.l, w.merchant[0], 2, 1, refusal_seen,
                                         &seen),
                  OFFPAY_EINVAL);
        memset(&m, 0, sizeof m);
        m.id = w.merchant[0];
        m.currency = EUR;
        REQUIRE_OK(offpay__report_merchant(w.l, &m, 0, UINT32_MAX, &row));
        CHECK(row.payments == 2 && row.rejected == 1 &&
              row.charged == CENTS(20) && row.paid == CENTS(10));
    }
    drop_world(&w);

    /* paid, then the terminal revoked in the very second it dated the
     * payment (or before: its clock ahead): the upload sent again is a
     * replay, the stored result, as from any terminal */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(10), T0 + 10, 0, c1);
    a = settle(&w, 0, c1, n1, CENTS(10), T0 + 20, T0 + 30);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && !a.replay);
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[0], T0 + 20));
    b = settle(&w, 0, c1, n1, CENTS(10), T0 + 20, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.replay &&
          b.presentment == a.presentment && b.paid == CENTS(10));
    /* another charge: as from any terminal, the first stands */
    b = settle(&w, 0, c1, n1, CENTS(9), T0 + 20, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.reason == OFFPAY_ECONFLICT &&
          b.paid == CENTS(10));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(10));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* a code made before the revocation, sent dated after it (refused,
     * kept), then dated before it (settled): a presentment, no longer a
     * refusal, and counted once by the report */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(10), T0 + 10, 0, c1);
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[0], T0 + 500));
    b = settle(&w, 0, c1, n1, CENTS(10), T0 + 600, T0 + 3600);
    CHECK(b.outcome == OFFPAY_SETTLE_REJECTED &&
          b.reason == OFFPAY_ETERMINAL_REVOKED);
    a = settle(&w, 0, c1, n1, CENTS(10), T0 + 20, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    {
        struct refusals_seen seen = {0, {0}};
        offpay_merchant_info m;
        offpay__report_row   row;

        REQUIRE_OK(offpay_ledger_refusals(w.l, w.merchant[0], 0, UINT32_MAX,
                                          refusal_seen, &seen));
        CHECK(seen.n == 0);
        memset(&m, 0, sizeof m);
        m.id = w.merchant[0];
        m.currency = EUR;
        REQUIRE_OK(offpay__report_merchant(w.l, &m, 0, UINT32_MAX, &row));
        CHECK(row.payments == 1 && row.rejected == 0 &&
              row.charged == CENTS(10) && row.paid == CENTS(10));
    }
    drop_world(&w);
}

/* Terminal id as offpay_ledger_terminals lists it, into *e. */
static offpay_err terminal_entry(world *w, uint32_t id,
                                 offpay_ledger_terminal_entry *e)
{
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    offpay_err rc = offpay_ledger_terminals(w->l, 0, id - 1, 1, &v, &n);

    if (rc == OFFPAY_OK && (n != 1 || v[0].terminal_id != id))
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_OK)
        *e = v[0];
    free(v);
    return rc;
}

/* 1 when terminal id is revoked at `at` for `why` ("" : no reason kept),
 * as the operator's list and the overview both give it. */
static int revoked_for(world *w, uint32_t id, uint32_t at, const char *why)
{
    offpay_ledger_terminal_entry e;
    offpay_overview             *o = NULL;
    int                          ok, seen = 0;

    ok = terminal_entry(w, id, &e) == OFFPAY_OK &&
         e.state != OFFPAY_TERMINAL_ACTIVE && e.revoked_at == at &&
         strcmp(e.revoke_reason, why) == 0;
    if (offpay_ledger_overview(w->l, T0, DAY, T0 + DAY, &o) != OFFPAY_OK)
        return 0;
    for (size_t i = 0; i < o->n_terminals; i++)
        if (o->terminals[i].terminal_id == id)
            seen = o->terminals[i].revoked &&
                   o->terminals[i].revoked_at == at &&
                   strcmp(o->terminals[i].revoke_reason, why) == 0;
    offpay_overview_free(o);
    if (!ok || !seen)
        fprintf(stderr, "terminal %u: state %d at %u reason '%s'\n",
                (unsigned)id, (int)e.state, (unsigned)e.revoked_at,
                e.revoke_reason);
    return ok && seen;
}

/* A terminal's revocation keeps its reason (021_terminal_revoke_reason):
 * the operator's ("operator" when none is given), "decommissioned" and
 * "rotated to terminal N" for the terminal's own, shown by the operator's
 * list and the overview; a second revocation keeps the first time and
 * reason; a reason that is empty, too long or not text an operator reads
 * on one line revokes nothing; a revocation made before the ledger kept
 * reasons stays without one. */
static void test_terminal_revocation_keeps_its_reason(void)
{
    world                        w;
    offpay_ledger_terminal_entry e;
    offpay_terminal_cred         tc[3];
    char                         long_why[OFFPAY_LEDGER_REF_MAX + 2];
    char                         sql[256];
    uint32_t                     to = 0, at = 0;
    int                          replayed = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    for (int i = 0; i < 3; i++)
        REQUIRE_OK(add_terminal(&w, 0, T0 + 300 * DAY, T0, &tc[i]));
    /* 64 two-byte characters: 128 bytes, kept whole; one byte more is
     * refused */
    for (int i = 0; i < 64; i++)
        memcpy(long_why + 2 * i, "\xc3\xa9", 2);
    long_why[OFFPAY_LEDGER_REF_MAX] = '\0';
    CHECK_ERR(offpay_ledger_terminal_revoke_why(NULL, w.terminal[0], "x", T0),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_terminal_revoke_why(w.l, w.terminal[0], "", T0),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_terminal_revoke_why(w.l, w.terminal[0],
                                                "stolen\nat night", T0),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_terminal_revoke_why(w.l, w.terminal[0],
                                                "\xe2\x80\xaenelots", T0),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_terminal_revoke_why(w.l, w.terminal[0],
                                                "bad \xc3 byte", T0),
              OFFPAY_EINVAL);
    strcat(long_why, "x");
    CHECK_ERR(
        offpay_ledger_terminal_revoke_why(w.l, w.terminal[0], long_why, T0),
        OFFPAY_EINVAL);
    long_why[OFFPAY_LEDGER_REF_MAX] = '\0';
    REQUIRE_OK(terminal_entry(&w, w.terminal[0], &e));
    CHECK(e.state == OFFPAY_TERMINAL_ACTIVE && e.revoke_reason[0] == '\0');

    REQUIRE_OK(offpay_ledger_terminal_revoke_why(
        w.l, w.terminal[0], "stolen from the stall", T0 + 20));
    CHECK(revoked_for(&w, w.terminal[0], T0 + 20, "stolen from the stall"));
    /* again, with another reason or none: the first time and reason stay */
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, w.terminal[0],
                                                 "found again", T0 + 30));
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[0], T0 + 40));
    CHECK(revoked_for(&w, w.terminal[0], T0 + 20, "stolen from the stall"));
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, w.terminal[1], long_why,
                                                 T0 + 50));
    CHECK(revoked_for(&w, w.terminal[1], T0 + 50, long_why));
    /* the library's call without a reason, as revoke-credential's */
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, tc[0].terminal_id, T0 + 60));
    CHECK(revoked_for(&w, tc[0].terminal_id, T0 + 60, "operator"));
    /* the terminal's own: a rotation names the new terminal, a
     * decommission says so; neither is replaced by the operator's */
    REQUIRE_OK(rotate(&w, tc[1].terminal_id, T0 + 70, &to));
    snprintf(sql, sizeof sql, "rotated to terminal %u", (unsigned)to);
    CHECK(revoked_for(&w, tc[1].terminal_id, T0 + 70, sql));
    REQUIRE_OK(offpay_ledger_terminal_decommission(w.l, tc[2].terminal_id,
                                                   T0 + 80, &at, &replayed));
    CHECK(at == T0 + 80 && !replayed);
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[2].terminal_id,
                                                 "stolen", T0 + 90));
    CHECK(revoked_for(&w, tc[2].terminal_id, T0 + 80, "decommissioned"));
    CHECK(revoked_for(&w, tc[1].terminal_id, T0 + 70, sql));
    /* a terminal revoked before the ledger kept reasons: none, and a
     * revocation again gives it none either */
    snprintf(sql, sizeof sql,
             "UPDATE terminals SET revoke_reason = NULL WHERE id = %u",
             (unsigned)to);
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, to, T0 + 100));
    REQUIRE(run_sql(w.path, sql));
    REQUIRE_OK(
        offpay_ledger_terminal_revoke_why(w.l, to, "found later", T0 + 110));
    CHECK(revoked_for(&w, to, T0 + 100, ""));
    /* the column itself holds 1 to 128 characters (PostgreSQL says why
     * it refused: a check constraint) */
    snprintf(sql, sizeof sql,
             "UPDATE terminals SET revoke_reason = '' WHERE id = %u",
             (unsigned)to);
    CHECK(!run_sql(w.path, sql));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Shard k's revoke_reason of terminal id ("NULL": none; "" no row). */
static const char *shard_reason(int k, uint32_t id, char *buf, size_t cap)
{
    char sql[128];

    snprintf(sql, sizeof sql,
             "SELECT revoke_reason FROM terminals WHERE id = %u", (unsigned)id);
    if (!pg_value(shard_url[k], sql, buf, cap))
        snprintf(buf, cap, "(failed)");
    return buf;
}

/* 1 when both shards hold terminal id's revocation for why. */
static int every_shard(uint32_t id, const char *why)
{
    char a[200], b[200];

    shard_reason(0, id, a, sizeof a);
    shard_reason(1, id, b, sizeof b);
    if (strcmp(a, why) != 0 || strcmp(b, why) != 0)
        fprintf(stderr, "terminal %u: shard 0 '%s', shard 1 '%s', want '%s'\n",
                (unsigned)id, a, b, why);
    return strcmp(a, why) == 0 && strcmp(b, why) == 0;
}

/* Shard k refuses (on 1) or takes again (on 0) every update of terminals:
 * a revocation failing there. */
static int shard_fault(int k, int on)
{
    return run_sql(
        shard_url[k],
        on ? "CREATE FUNCTION test_fault_rev() RETURNS trigger LANGUAGE plpgsql"
             " AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;"
             " CREATE TRIGGER test_fault_rev BEFORE UPDATE ON terminals"
             " FOR EACH ROW EXECUTE FUNCTION test_fault_rev()"
           : "DROP TRIGGER test_fault_rev ON terminals;"
             " DROP FUNCTION test_fault_rev()");
}

/* On a ledger sharded over two PostgreSQL databases, a terminal's
 * revocation reaches every shard with its reason: the operator's, and
 * those of a rotation and a decommission (made on shard 0, carried by the
 * directory copy); one shard 1 took while shard 0 failed keeps shard 1's
 * reason, whether the call is sent again with another or the release job
 * finishes it; a shard holding a revocation without a reason (made by an
 * older offpay) is given shard 0's. PostgreSQL only. */
static void test_terminal_revoke_reason_reaches_every_shard(void)
{
    world                w;
    offpay_terminal_cred tc[6];
    char                 why[64], a[200], b[200], sql[200];
    uint32_t             to = 0, at = 0;
    size_t               released = 0;
    offpay_err           rc;

    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    for (int i = 0; i < 6; i++)
        REQUIRE_OK(add_terminal(&w, i % 2, T0 + 300 * DAY, T0, &tc[i]));

    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[0].terminal_id,
                                                 "stolen", T0 + 10));
    CHECK(every_shard(tc[0].terminal_id, "stolen"));
    REQUIRE_OK(rotate(&w, tc[1].terminal_id, T0 + 20, &to));
    snprintf(why, sizeof why, "rotated to terminal %u", (unsigned)to);
    CHECK(every_shard(tc[1].terminal_id, why));
    CHECK(every_shard(to, "NULL"));
    REQUIRE_OK(offpay_ledger_terminal_decommission(w.l, tc[2].terminal_id,
                                                   T0 + 30, &at, NULL));
    CHECK(every_shard(tc[2].terminal_id, "decommissioned"));

    /* shard 0 fails after shard 1 took "first": sent again with another
     * reason, the first time and reason are kept everywhere */
    REQUIRE(shard_fault(0, 1));
    rc = offpay_ledger_terminal_revoke_why(w.l, tc[3].terminal_id, "first",
                                           T0 + 40);
    REQUIRE(shard_fault(0, 0));
    CHECK(rc != OFFPAY_OK);
    CHECK(
        strcmp(shard_reason(0, tc[3].terminal_id, a, sizeof a), "NULL") == 0 &&
        strcmp(shard_reason(1, tc[3].terminal_id, b, sizeof b), "first") == 0);
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[3].terminal_id,
                                                 "second", T0 + 50));
    CHECK(every_shard(tc[3].terminal_id, "first"));
    CHECK(revoked_for(&w, tc[3].terminal_id, T0 + 40, "first"));

    /* not sent again: the release job finishes it in the directory with
     * shard 1's reason */
    REQUIRE(shard_fault(0, 1));
    rc = offpay_ledger_terminal_revoke_why(w.l, tc[4].terminal_id,
                                           "lost at the market", T0 + 60);
    REQUIRE(shard_fault(0, 0));
    CHECK(rc != OFFPAY_OK);
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 70, &released));
    CHECK(every_shard(tc[4].terminal_id, "lost at the market"));
    CHECK(revoked_for(&w, tc[4].terminal_id, T0 + 60, "lost at the market"));

    /* shard 1 revoked it without a reason (an older offpay's call that
     * failed on shard 0): the directory's reason fills it */
    snprintf(sql, sizeof sql,
             "UPDATE terminals SET revoked_at = %u WHERE id = %u",
             (unsigned)(T0 + 80), (unsigned)tc[5].terminal_id);
    REQUIRE(run_sql(shard_url[1], sql));
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[5].terminal_id,
                                                 "broken screen", T0 + 90));
    CHECK(every_shard(tc[5].terminal_id, "broken screen"));
    CHECK(revoked_for(&w, tc[5].terminal_id, T0 + 80, "broken screen"));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* 1 when both shards hold terminal id revoked at `at`. */
static int every_shard_at(uint32_t id, uint32_t at)
{
    char a[32], b[32], want[32], sql[128];

    snprintf(sql, sizeof sql, "SELECT revoked_at FROM terminals WHERE id = %u",
             (unsigned)id);
    snprintf(want, sizeof want, "%u", (unsigned)at);
    if (!pg_value(shard_url[0], sql, a, sizeof a) ||
        !pg_value(shard_url[1], sql, b, sizeof b))
        return 0;
    if (strcmp(a, want) != 0 || strcmp(b, want) != 0)
        fprintf(stderr, "terminal %u: shard 0 at %s, shard 1 at %s, want %s\n",
                (unsigned)id, a, b, want);
    return strcmp(a, want) == 0 && strcmp(b, want) == 0;
}

/* On a ledger sharded over two PostgreSQL databases, every shard keeps the
 * time and reason of a terminal's first revocation, and the directory's
 * copy notices when they differ. One that shard 0 refused after shard 1
 * took it leaves the terminal live in the directory, which then took the
 * terminal's own rotation for its own revocation ("rotated to terminal
 * N", later), while the copy kept shard 1's: the shards disagreed, and
 * each directory copy found their counts equal. And shards left holding
 * different reasons for one time (as two revocations at once can leave
 * them), or different times, with the same counts: the next copy of the
 * directory makes them the first's (the earliest time; for one time, the
 * directory's). PostgreSQL only. */
static void test_terminal_revocations_agree_across_shards(void)
{
    world                w;
    offpay_ledger       *l2 = NULL;
    offpay_terminal_cred tc[3];
    char                 sql[200];
    uint32_t             to = 0;
    offpay_err           rc;

    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    for (int i = 0; i < 3; i++)
        REQUIRE_OK(add_terminal(&w, i % 2, T0 + 300 * DAY, T0, &tc[i]));

    /* cut off after shard 1: the terminal's rotation (its thief's, with
     * a new key) finishes the revocation in the directory first and is
     * refused; the first revocation is everywhere */
    REQUIRE(shard_fault(0, 1));
    rc = offpay_ledger_terminal_revoke_why(w.l, tc[0].terminal_id,
                                           "stolen at the market", T0 + 10);
    REQUIRE(shard_fault(0, 0));
    CHECK(rc != OFFPAY_OK);
    CHECK_ERR(rotate(&w, tc[0].terminal_id, T0 + 20, &to),
              OFFPAY_ETERMINAL_REVOKED);
    CHECK(every_shard(tc[0].terminal_id, "stolen at the market"));
    CHECK(every_shard_at(tc[0].terminal_id, T0 + 10));
    CHECK(revoked_for(&w, tc[0].terminal_id, T0 + 10, "stolen at the market"));
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[0].terminal_id,
                                                 "sent again", T0 + 30));
    CHECK(every_shard(tc[0].terminal_id, "stolen at the market"));

    /* the same time, another reason on shard 1, every count equal: the
     * copy (here after a revocation sent again) gives it the directory's */
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[1].terminal_id, "lost",
                                                 T0 + 40));
    snprintf(sql, sizeof sql,
             "UPDATE terminals SET revoke_reason = 'found' WHERE id = %u",
             (unsigned)tc[1].terminal_id);
    REQUIRE(run_sql(shard_url[1], sql));
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[1].terminal_id,
                                                 "again", T0 + 50));
    CHECK(every_shard(tc[1].terminal_id, "lost"));
    CHECK(every_shard_at(tc[1].terminal_id, T0 + 40));

    /* shard 1 revoked it first, for another reason: both shards take the
     * first, at its time, at the next copy (here a reopen's) */
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc[2].terminal_id,
                                                 "second", T0 + 60));
    snprintf(sql, sizeof sql,
             "UPDATE terminals SET revoked_at = %u, revoke_reason = 'first'"
             " WHERE id = %u",
             (unsigned)(T0 + 55), (unsigned)tc[2].terminal_id);
    REQUIRE(run_sql(shard_url[1], sql));
    REQUIRE_OK(offpay_ledger_open(w.path, NULL, &l2));
    offpay_ledger_close(l2);
    CHECK(every_shard(tc[2].terminal_id, "first"));
    CHECK(every_shard_at(tc[2].terminal_id, T0 + 55));
    CHECK(revoked_for(&w, tc[2].terminal_id, T0 + 55, "first"));
    CHECK(every_shard(tc[1].terminal_id, "lost"));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A terminal's payments are paid within its own credential's term, the
 * skew allowed either side, however late they are uploaded; outside it
 * they are rejected (settlement.md §8), one by one or in a batch. */
static void test_terminal_term_bounds_what_it_is_paid(void)
{
    world                w;
    uint8_t              code[5][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[5];
    offpay_terminal_cred tc;
    offpay_risk          risk;
    offpay_settle_item   it[5];
    offpay_settle_result r[5];
    const uint32_t       from = T0 + DAY, end = T0 + 2 * DAY;
    const uint32_t       now = T0 + 10 * DAY; /* uploaded long after */

    offpay_risk_defaults(EUR, &risk);
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(add_terminal(&w, 0, end, from, &tc));
    REQUIRE(tc.valid_from == from && tc.expires == end);
    /* within the term, up to its end plus the skew */
    n[0] = make_code(&w, 1, CENTS(3), from + 10, 0, code[0]);
    it[0] = (offpay_settle_item){code[0], n[0], CENTS(3), from + 20, 1};
    n[1] = make_code(&w, 2, CENTS(4), end, 0, code[1]);
    it[1] = (offpay_settle_item){code[1], n[1], CENTS(4), end + risk.skew, 2};
    /* accepted after it */
    n[2] = make_code(&w, 3, CENTS(5), end + risk.skew, 0, code[2]);
    it[2] =
        (offpay_settle_item){code[2], n[2], CENTS(5), end + risk.skew + 1, 3};
    /* made after it, dated back into it by the terminal's key */
    n[3] = make_code(&w, 4, CENTS(6), end + 2 * risk.skew + 1, 0, code[3]);
    it[3] = (offpay_settle_item){code[3], n[3], CENTS(6), end - 10, 4};
    /* dated before the terminal had its credential */
    n[4] = make_code(&w, 5, CENTS(7), T0 + 10, 0, code[4]);
    it[4] =
        (offpay_settle_item){code[4], n[4], CENTS(7), from - risk.skew - 1, 5};
    REQUIRE(n[0] && n[1] && n[2] && n[3] && n[4]);
    for (int batch = 0; batch < 2; batch++) {
        if (batch) {
            REQUIRE_OK(
                offpay_ledger_settle_batch(w.l, tc.terminal_id, it, 5, now, r));
        } else {
            for (int i = 0; i < 5; i++)
                REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it[i],
                                                now, &r[i]));
        }
        CHECK(r[0].outcome == OFFPAY_SETTLE_SETTLED && r[0].paid == CENTS(3) &&
              r[0].replay == batch);
        CHECK(r[1].outcome == OFFPAY_SETTLE_SETTLED && r[1].paid == CENTS(4) &&
              r[1].replay == batch);
        for (int i = 2; i < 5; i++)
            CHECK(r[i].outcome == OFFPAY_SETTLE_REJECTED &&
                  r[i].reason == OFFPAY_ETERMINAL_EXPIRED && r[i].paid == 0 &&
                  r[i].presentment == 0);
    }
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(7));
    CHECK(escrow(&w) == CENTS(43));
    CHECK(!revoked(&w));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A code under an issuer key the ledger's bundle lacks: not decided when
 * the key was made after the issuer was read (EBUNDLE_OLD: another
 * offpayd read it first), rejected when it was made before (retired). */
static void test_code_under_a_key_made_since_is_not_decided(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    w.cred.kid = 2; /* a key the bundle (key 1) does not hold */
    n = make_code(&w, 1, CENTS(5), T0 + 10, 0, code);
    REQUIRE(n > 0);
    r = settle(&w, 0, code, n, CENTS(5), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_EUNKNOWN_KID); /* nothing known: refused */
    offpay_ledger_set_next_kid(w.l, 2);
    r = settle(&w, 0, code, n, CENTS(5), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_EBUNDLE_OLD && r.presentment == 0);
    offpay_ledger_set_next_kid(w.l, 3); /* key 2 made, and retired */
    r = settle(&w, 0, code, n, CENTS(5), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_EUNKNOWN_KID);
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A terminal whose credential was signed by an issuer key since retired
 * (gone from the ledger's bundle) is no longer paid: a case's evidence
 * could not prove its presentments (settlement.md §8). */
static void test_terminal_under_a_retired_key_is_not_paid(void)
{
    world                w;
    offpay_keypair       k2;
    offpay_trust_bundle  b2, b3;
    uint8_t              code[2][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[2];
    offpay_terminal_cred tc;
    offpay_settle_item   it;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_keypair_generate(&k2));
    b2 = w.bundle;
    b2.seq = 2;
    b2.n_keys = 2;
    b2.keys[1] = b2.keys[0];
    b2.keys[1].kid = 2;
    memcpy(b2.keys[1].pk, k2.pk, OFFPAY_PK_BYTES);
    REQUIRE_OK(offpay_issuer_sign_bundle(w.root.sk, &b2));
    REQUIRE_OK(offpay_ledger_set_trust(w.l, &b2, 2, k2.sk));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 365 * DAY, T0, &tc));
    REQUIRE(tc.kid == 2);
    n[0] = make_code(&w, 1, CENTS(3), T0 + 10, 0, code[0]);
    n[1] = make_code(&w, 2, CENTS(4), T0 + 30, 0, code[1]);
    REQUIRE(n[0] && n[1]);
    it = (offpay_settle_item){code[0], n[0], CENTS(3), T0 + 20, 1};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 100, &r));
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED && r.paid == CENTS(3));
    /* key 2 retired: the bundle holds key 1 only */
    b3 = w.bundle;
    b3.seq = 3;
    REQUIRE_OK(offpay_issuer_sign_bundle(w.root.sk, &b3));
    REQUIRE_OK(offpay_ledger_set_trust(w.l, &b3, 1, w.issuer.sk));
    it = (offpay_settle_item){code[1], n[1], CENTS(4), T0 + 40, 2};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 200, &r));
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_ETERMINAL_EXPIRED && r.paid == 0);
    /* what it was paid before stands: sent again, the stored result */
    it = (offpay_settle_item){code[0], n[0], CENTS(3), T0 + 20, 1};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 200, &r));
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED && r.replay && r.paid == CENTS(3));
    /* an offpayd that has not read key 2 yet (the issuer's next key id
     * still 2 in its view) decides nothing of it */
    offpay_ledger_set_next_kid(w.l, 2);
    it = (offpay_settle_item){code[1], n[1], CENTS(4), T0 + 40, 2};
    REQUIRE_OK(offpay_ledger_settle(w.l, tc.terminal_id, &it, T0 + 200, &r));
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED &&
          r.reason == OFFPAY_EBUNDLE_OLD && r.presentment == 0);
    offpay_ledger_set_next_kid(w.l, 3);
    /* the same code from a terminal under key 1 is paid */
    r = settle(&w, 0, code[1], n[1], CENTS(4), T0 + 40, T0 + 200);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED && r.paid == CENTS(4));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(7));
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&k2);
    drop_world(&w);
}

/* The bundle of w's key 1 and a key 2 of k2 (seq 2), signed by the root;
 * with key 1 left out (retired) when without1. */
static void bundle_with_key2(const world *w, const offpay_keypair *k2,
                             int without1, offpay_trust_bundle *b)
{
    *b = w->bundle;
    b->seq = without1 ? 3 : 2;
    b->keys[1] = b->keys[0];
    b->keys[1].kid = 2;
    memcpy(b->keys[1].pk, k2->pk, OFFPAY_PK_BYTES);
    b->n_keys = 2;
    if (without1) {
        b->keys[0] = b->keys[1];
        b->n_keys = 1;
    }
    REQUIRE_OK(offpay_issuer_sign_bundle(w->root.sk, b));
}

/* The key of kid in v[0..n), or NULL. */
static const offpay_ledger_key_use *key_of(const offpay_ledger_key_use *v,
                                           size_t n, uint16_t kid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].kid == kid)
            return &v[i];
    return NULL;
}

/* Terminal id's kid as offpay_ledger_terminals lists it (-2: not found). */
static int32_t listed_kid(world *w, uint32_t id)
{
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    int32_t                       kid = -2;

    if (offpay_ledger_terminals(w->l, 0, id - 1, 1, &v, &n) == OFFPAY_OK &&
        n == 1 && v[0].terminal_id == id)
        kid = v[0].kid;
    free(v);
    return kid;
}

/* The kid of credential serial as the ledger issued it (-1: none). */
static int32_t cred_kid(world *w, uint64_t serial)
{
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred wc;

    if (offpay_ledger_credential_bytes(w->l, serial, bytes) != OFFPAY_OK ||
        offpay_wallet_cred_decode(bytes, sizeof bytes, &wc) != OFFPAY_OK)
        return -1;
    return wc.kid;
}

/* What each issuer key signed, as an operator reads it before retiring
 * one (docs/operations.md §6): the terminals listed with the kid of their
 * credential, a credential's kid from its bytes, and per key the live
 * terminals (not revoked, not expired; ids capped, the directory read
 * over several pages) and the credentials not released (how many, how
 * many not expired, the last expiry and its release); a key retired from
 * the bundle stays listed while it signed any, a key of the bundle that
 * signed nothing is listed empty. */
static void test_keys_say_what_each_key_signed(void)
{
    world                        w;
    offpay_keypair               k2;
    offpay_trust_bundle          b2, b3;
    offpay_terminal_cred         tc3, tc4, many;
    offpay_wallet_cred           ca, cb, cc;
    uint8_t                      bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_ledger_key_use       *v = NULL;
    const offpay_ledger_key_use *k;
    size_t                       n = 0, released = 0;
    uint32_t                     now = T0 + 15 * DAY + 3600, grace = 14 * DAY;
    uint32_t                     first_many = 0;

    REQUIRE_OK(make_world(&w, CENTS(10000), CENTS(50)));
    REQUIRE_OK(offpay_keypair_generate(&k2));
    CHECK(listed_kid(&w, w.terminal[0]) == 1);
    CHECK(cred_kid(&w, w.cred.serial) == 1);
    CHECK(offpay_ledger_credential_bytes(w.l, w.cred.serial + 1000, bytes) ==
          OFFPAY_ENOT_ISSUED);
    CHECK(offpay_ledger_credential_bytes(NULL, w.cred.serial, bytes) ==
          OFFPAY_EINVAL);
    /* key 1 signs a credential released by now */
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(5), 0,
                                   T0 + DAY, T0, bytes, &ca));
    /* key 2 added: it signs from here on */
    bundle_with_key2(&w, &k2, 0, &b2);
    REQUIRE_OK(offpay_ledger_set_trust(w.l, &b2, 2, k2.sk));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 365 * DAY, T0, &tc3));
    REQUIRE_OK(add_terminal(&w, 1, T0 + 2 * DAY, T0, &tc4)); /* expired */
    REQUIRE(tc3.kid == 2 && tc4.kid == 2);
    CHECK(listed_kid(&w, tc3.terminal_id) == 2);
    CHECK(listed_kid(&w, w.terminal[1]) == 1);
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(5), 0,
                                   T0 + 60 * DAY, T0, bytes, &cb));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(5), 0,
                                   T0 + 3 * DAY, T0, bytes, &cc));
    CHECK(cred_kid(&w, cb.serial) == 2 && cred_kid(&w, ca.serial) == 1);
    /* 105 more terminals of key 2: past a page of the directory's read
     * and past the ids named */
    for (int i = 0; i < 105; i++) {
        REQUIRE_OK(add_terminal(&w, i % 2, T0 + 300 * DAY, T0, &many));
        if (i == 0)
            first_many = many.terminal_id;
    }
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[1], T0 + 10));
    REQUIRE_OK(offpay_ledger_release_due(w.l, now, &released));
    CHECK(released == 1); /* ca: its expiry and the grace passed */

    REQUIRE_OK(offpay_ledger_keys(w.l, now, 1, &v, &n));
    REQUIRE(n == 2);
    k = key_of(v, n, 1);
    REQUIRE(k != NULL);
    CHECK(k->in_bundle && !k->signing && k->valid_from == T0 - DAY &&
          k->valid_until == T0 + 400 * DAY);
    /* terminal 1 revoked */
    CHECK(k->terminals == 1 && k->terminal_ids[0] == w.terminal[0]);
    /* w.cred only (ca released), not expired */
    CHECK(k->credentials == 1 && k->credentials_live == 1);
    CHECK(k->credentials_expire == T0 + 30 * DAY &&
          k->release_due == T0 + 30 * DAY + grace);
    k = key_of(v, n, 2);
    REQUIRE(k != NULL);
    CHECK(k->in_bundle && k->signing);
    /* tc3 and the 105 (tc4 expired), by id, the first 100 named */
    CHECK(k->terminals == 106);
    CHECK(k->terminal_ids[0] == tc3.terminal_id &&
          k->terminal_ids[1] == first_many &&
          k->terminal_ids[OFFPAY_LEDGER_KEY_TERMINALS_SHOWN - 1] ==
              first_many + OFFPAY_LEDGER_KEY_TERMINALS_SHOWN - 2);
    /* cb and cc, cc expired */
    CHECK(k->credentials == 2 && k->credentials_live == 1);
    CHECK(k->credentials_expire == T0 + 60 * DAY &&
          k->release_due == T0 + 60 * DAY + grace);
    free(v);

    /* the terminals alone: the credentials' fields 0 */
    REQUIRE_OK(offpay_ledger_keys(w.l, now, 0, &v, &n));
    REQUIRE(n == 2);
    CHECK(v[0].terminals == 1 && v[1].terminals == 106);
    CHECK(v[0].credentials == 0 && v[1].credentials == 0 &&
          v[0].credentials_expire == 0 && v[1].release_due == 0);
    free(v);

    /* key 1 retired: still listed, out of the bundle, with what it
     * signed; after w.cred's release it would be listed no more */
    bundle_with_key2(&w, &k2, 1, &b3);
    REQUIRE_OK(offpay_ledger_set_trust(w.l, &b3, 2, k2.sk));
    REQUIRE_OK(offpay_ledger_keys(w.l, now, 1, &v, &n));
    REQUIRE(n == 2);
    CHECK(v[0].kid == 1 && !v[0].in_bundle && !v[0].signing &&
          v[0].valid_until == 0 && v[0].terminals == 1 &&
          v[0].credentials == 1);
    CHECK(v[1].kid == 2 && v[1].in_bundle && v[1].signing);
    free(v);
    /* terminal 0 revoked too, every credential released: key 1 signed
     * nothing live, and is gone; key 2 of the bundle stays, with its
     * terminals */
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[0], T0 + 20));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 75 * DAY, &released));
    REQUIRE_OK(offpay_ledger_keys(w.l, T0 + 75 * DAY, 1, &v, &n));
    REQUIRE(n == 1);
    CHECK(v[0].kid == 2 && v[0].in_bundle && v[0].credentials == 0 &&
          v[0].release_due == 0 && v[0].terminals == 106);
    free(v);
    CHECK(offpay_ledger_keys(NULL, now, 1, &v, &n) == OFFPAY_EINVAL);
    CHECK(audit_ok(&w));
    offpay_keypair_wipe(&k2);
    drop_world(&w);
}

/* On a ledger sharded over two databases the credentials of one key on
 * every shard are counted, and the latest expiry is the latest of all. */
static void test_keys_read_every_shard(void)
{
    world                  w;
    uint64_t               acct2;
    offpay_wallet_cred     c2;
    uint8_t                bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_ledger_key_use *v = NULL;
    size_t                 n = 0;

    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    /* the second wallet account goes to shard 1 (the fewest wallets) */
    REQUIRE_OK(offpay_ledger_wallet_account(w.l, EUR, "payer 2", T0, &acct2));
    REQUIRE(acct2 > 1000000000u);
    REQUIRE_OK(
        offpay_ledger_deposit(w.l, acct2, CENTS(100), "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_issue(w.l, acct2, w.wallet.pk, CENTS(5), 0,
                                   T0 + 90 * DAY, T0, bytes, &c2));
    REQUIRE(c2.serial > 1000000000u);
    CHECK(cred_kid(&w, c2.serial) == 1);
    REQUIRE_OK(offpay_ledger_keys(w.l, T0 + 31 * DAY, 1, &v, &n));
    REQUIRE(n == 1);
    CHECK(v[0].kid == 1 && v[0].terminals == 2 && v[0].credentials == 2 &&
          v[0].credentials_live == 1 &&
          v[0].credentials_expire == T0 + 90 * DAY);
    free(v);
    drop_world(&w);
}

/* An operator's deposit or withdrawal sent again under its request key
 * (a retry after a lost reply) moves the money once; the key used for
 * anything else is refused and moves nothing. */
static void test_request_key_moves_money_once(void)
{
    world      w;
    uint64_t   t1 = 0, t2 = 0, t3 = 0;
    int        replayed = -1;
    int64_t    before;
    const char key64[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char key65[sizeof key64 + 1];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(10)));
    before = balance(&w, w.wallet_acct);

    REQUIRE_OK(offpay_ledger_move_once(w.l, w.wallet_acct, 500, 0, "bank 1",
                                       "dep-1", T0, &t1, &replayed));
    CHECK(replayed == 0 && t1 != 0);
    REQUIRE_OK(offpay_ledger_move_once(w.l, w.wallet_acct, 500, 0, "bank 1",
                                       "dep-1", T0 + 60, &t2, &replayed));
    CHECK(replayed == 1 && t2 == t1);
    CHECK(balance(&w, w.wallet_acct) == before + 500);

    /* the key again for another amount, direction or account */
    CHECK(offpay_ledger_move_once(w.l, w.wallet_acct, 501, 0, NULL, "dep-1",
                                  T0, &t3, NULL) == OFFPAY_EEXISTS);
    CHECK(offpay_ledger_move_once(w.l, w.wallet_acct, 500, 1, NULL, "dep-1",
                                  T0, &t3, NULL) == OFFPAY_EEXISTS);
    CHECK(offpay_ledger_move_once(w.l, w.merchant_acct[0], 500, 0, NULL,
                                  "dep-1", T0, &t3, NULL) == OFFPAY_EEXISTS);
    CHECK(t3 == 0);
    CHECK(balance(&w, w.wallet_acct) == before + 500);
    CHECK(balance(&w, w.merchant_acct[0]) == 0);

    /* a withdrawal: once, and a refused one books no key */
    REQUIRE_OK(offpay_ledger_move_once(w.l, w.wallet_acct, 300, 1, NULL,
                                       "wd-1", T0, &t1, &replayed));
    CHECK(replayed == 0);
    REQUIRE_OK(offpay_ledger_move_once(w.l, w.wallet_acct, 300, 1, NULL,
                                       "wd-1", T0, &t2, &replayed));
    CHECK(replayed == 1 && t2 == t1);
    CHECK(balance(&w, w.wallet_acct) == before + 200);
    CHECK(offpay_ledger_move_once(w.l, w.wallet_acct, CENTS(1000), 1, NULL,
                                  "wd-2", T0, NULL, NULL) == OFFPAY_EFUNDS);
    REQUIRE_OK(offpay_ledger_move_once(w.l, w.wallet_acct, 100, 1, NULL,
                                       "wd-2", T0, NULL, &replayed));
    CHECK(replayed == 0);
    CHECK(balance(&w, w.wallet_acct) == before + 100);

    /* a credential issued under a key: one escrow, the same bytes again */
    {
        uint8_t            b1[OFFPAY_WALLET_CRED_BYTES];
        uint8_t            b2[OFFPAY_WALLET_CRED_BYTES];
        offpay_wallet_cred c1, c2;
        int64_t            was = balance(&w, w.wallet_acct);

        REQUIRE_OK(offpay_ledger_issue_once(w.l, "cred-1", w.wallet_acct,
                                            w.wallet.pk, 50, 1, T0 + DAY, T0,
                                            b1, &c1, &replayed));
        CHECK(replayed == 0);
        REQUIRE_OK(offpay_ledger_issue_once(w.l, "cred-1", w.wallet_acct,
                                            w.wallet.pk, 50, 1, T0 + DAY,
                                            T0 + 60, b2, &c2, &replayed));
        CHECK(replayed == 1 && c2.serial == c1.serial &&
              memcmp(b1, b2, sizeof b1) == 0);
        CHECK(balance(&w, w.wallet_acct) == was - 50);
        /* the key for another limit, or a deposit */
        CHECK(offpay_ledger_issue_once(w.l, "cred-1", w.wallet_acct,
                                       w.wallet.pk, 60, 1, T0 + DAY, T0, b2,
                                       &c2, NULL) == OFFPAY_EEXISTS);
        CHECK(offpay_ledger_move_once(w.l, w.wallet_acct, 50, 0, NULL,
                                      "cred-1", T0, NULL, NULL) ==
              OFFPAY_EEXISTS);
        /* the key asking other flags (bound codes only): not the first
         * credential, which allows unbound ones */
        CHECK(offpay_ledger_issue_once(w.l, "cred-1", w.wallet_acct,
                                       w.wallet.pk, 50, 0, T0 + DAY, T0 + 60,
                                       b2, &c2, NULL) == OFFPAY_EEXISTS);
        CHECK(balance(&w, w.wallet_acct) == was - 50);
        /* the expiry it was made with, not another; one past the signing
         * key's end is what was cut to it */
        CHECK(offpay_ledger_issue_expires_is(w.l, &c1, T0 + DAY) == 1);
        CHECK(offpay_ledger_issue_expires_is(w.l, &c1, T0 + DAY - 1) == 0);
        CHECK(offpay_ledger_issue_expires_is(w.l, &c1, T0 + DAY + 1) == 0);
        REQUIRE_OK(offpay_ledger_issue_once(w.l, "cred-2", w.wallet_acct,
                                            w.wallet.pk, 1, 1, UINT32_MAX, T0,
                                            b2, &c2, &replayed));
        CHECK(c2.expires < UINT32_MAX);
        CHECK(offpay_ledger_issue_expires_is(w.l, &c2, UINT32_MAX) == 1);
        CHECK(offpay_ledger_issue_expires_is(w.l, &c2, c2.expires) == 1);
        CHECK(offpay_ledger_issue_expires_is(w.l, &c2, c2.expires - 1) == 0);
        CHECK(offpay_ledger_issue_expires_is(NULL, &c2, c2.expires) == 0);
        before -= 1;
        before -= 50;
    }

    /* malformed keys */
    memcpy(key65, key64, sizeof key64 - 1);
    key65[sizeof key64 - 1] = 'x';
    key65[sizeof key64] = '\0';
    CHECK(offpay_ledger_request_key_ok(key64));
    CHECK(!offpay_ledger_request_key_ok(key65));
    CHECK(!offpay_ledger_request_key_ok(""));
    CHECK(!offpay_ledger_request_key_ok("a b"));
    CHECK(!offpay_ledger_request_key_ok("caf\xc3\xa9"));
    CHECK(offpay_ledger_move_once(w.l, w.wallet_acct, 1, 0, NULL, key65, T0,
                                  NULL, NULL) == OFFPAY_EINVAL);
    CHECK(offpay_ledger_move_once(w.l, w.wallet_acct, 1, 0, NULL, NULL, T0,
                                  NULL, NULL) == OFFPAY_EINVAL);
    CHECK(balance(&w, w.wallet_acct) == before + 100);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_issue_needs_funds_and_a_valid_key(void)
{
    world   w;
    uint8_t bytes[OFFPAY_WALLET_CRED_BYTES], bad[OFFPAY_PK_BYTES];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    CHECK_ERR(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(51), 0,
                                  T0 + DAY, T0, bytes, NULL),
              OFFPAY_EFUNDS);
    memset(bad, 0xff, sizeof bad);
    CHECK_ERR(offpay_ledger_issue(w.l, w.wallet_acct, bad, CENTS(1), 0,
                                  T0 + DAY, T0, bytes, NULL),
              OFFPAY_EWEAK_KEY);
    CHECK_ERR(
        offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(51), "atm", T0, NULL),
        OFFPAY_EFUNDS);
    REQUIRE_OK(
        offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(50), "atm", T0, NULL));
    CHECK(balance(&w, w.wallet_acct) == 0);
    CHECK_ERR(offpay_ledger_revoke(w.l, 999999, "x", T0), OFFPAY_ENOT_ISSUED);
    CHECK(!revoked(&w));
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "lost", T0 + 5));
    CHECK(revoked(&w));
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "again", T0 + 6));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Nothing signed outlives the daily key that signs it (the key in
 * make_world ends at T0 + 400 days): a wallet or terminal checks the key's
 * window, so a credential past it would be dead weight, its escrow locked.
 * Past the key's end nothing is signed and no money moves. */
static void test_credentials_end_with_the_signing_key(void)
{
    world                w;
    uint8_t              bytes[OFFPAY_WALLET_CRED_BYTES];
    uint8_t              tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               tlen = 0;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    offpay_keypair       tk;
    int64_t              before;
    const uint32_t       end = T0 + 400 * DAY;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(20)));
    CHECK(w.cred.expires == T0 + 30 * DAY); /* well inside: unchanged */
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(10),
                                   0, end + 30 * DAY, end - DAY, bytes, &wc));
    CHECK(wc.expires == end);
    REQUIRE_OK(offpay_keypair_generate(&tk));
    REQUIRE_OK(offpay_ledger_terminal_add(w.l, w.merchant[0], tk.pk,
                                          end + 365 * DAY, end - DAY, tbytes,
                                          &tlen, &tc));
    CHECK(tc.expires == end);
    offpay_keypair_wipe(&tk);
    REQUIRE_OK(offpay_keypair_generate(&tk));
    before = balance(&w, w.wallet_acct);
    CHECK_ERR(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(10), 0,
                                  end + 30 * DAY, end + 1, bytes, &wc),
              OFFPAY_EKID_EXPIRED);
    CHECK_ERR(offpay_ledger_terminal_add(w.l, w.merchant[0], tk.pk,
                                         end + 365 * DAY, end + 1, tbytes,
                                         &tlen, &tc),
              OFFPAY_EKID_EXPIRED);
    offpay_keypair_wipe(&tk);
    CHECK(balance(&w, w.wallet_acct) == before);
    {
        uint8_t *rl = NULL;
        size_t   rl_len = 0;

        REQUIRE_OK(offpay_ledger_revlist(w.l, 0, end, &rl, &rl_len));
        free(rl);
        rl = NULL;
        CHECK_ERR(offpay_ledger_revlist(w.l, 0, end + 1, &rl, &rl_len),
                  OFFPAY_EKID_EXPIRED);
        CHECK(rl == NULL);
    }
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The audit must be able to fail: change the ledger behind its back. */
static void test_audit_catches_a_ledger_changed_behind_its_back(void)
{
    world               w;
    offpay_audit_report r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE(audit_ok(&w));
    REQUIRE(
        run_sql(w.path, "UPDATE credentials SET remaining = remaining + 1"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.escrow_mismatch == 1);
    REQUIRE(
        run_sql(w.path, "UPDATE credentials SET remaining = remaining - 1"));
    REQUIRE(audit_ok(&w));
    /* request keys that name nothing their request booked */
    REQUIRE_OK(offpay_ledger_move_once(w.l, w.wallet_acct, 10, 0, NULL, "k-1",
                                       T0, NULL, NULL));
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.request_mismatch == 0);
    REQUIRE(run_sql(w.path, "UPDATE request_keys SET amount = 9"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.request_mismatch == 1); /* its transfer moved more */
    REQUIRE(run_sql(w.path, "UPDATE request_keys SET amount = 10, op = 2"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.request_mismatch == 1); /* a withdrawal naming a deposit */
    REQUIRE(run_sql(w.path, "UPDATE request_keys SET op = 3"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.request_mismatch == 1); /* an issue naming no credential */
    REQUIRE(run_sql(w.path, "UPDATE request_keys SET op = 1"));
    REQUIRE(audit_ok(&w));
    REQUIRE(run_sql(w.path, "DELETE FROM transfers WHERE kind = 'fund'"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.escrow_mismatch == 1); /* remaining 50, derived 0 */
    drop_world(&w);

    /* a withdrawal that emptied the wallet account, raised by a minor
     * unit: the account below zero; a released escrow whose credential
     * says it was never released: its release transfer is counted */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(
        offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(50), "out", T0, NULL));
    REQUIRE(run_sql(w.path, "UPDATE transfers SET amount = amount + 1 WHERE "
                            "kind = 'withdraw'"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.negative == 1);
    REQUIRE(run_sql(w.path, "UPDATE transfers SET amount = amount - 1 WHERE "
                            "kind = 'withdraw'"));
    REQUIRE(audit_ok(&w));
    REQUIRE_OK(offpay_ledger_release_due(w.l, T0 + 45 * DAY, NULL));
    REQUIRE(balance(&w, w.wallet_acct) == CENTS(50));
    REQUIRE(run_sql(w.path, "UPDATE credentials SET released_at = NULL"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.release_mismatch == 1);
    {
        char sql[96];

        snprintf(sql, sizeof sql, "UPDATE credentials SET released_at = %u",
                 T0 + 45 * DAY);
        REQUIRE(run_sql(w.path, sql));
    }
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The ledger's transfers, as the audit counts them. */
static uint64_t audit_transfers(world *w)
{
    offpay_audit_report r;

    return offpay_ledger_audit(w->l, &r) == OFFPAY_OK ? r.transfers : 0;
}

/* Merchant 0's statement account over [from, to]. */
static offpay_statement_account period_of(world *w, uint32_t from, uint32_t to)
{
    offpay__statement st;

    memset(&st, 0, sizeof st);
    st.merchant = w->merchant[0];
    st.from = from;
    st.to = to;
    if (offpay__statement_read(w->l, &st) != OFFPAY_OK)
        st.acct.balance = INT64_MIN;
    offpay__statement_free(&st);
    return st.acct;
}

static int same_period(const offpay_statement_account *a,
                       const offpay_statement_account *b)
{
    return a->balance == b->balance &&
           a->opening_balance == b->opening_balance &&
           a->closing_balance == b->closing_balance &&
           a->settled == b->settled && a->deposits == b->deposits &&
           a->withdrawals == b->withdrawals && a->other == b->other;
}

/* The ledger's balances by kind at past dates (offpay_ledger_balance_sheet;
 * settlement.md §10, "Balances at past dates"), on one ledger and on one
 * sharded over two databases: a sheet until now is the overview's money by
 * kind; a period's opening is the closing of the second before it; its in
 * and out are its transfers', each movement named by its kind and its
 * accounts' kinds; a booking after the period moves none of it. */
static void check_balance_sheet(world *w)
{
    offpay_balance_sheet *a = malloc(sizeof *a), *b = malloc(sizeof *b),
                         *c = malloc(sizeof *c);
    offpay_overview *o = NULL;
    uint8_t          code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t           n;

    REQUIRE(a != NULL && b != NULL && c != NULL);
    n = make_code(w, 1, CENTS(20), T0 + 10, 0, code);
    REQUIRE(settle(w, 0, code, n, CENTS(20), T0 + 10, T0 + 20).outcome ==
            OFFPAY_SETTLE_SETTLED);
    REQUIRE_OK(offpay_ledger_withdraw(w->l, w->merchant_acct[0], CENTS(5),
                                      "payout", T0 + 30, NULL));
    /* both ends included: the settlement at T0 + 20, the payout at 30 */
    REQUIRE_OK(offpay_ledger_balance_sheet(w->l, 0, T0 + 19, a));
    REQUIRE_OK(offpay_ledger_balance_sheet(w->l, T0 + 20, T0 + 30, b));
    REQUIRE(a->n_currencies == 1 && b->n_currencies == 1);
    CHECK(!a->more && !b->more);
    /* at T0 + 19: the payer's 100.00 less its 50.00 credential, the
     * guarantee's 1000.00, all from outside */
    CHECK(a->currencies[0].currency == EUR &&
          a->currencies[0].closing[0] == -CENTS(1100) &&
          a->currencies[0].closing[1] == CENTS(50) &&
          a->currencies[0].closing[2] == CENTS(50) &&
          a->currencies[0].closing[3] == 0 &&
          a->currencies[0].closing[4] == CENTS(1000) && a->n_flows == 3);
    /* (a sharded ledger splits the guarantee's deposit over its parts: a
     * transfer on each shard) */
    CHECK(strcmp(a->flows[1].kind, "deposit") == 0 &&
          a->flows[1].to == OFFPAY_ACCOUNT_GUARANTEE &&
          a->flows[1].amount == CENTS(1000) &&
          a->currencies[0].transfers == 2 + a->flows[1].count);
    for (int k = 0; k < 5; k++)
        CHECK(b->currencies[0].opening[k] == a->currencies[0].closing[k]);
    /* the period: 20.00 settled from the escrow, 5.00 paid out */
    CHECK(b->currencies[0].transfers == 2 &&
          b->currencies[0].out[2] == CENTS(20) &&
          b->currencies[0].in[3] == CENTS(20) &&
          b->currencies[0].out[3] == CENTS(5) &&
          b->currencies[0].in[0] == CENTS(5) &&
          b->currencies[0].closing[3] == CENTS(15) &&
          b->currencies[0].closing[0] == -CENTS(1095));
    REQUIRE(b->n_flows == 2);
    CHECK(strcmp(b->flows[0].kind, "settle") == 0 &&
          b->flows[0].from == OFFPAY_ACCOUNT_ESCROW &&
          b->flows[0].to == OFFPAY_ACCOUNT_MERCHANT && b->flows[0].count == 1 &&
          b->flows[0].amount == CENTS(20));
    CHECK(strcmp(b->flows[1].kind, "withdraw") == 0 &&
          b->flows[1].from == OFFPAY_ACCOUNT_MERCHANT &&
          b->flows[1].to == OFFPAY_ACCOUNT_WORLD && b->flows[1].count == 1 &&
          b->flows[1].amount == CENTS(5));
    /* booked after it: the period reads the same */
    REQUIRE_OK(offpay_ledger_deposit(w->l, w->wallet_acct, CENTS(7), "later",
                                     T0 + 50, NULL));
    REQUIRE_OK(offpay_ledger_balance_sheet(w->l, T0 + 20, T0 + 30, c));
    CHECK(memcmp(b, c, sizeof *b) == 0);
    /* until now: the overview's money by kind */
    REQUIRE_OK(offpay_ledger_balance_sheet(w->l, 0, T0 + DAY, c));
    REQUIRE_OK(offpay_ledger_overview(w->l, T0 + DAY, DAY, T0 + DAY, &o));
    CHECK(o->n_kinds == 5);
    for (size_t i = 0; i < o->n_kinds; i++)
        CHECK(o->kinds[i].currency == EUR &&
              c->currencies[0].closing[o->kinds[i].kind - 1] ==
                  o->kinds[i].balance);
    offpay_overview_free(o);
    CHECK_ERR(offpay_ledger_balance_sheet(w->l, T0 + 1, T0, c), OFFPAY_EINVAL);
    free(a);
    free(b);
    free(c);
}

/* The ledger's digest (offpay_ledger_digest; settlement.md §10, "The
 * ledger's digest"): the same for the same transfers whatever is booked
 * after them, and another when one of them is changed (a reference, an
 * amount) or removed, the change undone giving it back; without upto,
 * each shard's last transfer mark or its highest id. Its value for
 * make_world's first three transfers is pinned: an auditor's kept digest
 * must read the same with every later version (e2e.offpayd_report
 * computes it again from the rows, in Python). */
static void test_digest_proves_the_transfers_kept(void)
{
    offpay_transfers_digest d[OFFPAY_SHARDS_MAX], e[OFFPAY_SHARDS_MAX];
    world                   w;
    size_t                  n = 0;
    uint64_t                marked = 0;
    int                     more = 1;
    char                    hex[65];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, d, OFFPAY_SHARDS_MAX, &n));
    REQUIRE(n == 1);
    sodium_bin2hex(hex, sizeof hex, d[0].digest, sizeof d[0].digest);
    CHECK(d[0].upto == 3 && d[0].transfers == 3 && d[0].last_id == 3 &&
          d[0].newest_at == T0 && d[0].marked == 0);
    CHECK(strcmp(hex, "e0637ccf47b5f238f907ace15bed74f4"
                      "ec1eda5a037f9936eeaf81ca2411172b") == 0);
    /* later bookings: the same */
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, CENTS(7), "later",
                                     T0 + 50, NULL));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(n == 1 && memcmp(d[0].digest, e[0].digest, 32) == 0);
    /* a reference changed, then back; an amount; a transfer removed */
    REQUIRE(
        run_sql(w.path, "UPDATE transfers SET ref = 'top-up ' WHERE id = 1"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) != 0);
    {
        offpay_transfers_digest none[OFFPAY_SHARDS_MAX];

        /* a reference of none and an empty one: two digests */
        REQUIRE(
            run_sql(w.path, "UPDATE transfers SET ref = NULL WHERE id = 1"));
        REQUIRE_OK(offpay_ledger_digest(w.l, 3, UINT32_MAX, none,
                                        OFFPAY_SHARDS_MAX, &n));
        REQUIRE(run_sql(w.path, "UPDATE transfers SET ref = '' WHERE id = 1"));
        REQUIRE_OK(
            offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
        CHECK(memcmp(none[0].digest, e[0].digest, 32) != 0);
    }
    REQUIRE(
        run_sql(w.path, "UPDATE transfers SET ref = 'top-up' WHERE id = 1"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) == 0);
    REQUIRE(run_sql(w.path,
                    "UPDATE transfers SET amount = amount + 1 WHERE id = 2"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) != 0);
    REQUIRE(run_sql(w.path,
                    "UPDATE transfers SET amount = amount - 1 WHERE id = 2"));
    /* an account's kind changed: the transfers it takes part in read
     * otherwise */
    REQUIRE(run_sql(w.path, "UPDATE accounts SET kind = 4 WHERE id = (SELECT"
                            " credit FROM transfers WHERE id = 1)"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) != 0);
    REQUIRE(run_sql(w.path, "UPDATE accounts SET kind = 2 WHERE id = (SELECT"
                            " credit FROM transfers WHERE id = 1)"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) == 0);
    /* a row with an id below 1, written behind the ledger's back */
    REQUIRE(run_sql(w.path, "INSERT INTO transfers (id, debit, credit, amount,"
                            " kind, at) SELECT 0, debit, credit, 1, kind, at"
                            " FROM transfers WHERE id = 1"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) != 0 && e[0].transfers == 4);
    REQUIRE(run_sql(w.path, "DELETE FROM transfers WHERE id = 0"));
    REQUIRE(run_sql(w.path, "DELETE FROM transfers WHERE id = 3"));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 3, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) != 0 && e[0].transfers == 2);
    drop_world(&w);

    /* dated until a time: the same after a later booking, another after
     * one dated back into it (written behind the ledger's back, as a
     * clock gone back on a quiet ledger could), whatever its id */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_digest(w.l, 0, T0 + 10, d, OFFPAY_SHARDS_MAX, &n));
    CHECK(n == 1 && d[0].transfers == 3 && d[0].until == T0 + 10);
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, CENTS(7), "later",
                                     T0 + 50, NULL));
    REQUIRE_OK(offpay_ledger_digest(w.l, 0, T0 + 10, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) == 0 && e[0].transfers == 3);
    REQUIRE(run_sql(w.path, "INSERT INTO transfers (debit, credit, amount,"
                            " kind, at) SELECT debit, credit, 1, kind, at"
                            " FROM transfers WHERE id = 1"));
    REQUIRE_OK(offpay_ledger_digest(w.l, 0, T0 + 10, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(memcmp(d[0].digest, e[0].digest, 32) != 0 && e[0].transfers == 4 &&
          e[0].last_id == 5);
    drop_world(&w);

    /* without upto: the highest id, then the last mark's */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 0, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(n == 1 && e[0].upto == 3 && !e[0].marked);
    while (more)
        REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 10, 0, &marked, &more));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, CENTS(7), "later",
                                     T0 + 50, NULL));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 0, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(n == 1 && e[0].upto == 3 && e[0].marked && e[0].transfers == 3);
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 4, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(e[0].upto == 4 && !e[0].marked && e[0].transfers == 4);
    CHECK_ERR(offpay_ledger_digest(w.l, 0, UINT32_MAX, e, 0, &n),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_digest(w.l, -1, UINT32_MAX, e, 1, &n),
              OFFPAY_EINVAL);
    drop_world(&w);
    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(
        offpay_ledger_digest(w.l, 0, UINT32_MAX, e, OFFPAY_SHARDS_MAX, &n));
    CHECK(n == 2 && e[0].transfers + e[1].transfers >= 3);
    drop_world(&w);
}

/* The ledger's clock (settlement.md §10): a transfer dated more than 60 s
 * before the newest is refused ECLOCK_BEHIND, saying so, nothing booked;
 * 60 s is a request still committing, and booked. After a clock that ran
 * 45 days ahead is set right, a release on it is refused like any booking
 * until an operator vouches for the clock (offpay_ledger_clock_vouch);
 * then the release books, escrow due and all, and bookings go on, held to
 * the vouch's time and to what is booked after it, never to any date; a
 * vouch on a clock behind an earlier vouch is refused. */
static void test_ledger_clock_does_not_go_back(void)
{
    world                 w;
    offpay_release_report rep;
    int64_t               before;
    uint32_t              ahead = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "ahead",
                                     T0 + 60 * DAY, NULL));
    before = balance(&w, w.wallet_acct);
    CHECK_ERR(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "behind",
                                    T0 + 60 * DAY - 61, NULL),
              OFFPAY_ECLOCK_BEHIND);
    CHECK(strstr(offpay__ledger_clock_detail(),
                 "61 s before the ledger's newest transfer") != NULL);
    CHECK(balance(&w, w.wallet_acct) == before);
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "committing",
                                     T0 + 60 * DAY - 60, NULL));
    /* the clock set right: the release refused until the vouch */
    CHECK_ERR(offpay_ledger_release_report(w.l, T0 + 45 * DAY, &rep),
              OFFPAY_ECLOCK_BEHIND);
    REQUIRE_OK(offpay_ledger_clock_vouch(w.l, T0 + 45 * DAY, &ahead));
    CHECK(ahead == 15 * DAY);
    CHECK_ERR(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "far back",
                                    T0 + 40 * DAY, NULL),
              OFFPAY_ECLOCK_BEHIND);
    CHECK(strstr(offpay__ledger_clock_detail(),
                 "the time an operator vouched for") != NULL);
    REQUIRE_OK(offpay_ledger_release_report(w.l, T0 + 45 * DAY, &rep));
    CHECK(rep.released == 1);
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.wallet_acct, 1, "payout",
                                      T0 + 45 * DAY + 5, NULL));
    /* booked after the vouch, days on: held to it */
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "later",
                                     T0 + 50 * DAY, NULL));
    CHECK_ERR(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "between",
                                    T0 + 46 * DAY, NULL),
              OFFPAY_ECLOCK_BEHIND);
    /* a vouch on a clock behind the last one: refused */
    CHECK_ERR(offpay_ledger_clock_vouch(w.l, T0 + 44 * DAY, NULL),
              OFFPAY_ECLOCK_BEHIND);
    CHECK(strstr(offpay__ledger_clock_detail(), "before an earlier vouch") !=
          NULL);
    CHECK(audit_ok(&w));
    /* a shard's transfer ids may lie past 2^32 (its range in a shard
     * map): a vouch past such an id is kept whole, not cut to 32 bits
     * (which left the transfer dated ahead holding bookings back). One
     * such transfer, dated 90 days on, written behind the engine's back;
     * vouched for on day 60, bookings go on */
    if (pg_prefix() == NULL) {
        char sql[256];

        snprintf(sql, sizeof sql,
                 "INSERT INTO transfers (id, debit, credit, amount, kind, at)"
                 " SELECT 5000000000, debit, credit, 1, 'deposit', %lu FROM"
                 " transfers WHERE kind = 'deposit' LIMIT 1",
                 (unsigned long)(T0 + 90 * DAY));
        REQUIRE(run_sql(w.path, sql));
        CHECK_ERR(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "before",
                                        T0 + 60 * DAY, NULL),
                  OFFPAY_ECLOCK_BEHIND);
        REQUIRE_OK(offpay_ledger_clock_vouch(w.l, T0 + 60 * DAY, &ahead));
        CHECK(ahead == 30 * DAY);
        CHECK_ERR(offpay_ledger_deposit(w.l, w.wallet_acct, 1, "after",
                                        T0 + 60 * DAY + 10, NULL),
                  OFFPAY_OK);
    }
    drop_world(&w);
}

static void test_balance_sheet_at_past_dates(void)
{
    world w;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    check_balance_sheet(&w);
    CHECK(audit_ok(&w));
    drop_world(&w);
    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    check_balance_sheet(&w);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The marking job (019_balance_marks): a balance and a period read from
 * the marks what they read from the whole history, before and after
 * transfers come in after the marks (one dated before them); the reads
 * use the marks (a mark changed behind the ledger's back shows), and the
 * audit checks every mark against the transfers. */
static void test_marks_change_no_balance_and_the_audit_checks_them(void)
{
    /* the periods asked: before, across and after the marked transfers */
    static const uint32_t span[][2] = {{0, T0 - 1},        {T0, T0 + 5},
                                       {T0 + 3, T0 + 8},   {T0 + 6, T0 + 60},
                                       {T0 + 20, T0 + 99}, {T0 + 99, T0 + 200}};
    enum { N_SPAN = sizeof span / sizeof span[0] };
    offpay_statement_account before[N_SPAN], p;
    world                    w;
    uint8_t                  code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                   n;
    uint64_t                 marked = 0, total = 0;
    int                      more = 1, calls = 0;
    int64_t                  m0, g, wal;
    offpay_audit_report      r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    for (uint32_t i = 0; i < 12; i++)
        REQUIRE_OK(offpay_ledger_deposit(w.l, w.merchant_acct[0], 100 + i, NULL,
                                         T0 + i, NULL));
    n = make_code(&w, 1, CENTS(20), T0 + 4, 0, code);
    REQUIRE(settle(&w, 0, code, n, CENTS(20), T0 + 5, T0 + 6).outcome ==
            OFFPAY_SETTLE_SETTLED);
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.merchant_acct[0], 50, "out",
                                      T0 + 7, NULL));
    m0 = balance(&w, w.merchant_acct[0]);
    g = balance(&w, w.guarantee);
    wal = balance(&w, w.wallet_acct);
    for (size_t i = 0; i < N_SPAN; i++)
        before[i] = period_of(&w, span[i][0], span[i][1]);

    /* three ids a transaction, at most ten transactions a call */
    while (more && calls < 10) {
        REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 10, 3, &marked, &more));
        total += marked;
        calls++;
    }
    CHECK(!more && calls == (int)((audit_transfers(&w) + 29) / 30));
    CHECK(total == audit_transfers(&w));
    REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 10, 3, &marked, &more));
    CHECK(marked == 0 && !more); /* nothing new */
    CHECK(balance(&w, w.merchant_acct[0]) == m0 &&
          balance(&w, w.guarantee) == g && balance(&w, w.wallet_acct) == wal);
    for (size_t i = 0; i < N_SPAN; i++) {
        p = period_of(&w, span[i][0], span[i][1]);
        CHECK(same_period(&p, &before[i]));
    }
    CHECK(audit_ok(&w));

    /* after the marks: one deposit dated before them, one after */
    REQUIRE_OK(
        offpay_ledger_deposit(w.l, w.merchant_acct[0], 7, NULL, T0 + 2, NULL));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.merchant_acct[0], 9, NULL, T0 + 150,
                                     NULL));
    CHECK(balance(&w, w.merchant_acct[0]) == m0 + 16);
    p = period_of(&w, T0 + 3, T0 + 8); /* the first is before it */
    CHECK(p.opening_balance == before[2].opening_balance + 7 &&
          p.closing_balance == before[2].closing_balance + 7 &&
          p.deposits == before[2].deposits && p.balance == m0 + 16);
    p = period_of(&w, T0, T0 + 5); /* it is in it */
    CHECK(p.opening_balance == before[1].opening_balance &&
          p.deposits == before[1].deposits + 7 &&
          p.closing_balance == before[1].closing_balance + 7);
    p = period_of(&w, T0 + 99, T0 + 200); /* the second is in it */
    CHECK(p.opening_balance == before[5].opening_balance + 7 &&
          p.deposits == 9 &&
          p.closing_balance == before[5].closing_balance + 16);
    REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 160, 0, &marked, &more));
    CHECK(marked == 2 && !more);
    CHECK(balance(&w, w.merchant_acct[0]) == m0 + 16);
    p = period_of(&w, T0 + 3, T0 + 8);
    CHECK(p.opening_balance == before[2].opening_balance + 7 &&
          p.closing_balance == before[2].closing_balance + 7);
    CHECK(audit_ok(&w));

    /* the reads use the marks: a balance mark raised behind the ledger's
     * back shows in the balance and the period, and the audit counts it */
    {
        char sql[160];

        snprintf(sql, sizeof sql,
                 "UPDATE balance_marks SET balance = balance + 1000"
                 " WHERE account = %llu",
                 (unsigned long long)w.merchant_acct[0]);
        REQUIRE(run_sql(w.path, sql));
        CHECK(balance(&w, w.merchant_acct[0]) == m0 + 16 + 1000);
        p = period_of(&w, T0 + 3, T0 + 8);
        CHECK(p.opening_balance == before[2].opening_balance + 7 + 1000);
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.mark_mismatch == 1);
        snprintf(sql, sizeof sql,
                 "UPDATE balance_marks SET balance = balance - 1000"
                 " WHERE account = %llu",
                 (unsigned long long)w.merchant_acct[0]);
        REQUIRE(run_sql(w.path, sql));
        REQUIRE(audit_ok(&w));
    }
    /* a balance mark set past the last transfer (a transfer made since
     * would be left out) and one at no transfer mark: counted */
    REQUIRE(run_sql(w.path, "UPDATE balance_marks SET upto = upto + 1000"
                            " WHERE upto = (SELECT MAX(upto) FROM"
                            " balance_marks)"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.mark_mismatch >= 1);
    REQUIRE(run_sql(w.path, "UPDATE balance_marks SET upto = upto - 1000"
                            " WHERE upto > (SELECT MAX(id) FROM transfers)"));
    REQUIRE(audit_ok(&w));
    REQUIRE(run_sql(w.path, "UPDATE balance_marks SET upto = upto - 1"
                            " WHERE upto = (SELECT MAX(upto) FROM"
                            " balance_marks)"));
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.mark_mismatch >= 1);
    REQUIRE(run_sql(w.path, "UPDATE balance_marks SET upto = upto + 1"
                            " WHERE NOT EXISTS (SELECT 1 FROM transfer_marks"
                            " t WHERE t.upto = balance_marks.upto)"));
    REQUIRE(audit_ok(&w));
    if (pg_prefix() != NULL) {
        /* PostgreSQL: a transfers id sequence that caches ids is refused
         * (marks would not be exact); the lock not had within 100 ms (a
         * session holding what VACUUM holds) is EBUSY, nothing marked */
        PGconn   *c = PQconnectdb(w.path);
        PGresult *q;

        REQUIRE_OK(offpay_ledger_deposit(w.l, w.merchant_acct[0], 3, NULL,
                                         T0 + 170, NULL));
        REQUIRE(run_sql(w.path, "ALTER SEQUENCE transfers_id_seq CACHE 20"));
        CHECK_ERR(offpay_ledger_marks(w.l, T0 + 180, 0, &marked, &more),
                  OFFPAY_ESTORE);
        CHECK(marked == 0);
        REQUIRE(run_sql(w.path, "ALTER SEQUENCE transfers_id_seq CACHE 1"));
        q = PQexec(c, "BEGIN; LOCK TABLE transfers IN SHARE UPDATE EXCLUSIVE"
                      " MODE");
        REQUIRE(PQresultStatus(q) == PGRES_COMMAND_OK);
        PQclear(q);
        CHECK_ERR(offpay_ledger_marks(w.l, T0 + 180, 0, &marked, &more),
                  OFFPAY_EBUSY);
        CHECK(marked == 0 && more);
        PQclear(PQexec(c, "COMMIT"));
        PQfinish(c);
        REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 180, 0, &marked, &more));
        CHECK(marked == 1 && !more);
        CHECK(balance(&w, w.merchant_acct[0]) == m0 + 16 + 3);
        CHECK(audit_ok(&w));
    }
    /* transfer marks said to be earlier than their transfers: a period
     * after them reads none of their transfers (its opening leaves out
     * the ones dated in it and after), and the audit counts the marks */
    REQUIRE(run_sql(w.path, "UPDATE transfer_marks SET latest_at = 1"));
    p = period_of(&w, T0 + 3, T0 + 8);
    CHECK(p.opening_balance != before[2].opening_balance + 7);
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.mark_mismatch >= 1);

    /* the incident step (offpay_ledger_marks_drop, `offpay admin marks
     * --drop`): what there was, then no mark, the audit passing, the
     * balance and the period read from the whole history; marked again,
     * the same */
    {
        offpay_ledger_marks_info mi[1];
        size_t                   nm = 0;
        int64_t                  m1;

        REQUIRE_OK(offpay_ledger_marks_state(w.l, mi, 1, &nm));
        CHECK(nm == 1 && mi[0].transfer_marks >= 2 &&
              mi[0].balance_marks >= 2 && mi[0].upto == mi[0].max_id &&
              mi[0].unmarked == 0 && mi[0].latest_at == 1 &&
              mi[0].made_at == (pg_prefix() != NULL ? T0 + 180 : T0 + 160));
        REQUIRE_OK(offpay_ledger_deposit(w.l, w.merchant_acct[0], 5, NULL,
                                         T0 + 190, NULL));
        m1 = balance(&w, w.merchant_acct[0]);
        if (pg_prefix() != NULL) {
            /* a session holding what VACUUM holds: EBUSY, nothing dropped */
            PGconn   *c = PQconnectdb(w.path);
            PGresult *q = PQexec(c, "BEGIN; LOCK TABLE transfers IN SHARE"
                                    " UPDATE EXCLUSIVE MODE");

            REQUIRE(PQresultStatus(q) == PGRES_COMMAND_OK);
            PQclear(q);
            CHECK_ERR(offpay_ledger_marks_drop(w.l, mi, 1, &nm), OFFPAY_EBUSY);
            CHECK(nm == 0);
            PQclear(PQexec(c, "COMMIT"));
            PQfinish(c);
            REQUIRE_OK(offpay_ledger_marks_state(w.l, mi, 1, &nm));
            CHECK(mi[0].transfer_marks >= 2 && mi[0].unmarked == 1);
        }
        REQUIRE_OK(offpay_ledger_marks_drop(w.l, mi, 1, &nm));
        CHECK(nm == 1 && mi[0].transfer_marks >= 2 &&
              mi[0].balance_marks >= 2 && mi[0].unmarked == 1 &&
              mi[0].max_id == mi[0].upto + 1);
        REQUIRE_OK(offpay_ledger_marks_state(w.l, mi, 1, &nm));
        CHECK(nm == 1 && mi[0].transfer_marks == 0 &&
              mi[0].balance_marks == 0 && mi[0].upto == 0 &&
              mi[0].made_at == 0 && mi[0].unmarked == audit_transfers(&w));
        CHECK(audit_ok(&w));
        CHECK(balance(&w, w.merchant_acct[0]) == m1);
        p = period_of(&w, T0 + 3, T0 + 8);
        CHECK(p.opening_balance == before[2].opening_balance + 7);
        REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 200, 0, &marked, &more));
        CHECK(!more);
        REQUIRE_OK(offpay_ledger_marks_state(w.l, mi, 1, &nm));
        CHECK(mi[0].upto == mi[0].max_id && mi[0].unmarked == 0 &&
              mi[0].transfer_marks == 1 && mi[0].made_at == T0 + 200);
        CHECK(audit_ok(&w));
        CHECK(balance(&w, w.merchant_acct[0]) == m1);
        CHECK_ERR(offpay_ledger_marks_state(w.l, mi, 0, &nm), OFFPAY_EINVAL);
    }
    drop_world(&w);
}

/* A wallet account's balance read from its mark (since 0.18.0: a payer
 * renewed daily for years gathers tens of thousands of transfers): a mark
 * made mid-history, in batches of 3 ids, and the transfers after it
 * counted, the balance is its transfers' sum (its history
 * read one by one), the accounts list and the wallet's status say the
 * same, an issue of exactly the balance is funded and one more minor unit
 * then is not; a wallet without a mark of its own (marked before 0.18.0)
 * gets one over its whole history at its next transfer; the mark raised
 * behind the ledger's back shows in the balance and fails the audit. */
static void test_wallet_balance_read_from_its_mark(void)
{
    world                       w;
    uint8_t                     bytes[OFFPAY_WALLET_CRED_BYTES];
    char                        code[OFFPAY_ENROLL_CODE_CHARS + 1];
    offpay_wallet_cred          wc;
    offpay_wallet_account_info *v = NULL;
    offpay_ledger_wallet_info   wi;
    offpay_audit_report         r;
    uint64_t                    marked, own = 0;
    size_t                      n = 0;
    int64_t                     want;
    int                         more = 1;
    char                        sql[160];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(
        offpay_ledger_enrollment_add(w.l, EUR, "marked", T0 + DAY, T0, code));
    REQUIRE_OK(offpay_ledger_enroll(w.l, w.wallet.pk, code, T0, &own, NULL));
    want = 0;
    for (uint32_t i = 0; i < 6; i++) {
        REQUIRE_OK(
            offpay_ledger_deposit(w.l, own, 1000 + i, NULL, T0 + i, NULL));
        REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 300 + i, 0,
                                           T0 + DAY, T0 + i, bytes, &wc));
        want += 700;
        /* the wallet's mark mid-history, 3 ids a transaction */
        while (i == 2 && more)
            REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 10, 3, &marked, &more));
    }
    CHECK(balance(&w, own) == want && history_sum(&w, own, NULL) == want);
    /* the whole history marked, then more after the marks */
    for (more = 1; more;)
        REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 10, 3, &marked, &more));
    REQUIRE_OK(offpay_ledger_deposit(w.l, own, 55, NULL, T0 + 20, NULL));
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, 5, 0, T0 + DAY,
                                       T0 + 20, bytes, &wc));
    want += 50;
    CHECK(balance(&w, own) == want && history_sum(&w, own, NULL) == want);
    REQUIRE_OK(offpay_ledger_wallet_accounts(w.l, "marked", 0, 10, &v, &n));
    CHECK(n == 1 && v[0].id == own && v[0].balance == want);
    free(v);
    REQUIRE_OK(offpay_ledger_wallet_get(w.l, w.wallet.pk, 0, &wi));
    CHECK(wi.balance == want);
    /* exactly the balance is funded, a minor unit more is not */
    CHECK_ERR(offpay_ledger_allowance(w.l, w.wallet.pk, want + 1, 0, T0 + DAY,
                                      T0 + 30, bytes, &wc),
              OFFPAY_EFUNDS);
    REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 30, 3, &marked, &more));
    REQUIRE_OK(offpay_ledger_allowance(w.l, w.wallet.pk, want, 0, T0 + DAY,
                                       T0 + 30, bytes, &wc));
    CHECK(balance(&w, own) == 0);
    CHECK_ERR(offpay_ledger_issue(w.l, own, w.wallet.pk, 1, 0, T0 + DAY,
                                  T0 + 30, bytes, &wc),
              OFFPAY_EFUNDS);
    CHECK(audit_ok(&w));
    /* a wallet whose transfers were marked before 0.18.0 (no mark of its
     * own): its next transfer gets it one, over its whole history */
    snprintf(sql, sizeof sql, "DELETE FROM balance_marks WHERE account = %llu",
             (unsigned long long)own);
    REQUIRE(run_sql(w.path, sql));
    REQUIRE_OK(offpay_ledger_deposit(w.l, own, 40, NULL, T0 + 40, NULL));
    for (more = 1; more;)
        REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 40, 3, &marked, &more));
    CHECK(balance(&w, own) == 40 && history_sum(&w, own, NULL) == 40);
    CHECK(audit_ok(&w));
    /* the balance is read from the mark: raised behind the ledger's back,
     * it shows, and the audit counts it */
    snprintf(sql, sizeof sql,
             "UPDATE balance_marks SET balance = balance + 1000"
             " WHERE account = %llu",
             (unsigned long long)own);
    REQUIRE(run_sql(w.path, sql));
    CHECK(balance(&w, own) == 1040);
    CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
    CHECK(r.mark_mismatch == 1);
    drop_world(&w);
}

/* A merchant, a wallet account and a terminal made under the operator's
 * request key (017_request_keys_made): made once, the same again on a
 * resend (a terminal's credential bytes those signed the first time, a
 * second later), the key for another request refused with nothing made;
 * the audit catches a key naming no such row. */
static void test_rows_made_once_under_a_key(void)
{
    world                w;
    offpay_audit_report  r;
    offpay_keypair       tk, tk2;
    offpay_terminal_cred tc, tc2;
    uint8_t              b1[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    uint8_t              b2[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               n1 = 0, n2 = 0;
    uint64_t             m1 = 0, m2 = 0, a1 = 0, a2 = 0, x;
    uint32_t             t3 = 0;
    int                  rp = -1, used = -1;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_merchant_add_once(w.l, "m-1", "Stall C", EUR, T0,
                                               &m1, &a1, &rp));
    CHECK(rp == 0);
    REQUIRE_OK(offpay_ledger_merchant_add_once(w.l, "m-1", "Stall C", EUR,
                                               T0 + 1, &m2, &a2, &rp));
    CHECK(rp == 1 && m2 == m1 && a2 == a1);
    CHECK_ERR(offpay_ledger_merchant_add_once(w.l, "m-1", "Stall D", EUR, T0,
                                              &m2, NULL, &rp),
              OFFPAY_EEXISTS);
    CHECK_ERR(offpay_ledger_merchant_add_once(w.l, "m-1", "Stall C", 840, T0,
                                              &m2, NULL, &rp),
              OFFPAY_EEXISTS);
    REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Stall E", EUR, T0, &m2, NULL));
    CHECK(m2 == m1 + 1); /* nothing made by the replay nor the refused */
    REQUIRE_OK(offpay_ledger_wallet_account_once(w.l, "a-1", EUR, "payer 9", T0,
                                                 &a1, &rp));
    CHECK(rp == 0);
    REQUIRE_OK(offpay_ledger_wallet_account_once(w.l, "a-1", EUR, "payer 9", T0,
                                                 &a2, &rp));
    CHECK(rp == 1 && a2 == a1);
    CHECK_ERR(offpay_ledger_wallet_account_once(w.l, "a-1", EUR, "payer 8", T0,
                                                &a2, &rp),
              OFFPAY_EEXISTS);
    CHECK_ERR(offpay_ledger_wallet_account_once(w.l, "m-1", EUR, "Stall C", T0,
                                                &a2, &rp),
              OFFPAY_EEXISTS); /* a merchant's key */
    CHECK_ERR(offpay_ledger_move_once(w.l, w.wallet_acct, 10, 0, NULL, "a-1",
                                      T0, NULL, NULL),
              OFFPAY_EEXISTS); /* an account's key for a deposit */
    REQUIRE_OK(offpay_keypair_generate(&tk));
    REQUIRE_OK(offpay_keypair_generate(&tk2));
    REQUIRE_OK(offpay_ledger_terminal_add_once(
        w.l, "t-1", m1, tk.pk, T0 + 365 * DAY, T0, b1, &n1, &tc, &rp));
    CHECK(rp == 0);
    REQUIRE_OK(offpay_ledger_terminal_add_once(
        w.l, "t-1", m1, tk.pk, T0 + 365 * DAY, T0 + 1, b2, &n2, &tc2, &rp));
    CHECK(rp == 1 && n2 == n1 && memcmp(b1, b2, n1) == 0 &&
          tc2.terminal_id == tc.terminal_id && tc2.valid_from == T0);
    CHECK(offpay_ledger_terminal_expires_is(w.l, &tc2, T0 + 365 * DAY));
    CHECK(!offpay_ledger_terminal_expires_is(w.l, &tc2, T0 + 364 * DAY));
    CHECK_ERR(offpay_ledger_terminal_add_once(w.l, "t-1", m1, tk2.pk,
                                              T0 + 365 * DAY, T0, b2, &n2, &tc2,
                                              &rp),
              OFFPAY_EEXISTS); /* another terminal key */
    CHECK_ERR(offpay_ledger_terminal_add_once(w.l, "t-1", w.merchant[0], tk.pk,
                                              T0 + 365 * DAY, T0, b2, &n2, &tc2,
                                              &rp),
              OFFPAY_EEXISTS); /* another merchant */
    REQUIRE_OK(offpay_ledger_request_key_used(w.l, "t-1", &used));
    CHECK(used == 1);
    /* the terminal key registered, under a key not booked: EEXISTS as
     * without a key, and the key stays free */
    CHECK_ERR(offpay_ledger_terminal_add_once(w.l, "t-2", m1, tk.pk,
                                              T0 + 365 * DAY, T0, b2, &n2, &tc2,
                                              &rp),
              OFFPAY_EEXISTS);
    REQUIRE_OK(offpay_ledger_request_key_used(w.l, "t-2", &used));
    CHECK(used == 0);
    REQUIRE_OK(offpay_ledger_terminal_add(w.l, m1, tk2.pk, T0 + 365 * DAY, T0,
                                          b2, &n2, &tc2));
    t3 = tc2.terminal_id;
    CHECK(t3 == tc.terminal_id + 1);
    offpay_keypair_wipe(&tk);
    offpay_keypair_wipe(&tk2);
    REQUIRE_OK(offpay_ledger_audit(w.l, &r));
    CHECK(r.request_mismatch == 0);
    /* keys naming another row than theirs, or none */
    x = m1 + 1;
    {
        char sql[160];

        snprintf(sql, sizeof sql,
                 "UPDATE request_keys SET result = %llu WHERE op = 6",
                 (unsigned long long)x);
        REQUIRE(run_sql(w.path, sql)); /* Stall E: another name */
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1);
        snprintf(sql, sizeof sql,
                 "UPDATE request_keys SET result = %llu WHERE op = 6",
                 (unsigned long long)m1);
        REQUIRE(run_sql(w.path, sql));
        REQUIRE(audit_ok(&w));
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET account = 840"
                                " WHERE op = 6"));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1); /* another currency */
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET account = 978"
                                " WHERE op = 6"));
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET request = 'payer 8'"
                                " WHERE op = 7"));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1); /* another ref */
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET request = 'payer 9'"
                                " WHERE op = 7"));
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET result = 999"
                                " WHERE op = 7"));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1); /* no such account */
        snprintf(sql, sizeof sql,
                 "UPDATE request_keys SET result = %llu WHERE op = 7",
                 (unsigned long long)a1);
        REQUIRE(run_sql(w.path, sql));
        REQUIRE(audit_ok(&w));
        snprintf(sql, sizeof sql,
                 "UPDATE request_keys SET account = %llu WHERE op = 8",
                 (unsigned long long)w.merchant[0]);
        REQUIRE(run_sql(w.path, sql));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1); /* another merchant's terminal */
        snprintf(sql, sizeof sql,
                 "UPDATE request_keys SET account = %llu, result = 9999"
                 " WHERE op = 8",
                 (unsigned long long)m1);
        REQUIRE(run_sql(w.path, sql));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1); /* no such terminal */
        snprintf(sql, sizeof sql,
                 "UPDATE request_keys SET result = %lu WHERE op = 8",
                 (unsigned long)tc.terminal_id);
        REQUIRE(run_sql(w.path, sql));
        REQUIRE(audit_ok(&w));
    }
    drop_world(&w);
}

/* ---- refunds (docs/settlement.md §13) ------------------------------ */

struct refund_lines {
    uint64_t presentment;
    int64_t  refunded, paid;
};

static int refund_line(const offpay_statement_line *line, void *ctx)
{
    struct refund_lines *x = ctx;

    if (line->presentment == x->presentment) {
        x->refunded = line->refunded;
        x->paid = line->paid;
    }
    return 0;
}

/* The statement line's refunded part of presentment at merchant m. */
static int64_t line_refunded(world *w, int m, uint64_t presentment)
{
    struct refund_lines x = {presentment, INT64_MIN, 0};

    if (offpay_ledger_statement(w->l, w->merchant[m], 0, UINT32_MAX,
                                refund_line, &x) != OFFPAY_OK)
        return INT64_MIN;
    return x.refunded;
}

/* Changes the refund transfers that match where, behind the engine's
 * back (UPDATE ... SET set), checks the audit counts want refund
 * mismatches, then changes them back (SET undo) and checks it passes. */
static void refund_tampered(world *w, const char *set, const char *undo,
                            const char *where, uint64_t want)
{
    offpay_audit_report r;
    char                sql[512];

    snprintf(sql, sizeof sql,
             "UPDATE transfers SET %s WHERE kind = 'refund' AND %s", set,
             where);
    REQUIRE(run_sql(w->path, sql));
    CHECK_ERR(offpay_ledger_audit(w->l, &r), OFFPAY_EAUDIT);
    CHECK(r.refund_mismatch == want);
    snprintf(sql, sizeof sql,
             "UPDATE transfers SET %s WHERE kind = 'refund' AND %s", undo,
             where);
    REQUIRE(run_sql(w->path, sql));
    REQUIRE(audit_ok(w));
}

/* The guarantee's money comes back first whichever of the credential's
 * presentments is refunded (settlement.md §13): a copy's overspend was
 * covered (b), then the escrow-paid payment (a) is refunded — goods
 * taken back — and the guarantee gets its 30.00 before the payer gets
 * anything; so does a claim the guarantee paid later; the audit checks
 * the order and the total per credential. */
static void test_refunds_repay_the_credentials_guarantee_first(void)
{
    world                   w;
    uint8_t                 c[2][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                  n[2];
    offpay_settle_result    a, b;
    offpay_refund           f;
    offpay_ledger_cred_info ci;
    char                    set[96], undo[96], where[160];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(40), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(40), T0 + 30, 0, c[1]);
    a = settle(&w, 0, c[0], n[0], CENTS(40), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c[1], n[1], CENTS(40), T0 + 40, T0 + 3600);
    REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED && a.covered == 0);
    REQUIRE(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.covered == CENTS(30));
    /* a's 25.00: all of it to the guarantee, though a was paid from the
     * escrow; its 15.00 more: the 5.00 left of the cover, then the payer */
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(25), 0, NULL,
                                    NULL, T0 + 7200, &f, NULL));
    CHECK(f.to_guarantee == CENTS(25) && f.to_wallet == 0 && f.covered == 0);
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(15), 0, NULL,
                                    "a-2", T0 + 7200, &f, NULL));
    CHECK(f.to_guarantee == CENTS(5) && f.to_wallet == CENTS(10));
    /* sent again: the same split, as the refunds before it left it */
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(15), 0, NULL,
                                    "a-2", T0 + 7300, &f, NULL));
    CHECK(f.to_guarantee == CENTS(5) && f.to_wallet == CENTS(10));
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(balance(&w, w.wallet_acct) == CENTS(60));
    REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
    CHECK(ci.covered == CENTS(30) && ci.claimed == 0 &&
          ci.refunded_to_guarantee == CENTS(30) && ci.net_loss == 0);
    /* the guarantee whole: b's own refund is the payer's */
    REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(10), 0, NULL,
                                    NULL, T0 + 7200, &f, NULL));
    CHECK(f.to_guarantee == 0 && f.to_wallet == CENTS(10));
    CHECK(audit_ok(&w));
    /* the audit: a's first refund made the payer's (each wallet part
     * after it came while the guarantee was out: 3), or b's made the
     * guarantee's (more back than it paid: 1) */
    snprintf(set, sizeof set, "credit = %llu",
             (unsigned long long)w.wallet_acct);
    snprintf(undo, sizeof undo, "credit = %llu",
             (unsigned long long)w.guarantee);
    snprintf(where, sizeof where, "presentment = %llu AND amount = %lld",
             (unsigned long long)a.presentment, (long long)CENTS(25));
    refund_tampered(&w, set, undo, where, 3);
    snprintf(where, sizeof where, "presentment = %llu",
             (unsigned long long)b.presentment);
    refund_tampered(&w, undo, set, where, 1);
    drop_world(&w);

    /* a claim the guarantee paid later counts as its cover does */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.guarantee, CENTS(1000), "payout",
                                      T0, NULL));
    n[0] = make_code(&w, 1, CENTS(40), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(40), T0 + 30, 0, c[1]);
    a = settle(&w, 0, c[0], n[0], CENTS(40), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c[1], n[1], CENTS(40), T0 + 40, T0 + 3600);
    REQUIRE(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_EFUNDS &&
            b.paid == CENTS(10));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.guarantee, CENTS(30), "fund",
                                     T0 + 3700, NULL));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(40));
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(40), 0, NULL,
                                    NULL, T0 + 7200, &f, NULL));
    CHECK(f.to_guarantee == CENTS(30) && f.to_wallet == CENTS(10));
    REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
    CHECK(ci.covered == 0 && ci.claimed == CENTS(30) && ci.owed == 0 &&
          ci.refunded_to_guarantee == CENTS(30) && ci.net_loss == 0);
    CHECK(balance(&w, w.guarantee) == CENTS(30));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* a claim still open counts too: the refund gives the guarantee what
     * it owes for the credential, and the guarantee pays the claim with
     * it at once (the merchant is paid, the payer gets the rest) */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.guarantee, CENTS(1000), "payout",
                                      T0, NULL));
    n[0] = make_code(&w, 1, CENTS(40), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(40), T0 + 30, 0, c[1]);
    a = settle(&w, 0, c[0], n[0], CENTS(40), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c[1], n[1], CENTS(40), T0 + 40, T0 + 3600);
    REQUIRE(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_EFUNDS &&
            b.paid == CENTS(10));
    REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
    CHECK(ci.claimed == 0 && ci.owed == CENTS(30) && ci.net_loss == CENTS(30));
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(40), 0, NULL,
                                    "open-1", T0 + 7200, &f, NULL));
    CHECK(f.to_guarantee == CENTS(30) && f.to_wallet == CENTS(10));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(40));
    CHECK(balance(&w, w.guarantee) == 0);
    REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
    CHECK(ci.claimed == CENTS(30) && ci.owed == 0 &&
          ci.refunded_to_guarantee == CENTS(30) && ci.net_loss == 0);
    /* sent again: the split it booked */
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(40), 0, NULL,
                                    "open-1", T0 + 7300, &f, NULL));
    CHECK(f.to_guarantee == CENTS(30) && f.to_wallet == CENTS(10));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A guaranteed payment (40.00 paid, 30.00 of it covered) is refunded in
 * parts: the covered part goes back to the guarantee first, then the
 * payer's wallet account gets the rest; never more than was paid; a
 * refund under a key is made once; a merchant whose money was withdrawn
 * cannot refund; every refund shows in the merchant's history and
 * statement, and the audit holds throughout. */
static void test_refunds_go_back_to_the_guarantee_then_the_payer(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_result a, b;
    offpay_refund        f, g;
    int                  replayed = -1;
    char                 longref[200];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(40), T0 + 30, 0, c2);
    a = settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c2, n2, CENTS(40), T0 + 40, T0 + 3600);
    REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.covered == CENTS(30));
    REQUIRE(balance(&w, w.wallet_acct) == CENTS(50));
    REQUIRE(balance(&w, w.guarantee) == CENTS(970));

    REQUIRE_OK(offpay_ledger_refund_state(w.l, b.presentment, &f));
    CHECK(f.paid == CENTS(40) && f.covered == CENTS(30) && f.refunded == 0);
    CHECK(f.currency == EUR && f.merchant_account == w.merchant_acct[1] &&
          f.wallet_account == w.wallet_acct && f.amount == 0);

    /* 10.00: all of it back to the guarantee */
    REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(10), 0, "ret-1",
                                    NULL, T0 + 7200, &f, &replayed));
    CHECK(replayed == 0 && f.to_guarantee == CENTS(10) && f.to_wallet == 0);
    CHECK(f.guarantee_account == w.guarantee && f.transfer != 0);
    CHECK(f.refunded == CENTS(10));
    CHECK(balance(&w, w.guarantee) == CENTS(980));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(30));
    CHECK(audit_ok(&w));
    /* the credential's loss net of it, and the guarantee's history
     * naming the credential and the cover's case on both transfers */
    {
        offpay_ledger_cred_info  ci;
        offpay_account_state     st;
        offpay_account_transfer *v = NULL;
        size_t                   n = 0, seen = 0;

        REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
        CHECK(ci.covered == CENTS(30) &&
              ci.refunded_to_guarantee == CENTS(10) &&
              ci.net_loss == CENTS(20));
        REQUIRE_OK(offpay_ledger_account(w.l, ci.escrow_account, &st));
        CHECK(st.kind == OFFPAY_ACCOUNT_ESCROW && st.serial == w.cred.serial);
        REQUIRE_OK(offpay_ledger_account(w.l, w.guarantee, &st));
        CHECK(st.kind == OFFPAY_ACCOUNT_GUARANTEE && st.serial == 0);
        REQUIRE_OK(
            offpay_ledger_transfers(w.l, w.guarantee, 0, 100, &v, &n, &st));
        for (size_t i = 0; i < n; i++)
            if (v[i].presentment == b.presentment) {
                CHECK(v[i].serial == w.cred.serial && v[i].case_id != 0 &&
                      v[i].case_id == b.case_id);
                seen++;
            }
        CHECK(seen == 2 && st.serial == 0);
        free(v);
    }

    /* 25.00 under a key: the covered 20.00 left, then 5.00 to the payer */
    REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(25), 0, NULL,
                                    "r-1", T0 + 7200, &f, &replayed));
    CHECK(replayed == 0 && f.to_guarantee == CENTS(20) &&
          f.to_wallet == CENTS(5) && f.refunded == CENTS(35));
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(balance(&w, w.wallet_acct) == CENTS(55));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(5));
    /* sent again: the same refund, nothing moves */
    REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(25), 0, NULL,
                                    "r-1", T0 + 7300, &g, &replayed));
    CHECK(replayed == 1 && g.transfer == f.transfer &&
          g.to_guarantee == CENTS(20) && g.to_wallet == CENTS(5) &&
          g.refunded == CENTS(35) && g.guarantee_account == w.guarantee);
    CHECK(balance(&w, w.wallet_acct) == CENTS(55));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(5));
    /* the key for another amount, or a key a deposit took */
    CHECK_ERR(offpay_ledger_refund(w.l, b.presentment, CENTS(1), 0, NULL, "r-1",
                                   T0 + 7300, NULL, NULL),
              OFFPAY_EEXISTS);
    REQUIRE_OK(offpay_ledger_move_once(w.l, w.merchant_acct[0], 1, 0, NULL,
                                       "dep-1", T0 + 7300, NULL, NULL));
    CHECK_ERR(offpay_ledger_refund(w.l, a.presentment, 1, 0, NULL, "dep-1",
                                   T0 + 7300, NULL, NULL),
              OFFPAY_EEXISTS);

    /* never more than was paid */
    CHECK_ERR(offpay_ledger_refund(w.l, b.presentment, CENTS(5) + 1, 0, NULL,
                                   NULL, T0 + 7300, NULL, NULL),
              OFFPAY_EOVER_REFUND);
    REQUIRE_OK(offpay_ledger_refund(w.l, b.presentment, CENTS(5), 0, NULL, NULL,
                                    T0 + 7300, &f, NULL));
    CHECK(f.to_guarantee == 0 && f.to_wallet == CENTS(5) &&
          f.refunded == CENTS(40));
    CHECK_ERR(offpay_ledger_refund(w.l, b.presentment, 1, 0, NULL, NULL,
                                   T0 + 7300, NULL, NULL),
              OFFPAY_EOVER_REFUND);
    CHECK(balance(&w, w.merchant_acct[1]) == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(60));

    /* a merchant whose money was withdrawn refunds nothing */
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.merchant_acct[0], CENTS(40) + 1,
                                      "payout", T0 + 7300, NULL));
    CHECK_ERR(offpay_ledger_refund(w.l, a.presentment, 1, 0, NULL, NULL,
                                   T0 + 7300, NULL, NULL),
              OFFPAY_EFUNDS);
    CHECK(balance(&w, w.wallet_acct) == CENTS(60));
    /* ... unless it pays the amount in with the refund (funded) */
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(1), 1, "back",
                                    "fund-1", T0 + 7300, &f, &replayed));
    CHECK(replayed == 0 && f.deposited == CENTS(1) && f.to_guarantee == 0 &&
          f.to_wallet == CENTS(1) && f.covered == 0);
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(61));
    REQUIRE_OK(offpay_ledger_refund(w.l, a.presentment, CENTS(1), 1, "back",
                                    "fund-1", T0 + 7300, &g, &replayed));
    CHECK(replayed == 1 && g.deposited == CENTS(1) && g.transfer == f.transfer);
    CHECK_ERR(offpay_ledger_refund(w.l, a.presentment, CENTS(1), 0, "back",
                                   "fund-1", T0 + 7300, NULL, NULL),
              OFFPAY_EEXISTS); /* the key was a funded refund's */
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(61));

    /* bad requests */
    CHECK_ERR(offpay_ledger_refund(w.l, b.presentment + 1000, 1, 0, NULL, NULL,
                                   T0, NULL, NULL),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_refund_state(w.l, b.presentment + 1000, &f),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_refund(w.l, a.presentment, 0, 0, NULL, NULL, T0,
                                   NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_refund(w.l, a.presentment, 1, 0, NULL, "a key", T0,
                                   NULL, NULL),
              OFFPAY_EINVAL);
    memset(longref, 'x', sizeof longref - 1);
    longref[sizeof longref - 1] = '\0';
    CHECK_ERR(offpay_ledger_refund(w.l, a.presentment, 1, 0, longref, NULL, T0,
                                   NULL, NULL),
              OFFPAY_EINVAL);

    /* seen in the statement and in each account's history */
    CHECK(line_refunded(&w, 1, b.presentment) == CENTS(40));
    CHECK(line_refunded(&w, 0, a.presentment) == CENTS(1));
    CHECK(history_sum(&w, w.merchant_acct[1], NULL) ==
          balance(&w, w.merchant_acct[1]));
    CHECK(history_sum(&w, w.wallet_acct, NULL) == balance(&w, w.wallet_acct));
    CHECK(history_sum(&w, w.guarantee, NULL) == balance(&w, w.guarantee));
    {
        offpay_account_transfer *v = NULL;
        size_t                   n = 0, refunds = 0;

        REQUIRE_OK(offpay_ledger_transfers(w.l, w.merchant_acct[1], 0, 100,
                                           &v, &n, NULL));
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].kind, "refund") == 0) {
                refunds++;
                CHECK(v[i].amount < 0 && v[i].presentment == b.presentment);
            }
        CHECK(refunds == 4); /* 10 | 20 + 5 | 5 */
        free(v);
    }
    CHECK(audit_ok(&w));

    /* the audit's refund rules, on a ledger changed behind its back */
    {
        offpay_audit_report r;
        char                in_a[64], in_b[64], set[96], undo[96], last[160];
        char                swap[160], parts[160];

        snprintf(in_a, sizeof in_a, "presentment = %llu",
                 (unsigned long long)a.presentment);
        snprintf(in_b, sizeof in_b, "presentment = %llu",
                 (unsigned long long)b.presentment);
        /* refunds beyond what was paid (b was refunded in full), and
         * beyond what the guarantee paid for the credential into it */
        refund_tampered(&w, "amount = amount + 1", "amount = amount - 1", in_b,
                        2);
        /* a refund into another merchant's account */
        snprintf(set, sizeof set, "credit = %llu",
                 (unsigned long long)w.merchant_acct[1]);
        snprintf(undo, sizeof undo, "credit = %llu",
                 (unsigned long long)w.wallet_acct);
        refund_tampered(&w, set, undo, in_a, 1);
        /* a refund taken out of another merchant's account */
        snprintf(set, sizeof set, "debit = %llu",
                 (unsigned long long)w.merchant_acct[1]);
        snprintf(undo, sizeof undo, "debit = %llu",
                 (unsigned long long)w.merchant_acct[0]);
        refund_tampered(&w, set, undo, in_a, 1);
        /* the payer paid before the guarantee got its cover back: b's
         * first refund (10.00 to the guarantee) made the payer's; each
         * part the payer then got early counts, a's 1.00 too (the
         * credential's cover, not only the presentment's) */
        snprintf(set, sizeof set, "credit = %llu",
                 (unsigned long long)w.wallet_acct);
        snprintf(undo, sizeof undo, "credit = %llu",
                 (unsigned long long)w.guarantee);
        snprintf(parts, sizeof parts, "%s AND amount = %lld", in_b,
                 (long long)CENTS(10));
        refund_tampered(&w, set, undo, parts, 4);
        /* more than the covered part back to the guarantee, within what
         * was paid: b's last 5.00 to the payer moved to the guarantee */
        snprintf(last, sizeof last,
                 "id = (SELECT MAX(id) FROM transfers WHERE kind = 'refund'"
                 " AND %s)",
                 in_b);
        refund_tampered(&w, undo, set, last, 1);
        /* the totals right, the order wrong: b's first refund made the
         * payer's, and its two later 5.00 parts to the payer made the
         * guarantee's (the swap is its own undoing) */
        snprintf(swap, sizeof swap,
                 "credit = CASE WHEN credit = %llu THEN %llu ELSE %llu END",
                 (unsigned long long)w.guarantee,
                 (unsigned long long)w.wallet_acct,
                 (unsigned long long)w.guarantee);
        snprintf(parts, sizeof parts, "%s AND amount IN (%lld, %lld)", in_b,
                 (long long)CENTS(10), (long long)CENTS(5));
        refund_tampered(&w, swap, swap, parts, 1);
        /* a refund key naming another presentment */
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET account = account"
                                " + 1 WHERE op = 4"));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1 && r.refund_mismatch == 0);
        REQUIRE(run_sql(w.path, "UPDATE request_keys SET account = account"
                                " - 1 WHERE op = 4"));
        /* a funded refund whose deposit is gone from its presentment */
        snprintf(parts, sizeof parts,
                 "UPDATE transfers SET presentment = NULL WHERE kind ="
                 " 'deposit' AND %s",
                 in_a);
        REQUIRE(run_sql(w.path, parts));
        CHECK_ERR(offpay_ledger_audit(w.l, &r), OFFPAY_EAUDIT);
        CHECK(r.request_mismatch == 1 && r.refund_mismatch == 0);
        snprintf(parts, sizeof parts,
                 "UPDATE transfers SET presentment = %llu WHERE kind ="
                 " 'deposit' AND ref = 'back'",
                 (unsigned long long)a.presentment);
        REQUIRE(run_sql(w.path, parts));
    }
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Two connections refund the same presentment at once, each 30.00 of its
 * 40.00: one refund is booked, the other refused (EOVER_REFUND). On
 * PostgreSQL that holds only with the credential's row lock. In the last
 * rounds both are funded: the merchant's balance moves only by the
 * payment, so the refused one's deposit was undone with it. */
struct refund_race {
    world     *w;
    uint64_t   presentment;
    int        funded;
    offpay_err rc[2];
};

struct refund_racer {
    struct refund_race *rr;
    int                 who;
};

static void *refund_race_run(void *arg)
{
    struct refund_racer *me = arg;
    offpay_ledger       *l = NULL;

    me->rr->rc[me->who] = offpay_ledger_open(me->rr->w->path, NULL, &l);
    if (me->rr->rc[me->who] == OFFPAY_OK)
        me->rr->rc[me->who] = offpay_ledger_refund(
            l, me->rr->presentment, CENTS(30), me->rr->funded, NULL, NULL,
            T0 + 3600, NULL, NULL);
    offpay_ledger_close(l);
    return NULL;
}

static void test_refunds_at_once_never_exceed_the_payment(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1;
    offpay_settle_result a;
    struct refund_race   rr;
    struct refund_racer  r0, r1;
    pthread_t            t0, t1;

    REQUIRE_OK(make_world(&w, CENTS(1000), CENTS(500)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    a = settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED);
    /* the merchant holds more than both refunds, so only the rule of the
     * payment can refuse the second */
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.merchant_acct[0], CENTS(100), "x",
                                     T0 + 3600, NULL));
    for (int round = 0; round < 6; round++) {
        int64_t merchant = balance(&w, w.merchant_acct[0]);

        /* the last rounds funded: the refused one's deposit undone too */
        rr = (struct refund_race){
            &w, a.presentment, round >= 4, {OFFPAY_OK, OFFPAY_OK}};
        if (round > 0) { /* a new payment each round */
            n1 = make_code(&w, (uint32_t)(round + 1), CENTS(40), T0 + 10, 0,
                           c1);
            a = settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
            REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED);
            rr.presentment = a.presentment;
        }
        r0 = (struct refund_racer){&rr, 0};
        r1 = (struct refund_racer){&rr, 1};
        REQUIRE(pthread_create(&t0, NULL, refund_race_run, &r0) == 0);
        REQUIRE(pthread_create(&t1, NULL, refund_race_run, &r1) == 0);
        pthread_join(t0, NULL);
        pthread_join(t1, NULL);
        CHECK((rr.rc[0] == OFFPAY_OK) + (rr.rc[1] == OFFPAY_OK) == 1);
        CHECK(rr.rc[0] == OFFPAY_EOVER_REFUND ||
              rr.rc[1] == OFFPAY_EOVER_REFUND);
        CHECK(balance(&w, w.merchant_acct[0]) ==
              merchant + (round > 0 ? CENTS(40) : 0) -
                  (rr.funded ? 0 : CENTS(30)));
    }
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The merchants, a page at a time, each with its account, its balance
 * (a settled payment less a withdrawal) and its terminals counted (a
 * revoked one among them but not active). */
static void test_merchants_listed_with_their_terminals(void)
{
    world                 w;
    offpay_merchant_info *v = NULL;
    size_t                n = 0;
    uint8_t               c1[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                n1;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    REQUIRE(settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 30).outcome ==
            OFFPAY_SETTLE_SETTLED);
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.merchant_acct[0], CENTS(15),
                                      "payout", T0 + 40, NULL));
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[1], T0 + 60));
    REQUIRE_OK(offpay_ledger_merchants(w.l, 0, 100, &v, &n));
    REQUIRE(n == 2 && v != NULL);
    CHECK(v[0].id == w.merchant[0] && v[0].account == w.merchant_acct[0] &&
          strcmp(v[0].name, "Bakery A") == 0 && v[0].currency == EUR &&
          v[0].created_at == T0 && v[0].terminals == 1 &&
          v[0].terminals_active == 1 && v[0].balance == CENTS(25));
    CHECK(v[1].id == w.merchant[1] && v[1].account == w.merchant_acct[1] &&
          strcmp(v[1].name, "Kiosk B") == 0 && v[1].terminals == 1 &&
          v[1].terminals_active == 0 && v[1].balance == 0);
    free(v);
    /* pages of one */
    REQUIRE_OK(offpay_ledger_merchants(w.l, 0, 1, &v, &n));
    CHECK(n == 1 && v[0].id == w.merchant[0]);
    free(v);
    REQUIRE_OK(offpay_ledger_merchants(w.l, w.merchant[0], 1, &v, &n));
    CHECK(n == 1 && v[0].id == w.merchant[1]);
    free(v);
    REQUIRE_OK(offpay_ledger_merchants(w.l, w.merchant[1], 1, &v, &n));
    CHECK(n == 0 && v == NULL);
    CHECK_ERR(offpay_ledger_merchants(w.l, 0, 0, &v, &n), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_merchants(w.l, 0, OFFPAY_LEDGER_MERCHANTS_MAX + 1,
                                      &v, &n),
              OFFPAY_EINVAL);
    drop_world(&w);
}

/* A merchant leaving (offpay_ledger_merchant_close, since 0.23.0): each
 * of its active terminals revoked ("merchant closed"), no terminal
 * registered for it any more, a rotation neither; what its terminals
 * accepted before is paid when uploaded, what after refused; closing
 * again keeps the first time and revokes nothing more; the other
 * merchant untouched. */
static void test_merchant_closed_gets_no_terminal(void)
{
    world                         w;
    offpay_terminal_cred          tc;
    offpay_merchant_info         *v = NULL;
    offpay_ledger_terminal_entry *t = NULL;
    uint8_t                       c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                       c2[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                       tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t                        n1, n2, n = 0, revoked = 9, tlen = 0;
    uint32_t                      at = 0;
    int                           replayed = -1;
    offpay_keypair                tk;
    offpay_settle_result          a, b;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 300 * DAY, T0, &tc));
    n1 = make_code(&w, 1, CENTS(10), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(10), T0 + 20, 0, c2);
    REQUIRE_OK(offpay_ledger_merchant_close(w.l, w.merchant[0], T0 + 100, &at,
                                            &revoked, &replayed));
    CHECK(at == T0 + 100 && revoked == 2 && replayed == 0);
    REQUIRE_OK(offpay_ledger_terminals(w.l, w.merchant[0], 0, 10, &t, &n));
    REQUIRE(n == 2);
    for (size_t i = 0; i < n; i++)
        CHECK(t[i].state == OFFPAY_TERMINAL_REVOKED &&
              t[i].revoked_at == T0 + 100 &&
              strcmp(t[i].revoke_reason, "merchant closed") == 0);
    free(t);
    /* no terminal for it any more, nor a rotation of one of its own (the
     * rotation is refused for the revocation first) */
    CHECK_ERR(add_terminal(&w, 0, T0 + 300 * DAY, T0 + 200, &tc),
              OFFPAY_EMERCHANT_CLOSED);
    REQUIRE_OK(offpay_keypair_generate(&tk));
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, w.terminal[0], tk.pk,
                                            T0 + 300 * DAY, T0 + 200, tbytes,
                                            &tlen, &tc, NULL),
              OFFPAY_ETERMINAL_REVOKED);
    REQUIRE_OK(add_terminal(&w, 1, T0 + 300 * DAY, T0 + 200, &tc));
    /* accepted before the closing: paid; after: refused */
    a = settle(&w, 0, c1, n1, CENTS(10), T0 + 50, T0 + 300);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && a.paid == CENTS(10));
    b = settle(&w, 0, c2, n2, CENTS(10), T0 + 150, T0 + 300);
    CHECK(b.outcome == OFFPAY_SETTLE_REJECTED &&
          b.reason == OFFPAY_ETERMINAL_REVOKED);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(10));
    /* again: the first time, nothing more revoked */
    REQUIRE_OK(offpay_ledger_merchant_close(w.l, w.merchant[0], T0 + 400, &at,
                                            &revoked, &replayed));
    CHECK(at == T0 + 100 && revoked == 0 && replayed == 1);
    REQUIRE_OK(offpay_ledger_merchants(w.l, 0, 100, &v, &n));
    REQUIRE(n == 2);
    CHECK(v[0].closed_at == T0 + 100 && v[0].terminals == 2 &&
          v[0].terminals_active == 0);
    CHECK(v[1].closed_at == 0 && v[1].terminals_active == 2);
    free(v);
    CHECK_ERR(
        offpay_ledger_merchant_close(w.l, 999, T0 + 400, NULL, NULL, NULL),
        OFFPAY_ENOTFOUND);
    /* the registration's own check: merchant 1 closed behind the ledger's
     * back, its terminals still active (as between a closing's commit
     * and its revocations): neither a new terminal nor a rotation */
    REQUIRE(run_sql(w.path, "UPDATE merchants SET closed_at = 1 WHERE id = "
                            "(SELECT merchant FROM terminals WHERE id = "
                            "(SELECT MAX(id) FROM terminals))"));
    CHECK_ERR(add_terminal(&w, 1, T0 + 300 * DAY, T0 + 500, &tc),
              OFFPAY_EMERCHANT_CLOSED);
    CHECK_ERR(offpay_ledger_terminal_rotate(w.l, w.terminal[1], tk.pk,
                                            T0 + 300 * DAY, T0 + 500, tbytes,
                                            &tlen, &tc, NULL),
              OFFPAY_EMERCHANT_CLOSED);
    offpay_keypair_wipe(&tk);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The audit's count of cases whose state is not their steps' (UINT64_MAX
 * when it did not run). */
static uint64_t case_mismatch(world *w)
{
    offpay_audit_report r;
    offpay_err          rc = offpay_ledger_audit(w->l, &r);

    return rc == OFFPAY_OK || rc == OFFPAY_EAUDIT ? r.case_mismatch
                                                  : UINT64_MAX;
}

/* Working a case (offpay_ledger_case_act, since 0.24.0): notes, a closing
 * with its resolution, a reopening, each kept in order with who took it;
 * the lists by state; the same step by the same name within the resend
 * window is taken once, later or by another name it is a step of its
 * own; a closed case is not closed again, an open one not reopened;
 * nothing moves money; the audit checks the state against the steps. */
static void test_case_noted_closed_and_reopened(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n, nv = 9;
    offpay_terminal_cred tc;
    offpay_settle_result a, d;
    offpay_case_note     st, st2, *v = NULL;
    offpay_case_info     c, *cv = NULL;
    offpay_case_filter   f;
    char                 long_text[OFFPAY_CASE_TEXT_MAX + 2];
    char                 wide[OFFPAY_CASE_TEXT_MAX + 3];
    int                  replayed = -1;
    int64_t              merchant1;
    const char          *desk = "fraud desk";
    uint64_t             open_n = 0;
    uint32_t             oldest = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 300 * DAY, T0, &tc));
    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    a = settle(&w, 0, code, n, CENTS(20), T0 + 20, T0 + 3600);
    d = settle(&w, 1, code, n, CENTS(20), T0 + 30, T0 + 3600);
    REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED &&
            d.outcome == OFFPAY_SETTLE_DUPLICATE && d.case_id != 0);
    merchant1 = balance(&w, w.merchant_acct[1]);
    memset(&f, 0, sizeof f);
    f.state = OFFPAY_CASES_OPEN;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 10, &cv, &nv));
    CHECK(nv == 1 && cv[0].id == d.case_id && cv[0].closed_at == 0 &&
          cv[0].resolution[0] == '\0');
    free(cv);
    f.state = OFFPAY_CASES_CLOSED;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 10, &cv, &nv));
    CHECK(nv == 0 && cv == NULL);
    /* the open cases counted (offpayd's /metrics), and when the oldest
     * was opened */
    REQUIRE_OK(offpay_ledger_case(w.l, d.case_id, &c));
    open_n = 9;
    REQUIRE_OK(offpay_ledger_cases_open(w.l, &open_n, &oldest));
    CHECK(open_n == 1 && oldest == c.opened_at && oldest != 0);
    CHECK_ERR(offpay_ledger_cases_open(w.l, NULL, &oldest), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_cases_open(w.l, &open_n, NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_cases_open(NULL, &open_n, &oldest), OFFPAY_EINVAL);

    /* a note; the same note by the same name within the window is the
     * same step; by another name, or later, a step of its own */
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                      "payer not reachable", desk, T0 + 4000,
                                      &st, &replayed));
    CHECK(st.id != 0 && st.case_id == d.case_id &&
          st.action == OFFPAY_CASE_NOTE && st.at == T0 + 4000 &&
          strcmp(st.author, desk) == 0 && replayed == 0);
    REQUIRE_OK(offpay_ledger_case_act(
        w.l, d.case_id, OFFPAY_CASE_NOTE, "payer not reachable", desk,
        T0 + 4000 + OFFPAY_CASE_RESEND_WINDOW, &st2, &replayed));
    CHECK(st2.id == st.id && st2.at == T0 + 4000 && replayed == 1);
    REQUIRE_OK(offpay_ledger_case_act(
        w.l, d.case_id, OFFPAY_CASE_NOTE, "payer not reachable", desk,
        T0 + 4001 + OFFPAY_CASE_RESEND_WINDOW, &st2, &replayed));
    CHECK(st2.id > st.id && replayed == 0); /* called again the next day */
    REQUIRE_OK(offpay_ledger_case_act(
        w.l, d.case_id, OFFPAY_CASE_NOTE, "payer not reachable", "night desk",
        T0 + 4002 + OFFPAY_CASE_RESEND_WINDOW, &st, &replayed));
    CHECK(st.id > st2.id && replayed == 0 &&
          strcmp(st.author, "night desk") == 0);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_REOPEN, "why",
                                     desk, T0 + 5000, NULL, NULL),
              OFFPAY_ECASE_OPEN);

    /* closed: out of the open ones, its resolution kept */
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_CLOSE,
                                      "guarantee's loss written off", desk,
                                      T0 + 5000, &st, &replayed));
    CHECK(st.action == OFFPAY_CASE_CLOSE && replayed == 0);
    REQUIRE_OK(offpay_ledger_case(w.l, d.case_id, &c));
    CHECK(c.closed_at == T0 + 5000 &&
          strcmp(c.resolution, "guarantee's loss written off") == 0);
    f.state = OFFPAY_CASES_OPEN;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 10, &cv, &nv));
    CHECK(nv == 0);
    free(cv);
    REQUIRE_OK(offpay_ledger_cases_open(w.l, &open_n, &oldest));
    CHECK(open_n == 0 && oldest == 0);
    f.state = OFFPAY_CASES_CLOSED;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 10, &cv, &nv));
    CHECK(nv == 1 && cv[0].closed_at == T0 + 5000 &&
          strcmp(cv[0].resolution, "guarantee's loss written off") == 0);
    free(cv);
    f.state = OFFPAY_CASES_ANY;
    REQUIRE_OK(offpay_ledger_cases(w.l, &f, 10, &cv, &nv));
    CHECK(nv == 1 && cv[0].id == d.case_id && cv[0].closed_at == T0 + 5000);
    free(cv);
    /* the same closing again: that step; other words: refused */
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_CLOSE,
                                      "guarantee's loss written off", desk,
                                      T0 + 5001, &st2, &replayed));
    CHECK(st2.id == st.id && replayed == 1);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_CLOSE,
                                     "other words", desk, T0 + 5002, NULL,
                                     NULL),
              OFFPAY_ECASE_CLOSED);
    /* a note on a closed case is kept; the closing is then no resend */
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                      "merchant told", desk, T0 + 5003, NULL,
                                      &replayed));
    CHECK(replayed == 0);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_CLOSE,
                                     "guarantee's loss written off", desk,
                                     T0 + 5004, NULL, NULL),
              OFFPAY_ECASE_CLOSED);
    REQUIRE_OK(offpay_ledger_case(w.l, d.case_id, &c));
    CHECK(c.closed_at == T0 + 5000);

    /* reopened, then closed again: the newest closing is the resolution */
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_REOPEN,
                                      "the payer disputes it", desk, T0 + 6000,
                                      &st, &replayed));
    REQUIRE_OK(offpay_ledger_case(w.l, d.case_id, &c));
    CHECK(c.closed_at == 0 && c.resolution[0] == '\0' && replayed == 0);
    REQUIRE_OK(offpay_ledger_cases_open(w.l, &open_n, &oldest));
    CHECK(open_n == 1 && oldest == c.opened_at);
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_CLOSE,
                                      "refunded 20.00 to the payer", desk,
                                      T0 + 7000, &st, &replayed));
    REQUIRE_OK(offpay_ledger_case(w.l, d.case_id, &c));
    CHECK(c.closed_at == T0 + 7000 &&
          strcmp(c.resolution, "refunded 20.00 to the payer") == 0);

    /* every step in order, with who took it, paged */
    REQUIRE_OK(offpay_ledger_case_notes(w.l, d.case_id, 0, 100, &v, &nv));
    REQUIRE(nv == 7);
    CHECK(v[0].action == OFFPAY_CASE_NOTE && v[1].action == OFFPAY_CASE_NOTE &&
          v[2].action == OFFPAY_CASE_NOTE && v[3].action == OFFPAY_CASE_CLOSE &&
          v[4].action == OFFPAY_CASE_NOTE &&
          v[5].action == OFFPAY_CASE_REOPEN &&
          v[6].action == OFFPAY_CASE_CLOSE && v[6].at == T0 + 7000 &&
          strcmp(v[4].text, "merchant told") == 0 &&
          strcmp(v[5].text, "the payer disputes it") == 0 &&
          strcmp(v[2].author, "night desk") == 0 &&
          strcmp(v[6].author, desk) == 0);
    for (size_t i = 1; i < nv; i++)
        CHECK(v[i].id > v[i - 1].id && v[i].case_id == d.case_id);
    /* each step among what operators did too, under its author (since
     * 0.31.0); one whose author is rewritten behind the ledger's back is
     * the audit's trail_mismatch (settlement.md §10, rule 12) */
    {
        offpay_action_filter    af;
        offpay_operator_action *av = NULL;
        size_t                  na = 0;
        int                     more = 0;
        offpay_audit_report     ar;
        char                    sql[200];

        memset(&af, 0, sizeof af);
        af.subject = d.case_id;
        af.action = "case-reopen";
        REQUIRE_OK(offpay_ledger_actions(w.l, &af, &av, &na, &more));
        CHECK(na == 1 && strcmp(av[0].detail, "the payer disputes it") == 0 &&
              strcmp(av[0].who, desk) == 0);
        free(av);
        CHECK(audit_ok(&w));
        snprintf(sql, sizeof sql,
                 "UPDATE case_notes SET author = 'someone else' WHERE id = "
                 "%llu",
                 (unsigned long long)v[2].id);
        REQUIRE(run_sql(w.path, sql));
        CHECK_ERR(offpay_ledger_audit(w.l, &ar), OFFPAY_EAUDIT);
        CHECK(ar.trail_mismatch == 2 && ar.case_mismatch == 0);
        snprintf(sql, sizeof sql,
                 "UPDATE case_notes SET author = 'night desk' WHERE id = %llu",
                 (unsigned long long)v[2].id);
        REQUIRE(run_sql(w.path, sql));
        CHECK(audit_ok(&w));
    }
    {
        offpay_case_note *p = NULL;
        size_t            np = 0;

        REQUIRE_OK(
            offpay_ledger_case_notes(w.l, d.case_id, v[1].id, 2, &p, &np));
        CHECK(np == 2 && p[0].id == v[2].id && p[1].id == v[3].id);
        free(p);
        REQUIRE_OK(
            offpay_ledger_case_notes(w.l, d.case_id, v[6].id, 2, &p, &np));
        CHECK(np == 0 && p == NULL);
    }
    free(v);

    /* refused, nothing kept; the most it keeps, of one- and two-byte
     * characters */
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                     long_text, desk, T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL);
    long_text[OFFPAY_CASE_TEXT_MAX] = '\0';
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                      long_text, desk, T0 + 8000, &st, NULL));
    CHECK(strlen(st.text) == OFFPAY_CASE_TEXT_MAX);
    for (size_t i = 0; i < OFFPAY_CASE_TEXT_MAX; i += 2)
        memcpy(wide + i, "\xc3\xa9", 2); /* é */
    wide[OFFPAY_CASE_TEXT_MAX] = '\0';
    REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, wide,
                                      desk, T0 + 8001, &st, NULL));
    REQUIRE_OK(offpay_ledger_case_notes(w.l, d.case_id, st.id - 1, 1, &v, &nv));
    CHECK(nv == 1 && strcmp(v[0].text, wide) == 0);
    free(v);
    memcpy(wide + OFFPAY_CASE_TEXT_MAX, "\xc3\xa9", 3); /* 1,002 bytes */
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, wide,
                                     desk, T0 + 8002, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, "", desk,
                                     T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                     "two\nlines", desk, T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, "x", "",
                                     T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, "x",
                                     NULL, T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, "x",
                                     long_text + OFFPAY_CASE_TEXT_MAX -
                                         OFFPAY_CASE_AUTHOR_MAX - 1,
                                     T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL); /* 65 bytes */
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, (offpay_case_action)9, "x",
                                     desk, T0 + 8000, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE, "x",
                                     desk, 0, NULL, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_act(w.l, 999, OFFPAY_CASE_NOTE, "x", desk,
                                     T0 + 8000, NULL, NULL),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_case_notes(w.l, 999, 0, 10, &v, &nv),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_case_notes(w.l, d.case_id, 0, 0, &v, &nv),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_case_notes(w.l, d.case_id, 0,
                                       OFFPAY_CASE_NOTES_PAGE_MAX + 1, &v, &nv),
              OFFPAY_EINVAL);
    f.state = (offpay_case_state)3;
    CHECK_ERR(offpay_ledger_cases(w.l, &f, 10, &cv, &nv), OFFPAY_EINVAL);
    REQUIRE_OK(offpay_ledger_case_notes(w.l, d.case_id, 0, 100, &v, &nv));
    CHECK(nv == 9);
    free(v);
    /* no money moved */
    CHECK(balance(&w, w.merchant_acct[1]) == merchant1);
    CHECK(audit_ok(&w));
    if (pg_prefix() != NULL) {
        /* PostgreSQL: a step takes the case's row lock first (the one its
         * closing's update takes), so two operators' steps on one case
         * are decided one after the other: held by another session, a
         * note waits for it (here EBUSY after a bound of 300 ms), where
         * its insert alone would take only a KEY SHARE lock */
        PGconn   *pc = PQconnectdb(w.path);
        PGresult *q;
        char      sql[96];
        long      was = offpay__lockwait_ms();

        snprintf(sql, sizeof sql,
                 "BEGIN; SELECT id FROM cases WHERE id = %llu FOR NO KEY "
                 "UPDATE",
                 (unsigned long long)d.case_id);
        q = PQexec(pc, sql);
        REQUIRE(PQresultStatus(q) == PGRES_TUPLES_OK);
        PQclear(q);
        offpay__lockwait_set(300);
        CHECK_ERR(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                         "held", desk, T0 + 9000, NULL, NULL),
                  OFFPAY_EBUSY);
        offpay__lockwait_set(was);
        PQclear(PQexec(pc, "COMMIT"));
        PQfinish(pc);
        REQUIRE_OK(offpay_ledger_case_act(w.l, d.case_id, OFFPAY_CASE_NOTE,
                                          "held", desk, T0 + 9000, NULL,
                                          &replayed));
        CHECK(replayed == 0);
        REQUIRE_OK(offpay_ledger_case_notes(w.l, d.case_id, 0, 100, &v, &nv));
        CHECK(nv == 10);
        free(v);
    }

    /* the audit: the state changed behind the ledger's back, and a
     * closing after a closing */
    REQUIRE(run_sql(w.path, "UPDATE cases SET closed_at = NULL"));
    CHECK(case_mismatch(&w) == 1);
    REQUIRE(run_sql(w.path, "UPDATE cases SET closed_at = 1"));
    CHECK(case_mismatch(&w) == 1);
    REQUIRE(run_sql(w.path, "UPDATE cases SET closed_at = (SELECT MAX(at) "
                            "FROM case_notes WHERE action = 'close')"));
    CHECK(case_mismatch(&w) == 0 && audit_ok(&w));
    REQUIRE(run_sql(w.path, "UPDATE case_notes SET action = 'close' WHERE "
                            "action = 'reopen'"));
    /* close, close, close: the second and the third each after a
     * closing */
    CHECK(case_mismatch(&w) == 2);
    REQUIRE(run_sql(w.path, "UPDATE case_notes SET action = 'reopen' WHERE "
                            "id = (SELECT MIN(id) FROM case_notes WHERE "
                            "action = 'close')"));
    /* reopen, close, close: a reopening first, a closing after a closing */
    CHECK(case_mismatch(&w) == 2);
    REQUIRE(run_sql(w.path, "UPDATE case_notes SET action = 'note' WHERE "
                            "id = (SELECT MAX(id) FROM case_notes WHERE "
                            "action = 'close')"));
    /* reopen, close, and the case's closed_at not that closing's time */
    CHECK(case_mismatch(&w) == 2);
    drop_world(&w);
}

/* sql changes w's ledger behind its back, undo puts it back: the audit
 * counts want_result results (rule 10) and want_fund credentials or fund
 * transfers (rule 11) in between, and passes after undo. */
static void audit_tamper(world *w, const char *sql, const char *undo,
                         uint64_t want_result, uint64_t want_fund)
{
    offpay_audit_report r;
    offpay_err          rc;

    REQUIRE(run_sql(w->path, sql));
    rc = offpay_ledger_audit(w->l, &r);
    CHECK(rc == OFFPAY_EAUDIT);
    if (rc != OFFPAY_EAUDIT || r.result_mismatch != want_result ||
        r.fund_mismatch != want_fund) {
        fprintf(stderr,
                "  after %s: result_mismatch %llu (want %llu), "
                "fund_mismatch %llu (want %llu)\n",
                sql, (unsigned long long)r.result_mismatch,
                (unsigned long long)want_result,
                (unsigned long long)r.fund_mismatch,
                (unsigned long long)want_fund);
        CHECK(0);
    }
    REQUIRE(run_sql(w->path, undo));
    CHECK(audit_ok(w));
}

/* The audit's rules 10 and 11 (since 0.25.0): a result's figures hold
 * together (0 <= covered <= paid <= charged, a reason exactly when it was
 * paid short, an outcome its figures agree with, a charge within the
 * code's amount), a payment's charged is its presentments' paid summed,
 * and every credential is funded once, by its limit, from its wallet
 * account. Each tampering is found by the rule that names it. */
static void test_audit_checks_results_and_funding(void)
{
    world                w;
    offpay_settle_result a, b;
    char                 sql[256], undo[256];
    unsigned long long   pa, pb;

    REQUIRE_OK(overspent_world(&w, &a, &b));
    REQUIRE(a.outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.covered > 0);
    REQUIRE(audit_ok(&w));
    pa = (unsigned long long)a.presentment;
    pb = (unsigned long long)b.presentment;

#define TAMPER(want_r, want_f, set, back, ...)                                 \
    do {                                                                       \
        snprintf(sql, sizeof sql, set, __VA_ARGS__);                           \
        snprintf(undo, sizeof undo, back, __VA_ARGS__);                        \
        audit_tamper(&w, sql, undo, want_r, want_f);                           \
    } while (0)
    /* a reason on a result paid in full */
    TAMPER(1, 0, "UPDATE presentments SET reason = 76 WHERE id = %llu",
           "UPDATE presentments SET reason = 0 WHERE id = %llu", pa);
    /* an outcome that is never stored */
    TAMPER(1, 0, "UPDATE presentments SET outcome = 0 WHERE id = %llu",
           "UPDATE presentments SET outcome = 1 WHERE id = %llu", pa);
    /* settled, with a cover */
    TAMPER(1, 0, "UPDATE presentments SET outcome = 1 WHERE id = %llu",
           "UPDATE presentments SET outcome = 2 WHERE id = %llu", pb);
    /* settled_guaranteed, without one */
    TAMPER(1, 0, "UPDATE presentments SET outcome = 2 WHERE id = %llu",
           "UPDATE presentments SET outcome = 1 WHERE id = %llu", pa);
    /* unpaid, paid in full */
    TAMPER(1, 0, "UPDATE presentments SET outcome = 5 WHERE id = %llu",
           "UPDATE presentments SET outcome = 1 WHERE id = %llu", pa);
    /* a charge above the code's amount (its payment says 39.99) */
    TAMPER(1, 0,
           "UPDATE payments SET authorized = 3999 WHERE id = (SELECT payment "
           "FROM presentments WHERE id = %llu)",
           "UPDATE payments SET authorized = 4000 WHERE id = (SELECT payment "
           "FROM presentments WHERE id = %llu)",
           pa);
    /* a payment's charged not its presentments' paid */
    TAMPER(1, 0,
           "UPDATE payments SET charged = charged + 1 WHERE id = (SELECT "
           "payment FROM presentments WHERE id = %llu)",
           "UPDATE payments SET charged = charged - 1 WHERE id = (SELECT "
           "payment FROM presentments WHERE id = %llu)",
           pb);
    /* covered above paid; paid above the charge; a charge of nothing
     * (each also a settle or cover transfer's mismatch; the last two
     * also their payment's charged, no longer its presentments' paid) */
    TAMPER(1, 0, "UPDATE presentments SET covered = paid + 1 WHERE id = %llu",
           "UPDATE presentments SET covered = 3000 WHERE id = %llu", pb);
    TAMPER(2, 0, "UPDATE presentments SET paid = charged + 1 WHERE id = %llu",
           "UPDATE presentments SET paid = charged WHERE id = %llu", pa);
    TAMPER(2, 0,
           "UPDATE presentments SET charged = 0, paid = 0 WHERE id = %llu",
           "UPDATE presentments SET charged = 4000, paid = 4000 WHERE id = "
           "%llu",
           pa);
    /* a credential whose limit is not what funded it */
    TAMPER(0, 1, "UPDATE credentials SET lim = lim + 1 WHERE serial = %llu",
           "UPDATE credentials SET lim = lim - 1 WHERE serial = %llu",
           (unsigned long long)w.cred.serial);
    /* funded from another account than its payer's */
    snprintf(sql, sizeof sql,
             "UPDATE transfers SET debit = %llu WHERE kind = 'fund'",
             (unsigned long long)w.guarantee);
    snprintf(undo, sizeof undo,
             "UPDATE transfers SET debit = %llu WHERE kind = 'fund'",
             (unsigned long long)w.wallet_acct);
    audit_tamper(&w, sql, undo, 0, 1);
    /* a fund transfer into no credential's escrow (the guarantee's
     * deposit, booked as a funding; also the world's money moved by
     * another kind than a deposit) */
    TAMPER(0, 1,
           "UPDATE transfers SET kind = 'fund' WHERE kind = 'deposit' AND "
           "credit = %llu",
           "UPDATE transfers SET kind = 'deposit' WHERE kind = 'fund' AND "
           "credit = %llu",
           (unsigned long long)w.guarantee);
#undef TAMPER
    drop_world(&w);
}

/* The payers' accounts: wallet accounts only (the credential's escrow,
 * the merchants' and the guarantee are not listed), by reference, paged;
 * each with its balance and credentials as the ledger holds them. */
static void test_wallet_accounts_listed_and_found_by_ref(void)
{
    world                       w;
    offpay_wallet_account_info *v = NULL;
    size_t                      n = 0;
    uint64_t                    second = 0;
    int64_t                     bal = 0;
    char                        long_ref[OFFPAY_LEDGER_REF_MAX + 2];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(
        offpay_ledger_wallet_account(w.l, EUR, "payer 2", T0 + 5, &second));
    REQUIRE_OK(offpay_ledger_wallet_accounts(w.l, NULL, 0, 100, &v, &n));
    REQUIRE(n == 2 && v != NULL);
    REQUIRE_OK(offpay_ledger_balance(w.l, w.wallet_acct, &bal, NULL, NULL));
    CHECK(v[0].id == w.wallet_acct && strcmp(v[0].ref, "payer") == 0 &&
          v[0].currency == EUR && v[0].created_at == T0 &&
          v[0].balance == bal && bal == CENTS(50) && v[0].credentials == 1 &&
          v[0].credentials_active == 1 && v[0].lost_at == 0);
    /* the escrow its credential holds, due back after the upload grace
     * (14 days by default) */
    CHECK(v[0].escrow_held == CENTS(50) &&
          v[0].escrow_back == w.cred.expires + 14 * DAY);
    /* and late presentments may draw on the account until the late
     * window (30 days by default) after that release is due */
    CHECK(v[0].late_until == w.cred.expires + 14 * DAY + 30 * DAY);
    CHECK(v[1].id == second && strcmp(v[1].ref, "payer 2") == 0 &&
          v[1].balance == 0 && v[1].credentials == 0 && v[1].escrow_held == 0 &&
          v[1].escrow_back == 0 && v[1].late_until == 0);
    free(v);
    /* by reference: exactly, and none for another */
    REQUIRE_OK(offpay_ledger_wallet_accounts(w.l, "payer 2", 0, 100, &v, &n));
    CHECK(n == 1 && v[0].id == second);
    free(v);
    REQUIRE_OK(offpay_ledger_wallet_accounts(w.l, "payer ", 0, 100, &v, &n));
    CHECK(n == 0 && v == NULL);
    /* pages of one; a released credential is not active any more (a
     * revoked one neither: e2e.offpayd_shards_pg, offpayd_online_restore),
     * and its escrow is back in the balance */
    REQUIRE_OK(offpay_ledger_release_due(w.l, w.cred.expires + 30 * DAY, &n));
    REQUIRE(n == 1);
    REQUIRE_OK(offpay_ledger_wallet_accounts(w.l, NULL, 0, 1, &v, &n));
    CHECK(n == 1 && v[0].id == w.wallet_acct && v[0].credentials == 1 &&
          v[0].credentials_active == 0 && v[0].balance == CENTS(100) &&
          v[0].escrow_held == 0 && v[0].escrow_back == 0);
    /* nothing held any more, but late presentments still draw on the
     * account for 30 days after the release (settlement.md §6) */
    CHECK(v[0].late_until == w.cred.expires + 30 * DAY + 30 * DAY);
    free(v);
    REQUIRE_OK(
        offpay_ledger_wallet_accounts(w.l, NULL, w.wallet_acct, 1, &v, &n));
    CHECK(n == 1 && v[0].id == second);
    free(v);
    REQUIRE_OK(offpay_ledger_wallet_accounts(w.l, NULL, second, 1, &v, &n));
    CHECK(n == 0 && v == NULL);
    /* bad arguments */
    memset(long_ref, 'r', sizeof long_ref - 1);
    long_ref[sizeof long_ref - 1] = '\0';
    CHECK_ERR(offpay_ledger_wallet_accounts(w.l, long_ref, 0, 1, &v, &n),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_wallet_accounts(w.l, NULL, 0, 0, &v, &n),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_wallet_accounts(
                  w.l, NULL, 0, OFFPAY_LEDGER_ACCOUNTS_MAX + 1, &v, &n),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_wallet_accounts(w.l, NULL, 0, 1, NULL, &n),
              OFFPAY_EINVAL);
    drop_world(&w);
}

/* ---- what offpayd serves ------------------------------------------- */

static int count_line(const offpay_statement_line *line, void *ctx)
{
    int64_t *sum = ctx;

    *sum += line->paid;
    return 0;
}

static void test_revlist_full_and_delta_verify_and_follow(void)
{
    world          w;
    uint8_t       *b = NULL;
    size_t         n = 0;
    offpay_revlist rl;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    /* nothing revoked: an empty full list, seq 1 */
    REQUIRE_OK(offpay_ledger_revlist(w.l, 0, T0 + 10, &b, &n));
    memset(&rl, 0, sizeof rl);
    REQUIRE_OK(offpay_revlist_decode(b, n, &rl));
    CHECK(rl.seq == 1 && rl.base_seq == 0 && rl.n_serials == 0);
    CHECK_ERR(offpay_revlist_verify(&w.bundle, &rl), OFFPAY_OK);
    free(rl.serials);
    free(b);
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "lost", T0 + 20));
    /* a delta since list 1 carries the new serial */
    REQUIRE_OK(offpay_ledger_revlist(w.l, 1, T0 + 30, &b, &n));
    memset(&rl, 0, sizeof rl);
    REQUIRE_OK(offpay_revlist_decode(b, n, &rl));
    CHECK(rl.seq == 2 && rl.base_seq == 1 && rl.n_serials == 1);
    CHECK(rl.n_serials == 1 && rl.serials[0] == w.cred.serial);
    CHECK(rl.issued_at == T0 + 30);
    CHECK_ERR(offpay_revlist_verify(&w.bundle, &rl), OFFPAY_OK);
    free(rl.serials);
    free(b);
    /* since the current list: the full list signed again */
    REQUIRE_OK(offpay_ledger_revlist(w.l, 2, T0 + 40, &b, &n));
    memset(&rl, 0, sizeof rl);
    REQUIRE_OK(offpay_revlist_decode(b, n, &rl));
    CHECK(rl.seq == 2 && rl.base_seq == 0 && rl.n_serials == 1);
    free(rl.serials);
    free(b);
    CHECK_ERR(offpay_ledger_revlist(w.l, 3, T0 + 50, &b, &n),
              OFFPAY_EREVLIST_SEQ);
    /* After a restore, skip-ids moves the lists' numbers on (since
     * 0.13.0): a device holding list 5 of the ledger before the restore
     * (numbers this one may reach by revoking anew) asks from it and gets
     * every revocation this ledger has, not those numbered 5 and above */
    REQUIRE_OK(offpay_ledger_skip_ids(w.l, 1000, NULL, NULL));
    REQUIRE_OK(offpay_ledger_revlist(w.l, 5, T0 + 60, &b, &n));
    memset(&rl, 0, sizeof rl);
    REQUIRE_OK(offpay_revlist_decode(b, n, &rl));
    CHECK(rl.seq == 1002 && rl.base_seq == 5 && rl.n_serials == 1 &&
          rl.serials[0] == w.cred.serial);
    free(rl.serials);
    free(b);
    drop_world(&w);
}

/* The serials of the list the ledger signs at now (a delta after list
 * since, or the full list for 0), as a bit set over serials[0..n): bit i
 * is set when serials[i] is in it; -1 on an error. *seq its number. */
static int listed(world *w, uint32_t since, uint32_t now,
                  const uint64_t *serials, int n, uint32_t *seq)
{
    uint8_t       *b = NULL;
    size_t         len = 0;
    offpay_revlist rl;
    int            bits = 0;

    memset(&rl, 0, sizeof rl);
    if (offpay_ledger_revlist(w->l, since, now, &b, &len) != OFFPAY_OK ||
        offpay_revlist_decode(b, len, &rl) != OFFPAY_OK ||
        offpay_revlist_verify(&w->bundle, &rl) != OFFPAY_OK) {
        free(b);
        free(rl.serials);
        return -1;
    }
    for (uint32_t i = 0; i < rl.n_serials; i++)
        for (int k = 0; k < n; k++)
            if (rl.serials[i] == serials[k])
                bits |= 1 << k;
    if (seq != NULL)
        *seq = rl.seq;
    free(b);
    free(rl.serials);
    return bits;
}

/* A revocation leaves the lists once its credential's signed expiry is
 * more than a day past (OFFPAY_REVLIST_LIVE_AFTER; since 0.22.0, from
 * 0.20.0 the upload grace): a list holds at most 65,535 serials, and every
 * revocation ever made would fill it. Whatever the upload grace, which
 * settlement still applies. The list's number still counts it; one made
 * before the ledger kept the expiry (025) stays listed. */
static void test_revlist_leaves_out_credentials_long_expired(void)
{
    world              w;
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred b, c;
    const uint32_t     live = DAY; /* the upload grace is 14 days */
    uint64_t           s[3];
    uint32_t           seq = 0;
    char               sql[128];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(10)));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(10),
                                   0, T0 + 2 * DAY, T0, bytes, &b));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(10),
                                   0, T0 + 5 * DAY, T0, bytes, &c));
    s[0] = w.cred.serial; /* expires at T0 + 30 days */
    s[1] = b.serial;
    s[2] = c.serial;
    CHECK(listed(&w, 0, T0 + 10, s, 3, &seq) == 0 && seq == 1);
    for (int k = 0; k < 3; k++)
        REQUIRE_OK(offpay_ledger_revoke(w.l, s[k], "lost", T0 + DAY));
    CHECK(listed(&w, 0, T0 + DAY, s, 3, &seq) == 7 && seq == 4);
    CHECK(OFFPAY_REVLIST_LIVE_AFTER == live);
    /* b until a day after its expiry, to the second */
    CHECK(listed(&w, 0, T0 + 2 * DAY + live, s, 3, &seq) == 7 && seq == 4);
    CHECK(listed(&w, 0, T0 + 2 * DAY + live + 1, s, 3, &seq) == 5 && seq == 4);
    /* a delta after list 1 the same: only the live ones */
    CHECK(listed(&w, 1, T0 + 2 * DAY + live, s, 3, NULL) == 7);
    CHECK(listed(&w, 1, T0 + 2 * DAY + live + 1, s, 3, &seq) == 5 && seq == 4);
    CHECK(listed(&w, 1, T0 + 5 * DAY + live + 1, s, 3, NULL) == 1);
    CHECK(listed(&w, 0, T0 + 30 * DAY + live, s, 3, NULL) == 1);
    CHECK(listed(&w, 0, T0 + 30 * DAY + live + 1, s, 3, &seq) == 0 && seq == 4);
    /* an upload grace of a minute or of 60 days (a library user's): kept
     * a day all the same, for a terminal's skew */
    for (int k = 0; k < 2; k++) {
        offpay_ledger_config cfg;
        world                v = w;

        offpay_ledger_config_defaults(&cfg);
        cfg.upload_grace = k == 0 ? 60 : 60 * DAY;
        REQUIRE_OK(offpay_ledger_open(w.path, &cfg, &v.l));
        REQUIRE_OK(offpay_ledger_set_trust(v.l, &w.bundle, 1, w.issuer.sk));
        CHECK(listed(&v, 0, T0 + 2 * DAY + DAY, s, 3, NULL) == 7);
        CHECK(listed(&v, 0, T0 + 2 * DAY + DAY + 1, s, 3, NULL) == 5);
        offpay_ledger_close(v.l);
    }
    /* a revocation of before 0.20.0 has no expiry: listed for good */
    snprintf(sql, sizeof sql,
             "UPDATE revocations SET expires = NULL WHERE serial = %llu",
             (unsigned long long)s[1]);
    REQUIRE(run_sql(w.path, sql));
    CHECK(listed(&w, 0, T0 + 300 * DAY, s, 3, NULL) == 2);
    CHECK(listed(&w, 2, T0 + 300 * DAY, s, 3, NULL) == 2);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A delta asked while offpayd's clock is behind a time it read before
 * (the nonces' mark: it went back by more than about ten minutes) is
 * answered with the full list: the asking terminal may hold a list signed
 * ahead, and one before 0.22.0 would let a delta signed now bring its time
 * back (docs/protocol.md §5.7). */
static void test_revlist_full_after_the_clock_went_back(void)
{
    world          w;
    uint8_t        nonce[16] = {7}, *b = NULL;
    size_t         len = 0;
    offpay_revlist rl;
    uint8_t        pk[OFFPAY_PK_BYTES] = {1};

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(10)));
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, "lost", T0 + 10));
    /* a signed request read the clock 3 days ahead: the mark moves */
    REQUIRE_OK(
        offpay_ledger_nonce(w.l, pk, nonce, T0 + 3 * DAY, T0 + 3 * DAY, 300));
    for (int k = 0; k < 2; k++) {
        uint32_t now = k == 0 ? T0 + DAY : T0 + 3 * DAY;

        memset(&rl, 0, sizeof rl);
        REQUIRE_OK(offpay_ledger_revlist(w.l, 1, now, &b, &len));
        REQUIRE_OK(offpay_revlist_decode(b, len, &rl));
        /* behind the mark: the full list; at the clock of the mark's
         * request: the delta after list 1 */
        CHECK(rl.base_seq == (k == 0 ? 0u : 1u) && rl.seq == 2 &&
              rl.n_serials == 1 && rl.serials[0] == w.cred.serial);
        free(b);
        b = NULL;
        offpay_revlist_free(&rl);
    }
    drop_world(&w);
}

/* offpay_ledger_revoked_expiries (POST /v1/terminal/expiries) gives a
 * revoked credential's signed expiry, from its bytes: not the ledger's,
 * which a lost wallet's report brings forward; 0 for a credential not
 * revoked and for a serial never issued. */
static void test_revoked_expiries_are_the_signed_ones(void)
{
    world              w;
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred b;
    uint64_t           s[3];
    uint32_t           e[3] = {1, 1, 1};
    char               sql[128];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(10)));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(10),
                                   0, T0 + 2 * DAY, T0, bytes, &b));
    s[0] = w.cred.serial;
    s[1] = b.serial;
    s[2] = b.serial + 1000;
    REQUIRE_OK(offpay_ledger_revoke(w.l, b.serial, "lost", T0 + DAY));
    snprintf(sql, sizeof sql,
             "UPDATE credentials SET expires = %u WHERE serial = %llu",
             (unsigned)(T0 + DAY), (unsigned long long)b.serial);
    REQUIRE(run_sql(w.path, sql));
    REQUIRE_OK(offpay_ledger_revoked_expiries(w.l, s, 3, e));
    CHECK(e[0] == 0 && e[1] == T0 + 2 * DAY && e[2] == 0);
    CHECK_ERR(offpay_ledger_revoked_expiries(w.l, NULL, 1, e), OFFPAY_EINVAL);
    REQUIRE_OK(offpay_ledger_revoked_expiries(w.l, NULL, 0, NULL));
    drop_world(&w);
}

/* On a sharded ledger a credential of shard 1 reaches the directory's
 * revocation list with its signed expiry, and leaves it as one of shard
 * 0 does. PostgreSQL only. */
static void test_revlist_of_a_shard_keeps_the_expiry(void)
{
    world              w;
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred c;
    uint64_t           acct = 0, s[2];
    const uint32_t     live = OFFPAY_REVLIST_LIVE_AFTER;
    char               sql[128], v[32];

    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(10)));
    /* a second payer: the shard with fewer wallets, shard 1 */
    REQUIRE_OK(offpay_ledger_wallet_account(w.l, EUR, "payer-2", T0, &acct));
    REQUIRE_OK(offpay_ledger_deposit(w.l, acct, CENTS(50), "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_issue(w.l, acct, w.wallet.pk, CENTS(10), 0,
                                   T0 + 2 * DAY, T0, bytes, &c));
    REQUIRE(c.serial > 1000000000u && w.cred.serial <= 1000000000u);
    s[0] = w.cred.serial; /* shard 0's, to T0 + 30 days */
    s[1] = c.serial;
    REQUIRE_OK(offpay_ledger_revoke(w.l, s[0], "lost", T0 + DAY));
    REQUIRE_OK(offpay_ledger_revoke(w.l, s[1], "lost", T0 + DAY));
    snprintf(sql, sizeof sql,
             "SELECT expires FROM revocations WHERE serial = %llu",
             (unsigned long long)s[1]);
    CHECK(pg_value(shard_url[0], sql, v, sizeof v) &&
          strtoul(v, NULL, 10) == T0 + 2 * DAY);
    CHECK(listed(&w, 0, T0 + 2 * DAY + live, s, 2, NULL) == 3);
    CHECK(listed(&w, 0, T0 + 2 * DAY + live + 1, s, 2, NULL) == 1);
    CHECK(listed(&w, 1, T0 + 2 * DAY + live + 1, s, 2, NULL) == 1);
    CHECK(listed(&w, 0, T0 + 30 * DAY + live + 1, s, 2, NULL) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

static void test_nonce_taken_once_terminal_found_by_key_statement_sums(void)
{
    world                       w;
    uint8_t                     nonce[16] = {1, 2, 3};
    uint8_t                     code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                      n;
    offpay_ledger_terminal_info a, b;
    int64_t                     sum = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_terminal(w.l, w.terminal[1], NULL, &a));
    CHECK(a.merchant_id == w.merchant[1] && a.currency == EUR && !a.revoked);
    REQUIRE_OK(offpay_ledger_terminal(w.l, 0, a.pk, &b));
    CHECK(b.terminal_id == w.terminal[1]);
    CHECK_ERR(offpay_ledger_terminal(w.l, 0, w.wallet.pk, &b),
              OFFPAY_ENOTFOUND);

    CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0, T0, 300), OFFPAY_OK);
    CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0, T0 + 1, 300),
              OFFPAY_EREPLAY);
    nonce[0] = 9;
    CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0, T0 + 1, 300),
              OFFPAY_OK);
    /* Kept for twice the window: another offpayd on the same ledger whose
     * clock runs up to a window ahead (or a request that waited for a
     * ledger connection with its time read before) prunes at T0 + 599;
     * the nonce of a request this one still accepts must survive it. */
    nonce[0] = 10;
    CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0 + 598, T0 + 599, 300),
              OFFPAY_OK);
    nonce[0] = 1; /* the first one's */
    CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0, T0 + 300, 300),
              OFFPAY_EREPLAY);
    nonce[0] = 11; /* past twice the window: T0's nonces are forgotten */
    CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0 + 1000, T0 + 1001, 300),
              OFFPAY_OK);
    {
        uint32_t mark = 0;

        /* ... and the ledger says up to when: one made before is refused
         * whatever now is (the caller's window would refuse T0 here, but
         * not after a prune on a clock that ran ahead, below) */
        REQUIRE_OK(offpay_ledger_nonce_mark(w.l, &mark));
        CHECK(mark == T0 + 401);
        nonce[0] = 1;
        CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0, T0 + 1001, 300),
                  OFFPAY_ECLOCK_BEHIND);
        /* pruned at most once a minute: the mark stays */
        nonce[0] = 12;
        CHECK_ERR(
            offpay_ledger_nonce(w.l, a.pk, nonce, T0 + 1030, T0 + 1030, 300),
            OFFPAY_OK);
        REQUIRE_OK(offpay_ledger_nonce_mark(w.l, &mark));
        CHECK(mark == T0 + 401);
        /* a clock a day ahead for one request forgets everything before
         * T0 + DAY - 600; back at T0 + 1040 a request made inside the
         * window but before that is refused, its nonce new or not */
        nonce[0] = 13;
        CHECK_ERR(
            offpay_ledger_nonce(w.l, a.pk, nonce, T0 + DAY, T0 + DAY, 300),
            OFFPAY_OK);
        nonce[0] = 12; /* forgotten: its replay is not taken */
        CHECK_ERR(
            offpay_ledger_nonce(w.l, a.pk, nonce, T0 + 1030, T0 + 1040, 300),
            OFFPAY_ECLOCK_BEHIND);
        nonce[0] = 14;
        CHECK_ERR(
            offpay_ledger_nonce(w.l, a.pk, nonce, T0 + 1040, T0 + 1040, 300),
            OFFPAY_ECLOCK_BEHIND);
        REQUIRE_OK(offpay_ledger_nonce_mark(w.l, &mark));
        CHECK(mark == T0 + DAY - 600);
        /* at the mark, a new nonce is taken, a remembered one is not */
        CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0 + DAY - 600,
                                      T0 + DAY - 600, 300),
                  OFFPAY_OK);
        nonce[0] = 13;
        CHECK_ERR(offpay_ledger_nonce(w.l, a.pk, nonce, T0 + DAY,
                                      T0 + DAY - 500, 300),
                  OFFPAY_EREPLAY);
    }

    n = make_code(&w, 1, CENTS(20), T0 + 10, 0, code);
    (void)settle(&w, 1, code, n, CENTS(20), T0 + 20, T0 + 3600);
    n = make_code(&w, 2, CENTS(5), T0 + 30, 0, code);
    (void)settle(&w, 1, code, n, CENTS(5), T0 + 40, T0 + 3700);
    REQUIRE_OK(offpay_ledger_statement(w.l, w.merchant[1], T0, T0 + DAY,
                                       count_line, &sum));
    CHECK(sum == CENTS(25));
    CHECK(sum == balance(&w, w.merchant_acct[1]));
    {
        offpay_statement_account a1;

        sum = 0;
        REQUIRE_OK(offpay_ledger_statement_with(
            w.l, w.merchant[1], T0, T0 + DAY, count_line, &sum, &a1));
        CHECK(sum == CENTS(25) && a1.balance == CENTS(25));
        CHECK(a1.account == w.merchant_acct[1] && a1.currency == EUR);
    }
    sum = 0;
    REQUIRE_OK(offpay_ledger_statement(w.l, w.merchant[0], T0, T0 + DAY,
                                       count_line, &sum));
    CHECK(sum == 0);
    CHECK_ERR(
        offpay_ledger_statement(w.l, 4242, T0, T0 + DAY, count_line, &sum),
        OFFPAY_ENOTFOUND);
    {
        /* more movements than a statement lists, booked latest first: it
         * lists the period's earliest, oldest first, and counts them all */
        offpay__statement st;
        const size_t      more = OFFPAY__STATEMENT_MOVES + 5;
        int               sorted = 1;

        char sql[512];

        /* written behind the ledger's back: offpay books no transfer
         * dated more than 60 s before its newest (settlement.md §10,
         * "The ledger's clock"), but a ledger of an older version may
         * hold such */
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1"
                 " FROM c WHERE i < %zu) INSERT INTO transfers (debit,"
                 " credit, amount, kind, at) SELECT (SELECT id FROM accounts"
                 " WHERE kind = 1 AND currency = %u), %llu, 1, 'deposit',"
                 " %u - i FROM c ORDER BY i",
                 more - 1, (unsigned)EUR,
                 (unsigned long long)w.merchant_acct[0], T0 + 9000);
        REQUIRE(run_sql(w.path, sql));
        memset(&st, 0, sizeof st);
        st.merchant = w.merchant[0];
        st.from = T0;
        st.to = T0 + DAY;
        REQUIRE_OK(offpay__statement_read(w.l, &st));
        CHECK(st.moves_count == more && st.n_moves == OFFPAY__STATEMENT_MOVES);
        for (size_t i = 1; i < st.n_moves; i++)
            sorted &= st.moves[i - 1].at < st.moves[i].at;
        CHECK(sorted);
        CHECK(st.n_moves > 0 && st.moves[0].at == T0 + 9000 - (more - 1));
        CHECK(st.n_moves > 0 && st.moves[st.n_moves - 1].at == T0 + 9000 - 5);
        CHECK(st.acct.deposits == (int64_t)more);
        offpay__statement_free(&st);

        /* two shards' runs, each in order, the second's earlier: the
         * earliest of both are kept, whatever came first */
        memset(&st, 0, sizeof st);
        st.moves = malloc(OFFPAY__STATEMENT_MOVES * sizeof *st.moves);
        REQUIRE(st.moves != NULL);
        for (size_t k = 0; k < 2; k++)
            for (size_t i = 0; i < OFFPAY__STATEMENT_MOVES; i++) {
                offpay_account_transfer t;

                memset(&t, 0, sizeof t);
                t.id = 1000000 * k + i + 1;
                t.at = T0 + 2 * (uint32_t)i + (k == 0 ? 1000 : 0);
                offpay__statement_move(&t, &st);
            }
        offpay__statement_moves_sort(&st);
        sorted = 1;
        for (size_t i = 1; i < st.n_moves; i++)
            sorted &= st.moves[i - 1].at <= st.moves[i].at;
        CHECK(sorted && st.moves_count == 2 * OFFPAY__STATEMENT_MOVES);
        /* kept: shard 1's every one to T0 + 1998, shard 0's to T0 + 1998 */
        CHECK(st.n_moves == OFFPAY__STATEMENT_MOVES && st.moves[0].at == T0 &&
              st.moves[0].id == 1000001 &&
              st.moves[st.n_moves - 1].at <= T0 + 1998);
        offpay__statement_free(&st);
    }
    drop_world(&w);
}

#ifdef OFFPAY_TEST_HOOKS
/* A read run again after a conflict (test hook) counts nothing twice: an
 * account's history and balance are those of one run; a statement whose
 * lines went out fails instead of giving them again, and one whose
 * conflict came before any line is read again whole. */
static void test_reads_run_again_count_once(void)
{
    world                    w;
    uint8_t                  c1[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                   n1, n = 0;
    offpay_account_transfer *v = NULL;
    offpay_account_state     st;
    offpay_statement_account a;
    int64_t                  paid = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(40), T0 + 10, 0, c1);
    (void)settle(&w, 0, c1, n1, CENTS(40), T0 + 20, T0 + 3600);
    offpay__test_read_conflict_at = 2; /* the account's kind, its rows */
    REQUIRE_OK(
        offpay_ledger_transfers(w.l, w.merchant_acct[0], 0, 100, &v, &n, &st));
    CHECK(offpay__test_read_conflict_at == 0);
    CHECK(n == 1 && st.balance == CENTS(40) && v[0].amount == CENTS(40));
    free(v);
    offpay__test_read_conflict_at = 1;
    CHECK_ERR(offpay_ledger_statement_with(w.l, w.merchant[0], 0, UINT32_MAX,
                                           count_line, &paid, &a),
              OFFPAY_ESTORE);
    CHECK(paid == CENTS(40)); /* the lines went out once */
    paid = 0;
    offpay__test_read_conflict_at = 0;
    REQUIRE_OK(offpay_ledger_statement_with(w.l, w.merchant[1], 0, UINT32_MAX,
                                            count_line, &paid, &a));
    CHECK(paid == 0 && a.balance == 0);
    /* no line before the upload: read again whole, the balance once */
    offpay__test_read_conflict_at = 1;
    REQUIRE_OK(offpay_ledger_statement_with(w.l, w.merchant[0], 0, T0,
                                            count_line, &paid, &a));
    CHECK(paid == 0 && a.balance == CENTS(40) &&
          offpay__test_read_conflict_at == 0);
    drop_world(&w);
}
#endif

/* ---- two connections settling the same uploads at once --------------- */

#define RACE_ITEMS 60

struct race {
    world          *w;
    uint8_t         codes[RACE_ITEMS][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t          lens[RACE_ITEMS];
    int             settled[2];
    int             replays[2];
    int             errors;
    pthread_mutex_t mu;
};

struct racer {
    struct race *race;
    int          who;
};

/* A third connection reading the merchant's statement while the racers
 * settle: each read's balance is what its lines paid (the merchant has no
 * other transfer), never a payment more or less. */
struct stmt_reader {
    struct race *race;
    int          done; /* set under race->mu once both racers returned */
    int          reads, mismatches;
};

static void *stmt_read_run(void *arg)
{
    struct stmt_reader *me = arg;
    struct race        *ra = me->race;
    offpay_ledger      *l = NULL;
    int                 done = 0;

    if (offpay_ledger_open(ra->w->path, NULL, &l) != OFFPAY_OK) {
        me->mismatches++;
        return NULL;
    }
    while (!done) {
        offpay_statement_account a;
        int64_t                  paid = 0;

        pthread_mutex_lock(&ra->mu);
        done = me->done;
        pthread_mutex_unlock(&ra->mu);
        if (offpay_ledger_statement_with(l, ra->w->merchant[0], 0, UINT32_MAX,
                                         count_line, &paid, &a) != OFFPAY_OK ||
            a.balance != paid) {
            fprintf(stderr, "statement: balance %lld, lines paid %lld\n",
                    (long long)a.balance, (long long)paid);
            me->mismatches++;
        }
        me->reads++;
    }
    offpay_ledger_close(l);
    return NULL;
}

static void *race_run(void *arg)
{
    struct racer  *me = arg;
    struct race   *ra = me->race;
    offpay_ledger *l = NULL;

    if (offpay_ledger_open(ra->w->path, NULL, &l) != OFFPAY_OK ||
        offpay_ledger_set_trust(l, &ra->w->bundle, 1, ra->w->issuer.sk) !=
            OFFPAY_OK) {
        pthread_mutex_lock(&ra->mu);
        ra->errors++;
        pthread_mutex_unlock(&ra->mu);
        offpay_ledger_close(l);
        return NULL;
    }
    for (int i = 0; i < RACE_ITEMS; i++) {
        int                  k = me->who ? RACE_ITEMS - 1 - i : i;
        offpay_settle_item   it = {ra->codes[k], ra->lens[k], 100, T0 + 20, k};
        offpay_settle_result r;
        offpay_err           rc;

        rc = offpay_ledger_settle(l, ra->w->terminal[0], &it, T0 + 3600, &r);
        pthread_mutex_lock(&ra->mu);
        if (rc != OFFPAY_OK || r.outcome != OFFPAY_SETTLE_SETTLED) {
            fprintf(stderr, "race item %d: %s outcome %d reason %s\n", k,
                    offpay_errname(rc), (int)r.outcome,
                    offpay_errname(r.reason));
            ra->errors++;
        } else if (r.replay)
            ra->replays[me->who]++;
        else
            ra->settled[me->who]++;
        pthread_mutex_unlock(&ra->mu);
    }
    offpay_ledger_close(l);
    return NULL;
}

static void test_two_connections_settle_each_item_exactly_once(void)
{
    world              w;
    struct race        ra;
    struct racer       r0, r1;
    struct stmt_reader reader = {&ra, 0, 0, 0};
    pthread_t          t0, t1, t2;

    REQUIRE_OK(make_world(&w, CENTS(200), CENTS(100)));
    memset(&ra, 0, sizeof ra);
    ra.w = &w;
    pthread_mutex_init(&ra.mu, NULL);
    for (int i = 0; i < RACE_ITEMS; i++) {
        ra.lens[i] =
            make_code(&w, (uint32_t)i + 1, 100, T0 + 10, 0, ra.codes[i]);
        REQUIRE(ra.lens[i] > 0);
    }
    r0.race = &ra, r0.who = 0;
    r1.race = &ra, r1.who = 1;
    REQUIRE(pthread_create(&t2, NULL, stmt_read_run, &reader) == 0);
    REQUIRE(pthread_create(&t0, NULL, race_run, &r0) == 0);
    REQUIRE(pthread_create(&t1, NULL, race_run, &r1) == 0);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    pthread_mutex_lock(&ra.mu);
    reader.done = 1;
    pthread_mutex_unlock(&ra.mu);
    pthread_join(t2, NULL);
    CHECK(ra.errors == 0);
    CHECK(reader.reads > 1 && reader.mismatches == 0);
    CHECK(ra.settled[0] + ra.settled[1] == RACE_ITEMS);
    CHECK(ra.replays[0] + ra.replays[1] == RACE_ITEMS);
    CHECK(balance(&w, w.merchant_acct[0]) == 100 * RACE_ITEMS);
    CHECK(escrow(&w) == CENTS(100) - 100 * RACE_ITEMS);
    CHECK(audit_ok(&w));
    pthread_mutex_destroy(&ra.mu);
    drop_world(&w);
}

/* ---- one request key sent twice at once ---------------------------- */

/* Two connections send each keyed withdrawal at the same moment (a resend
 * that overlaps the first attempt): each key moves the money once, and
 * both answers name the same transfer, one of them replayed. */
#define KR_KEYS 20

struct key_race {
    world          *w;
    uint64_t        transfer[2][KR_KEYS];
    int             replayed[2][KR_KEYS];
    int             errors;
    pthread_mutex_t mu;
};

struct key_racer {
    struct key_race *kr;
    int              who;
};

static void *key_race_run(void *arg)
{
    struct key_racer *me = arg;
    struct key_race  *kr = me->kr;
    offpay_ledger    *l = NULL;

    if (offpay_ledger_open(kr->w->path, NULL, &l) != OFFPAY_OK) {
        pthread_mutex_lock(&kr->mu);
        kr->errors++;
        pthread_mutex_unlock(&kr->mu);
        return NULL;
    }
    for (int i = 0; i < KR_KEYS; i++) {
        char       key[16];
        offpay_err rc;

        snprintf(key, sizeof key, "atm-%d", i);
        rc = offpay_ledger_move_once(l, kr->w->wallet_acct, 100, 1, NULL, key,
                                     T0, &kr->transfer[me->who][i],
                                     &kr->replayed[me->who][i]);
        if (rc != OFFPAY_OK) {
            pthread_mutex_lock(&kr->mu);
            fprintf(stderr, "key %s: %s\n", key, offpay_errname(rc));
            kr->errors++;
            pthread_mutex_unlock(&kr->mu);
        }
    }
    offpay_ledger_close(l);
    return NULL;
}

static void test_request_key_sent_twice_at_once_moves_once(void)
{
    world            w;
    struct key_race  kr;
    struct key_racer r0, r1;
    pthread_t        t0, t1;
    int64_t          before;
    int              fresh = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(10)));
    memset(&kr, 0, sizeof kr);
    kr.w = &w;
    pthread_mutex_init(&kr.mu, NULL);
    /* the account holds exactly the keys' withdrawals: an overlapping
     * resend that read the balance before looking up its key would find
     * the last one short (EFUNDS) instead of replaying it */
    before = balance(&w, w.wallet_acct);
    REQUIRE(before > 100 * KR_KEYS);
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.wallet_acct,
                                      before - 100 * KR_KEYS, "x", T0, NULL));
    before = 100 * KR_KEYS;
    r0 = (struct key_racer){&kr, 0};
    r1 = (struct key_racer){&kr, 1};
    REQUIRE(pthread_create(&t0, NULL, key_race_run, &r0) == 0);
    REQUIRE(pthread_create(&t1, NULL, key_race_run, &r1) == 0);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    CHECK(kr.errors == 0);
    for (int i = 0; i < KR_KEYS; i++) {
        CHECK(kr.transfer[0][i] != 0 && kr.transfer[0][i] == kr.transfer[1][i]);
        CHECK(kr.replayed[0][i] + kr.replayed[1][i] == 1);
        fresh += !kr.replayed[0][i] + !kr.replayed[1][i];
    }
    CHECK(fresh == KR_KEYS);
    CHECK(balance(&w, w.wallet_acct) == 0);
    CHECK(audit_ok(&w));
    pthread_mutex_destroy(&kr.mu);
    drop_world(&w);
}

/* ---- money read before it moves, from several connections at once ---- */

/* Four connections (one offpay_ledger each, as four offpayd processes
 * would have) at once: (1) issue credentials from one wallet account and
 * withdraw from it, more than it holds; (2) settle overspends that the
 * guarantee covers only some of; (3) release the due escrows, then settle
 * late presentments that draw on the wallet account while it is being
 * withdrawn from. Every read of a balance or an escrow is followed by a
 * debit of it, so on PostgreSQL (READ COMMITTED) this holds only with the
 * row locks of store.h: no balance goes negative, each phase's money adds
 * up, and the audit passes after each. */

#define CC_THREADS 4
#define CC_TRIES   25
#define CC_CREDS   (CC_THREADS * CC_TRIES)
#define CC_LIMIT   CENTS(1)
#define CC_NOW3    (T0 + 45 * DAY) /* after the expiry and the grace */

struct cc {
    world             *w;
    int                phase;
    offpay_wallet_cred creds[CC_CREDS];
    size_t             n_creds;
    int64_t            withdrawn, covered, from_wallet;
    int                efunds, guaranteed, unpaid, errors;
    size_t             released; /* as the connections' releases say */
    pthread_mutex_t    mu;
};

struct cc_thread {
    struct cc *cc;
    int        who;
};

static void cc_error(struct cc *cc, const char *what, offpay_err rc)
{
    pthread_mutex_lock(&cc->mu);
    fprintf(stderr, "phase %d: %s: %s\n", cc->phase, what, offpay_errname(rc));
    cc->errors++;
    pthread_mutex_unlock(&cc->mu);
}

/* A withdrawal of amount: OK or EFUNDS, counted. */
static void cc_withdraw(struct cc *cc, offpay_ledger *l, int64_t amount,
                        uint32_t now)
{
    offpay_err rc =
        offpay_ledger_withdraw(l, cc->w->wallet_acct, amount, "atm", now, NULL);

    pthread_mutex_lock(&cc->mu);
    if (rc == OFFPAY_OK)
        cc->withdrawn += amount;
    else if (rc == OFFPAY_EFUNDS)
        cc->efunds++;
    pthread_mutex_unlock(&cc->mu);
    if (rc != OFFPAY_OK && rc != OFFPAY_EFUNDS)
        cc_error(cc, "withdraw", rc);
}

/* Settles a code of credential cred; the result, or outcome -1. */
static offpay_settle_result cc_settle(struct cc *cc, offpay_ledger *l,
                                      const offpay_wallet_cred *cred,
                                      uint32_t counter, int64_t amount,
                                      int term, uint32_t now)
{
    world                wc = *cc->w; /* the same wallet key, this cred */
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_item   it;
    offpay_settle_result r;
    offpay_err           rc;

    wc.cred = *cred;
    n = make_code(&wc, counter, amount, T0 + 10, 0, code);
    sodium_memzero(&wc, sizeof wc);
    it = (offpay_settle_item){code, n, amount, T0 + 20, counter};
    rc = offpay_ledger_settle(l, cc->w->terminal[term], &it, now, &r);
    if (n == 0 || rc != OFFPAY_OK) {
        cc_error(cc, "settle", n == 0 ? OFFPAY_EINVAL : rc);
        r.outcome = (offpay_settle_outcome)-1;
    }
    return r;
}

static void cc_phase1(struct cc *cc, offpay_ledger *l)
{
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred cred;

    for (int j = 0; j < CC_TRIES; j++) {
        offpay_err rc = offpay_ledger_issue(
            l, cc->w->wallet_acct, cc->w->wallet.pk, CC_LIMIT,
            OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY, T0, bytes, &cred);

        pthread_mutex_lock(&cc->mu);
        if (rc == OFFPAY_OK && cc->n_creds < CC_CREDS)
            cc->creds[cc->n_creds++] = cred;
        else if (rc == OFFPAY_EFUNDS)
            cc->efunds++;
        pthread_mutex_unlock(&cc->mu);
        if (rc != OFFPAY_OK && rc != OFFPAY_EFUNDS)
            cc_error(cc, "issue", rc);
        cc_withdraw(cc, l, CC_LIMIT / 2, T0);
    }
}

/* Even credentials: the whole escrow at terminal 0, then 0.40 more at
 * terminal 1 (an overspend within the rules, for the guarantee). Odd ones:
 * 0.30 at terminal 0, the rest left for release. */
static void cc_phase2(struct cc *cc, offpay_ledger *l, int who)
{
    for (size_t i = (size_t)who; i < cc->n_creds; i += CC_THREADS) {
        offpay_settle_result r;

        if (i % 2) {
            r = cc_settle(cc, l, &cc->creds[i], 1, 30, 0, T0 + 3600);
            if (r.outcome != OFFPAY_SETTLE_SETTLED)
                cc_error(cc, "odd credential", r.reason);
            continue;
        }
        r = cc_settle(cc, l, &cc->creds[i], 1, CC_LIMIT, 0, T0 + 3600);
        if (r.outcome != OFFPAY_SETTLE_SETTLED)
            cc_error(cc, "whole escrow", r.reason);
        r = cc_settle(cc, l, &cc->creds[i], 2, 40, 1, T0 + 3600);
        pthread_mutex_lock(&cc->mu);
        if (r.outcome == OFFPAY_SETTLE_GUARANTEED)
            cc->guaranteed++;
        else if (r.outcome == OFFPAY_SETTLE_UNPAID && r.reason == OFFPAY_EFUNDS)
            cc->unpaid++;
        else
            cc->errors++;
        if (r.outcome == OFFPAY_SETTLE_GUARANTEED ||
            r.outcome == OFFPAY_SETTLE_UNPAID)
            cc->covered += r.covered;
        pthread_mutex_unlock(&cc->mu);
    }
}

/* Every connection releases what is due (each escrow once), then settles
 * a late 1.00 on each odd credential, paid from the wallet account, while
 * withdrawing 0.50 after each. */
static void cc_phase3(struct cc *cc, offpay_ledger *l, int who)
{
    size_t     released = 0;
    offpay_err rc = offpay_ledger_release_due(l, CC_NOW3, &released);

    if (rc != OFFPAY_OK)
        cc_error(cc, "release", rc);
    pthread_mutex_lock(&cc->mu);
    cc->released += released;
    pthread_mutex_unlock(&cc->mu);
    for (size_t i = (size_t)who; i < cc->n_creds; i += CC_THREADS) {
        offpay_settle_result r;

        if (i % 2 == 0)
            continue;
        r = cc_settle(cc, l, &cc->creds[i], 2, CC_LIMIT, 0, CC_NOW3 + 60);
        pthread_mutex_lock(&cc->mu);
        if (r.outcome == OFFPAY_SETTLE_SETTLED ||
            r.outcome == OFFPAY_SETTLE_UNPAID)
            cc->from_wallet += r.paid - r.covered;
        else
            cc->errors++;
        pthread_mutex_unlock(&cc->mu);
        cc_withdraw(cc, l, CC_LIMIT / 2, CC_NOW3 + 60);
    }
}

static void *cc_run(void *arg)
{
    struct cc_thread *me = arg;
    struct cc        *cc = me->cc;
    offpay_ledger    *l = NULL;
    offpay_err        rc;

    rc = offpay_ledger_open(cc->w->path, NULL, &l);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_set_trust(l, &cc->w->bundle, 1, cc->w->issuer.sk);
    if (rc != OFFPAY_OK)
        cc_error(cc, "open", rc);
    else if (cc->phase == 1)
        cc_phase1(cc, l);
    else if (cc->phase == 2)
        cc_phase2(cc, l, me->who);
    else
        cc_phase3(cc, l, me->who);
    offpay_ledger_close(l);
    return NULL;
}

static void cc_phase(struct cc *cc, int phase)
{
    pthread_t        t[CC_THREADS];
    struct cc_thread me[CC_THREADS];

    cc->phase = phase;
    for (int i = 0; i < CC_THREADS; i++) {
        me[i] = (struct cc_thread){cc, i};
        REQUIRE(pthread_create(&t[i], NULL, cc_run, &me[i]) == 0);
    }
    for (int i = 0; i < CC_THREADS; i++)
        pthread_join(t[i], NULL);
}

/* What remains in the escrows of cc's credentials and w's own. */
static int64_t cc_escrows(struct cc *cc)
{
    offpay_ledger_cred_info ci;
    int64_t                 sum = 0;

    for (size_t i = 0; i <= cc->n_creds; i++) {
        uint64_t serial =
            i < cc->n_creds ? cc->creds[i].serial : cc->w->cred.serial;

        if (offpay_ledger_credential(cc->w->l, serial, &ci) != OFFPAY_OK)
            return INT64_MIN;
        sum += ci.remaining;
    }
    return sum;
}

static void test_concurrent_debits_never_overdraw_wallet_or_guarantee(void)
{
    world      w;
    struct cc *cc = calloc(1, sizeof *cc);
    int64_t    wallet0, guarantee0, escrows;

    REQUIRE(cc != NULL);
    REQUIRE_OK(make_world(&w, CENTS(40), CC_LIMIT));
    cc->w = &w;
    pthread_mutex_init(&cc->mu, NULL);
    /* the guarantee covers 10 of the 0.40 overspends */
    REQUIRE_OK(
        offpay_ledger_withdraw(w.l, w.guarantee, CENTS(996), "x", T0, NULL));

    /* 1: 4 x 25 issues of 1.00 and withdrawals of 0.50 from 39.00 */
    wallet0 = balance(&w, w.wallet_acct);
    cc_phase(cc, 1);
    CHECK(cc->errors == 0 && cc->efunds > 0 && cc->n_creds >= 8);
    CHECK(balance(&w, w.wallet_acct) >= 0);
    CHECK(balance(&w, w.wallet_acct) ==
          wallet0 - (int64_t)cc->n_creds * CC_LIMIT - cc->withdrawn);
    CHECK(audit_ok(&w));

    /* 2: overspends on half of them, more than the guarantee holds */
    guarantee0 = balance(&w, w.guarantee);
    cc_phase(cc, 2);
    CHECK(cc->errors == 0 && cc->guaranteed + cc->unpaid > 0);
    CHECK(balance(&w, w.guarantee) >= 0);
    CHECK(balance(&w, w.guarantee) == guarantee0 - cc->covered);
    CHECK(cc->unpaid == 0 || balance(&w, w.guarantee) == 0);
    CHECK(audit_ok(&w));

    /* 3: release, then late presentments and withdrawals on the wallet */
    wallet0 = balance(&w, w.wallet_acct);
    escrows = cc_escrows(cc);
    cc->withdrawn = 0;
    cc_phase(cc, 3);
    CHECK(cc->errors == 0);
    /* each escrow released once (the world's credential's too), and said
     * so once: a connection does not count one another released while it
     * looked */
    if (cc->released != cc->n_creds + 1)
        fprintf(stderr, "released %zu, want %zu\n", cc->released,
                cc->n_creds + 1);
    CHECK(cc->released == cc->n_creds + 1);
    CHECK(balance(&w, w.wallet_acct) >= 0);
    CHECK(balance(&w, w.wallet_acct) ==
          wallet0 + escrows - cc->from_wallet - cc->withdrawn);
    CHECK(audit_ok(&w));
    pthread_mutex_destroy(&cc->mu);
    free(cc);
    drop_world(&w);
}

/* ---- boundaries the mutation audit found untested ------------------- */

#define JPY 392

/* A terminal of merchant (its own key, valid a year), its id in
 * *terminal. */
static offpay_err add_terminal_of(world *w, uint64_t merchant,
                                  uint32_t *terminal)
{
    uint8_t              tbytes[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               tlen;
    offpay_keypair       tk;
    offpay_terminal_cred tc;
    offpay_err           rc = offpay_keypair_generate(&tk);

    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_add(w->l, merchant, tk.pk, T0 + 365 * DAY,
                                        T0, tbytes, &tlen, &tc);
    offpay_keypair_wipe(&tk);
    *terminal = tc.terminal_id;
    return rc;
}

/* A merchant in currency (*merchant, its *account) and a terminal of it
 * (*terminal). */
static offpay_err add_merchant_terminal(world *w, const char *name,
                                        uint16_t currency, uint64_t *merchant,
                                        uint64_t *account, uint32_t *terminal)
{
    offpay_err rc =
        offpay_ledger_merchant_add(w->l, name, currency, T0, merchant, account);

    return rc == OFFPAY_OK ? add_terminal_of(w, *merchant, terminal) : rc;
}

/* A code in another currency than the terminal's is rejected ECURRENCY
 * and moves nothing (settlement.md §4): a EUR code of 10.00 uploaded by a
 * yen merchant's terminal pays no yen. */
static void test_code_in_another_currency_moves_nothing(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    uint64_t             yen_merchant, yen_acct;
    uint32_t             yen_term;
    offpay_settle_result r;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(add_merchant_terminal(&w, "Ramen C", JPY, &yen_merchant,
                                     &yen_acct, &yen_term));
    n = make_code(&w, 1, CENTS(10), T0 + 10, 0, code);
    r = settle_at(&w, yen_term, code, n, CENTS(10), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_REJECTED && r.reason == OFFPAY_ECURRENCY &&
          r.paid == 0);
    CHECK(balance(&w, yen_acct) == 0);
    {
        offpay_ledger_cred_info ci;

        REQUIRE_OK(offpay_ledger_credential(w.l, w.cred.serial, &ci));
        CHECK(ci.remaining == CENTS(50) && ci.paid == 0 && !ci.revoked);
    }
    CHECK(balance(&w, w.guarantee) == CENTS(1000));
    CHECK(audit_ok(&w));
    /* the same code at a euro terminal is paid: the currency was the
     * reason, nothing else */
    r = settle(&w, 0, code, n, CENTS(10), T0 + 20, T0 + 3600);
    CHECK(r.outcome == OFFPAY_SETTLE_SETTLED && r.paid == CENTS(10));
    CHECK(balance(&w, yen_acct) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The guarantee rules say "at most" (settlement.md §5): a charge exactly
 * at the per-payment floor, and one that brings the credential's sum at
 * the terminal exactly to the cumulative cap, are covered; a minor unit
 * more is not. Each boundary also on its own, the other rule far from
 * its edge. */
static void test_guarantee_covers_up_to_the_floor_and_the_cap_exactly(void)
{
    world                w;
    uint8_t              c[4][OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n[4];
    uint32_t             third;
    uint64_t             third_merchant, third_acct;
    offpay_settle_result a, b, d, e;

    /* both at once: limit 50.00, 10.00 at terminal 0, then 50.00 (the
     * unbound floor, and the cap of 50.00 at terminal 1) */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(10), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(50), T0 + 30, 0, c[1]);
    a = settle(&w, 0, c[0], n[0], CENTS(10), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c[1], n[1], CENTS(50), T0 + 40, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.paid == CENTS(50) &&
          b.covered == CENTS(10));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(50));
    CHECK(balance(&w, w.guarantee) == CENTS(990));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* the floor alone: limit 100.00 (the cap 100.00 at a terminal) */
    REQUIRE_OK(make_world(&w, CENTS(200), CENTS(100)));
    n[0] = make_code(&w, 1, CENTS(60), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(50), T0 + 30, 0, c[1]);
    n[2] = make_code(&w, 3, CENTS(50) + 1, T0 + 50, 0, c[2]);
    a = settle(&w, 0, c[0], n[0], CENTS(60), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c[1], n[1], CENTS(50), T0 + 40, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_GUARANTEED && b.paid == CENTS(50) &&
          b.covered == CENTS(10));
    /* 50.01 at a third terminal (nothing charged there yet) */
    REQUIRE_OK(add_merchant_terminal(&w, "Stall C", EUR, &third_merchant,
                                     &third_acct, &third));
    d = settle_at(&w, third, c[2], n[2], CENTS(50) + 1, T0 + 60, T0 + 3600);
    CHECK(d.outcome == OFFPAY_SETTLE_UNPAID && d.reason == OFFPAY_EOVER_FLOOR &&
          d.paid == 0 && d.covered == 0);
    CHECK(balance(&w, third_acct) == 0);
    CHECK(balance(&w, w.guarantee) == CENTS(990));
    CHECK(audit_ok(&w));
    drop_world(&w);

    /* the cap alone: limit 50.00; at terminal 1 20.00 from the escrow,
     * then 30.00 (its sum 50.00, the cap) covered, then 0.01 is not */
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n[0] = make_code(&w, 1, CENTS(30), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(20), T0 + 30, 0, c[1]);
    n[2] = make_code(&w, 3, CENTS(30), T0 + 50, 0, c[2]);
    n[3] = make_code(&w, 4, 1, T0 + 70, 0, c[3]);
    a = settle(&w, 0, c[0], n[0], CENTS(30), T0 + 20, T0 + 3600);
    b = settle(&w, 1, c[1], n[1], CENTS(20), T0 + 40, T0 + 3600);
    d = settle(&w, 1, c[2], n[2], CENTS(30), T0 + 60, T0 + 3600);
    e = settle(&w, 1, c[3], n[3], 1, T0 + 80, T0 + 3600);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(b.outcome == OFFPAY_SETTLE_SETTLED && b.paid == CENTS(20));
    CHECK(d.outcome == OFFPAY_SETTLE_GUARANTEED && d.paid == CENTS(30) &&
          d.covered == CENTS(30));
    CHECK(e.outcome == OFFPAY_SETTLE_UNPAID &&
          e.reason == OFFPAY_EOVER_CUMULATIVE && e.paid == 0);
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(50));
    CHECK(balance(&w, w.guarantee) == CENTS(970));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* A withdrawal takes at most the balance: one minor unit more is EFUNDS
 * and moves nothing, exactly the balance empties the account; for a
 * wallet account and a merchant account. The audit counts a merchant
 * account below zero too (settlement.md §10, rule 2): a withdrawal raised
 * behind its back. */
static void test_withdrawal_takes_at_most_the_balance(void)
{
    world                w;
    uint8_t              code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n;
    offpay_settle_result r;
    offpay_audit_report  rep;
    char                 sql[160];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE(balance(&w, w.wallet_acct) == CENTS(50));
    /* a ref is none or one line of text (as offpayd takes it): since
     * 0.24.0 the library refuses the rest itself, nothing moved */
    CHECK_ERR(offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(1), "two\nlines",
                                     T0, NULL),
              OFFPAY_EINVAL);
    CHECK_ERR(
        offpay_ledger_deposit(w.l, w.wallet_acct, CENTS(1), "\xff", T0, NULL),
        OFFPAY_EINVAL);
    REQUIRE(balance(&w, w.wallet_acct) == CENTS(50));
    CHECK_ERR(offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(50) + 1, "out",
                                     T0, NULL),
              OFFPAY_EFUNDS);
    CHECK(balance(&w, w.wallet_acct) == CENTS(50));
    CHECK_ERR(
        offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(50), "out", T0, NULL),
        OFFPAY_OK);
    CHECK(balance(&w, w.wallet_acct) == 0);

    n = make_code(&w, 1, CENTS(50), T0 + 10, 0, code);
    r = settle(&w, 0, code, n, CENTS(50), T0 + 20, T0 + 3600);
    REQUIRE(r.outcome == OFFPAY_SETTLE_SETTLED);
    REQUIRE(balance(&w, w.merchant_acct[0]) == CENTS(50));
    CHECK_ERR(offpay_ledger_withdraw(w.l, w.merchant_acct[0], CENTS(50) + 1,
                                     "payout", T0 + 3700, NULL),
              OFFPAY_EFUNDS);
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(50));
    CHECK_ERR(offpay_ledger_withdraw(w.l, w.merchant_acct[0], CENTS(50),
                                     "payout", T0 + 3700, NULL),
              OFFPAY_OK);
    CHECK(balance(&w, w.merchant_acct[0]) == 0);
    CHECK(audit_ok(&w));

    /* the merchant's payout raised by a minor unit behind the audit's
     * back: the merchant account is at -0.01 */
    snprintf(sql, sizeof sql,
             "UPDATE transfers SET amount = amount + 1 WHERE kind = "
             "'withdraw' AND debit = %llu",
             (unsigned long long)w.merchant_acct[0]);
    REQUIRE(run_sql(w.path, sql));
    CHECK_ERR(offpay_ledger_audit(w.l, &rep), OFFPAY_EAUDIT);
    CHECK(rep.negative == 1 && rep.imbalanced == 0 && rep.money_mismatch == 0);
    snprintf(sql, sizeof sql,
             "UPDATE transfers SET amount = amount - 1 WHERE kind = "
             "'withdraw' AND debit = %llu",
             (unsigned long long)w.merchant_acct[0]);
    REQUIRE(run_sql(w.path, sql));
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* Who booked each transfer is kept with it, in its transaction
 * (settlement.md §1, "Who booked it"): the name the handle was given, for
 * every transfer booked under it, none for a transfer booked without
 * one, and a malformed name is refused with the one in use unchanged; on
 * a sharded ledger, each on its transfer's shard. */
static void test_who_booked_each_transfer(void)
{
    world                    w;
    offpay_account_transfer *v = NULL;
    size_t                   n = 0;
    uint8_t                  code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                   len;
    offpay_settle_result     r;
    char                     long_name[OFFPAY_ACTOR_MAX + 2], got[32];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.wallet_acct, CENTS(5), "cash in",
                                     T0, NULL));
    CHECK_ERR(offpay_ledger_set_actor(w.l, "two\nlines"), OFFPAY_EINVAL);
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_ERR(offpay_ledger_set_actor(w.l, long_name), OFFPAY_EINVAL);
    long_name[OFFPAY_ACTOR_MAX] = '\0'; /* 64 bytes: taken */
    CHECK_ERR(offpay_ledger_set_actor(w.l, long_name), OFFPAY_OK);
    REQUIRE_OK(offpay_ledger_set_actor(w.l, "night shift \xc3\xa9"));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.wallet_acct, CENTS(2), "paid out",
                                      T0 + 1, NULL));
    /* a payment's upload books without a name */
    REQUIRE_OK(offpay_ledger_set_actor(w.l, NULL));
    len = make_code(&w, 1, CENTS(10), T0 + 10, 0, code);
    r = settle(&w, 0, code, len, CENTS(10), T0 + 20, T0 + 3600);
    REQUIRE(r.outcome == OFFPAY_SETTLE_SETTLED);

    REQUIRE_OK(
        offpay_ledger_transfers(w.l, w.wallet_acct, 0, 100, &v, &n, NULL));
    /* the world's top-up and the credential's funding, booked without a
     * name; then the deposit and the withdrawal */
    REQUIRE(n == 4);
    CHECK(v[0].by[0] == '\0' && v[1].by[0] == '\0');
    CHECK(strcmp(v[2].kind, "deposit") == 0 && strcmp(v[2].by, "desk-1") == 0);
    CHECK(strcmp(v[3].kind, "withdraw") == 0 &&
          strcmp(v[3].by, "night shift \xc3\xa9") == 0);
    free(v);
    REQUIRE_OK(
        offpay_ledger_transfers(w.l, w.merchant_acct[0], 0, 100, &v, &n, NULL));
    REQUIRE(n == 1);
    CHECK(strcmp(v[0].kind, "settle") == 0 && v[0].by[0] == '\0');
    free(v);
    /* the unused enrollment codes made under a name are voided by it:
     * desk-1's (expired at once: a wallet is refused), not another's */
    {
        char     c1[OFFPAY_ENROLL_CODE_CHARS + 1], c2[sizeof c1];
        uint8_t  pk[OFFPAY_PK_BYTES], sk[OFFPAY_SK_BYTES];
        uint64_t voided = 9, acct = 0;

        REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
        REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY,
                                                T0 + 3630, c1));
        REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-2"));
        REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY,
                                                T0 + 3630, c2));
        CHECK_ERR(offpay_ledger_enrollments_void_by(w.l, "desk-1", T0 + 3640,
                                                    &voided),
                  OFFPAY_OK);
        CHECK(voided == 1);
        CHECK_ERR(offpay_ledger_enrollments_void_by(w.l, "desk-1", T0 + 3641,
                                                    &voided),
                  OFFPAY_OK);
        CHECK(voided == 0);
        CHECK_ERR(offpay_ledger_enrollments_void_by(w.l, "a\nb", T0, NULL),
                  OFFPAY_EINVAL);
        crypto_sign_keypair(pk, sk);
        CHECK_ERR(offpay_ledger_enroll(w.l, pk, c1, T0 + 3650, &acct, NULL),
                  OFFPAY_EEXPIRED);
        CHECK_ERR(offpay_ledger_enroll(w.l, pk, c2, T0 + 3650, &acct, NULL),
                  OFFPAY_OK);
        REQUIRE_OK(offpay_ledger_set_actor(w.l, NULL));
    }
    /* one row each for the two booked under a name, none for the others */
    REQUIRE(
        sql_value(w.path, "SELECT COUNT(*) FROM booked_by", got, sizeof got));
    CHECK(strcmp(got, "2") == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    /* sharded: a deposit into the guarantee is booked on each shard, in
     * its own transaction there; each keeps its name on its own shard
     * (the row's foreign key is to the shard's transfers) */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-2"));
    REQUIRE_OK(offpay_ledger_deposit(w.l, w.guarantee, CENTS(20), "top-up",
                                     T0 + 5, NULL));
    REQUIRE_OK(offpay_ledger_transfers(w.l, w.guarantee, 0, 100, &v, &n, NULL));
    {
        size_t named = 0;

        for (size_t i = 0; i < n; i++)
            named += strcmp(v[i].by, "desk-2") == 0 &&
                     strcmp(v[i].ref, "top-up") == 0;
        CHECK(named == 2); /* one a shard */
    }
    free(v);
    for (int k = 0; k < 2; k++) {
        REQUIRE(pg_value(shard_url[k],
                         "SELECT COUNT(*) FROM booked_by b JOIN transfers t"
                         " ON t.id = b.transfer WHERE b.who = 'desk-2'"
                         " AND t.ref = 'top-up'",
                         got, sizeof got));
        CHECK(strcmp(got, "1") == 0);
    }
    drop_world(&w);
}

/* The actions of a ledger read with f (REQUIRE'd), as "action subject
 * detail|" for each, into buf; their count. */
static size_t actions_text(offpay_ledger *l, const offpay_action_filter *f,
                           char *buf, size_t cap, int *more)
{
    offpay_operator_action *v = NULL;
    size_t                  n = 0, at = 0;

    buf[0] = '\0';
    CHECK_ERR(offpay_ledger_actions(l, f, &v, &n, more), OFFPAY_OK);
    for (size_t i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s %llu %s|", v[i].action,
                               (unsigned long long)v[i].subject, v[i].detail);
    free(v);
    return n;
}

/* What operators did that books no transfer is kept with who did it, in
 * the action's own transaction (settlement.md §1, "What operators did";
 * 032_operator_actions): each action once it changed something, none
 * again for what was done already, none without a name; read back in
 * time order, by name in any case, by action and subject, a period and a
 * page at a time; on a sharded ledger, each shard's in one order. */
static void test_operators_actions_kept(void)
{
    world                    w;
    offpay_action_filter     f;
    offpay_operator_action  *v = NULL;
    uint64_t                 acct = 0, merchant = 0, macct = 0, n64 = 0;
    uint64_t                 yen_g = 0;
    uint32_t                 ahead = 0;
    offpay_terminal_cred     tc;
    uint8_t                  cred_bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred       cred2;
    char                     code[OFFPAY_ENROLL_CODE_CHARS + 1], got[2048];
    char                     cursor[OFFPAY_ACTION_CURSOR_MAX], first[2048];
    char                     books[256];
    offpay_ledger_marks_info marks[OFFPAY_SHARDS_MAX];
    size_t                   n = 0, shards = 0;
    int                      more = 0;

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    memset(&f, 0, sizeof f);
    /* the world was made by a handle naming no one: nothing kept */
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 0 && !more);

    REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
    REQUIRE_OK(
        offpay_ledger_wallet_account(w.l, EUR, "payer-2", T0 + 1, &acct));
    /* a guarantee made, then asked for again: made once */
    REQUIRE_OK(offpay_ledger_guarantee_account(w.l, JPY, T0 + 1, &yen_g));
    REQUIRE_OK(offpay_ledger_guarantee_account(w.l, JPY, T0 + 1, &yen_g));
    REQUIRE_OK(offpay_ledger_guarantee_account(w.l, EUR, T0 + 1, &n64));
    REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Cafe D", EUR, T0 + 2, &merchant,
                                          &macct));
    REQUIRE_OK(add_terminal(&w, 0, T0 + 365 * DAY, T0 + 3, &tc));
    REQUIRE_OK(
        offpay_ledger_deposit(w.l, acct, CENTS(20), "cash", T0 + 4, NULL));
    REQUIRE_OK(offpay_ledger_issue(w.l, acct, w.wallet.pk, CENTS(10),
                                   OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY,
                                   T0 + 5, cred_bytes, &cred2));
    REQUIRE_OK(
        offpay_ledger_terminal_label(w.l, tc.terminal_id, "gate 4", T0 + 6));
    /* the same label again, and a label cleared that no terminal had:
     * nothing changed, nothing kept */
    REQUIRE_OK(
        offpay_ledger_terminal_label(w.l, tc.terminal_id, "gate 4", T0 + 6));
    REQUIRE_OK(offpay_ledger_terminal_label(w.l, w.terminal[0], NULL, T0 + 6));
    REQUIRE_OK(offpay_ledger_revoke(w.l, cred2.serial, "card lost", T0 + 7));
    /* again: nothing changes, nothing kept */
    REQUIRE_OK(offpay_ledger_revoke(w.l, cred2.serial, "card lost", T0 + 8));
    REQUIRE_OK(offpay_ledger_terminal_revoke_why(w.l, tc.terminal_id,
                                                 "stolen till", T0 + 9));
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, tc.terminal_id, T0 + 10));
    /* another's name: the merchant's closing revokes its terminal too */
    REQUIRE_OK(offpay_ledger_set_actor(w.l, "Desk-2"));
    REQUIRE_OK(offpay_ledger_merchant_close(w.l, w.merchant[1], T0 + 11, NULL,
                                            NULL, NULL));
    REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, "new payer", T0 + DAY,
                                            T0 + 12, code));
    /* the same person through offpay admin: their codes go with them */
    REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-2 (offpay admin)"));
    REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, "new payer", T0 + DAY,
                                            T0 + 12, code));
    REQUIRE_OK(offpay_ledger_set_actor(w.l, "Desk-2"));
    REQUIRE_OK(offpay_ledger_enrollments_void_by(w.l, "desk-2", T0 + 13, &n64));
    CHECK(n64 == 2);
    REQUIRE_OK(offpay_ledger_clock_vouch(w.l, T0 + 14, &ahead));
    /* marks dropped when there were none: nothing changed, nothing kept;
     * then made and dropped */
    REQUIRE_OK(
        offpay_ledger_marks_drop(w.l, marks, OFFPAY_SHARDS_MAX, &shards));
    REQUIRE_OK(offpay_ledger_marks(w.l, T0 + 14, 0, &n64, &more));
    REQUIRE(n64 > 0);
    REQUIRE_OK(
        offpay_ledger_marks_drop(w.l, marks, OFFPAY_SHARDS_MAX, &shards));
    /* no name: a revocation kept nowhere */
    REQUIRE_OK(offpay_ledger_set_actor(w.l, NULL));
    REQUIRE_OK(offpay_ledger_revoke(w.l, w.cred.serial, NULL, T0 + 15));

    /* the deposit and the credential's funding booked under desk-1: among
     * the actions too, as "book" */
    {
        offpay_account_transfer *t = NULL;
        size_t                   nt = 0;

        REQUIRE_OK(offpay_ledger_transfers(w.l, acct, 0, 100, &t, &nt, NULL));
        REQUIRE(nt == 2 && strcmp(t[0].kind, "deposit") == 0 &&
                strcmp(t[1].kind, "fund") == 0);
        snprintf(books, sizeof books,
                 "book %llu deposit 20.00 EUR: world account %llu to wallet "
                 "account %llu|book %llu fund 10.00 EUR: wallet account %llu "
                 "to escrow account %llu|",
                 (unsigned long long)t[0].id, (unsigned long long)t[0].other,
                 (unsigned long long)acct, (unsigned long long)t[1].id,
                 (unsigned long long)acct, (unsigned long long)t[1].other);
        free(t);
    }
    snprintf(first, sizeof first,
             "create-account %llu EUR|create-guarantee %llu JPY|"
             "register-merchant %llu Cafe D|"
             "register-terminal %u merchant %llu|%sissue-credential %llu "
             "account %llu|label-terminal %u gate 4|revoke-credential %llu "
             "card lost|revoke-terminal %u stolen till|close-merchant %llu |"
             "revoke-terminal %u merchant closed|enroll-code 0 new account, "
             "EUR|enroll-code 0 new account, EUR|void-codes 0 2 codes of "
             "desk-2|vouch-clock 0 "
             "2026-05-28T20:26:54Z|drop-marks 0 |",
             (unsigned long long)acct, (unsigned long long)yen_g,
             (unsigned long long)merchant, tc.terminal_id,
             (unsigned long long)w.merchant[0], books,
             (unsigned long long)cred2.serial, (unsigned long long)acct,
             tc.terminal_id, (unsigned long long)cred2.serial, tc.terminal_id,
             (unsigned long long)w.merchant[1], w.terminal[1]);
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 17 && !more);
    CHECK(strcmp(got, first) == 0);
    if (strcmp(got, first) != 0)
        fprintf(stderr, "got  %s\nwant %s\n", got, first);
    /* their digest until a time (settlement.md §10, "The ledger's
     * digest"): the drop of the marks, dated by the clock, after it; the
     * value pinned on SQLite, whose ids no rolled back row took */
    {
        offpay_actions_digest ad[OFFPAY_SHARDS_MAX];
        size_t                nd = 0;
        char                  hex[2 * sizeof ad[0].digest + 1];

        REQUIRE_OK(offpay_ledger_actions_digest(w.l, T0 + 20, ad,
                                                OFFPAY_SHARDS_MAX, &nd));
        CHECK(nd == 1 && ad[0].actions == 16 && ad[0].newest_at == T0 + 14 &&
              ad[0].until == T0 + 20);
        sodium_bin2hex(hex, sizeof hex, ad[0].digest, sizeof ad[0].digest);
        if (pg_prefix() == NULL)
            CHECK(strcmp(hex, "aaaefdec9fa0c16866e7cbcf0cd06b0c6b361161330c"
                              "a8628bcbc8fd5a165355") == 0);
        REQUIRE_OK(offpay_ledger_actions_digest(w.l, T0 + 6, ad,
                                                OFFPAY_SHARDS_MAX, &nd));
        CHECK(ad[0].actions == 8 && ad[0].newest_at == T0 + 6);
        REQUIRE_OK(
            offpay_ledger_actions_digest(w.l, 0, ad, OFFPAY_SHARDS_MAX, &nd));
        CHECK(ad[0].actions == 0 && ad[0].newest_at == 0);
    }
    /* who and when */
    REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
    REQUIRE(n == 17);
    CHECK(strcmp(v[0].who, "desk-1") == 0 && v[0].at == T0 + 1 &&
          v[0].shard == 0);
    CHECK(strcmp(v[10].who, "Desk-2") == 0 && v[10].at == T0 + 11);
    free(v);
    /* a booking's name rewritten behind the ledger's back: its booked_by
     * row and its book action no longer agree (the audit's
     * trail_mismatch, rule 12); put back, the audit passes */
    {
        offpay_audit_report ar;

        CHECK(audit_ok(&w));
        REQUIRE(run_sql(w.path, "UPDATE booked_by SET who = 'desk-2' WHERE"
                                " transfer = (SELECT MIN(transfer) FROM"
                                " booked_by)"));
        CHECK_ERR(offpay_ledger_audit(w.l, &ar), OFFPAY_EAUDIT);
        CHECK(ar.trail_mismatch == 2);
        REQUIRE(run_sql(w.path, "UPDATE booked_by SET who = 'desk-1' WHERE"
                                " transfer = (SELECT MIN(transfer) FROM"
                                " booked_by)"));
        CHECK(audit_ok(&w));
    }

    /* by name, whatever its case, and through offpay admin; by action;
     * by subject; a period */
    f.who = "DESK-2";
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 7);
    f.who = "desk-2 (offpay admin)";
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 1);
    f.who = NULL;
    f.action = "revoke-terminal";
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 2);
    f.subject = w.terminal[1];
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 1 &&
          strstr(got, "merchant closed") != NULL);
    f.action = NULL;
    f.subject = 0;
    f.from = T0 + 5;
    f.to = T0 + 7;
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 4 &&
          strncmp(got, "book", 4) == 0);
    f.from = f.to = 0;

    /* a page at a time, through the cursor, gives the same in order */
    {
        char   all[2048] = "";
        size_t pages = 0;

        f.max = 4;
        do {
            size_t k = actions_text(w.l, &f, got, sizeof got, &more);

            strncat(all, got, sizeof all - strlen(all) - 1);
            pages++;
            REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
            REQUIRE(n == k);
            if (more) {
                offpay_action_cursor(&v[n - 1], cursor);
                REQUIRE(offpay_action_cursor_parse(cursor, &f));
            }
            free(v);
        } while (more && pages < 10);
        CHECK(pages == 5 && strcmp(all, first) == 0);
        memset(&f, 0, sizeof f);
    }

    /* a read met by a conflict once it read its rows runs again: each
     * row once */
    offpay__test_read_conflict_at = 1;
    CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 17 && !more);
    CHECK(offpay__test_read_conflict_at == 0 && strcmp(got, first) == 0);

    /* an action whose row cannot be kept is not done: the two commit
     * together (SQLite: a trigger refuses the row) */
    if (pg_prefix() == NULL) {
        offpay_ledger_cred_info ci;
        offpay_wallet_cred      cred3;

        REQUIRE_OK(offpay_ledger_set_actor(w.l, NULL));
        REQUIRE_OK(offpay_ledger_issue(w.l, acct, w.wallet.pk, CENTS(5),
                                       OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY,
                                       T0 + 16, cred_bytes, &cred3));
        REQUIRE(run_sql(w.path, "CREATE TRIGGER no_rows BEFORE INSERT ON "
                                "operator_actions BEGIN SELECT "
                                "RAISE(ABORT, 'refused'); END"));
        REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
        CHECK(offpay_ledger_revoke(w.l, cred3.serial, "lost", T0 + 17) !=
              OFFPAY_OK);
        REQUIRE_OK(offpay_ledger_credential(w.l, cred3.serial, &ci));
        CHECK(!ci.revoked);
        REQUIRE(run_sql(w.path, "DROP TRIGGER no_rows"));
        /* a row longer than the library writes (129 bytes in 65
         * characters, which the table's bound lets in): refused whole,
         * never read cut (a digest would not see its end) */
        {
            char                  sql[400], x[160];
            offpay_actions_digest ad[OFFPAY_SHARDS_MAX];
            size_t                nd = 0;

            for (int i = 0; i < 64; i++)
                memcpy(x + 2 * i, "\xc3\xa9", 2);
            x[128] = 'x';
            x[129] = '\0';
            snprintf(sql, sizeof sql,
                     "UPDATE operator_actions SET detail = '%s' WHERE id = 1",
                     x);
            REQUIRE(run_sql(w.path, sql));
            CHECK_ERR(offpay_ledger_actions_digest(w.l, UINT32_MAX, ad,
                                                   OFFPAY_SHARDS_MAX, &nd),
                      OFFPAY_ESTORE);
            CHECK_ERR(offpay_ledger_actions(w.l, &f, &v, &n, &more),
                      OFFPAY_ESTORE);
            REQUIRE(run_sql(w.path, "UPDATE operator_actions SET detail ="
                                    " 'EUR' WHERE id = 1"));
        }
        REQUIRE_OK(offpay_ledger_set_actor(w.l, NULL));
        REQUIRE_OK(offpay_ledger_revoke(w.l, cred3.serial, NULL, T0 + 18));
    }

    /* an action on a clock behind: done (a revocation must stand), but
     * kept no earlier than 60 s before the shard's newest transfer or
     * action (the marks' drop, dated by this machine's clock), never in
     * a period that may have been read as final */
    {
        uint32_t newest = 0;

        REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
        for (size_t i = 0; i < n; i++)
            newest = v[i].at > newest ? v[i].at : newest;
        free(v);
        REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
        CHECK_ERR(
            offpay_ledger_terminal_label(w.l, w.terminal[0], "back", T0 - 100),
            OFFPAY_OK);
        f.action = "label-terminal";
        f.subject = w.terminal[0];
        REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
        CHECK(n == 1 && v[0].at == newest - 60);
        free(v);
        memset(&f, 0, sizeof f);
    }

    /* a lost wallet revoked (again: nothing more), and a code for its
     * account */
    {
        char     c3[OFFPAY_ENROLL_CODE_CHARS + 1], want[160];
        uint8_t  pk[OFFPAY_PK_BYTES], sk[OFFPAY_SK_BYTES];
        uint64_t wacct = 0;
        size_t   nrev = 0;

        REQUIRE_OK(offpay_ledger_set_actor(w.l, NULL));
        REQUIRE_OK(offpay_ledger_enrollment_add(w.l, EUR, NULL, T0 + DAY,
                                                T0 + 30, c3));
        crypto_sign_keypair(pk, sk);
        REQUIRE_OK(offpay_ledger_enroll(w.l, pk, c3, T0 + 31, &wacct, NULL));
        REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
        REQUIRE_OK(offpay_ledger_wallet_revoke(w.l, NULL, wacct, "phone stolen",
                                               T0 + 32, &nrev));
        REQUIRE_OK(offpay_ledger_wallet_revoke(w.l, NULL, wacct, "again",
                                               T0 + 33, &nrev));
        REQUIRE_OK(offpay_ledger_enrollment_for(w.l, wacct, T0 + DAY, T0 + 34,
                                                c3, NULL));
        memset(&f, 0, sizeof f);
        f.subject = wacct;
        snprintf(want, sizeof want,
                 "revoke-wallet %llu phone stolen|enroll-code %llu |",
                 (unsigned long long)wacct, (unsigned long long)wacct);
        CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 2 &&
              strcmp(got, want) == 0);
        memset(&f, 0, sizeof f);
    }

    /* malformed filters and cursors */
    f.action = "revoke-termial";
    CHECK_ERR(offpay_ledger_actions(w.l, &f, &v, &n, &more), OFFPAY_EINVAL);
    f.action = NULL;
    f.who = "a\nb";
    CHECK_ERR(offpay_ledger_actions(w.l, &f, &v, &n, &more), OFFPAY_EINVAL);
    f.who = NULL;
    f.from = 10;
    f.to = 9;
    CHECK_ERR(offpay_ledger_actions(w.l, &f, &v, &n, &more), OFFPAY_EINVAL);
    f.to = 0;
    f.max = OFFPAY_ACTIONS_MAX + 1;
    CHECK_ERR(offpay_ledger_actions(w.l, &f, &v, &n, &more), OFFPAY_EINVAL);
    CHECK(!offpay_action_cursor_parse("1.0", &f));
    CHECK(!offpay_action_cursor_parse("1.0.2x", &f));
    CHECK(!offpay_action_cursor_parse("01.0.2", &f));
    CHECK(!offpay_action_cursor_parse("4294967296.0.2", &f));
    CHECK(!offpay_action_cursor_parse("1.99.2", &f));
    CHECK(offpay_action_cursor_parse("4294967295.1.9223372036854775807", &f));
    /* skip-ids is kept once, on the directory */
    {
        uint64_t next_serial;
        uint32_t next_terminal;

        memset(&f, 0, sizeof f);
        f.action = "skip-ids";
        REQUIRE_OK(offpay_ledger_set_actor(w.l, "dba (offpay admin)"));
        REQUIRE_OK(
            offpay_ledger_skip_ids(w.l, 1000, &next_serial, &next_terminal));
        CHECK(actions_text(w.l, &f, got, sizeof got, &more) == 1 &&
              strcmp(got, "skip-ids 0 by 1000|") == 0);
    }
    CHECK(audit_ok(&w));
    drop_world(&w);
    if (pg_prefix() == NULL)
        return; /* sharding is PostgreSQL's */
    /* sharded: a credential on each shard revoked at one time, and the
     * vouch kept on both; read in (at, shard, id) order, a page of one at
     * a time */
    REQUIRE_OK(make_sharded_world(&w, CENTS(100), CENTS(50)));
    {
        uint64_t acct2 = 0;
        uint64_t serials[2];

        REQUIRE_OK(
            offpay_ledger_wallet_account(w.l, EUR, "payer-2", T0 + 1, &acct2));
        REQUIRE_OK(
            offpay_ledger_deposit(w.l, acct2, CENTS(20), "cash", T0 + 1, NULL));
        REQUIRE_OK(offpay_ledger_issue(w.l, acct2, w.wallet.pk, CENTS(10),
                                       OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY,
                                       T0 + 1, cred_bytes, &cred2));
        serials[0] = w.cred.serial;
        serials[1] = cred2.serial;
        REQUIRE_OK(offpay_ledger_set_actor(w.l, "desk-1"));
        REQUIRE_OK(offpay_ledger_revoke(w.l, serials[1], "lost", T0 + 20));
        REQUIRE_OK(offpay_ledger_revoke(w.l, serials[0], "lost", T0 + 20));
        REQUIRE_OK(offpay_ledger_clock_vouch(w.l, T0 + 21, &ahead));
        memset(&f, 0, sizeof f);
        REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
        REQUIRE(n == 4);
        /* the two revocations at one time, shard 0's first; a vouch a
         * shard */
        CHECK(v[0].at == T0 + 20 && v[1].at == T0 + 20 &&
              v[0].shard < v[1].shard);
        CHECK(strcmp(v[2].action, "vouch-clock") == 0 && v[2].shard == 0 &&
              strcmp(v[3].action, "vouch-clock") == 0 && v[3].shard == 1);
        /* each kept on the shard of its transaction */
        for (int k = 0; k < 2; k++) {
            REQUIRE(pg_value(shard_url[k],
                             "SELECT COUNT(*) FROM operator_actions", got,
                             sizeof got));
            CHECK(strcmp(got, "2") == 0);
        }
        {
            offpay_operator_action all[4];
            size_t                 pages = 0;

            memcpy(all, v, sizeof all);
            free(v);
            f.max = 1;
            for (size_t i = 0; i < 4; i++) {
                REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
                REQUIRE(n == 1);
                CHECK(v[0].shard == all[i].shard && v[0].id == all[i].id &&
                      strcmp(v[0].action, all[i].action) == 0);
                CHECK(more == (i < 3));
                offpay_action_cursor(&v[0], cursor);
                REQUIRE(offpay_action_cursor_parse(cursor, &f));
                free(v);
                pages++;
            }
            REQUIRE_OK(offpay_ledger_actions(w.l, &f, &v, &n, &more));
            CHECK(n == 0 && v == NULL && !more && pages == 4);
        }
    }
    drop_world(&w);
}

/* The release job (and every run of offpay_ledger_release_due) pays the
 * claims on the guarantee of every currency, not only the first one's:
 * a EUR and a JPY guarantee, both empty, owe merchants for overspends;
 * both are funded behind the engine's back (a deposit through the API
 * would pay at once), and one release run pays both (settlement.md §5,
 * rule 2). */
static void test_release_run_pays_claims_in_every_currency(void)
{
    world                w;
    uint8_t              c[4][OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              cred_bytes[OFFPAY_WALLET_CRED_BYTES];
    size_t               n[4];
    uint64_t             yen_wallet, yen_g, yen_merchant, yen_acct;
    uint32_t             yt[2];
    offpay_wallet_cred   eur_cred, yen_cred;
    offpay_settle_result r[4];
    offpay_audit_report  rep;
    char                 sql[256];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_withdraw(w.l, w.guarantee, CENTS(1000), "payout",
                                      T0, NULL));
    /* the yen side: an account, a credential of 2000 JPY, an empty
     * guarantee, one merchant with two terminals */
    REQUIRE_OK(
        offpay_ledger_wallet_account(w.l, JPY, "payer-yen", T0, &yen_wallet));
    REQUIRE_OK(
        offpay_ledger_deposit(w.l, yen_wallet, 5000, "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_guarantee_account(w.l, JPY, T0, &yen_g));
    REQUIRE_OK(add_merchant_terminal(&w, "Ramen C", JPY, &yen_merchant,
                                     &yen_acct, &yt[0]));
    REQUIRE_OK(add_terminal_of(&w, yen_merchant, &yt[1]));
    REQUIRE_OK(offpay_ledger_issue(w.l, yen_wallet, w.wallet.pk, 2000,
                                   OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY, T0,
                                   cred_bytes, &yen_cred));
    eur_cred = w.cred;

    /* EUR: 30.00 at terminal 0, a copy's 30.00 at terminal 1 finds 20.00:
     * 10.00 owed */
    n[0] = make_code(&w, 1, CENTS(30), T0 + 10, 0, c[0]);
    n[1] = make_code(&w, 2, CENTS(30), T0 + 30, 0, c[1]);
    r[0] = settle(&w, 0, c[0], n[0], CENTS(30), T0 + 20, T0 + 3600);
    r[1] = settle(&w, 1, c[1], n[1], CENTS(30), T0 + 40, T0 + 3600);
    /* JPY: 1200 at one terminal, a copy's 1200 at the other finds 800:
     * 400 owed */
    w.cred = yen_cred;
    n[2] = make_code(&w, 1, 1200, T0 + 10, 0, c[2]);
    n[3] = make_code(&w, 2, 1200, T0 + 30, 0, c[3]);
    w.cred = eur_cred;
    r[2] = settle_at(&w, yt[0], c[2], n[2], 1200, T0 + 20, T0 + 3600);
    r[3] = settle_at(&w, yt[1], c[3], n[3], 1200, T0 + 40, T0 + 3600);
    CHECK(r[0].outcome == OFFPAY_SETTLE_SETTLED &&
          r[2].outcome == OFFPAY_SETTLE_SETTLED);
    CHECK(r[1].outcome == OFFPAY_SETTLE_UNPAID &&
          r[1].reason == OFFPAY_EFUNDS && r[1].paid == CENTS(20));
    CHECK(r[3].outcome == OFFPAY_SETTLE_UNPAID &&
          r[3].reason == OFFPAY_EFUNDS && r[3].paid == 800);
    REQUIRE_OK(offpay_ledger_audit(w.l, &rep));
    REQUIRE(rep.n_money == 2);
    CHECK(rep.money[0].currency == JPY && rep.money[0].owed == 400);
    CHECK(rep.money[1].currency == EUR && rep.money[1].owed == CENTS(10));

    /* both guarantees funded behind the engine's back: a deposit from
     * each currency's world account, as the API would book it */
    snprintf(sql, sizeof sql,
             "INSERT INTO transfers (debit, credit, amount, kind, ref, at)"
             " SELECT id, %llu, %d, 'deposit', 'fund', %u FROM accounts"
             " WHERE kind = 1 AND currency = %d",
             (unsigned long long)w.guarantee, (int)CENTS(100), T0 + 3700, EUR);
    REQUIRE(run_sql(w.path, sql));
    snprintf(sql, sizeof sql,
             "INSERT INTO transfers (debit, credit, amount, kind, ref, at)"
             " SELECT id, %llu, %d, 'deposit', 'fund', %u FROM accounts"
             " WHERE kind = 1 AND currency = %d",
             (unsigned long long)yen_g, 1000, T0 + 3700, JPY);
    REQUIRE(run_sql(w.path, sql));
    CHECK(balance(&w, w.merchant_acct[1]) == CENTS(20));
    CHECK(balance(&w, yen_acct) == 2000);

    /* the run says so (offpay_ledger_release_report, since 0.26.0): the
     * two claims paid, no escrow released; and a run again pays none */
    {
        offpay_release_report rr;

        REQUIRE_OK(offpay_ledger_release_report(w.l, T0 + 3800, &rr));
        CHECK(rr.claims_paid == 2 && rr.released == 0 && rr.n_sums == 0 &&
              !rr.more);
        CHECK(balance(&w, w.merchant_acct[1]) == CENTS(30));
        CHECK(balance(&w, w.guarantee) == CENTS(90));
        CHECK(balance(&w, yen_acct) == 2400);
        CHECK(balance(&w, yen_g) == 600);
        REQUIRE_OK(offpay_ledger_release_report(w.l, T0 + 3801, &rr));
        CHECK(rr.claims_paid == 0 && rr.released == 0);
        CHECK_ERR(offpay_ledger_release_report(w.l, T0 + 3801, NULL),
                  OFFPAY_EINVAL);
    }
    REQUIRE_OK(offpay_ledger_audit(w.l, &rep));
    CHECK(rep.money[0].owed == 0 && rep.money[1].owed == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

/* The late window's last second still pays (settlement.md §6: within the
 * late window after the release), the second after it is ELATE. */
static void test_late_window_ends_after_its_last_second(void)
{
    world                w;
    uint8_t              c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t              c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t               n1, n2;
    offpay_settle_result a, b;
    offpay_ledger_config cfg;
    const uint32_t       released_at = T0 + 45 * DAY;

    offpay_ledger_config_defaults(&cfg);
    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    n1 = make_code(&w, 1, CENTS(20), T0 + 10, 0, c1);
    n2 = make_code(&w, 2, CENTS(20), T0 + 30, 0, c2);
    REQUIRE_OK(offpay_ledger_release_due(w.l, released_at, NULL));
    REQUIRE(balance(&w, w.wallet_acct) == CENTS(100));
    a = settle(&w, 0, c1, n1, CENTS(20), T0 + 20,
               released_at + cfg.late_window);
    CHECK(a.outcome == OFFPAY_SETTLE_SETTLED && a.paid == CENTS(20));
    b = settle(&w, 1, c2, n2, CENTS(20), T0 + 40,
               released_at + cfg.late_window + 1);
    CHECK(b.outcome == OFFPAY_SETTLE_UNPAID && b.reason == OFFPAY_ELATE &&
          b.paid == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(80));
    CHECK(balance(&w, w.merchant_acct[0]) == CENTS(20));
    CHECK(balance(&w, w.merchant_acct[1]) == 0);
    CHECK(audit_ok(&w));
    drop_world(&w);
}

struct release_run {
    offpay_ledger   *l;
    uint32_t         now;
    size_t           released;
    offpay_err       rc;
    int             *ready;
    pthread_mutex_t *mu;
};

static void *release_run(void *arg)
{
    struct release_run *r = arg;

    pthread_mutex_lock(r->mu);
    (*r->ready)++;
    pthread_mutex_unlock(r->mu);
    r->rc = offpay_ledger_release_due(r->l, r->now, &r->released);
    return NULL;
}

/* An escrow is released once however many runs release it: two runs
 * through two ledger handles, a day apart, both find it due while a
 * third connection holds the credential (SQLite: the write lock;
 * PostgreSQL: the credential's row), so both go on to release it once it
 * lets go; one does, the other finds it released and counts nothing. A
 * later run finds nothing due. */
static void test_escrow_released_once_by_two_runs(void)
{
    world              w;
    offpay_ledger     *l2 = NULL;
    struct release_run run[2];
    pthread_t          t[2];
    pthread_mutex_t    mu = PTHREAD_MUTEX_INITIALIZER;
    int                ready = 0;
    size_t             again = 9;
    sqlite3           *db = NULL;
    PGconn            *pg = NULL;
    char               sql[128];

    REQUIRE_OK(make_world(&w, CENTS(100), CENTS(50)));
    REQUIRE_OK(offpay_ledger_open(w.path, NULL, &l2));
    REQUIRE(balance(&w, w.wallet_acct) == CENTS(50));
    if (pg_prefix() != NULL) {
        PGresult *res;

        pg = PQconnectdb(w.path);
        snprintf(sql, sizeof sql,
                 "BEGIN; SELECT serial FROM credentials WHERE serial = %llu"
                 " FOR UPDATE",
                 (unsigned long long)w.cred.serial);
        res = PQexec(pg, sql);
        REQUIRE(PQresultStatus(res) == PGRES_TUPLES_OK);
        PQclear(res);
    } else {
        REQUIRE(sqlite3_open(w.path, &db) == SQLITE_OK);
        REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
                SQLITE_OK);
    }
    for (int i = 0; i < 2; i++) {
        run[i] =
            (struct release_run){i ? l2 : w.l, T0 + 45u * DAY + (uint32_t)i,
                                 99,           OFFPAY_EINVAL,
                                 &ready,       &mu};
        REQUIRE(pthread_create(&t[i], NULL, release_run, &run[i]) == 0);
    }
    /* both runs started: give them the time to read what is due and wait
     * on the holder (a run that read later finds nothing due: the test
     * still passes, it proves less) */
    for (int seen = 0; seen < 2;) {
        pthread_mutex_lock(&mu);
        seen = ready;
        pthread_mutex_unlock(&mu);
        usleep(10000);
    }
    usleep(400000);
    if (pg != NULL) {
        PQclear(PQexec(pg, "COMMIT"));
        PQfinish(pg);
    } else {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_ERR(run[0].rc, OFFPAY_OK);
    CHECK_ERR(run[1].rc, OFFPAY_OK);
    if (run[0].released + run[1].released != 1)
        fprintf(stderr, "released %zu + %zu, want 1\n", run[0].released,
                run[1].released);
    CHECK(run[0].released + run[1].released == 1);
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    REQUIRE_OK(offpay_ledger_release_due(l2, T0 + 47 * DAY, &again));
    CHECK(again == 0);
    CHECK(balance(&w, w.wallet_acct) == CENTS(100));
    CHECK(audit_ok(&w));
    offpay_ledger_close(l2);
    drop_world(&w);
}

static const offpay_test TESTS[] = {
    {"first_presentment_moves_charge_from_escrow_to_merchant",
     test_first_presentment_moves_charge_from_escrow_to_merchant},
    {"exact_replay_returns_first_result_and_moves_nothing",
     test_exact_replay_returns_first_result_and_moves_nothing},
    {"same_terminal_other_charge_opens_a_case",
     test_same_terminal_other_charge_opens_a_case},
    {"late_presentment_after_a_lost_wallets_revocation",
     test_late_presentment_after_a_lost_wallets_revocation},
    {"duplicate_presentment_pays_opens_case_and_revokes",
     test_duplicate_presentment_pays_opens_case_and_revokes},
    {"duplicate_at_the_same_merchant_not_paid_again",
     test_duplicate_at_the_same_merchant_not_paid_again},
    {"double_spend_keeps_evidence_revokes_and_pays_terminal",
     test_double_spend_keeps_evidence_revokes_and_pays_terminal},
    {"transfers_recompute_each_balance", test_transfers_recompute_each_balance},
    {"overspend_paid_from_guarantee_when_rules_followed",
     test_overspend_paid_from_guarantee_when_rules_followed},
    {"cumulative_rule_follows_a_rotated_terminal",
     test_cumulative_rule_follows_a_rotated_terminal},
    {"cumulative_rule_per_terminal_before_sums_carried",
     test_cumulative_rule_per_terminal_before_sums_carried},
    {"copied_wallets_key_gets_no_new_credential",
     test_copied_wallets_key_gets_no_new_credential},
    {"overspend_beyond_rules_is_unpaid_with_the_rule_named",
     test_overspend_beyond_rules_is_unpaid_with_the_rule_named},
    {"overspend_beyond_the_guarantee_is_logged",
     test_overspend_beyond_the_guarantee_is_logged},
    {"claims_on_the_guarantee_paid_once_oldest_first",
     test_claims_on_the_guarantee_paid_once_oldest_first},
    {"refund_into_the_guarantee_pays_its_claims",
     test_refund_into_the_guarantee_pays_its_claims},
#ifdef OFFPAY_TEST_HOOKS
    {"reads_run_again_count_once", test_reads_run_again_count_once},
#endif
    {"bound_code_presented_again_is_paid_nothing",
     test_bound_code_presented_again_is_paid_nothing},
    {"guarantee_code_age_is_shorter_for_unbound_codes",
     test_guarantee_code_age_is_shorter_for_unbound_codes},
    {"cached_credential_needs_every_byte",
     test_cached_credential_needs_every_byte},
    {"credential_not_issued_by_the_ledger_is_refused",
     test_credential_not_issued_by_the_ledger_is_refused},
    {"rejected_items_move_nothing", test_rejected_items_move_nothing},
    {"release_after_grace_returns_escrow_once",
     test_release_after_grace_returns_escrow_once},
    {"release_pages_in_expiry_order", test_release_pages_in_expiry_order},
    {"release_auto_holds_on_a_clock_that_jumped",
     test_release_auto_holds_on_a_clock_that_jumped},
    {"late_presentment_paid_from_wallet_then_refused",
     test_late_presentment_paid_from_wallet_then_refused},
    {"late_presentment_beyond_the_account_is_covered_no_case",
     test_late_presentment_beyond_the_account_is_covered_no_case},
    {"released_money_held_for_late_payments",
     test_released_money_held_for_late_payments},
    {"late_hold_over_a_long_history_with_marks",
     test_late_hold_over_a_long_history_with_marks},
    {"wallet_creds_give_what_each_release_returned",
     test_wallet_creds_give_what_each_release_returned},
    {"wallet_creds_page_lists_the_open_ones",
     test_wallet_creds_page_lists_the_open_ones},
    {"key_cases_among_many_revoked_credentials",
     test_key_cases_among_many_revoked_credentials},
    {"late_payments_beyond_the_limit_open_an_overspend_case",
     test_late_payments_beyond_the_limit_open_an_overspend_case},
    {"revoked_terminal_settles_only_what_came_before",
     test_revoked_terminal_settles_only_what_came_before},
    {"terminal_revocation_keeps_its_reason",
     test_terminal_revocation_keeps_its_reason},
    {"terminal_revoke_reason_reaches_every_shard",
     test_terminal_revoke_reason_reaches_every_shard},
    {"terminal_revocations_agree_across_shards",
     test_terminal_revocations_agree_across_shards},
    {"terminal_term_bounds_what_it_is_paid",
     test_terminal_term_bounds_what_it_is_paid},
    {"code_under_a_key_made_since_is_not_decided",
     test_code_under_a_key_made_since_is_not_decided},
    {"terminal_under_a_retired_key_is_not_paid",
     test_terminal_under_a_retired_key_is_not_paid},
    {"keys_say_what_each_key_signed", test_keys_say_what_each_key_signed},
    {"keys_read_every_shard", test_keys_read_every_shard},
    {"issue_needs_funds_and_a_valid_key",
     test_issue_needs_funds_and_a_valid_key},
    {"credentials_end_with_the_signing_key",
     test_credentials_end_with_the_signing_key},
    {"request_key_moves_money_once", test_request_key_moves_money_once},
    {"request_key_sent_twice_at_once_moves_once",
     test_request_key_sent_twice_at_once_moves_once},
    {"audit_catches_a_ledger_changed_behind_its_back",
     test_audit_catches_a_ledger_changed_behind_its_back},
    {"marks_change_no_balance_and_the_audit_checks_them",
     test_marks_change_no_balance_and_the_audit_checks_them},
    {"balance_sheet_at_past_dates", test_balance_sheet_at_past_dates},
    {"ledger_clock_does_not_go_back", test_ledger_clock_does_not_go_back},
    {"who_booked_each_transfer", test_who_booked_each_transfer},
    {"operators_actions_kept", test_operators_actions_kept},
    {"digest_proves_the_transfers_kept", test_digest_proves_the_transfers_kept},
    {"wallet_balance_read_from_its_mark",
     test_wallet_balance_read_from_its_mark},
    {"rows_made_once_under_a_key", test_rows_made_once_under_a_key},
    {"refunds_go_back_to_the_guarantee_then_the_payer",
     test_refunds_go_back_to_the_guarantee_then_the_payer},
    {"refunds_repay_the_credentials_guarantee_first",
     test_refunds_repay_the_credentials_guarantee_first},
    {"refunds_at_once_never_exceed_the_payment",
     test_refunds_at_once_never_exceed_the_payment},
    {"merchants_listed_with_their_terminals",
     test_merchants_listed_with_their_terminals},
    {"merchant_closed_gets_no_terminal", test_merchant_closed_gets_no_terminal},
    {"case_noted_closed_and_reopened", test_case_noted_closed_and_reopened},
    {"audit_checks_results_and_funding", test_audit_checks_results_and_funding},
    {"wallet_accounts_listed_and_found_by_ref",
     test_wallet_accounts_listed_and_found_by_ref},
    {"revlist_full_and_delta_verify_and_follow",
     test_revlist_full_and_delta_verify_and_follow},
    {"revlist_leaves_out_credentials_long_expired",
     test_revlist_leaves_out_credentials_long_expired},
    {"revoked_expiries_are_the_signed_ones",
     test_revoked_expiries_are_the_signed_ones},
    {"revlist_full_after_the_clock_went_back",
     test_revlist_full_after_the_clock_went_back},
    {"revlist_of_a_shard_keeps_the_expiry",
     test_revlist_of_a_shard_keeps_the_expiry},
    {"nonce_taken_once_terminal_found_by_key_statement_sums",
     test_nonce_taken_once_terminal_found_by_key_statement_sums},
    {"two_connections_settle_each_item_exactly_once",
     test_two_connections_settle_each_item_exactly_once},
    {"batch_settles_as_the_items_one_by_one",
     test_batch_settles_as_the_items_one_by_one},
    {"concurrent_debits_never_overdraw_wallet_or_guarantee",
     test_concurrent_debits_never_overdraw_wallet_or_guarantee},
    {"code_in_another_currency_moves_nothing",
     test_code_in_another_currency_moves_nothing},
    {"guarantee_covers_up_to_the_floor_and_the_cap_exactly",
     test_guarantee_covers_up_to_the_floor_and_the_cap_exactly},
    {"withdrawal_takes_at_most_the_balance",
     test_withdrawal_takes_at_most_the_balance},
    {"release_run_pays_claims_in_every_currency",
     test_release_run_pays_claims_in_every_currency},
    {"late_window_ends_after_its_last_second",
     test_late_window_ends_after_its_last_second},
    {"escrow_released_once_by_two_runs", test_escrow_released_once_by_two_runs},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
