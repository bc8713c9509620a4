/*
 * test_plans.c — the SQLite store's statements read by index.
 *
 * Every statement the store prepares for requests and jobs (the SQL table
 * of src/store/sqlite.c, and since 0.20.0 the rarer ones it prepares each
 * time they run, SQL_RARE_PLANNED: all but the copy-ledger's and the
 * marks' removal, which read or delete whole tables by design) is planned
 * by SQLite on a fresh ledger, as offpayd's own ledgers are (offpay never
 * runs ANALYZE, so a large ledger gets the same plans). A step that reads a
 * whole table or index costs the ledger's size on every call: on a transit
 * operator's ledger of millions of credentials and accounts that is tens of
 * milliseconds a call, often under the writer's lock. None is allowed but the
 * scans of the subqueries and WITH tables a statement's plan makes, of constant
 * rows, and the steps listed below, each in its statement, with why.
 */
#include <stdlib.h>

#include "harness.h"
#include "settle/store.h"

struct scans {
    int   n;         /* scans not allowed */
    int   due_steps; /* steps of the release job's statement */
    int   due_index; /* of them, read through the unreleased's index */
    char *sql;       /* the statement whose steps come now (a copy) */
    /* the subqueries and WITH tables its plan materialized so far (its
     * MATERIALIZE and CO-ROUTINE steps, which come before their scans) */
    char made[16][32];
    int  n_made;
};

/* The release job's page of due credentials (settlement.md §6): it walks
 * the partial index of the unreleased in its own order. Ordered by
 * serial, SQLite chose a range of the primary key instead, which no SCAN
 * says but which reads every credential above the cursor. */
#define DUE_SQL  "WHERE released_at IS NULL AND expires < ?1"
#define DUE_STEP "SEARCH credentials USING INDEX credentials_expires"

/* Scans allowed: a part of the statement that has it, and the one step
 * it excuses there (any other scan in that statement still counts): the
 * ones that stop early, and the few that read a table by design. */
static const struct {
    const char *sql, *step;
} ALLOWED[] = {
    /* the newest 1,000 transfers, from the end of the table (LIMIT) */
    {"FROM (SELECT at FROM transfers ORDER BY id DESC LIMIT 1000)",
     "SCAN transfers"},
    /* the newest revocations, from the end of the table (LIMIT) */
    {"FROM revocations v JOIN credentials c ON c.serial = v.serial"
     " ORDER BY v.seq DESC LIMIT ?1",
     "SCAN v"},
    /* the last transfer mark, from the end of the table (LIMIT 1) */
    {"FROM transfer_marks ORDER BY upto DESC LIMIT 1", "SCAN transfer_marks"},
    {"FROM transfer_marks m ORDER BY m.upto DESC LIMIT 1", "SCAN m"},
    /* by design: `offpay admin marks` counts the marks */
    {"SELECT (SELECT COUNT(*) FROM transfer_marks),"
     " (SELECT COUNT(*) FROM balance_marks)",
     "SCAN transfer_marks"},
    {"SELECT (SELECT COUNT(*) FROM transfer_marks),"
     " (SELECT COUNT(*) FROM balance_marks)",
     "SCAN balance_marks"},
    /* the open cases counted for /metrics: the partial index of the
     * open ones, never the closed (027_case_notes) */
    {"FROM cases WHERE closed_at IS NULL", "SCAN cases USING INDEX cases_open"},
    /* by design: the ledger's balance sheet reads every transfer until
     * its end, as the audit does (settlement.md §10) */
    {"FROM q, transfers x JOIN accounts d ON d.id = x.debit", "SCAN x"},
    /* by design: the dashboard's totals of every account by kind, and
     * its list of the terminals, live ones first (docs/dashboard.md) */
    {"AS bal FROM accounts a) AS x GROUP BY kind, currency", "SCAN a"},
    {"FROM terminals t JOIN merchants m ON m.id = t.merchant"
     " LEFT JOIN terminal_reports r ON r.terminal = t.id",
     "SCAN t USING INDEX terminals_merchant"},
};

/* Whether step is exactly "SCAN name" of a subquery or WITH table the
 * plan made (its rows, which its own steps bound), not a table's scan
 * under the same name ("SCAN c USING INDEX ..."). */
static int made_here(const struct scans *c, const char *step)
{
    for (int i = 0; i < c->n_made; i++)
        if (strcmp(step + 5, c->made[i]) == 0)
            return 1;
    return 0;
}

static void each(void *ctx, const char *sql, const char *step)
{
    struct scans *c = ctx;

    if (c->sql == NULL || strcmp(c->sql, sql) != 0) {
        free(c->sql);
        c->sql = strdup(sql);
        c->n_made = 0;
    }
    if (strstr(sql, DUE_SQL) != NULL) {
        c->due_steps++;
        c->due_index += strncmp(step, DUE_STEP, strlen(DUE_STEP)) == 0;
    }
    for (int k = 0; k < 2; k++) {
        const char *kind = k == 0 ? "MATERIALIZE " : "CO-ROUTINE ";

        if (strncmp(step, kind, strlen(kind)) == 0 &&
            c->n_made < (int)(sizeof c->made / sizeof c->made[0]))
            snprintf(c->made[c->n_made++], sizeof c->made[0], "%s",
                     step + strlen(kind));
    }
    if (strncmp(step, "SCAN ", 5) != 0)
        return;
    if (strcmp(step, "SCAN CONSTANT ROW") == 0 || made_here(c, step))
        return;
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++)
        if (strcmp(step, ALLOWED[i].step) == 0 &&
            strstr(sql, ALLOWED[i].sql) != NULL)
            return;
    fprintf(stderr, "full scan: %s\n  in: %s\n", step, sql);
    c->n++;
}

static void test_every_statement_reads_by_index(void)
{
    char         path[512];
    struct scans c = {0};

    snprintf(path, sizeof path, "%s/plans.db", offpay_test_tmpdir());
    REQUIRE_OK(offpay__store_sqlite_plans(path, each, &c));
    free(c.sql);
    CHECK(c.n == 0);
    CHECK(c.due_steps == 1 && c.due_index == 1);
}

/* The check itself sees a scan: a statement of the same kind as the
 * store's, planned the same way, that reads every account. */
static void test_a_scan_is_seen(void)
{
    struct scans c = {0};
    const char  *sub = "SELECT c.id FROM (SELECT id FROM t LIMIT 5) c"
                       " JOIN credentials k ON k.serial = c.id";
    const char  *marks = "SELECT (SELECT COUNT(*) FROM transfer_marks),"
                         " (SELECT COUNT(*) FROM balance_marks),"
                         " (SELECT SUM(amount) FROM transfers)";

    each(&c, "SELECT id FROM accounts WHERE kind = ?1", "SCAN accounts");
    CHECK(c.n == 1);
    each(&c, "WITH RECURSIVE up(id) AS (SELECT 1) SELECT id FROM up",
         "CO-ROUTINE up");
    each(&c, "WITH RECURSIVE up(id) AS (SELECT 1) SELECT id FROM up",
         "SCAN up");
    each(&c, "SELECT 1", "SCAN CONSTANT ROW");
    /* a subquery the plan made */
    each(&c, sub, "MATERIALIZE c");
    each(&c, sub, "SCAN c");
    CHECK(c.n == 1);
    /* a table under the name of a subquery made is still a table */
    each(&c, sub, "SCAN c USING COVERING INDEX credentials_serial");
    CHECK(c.n == 2);
    /* a subquery's name the plan did not make (another statement's) */
    each(&c, "SELECT c.id FROM credentials c", "SCAN c");
    CHECK(c.n == 3);
    /* an allowed statement excuses its listed steps, not another scan */
    each(&c, marks, "SCAN transfer_marks");
    each(&c, marks, "SCAN balance_marks");
    CHECK(c.n == 3);
    each(&c, marks, "SCAN transfers");
    CHECK(c.n == 4);
    free(c.sql);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"every_statement_reads_by_index", test_every_statement_reads_by_index},
        {"a_scan_is_seen", test_a_scan_is_seen},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
