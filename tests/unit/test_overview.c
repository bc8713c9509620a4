/*
 * test_overview.c — the operator's overview (offpay_ledger_overview,
 * docs/dashboard.md) over the real store: after a settled payment, a
 * double spend, a duplicate presentment (an hour later) and a revoked
 * terminal, money by kind equals the accounts' balances and sums to zero,
 * the buckets count and sum each outcome in its hour, each terminal has its
 * presentments, last upload and last report, and the revoked credentials
 * come newest first; terminal reports replace each other and name only
 * known terminals; bad ranges are refused.
 *
 * With OFFPAY_TEST_PG set (tests/pg/with_postgres.sh), the ledger is a
 * fresh database of that real PostgreSQL server instead of a SQLite file.
 */
#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/message_int.h"
#include "harness.h"
#include "offpay/settle.h"

#define EUR      978
#define T0       1779998400u /* 1779998400 % 3600 == 0: an hour starts */
#define HOUR     3600u
#define DAY      86400u
#define CENTS(x) ((int64_t)(x)*100)

typedef struct world {
    char                path[512];
    offpay_ledger      *l;
    offpay_keypair      root, issuer, wallet;
    offpay_trust_bundle bundle;
    uint64_t            wallet_acct, guarantee;
    uint64_t            merchant[3], merchant_acct[3];
    uint32_t            terminal[3];
    offpay_wallet_cred  cred[2]; /* 0: double spend, 1: duplicate */
} world;

static int scenario;

static offpay_err fresh_ledger(char *path, size_t cap)
{
    const char *pg = getenv("OFFPAY_TEST_PG");
    char        admin[400], create[128];
    PGconn     *c;
    PGresult   *r;
    int         ok;

    scenario++;
    if (pg == NULL || *pg == '\0') {
        snprintf(path, cap, "%s/overview-%d.db", offpay_test_tmpdir(),
                 scenario);
        return OFFPAY_OK;
    }
    snprintf(create, sizeof create, "CREATE DATABASE overview_%ld_%d",
             (long)getpid(), scenario);
    snprintf(admin, sizeof admin, "%spostgres", pg);
    c = PQconnectdb(admin);
    r = PQexec(c, create);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok)
        return OFFPAY_ESTORE;
    snprintf(path, cap, "%soverview_%ld_%d", pg, (long)getpid(), scenario);
    return OFFPAY_OK;
}

/* Runs sql on the ledger at path, behind the ledger's back (SQLite file
 * or PostgreSQL database); 1 when it ran. */
static int run_sql(const char *path, const char *sql)
{
    const char *pg = getenv("OFFPAY_TEST_PG");
    int         ok;

    if (pg != NULL && *pg != '\0') {
        PGconn   *c = PQconnectdb(path);
        PGresult *r = PQexec(c, sql);

        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
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

static size_t make_code(const world *w, const offpay_wallet_cred *cred,
                        uint32_t counter, int64_t amount, uint32_t time,
                        uint8_t out[OFFPAY_PAYMENT_BOUND_BYTES])
{
    offpay_payment p;
    uint8_t        msg[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         mlen = 0, len = 0;

    memset(&p, 0, sizeof p);
    p.cred = *cred;
    p.counter = counter;
    p.amount = (uint32_t)amount;
    p.time = time;
    randombytes_buf(p.nonce, sizeof p.nonce);
    if (offpay__payment_signed_bytes(&p, msg, sizeof msg, &mlen) != OFFPAY_OK ||
        offpay_sign(OFFPAY_DS_PAYMENT, msg, mlen, w->wallet.sk, p.sig) !=
            OFFPAY_OK ||
        offpay_payment_encode(&p, out, OFFPAY_PAYMENT_BOUND_BYTES, &len) !=
            OFFPAY_OK)
        return 0;
    return len;
}

static offpay_settle_outcome settle(world *w, int term, const uint8_t *code,
                                    size_t len, int64_t charged,
                                    uint32_t accepted_at, uint32_t now)
{
    offpay_settle_item   it = {code, len, charged, accepted_at, 1};
    offpay_settle_result r;

    memset(&r, 0, sizeof r);
    if (offpay_ledger_settle(w->l, w->terminal[term], &it, now, &r) !=
        OFFPAY_OK)
        return (offpay_settle_outcome)-1;
    return r.outcome;
}

/* Three merchants with a terminal each; two credentials of 50.00; in the
 * first hour a payment of 30.00 at terminal 0 and its clone's 12.00 at
 * terminal 1 (double spend), in the second hour one code of 15.00 at
 * terminals 0 and 2 (duplicate); terminal 1 revoked. */
static offpay_err make_world(world *w)
{
    static const char *const names[3] = {"Bakery A", "Kiosk B", "Cafe C"};
    uint8_t                  cb[OFFPAY_WALLET_CRED_BYTES];
    uint8_t                  tcb[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    uint8_t                  c1[OFFPAY_PAYMENT_BOUND_BYTES];
    uint8_t                  c2[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t                   n1, n2, tcl;
    offpay_terminal_cred     tc;
    offpay_keypair           tk;
    offpay_err               rc;

    memset(w, 0, sizeof *w);
    if ((rc = fresh_ledger(w->path, sizeof w->path)) != OFFPAY_OK ||
        (rc = offpay_keypair_generate(&w->root)) != OFFPAY_OK ||
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
            (rc = offpay_keypair_generate(&tk)) != OFFPAY_OK ||
            (rc = offpay_ledger_terminal_add(w->l, w->merchant[i], tk.pk,
                                             T0 + 365 * DAY, T0, tcb, &tcl,
                                             &tc)) != OFFPAY_OK)
            return rc;
        w->terminal[i] = tc.terminal_id;
    }
    for (int i = 0; i < 2; i++)
        if ((rc = offpay_ledger_issue(w->l, w->wallet_acct, w->wallet.pk,
                                      CENTS(50), OFFPAY_CRED_ALLOW_UNBOUND,
                                      T0 + 30 * DAY, T0, cb, &w->cred[i])) !=
            OFFPAY_OK)
            return rc;
    n1 = make_code(w, &w->cred[0], 7, CENTS(30), T0 + 10, c1);
    n2 = make_code(w, &w->cred[0], 7, CENTS(30), T0 + 11, c2);
    if (settle(w, 0, c1, n1, CENTS(30), T0 + 20, T0 + 100) !=
            OFFPAY_SETTLE_SETTLED ||
        settle(w, 1, c2, n2, CENTS(12), T0 + 21, T0 + 200) !=
            OFFPAY_SETTLE_DOUBLE_SPEND)
        return OFFPAY_EINVAL;
    n1 = make_code(w, &w->cred[1], 1, CENTS(20), T0 + HOUR, c1);
    if (settle(w, 0, c1, n1, CENTS(15), T0 + HOUR + 5, T0 + HOUR + 100) !=
            OFFPAY_SETTLE_SETTLED ||
        settle(w, 2, c1, n1, CENTS(15), T0 + HOUR + 6, T0 + HOUR + 200) !=
            OFFPAY_SETTLE_DUPLICATE)
        return OFFPAY_EINVAL;
    return offpay_ledger_terminal_revoke(w->l, w->terminal[1], T0 + HOUR + 300);
}

static void drop_world(world *w)
{
    offpay_ledger_close(w->l);
    w->l = NULL;
}

static int64_t balance(world *w, uint64_t acct)
{
    int64_t b = 0;

    if (offpay_ledger_balance(w->l, acct, &b, NULL, NULL) != OFFPAY_OK)
        return INT64_MIN;
    return b;
}

static int64_t kind_sum(const offpay_overview *o, offpay_account_kind k,
                        uint64_t *accounts)
{
    int64_t sum = 0;

    *accounts = 0;
    for (size_t i = 0; i < o->n_kinds; i++)
        if (o->kinds[i].kind == k && o->kinds[i].currency == EUR) {
            sum += o->kinds[i].balance;
            *accounts += o->kinds[i].accounts;
        }
    return sum;
}

static void test_money_by_kind_is_every_balance_summed(void)
{
    world                            w;
    offpay_overview                 *o = NULL;
    offpay_ledger_cred_info          ci[2];
    uint64_t                         n;
    int64_t                          total = 0, merchants = 0;
    static const offpay_account_kind kinds[5] = {
        OFFPAY_ACCOUNT_WORLD, OFFPAY_ACCOUNT_WALLET, OFFPAY_ACCOUNT_ESCROW,
        OFFPAY_ACCOUNT_MERCHANT, OFFPAY_ACCOUNT_GUARANTEE};

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_ledger_overview(w.l, T0 - DAY + 2 * HOUR, HOUR,
                                      T0 + 2 * HOUR, &o));
    for (int i = 0; i < 2; i++)
        REQUIRE_OK(offpay_ledger_credential(w.l, w.cred[i].serial, &ci[i]));
    for (int i = 0; i < 3; i++)
        merchants += balance(&w, w.merchant_acct[i]);
    CHECK(kind_sum(o, OFFPAY_ACCOUNT_WALLET, &n) == balance(&w, w.wallet_acct));
    CHECK(n == 1);
    CHECK(kind_sum(o, OFFPAY_ACCOUNT_ESCROW, &n) ==
          ci[0].remaining + ci[1].remaining);
    CHECK(n == 2);
    CHECK(kind_sum(o, OFFPAY_ACCOUNT_MERCHANT, &n) == merchants);
    CHECK(n == 3);
    CHECK(merchants == CENTS(30) + CENTS(12) + CENTS(15) + CENTS(15));
    CHECK(kind_sum(o, OFFPAY_ACCOUNT_GUARANTEE, &n) ==
          balance(&w, w.guarantee));
    CHECK(kind_sum(o, OFFPAY_ACCOUNT_WORLD, &n) == -CENTS(1200));
    for (int i = 0; i < 5; i++)
        total += kind_sum(o, kinds[i], &n);
    CHECK(total == 0);
    offpay_overview_free(o);
    drop_world(&w);
}

static const offpay_overview_bucket *
find_bucket(const offpay_overview *o, uint32_t start, offpay_settle_outcome oc)
{
    for (size_t i = 0; i < o->n_buckets; i++)
        if (o->buckets[i].start == start && o->buckets[i].outcome == oc)
            return &o->buckets[i];
    return NULL;
}

static void test_buckets_count_each_outcome_in_its_hour(void)
{
    world                         w;
    offpay_overview              *o = NULL;
    const offpay_overview_bucket *b;

    REQUIRE_OK(make_world(&w));
    /* from is rounded down to the hour */
    REQUIRE_OK(offpay_ledger_overview(w.l, T0 + 17, HOUR, T0 + 2 * HOUR, &o));
    CHECK(o->from == T0 && o->width == HOUR && o->now == T0 + 2 * HOUR);
    CHECK(o->n_buckets == 4);
    b = find_bucket(o, T0, OFFPAY_SETTLE_SETTLED);
    CHECK(b != NULL && b->count == 1 && b->charged == CENTS(30) &&
          b->paid == CENTS(30) && b->covered == 0 && b->currency == EUR);
    b = find_bucket(o, T0, OFFPAY_SETTLE_DOUBLE_SPEND);
    CHECK(b != NULL && b->count == 1 && b->charged == CENTS(12));
    b = find_bucket(o, T0 + HOUR, OFFPAY_SETTLE_SETTLED);
    CHECK(b != NULL && b->count == 1 && b->paid == CENTS(15));
    b = find_bucket(o, T0 + HOUR, OFFPAY_SETTLE_DUPLICATE);
    CHECK(b != NULL && b->count == 1 && b->charged == CENTS(15));
    for (size_t i = 1; i < o->n_buckets; i++) /* by start, then outcome */
        CHECK(o->buckets[i - 1].start < o->buckets[i].start ||
              (o->buckets[i - 1].start == o->buckets[i].start &&
               o->buckets[i - 1].outcome < o->buckets[i].outcome));
    offpay_overview_free(o);
    /* a range after the uploads holds none; two hours wide hold all in one */
    REQUIRE_OK(
        offpay_ledger_overview(w.l, T0 + 2 * HOUR, HOUR, T0 + 3 * HOUR, &o));
    CHECK(o->n_buckets == 0 && o->buckets == NULL);
    offpay_overview_free(o);
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, 2 * HOUR, T0 + 2 * HOUR, &o));
    CHECK(o->n_buckets == 3); /* both hours in one bucket */
    b = find_bucket(o, T0, OFFPAY_SETTLE_SETTLED);
    CHECK(b != NULL && b->count == 2 && b->paid == CENTS(45));
    CHECK(find_bucket(o, T0, OFFPAY_SETTLE_DUPLICATE) != NULL);
    offpay_overview_free(o);
    drop_world(&w);
}

static const offpay_overview_terminal *find_terminal(const offpay_overview *o,
                                                     uint32_t               id)
{
    for (size_t i = 0; i < o->n_terminals; i++)
        if (o->terminals[i].terminal_id == id)
            return &o->terminals[i];
    return NULL;
}

/* A report as a terminal before 0.27.0 sent it: pending and its clock. */
static offpay_terminal_report old_report(uint64_t pending, uint32_t synced_at,
                                         uint32_t now)
{
    offpay_terminal_report r;

    memset(&r, 0, sizeof r);
    r.pending = pending;
    r.synced_at = synced_at;
    r.reported_at = now;
    return r;
}

static void test_terminals_show_uploads_reports_and_revocation(void)
{
    world                           w;
    offpay_overview                *o = NULL;
    const offpay_overview_terminal *t;
    offpay_terminal_report          r;

    REQUIRE_OK(make_world(&w));
    r = old_report(1, T0, T0);
    CHECK_ERR(offpay_ledger_terminal_report(w.l, 999, &r), OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_terminal_report(w.l, 0, &r), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_terminal_report(w.l, w.terminal[0], NULL),
              OFFPAY_EINVAL);
    r = old_report(4, T0 + 2 * HOUR + 60, T0 + 2 * HOUR);
    REQUIRE_OK(offpay_ledger_terminal_report(w.l, w.terminal[0], &r));
    r = old_report(2, T0 + 2 * HOUR + 90, T0 + 2 * HOUR + 30);
    REQUIRE_OK(offpay_ledger_terminal_report(w.l, w.terminal[0], &r));
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + 3 * HOUR, &o));
    CHECK(o->n_terminals == 3);
    t = find_terminal(o, w.terminal[0]);
    REQUIRE(t != NULL);
    CHECK(t->presentments == 2 && t->last_upload == T0 + HOUR + 100);
    CHECK(t->report.reported && t->report.pending == 2 &&
          t->report.synced_at == T0 + 2 * HOUR + 90 &&
          t->report.reported_at == T0 + 2 * HOUR + 30);
    /* an older terminal's report says nothing of its state */
    CHECK(!t->report.state_known && t->report.state[0] == '\0' &&
          t->report.lists_at == 0 && t->report.pending_amount == 0 &&
          offpay_terminal_report_lists_time(&t->report, t->created_at) == 0);
    CHECK(strcmp(t->merchant_name, "Bakery A") == 0 &&
          t->merchant_id == w.merchant[0] && t->currency == EUR);
    CHECK(!t->revoked);
    t = find_terminal(o, w.terminal[1]);
    REQUIRE(t != NULL);
    CHECK(t->presentments == 1 && t->last_upload == T0 + 200);
    CHECK(!t->report.reported && t->revoked &&
          t->revoked_at == T0 + HOUR + 300);
    t = find_terminal(o, w.terminal[2]);
    REQUIRE(t != NULL);
    CHECK(t->presentments == 1 && !t->report.reported && !t->revoked);
    /* live ones first, each group by id */
    for (size_t i = 1; i < o->n_terminals; i++)
        CHECK(o->terminals[i - 1].revoked < o->terminals[i].revoked ||
              (o->terminals[i - 1].revoked == o->terminals[i].revoked &&
               o->terminals[i - 1].terminal_id < o->terminals[i].terminal_id));
    CHECK(o->n_terminals == 3 && o->terminals[2].terminal_id == w.terminal[1]);
    CHECK(!o->terminals_more && !o->revoked_more && !o->kinds_more &&
          !o->buckets_more);
    offpay_overview_free(o);
    /* one terminal's last report (what revoking it warns of): the newest,
     * none for one that never reported, ENOTFOUND for no terminal */
    {
        offpay_terminal_report rp;

        REQUIRE_OK(offpay_ledger_terminal_last_report(w.l, w.terminal[0], &rp));
        CHECK(rp.reported && rp.pending == 2 &&
              rp.synced_at == T0 + 2 * HOUR + 90 &&
              rp.reported_at == T0 + 2 * HOUR + 30);
        memset(&rp, 0xee, sizeof rp);
        REQUIRE_OK(offpay_ledger_terminal_last_report(w.l, w.terminal[1], &rp));
        CHECK(!rp.reported && rp.pending == 0 && rp.reported_at == 0 &&
              rp.synced_at == 0);
        CHECK_ERR(offpay_ledger_terminal_last_report(w.l, 999, &rp),
                  OFFPAY_ENOTFOUND);
        CHECK_ERR(offpay_ledger_terminal_last_report(w.l, 0, &rp),
                  OFFPAY_EINVAL);
    }
    drop_world(&w);
}

/* A terminal of 0.27.0 says whether it accepts, when it took its lists and
 * what its pending payments hold (028_terminal_state): kept and read
 * back, an older terminal's report after it clearing them, and a state
 * that is no error name refused. */
static void test_terminal_state_reported(void)
{
    world                           w;
    offpay_overview                *o = NULL;
    const offpay_overview_terminal *t;
    offpay_terminal_report          r, rp;
    static const char *const        bad[] = {"", "esync_required", "E SYNC",
                                             "EFUTURE-DATED", "OK!"};

    REQUIRE_OK(make_world(&w));
    /* its clock 600 s behind offpayd's: its lists, taken 3 days before
     * it reported by its clock, are from 3 days and 600 s before that
     * report on offpayd's clock */
    r = old_report(3, T0 + 2 * HOUR - 600, T0 + 2 * HOUR);
    r.state_known = 1;
    snprintf(r.state, sizeof r.state, "ESYNC_REQUIRED");
    r.lists_at = T0 + 2 * HOUR - 600 - 3 * 86400;
    r.pending_amount = 1250;
    REQUIRE_OK(offpay_ledger_terminal_report(w.l, w.terminal[2], &r));
    REQUIRE_OK(offpay_ledger_terminal_last_report(w.l, w.terminal[2], &rp));
    CHECK(rp.reported && rp.state_known && rp.pending == 3 &&
          strcmp(rp.state, "ESYNC_REQUIRED") == 0 &&
          rp.lists_at == T0 + 2 * HOUR - 600 - 3 * 86400 &&
          rp.pending_amount == 1250 && rp.reported_at == T0 + 2 * HOUR);
    CHECK(offpay_terminal_report_lists_time(&rp, T0 - 5 * 86400) ==
          T0 + 2 * HOUR - 3 * 86400);
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + 3 * HOUR, &o));
    t = find_terminal(o, w.terminal[2]);
    REQUIRE(t != NULL);
    CHECK(t->report.state_known &&
          strcmp(t->report.state, "ESYNC_REQUIRED") == 0 &&
          t->report.pending_amount == 1250 && t->report.lists_at == r.lists_at);
    offpay_overview_free(o);
    /* lists it never took: its registration's time stands for them; lists
     * dated after its report (its clock went back since) count as taken
     * when it reported */
    rp.lists_at = 0;
    CHECK(offpay_terminal_report_lists_time(&rp, T0 - 5) == T0 - 5);
    rp.lists_at = rp.synced_at + 100;
    CHECK(offpay_terminal_report_lists_time(&rp, T0) == rp.reported_at);
    /* a clock 900 s ahead records its sync at offpayd's time: lists taken
     * 60 s before the report are 60 s old, not 960 */
    rp.synced_at = rp.reported_at + 900;
    rp.lists_at = rp.reported_at - 60;
    CHECK(offpay_terminal_report_lists_time(&rp, T0) == rp.reported_at - 60);
    /* what is not an error name, or a negative sum: refused, the report
     * before kept */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        offpay_terminal_report b = r;

        snprintf(b.state, sizeof b.state, "%s", bad[i]);
        CHECK_ERR(offpay_ledger_terminal_report(w.l, w.terminal[2], &b),
                  OFFPAY_EINVAL);
    }
    {
        offpay_terminal_report b = r;

        b.pending_amount = -1;
        CHECK_ERR(offpay_ledger_terminal_report(w.l, w.terminal[2], &b),
                  OFFPAY_EINVAL);
        memset(b.state, 'A', sizeof b.state); /* no NUL */
        b.pending_amount = 0;
        CHECK_ERR(offpay_ledger_terminal_report(w.l, w.terminal[2], &b),
                  OFFPAY_EINVAL);
    }
    REQUIRE_OK(offpay_ledger_terminal_last_report(w.l, w.terminal[2], &rp));
    CHECK(strcmp(rp.state, "ESYNC_REQUIRED") == 0 && rp.pending == 3);
    /* the same terminal, back on an older version: its state is not
     * known any more */
    r = old_report(0, T0 + 2 * HOUR + 100, T0 + 2 * HOUR + 700);
    REQUIRE_OK(offpay_ledger_terminal_report(w.l, w.terminal[2], &r));
    REQUIRE_OK(offpay_ledger_terminal_last_report(w.l, w.terminal[2], &rp));
    CHECK(rp.reported && !rp.state_known && rp.state[0] == '\0' &&
          rp.lists_at == 0 && rp.pending_amount == 0 && rp.pending == 0);
    /* money with no payment pending: refused; "OK" and a sum to the
     * largest amount */
    r.state_known = 1;
    snprintf(r.state, sizeof r.state, "OK");
    r.pending_amount = 1;
    CHECK_ERR(offpay_ledger_terminal_report(w.l, w.terminal[2], &r),
              OFFPAY_EINVAL);
    r.pending = 7;
    r.pending_amount = INT64_MAX;
    REQUIRE_OK(offpay_ledger_terminal_report(w.l, w.terminal[2], &r));
    REQUIRE_OK(offpay_ledger_terminal_last_report(w.l, w.terminal[2], &rp));
    CHECK(rp.state_known && strcmp(rp.state, "OK") == 0 &&
          rp.pending_amount == INT64_MAX);
    drop_world(&w);
}

/* More terminals than the list holds: the live ones are listed, and the
 * overview says there are more; revocations past the cap likewise, and
 * money in many currencies is all there. */
static void test_lists_past_their_cap_say_so(void)
{
    static const uint16_t currencies[] = {36,  124, 156, 208, 348, 392, 410,
                                          484, 554, 578, 643, 710, 752, 756,
                                          826, 840, 949, 986, 985, 203};
    world                 w;
    offpay_overview      *o = NULL;
    uint8_t               tcb[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t                tcl, n_cur = sizeof currencies / sizeof *currencies;
    offpay_keypair        tk;
    offpay_terminal_cred  tc;
    uint64_t              m, ma, acct;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_ledger_terminal_revoke(w.l, w.terminal[0], T0 + 10));
    for (size_t i = 0; i < OFFPAY_OVERVIEW_TERMINALS_MAX; i++) {
        REQUIRE_OK(offpay_keypair_generate(&tk));
        REQUIRE_OK(offpay_ledger_terminal_add(
            w.l, w.merchant[2], tk.pk, T0 + 365 * DAY, T0, tcb, &tcl, &tc));
    }
    offpay_keypair_wipe(&tk);
    /* 3 kinds in 20 more currencies: 60 rows more than EUR's */
    for (size_t i = 0; i < n_cur; i++) {
        REQUIRE_OK(offpay_ledger_merchant_add(w.l, "Abroad", currencies[i], T0,
                                              &m, &ma));
        REQUIRE_OK(offpay_ledger_wallet_account(w.l, currencies[i], "payer", T0,
                                                &acct));
        REQUIRE_OK(offpay_ledger_deposit(w.l, acct, 100, "top-up",
                                         T0 + 2 * HOUR, NULL));
    }
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + HOUR, &o));
    CHECK(o->n_terminals == OFFPAY_OVERVIEW_TERMINALS_MAX && o->terminals_more);
    for (size_t i = 0; i < o->n_terminals; i++)
        CHECK(!o->terminals[i].revoked);
    CHECK(o->n_kinds >= 5 + 3 * n_cur && !o->kinds_more);
    offpay_overview_free(o);
    drop_world(&w);
}

static void test_revoked_credentials_newest_first(void)
{
    world            w;
    offpay_overview *o = NULL;

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + 2 * HOUR, &o));
    REQUIRE(o->n_revoked == 2);
    /* the duplicate revoked credential 1 after the double spend revoked 0 */
    CHECK(o->revoked[0].serial == w.cred[1].serial);
    CHECK(o->revoked[1].serial == w.cred[0].serial);
    CHECK(strcmp(o->revoked[1].reason, "double_spend") == 0);
    CHECK(o->revoked[1].remaining == CENTS(50) - CENTS(30) - CENTS(12));
    CHECK(o->revoked[1].wallet_account == w.wallet_acct &&
          o->revoked[1].currency == EUR && !o->revoked[1].released);
    offpay_overview_free(o);
    drop_world(&w);
}

/* The reason of serial in o ("(not listed)" when it is not). */
static const char *reason_of(const offpay_overview *o, uint64_t serial)
{
    for (size_t i = 0; i < o->n_revoked; i++)
        if (o->revoked[i].serial == serial)
            return o->revoked[i].reason;
    return "(not listed)";
}

/* A revocation's reason is listed whole, up to the ledger's own bound
 * (OFFPAY_LEDGER_REF_MAX bytes; the overview cut it at 64 before), two-byte
 * characters to its last byte; one longer than that, written behind the
 * ledger's back, is cut between two characters, never inside one. */
static void test_revocation_reason_listed_whole(void)
{
    world              w;
    offpay_overview   *o = NULL;
    offpay_wallet_cred cred;
    uint8_t            cb[OFFPAY_WALLET_CRED_BYTES];
    char               why[OFFPAY_LEDGER_REF_MAX + 1], sql[512];
    char               cut[OFFPAY_LEDGER_REF_MAX + 1];
    size_t             n = 0;

    /* 62 bytes of ASCII, then 33 two-byte characters (é): 128 bytes, one
     * character across the old cap's 64th byte */
    memset(why, 'a', 62);
    for (n = 62; n + 2 <= OFFPAY_LEDGER_REF_MAX; n += 2)
        memcpy(why + n, "\xc3\xa9", 2);
    why[n] = '\0';
    REQUIRE(n == OFFPAY_LEDGER_REF_MAX);
    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(offpay_ledger_issue(w.l, w.wallet_acct, w.wallet.pk, CENTS(10),
                                   OFFPAY_CRED_ALLOW_UNBOUND, T0 + 30 * DAY,
                                   T0 + 2 * HOUR, cb, &cred));
    REQUIRE_OK(offpay_ledger_revoke(w.l, cred.serial, why, T0 + 2 * HOUR));
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + 3 * HOUR, &o));
    CHECK(strcmp(reason_of(o, cred.serial), why) == 0);
    offpay_overview_free(o);
    o = NULL;

    /* 130 bytes whose 129th is the second byte of an é: cut before it */
    memset(cut, 'a', 127);
    cut[127] = '\0';
    snprintf(
        sql, sizeof sql,
        "UPDATE revocations SET reason = '%s\xc3\xa9z' WHERE serial = %llu",
        cut, (unsigned long long)cred.serial);
    REQUIRE(run_sql(w.path, sql));
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + 3 * HOUR, &o));
    CHECK(strcmp(reason_of(o, cred.serial), cut) == 0);
    offpay_overview_free(o);
    drop_world(&w);
}

static void test_bad_ranges_are_refused(void)
{
    world            w;
    offpay_overview *o = (offpay_overview *)&w; /* set to NULL on entry */

    REQUIRE_OK(make_world(&w));
    CHECK_ERR(offpay_ledger_overview(w.l, T0, 0, T0 + HOUR, &o), OFFPAY_EINVAL);
    CHECK(o == NULL);
    CHECK_ERR(offpay_ledger_overview(w.l, T0 + 2 * HOUR, HOUR, T0, &o),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_overview(w.l, T0 - 800 * HOUR, HOUR, T0, &o),
              OFFPAY_EINVAL);
    REQUIRE_OK(offpay_ledger_overview(w.l, T0 - 743 * HOUR, HOUR, T0, &o));
    offpay_overview_free(o);
    CHECK_ERR(offpay_ledger_overview(NULL, T0, HOUR, T0, &o), OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_overview(w.l, T0, HOUR, T0, NULL), OFFPAY_EINVAL);
    offpay_overview_free(NULL);
    drop_world(&w);
}

/* The operator's label of where a terminal stands (029_terminal_labels):
 * set, replaced, shown by the overview and the terminal list, cleared by
 * NULL and by ""; too long, on two lines, or of no terminal: refused, the
 * label before kept. */
static void test_terminal_label(void)
{
    world                         w;
    offpay_overview              *o = NULL;
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    char                          longest[OFFPAY_TERMINAL_LABEL_MAX + 2];

    REQUIRE_OK(make_world(&w));
    REQUIRE_OK(
        offpay_ledger_terminal_label(w.l, w.terminal[0], "North gate", T0));
    REQUIRE_OK(offpay_ledger_terminal_label(w.l, w.terminal[0],
                                            "Central, north gate 3", T0 + 1));
    /* a revoked terminal keeps one, and can be given one */
    REQUIRE_OK(offpay_ledger_terminal_label(w.l, w.terminal[1], "Bus 12", T0));
    REQUIRE_OK(offpay_ledger_overview(w.l, T0, HOUR, T0 + 3 * HOUR, &o));
    {
        const offpay_overview_terminal *a = find_terminal(o, w.terminal[0]);
        const offpay_overview_terminal *b = find_terminal(o, w.terminal[1]);
        const offpay_overview_terminal *c = find_terminal(o, w.terminal[2]);

        REQUIRE(a != NULL && b != NULL && c != NULL);
        CHECK(strcmp(a->label, "Central, north gate 3") == 0 &&
              strcmp(b->label, "Bus 12") == 0 && c->label[0] == '\0');
    }
    offpay_overview_free(o);
    REQUIRE_OK(offpay_ledger_terminals(w.l, 0, 0, 10, &v, &n));
    REQUIRE(n == 3);
    CHECK(strcmp(v[0].label, "Central, north gate 3") == 0 &&
          strcmp(v[1].label, "Bus 12") == 0 && v[2].label[0] == '\0');
    free(v);
    /* the longest, then one byte more, a second line, no terminal */
    memset(longest, 'g', sizeof longest);
    longest[OFFPAY_TERMINAL_LABEL_MAX] = '\0';
    REQUIRE_OK(offpay_ledger_terminal_label(w.l, w.terminal[2], longest, T0));
    longest[OFFPAY_TERMINAL_LABEL_MAX] = 'g';
    longest[OFFPAY_TERMINAL_LABEL_MAX + 1] = '\0';
    CHECK_ERR(offpay_ledger_terminal_label(w.l, w.terminal[0], longest, T0),
              OFFPAY_EINVAL);
    CHECK_ERR(
        offpay_ledger_terminal_label(w.l, w.terminal[0], "north\ngate", T0),
        OFFPAY_EINVAL);
    CHECK_ERR(offpay_ledger_terminal_label(w.l, 999, "x", T0),
              OFFPAY_ENOTFOUND);
    CHECK_ERR(offpay_ledger_terminal_label(w.l, 0, "x", T0), OFFPAY_EINVAL);
    /* cleared, by NULL and by "" */
    REQUIRE_OK(offpay_ledger_terminal_label(w.l, w.terminal[1], NULL, T0));
    REQUIRE_OK(offpay_ledger_terminal_label(w.l, w.terminal[2], "", T0));
    REQUIRE_OK(offpay_ledger_terminals(w.l, 0, 0, 10, &v, &n));
    REQUIRE(n == 3);
    CHECK(strcmp(v[0].label, "Central, north gate 3") == 0 &&
          v[1].label[0] == '\0' && v[2].label[0] == '\0');
    free(v);
    drop_world(&w);
}

static const offpay_test TESTS[] = {
    {"money_by_kind_is_every_balance_summed",
     test_money_by_kind_is_every_balance_summed},
    {"buckets_count_each_outcome_in_its_hour",
     test_buckets_count_each_outcome_in_its_hour},
    {"terminals_show_uploads_reports_and_revocation",
     test_terminals_show_uploads_reports_and_revocation},
    {"terminal_state_reported", test_terminal_state_reported},
    {"terminal_label", test_terminal_label},
    {"revoked_credentials_newest_first", test_revoked_credentials_newest_first},
    {"lists_past_their_cap_say_so", test_lists_past_their_cap_say_so},
    {"bad_ranges_are_refused", test_bad_ranges_are_refused},
    {"revocation_reason_listed_whole", test_revocation_reason_listed_whole},
    {NULL, NULL},
};

int main(void)
{
    return offpay_test_main(TESTS);
}
