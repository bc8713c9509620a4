/*
 * test_audit.c — the cost of the ledger's audit (docs/settlement.md §10)
 * grows with the ledger, not with its square.
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
#define T0        1780000000u
#define ACCOUNTS  150
#define STEPS_PER 120 /* VM steps allowed per account and transfer */

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
    CHECK(r.inside == 100 * ACCOUNTS && r.deposits_net == 100 * ACCOUNTS);

    REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK);
    for (int i = 0; i < OFFPAY__AUDIT_QUERIES; i++) {
        sqlite3_stmt *st = NULL;
        unsigned long steps = 0;

        sqlite3_progress_handler(db, 1, count_step, &steps);
        REQUIRE(sqlite3_prepare_v2(db, offpay__audit_sql[i], -1, &st, NULL) ==
                SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        sqlite3_progress_handler(db, 0, NULL, NULL);
        if (steps > (unsigned long)STEPS_PER * (2 * ACCOUNTS + 2))
            fprintf(stderr, "audit query %d: %lu steps\n", i, steps);
        CHECK(steps <= (unsigned long)STEPS_PER * (2 * ACCOUNTS + 2));
    }
    sqlite3_close(db);
    offpay_ledger_close(l);
}

static const offpay_test TESTS[] = {
    {"audit_queries_are_linear_in_the_ledger",
     test_audit_queries_are_linear_in_the_ledger},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
