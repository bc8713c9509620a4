/*
 * test_plans.c — the SQLite store's statements read by index.
 *
 * Every statement the store prepares for requests and jobs (the SQL table
 * of src/store/sqlite.c, and since 0.19.0 the rarer ones it prepares
 * each time they run, SQL_RARE_PLANNED) is planned by SQLite on a fresh
 * ledger, as
 * offpayd's own ledgers are (offpay never runs ANALYZE, so a large ledger
 * gets the same plans). A step that reads a whole table or index costs
 * the ledger's size on every call: on a transit operator's ledger of
 * millions of credentials and accounts that is tens of milliseconds a
 * call, often under the writer's lock. None is allowed but the scans of
 * a statement's own WITH tables, subqueries and constant rows, and the
 * ones listed below with why.
 */
#include <ctype.h>
#include <stdlib.h>

#include "harness.h"
#include "settle/store.h"

struct scans {
    int n;         /* scans not allowed */
    int due_steps; /* steps of the release job's statement */
    int due_index; /* of them, read through the unreleased's index */
};

/* The release job's page of due credentials (settlement.md §6): it walks
 * the partial index of the unreleased in its own order. Ordered by
 * serial, SQLite chose a range of the primary key instead, which no SCAN
 * says but which reads every credential above the cursor. */
#define DUE_SQL  "WHERE released_at IS NULL AND expires < ?1"
#define DUE_STEP "SEARCH credentials USING INDEX credentials_expires"

/* Scans allowed, each found by a part of its statement: the ones that
 * stop early, and the few that read a whole table by design. */
static const char *const BOUNDED[] = {
    /* the newest 1,000 transfers, from the end of the table (LIMIT) */
    "FROM (SELECT at FROM transfers ORDER BY id DESC LIMIT 1000)",
    /* the newest revocations, from the end of the table (LIMIT) */
    "FROM revocations v JOIN credentials c ON c.serial = v.serial"
    " ORDER BY v.seq DESC LIMIT ?1",
    /* the last transfer mark, from the end of the table (LIMIT 1) */
    "FROM transfer_marks ORDER BY upto DESC LIMIT 1",
    /* by design: `offpay admin marks` counts the marks */
    "SELECT (SELECT COUNT(*) FROM transfer_marks),"
    " (SELECT COUNT(*) FROM balance_marks)",
    /* by design: the dashboard's totals of every account by kind, and
     * its list of the terminals, live ones first (docs/dashboard.md) */
    "AS bal FROM accounts a) AS x GROUP BY kind, currency",
    "FROM terminals t JOIN merchants m ON m.id = t.merchant"
    " LEFT JOIN terminal_reports r ON r.terminal = t.id",
};

/* Whether name is one of sql's own WITH tables: declared as "name(". */
static int cte(const char *sql, const char *name, size_t len)
{
    for (const char *p = strstr(sql, name); p != NULL;
         p = strstr(p + 1, name)) {
        int starts =
            p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');

        if (starts && p[len] == '(')
            return 1;
    }
    return 0;
}

/* Whether name is a subquery of sql's FROM: aliased as ") name". Its scan
 * reads the rows the subquery made, which its own steps bound. */
static int subquery(const char *sql, const char *name, size_t len)
{
    for (const char *p = strstr(sql, name); p != NULL; p = strstr(p + 1, name))
        if (p - sql >= 2 && p[-1] == ' ' && p[-2] == ')' &&
            !(isalnum((unsigned char)p[len]) || p[len] == '_'))
            return 1;
    return 0;
}

static void each(void *ctx, const char *sql, const char *step)
{
    struct scans *c = ctx;
    const char   *name = step + 5; /* after "SCAN " */
    size_t        len = strcspn(name, " ");
    char          buf[64];

    if (strstr(sql, DUE_SQL) != NULL) {
        c->due_steps++;
        c->due_index += strncmp(step, DUE_STEP, strlen(DUE_STEP)) == 0;
    }
    if (strncmp(step, "SCAN ", 5) != 0)
        return;
    if (strcmp(name, "CONSTANT ROW") == 0)
        return;
    for (size_t i = 0; i < sizeof BOUNDED / sizeof BOUNDED[0]; i++)
        if (strstr(sql, BOUNDED[i]) != NULL)
            return;
    if (len < sizeof buf) {
        memcpy(buf, name, len);
        buf[len] = '\0';
        if (cte(sql, buf, len) || subquery(sql, buf, len))
            return;
    }
    fprintf(stderr, "full scan: %s\n  in: %s\n", step, sql);
    c->n++;
}

static void test_every_statement_reads_by_index(void)
{
    char         path[512];
    struct scans c = {0};

    snprintf(path, sizeof path, "%s/plans.db", offpay_test_tmpdir());
    REQUIRE_OK(offpay__store_sqlite_plans(path, each, &c));
    CHECK(c.n == 0);
    CHECK(c.due_steps == 1 && c.due_index == 1);
}

/* The check itself sees a scan: a statement of the same kind as the
 * store's, planned the same way, that reads every account. */
static void test_a_scan_is_seen(void)
{
    struct scans c = {0};

    each(&c, "SELECT id FROM accounts WHERE kind = ?1", "SCAN accounts");
    CHECK(c.n == 1);
    each(&c, "WITH RECURSIVE up(id) AS (SELECT 1) SELECT id FROM up",
         "SCAN up");
    each(&c, "SELECT 1", "SCAN CONSTANT ROW");
    each(&c, "SELECT x.id FROM (SELECT id FROM t LIMIT 5) x", "SCAN x");
    CHECK(c.n == 1);
    /* a table named as a subquery is elsewhere is still a table */
    each(&c, "SELECT c.id FROM credentials c, (SELECT 1) cc", "SCAN c");
    CHECK(c.n == 2);
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
