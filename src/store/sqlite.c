/*
 * sqlite.c — the SQLite backend of the settlement store (src/settle/store.h),
 * the embedded default.
 *
 * One connection per store handle, WAL with synchronous=FULL (a COMMIT
 * returns once it is on disk), foreign keys on. Write transactions are
 * BEGIN IMMEDIATE: SQLite has one writer at a time, so a transaction
 * waits for the write lock while another process holds it, at most the
 * bound of store/lockwait.h (30 s by default, in all with its reruns;
 * said on the log past 2 s), then fails OFFPAY_EBUSY: a busy handler of
 * our own, not SQLite's timeout, so that the wait is bounded and said.
 * The settlement path's statements are prepared once at open; the rare
 * ones (an operator's look-ups, a wallet's online requests, request
 * keys) each time they run.
 *
 * Threads of one process that write the same file queue on a writer gate
 * (one mutex per file) before BEGIN IMMEDIATE: a waiting writer starts the
 * moment the previous one commits, instead of polling in SQLite's busy
 * handler, which sleeps 1, 2, 5, 10... ms between tries and left half of
 * offpayd's CPU idle under concurrent uploads. Other processes still meet
 * SQLite's own lock and that bound.
 *
 * Ids and serials are SQLite's signed 64-bit integers; the ledger assigns
 * them from 1 upwards, so they never reach the sign bit.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/dbcopy.h"
#include "core/deadline.h"
#include "core/log.h"
#include "core/oserr.h"
#include "core/message_int.h"
#include "offpay/offpay.h"
#include "settle/copy.h"
#include "settle/store.h"
#include "store/lockwait.h"
#include "store/migrations.h"

/* How long a writer waits at a time for the writer gate (behind this
 * process's other writers) before it reruns its transaction, and the
 * copy's seal for the write lock (s_seal). */
#define BUSY_TIMEOUT_MS 5000
/* WAL pages after which a commit is followed by a checkpoint (SQLite's
 * automatic checkpoint default). */
#define CHECKPOINT_PAGES 1000

enum {
    S_ACCOUNT_ADD,
    S_SINGLETON_GET,
    S_ACCOUNT_GET,
    S_BALANCE,
    S_TRANSFER_ADD,
    S_BOOKED_BY,
    S_MERCHANT_ADD,
    S_MERCHANT_GET,
    S_MERCHANT_CLOSE,
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
    S_COUNT
};

static const char *const SQL[S_COUNT] = {
    [S_ACCOUNT_ADD] = "INSERT INTO accounts (kind, currency, ref, created_at)"
                      " VALUES (?1, ?2, ?3, ?4)",
    /* kind IN (1, 5) is accounts_singleton's own condition: without it
     * the planner may not read that partial index and scans every account
     * (a wallet's and an escrow's for each credential) */
    [S_SINGLETON_GET] =
        "SELECT id FROM accounts WHERE kind = ?1 AND currency = ?2"
        " AND kind IN (1, 5)",
    [S_ACCOUNT_GET] = "SELECT kind, currency FROM accounts WHERE id = ?1",
    [S_BALANCE] = "SELECT " OFFPAY__BALANCE_SQL("?1"),
    [S_TRANSFER_ADD] =
        "INSERT INTO transfers (debit, credit, amount, kind, presentment,"
        " case_id, ref, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_BOOKED_BY] = "INSERT INTO booked_by (transfer, who) VALUES (?1, ?2)",
    [S_MERCHANT_ADD] = "INSERT INTO merchants (account, name, currency,"
                       " created_at) VALUES (?1, ?2, ?3, ?4)",
    [S_MERCHANT_GET] = "SELECT account, currency, name, closed_at FROM"
                       " merchants WHERE id = ?1",
    [S_MERCHANT_CLOSE] = "UPDATE merchants SET closed_at = ?2"
                         " WHERE id = ?1 AND closed_at IS NULL",
    [S_TERMINAL_BY_PK] = "SELECT id FROM terminals WHERE pk = ?1",
    /* the id and serial: the table's highest + 1, or the floor an
     * operator raised them to (012_id_floors, offpay_ledger_skip_ids) */
    [S_TERMINAL_ADD] =
        "INSERT INTO terminals (id, merchant, pk, created_at)"
        " VALUES (max(coalesce((SELECT max(id) FROM terminals), 0) + 1,"
        " coalesce((SELECT next FROM id_floors WHERE what = 'terminal'), 0)),"
        " ?1, ?2, ?3)",
    [S_TERMINAL_SET_CRED] = "UPDATE terminals SET bytes = ?2 WHERE id = ?1",
    [S_TERMINAL_GET] =
        "SELECT t.merchant, m.account, m.currency, t.revoked_at, t.pk,"
        " t.revoke_reason FROM terminals t JOIN merchants m"
        " ON m.id = t.merchant"
        " WHERE t.id = ?1",
    [S_TERMINAL_REVOKE] = "UPDATE terminals SET revoked_at = ?2, retired = ?3,"
                          " rotated_to = ?4, sums_carried = ?5,"
                          " revoke_reason = ?6 WHERE id = ?1"
                          " AND revoked_at IS NULL",
    [S_CRED_ADD] =
        "INSERT INTO credentials (serial, wallet_account, escrow_account,"
        " wallet_pk, lim, currency, valid_from, expires, flags, remaining)"
        " VALUES (max(coalesce((SELECT max(serial) FROM credentials), 0) + 1,"
        " coalesce((SELECT next FROM id_floors WHERE what = 'serial'), 0)),"
        " ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
    [S_CRED_SET_BYTES] = "UPDATE credentials SET bytes = ?2 WHERE serial = ?1",
    [S_CRED_GET] = OFFPAY__CRED_GET_SQL("?1"),
    [S_ESCROW_DEBIT] = "UPDATE credentials SET remaining = remaining - ?2"
                       " WHERE serial = ?1 AND remaining >= ?2",
    [S_ESCROW_CREDIT] = "UPDATE credentials SET remaining = remaining + ?2"
                        " WHERE serial = ?1",
    [S_CRED_RELEASE] = "UPDATE credentials SET released_at = ?2, remaining = 0"
                       " WHERE serial = ?1 AND released_at IS NULL",
    /* (expires, serial) order is the partial index's own (its rowid
     * follows expires): ordered by serial alone, SQLite chose to walk
     * every credential by its primary key */
    [S_CREDS_DUE] = "SELECT serial, expires FROM credentials"
                    " WHERE released_at IS NULL AND expires < ?1"
                    " AND (expires, serial) > (?2, ?3)"
                    " ORDER BY expires, serial LIMIT ?4",
    [S_CRED_REVOKE] =
        "UPDATE credentials SET revoked_at = ?2, revoke_reason = ?3"
        " WHERE serial = ?1 AND revoked_at IS NULL",
    /* with the credential's signed expiry: a lost wallet's report brings
     * the ledger's forward only after its revocation (online.c) */
    [S_REVOCATION_ADD] =
        "INSERT INTO revocations (serial, reason, at, expires)"
        " SELECT serial, ?2, ?3, expires FROM credentials WHERE serial = ?1",
    [S_PAYMENT_GET] = "SELECT id, code, authorized, charged FROM payments"
                      " WHERE serial = ?1 AND counter = ?2",
    [S_PAYMENT_ADD] =
        "INSERT INTO payments (serial, counter, code, authorized, charged,"
        " first_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_PAYMENT_CHARGE] =
        "UPDATE payments SET charged = charged + ?2 WHERE id = ?1",
    [S_PRESENTMENT_GET] =
        "SELECT id, payment, code_hash, code, charged, accepted_at,"
        " terminal_seq, uploaded_at, outcome, reason, paid, covered, case_id"
        " FROM presentments WHERE serial = ?1 AND counter = ?2"
        " AND terminal = ?3",
    [S_PRESENTMENT_ADD] =
        "INSERT INTO presentments (payment, serial, counter, terminal,"
        " code_hash, code, charged, accepted_at, terminal_seq, uploaded_at,"
        " outcome, reason, paid, covered, case_id) VALUES (?1, ?2, ?3, ?4,"
        " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [S_PRESENTMENT_CASE] = "UPDATE presentments SET case_id = ?2 WHERE id = ?1",
    /* over the terminal's lineage: the terminals it was rotated from
     * and to (016_terminal_lineage), through the rotations that carried
     * the old terminal's sums into the new one (018_terminal_sums_carried:
     * one made before 0.16.0 starts the sum again, as it did then) */
    [S_CHARGED_AT] =
        "WITH RECURSIVE up(id) AS (SELECT CAST(?2 AS BIGINT)"
        " UNION SELECT t.id FROM terminals t JOIN up ON t.rotated_to = up.id"
        " AND t.sums_carried = 1),"
        " down(id) AS (SELECT CAST(?2 AS BIGINT)"
        " UNION SELECT t.rotated_to FROM terminals t JOIN down"
        " ON t.id = down.id WHERE t.rotated_to IS NOT NULL"
        " AND t.sums_carried = 1)"
        " SELECT COALESCE(SUM(p.charged), 0) FROM presentments p"
        " WHERE p.serial = ?1 AND p.terminal IN"
        " (SELECT id FROM up UNION SELECT id FROM down)",
    [S_CASE_ADD] = "INSERT INTO cases (serial, kind, first, second, opened_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_CASE_COUNT] =
        "SELECT COUNT(*) FROM cases WHERE serial = ?1 AND kind = ?2",
    /* the lists' numbers: the revocations' plus the offset `offpay admin
     * skip-ids` raised (id_floors 'revlist', 012_id_floors); a delta reads
     * its range of seq (the primary key) and sorts it: +serial keeps
     * SQLite from walking the whole serial index for its order */
    [S_REVOCATIONS] =
        "SELECT serial FROM revocations WHERE seq >= ?1 - COALESCE((SELECT"
        " next FROM id_floors WHERE what = 'revlist'), 0)"
        " AND (expires IS NULL OR expires >= ?2) ORDER BY +serial",
    /* a full list: the live ones through revocations_expires (025), not
     * every revocation ever made */
    [S_REVOCATIONS_LIVE] = "SELECT serial FROM revocations"
                           " WHERE expires IS NULL OR expires >= ?1"
                           " ORDER BY +serial",
    [S_REVOCATION_MAX] =
        "SELECT COALESCE(MAX(seq), 0) + COALESCE((SELECT next FROM id_floors"
        " WHERE what = 'revlist'), 0) FROM revocations",
    [S_NONCE_TAKE] = "INSERT INTO request_nonces (pk, nonce, at)"
                     " VALUES (?1, ?2, ?3)",
    [S_NONCE_PRUNE] = "DELETE FROM request_nonces WHERE at < ?1",
    [S_MARK_GET] = OFFPAY__MARK_GET_SQL("?1"),
    [S_MARK_PUT] = OFFPAY__MARK_PUT_SQL("?1", "?2", "?3"),
    [S_NEWEST_TRANSFER] = OFFPAY__NEWEST_TRANSFER_SQL,
    [S_NEWEST_AFTER] = OFFPAY__NEWEST_AFTER_SQL("?1"),
    [S_STATEMENT] = OFFPAY__STATEMENT_SQL("?1", "?2", "?3"),
    [S_RECEIPT_GET] =
        "SELECT id, serial, counter, terminal, amount, made_at, uploaded_at,"
        " stood, presentment, checked, case_id FROM receipts WHERE hash = ?1",
    [S_RECEIPT_ADD] =
        "INSERT INTO receipts (hash, serial, counter, terminal, amount,"
        " made_at, bytes, uploaded_at, stood, presentment, checked, case_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [S_RECEIPTS_WAITING] =
        "SELECT id, amount FROM receipts WHERE serial = ?1 AND counter = ?2"
        " AND terminal = ?3 AND checked = 0 ORDER BY id LIMIT ?4",
    [S_RECEIPT_CHECKED] = "UPDATE receipts SET checked = 1, case_id = ?2"
                          " WHERE id = ?1 AND checked = 0",
    [S_CLAIM_GET] =
        "SELECT id, CASE WHEN terminal_seq >= 0 THEN COALESCE(claimed,"
        " charged) ELSE -1 END FROM presentments WHERE serial = ?1"
        " AND counter = ?2 AND terminal = ?3",
    [S_CLAIM_SET] = "UPDATE presentments SET terminal_seq = ?2, claimed = ?3"
                    " WHERE id = ?1 AND terminal_seq < 0",
    [S_WALLET_KNOWN] = "SELECT 1 FROM credentials WHERE wallet_pk = ?1 LIMIT 1",
    [S_PAYMENT_SUMMARY] =
        "SELECT COUNT(*), COALESCE(SUM(paid), 0), COALESCE(SUM(covered), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 2 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 3 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 4 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN outcome = 5 THEN 1 ELSE 0 END), 0),"
        " COALESCE((SELECT SUM(x.amount) FROM presentments q"
        "  JOIN transfers x ON x.presentment = q.id AND x.kind = 'refund'"
        "  JOIN accounts a ON a.id = x.credit AND a.kind <> 5"
        "  WHERE q.serial = ?1 AND q.counter = ?2), 0)"
        " FROM presentments WHERE serial = ?1 AND counter = ?2",
};

/* The writer gate of one database file, shared by the store handles of
 * this process that opened it (found by device and inode). */
struct gate {
    dev_t           dev;
    ino_t           ino;
    size_t          users;
    pthread_mutex_t mu;
    int             file_wait; /* its holder waits for another process's lock */
    struct gate    *next;
};

static pthread_mutex_t gates_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gate    *gates;

struct offpay__store {
    sqlite3      *db;
    sqlite3_stmt *st[S_COUNT];
    int           in_tx;
    struct gate  *gate;
    int           gate_held;
    int           wal_pages; /* in the WAL after this handle's last commit */
    int           moved_said; /* the file's move was logged (moved_away) */
    int           sealed_said; /* the seal was logged (schema_current) */
    sqlite3_stmt *version_st;  /* the schema's version and the seal
                                  (schema_current) */
};

/* ---- the writer gate ------------------------------------------------- */

/* Registered instead of SQLite's automatic checkpoint (a WAL hook
 * replaces it): notes the WAL's size for s_commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    offpay__store *s = arg;

    (void)db;
    (void)name;
    s->wal_pages = pages;
    return SQLITE_OK;
}

static struct gate *gate_get(const char *path)
{
    struct stat  sb;
    struct gate *g;

    if (stat(path, &sb) != 0)
        return NULL;
    pthread_mutex_lock(&gates_mu);
    for (g = gates; g != NULL; g = g->next)
        if (g->dev == sb.st_dev && g->ino == sb.st_ino)
            break;
    if (g == NULL && (g = calloc(1, sizeof *g)) != NULL) {
        g->dev = sb.st_dev;
        g->ino = sb.st_ino;
        pthread_mutex_init(&g->mu, NULL);
        g->next = gates;
        gates = g;
    }
    if (g != NULL)
        g->users++;
    pthread_mutex_unlock(&gates_mu);
    return g;
}

static void gate_put(struct gate *g)
{
    struct gate **pp;

    if (g == NULL)
        return;
    pthread_mutex_lock(&gates_mu);
    if (--g->users == 0) {
        for (pp = &gates; *pp != g; pp = &(*pp)->next)
            ;
        *pp = g->next;
        pthread_mutex_destroy(&g->mu);
        free(g);
    }
    pthread_mutex_unlock(&gates_mu);
}

/* Waits for the gate BUSY_TIMEOUT_MS at a time, a conflict to rerun,
 * never a hang; within what the transaction may still wait for the lock
 * (lockwait.h): the writer ahead that holds the gate may be waiting for
 * another process's lock itself, and past that time the transaction
 * fails OFFPAY_EBUSY, said as such (or as this process's own writers
 * holding it, when the one ahead waits for nobody). */
static offpay_err gate_enter(offpay__store *s)
{
    struct timespec until;
    long            left = offpay__lockwait_left_ms();
    long            wait = left < BUSY_TIMEOUT_MS ? left : BUSY_TIMEOUT_MS;

    if (s->gate == NULL || s->gate_held)
        return OFFPAY_OK;
    offpay__deadline(CLOCK_REALTIME, wait, &until);
    if (pthread_mutex_timedlock(&s->gate->mu, &until) != 0) {
        if (wait < left)
            return OFFPAY_ERETRY;
        offpay__lockwait_give_up(
            sqlite3_db_filename(s->db, "main"),
            !__atomic_load_n(&s->gate->file_wait, __ATOMIC_RELAXED));
        return OFFPAY_EBUSY;
    }
    s->gate_held = 1;
    return OFFPAY_OK;
}

/* SQLite's busy handler of a store's connection: waits for the file's
 * lock as offpay__lockwait_busy says (lockwait.h), noting on the gate held
 * that its holder waits for another process. */
static int db_busy(void *arg, int count);

static int store_busy(void *arg, int count)
{
    offpay__store *s = arg;

    if (s->gate_held)
        __atomic_store_n(&s->gate->file_wait, 1, __ATOMIC_RELAXED);
    return db_busy(s->db, count);
}

/* The same for a connection of its own (an unseal, a backup's read). */
static int db_busy(void *arg, int count)
{
    long ms = offpay__lockwait_busy(count, sqlite3_db_filename(arg, "main"));
    struct timespec ts;

    if (ms <= 0)
        return 0;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
    return 1;
}

static void gate_leave(offpay__store *s)
{
    if (s->gate_held) {
        s->gate_held = 0;
        pthread_mutex_unlock(&s->gate->mu);
    }
}

/* ---- helpers --------------------------------------------------------- */

/* SQLite's result codes as the store's: a lock not obtained is a
 * conflict to rerun (SQLITE_BUSY_SNAPSHOT: a read transaction's snapshot
 * too old to write), or OFFPAY_EBUSY when the busy handler gave up its
 * wait at the bound (lockwait.h); an I/O error (a write of the WAL or
 * its shared memory, a file not opened) by the system error under it, so
 * that a full disk is OFFPAY_ENOSPC and a read-only mount OFFPAY_EROFS
 * whatever SQLite was doing (offpay__errno_err); anything else is a store
 * failure. db: the connection rc came from. */
static offpay_err map(sqlite3 *db, int rc)
{
    offpay_err sys;

    switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        sys = offpay__errno_err(db != NULL ? sqlite3_system_errno(db) : 0);
        return sys == OFFPAY_EIO || sys == OFFPAY_ENOMEM ? OFFPAY_ESTORE : sys;
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return OFFPAY_OK;
    case SQLITE_BUSY:
        if (offpay__lockwait_gave_up() &&
            (db == NULL || sqlite3_extended_errcode(db) == SQLITE_BUSY))
            return OFFPAY_EBUSY;
        return OFFPAY_ERETRY;
    case SQLITE_LOCKED:
        return OFFPAY_ERETRY;
    case SQLITE_CONSTRAINT:
        return OFFPAY_EEXISTS;
    case SQLITE_FULL:
        return OFFPAY_ENOSPC;
    case SQLITE_READONLY: /* a read-only mount or file */
        return OFFPAY_EROFS;
    case SQLITE_PERM:
        return OFFPAY_EACCES;
    default:
        return OFFPAY_ESTORE;
    }
}

static sqlite3_stmt *stmt(offpay__store *s, int which)
{
    sqlite3_stmt *st = s->st[which];

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Runs a statement that returns no row. */
static offpay_err run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    return rc == SQLITE_DONE ? OFFPAY_OK : map(sqlite3_db_handle(st), rc);
}

/* Runs a statement expected to return one row: OFFPAY_OK with the row
 * current, OFFPAY_ENOTFOUND, or an error. */
static offpay_err row(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return OFFPAY_OK;
    return rc == SQLITE_DONE ? OFFPAY_ENOTFOUND
                             : map(sqlite3_db_handle(st), rc);
}

static offpay_err insert(offpay__store *s, sqlite3_stmt *st, uint64_t *id)
{
    offpay_err rc = run(st);

    if (rc == OFFPAY_OK && id != NULL)
        *id = (uint64_t)sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* An UPDATE that must change exactly one row, else `none`. */
static offpay_err update_one(offpay__store *s, sqlite3_stmt *st,
                             offpay_err none)
{
    offpay_err rc = run(st);

    if (rc == OFFPAY_OK && sqlite3_changes(s->db) != 1)
        rc = none;
    return rc;
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static void bind_text(sqlite3_stmt *st, int i, const char *t)
{
    if (t == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *b, size_t n)
{
    if (b == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_blob(st, i, b, (int)n, SQLITE_TRANSIENT);
}

static void bind_opt(sqlite3_stmt *st, int i, uint64_t v)
{
    if (v == 0)
        sqlite3_bind_null(st, i);
    else
        bind_u64(st, i, v);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    return (uint64_t)sqlite3_column_int64(st, i);
}

static uint32_t col_u32(sqlite3_stmt *st, int i)
{
    return (uint32_t)sqlite3_column_int64(st, i);
}

/* ---- transactions ---------------------------------------------------- */

/* OFFPAY_ELEDGER_MOVED when the ledger's file is no longer at the path it
 * was opened from (moved, deleted, replaced: SQLite's
 * SQLITE_FCNTL_HAS_MOVED, one stat), said once per handle on the log with
 * the path. The handle still reads and writes the file it holds open, so
 * a write would be committed into a file nobody will open again: lost at
 * the next start. A store in memory never moves. */
static offpay_err moved_away(offpay__store *s)
{
    int moved = 0;

    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) !=
            SQLITE_OK ||
        !moved)
        return OFFPAY_OK;
    if (!s->moved_said) {
        s->moved_said = 1;
        offpay__log("offpay: ledger %s was moved or deleted while it was "
                    "open: nothing is written to it; put it back (or restore "
                    "it) and restart",
                    sqlite3_db_filename(s->db, "main"));
    }
    return OFFPAY_ELEDGER_MOVED;
}

/* The line a sealed ledger's refusal logs (once per handle, or per
 * open): the file, why it was sealed, and what to do. */
static void sealed_log(const char *path, const char *reason)
{
    char into[OFFPAY__SEAL_REASON_MAX], at[64];

    /* the whole command: unseal needs the database it went to (or
     * --force), which the seal's reason names */
    if (offpay__seal_into(reason, into, sizeof into, at, sizeof at) != 0)
        snprintf(into, sizeof into, "URL");
    offpay__log("offpay: ledger %s is sealed: %s; nothing is written to it "
                "(ELEDGER_SEALED): run offpayd on the ledger it was copied "
                "into. The way back, only while nothing has settled there: "
                "'offpay admin unseal --db %s --into %s' (or --force; "
                "docs/operations.md)",
                path, reason, path, into);
}

/* OFFPAY_OK while the ledger's schema is the version this offpay knows
 * and the file is not sealed (020_ledger_sealed); OFFPAY_EVERSION from
 * the first time a newer one is seen (a newer offpay migrated the ledger
 * under this process: offpay__store_schema_newer); OFFPAY_ELEDGER_SEALED
 * while `offpay admin copy-ledger`'s seal is on it. Inside a transaction:
 * one read of a table of a row per migration and of the seal's table,
 * in the page cache. */
static offpay_err schema_current(offpay__store *s)
{
    sqlite3_int64 v = 0;
    int           rc, sealed = 0;

    if (offpay__store_schema_newer_seen() != 0)
        return OFFPAY_EVERSION;
    rc = sqlite3_step(s->version_st);
    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(s->version_st, 0);
        sealed = sqlite3_column_type(s->version_st, 1) != SQLITE_NULL;
        if (sealed && !s->sealed_said) {
            s->sealed_said = 1;
            sealed_log(sqlite3_db_filename(s->db, "main"),
                       (const char *)sqlite3_column_text(s->version_st, 1));
        } else if (!sealed && s->sealed_said) {
            s->sealed_said = 0;
            offpay__log("offpay: ledger %s is no longer sealed ('offpay "
                        "admin unseal'): it is written to again",
                        sqlite3_db_filename(s->db, "main"));
        }
    }
    sqlite3_reset(s->version_st);
    if (rc != SQLITE_ROW)
        return map(s->db, rc) == OFFPAY_OK ? OFFPAY_ESTORE : map(s->db, rc);
    if (v > (sqlite3_int64)offpay__n_migrations)
        return offpay__store_schema_newer((unsigned long)v);
    return sealed ? OFFPAY_ELEDGER_SEALED : OFFPAY_OK;
}

/* A write transaction: refused on a file moved away (moved_away), and on
 * a ledger a newer offpay migrated (schema_current). */
static offpay_err s_begin(offpay__store *s)
{
    offpay_err rc = gate_enter(s);

    if (rc != OFFPAY_OK)
        return rc;
    rc = moved_away(s);
    if (rc != OFFPAY_OK) {
        gate_leave(s);
        return rc;
    }
    rc = map(s->db, sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (s->gate != NULL)
        __atomic_store_n(&s->gate->file_wait, 0, __ATOMIC_RELAXED);
    if (rc == OFFPAY_OK)
        offpay__lockwait_got(1);
    if (rc == OFFPAY_OK) {
        rc = schema_current(s);
        if (rc != OFFPAY_OK)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc == OFFPAY_OK)
        s->in_tx = 1;
    else
        gate_leave(s);
    return rc;
}

/* A deferred transaction: readers share the database with the writer
 * (WAL) and see one snapshot. */
static offpay_err s_begin_read(offpay__store *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        s->in_tx = 1;
    return map(s->db, rc);
}

static offpay_err s_commit(offpay__store *s)
{
    int rc;

    for (int i = 0; i < S_COUNT; i++) /* rows some reads left open */
        sqlite3_reset(s->st[i]);
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);

    if (rc == SQLITE_OK) {
        s->in_tx = 0;
        gate_leave(s);
        /* SQLite's own checkpoint would run inside COMMIT, with the gate
         * held and every other writer of the process waiting; this one
         * runs after it, and PASSIVE never waits for a writer either */
        if (s->wal_pages >= CHECKPOINT_PAGES) {
            s->wal_pages = 0;
            sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                      NULL, NULL);
        }
        return OFFPAY_OK;
    }
    /* A COMMIT that failed leaves the transaction open (SQLITE_BUSY) or
     * rolled back; either way the caller rolls back and may rerun. */
    return map(s->db, rc);
}

static void s_rollback(offpay__store *s)
{
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_reset(s->st[i]);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = 0;
    gate_leave(s);
}

static void s_close(offpay__store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_finalize(s->version_st);
    sqlite3_close(s->db);
    gate_leave(s);
    gate_put(s->gate);
    free(s);
}

/* ---- accounts and transfers ------------------------------------------ */

static offpay_err s_account_add(offpay__store *s, offpay_account_kind kind,
                                uint16_t currency, const char *ref,
                                uint32_t now, uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_ACCOUNT_ADD);

    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_int(st, 2, currency);
    bind_text(st, 3, ref != NULL ? ref : "");
    sqlite3_bind_int64(st, 4, now);
    return insert(s, st, id);
}

static offpay_err s_account_singleton_find(offpay__store      *s,
                                           offpay_account_kind kind,
                                           uint16_t currency, uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_SINGLETON_GET);
    offpay_err    rc;

    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_int(st, 2, currency);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        *id = col_u64(st, 0);
        sqlite3_reset(st);
    }
    return rc;
}

static offpay_err s_account_singleton(offpay__store      *s,
                                      offpay_account_kind kind,
                                      uint16_t currency, uint32_t now,
                                      uint64_t *id)
{
    offpay_err rc = s_account_singleton_find(s, kind, currency, id);

    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    return s_account_add(s, kind, currency,
                         kind == OFFPAY_ACCOUNT_WORLD ? "world" : "guarantee",
                         now, id);
}

static offpay_err s_account_get(offpay__store *s, uint64_t id,
                                offpay_account_kind *kind, uint16_t *currency)
{
    sqlite3_stmt *st = stmt(s, S_ACCOUNT_GET);
    offpay_err    rc;

    bind_u64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        *kind = (offpay_account_kind)sqlite3_column_int(st, 0);
        *currency = (uint16_t)sqlite3_column_int(st, 1);
    }
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_balance(offpay__store *s, uint64_t id, int64_t *balance)
{
    sqlite3_stmt *st = stmt(s, S_BALANCE);
    offpay_err    rc;

    bind_u64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK)
        *balance = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_transfer_add(offpay__store *s, const offpay__transfer *t,
                                 uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_TRANSFER_ADD);

    bind_u64(st, 1, t->debit);
    bind_u64(st, 2, t->credit);
    sqlite3_bind_int64(st, 3, t->amount);
    bind_text(st, 4, t->kind);
    bind_opt(st, 5, t->presentment);
    bind_opt(st, 6, t->case_id);
    bind_text(st, 7, t->ref);
    sqlite3_bind_int64(st, 8, t->at);
    return insert(s, st, id);
}

static offpay_err s_booked_by(offpay__store *s, uint64_t transfer,
                              const char *who)
{
    sqlite3_stmt *st = stmt(s, S_BOOKED_BY);

    bind_u64(st, 1, transfer);
    bind_text(st, 2, who);
    return run(st);
}

/* ---- merchants and terminals ----------------------------------------- */

static offpay_err s_merchant_add(offpay__store *s, uint64_t account,
                                 const char *name, uint16_t currency,
                                 uint32_t now, uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_MERCHANT_ADD);

    bind_u64(st, 1, account);
    bind_text(st, 2, name);
    sqlite3_bind_int(st, 3, currency);
    sqlite3_bind_int64(st, 4, now);
    return insert(s, st, id);
}

static offpay_err s_merchant_get(offpay__store *s, uint64_t id,
                                 uint64_t *account, uint16_t *currency,
                                 char      name[OFFPAY_NAME_MAX + 1],
                                 uint32_t *closed_at)
{
    sqlite3_stmt *st = stmt(s, S_MERCHANT_GET);
    offpay_err    rc;

    bind_u64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        const unsigned char *n = sqlite3_column_text(st, 2);
        size_t               len = (size_t)sqlite3_column_bytes(st, 2);

        *account = col_u64(st, 0);
        *currency = (uint16_t)sqlite3_column_int(st, 1);
        if (closed_at != NULL)
            *closed_at = col_u32(st, 3); /* NULL: 0 */
        if (n == NULL || len == 0 || len > OFFPAY_NAME_MAX) {
            rc = OFFPAY_ESTORE;
        } else {
            memcpy(name, n, len);
            name[len] = '\0';
        }
    }
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_merchant_close(offpay__store *s, uint64_t id, uint32_t now)
{
    sqlite3_stmt *st = stmt(s, S_MERCHANT_CLOSE);

    bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    return run(st);
}

/* One writer at a time holds the file (BEGIN IMMEDIATE): nothing more to
 * lock. */
static offpay_err s_merchant_lock(offpay__store *s, uint64_t id)
{
    (void)s;
    (void)id;
    return OFFPAY_OK;
}

static offpay_err s_terminal_by_pk(offpay__store *s,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   uint32_t      *id)
{
    sqlite3_stmt *st = stmt(s, S_TERMINAL_BY_PK);
    offpay_err    rc;

    bind_blob(st, 1, pk, OFFPAY_PK_BYTES);
    rc = row(st);
    if (rc == OFFPAY_OK)
        *id = col_u32(st, 0);
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_terminal_add(offpay__store *s, uint64_t merchant,
                                 const uint8_t pk[OFFPAY_PK_BYTES],
                                 uint32_t now, uint32_t *id)
{
    sqlite3_stmt *st = stmt(s, S_TERMINAL_ADD);
    uint64_t      rowid = 0;
    offpay_err    rc;

    bind_u64(st, 1, merchant);
    bind_blob(st, 2, pk, OFFPAY_PK_BYTES);
    sqlite3_bind_int64(st, 3, now);
    rc = insert(s, st, &rowid);
    if (rc == OFFPAY_OK && rowid > UINT32_MAX)
        rc = OFFPAY_ERANGE;
    *id = (uint32_t)rowid;
    return rc;
}

static offpay_err s_terminal_set_cred(offpay__store *s, uint32_t id,
                                      const uint8_t *bytes, size_t len)
{
    sqlite3_stmt *st = stmt(s, S_TERMINAL_SET_CRED);

    sqlite3_bind_int64(st, 1, id);
    bind_blob(st, 2, bytes, len);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static void col_text(sqlite3_stmt *st, int i, char *buf, size_t cap);

static offpay_err s_terminal_get(offpay__store *s, uint32_t id,
                                 offpay__terminal_row *t)
{
    sqlite3_stmt *st = stmt(s, S_TERMINAL_GET);
    offpay_err    rc;

    sqlite3_bind_int64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        memset(t, 0, sizeof *t);
        t->id = id;
        t->merchant = col_u64(st, 0);
        t->merchant_account = col_u64(st, 1);
        t->currency = (uint16_t)sqlite3_column_int(st, 2);
        t->revoked = sqlite3_column_type(st, 3) != SQLITE_NULL;
        t->revoked_at = col_u32(st, 3);
        if (sqlite3_column_bytes(st, 4) != OFFPAY_PK_BYTES)
            rc = OFFPAY_ESTORE;
        else
            memcpy(t->pk, sqlite3_column_blob(st, 4), OFFPAY_PK_BYTES);
        col_text(st, 5, t->revoke_reason, sizeof t->revoke_reason);
    }
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_terminal_revoke(offpay__store *s, uint32_t id, uint32_t now,
                                    int how, uint32_t rotated_to,
                                    int sums_carried, const char *reason)
{
    sqlite3_stmt *st = stmt(s, S_TERMINAL_REVOKE);

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    bind_opt(st, 3, (uint64_t)how);
    bind_opt(st, 4, rotated_to);
    sqlite3_bind_int64(st, 5, sums_carried != 0);
    bind_text(st, 6, reason);
    return update_one(s, st, OFFPAY_EEXISTS);
}

/* ---- credentials and escrow ------------------------------------------ */

static offpay_err s_cred_add(offpay__store *s, const offpay__cred_row *c,
                             const uint8_t pk[OFFPAY_PK_BYTES], uint8_t flags,
                             uint64_t *serial)
{
    sqlite3_stmt *st = stmt(s, S_CRED_ADD);

    bind_u64(st, 1, c->wallet_account);
    bind_u64(st, 2, c->escrow_account);
    bind_blob(st, 3, pk, OFFPAY_PK_BYTES);
    sqlite3_bind_int64(st, 4, c->limit);
    sqlite3_bind_int(st, 5, c->currency);
    sqlite3_bind_int64(st, 6, c->valid_from);
    sqlite3_bind_int64(st, 7, c->expires);
    sqlite3_bind_int(st, 8, flags);
    return insert(s, st, serial);
}

static offpay_err s_cred_set_bytes(offpay__store *s, uint64_t serial,
                                   const uint8_t *bytes, size_t len)
{
    sqlite3_stmt *st = stmt(s, S_CRED_SET_BYTES);

    bind_u64(st, 1, serial);
    bind_blob(st, 2, bytes, len);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static offpay_err s_cred_get(offpay__store *s, uint64_t serial,
                             offpay__cred_row *c)
{
    sqlite3_stmt *st = stmt(s, S_CRED_GET);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        memset(c, 0, sizeof *c);
        c->serial = serial;
        c->wallet_account = col_u64(st, 0);
        c->escrow_account = col_u64(st, 1);
        c->limit = sqlite3_column_int64(st, 2);
        c->currency = (uint16_t)sqlite3_column_int(st, 3);
        c->valid_from = col_u32(st, 4);
        c->expires = col_u32(st, 5);
        c->remaining = sqlite3_column_int64(st, 6);
        c->released = sqlite3_column_type(st, 7) != SQLITE_NULL;
        c->released_at = col_u32(st, 7);
        c->revoked = sqlite3_column_type(st, 8) != SQLITE_NULL;
        c->revoked_at = col_u32(st, 8);
        if (sqlite3_column_bytes(st, 9) == OFFPAY_PK_BYTES)
            memcpy(c->wallet_pk, sqlite3_column_blob(st, 9), OFFPAY_PK_BYTES);
        else
            rc = OFFPAY_ESTORE;
        c->flags = (uint8_t)sqlite3_column_int(st, 10);
        c->revoked_for_case = sqlite3_column_int(st, 11) != 0;
    }
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_escrow_debit(offpay__store *s, uint64_t serial,
                                 int64_t amount)
{
    sqlite3_stmt *st = stmt(s, S_ESCROW_DEBIT);

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, amount);
    return update_one(s, st, OFFPAY_EFUNDS);
}

static offpay_err s_escrow_credit(offpay__store *s, uint64_t serial,
                                  int64_t amount)
{
    sqlite3_stmt *st = stmt(s, S_ESCROW_CREDIT);

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, amount);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static offpay_err s_cred_release(offpay__store *s, uint64_t serial,
                                 uint32_t now)
{
    sqlite3_stmt *st = stmt(s, S_CRED_RELEASE);

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, now);
    return update_one(s, st, OFFPAY_EEXISTS);
}

static offpay_err s_creds_due(offpay__store *s, uint32_t before,
                              offpay__due_cursor *after, uint64_t *serials,
                              size_t max, size_t *n)
{
    sqlite3_stmt *st = stmt(s, S_CREDS_DUE);
    int           rc;

    *n = 0;
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int64(st, 2, after->expires);
    bind_u64(st, 3, after->serial);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        serials[(*n)++] = col_u64(st, 0);
        after->serial = col_u64(st, 0);
        after->expires = (uint32_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? OFFPAY_OK : map(s->db, rc);
}

static offpay_err s_cred_revoke(offpay__store *s, uint64_t serial,
                                const char *reason, uint32_t now)
{
    sqlite3_stmt *st = stmt(s, S_CRED_REVOKE);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, reason);
    rc = update_one(s, st, OFFPAY_EEXISTS);
    if (rc != OFFPAY_OK)
        return rc;
    st = stmt(s, S_REVOCATION_ADD);
    bind_u64(st, 1, serial);
    bind_text(st, 2, reason);
    sqlite3_bind_int64(st, 3, now);
    return insert(s, st, NULL);
}

/* ---- payments, presentments, cases ----------------------------------- */

static offpay_err s_payment_get(offpay__store *s, uint64_t serial,
                                uint32_t counter, offpay__payment_row *p)
{
    sqlite3_stmt *st = stmt(s, S_PAYMENT_GET);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        p->id = col_u64(st, 0);
        p->code = sqlite3_column_blob(st, 1);
        p->code_len = (size_t)sqlite3_column_bytes(st, 1);
        p->authorized = sqlite3_column_int64(st, 2);
        p->charged = sqlite3_column_int64(st, 3);
    }
    /* Not reset: p->code points into the row until the next call. */
    return rc;
}

static offpay_err s_payment_add(offpay__store *s, uint64_t serial,
                                uint32_t counter, const uint8_t *code,
                                size_t code_len, int64_t authorized,
                                int64_t charged, uint32_t now, uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_PAYMENT_ADD);

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    bind_blob(st, 3, code, code_len);
    sqlite3_bind_int64(st, 4, authorized);
    sqlite3_bind_int64(st, 5, charged);
    sqlite3_bind_int64(st, 6, now);
    return insert(s, st, id);
}

static offpay_err s_payment_charge(offpay__store *s, uint64_t id,
                                   int64_t amount)
{
    sqlite3_stmt *st = stmt(s, S_PAYMENT_CHARGE);

    bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, amount);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static offpay_err s_presentment_get(offpay__store *s, uint64_t serial,
                                    uint32_t counter, uint32_t terminal,
                                    offpay__presentment_row *p)
{
    sqlite3_stmt *st = stmt(s, S_PRESENTMENT_GET);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    sqlite3_bind_int64(st, 3, terminal);
    rc = row(st);
    if (rc != OFFPAY_OK)
        return rc;
    memset(p, 0, sizeof *p);
    p->id = col_u64(st, 0);
    p->payment = col_u64(st, 1);
    p->serial = serial;
    p->counter = counter;
    p->terminal = terminal;
    if (sqlite3_column_bytes(st, 2) != (int)sizeof p->code_hash)
        return OFFPAY_ESTORE;
    memcpy(p->code_hash, sqlite3_column_blob(st, 2), sizeof p->code_hash);
    p->code = sqlite3_column_blob(st, 3);
    p->code_len = (size_t)sqlite3_column_bytes(st, 3);
    p->charged = sqlite3_column_int64(st, 4);
    p->accepted_at = col_u32(st, 5);
    p->terminal_seq = sqlite3_column_int64(st, 6);
    p->uploaded_at = col_u32(st, 7);
    p->outcome = sqlite3_column_int(st, 8);
    p->reason = sqlite3_column_int(st, 9);
    p->paid = sqlite3_column_int64(st, 10);
    p->covered = sqlite3_column_int64(st, 11);
    p->case_id = col_u64(st, 12);
    return OFFPAY_OK;
}

static offpay_err s_presentment_add(offpay__store                 *s,
                                    const offpay__presentment_row *p,
                                    uint64_t                      *id)
{
    sqlite3_stmt *st = stmt(s, S_PRESENTMENT_ADD);

    bind_u64(st, 1, p->payment);
    bind_u64(st, 2, p->serial);
    sqlite3_bind_int64(st, 3, p->counter);
    sqlite3_bind_int64(st, 4, p->terminal);
    bind_blob(st, 5, p->code_hash, sizeof p->code_hash);
    bind_blob(st, 6, p->code, p->code_len);
    sqlite3_bind_int64(st, 7, p->charged);
    sqlite3_bind_int64(st, 8, p->accepted_at);
    sqlite3_bind_int64(st, 9, p->terminal_seq);
    sqlite3_bind_int64(st, 10, p->uploaded_at);
    sqlite3_bind_int(st, 11, p->outcome);
    sqlite3_bind_int(st, 12, p->reason);
    sqlite3_bind_int64(st, 13, p->paid);
    sqlite3_bind_int64(st, 14, p->covered);
    bind_opt(st, 15, p->case_id);
    return insert(s, st, id);
}

static offpay_err s_presentment_set_case(offpay__store *s, uint64_t id,
                                         uint64_t case_id)
{
    sqlite3_stmt *st = stmt(s, S_PRESENTMENT_CASE);

    bind_u64(st, 1, id);
    bind_u64(st, 2, case_id);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static offpay_err s_charged_at(offpay__store *s, uint64_t serial,
                               uint32_t terminal, int64_t *sum)
{
    sqlite3_stmt *st = stmt(s, S_CHARGED_AT);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, terminal);
    rc = row(st);
    if (rc == OFFPAY_OK)
        *sum = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_case_add(offpay__store *s, uint64_t serial,
                             const char *kind, uint64_t first, uint64_t second,
                             uint32_t now, uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_CASE_ADD);

    bind_u64(st, 1, serial);
    bind_text(st, 2, kind);
    bind_opt(st, 3, first);
    bind_opt(st, 4, second);
    sqlite3_bind_int64(st, 5, now);
    return insert(s, st, id);
}

static offpay_err s_case_count(offpay__store *s, uint64_t serial,
                               const char *kind, uint64_t *n)
{
    sqlite3_stmt *st = stmt(s, S_CASE_COUNT);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    bind_text(st, 2, kind);
    rc = row(st);
    if (rc == OFFPAY_OK)
        *n = col_u64(st, 0);
    sqlite3_reset(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

/* ---- revocations, nonces, statements -------------------------------- */

static offpay_err s_revocations(offpay__store *s, uint64_t from_seq,
                                uint32_t live_since, uint64_t **serials,
                                size_t *n, uint64_t *max_seq)
{
    sqlite3_stmt *st = stmt(s, S_REVOCATION_MAX);
    uint64_t     *v = NULL, *nv;
    size_t        cap = 0;
    offpay_err    rc;
    int           step;

    *serials = NULL;
    *n = 0;
    rc = row(st);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    *max_seq = col_u64(st, 0);
    sqlite3_reset(st);
    if (from_seq == 0) {
        st = stmt(s, S_REVOCATIONS_LIVE);
        sqlite3_bind_int64(st, 1, live_since);
    } else {
        st = stmt(s, S_REVOCATIONS);
        bind_u64(st, 1, from_seq);
        sqlite3_bind_int64(st, 2, live_since);
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                free(v);
                sqlite3_reset(st);
                *n = 0;
                return OFFPAY_ENOMEM;
            }
            v = nv;
        }
        v[(*n)++] = col_u64(st, 0);
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        free(v);
        *n = 0;
        return map(s->db, step);
    }
    *serials = v;
    return OFFPAY_OK;
}

static offpay_err s_nonce_take(offpay__store *s, const uint8_t pk[32],
                               const uint8_t nonce[16], uint32_t at)
{
    sqlite3_stmt *st = stmt(s, S_NONCE_TAKE);

    bind_blob(st, 1, pk, 32);
    bind_blob(st, 2, nonce, 16);
    sqlite3_bind_int64(st, 3, at);
    return run(st); /* a taken nonce breaks the primary key: EEXISTS */
}

static offpay_err s_nonce_prune(offpay__store *s, uint32_t before)
{
    sqlite3_stmt *st = stmt(s, S_NONCE_PRUNE);

    sqlite3_bind_int64(st, 1, before);
    return run(st);
}

static offpay_err s_mark_get(offpay__store *s, const char *what, uint32_t *at)
{
    sqlite3_stmt *st = stmt(s, S_MARK_GET);
    offpay_err    rc;

    bind_text(st, 1, what);
    rc = row(st);
    if (rc == OFFPAY_OK)
        *at = col_u32(st, 0);
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_mark_put(offpay__store *s, const char *what, uint32_t at,
                             int forward)
{
    sqlite3_stmt *st = stmt(s, S_MARK_PUT);

    bind_text(st, 1, what);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int(st, 3, forward != 0);
    return run(st);
}

static offpay_err s_newest_transfer_at(offpay__store *s, uint32_t *at)
{
    sqlite3_stmt *st = stmt(s, S_NEWEST_TRANSFER);
    offpay_err    rc = row(st);

    if (rc == OFFPAY_OK)
        *at = col_u32(st, 0);
    sqlite3_reset(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_newest_after(offpay__store *s, uint64_t after, uint32_t *at)
{
    sqlite3_stmt *st = stmt(s, S_NEWEST_AFTER);
    offpay_err    rc;

    bind_u64(st, 1, after);
    rc = row(st);
    if (rc == OFFPAY_OK)
        *at = col_u32(st, 0);
    sqlite3_reset(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

/* Rows of offpay__owed_open_sql or offpay__owed_at_sql, prepared and
 * bound, into out[0 .. *n). */
static offpay_err owed_rows(offpay__store *s, sqlite3_stmt *st,
                            offpay__owed_row *out, size_t max, size_t *n)
{
    int step = SQLITE_DONE; /* max 0: nothing read */

    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay__owed_row *o = &out[(*n)++];

        o->presentment = col_u64(st, 0);
        o->case_id = col_u64(st, 1);
        o->merchant_account = col_u64(st, 2);
        o->currency = (uint16_t)sqlite3_column_int(st, 3);
        o->open = sqlite3_column_int64(st, 4);
        o->serial = col_u64(st, 5);
        o->merchant = col_u64(st, 6);
        o->uploaded_at = (uint32_t)sqlite3_column_int64(st, 7);
        o->charged = sqlite3_column_int64(st, 8);
    }
    if (*n == max)
        step = SQLITE_DONE;
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? OFFPAY_OK : map(s->db, step);
}

static offpay_err s_owed_open(offpay__store *s, uint16_t currency,
                              uint64_t after, offpay__owed_row *out, size_t max,
                              size_t *n)
{
    sqlite3_stmt *st = NULL;

    *n = 0;
    if (sqlite3_prepare_v2(s->db, offpay__owed_open_sql, -1, &st, NULL) !=
        SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    sqlite3_bind_int64(st, 1, currency);
    bind_u64(st, 2, after);
    sqlite3_bind_int64(st, 3, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    return owed_rows(s, st, out, max, n);
}

static offpay_err s_owed_at(offpay__store *s, uint16_t currency, uint32_t at,
                            uint64_t after, offpay__owed_row *out, size_t max,
                            size_t *n)
{
    sqlite3_stmt *st = NULL;

    *n = 0;
    if (sqlite3_prepare_v2(s->db, offpay__owed_at_sql, -1, &st, NULL) !=
        SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    sqlite3_bind_int64(st, 1, currency);
    sqlite3_bind_int64(st, 2, at);
    bind_u64(st, 3, after);
    sqlite3_bind_int64(st, 4, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    return owed_rows(s, st, out, max, n);
}

static offpay_err
s_statement(offpay__store *s, uint64_t merchant, uint32_t from, uint32_t to,
            int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx)
{
    sqlite3_stmt         *st = stmt(s, S_STATEMENT);
    offpay_statement_line line;
    int                   step;

    bind_u64(st, 1, merchant);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&line, 0, sizeof line);
        line.presentment = col_u64(st, 0);
        line.terminal_id = col_u32(st, 1);
        line.serial = col_u64(st, 2);
        line.counter = col_u32(st, 3);
        line.charged = sqlite3_column_int64(st, 4);
        line.paid = sqlite3_column_int64(st, 5);
        line.covered = sqlite3_column_int64(st, 6);
        line.outcome = (offpay_settle_outcome)sqlite3_column_int(st, 7);
        line.reason = (offpay_err)sqlite3_column_int(st, 8);
        line.accepted_at = col_u32(st, 9);
        line.uploaded_at = col_u32(st, 10);
        line.refunded = sqlite3_column_int64(st, 11);
        line.late = sqlite3_column_int(st, 12) != 0;
        line.paid_later = sqlite3_column_int64(st, 13);
        line.paid_later_at = col_u32(st, 14);
        line.case_id = col_u64(st, 15);
        if (fn(&line, ctx) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return step == SQLITE_DONE ? OFFPAY_OK : map(s->db, step);
}

/* ---- the audit ------------------------------------------------------- */

/* The money per currency, one row each (offpay__audit_money_sql). */
static offpay_err audit_money(offpay__store *s, offpay__audit_facts *f)
{
    sqlite3_stmt *st = NULL;
    int           step;

    if (sqlite3_prepare_v2(s->db, offpay__audit_money_sql, -1, &st, NULL) !=
        SQLITE_OK)
        return OFFPAY_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        offpay__audit_money_add(
            f, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
            sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
            sqlite3_column_int64(st, 4));
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? OFFPAY_OK : map(s->db, step);
}

static offpay_err s_audit(offpay__store *s, offpay__audit_facts *f)
{
    int64_t    v[OFFPAY__AUDIT_QUERIES];
    offpay_err rc = OFFPAY_OK;

    for (size_t i = 0; i < OFFPAY__AUDIT_QUERIES; i++) {
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(s->db, offpay__audit_sql[i], -1, &st, NULL) !=
            SQLITE_OK)
            return OFFPAY_ESTORE;
        rc = row(st);
        v[i] = rc == OFFPAY_OK ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (rc != OFFPAY_OK)
            return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    }
    offpay__audit_facts_from(v, f);
    return audit_money(s, f);
}

/* ---- receipts of wallet uploads -------------------------------------- */

static offpay_err s_receipt_get(offpay__store *s, const uint8_t hash[32],
                                offpay__receipt_row *r)
{
    sqlite3_stmt *st = stmt(s, S_RECEIPT_GET);
    offpay_err    rc;

    bind_blob(st, 1, hash, 32);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        memset(r, 0, sizeof *r);
        r->id = col_u64(st, 0);
        memcpy(r->hash, hash, sizeof r->hash);
        r->serial = col_u64(st, 1);
        r->counter = col_u32(st, 2);
        r->terminal = col_u32(st, 3);
        r->amount = sqlite3_column_int64(st, 4);
        r->made_at = col_u32(st, 5);
        r->uploaded_at = col_u32(st, 6);
        r->stood = sqlite3_column_int(st, 7);
        r->presentment = col_u64(st, 8);
        r->checked = sqlite3_column_int(st, 9);
        r->case_id = col_u64(st, 10);
    }
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_receipt_add(offpay__store *s, const offpay__receipt_row *r,
                                uint64_t *id)
{
    sqlite3_stmt *st = stmt(s, S_RECEIPT_ADD);

    bind_blob(st, 1, r->hash, sizeof r->hash);
    bind_u64(st, 2, r->serial);
    sqlite3_bind_int64(st, 3, r->counter);
    sqlite3_bind_int64(st, 4, r->terminal);
    sqlite3_bind_int64(st, 5, r->amount);
    sqlite3_bind_int64(st, 6, r->made_at);
    bind_blob(st, 7, r->bytes, r->len);
    sqlite3_bind_int64(st, 8, r->uploaded_at);
    sqlite3_bind_int(st, 9, r->stood);
    bind_opt(st, 10, r->presentment);
    sqlite3_bind_int(st, 11, r->checked);
    bind_opt(st, 12, r->case_id);
    return insert(s, st, id);
}

static offpay_err s_receipts_waiting(offpay__store *s, uint64_t serial,
                                     uint32_t counter, uint32_t terminal,
                                     uint64_t *ids, int64_t *amounts,
                                     size_t max, size_t *n)
{
    sqlite3_stmt *st = stmt(s, S_RECEIPTS_WAITING);
    int           rc;

    *n = 0;
    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    sqlite3_bind_int64(st, 3, terminal);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        ids[*n] = col_u64(st, 0);
        amounts[(*n)++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? OFFPAY_OK : map(s->db, rc);
}

static offpay_err s_receipt_checked(offpay__store *s, uint64_t id,
                                    uint64_t case_id)
{
    sqlite3_stmt *st = stmt(s, S_RECEIPT_CHECKED);

    bind_u64(st, 1, id);
    bind_opt(st, 2, case_id);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static offpay_err s_claim_get(offpay__store *s, uint64_t serial,
                              uint32_t counter, uint32_t terminal,
                              uint64_t *presentment, int64_t *claimed)
{
    sqlite3_stmt *st = stmt(s, S_CLAIM_GET);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    sqlite3_bind_int64(st, 3, terminal);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        *presentment = col_u64(st, 0);
        *claimed = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_claim_set(offpay__store *s, uint64_t presentment,
                              int64_t terminal_seq, int64_t charged)
{
    sqlite3_stmt *st = stmt(s, S_CLAIM_SET);

    bind_u64(st, 1, presentment);
    sqlite3_bind_int64(st, 2, terminal_seq);
    sqlite3_bind_int64(st, 3, charged);
    return update_one(s, st, OFFPAY_ENOTFOUND);
}

static offpay_err s_wallet_known(offpay__store *s,
                                 const uint8_t  pk[OFFPAY_PK_BYTES])
{
    sqlite3_stmt *st = stmt(s, S_WALLET_KNOWN);
    offpay_err    rc;

    bind_blob(st, 1, pk, OFFPAY_PK_BYTES);
    rc = row(st);
    sqlite3_reset(st);
    return rc;
}

static offpay_err s_payment_summary(offpay__store *s, uint64_t serial,
                                    uint32_t                 counter,
                                    offpay__payment_summary *out)
{
    sqlite3_stmt *st = stmt(s, S_PAYMENT_SUMMARY);
    offpay_err    rc;

    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        out->presentments = col_u64(st, 0);
        out->paid = sqlite3_column_int64(st, 1);
        out->covered = sqlite3_column_int64(st, 2);
        out->guaranteed = col_u64(st, 3);
        out->duplicate = col_u64(st, 4);
        out->double_spend = col_u64(st, 5);
        out->unpaid = col_u64(st, 6);
        out->refunded = sqlite3_column_int64(st, 7);
    }
    sqlite3_reset(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

/* ---- row locks -------------------------------------------------------- */

/* No-ops: BEGIN IMMEDIATE already makes this the only writer until it
 * commits, so nothing it reads can change under it. */
static offpay_err s_creds_lock(offpay__store *s, const uint64_t *serials,
                               size_t n)
{
    (void)s;
    (void)serials;
    (void)n;
    return OFFPAY_OK;
}

static offpay_err s_account_lock(offpay__store *s, uint64_t id)
{
    (void)s;
    (void)id;
    return OFFPAY_OK;
}

/* ---- open and migrate ------------------------------------------------ */

/* Applies every migration above the schema's version, each in its own
 * transaction. An id is SQLite's INTEGER PRIMARY KEY (the rowid). */
/* 1 with the seal's reason in buf (020_ledger_sealed) when the file
 * is sealed, 0 when not (or its schema has no seal yet), -1 when it
 * cannot be read (never taken for "not sealed"). */
static int seal_of(sqlite3 *db, char *buf, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int           sealed = -1, step;

    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE"
                           " type = 'table' AND name = 'ledger_sealed'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        sealed = sqlite3_column_int(st, 0) == 0 ? 0 : -2;
    sqlite3_finalize(st);
    st = NULL;
    if (sealed != -2)
        return sealed;
    sealed = -1;
    if (sqlite3_prepare_v2(db, "SELECT reason FROM ledger_sealed WHERE id = 1",
                           -1, &st, NULL) == SQLITE_OK) {
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
            sealed = 1;
        } else if (step == SQLITE_DONE)
            sealed = 0;
    }
    sqlite3_finalize(st);
    return sealed;
}

static offpay_err migrate(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int           version = 0;
    offpay_err    rc = OFFPAY_OK;

    if (sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_version("
                     "version INTEGER NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK)
        return OFFPAY_ESTORE;
    if (sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1,
                           &st, NULL) != SQLITE_OK)
        return OFFPAY_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)offpay__n_migrations) {
        /* a newer offpay made or upgraded this ledger: say both versions */
        offpay__log("offpay: the ledger's schema is version %d, newer than "
                    "this offpay %s knows (up to %zu): a newer version made "
                    "or upgraded it; run that version (or a newer one) on it "
                    "(EVERSION)",
                    version, offpay_version(), offpay__n_migrations);
        return OFFPAY_EVERSION;
    }
    if ((size_t)version < offpay__n_migrations) {
        char reason[OFFPAY__SEAL_REASON_MAX + 1];

        int sealed = seal_of(db, reason, sizeof reason);

        /* a sealed file is never upgraded either (020_ledger_sealed) */
        if (sealed < 0)
            return OFFPAY_ESTORE;
        if (sealed) {
            sealed_log(sqlite3_db_filename(db, "main"), reason);
            return OFFPAY_ELEDGER_SEALED;
        }
    }

    for (size_t i = (size_t)version; i < offpay__n_migrations; i++) {
        static const offpay__dialect sqlite = {"INTEGER PRIMARY KEY", "INTEGER",
                                               "BLOB"};
        char                        *sql = offpay__migration_sql(i, &sqlite);
        char                         bump[80];

        if (sql == NULL)
            return OFFPAY_ENOMEM;
        snprintf(bump, sizeof bump, "INSERT INTO schema_version VALUES (%zu);",
                 i + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
                SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, bump, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            /* a full disk is said as one (offpayd waits for room) */
            rc = map(db, sqlite3_extended_errcode(db));
            if (rc == OFFPAY_OK || rc == OFFPAY_EEXISTS)
                rc = OFFPAY_ESTORE;
            /* which migration, and SQLite's reason: an operator upgrading
             * must know what to look at */
            offpay__log("offpay: ledger migration %zu (schema version %zu to "
                        "%zu) failed: %s; it was rolled back, the ledger is "
                        "still at version %zu\n",
                        i + 1, i, i + 1, sqlite3_errmsg(db), i);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
        free(sql);
        if (rc != OFFPAY_OK)
            break;
    }
    if (rc == OFFPAY_OK && version > 0 &&
        (size_t)version < offpay__n_migrations)
        offpay__log("offpay: ledger upgraded from schema version %d to %zu\n",
                    version, offpay__n_migrations);
    return rc;
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
static offpay_err s_terminal_report_get(offpay__store *s, uint32_t id,
                                        offpay_terminal_report *out);
static offpay_err s_terminal_label(offpay__store *s, uint32_t id,
                                   const char *label, uint32_t at,
                                   int *changed);
static offpay_err s_refusal_add(offpay__store *s, const offpay__refusal_row *r);
static offpay_err s_refusals(offpay__store *s, uint64_t merchant, uint32_t from,
                             uint32_t to,
                             int (*fn)(const offpay_refusal *r, void *ctx),
                             void *ctx);
static offpay_err s_terminal_label_carry(offpay__store *s, uint32_t from,
                                         uint32_t to, uint32_t at);
static offpay_err s_action_add(offpay__store                *s,
                               const offpay_operator_action *a);
static offpay_err s_newest_action_at(offpay__store *s, uint32_t *at);
static offpay_err
s_actions(offpay__store *s, const offpay_action_filter *f, uint32_t after_at,
          int64_t after_id, size_t                                     max,
          int (*fn)(const offpay_operator_action *a, void *ctx), void *ctx);
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
static int        s_lock_probe(offpay__store *s);

static const offpay__store_ops OPS = {OFFPAY__STORE_OPS_INIT};

/* The error of a failed step of the open (rc SQLite's, on db), said once
 * on the log with the path and SQLite's own words, the system's reason
 * beside them: a full disk, a read-only mount are then named at the start
 * (offpayd waits for room, docs/operations.md §1), not a bare ESTORE. */
static offpay_err open_failed(sqlite3 *db, const char *path, int rc)
{
    offpay_err e = map(db, rc);
    int        sys = db != NULL ? sqlite3_system_errno(db) : 0;

    if (e == OFFPAY_OK || e == OFFPAY_EEXISTS)
        e = OFFPAY_ESTORE;
    offpay__log("offpay: ledger %s: SQLite: %s%s%s%s", path,
                db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                sys != 0 ? " (" : "", sys != 0 ? strerror(sys) : "",
                sys != 0 ? ")" : "");
    return e;
}

offpay_err offpay__store_sqlite_open(const char *path, offpay__store **out,
                                     const offpay__store_ops **ops)
{
    offpay__store *s;
    offpay_err     rc = OFFPAY_ESTORE;
    int            step;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return OFFPAY_ENOMEM;
    /* SQLITE_OPEN_NOMUTEX: a ledger handle, and so its store's
     * connection, is used by one thread at a time (settle.h; offpayd's
     * pool lends each to one request), so SQLite's mutex around every
     * bind, step, column and reset of the connection guards nothing */
    step = sqlite3_open_v2(
        path, &s->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (step != SQLITE_OK) {
        rc = open_failed(s->db, path, step);
        goto out;
    }
    sqlite3_busy_handler(s->db, store_busy, s);
    step = sqlite3_exec(s->db,
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        " PRAGMA foreign_keys=ON;",
                        NULL, NULL, NULL);
    if (step != SQLITE_OK) {
        rc = open_failed(s->db, path, sqlite3_extended_errcode(s->db));
        goto out;
    }
    rc = migrate(s->db);
    if (rc != OFFPAY_OK)
        goto out;
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[i], NULL) != SQLITE_OK) {
            rc = OFFPAY_ESTORE;
            goto out;
        }
    if (sqlite3_prepare_v3(s->db,
                           "SELECT (SELECT MAX(version) FROM schema_version),"
                           " (SELECT reason FROM ledger_sealed WHERE id = 1)",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->version_st,
                           NULL) != SQLITE_OK) {
        rc = OFFPAY_ESTORE;
        goto out;
    }
    s->gate = gate_get(path);
    sqlite3_wal_hook(s->db, wal_hook, s);
    *out = s;
    *ops = &OPS;
    s = NULL;
    rc = OFFPAY_OK;
out:
    s_close(s);
    return rc;
}

offpay_err offpay__store_sqlite_backup(const char *path, const char *out)
{
    sqlite3   *db = NULL;
    offpay_err rc = OFFPAY_ESTORE;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_handler(db, db_busy, db);
        rc = offpay__db_copy(db, out, NULL, NULL, OFFPAY_ESTORE);
    }
    sqlite3_close(db);
    return rc;
}

offpay_err offpay__store_sqlite_version(const char *path, unsigned *version)
{
    sqlite3      *db = NULL;
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_ESTORE;

    *version = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_handler(db, db_busy, db);
        if (sqlite3_prepare_v2(db,
                               "SELECT name FROM sqlite_master WHERE "
                               "name = 'schema_version'",
                               -1, &st, NULL) == SQLITE_OK) {
            int step = sqlite3_step(st);

            rc = step == SQLITE_ROW || step == SQLITE_DONE ? OFFPAY_OK : rc;
            if (step == SQLITE_ROW) {
                sqlite3_finalize(st);
                st = NULL;
                rc = OFFPAY_ESTORE;
                if (sqlite3_prepare_v2(db,
                                       "SELECT MAX(version) FROM "
                                       "schema_version",
                                       -1, &st, NULL) == SQLITE_OK &&
                    sqlite3_step(st) == SQLITE_ROW) {
                    *version = (unsigned)sqlite3_column_int(st, 0);
                    rc = OFFPAY_OK;
                }
            }
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

offpay_err offpay__store_sqlite_unseal(const char *path, char *reason,
                                       size_t cap)
{
    sqlite3   *db = NULL;
    int        step, sealed;
    offpay_err rc;

    step = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (step != SQLITE_OK) {
        rc = open_failed(db, path, step);
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_handler(db, db_busy, db);
    /* the seal read and removed in one write transaction; the write
     * begin of the store (s_begin) would refuse the sealed file */
    step = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sealed = step == SQLITE_OK ? seal_of(db, reason, cap) : -1;
    if (step == SQLITE_OK && sealed == 0)
        rc = OFFPAY_ENOTFOUND;
    else if (step == SQLITE_OK && sealed < 0)
        rc = OFFPAY_ESTORE;
    else if (step == SQLITE_OK &&
             (step = sqlite3_exec(db,
                                  "DELETE FROM ledger_sealed WHERE id = 1;"
                                  " COMMIT",
                                  NULL, NULL, NULL)) == SQLITE_OK)
        rc = OFFPAY_OK;
    else {
        rc = map(db, sqlite3_extended_errcode(db));
        if (rc == OFFPAY_OK)
            rc = OFFPAY_ESTORE;
    }
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* The seal (020_ledger_sealed), or with reason NULL its removal, in the
 * read transaction a copy holds: its first write, refused OFFPAY_ERETRY
 * (SQLITE_BUSY_SNAPSHOT) when anything was committed to the file since
 * that transaction's snapshot. A read transaction's upgrade does not
 * call the busy handler: while another connection holds the writer's
 * lock (a transaction that may yet commit nothing) it is tried again
 * every 10 ms up to the busy timeout, then OFFPAY_EBUSY. A file moved
 * away meanwhile is not sealed (OFFPAY_ELEDGER_MOVED). */
static offpay_err s_seal(offpay__store *s, uint32_t now, const char *reason)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = moved_away(s);
    int           step = SQLITE_BUSY;

    if (!s->in_tx)
        return OFFPAY_EINVAL;
    if (rc != OFFPAY_OK)
        return rc;
    if (sqlite3_prepare_v2(s->db,
                           reason != NULL
                               ? "INSERT INTO ledger_sealed (id, at, reason)"
                                 " VALUES (1, ?1, ?2)"
                               : "DELETE FROM ledger_sealed WHERE id = 1",
                           -1, &st, NULL) != SQLITE_OK)
        return OFFPAY_ESTORE;
    if (reason != NULL) {
        sqlite3_bind_int64(st, 1, now);
        bind_text(st, 2, reason);
    }
    for (int waited = 0; step == SQLITE_BUSY && waited <= BUSY_TIMEOUT_MS;
         waited += 10) {
        step = sqlite3_step(st);
        if (step == SQLITE_BUSY &&
            sqlite3_extended_errcode(s->db) == SQLITE_BUSY) {
            struct timespec ten = {0, 10 * 1000 * 1000};

            sqlite3_reset(st);
            nanosleep(&ten, NULL);
        } else if (step == SQLITE_BUSY) /* SQLITE_BUSY_SNAPSHOT */
            break;
    }
    if (step == SQLITE_DONE)
        rc = OFFPAY_OK;
    else if (step == SQLITE_BUSY &&
             sqlite3_extended_errcode(s->db) == SQLITE_BUSY)
        rc = OFFPAY_EBUSY;
    else
        rc = map(s->db, sqlite3_extended_errcode(s->db));
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = OFFPAY_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

/* ---- cases and evidence ---------------------------------------------- */

/* These run rarely (an operator's look-up), so each is prepared when it
 * runs instead of at open. */
static const char SQL_CASES[] =
    "SELECT c.id, c.kind, c.serial, pay.counter, c.first, c.second,"
    " p.terminal, c.opened_at, COALESCE(c.closed_at, 0), CASE WHEN"
    " c.closed_at IS NULL THEN '' ELSE (SELECT n.text FROM case_notes n"
    " WHERE n.case_id = c.id AND n.action = 'close' ORDER BY n.id DESC"
    " LIMIT 1) END FROM cases c"
    " LEFT JOIN payments pay ON pay.id = c.first"
    " LEFT JOIN presentments p ON p.id = c.second";
#define CASES_FILTER                                                           \
    " (?1 = 0 OR c.serial = ?1) AND (?2 IS NULL OR c.kind = ?2)"               \
    " AND c.opened_at >= ?3 AND c.id > ?4 ORDER BY c.id LIMIT ?5"
/* every case, or the closed ones (?6 = 2) */
static const char SQL_CASES_WHERE[] =
    " WHERE (?6 <> 2 OR c.closed_at IS NOT NULL) AND" CASES_FILTER;
/* the open ones, read from their own index (cases_open) */
static const char SQL_CASES_OPEN_WHERE[] =
    " WHERE c.closed_at IS NULL AND" CASES_FILTER;
static const char SQL_CASE_GET_WHERE[] = " WHERE c.id = ?1";
static const char SQL_CASE_LOCK[] = "SELECT id FROM cases WHERE id = ?1";
static const char SQL_CASE_NOTE_ADD[] =
    "INSERT INTO case_notes (case_id, action, text, author, at) VALUES (?1,"
    " ?2, ?3, ?4, ?5)";
static const char SQL_CASE_CLOSED_SET[] =
    "UPDATE cases SET closed_at = ?2 WHERE id = ?1";
static const char SQL_CASE_NOTES[] =
    "SELECT id, case_id, action, text, at, author FROM case_notes"
    " WHERE case_id = ?1"
    " AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_CASE_NOTE_NEWEST[] =
    "SELECT id, case_id, action, text, at, author FROM case_notes"
    " WHERE case_id = ?1"
    " ORDER BY id DESC LIMIT 1";
static const char SQL_PRESENTMENTS_OF[] =
    "SELECT p.id, p.payment, p.counter, p.terminal, p.code_hash,"
    " COALESCE(p.code, pay.code), p.charged, p.accepted_at, p.terminal_seq,"
    " p.uploaded_at, p.outcome, p.reason, p.paid, p.covered, p.case_id"
    " FROM presentments p JOIN payments pay ON pay.id = p.payment"
    " WHERE p.serial = ?1 AND (?3 <> 0 OR p.counter = ?2) AND p.id <= ?4"
    " ORDER BY p.id";
static const char SQL_TERMINAL_CRED[] =
    "SELECT bytes FROM terminals WHERE id = ?1";

static offpay_err prepare(offpay__store *s, const char *a, const char *b,
                          sqlite3_stmt **st)
{
    char *sql = sqlite3_mprintf("%s%s", a, b != NULL ? b : "");
    int   rc;

    *st = NULL;
    if (sql == NULL)
        return OFFPAY_ENOMEM;
    rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    sqlite3_free(sql);
    return rc == SQLITE_OK ? OFFPAY_OK : map(s->db, rc);
}

/* Steps st, reading each row with read into the next of out's rows (size
 * bytes each), at most max; *n the rows read; finalizes st. */
static offpay_err read_rows(sqlite3_stmt *st, size_t max, void *out,
                            size_t size,
                            offpay_err (*read)(sqlite3_stmt *st, void *row),
                            size_t *n)
{
    offpay_err rc = OFFPAY_OK;
    int        step = SQLITE_DONE;

    *n = 0;
    while (rc == OFFPAY_OK && *n < max &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = read(st, (char *)out + *n * size);
        if (rc == OFFPAY_OK)
            (*n)++;
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

/* The current row of a cases query into row (an offpay_case_info). */
static offpay_err case_row(sqlite3_stmt *st, void *row)
{
    offpay_case_info *c = row;
    const char       *kind = (const char *)sqlite3_column_text(st, 1);

    memset(c, 0, sizeof *c);
    c->id = col_u64(st, 0);
    if (kind == NULL || offpay_case_kind_from_name(kind, &c->kind) != OFFPAY_OK)
        return OFFPAY_ESTORE;
    c->serial = col_u64(st, 2);
    c->counter = col_u32(st, 3);
    c->payment = col_u64(st, 4);
    c->presentment = col_u64(st, 5);
    c->terminal_id = col_u32(st, 6);
    c->opened_at = col_u32(st, 7);
    c->closed_at = col_u32(st, 8);
    col_text(st, 9, c->resolution, sizeof c->resolution);
    return OFFPAY_OK;
}

static offpay_err s_cases(offpay__store *s, const offpay_case_filter *f,
                          const char *kind, size_t max, offpay_case_info *out,
                          size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    *n = 0;
    rc = prepare(s, SQL_CASES,
                 f->state == OFFPAY_CASES_OPEN ? SQL_CASES_OPEN_WHERE
                                               : SQL_CASES_WHERE,
                 &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, f->serial);
    bind_text(st, 2, kind);
    sqlite3_bind_int64(st, 3, f->since);
    bind_u64(st, 4, f->after_id);
    sqlite3_bind_int64(st, 5, max > INT32_MAX ? INT32_MAX : (sqlite3_int64)max);
    if (f->state != OFFPAY_CASES_OPEN) /* the open ones' has no ?6 */
        sqlite3_bind_int64(st, 6, (sqlite3_int64)f->state);
    return read_rows(st, max, out, sizeof *out, case_row, n);
}

static offpay_err s_case_get(offpay__store *s, uint64_t id,
                             offpay_case_info *out)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    rc = prepare(s, SQL_CASES, SQL_CASE_GET_WHERE, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK)
        rc = case_row(st, out);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_case_lock(offpay__store *s, uint64_t id)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    /* the write transaction is the lock on SQLite: this says it exists */
    rc = prepare(s, SQL_CASE_LOCK, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, id);
    rc = row(st);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_case_note_add(offpay__store *s, const offpay_case_note *n,
                                  uint64_t *id)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    rc = prepare(s, SQL_CASE_NOTE_ADD, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, n->case_id);
    bind_text(st, 2, offpay_case_action_name(n->action));
    bind_text(st, 3, n->text);
    bind_text(st, 4, n->author);
    sqlite3_bind_int64(st, 5, n->at);
    rc = insert(s, st, id);
    sqlite3_finalize(st);
    if (rc != OFFPAY_OK || n->action == OFFPAY_CASE_NOTE)
        return rc;
    rc = prepare(s, SQL_CASE_CLOSED_SET, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, n->case_id);
    if (n->action == OFFPAY_CASE_CLOSE)
        sqlite3_bind_int64(st, 2, n->at);
    else
        sqlite3_bind_null(st, 2);
    rc = update_one(s, st, OFFPAY_ESTORE);
    sqlite3_finalize(st);
    return rc;
}

/* The current row of a case_notes query into row (an offpay_case_note). */
static offpay_err case_note_row(sqlite3_stmt *st, void *row)
{
    offpay_case_note *c = row;
    const char       *action = (const char *)sqlite3_column_text(st, 2);

    memset(c, 0, sizeof *c);
    c->id = col_u64(st, 0);
    c->case_id = col_u64(st, 1);
    if (action == NULL ||
        offpay_case_action_from_name(action, &c->action) != OFFPAY_OK)
        return OFFPAY_ESTORE;
    col_text(st, 3, c->text, sizeof c->text);
    c->at = col_u32(st, 4);
    col_text(st, 5, c->author, sizeof c->author);
    return OFFPAY_OK;
}

static offpay_err s_case_notes(offpay__store *s, uint64_t case_id,
                               uint64_t after, size_t max, int newest,
                               offpay_case_note *out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    *n = 0;
    if (newest)
        max = 1;
    rc = prepare(s, newest ? SQL_CASE_NOTE_NEWEST : SQL_CASE_NOTES, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, case_id);
    if (!newest) {
        bind_u64(st, 2, after);
        sqlite3_bind_int64(st, 3,
                           max > INT32_MAX ? INT32_MAX : (sqlite3_int64)max);
    }
    return read_rows(st, max, out, sizeof *out, case_note_row, n);
}

static offpay_err
s_presentments_of(offpay__store *s, uint64_t serial, uint32_t counter,
                  int all_counters, uint64_t max_id,
                  int (*fn)(const offpay__presentment_row *p, void *ctx),
                  void *ctx)
{
    sqlite3_stmt           *st = NULL;
    offpay__presentment_row p;
    offpay_err              rc;
    int                     step;

    rc = prepare(s, SQL_PRESENTMENTS_OF, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    sqlite3_bind_int(st, 3, all_counters != 0);
    bind_u64(st, 4, max_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&p, 0, sizeof p);
        p.id = col_u64(st, 0);
        p.payment = col_u64(st, 1);
        p.serial = serial;
        p.counter = col_u32(st, 2);
        p.terminal = col_u32(st, 3);
        if (sqlite3_column_bytes(st, 4) != (int)sizeof p.code_hash) {
            rc = OFFPAY_ESTORE;
            break;
        }
        memcpy(p.code_hash, sqlite3_column_blob(st, 4), sizeof p.code_hash);
        p.code = sqlite3_column_blob(st, 5);
        p.code_len = (size_t)sqlite3_column_bytes(st, 5);
        p.charged = sqlite3_column_int64(st, 6);
        p.accepted_at = col_u32(st, 7);
        p.terminal_seq = sqlite3_column_int64(st, 8);
        p.uploaded_at = col_u32(st, 9);
        p.outcome = sqlite3_column_int(st, 10);
        p.reason = sqlite3_column_int(st, 11);
        p.paid = sqlite3_column_int64(st, 12);
        p.covered = sqlite3_column_int64(st, 13);
        p.case_id = col_u64(st, 14);
        if (p.code == NULL || p.code_len == 0) {
            rc = OFFPAY_ESTORE;
            break;
        }
        if (fn(&p, ctx) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_terminal_cred(offpay__store *s, uint32_t id, uint8_t *buf,
                                  size_t cap, size_t *len)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    size_t        n;

    rc = prepare(s, SQL_TERMINAL_CRED, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK && sqlite3_column_type(st, 0) == SQLITE_NULL)
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_OK) {
        n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > cap) {
            rc = OFFPAY_ERANGE;
        } else {
            memcpy(buf, sqlite3_column_blob(st, 0), n);
            *len = n;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- receipts of a case's codes (evidence.c) ------------------------- */

static const char SQL_RECEIPTS_OF[] =
    "SELECT id, hash, counter, terminal, amount, made_at, bytes,"
    " uploaded_at, stood, presentment, checked, case_id FROM receipts"
    " WHERE serial = ?1 AND (?3 <> 0 OR counter = ?2) ORDER BY id";

static offpay_err
s_receipts_of(offpay__store *s, uint64_t serial, uint32_t counter,
              int all_counters,
              int (*fn)(const offpay__receipt_row *r, void *ctx), void *ctx)
{
    sqlite3_stmt       *st = NULL;
    offpay__receipt_row r;
    offpay_err          rc;
    int                 step;

    rc = prepare(s, SQL_RECEIPTS_OF, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, serial);
    sqlite3_bind_int64(st, 2, counter);
    sqlite3_bind_int(st, 3, all_counters != 0);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&r, 0, sizeof r);
        r.id = col_u64(st, 0);
        if (sqlite3_column_bytes(st, 1) != (int)sizeof r.hash) {
            rc = OFFPAY_ESTORE;
            break;
        }
        memcpy(r.hash, sqlite3_column_blob(st, 1), sizeof r.hash);
        r.serial = serial;
        r.counter = col_u32(st, 2);
        r.terminal = col_u32(st, 3);
        r.amount = sqlite3_column_int64(st, 4);
        r.made_at = col_u32(st, 5);
        r.bytes = sqlite3_column_blob(st, 6);
        r.len = (size_t)sqlite3_column_bytes(st, 6);
        r.uploaded_at = col_u32(st, 7);
        r.stood = sqlite3_column_int(st, 8);
        r.presentment = col_u64(st, 9);
        r.checked = sqlite3_column_int(st, 10);
        r.case_id = col_u64(st, 11);
        if (r.bytes == NULL || r.len == 0) {
            rc = OFFPAY_ESTORE;
            break;
        }
        if (fn(&r, ctx) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

/* ---- the operator's overview (src/settle/overview.c) ------------------ */

/* The overview's queries: run once a dashboard refresh, so prepared each
 * time rather than kept. The SQL is the same in postgres.c. */
static const char SQL_KIND_TOTALS[] =
    "SELECT kind, currency, COUNT(*), COALESCE(SUM(bal), 0) FROM"
    " (SELECT a.kind AS kind, a.currency AS currency,"
    "  " OFFPAY__BALANCE_SQL(
        "a.id") "  AS bal FROM accounts a) AS x GROUP BY kind, currency"
                " ORDER BY kind, currency";
static const char SQL_SETTLE_BUCKETS[] =
    "SELECT p.uploaded_at - p.uploaded_at % ?3, m.currency, p.outcome,"
    " COUNT(*), SUM(p.charged), SUM(p.paid), SUM(p.covered)"
    " FROM presentments p JOIN terminals t ON t.id = p.terminal"
    " JOIN merchants m ON m.id = t.merchant"
    " WHERE p.uploaded_at >= ?1 AND p.uploaded_at <= ?2"
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
    " ORDER BY t.revoked_at IS NOT NULL, t.id LIMIT ?1";
static const char SQL_REVOKED_LIST[] =
    "SELECT v.serial, c.wallet_account, c.currency, v.at, v.reason,"
    " c.remaining, c.released_at FROM revocations v"
    " JOIN credentials c ON c.serial = v.serial"
    " ORDER BY v.seq DESC LIMIT ?1";
static const char SQL_TERMINAL_REPORT[] =
    "INSERT INTO terminal_reports (terminal, reported_at, synced_at, pending,"
    " state, lists_at, pending_amount)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (terminal) DO UPDATE SET"
    " reported_at = excluded.reported_at, synced_at = excluded.synced_at,"
    " pending = excluded.pending, state = excluded.state,"
    " lists_at = excluded.lists_at, pending_amount = excluded.pending_amount";

/* Copies column i's text into buf (cap bytes with the NUL), cut short. */
static void col_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t               n = t != NULL ? strlen((const char *)t) : 0;

    if (n >= cap)
        n = offpay__utf8_cut((const char *)t, cap - 1);
    if (n != 0)
        memcpy(buf, t, n);
    buf[n] = '\0';
}

/* A terminal's last report from columns i.. (OFFPAY__REPORT_COLS; a
 * terminal that never reported has them NULL: reported 0). */
static void report_cols(sqlite3_stmt *st, int i, offpay_terminal_report *r)
{
    memset(r, 0, sizeof *r);
    r->reported = sqlite3_column_type(st, i) != SQLITE_NULL;
    r->reported_at = col_u32(st, i);
    r->synced_at = col_u32(st, i + 1);
    r->pending = col_u64(st, i + 2);
    /* NULL from an older terminal, which said none of the rest */
    r->state_known = sqlite3_column_type(st, i + 3) != SQLITE_NULL;
    col_text(st, i + 3, r->state, sizeof r->state);
    r->lists_at = col_u32(st, i + 4);
    r->pending_amount = sqlite3_column_int64(st, i + 5);
}

/* Steps st to its end: each row through each(st, ctx, &stop) until stop
 * is set; finalizes st. */
static offpay_err walk(sqlite3_stmt *st,
                       void (*each)(sqlite3_stmt *st, void *ctx, int *stop),
                       void *ctx)
{
    int        step = SQLITE_DONE, stop = 0;
    offpay_err rc = OFFPAY_OK;

    while (!stop && (step = sqlite3_step(st)) == SQLITE_ROW)
        each(st, ctx, &stop);
    if (!stop && step != SQLITE_DONE)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

struct kind_walk {
    int (*fn)(const offpay_overview_kind *k, void *ctx);
    void *ctx;
};

static void kind_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct kind_walk    *w = arg;
    offpay_overview_kind k;

    memset(&k, 0, sizeof k);
    k.kind = (offpay_account_kind)sqlite3_column_int(st, 0);
    k.currency = (uint16_t)sqlite3_column_int(st, 1);
    k.accounts = col_u64(st, 2);
    k.balance = sqlite3_column_int64(st, 3);
    *stop = w->fn(&k, w->ctx) != 0;
}

static offpay_err
s_kind_totals(offpay__store *s,
              int (*fn)(const offpay_overview_kind *k, void *ctx), void *ctx)
{
    struct kind_walk w = {fn, ctx};
    sqlite3_stmt    *st = NULL;
    offpay_err       rc = prepare(s, SQL_KIND_TOTALS, NULL, &st);

    return rc != OFFPAY_OK ? rc : walk(st, kind_row, &w);
}

struct sheet_walk {
    int (*fn)(const offpay__sheet_row *row, void *ctx);
    void *ctx;
};

static void sheet_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct sheet_walk *w = arg;
    offpay__sheet_row  r;

    memset(&r, 0, sizeof r);
    r.currency = (uint16_t)sqlite3_column_int(st, 0);
    r.from_kind = sqlite3_column_int(st, 1);
    r.to_kind = sqlite3_column_int(st, 2);
    col_text(st, 3, r.kind, sizeof r.kind);
    r.part = sqlite3_column_int(st, 4);
    r.count = col_u64(st, 5);
    r.amount = sqlite3_column_int64(st, 6);
    *stop = w->fn(&r, w->ctx) != 0;
}

static offpay_err s_sheet(offpay__store *s, uint32_t from, uint32_t to,
                          int (*fn)(const offpay__sheet_row *row, void *ctx),
                          void *ctx)
{
    struct sheet_walk w = {fn, ctx};
    sqlite3_stmt     *st = NULL;
    offpay_err        rc = prepare(s, offpay__sheet_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    return walk(st, sheet_row, &w);
}

static offpay_err s_transfers_range(offpay__store *s, int64_t after,
                                    int64_t upto, uint32_t until, size_t max,
                                    void (*fn)(const offpay__digest_row *row,
                                               void                     *ctx),
                                    void *ctx, size_t *n, int64_t *last)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__transfers_range_sql, NULL, &st);
    int           step = SQLITE_DONE;

    *n = 0;
    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay__digest_row r;

        memset(&r, 0, sizeof r);
        r.id = sqlite3_column_int64(st, 0);
        r.debit = col_u64(st, 1);
        r.credit = col_u64(st, 2);
        r.amount = sqlite3_column_int64(st, 3);
        r.kind = (const char *)sqlite3_column_text(st, 4);
        r.kind_len = (size_t)sqlite3_column_bytes(st, 4);
        r.presentment = col_u64(st, 5);
        r.case_id = col_u64(st, 6);
        if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
            r.ref = (const char *)sqlite3_column_text(st, 7);
            r.ref_len = (size_t)sqlite3_column_bytes(st, 7);
        }
        r.at = sqlite3_column_int64(st, 8);
        r.debit_kind = sqlite3_column_int64(st, 9);
        r.debit_currency = sqlite3_column_int64(st, 10);
        r.credit_kind = sqlite3_column_int64(st, 11);
        r.credit_currency = sqlite3_column_int64(st, 12);
        *last = r.id;
        (*n)++;
        if (r.at <= (int64_t)until)
            fn(&r, ctx);
    }
    if (step != SQLITE_DONE)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

struct bucket_walk {
    int (*fn)(const offpay_overview_bucket *b, void *ctx);
    void *ctx;
};

static void bucket_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct bucket_walk    *w = arg;
    offpay_overview_bucket b;

    memset(&b, 0, sizeof b);
    b.start = col_u32(st, 0);
    b.currency = (uint16_t)sqlite3_column_int(st, 1);
    b.outcome = (offpay_settle_outcome)sqlite3_column_int(st, 2);
    b.count = col_u64(st, 3);
    b.charged = sqlite3_column_int64(st, 4);
    b.paid = sqlite3_column_int64(st, 5);
    b.covered = sqlite3_column_int64(st, 6);
    *stop = w->fn(&b, w->ctx) != 0;
}

static offpay_err
s_settle_buckets(offpay__store *s, uint32_t from, uint32_t to, uint32_t width,
                 int (*fn)(const offpay_overview_bucket *b, void *ctx),
                 void *ctx)
{
    struct bucket_walk w = {fn, ctx};
    sqlite3_stmt      *st = NULL;
    offpay_err         rc = prepare(s, SQL_SETTLE_BUCKETS, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_int64(st, 3, width);
    return walk(st, bucket_row, &w);
}

struct terminal_walk {
    int (*fn)(const offpay_overview_terminal *t, void *ctx);
    void *ctx;
};

static void terminal_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct terminal_walk    *w = arg;
    offpay_overview_terminal t;

    memset(&t, 0, sizeof t);
    t.terminal_id = col_u32(st, 0);
    t.merchant_id = col_u64(st, 1);
    col_text(st, 2, t.merchant_name, sizeof t.merchant_name);
    t.currency = (uint16_t)sqlite3_column_int(st, 3);
    t.created_at = col_u32(st, 4);
    t.revoked = sqlite3_column_type(st, 5) != SQLITE_NULL;
    t.revoked_at = col_u32(st, 5);
    t.presentments = col_u64(st, 6);
    t.last_upload = col_u32(st, 7);
    col_text(st, 8, t.revoke_reason, sizeof t.revoke_reason);
    report_cols(st, 9, &t.report);
    col_text(st, 15, t.label, sizeof t.label);
    *stop = w->fn(&t, w->ctx) != 0;
}

static offpay_err s_terminal_stats(offpay__store *s, size_t max,
                                   int (*fn)(const offpay_overview_terminal *t,
                                             void *ctx),
                                   void *ctx)
{
    struct terminal_walk w = {fn, ctx};
    sqlite3_stmt        *st = NULL;
    offpay_err           rc = prepare(s, SQL_TERMINAL_STATS, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    return walk(st, terminal_row, &w);
}

struct revoked_walk {
    int (*fn)(const offpay_overview_revoked *r, void *ctx);
    void *ctx;
};

static void revoked_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct revoked_walk    *w = arg;
    offpay_overview_revoked r;

    memset(&r, 0, sizeof r);
    r.serial = col_u64(st, 0);
    r.wallet_account = col_u64(st, 1);
    r.currency = (uint16_t)sqlite3_column_int(st, 2);
    r.revoked_at = col_u32(st, 3);
    col_text(st, 4, r.reason, sizeof r.reason);
    r.remaining = sqlite3_column_int64(st, 5);
    r.released = sqlite3_column_type(st, 6) != SQLITE_NULL;
    *stop = w->fn(&r, w->ctx) != 0;
}

static offpay_err s_revoked_list(offpay__store *s, size_t max,
                                 int (*fn)(const offpay_overview_revoked *r,
                                           void                          *ctx),
                                 void *ctx)
{
    struct revoked_walk w = {fn, ctx};
    sqlite3_stmt       *st = NULL;
    offpay_err          rc = prepare(s, SQL_REVOKED_LIST, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    return walk(st, revoked_row, &w);
}

static offpay_err s_terminal_report(offpay__store *s, uint32_t id,
                                    const offpay_terminal_report *r)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, SQL_TERMINAL_REPORT, NULL, &st);
    int           step;

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, r->reported_at);
    sqlite3_bind_int64(st, 3, r->synced_at);
    bind_u64(st, 4, r->pending);
    if (r->state_known) { /* an older terminal's: NULL, said nothing */
        sqlite3_bind_text(st, 5, r->state, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, r->lists_at);
        sqlite3_bind_int64(st, 7, r->pending_amount);
    }
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? OFFPAY_OK : map(s->db, step);
}

/* ---- the wallet's online life (src/settle/online.c) ------------------ */

/* Prepares sql (one statement), runs it to its first row or end, and
 * finalizes it: for the statements below, which run rarely. */
static offpay_err once(offpay__store *s, const char *sql,
                       void (*bind)(sqlite3_stmt *st, const void *ctx),
                       const void *ctx,
                       int (*read)(sqlite3_stmt *st, void *out), void *out,
                       int *changes)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step;

    rc = prepare(s, sql, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind(st, ctx);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = read != NULL && read(st, out) != 0 ? OFFPAY_ESTORE : OFFPAY_OK;
    else if (step == SQLITE_DONE)
        rc = read != NULL ? OFFPAY_ENOTFOUND : OFFPAY_OK;
    else
        rc = map(sqlite3_db_handle(st), step);
    if (changes != NULL)
        *changes = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

typedef struct online_args {
    const uint8_t *blob;
    size_t         blob_len;
    int64_t        a, b, c;
    const char    *text;
} online_args;

/* Binds ?1..?5 as x says; a statement without some of them refuses
 * those binds (SQLITE_RANGE), which is harmless. */
static void bind_args(sqlite3_stmt *st, const void *ctx)
{
    const online_args *x = ctx;

    bind_blob(st, 1, x->blob, x->blob_len);
    sqlite3_bind_int64(st, 2, x->a);
    sqlite3_bind_int64(st, 3, x->b);
    sqlite3_bind_int64(st, 4, x->c);
    bind_text(st, 5, x->text);
}

/* bind_args, ?6 the code's account (NULL: none) and ?7 who made it */
struct enroll_args {
    online_args x;
    uint64_t    account;
    const char *made_by;
};

static void bind_enroll(sqlite3_stmt *st, const void *ctx)
{
    const struct enroll_args *e = ctx;

    bind_args(st, &e->x);
    bind_opt(st, 6, e->account);
    bind_text(st, 7, e->made_by);
}

static const char SQL_ENROLL_ADD[] =
    "INSERT INTO enrollments (code_hash, currency, created_at,"
    " expires_at, ref, account, made_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
    " ?7)";

static offpay_err s_enroll_add(offpay__store *s, const uint8_t hash[32],
                               uint16_t currency, const char *ref, uint32_t now,
                               uint32_t expires, uint64_t account,
                               const char *made_by)
{
    struct enroll_args e = {
        {hash, 32, currency, now, expires, ref}, account, made_by};

    return once(s, SQL_ENROLL_ADD, bind_enroll, &e, NULL, NULL, NULL);
}

/* the unused codes one operator made (?5, whatever its letters' case: a
 * name written in another case is the same operator's), directly or
 * through offpay admin (OFFPAY_ACTOR_ADMIN_SUFFIX), expired at ?3 */
static const char SQL_ENROLL_VOID_BY[] =
    "UPDATE enrollments SET expires_at = ?3 WHERE lower(made_by) IN"
    " (lower(?5), lower(?5 || ' (offpay admin)'))"
    " AND used_at IS NULL AND expires_at > ?3";

static offpay_err s_enroll_void_by(offpay__store *s, const char *who,
                                   uint32_t now, uint64_t *n)
{
    online_args x = {NULL, 0, 0, now, 0, who};
    int         changes = 0;
    offpay_err  rc =
        once(s, SQL_ENROLL_VOID_BY, bind_args, &x, NULL, NULL, &changes);

    *n = rc == OFFPAY_OK && changes > 0 ? (uint64_t)changes : 0;
    return rc;
}

/* the spare enrollment codes of an account a new wallet took
 * (024_enrollments_account) */
static const char SQL_ENROLL_VOID[] =
    "UPDATE enrollments SET expires_at = ?3 WHERE account = ?2"
    " AND used_at IS NULL AND expires_at > ?3";

static offpay_err s_enroll_void(offpay__store *s, uint64_t account,
                                uint32_t now)
{
    online_args x = {NULL, 0, (int64_t)account, now, 0, NULL};

    return once(s, SQL_ENROLL_VOID, bind_args, &x, NULL, NULL, NULL);
}

struct enroll_row {
    uint64_t v[4];
    char     ref[OFFPAY_LEDGER_REF_MAX + 1];
};

static int read_enroll(sqlite3_stmt *st, void *out)
{
    struct enroll_row *e = out;
    const char        *ref = (const char *)sqlite3_column_text(st, 4);

    e->v[0] = col_u32(st, 0);
    e->v[1] = col_u32(st, 1);
    e->v[2] = col_u32(st, 2);
    e->v[3] = col_u64(st, 3);
    if (ref == NULL || strlen(ref) > OFFPAY_LEDGER_REF_MAX)
        return -1;
    strcpy(e->ref, ref);
    return 0;
}

static const char SQL_ENROLL_GET[] =
    "SELECT currency, expires_at, COALESCE(used_at, 0),"
    " COALESCE(account, 0), COALESCE(ref, '') FROM enrollments"
    " WHERE code_hash = ?1";

static offpay_err s_enroll_get(offpay__store *s, const uint8_t hash[32],
                               uint16_t *currency, uint32_t *expires,
                               uint32_t *used_at, uint64_t *account,
                               char ref[OFFPAY_LEDGER_REF_MAX + 1])
{
    online_args       x = {hash, 32, 0, 0, 0, NULL};
    struct enroll_row e;
    offpay_err        rc;

    memset(&e, 0, sizeof e);
    rc = once(s, SQL_ENROLL_GET, bind_args, &x, read_enroll, &e, NULL);
    if (rc == OFFPAY_OK) {
        *currency = (uint16_t)e.v[0];
        *expires = (uint32_t)e.v[1];
        *used_at = (uint32_t)e.v[2];
        *account = e.v[3];
        if (ref != NULL)
            strcpy(ref, e.ref);
    }
    return rc;
}

static const char SQL_ENROLL_USE[] =
    "UPDATE enrollments SET account = ?2, used_at = ?3 WHERE"
    " code_hash = ?1 AND used_at IS NULL";

static offpay_err s_enroll_use(offpay__store *s, const uint8_t hash[32],
                               uint64_t account, uint32_t now)
{
    online_args x = {hash, 32, (int64_t)account, now, 0, NULL};
    offpay_err  rc;
    int         n = 0;

    rc = once(s, SQL_ENROLL_USE, bind_args, &x, NULL, NULL, &n);
    return rc == OFFPAY_OK && n != 1 ? OFFPAY_EEXISTS : rc;
}

static const char SQL_WALLET_KEY_ADD[] =
    "INSERT INTO wallet_keys (pk, account, enrolled_at) VALUES"
    " (?1, ?2, ?3)";

static offpay_err s_wallet_key_add(offpay__store *s,
                                   const uint8_t  pk[OFFPAY_PK_BYTES],
                                   uint64_t account, uint32_t now)
{
    online_args x = {pk, OFFPAY_PK_BYTES, (int64_t)account, now, 0, NULL};

    return once(s, SQL_WALLET_KEY_ADD, bind_args, &x, NULL, NULL, NULL);
}

typedef struct key_row {
    uint8_t  pk[OFFPAY_PK_BYTES];
    uint64_t account;
    uint32_t enrolled_at, revoked_at;
} key_row;

static int read_key(sqlite3_stmt *st, void *out)
{
    key_row *k = out;

    if (sqlite3_column_bytes(st, 0) != OFFPAY_PK_BYTES)
        return -1;
    memcpy(k->pk, sqlite3_column_blob(st, 0), OFFPAY_PK_BYTES);
    k->account = col_u64(st, 1);
    k->enrolled_at = col_u32(st, 2);
    k->revoked_at = col_u32(st, 3);
    return 0;
}

static const char SQL_WALLET_KEY_GET[] =
    "SELECT pk, account, enrolled_at, COALESCE(revoked_at, 0) FROM"
    " wallet_keys WHERE (?1 IS NOT NULL AND pk = ?1) OR (?1 IS NULL"
    " AND account = ?2) ORDER BY revoked_at IS NOT NULL,"
    " enrolled_at DESC LIMIT 1";

static offpay_err s_wallet_key_get(offpay__store *s, const uint8_t *pk,
                                   uint64_t account, uint8_t *pk_out,
                                   uint64_t *account_out, uint32_t *enrolled_at,
                                   uint32_t *revoked_at)
{
    online_args x = {pk,  pk ? OFFPAY_PK_BYTES : 0, (int64_t)account, 0, 0,
                     NULL};
    key_row     k;
    offpay_err  rc;

    memset(&k, 0, sizeof k);
    rc = once(s, SQL_WALLET_KEY_GET, bind_args, &x, read_key, &k, NULL);
    if (rc != OFFPAY_OK)
        return rc;
    if (pk_out != NULL)
        memcpy(pk_out, k.pk, OFFPAY_PK_BYTES);
    if (account_out != NULL)
        *account_out = k.account;
    if (enrolled_at != NULL)
        *enrolled_at = k.enrolled_at;
    if (revoked_at != NULL)
        *revoked_at = k.revoked_at;
    return OFFPAY_OK;
}

static const char SQL_WALLET_KEY_REVOKE[] =
    "UPDATE wallet_keys SET revoked_at = ?2 WHERE pk = ?1 AND"
    " revoked_at IS NULL";

static offpay_err s_wallet_key_revoke(offpay__store *s,
                                      const uint8_t  pk[OFFPAY_PK_BYTES],
                                      uint32_t       now)
{
    online_args x = {pk, OFFPAY_PK_BYTES, now, 0, 0, NULL};
    offpay_err  rc;
    int         n = 0;

    rc = once(s, SQL_WALLET_KEY_REVOKE, bind_args, &x, NULL, NULL, &n);
    return rc == OFFPAY_OK && n != 1 ? OFFPAY_EEXISTS : rc;
}

/* A key's credentials as wallet_creds gives them: the columns, then FROM
 * what is chosen. */
#define WALLET_CREDS_COLS                                                      \
    "SELECT c.serial, c.wallet_account, c.escrow_account, c.lim, c.currency,"  \
    " c.valid_from, c.expires, c.remaining, c.released_at, c.revoked_at,"      \
    " c.bytes, max(c.wallet_counter, (SELECT COALESCE(MAX(p.counter), 0)"      \
    " FROM payments p WHERE p.serial = c.serial)),"                            \
    " CASE WHEN c.released_at IS NULL THEN 0 ELSE (SELECT"                     \
    " COALESCE(SUM(x.amount), 0) FROM transfers x WHERE x.debit ="             \
    " c.escrow_account AND x.kind = 'release') END FROM "

static const char SQL_WALLET_CREDS[] =
    "credentials c WHERE c.wallet_pk = ?1 ORDER BY c.serial";

/* A page of them (?1 the key, ?2 and ?3 the serials between, ?5 the
 * page's size): every one through credentials_wallet_pk, in serial
 * order; the open ones (?4: released at or after it) as the two ranges
 * of credentials_wallet_pk_released, the page chosen from their serials
 * before any row is read. (+serial: the planner otherwise takes the
 * serials' range of credentials_wallet_pk for the released ones, every
 * credential of the key: 3.1 ms for a key of 10^4 rather than 0.9.) */
#define WALLET_PAGE_ALL(dir)                                                   \
    "credentials c WHERE c.wallet_pk = ?1 AND c.serial > ?2 AND c.serial <"    \
    " ?3 ORDER BY c.serial " dir " LIMIT ?5"
#define WALLET_PAGE_OPEN(dir)                                                  \
    "(SELECT serial FROM credentials WHERE wallet_pk = ?1 AND released_at"     \
    " IS NULL AND +serial > ?2 AND +serial < ?3 UNION ALL SELECT serial FROM"  \
    " credentials WHERE wallet_pk = ?1 AND released_at >= ?4 AND +serial >"    \
    " ?2 AND +serial < ?3 ORDER BY 1 " dir " LIMIT ?5) o JOIN credentials c"   \
    " ON c.serial = o.serial ORDER BY c.serial " dir

/* The rows of st (a WALLET_CREDS_COLS query) to fn, until it returns
 * non-zero. */
static offpay_err
wallet_creds_rows(sqlite3_stmt *st,
                  int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                            const uint8_t *bytes, size_t len, void *ctx),
                  void *ctx)
{
    offpay__cred_row c;
    int              step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&c, 0, sizeof c);
        c.serial = col_u64(st, 0);
        c.wallet_account = col_u64(st, 1);
        c.escrow_account = col_u64(st, 2);
        c.limit = sqlite3_column_int64(st, 3);
        c.currency = (uint16_t)col_u32(st, 4);
        c.valid_from = col_u32(st, 5);
        c.expires = col_u32(st, 6);
        c.remaining = sqlite3_column_int64(st, 7);
        c.released = sqlite3_column_type(st, 8) != SQLITE_NULL;
        c.released_at = col_u32(st, 8);
        c.revoked = sqlite3_column_type(st, 9) != SQLITE_NULL;
        c.revoked_at = col_u32(st, 9);
        c.released_amount = sqlite3_column_int64(st, 12);
        if (fn(&c, col_u32(st, 11), sqlite3_column_blob(st, 10),
               (size_t)sqlite3_column_bytes(st, 10), ctx) != 0)
            return OFFPAY_OK;
    }
    return step == SQLITE_DONE ? OFFPAY_OK : map(sqlite3_db_handle(st), step);
}

static offpay_err
s_wallet_creds(offpay__store *s, const uint8_t pk[OFFPAY_PK_BYTES],
               int (*fn)(const offpay__cred_row *c, uint32_t max_counter,
                         const uint8_t *bytes, size_t len, void *ctx),
               void *ctx)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    rc = prepare(s, WALLET_CREDS_COLS, SQL_WALLET_CREDS, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_blob(st, 1, pk, OFFPAY_PK_BYTES);
    rc = wallet_creds_rows(st, fn, ctx);
    sqlite3_finalize(st);
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
    sqlite3_stmt *st = NULL;
    offpay_err    rc;

    rc = prepare(s, WALLET_CREDS_COLS, sql[q->open_since != 0][q->newest != 0],
                 &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_blob(st, 1, pk, OFFPAY_PK_BYTES);
    bind_u64(st, 2, q->lo > INT64_MAX ? INT64_MAX : q->lo);
    bind_u64(st, 3, q->hi > INT64_MAX ? INT64_MAX : q->hi);
    bind_u64(st, 4, q->open_since);
    bind_u64(st, 5, q->max > INT64_MAX ? INT64_MAX : q->max);
    rc = wallet_creds_rows(st, fn, ctx);
    sqlite3_finalize(st);
    return rc;
}

static const char SQL_WALLET_CREDS_COUNT[] =
    "SELECT (SELECT count(*) FROM credentials WHERE wallet_pk ="
    " ?1 AND released_at IS NULL) + (SELECT count(*) FROM"
    " credentials WHERE wallet_pk = ?1 AND released_at >= ?2),"
    " CASE WHEN ?3 THEN (SELECT count(*) FROM credentials WHERE"
    " wallet_pk = ?1) ELSE 0 END";

/* (the open ones as the page reads them; every one from
 * credentials_wallet_pk alone, when asked: 0.3 ms for a key of 10^4) */
static offpay_err s_wallet_creds_count(offpay__store *s,
                                       const uint8_t  pk[OFFPAY_PK_BYTES],
                                       uint32_t open_since, uint64_t *open,
                                       uint64_t *total)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step;

    *open = 0;
    if (total != NULL)
        *total = 0;
    rc = prepare(s, SQL_WALLET_CREDS_COUNT, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_blob(st, 1, pk, OFFPAY_PK_BYTES);
    bind_u64(st, 2, open_since);
    sqlite3_bind_int(st, 3, total != NULL);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *open = col_u64(st, 0);
        if (total != NULL)
            *total = col_u64(st, 1);
    } else {
        rc = map(sqlite3_db_handle(st), step);
        if (rc == OFFPAY_OK)
            rc = OFFPAY_ESTORE;
    }
    sqlite3_finalize(st);
    return rc;
}

static const char SQL_KEY_REVOKED[] =
    "SELECT serial FROM credentials WHERE wallet_pk = ?1"
    " AND serial > ?2 AND revoked_at IS NOT NULL"
    " ORDER BY serial LIMIT ?3";

/* (credentials_wallet_pk: the key's entries by serial, each row read
 * for its revoked_at) */
static offpay_err s_key_revoked(offpay__store *s,
                                const uint8_t  pk[OFFPAY_PK_BYTES],
                                uint64_t after, uint64_t *serials, size_t max,
                                size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step;

    *n = 0;
    rc = prepare(s, SQL_KEY_REVOKED, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_blob(st, 1, pk, OFFPAY_PK_BYTES);
    bind_u64(st, 2, after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW)
        serials[(*n)++] = col_u64(st, 0);
    if (*n < max && step != SQLITE_DONE)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static const char SQL_CRED_EXPIRES[] =
    "UPDATE credentials SET expires = ?3 WHERE serial = ?2 AND"
    " expires > ?3";

static offpay_err s_cred_cut_expiry(offpay__store *s, uint64_t serial,
                                    uint32_t at)
{
    online_args x = {NULL, 0, (int64_t)serial, at, 0, NULL};

    return once(s, SQL_CRED_EXPIRES, bind_args, &x, NULL, NULL, NULL);
}

static const char SQL_CRED_COUNTER_SEEN[] =
    "UPDATE credentials SET wallet_counter = ?3 WHERE serial = ?2"
    " AND wallet_counter < ?3";

static offpay_err s_cred_counter_seen(offpay__store *s, uint64_t serial,
                                      uint32_t counter)
{
    online_args x = {NULL, 0, (int64_t)serial, counter, 0, NULL};

    return once(s, SQL_CRED_COUNTER_SEEN, bind_args, &x, NULL, NULL, NULL);
}

static int read_next(sqlite3_stmt *st, void *out);

static const char SQL_CRED_RESTORE_FLOOR[] =
    "UPDATE credentials SET restore_floor = max(restore_floor +"
    " ?3, max(wallet_counter, (SELECT COALESCE(MAX(p.counter), 0)"
    " FROM payments p WHERE p.serial = ?2)) + 1 + ?3) WHERE"
    " serial = ?2 RETURNING restore_floor";

static offpay_err s_cred_restore_floor(offpay__store *s, uint64_t serial,
                                       uint32_t gap, uint64_t *floor)
{
    online_args x = {NULL, 0, (int64_t)serial, gap, 0, NULL};

    /* read and raised in one statement (and one writer holds the whole
     * store): two unfreezes never get the same floor */
    return once(s, SQL_CRED_RESTORE_FLOOR, bind_args, &x, read_next, floor,
                NULL);
}

/* One writer (BEGIN IMMEDIATE) holds the whole store: nothing to lock. */
static offpay_err s_wallet_key_lock(offpay__store *s,
                                    const uint8_t  pk[OFFPAY_PK_BYTES])
{
    (void)s;
    (void)pk;
    return OFFPAY_OK;
}

/* ---- requests made once (005_request_keys) ---------------------------- */

/* A key, and for request_add what it did and when. */
struct request_args {
    const char            *key;
    const offpay__request *rq; /* NULL: the key only */
    uint32_t               now;
};

static void bind_request(sqlite3_stmt *st, const void *ctx)
{
    const struct request_args *x = ctx;

    bind_text(st, 1, x->key);
    if (x->rq == NULL)
        return;
    sqlite3_bind_int(st, 2, x->rq->op);
    bind_u64(st, 3, x->rq->account);
    sqlite3_bind_int64(st, 4, x->rq->amount);
    bind_u64(st, 5, x->rq->result);
    sqlite3_bind_int64(st, 6, x->now);
    /* a merchant's name, a wallet account's ref (017_request_keys_made) */
    bind_text(st, 7,
              x->rq->op == OFFPAY__REQ_MERCHANT ||
                      x->rq->op == OFFPAY__REQ_ACCOUNT
                  ? x->rq->text
                  : NULL);
}

static int read_request(sqlite3_stmt *st, void *out)
{
    offpay__request *rq = out;

    rq->op = sqlite3_column_int(st, 0);
    rq->account = col_u64(st, 1);
    rq->amount = sqlite3_column_int64(st, 2);
    rq->result = col_u64(st, 3);
    col_text(st, 4, rq->text, sizeof rq->text);
    return 0;
}

static const char SQL_REQUEST_GET[] =
    "SELECT op, account, amount, result, request"
    " FROM request_keys WHERE request_key = ?1";

static offpay_err s_request_get(offpay__store *s, const char *key,
                                offpay__request *out)
{
    struct request_args x = {key, NULL, 0};

    return once(s, SQL_REQUEST_GET, bind_request, &x, read_request, out, NULL);
}

static const char SQL_REQUEST_ADD[] =
    "INSERT INTO request_keys (request_key, op, account, amount,"
    " result, made_at, request)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static offpay_err s_request_add(offpay__store *s, const char *key,
                                const offpay__request *rq, uint32_t now)
{
    struct request_args x = {key, rq, now};

    return once(s, SQL_REQUEST_ADD, bind_request, &x, NULL, NULL, NULL);
}

/* ---- a terminal that revoked itself (006_terminal_retirement) -------- */

struct retired_out {
    int      how;
    uint32_t rotated_to;
};

static int read_retired(sqlite3_stmt *st, void *out)
{
    struct retired_out *o = out;

    o->how = sqlite3_column_int(st, 0);
    o->rotated_to = col_u32(st, 1);
    return 0;
}

static void bind_terminal_id(sqlite3_stmt *st, const void *ctx)
{
    sqlite3_bind_int64(st, 1, *(const uint32_t *)ctx);
}

static const char SQL_TERMINAL_RETIRED[] =
    "SELECT retired, rotated_to FROM terminals WHERE id = ?1";

/* One writer (BEGIN IMMEDIATE) holds the whole store: nothing to lock. */
static offpay_err s_terminal_retired(offpay__store *s, uint32_t id, int *how,
                                     uint32_t *rotated_to)
{
    struct retired_out o = {0, 0};
    offpay_err         rc;

    rc = once(s, SQL_TERMINAL_RETIRED, bind_terminal_id, &id, read_retired, &o,
              NULL);
    if (rc == OFFPAY_OK) {
        *how = o.how;
        *rotated_to = o.rotated_to;
    }
    return rc;
}

/* An account's transfers, a page at a time: each side's index gives its
 * first max rows above the cursor in the period [?4, ?5] (the time is
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
                      "= ?1"
                      " AND id > ?2 AND at BETWEEN ?4 AND ?5 ORDER BY id LIMIT "
                      "?3) dr"
                      " UNION ALL SELECT id FROM (SELECT id FROM transfers "
                      "WHERE credit = ?1"
                      " AND id > ?2 AND at BETWEEN ?4 AND ?5 ORDER BY id LIMIT "
                      "?3) cr) x"
                      " JOIN transfers t ON t.id = x.id"
                      " JOIN accounts a ON a.id = CASE WHEN t.debit = ?1 THEN "
                      "t.credit"
                      " ELSE t.debit END"
                      " LEFT JOIN presentments p ON p.id = t.presentment"
                      " ORDER BY t.id LIMIT ?3";

/* One transfer of an account's history, from a row of SQL_TRANSFERS_OF or
 * offpay__period_moves_sql (id, at, kind, debit, amount, presentment,
 * case, ref, the other account and its kind, the credential's serial,
 * who booked it): its amount negative when it left the account. */
static offpay_err transfer_row(sqlite3_stmt *st, uint64_t account,
                               offpay_account_transfer *x)
{
    const char *kind = (const char *)sqlite3_column_text(st, 2);
    const char *ref = (const char *)sqlite3_column_text(st, 7);
    const char *by = (const char *)sqlite3_column_text(st, 11);
    int64_t     amount = sqlite3_column_int64(st, 4);

    memset(x, 0, sizeof *x);
    x->id = col_u64(st, 0);
    x->at = col_u32(st, 1);
    x->amount = col_u64(st, 3) == account ? -amount : amount;
    x->presentment = col_u64(st, 5);
    x->case_id = col_u64(st, 6);
    x->other = col_u64(st, 8);
    x->other_kind = (offpay_account_kind)sqlite3_column_int(st, 9);
    x->serial = col_u64(st, 10);
    if (kind == NULL || strlen(kind) >= sizeof x->kind ||
        (ref != NULL && strlen(ref) >= sizeof x->ref) ||
        (by != NULL && strlen(by) >= sizeof x->by))
        return OFFPAY_ESTORE;
    strcpy(x->kind, kind);
    if (ref != NULL)
        strcpy(x->ref, ref);
    if (by != NULL)
        strcpy(x->by, by);
    return OFFPAY_OK;
}

static offpay_err s_transfers_of(offpay__store *s, uint64_t account,
                                 uint32_t from, uint32_t to, uint64_t after,
                                 size_t max, offpay_account_transfer *out,
                                 size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step = SQLITE_DONE;

    *n = 0;
    rc = prepare(s, SQL_TRANSFERS_OF, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, account);
    bind_u64(st, 2, after);
    sqlite3_bind_int64(st, 3, max > INT32_MAX ? INT32_MAX : (sqlite3_int64)max);
    sqlite3_bind_int64(st, 4, from);
    sqlite3_bind_int64(st, 5, to);
    while (rc == OFFPAY_OK && *n < max &&
           (step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = transfer_row(st, account, &out[*n])) == OFFPAY_OK)
            (*n)++;
    if (rc == OFFPAY_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err
s_account_period(offpay__store *s, uint64_t account, uint32_t from, uint32_t to,
                 int64_t sums[OFFPAY__PERIOD_SUMS],
                 int (*move)(const offpay_account_transfer *t, void *ctx),
                 void *ctx)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__period_sums_sql, NULL, &st);
    int           step = SQLITE_DONE;

    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, account);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    rc = row(st);
    for (int i = 0; rc == OFFPAY_OK && i < OFFPAY__PERIOD_SUMS; i++)
        sums[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
    if (rc != OFFPAY_OK || move == NULL)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    rc = prepare(s, offpay__period_moves_sql, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, account);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    while (rc == OFFPAY_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay_account_transfer x;

        if ((rc = transfer_row(st, account, &x)) != OFFPAY_OK)
            break;
        if (move(&x, ctx) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_escrow_flows(offpay__store *s, uint64_t escrow,
                                 int64_t out[OFFPAY__ESCROW_FLOWS])
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__escrow_flows_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, escrow);
    rc = row(st);
    for (int i = 0; rc == OFFPAY_OK && i < OFFPAY__ESCROW_FLOWS; i++)
        out[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_late_hold(offpay__store *s, uint64_t account,
                              uint32_t since, int64_t *held,
                              uint32_t *released_at)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__late_hold_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, account);
    sqlite3_bind_int64(st, 2, since);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        *held = sqlite3_column_int64(st, 0);
        *released_at = col_u32(st, 1);
    }
    sqlite3_finalize(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

/* The marking job's step (store.h): BEGIN IMMEDIATE made this the one
 * writer, so every transfer up to the highest id is committed. */
static offpay_err s_marks_advance(offpay__store *s, uint32_t now, uint64_t max,
                                  uint64_t *marked, int *more, uint64_t *lo,
                                  uint64_t *hi_out)
{
    sqlite3_stmt *st = NULL;
    int64_t       last, prev_at, first, top, hi;
    offpay_err    rc = prepare(s, offpay__marks_last_sql, NULL, &st);

    *marked = 0;
    *more = 0;
    *lo = *hi_out = 0;
    if (rc == OFFPAY_OK)
        rc = row(st);
    if (rc != OFFPAY_OK) {
        sqlite3_finalize(st);
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    }
    last = sqlite3_column_int64(st, 0);
    prev_at = sqlite3_column_int64(st, 1);
    first = sqlite3_column_int64(st, 2);
    top = sqlite3_column_int64(st, 3);
    sqlite3_finalize(st);
    if (first == 0 || top <= last)
        return OFFPAY_OK;
    hi = (uint64_t)(top - first) >= max ? first + (int64_t)max - 1 : top;
    rc = prepare(s, offpay__balance_marks_put_sql, NULL, &st);
    if (rc == OFFPAY_OK) {
        sqlite3_bind_int64(st, 1, last);
        sqlite3_bind_int64(st, 2, hi);
        rc = run(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == OFFPAY_OK)
        rc = prepare(s, offpay__transfer_mark_put_sql, NULL, &st);
    if (rc == OFFPAY_OK) {
        sqlite3_bind_int64(st, 1, last);
        sqlite3_bind_int64(st, 2, hi);
        sqlite3_bind_int64(st, 3, prev_at);
        sqlite3_bind_int64(st, 4, now);
        rc = run(st);
    }
    sqlite3_finalize(st);
    if (rc == OFFPAY_OK) {
        *marked = (uint64_t)(hi - first + 1);
        *more = top > hi;
        *lo = (uint64_t)last;
        *hi_out = (uint64_t)hi;
    }
    return rc;
}

/* How far the marks go, and with drop every mark removed (store.h; the
 * write transaction is the lock). */
static offpay_err s_marks_state(offpay__store *s, int drop,
                                offpay_ledger_marks_info *out)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__marks_state_sql, NULL, &st);

    if (rc == OFFPAY_OK)
        rc = row(st);
    if (rc == OFFPAY_OK) {
        out->transfer_marks = col_u64(st, 0);
        out->balance_marks = col_u64(st, 1);
        out->upto = col_u64(st, 2);
        out->latest_at = col_u32(st, 3);
        out->made_at = col_u32(st, 4);
        out->max_id = col_u64(st, 5);
        out->unmarked = col_u64(st, 6);
    }
    sqlite3_finalize(st);
    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_ESTORE;
    for (int i = 0; drop && rc == OFFPAY_OK && i < 2; i++) {
        st = NULL;
        rc = prepare(s,
                     i == 0 ? offpay__balance_marks_drop_sql
                            : offpay__transfer_marks_drop_sql,
                     NULL, &st);
        if (rc == OFFPAY_OK)
            rc = run(st);
        sqlite3_finalize(st);
    }
    return rc;
}

/* The wallets' marks (store.h), in their own transaction: a write one,
 * SQLite's one writer for its time. */
static offpay_err s_wallet_marks(offpay__store *s, uint64_t lo, uint64_t hi)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__wallet_marks_put_sql, NULL, &st);

    if (rc == OFFPAY_OK) {
        bind_u64(st, 1, lo);
        bind_u64(st, 2, hi);
        rc = run(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_refund_base(offpay__store *s, uint64_t presentment,
                                uint64_t replayed, offpay__refund_base *out)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__refund_base_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, presentment);
    bind_u64(st, 2, replayed);
    rc = row(st);
    if (rc == OFFPAY_OK) {
        out->serial = col_u64(st, 0);
        out->terminal = col_u32(st, 1);
        out->paid = sqlite3_column_int64(st, 2);
        out->covered = sqlite3_column_int64(st, 3);
        out->refunded = sqlite3_column_int64(st, 4);
        out->guarantee_out = sqlite3_column_int64(st, 5);
        out->first_to_guarantee = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_cases_open(offpay__store *s, uint64_t *n, uint32_t *oldest)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__cases_open_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    rc = row(st);
    if (rc == OFFPAY_OK) {
        *n = col_u64(st, 0);
        *oldest = col_u32(st, 1);
    }
    sqlite3_finalize(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_terminal_label(offpay__store *s, uint32_t id,
                                   const char *label, uint32_t at, int *changed)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s,
                            label != NULL ? offpay__terminal_label_set_sql
                                             : offpay__terminal_label_clear_sql,
                               NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if (label != NULL) {
        sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, at);
    }
    rc = run(st);
    *changed = rc == OFFPAY_OK && sqlite3_changes(s->db) > 0;
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_refusal_add(offpay__store *s, const offpay__refusal_row *r)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__refusal_add_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, r->r.terminal_id);
    bind_u64(st, 2, r->r.serial);
    sqlite3_bind_int64(st, 3, r->r.counter);
    bind_blob(st, 4, r->code_hash, sizeof r->code_hash);
    sqlite3_bind_int64(st, 5, r->r.charged);
    sqlite3_bind_int64(st, 6, (int)r->r.reason);
    sqlite3_bind_int64(st, 7, r->r.accepted_at);
    sqlite3_bind_int64(st, 8, r->r.uploaded_at);
    rc = run(st);
    sqlite3_finalize(st);
    return rc;
}

struct refusal_walk {
    int (*fn)(const offpay_refusal *r, void *ctx);
    void *ctx;
};

static void refusal_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct refusal_walk *w = arg;
    offpay_refusal       r;

    memset(&r, 0, sizeof r);
    r.terminal_id = col_u32(st, 0);
    r.serial = col_u64(st, 1);
    r.counter = col_u32(st, 2);
    r.charged = sqlite3_column_int64(st, 3);
    r.reason = (offpay_err)sqlite3_column_int(st, 4);
    r.accepted_at = col_u32(st, 5);
    r.uploaded_at = col_u32(st, 6);
    *stop = w->fn(&r, w->ctx) != 0;
}

static offpay_err s_refusals(offpay__store *s, uint64_t merchant, uint32_t from,
                             uint32_t to,
                             int (*fn)(const offpay_refusal *r, void *ctx),
                             void *ctx)
{
    struct refusal_walk w = {fn, ctx};
    sqlite3_stmt       *st = NULL;
    offpay_err          rc = prepare(s, offpay__refusals_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, merchant);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    return walk(st, refusal_row, &w);
}

/* ---- what operators did (032_operator_actions) ---------------------- */

static offpay_err s_newest_action_at(offpay__store *s, uint32_t *at)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__newest_action_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    rc = row(st);
    if (rc == OFFPAY_OK)
        *at = col_u32(st, 0);
    sqlite3_finalize(st);
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

static offpay_err s_action_add(offpay__store                *s,
                               const offpay_operator_action *a)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__action_add_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, a->at);
    bind_text(st, 2, a->who);
    bind_text(st, 3, a->action);
    bind_opt(st, 4, a->subject);
    bind_text(st, 5, a->detail[0] != '\0' ? a->detail : NULL);
    rc = run(st);
    sqlite3_finalize(st);
    return rc;
}

struct action_walk {
    int (*fn)(const offpay_operator_action *a, void *ctx);
    void      *ctx;
    offpay_err rc; /* a row the library did not write */
};

static void action_row(sqlite3_stmt *st, void *arg, int *stop)
{
    struct action_walk    *w = arg;
    offpay_operator_action a;

    /* a text longer than the library writes (the table bounds
     * characters, not bytes) is no row of its: refused whole, never read
     * cut (a digest of it would not see the rest) */
    if ((size_t)sqlite3_column_bytes(st, 2) >= sizeof a.who ||
        (size_t)sqlite3_column_bytes(st, 3) >= sizeof a.action ||
        (size_t)sqlite3_column_bytes(st, 5) >= sizeof a.detail) {
        w->rc = OFFPAY_ESTORE;
        *stop = 1;
        return;
    }
    memset(&a, 0, sizeof a);
    a.id = col_u64(st, 0);
    a.at = col_u32(st, 1);
    col_text(st, 2, a.who, sizeof a.who);
    col_text(st, 3, a.action, sizeof a.action);
    a.subject = col_u64(st, 4);
    col_text(st, 5, a.detail, sizeof a.detail);
    *stop = w->fn(&a, w->ctx) != 0;
}

static offpay_err
s_actions(offpay__store *s, const offpay_action_filter *f, uint32_t after_at,
          int64_t after_id, size_t                                     max,
          int (*fn)(const offpay_operator_action *a, void *ctx), void *ctx)
{
    struct action_walk w = {fn, ctx, OFFPAY_OK};
    int                who = f->who != NULL && f->who[0] != '\0';
    sqlite3_stmt      *st = NULL;
    offpay_err         rc = prepare(
                s, who ? offpay__actions_who_sql : offpay__actions_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, after_at);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, f->to != 0 ? f->to : UINT32_MAX);
    sqlite3_bind_text(st, 4, f->action != NULL ? f->action : "", -1,
                      SQLITE_TRANSIENT);
    bind_u64(st, 5, f->subject);
    if (who)
        sqlite3_bind_text(st, 6, f->who, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, who ? 7 : 6, (sqlite3_int64)max);
    rc = walk(st, action_row, &w);
    return rc == OFFPAY_OK ? w.rc : rc;
}

static offpay_err s_terminal_label_carry(offpay__store *s, uint32_t from,
                                         uint32_t to, uint32_t at)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__terminal_label_carry_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, to);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int64(st, 3, from);
    rc = run(st);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_terminal_report_get(offpay__store *s, uint32_t id,
                                        offpay_terminal_report *out)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = prepare(s, offpay__terminal_report_get_sql, NULL, &st);

    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = row(st);
    if (rc == OFFPAY_OK)
        report_cols(st, 0, out);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_merchants(offpay__store *s, uint64_t after, size_t max,
                              offpay_merchant_info *out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step = SQLITE_DONE;

    *n = 0;
    rc = prepare(s, offpay__merchants_sql, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, after);
    sqlite3_bind_int64(st, 2, max > INT32_MAX ? INT32_MAX : (sqlite3_int64)max);
    while (rc == OFFPAY_OK && *n < max &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay_merchant_info *m = &out[*n];
        const char           *name = (const char *)sqlite3_column_text(st, 3);

        memset(m, 0, sizeof *m);
        m->id = col_u64(st, 0);
        m->account = col_u64(st, 1);
        m->currency = (uint16_t)sqlite3_column_int(st, 2);
        m->created_at = col_u32(st, 4);
        m->terminals = col_u32(st, 5);
        m->terminals_active = col_u32(st, 6);
        m->balance = sqlite3_column_int64(st, 7);
        m->closed_at = col_u32(st, 8); /* NULL: 0, open */
        if (name == NULL || name[0] == '\0' || strlen(name) > OFFPAY_NAME_MAX)
            rc = OFFPAY_ESTORE;
        else {
            strcpy(m->name, name);
            (*n)++;
        }
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_terminals(offpay__store *s, uint64_t merchant,
                              uint32_t after, size_t max,
                              offpay__terminal_list_row *out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step = SQLITE_DONE;

    *n = 0;
    rc = prepare(s, offpay__terminals_sql, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, merchant != 0);
    bind_u64(st, 3, merchant);
    sqlite3_bind_int64(st, 4, max > INT32_MAX ? INT32_MAX : (sqlite3_int64)max);
    while (rc == OFFPAY_OK && *n < max &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay__terminal_list_row    *row = &out[*n];
        offpay_ledger_terminal_entry *e = &row->e;
        int                           cred = sqlite3_column_bytes(st, 5);

        memset(row, 0, sizeof *row);
        e->terminal_id = col_u32(st, 0);
        e->merchant_id = col_u64(st, 1);
        col_text(st, 2, e->merchant_name, sizeof e->merchant_name);
        e->currency = (uint16_t)sqlite3_column_int(st, 3);
        e->created_at = col_u32(st, 6);
        e->state =
            offpay__terminal_state(sqlite3_column_type(st, 7) != SQLITE_NULL,
                                   sqlite3_column_int(st, 8));
        e->revoked_at = col_u32(st, 7);
        if (e->state == OFFPAY_TERMINAL_ROTATED)
            e->rotated_to = col_u32(st, 9);
        col_text(st, 10, e->revoke_reason, sizeof e->revoke_reason);
        report_cols(st, 11, &e->report);
        col_text(st, 17, e->label, sizeof e->label);
        if (sqlite3_column_bytes(st, 4) != OFFPAY_PK_BYTES || cred < 0 ||
            (size_t)cred > sizeof row->cred) {
            rc = OFFPAY_ESTORE;
            break;
        }
        memcpy(e->pk, sqlite3_column_blob(st, 4), OFFPAY_PK_BYTES);
        if (cred > 0)
            memcpy(row->cred, sqlite3_column_blob(st, 5), (size_t)cred);
        row->cred_len = (size_t)cred;
        (*n)++;
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_cred_kids(offpay__store *s, uint32_t now,
                              offpay__cred_kid_row *out, size_t max, size_t *n,
                              int *more)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step = SQLITE_DONE;

    *n = 0;
    *more = 0;
    rc = prepare(s, offpay__cred_kids_sql, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    while (rc == OFFPAY_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay__cred_kid_row *k = &out[*n];
        int                   len = sqlite3_column_bytes(st, 0);
        const uint8_t        *b = sqlite3_column_blob(st, 0);

        if (*n == max) {
            *more = 1;
            break;
        }
        memset(k, 0, sizeof *k);
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            if (len != 2 || b == NULL) {
                rc = OFFPAY_ESTORE; /* a credential shorter than its kid */
                break;
            }
            k->has_kid = 1;
            k->kid = (uint16_t)((b[0] << 8) | b[1]);
        }
        k->n = col_u64(st, 1);
        k->live = col_u64(st, 2);
        k->expires = col_u32(st, 3);
        (*n)++;
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_cred_bytes(offpay__store *s, uint64_t serial,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES])
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step;

    rc = prepare(s, offpay__cred_bytes_sql, NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, serial);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE ||
        (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL))
        rc = OFFPAY_ENOTFOUND;
    else if (step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    else if (sqlite3_column_bytes(st, 0) != OFFPAY_WALLET_CRED_BYTES)
        rc = OFFPAY_ESTORE;
    else
        memcpy(bytes, sqlite3_column_blob(st, 0), OFFPAY_WALLET_CRED_BYTES);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_wallet_accounts(offpay__store *s, const char *ref,
                                    uint64_t after, size_t max,
                                    offpay_wallet_account_info *out,
                                    offpay__wallet_late *late, size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           step = SQLITE_DONE;

    *n = 0;
    rc = prepare(s,
                 ref != NULL ? offpay__wallet_accounts_ref_sql
                             : offpay__wallet_accounts_sql,
                 NULL, &st);
    if (rc != OFFPAY_OK)
        return rc;
    bind_u64(st, 1, after);
    if (ref != NULL)
        bind_text(st, 2, ref);
    sqlite3_bind_int64(st, ref != NULL ? 3 : 2,
                       max > INT32_MAX ? INT32_MAX : (sqlite3_int64)max);
    while (rc == OFFPAY_OK && *n < max &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay_wallet_account_info *a = &out[*n];
        const char *r = (const char *)sqlite3_column_text(st, 2);

        memset(a, 0, sizeof *a);
        a->id = col_u64(st, 0);
        a->currency = (uint16_t)sqlite3_column_int(st, 1);
        a->created_at = col_u32(st, 3);
        a->balance = sqlite3_column_int64(st, 4);
        a->credentials = col_u32(st, 5);
        a->credentials_active = col_u32(st, 6);
        a->lost_at = col_u32(st, 7);
        a->escrow_held = sqlite3_column_int64(st, 8);
        a->escrow_back = col_u32(st, 9);
        late[*n].released_at = col_u32(st, 10);
        late[*n].expires = col_u32(st, 11);
        if (r == NULL || strlen(r) > OFFPAY_LEDGER_REF_MAX)
            rc = OFFPAY_ESTORE;
        else {
            strcpy(a->ref, r);
            (*n)++;
        }
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = map(sqlite3_db_handle(st), step);
    sqlite3_finalize(st);
    return rc;
}

/* ---- the ids' floor (012_id_floors) ---------------------------------- */

static int read_next(sqlite3_stmt *st, void *out)
{
    sqlite3_int64 v = sqlite3_column_int64(st, 0);

    *(uint64_t *)out = v > 0 ? (uint64_t)v : 0;
    return v > 0 ? 0 : -1;
}

/* A read of the ledger's first table (its schema not newer than this
 * offpay's: schema_current), then the file's place. */
static offpay_err s_check(offpay__store *s)
{
    offpay_err rc = schema_current(s);

    return rc == OFFPAY_OK ? moved_away(s) : rc;
}

/* The write lock taken without waiting and let go (store.h): whether
 * another process holds it. The gate is only tried: one of this process's
 * writers holding it cannot tell. */
static int s_lock_probe(offpay__store *s)
{
    int step, r = -1;

    if (s->in_tx || s->gate == NULL || pthread_mutex_trylock(&s->gate->mu) != 0)
        return -1;
    sqlite3_busy_handler(s->db, NULL, NULL);
    step = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (step == SQLITE_OK) {
        r = 1;
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    } else if ((step & 0xff) == SQLITE_BUSY)
        r = 0;
    sqlite3_busy_handler(s->db, store_busy, s);
    pthread_mutex_unlock(&s->gate->mu);
    return r;
}

/* The next id as S_CRED_ADD and S_TERMINAL_ADD give it, plus by (?2). */
#define IDS_SKIP_SQL(what, col, table)                                         \
    "INSERT INTO id_floors (what, next) VALUES ('" what "',"                   \
    " max(coalesce((SELECT max(" col ") FROM " table "), 0) + 1,"              \
    " coalesce((SELECT next FROM id_floors WHERE what = '" what "'), 0))"      \
    " + ?2) ON CONFLICT (what) DO UPDATE SET next = excluded.next"             \
    " RETURNING next"
static const char SQL_IDS_SKIP_TERMINAL[] =
    IDS_SKIP_SQL("terminal", "id", "terminals");
static const char SQL_IDS_SKIP_SERIAL[] =
    IDS_SKIP_SQL("serial", "serial", "credentials");

static offpay_err s_ids_skip(offpay__store *s, int terminal, uint64_t by,
                             uint64_t *next)
{
    online_args x = {NULL, 0, 0, 0, 0, NULL};
    offpay_err  rc;

    if (by > (uint64_t)INT32_MAX * 4)
        return OFFPAY_ERANGE;
    if (terminal == OFFPAY__IDS_REVLIST) {
        x.a = (int64_t)by;
        rc = once(s, REVLIST_SKIP_SQL("?2"), bind_args, &x, read_next, next,
                  NULL);
        if (rc == OFFPAY_OK && *next > OFFPAY__REVLIST_OFFSET_MAX)
            rc = OFFPAY_ERANGE; /* rolled back */
        return rc;
    }
    x.a = (int64_t)by;
    rc = once(s, terminal ? SQL_IDS_SKIP_TERMINAL : SQL_IDS_SKIP_SERIAL,
              bind_args, &x, read_next, next, NULL);
    if (rc == OFFPAY_OK && terminal && *next > UINT32_MAX)
        rc = OFFPAY_ERANGE; /* terminal ids are 32 bits (rolled back) */
    return rc;
}

/* ---- the ledger copied to another backend (src/settle/copy.c) ------- */

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

/* A table's columns, its id (an INTEGER PRIMARY KEY alone: the rowid,
 * which a new row takes as the highest + 1) and the tables it names. */
static offpay_err copy_table_of(offpay__store *s, offpay__copy_table *t)
{
    char          sql[160];
    sqlite3_stmt *st = NULL;
    int           step, pks = 0;
    offpay_err    rc = OFFPAY_OK;

    snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", t->name);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 1);
        const char *type = (const char *)sqlite3_column_text(st, 2);

        if (col == NULL || !copy_name_ok(col) ||
            t->n_cols == OFFPAY__COPY_COLS_MAX) {
            rc = OFFPAY_ETOOBIG;
            break;
        }
        snprintf(t->col[t->n_cols++], sizeof t->col[0], "%s", col);
        if (sqlite3_column_int(st, 5) > 0) {
            pks++;
            if (type != NULL && sqlite3_stricmp(type, "INTEGER") == 0)
                snprintf(t->id, sizeof t->id, "%s", col);
        }
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = map(s->db, step);
    sqlite3_finalize(st);
    if (pks != 1)
        t->id[0] = '\0'; /* a key of several columns is no rowid */
    if (rc != OFFPAY_OK)
        return rc;
    snprintf(sql, sizeof sql, "PRAGMA foreign_key_list(\"%s\")", t->name);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *ref = (const char *)sqlite3_column_text(st, 2);
        size_t      k;

        if (ref == NULL || strcmp(ref, t->name) == 0)
            continue;
        for (k = 0; k < t->n_refs && strcmp(t->ref[k], ref) != 0; k++)
            ;
        if (k < t->n_refs)
            continue;
        if (t->n_refs == OFFPAY__COPY_REFS_MAX) {
            rc = OFFPAY_ETOOBIG;
            break;
        }
        snprintf(t->ref[t->n_refs++], sizeof t->ref[0], "%s", ref);
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = map(s->db, step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_copy_tables(offpay__store *s, offpay__copy_table *out,
                                size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int           step;
    offpay_err    rc = OFFPAY_OK;

    *n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name FROM sqlite_master WHERE type = "
                           "'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE "
                           "'\\' AND name <> 'schema_version' ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (*n == max) {
            rc = OFFPAY_ETOOBIG;
            break;
        }
        if (name == NULL || !copy_name_ok(name)) {
            offpay__log("offpay: the ledger holds a table named '%s', not "
                        "one of its schema's\n",
                        name != NULL ? name : "");
            rc = OFFPAY_ESTORE;
            break;
        }
        memset(&out[*n], 0, sizeof out[*n]);
        snprintf(out[*n].name, sizeof out[*n].name, "%s", name);
        (*n)++;
    }
    if (rc == OFFPAY_OK && step != SQLITE_DONE)
        rc = map(s->db, step);
    sqlite3_finalize(st);
    for (size_t i = 0; rc == OFFPAY_OK && i < *n; i++)
        rc = copy_table_of(s, &out[i]);
    return rc;
}

static offpay_err s_copy_rows(offpay__store *s, const char *table,
                              const char *const *cols, size_t n,
                              int (*fn)(const offpay__copy_value *v, void *ctx),
                              void *ctx)
{
    offpay__copy_value v[OFFPAY__COPY_COLS_MAX];
    char               sql[OFFPAY__COPY_COLS_MAX * (OFFPAY__COPY_NAME_MAX + 3) +
             OFFPAY__COPY_NAME_MAX + 32];
    size_t             at;
    sqlite3_stmt      *st = NULL;
    int                step;
    offpay_err         rc = OFFPAY_OK;

    if (n == 0 || n > OFFPAY__COPY_COLS_MAX || !copy_name_ok(table))
        return OFFPAY_EINVAL;
    at = (size_t)snprintf(sql, sizeof sql, "SELECT ");
    for (size_t k = 0; k < n; k++) {
        if (!copy_name_ok(cols[k]))
            return OFFPAY_EINVAL;
        at += (size_t)snprintf(sql + at, sizeof sql - at, "%s\"%s\"",
                               k == 0 ? "" : ", ", cols[k]);
    }
    snprintf(sql + at, sizeof sql - at, " FROM \"%s\"", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t k = 0; k < n; k++) {
            int type = sqlite3_column_type(st, (int)k);

            memset(&v[k], 0, sizeof v[k]);
            if (type == SQLITE_INTEGER) {
                v[k].type = OFFPAY__COPY_INT;
                v[k].i = sqlite3_column_int64(st, (int)k);
            } else if (type == SQLITE_TEXT) {
                v[k].type = OFFPAY__COPY_TEXT;
                v[k].p = sqlite3_column_text(st, (int)k);
                v[k].len = (size_t)sqlite3_column_bytes(st, (int)k);
            } else if (type == SQLITE_BLOB) {
                v[k].type = OFFPAY__COPY_BLOB;
                v[k].p = sqlite3_column_blob(st, (int)k);
                v[k].len = (size_t)sqlite3_column_bytes(st, (int)k);
            } else if (type != SQLITE_NULL) {
                rc = OFFPAY_ESTORE; /* a float: no column of the schema's */
            }
        }
        if (rc != OFFPAY_OK || fn(v, ctx) != 0)
            break;
    }
    if (rc == OFFPAY_OK && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = map(s->db, step);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_copy_write(offpay__store *s, const char *table,
                               const char *const *cols, size_t n,
                               const offpay__copy_value *rows, size_t n_rows)
{
    (void)s;
    (void)table;
    (void)cols;
    (void)n;
    (void)rows;
    (void)n_rows;
    return OFFPAY_EINVAL;
}

static offpay_err s_next_id(offpay__store *s, const char *table, const char *id,
                            uint64_t *next)
{
    /* as S_CRED_ADD and S_TERMINAL_ADD give it: the floor counts */
    const char   *floor = strcmp(table, "credentials") == 0 ? "serial"
                          : strcmp(table, "terminals") == 0 ? "terminal"
                                                            : "";
    char          sql[256];
    sqlite3_stmt *st = NULL;
    int           step;
    offpay_err    rc;

    if (!copy_name_ok(table) || !copy_name_ok(id))
        return OFFPAY_EINVAL;
    snprintf(sql, sizeof sql,
             "SELECT max(coalesce((SELECT max(\"%s\") FROM \"%s\"), 0) + 1,"
             " coalesce((SELECT next FROM id_floors WHERE what = '%s'), 0))",
             id, table, floor);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return map(s->db, sqlite3_errcode(s->db));
    step = sqlite3_step(st);
    rc = step == SQLITE_ROW ? OFFPAY_OK : map(s->db, step);
    if (rc == OFFPAY_OK)
        *next = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static offpay_err s_next_id_set(offpay__store *s, const char *table,
                                const char *id, uint64_t next)
{
    (void)s;
    (void)table;
    (void)id;
    (void)next;
    return OFFPAY_EINVAL;
}

/* The statements prepared when they run (rare: an operator's look-up, a
 * page of a list, a job's step), as prepare() joins them: planned by
 * offpay__store_sqlite_plans too. Not here: the copy-ledger's (PRAGMAs,
 * every row of a table) and the marks' removal (DELETE of all), whole
 * tables by design. A statement added to the store belongs here or in
 * SQL. */
static const char *const SQL_RARE_PLANNED[][2] = {
    {SQL_CASES, SQL_CASES_WHERE},
    {SQL_CASES, SQL_CASES_OPEN_WHERE},
    {SQL_CASES, SQL_CASE_GET_WHERE},
    {SQL_CASE_LOCK, ""},
    {SQL_CASE_NOTE_ADD, ""},
    {SQL_CASE_CLOSED_SET, ""},
    {SQL_CASE_NOTES, ""},
    {SQL_CASE_NOTE_NEWEST, ""},
    {SQL_PRESENTMENTS_OF, ""},
    {SQL_TERMINAL_CRED, ""},
    {SQL_RECEIPTS_OF, ""},
    {SQL_KIND_TOTALS, ""},
    {SQL_SETTLE_BUCKETS, ""},
    {SQL_TERMINAL_STATS, ""},
    {SQL_REVOKED_LIST, ""},
    {SQL_TERMINAL_REPORT, ""},
    {WALLET_CREDS_COLS, SQL_WALLET_CREDS},
    {WALLET_CREDS_COLS, WALLET_PAGE_ALL("ASC")},
    {WALLET_CREDS_COLS, WALLET_PAGE_ALL("DESC")},
    {WALLET_CREDS_COLS, WALLET_PAGE_OPEN("ASC")},
    {WALLET_CREDS_COLS, WALLET_PAGE_OPEN("DESC")},
    {SQL_TRANSFERS_OF, ""},
    {offpay__period_sums_sql, ""},
    {offpay__period_moves_sql, ""},
    {offpay__escrow_flows_sql, ""},
    {offpay__late_hold_sql, ""},
    {offpay__marks_last_sql, ""},
    {offpay__balance_marks_put_sql, ""},
    {offpay__transfer_mark_put_sql, ""},
    {offpay__marks_state_sql, ""},
    {offpay__wallet_marks_put_sql, ""},
    {offpay__refund_base_sql, ""},
    {offpay__terminal_report_get_sql, ""},
    {offpay__terminal_label_set_sql, ""},
    {offpay__terminal_label_clear_sql, ""},
    {offpay__terminal_label_carry_sql, ""},
    {offpay__refusal_add_sql, ""},
    {offpay__refusals_sql, ""},
    {offpay__cases_open_sql, ""},
    {offpay__merchants_sql, ""},
    {offpay__terminals_sql, ""},
    {offpay__cred_kids_sql, ""},
    {offpay__cred_bytes_sql, ""},
    {offpay__wallet_accounts_sql, ""},
    {offpay__wallet_accounts_ref_sql, ""},
    {offpay__owed_open_sql, ""},
    {offpay__owed_at_sql, ""},
    {offpay__sheet_sql, ""},
    {offpay__transfers_range_sql, ""},
    {SQL_ENROLL_ADD, ""},
    {SQL_ENROLL_VOID, ""},
    {SQL_ENROLL_VOID_BY, ""},
    {SQL_ENROLL_GET, ""},
    {SQL_ENROLL_USE, ""},
    {SQL_WALLET_KEY_ADD, ""},
    {SQL_WALLET_KEY_GET, ""},
    {SQL_WALLET_KEY_REVOKE, ""},
    {SQL_WALLET_CREDS_COUNT, ""},
    {SQL_KEY_REVOKED, ""},
    {SQL_CRED_EXPIRES, ""},
    {SQL_CRED_COUNTER_SEEN, ""},
    {SQL_CRED_RESTORE_FLOOR, ""},
    {SQL_REQUEST_GET, ""},
    {SQL_REQUEST_ADD, ""},
    {SQL_TERMINAL_RETIRED, ""},
    {REVLIST_SKIP_SQL("?2"), ""},
    {SQL_IDS_SKIP_TERMINAL, ""},
    {SQL_IDS_SKIP_SERIAL, ""},
};

offpay_err offpay__store_sqlite_plans(const char          *path,
                                      offpay__plan_step_fn each, void *ctx)
{
    const offpay__store_ops *ops = NULL;
    offpay__store           *s = NULL;
    sqlite3_stmt            *st;
    char                    *sql;
    offpay_err               rc = offpay__store_sqlite_open(path, &s, &ops);
    const size_t n_rare = sizeof SQL_RARE_PLANNED / sizeof SQL_RARE_PLANNED[0];

    for (size_t i = 0; rc == OFFPAY_OK && i < S_COUNT + n_rare; i++) {
        char *text =
            i < S_COUNT
                ? sqlite3_mprintf("%s", SQL[i])
                : sqlite3_mprintf("%s%s", SQL_RARE_PLANNED[i - S_COUNT][0],
                                  SQL_RARE_PLANNED[i - S_COUNT][1]);

        if (text == NULL) {
            rc = OFFPAY_ENOMEM;
            break;
        }
        sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", text);
        if (sql == NULL)
            rc = OFFPAY_ENOMEM;
        else if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
            rc = OFFPAY_ESTORE;
        else {
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *detail = (const char *)sqlite3_column_text(st, 3);

                if (detail != NULL)
                    each(ctx, text, detail);
            }
            sqlite3_finalize(st);
        }
        sqlite3_free(sql);
        sqlite3_free(text);
    }
    s_close(s);
    return rc;
}
