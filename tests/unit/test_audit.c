/*
 * test_audit.c — the ledger's audit (docs/settlement.md §10): its money
 * is per currency, and its cost grows with the ledger, not with its
 * square.
 *
 * Found by the simulation (tests/sim): the audit's balances were a sum
 * over all transfers correlated with each account, and for one of its
 * queries (the imbalance per currency) SQLite read every transfer again
 * per account: 4 s on a ledger of 1,000 accounts and 20,000 transfers,
 * hours at the simulation's full scale. The test counts the SQLite
 * virtual-machine steps each audit query takes on a ledger of N accounts
 * with one deposit each, so it does not depend on the machine's speed.
 */
#include <sqlite3.h>
#include <stdlib.h>

#include "harness.h"
#include "offpay/settle.h"
#include "settle/store.h"

#define EUR       978
#define JPY             392
#define T0        1780000000u
#define ACCOUNTS  150
#define STEPS_PER 120 /* VM steps allowed per account and transfer */
#define OFFPAY__XSTR(x) #x
#define OFFPAY__STR(x)  OFFPAY__XSTR(x)

static int count_step(void *ctx)
{
    (*(unsigned long *)ctx)++;
    return 0;
}

static void test_audit_queries_are_linear_in_the_ledger(void)
{
    char           path[512];
    offpay_ledger *l = NULL;
    sqlite3       *db = NULL;
    uint64_t       acct;

    snprintf(path, sizeof path, "%s/audit.db", offpay_test_tmpdir());
    REQUIRE_OK(offpay_ledger_open(path, NULL, &l));
    for (int i = 0; i < ACCOUNTS; i++) {
        REQUIRE_OK(offpay_ledger_wallet_account(l, EUR, "payer", T0, &acct));
        REQUIRE_OK(offpay_ledger_deposit(l, acct, 100, "top-up", T0, NULL));
    }
    offpay_audit_report r;
    REQUIRE_OK(offpay_ledger_audit(l, &r));
    CHECK(r.accounts >= ACCOUNTS && r.transfers == ACCOUNTS);
    CHECK(r.n_money == 1 && r.money[0].currency == EUR &&
          r.money[0].inside == 100 * ACCOUNTS &&
          r.money[0].deposits_net == 100 * ACCOUNTS);

    /* As many presentments, each with a cover transfer of its covered
     * part (rows written directly, this connection without foreign keys:
     * what the audit reads, not a settlement), so a check correlated with
     * each presentment over the transfers shows as N * N steps. The
     * transfers cancel out: the balances stay as they were. */
    REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK);
    REQUIRE(sqlite3_exec(
                db,
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < " OFFPAY__STR(ACCOUNTS) ")"
                " INSERT INTO presentments (id, payment, serial, counter,"
                " terminal, code_hash, charged, accepted_at, terminal_seq,"
                " uploaded_at, outcome, reason, paid, covered)"
                " SELECT i, i, i, 1, 1, x'00', 5, 1, i, 1, 2, 0, 5, 5 FROM n;"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < " OFFPAY__STR(ACCOUNTS) ")"
                " INSERT INTO transfers (debit, credit, amount, kind,"
                " presentment, at) SELECT 1, 2, 5, 'cover', i, 1 FROM n;"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < " OFFPAY__STR(ACCOUNTS) ")"
                " INSERT INTO transfers (debit, credit, amount, kind,"
                " presentment, at) SELECT 2, 1, 5, 'settle', i, 1 FROM n;",
                NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    db = NULL;

    REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK);
    for (int i = 0; i <= OFFPAY__AUDIT_QUERIES; i++) {
        sqlite3_stmt *st = NULL;
        unsigned long steps = 0;
        const char   *sql = i < OFFPAY__AUDIT_QUERIES ? offpay__audit_sql[i]
                                                      : offpay__audit_money_sql;

        sqlite3_progress_handler(db, 1, count_step, &steps);
        REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        sqlite3_progress_handler(db, 0, NULL, NULL);
        if (steps > (unsigned long)STEPS_PER * (5 * ACCOUNTS + 2))
            fprintf(stderr, "audit query %d: %lu steps\n", i, steps);
        CHECK(steps <= (unsigned long)STEPS_PER * (5 * ACCOUNTS + 2));
    }
    sqlite3_close(db);
    offpay_ledger_close(l);
}

/* Money in two currencies is never one sum (an accountant found euro
 * cents and yen added into one "money inside"): the report lists each
 * currency's own money, ascending by code, and checks each; a transfer
 * from a euro account into a yen account (written behind the engine's
 * back) breaks both currencies' equality though their sum still holds. */
static void test_audit_money_per_currency(void)
{
    char                path[512];
    offpay_ledger      *l = NULL;
    sqlite3            *db = NULL;
    uint64_t            eur, jpy;
    offpay_audit_report r;

    snprintf(path, sizeof path, "%s/money.db", offpay_test_tmpdir());
    REQUIRE_OK(offpay_ledger_open(path, NULL, &l));
    REQUIRE_OK(offpay_ledger_wallet_account(l, EUR, "payer", T0, &eur));
    REQUIRE_OK(offpay_ledger_wallet_account(l, JPY, "payer", T0, &jpy));
    REQUIRE_OK(offpay_ledger_deposit(l, eur, 168100, "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_deposit(l, jpy, 5000000000, "top-up", T0, NULL));
    REQUIRE_OK(offpay_ledger_withdraw(l, jpy, 1000, "out", T0, NULL));
    REQUIRE_OK(offpay_ledger_audit(l, &r));
    REQUIRE(r.n_money == 2);
    CHECK(r.money[0].currency == JPY && r.money[0].inside == 4999999000 &&
          r.money[0].deposits_net == 4999999000);
    CHECK(r.money[1].currency == EUR && r.money[1].inside == 168100 &&
          r.money[1].deposits_net == 168100);
    CHECK(r.money_mismatch == 0 && !r.money_more);

    REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO transfers (debit, credit, amount, kind, at)"
             " VALUES (%llu, %llu, 100, 'deposit', %u)",
             (unsigned long long)eur, (unsigned long long)jpy, T0);
    REQUIRE(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(offpay_ledger_audit(l, &r) == OFFPAY_EAUDIT);
    REQUIRE(r.n_money == 2);
    CHECK(r.money[0].inside == 4999999100 &&
          r.money[0].deposits_net == 4999999000);
    CHECK(r.money[1].inside == 168000 && r.money[1].deposits_net == 168100);
    CHECK(r.money_mismatch == 2);
    CHECK(r.imbalanced == 2); /* neither currency's balances sum to zero */
    offpay_ledger_close(l);
}

/* A deposit booked from one payer's account to another's (written
 * behind the engine's back) keeps every balance and both totals right:
 * the audit still fails it, as it does a transfer of another kind that
 * moves the world's money, and a withdrawal into a payer's account
 * (since 0.23.0). */
static void test_audit_deposits_only_from_the_world(void)
{
    static const char *const odd[] = {
        "INSERT INTO transfers (debit, credit, amount, kind, at)"
        " VALUES (%llu, %llu, 100, 'deposit', %u)",
        "INSERT INTO transfers (debit, credit, amount, kind, at)"
        " VALUES (%llu, %llu, 100, 'withdraw', %u)",
        "INSERT INTO transfers (debit, credit, amount, kind, at)"
        " SELECT id, %llu + 0 * %llu, 100, 'settle', %u FROM accounts"
        " WHERE kind = 1",
    };

    for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
        char                path[512], sql[320];
        offpay_ledger      *l = NULL;
        sqlite3            *db = NULL;
        uint64_t            a, b;
        offpay_audit_report r;

        snprintf(path, sizeof path, "%s/odd-%zu.db", offpay_test_tmpdir(), k);
        REQUIRE_OK(offpay_ledger_open(path, NULL, &l));
        REQUIRE_OK(offpay_ledger_wallet_account(l, EUR, "payer a", T0, &a));
        REQUIRE_OK(offpay_ledger_wallet_account(l, EUR, "payer b", T0, &b));
        REQUIRE_OK(offpay_ledger_deposit(l, a, 5000, "top-up", T0, NULL));
        REQUIRE_OK(offpay_ledger_audit(l, &r));
        REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
                SQLITE_OK);
        snprintf(sql, sizeof sql, odd[k], (unsigned long long)a,
                 (unsigned long long)b, T0);
        REQUIRE(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);
        CHECK(offpay_ledger_audit(l, &r) == OFFPAY_EAUDIT);
        CHECK(r.money_mismatch == 1 && r.imbalanced == 0 && r.negative == 0);
        offpay_ledger_close(l);
    }
}

static const offpay_test TESTS[] = {
    {"audit_money_per_currency", test_audit_money_per_currency},
    {"audit_deposits_only_from_the_world",
     test_audit_deposits_only_from_the_world},
    {"audit_queries_are_linear_in_the_ledger",
     test_audit_queries_are_linear_in_the_ledger},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
