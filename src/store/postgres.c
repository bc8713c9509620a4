/*
 * postgres.c — the PostgreSQL backend of the settlement store
 * (src/settle/store.h), for a ledger shared by several offpayd processes.
 *
 * Write transactions run at READ COMMITTED with explicit row locks, not
 * at SERIALIZABLE (whose predicate locks on index pages made settlements
 * of different credentials conflict and rerun: docs/scaling.md).
 * Exactly-once rests on the unique keys on payments (serial, counter) and
 * presentments (serial, counter, terminal) and on the conditional escrow
 * debit, which catch a concurrent second settlement at any isolation. What
 * the engine reads before it writes is guarded by a lock it takes first
 * (docs/settlement.md §4): the credential's row (creds_lock: everything of
 * one credential — its escrow, payments, presentments, cases, receipts —
 * is read and changed by one transaction at a time) and the account's row
 * before a balance that is then debited is read (account_lock). At READ
 * COMMITTED each statement sees what was committed before it started, so
 * the reads after a lock see the last holder's writes. Revocations take
 * one advisory lock, so that their sequence numbers become visible in
 * order. A deadlock (SQLSTATE 40P01), a unique violation between
 * concurrent inserts (23505) or a serialization failure (40001, which READ
 * COMMITTED does not raise) is OFFPAY_ERETRY, and the engine reruns the
 * transaction from the start. A lock another session holds is waited for
 * within the bound of store/lockwait.h (each transaction's lock_timeout,
 * cut at 2 s the first time so that the wait is said while it lasts, then
 * what the bound leaves): past it OFFPAY_EBUSY (55P03), its holders named.
 * Where a duplicate is an expected answer (a request nonce taken twice) the
 * statement says ON CONFLICT DO NOTHING and the row count answers.
 *
 * Parameters go as text, byte strings as binary; results come as text
 * (byte strings in PostgreSQL's hex form, decoded here).
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/jsonutil.h"
#include "core/message_int.h"
#include "core/testhook.h"
#include "offpay/offpay.h"
#include "settle/settle_int.h"
#include "settle/store.h"
#include "store/lockwait.h"
#include "store/migrations.h"

enum {
    S_ACCOUNT_ADD,
    S_SINGLETON_GET,
    S_SINGLETON_ADD,
    S_ACCOUNT_GET,
    S_BALANCE,
    S_TRANSFER_ADD,
    S_BOOKED_BY,
    S_MERCHANT_ADD,
    S_MERCHANT_GET,
    S_MERCHANT_CLOSE,
    S_MERCHANT_LOCK,
    S_TERMINAL_BY_PK,
    S_TERMINAL_ADD,
    S_TERMINAL_SET_CRED,
    S_TERMINAL_GET,
    S_TERMINAL_REVOKE,
    S_CRED_ADD,
    S_CRED_SET_BYTES,
    S_CRED_GET,
    S_ESCROW_DEBIT,
    S_ESCROW_CREDIT,
    S_CRED_RELEASE,
    S_CREDS_DUE,
    S_CRED_REVOKE,
    S_REVOCATION_ADD,
    S_PAYMENT_GET,
    S_PAYMENT_ADD,
    S_PAYMENT_CHARGE,
    S_PRESENTMENT_GET,
    S_PRESENTMENT_ADD,
    S_PRESENTMENT_CASE,
    S_CHARGED_AT,
    S_CASE_ADD,
    S_CASE_COUNT,
    S_REVOCATIONS,
    S_REVOCATIONS_LIVE,
    S_REVOCATION_MAX,
    S_NONCE_TAKE,
    S_NONCE_PRUNE,
    S_MARK_GET,
    S_MARK_PUT,
    S_NEWEST_TRANSFER,
    S_NEWEST_AFTER,
    S_STATEMENT,
    S_RECEIPT_GET,
    S_RECEIPT_ADD,
    S_RECEIPTS_WAITING,
    S_RECEIPT_CHECKED,
    S_CLAIM_GET,
    S_CLAIM_SET,
    S_WALLET_KNOWN,
    S_PAYMENT_SUMMARY,
    S_CREDS_LOCK,
    S_ACCOUNT_LOCK,
    S_REVOCATION_LOCK,
    S_COUNT
};

static const char *const SQL[S_COUNT] = {
    [S_ACCOUNT_ADD] = "INSERT INTO accounts (kind, currency, ref, created_at)"
                      " VALUES ($1, $2, $3, $4) RETURNING id",
    /* kind IN (1, 5) is accounts_singleton's own condition, which a
     * generic plan cannot prove from $1 */
    [S_SINGLETON_GET] =
        "SELECT id FROM accounts WHERE kind = $1 AND currency = $2"
        " AND kind IN (1, 5)",
    /* the world and guarantee accounts are made on first use; two first
     * uses at once meet on the unique index and one reruns */
    [S_SINGLETON_ADD] = "INSERT INTO accounts (kind, currency, ref, created_at)"
                        " VALUES ($1, $2, $3, $4) RETURNING id",
    [S_ACCOUNT_GET] = "SELECT kind, currency FROM accounts WHERE id = $1",
    [S_BALANCE] = "SELECT " OFFPAY__BALANCE_SQL("$1"),
    [S_TRANSFER_ADD] =
        "INSERT INTO transfers (debit, credit, amount, kind, presentment,"
        " case_id, ref, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " RETURNING id",
    [S_BOOKED_BY] = "INSERT INTO booked_by (transfer, who) VALUES ($1, $2)",
    [S_MERCHANT_ADD] = "INSERT INTO merchants (account, name, currency,"
                       " created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    [S_MERCHANT_GET] = "SELECT account, currency, name, closed_at FROM"
                       " merchants WHERE id = $1",
    [S_MERCHANT_CLOSE] = "UPDATE merchants SET closed_at = $2"
                         " WHERE id = $1 AND closed_at IS NULL",
    /* the lock an UPDATE of a column that is no key takes: it waits for
     * another such, not for a terminal's insert (KEY SHARE) */
    [S_MERCHANT_LOCK] =
        "SELECT id FROM merchants WHERE id = $1 FOR NO KEY UPDATE",
    [S_TERMINAL_BY_PK] = "SELECT id FROM terminals WHERE pk = $1",
    [S_TERMINAL_ADD] = "INSERT INTO terminals (merchant, pk, created_at)"
                       " VALUES ($1, $2, $3) RETURNING id",
    [S_TERMINAL_SET_CRED] = "UPDATE terminals SET bytes = $2 WHERE id = $1",
    [S_TERMINAL_GET] =
        "SELECT t.merchant, m.account, m.currency, t.revoked_at, t.pk,"
        " t.revoke_reason FROM terminals t JOIN merchants m"
        " ON m.id = t.merchant"
        " WHERE t.id = $1",
    [S_TERMINAL_REVOKE] = "UPDATE terminals SET revoked_at = $2, retired = $3,"
                          " rotated_to = $4, sums_carried = $5,"
                          " revoke_reason = $6 WHERE id = $1"
                          " AND revoked_at IS NULL",
    [S_CRED_ADD] =
        "INSERT INTO credentials (wallet_account, escrow_account, wallet_pk,"
        " lim, currency, valid_from, expires, flags, remaining)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) RETURNING serial",
    [S_CRED_SET_BYTES] = "UPDATE credentials SET bytes = $2 WHERE serial = $1",
    [S_CRED_GET] = OFFPAY__CRED_GET_SQL("$1"),
    [S_ESCROW_DEBIT] = "UPDATE credentials SET remaining = remaining - $2"
                       " WHERE serial = $1 AND remaining >= $2",
    [S_ESCROW_CREDIT] = "UPDATE credentials SET remaining = remaining + $2"
                        " WHERE serial = $1",
    [S_CRED_RELEASE] = "UPDATE credentials SET released_at = $2, remaining = 0"
                       " WHERE serial = $1 AND released_at IS NULL",
    [S_CREDS_DUE] = "SELECT serial, expires FROM credentials"
                    " WHERE released_at IS NULL AND expires < $1"
                    " AND (expires, serial) > ($2, $3)"
                    " ORDER BY expires, serial LIMIT $4",
    [S_CRED_REVOKE] =
        "UPDATE credentials SET revoked_at = $2, revoke_reason = $3"
        " WHERE serial = $1 AND revoked_at IS NULL",
    /* with the credential's signed expiry: a lost wallet's report brings
     * the ledger's forward only after its revocation (online.c) */
    [S_REVOCATION_ADD] =
        "INSERT INTO revocations (serial, reason, at, expires)"
        " SELECT serial, $2, $3, expires FROM credentials WHERE serial = $1",
    [S_PAYMENT_GET] = "SELECT id, code, authorized, charged FROM payments"
                      " WHERE serial = $1 AND counter = $2",
    [S_PAYMENT_ADD] =
        "INSERT INTO payments (serial, counter, code, authorized, charged,"
        " first_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    [S_PAYMENT_CHARGE] =
        "UPDATE payments SET charged = charged + $2 WHERE id = $1",
    [S_PRESENTMENT_GET] =
        "SELECT id, payment, code_hash, code, charged, accepted_at,"
        " terminal_seq, uploaded_at, outcome, reason, paid, covered, case_id"
        " FROM presentments WHERE serial = $1 AND counter = $2"
        " AND terminal = $3",
    [S_PRESENTMENT_ADD] =
        "INSERT INTO presentments (payment, serial, counter, terminal,"
        " code_hash, code, charged, accepted_at, terminal_seq, uploaded_at,"
        " outcome, reason, paid, covered, case_id) VALUES ($1, $2, $3, $4,"
        " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    [S_PRESENTMENT_CASE] = "UPDATE presentments SET case_id = $2 WHERE id = $1",
    /* over the terminal's lineage: the terminals it was rotated from
     * and to (016_terminal_lineage), through the rotations that carried
     * the old terminal's sums into the new one (018_terminal_sums_carried:
     * one made before 0.16.0 starts the sum again, as it did then) */
    [S_CHARGED_AT] =
        "WITH RECURSIVE up(id) AS (SELECT CAST($2 AS BIGINT)"
        " UNION SELECT t.id FROM terminals t JOIN up ON t.rotated_to = up.id"
        " AND t.sums_carried = 1),"
        " down(id) AS (SELECT CAST($2 AS BIGINT)"
        " UNION SELECT t.rotated_to FROM terminals t JOIN down"
        " ON t.id = down.id WHERE t.rotated_to IS NOT NULL"
        " AND t.sums_carried = 1)"
        " SELECT COALESCE(SUM(p.charged), 0) FROM presentments p"
        " WHERE p.serial = $1 AND p.terminal IN"
        " (SELECT id FROM up UNION SELECT id FROM down)",
    [S_CASE_ADD] = "INSERT INTO cases (serial, kind, first, second, opened_at)"
                   " VALUES ($1, $2, $3, $4, $5) RETURNING id",
    [S_CASE_COUNT] =
        "SELECT COUNT(*) FROM cases WHERE serial = $1 AND kind = $2",
    /* the lists' numbers: the revocations' plus the offset `offpay admin
     * skip-ids` raised (id_floors 'revlist', 012_id_floors) */
    [S_REVOCATIONS] =
        "SELECT serial FROM revocations WHERE seq >= $1 - COALESCE((SELECT"
        " next FROM id_floors WHERE what = 'revlist'), 0)"
        " AND (expires IS NULL OR expires >= $2) ORDER BY serial",
    /* a full list: the live ones through revocations_expires (025), not
     * every revocation ever made */
    [S_REVOCATIONS_LIVE] = "SELECT serial FROM revocations"
                           " WHERE expires IS NULL OR expires >= $1"
                           " ORDER BY serial",
    [S_REVOCATION_MAX] =
        "SELECT COALESCE(MAX(seq), 0) + COALESCE((SELECT next FROM id_floors"
        " WHERE what = 'revlist'), 0) FROM revocations",
    [S_NONCE_TAKE] = "INSERT INTO request_nonces (pk, nonce, at)"
                     " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [S_NONCE_PRUNE] = "DELETE FROM request_nonces WHERE at < $1",
    [S_MARK_GET] = OFFPAY__MARK_GET_SQL("$1"),
    [S_MARK_PUT] = OFFPAY__MARK_PUT_SQL("$1", "$2", "$3"),
    [S_NEWEST_TRANSFER] = OFFPAY__NEWEST_TRANSFER_SQL,
    [S_NEWEST_AFTER] = OFFPAY__NEWEST_AFTER_SQL("$1"),
    [S_STATEMENT] = OFFPAY__STATEMENT_SQL("$1", "$2", "$3"),
    [S_RECEIPT_GET] =
        "SELECT id, serial, counter, terminal, amount, made_at, uploaded_at,"
        " stood, presentment, checked, case_id FROM receipts WHERE hash = $1",
    [S_RECEIPT_ADD] =
        "INSERT INTO receipts (hash, serial, counter, terminal, amount,"
        " made_at, bytes, uploaded_at, stood, presentment, checked, case_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " RETURNING id",
    [S_RECEIPTS_WAITING] =
        "SELECT id, amount FROM receipts WHERE serial = $1 AND counter = $2"
        " AND terminal = $3 AND checked = 0 ORDER BY id LIMIT $4",
    [S_RECEIPT_CHECKED] = "UPDATE receipts SET checked = 1, case_id = $2"
                          " WHERE id = $1 AND checked = 0",
    [S_CLAIM_GET] =
        "SELECT id, CASE WHEN terminal_seq >= 0 THEN COALESCE(claimed,"
        " charged) ELSE -1 END FROM presentments WHERE serial = $1"
        " AND counter = $2 AND terminal = $3",
    [S_CLAIM_SET] = "UPDATE presentments SET terminal_seq = $2, claimed = $3"
                    " WHERE id = $1 AND terminal_seq < 0",
    [S_WALLET_KNOWN] = "SELECT 1 FROM credentials WHERE wallet_pk = $1 LIMIT 1",
    [S_PAYMENT_SUMMARY] =
        "SELECT COUNT(*), COALESCE(SUM(paid), 0), COALESCE(SUM(covered), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 2 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 3 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 4 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 5 THEN 1 ELSE 0 END), 0),"
        " COALESCE((SELECT SUM(x.amount) FROM presentments q"
        "  JOIN transfers x ON x.presentment = q.id AND x.kind = 'refund'"
        "  JOIN accounts a ON a.id = x.credit AND a.kind <> 5"
        "  WHERE q.serial = $1 AND q.counter = $2), 0)"
        " FROM presentments WHERE serial = $1 AND counter = $2",
    /* the rows are locked in the order sorted (LockRows runs above Sort),
     * so two transactions lock their credentials in one order */
    [S_CREDS_LOCK] = "SELECT serial FROM credentials"
                     " WHERE serial = ANY($1::bigint[]) ORDER BY serial"
                     " FOR UPDATE",
    [S_ACCOUNT_LOCK] = "SELECT id FROM accounts WHERE id = $1 FOR UPDATE",
    /* one revocation at a time until commit: a revocation's seq is never
     * visible before a lower one (a delta asked from the last seq seen
     * would miss it); migrate's advisory lock is 7430717 */
    [S_REVOCATION_LOCK] = "SELECT pg_advisory_xact_lock(7430718)",
};

#define MAX_PARAMS 16
#define BLOB_MAX   4096 /* the largest byte string a row holds (a code) */

struct offpay__store {
    PGconn   *db;
    PGresult *last;              /* the result rows last returned point into */
    uint8_t   blob[2][BLOB_MAX]; /* decoded byte strings of `last` */
};

/* One statement's parameters. */
typedef struct params {
    const char *v[MAX_PARAMS];
    int         len[MAX_PARAMS];
    int         fmt[MAX_PARAMS];
    char        buf[MAX_PARAMS][24];
    int         n;
} params;

static void p_i64(params *p, int64_t v)
{
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)v);
    p->v[p->n] = p->buf[p->n];
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

static void p_u64(params *p, uint64_t v)
{
    p_i64(p, (int64_t)v);
}

static void p_opt(params *p, uint64_t v) /* 0 is NULL */
{
    if (v == 0) {
        p->v[p->n] = NULL;
        p->len[p->n] = 0;
        p->fmt[p->n++] = 0;
    } else {
        p_u64(p, v);
    }
}

static void p_text(params *p, const char *t)
{
    p->v[p->n] = t;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

static void p_blob(params *p, const void *b, size_t n)
{
    p->v[p->n] = b;
    p->len[p->n] = (int)n;
    p->fmt[p->n++] = b == NULL ? 0 : 1;
}

/* ---- PostgreSQL's errors --------------------------------------------- */

#define SAID_SLOTS  16
#define SAID_EVERY  60 /* seconds between two lines of one message */
#define SAID_PREFIX 120

/* What was said lately: one line per distinct message a minute, so a
 * database that is down does not write a line per request. */
static pthread_mutex_t said_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char   text[SAID_PREFIX];
    time_t at;
} said[SAID_SLOTS];

/* The hint offpay adds to a SQLSTATE whose cause is the database's
 * set-up, not the request; "" for others. */
static const char *state_hint(const char *state)
{
    if (strcmp(state, "25006") == 0)
        return ": the database is read-only for this role (a replica, or "
               "default_transaction_read_only): give offpayd the primary's "
               "URL, or reset that setting";
    if (strcmp(state, "42501") == 0)
        return ": offpayd's role lacks a privilege (docs/operations.md, "
               "\"PostgreSQL roles\")";
    if (strcmp(state, "57014") == 0)
        return ": a statement_timeout of the role or database cut the "
               "statement short (or it was cancelled): unset it for "
               "offpayd's role, or raise it";
    return "";
}

/* Logs PostgreSQL's first line of `why` with its SQLSTATE (NULL: none, a
 * connection's failure), at most once a minute per distinct text. */
static void pg_say(const char *why, const char *state)
{
    char   line[SAID_PREFIX];
    size_t n = strcspn(why, "\n"); /* libpq's end in one; some have more */
    time_t now = time(NULL);
    int    k, oldest = 0, say = 1;

    snprintf(line, sizeof line, "%.*s (%s)", (int)n, why,
             state != NULL ? state : "connection");
    pthread_mutex_lock(&said_mu);
    for (k = 0; k < SAID_SLOTS; k++) {
        if (strcmp(said[k].text, line) == 0)
            break;
        if (said[k].at < said[oldest].at)
            oldest = k;
    }
    if (k < SAID_SLOTS && now - said[k].at < SAID_EVERY)
        say = 0;
    else {
        if (k == SAID_SLOTS)
            k = oldest;
        snprintf(said[k].text, sizeof said[k].text, "%s", line);
        said[k].at = now;
    }
    pthread_mutex_unlock(&said_mu);
    if (say)
        offpay__log("offpay: PostgreSQL: %.*s (%s%s)%s", (int)n, why,
                    state != NULL ? "SQLSTATE " : "no connection",
                    state != NULL ? state : "",
                    state != NULL ? state_hint(state) : "");
}

/* A statement's result as an offpay_err, PostgreSQL's reason not said.
 * SQLSTATEs of a transaction that lost a race: rerun it. A read-only
 * transaction, a missing privilege: the file system's words for them, as
 * SQLite's ledger says (503 in offpayd). A statement timeout: busy; a
 * lock_timeout too, noted for the engine, which reruns the transaction
 * while its bound leaves time (lockwait.h). */
static offpay_err map_quiet(PGresult *r)
{
    const char *state;

    if (r == NULL)
        return OFFPAY_ESTORE;
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        return OFFPAY_OK;
    default:
        break;
    }
    state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state == NULL)
        return OFFPAY_ESTORE;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strcmp(state, "23505") == 0)
        return OFFPAY_ERETRY;
    if (strcmp(state, "53100") == 0) /* disk_full */
        return OFFPAY_ENOSPC;
    if (strcmp(state, "25006") == 0) /* read_only_sql_transaction */
        return OFFPAY_EROFS;
    if (strcmp(state, "42501") == 0) /* insufficient_privilege */
        return OFFPAY_EACCES;
    if (strcmp(state, "57014") == 0) /* query_canceled: statement_timeout */
        return OFFPAY_EBUSY;
    if (strcmp(state, "55P03") == 0) { /* lock_not_available */
        offpay__lockwait_timed_out();
        return OFFPAY_EBUSY;
    }
    return OFFPAY_ESTORE;
}

/* map_quiet, and PostgreSQL's reason on the log (pg_say) for every error
 * but a race the engine reruns and a lock's wait (lockwait.c says it). */
static offpay_err map_result(PGresult *r)
{
    offpay_err rc = map_quiet(r);

    if (rc != OFFPAY_OK && rc != OFFPAY_ERETRY && r != NULL &&
        !(rc == OFFPAY_EBUSY && offpay__lockwait_want_holders())) {
        const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

        pg_say(primary != NULL ? primary : PQresultErrorMessage(r),
               PQresultErrorField(r, PG_DIAG_SQLSTATE));
    }
    return rc;
}

/* Runs statement `which`; on success *res holds the result until the next
 * call (the store keeps it in s->last). */
static offpay_err run(offpay__store *s, int which, const params *p,
                      PGresult **res)
{
    char       name[16];
    PGresult  *r;
    offpay_err rc;

    PQclear(s->last);
    s->last = NULL;
    snprintf(name, sizeof name, "s%d", which);
    r = PQexecPrepared(s->db, name, p != NULL ? p->n : 0,
                       p != NULL ? p->v : NULL, p != NULL ? p->len : NULL,
                       p != NULL ? p->fmt : NULL, 0);
    rc = map_result(r);
    if (rc != OFFPAY_OK) {
        PQclear(r);
        return rc;
    }
    s->last = r;
    if (res != NULL)
        *res = r;
    return OFFPAY_OK;
}

/* One row expected: OFFPAY_OK, OFFPAY_ENOTFOUND or an error. */
static offpay_err row(offpay__store *s, int which, const params *p,
                      PGresult **res)
{
    offpay_err rc = run(s, which, p, res);

    if (rc == OFFPAY_OK && PQntuples(*res) < 1)
        rc = OFFPAY_ENOTFOUND;
    return rc;
}

/* A statement that must change exactly one row, else `none`. */
static offpay_err update_one(offpay__store *s, int which, const params *p,
                             offpay_err none)
{
    PGresult  *r = NULL;
    offpay_err rc = run(s, which, p, &r);

    if (rc == OFFPAY_OK && strcmp(PQcmdTuples(r), "1") != 0)
        rc = none;
    return rc;
}

static int64_t col_i64(PGresult *r, int row_i, int col)
{
    return PQgetisnull(r, row_i, col)
               ? 0
               : (int64_t)strtoll(PQgetvalue(r, row_i, col), NULL, 10);
}

static uint64_t col_u64(PGresult *r, int row_i, int col)
{
    return (uint64_t)col_i64(r, row_i, col);
}

static uint32_t col_u32(PGresult *r, int row_i, int col)
{
    return (uint32_t)col_i64(r, row_i, col);
}

/* A bytea column in hex form ("\x0a1b...") into buf; its length, or -1
 * when it is not one or does not fit; 0 with *null set for NULL. */
static long col_blob(PGresult *r, int row_i, int col, uint8_t *buf, size_t cap,
                     int *null)
{
    const char *hex = PQgetvalue(r, row_i, col);
    size_t      n = 0;

    *null = PQgetisnull(r, row_i, col);
    if (*null)
        return 0;
    if (strncmp(hex, "\\x", 2) != 0 ||
        sodium_hex2bin(buf, cap, hex + 2, strlen(hex + 2), NULL, &n, NULL) != 0)
        return -1;
    return (long)n;
}

static offpay_err insert_id(offpay__store *s, int which, const params *p,
                            uint64_t *id)
{
    PGresult  *r = NULL;
    offpay_err rc = row(s, which, p, &r);

    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_ESTORE;
    if (rc == OFFPAY_OK && id != NULL)
        *id = col_u64(r, 0, 0);
    return rc;
}

/* A statement whose error the caller says itself. */
static offpay_err exec_quiet(offpay__store *s, const char *sql)
{
    PGresult  *r = PQexec(s->db, sql);
    offpay_err rc = map_quiet(r);

    PQclear(r);
    return rc;
}

static offpay_err exec_sql(offpay__store *s, const char *sql)
{
    PGresult  *r = PQexec(s->db, sql);
    offpay_err rc = map_result(r);

    PQclear(r);
    return rc;
}

/* ---- transactions ---------------------------------------------------- */

static void lock_holders(offpay__store *s, char *buf, size_t cap);

/* A new session's settings, then every statement prepared. Preparing
 * reads the tables' definitions, which waits for a lock another session
 * holds on one of them whole (LOCK TABLE, ALTER TABLE): bounded, and
 * said, as a transaction's wait is (lockwait.h), then OFFPAY_EBUSY. */
static offpay_err session_setup(offpay__store *s)
{
    offpay_err rc = exec_sql(s, "SET client_min_messages = warning");
    int        i = 0;

    /* text in UTF-8 whatever PGCLIENTENCODING or the URL says: the ledger's
     * texts are, and the ledger's digest hashes the bytes read (settlement.md
     * §10, "The ledger's digest") */
    if (rc == OFFPAY_OK)
        rc = exec_sql(s, "SET client_encoding = 'UTF8'");

    offpay__lockwait_tx_begin();
    while (rc == OFFPAY_OK) {
        char sql[64];

        snprintf(sql, sizeof sql, "SET lock_timeout = %ld",
                 offpay__lockwait_timeout_ms());
        rc = exec_sql(s, sql);
        while (rc == OFFPAY_OK && i < S_COUNT) {
            char      name[16];
            PGresult *r;

            snprintf(name, sizeof name, "s%d", i);
            r = PQprepare(s->db, name, SQL[i], 0, NULL);
            rc = map_result(r);
            PQclear(r);
            i += rc == OFFPAY_OK; /* one that waited in vain: again */
        }
        if (rc != OFFPAY_EBUSY || !offpay__lockwait_want_holders())
            break;
        {
            char who[384];

            lock_holders(s, who, sizeof who);
            offpay__lockwait_holders(who);
        }
        if (offpay__lockwait_tx_again())
            rc = OFFPAY_OK; /* the statements from i on, again */
    }
    if (rc == OFFPAY_OK) /* the role's or database's own setting again */
        rc = exec_sql(s, "RESET lock_timeout");
    offpay__lockwait_tx_end(rc, 0);
    return rc == OFFPAY_OK || rc == OFFPAY_EBUSY ? rc : OFFPAY_ESTORE;
}

/* After the server restarted: reconnect and set the session up again. */
static offpay_err connected(offpay__store *s)
{
    if (PQstatus(s->db) != CONNECTION_OK) {
        PQreset(s->db);
        if (PQstatus(s->db) != CONNECTION_OK) {
            pg_say(PQerrorMessage(s->db), NULL); /* refused, no such db */
            return OFFPAY_ESTORE;
        }
        offpay_err rc = session_setup(s);

        if (rc != OFFPAY_OK)
            return rc; /* OFFPAY_EBUSY or OFFPAY_ESTORE */
    }
    return OFFPAY_OK;
}

/* exec_sql, and *version the number the last statement of sql (several,
 * one round trip) answers, when version is not NULL. */
static offpay_err exec_version(offpay__store *s, const char *sql, long *version)
{
    PGresult  *r;
    offpay_err rc;

    if (version == NULL)
        return exec_sql(s, sql);
    r = PQexec(s->db, sql);
    rc = map_result(r);
    if (rc == OFFPAY_OK)
        *version = PQntuples(r) == 1 ? (long)col_i64(r, 0, 0) : 0;
    PQclear(r);
    return rc;
}

/* Begins a transaction. A connection the server dropped while it was idle
 * (a restart, a fail-over, an idle timeout) is only found out by the next
 * statement sent on it, which is this BEGIN: nothing has been done in the
 * transaction yet, so reconnect and begin once more rather than fail the
 * request (tests/e2e/offpayd_dbrestart.sh). A connection lost later, in
 * the middle of a transaction or at its COMMIT, stays an error: the
 * transaction's fate is the server's to tell. With version not NULL, sql
 * ends in a read of the schema's version, put there. */
static offpay_err begin_as(offpay__store *s, const char *sql, long *version)
{
    offpay_err rc = connected(s);

    if (rc == OFFPAY_OK)
        rc = exec_version(s, sql, version);
    if (rc != OFFPAY_OK && PQstatus(s->db) != CONNECTION_OK) {
        rc = connected(s);
        if (rc == OFFPAY_OK)
            rc = exec_version(s, sql, version);
    }
    return rc;
}

/* OFFPAY_EVERSION (and the transaction rolled back) once the schema's
 * version read is newer than this offpay knows: a newer offpay migrated
 * the ledger under this process (offpay__store_schema_newer). */
static offpay_err schema_current(offpay__store *s, offpay_err rc, long version)
{
    if (rc == OFFPAY_OK && version > (long)offpay__n_migrations) {
        (void)exec_quiet(s, "ROLLBACK");
        rc = offpay__store_schema_newer((unsigned long)version);
    }
    return rc;
}

/* A write transaction, refused on a ledger a newer offpay migrated: its
 * version is read in the BEGIN's round trip (a read of a table of a row
 * per migration, which costs the server microseconds), and its
 * lock_timeout set there (lockwait.h). */
static offpay_err s_begin(offpay__store *s)
{
    long       version = 0;
    char       sql[160];
    offpay_err rc;

    if (offpay__store_schema_newer_seen() != 0)
        return OFFPAY_EVERSION;
    snprintf(sql, sizeof sql,
             "BEGIN ISOLATION LEVEL READ COMMITTED;"
             " SET LOCAL lock_timeout = %ld;"
             " SELECT MAX(version) FROM schema_version",
             offpay__lockwait_timeout_ms());
    rc = begin_as(s, sql, &version);
    return schema_current(s, rc, version);
}

/* Reads see one snapshot and take no predicate locks a writer could
 * conflict with; a table another session locked whole (LOCK TABLE,
 * ALTER TABLE) is waited for within the bound too. */
static offpay_err s_begin_read(offpay__store *s)
{
    char sql[128];

    snprintf(sql, sizeof sql,
             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
             " SET LOCAL lock_timeout = %ld",
             offpay__lockwait_timeout_ms());
    return begin_as(s, sql, NULL);
}

static offpay_err s_commit(offpay__store *s)
{
    PQclear(s->last);
    s->last = NULL;
    return exec_sql(s, "COMMIT");
}

/* After a lock's wait ran out (55P03), who holds locks on the ledger's
 * tables is read, for the line said and the hint (lockwait.h). */
static void s_rollback(offpay__store *s)
{
    PQclear(s->last);
    s->last = NULL;
    if (PQtransactionStatus(s->db) != PQTRANS_IDLE)
        (void)exec_sql(s, "ROLLBACK");
    if (offpay__lockwait_want_holders()) {
        char who[384];

        lock_holders(s, who, sizeof who);
        offpay__lockwait_holders(who);
    }
}

/* PostgreSQL's locks are on rows and tables, none of which stands for
 * the ledger: no probe (store.h). */
static int s_lock_probe(offpay__store *s)
{
    (void)s;
    return -1;
}

static void s_close(offpay__store *s)
{
    if (s == NULL)
        return;
    PQclear(s->last);
    PQfinish(s->db);
    sodium_free(s);
}

/* ---- accounts and transfers ------------------------------------------ */

static offpay_err s_account_add(offpay__store *s, offpay_account_kind kind,
                                uint16_t currency, const char *ref,
                                uint32_t now, uint64_t *id)
{
    params p = {0};

    p_i64(&p, kind);
    p_i64(&p, currency);
    p_text(&p, ref != NULL ? ref : "");
    p_i64(&p, now);
    return insert_id(s, S_ACCOUNT_ADD, &p, id);
}

static offpay_err s_account_singleton_find(offpay__store      *s,
                                           offpay_account_kind kind,
                                           uint16_t currency, uint64_t *id)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_i64(&p, kind);
    p_i64(&p, currency);
    rc = row(s, S_SINGLETON_GET, &p, &r);
    if (rc == OFFPAY_OK)
        *id = col_u64(r, 0, 0);
    return rc;
}

static offpay_err s_account_singleton(offpay__store      *s,
                                      offpay_account_kind kind,
                                      uint16_t currency, uint32_t now,
                                      uint64_t *id)
{
    params     p = {0};
    offpay_err rc = s_account_singleton_find(s, kind, currency, id);

    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    p_i64(&p, kind);
    p_i64(&p, currency);
    p_text(&p, kind == OFFPAY_ACCOUNT_WORLD ? "world" : "guarantee");
    p_i64(&p, now);
    return insert_id(s, S_SINGLETON_ADD, &p, id);
}

static offpay_err s_account_get(offpay__store *s, uint64_t id,
                                offpay_account_kind *kind, uint16_t *currency)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, id);
    rc = row(s, S_ACCOUNT_GET, &p, &r);
    if (rc == OFFPAY_OK) {
        *kind = (offpay_account_kind)col_i64(r, 0, 0);
        *currency = (uint16_t)col_i64(r, 0, 1);
    }
    return rc;
}

static offpay_err s_balance(offpay__store *s, uint64_t id, int64_t *balance)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, id);
    rc = row(s, S_BALANCE, &p, &r);
    if (rc == OFFPAY_OK)
        *balance = col_i64(r, 0, 0);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_transfer_add(offpay__store *s, const offpay__transfer *t,
                                 uint64_t *id)
{
    params p = {0};

    p_u64(&p, t->debit);
    p_u64(&p, t->credit);
    p_i64(&p, t->amount);
    p_text(&p, t->kind);
    p_opt(&p, t->presentment);
    p_opt(&p, t->case_id);
    p_text(&p, t->ref);
    p_i64(&p, t->at);
    return insert_id(s, S_TRANSFER_ADD, &p, id);
}

static offpay_err s_booked_by(offpay__store *s, uint64_t transfer,
                              const char *who)
{
    params p = {0};

    p_u64(&p, transfer);
    p_text(&p, who);
    return run(s, S_BOOKED_BY, &p, NULL);
}

/* ---- merchants and terminals ----------------------------------------- */

static offpay_err s_merchant_add(offpay__store *s, uint64_t account,
                                 const char *name, uint16_t currency,
                                 uint32_t now, uint64_t *id)
{
    params p = {0};

    p_u64(&p, account);
    p_text(&p, name);
    p_i64(&p, currency);
    p_i64(&p, now);
    return insert_id(s, S_MERCHANT_ADD, &p, id);
}

static offpay_err s_merchant_get(offpay__store *s, uint64_t id,
                                 uint64_t *account, uint16_t *currency,
                                 char      name[OFFPAY_NAME_MAX + 1],
                                 uint32_t *closed_at)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, id);
    rc = row(s, S_MERCHANT_GET, &p, &r);
    if (rc == OFFPAY_OK) {
        size_t len = (size_t)PQgetlength(r, 0, 2);

        *account = col_u64(r, 0, 0);
        *currency = (uint16_t)col_i64(r, 0, 1);
        if (closed_at != NULL)
            *closed_at = col_u32(r, 0, 3); /* NULL: 0 */
        if (len == 0 || len > OFFPAY_NAME_MAX)
            return OFFPAY_ESTORE;
        memcpy(name, PQgetvalue(r, 0, 2), len);
        name[len] = '\0';
    }
    return rc;
}

static offpay_err s_merchant_close(offpay__store *s, uint64_t id, uint32_t now)
{
    params p = {0};

    p_u64(&p, id);
    p_i64(&p, now);
    return run(s, S_MERCHANT_CLOSE, &p, NULL);
}

static offpay_err s_merchant_lock(offpay__store *s, uint64_t id)
{
    params p = {0};

    p_u64(&p, id);
    return run(s, S_MERCHANT_LOCK, &p, NULL);
}

static offpay_err s_terminal_by_pk(offpay__store *s,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   uint32_t      *id)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    rc = row(s, S_TERMINAL_BY_PK, &p, &r);
    if (rc == OFFPAY_OK)
        *id = col_u32(r, 0, 0);
    return rc;
}

static offpay_err s_terminal_add(offpay__store *s, uint64_t merchant,
                                 const uint8_t pk[OFFPAY_PK_BYTES],
                                 uint32_t now, uint32_t *id)
{
    params     p = {0};
    uint64_t   rowid = 0;
    offpay_err rc;

    p_u64(&p, merchant);
    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_i64(&p, now);
    rc = insert_id(s, S_TERMINAL_ADD, &p, &rowid);
    if (rc == OFFPAY_OK && rowid > UINT32_MAX)
        rc = OFFPAY_ERANGE;
    *id = (uint32_t)rowid;
    return rc;
}

static offpay_err s_terminal_set_cred(offpay__store *s, uint32_t id,
                                      const uint8_t *bytes, size_t len)
{
    params p = {0};

    p_i64(&p, id);
    p_blob(&p, bytes, len);
    return update_one(s, S_TERMINAL_SET_CRED, &p, OFFPAY_ENOTFOUND);
}

static void col_text(PGresult *r, int i, int col, char *buf, size_t cap);

static offpay_err s_terminal_get(offpay__store *s, uint32_t id,
                                 offpay__terminal_row *t)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    int        null;

    p_i64(&p, id);
    rc = row(s, S_TERMINAL_GET, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    memset(t, 0, sizeof *t);
    t->id = id;
    t->merchant = col_u64(r, 0, 0);
    t->merchant_account = col_u64(r, 0, 1);
    t->currency = (uint16_t)col_i64(r, 0, 2);
    t->revoked = !PQgetisnull(r, 0, 3);
    t->revoked_at = col_u32(r, 0, 3);
    if (col_blob(r, 0, 4, t->pk, OFFPAY_PK_BYTES, &null) != OFFPAY_PK_BYTES)
        return OFFPAY_ESTORE;
    col_text(r, 0, 5, t->revoke_reason, sizeof t->revoke_reason);
    return OFFPAY_OK;
}

static offpay_err s_terminal_revoke(offpay__store *s, uint32_t id, uint32_t now,
                                    int how, uint32_t rotated_to,
                                    int sums_carried, const char *reason)
{
    params p = {0};

    p_i64(&p, id);
    p_i64(&p, now);
    p_opt(&p, (uint64_t)how);
    p_opt(&p, rotated_to);
    p_i64(&p, sums_carried != 0);
    p_text(&p, reason);
    return update_one(s, S_TERMINAL_REVOKE, &p, OFFPAY_EEXISTS);
}

/* ---- credentials and escrow ------------------------------------------ */

static offpay_err s_cred_add(offpay__store *s, const offpay__cred_row *c,
                             const uint8_t pk[OFFPAY_PK_BYTES], uint8_t flags,
                             uint64_t *serial)
{
    params p = {0};

    p_u64(&p, c->wallet_account);
    p_u64(&p, c->escrow_account);
    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_i64(&p, c->limit);
    p_i64(&p, c->currency);
    p_i64(&p, c->valid_from);
    p_i64(&p, c->expires);
    p_i64(&p, flags);
    return insert_id(s, S_CRED_ADD, &p, serial);
}

static offpay_err s_cred_set_bytes(offpay__store *s, uint64_t serial,
                                   const uint8_t *bytes, size_t len)
{
    params p = {0};

    p_u64(&p, serial);
    p_blob(&p, bytes, len);
    return update_one(s, S_CRED_SET_BYTES, &p, OFFPAY_ENOTFOUND);
}

static offpay_err s_cred_get(offpay__store *s, uint64_t serial,
                             offpay__cred_row *c)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    int        null = 0;

    p_u64(&p, serial);
    rc = row(s, S_CRED_GET, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    memset(c, 0, sizeof *c);
    c->serial = serial;
    c->wallet_account = col_u64(r, 0, 0);
    c->escrow_account = col_u64(r, 0, 1);
    c->limit = col_i64(r, 0, 2);
    c->currency = (uint16_t)col_i64(r, 0, 3);
    c->valid_from = col_u32(r, 0, 4);
    c->expires = col_u32(r, 0, 5);
    c->remaining = col_i64(r, 0, 6);
    c->released = !PQgetisnull(r, 0, 7);
    c->released_at = col_u32(r, 0, 7);
    c->revoked = !PQgetisnull(r, 0, 8);
    c->revoked_at = col_u32(r, 0, 8);
    c->flags = (uint8_t)col_i64(r, 0, 10);
    c->revoked_for_case = col_i64(r, 0, 11) != 0;
    if (col_blob(r, 0, 9, c->wallet_pk, OFFPAY_PK_BYTES, &null) !=
        OFFPAY_PK_BYTES)
        rc = OFFPAY_ESTORE;
    return rc;
}

static offpay_err s_escrow_debit(offpay__store *s, uint64_t serial,
                                 int64_t amount)
{
    params p = {0};

    p_u64(&p, serial);
    p_i64(&p, amount);
    return update_one(s, S_ESCROW_DEBIT, &p, OFFPAY_EFUNDS);
}

static offpay_err s_escrow_credit(offpay__store *s, uint64_t serial,
                                  int64_t amount)
{
    params p = {0};

    p_u64(&p, serial);
    p_i64(&p, amount);
    return update_one(s, S_ESCROW_CREDIT, &p, OFFPAY_ENOTFOUND);
}

static offpay_err s_cred_release(offpay__store *s, uint64_t serial,
                                 uint32_t now)
{
    params p = {0};

    p_u64(&p, serial);
    p_i64(&p, now);
    return update_one(s, S_CRED_RELEASE, &p, OFFPAY_EEXISTS);
}

static offpay_err s_creds_due(offpay__store *s, uint32_t before,
                              offpay__due_cursor *after, uint64_t *serials,
                              size_t max, size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_i64(&p, before);
    p_i64(&p, after->expires);
    p_u64(&p, after->serial);
    p_i64(&p, (int64_t)max);
    rc = run(s, S_CREDS_DUE, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        serials[(*n)++] = col_u64(r, i, 0);
        after->serial = col_u64(r, i, 0);
        after->expires = (uint32_t)col_i64(r, i, 1);
    }
    return rc;
}

static offpay_err s_cred_revoke(offpay__store *s, uint64_t serial,
                                const char *reason, uint32_t now)
{
    params     p = {0};
    offpay_err rc;

    p_u64(&p, serial);
    p_i64(&p, now);
    p_text(&p, reason);
    rc = update_one(s, S_CRED_REVOKE, &p, OFFPAY_EEXISTS);
    if (rc == OFFPAY_OK)
        rc = run(s, S_REVOCATION_LOCK, NULL, NULL);
    if (rc != OFFPAY_OK)
        return rc;
    memset(&p, 0, sizeof p);
    p_u64(&p, serial);
    p_text(&p, reason);
    p_i64(&p, now);
    return run(s, S_REVOCATION_ADD, &p, NULL);
}

/* ---- payments, presentments, cases ----------------------------------- */

static offpay_err s_payment_get(offpay__store *s, uint64_t serial,
                                uint32_t counter, offpay__payment_row *pr)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    long       n;
    int        null;

    p_u64(&p, serial);
    p_i64(&p, counter);
    rc = row(s, S_PAYMENT_GET, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    pr->id = col_u64(r, 0, 0);
    n = col_blob(r, 0, 1, s->blob[0], sizeof s->blob[0], &null);
    if (n <= 0)
        return OFFPAY_ESTORE;
    pr->code = s->blob[0];
    pr->code_len = (size_t)n;
    pr->authorized = col_i64(r, 0, 2);
    pr->charged = col_i64(r, 0, 3);
    return OFFPAY_OK;
}

static offpay_err s_payment_add(offpay__store *s, uint64_t serial,
                                uint32_t counter, const uint8_t *code,
                                size_t code_len, int64_t authorized,
                                int64_t charged, uint32_t now, uint64_t *id)
{
    params p = {0};

    p_u64(&p, serial);
    p_i64(&p, counter);
    p_blob(&p, code, code_len);
    p_i64(&p, authorized);
    p_i64(&p, charged);
    p_i64(&p, now);
    return insert_id(s, S_PAYMENT_ADD, &p, id);
}

static offpay_err s_payment_charge(offpay__store *s, uint64_t id,
                                   int64_t amount)
{
    params p = {0};

    p_u64(&p, id);
    p_i64(&p, amount);
    return update_one(s, S_PAYMENT_CHARGE, &p, OFFPAY_ENOTFOUND);
}

static offpay_err s_presentment_get(offpay__store *s, uint64_t serial,
                                    uint32_t counter, uint32_t terminal,
                                    offpay__presentment_row *pr)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    long       n;
    int        null;

    p_u64(&p, serial);
    p_i64(&p, counter);
    p_i64(&p, terminal);
    rc = row(s, S_PRESENTMENT_GET, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    memset(pr, 0, sizeof *pr);
    pr->id = col_u64(r, 0, 0);
    pr->payment = col_u64(r, 0, 1);
    pr->serial = serial;
    pr->counter = counter;
    pr->terminal = terminal;
    if (col_blob(r, 0, 2, pr->code_hash, sizeof pr->code_hash, &null) !=
        (long)sizeof pr->code_hash)
        return OFFPAY_ESTORE;
    n = col_blob(r, 0, 3, s->blob[1], sizeof s->blob[1], &null);
    if (n < 0)
        return OFFPAY_ESTORE;
    pr->code = null ? NULL : s->blob[1];
    pr->code_len = (size_t)n;
    pr->charged = col_i64(r, 0, 4);
    pr->accepted_at = col_u32(r, 0, 5);
    pr->terminal_seq = col_i64(r, 0, 6);
    pr->uploaded_at = col_u32(r, 0, 7);
    pr->outcome = (int)col_i64(r, 0, 8);
    pr->reason = (int)col_i64(r, 0, 9);
    pr->paid = col_i64(r, 0, 10);
    pr->covered = col_i64(r, 0, 11);
    pr->case_id = col_u64(r, 0, 12);
    return OFFPAY_OK;
}

static offpay_err s_presentment_add(offpay__store                 *s,
                                    const offpay__presentment_row *pr,
                                    uint64_t                      *id)
{
    params p = {0};

    p_u64(&p, pr->payment);
    p_u64(&p, pr->serial);
    p_i64(&p, pr->counter);
    p_i64(&p, pr->terminal);
    p_blob(&p, pr->code_hash, sizeof pr->code_hash);
    p_blob(&p, pr->code, pr->code_len);
    p_i64(&p, pr->charged);
    p_i64(&p, pr->accepted_at);
    p_i64(&p, pr->terminal_seq);
    p_i64(&p, pr->uploaded_at);
    p_i64(&p, pr->outcome);
    p_i64(&p, pr->reason);
    p_i64(&p, pr->paid);
    p_i64(&p, pr->covered);
    p_opt(&p, pr->case_id);
    return insert_id(s, S_PRESENTMENT_ADD, &p, id);
}

static offpay_err s_presentment_set_case(offpay__store *s, uint64_t id,
                                         uint64_t case_id)
{
    params p = {0};

    p_u64(&p, id);
    p_u64(&p, case_id);
    return update_one(s, S_PRESENTMENT_CASE, &p, OFFPAY_ENOTFOUND);
}

static offpay_err s_charged_at(offpay__store *s, uint64_t serial,
                               uint32_t terminal, int64_t *sum)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, serial);
    p_i64(&p, terminal);
    rc = row(s, S_CHARGED_AT, &p, &r);
    if (rc == OFFPAY_OK)
        *sum = col_i64(r, 0, 0);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_case_add(offpay__store *s, uint64_t serial,
                             const char *kind, uint64_t first, uint64_t second,
                             uint32_t now, uint64_t *id)
{
    params p = {0};

    p_u64(&p, serial);
    p_text(&p, kind);
    p_opt(&p, first);
    p_opt(&p, second);
    p_i64(&p, now);
    return insert_id(s, S_CASE_ADD, &p, id);
}

static offpay_err s_case_count(offpay__store *s, uint64_t serial,
                               const char *kind, uint64_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, serial);
    p_text(&p, kind);
    rc = row(s, S_CASE_COUNT, &p, &r);
    if (rc == OFFPAY_OK)
        *n = col_u64(r, 0, 0);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

/* ---- revocations, nonces, statements -------------------------------- */

static offpay_err s_revocations(offpay__store *s, uint64_t from_seq,
                                uint32_t live_since, uint64_t **serials,
                                size_t *n, uint64_t *max_seq)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    int        rows;

    *serials = NULL;
    *n = 0;
    rc = row(s, S_REVOCATION_MAX, NULL, &r);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    *max_seq = col_u64(r, 0, 0);
    if (from_seq != 0)
        p_u64(&p, from_seq);
    p_u64(&p, live_since);
    rc = run(s, from_seq != 0 ? S_REVOCATIONS : S_REVOCATIONS_LIVE, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    rows = PQntuples(r);
    if (rows == 0)
        return OFFPAY_OK;
    *serials = malloc((size_t)rows * sizeof **serials);
    if (*serials == NULL)
        return OFFPAY_ENOMEM;
    for (int i = 0; i < rows; i++)
        (*serials)[i] = col_u64(r, i, 0);
    *n = (size_t)rows;
    return OFFPAY_OK;
}

static offpay_err s_nonce_take(offpay__store *s, const uint8_t pk[32],
                               const uint8_t nonce[16], uint32_t at)
{
    params p = {0};

    p_blob(&p, pk, 32);
    p_blob(&p, nonce, 16);
    p_i64(&p, at);
    return update_one(s, S_NONCE_TAKE, &p, OFFPAY_EEXISTS);
}

static offpay_err s_nonce_prune(offpay__store *s, uint32_t before)
{
    params p = {0};

    p_i64(&p, before);
    return run(s, S_NONCE_PRUNE, &p, NULL);
}

static offpay_err s_mark_get(offpay__store *s, const char *what, uint32_t *at)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_text(&p, what);
    rc = row(s, S_MARK_GET, &p, &r);
    if (rc == OFFPAY_OK)
        *at = col_u32(r, 0, 0);
    return rc;
}

static offpay_err s_mark_put(offpay__store *s, const char *what, uint32_t at,
                             int forward)
{
    params p = {0};

    p_text(&p, what);
    p_i64(&p, at);
    p_i64(&p, forward != 0);
    return run(s, S_MARK_PUT, &p, NULL);
}

static offpay_err s_newest_transfer_at(offpay__store *s, uint32_t *at)
{
    PGresult  *r = NULL;
    offpay_err rc = row(s, S_NEWEST_TRANSFER, NULL, &r);

    if (rc == OFFPAY_OK)
        *at = col_u32(r, 0, 0);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_newest_after(offpay__store *s, uint64_t after, uint32_t *at)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, after);
    rc = row(s, S_NEWEST_AFTER, &p, &r);
    if (rc == OFFPAY_OK)
        *at = col_u32(r, 0, 0);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err
s_statement(offpay__store *s, uint64_t merchant, uint32_t from, uint32_t to,
            int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx)
{
    params                p = {0};
    PGresult             *r = NULL;
    offpay_statement_line line;
    offpay_err            rc;

    p_u64(&p, merchant);
    p_i64(&p, from);
    p_i64(&p, to);
    rc = run(s, S_STATEMENT, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        memset(&line, 0, sizeof line);
        line.presentment = col_u64(r, i, 0);
        line.terminal_id = col_u32(r, i, 1);
        line.serial = col_u64(r, i, 2);
        line.counter = col_u32(r, i, 3);
        line.charged = col_i64(r, i, 4);
        line.paid = col_i64(r, i, 5);
        line.covered = col_i64(r, i, 6);
        line.outcome = (offpay_settle_outcome)col_i64(r, i, 7);
        line.reason = (offpay_err)col_i64(r, i, 8);
        line.accepted_at = col_u32(r, i, 9);
        line.uploaded_at = col_u32(r, i, 10);
        line.refunded = col_i64(r, i, 11);
        line.late = col_i64(r, i, 12) != 0;
        line.paid_later = col_i64(r, i, 13);
        line.paid_later_at = col_u32(r, i, 14);
        line.case_id = col_u64(r, i, 15);
        if (fn(&line, ctx) != 0)
            break;
    }
    return rc;
}

/* ---- the audit ------------------------------------------------------- */

/* The money per currency, one row each (offpay__audit_money_sql). */
static offpay_err audit_money(offpay__store *s, offpay__audit_facts *f)
{
    PGresult  *r = PQexec(s->db, offpay__audit_money_sql);
    offpay_err rc = map_result(r);

    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++)
        offpay__audit_money_add(f, col_i64(r, i, 0), col_i64(r, i, 1),
                                col_i64(r, i, 2), col_i64(r, i, 3),
                                col_i64(r, i, 4));
    PQclear(r);
    return rc;
}

static offpay_err s_audit(offpay__store *s, offpay__audit_facts *f)
{
    int64_t v[OFFPAY__AUDIT_QUERIES];

    for (size_t i = 0; i < OFFPAY__AUDIT_QUERIES; i++) {
        PGresult  *r = PQexec(s->db, offpay__audit_sql[i]);
        offpay_err rc = map_result(r);

        if (rc == OFFPAY_OK && PQntuples(r) != 1)
            rc = OFFPAY_ESTORE;
        v[i] = rc == OFFPAY_OK ? col_i64(r, 0, 0) : 0;
        PQclear(r);
        if (rc != OFFPAY_OK)
            return rc;
    }
    offpay__audit_facts_from(v, f);
    return audit_money(s, f);
}

/* ---- receipts of wallet uploads -------------------------------------- */

static offpay_err s_receipt_get(offpay__store *s, const uint8_t hash[32],
                                offpay__receipt_row *rr)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_blob(&p, hash, 32);
    rc = row(s, S_RECEIPT_GET, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    memset(rr, 0, sizeof *rr);
    rr->id = col_u64(r, 0, 0);
    memcpy(rr->hash, hash, sizeof rr->hash);
    rr->serial = col_u64(r, 0, 1);
    rr->counter = col_u32(r, 0, 2);
    rr->terminal = col_u32(r, 0, 3);
    rr->amount = col_i64(r, 0, 4);
    rr->made_at = col_u32(r, 0, 5);
    rr->uploaded_at = col_u32(r, 0, 6);
    rr->stood = (int)col_i64(r, 0, 7);
    rr->presentment = col_u64(r, 0, 8);
    rr->checked = (int)col_i64(r, 0, 9);
    rr->case_id = col_u64(r, 0, 10);
    return OFFPAY_OK;
}

static offpay_err s_receipt_add(offpay__store *s, const offpay__receipt_row *r,
                                uint64_t *id)
{
    params p = {0};

    p_blob(&p, r->hash, sizeof r->hash);
    p_u64(&p, r->serial);
    p_i64(&p, r->counter);
    p_i64(&p, r->terminal);
    p_i64(&p, r->amount);
    p_i64(&p, r->made_at);
    p_blob(&p, r->bytes, r->len);
    p_i64(&p, r->uploaded_at);
    p_i64(&p, r->stood);
    p_opt(&p, r->presentment);
    p_i64(&p, r->checked);
    p_opt(&p, r->case_id);
    return insert_id(s, S_RECEIPT_ADD, &p, id);
}

static offpay_err s_receipts_waiting(offpay__store *s, uint64_t serial,
                                     uint32_t counter, uint32_t terminal,
                                     uint64_t *ids, int64_t *amounts,
                                     size_t max, size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_u64(&p, serial);
    p_i64(&p, counter);
    p_i64(&p, terminal);
    p_i64(&p, (int64_t)max);
    rc = run(s, S_RECEIPTS_WAITING, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        ids[*n] = col_u64(r, i, 0);
        amounts[(*n)++] = col_i64(r, i, 1);
    }
    return rc;
}

static offpay_err s_receipt_checked(offpay__store *s, uint64_t id,
                                    uint64_t case_id)
{
    params p = {0};

    p_u64(&p, id);
    p_opt(&p, case_id);
    return update_one(s, S_RECEIPT_CHECKED, &p, OFFPAY_ENOTFOUND);
}

static offpay_err s_claim_get(offpay__store *s, uint64_t serial,
                              uint32_t counter, uint32_t terminal,
                              uint64_t *presentment, int64_t *claimed)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, serial);
    p_i64(&p, counter);
    p_i64(&p, terminal);
    rc = row(s, S_CLAIM_GET, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    *presentment = col_u64(r, 0, 0);
    *claimed = col_i64(r, 0, 1);
    return OFFPAY_OK;
}

static offpay_err s_claim_set(offpay__store *s, uint64_t presentment,
                              int64_t terminal_seq, int64_t charged)
{
    params p = {0};

    p_u64(&p, presentment);
    p_i64(&p, terminal_seq);
    p_i64(&p, charged);
    return update_one(s, S_CLAIM_SET, &p, OFFPAY_ENOTFOUND);
}

static offpay_err s_wallet_known(offpay__store *s,
                                 const uint8_t  pk[OFFPAY_PK_BYTES])
{
    params    p = {0};
    PGresult *r = NULL;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    return row(s, S_WALLET_KNOWN, &p, &r);
}

static offpay_err s_payment_summary(offpay__store *s, uint64_t serial,
                                    uint32_t                 counter,
                                    offpay__payment_summary *out)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, serial);
    p_i64(&p, counter);
    rc = row(s, S_PAYMENT_SUMMARY, &p, &r);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    out->presentments = col_u64(r, 0, 0);
    out->paid = col_i64(r, 0, 1);
    out->covered = col_i64(r, 0, 2);
    out->guaranteed = col_u64(r, 0, 3);
    out->duplicate = col_u64(r, 0, 4);
    out->double_spend = col_u64(r, 0, 5);
    out->unpaid = col_u64(r, 0, 6);
    out->refunded = col_i64(r, 0, 7);
    return OFFPAY_OK;
}

/* ---- row locks -------------------------------------------------------- */

/* The serials as a PostgreSQL array literal ("{1,2,3}"), malloc'd. */
static char *serial_array(const uint64_t *serials, size_t n)
{
    size_t cap = 3 + n * 21, at = 0;
    char  *a = malloc(cap);

    if (a == NULL)
        return NULL;
    a[at++] = '{';
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(a + at, cap - at, "%s%llu", i ? "," : "",
                               (unsigned long long)serials[i]);
    a[at++] = '}';
    a[at] = '\0';
    return a;
}

static offpay_err s_creds_lock(offpay__store *s, const uint64_t *serials,
                               size_t n)
{
    params     p = {0};
    char      *a;
    offpay_err rc;

    if (n == 0)
        return OFFPAY_OK;
    a = serial_array(serials, n);
    if (a == NULL)
        return OFFPAY_ENOMEM;
    p_text(&p, a);
    rc = run(s, S_CREDS_LOCK, &p, NULL);
    free(a);
    return rc;
}

static offpay_err s_account_lock(offpay__store *s, uint64_t id)
{
    params p = {0};

    p_u64(&p, id);
    return run(s, S_ACCOUNT_LOCK, &p, NULL);
}

/* ---- open and migrate ------------------------------------------------ */

/* The schema's version on db (*has 0 and *version 0: no ledger there),
 * read without creating anything: a role that may not create tables runs
 * an up-to-date ledger. */
static offpay_err read_version(PGconn *db, int *has, long *version)
{
    PGresult  *r;
    offpay_err rc;

    *has = 0;
    *version = 0;
    r = PQexec(db, "SELECT to_regclass('schema_version') IS NOT NULL");
    rc = map_result(r);
    if (rc == OFFPAY_OK && PQntuples(r) == 1)
        *has = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (rc != OFFPAY_OK || !*has)
        return rc;
    r = PQexec(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    rc = map_result(r);
    if (rc == OFFPAY_OK && PQntuples(r) == 1)
        *version = (long)col_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* How long a migration's statement waits for a table's lock before it is
 * rolled back and tried again (lock_timeout), and how many times: a
 * reader holding a table (a pg_dump, an older offpayd's transaction) then
 * stalls the sessions queued behind the migration's lock for seconds at a
 * time, not for as long as it reads. */
#define MIGRATE_LOCK_WAIT_MS  5000
#define MIGRATE_LOCK_ATTEMPTS 6

static long migrate_lock_wait_ms(void)
{
#ifdef OFFPAY_TEST_HOOKS
    long ms = offpay__test_number("OFFPAY_TEST_MIGRATE_LOCK_MS");

    if (ms > 0)
        return ms;
#endif
    return MIGRATE_LOCK_WAIT_MS;
}

/* The schema version migrate brings a ledger to: this offpay's, or in a
 * test build OFFPAY_TEST_MIGRATE_TO's lower one (a ledger as an older
 * version left it, for a test of the upgrade from there; the open then
 * fails, as this offpay cannot run on it). */
static size_t migrate_to(void)
{
#ifdef OFFPAY_TEST_HOOKS
    long to = offpay__test_number("OFFPAY_TEST_MIGRATE_TO");

    if (to > 0 && (size_t)to < offpay__n_migrations)
        return (size_t)to;
#endif
    return offpay__n_migrations;
}

/* Who holds locks on the ledger's tables, into buf ("" if nobody now):
 * the sessions (at most 4) a migration's lock waited for. */
static void lock_holders(offpay__store *s, char *buf, size_t cap)
{
    PGresult *r = PQexec(
        s->db,
        "SELECT string_agg(w, '; ') FROM (SELECT format('pid %s (role %s, "
        "%s, %s, its transaction %s s old) on %s', a.pid, a.usename,"
        " COALESCE(NULLIF(a.application_name, ''), 'no application name'),"
        " COALESCE(a.state, 'state unknown'), COALESCE(EXTRACT(epoch FROM "
        "now() - a.xact_start)::bigint,"
        " 0), string_agg(DISTINCT l.relation::regclass::text, ', ')) AS w"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.granted AND l.locktype = 'relation' AND l.relation >= 16384"
        " AND l.database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database()) AND l.pid <> pg_backend_pid()"
        " GROUP BY a.pid, a.usename, a.application_name, a.state,"
        " a.xact_start ORDER BY a.pid LIMIT 4) x");

    buf[0] = '\0';
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(buf, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* The privileges other roles hold on the ledger's tables and sequences
 * (docs/operations.md, "PostgreSQL roles": the day-to-day role's), read
 * before a migration as the GRANT statements that give them (the names
 * quoted by PostgreSQL, grant options kept), each with its relation's
 * name and kind. A migration that builds a table again under its old
 * name (017_request_keys_made: a CHECK changes) would else leave them on
 * the table it dropped, and that role's every request on the new one
 * would be refused (42501) after the upgrade. Read into the client, not
 * a temporary table: an owner may lack TEMPORARY on the database. */
static const char GRANTS_SAVE[] =
    "SELECT c.relname, c.relkind::text, format('GRANT %s ON %s %I TO %s%s',"
    " a.privilege_type, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE'"
    " END, c.relname, CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
    " ELSE quote_ident(pg_get_userbyid(a.grantee)) END,"
    " CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
    " FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
    " WHERE c.relnamespace = current_schema()::regnamespace"
    " AND c.relkind IN ('r', 'S') AND a.grantee <> c.relowner";
/* The relations there are after the migration, as "name kind". */
static const char GRANTS_THERE[] =
    "SELECT relname || ' ' || relkind::text FROM pg_class"
    " WHERE relnamespace = current_schema()::regnamespace"
    " AND relkind IN ('r', 'S')";

/* The GRANT statements that give relation $1, new, of kind $2 ('r' or
 * 'S') what other roles hold on transfers, or on its id's sequence: a
 * table a migration adds (019_balance_marks: the marks every balance
 * read reads) is the day-to-day role's as the ledger's others are,
 * without a grant again after the upgrade. */
static const char GRANTS_LIKE_TRANSFERS[] =
    "SELECT format('GRANT %s ON %s %I TO %s%s', a.privilege_type,"
    " CASE WHEN $2 = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, $1::text,"
    " CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
    " ELSE quote_ident(pg_get_userbyid(a.grantee)) END,"
    " CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
    " FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
    " WHERE c.oid = CASE WHEN $2 = 'S'"
    " THEN pg_get_serial_sequence('transfers', 'id')::regclass"
    " ELSE 'transfers'::regclass END AND a.grantee <> c.relowner";

/* Gives a relation ("name kind", as GRANTS_THERE lists it) that no row of
 * before names what GRANTS_LIKE_TRANSFERS says. */
static offpay_err grants_new(offpay__store *s, const char *there,
                             PGresult *before)
{
    char        name[128];
    const char *sp = strrchr(there, ' ');
    const char *v[2];
    PGresult   *r;
    offpay_err  rc;

    for (int j = 0; j < PQntuples(before); j++)
        if (strcmp(PQgetvalue(before, j, 0), there) == 0)
            return OFFPAY_OK;
    if (sp == NULL || (size_t)(sp - there) >= sizeof name)
        return OFFPAY_ESTORE;
    memcpy(name, there, (size_t)(sp - there));
    name[sp - there] = '\0';
    v[0] = name;
    v[1] = sp + 1;
    r = PQexecParams(s->db, GRANTS_LIKE_TRANSFERS, 2, NULL, v, NULL, NULL, 0);
    rc = map_quiet(r);
    for (int k = 0; rc == OFFPAY_OK && k < PQntuples(r); k++) {
        PGresult *g = PQexec(s->db, PQgetvalue(r, k, 0));

        rc = map_quiet(g);
        PQclear(g);
    }
    PQclear(r);
    return rc;
}

/* Grants again, in the migration's transaction, what saved (GRANTS_SAVE)
 * held on every relation that has the same name and kind after it: a
 * grant a table kept is given once more, which changes nothing. A
 * relation that was not there before (before: GRANTS_THERE's rows then)
 * gets what other roles hold on transfers (grants_new). */
static offpay_err grants_restore(offpay__store *s, PGresult *saved,
                                 PGresult *before)
{
    PGresult  *there = PQexec(s->db, GRANTS_THERE);
    offpay_err rc = map_quiet(there);

    for (int j = 0; rc == OFFPAY_OK && j < PQntuples(there); j++)
        rc = grants_new(s, PQgetvalue(there, j, 0), before);

    for (int k = 0; rc == OFFPAY_OK && k < PQntuples(saved); k++) {
        char want[160];
        int  found = 0;

        snprintf(want, sizeof want, "%s %s", PQgetvalue(saved, k, 0),
                 PQgetvalue(saved, k, 1));
        for (int j = 0; !found && j < PQntuples(there); j++)
            found = strcmp(PQgetvalue(there, j, 0), want) == 0;
        if (found) {
            PGresult *r = PQexec(s->db, PQgetvalue(saved, k, 2));

            rc = map_quiet(r);
            PQclear(r);
        }
    }
    PQclear(there);
    return rc;
}

/* Migration i in its own transaction, its statements waiting at most
 * migrate_lock_wait_ms for a lock, the other roles' privileges kept
 * (GRANTS_SAVE). OFFPAY_EBUSY when a lock was not had in time (rolled
 * back), else OFFPAY_OK or the error (rolled back, PostgreSQL's reason's
 * first line in why). */
static offpay_err migrate_one(offpay__store *s, size_t i, const char *sql,
                              char *why, size_t cap)
{
    char       head[96];
    PGresult  *r, *grants = NULL, *before = NULL;
    offpay_err rc;

    snprintf(head, sizeof head, "BEGIN; SET LOCAL lock_timeout = %ld",
             migrate_lock_wait_ms());
    r = PQexec(s->db, head);
    rc = map_quiet(r);
    PQclear(r);
    if (rc == OFFPAY_OK) {
        grants = PQexec(s->db, GRANTS_SAVE);
        rc = map_quiet(grants);
    }
    if (rc == OFFPAY_OK) {
        before = PQexec(s->db, GRANTS_THERE);
        rc = map_quiet(before);
    }
    if (rc == OFFPAY_OK) {
        char bump[80];

        r = PQexec(s->db, sql);
        rc = map_quiet(r);
        if (rc != OFFPAY_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

            if (state != NULL && strcmp(state, "55P03") == 0)
                rc = OFFPAY_EBUSY; /* lock_not_available */
        }
        PQclear(r);
        if (rc == OFFPAY_OK)
            rc = grants_restore(s, grants, before);
        snprintf(bump, sizeof bump, "INSERT INTO schema_version VALUES (%zu)",
                 i + 1);
        if (rc == OFFPAY_OK) {
            r = PQexec(s->db, bump);
            rc = map_quiet(r);
            PQclear(r);
        }
        if (rc == OFFPAY_OK) {
            r = PQexec(s->db, "COMMIT");
            rc = map_quiet(r);
            PQclear(r);
        }
    }
    PQclear(grants);
    PQclear(before);
    if (rc != OFFPAY_OK) {
        const char *e = PQerrorMessage(s->db);

        snprintf(why, cap, "%.*s", (int)strcspn(e, "\n"), e);
        (void)exec_quiet(s, "ROLLBACK");
    }
    return rc == OFFPAY_ERETRY ? OFFPAY_ESTORE : rc;
}

/* Applies every migration above the schema's version, each in its own
 * transaction; the advisory lock lets several offpayd start at once. A
 * ledger at this version is only read: nothing is locked or created, so
 * a role with no right to create (docs/operations.md, "PostgreSQL roles")
 * runs it. */
static offpay_err migrate(offpay__store *s)
{
    static const offpay__dialect pg = {
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT",
        "BYTEA"};
    offpay_err rc;
    long       version = 0;
    int        has = 0;

    rc = read_version(s->db, &has, &version);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ERETRY ? OFFPAY_ESTORE : rc;
    if (has && version == (long)offpay__n_migrations)
        return OFFPAY_OK;
    rc = exec_sql(s, "SELECT pg_advisory_lock(7430717)");
    if (rc == OFFPAY_OK)
        rc = exec_sql(s, "CREATE TABLE IF NOT EXISTS schema_version("
                         "version BIGINT NOT NULL)");
    if (rc == OFFPAY_OK) /* again: another process may have migrated it */
        rc = read_version(s->db, &has, &version);
    if (rc != OFFPAY_OK)
        goto out;
    if (version > (long)offpay__n_migrations) {
        /* a newer offpay made or upgraded this ledger: say both versions */
        offpay__log("offpay: the ledger's schema is version %ld, newer than "
                    "this offpay %s knows (up to %zu): a newer version made "
                    "or upgraded it; run that version (or a newer one) on it "
                    "(EVERSION)",
                    version, offpay_version(), offpay__n_migrations);
        rc = OFFPAY_EVERSION;
        goto out;
    }
    for (size_t i = (size_t)version; i < migrate_to(); i++) {
        char *sql = offpay__migration_sql(i, &pg);
        char  why[256] = "";
        int   attempt;

        if (sql == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        for (attempt = 1; attempt <= MIGRATE_LOCK_ATTEMPTS; attempt++) {
            char holders[512];

            rc = migrate_one(s, i, sql, why, sizeof why);
            if (rc != OFFPAY_EBUSY)
                break;
            lock_holders(s, holders, sizeof holders);
            offpay__log(
                "offpay: ledger migration %zu (schema version %zu to %zu) "
                "waited %ld ms for a lock on the ledger's tables, held by "
                "%s; rolled back, %s: stop what holds it (a pg_dump, an "
                "offpayd still running, a session left in a transaction)",
                i + 1, i, i + 1, migrate_lock_wait_ms(),
                holders[0] != '\0' ? holders : "a session now gone",
                attempt < MIGRATE_LOCK_ATTEMPTS ? "trying again" : "giving up");
            if (attempt < MIGRATE_LOCK_ATTEMPTS) {
                struct timespec ts = {0, 200 * 1000 * 1000};

                nanosleep(&ts, NULL); /* the queued sessions go first */
            }
        }
        free(sql);
        if (rc == OFFPAY_EBUSY) {
            offpay__log("offpay: ledger migration %zu (schema version %zu to "
                        "%zu) did not get its locks in %d tries; the ledger "
                        "is still at version %zu: start again once nothing "
                        "else uses the ledger (EBUSY)",
                        i + 1, i, i + 1, MIGRATE_LOCK_ATTEMPTS, i);
            goto out;
        }
        if (rc != OFFPAY_OK) {
            offpay__log("offpay: ledger migration %zu (schema version %zu to "
                        "%zu) failed: %s; it was rolled back, the ledger is "
                        "still at version %zu\n",
                        i + 1, i, i + 1, why, i);
            goto out;
        }
    }
    if (migrate_to() < offpay__n_migrations) {
        offpay__log("offpay: ledger left at schema version %zu "
                    "(OFFPAY_TEST_MIGRATE_TO)\n",
                    migrate_to());
        rc = OFFPAY_EVERSION;
        goto out;
    }
    if (version > 0 && (size_t)version < offpay__n_migrations)
        offpay__log("offpay: ledger upgraded from schema version %ld to %zu\n",
                    version, offpay__n_migrations);
out:
    (void)exec_sql(s, "SELECT pg_advisory_unlock(7430717)");
    return rc == OFFPAY_ERETRY ? OFFPAY_ESTORE : rc;
}

/* Cases and evidence: defined at the end of the file. */
static offpay_err s_cases(offpay__store *s, const offpay_case_filter *f,
                          const char *kind, size_t max, offpay_case_info *out,
                          size_t *n);
static offpay_err s_case_get(offpay__store *s, uint64_t id,
                             offpay_case_info *out);
static offpay_err s_case_lock(offpay__store *s, uint64_t id);
static offpay_err s_case_note_add(offpay__store *s, const offpay_case_note *n,
                                  uint64_t *id);
static offpay_err s_case_notes(offpay__store *s, uint64_t case_id,
                               uint64_t after, size_t max, int newest,
                               offpay_case_note *out, size_t *n);
static offpay_err
s_presentments_of(offpay__store *s, uint64_t serial, uint32_t counter,
                  int all_counters, uint64_t max_id,
                  int (*fn)(const offpay__presentment_row *p, void *ctx),
                  void *ctx);
static offpay_err s_terminal_cred(offpay__store *s, uint32_t id, uint8_t *buf,
                                  size_t cap, size_t *len);

static offpay_err
s_receipts_of(offpay__store *s, uint64_t serial, uint32_t counter,
              int all_counters,
              int (*fn)(const offpay__receipt_row *r, void *ctx), void *ctx);

/* The operator's overview and the balance sheet: defined at the end of
 * the file. */
static offpay_err s_sheet(offpay__store *s, uint32_t from, uint32_t to,
                          int (*fn)(const offpay__sheet_row *row, void *ctx),
                          void *ctx);
static offpay_err s_transfers_range(offpay__store *s, int64_t after,
                                    int64_t upto, uint32_t until, size_t max,
                                    void (*fn)(const offpay__digest_row *row,
                                               void                     *ctx),
                                    void *ctx, size_t *n, int64_t *last);
static offpay_err
s_kind_totals(offpay__store *s,
              int (*fn)(const offpay_overview_kind *k, void *ctx), void *ctx);
static offpay_err
s_settle_buckets(offpay__store *s, uint32_t from, uint32_t to, uint32_t width,
                 int (*fn)(const offpay_overview_bucket *b, void *ctx),
                 void *ctx);
static offpay_err s_terminal_stats(offpay__store *s, size_t max,
                                   int (*fn)(const offpay_overview_terminal *t,
                                             void *ctx),
                                   void *ctx);
static offpay_err s_revoked_list(offpay__store *s, size_t max,
                                 int (*fn)(const offpay_overview_revoked *r,
                                           void                          *ctx),
                                 void *ctx);
static offpay_err s_terminal_report(offpay__store *s, uint32_t id,
                                    const offpay_terminal_report *r);
static offpay_err s_escrow_flows(offpay__store *s, uint64_t escrow,
                                 int64_t out[OFFPAY__ESCROW_FLOWS]);
static offpay_err s_late_hold(offpay__store *s, uint64_t account,
                              uint32_t since, int64_t *held,
                              uint32_t *released_at);
static offpay_err s_marks_advance(offpay__store *s, uint32_t now, uint64_t max,
                                  uint64_t *marked, int *more, uint64_t *lo,
                                  uint64_t *hi);
static offpay_err s_wallet_marks(offpay__store *s, uint64_t lo, uint64_t hi);
static offpay_err s_marks_state(offpay__store *s, int drop,
                                offpay_ledger_marks_info *out);
static offpay_err s_refund_base(offpay__store *s, uint64_t presentment,
                                uint64_t replayed, offpay__refund_base *out);
static offpay_err s_merchants(offpay__store *s, uint64_t after, size_t max,
                              offpay_merchant_info *out, size_t *n);
static offpay_err s_terminals(offpay__store *s, uint64_t merchant,
                              uint32_t after, size_t max,
                              offpay__terminal_list_row *out, size_t *n);
static offpay_err s_owed_open(offpay__store *s, uint16_t currency,
                              uint64_t after, offpay__owed_row *out, size_t max,
                              size_t *n);
static offpay_err s_owed_at(offpay__store *s, uint16_t currency, uint32_t at,
                            uint64_t after, offpay__owed_row *out, size_t max,
                            size_t *n);
static offpay_err s_terminal_report_get(offpay__store *s, uint32_t id,
                                        offpay_terminal_report *out);
static offpay_err s_terminal_label(offpay__store *s, uint32_t id,
                                   const char *label, uint32_t at,
                                   int *changed);
static offpay_err s_refusal_add(offpay__store *s, const offpay__refusal_row *r);
static offpay_err s_action_add(offpay__store                *s,
                               const offpay_operator_action *a);
static offpay_err s_newest_action_at(offpay__store *s, uint32_t *at);
static offpay_err
s_actions(offpay__store *s, const offpay_action_filter *f, uint32_t after_at,
          int64_t after_id, size_t                                     max,
          int (*fn)(const offpay_operator_action *a, void *ctx), void *ctx);
static offpay_err s_refusals(offpay__store *s, uint64_t merchant, uint32_t from,
                             uint32_t to,
                             int (*fn)(const offpay_refusal *r, void *ctx),
                             void *ctx);
static offpay_err s_terminal_label_carry(offpay__store *s, uint32_t from,
                                         uint32_t to, uint32_t at);
static offpay_err s_cases_open(offpay__store *s, uint64_t *n, uint32_t *oldest);
static offpay_err s_cred_kids(offpay__store *s, uint32_t now,
                              offpay__cred_kid_row *out, size_t max, size_t *n,
                              int *more);
static offpay_err s_cred_bytes(offpay__store *s, uint64_t serial,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES]);
static offpay_err s_wallet_accounts(offpay__store *s, const char *ref,
                                    uint64_t after, size_t max,
                                    offpay_wallet_account_info *out,
                                    offpay__wallet_late *late, size_t *n);
static offpay_err s_transfers_of(offpay__store *s, uint64_t account,
                                 uint32_t from, uint32_t to, uint64_t after,
                                 size_t max, offpay_account_transfer *out,
                                 size_t *n);
static offpay_err
s_account_period(offpay__store *s, uint64_t account, uint32_t from, uint32_t to,
                 int64_t sums[OFFPAY__PERIOD_SUMS],
                 int (*move)(const offpay_account_transfer *t, void *ctx),
                 void *ctx);

/* the wallet's online life (defined at the end of the file) */
static offpay_err s_enroll_add(offpay__store *s, const uint8_t hash[32],
                               uint16_t currency, const char *ref, uint32_t now,
                               uint32_t expires, uint64_t account,
                               const char *made_by);
static offpay_err s_enroll_void_by(offpay__store *s, const char *who,
                                   uint32_t now, uint64_t *n);
static offpay_err s_enroll_get(offpay__store *s, const uint8_t hash[32],
                               uint16_t *currency, uint32_t *expires,
                               uint32_t *used_at, uint64_t *account,
                               char ref[OFFPAY_LEDGER_REF_MAX + 1]);
static offpay_err s_enroll_void(offpay__store *s, uint64_t account,
                                uint32_t now);
static offpay_err s_enroll_use(offpay__store *s, const uint8_t hash[32],
                               uint64_t account, uint32_t now);
static offpay_err s_wallet_key_add(offpay__store *s,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   uint64_t account, uint32_t now);
static offpay_err s_wallet_key_get(offpay__store *s, const uint8_t *pk,
                                   uint64_t account, uint8_t *pk_out,
                                   uint64_t *account_out, uint32_t *enrolled_at,
                                   uint32_t *revoked_at);
static offpay_err s_wallet_key_revoke(offpay__store *s,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      uint32_t       now);
static offpay_err
s_wallet_creds(offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
               int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                         const uint8_t *bytes, size_t len, void *ctx),
               void *ctx);
static offpay_err
s_wallet_creds_page(offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
                    const offpay__creds_page *q,
                    int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                              const uint8_t *bytes, size_t len, void *ctx),
                    void *ctx);
static offpay_err s_wallet_creds_count(offpay__store *s,
                                       const uint8_t  pk[OFFPAY_PK_BYTES],
                                       uint32_t open_since, uint64_t *open,
                                       uint64_t *total);
static offpay_err s_key_revoked(offpay__store *s,
                                const uint8_t  pk[OFFPAY_PK_BYTES],
                                uint64_t after, uint64_t *serials, size_t max,
                                size_t *n);
static offpay_err s_cred_cut_expiry(offpay__store *s, uint64_t serial,
                                    uint32_t at);
static offpay_err s_cred_counter_seen(offpay__store *s, uint64_t serial,
                                      uint32_t counter);
static offpay_err s_cred_restore_floor(offpay__store *s, uint64_t serial,
                                       uint32_t gap, uint64_t *floor);
static offpay_err s_ids_skip(offpay__store *s, int terminal, uint64_t by,
                             uint64_t *next);
static offpay_err s_wallet_key_lock(offpay__store *s,
                                    const uint8_t  pk[OFFPAY_PK_BYTES]);
static offpay_err s_request_get(offpay__store *s, const char *key,
                                offpay__request *out);
static offpay_err s_request_add(offpay__store *s, const char *key,
                                const offpay__request *rq, uint32_t now);
static offpay_err s_terminal_retired(offpay__store *s, uint32_t id, int *how,
                                     uint32_t *rotated_to);
static offpay_err s_check(offpay__store *s);
static offpay_err s_copy_tables(offpay__store *s, offpay__copy_table *out,
                                size_t max, size_t *n);
static offpay_err s_copy_rows(offpay__store *s, const char *table,
                              const char *const *cols, size_t n,
                              int (*fn)(const offpay__copy_value *v, void *ctx),
                              void *ctx);
static offpay_err s_copy_write(offpay__store *s, const char *table,
                               const char *const *cols, size_t n,
                               const offpay__copy_value *rows, size_t n_rows);
static offpay_err s_next_id(offpay__store *s, const char *table, const char *id,
                            uint64_t *next);
static offpay_err s_next_id_set(offpay__store *s, const char *table,
                                const char *id, uint64_t next);
static offpay_err s_seal(offpay__store *s, uint32_t now, const char *reason);

static const offpay__store_ops OPS = {OFFPAY__STORE_OPS_INIT};

/* Why a connection to url failed: OFFPAY_EIO when no server answers there
 * (not started yet, refusing connections while it starts or recovers, the
 * network down), which mends by itself: offpayd exits 4 for it, which its
 * unit restarts (docs/operations.md §1); OFFPAY_ESTORE when a server
 * answered and refused (no such database or role, a wrong password, a
 * malformed URL), which does not. */
static offpay_err connect_err(const char *url)
{
    PGPing ping = PQping(url);

    return ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT ? OFFPAY_EIO
                                                               : OFFPAY_ESTORE;
}

/* A connection to url, or NULL with libpq's reason in the log (no such
 * database, connection refused, ...: it names the host, port, user or
 * database, never the password) and *rc connect_err's. The library never
 * logs url itself; a program that prints it prints offpay_ledger_redact's
 * form. */
static PGconn *connect_or_say(const char *url, offpay_err *rc)
{
    PGconn *db = PQconnectdb(url);

    if (PQstatus(db) == CONNECTION_OK)
        return db;
    offpay__log("offpay: PostgreSQL: %s", PQerrorMessage(db));
    PQfinish(db);
    *rc = connect_err(url);
    return NULL;
}

/* Whether the database at url has the schema's version table (*has) and
 * the version it records (0: none); nothing is created. */
static offpay_err schema_of(const char *url, int *has, unsigned *version)
{
    offpay_err rc = OFFPAY_ESTORE;
    PGconn    *db = connect_or_say(url, &rc);
    PGresult  *r;

    *has = 0;
    *version = 0;
    if (db == NULL)
        return rc;
    r = PQexec(db, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        rc = OFFPAY_OK;
        *has = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    }
    if (rc == OFFPAY_OK && *has) {
        PQclear(r);
        r = PQexec(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
        rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? OFFPAY_OK
                 : OFFPAY_ESTORE;
        if (rc == OFFPAY_OK)
            *version = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    PQfinish(db);
    return rc;
}

offpay_err offpay__store_postgres_exists(const char *url)
{
    unsigned   version;
    int        has;
    offpay_err rc = schema_of(url, &has, &version);

    return rc == OFFPAY_OK && !has ? OFFPAY_ENOENT : rc;
}

/* The value a parsed connection string gives keyword, or NULL (none). */
static const char *conninfo_val(const PQconninfoOption *o, const char *keyword)
{
    for (; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, keyword) == 0)
            return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
    return NULL;
}

int offpay__store_postgres_differ(const char *a, const char *b)
{
    static const char *const keys[] = {"host", "hostaddr", "port", "dbname",
                                       "user"};
    PQconninfoOption        *x = a != NULL ? PQconninfoParse(a, NULL) : NULL;
    PQconninfoOption        *y = b != NULL ? PQconninfoParse(b, NULL) : NULL;
    int                      differ = 0;

    for (size_t i = 0; x != NULL && y != NULL && i < sizeof keys / sizeof *keys;
         i++) {
        const char *u = conninfo_val(x, keys[i]), *v = conninfo_val(y, keys[i]);

        if (u != NULL && v != NULL && strcmp(u, v) != 0)
            differ = 1;
    }
    PQconninfoFree(x);
    PQconninfoFree(y);
    return differ;
}

offpay_err offpay__store_postgres_version(const char *url, unsigned *version)
{
    int has;

    return schema_of(url, &has, version);
}

offpay_err offpay__store_postgres_open(const char *url, offpay__store **out,
                                       const offpay__store_ops **ops)
{
    offpay__store *s;
    offpay_err     rc = OFFPAY_ESTORE;

    *out = NULL;
    s = sodium_malloc(sizeof *s);
    if (s == NULL)
        return OFFPAY_ENOMEM;
    memset(s, 0, sizeof *s);
    s->db = PQconnectdb(url);
    if (PQstatus(s->db) != CONNECTION_OK) {
        /* libpq's reason, as connect_or_say says it (never the
         * password) */
        offpay__log("offpay: PostgreSQL: %s", PQerrorMessage(s->db));
        rc = connect_err(url);
        goto out;
    }
    rc = exec_sql(s, "SET client_min_messages = warning");
    if (rc == OFFPAY_OK)
        rc = migrate(s);
    if (rc == OFFPAY_OK)
        rc = session_setup(s);
    if (rc != OFFPAY_OK)
        goto out;
    *out = s;
    *ops = &OPS;
    s = NULL;
out:
    s_close(s);
    return rc;
}

/* ---- cases and evidence ---------------------------------------------- */

/* These run rarely (an operator's look-up), so they are not prepared at
 * connection time: each runs with PQexecParams. */
#define CASES_COLS                                                             \
    "SELECT c.id, c.kind, c.serial, pay.counter, c.first, c.second,"           \
    " p.terminal, c.opened_at, COALESCE(c.closed_at, 0), CASE WHEN"            \
    " c.closed_at IS NULL THEN '' ELSE (SELECT n.text FROM case_notes n"       \
    " WHERE n.case_id = c.id AND n.action = 'close' ORDER BY n.id DESC"        \
    " LIMIT 1) END FROM cases c"                                               \
    " LEFT JOIN payments pay ON pay.id = c.first"                              \
    " LEFT JOIN presentments p ON p.id = c.second"
#define CASES_FILTER                                                           \
    " ($1::bigint = 0 OR c.serial = $1::bigint)"                               \
    " AND ($2::text IS NULL OR c.kind = $2::text)"                             \
    " AND c.opened_at >= $3::bigint AND c.id > $4::bigint ORDER BY c.id"       \
    " LIMIT $5::bigint"
/* every case, or the closed ones ($6 = 2) */
static const char SQL_CASES[] = CASES_COLS
    " WHERE ($6::bigint <> 2 OR c.closed_at IS NOT NULL) AND" CASES_FILTER;
/* the open ones, read from their own index (cases_open) */
static const char SQL_CASES_OPEN[] =
    CASES_COLS " WHERE c.closed_at IS NULL AND" CASES_FILTER;
static const char SQL_CASE_GET[] = CASES_COLS " WHERE c.id = $1::bigint";
/* the lock an UPDATE of closed_at takes: not the one a note's insert takes
 * through its foreign key (KEY SHARE) */
static const char SQL_CASE_LOCK[] =
    "SELECT id FROM cases WHERE id = $1::bigint FOR NO KEY UPDATE";
static const char SQL_CASE_NOTE_ADD[] =
    "INSERT INTO case_notes (case_id, action, text, author, at) VALUES"
    " ($1::bigint, $2::text, $3::text, $4::text, $5::bigint) RETURNING id";
static const char SQL_CASE_CLOSED_SET[] =
    "UPDATE cases SET closed_at = $2::bigint WHERE id = $1::bigint";
static const char SQL_CASE_NOTES[] =
    "SELECT id, case_id, action, text, at, author FROM case_notes"
    " WHERE case_id = $1::bigint AND id > $2::bigint ORDER BY id"
    " LIMIT $3::bigint";
static const char SQL_CASE_NOTE_NEWEST[] =
    "SELECT id, case_id, action, text, at, author FROM case_notes"
    " WHERE case_id = $1::bigint ORDER BY id DESC LIMIT 1";
static const char SQL_PRESENTMENTS_OF[] =
    "SELECT p.id, p.payment, p.counter, p.terminal, p.code_hash,"
    " COALESCE(p.code, pay.code), p.charged, p.accepted_at, p.terminal_seq,"
    " p.uploaded_at, p.outcome, p.reason, p.paid, p.covered, p.case_id"
    " FROM presentments p JOIN payments pay ON pay.id = p.payment"
    " WHERE p.serial = $1::bigint AND ($3::bigint <> 0 OR p.counter ="
    " $2::bigint) AND p.id <= $4::bigint ORDER BY p.id";
static const char SQL_TERMINAL_CRED[] =
    "SELECT bytes FROM terminals WHERE id = $1::bigint";

/* Runs sql (not prepared); *res as run() gives it. */
static offpay_err run_sql(offpay__store *s, const char *sql, const params *p,
                          PGresult **res)
{
    PGresult  *r;
    offpay_err rc;

    PQclear(s->last);
    s->last = NULL;
    r = PQexecParams(s->db, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
    rc = map_result(r);
    if (rc != OFFPAY_OK) {
        PQclear(r);
        return rc;
    }
    s->last = r;
    *res = r;
    return OFFPAY_OK;
}

/* run_sql expecting a row: OFFPAY_OK, OFFPAY_ENOTFOUND or an error. */
static offpay_err run_sql_row(offpay__store *s, const char *sql,
                              const params *p, PGresult **res)
{
    offpay_err rc = run_sql(s, sql, p, res);

    if (rc == OFFPAY_OK && PQntuples(*res) < 1)
        rc = OFFPAY_ENOTFOUND;
    return rc;
}

static offpay_err case_row(PGresult *r, int i, offpay_case_info *c)
{
    memset(c, 0, sizeof *c);
    c->id = col_u64(r, i, 0);
    if (offpay_case_kind_from_name(PQgetvalue(r, i, 1), &c->kind) != OFFPAY_OK)
        return OFFPAY_ESTORE;
    c->serial = col_u64(r, i, 2);
    c->counter = col_u32(r, i, 3);
    c->payment = col_u64(r, i, 4);
    c->presentment = col_u64(r, i, 5);
    c->terminal_id = col_u32(r, i, 6);
    c->opened_at = col_u32(r, i, 7);
    c->closed_at = col_u32(r, i, 8);
    col_text(r, i, 9, c->resolution, sizeof c->resolution);
    return OFFPAY_OK;
}

static offpay_err s_cases(offpay__store *s, const offpay_case_filter *f,
                          const char *kind, size_t max, offpay_case_info *out,
                          size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_u64(&p, f->serial);
    p_text(&p, kind);
    p_i64(&p, f->since);
    p_u64(&p, f->after_id);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    if (f->state != OFFPAY_CASES_OPEN)
        p_i64(&p, (int64_t)f->state);
    rc = run_sql(s, f->state == OFFPAY_CASES_OPEN ? SQL_CASES_OPEN : SQL_CASES,
                 &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        rc = case_row(r, i, &out[*n]);
        if (rc == OFFPAY_OK)
            (*n)++;
    }
    return rc;
}

static offpay_err s_case_get(offpay__store *s, uint64_t id,
                             offpay_case_info *out)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, id);
    rc = run_sql_row(s, SQL_CASE_GET, &p, &r);
    if (rc == OFFPAY_OK)
        rc = case_row(r, 0, out);
    return rc;
}

static offpay_err s_case_lock(offpay__store *s, uint64_t id)
{
    params    p = {0};
    PGresult *r = NULL;

    p_u64(&p, id);
    return run_sql_row(s, SQL_CASE_LOCK, &p, &r);
}

static offpay_err s_case_note_add(offpay__store *s, const offpay_case_note *n,
                                  uint64_t *id)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, n->case_id);
    p_text(&p, offpay_case_action_name(n->action));
    p_text(&p, n->text);
    p_text(&p, n->author);
    p_i64(&p, n->at);
    rc = run_sql_row(s, SQL_CASE_NOTE_ADD, &p, &r);
    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_ESTORE;
    if (rc != OFFPAY_OK)
        return rc;
    *id = col_u64(r, 0, 0);
    if (n->action == OFFPAY_CASE_NOTE)
        return OFFPAY_OK;
    memset(&p, 0, sizeof p);
    p_u64(&p, n->case_id);
    p_opt(&p, n->action == OFFPAY_CASE_CLOSE ? n->at : 0); /* 0: NULL */
    rc = run_sql(s, SQL_CASE_CLOSED_SET, &p, &r);
    if (rc == OFFPAY_OK && strcmp(PQcmdTuples(r), "1") != 0)
        rc = OFFPAY_ESTORE;
    return rc;
}

static offpay_err s_case_notes(offpay__store *s, uint64_t case_id,
                               uint64_t after, size_t max, int newest,
                               offpay_case_note *out, size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    if (newest)
        max = 1;
    p_u64(&p, case_id);
    if (!newest) {
        p_u64(&p, after);
        p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    }
    rc = run_sql(s, newest ? SQL_CASE_NOTE_NEWEST : SQL_CASE_NOTES, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        offpay_case_note *c = &out[*n];

        memset(c, 0, sizeof *c);
        c->id = col_u64(r, i, 0);
        c->case_id = col_u64(r, i, 1);
        if (offpay_case_action_from_name(PQgetvalue(r, i, 2), &c->action) !=
            OFFPAY_OK)
            return OFFPAY_ESTORE;
        col_text(r, i, 3, c->text, sizeof c->text);
        c->at = col_u32(r, i, 4);
        col_text(r, i, 5, c->author, sizeof c->author);
        (*n)++;
    }
    return rc;
}

static offpay_err
s_presentments_of(offpay__store *s, uint64_t serial, uint32_t counter,
                  int all_counters, uint64_t max_id,
                  int (*fn)(const offpay__presentment_row *p, void *ctx),
                  void *ctx)
{
    params                  p = {0};
    PGresult               *r = NULL;
    offpay__presentment_row row_;
    offpay_err              rc;
    long                    n;
    int                     null;

    p_u64(&p, serial);
    p_i64(&p, counter);
    p_i64(&p, all_counters != 0);
    p_u64(&p, max_id);
    rc = run_sql(s, SQL_PRESENTMENTS_OF, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        memset(&row_, 0, sizeof row_);
        row_.id = col_u64(r, i, 0);
        row_.payment = col_u64(r, i, 1);
        row_.serial = serial;
        row_.counter = col_u32(r, i, 2);
        row_.terminal = col_u32(r, i, 3);
        n = col_blob(r, i, 4, row_.code_hash, sizeof row_.code_hash, &null);
        if (n != (long)sizeof row_.code_hash)
            return OFFPAY_ESTORE;
        n = col_blob(r, i, 5, s->blob[0], sizeof s->blob[0], &null);
        if (n <= 0)
            return OFFPAY_ESTORE;
        row_.code = s->blob[0];
        row_.code_len = (size_t)n;
        row_.charged = col_i64(r, i, 6);
        row_.accepted_at = col_u32(r, i, 7);
        row_.terminal_seq = col_i64(r, i, 8);
        row_.uploaded_at = col_u32(r, i, 9);
        row_.outcome = (int)col_i64(r, i, 10);
        row_.reason = (int)col_i64(r, i, 11);
        row_.paid = col_i64(r, i, 12);
        row_.covered = col_i64(r, i, 13);
        row_.case_id = col_u64(r, i, 14);
        if (fn(&row_, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_terminal_cred(offpay__store *s, uint32_t id, uint8_t *buf,
                                  size_t cap, size_t *len)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    long       n;
    int        null = 0;

    p_i64(&p, id);
    rc = run_sql_row(s, SQL_TERMINAL_CRED, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    n = col_blob(r, 0, 0, s->blob[1], sizeof s->blob[1], &null);
    if (null)
        return OFFPAY_ENOTFOUND;
    if (n <= 0)
        return OFFPAY_ESTORE;
    if ((size_t)n > cap)
        return OFFPAY_ERANGE;
    memcpy(buf, s->blob[1], (size_t)n);
    *len = (size_t)n;
    return OFFPAY_OK;
}

/* ---- receipts of a case's codes (evidence.c) ------------------------- */

static const char SQL_RECEIPTS_OF[] =
    "SELECT id, hash, counter, terminal, amount, made_at, bytes,"
    " uploaded_at, stood, presentment, checked, case_id FROM receipts"
    " WHERE serial = $1::bigint AND ($3::bigint <> 0 OR counter ="
    " $2::bigint) ORDER BY id";

static offpay_err
s_receipts_of(offpay__store *s, uint64_t serial, uint32_t counter,
              int all_counters,
              int (*fn)(const offpay__receipt_row *r, void *ctx), void *ctx)
{
    params              p = {0};
    PGresult           *res = NULL;
    offpay__receipt_row r;
    offpay_err          rc;
    long                n;
    int                 null;

    p_u64(&p, serial);
    p_i64(&p, counter);
    p_i64(&p, all_counters != 0);
    rc = run_sql(s, SQL_RECEIPTS_OF, &p, &res);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(res); i++) {
        memset(&r, 0, sizeof r);
        r.id = col_u64(res, i, 0);
        n = col_blob(res, i, 1, r.hash, sizeof r.hash, &null);
        if (n != (long)sizeof r.hash)
            return OFFPAY_ESTORE;
        r.serial = serial;
        r.counter = col_u32(res, i, 2);
        r.terminal = col_u32(res, i, 3);
        r.amount = col_i64(res, i, 4);
        r.made_at = col_u32(res, i, 5);
        n = col_blob(res, i, 6, s->blob[0], sizeof s->blob[0], &null);
        if (n <= 0)
            return OFFPAY_ESTORE;
        r.bytes = s->blob[0];
        r.len = (size_t)n;
        r.uploaded_at = col_u32(res, i, 7);
        r.stood = (int)col_i64(res, i, 8);
        r.presentment = col_u64(res, i, 9);
        r.checked = (int)col_i64(res, i, 10);
        r.case_id = col_u64(res, i, 11);
        if (fn(&r, ctx) != 0)
            break;
    }
    return rc;
}

/* ---- the operator's overview (src/settle/overview.c) ------------------ */

/* The same queries as sqlite.c's, in libpq's parameter spelling. */
static const char SQL_KIND_TOTALS[] =
    "SELECT kind, currency, COUNT(*), COALESCE(SUM(bal), 0) FROM"
    " (SELECT a.kind AS kind, a.currency AS currency,"
    "  " OFFPAY__BALANCE_SQL(
        "a.id") "  AS bal FROM accounts a) AS x GROUP BY kind, currency"
                " ORDER BY kind, currency";
static const char SQL_SETTLE_BUCKETS[] =
    "SELECT p.uploaded_at - p.uploaded_at % $3::bigint, m.currency,"
    " p.outcome, COUNT(*), SUM(p.charged), SUM(p.paid), SUM(p.covered)"
    " FROM presentments p JOIN terminals t ON t.id = p.terminal"
    " JOIN merchants m ON m.id = t.merchant"
    " WHERE p.uploaded_at >= $1::bigint AND p.uploaded_at <= $2::bigint"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
static const char SQL_TERMINAL_STATS[] =
    "SELECT t.id, t.merchant, m.name, m.currency, t.created_at,"
    " t.revoked_at,"
    " (SELECT COUNT(*) FROM presentments p WHERE p.terminal = t.id),"
    " (SELECT MAX(uploaded_at) FROM presentments p WHERE p.terminal = t.id),"
    " t.revoke_reason, " OFFPAY__REPORT_COLS ", lb.label"
    " FROM terminals t JOIN merchants m ON m.id = t.merchant"
    " LEFT JOIN terminal_reports r ON r.terminal = t.id"
    " LEFT JOIN terminal_labels lb ON lb.terminal = t.id"
    " ORDER BY t.revoked_at IS NOT NULL, t.id LIMIT $1::bigint";
static const char SQL_REVOKED_LIST[] =
    "SELECT v.serial, c.wallet_account, c.currency, v.at, v.reason,"
    " c.remaining, c.released_at FROM revocations v"
    " JOIN credentials c ON c.serial = v.serial"
    " ORDER BY v.seq DESC LIMIT $1::bigint";
static const char SQL_TERMINAL_REPORT[] =
    "INSERT INTO terminal_reports (terminal, reported_at, synced_at, pending,"
    " state, lists_at, pending_amount)"
    " VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint, $5::text,"
    " $6::bigint, $7::bigint)"
    " ON CONFLICT (terminal) DO UPDATE SET"
    " reported_at = excluded.reported_at, synced_at = excluded.synced_at,"
    " pending = excluded.pending, state = excluded.state,"
    " lists_at = excluded.lists_at, pending_amount = excluded.pending_amount";

/* Copies row i's column col into buf (cap bytes with the NUL), cut short. */
static void col_text(PGresult *r, int i, int col, char *buf, size_t cap)
{
    const char *t = PQgetisnull(r, i, col) ? "" : PQgetvalue(r, i, col);
    size_t      n = strlen(t);

    if (n >= cap)
        n = offpay__utf8_cut((const char *)t, cap - 1);
    memcpy(buf, t, n);
    buf[n] = '\0';
}

/* A terminal's last report from row i's columns col.. (OFFPAY__REPORT_COLS;
 * a terminal that never reported has them NULL: reported 0). */
static void report_cols(PGresult *r, int i, int col, offpay_terminal_report *o)
{
    memset(o, 0, sizeof *o);
    o->reported = !PQgetisnull(r, i, col);
    o->reported_at = col_u32(r, i, col);
    o->synced_at = col_u32(r, i, col + 1);
    o->pending = col_u64(r, i, col + 2);
    /* NULL from an older terminal, which said none of the rest */
    o->state_known = !PQgetisnull(r, i, col + 3);
    col_text(r, i, col + 3, o->state, sizeof o->state);
    o->lists_at = col_u32(r, i, col + 4);
    o->pending_amount = col_i64(r, i, col + 5);
}

static offpay_err
s_kind_totals(offpay__store *s,
              int (*fn)(const offpay_overview_kind *k, void *ctx), void *ctx)
{
    params               p = {0};
    PGresult            *r = NULL;
    offpay_overview_kind k;
    offpay_err           rc = run_sql(s, SQL_KIND_TOTALS, &p, &r);

    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        memset(&k, 0, sizeof k);
        k.kind = (offpay_account_kind)col_i64(r, i, 0);
        k.currency = (uint16_t)col_i64(r, i, 1);
        k.accounts = col_u64(r, i, 2);
        k.balance = col_i64(r, i, 3);
        if (fn(&k, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_transfers_range(offpay__store *s, int64_t after,
                                    int64_t upto, uint32_t until, size_t max,
                                    void (*fn)(const offpay__digest_row *row,
                                               void                     *ctx),
                                    void *ctx, size_t *n, int64_t *last)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_i64(&p, after);
    p_i64(&p, upto);
    p_i64(&p, (int64_t)max);
    rc = run_sql(s, offpay__transfers_range_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        offpay__digest_row x;

        memset(&x, 0, sizeof x);
        x.id = col_i64(r, i, 0);
        x.debit = col_u64(r, i, 1);
        x.credit = col_u64(r, i, 2);
        x.amount = col_i64(r, i, 3);
        x.kind = PQgetvalue(r, i, 4);
        x.kind_len = (size_t)PQgetlength(r, i, 4);
        x.presentment = col_u64(r, i, 5);
        x.case_id = col_u64(r, i, 6);
        if (!PQgetisnull(r, i, 7)) {
            x.ref = PQgetvalue(r, i, 7);
            x.ref_len = (size_t)PQgetlength(r, i, 7);
        }
        x.at = col_i64(r, i, 8);
        x.debit_kind = col_i64(r, i, 9);
        x.debit_currency = col_i64(r, i, 10);
        x.credit_kind = col_i64(r, i, 11);
        x.credit_currency = col_i64(r, i, 12);
        *last = x.id;
        (*n)++;
        if (x.at <= (int64_t)until)
            fn(&x, ctx);
    }
    return rc;
}

static offpay_err s_sheet(offpay__store *s, uint32_t from, uint32_t to,
                          int (*fn)(const offpay__sheet_row *row, void *ctx),
                          void *ctx)
{
    params            p = {0};
    PGresult         *r = NULL;
    offpay__sheet_row x;
    offpay_err        rc;

    p_i64(&p, from);
    p_i64(&p, to);
    rc = run_sql(s, offpay__sheet_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        memset(&x, 0, sizeof x);
        x.currency = (uint16_t)col_i64(r, i, 0);
        x.from_kind = (int)col_i64(r, i, 1);
        x.to_kind = (int)col_i64(r, i, 2);
        col_text(r, i, 3, x.kind, sizeof x.kind);
        x.part = (int)col_i64(r, i, 4);
        x.count = col_u64(r, i, 5);
        x.amount = col_i64(r, i, 6);
        if (fn(&x, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err
s_settle_buckets(offpay__store *s, uint32_t from, uint32_t to, uint32_t width,
                 int (*fn)(const offpay_overview_bucket *b, void *ctx),
                 void *ctx)
{
    params                 p = {0};
    PGresult              *r = NULL;
    offpay_overview_bucket b;
    offpay_err             rc;

    p_i64(&p, from);
    p_i64(&p, to);
    p_i64(&p, width);
    rc = run_sql(s, SQL_SETTLE_BUCKETS, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        memset(&b, 0, sizeof b);
        b.start = col_u32(r, i, 0);
        b.currency = (uint16_t)col_i64(r, i, 1);
        b.outcome = (offpay_settle_outcome)col_i64(r, i, 2);
        b.count = col_u64(r, i, 3);
        b.charged = col_i64(r, i, 4);
        b.paid = col_i64(r, i, 5);
        b.covered = col_i64(r, i, 6);
        if (fn(&b, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_terminal_stats(offpay__store *s, size_t max,
                                   int (*fn)(const offpay_overview_terminal *t,
                                             void *ctx),
                                   void *ctx)
{
    params                   p = {0};
    PGresult                *r = NULL;
    offpay_overview_terminal t;
    offpay_err               rc;

    p_u64(&p, max);
    rc = run_sql(s, SQL_TERMINAL_STATS, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        memset(&t, 0, sizeof t);
        t.terminal_id = col_u32(r, i, 0);
        t.merchant_id = col_u64(r, i, 1);
        col_text(r, i, 2, t.merchant_name, sizeof t.merchant_name);
        t.currency = (uint16_t)col_i64(r, i, 3);
        t.created_at = col_u32(r, i, 4);
        t.revoked = !PQgetisnull(r, i, 5);
        t.revoked_at = col_u32(r, i, 5);
        t.presentments = col_u64(r, i, 6);
        t.last_upload = col_u32(r, i, 7);
        col_text(r, i, 8, t.revoke_reason, sizeof t.revoke_reason);
        report_cols(r, i, 9, &t.report);
        col_text(r, i, 15, t.label, sizeof t.label);
        if (fn(&t, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_revoked_list(offpay__store *s, size_t max,
                                 int (*fn)(const offpay_overview_revoked *r,
                                           void                          *ctx),
                                 void *ctx)
{
    params                  p = {0};
    PGresult               *res = NULL;
    offpay_overview_revoked v;
    offpay_err              rc;

    p_u64(&p, max);
    rc = run_sql(s, SQL_REVOKED_LIST, &p, &res);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(res); i++) {
        memset(&v, 0, sizeof v);
        v.serial = col_u64(res, i, 0);
        v.wallet_account = col_u64(res, i, 1);
        v.currency = (uint16_t)col_i64(res, i, 2);
        v.revoked_at = col_u32(res, i, 3);
        col_text(res, i, 4, v.reason, sizeof v.reason);
        v.remaining = col_i64(res, i, 5);
        v.released = !PQgetisnull(res, i, 6);
        if (fn(&v, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_terminal_report(offpay__store *s, uint32_t id,
                                    const offpay_terminal_report *rp)
{
    params    p = {0};
    PGresult *r = NULL;

    p_i64(&p, id);
    p_i64(&p, rp->reported_at);
    p_i64(&p, rp->synced_at);
    p_u64(&p, rp->pending);
    if (rp->state_known) {
        p_text(&p, rp->state);
        p_i64(&p, rp->lists_at);
        p_i64(&p, rp->pending_amount);
    } else { /* an older terminal's: NULL, said nothing */
        p_text(&p, NULL);
        p_text(&p, NULL);
        p_text(&p, NULL);
    }
    return run_sql(s, SQL_TERMINAL_REPORT, &p, &r);
}

/* ---- shards (src/settle/settle_int.h, docs/scaling.md) --------------- */

/* sql with n text parameters (NULL: SQL NULL), outside the prepared set;
 * *res (may be NULL) is the caller's to PQclear. */
static offpay_err shard_q(offpay__store *s, const char *sql, int n,
                          const char *const *v, PGresult **res)
{
    PGresult  *r = PQexecParams(s->db, sql, n, NULL, v, NULL, NULL, 0);
    offpay_err rc = map_result(r);

    if (rc != OFFPAY_OK || res == NULL)
        PQclear(r);
    else
        *res = r;
    return rc;
}

offpay_err offpay__pg_shard_range(offpay__store *s, uint64_t first,
                                  uint64_t last, int bind)
{
    /* the ids a shard assigns itself; the directory's (terminals, the
     * revocation list's seq) come from shard 0 alone */
    static const char fmt[] =
        "DO $do$ DECLARE t text[]; q text; lv bigint; called boolean;"
        " mn bigint; mx bigint; BEGIN"
        " PERFORM pg_advisory_xact_lock(7430717);"
        " FOREACH t SLICE 1 IN ARRAY ARRAY[['accounts','id'],"
        "['transfers','id'],['credentials','serial'],['merchants','id'],"
        "['payments','id'],['presentments','id'],['cases','id'],"
        "['receipts','id']] LOOP"
        " q := pg_get_serial_sequence(t[1], t[2]);"
        " EXECUTE format('SELECT last_value, is_called FROM %%s', q)"
        " INTO lv, called;"
        " SELECT seqmin, seqmax INTO mn, mx FROM pg_sequence"
        " WHERE seqrelid = q::regclass;"
        " IF mn = %llu AND mx = %llu THEN CONTINUE; END IF;"
        " IF called AND (lv < %llu OR lv > %llu) THEN RAISE EXCEPTION"
        " 'its %% reached id %%, outside this shard''s range', t[1], lv"
        " USING ERRCODE = 'OPSHR';"
        " END IF;"
        " IF %s THEN"
        " IF called THEN EXECUTE format('ALTER SEQUENCE %%s MINVALUE %llu"
        " MAXVALUE %llu START WITH %llu', q);"
        " ELSE EXECUTE format('ALTER SEQUENCE %%s MINVALUE %llu"
        " MAXVALUE %llu START WITH %llu RESTART WITH %llu', q);"
        " END IF; END IF; END LOOP; END $do$";
    char               sql[sizeof fmt + 12 * 20];
    unsigned long long f = first, l = last;
    PGresult          *r;
    const char        *state;
    offpay_err         rc;

    if (s == NULL || first < 1 || first > last || last > (uint64_t)INT64_MAX)
        return OFFPAY_EINVAL;
    snprintf(sql, sizeof sql, fmt, f, l, f, l, bind ? "true" : "false", f,
             l, f, f, l, f, f);
    r = PQexec(s->db, sql);
    rc = map_result(r) == OFFPAY_OK ? OFFPAY_OK : OFFPAY_ESTORE;
    state = rc != OFFPAY_OK ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL && strcmp(state, "OPSHR") == 0) {
        /* the database is another shard's (or a ledger's of its own) */
        offpay__log("offpay: PostgreSQL: %s\n",
                    PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
        rc = OFFPAY_ESHARD_MAP;
    }
    PQclear(r);
    return rc;
}

/* The lock every open of a sharded ledger holds on shard 0's database
 * while it checks and records the shard map: a session advisory lock on
 * a connection of its own (no schema needed). */
#define SHARD_MAP_LOCK "7430718"

offpay_err offpay__pg_map_lock(const char *url, void **lock)
{
    offpay_err rc = OFFPAY_ESTORE;
    PGconn    *db = connect_or_say(url, &rc);
    PGresult  *r;

    *lock = NULL;
    if (db == NULL)
        return rc;
    r = PQexec(db, "SELECT pg_advisory_lock(" SHARD_MAP_LOCK ")");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        rc = OFFPAY_OK;
    PQclear(r);
    if (rc == OFFPAY_OK)
        *lock = db;
    else
        PQfinish(db);
    return rc;
}

void offpay__pg_map_unlock(void *lock)
{
    /* closing the session releases its advisory lock */
    if (lock != NULL)
        PQfinish(lock);
}

offpay_err offpay__pg_shard_map_get(offpay__store *s,
                                    uint64_t (*range)[2], size_t max,
                                    size_t *n, size_t *here)
{
    PGresult  *r = NULL;
    offpay_err rc;

    if (s == NULL || range == NULL || n == NULL || here == NULL)
        return OFFPAY_EINVAL;
    *n = 0;
    *here = SIZE_MAX;
    rc = shard_q(s, "SELECT first, last, here FROM shard_map ORDER BY first",
                 0, NULL, &r);
    if (rc == OFFPAY_OK && (size_t)PQntuples(r) > max)
        rc = OFFPAY_ETOOBIG; /* only ever written from a map of <= max */
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        range[i][0] = col_u64(r, i, 0);
        range[i][1] = col_u64(r, i, 1);
        if (col_u64(r, i, 2) == 1)
            *here = (size_t)i;
        *n = (size_t)i + 1;
    }
    PQclear(r);
    return rc;
}

offpay_err offpay__pg_shard_map_put(offpay__store *s, const uint64_t (*range)[2],
                                    size_t n, size_t here)
{
    offpay_err rc;

    if (s == NULL || range == NULL || here >= n)
        return OFFPAY_EINVAL;
    rc = exec_sql(s, "BEGIN ISOLATION LEVEL READ COMMITTED");
    if (rc == OFFPAY_OK)
        rc = exec_sql(s, "DELETE FROM shard_map");
    for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
        char        a[24], b[24];
        const char *v[3] = {a, b, i == here ? "1" : "0"};

        snprintf(a, sizeof a, "%llu", (unsigned long long)range[i][0]);
        snprintf(b, sizeof b, "%llu", (unsigned long long)range[i][1]);
        rc = shard_q(s,
                     "INSERT INTO shard_map (first, last, here)"
                     " VALUES ($1::bigint, $2::bigint, $3::bigint)",
                     3, v, NULL);
    }
    if (rc == OFFPAY_OK)
        rc = exec_sql(s, "COMMIT");
    if (rc != OFFPAY_OK)
        (void)exec_sql(s, "ROLLBACK");
    return rc;
}

/* Copies every row of `sel` (run on from with n text parameters p, in a
 * snapshot) into `ins` (on to), column for column. */
static offpay_err copy_rows(offpay__store *from, offpay__store *to,
                            const char *sel, int n, const char *const *p,
                            const char *ins)
{
    PGresult  *r = NULL;
    offpay_err rc = shard_q(from, sel, n, p, &r);

    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        const char *v[MAX_PARAMS];
        int         nf = PQnfields(r);

        if (nf > MAX_PARAMS) {
            rc = OFFPAY_ESTORE;
            break;
        }
        for (int k = 0; k < nf; k++)
            v[k] = PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k);
        rc = shard_q(to, ins, nf, v, NULL);
    }
    PQclear(r);
    return rc;
}

/* What the directory holds, as one text compared between shard 0 and a
 * shard: counts, and last (after the last '/') a digest of every
 * terminal revocation with its time and reason, so that two shards
 * holding one terminal revoked at other times or for other reasons do
 * not compare equal (their counts do). */
static const char DIR_COUNT[] =
    "SELECT (SELECT count(*) FROM merchants) || '/' ||"
    " (SELECT count(*) FROM terminals) || '/' ||"
    " (SELECT count(*) FROM terminals WHERE revoked_at IS NOT NULL) || '/' ||"
    " (SELECT count(*) FROM terminals WHERE bytes IS NOT NULL) || '/' ||"
    " (SELECT count(*) FROM terminals WHERE retired IS NOT NULL) || '/' ||"
    " (SELECT count(*) FROM terminals WHERE sums_carried = 1) || '/' ||"
    " (SELECT count(*) FROM terminals WHERE revoke_reason IS NOT NULL)"
    " || '/' || (SELECT coalesce(encode(sha256(convert_to(string_agg(id"
    " || ' ' || revoked_at || ' ' || quote_nullable(revoke_reason), ','"
    " ORDER BY id), 'UTF8')), 'hex'), '') FROM terminals"
    " WHERE revoked_at IS NOT NULL)";

/* 1 when two DIR_COUNT texts differ in their revocations' digest. */
static int revocations_differ(const char *a, const char *b)
{
    const char *x = strrchr(a, '/'), *y = strrchr(b, '/');

    return x == NULL || y == NULL || strcmp(x, y) != 0;
}

/* The directory's rows: what the copy selects on shard 0 (with "WHERE"
 * and the delta's condition appended, or nothing for every row) and how
 * it writes them on a shard. Merchants and their accounts never change;
 * a terminal's credential is set once (COALESCE), and sums_carried (018)
 * with its rotation, once from 0 to 1 (GREATEST). Its revocation is the
 * first one (settlement.md §11, rule 4): the earlier time of the two
 * (LEAST), with its reason (021); for one time, the directory's; a
 * reason where there was none (a revocation made before 0.18.0). A shard
 * whose revocation is the earlier keeps it: the directory takes it
 * (offpay__pg_terminal_revocations_finish) and copies it back. */
static const char *const DIR_SEL[3] = {
    "SELECT a.id, a.kind, a.currency, a.ref, a.created_at FROM merchants"
    " m JOIN accounts a ON a.id = m.account",
    "SELECT id, account, name, currency, created_at FROM merchants m",
    "SELECT id, merchant, pk, bytes, created_at, revoked_at, retired,"
    " rotated_to, sums_carried, revoke_reason FROM terminals"};
static const char *const DIR_INS[3] = {
    "INSERT INTO accounts (id, kind, currency, ref, created_at) VALUES"
    " ($1::bigint, $2::bigint, $3::bigint, $4, $5::bigint)"
    " ON CONFLICT (id) DO NOTHING",
    "INSERT INTO merchants (id, account, name, currency, created_at)"
    " VALUES ($1::bigint, $2::bigint, $3, $4::bigint, $5::bigint)"
    " ON CONFLICT (id) DO NOTHING",
    "INSERT INTO terminals (id, merchant, pk, bytes, created_at,"
    " revoked_at, retired, rotated_to, sums_carried, revoke_reason) VALUES"
    " ($1::bigint, $2::bigint, $3::bytea, $4::bytea, $5::bigint, $6::bigint,"
    " $7::bigint, $8::bigint, $9::bigint, $10::text) ON CONFLICT (id) DO"
    " UPDATE SET bytes = COALESCE(terminals.bytes, EXCLUDED.bytes),"
    " revoked_at = LEAST(terminals.revoked_at, EXCLUDED.revoked_at),"
    " revoke_reason = CASE WHEN terminals.revoked_at IS NULL OR"
    " EXCLUDED.revoked_at <= terminals.revoked_at OR"
    " terminals.revoke_reason IS NULL THEN COALESCE(EXCLUDED.revoke_reason,"
    " terminals.revoke_reason) ELSE terminals.revoke_reason END,"
    " retired = COALESCE(terminals.retired, EXCLUDED.retired),"
    " rotated_to = COALESCE(terminals.rotated_to, EXCLUDED.rotated_to),"
    " sums_carried = GREATEST(terminals.sums_carried,"
    " EXCLUDED.sums_carried)"};
/* The delta, from what the shard holds: merchants (and their accounts)
 * and terminals above its highest ids, terminals revoked on shard 0 but
 * not on the shard, and credentials the shard lacks. */
static const char *const DIR_DELTA[3] = {
    " WHERE m.id > $1::bigint ORDER BY m.id",
    " WHERE m.id > $1::bigint ORDER BY m.id",
    " WHERE id > $1::bigint OR (revoked_at IS NOT NULL AND"
    " NOT (id = ANY($2::bigint[]))) OR (bytes IS NOT NULL AND"
    " id = ANY($3::bigint[])) ORDER BY id"};
static const char DIR_HELD[] =
    "SELECT (SELECT coalesce(max(id), 0) FROM merchants),"
    " coalesce(max(id), 0),"
    " coalesce(array_agg(id) FILTER (WHERE revoked_at IS NOT NULL), '{}'),"
    " coalesce(array_agg(id) FILTER (WHERE bytes IS NULL), '{}')"
    " FROM terminals";

/* Copies the rows of the directory on `from` that `to` lacks, by the
 * delta (one look at what `to` holds), then checks the counts: a row the
 * delta missed (ids committed out of order by concurrent registrations,
 * so one below the shard's highest arrived late), or a revocation held
 * at another time or for another reason, makes it copy every row, as ON
 * CONFLICT leaves the rows already there or makes their revocation the
 * first. *differ: whether `to`'s revocations still differ after that
 * (one of them came first: the directory is to take it). */
static offpay_err dir_copy_in_tx(offpay__store *from, offpay__store *to,
                                 const char *from_count, int *differ)
{
    PGresult  *h = NULL, *b = NULL, *c = NULL;
    offpay_err rc = shard_q(to, DIR_HELD, 0, NULL, &h);
    char       sql[512];

    for (int k = 0; rc == OFFPAY_OK && k < 3; k++) {
        const char *p[4];

        for (int i = 0; i < 4; i++)
            p[i] = PQgetvalue(h, 0, i);
        snprintf(sql, sizeof sql, "%s%s", DIR_SEL[k], DIR_DELTA[k]);
        rc = copy_rows(from, to, sql, k < 2 ? 1 : 3, k < 2 ? p : p + 1,
                       DIR_INS[k]);
    }
    if (rc == OFFPAY_OK)
        rc = shard_q(to, DIR_COUNT, 0, NULL, &b);
    if (rc == OFFPAY_OK && strcmp(PQgetvalue(b, 0, 0), from_count) != 0) {
        for (int k = 0; rc == OFFPAY_OK && k < 3; k++) {
            snprintf(sql, sizeof sql, "%s ORDER BY %s", DIR_SEL[k],
                     k < 2 ? "m.id" : "id");
            rc = copy_rows(from, to, sql, 0, NULL, DIR_INS[k]);
        }
        if (rc == OFFPAY_OK)
            rc = shard_q(to, DIR_COUNT, 0, NULL, &c);
        if (rc == OFFPAY_OK)
            *differ = revocations_differ(PQgetvalue(c, 0, 0), from_count);
    }
    PQclear(h);
    PQclear(b);
    PQclear(c);
    return rc;
}

offpay_err offpay__pg_directory_copy(offpay__store *from, offpay__store *to,
                                     int *differ)
{
    offpay_err rc = OFFPAY_ERETRY;
    int        d = 0;

    if (differ != NULL)
        *differ = 0;
    if (from == NULL || to == NULL)
        return OFFPAY_EINVAL;
    for (int attempt = 0; attempt < 10 && rc == OFFPAY_ERETRY; attempt++) {
        PGresult *a = NULL, *b = NULL;
        int       same;

        rc = exec_sql(from, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        if (rc == OFFPAY_OK)
            rc = shard_q(from, DIR_COUNT, 0, NULL, &a);
        if (rc == OFFPAY_OK)
            rc = shard_q(to, DIR_COUNT, 0, NULL, &b);
        same = rc == OFFPAY_OK &&
               strcmp(PQgetvalue(a, 0, 0), PQgetvalue(b, 0, 0)) == 0;
        PQclear(b);
        if (rc == OFFPAY_OK && !same) {
            d = 0;
            rc = exec_sql(to, "BEGIN ISOLATION LEVEL READ COMMITTED");
            if (rc == OFFPAY_OK)
                rc = dir_copy_in_tx(from, to, PQgetvalue(a, 0, 0), &d);
            if (rc == OFFPAY_OK)
                rc = exec_sql(to, "COMMIT");
            if (rc != OFFPAY_OK)
                (void)exec_sql(to, "ROLLBACK");
        }
        PQclear(a);
        (void)exec_sql(from, rc == OFFPAY_OK ? "COMMIT" : "ROLLBACK");
    }
    if (rc == OFFPAY_OK && differ != NULL)
        *differ = d;
    return rc == OFFPAY_ERETRY ? OFFPAY_ESTORE : rc;
}

offpay_err offpay__pg_revocations_publish(offpay__store *from,
                                          offpay__store *to, uint64_t *seq)
{
    char        after[24];
    const char *v[1] = {after};
    PGresult   *r = NULL;
    json_t     *rows = NULL;
    char       *text = NULL;
    uint64_t    top = 0;
    offpay_err  rc;

    if (from == NULL || to == NULL || seq == NULL)
        return OFFPAY_EINVAL;
    snprintf(after, sizeof after, "%llu", (unsigned long long)*seq);
    /* shard from's seq follows its commit order (S_REVOCATION_LOCK) */
    rc = shard_q(from,
                 "SELECT serial, reason, at, seq, expires FROM revocations"
                 " WHERE seq > $1::bigint ORDER BY seq",
                 1, v, &r);
    if (rc != OFFPAY_OK || PQntuples(r) == 0)
        goto out;
    /* every new revocation in one statement (a JSON array), not a round
     * trip each: at start-up a handle publishes all of them */
    rows = json_array();
    for (int i = 0; rows != NULL && i < PQntuples(r); i++)
        if (json_array_append_new(
                rows,
                json_pack("{s:s, s:s, s:s, s:s?}", "serial",
                          PQgetvalue(r, i, 0), "reason", PQgetvalue(r, i, 1),
                          "at", PQgetvalue(r, i, 2), "expires",
                          PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4))) !=
            0) {
            json_decref(rows);
            rows = NULL;
        }
    text = rows != NULL ? json_dumps(rows, JSON_COMPACT) : NULL;
    if (text == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    top = col_u64(r, PQntuples(r) - 1, 3);
    rc = exec_sql(to, "BEGIN ISOLATION LEVEL READ COMMITTED");
    if (rc == OFFPAY_OK)
        rc = run(to, S_REVOCATION_LOCK, NULL, NULL);
    if (rc == OFFPAY_OK) {
        const char *w[1] = {text};

        rc = shard_q(to,
                     "INSERT INTO revocations (serial, reason, at, expires)"
                     " SELECT (j->>'serial')::bigint, j->>'reason',"
                     " (j->>'at')::bigint, (j->>'expires')::bigint"
                     " FROM jsonb_array_elements($1::jsonb)"
                     " AS j ON CONFLICT (serial) DO NOTHING",
                     1, w, NULL);
    }
    if (rc == OFFPAY_OK)
        rc = exec_sql(to, "COMMIT");
    if (rc != OFFPAY_OK)
        (void)exec_sql(to, "ROLLBACK");
    else
        *seq = top;
out:
    offpay__json_free(text);
    json_decref(rows);
    PQclear(r);
    return rc;
}

offpay_err offpay__pg_terminal_revocations_finish(offpay__store *from,
                                                  offpay__store *to,
                                                  size_t        *finished,
                                                  size_t        *corrected)
{
    PGresult  *r = NULL, *w = NULL;
    offpay_err rc;

    *finished = 0;
    *corrected = 0;
    if (from == NULL || to == NULL)
        return OFFPAY_EINVAL;
    /* every terminal the shard holds revoked, as one JSON array: the
     * directory takes the first revocation (as DIR_INS gives it to a
     * shard): the shard's time, how and reason where it holds none; the
     * shard's time and reason where the shard's came earlier (the
     * directory's how kept when it has one, as rotated_to goes with it);
     * the shard's reason where it holds none (made before 0.18.0). o, the
     * row before, says which of the first two */
    rc = shard_q(from,
                 "SELECT COALESCE(json_agg(json_build_object('id', id, 'at',"
                 " revoked_at, 'how', retired, 'why', revoke_reason)), '[]')"
                 " FROM terminals WHERE revoked_at IS NOT NULL",
                 0, NULL, &r);
    if (rc == OFFPAY_OK && strcmp(PQgetvalue(r, 0, 0), "[]") != 0) {
        const char *v[1] = {PQgetvalue(r, 0, 0)};

        rc = shard_q(
            to,
            "UPDATE terminals t SET"
            " revoked_at = LEAST(t.revoked_at, (j->>'at')::bigint),"
            " retired = COALESCE(t.retired, (j->>'how')::bigint),"
            " revoke_reason = CASE WHEN t.revoked_at IS NULL OR"
            " (j->>'at')::bigint < t.revoked_at OR t.revoke_reason IS NULL"
            " THEN COALESCE(j->>'why', t.revoke_reason) ELSE t.revoke_reason"
            " END FROM jsonb_array_elements($1::jsonb) AS j, terminals o"
            " WHERE t.id = (j->>'id')::bigint AND o.id = t.id AND"
            " (t.revoked_at IS NULL OR (j->>'at')::bigint < t.revoked_at OR"
            " (t.revoke_reason IS NULL AND j->>'why' IS NOT NULL))"
            " RETURNING o.revoked_at IS NULL",
            1, v, &w);
        for (int i = 0; rc == OFFPAY_OK && i < PQntuples(w); i++)
            if (strcmp(PQgetvalue(w, i, 0), "t") == 0)
                ++*finished;
            else
                ++*corrected;
    }
    PQclear(w);
    PQclear(r);
    return rc;
}

offpay_err offpay__pg_wallets(offpay__store *s, uint64_t *n)
{
    PGresult  *r = NULL;
    offpay_err rc;

    if (s == NULL || n == NULL)
        return OFFPAY_EINVAL;
    rc =
        shard_q(s, "SELECT count(*) FROM accounts WHERE kind = 2", 0, NULL, &r);
    if (rc == OFFPAY_OK)
        *n = col_u64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* ---- the wallet's online life (src/settle/online.c) ------------------ */

static offpay_err s_enroll_add(offpay__store *s, const uint8_t hash[32],
                               uint16_t currency, const char *ref, uint32_t now,
                               uint32_t expires, uint64_t account,
                               const char *made_by)
{
    params    p = {0};
    PGresult *r = NULL;

    p_blob(&p, hash, 32);
    p_i64(&p, currency);
    p_i64(&p, now);
    p_i64(&p, expires);
    p_text(&p, ref);
    p_opt(&p, account);
    p_text(&p, made_by);
    return run_sql(s,
                   "INSERT INTO enrollments (code_hash, currency, created_at,"
                   " expires_at, ref, account, made_by) VALUES ($1::bytea,"
                   " $2::bigint, $3::bigint, $4::bigint, $5::text, $6::bigint,"
                   " $7::text)",
                   &p, &r);
}

static offpay_err s_enroll_void_by(offpay__store *s, const char *who,
                                   uint32_t now, uint64_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_text(&p, who);
    p_i64(&p, now);
    rc = run_sql(s,
                 "UPDATE enrollments SET expires_at = $2::bigint WHERE"
                 " lower(made_by) IN (lower($1::text),"
                 " lower($1::text || ' (offpay admin)')) AND used_at IS NULL"
                 " AND expires_at > $2::bigint",
                 &p, &r);
    *n = rc == OFFPAY_OK ? strtoull(PQcmdTuples(r), NULL, 10) : 0;
    return rc;
}

static offpay_err s_enroll_void(offpay__store *s, uint64_t account,
                                uint32_t now)
{
    params    p = {0};
    PGresult *r = NULL;

    p_u64(&p, account);
    p_i64(&p, now);
    return run_sql(s,
                   "UPDATE enrollments SET expires_at = $2::bigint WHERE"
                   " account = $1::bigint AND used_at IS NULL AND expires_at"
                   " > $2::bigint",
                   &p, &r);
}

static offpay_err s_enroll_get(offpay__store *s, const uint8_t hash[32],
                               uint16_t *currency, uint32_t *expires,
                               uint32_t *used_at, uint64_t *account,
                               char ref[OFFPAY_LEDGER_REF_MAX + 1])
{
    params      p = {0};
    PGresult   *r = NULL;
    const char *text;
    offpay_err  rc;

    p_blob(&p, hash, 32);
    rc = run_sql_row(s,
                     "SELECT currency, expires_at, COALESCE(used_at, 0),"
                     " COALESCE(account, 0), COALESCE(ref, '') FROM"
                     " enrollments WHERE code_hash = $1::bytea",
                     &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    text = PQgetvalue(r, 0, 4);
    if (strlen(text) > OFFPAY_LEDGER_REF_MAX)
        return OFFPAY_ESTORE;
    *currency = (uint16_t)col_u32(r, 0, 0);
    *expires = col_u32(r, 0, 1);
    *used_at = col_u32(r, 0, 2);
    *account = col_u64(r, 0, 3);
    if (ref != NULL)
        strcpy(ref, text);
    return OFFPAY_OK;
}

static offpay_err s_enroll_use(offpay__store *s, const uint8_t hash[32],
                               uint64_t account, uint32_t now)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_blob(&p, hash, 32);
    p_u64(&p, account);
    p_i64(&p, now);
    rc = run_sql(s,
                 "UPDATE enrollments SET account = $2::bigint, used_at ="
                 " $3::bigint WHERE code_hash = $1::bytea AND used_at IS NULL",
                 &p, &r);
    if (rc == OFFPAY_OK && strcmp(PQcmdTuples(r), "1") != 0)
        rc = OFFPAY_EEXISTS;
    return rc;
}

static offpay_err s_wallet_key_add(offpay__store *s,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   uint64_t account, uint32_t now)
{
    params    p = {0};
    PGresult *r = NULL;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_u64(&p, account);
    p_i64(&p, now);
    return run_sql(s,
                   "INSERT INTO wallet_keys (pk, account, enrolled_at) VALUES"
                   " ($1::bytea, $2::bigint, $3::bigint)",
                   &p, &r);
}

static offpay_err s_wallet_key_get(offpay__store *s, const uint8_t *pk,
                                   uint64_t account, uint8_t *pk_out,
                                   uint64_t *account_out, uint32_t *enrolled_at,
                                   uint32_t *revoked_at)
{
    params     p = {0};
    PGresult  *r = NULL;
    uint8_t    key[OFFPAY_PK_BYTES];
    offpay_err rc;
    int        null = 0;

    if (pk != NULL) {
        p_blob(&p, pk, OFFPAY_PK_BYTES);
        rc = run_sql_row(s,
                         "SELECT pk, account, enrolled_at, COALESCE(revoked_at,"
                         " 0) FROM wallet_keys WHERE pk = $1::bytea",
                         &p, &r);
    } else {
        p_u64(&p, account);
        rc = run_sql_row(s,
                         "SELECT pk, account, enrolled_at, COALESCE(revoked_at,"
                         " 0) FROM wallet_keys WHERE account = $1::bigint"
                         " ORDER BY revoked_at IS NOT NULL, enrolled_at DESC"
                         " LIMIT 1",
                         &p, &r);
    }
    if (rc != OFFPAY_OK)
        return rc;
    if (col_blob(r, 0, 0, key, sizeof key, &null) != (long)sizeof key)
        return OFFPAY_ESTORE;
    if (pk_out != NULL)
        memcpy(pk_out, key, sizeof key);
    if (account_out != NULL)
        *account_out = col_u64(r, 0, 1);
    if (enrolled_at != NULL)
        *enrolled_at = col_u32(r, 0, 2);
    if (revoked_at != NULL)
        *revoked_at = col_u32(r, 0, 3);
    return OFFPAY_OK;
}

static offpay_err s_wallet_key_revoke(offpay__store *s,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      uint32_t       now)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_i64(&p, now);
    rc = run_sql(s,
                 "UPDATE wallet_keys SET revoked_at = $2::bigint WHERE pk ="
                 " $1::bytea AND revoked_at IS NULL",
                 &p, &r);
    if (rc == OFFPAY_OK && strcmp(PQcmdTuples(r), "1") != 0)
        rc = OFFPAY_EEXISTS;
    return rc;
}

/* A key's credentials as wallet_creds gives them: the columns, then FROM
 * what is chosen. */
#define WALLET_CREDS_COLS                                                      \
    "SELECT c.serial, c.wallet_account, c.escrow_account, c.lim,"              \
    " c.currency, c.valid_from, c.expires, c.remaining, c.released_at,"        \
    " c.revoked_at, c.bytes, GREATEST(c.wallet_counter, (SELECT"               \
    " COALESCE(MAX(p.counter), 0) FROM payments p WHERE p.serial ="            \
    " c.serial)), CASE WHEN c.released_at IS NULL THEN 0 ELSE (SELECT"         \
    " COALESCE(SUM(x.amount), 0) FROM transfers x WHERE x.debit ="             \
    " c.escrow_account AND x.kind = 'release') END FROM "

/* A page of them ($1 the key, $2 and $3 the serials between, $5 the
 * page's size): every one through credentials_wallet_pk, in serial
 * order; the open ones ($4: released at or after it) as the two ranges
 * of credentials_wallet_pk_released, the page chosen from their serials
 * before any row is read, then each row by its key (= ANY: joined, the
 * planner read the whole table for a key holding most of it; a key of
 * 10^4 credentials, 180 open: 5.7 ms, by key 1.0 ms). */
#define WALLET_PAGE_ALL(dir)                                                   \
    WALLET_CREDS_COLS                                                          \
    "credentials c WHERE c.wallet_pk = $1::bytea AND c.serial > $2::bigint"    \
    " AND c.serial < $3::bigint AND $4::bigint IS NOT NULL ORDER BY "          \
    "c.serial " dir " LIMIT $5::bigint"
#define WALLET_PAGE_OPEN(dir)                                                  \
    WALLET_CREDS_COLS                                                          \
    "credentials c WHERE c.serial = ANY (ARRAY(SELECT serial FROM"             \
    " credentials WHERE wallet_pk = $1::bytea AND released_at IS NULL AND"     \
    " serial > $2::bigint AND serial < $3::bigint UNION ALL SELECT serial"     \
    " FROM credentials WHERE wallet_pk = $1::bytea AND released_at >="         \
    " $4::bigint AND serial > $2::bigint AND serial < $3::bigint ORDER BY "    \
    "1 " dir " LIMIT $5::bigint)) ORDER BY c.serial " dir

/* The rows of r (a WALLET_CREDS_COLS query) to fn, until it returns
 * non-zero. */
static offpay_err
wallet_creds_rows(offpay__store *s, PGresult *r,
                  int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                            const uint8_t *bytes, size_t len, void *ctx),
                  void *ctx)
{
    offpay__cred_row c;
    long             n;
    int              null = 0;

    for (int i = 0; i < PQntuples(r); i++) {
        memset(&c, 0, sizeof c);
        c.serial = col_u64(r, i, 0);
        c.wallet_account = col_u64(r, i, 1);
        c.escrow_account = col_u64(r, i, 2);
        c.limit = col_i64(r, i, 3);
        c.currency = (uint16_t)col_u32(r, i, 4);
        c.valid_from = col_u32(r, i, 5);
        c.expires = col_u32(r, i, 6);
        c.remaining = col_i64(r, i, 7);
        c.released = !PQgetisnull(r, i, 8);
        c.released_at = col_u32(r, i, 8);
        c.revoked = !PQgetisnull(r, i, 9);
        c.revoked_at = col_u32(r, i, 9);
        c.released_amount = col_i64(r, i, 12);
        n = col_blob(r, i, 10, s->blob[0], sizeof s->blob[0], &null);
        if (n < 0)
            return OFFPAY_ESTORE;
        if (fn(&c, col_u32(r, i, 11), s->blob[0], (size_t)n, ctx) != 0)
            break;
    }
    return OFFPAY_OK;
}

static offpay_err
s_wallet_creds(offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
               int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                         const uint8_t *bytes, size_t len, void *ctx),
               void *ctx)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    rc = run_sql(s,
                 WALLET_CREDS_COLS "credentials c WHERE c.wallet_pk ="
                                   " $1::bytea ORDER BY c.serial",
                 &p, &r);
    if (rc == OFFPAY_OK)
        rc = wallet_creds_rows(s, r, fn, ctx);
    return rc;
}

static offpay_err
s_wallet_creds_page(offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
                    const offpay__creds_page *q,
                    int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                              const uint8_t *bytes, size_t len, void *ctx),
                    void *ctx)
{
    static const char *const sql[2][2] = {
        {WALLET_PAGE_ALL("ASC"), WALLET_PAGE_ALL("DESC")},
        {WALLET_PAGE_OPEN("ASC"), WALLET_PAGE_OPEN("DESC")}};
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_u64(&p, q->lo > INT64_MAX ? INT64_MAX : q->lo);
    p_u64(&p, q->hi > INT64_MAX ? INT64_MAX : q->hi);
    p_u64(&p, q->open_since);
    p_u64(&p, q->max > INT64_MAX ? INT64_MAX : q->max);
    rc = run_sql(s, sql[q->open_since != 0][q->newest != 0], &p, &r);
    if (rc == OFFPAY_OK)
        rc = wallet_creds_rows(s, r, fn, ctx);
    return rc;
}

/* (the open ones as the page reads them; every one from
 * credentials_wallet_pk alone, when asked) */
static offpay_err s_wallet_creds_count(offpay__store *s,
                                       const uint8_t  pk[OFFPAY_PK_BYTES],
                                       uint32_t open_since, uint64_t *open,
                                       uint64_t *total)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *open = 0;
    if (total != NULL)
        *total = 0;
    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_u64(&p, open_since);
    p_u64(&p, total != NULL);
    rc = run_sql_row(s,
                     "SELECT (SELECT count(*) FROM credentials WHERE"
                     " wallet_pk = $1::bytea AND released_at IS NULL) +"
                     " (SELECT count(*) FROM credentials WHERE wallet_pk ="
                     " $1::bytea AND released_at >= $2::bigint), CASE WHEN"
                     " $3::bigint <> 0 THEN (SELECT count(*) FROM credentials"
                     " WHERE wallet_pk = $1::bytea) ELSE 0 END",
                     &p, &r);
    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_ESTORE;
    if (rc == OFFPAY_OK) {
        *open = col_u64(r, 0, 0);
        if (total != NULL)
            *total = col_u64(r, 0, 1);
    }
    return rc;
}

/* (credentials_wallet_pk: the key's entries, each row read for its
 * revoked_at) */
static offpay_err s_key_revoked(offpay__store *s,
                                const uint8_t  pk[OFFPAY_PK_BYTES],
                                uint64_t after, uint64_t *serials, size_t max,
                                size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_blob(&p, pk, OFFPAY_PK_BYTES);
    p_u64(&p, after);
    p_i64(&p, (int64_t)max);
    rc = run_sql(s,
                 "SELECT serial FROM credentials WHERE wallet_pk = $1::bytea"
                 " AND serial > $2 AND revoked_at IS NOT NULL"
                 " ORDER BY serial LIMIT $3",
                 &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++)
        serials[(*n)++] = col_u64(r, i, 0);
    return rc;
}

static offpay_err s_cred_cut_expiry(offpay__store *s, uint64_t serial,
                                    uint32_t at)
{
    params    p = {0};
    PGresult *r = NULL;

    p_u64(&p, serial);
    p_i64(&p, at);
    return run_sql(s,
                   "UPDATE credentials SET expires = $2::bigint WHERE serial ="
                   " $1::bigint AND expires > $2::bigint",
                   &p, &r);
}

static offpay_err s_cred_counter_seen(offpay__store *s, uint64_t serial,
                                      uint32_t counter)
{
    params    p = {0};
    PGresult *r = NULL;

    p_u64(&p, serial);
    p_i64(&p, counter);
    return run_sql(s,
                   "UPDATE credentials SET wallet_counter = $2::bigint WHERE"
                   " serial = $1::bigint AND wallet_counter < $2::bigint",
                   &p, &r);
}

static offpay_err s_cred_restore_floor(offpay__store *s, uint64_t serial,
                                       uint32_t gap, uint64_t *floor)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    /* one UPDATE: a second unfreeze of the same credential waits for the
     * row and, under READ COMMITTED, raises the floor the first wrote */
    p_u64(&p, serial);
    p_i64(&p, gap);
    rc = run_sql_row(s,
                     "UPDATE credentials SET restore_floor = GREATEST("
                     "restore_floor + $2::bigint, GREATEST(wallet_counter,"
                     " (SELECT COALESCE(MAX(p.counter), 0) FROM payments p"
                     " WHERE p.serial = $1::bigint)) + 1 + $2::bigint) WHERE"
                     " serial = $1::bigint RETURNING restore_floor",
                     &p, &r);
    if (rc == OFFPAY_OK)
        *floor = col_u64(r, 0, 0);
    return rc;
}

/* FOR SHARE: allowances of one key do not wait for each other, a
 * revocation (an UPDATE of the row) waits for them, and they for it. */
static offpay_err s_wallet_key_lock(offpay__store *s,
                                    const uint8_t  pk[OFFPAY_PK_BYTES])
{
    params    p = {0};
    PGresult *r = NULL;

    p_blob(&p, pk, OFFPAY_PK_BYTES);
    return run_sql(
        s, "SELECT 1 FROM wallet_keys WHERE pk = $1::bytea FOR SHARE", &p, &r);
}

/* ---- requests made once (005_request_keys) ---------------------------- */

static offpay_err s_request_get(offpay__store *s, const char *key,
                                offpay__request *out)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_text(&p, key);
    rc = run_sql_row(s,
                     "SELECT op, account, amount, result, request"
                     " FROM request_keys WHERE request_key = $1::text",
                     &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    out->op = (int)col_u32(r, 0, 0);
    out->account = col_u64(r, 0, 1);
    out->amount = col_i64(r, 0, 2);
    out->result = col_u64(r, 0, 3);
    col_text(r, 0, 4, out->text, sizeof out->text);
    return OFFPAY_OK;
}

/* Two requests with one key at once: the second's INSERT waits for the
 * first's transaction and then fails on the unique key (EEXISTS, which
 * the ledger turns into a rerun); the rerun finds the first's row. */
static offpay_err s_request_add(offpay__store *s, const char *key,
                                const offpay__request *rq, uint32_t now)
{
    params    p = {0};
    PGresult *r = NULL;

    p_text(&p, key);
    p_i64(&p, rq->op);
    p_i64(&p, (int64_t)rq->account);
    p_i64(&p, rq->amount);
    p_i64(&p, (int64_t)rq->result);
    p_i64(&p, now);
    /* a merchant's name, a wallet account's ref (017_request_keys_made) */
    p_text(&p, rq->op == OFFPAY__REQ_MERCHANT || rq->op == OFFPAY__REQ_ACCOUNT
                   ? rq->text
                   : NULL);
    return run_sql(s,
                   "INSERT INTO request_keys (request_key, op, account, amount,"
                   " result, made_at, request) VALUES ($1::text, $2::bigint,"
                   " $3::bigint, $4::bigint, $5::bigint, $6::bigint,"
                   " $7::text)",
                   &p, &r);
}

/* ---- a terminal that revoked itself (006_terminal_retirement) -------- */

/* FOR UPDATE: a second rotation or decommission of the terminal, or the
 * operator's revocation, waits for the first's transaction, then reads
 * what it did (READ COMMITTED: each statement sees the latest commit). */
static offpay_err s_terminal_retired(offpay__store *s, uint32_t id, int *how,
                                     uint32_t *rotated_to)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_i64(&p, id);
    rc = run_sql_row(s,
                     "SELECT retired, rotated_to FROM terminals"
                     " WHERE id = $1::bigint FOR UPDATE",
                     &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    *how = (int)col_i64(r, 0, 0);
    *rotated_to = col_u32(r, 0, 1);
    return OFFPAY_OK;
}

/* An account's transfers, a page at a time: each side's index gives its
 * first max rows above the cursor in the period [$4, $5] (the time is
 * tested inside the limited subqueries, so a page of a period is full
 * whenever the period has that many more), and the two are merged (a
 * transfer never has one account on both sides). */
static const char SQL_TRANSFERS_OF[] =
    "SELECT t.id, t.at, t.kind, t.debit, t.amount, t.presentment,"
    " " OFFPAY__TRANSFER_CASE(
        "t") ", t.ref, a.id, a.kind,"
             " " OFFPAY__TRANSFER_SERIAL("t") ", " OFFPAY__TRANSFER_BY(
                 "t") " FROM"
                      " (SELECT id FROM (SELECT id FROM transfers WHERE debit "
                      "= $1::bigint"
                      " AND id > $2::bigint AND at BETWEEN $4::bigint AND "
                      "$5::bigint"
                      " ORDER BY id LIMIT $3::bigint) d"
                      " UNION ALL SELECT id FROM (SELECT id FROM transfers"
                      " WHERE credit = $1::bigint AND id > $2::bigint"
                      " AND at BETWEEN $4::bigint AND $5::bigint ORDER BY id"
                      " LIMIT $3::bigint) c) x"
                      " JOIN transfers t ON t.id = x.id"
                      " JOIN accounts a ON a.id = CASE WHEN t.debit = "
                      "$1::bigint"
                      " THEN t.credit ELSE t.debit END"
                      " LEFT JOIN presentments p ON p.id = t.presentment"
                      " ORDER BY t.id LIMIT $3::bigint";

/* One transfer of an account's history, from row i of SQL_TRANSFERS_OF or
 * offpay__period_moves_sql (id, at, kind, debit, amount, presentment,
 * case, ref, the other account and its kind, the credential's serial,
 * who booked it): its amount negative when it left the account. */
static offpay_err transfer_row(PGresult *r, int i, uint64_t account,
                               offpay_account_transfer *x)
{
    const char *kind = PQgetvalue(r, i, 2);
    const char *ref = PQgetisnull(r, i, 7) ? "" : PQgetvalue(r, i, 7);
    const char *by = PQgetisnull(r, i, 11) ? "" : PQgetvalue(r, i, 11);
    int64_t     amount = col_i64(r, i, 4);

    memset(x, 0, sizeof *x);
    x->id = col_u64(r, i, 0);
    x->at = col_u32(r, i, 1);
    x->amount = col_u64(r, i, 3) == account ? -amount : amount;
    x->presentment = col_u64(r, i, 5);
    x->case_id = col_u64(r, i, 6);
    x->other = col_u64(r, i, 8);
    x->other_kind = (offpay_account_kind)col_i64(r, i, 9);
    x->serial = col_u64(r, i, 10);
    if (strlen(kind) >= sizeof x->kind || strlen(ref) >= sizeof x->ref ||
        strlen(by) >= sizeof x->by)
        return OFFPAY_ESTORE;
    strcpy(x->kind, kind);
    strcpy(x->ref, ref);
    strcpy(x->by, by);
    return OFFPAY_OK;
}

static offpay_err s_transfers_of(offpay__store *s, uint64_t account,
                                 uint32_t from, uint32_t to, uint64_t after,
                                 size_t max, offpay_account_transfer *out,
                                 size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_u64(&p, account);
    p_u64(&p, after);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    p_i64(&p, from);
    p_i64(&p, to);
    rc = run_sql(s, SQL_TRANSFERS_OF, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++)
        if ((rc = transfer_row(r, i, account, &out[*n])) == OFFPAY_OK)
            (*n)++;
    return rc;
}

static offpay_err
s_account_period(offpay__store *s, uint64_t account, uint32_t from, uint32_t to,
                 int64_t sums[OFFPAY__PERIOD_SUMS],
                 int (*move)(const offpay_account_transfer *t, void *ctx),
                 void *ctx)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, account);
    p_i64(&p, from);
    p_i64(&p, to);
    rc = run_sql_row(s, offpay__period_sums_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < OFFPAY__PERIOD_SUMS; i++)
        sums[i] = col_i64(r, 0, i);
    if (rc != OFFPAY_OK || move == NULL)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    rc = run_sql(s, offpay__period_moves_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        offpay_account_transfer x;

        if ((rc = transfer_row(r, i, account, &x)) != OFFPAY_OK)
            break;
        if (move(&x, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_escrow_flows(offpay__store *s, uint64_t escrow,
                                 int64_t out[OFFPAY__ESCROW_FLOWS])
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, escrow);
    rc = run_sql_row(s, offpay__escrow_flows_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < OFFPAY__ESCROW_FLOWS; i++)
        out[i] = col_i64(r, 0, i);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_late_hold(offpay__store *s, uint64_t account,
                              uint32_t since, int64_t *held,
                              uint32_t *released_at)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, account);
    p_i64(&p, since);
    rc = run_sql_row(s, offpay__late_hold_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    *held = col_i64(r, 0, 0);
    *released_at = col_u32(r, 0, 1);
    return OFFPAY_OK;
}

/* The marks are exact only when no transfer id at or below a mark can
 * commit after it: each insert must draw its id from the sequence itself,
 * so the sequence must hand out one id at a time to every session (CACHE
 * 1, PostgreSQL's default; a cached sequence gives a session ids from its
 * own block, lower than ids others committed since). ESTORE, said on the
 * log, when it does not. */
static offpay_err marks_sequence_ok(offpay__store *s)
{
    PGresult  *r = PQexec(s->db, "SELECT seqcache FROM pg_sequence WHERE"
                                  " seqrelid = pg_get_serial_sequence("
                                  "'transfers', 'id')::regclass");
    offpay_err rc = map_result(r);

    if (rc == OFFPAY_OK &&
        (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "1") != 0)) {
        offpay__log("offpay: the transfers' id sequence caches %s ids a "
                    "session: marks would not be exact (an id drawn from a "
                    "session's cache can commit below a mark), so none is "
                    "made; give it CACHE 1 (ALTER SEQUENCE ... CACHE 1; "
                    "docs/settlement.md §10, \"Marks\")",
                    PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
        rc = OFFPAY_ESTORE;
    }
    PQclear(r);
    return rc;
}

/* The marking job's lock on transfers, waiting at most 100 ms for it
 * (OFFPAY_EBUSY, quietly: the job runs again later): while it waits,
 * every insert into transfers waits behind it, and VACUUM, ANALYZE or an
 * index built concurrently hold a lock it conflicts with for as long as
 * they run. SHARE ROW EXCLUSIVE waits for every transaction that wrote a
 * transfer to end and keeps the next out until this one ends (an id is
 * drawn from the sequence only once its insert holds ROW EXCLUSIVE, so
 * none lower than the highest read here can commit later), and keeps a
 * second marking job out (the mode conflicts with itself; SHARE would let
 * two write the same mark). JIT off: the mark's statement is costed as
 * big on a big table, and compiling it took longer than running it. */
static offpay_err marks_lock(offpay__store *s)
{
    PGresult   *r = PQexec(s->db, "SET LOCAL lock_timeout = '100ms';"
                                    " SET LOCAL jit = off;"
                                    " LOCK TABLE transfers IN SHARE ROW"
                                    " EXCLUSIVE MODE");
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    offpay_err  rc = state != NULL && strcmp(state, "55P03") == 0
                         ? OFFPAY_EBUSY /* lock_not_available */
                         : map_result(r);

    PQclear(r);
    return rc;
}

/* The marking job's step (store.h), under marks_lock. */
static offpay_err s_marks_advance(offpay__store *s, uint32_t now, uint64_t max,
                                  uint64_t *marked, int *more, uint64_t *lo,
                                  uint64_t *hi_out)
{
    params     p = {0};
    PGresult  *r = NULL;
    int64_t    last, prev_at, first, top, hi;
    offpay_err rc = marks_sequence_ok(s);

    if (rc == OFFPAY_OK)
        rc = marks_lock(s);

    *marked = 0;
    *more = 0;
    *lo = *hi_out = 0;
    if (rc == OFFPAY_OK)
        rc = run_sql_row(s, offpay__marks_last_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    last = col_i64(r, 0, 0);
    prev_at = col_i64(r, 0, 1);
    first = col_i64(r, 0, 2);
    top = col_i64(r, 0, 3);
    if (first == 0 || top <= last)
        return OFFPAY_OK;
    hi = (uint64_t)(top - first) >= max ? first + (int64_t)max - 1 : top;
    p_i64(&p, last);
    p_i64(&p, hi);
    rc = run_sql(s, offpay__balance_marks_put_sql, &p, &r);
    p_i64(&p, prev_at);
    p_i64(&p, now);
    if (rc == OFFPAY_OK)
        rc = run_sql(s, offpay__transfer_mark_put_sql, &p, &r);
    if (rc == OFFPAY_OK) {
        *marked = (uint64_t)(hi - first + 1);
        *more = top > hi;
        *lo = (uint64_t)last;
        *hi_out = (uint64_t)hi;
    }
    return rc;
}

/* How far the marks go, and with drop every mark removed under the
 * marking job's lock (store.h), so that a job's transaction in flight
 * does not put back marks computed from the dropped ones. */
static offpay_err s_marks_state(offpay__store *s, int drop,
                                offpay_ledger_marks_info *out)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc = drop ? marks_lock(s) : OFFPAY_OK;

    if (rc == OFFPAY_OK)
        rc = run_sql_row(s, offpay__marks_state_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    out->transfer_marks = col_u64(r, 0, 0);
    out->balance_marks = col_u64(r, 0, 1);
    out->upto = col_u64(r, 0, 2);
    out->latest_at = col_u32(r, 0, 3);
    out->made_at = col_u32(r, 0, 4);
    out->max_id = col_u64(r, 0, 5);
    out->unmarked = col_u64(r, 0, 6);
    if (drop)
        rc = run_sql(s, offpay__balance_marks_drop_sql, &p, &r);
    if (drop && rc == OFFPAY_OK)
        rc = run_sql(s, offpay__transfer_marks_drop_sql, &p, &r);
    return rc;
}

/* The wallets' marks (store.h), in their own transaction, which takes
 * none of marks_lock's lock: writers of transfers go on meanwhile. */
static offpay_err s_wallet_marks(offpay__store *s, uint64_t lo, uint64_t hi)
{
    params    p = {0};
    PGresult *r = NULL;

    p_u64(&p, lo);
    p_u64(&p, hi);
    return run_sql(s, offpay__wallet_marks_put_sql, &p, &r);
}

static offpay_err s_refund_base(offpay__store *s, uint64_t presentment,
                                uint64_t replayed, offpay__refund_base *out)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_u64(&p, presentment);
    p_u64(&p, replayed);
    rc = run_sql_row(s, offpay__refund_base_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    out->serial = col_u64(r, 0, 0);
    out->terminal = col_u32(r, 0, 1);
    out->paid = col_i64(r, 0, 2);
    out->covered = col_i64(r, 0, 3);
    out->refunded = col_i64(r, 0, 4);
    out->guarantee_out = col_i64(r, 0, 5);
    out->first_to_guarantee = col_i64(r, 0, 6);
    return OFFPAY_OK;
}

static offpay_err s_cases_open(offpay__store *s, uint64_t *n, uint32_t *oldest)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    rc = run_sql_row(s, offpay__cases_open_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    *n = col_u64(r, 0, 0);
    *oldest = col_u32(r, 0, 1);
    return OFFPAY_OK;
}

static offpay_err s_terminal_label(offpay__store *s, uint32_t id,
                                   const char *label, uint32_t at, int *changed)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_i64(&p, id);
    if (label != NULL) {
        p_text(&p, label);
        p_i64(&p, at);
    }
    rc = run_sql(s,
                 label != NULL ? offpay__terminal_label_set_sql
                               : offpay__terminal_label_clear_sql,
                 &p, &r);
    *changed = rc == OFFPAY_OK && strtoull(PQcmdTuples(r), NULL, 10) > 0;
    return rc;
}

static offpay_err s_refusal_add(offpay__store *s, const offpay__refusal_row *r)
{
    params    p = {0};
    PGresult *res = NULL;

    p_i64(&p, r->r.terminal_id);
    p_u64(&p, r->r.serial);
    p_i64(&p, r->r.counter);
    p_blob(&p, r->code_hash, sizeof r->code_hash);
    p_i64(&p, r->r.charged);
    p_i64(&p, (int)r->r.reason);
    p_i64(&p, r->r.accepted_at);
    p_i64(&p, r->r.uploaded_at);
    return run_sql(s, offpay__refusal_add_sql, &p, &res);
}

static offpay_err s_refusals(offpay__store *s, uint64_t merchant, uint32_t from,
                             uint32_t to,
                             int (*fn)(const offpay_refusal *r, void *ctx),
                             void *ctx)
{
    params         p = {0};
    PGresult      *res = NULL;
    offpay_refusal f;
    offpay_err     rc;

    p_u64(&p, merchant);
    p_i64(&p, from);
    p_i64(&p, to);
    rc = run_sql(s, offpay__refusals_sql, &p, &res);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(res); i++) {
        memset(&f, 0, sizeof f);
        f.terminal_id = col_u32(res, i, 0);
        f.serial = col_u64(res, i, 1);
        f.counter = col_u32(res, i, 2);
        f.charged = col_i64(res, i, 3);
        f.reason = (offpay_err)col_i64(res, i, 4);
        f.accepted_at = col_u32(res, i, 5);
        f.uploaded_at = col_u32(res, i, 6);
        if (fn(&f, ctx) != 0)
            break;
    }
    return rc;
}

/* ---- what operators did (032_operator_actions) ---------------------- */

static offpay_err s_newest_action_at(offpay__store *s, uint32_t *at)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc = run_sql_row(s, offpay__newest_action_sql, &p, &r);

    if (rc == OFFPAY_OK)
        *at = col_u32(r, 0, 0);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_action_add(offpay__store                *s,
                               const offpay_operator_action *a)
{
    params    p = {0};
    PGresult *res = NULL;

    p_i64(&p, a->at);
    p_text(&p, a->who);
    p_text(&p, a->action);
    p_opt(&p, a->subject);
    p_text(&p, a->detail[0] != '\0' ? a->detail : NULL);
    return run_sql(s, offpay__action_add_sql, &p, &res);
}

static offpay_err
s_actions(offpay__store *s, const offpay_action_filter *f, uint32_t after_at,
          int64_t after_id, size_t                                     max,
          int (*fn)(const offpay_operator_action *a, void *ctx), void *ctx)
{
    int                    who = f->who != NULL && f->who[0] != '\0';
    params                 p = {0};
    PGresult              *res = NULL;
    offpay_operator_action a;
    offpay_err             rc;

    p_i64(&p, after_at);
    p_i64(&p, after_id);
    p_i64(&p, f->to != 0 ? f->to : UINT32_MAX);
    p_text(&p, f->action != NULL ? f->action : "");
    p_u64(&p, f->subject);
    if (who)
        p_text(&p, f->who);
    p_u64(&p, max);
    rc = run_sql(s, who ? offpay__actions_who_sql : offpay__actions_sql, &p,
                 &res);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(res); i++) {
        /* a text longer than the library writes (the table bounds
         * characters, not bytes): no row of its, refused whole */
        if ((size_t)PQgetlength(res, i, 2) >= sizeof a.who ||
            (size_t)PQgetlength(res, i, 3) >= sizeof a.action ||
            (size_t)PQgetlength(res, i, 5) >= sizeof a.detail)
            return OFFPAY_ESTORE;
        memset(&a, 0, sizeof a);
        a.id = col_u64(res, i, 0);
        a.at = col_u32(res, i, 1);
        col_text(res, i, 2, a.who, sizeof a.who);
        col_text(res, i, 3, a.action, sizeof a.action);
        a.subject = col_u64(res, i, 4);
        col_text(res, i, 5, a.detail, sizeof a.detail);
        if (fn(&a, ctx) != 0)
            break;
    }
    return rc;
}

static offpay_err s_terminal_label_carry(offpay__store *s, uint32_t from,
                                         uint32_t to, uint32_t at)
{
    params    p = {0};
    PGresult *r = NULL;

    p_i64(&p, to);
    p_i64(&p, at);
    p_i64(&p, from);
    return run_sql(s, offpay__terminal_label_carry_sql, &p, &r);
}

static offpay_err s_terminal_report_get(offpay__store *s, uint32_t id,
                                        offpay_terminal_report *out)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    p_i64(&p, id);
    rc = run_sql_row(s, offpay__terminal_report_get_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    report_cols(r, 0, 0, out);
    return OFFPAY_OK;
}

/* The rows of an offpay__owed_*_sql result into out[0 .. *n). */
static void owed_rows(PGresult *r, offpay__owed_row *out, size_t max, size_t *n)
{
    for (int i = 0; i < PQntuples(r) && *n < max; i++) {
        offpay__owed_row *o = &out[(*n)++];

        o->presentment = col_u64(r, i, 0);
        o->case_id = col_u64(r, i, 1);
        o->merchant_account = col_u64(r, i, 2);
        o->currency = (uint16_t)col_i64(r, i, 3);
        o->open = col_i64(r, i, 4);
        o->serial = col_u64(r, i, 5);
        o->merchant = col_u64(r, i, 6);
        o->uploaded_at = (uint32_t)col_i64(r, i, 7);
        o->charged = col_i64(r, i, 8);
    }
}

static offpay_err s_owed_open(offpay__store *s, uint16_t currency,
                              uint64_t after, offpay__owed_row *out, size_t max,
                              size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_i64(&p, currency);
    p_u64(&p, after);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    rc = run_sql(s, offpay__owed_open_sql, &p, &r);
    if (rc == OFFPAY_OK)
        owed_rows(r, out, max, n);
    return rc;
}

static offpay_err s_owed_at(offpay__store *s, uint16_t currency, uint32_t at,
                            uint64_t after, offpay__owed_row *out, size_t max,
                            size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_i64(&p, currency);
    p_i64(&p, at);
    p_u64(&p, after);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    rc = run_sql(s, offpay__owed_at_sql, &p, &r);
    if (rc == OFFPAY_OK)
        owed_rows(r, out, max, n);
    return rc;
}

static offpay_err s_merchants(offpay__store *s, uint64_t after, size_t max,
                              offpay_merchant_info *out, size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_u64(&p, after);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    rc = run_sql(s, offpay__merchants_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        offpay_merchant_info *m = &out[*n];
        const char           *name = PQgetvalue(r, i, 3);

        memset(m, 0, sizeof *m);
        m->id = col_u64(r, i, 0);
        m->account = col_u64(r, i, 1);
        m->currency = (uint16_t)col_i64(r, i, 2);
        m->created_at = col_u32(r, i, 4);
        m->terminals = col_u32(r, i, 5);
        m->terminals_active = col_u32(r, i, 6);
        m->balance = col_i64(r, i, 7);
        m->closed_at = col_u32(r, i, 8); /* NULL: 0, open */
        if (name[0] == '\0' || strlen(name) > OFFPAY_NAME_MAX)
            rc = OFFPAY_ESTORE;
        else {
            strcpy(m->name, name);
            (*n)++;
        }
    }
    return rc;
}

static offpay_err s_terminals(offpay__store *s, uint64_t merchant,
                              uint32_t after, size_t max,
                              offpay__terminal_list_row *out, size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    int        null;

    *n = 0;
    p_i64(&p, after);
    p_i64(&p, merchant != 0);
    p_u64(&p, merchant);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    rc = run_sql(s, offpay__terminals_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        offpay__terminal_list_row    *row = &out[*n];
        offpay_ledger_terminal_entry *e = &row->e;
        long                          cred;

        memset(row, 0, sizeof *row);
        e->terminal_id = col_u32(r, i, 0);
        e->merchant_id = col_u64(r, i, 1);
        col_text(r, i, 2, e->merchant_name, sizeof e->merchant_name);
        e->currency = (uint16_t)col_i64(r, i, 3);
        e->created_at = col_u32(r, i, 6);
        e->state = offpay__terminal_state(!PQgetisnull(r, i, 7),
                                          (int)col_i64(r, i, 8));
        e->revoked_at = col_u32(r, i, 7);
        if (e->state == OFFPAY_TERMINAL_ROTATED)
            e->rotated_to = col_u32(r, i, 9);
        col_text(r, i, 10, e->revoke_reason, sizeof e->revoke_reason);
        report_cols(r, i, 11, &e->report);
        col_text(r, i, 17, e->label, sizeof e->label);
        cred = col_blob(r, i, 5, row->cred, sizeof row->cred, &null);
        if (col_blob(r, i, 4, e->pk, OFFPAY_PK_BYTES, &null) !=
                OFFPAY_PK_BYTES ||
            cred < 0) {
            rc = OFFPAY_ESTORE;
            break;
        }
        row->cred_len = (size_t)cred;
        (*n)++;
    }
    return rc;
}

static offpay_err s_cred_kids(offpay__store *s, uint32_t now,
                              offpay__cred_kid_row *out, size_t max, size_t *n,
                              int *more)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    *more = 0;
    p_i64(&p, now);
    rc = run_sql(s, offpay__cred_kids_sql, &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        offpay__cred_kid_row *k = &out[*n];
        uint8_t               b[2];
        int                   null;

        if (*n == max) {
            *more = 1;
            break;
        }
        memset(k, 0, sizeof *k);
        switch (col_blob(r, i, 0, b, sizeof b, &null)) {
        case 0:
            if (!null) {
                rc = OFFPAY_ESTORE; /* a credential shorter than its kid */
                continue;
            }
            break;
        case 2:
            k->has_kid = 1;
            k->kid = (uint16_t)((b[0] << 8) | b[1]);
            break;
        default:
            rc = OFFPAY_ESTORE;
            continue;
        }
        k->n = col_u64(r, i, 1);
        k->live = col_u64(r, i, 2);
        k->expires = col_u32(r, i, 3);
        (*n)++;
    }
    return rc;
}

static offpay_err s_cred_bytes(offpay__store *s, uint64_t serial,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES])
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;
    int        null;
    long       len;

    p_u64(&p, serial);
    rc = run_sql_row(s, offpay__cred_bytes_sql, &p, &r);
    if (rc != OFFPAY_OK)
        return rc;
    len = col_blob(r, 0, 0, bytes, OFFPAY_WALLET_CRED_BYTES, &null);
    if (null)
        return OFFPAY_ENOTFOUND;
    return len == OFFPAY_WALLET_CRED_BYTES ? OFFPAY_OK : OFFPAY_ESTORE;
}

static offpay_err s_wallet_accounts(offpay__store *s, const char *ref,
                                    uint64_t after, size_t max,
                                    offpay_wallet_account_info *out,
                                    offpay__wallet_late *late, size_t *n)
{
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    *n = 0;
    p_u64(&p, after);
    if (ref != NULL)
        p_text(&p, ref);
    p_i64(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    rc = run_sql(s,
                 ref != NULL ? offpay__wallet_accounts_ref_sql
                             : offpay__wallet_accounts_sql,
                 &p, &r);
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r) && *n < max; i++) {
        offpay_wallet_account_info *a = &out[*n];
        const char                 *text = PQgetvalue(r, i, 2);

        memset(a, 0, sizeof *a);
        a->id = col_u64(r, i, 0);
        a->currency = (uint16_t)col_i64(r, i, 1);
        a->created_at = col_u32(r, i, 3);
        a->balance = col_i64(r, i, 4);
        a->credentials = col_u32(r, i, 5);
        a->credentials_active = col_u32(r, i, 6);
        a->lost_at = col_u32(r, i, 7);
        a->escrow_held = col_i64(r, i, 8);
        a->escrow_back = col_u32(r, i, 9);
        late[*n].released_at = col_u32(r, i, 10);
        late[*n].expires = col_u32(r, i, 11);
        if (strlen(text) > OFFPAY_LEDGER_REF_MAX)
            rc = OFFPAY_ESTORE;
        else {
            strcpy(a->ref, text);
            (*n)++;
        }
    }
    return rc;
}

/* ---- the ids' floor (012_id_floors) ---------------------------------- */

/* A read of the ledger's first table (its schema not newer than this
 * offpay's), on a connection taken up again if the server dropped it
 * while idle (begin_as). */
static offpay_err s_check(offpay__store *s)
{
    long       version = 0;
    offpay_err rc;

    if (offpay__store_schema_newer_seen() != 0)
        return OFFPAY_EVERSION;
    rc = begin_as(s, "SELECT MAX(version) FROM schema_version", &version);
    if (rc == OFFPAY_OK && version > (long)offpay__n_migrations)
        rc = offpay__store_schema_newer((unsigned long)version);
    return rc;
}

static offpay_err s_ids_skip(offpay__store *s, int terminal, uint64_t by,
                             uint64_t *next)
{
    /* the sequence moved: its next value (the one after its last, or its
     * start when none was taken) plus by, within its bounds (a shard's
     * range; a terminal id's 32 bits), else no row and nothing moved. It
     * stays marked used (setval's true): a sequence marked unused is one
     * the shard binding may restart at its range's first value. */
    static const char fmt[] =
        "SELECT setval(q, n - 1, true) + 1 FROM (SELECT q, coalesce("
        "pg_sequence_last_value(q) + 1, (SELECT seqstart FROM pg_sequence"
        " WHERE seqrelid = q)) + $1::bigint AS n, (SELECT least(seqmax, %s)"
        " FROM pg_sequence WHERE seqrelid = q) AS mx FROM (SELECT"
        " pg_get_serial_sequence('%s', '%s')::regclass AS q) a) b"
        " WHERE n <= mx";
    char       sql[sizeof fmt + 64];
    params     p = {0};
    PGresult  *r = NULL;
    offpay_err rc;

    if (by > (uint64_t)INT32_MAX * 4)
        return OFFPAY_ERANGE;
    if (terminal == OFFPAY__IDS_REVLIST) {
        p_u64(&p, by);
        rc = run_sql_row(s, REVLIST_SKIP_SQL("$1::bigint"), &p, &r);
        if (rc == OFFPAY_OK)
            *next = col_u64(r, 0, 0);
        if (rc == OFFPAY_OK && *next > OFFPAY__REVLIST_OFFSET_MAX)
            rc = OFFPAY_ERANGE; /* the transaction is rolled back */
        return rc;
    }
    snprintf(
        sql, sizeof sql, fmt, terminal ? "4294967295" : "9223372036854775807",
        terminal ? "terminals" : "credentials", terminal ? "id" : "serial");
    p_u64(&p, by);
    rc = run_sql_row(s, sql, &p, &r);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_ERANGE;
    if (rc == OFFPAY_OK)
        *next = col_u64(r, 0, 0);
    return rc;
}

/* ---- a ledger copied in from another backend (src/settle/copy.c) ---- */

/* 1 when name is one the schema would give (lower case letters, digits,
 * '_', within OFFPAY__COPY_NAME_MAX): names are put in SQL as they are. */
static int copy_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > OFFPAY__COPY_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return 0;
    return 1;
}

static offpay_err s_copy_tables(offpay__store *s, offpay__copy_table *out,
                                size_t max, size_t *n)
{
    /* one row per column, the table's first with its foreign keys' other
     * tables; the identity column is the id the store gives a new row */
    static const char sql[] =
        "SELECT c.table_name, c.column_name, c.is_identity = 'YES',"
        " c.ordinal_position = 1 AND EXISTS (SELECT 1 FROM pg_constraint f"
        "  WHERE f.contype = 'f' AND f.conrelid = ('\"' || c.table_name ||"
        "  '\"')::regclass AND f.confrelid <> f.conrelid),"
        " (SELECT string_agg(DISTINCT f.confrelid::regclass::text, ' ')"
        "  FROM pg_constraint f WHERE f.contype = 'f' AND f.conrelid = ('\"'"
        "  || c.table_name || '\"')::regclass AND f.confrelid <> f.conrelid)"
        " FROM information_schema.columns c JOIN information_schema.tables t"
        " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type ="
        " 'BASE TABLE' AND c.table_name <> 'schema_version'"
        " ORDER BY c.table_name, c.ordinal_position";
    PGresult           *r = PQexec(s->db, sql);
    offpay_err          rc = map_result(r);
    offpay__copy_table *t = NULL;

    *n = 0;
    for (int i = 0; rc == OFFPAY_OK && i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0), *col = PQgetvalue(r, i, 1);

        if (!copy_name_ok(name) || !copy_name_ok(col)) {
            offpay__log("offpay: PostgreSQL: the database holds a table or "
                        "column named '%s.%s', not one of the ledger's "
                        "schema\n",
                        name, col);
            rc = OFFPAY_ESTORE;
            break;
        }
        if (t == NULL || strcmp(t->name, name) != 0) {
            if (*n == max) {
                rc = OFFPAY_ETOOBIG;
                break;
            }
            t = &out[(*n)++];
            memset(t, 0, sizeof *t);
            snprintf(t->name, sizeof t->name, "%s", name);
        }
        if (t->n_cols == OFFPAY__COPY_COLS_MAX) {
            rc = OFFPAY_ETOOBIG;
            break;
        }
        snprintf(t->col[t->n_cols++], sizeof t->col[0], "%s", col);
        if (strcmp(PQgetvalue(r, i, 2), "t") == 0)
            snprintf(t->id, sizeof t->id, "%s", col);
        if (strcmp(PQgetvalue(r, i, 3), "t") == 0) {
            char *refs = PQgetvalue(r, i, 4), *save = NULL;
            char *ref = strtok_r(refs, " ", &save);

            for (; ref != NULL; ref = strtok_r(NULL, " ", &save)) {
                if (t->n_refs == OFFPAY__COPY_REFS_MAX) {
                    rc = OFFPAY_ETOOBIG;
                    break;
                }
                snprintf(t->ref[t->n_refs++], sizeof t->ref[0], "%s",
                         ref[0] == '"' ? ref + 1 : ref);
                t->ref[t->n_refs - 1][strcspn(t->ref[t->n_refs - 1], "\"")] =
                    '\0';
            }
        }
    }
    PQclear(r);
    return rc;
}

/* "SELECT cols FROM table" or "table (cols)" into buf. */
static offpay_err copy_cols_sql(char *buf, size_t cap, const char *head,
                                const char *table, const char *const *cols,
                                size_t n, int select)
{
    size_t at;

    if (n == 0 || n > OFFPAY__COPY_COLS_MAX || !copy_name_ok(table))
        return OFFPAY_EINVAL;
    at = (size_t)snprintf(buf, cap, "%s", head);
    if (!select)
        at += (size_t)snprintf(buf + at, cap - at, "\"%s\" (", table);
    for (size_t k = 0; k < n; k++) {
        if (!copy_name_ok(cols[k]))
            return OFFPAY_EINVAL;
        at += (size_t)snprintf(buf + at, cap - at, "%s\"%s\"",
                               k == 0 ? "" : ", ", cols[k]);
    }
    if (select)
        snprintf(buf + at, cap - at, " FROM \"%s\"", table);
    else
        snprintf(buf + at, cap - at, ") FROM STDIN");
    return OFFPAY_OK;
}

#define COPY_SQL_MAX                                                           \
    (OFFPAY__COPY_COLS_MAX * (OFFPAY__COPY_NAME_MAX + 4) +                     \
     OFFPAY__COPY_NAME_MAX + 64)

static uint64_t be_u64(const uint8_t *p, int len)
{
    uint64_t v = 0;

    for (int i = 0; i < len; i++)
        v = v << 8 | p[i];
    return v;
}

static offpay_err s_copy_rows(offpay__store *s, const char *table,
                              const char *const *cols, size_t n,
                              int (*fn)(const offpay__copy_value *v, void *ctx),
                              void *ctx)
{
    offpay__copy_value v[OFFPAY__COPY_COLS_MAX];
    char               sql[COPY_SQL_MAX];
    PGresult          *r;
    offpay_err         rc =
        copy_cols_sql(sql, sizeof sql, "SELECT ", table, cols, n, 1);
    int stopped = 0;

    if (rc != OFFPAY_OK)
        return rc;
    /* binary results, one row at a time: a table of any size in bounded
     * memory */
    if (!PQsendQueryParams(s->db, sql, 0, NULL, NULL, NULL, NULL, 1) ||
        !PQsetSingleRowMode(s->db))
        return OFFPAY_ESTORE;
    while ((r = PQgetResult(s->db)) != NULL) {
        if (PQresultStatus(r) == PGRES_SINGLE_TUPLE && rc == OFFPAY_OK &&
            !stopped) {
            for (size_t k = 0; k < n; k++) {
                const uint8_t *p = (const uint8_t *)PQgetvalue(r, 0, (int)k);
                int            len = PQgetlength(r, 0, (int)k);
                Oid            type = PQftype(r, (int)k);

                memset(&v[k], 0, sizeof v[k]);
                if (PQgetisnull(r, 0, (int)k)) {
                    v[k].type = OFFPAY__COPY_NULL;
                } else if ((type == 20 && len == 8) ||
                           (type == 23 && len == 4) ||
                           (type == 21 && len == 2)) { /* int8 int4 int2 */
                    uint64_t u = be_u64(p, len);

                    v[k].type = OFFPAY__COPY_INT;
                    v[k].i = len == 8   ? (int64_t)u
                             : len == 4 ? (int64_t)(int32_t)(uint32_t)u
                                        : (int64_t)(int16_t)(uint16_t)u;
                } else if (type == 25 || type == 1043) { /* text varchar */
                    v[k].type = OFFPAY__COPY_TEXT;
                    v[k].p = p;
                    v[k].len = (size_t)len;
                } else if (type == 17) { /* bytea */
                    v[k].type = OFFPAY__COPY_BLOB;
                    v[k].p = p;
                    v[k].len = (size_t)len;
                } else {
                    rc = OFFPAY_ESTORE; /* no column type of the schema's */
                }
            }
            if (rc == OFFPAY_OK && fn(v, ctx) != 0)
                stopped = 1; /* the rest is read and dropped */
        } else if (PQresultStatus(r) != PGRES_SINGLE_TUPLE &&
                   PQresultStatus(r) != PGRES_TUPLES_OK && rc == OFFPAY_OK) {
            rc = map_result(r);
            if (rc == OFFPAY_OK)
                rc = OFFPAY_ESTORE;
        }
        PQclear(r);
    }
    return rc;
}

/* Appends len bytes at p to *buf (of *cap, *at used), growing it. */
static int copy_put(char **buf, size_t *cap, size_t *at, const char *p,
                    size_t len)
{
    if (*at + len + 1 > *cap) {
        size_t want = (*at + len + 1) * 2;
        char  *grown = realloc(*buf, want);

        if (grown == NULL)
            return -1;
        *buf = grown;
        *cap = want;
    }
    memcpy(*buf + *at, p, len);
    *at += len;
    return 0;
}

/* One value in COPY's text format: \N for NULL, a text's backslash, tab,
 * newline and carriage return escaped, a byte string as bytea's hex form
 * (its backslash escaped). */
static int copy_value_put(char **buf, size_t *cap, size_t *at,
                          const offpay__copy_value *v)
{
    char num[24];

    switch (v->type) {
    case OFFPAY__COPY_NULL:
        return copy_put(buf, cap, at, "\\N", 2);
    case OFFPAY__COPY_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        return copy_put(buf, cap, at, num, strlen(num));
    case OFFPAY__COPY_TEXT:
        for (size_t i = 0; i < v->len; i++) {
            char        c = (char)v->p[i];
            const char *e = c == '\\'   ? "\\\\"
                            : c == '\t' ? "\\t"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                                        : NULL;

            if (c == '\0')
                return -2; /* PostgreSQL's text holds no NUL */
            if (e != NULL ? copy_put(buf, cap, at, e, 2) != 0
                          : copy_put(buf, cap, at, &c, 1) != 0)
                return -1;
        }
        return 0;
    case OFFPAY__COPY_BLOB:
        if (copy_put(buf, cap, at, "\\\\x", 3) != 0)
            return -1;
        for (size_t i = 0; i < v->len; i++) {
            char hex[3];

            snprintf(hex, sizeof hex, "%02x", v->p[i]);
            if (copy_put(buf, cap, at, hex, 2) != 0)
                return -1;
        }
        return 0;
    default:
        return -2;
    }
}

static offpay_err s_copy_write(offpay__store *s, const char *table,
                               const char *const *cols, size_t n,
                               const offpay__copy_value *rows, size_t n_rows)
{
    char       sql[COPY_SQL_MAX];
    char      *buf = NULL;
    size_t     cap = 0, at = 0;
    PGresult  *r;
    offpay_err rc = copy_cols_sql(sql, sizeof sql, "COPY ", table, cols, n, 0);
    int        put = 0;

    if (rc != OFFPAY_OK || n_rows == 0)
        return rc;
    for (size_t i = 0; put == 0 && i < n_rows; i++)
        for (size_t k = 0; put == 0 && k < n; k++) {
            put = copy_value_put(&buf, &cap, &at, &rows[i * n + k]);
            if (put == 0)
                put = copy_put(&buf, &cap, &at, k + 1 < n ? "\t" : "\n", 1);
        }
    if (put != 0) {
        free(buf);
        return put == -1 ? OFFPAY_ENOMEM : OFFPAY_EINVAL;
    }
    r = PQexec(s->db, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        rc = map_result(r);
        rc = rc == OFFPAY_OK ? OFFPAY_ESTORE : rc;
        PQclear(r);
        free(buf);
        return rc;
    }
    PQclear(r);
    if (PQputCopyData(s->db, buf, (int)at) != 1 ||
        PQputCopyEnd(s->db, NULL) != 1)
        rc = OFFPAY_ESTORE;
    while ((r = PQgetResult(s->db)) != NULL) {
        if (rc == OFFPAY_OK)
            rc = map_result(r);
        PQclear(r);
    }
    free(buf);
    return rc;
}

/* The sequence of table's id column, quoted for SQL, into seq. */
static offpay_err copy_sequence(offpay__store *s, const char *table,
                                const char *id, char *seq, size_t cap)
{
    const char *v[2] = {table, id};
    PGresult   *r = NULL;
    offpay_err  rc;

    if (!copy_name_ok(table) || !copy_name_ok(id))
        return OFFPAY_EINVAL;
    rc = shard_q(s,
                 "SELECT quote_ident(n.nspname) || '.' || quote_ident("
                 "c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid ="
                 " c.relnamespace WHERE c.oid = pg_get_serial_sequence("
                 "quote_ident($1), $2)::regclass",
                 2, v, &r);
    if (rc == OFFPAY_OK && PQntuples(r) != 1)
        rc = OFFPAY_ESTORE; /* no identity: not the ledger's schema */
    if (rc == OFFPAY_OK)
        snprintf(seq, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

static offpay_err s_next_id(offpay__store *s, const char *table, const char *id,
                            uint64_t *next)
{
    char       seq[2 * OFFPAY__COPY_NAME_MAX + 16], sql[sizeof seq + 96];
    PGresult  *r = NULL;
    offpay_err rc = copy_sequence(s, table, id, seq, sizeof seq);

    if (rc != OFFPAY_OK)
        return rc;
    /* what nextval would give: after the last, or the last itself when
     * none was taken since it was set */
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value"
             " END FROM %s",
             seq);
    rc = shard_q(s, sql, 0, NULL, &r);
    if (rc == OFFPAY_OK)
        *next = col_u64(r, 0, 0);
    PQclear(r);
    return rc;
}

static offpay_err s_next_id_set(offpay__store *s, const char *table,
                                const char *id, uint64_t next)
{
    char        seq[2 * OFFPAY__COPY_NAME_MAX + 16], last[24];
    const char *v[2] = {seq, last};
    offpay_err  rc;

    if (next <= 1 || next > (uint64_t)INT64_MAX)
        return next == 1 ? OFFPAY_OK : OFFPAY_EINVAL;
    rc = copy_sequence(s, table, id, seq, sizeof seq);
    /* marked used (setval's true), as ids_skip leaves it */
    snprintf(last, sizeof last, "%llu", (unsigned long long)(next - 1));
    if (rc == OFFPAY_OK)
        rc = shard_q(s, "SELECT setval($1::regclass, $2::bigint, true)", 2, v,
                     NULL);
    return rc;
}

/* A PostgreSQL ledger is never sealed: a copy only comes into it. */
static offpay_err s_seal(offpay__store *s, uint32_t now, const char *reason)
{
    (void)s;
    (void)now;
    (void)reason;
    return OFFPAY_EINVAL;
}
