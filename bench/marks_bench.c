/*
 * marks_bench.c — what a busy merchant's history costs the reads that need
 * its balance (docs/benchmarks.md, "Balances on a long history"): on a real
 * SQLite ledger whose merchant account holds N transfers, the time of its
 * balance, a statement of its last hour, and a withdrawal (a write
 * transaction that reads the balance under the writer's lock), before and
 * after the marking job (offpay_ledger_marks, 019_balance_marks) marked
 * them; beside the raw figure of the same run: one row inserted and
 * committed by SQLite itself into the same file, as durably (WAL,
 * synchronous FULL).
 *
 *   marks_bench [--quick] [--transfers N]...
 *
 * The transfers are written by SQL in one transaction (the reads are what
 * is measured), one a second. Each figure is the median of its runs, in
 * wall time. Not a timed test: CTest runs --quick only to prove it works.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "offpay/offpay.h"
#include "timing.h"

#define EUR  978
#define T0   1780000000u
#define RUNS 15

static void die(const char *what, offpay_err rc)
{
    fprintf(stderr, "marks_bench: %s: %s\n", what, offpay_strerror(rc));
    exit(1);
}

typedef struct figures {
    double balance, statement, withdraw, raw;
} figures;

typedef struct bench {
    offpay_ledger *l;
    sqlite3       *raw; /* the same file, for the raw write */
    uint64_t       merchant, account;
    uint32_t       last; /* the newest transfer's time */
} bench;

static int no_line(const offpay_statement_line *line, void *ctx)
{
    (void)line;
    (void)ctx;
    return 0;
}

static figures measure(bench *b)
{
    double                   v[4][RUNS];
    figures                  f;
    offpay_statement_account acct;
    int64_t                  bal;
    offpay_err               rc;

    for (int i = 0; i < RUNS; i++) {
        double t = wall_ms();

        rc = offpay_ledger_balance(b->l, b->account, &bal, NULL, NULL);
        v[0][i] = wall_ms() - t;
        if (rc != OFFPAY_OK)
            die("balance", rc);
        t = wall_ms();
        rc = offpay_ledger_statement_with(b->l, b->merchant, b->last - 599,
                                          b->last, no_line, NULL, &acct);
        v[1][i] = wall_ms() - t;
        if (rc != OFFPAY_OK)
            die("statement", rc);
        t = wall_ms();
        rc =
            offpay_ledger_withdraw(b->l, b->account, 1, "bench", b->last, NULL);
        v[2][i] = wall_ms() - t;
        if (rc != OFFPAY_OK)
            die("withdraw", rc);
        t = wall_ms();
        if (bench_raw_write(b->raw) != 0)
            die("the raw write", OFFPAY_ESTORE);
        v[3][i] = wall_ms() - t;
    }
    f.balance = median(v[0], RUNS);
    f.statement = median(v[1], RUNS);
    f.withdraw = median(v[2], RUNS);
    f.raw = median(v[3], RUNS);
    return f;
}

/* n transfers into the merchant's account from the world's (made by the
 * first deposit), one a second from T0, in one SQL transaction. */
static void fill(const char *path, bench *b, long n)
{
    sqlite3 *db = NULL;
    char     sql[512];
    char    *err = NULL;

    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
             " WHERE i < %ld) INSERT INTO transfers (debit, credit, amount,"
             " kind, at) SELECT (SELECT id FROM accounts WHERE kind = 1"
             " AND currency = %d), %llu, 100, 'deposit', %u + i FROM c",
             n, EUR, (unsigned long long)b->account, T0);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "marks_bench: filling: %s\n",
                err != NULL ? err : sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_close(db);
    b->last = T0 + (uint32_t)n;
    if (bench_raw_open(path, &b->raw) != 0)
        die("the raw write's table", OFFPAY_ESTORE);
}

static void one(long n, figures out[2], double *mark_ms)
{
    char       dir[] = "/tmp/marks_bench.XXXXXX", path[64];
    bench      b;
    uint64_t   marked = 0, id = 0;
    int        more = 1;
    offpay_err rc;
    double     t;

    if (mkdtemp(dir) == NULL) {
        perror("marks_bench: mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    memset(&b, 0, sizeof b);
    if ((rc = offpay_ledger_open(path, NULL, &b.l)) != OFFPAY_OK)
        die("open", rc);
    if ((rc = offpay_ledger_merchant_add(b.l, "bench", EUR, T0, &b.merchant,
                                         &b.account)) != OFFPAY_OK)
        die("merchant", rc);
    /* the world account, made by a first deposit */
    if ((rc = offpay_ledger_deposit(b.l, b.account, 100, NULL, T0, &id)) !=
        OFFPAY_OK)
        die("deposit", rc);
    offpay_ledger_close(b.l);
    fill(path, &b, n - 1);
    if ((rc = offpay_ledger_open(path, NULL, &b.l)) != OFFPAY_OK)
        die("open", rc);
    out[0] = measure(&b);
    t = wall_ms();
    /* 600 ids a mark: the transfer marks offpayd's job (--mark-every 600)
     * leaves on an account taking one transfer a second */
    while (more)
        if ((rc = offpay_ledger_marks(b.l, b.last, 600, &marked, &more)) !=
            OFFPAY_OK)
            die("marks", rc);
    *mark_ms = wall_ms() - t;
    out[1] = measure(&b);
    {
        offpay_audit_report r;

        if ((rc = offpay_ledger_audit(b.l, &r)) != OFFPAY_OK)
            die("audit", rc);
    }
    offpay_ledger_close(b.l);
    sqlite3_close(b.raw);
    for (const char *sfx = ""; sfx != NULL; sfx = strcmp(sfx, "") == 0 ? "-wal"
                                                  : strcmp(sfx, "-wal") == 0
                                                      ? "-shm"
                                                      : NULL) {
        char f[80];

        snprintf(f, sizeof f, "%s%s", path, sfx);
        unlink(f);
    }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    long   ns[8];
    size_t k = 0;
    int    quick = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--transfers") == 0 && i + 1 < argc && k < 8 &&
                 atol(argv[i + 1]) > 1)
            ns[k++] = atol(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: marks_bench [--quick] [--transfers N]...\n");
            return 2;
        }
    }
    if (offpay_init() != OFFPAY_OK) {
        fprintf(stderr, "marks_bench: offpay_init failed\n");
        return 1;
    }
    if (k == 0) {
        ns[k++] = quick ? 1000 : 10000;
        ns[k++] = quick ? 10000 : 1000000;
    }
    printf("marks_bench: a merchant account with N transfers (one a second) "
           "on SQLite; its balance, a statement of its last 600 s, a "
           "withdrawal, beside SQLite's own write; medians of %d runs, ms "
           "(marked: after offpay_ledger_marks, which took 'marking')\n",
           RUNS);
    printf("%9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "N", "balance", "marked",
           "statement", "marked", "withdraw", "marked", "raw", "marking");
    {
        double first[2] = {0, 0};

        for (size_t i = 0; i < k; i++) {
            figures f[2];
            double  mark_ms;

            one(ns[i], f, &mark_ms);
            printf("%9ld %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.1f\n",
                   ns[i], f[0].balance, f[1].balance, f[0].statement,
                   f[1].statement, f[0].withdraw, f[1].withdraw, f[1].raw,
                   mark_ms);
            printf("          withdrawal / SQLite's own write: %.2f before "
                   "the marks, %.2f after\n",
                   f[0].withdraw / f[0].raw, f[1].withdraw / f[1].raw);
            if (i == 0) {
                first[0] = f[1].balance;
                first[1] = f[1].statement;
            } else
                printf("          marked, against N = %ld: balance %.2fx, "
                       "statement %.2fx\n",
                       ns[0], f[1].balance / first[0],
                       f[1].statement / first[1]);
        }
    }
    return 0;
}
