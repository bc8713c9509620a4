/*
 * test_seal.c — a SQLite ledger sealed after its copy to PostgreSQL
 * (020_ledger_sealed; `offpay admin copy-ledger`, docs/operations.md
 * "Moving from SQLite to PostgreSQL"): the seal goes in only over the
 * snapshot the copy read (a write committed to the file since makes it
 * fail, and nothing is sealed); once sealed, every write transaction is
 * refused (ELEDGER_SEALED, said once on the log with the reason and the
 * way back), also on a handle opened before the seal, while reads and the
 * audit go on; a sealed file of an older schema is not migrated; unseal
 * makes it writable again, and says when there was no seal. The copy
 * itself (PostgreSQL) is e2e.offpayd_copyledger_pg's.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "offpay/settle.h"
#include "settle/copy.h"
#include "settle/store.h"

#define EUR 978
#define T0  1780000000u

static char logged[4096];
static int  sealed_lines;

static void keep_log(void *ctx, const char *line)
{
    (void)ctx;
    if (strstr(line, "is sealed") != NULL)
        sealed_lines++;
    if (strstr(line, "sealed") != NULL)
        snprintf(logged, sizeof logged, "%s", line);
}

/* The first column of the first row of sql on the file at path. */
static long long scalar(const char *path, const char *sql)
{
    sqlite3      *db = NULL;
    sqlite3_stmt *st = NULL;
    long long     v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
            v = 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int count_row(const offpay__copy_value *v, void *ctx)
{
    (void)v;
    (*(int *)ctx)++;
    return 0;
}

/* Another connection holding the file's write lock (BEGIN IMMEDIATE),
 * let go 300 ms after the thread starts: rolled back, or committing a
 * write that changes no value (a new snapshot all the same). */
typedef struct holder {
    sqlite3  *db;
    int       commit;
    pthread_t t;
} holder;

static void *let_go(void *p)
{
    holder         *h = p;
    struct timespec d = {0, 300 * 1000 * 1000};

    nanosleep(&d, NULL);
    if (h->commit)
        sqlite3_exec(h->db,
                     "UPDATE accounts SET ref = ref WHERE id = 1; COMMIT", NULL,
                     NULL, NULL);
    else
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

static void hold(holder *h, const char *path, int commit)
{
    h->commit = commit;
    REQUIRE(sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK);
    REQUIRE(sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
            SQLITE_OK);
    REQUIRE(pthread_create(&h->t, NULL, let_go, h) == 0);
}

static void release(holder *h)
{
    pthread_join(h->t, NULL);
    sqlite3_close(h->db);
}

/* A copy's read transaction on the file (its snapshot taken by a read),
 * as offpay__ledger_copy holds it. */
static void copy_read(const char *path, offpay__store **s,
                      const offpay__store_ops **ops)
{
    const char *cols[1] = {"id"};
    int         n = 0;

    REQUIRE_OK(offpay__store_sqlite_open(path, s, ops));
    REQUIRE_OK((*ops)->begin_read(*s));
    REQUIRE_OK((*ops)->copy_rows(*s, "accounts", cols, 1, count_row, &n));
    CHECK(n > 0);
}

static void test_seal_refuses_writes_and_unseal_lifts_it(void)
{
    char                     path[512], reason[OFFPAY__SEAL_REASON_MAX + 1];
    offpay_ledger           *l = NULL, *l2 = NULL;
    offpay__store           *s = NULL;
    const offpay__store_ops *ops = NULL;
    offpay_audit_report      r;
    uint64_t                 acct, other = 0;
    int64_t                  bal = 0;

    offpay_set_log(keep_log, NULL);
    snprintf(path, sizeof path, "%s/sealed.db", offpay_test_tmpdir());
    REQUIRE_OK(offpay_ledger_open(path, NULL, &l));
    REQUIRE_OK(offpay_ledger_wallet_account(l, EUR, "payer", T0, &acct));
    REQUIRE_OK(offpay_ledger_deposit(l, acct, 1000, "top-up", T0, NULL));

    /* a deposit committed after the copy's read began: the seal fails,
     * nothing sealed */
    copy_read(path, &s, &ops);
    REQUIRE_OK(offpay_ledger_deposit(l, acct, 100, "during", T0 + 1, NULL));
    CHECK_ERR(ops->seal(s, T0 + 2, "copied into test"), OFFPAY_ERETRY);
    ops->rollback(s);
    ops->close(s);
    CHECK(scalar(path, "SELECT count(*) FROM ledger_sealed") == 0);
    REQUIRE_OK(offpay_ledger_deposit(l, acct, 10, "after", T0 + 3, NULL));

    /* another connection holding the write lock when the seal comes (a
     * read transaction's upgrade does not wait by itself): waited for;
     * it wrote and committed, so the seal fails */
    {
        holder h;

        copy_read(path, &s, &ops);
        hold(&h, path, 1);
        CHECK_ERR(ops->seal(s, T0 + 4, "copied into test"), OFFPAY_ERETRY);
        release(&h);
        ops->rollback(s);
        ops->close(s);
        CHECK(scalar(path, "SELECT count(*) FROM ledger_sealed") == 0);
    }

    /* nothing written since the read (a lock held and let go without a
     * write meanwhile): sealed at the commit */
    copy_read(path, &s, &ops);
    {
        holder h;

        hold(&h, path, 0);
        REQUIRE_OK(ops->seal(s, T0 + 4, "copied into test"));
        release(&h);
    }
    REQUIRE_OK(ops->commit(s));
    ops->close(s);
    CHECK(scalar(path, "SELECT at FROM ledger_sealed") == T0 + 4);

    /* the handle opened before the seal: writes refused, said once */
    CHECK_ERR(offpay_ledger_deposit(l, acct, 1, "sealed", T0 + 5, NULL),
              OFFPAY_ELEDGER_SEALED);
    CHECK_ERR(offpay_ledger_wallet_account(l, EUR, "new", T0 + 5, &other),
              OFFPAY_ELEDGER_SEALED);
    CHECK_ERR(offpay_ledger_check(l), OFFPAY_ELEDGER_SEALED);
    CHECK(sealed_lines == 1);
    CHECK(strstr(logged, path) != NULL &&
          strstr(logged, "copied into test") != NULL &&
          strstr(logged, "offpay admin unseal --db") != NULL);
    /* reads and the audit go on; nothing moved */
    REQUIRE_OK(offpay_ledger_balance(l, acct, &bal, NULL, NULL));
    CHECK(bal == 1110);
    REQUIRE_OK(offpay_ledger_audit(l, &r));
    CHECK(r.transfers == 3);
    /* a handle opened after it: opens (for reads), checks refused */
    REQUIRE_OK(offpay_ledger_open(path, NULL, &l2));
    CHECK_ERR(offpay_ledger_check(l2), OFFPAY_ELEDGER_SEALED);
    CHECK_ERR(offpay_ledger_deposit(l2, acct, 1, "sealed", T0 + 5, NULL),
              OFFPAY_ELEDGER_SEALED);
    offpay_ledger_close(l2);
    l2 = NULL;

    /* a sealed file of an older schema is not migrated (the schema's
     * last row taken away, as a newer offpay would find a file sealed by
     * this one) */
    CHECK(scalar(path, "DELETE FROM schema_version WHERE version = "
                       "(SELECT max(version) FROM schema_version) "
                       "RETURNING version") > 0);
    sealed_lines = 0;
    CHECK_ERR(offpay_ledger_open(path, NULL, &l2), OFFPAY_ELEDGER_SEALED);
    CHECK(l2 == NULL && sealed_lines == 1);
    CHECK(scalar(path, "SELECT count(*) FROM ledger_sealed") == 1);
    CHECK(scalar(path, "INSERT INTO schema_version SELECT max(version) + 1 "
                       "FROM schema_version RETURNING version") > 0);

    /* unsealed: the handle from before writes again */
    sealed_lines = 0;
    REQUIRE_OK(offpay__ledger_unseal_forced(path, reason, sizeof reason));
    CHECK(strcmp(reason, "copied into test") == 0);
    CHECK_ERR(offpay__ledger_unseal_forced(path, reason, sizeof reason),
              OFFPAY_ENOTFOUND);
    REQUIRE_OK(offpay_ledger_check(l));
    CHECK(sealed_lines == 0 && strstr(logged, "no longer sealed") != NULL);
    REQUIRE_OK(offpay_ledger_deposit(l, acct, 1, "unsealed", T0 + 6, NULL));
    REQUIRE_OK(offpay_ledger_audit(l, &r));
    CHECK(r.transfers == 4);
    offpay_ledger_close(l);

    /* what is not a SQLite ledger file */
    CHECK_ERR(offpay__ledger_unseal_forced("postgresql://u@127.0.0.1/db",
                                           reason, sizeof reason),
              OFFPAY_EINVAL);
    snprintf(path, sizeof path, "%s/none.db", offpay_test_tmpdir());
    CHECK_ERR(offpay__ledger_unseal_forced(path, reason, sizeof reason),
              OFFPAY_ENOENT);
    offpay_set_log(offpay_log_stderr, NULL);
}

/* What a seal names (the database a copy went into, and when), read
 * back for `admin unseal` and `copy-ledger`'s messages; and whether two
 * PostgreSQL URLs surely name two databases, passwords aside. */
static void test_seal_names_where_and_when(void)
{
    char into[128], at[32], small[8];

    CHECK(offpay__seal_into("copied into postgresql://u:***@127.0.0.1:5432/"
                            "ledger by 'offpay admin copy-ledger' at "
                            "2027-01-01T00:00:00Z",
                            into, sizeof into, at, sizeof at) == 0);
    CHECK(strcmp(into, "postgresql://u:***@127.0.0.1:5432/ledger") == 0);
    CHECK(strcmp(at, "2027-01-01T00:00:00Z") == 0);
    /* a seal put there by hand, or one cut: nothing named */
    CHECK(offpay__seal_into("copied into test", into, sizeof into, at,
                            sizeof at) == -1);
    CHECK(into[0] == '\0' && at[0] == '\0');
    CHECK(offpay__seal_into("(no reason given)", into, sizeof into, at,
                            sizeof at) == -1);
    CHECK(offpay__seal_into("copied into  by 'offpay admin copy-ledger' at "
                            "2027-01-01T00:00:00Z",
                            into, sizeof into, at, sizeof at) == -1);
    CHECK(offpay__seal_into("copied into postgresql://u@h/db by 'offpay "
                            "admin copy-ledger' at 2027-01-01T00:00:00Z",
                            small, sizeof small, at, sizeof at) == -1);
    CHECK(small[0] == '\0');

    /* the same database: a password given or shown as the seal shows it
     * (***), or a part one side leaves to libpq's default */
    CHECK(!offpay__store_postgres_differ(
        "postgresql://u:***@127.0.0.1:5432/ledger",
        "postgresql://u:secret@127.0.0.1:5432/ledger"));
    CHECK(!offpay__store_postgres_differ(
        "postgresql://u:***@127.0.0.1:5432/ledger",
        "postgresql://u@127.0.0.1/ledger?passfile=/etc/offpay/pgpass"));
    /* two databases: another name, host, port or user */
    CHECK(offpay__store_postgres_differ("postgresql://u@127.0.0.1:5432/ledger",
                                        "postgresql://u@127.0.0.1:5432/other"));
    CHECK(offpay__store_postgres_differ("postgresql://u@127.0.0.1:5432/ledger",
                                        "postgresql://u@10.0.0.2:5432/ledger"));
    CHECK(
        offpay__store_postgres_differ("postgresql://u@127.0.0.1:5432/ledger",
                                      "postgresql://u@127.0.0.1:5433/ledger"));
    CHECK(
        offpay__store_postgres_differ("postgresql://u@127.0.0.1:5432/ledger",
                                      "postgresql://v@127.0.0.1:5432/ledger"));
    /* not a URL libpq reads: not said to differ */
    CHECK(!offpay__store_postgres_differ("postgresql://u@127.0.0.1/ledger",
                                         "postgresql://[bad"));
    CHECK(!offpay__store_postgres_differ(NULL, "postgresql://u@h/db"));
}

static const offpay_test TESTS[] = {
    {"seal_refuses_writes_and_unseal_lifts_it",
     test_seal_refuses_writes_and_unseal_lifts_it},
    {"seal_names_where_and_when", test_seal_names_where_and_when},
    {NULL, NULL}};

int main(void)
{
    return offpay_test_main(TESTS);
}
