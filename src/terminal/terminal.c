/*
 * terminal.c — the terminal handle and its durable store (terminal.h).
 *
 * terminal.db is SQLite in WAL mode with synchronous=FULL: a COMMIT returns
 * only once the WAL is fsynced, so a journal row that committed survives
 * a crash or power loss. The schema is in SCHEMA below; meta holds
 * key/value settings (root key, bundle, credential, risk rules, revocation
 * list, sync state, the clock's high-water time), numbers as decimal text.
 * An accept writes its journal row and nothing else (no meta page): the
 * payments since the last sync are the rows after meta sync_seq, and the
 * high-water time is meta high_water (saved by a sync) raised by their
 * acceptance times; both are derived at open (load_state).
 * The directory is 0700 and its files 0600 (tighten_modes): the journal
 * holds just-accepted codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/jsonutil.h"
#include "core/log.h"
#include "core/message_int.h"
#include "core/initdir.h"
#include "core/oserr.h"
#include "offpay/core.h"
#include "offpay/verify.h"
#include "pkcs11/pkcs11_int.h"
#include "terminal/terminal_int.h"
#include "terminal/upload_int.h"
#include "wallet/wallet_file.h"

#define PATH_MAX_LEN 4096
#define REQUESTS_MAX 1024
/* Seconds an unbound code stays acceptable by default: a captured one is
 * a bearer token for this long (docs/protocol.md §5.4). */
#define CODE_AGE_UNBOUND_DEFAULT 60
/* Days the oldest payment offpayd has not decided may wait by default:
 * well inside the shortest time offpayd's defaults leave to upload it
 * (a credential's expiry, after the payment, plus the upload grace and
 * the late window: 44 days, docs/settlement.md §6). */
#define UPLOAD_DAYS_DEFAULT 14

/*
 * The journal of accepted payments. seq is the rowid, with no
 * AUTOINCREMENT: AUTOINCREMENT rewrites the sqlite_sequence page on every
 * insert, one more WAL frame per payment. A plain rowid is max(seq) + 1,
 * which reuses a number only if the newest row is deleted; the journal
 * never deletes a row or changes a seq, and the triggers of
 * JOURNAL_TRIGGERS make the database refuse both. So max(seq) never goes
 * down and no seq (a receipt's number, a request's paid_seq) is ever
 * given to a second payment. A journal made with AUTOINCREMENT is rebuilt
 * without it, keeping every seq (journal_upgrade): with no deletes its
 * sqlite_sequence value was max(seq), so the next seq is the same.
 */
#define JOURNAL_COLUMNS                                                        \
    "(seq INTEGER PRIMARY KEY,"                                                \
    "  serial INTEGER NOT NULL, counter INTEGER NOT NULL,"                     \
    "  charged INTEGER NOT NULL, authorized INTEGER NOT NULL,"                 \
    "  currency INTEGER NOT NULL, bound INTEGER NOT NULL,"                     \
    "  accepted_at INTEGER NOT NULL, code BLOB NOT NULL,"                      \
    "  uploaded INTEGER NOT NULL DEFAULT 0,"                                   \
    "  UNIQUE(serial, counter))"

/*
 * offpayd's result for each decided journal entry, kept by the online sync
 * in the transaction that marks the entry uploaded (one row per seq; a
 * replayed result replaces it with the same decision). A table of its own,
 * made by the first such transaction: an accept writes no more than
 * before, and a terminal.db from before it opens as it did, read-only or
 * on a full disk too (its journal then reads as if no result was kept;
 * t->has_results says which).
 */
#define RESULTS_COLUMNS                                                        \
    "(seq INTEGER PRIMARY KEY, outcome TEXT NOT NULL,"                         \
    "  paid INTEGER NOT NULL, covered INTEGER NOT NULL,"                       \
    "  reason TEXT NOT NULL, case_id TEXT NOT NULL,"                           \
    "  decided_at INTEGER NOT NULL)"

/* The order in which results were kept, newest last (a result kept again
 * moves to the end): the order in which offpayd's ledger recorded them,
 * so the order in which a ledger taken back to an older copy lost them.
 * Not decided_at: the terminal's clock may have been set back since.
 * Made by the first keep_results after it (0.4.0), with a row for each
 * result kept before, by seq. */
#define RESULT_ORDER_TABLE                                                     \
    "CREATE TABLE IF NOT EXISTS main.result_order(ord INTEGER PRIMARY KEY"      \
    " AUTOINCREMENT, seq INTEGER NOT NULL UNIQUE)"

/* The payments a ledger taken back to an older copy lacked (upload.c's
 * check): the result offpayd had given (was_*), when found, and when
 * decided again (NULL: still to upload again). Rows stay as history. */
#define LOST_TABLE                                                             \
    "CREATE TABLE IF NOT EXISTS main.lost(seq INTEGER PRIMARY KEY,"            \
    " was_outcome TEXT NOT NULL, was_paid INTEGER NOT NULL,"                   \
    " found_at INTEGER NOT NULL, redone_at INTEGER)"

/* The per-credential sums of the terminal this one's key was rotated
 * from (offpay__terminal_carry_sums): a serial's charges there in all,
 * that terminal's own carried sums included. offpayd sums a credential's
 * charges over the rotation lineage as one device (docs/settlement.md
 * §5), so the local cumulative check starts from them. Made by the
 * rotation, in the transaction that fills it; a terminal never rotated
 * to has none (and reads as if it had an empty one). */
#define CARRIED_TABLE                                                          \
    "CREATE TABLE IF NOT EXISTS main.carried(serial INTEGER PRIMARY KEY,"      \
    " charged INTEGER NOT NULL)"

#define JOURNAL_TRIGGERS                                                       \
    "CREATE TRIGGER IF NOT EXISTS journal_append_only BEFORE DELETE ON"        \
    " journal BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"   \
    "CREATE TRIGGER IF NOT EXISTS journal_seq_fixed BEFORE UPDATE OF seq ON"   \
    " journal BEGIN SELECT RAISE(ABORT, 'a journal seq never changes'); END;"

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY,"
    "  value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS journal" JOURNAL_COLUMNS ";"
    "CREATE TABLE IF NOT EXISTS requests(nonce BLOB PRIMARY KEY,"
    "  amount INTEGER NOT NULL, created INTEGER NOT NULL,"
    "  paid_seq INTEGER);"
    "CREATE TABLE IF NOT EXISTS evidence(id INTEGER PRIMARY KEY,"
    "  serial INTEGER NOT NULL, counter INTEGER NOT NULL,"
    "  code BLOB NOT NULL, seen_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS revoked(serial INTEGER PRIMARY KEY);";

/* ---- small SQLite helpers ------------------------------------------ */

/* The offpay_err for the last failure on db: a full disk, a read-only
 * mount, a lost permission or a missing file by name (from the system
 * error SQLite saw, else its own code), OFFPAY_EBUSY for a lock held
 * elsewhere, OFFPAY_EJOURNAL for anything else. Read it before any other
 * call on db (a ROLLBACK would clear it). */
static offpay_err db_err(sqlite3 *db)
{
    int        code = db != NULL ? sqlite3_errcode(db) & 0xff : SQLITE_ERROR;
    offpay_err sys;

    switch (code) {
    case SQLITE_FULL:
        return OFFPAY_ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return OFFPAY_EBUSY;
    case SQLITE_NOMEM:
        return OFFPAY_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        sys = offpay__errno_err(sqlite3_system_errno(db));
        if (sys != OFFPAY_EIO && sys != OFFPAY_EBUSY)
            return sys;
        /* A database SQLite could open only for reading (its file or
         * directory is not writable) refuses writes this way. */
        return code == SQLITE_READONLY || code == SQLITE_PERM ? OFFPAY_EACCES
                                                              : OFFPAY_EJOURNAL;
    default:
        return OFFPAY_EJOURNAL;
    }
}

static offpay_err exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? OFFPAY_OK
                                                                : db_err(db);
}

static offpay_err meta_put(sqlite3 *db, const char *key, const void *v,
                           size_t n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                           " ON CONFLICT(key) DO UPDATE SET value = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, v, (int)n, SQLITE_TRANSIENT) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st) == SQLITE_DONE ? OFFPAY_OK : db_err(db);
out:
    sqlite3_finalize(st);
    return rc;
}

static offpay_err meta_put_u64(sqlite3 *db, const char *key, uint64_t v)
{
    char buf[32];
    int  n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);

    return meta_put(db, key, buf, (size_t)n);
}

/* Reads meta[key] into buf (at most cap bytes). OFFPAY_ENOTFOUND if
 * absent, OFFPAY_ECORRUPT if larger than cap. */
static offpay_err meta_get(sqlite3 *db, const char *key, void *buf, size_t cap,
                           size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = OFFPAY_ENOTFOUND;
    } else if (step == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);

        if (len > cap) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        if (len > 0)
            memcpy(buf, sqlite3_column_blob(st, 0), len);
        *n = len;
        rc = OFFPAY_OK;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static offpay_err meta_get_u64(sqlite3 *db, const char *key, uint64_t max,
                               uint64_t *v)
{
    char       buf[32];
    size_t     n = 0;
    char      *end = NULL;
    offpay_err rc = meta_get(db, key, buf, sizeof buf - 1, &n);

    if (rc != OFFPAY_OK)
        return rc;
    buf[n] = '\0';
    errno = 0;
    *v = strtoull(buf, &end, 10);
    if (n == 0 || errno != 0 || *end != '\0' || *v > max)
        return OFFPAY_ECORRUPT;
    return OFFPAY_OK;
}

/* meta[key] as a u32 into *v; absent leaves *v alone. Errors:
 * OFFPAY_ECORRUPT (not a canonical u32), OFFPAY_EJOURNAL. */
static offpay_err meta_opt_u32(sqlite3 *db, const char *key, uint32_t *v)
{
    uint64_t   x = 0;
    offpay_err rc = meta_get_u64(db, key, UINT32_MAX, &x);

    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK;
    if (rc == OFFPAY_OK)
        *v = (uint32_t)x;
    return rc;
}

/* meta "clock_seen" is "AT OFFSET": the terminal's time of its last online
 * sync and offpayd's clock minus its own then, in seconds. */
static offpay_err clock_load(offpay_terminal *t)
{
    char       buf[48];
    size_t     n = 0;
    unsigned   at = 0;
    long long  off = 0;
    int        used = 0;
    offpay_err rc = meta_get(t->db, "clock_seen", buf, sizeof buf - 1, &n);

    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK;
    if (rc != OFFPAY_OK)
        return rc;
    buf[n] = '\0';
    if (sscanf(buf, "%u %lld%n", &at, &off, &used) != 2 || (size_t)used != n ||
        at == 0 || off > OFFPAY__CLOCK_OFFSET_MAX ||
        off < -OFFPAY__CLOCK_OFFSET_MAX)
        return OFFPAY_ECORRUPT;
    t->clock_seen_at = at;
    t->clock_offset = off;
    return OFFPAY_OK;
}

offpay_err offpay__terminal_record_clock(offpay_terminal *t, uint32_t at,
                                         int64_t offset)
{
    char       buf[48];
    int        n;
    offpay_err rc;

    if (t == NULL || at == 0 || offset > OFFPAY__CLOCK_OFFSET_MAX ||
        offset < -OFFPAY__CLOCK_OFFSET_MAX)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    n = snprintf(buf, sizeof buf, "%u %lld", at, (long long)offset);
    if ((rc = meta_put(t->db, "clock_seen", buf, (size_t)n)) != OFFPAY_OK)
        return rc;
    t->clock_seen_at = at;
    t->clock_offset = offset;
    return OFFPAY_OK;
}

/* meta key ("revoked", "retiring") is "TERMINAL_ID AT" (terminal_int.h,
 * revoked_at, retiring_at); both 0 when absent. */
static offpay_err id_at_load(offpay_terminal *t, const char *key,
                             uint32_t *id_out, uint32_t *at_out)
{
    char       buf[32];
    size_t     n = 0;
    unsigned   id = 0, at = 0;
    int        used = 0;
    offpay_err rc = meta_get(t->db, key, buf, sizeof buf - 1, &n);

    *id_out = *at_out = 0;
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK;
    if (rc != OFFPAY_OK)
        return rc;
    buf[n] = '\0';
    if (sscanf(buf, "%u %u%n", &id, &at, &used) != 2 || (size_t)used != n ||
        id == 0 || at == 0)
        return OFFPAY_ECORRUPT;
    *id_out = id;
    *at_out = at;
    return OFFPAY_OK;
}

static offpay_err revoked_load(offpay_terminal *t)
{
    offpay_err rc = id_at_load(t, "revoked", &t->revoked_id, &t->revoked_at);

    if (rc == OFFPAY_OK)
        rc = id_at_load(t, "retiring", &t->retiring_id, &t->retiring_at);
    return rc;
}

offpay_err offpay__terminal_set_retiring(offpay_terminal *t, uint32_t at)
{
    char       buf[32];
    int        n;
    offpay_err rc;

    if (t == NULL)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    if (!t->has_cred)
        return OFFPAY_OK;
    if (at == 0) {
        if (t->retiring_id == 0)
            return OFFPAY_OK;
        rc = exec(t->db, "DELETE FROM meta WHERE key = 'retiring'");
    } else {
        n = snprintf(buf, sizeof buf, "%u %u", (unsigned)t->cred.terminal_id,
                     (unsigned)at);
        rc = meta_put(t->db, "retiring", buf, (size_t)n);
    }
    if (rc != OFFPAY_OK)
        return rc;
    t->retiring_id = at != 0 ? t->cred.terminal_id : 0;
    t->retiring_at = at;
    return OFFPAY_OK;
}

offpay_err offpay__terminal_record_revoked(offpay_terminal *t, uint32_t at)
{
    char       buf[32];
    int        n;
    offpay_err rc;

    if (t == NULL || at == 0)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    if (!t->has_cred) /* it accepts nothing anyway: nothing to name */
        return OFFPAY_OK;
    if (t->revoked_at != 0 && t->revoked_id == t->cred.terminal_id)
        return OFFPAY_OK; /* known already: the first time stands */
    n = snprintf(buf, sizeof buf, "%u %u", (unsigned)t->cred.terminal_id,
                 (unsigned)at);
    if ((rc = meta_put(t->db, "revoked", buf, (size_t)n)) != OFFPAY_OK)
        return rc;
    t->revoked_id = t->cred.terminal_id;
    t->revoked_at = at;
    return OFFPAY_OK;
}

/* ---- risk rules ----------------------------------------------------- */

/* The amounts count in the currency's risk unit, so a 1,200-yen payment
 * is within the defaults as a 12-euro one is; offpayd's guarantee judges
 * with this same function (src/settle/settle.c). An unknown currency: 1. */
void offpay_risk_defaults(uint16_t currency, offpay_risk *r)
{
    int64_t unit = offpay_currency_risk_unit(currency);

    if (unit < 1)
        unit = 1;
    memset(r, 0, sizeof *r);
    r->floor_unbound = 50 * unit;
    r->floor_bound = 200 * unit;
    r->cumulative = 500 * unit;
    r->max_offline_payments = 500;
    r->max_offline_hours = 72;
    r->max_code_age = 300;
    r->skew = 120;
    r->max_revlist_age = 7 * 86400;
    r->request_ttl = 300;
    r->max_code_age_unbound = CODE_AGE_UNBOUND_DEFAULT;
    r->max_upload_days = UPLOAD_DAYS_DEFAULT;
}

static offpay_err risk_save(sqlite3 *db, const offpay_risk *r)
{
    char buf[512];
    int  n = snprintf(buf, sizeof buf, "%lld %lld %lld %u %u %u %u %u %u %u %u",
                      (long long)r->floor_unbound, (long long)r->floor_bound,
                      (long long)r->cumulative, r->max_offline_payments,
                      r->max_offline_hours, r->max_code_age, r->skew,
                      r->max_revlist_age, r->request_ttl,
                      r->max_code_age_unbound, r->max_upload_days);

    return meta_put(db, "risk", buf, (size_t)n);
}

/* Reads one unsigned decimal field (1..19 digits, at most max; no sign, no
 * space) at *p, then a single space or the end. Strict: sscanf would take
 * signs, leading spaces and values past UINT32_MAX. */
static int risk_field(const char **p, uint64_t max, uint64_t *v)
{
    const char *q = *p;
    uint64_t    x = 0;
    int         digits = 0;

    while (*q >= '0' && *q <= '9' && digits < 20) {
        x = x * 10 + (uint64_t)(*q - '0');
        q++;
        digits++;
    }
    if (digits == 0 || digits > 19 || x > max)
        return 0;
    if (*q == ' ')
        q++;
    else if (*q != '\0')
        return 0;
    *v = x;
    *p = q;
    return 1;
}

/*
 * The rules are saved as eleven decimal fields separated by single spaces:
 * floor_unbound floor_bound cumulative max_offline_payments
 * max_offline_hours max_code_age skew max_revlist_age request_ttl
 * max_code_age_unbound max_upload_days. Nine fields are rules saved before
 * max_code_age_unbound existed: it takes its default (capped by
 * max_code_age), the stricter rule, until the rules are saved again; nine
 * or ten, before max_upload_days: it takes its default.
 */
static offpay_err risk_load(sqlite3 *db, offpay_risk *r)
{
    char        buf[512];
    size_t      n = 0;
    uint64_t    f[11];
    const char *p = buf;
    int         k = 0;
    offpay_err  rc = meta_get(db, "risk", buf, sizeof buf - 1, &n);

    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ECORRUPT : rc;
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL)
        return OFFPAY_ECORRUPT;
    while (*p != '\0' && k < 11) {
        if (!risk_field(&p, k < 3 ? (uint64_t)INT64_MAX : UINT32_MAX, &f[k]))
            return OFFPAY_ECORRUPT;
        k++;
    }
    /* A trailing space after the last field is not canonical either. */
    if (*p != '\0' || k < 9 || buf[n - 1] == ' ')
        return OFFPAY_ECORRUPT;
    r->floor_unbound = (int64_t)f[0];
    r->floor_bound = (int64_t)f[1];
    r->cumulative = (int64_t)f[2];
    r->max_offline_payments = (uint32_t)f[3];
    r->max_offline_hours = (uint32_t)f[4];
    r->max_code_age = (uint32_t)f[5];
    /* saved wider by an older version: the widest a terminal takes now
     * (OFFPAY_RISK_SKEW_MAX), as a save would refuse */
    r->skew =
        f[6] > OFFPAY_RISK_SKEW_MAX ? OFFPAY_RISK_SKEW_MAX : (uint32_t)f[6];
    r->max_revlist_age = (uint32_t)f[7];
    r->request_ttl = (uint32_t)f[8];
    if (k >= 10)
        r->max_code_age_unbound = (uint32_t)f[9];
    else
        r->max_code_age_unbound = r->max_code_age < CODE_AGE_UNBOUND_DEFAULT
                                      ? r->max_code_age
                                      : CODE_AGE_UNBOUND_DEFAULT;
    r->max_upload_days = k == 11 ? (uint32_t)f[10] : UPLOAD_DAYS_DEFAULT;
    return OFFPAY_OK;
}

offpay_err offpay_terminal_sync_state(const offpay_terminal *t,
                                      offpay_sync_state     *s)
{
    if (t == NULL || s == NULL)
        return OFFPAY_EINVAL;
    s->last_sync = t->last_sync;
    s->payments_since_sync = t->payments_since_sync;
    s->bundle_seq = t->bundle.seq;
    s->revlist_seq = t->revlist_seq;
    s->revlist_issued_at = t->revlist_issued_at;
    s->high_water = t->high_water;
    s->oldest_waiting = t->oldest_waiting;
    return OFFPAY_OK;
}

uint16_t offpay_terminal_currency(const offpay_terminal *t)
{
    return t == NULL ? 0 : t->currency;
}

offpay_err offpay_terminal_get_risk(const offpay_terminal *t, offpay_risk *r)
{
    if (t == NULL || r == NULL)
        return OFFPAY_EINVAL;
    *r = t->risk;
    return OFFPAY_OK;
}

/* docs/protocol.md §2.8: a list leaves out a credential a day after its
 * expiry, which is safe only while no terminal's skew exceeds half that;
 * and a serial a terminal lets go (§5.7) must be one no full list names
 * again. */
_Static_assert(2u * OFFPAY_RISK_SKEW_MAX <= OFFPAY_REVLIST_LIVE_AFTER,
               "a terminal's skew must stay within half the list's window");
_Static_assert(OFFPAY_TERMINAL_EXPIRED_KEEP > OFFPAY_REVLIST_LIVE_AFTER,
               "a serial let go must be one the lists no longer name");

offpay_err offpay_terminal_set_risk(offpay_terminal *t, const offpay_risk *r)
{
    offpay_err rc;

    if (t == NULL || r == NULL || r->floor_unbound < 0 || r->floor_bound < 0 ||
        r->cumulative < 0 || r->skew > OFFPAY_RISK_SKEW_MAX)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    rc = risk_save(t->db, r);
    if (rc == OFFPAY_OK)
        t->risk = *r;
    return rc;
}

offpay_err offpay_terminal_set_server(offpay_terminal *t, const char *url)
{
    size_t n;

    if (t == NULL || url == NULL || (n = strlen(url)) == 0 ||
        n > OFFPAY_TERMINAL_SERVER_MAX)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    return meta_put(t->db, "server", url, n);
}

offpay_err offpay_terminal_server(const offpay_terminal *t, char *buf,
                                  size_t cap)
{
    char       v[OFFPAY_TERMINAL_SERVER_MAX];
    size_t     n = 0;
    offpay_err rc;

    if (t == NULL || buf == NULL || cap == 0)
        return OFFPAY_EINVAL;
    buf[0] = '\0';
    rc = meta_get(t->db, "server", v, sizeof v, &n);
    if (rc != OFFPAY_OK)
        return rc;
    if (n == 0 || memchr(v, '\0', n) != NULL)
        return OFFPAY_ECORRUPT;
    if (n >= cap)
        return OFFPAY_ERANGE;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return OFFPAY_OK;
}

/* ---- open / create -------------------------------------------------- */

static offpay_err path_in(const char *dir, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);

    return n > 0 && n < PATH_MAX_LEN ? OFFPAY_OK : OFFPAY_EINVAL;
}

void offpay_terminal_close(offpay_terminal *t)
{
    if (t == NULL)
        return;
    sqlite3_finalize(t->st_insert);
    sqlite3_finalize(t->st_paid);
    sqlite3_finalize(t->st_begin);
    sqlite3_finalize(t->st_commit);
    if (t->db != NULL)
        sqlite3_close(t->db);
    offpay__lock_release(t->lock_fd); /* after the database is closed */
    free(t->dir);
    free(t->revoked);
    free(t->requests);
    free(t->cache);
    offpay__tables_free(&t->tables);
    offpay_pkcs11_close(t->p11);
    sodium_free(t); /* wipes the key pair */
}

static offpay_terminal *terminal_new(const char *dir)
{
    offpay_terminal *t = sodium_malloc(sizeof *t);

    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof *t);
    t->lock_fd = -1;
    t->dir = strdup(dir);
    t->cache = calloc(OFFPAY__CACHE_SLOTS, sizeof *t->cache);
    t->cache_on = 1;
    if (t->dir == NULL || t->cache == NULL) {
        offpay_terminal_close(t);
        return NULL;
    }
    return t;
}

/* Takes the terminal's lock: one process at a time per directory, so the
 * in-memory mirror of the journal cannot go stale behind another writer;
 * a lock file a failed init removed while this process waited is not
 * kept (offpay__lock_take). A reader (shared) takes it only if the file
 * exists, and never creates it. */
static offpay_err lock_terminal_as(offpay_terminal *t, int shared)
{
    char path[PATH_MAX_LEN];

    if (path_in(t->dir, "terminal.lock", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    return shared ? offpay__lock_acquire_shared(path, offpay__lock_wait_ms,
                                                &t->lock_fd)
                  : offpay__lock_take(path, offpay__lock_wait_ms, &t->lock_fd);
}

static offpay_err lock_terminal(offpay_terminal *t)
{
    return lock_terminal_as(t, 0);
}

/* The terminal's private files: the journal holds just-accepted codes,
 * usable elsewhere for their lifetime, so only the owner may read them. */
static const char *const PRIVATE_FILES[] = {
    "terminal.db",   "terminal.db-wal", "terminal.db-shm",    "terminal.key",
    "terminal.lock", "terminal.keyuri", "terminal.sync.lock",
};

/* Sets the directory 0700 and each private file that exists 0600,
 * whatever they were (a directory made before `init`, an older version, a
 * loose umask). Files that are symbolic links are left alone.
 * Errors: OFFPAY_EIO (a mode could not be set). */
static offpay_err tighten_modes(const char *dir)
{
    char        path[PATH_MAX_LEN];
    struct stat st;

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) != 0))
        return OFFPAY_EIO;
    for (size_t i = 0; i < sizeof PRIVATE_FILES / sizeof PRIVATE_FILES[0];
         i++) {
        if (path_in(dir, PRIVATE_FILES[i], path) != OFFPAY_OK)
            return OFFPAY_EINVAL;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((st.st_mode & 07777) != 0600 && chmod(path, 0600) != 0)
            return OFFPAY_EIO;
    }
    return OFFPAY_OK;
}

/* Creates dir/terminal.db empty and 0600 if missing, so that SQLite opens
 * it rather than creating it under the umask (its -wal and -shm files then
 * take the database's mode). */
static offpay_err db_precreate(const char *dir)
{
    char path[PATH_MAX_LEN];
    int  fd;

    if (path_in(dir, "terminal.db", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return offpay__errno_err(errno);
    if (fchmod(fd, 0600) != 0) {
        close(fd);
        return OFFPAY_EIO;
    }
    return close(fd) == 0 ? OFFPAY_OK : OFFPAY_EIO;
}

static offpay_err db_open(offpay_terminal *t, int create)
{
    char path[PATH_MAX_LEN];
    int  flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

    if (path_in(t->dir, "terminal.db", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    if (sqlite3_open_v2(path, &t->db, flags, NULL) != SQLITE_OK)
        return db_err(t->db);
    sqlite3_busy_timeout(t->db, 5000);
    return exec(t->db, SCHEMA);
}

/* Opens terminal.db read-only: SQLite's read-only mode, or immutable (the
 * database file alone: no -wal, no -shm, no locks). Either way a first
 * read runs, so that a failure to set up the read shows here. */
static offpay_err db_open_ro(offpay_terminal *t, int immutable)
{
    static const char hex[] = "0123456789ABCDEF";
    char              path[PATH_MAX_LEN], uri[3 * PATH_MAX_LEN + 32];
    size_t            n = 5;
    int               flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;

    if (path_in(t->dir, "terminal.db", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    /* A file: URI, every byte but the unreserved ones percent-encoded
     * (RFC 3986), so no character of the path reads as a parameter. */
    memcpy(uri, "file:", n);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL) {
            uri[n++] = (char)*p;
        } else {
            uri[n++] = '%';
            uri[n++] = hex[*p >> 4];
            uri[n++] = hex[*p & 15];
        }
    }
    snprintf(uri + n, sizeof uri - n, "?mode=ro%s",
             immutable ? "&immutable=1" : "");
    if (sqlite3_open_v2(uri, &t->db, flags, NULL) != SQLITE_OK)
        return db_err(t->db);
    sqlite3_busy_timeout(t->db, 5000);
    return exec(t->db, "SELECT count(*) FROM sqlite_master");
}

/* 1 when dir/terminal.db-wal is missing or empty: the database file alone
 * then holds every committed transaction. */
static int wal_empty(const char *dir)
{
    char        path[PATH_MAX_LEN];
    struct stat st;

    if (path_in(dir, "terminal.db-wal", path) != OFFPAY_OK)
        return 0;
    if (lstat(path, &st) != 0)
        return errno == ENOENT;
    return S_ISREG(st.st_mode) && st.st_size == 0;
}

/* 1 when dir is on a file system mounted read-only. */
static int readonly_fs(const char *dir)
{
    struct statvfs v;

    return statvfs(dir, &v) == 0 && (v.f_flag & ST_RDONLY) != 0;
}

/*
 * Opens terminal.db for a read-only handle, writing nothing. When no write-
 * ahead log holds transactions not yet in the database file, and no writer
 * can change it while the handle is open (this process holds the shared
 * terminal lock that every writer takes exclusively, or the media is
 * read-only), it opens it immutable, which needs no -shm file and so works
 * on a read-only mount or a full disk. Otherwise SQLite's read-only mode,
 * whose WAL readers see one committed state at a time; should that fail
 * (it must create a -shm file: a full disk, a directory it may not write)
 * with no log pending, immutable after all: a writer would need that same
 * -shm file, and until a log exists it leaves the database file alone.
 */
static offpay_err db_open_readonly(offpay_terminal *t)
{
    int        no_log = wal_empty(t->dir);
    offpay_err rc;

    if (no_log && (t->lock_fd >= 0 || readonly_fs(t->dir)))
        return db_open_ro(t, 1);
    rc = db_open_ro(t, 0);
    if (rc != OFFPAY_OK && no_log) {
        sqlite3_close(t->db);
        t->db = NULL;
        rc = db_open_ro(t, 1);
    }
    return rc;
}

/* A terminal whose key is in a PKCS#11 token: dir/terminal.keyuri holds
 * the key's URI (one line, no pin-value; the PIN comes from its
 * pin-source or $OFFPAY_PKCS11_PIN), never a private key. Opens it. */
static offpay_err key_load_uri(offpay_terminal *t, const char *path)
{
    char       uri[OFFPAY_PKCS11_URI_MAX + 2];
    FILE      *f = fopen(path, "re");
    size_t     n;
    offpay_err rc;

    if (f == NULL)
        return offpay__errno_err(errno);
    n = fread(uri, 1, sizeof uri - 1, f);
    fclose(f);
    uri[n] = '\0';
    uri[strcspn(uri, "\n")] = '\0';
    if (!offpay_pkcs11_uri_storable(uri))
        return OFFPAY_ECORRUPT;
    rc = offpay_pkcs11_open(NULL, uri, &t->p11);
    if (rc != OFFPAY_OK)
        return rc;
    offpay_pkcs11_pk(t->p11, t->kp.pk);
    t->has_key = 1;
    return OFFPAY_OK;
}

/* Loads the key (when a passphrase is given) from terminal.key, or from
 * the token terminal.keyuri names (the passphrase is then not used). */
static offpay_err key_load(offpay_terminal *t, const char *passphrase)
{
    char        path[PATH_MAX_LEN];
    uint8_t    *plain = NULL;
    size_t      n = 0;
    struct stat st;
    offpay_err  rc;

    if (path_in(t->dir, "terminal.keyuri", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    if (stat(path, &st) == 0)
        return key_load_uri(t, path);
    if (path_in(t->dir, "terminal.key", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    rc = offpay__wallet_file_load(path, passphrase, &plain, &n);
    if (rc != OFFPAY_OK)
        return rc;
    if (n != OFFPAY_SEED_BYTES)
        rc = OFFPAY_ECORRUPT;
    else
        rc = offpay_keypair_from_seed(plain, &t->kp);
    offpay__wallet_plain_free(plain, n);
    if (rc == OFFPAY_OK)
        t->has_key = 1;
    return rc;
}

static offpay_err load_requests(offpay_terminal *t)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    t->n_requests = 0;
    if (sqlite3_prepare_v2(t->db,
                           "SELECT nonce, amount, created FROM requests"
                           " WHERE paid_seq IS NULL ORDER BY created DESC"
                           " LIMIT 1024",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (t->requests == NULL) {
        t->requests = calloc(REQUESTS_MAX, sizeof *t->requests);
        t->cap_requests = REQUESTS_MAX;
        if (t->requests == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay__request *q = &t->requests[t->n_requests];

        int64_t amount = sqlite3_column_int64(st, 1);
        int64_t created = sqlite3_column_int64(st, 2);

        if (sqlite3_column_bytes(st, 0) != OFFPAY_NONCE_BYTES || amount < 1 ||
            amount > OFFPAY_WIRE_AMOUNT_MAX || created < 0 ||
            created > UINT32_MAX) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        memcpy(q->nonce, sqlite3_column_blob(st, 0), OFFPAY_NONCE_BYTES);
        q->amount = (uint32_t)amount;
        q->created = (uint32_t)created;
        t->n_requests++;
    }
    if (step == SQLITE_DONE)
        rc = OFFPAY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* What load_journal learns besides the tables. */
typedef struct journal_scan {
    int64_t  sync_seq;     /* in: rows after it came after the last sync */
    int64_t  max_seq;      /* out: the highest seq (0: empty) */
    uint32_t since;        /* out: rows with seq > sync_seq */
    uint32_t newest;       /* out: the latest acceptance time */
    uint32_t newest_since; /* out: idem, among rows after sync_seq */
} journal_scan;

static offpay_err has_table(offpay_terminal *t, const char *name, int *yes);

/* Adds the sums carried from the terminal this one was rotated from
 * (CARRIED_TABLE), if any, to the per-credential sums. Errors:
 * OFFPAY_ECORRUPT (a row the rotation never writes, an overflowing sum),
 * OFFPAY_ENOMEM, OFFPAY_EJOURNAL. */
static offpay_err load_carried(offpay_terminal *t)
{
    sqlite3_stmt *st = NULL;
    int           yes = 0, step;
    offpay_err    rc = has_table(t, "carried", &yes);

    if (rc != OFFPAY_OK || !yes)
        return rc;
    rc = OFFPAY_EJOURNAL;
    if (sqlite3_prepare_v2(t->db, "SELECT serial, charged FROM main.carried",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t serial = (uint64_t)sqlite3_column_int64(st, 0);
        int64_t  charged = sqlite3_column_int64(st, 1);

        if (charged < 1) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        if ((rc = offpay__cumul_add(&t->tables, serial, charged)) !=
            OFFPAY_OK) {
            if (rc != OFFPAY_ENOMEM)
                rc = OFFPAY_ECORRUPT;
            goto out;
        }
    }
    rc = step == SQLITE_DONE ? OFFPAY_OK : OFFPAY_EJOURNAL;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Rebuilds the seen-set and per-credential sums from the journal (and
 * the sums carried from a rotated predecessor); js (may be NULL) gets
 * what the rows say about the time since the last sync. */
static offpay_err load_journal(offpay_terminal *t, journal_scan *js)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    if (sqlite3_prepare_v2(t->db,
                           "SELECT seq, serial, counter, charged, accepted_at"
                           " FROM journal",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t  seq = sqlite3_column_int64(st, 0);
        uint64_t serial = (uint64_t)sqlite3_column_int64(st, 1);
        int64_t  counter = sqlite3_column_int64(st, 2);
        int64_t  charged = sqlite3_column_int64(st, 3);
        int64_t  at = sqlite3_column_int64(st, 4);

        /* What the accept path writes, and nothing else: a row outside it
         * (or sums that overflow) is a damaged journal. */
        if (seq < 1 || counter < 1 || counter > UINT32_MAX || charged < 1 ||
            charged > OFFPAY_WIRE_AMOUNT_MAX || at < 0 || at > UINT32_MAX) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        if (js != NULL) {
            if (seq > js->max_seq)
                js->max_seq = seq;
            if (at > (int64_t)js->newest)
                js->newest = (uint32_t)at;
            if (seq > js->sync_seq) {
                if (js->since < UINT32_MAX)
                    js->since++;
                if (at > (int64_t)js->newest_since)
                    js->newest_since = (uint32_t)at;
            }
        }
        if ((rc = offpay__seen_add(&t->tables, serial, (uint32_t)counter)) !=
                OFFPAY_OK ||
            (rc = offpay__cumul_add(&t->tables, serial, charged)) !=
                OFFPAY_OK) {
            if (rc != OFFPAY_ENOMEM)
                rc = OFFPAY_ECORRUPT; /* a repeated key, an overflowing sum */
            goto out;
        }
    }
    rc = step == SQLITE_DONE ? OFFPAY_OK : OFFPAY_EJOURNAL;
    if (rc == OFFPAY_OK)
        rc = load_carried(t);
out:
    sqlite3_finalize(st);
    return rc;
}

/* The single integer sql yields (0 when it yields no row) into *v.
 * Errors: OFFPAY_EJOURNAL. */
static offpay_err query_i64(sqlite3 *db, const char *sql, int64_t bind,
                            int64_t *v)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(st) > 0 &&
         sqlite3_bind_int64(st, 1, bind) != SQLITE_OK))
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW || step == SQLITE_DONE) {
        *v = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        rc = OFFPAY_OK;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* The offpay error for the last SQLite failure on db: a read-only file or
 * a full disk by name, anything else OFFPAY_EJOURNAL. */
static offpay_err sqlite_cause(sqlite3 *db)
{
    switch (sqlite3_errcode(db)) {
    case SQLITE_READONLY:
        return OFFPAY_EROFS;
    case SQLITE_FULL:
        return OFFPAY_ENOSPC;
    default:
        return OFFPAY_EJOURNAL;
    }
}

/* Whether main has the table name, into *yes. */
static offpay_err has_table(offpay_terminal *t, const char *name, int *yes)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    *yes = 0;
    if (sqlite3_prepare_v2(t->db,
                           "SELECT 1 FROM main.sqlite_master WHERE type ="
                           " 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK) {
        step = sqlite3_step(st);
        *yes = step == SQLITE_ROW;
        if (step == SQLITE_ROW || step == SQLITE_DONE)
            rc = OFFPAY_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Which of the tables the syncs make the file has: t->has_results,
 * t->has_order, t->has_lost. */
static offpay_err results_probe(offpay_terminal *t)
{
    offpay_err rc = has_table(t, "results", &t->has_results);

    if (rc == OFFPAY_OK)
        rc = has_table(t, "result_order", &t->has_order);
    if (rc == OFFPAY_OK)
        rc = has_table(t, "lost", &t->has_lost);
    return rc;
}

/*
 * journal_upgrade — brings a terminal.db made by an older version to the
 * current layout in one transaction: the journal rebuilt without
 * AUTOINCREMENT (every row and seq kept), its append-only triggers, and
 * meta sync_seq (the journal's highest seq at the last sync: the rows
 * after it are the payments since the sync) in place of the
 * payments_since_sync counter that every accept used to rewrite. That
 * counter's value n says the newest n rows came after the sync, so
 * sync_seq is the seq of the (n+1)-th newest row, 0 if there are not that
 * many. Writes nothing when the file is current, or when may_write is 0
 * (an exported copy). *sync_seq receives sync_seq either way.
 *
 * A file that cannot be upgraded (read-only media, a full disk) still
 * opens for reading: t->frozen receives the cause, and the handle then
 * refuses to accept or change anything — its accepts would no longer be
 * counted — until an open that can upgrade it. Errors (the file cannot
 * even be read): OFFPAY_ECORRUPT, OFFPAY_EJOURNAL.
 */
static offpay_err journal_upgrade(offpay_terminal *t, int may_write,
                                  int64_t *sync_seq)
{
    uint64_t   v = 0;
    uint32_t   n = 0;
    int64_t    autoinc = 0, triggers = 0;
    int        has_sync = 0;
    offpay_err rc;

    rc = meta_get_u64(t->db, "sync_seq", INT64_MAX, &v);
    if (rc == OFFPAY_OK) {
        has_sync = 1;
        *sync_seq = (int64_t)v;
    } else if (rc != OFFPAY_ENOTFOUND) {
        return rc;
    } else if ((rc = meta_opt_u32(t->db, "payments_since_sync", &n)) !=
                   OFFPAY_OK ||
               (rc = query_i64(t->db,
                               "SELECT seq FROM journal ORDER BY seq DESC"
                               " LIMIT 1 OFFSET ?1",
                               n, sync_seq)) != OFFPAY_OK) {
        return rc;
    }
    if ((rc = query_i64(t->db,
                        "SELECT count(*) FROM sqlite_master WHERE type ="
                        " 'table' AND name = 'journal' AND sql LIKE"
                        " '%AUTOINCREMENT%'",
                        0, &autoinc)) != OFFPAY_OK ||
        (rc = query_i64(t->db,
                        "SELECT count(*) FROM sqlite_master WHERE type ="
                        " 'trigger' AND name IN ('journal_append_only',"
                        " 'journal_seq_fixed')",
                        0, &triggers)) != OFFPAY_OK ||
        (rc = results_probe(t)) != OFFPAY_OK)
        return rc;
    if ((has_sync && autoinc == 0 && triggers == 2) || !may_write)
        return OFFPAY_OK;
    if (sqlite3_db_readonly(t->db, "main") == 1) {
        t->frozen = OFFPAY_EROFS;
        return OFFPAY_OK;
    }
    if (exec(t->db, "BEGIN IMMEDIATE") != OFFPAY_OK) {
        t->frozen = sqlite_cause(t->db);
        return OFFPAY_OK;
    }
    if ((autoinc != 0 &&
         exec(t->db,
              "CREATE TABLE journal_v2" JOURNAL_COLUMNS ";"
              "INSERT INTO journal_v2(seq, serial, counter, charged,"
              " authorized, currency, bound, accepted_at, code, uploaded)"
              " SELECT seq, serial, counter, charged, authorized, currency,"
              " bound, accepted_at, code, uploaded FROM journal;"
              "DROP TABLE journal;"
              "ALTER TABLE journal_v2 RENAME TO journal;") != OFFPAY_OK) ||
        exec(t->db, JOURNAL_TRIGGERS) != OFFPAY_OK ||
        (!has_sync &&
         (meta_put_u64(t->db, "sync_seq", (uint64_t)*sync_seq) != OFFPAY_OK ||
          exec(t->db, "DELETE FROM meta WHERE key = 'payments_since_sync'") !=
              OFFPAY_OK)) ||
        exec(t->db, "COMMIT") != OFFPAY_OK) {
        t->frozen = sqlite_cause(t->db); /* before ROLLBACK resets it */
        exec(t->db, "ROLLBACK");
    }
    return OFFPAY_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* terminal_int.h */
uint32_t offpay__terminal_revoked_max = OFFPAY_TERMINAL_REVOKED_MAX;

/* Reloads the revoked serials. The new set is built aside and swapped in
 * only when complete, so a failure leaves the old set in place. Serials are
 * stored as SQLite's signed integers, so the set is sorted here, unsigned,
 * for check.c's binary search. More than offpay__terminal_revoked_max is
 * ECORRUPT: store_revlist never stores that many. */
static offpay_err load_revoked(offpay_terminal *t)
{
    sqlite3_stmt *st = NULL;
    uint64_t     *set = NULL;
    uint32_t      n = 0, cap = 0;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    if (sqlite3_prepare_v2(t->db, "SELECT serial FROM revoked", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n >= offpay__terminal_revoked_max) {
            rc = OFFPAY_ECORRUPT;
            goto out;
        }
        if (n == cap) {
            uint32_t  more = cap ? 2 * cap : 1024;
            uint64_t *grown = realloc(set, (size_t)more * sizeof *grown);

            if (grown == NULL) {
                rc = OFFPAY_ENOMEM;
                goto out;
            }
            set = grown;
            cap = more;
        }
        set[n++] = (uint64_t)sqlite3_column_int64(st, 0);
    }
    if (step != SQLITE_DONE)
        goto out;
    if (n > 1)
        qsort(set, n, sizeof *set, cmp_u64);
    free(t->revoked);
    t->revoked = set;
    t->n_revoked = n;
    set = NULL;
    t->revlist_complete_at = 0;
    if ((rc = meta_opt_u32(t->db, "revlist_seq", &t->revlist_seq)) ==
            OFFPAY_OK &&
        (rc = meta_opt_u32(t->db, "revlist_issued_at",
                           &t->revlist_issued_at)) == OFFPAY_OK &&
        (rc = meta_opt_u32(t->db, "revlist_complete_at",
                           &t->revlist_complete_at)) == OFFPAY_OK)
        rc = meta_opt_u32(t->db, "expired_before", &t->expired_before);
    if (t->revlist_complete_at == 0) /* kept since 0.22.0 */
        t->revlist_complete_at = t->revlist_issued_at;
out:
    free(set);
    sqlite3_finalize(st);
    return rc;
}

/* The settings and marks terminal.db keeps in meta (everything load_state
 * reads but the journal, the revoked serials and the open requests).
 * *legacy: the file has no high-water mark yet (t->high_water then 0). */
static offpay_err load_settings(offpay_terminal *t, int *legacy)
{
    uint8_t    buf[OFFPAY_SIGNED_MAX + 64 + OFFPAY_BUNDLE_KEYS_MAX * 42];
    size_t     n = 0;
    uint64_t   v = 0;
    offpay_err rc;

    if ((rc = meta_get(t->db, "root_pk", t->root_pk, OFFPAY_PK_BYTES, &n)) !=
        OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ECORRUPT : rc;
    if ((rc = meta_get(t->db, "bundle", buf, sizeof buf, &n)) != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ECORRUPT : rc;
    if (offpay_bundle_verify(buf, n, t->root_pk, &t->bundle) != OFFPAY_OK)
        return OFFPAY_ECORRUPT;
    if ((rc = meta_get_u64(t->db, "currency", UINT16_MAX, &v)) != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ECORRUPT : rc;
    t->currency = (uint16_t)v;
    if (offpay_currency_exponent(t->currency) < 0)
        return OFFPAY_ECORRUPT;
    if ((rc = risk_load(t->db, &t->risk)) != OFFPAY_OK)
        return rc;
    t->has_cred = 0;
    rc = meta_get(t->db, "credential", buf, sizeof buf, &n);
    if (rc == OFFPAY_OK) {
        if (offpay_terminal_cred_decode(buf, n, &t->cred) != OFFPAY_OK ||
            t->cred.currency != t->currency)
            return OFFPAY_ECORRUPT;
        t->has_cred = 1;
    } else if (rc != OFFPAY_ENOTFOUND) {
        return rc;
    }
    if ((rc = meta_opt_u32(t->db, "last_sync", &t->last_sync)) != OFFPAY_OK)
        return rc;
    /* An exported copy (offpay_terminal_export) is for reading only. */
    rc = meta_get_u64(t->db, "exported_at", UINT32_MAX, &v);
    if (rc == OFFPAY_OK) {
        t->copied_at = (uint32_t)v;
        t->frozen = OFFPAY_EROFS;
    } else if (rc != OFFPAY_ENOTFOUND) {
        return rc;
    }
    if ((rc = clock_load(t)) != OFFPAY_OK || (rc = revoked_load(t)) != OFFPAY_OK)
        return rc;
    t->high_water = 0;
    rc = meta_get_u64(t->db, "high_water", UINT32_MAX, &v);
    if (rc == OFFPAY_OK)
        t->high_water = (uint32_t)v;
    else if (rc != OFFPAY_ENOTFOUND)
        return rc;
    *legacy = rc == OFFPAY_ENOTFOUND;
    return OFFPAY_OK;
}

static offpay_err waiting_load(offpay_terminal *t);

static offpay_err load_state(offpay_terminal *t)
{
    journal_scan js;
    int          legacy = 0;
    offpay_err   rc;

    if ((rc = load_settings(t, &legacy)) != OFFPAY_OK)
        return rc;
    memset(&js, 0, sizeof js);
    if ((rc = journal_upgrade(t, t->frozen == OFFPAY_OK, &js.sync_seq)) !=
            OFFPAY_OK ||
        (rc = load_revoked(t)) != OFFPAY_OK ||
        (rc = load_requests(t)) != OFFPAY_OK ||
        (rc = load_journal(t, &js)) != OFFPAY_OK)
        return rc;
    /* A sync after the newest row: the journal lost rows it never
     * deletes. */
    if (js.sync_seq < 0 || js.sync_seq > js.max_seq)
        return OFFPAY_ECORRUPT;
    t->sync_seq = js.sync_seq;
    t->max_seq = js.max_seq;
    t->payments_since_sync = js.since;
    if ((rc = waiting_load(t)) != OFFPAY_OK)
        return rc;
    /* Accepts raise the high-water time in memory only: the journal holds
     * their times, and a sync (which may lower the mark) saves it with the
     * journal's seq at that moment. So the mark is the saved one raised by
     * the acceptances after the last sync. A terminal from before the
     * high-water mark starts it from what it did itself (its last sync and
     * newest acceptance), not from the signed times it holds: those were
     * never checked against a clock. */
    if (legacy)
        t->high_water = t->last_sync > js.newest ? t->last_sync : js.newest;
    else if (js.newest_since > t->high_water)
        t->high_water = js.newest_since;
    return OFFPAY_OK;
}

/* The journal rows after seq: how many (*since, at most UINT32_MAX) and
 * the newest acceptance time among them (*newest; 0 for none), read with
 * the seq index rather than a walk of the whole journal. */
static offpay_err journal_after(sqlite3 *db, int64_t seq, uint32_t *since,
                                uint32_t *newest)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;

    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(max(accepted_at), 0)"
                           " FROM journal WHERE seq > ?1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(st, 1, seq) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);
        int64_t at = sqlite3_column_int64(st, 1);

        *since = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        *newest = (uint32_t)at;
        rc = at < 0 || at > UINT32_MAX ? OFFPAY_ECORRUPT : OFFPAY_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The first journal entry from seq from on that offpayd has not decided
 * (uploaded = 0): its seq (*seq) and acceptance time (*at); none: *seq
 * max_seq + 1 and *at 0. A walk by seq from there: the entries before
 * from are all decided, and saved as "waiting_seq" at each sync, so the
 * walk is over the few decided since. */
static offpay_err waiting_find(offpay_terminal *t, int64_t from, int64_t *seq,
                               uint32_t *at)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    if (sqlite3_prepare_v2(t->db,
                           "SELECT seq, accepted_at FROM journal WHERE seq >="
                           " ?1 AND uploaded = 0 ORDER BY seq LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, from) != SQLITE_OK)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 1);

        *seq = sqlite3_column_int64(st, 0);
        *at = (uint32_t)v;
        rc = v < 0 || v > UINT32_MAX ? OFFPAY_ECORRUPT : OFFPAY_OK;
    } else if (step == SQLITE_DONE) {
        /* every entry this read saw is decided: those after max_seq (made
         * by another process since) are found from its next on */
        *seq = (t->max_seq > from ? t->max_seq : from) + 1;
        *at = 0;
        rc = OFFPAY_OK;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* t->oldest_waiting (and t->waiting_seq): the acceptance time of the
 * first entry, by seq, offpayd has not decided, from the saved
 * "waiting_seq" on (entries are accepted in time order, within the skew:
 * the first is the oldest). */
static offpay_err waiting_load(offpay_terminal *t)
{
    uint64_t   v = 0;
    int64_t    seq = 0;
    uint32_t   at = 0;
    offpay_err rc = meta_get_u64(t->db, "waiting_seq", INT64_MAX, &v);

    if (rc == OFFPAY_ENOTFOUND) /* before 0.12.0: from the start */
        v = 0;
    else if (rc != OFFPAY_OK)
        return rc;
    if ((int64_t)v > t->waiting_seq)
        t->waiting_seq = (int64_t)v;
    rc = waiting_find(t, t->waiting_seq, &seq, &at);
    if (rc != OFFPAY_OK)
        return rc;
    t->waiting_seq = seq;
    t->oldest_waiting = at;
    return OFFPAY_OK;
}

int offpay__terminal_wants_full_list(const offpay_terminal *t, uint32_t now)
{
    return (uint64_t)t->revlist_complete_at > (uint64_t)now + t->risk.skew;
}

/* The revoked serials again, when the list terminal.db holds is not the
 * one in memory (another process installed a newer one). */
static offpay_err revoked_fresh(offpay_terminal *t)
{
    uint32_t   seq = 0, at = 0;
    offpay_err rc;

    if ((rc = meta_opt_u32(t->db, "revlist_seq", &seq)) != OFFPAY_OK ||
        (rc = meta_opt_u32(t->db, "revlist_issued_at", &at)) != OFFPAY_OK)
        return rc;
    if (seq == t->revlist_seq && at == t->revlist_issued_at)
        return OFFPAY_OK;
    return load_revoked(t);
}

offpay_err offpay__terminal_sync_lock(offpay_terminal *t, int *fd)
{
    char path[PATH_MAX_LEN];

    *fd = -1;
    if (t == NULL || t->dir[0] == '\0')
        return OFFPAY_OK; /* a handle without a directory: nothing to share */
    if (path_in(t->dir, "terminal.sync.lock", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    return offpay__lock_acquire(path, 0, fd);
}

int64_t offpay__terminal_max_seq(const offpay_terminal *t)
{
    return t->max_seq;
}

void offpay__terminal_let_go(offpay_terminal *t)
{
    /* a handle without a lock of its own (a reader's, a fuzz target's), or
     * one that changes nothing anyway, keeps what it has */
    if (t == NULL || t->lock_fd < 0 || t->frozen != OFFPAY_OK)
        return;
    offpay__lock_release(t->lock_fd);
    t->lock_fd = -1;
    t->frozen = OFFPAY_EBUSY; /* writes nothing until retaken */
}

offpay_err offpay__terminal_retake(offpay_terminal *t)
{
    uint32_t   bundle_seq, since = 0, newest = 0;
    uint64_t   v = 0;
    int64_t    max_seq = 0, all = 0;
    int        legacy = 0;
    offpay_err rc;

    if (t == NULL)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_EBUSY || t->lock_fd >= 0)
        return OFFPAY_OK; /* never let go */
    if ((rc = lock_terminal(t)) != OFFPAY_OK)
        return rc;
    /* What other processes may have changed meanwhile: an accept (the
     * journal, the high-water time, the requests), a request, a file
     * sync, new risk rules or a credential. The seen-set and sums are
     * rebuilt from the journal only if this handle judges a code. */
    bundle_seq = t->bundle.seq;
    t->frozen = OFFPAY_OK;
    if ((rc = load_settings(t, &legacy)) != OFFPAY_OK ||
        (rc = meta_get_u64(t->db, "sync_seq", INT64_MAX, &v)) != OFFPAY_OK ||
        (rc = results_probe(t)) != OFFPAY_OK ||
        (rc = revoked_fresh(t)) != OFFPAY_OK ||
        (rc = load_requests(t)) != OFFPAY_OK ||
        (rc = query_i64(t->db, "SELECT coalesce(max(seq), 0) FROM journal", 0,
                        &max_seq)) != OFFPAY_OK ||
        (rc = journal_after(t->db, (int64_t)v, &since, &newest)) != OFFPAY_OK ||
        (rc = waiting_load(t)) != OFFPAY_OK ||
        (legacy && (rc = query_i64(t->db,
                                   "SELECT coalesce(max(accepted_at), 0)"
                                   " FROM journal",
                                   0, &all)) != OFFPAY_OK)) {
        t->frozen = rc == OFFPAY_ENOTFOUND ? OFFPAY_ECORRUPT : rc;
        return t->frozen;
    }
    if ((int64_t)v > max_seq) { /* as load_state: rows it never deletes */
        t->frozen = OFFPAY_ECORRUPT;
        return t->frozen;
    }
    /* as load_state: the saved mark raised by the acceptances after the
     * last sync (a file from before the mark: by all of them) */
    if (legacy)
        t->high_water = t->last_sync > all ? t->last_sync : (uint32_t)all;
    else if (newest > t->high_water)
        t->high_water = newest;
    t->sync_seq = (int64_t)v;
    t->max_seq = max_seq;
    t->payments_since_sync = since;
    offpay__tables_free(&t->tables);
    t->tables_stale = 1;
    if (t->bundle.seq != bundle_seq)
        offpay_terminal_set_cred_cache(t, t->cache_on);
    return OFFPAY_OK;
}

/* Writes the key's URI into dir/terminal.keyuri (new, 0600, durable). */
static offpay_err keyuri_save(const char *path, const char *uri)
{
    int        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t     n = strlen(uri);
    offpay_err rc = OFFPAY_OK;

    if (fd < 0)
        return offpay__errno_err(errno);
    if (write(fd, uri, n) != (ssize_t)n || write(fd, "\n", 1) != 1 ||
        fsync(fd) != 0)
        rc = offpay__errno_err(errno);
    close(fd);
    if (rc != OFFPAY_OK)
        unlink(path);
    return rc;
}

/* What create_as may make in a terminal's directory, the lock last: it is
 * removed while still held (offpay__init_dir_undo). */
static const char *const INIT_FILES[] = {
    "terminal.key",    "terminal.keyuri", "terminal.db",
    "terminal.db-wal", "terminal.db-shm", "terminal.db-journal",
    "terminal.lock",
};
#define INIT_FILES_N (sizeof INIT_FILES / sizeof INIT_FILES[0])

/* Undoes a create_as that failed or was refused, so that it leaves the
 * directory as it found it and the next init into the same place starts
 * afresh (a half-made directory would hold a partial state, and one with
 * a key file is refused EEXISTS): the key pair it made in a token, then,
 * as the issuer's init does (core/initdir.h), the files of INIT_FILES it
 * made, only under the terminal's lock (without it, another process may
 * be making them: a running terminal's journal), and dir itself if it
 * made it. t is closed. */
static void create_undo(offpay_terminal *t, offpay__init_dir *d)
{
    int lock_fd = t->lock_fd;

    (void)offpay__pkcs11_unmake(t->p11);
    t->lock_fd = -1;
    offpay_terminal_close(t); /* the database closed before its files go */
    offpay__init_dir_undo(d, lock_fd);
}

/* offpay_terminal_create and offpay_terminal_create_in_token: the key is
 * a fresh one sealed under passphrase, or (key_uri not NULL) the token's.
 * A failure leaves nothing it made (create_undo). */
static offpay_err create_as(const char *dir, const char *passphrase,
                            const char *key_uri, int generate,
                            const uint8_t  root_pk[OFFPAY_PK_BYTES],
                            const uint8_t *bundle, size_t bundle_len,
                            uint16_t currency, offpay_terminal **out)
{
    offpay_terminal    *t = NULL;
    offpay_trust_bundle b;
    char                path[PATH_MAX_LEN];
    uint8_t             seed[OFFPAY_SEED_BYTES];
    struct stat         st;
    offpay__init_dir    d;
    offpay_err          rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (dir == NULL ||
        (key_uri == NULL && (passphrase == NULL || passphrase[0] == '\0')) ||
        root_pk == NULL || bundle == NULL)
        return OFFPAY_EINVAL;
    /* The URI is stored: it must not carry the PIN. */
    if (key_uri != NULL && !offpay_pkcs11_uri_storable(key_uri))
        return OFFPAY_EPKCS11_URI;
    if (offpay_currency_exponent(currency) < 0)
        return OFFPAY_ECURRENCY_UNKNOWN;
    rc = offpay_bundle_verify(bundle, bundle_len, root_pk, &b);
    if (rc != OFFPAY_OK)
        return rc;
    if (path_in(dir, "terminal.key", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    t = terminal_new(dir);
    if (t == NULL)
        return OFFPAY_ENOMEM;
    /* the directory made if missing, and what is there noted (the lock's
     * file before the lock makes it) */
    if ((rc = offpay__init_dir_begin(&d, dir, INIT_FILES, INIT_FILES_N,
                                     "terminal init")) != OFFPAY_OK) {
        offpay_terminal_close(t);
        return rc;
    }
    if ((rc = lock_terminal(t)) != OFFPAY_OK)
        goto out;
    /* the others under the lock, which no other process makes them under */
    offpay__init_dir_locked(&d);
    /* A terminal there already (its key), or a journal without its key
     * (left by a crash of an older init, or a directory copied without
     * the key file): never reused nor replaced, since it may hold accepted
     * payments not uploaded yet. A -wal file alone holds a journal's
     * newest commits, which SQLite would drop beside a new empty
     * terminal.db. */
    if (stat(path, &st) == 0) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    if ((rc = path_in(dir, "terminal.keyuri", path)) != OFFPAY_OK)
        goto out;
    if (stat(path, &st) == 0) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    if ((rc = path_in(dir, "terminal.db", path)) != OFFPAY_OK)
        goto out;
    if (lstat(path, &st) == 0) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    if ((rc = path_in(dir, "terminal.db-wal", path)) != OFFPAY_OK)
        goto out;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        rc = OFFPAY_EEXISTS;
        goto out;
    }
    /* nothing refused: the modes made private (after the refusals, which
     * leave what they find as it was) */
    if ((rc = tighten_modes(dir)) != OFFPAY_OK)
        goto out;
    if ((rc = path_in(dir, key_uri == NULL ? "terminal.key" : "terminal.keyuri",
                      path)) != OFFPAY_OK)
        goto out;
    if (key_uri != NULL) {
        rc = generate ? offpay_pkcs11_generate(NULL, key_uri, &t->p11)
                      : offpay_pkcs11_open(NULL, key_uri, &t->p11);
        if (rc != OFFPAY_OK || (rc = keyuri_save(path, key_uri)) != OFFPAY_OK)
            goto out;
        offpay_pkcs11_pk(t->p11, t->kp.pk);
    } else {
        randombytes_buf(seed, sizeof seed);
        if ((rc = offpay_keypair_from_seed(seed, &t->kp)) != OFFPAY_OK ||
            (rc = offpay__wallet_file_save(path, passphrase, seed,
                                           sizeof seed)) != OFFPAY_OK)
            goto out;
    }
    t->has_key = 1;
    if ((rc = db_precreate(dir)) != OFFPAY_OK ||
        (rc = db_open(t, 1)) != OFFPAY_OK ||
        (rc = tighten_modes(dir)) != OFFPAY_OK)
        goto out;
    t->bundle = b;
    memcpy(t->root_pk, root_pk, OFFPAY_PK_BYTES);
    t->currency = currency;
    offpay_risk_defaults(currency, &t->risk);
    {
        int64_t sync_seq = 0;

        /* The journal's triggers and sync_seq, as for an upgraded file. */
        if ((rc = journal_upgrade(t, 1, &sync_seq)) != OFFPAY_OK)
            goto out;
        if (t->frozen != OFFPAY_OK) {
            rc = t->frozen;
            goto out;
        }
    }
    if ((rc = exec(t->db, "BEGIN")) != OFFPAY_OK)
        goto out;
    if ((rc = meta_put(t->db, "root_pk", root_pk, OFFPAY_PK_BYTES)) !=
            OFFPAY_OK ||
        (rc = meta_put(t->db, "bundle", bundle, bundle_len)) != OFFPAY_OK ||
        (rc = meta_put_u64(t->db, "currency", currency)) != OFFPAY_OK ||
        (rc = risk_save(t->db, &t->risk)) != OFFPAY_OK ||
        (rc = exec(t->db, "COMMIT")) != OFFPAY_OK) {
        exec(t->db, "ROLLBACK");
        goto out;
    }
    if ((rc = load_requests(t)) != OFFPAY_OK)
        goto out;
    *out = t;
    t = NULL;
out:
    sodium_memzero(seed, sizeof seed);
    if (t != NULL)
        create_undo(t, &d);
    return rc;
}

offpay_err offpay_terminal_create(const char *dir, const char *passphrase,
                                  const uint8_t  root_pk[OFFPAY_PK_BYTES],
                                  const uint8_t *bundle, size_t bundle_len,
                                  uint16_t currency, offpay_terminal **out)
{
    return create_as(dir, passphrase, NULL, 0, root_pk, bundle, bundle_len,
                     currency, out);
}

offpay_err offpay_terminal_create_in_token(
    const char *dir, const char *key_uri, int generate,
    const uint8_t root_pk[OFFPAY_PK_BYTES], const uint8_t *bundle,
    size_t bundle_len, uint16_t currency, offpay_terminal **out)
{
    if (key_uri == NULL) {
        if (out != NULL)
            *out = NULL;
        return OFFPAY_EINVAL;
    }
    return create_as(dir, NULL, key_uri, generate, root_pk, bundle, bundle_len,
                     currency, out);
}

offpay_err offpay__terminal_sign(const offpay_terminal *t, const char *domain,
                                 const uint8_t *msg, size_t len,
                                 uint8_t sig[OFFPAY_SIG_BYTES])
{
    offpay_signer s = {t->p11 != NULL ? NULL : t->kp.sk, t->p11};

    if (!t->has_key)
        return OFFPAY_EPASSPHRASE;
    return offpay_signer_sign(&s, domain, msg, len, sig);
}

/* offpay_terminal_open and offpay_terminal_open_readonly. */
/* 1 when dir holds the terminal's key: terminal.key, or terminal.keyuri
 * naming it in a token (a path that cannot be read for another reason
 * than its absence counts as there: key_load says why). */
static int key_file_here(const char *dir)
{
    static const char *const names[] = {"terminal.key", "terminal.keyuri"};
    char                     path[PATH_MAX_LEN];
    struct stat              st;

    for (size_t i = 0; i < 2; i++)
        if (path_in(dir, names[i], path) != OFFPAY_OK || stat(path, &st) == 0 ||
            errno != ENOENT)
            return 1;
    return 0;
}

static offpay_err open_as(const char *dir, const char *passphrase, int readonly,
                          offpay_terminal **out)
{
    offpay_terminal *t;
    char             path[PATH_MAX_LEN];
    struct stat      st;
    offpay_err       rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (dir == NULL)
        return OFFPAY_EINVAL;
#ifdef OFFPAY_TEST_HOOKS
    /* the serials a terminal can hold, lowered for the end-to-end tests */
    if (getenv("OFFPAY_TEST_REVOKED_MAX") != NULL)
        offpay__terminal_revoked_max =
            (uint32_t)strtoul(getenv("OFFPAY_TEST_REVOKED_MAX"), NULL, 10);
#endif
    if (path_in(dir, "terminal.db", path) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    /* No terminal here: not found; a path that cannot be followed (a file
     * given as the directory: ENOTDIR) by its reason. */
    if (stat(path, &st) != 0)
        return errno == ENOENT ? OFFPAY_ENOTFOUND : offpay__errno_err(errno);
    /* Emptied (truncated to nothing) with no log beside it: SQLite would
     * take it for a new database and write a fresh schema into it. */
    if (st.st_size == 0 && wal_empty(dir))
        return OFFPAY_ECORRUPT;
    t = terminal_new(dir);
    if (t == NULL)
        return OFFPAY_ENOMEM;
    rc = lock_terminal_as(t, readonly);
    if (rc == OFFPAY_OK)
        rc = readonly ? db_open_readonly(t) : db_open(t, 0);
    /* Best effort: a terminal made by an older version (or in a directory
     * that existed before) gets private modes now; one owned by another
     * user cannot be changed, and still opens. */
    if (rc == OFFPAY_OK && !readonly)
        (void)tighten_modes(dir);
    if (rc == OFFPAY_OK)
        t->key_missing = !key_file_here(dir);
    if (rc == OFFPAY_OK && passphrase != NULL)
        rc = t->key_missing ? OFFPAY_ETERMINAL_KEY_MISSING
                            : key_load(t, passphrase);
    if (rc == OFFPAY_OK)
        rc = load_state(t);
    if (rc != OFFPAY_OK) {
        offpay_terminal_close(t);
        return rc;
    }
    *out = t;
    return OFFPAY_OK;
}

offpay_err offpay_terminal_open(const char *dir, const char *passphrase,
                                offpay_terminal **out)
{
    return open_as(dir, passphrase, 0, out);
}

offpay_err offpay_terminal_open_readonly(const char       *dir,
                                         const char       *passphrase,
                                         offpay_terminal **out)
{
    return open_as(dir, passphrase, 1, out);
}

offpay_err offpay__terminal_schema(sqlite3 *db)
{
    return exec(db, SCHEMA);
}

offpay_err offpay__terminal_from_db(sqlite3 *db, offpay_terminal **out)
{
    offpay_terminal *t;
    offpay_err       rc;

    if (out == NULL || db == NULL) {
        sqlite3_close(db);
        return OFFPAY_EINVAL;
    }
    *out = NULL;
    t = terminal_new("");
    if (t == NULL) {
        sqlite3_close(db);
        return OFFPAY_ENOMEM;
    }
    t->db = db;
    rc = exec(db, SCHEMA);
    if (rc == OFFPAY_OK)
        rc = load_state(t);
    if (rc != OFFPAY_OK) {
        offpay_terminal_close(t);
        return rc;
    }
    *out = t;
    return OFFPAY_OK;
}

void offpay_terminal_public_key(const offpay_terminal *t,
                                uint8_t                pk[OFFPAY_PK_BYTES])
{
    if (t->has_key)
        memcpy(pk, t->kp.pk, OFFPAY_PK_BYTES);
    else if (t->has_cred)
        memcpy(pk, t->cred.terminal_pk, OFFPAY_PK_BYTES);
    else
        memset(pk, 0, OFFPAY_PK_BYTES);
}

void offpay_terminal_set_cred_cache(offpay_terminal *t, int enabled)
{
    if (t == NULL)
        return;
    t->cache_on = enabled != 0;
    if (t->cache != NULL)
        memset(t->cache, 0, OFFPAY__CACHE_SLOTS * sizeof *t->cache);
}

/* ---- credential and sync -------------------------------------------- */

offpay_err offpay_terminal_set_credential(offpay_terminal *t,
                                          const uint8_t *cred, size_t len,
                                          uint32_t now)
{
    offpay_terminal_cred c;
    uint32_t             hw;
    offpay_err           rc;

    if (t == NULL || cred == NULL)
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    rc = offpay_terminal_cred_decode(cred, len, &c);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_terminal_cred_verify(&t->bundle, &c, now, t->risk.skew);
    if (rc != OFFPAY_OK)
        return rc;
    if (!t->has_key ||
        sodium_memcmp(c.terminal_pk, t->kp.pk, OFFPAY_PK_BYTES) != 0)
        return OFFPAY_EINVAL;
    if (c.currency != t->currency)
        return OFFPAY_ECURRENCY;
    /* The bundle given at creation meets a clock only now. */
    if ((uint64_t)t->bundle.issued_at > (uint64_t)now + t->risk.skew)
        return OFFPAY_EFUTURE_DATED;
    hw = t->high_water;
    if (now > hw)
        hw = now;
    if (t->bundle.issued_at > hw)
        hw = t->bundle.issued_at;
    if ((rc = exec(t->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    /* Provisioning counts as a sync: the offline clock starts now. */
    if ((rc = meta_put(t->db, "credential", cred, len)) != OFFPAY_OK ||
        (t->last_sync == 0 &&
         (rc = meta_put_u64(t->db, "last_sync", now)) != OFFPAY_OK) ||
        (rc = meta_put_u64(t->db, "high_water", hw)) != OFFPAY_OK ||
        (rc = exec(t->db, "COMMIT")) != OFFPAY_OK) {
        exec(t->db, "ROLLBACK");
        return rc;
    }
    t->cred = c;
    t->has_cred = 1;
    if (t->last_sync == 0)
        t->last_sync = now;
    t->high_water = hw;
    return OFFPAY_OK;
}

offpay_err offpay_terminal_credential(const offpay_terminal *t,
                                      offpay_terminal_cred  *out)
{
    if (t == NULL || out == NULL)
        return OFFPAY_EINVAL;
    if (!t->has_cred)
        return OFFPAY_ENO_TERMINAL_CRED;
    *out = t->cred;
    return OFFPAY_OK;
}

/* Installs list l: its serials are added to those held, a full list's as a
 * delta's. A revocation is permanent, so no list takes one back: a full
 * list signed with a leaked daily key (the same seq, a later issued_at,
 * serials left out) may refresh the list's age but never un-revokes a
 * serial (docs/protocol.md §5.7). The serials held are then complete for
 * time complete (offpay__terminal_sync_seen). */
static offpay_err store_revlist(offpay_terminal *t, const offpay_revlist *l,
                                uint32_t complete)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    uint64_t      held = t->n_revoked;

    if (sqlite3_prepare_v2(t->db,
                           "INSERT OR IGNORE INTO revoked(serial) VALUES(?1)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    for (uint32_t i = 0; i < l->n_serials; i++) {
        sqlite3_reset(st);
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)l->serials[i]) !=
                SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE)
            goto out;
        held += (uint64_t)sqlite3_changes(t->db);
    }
    /* held past what the terminal can load: not taken (the caller rolls
     * back), so that it opens and uploads as before */
    if (held > offpay__terminal_revoked_max) {
        offpay__log("offpay: revocation list %u would make this terminal "
                    "hold %llu revoked serials, more than the %u it can: "
                    "not taken (ETOOBIG); it keeps list %u, and refuses "
                    "payments once that is older than max-revlist-age. An "
                    "online sync lets go of those expired long ago; a "
                    "terminal made anew (offpay terminal init DIR2, "
                    "offpay terminal rotate --new-terminal DIR2, then "
                    "offpay terminal sync of DIR2) takes the current "
                    "list alone, which names only credentials still live",
                    (unsigned)l->seq, (unsigned long long)held,
                    (unsigned)offpay__terminal_revoked_max,
                    (unsigned)t->revlist_seq);
        rc = OFFPAY_ETOOBIG;
        goto out;
    }
    if ((rc = meta_put_u64(t->db, "revlist_seq", l->seq)) != OFFPAY_OK)
        goto out;
    if ((rc = meta_put_u64(t->db, "revlist_issued_at", l->issued_at)) !=
        OFFPAY_OK)
        goto out;
    rc = meta_put_u64(t->db, "revlist_complete_at", complete);
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- the expiries of revoked serials (since 0.21.0) ------------------ */

/* Whether the revoked table has the columns expires (the credential's
 * signed expiry, from offpayd's signed answer; NULL: not known) and asked
 * (when it was last asked about; 0: never), into *yes. */
static offpay_err expiry_columns(sqlite3 *db, int *yes)
{
    int64_t    n = 0;
    offpay_err rc = query_i64(db,
                              "SELECT count(*) FROM pragma_table_info("
                              "'revoked') WHERE name = 'expires'",
                              0, &n);

    *yes = n != 0;
    return rc;
}

offpay_err offpay__terminal_revoked_unknown(offpay_terminal *t, size_t max,
                                            uint32_t before, uint64_t *out,
                                            size_t *n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           cols = 0, step = SQLITE_DONE;

    *n = 0;
    if ((rc = expiry_columns(t->db, &cols)) != OFFPAY_OK)
        return rc;
    rc = OFFPAY_EJOURNAL;
    /* the least lately asked first (revoked_unknown, an index), so that
     * serials offpayd does not answer for do not keep the others waiting;
     * without the columns (never asked yet) every serial */
    if (sqlite3_prepare_v2(t->db,
                           cols ? "SELECT serial FROM revoked WHERE expires IS"
                                  " NULL AND asked < ?2 ORDER BY asked, serial"
                                  " LIMIT ?1"
                                : "SELECT serial FROM revoked ORDER BY serial"
                                  " LIMIT ?1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, (sqlite3_int64)max) != SQLITE_OK ||
        (cols && sqlite3_bind_int64(st, 2, before) != SQLITE_OK))
        goto out;
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW)
        out[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
    if (*n < max && step != SQLITE_DONE)
        goto out;
    if (*n > 1)
        qsort(out, *n, sizeof *out, cmp_u64);
    rc = OFFPAY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Runs sql (one statement binding ?1 and ?2) for each pair (a[i], b[i]),
 * b NULL: mark for every i. */
static offpay_err each_pair(sqlite3 *db, const char *sql, const uint64_t *a,
                            const uint32_t *b, uint32_t mark, size_t n)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)a[i]) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, b != NULL ? b[i] : mark) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE)
            goto out;
    }
    rc = OFFPAY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

offpay_err offpay__terminal_revoked_learn(offpay_terminal *t,
                                          const uint64_t *asked, size_t n_asked,
                                          uint32_t        mark,
                                          const uint64_t *serials,
                                          const uint32_t *expires, size_t n)
{
    offpay_err rc;
    int        cols = 0;

    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    if ((rc = exec(t->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    if ((rc = expiry_columns(t->db, &cols)) != OFFPAY_OK ||
        (!cols &&
         (rc = exec(t->db,
                    "ALTER TABLE revoked ADD COLUMN expires INTEGER;"
                    "ALTER TABLE revoked ADD COLUMN asked INTEGER NOT NULL"
                    "  DEFAULT 0;"
                    "CREATE INDEX revoked_expires ON revoked(expires)"
                    "  WHERE expires IS NOT NULL;"
                    "CREATE INDEX revoked_unknown ON revoked(asked, serial)"
                    "  WHERE expires IS NULL")) != OFFPAY_OK) ||
        (rc =
             each_pair(t->db, "UPDATE revoked SET asked = ?2 WHERE serial = ?1",
                       asked, NULL, mark, n_asked)) != OFFPAY_OK ||
        /* never brought forward: a known expiry stays, or goes later */
        (rc = each_pair(t->db,
                        "UPDATE revoked SET expires ="
                        " max(coalesce(expires, 0), ?2) WHERE serial = ?1",
                        serials, expires, 0, n)) != OFFPAY_OK ||
        (rc = exec(t->db, "COMMIT")) != OFFPAY_OK) {
        if (rc == OFFPAY_EJOURNAL)
            rc = sqlite_cause(t->db);
        exec(t->db, "ROLLBACK");
    }
    return rc;
}

offpay_err offpay__terminal_revoked_drop(offpay_terminal *t, uint32_t now,
                                         size_t *dropped)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc;
    int           cols = 0;
    uint32_t      cut, held = 0;
    int64_t       any = 0;

    *dropped = 0;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    /* The cut: OFFPAY_TERMINAL_EXPIRED_KEEP before a time the issuer
     * signed (the held list's), and not after the newest time seen nor
     * the clock now. Those credentials' codes never pass again: the
     * terminal refuses one whose expiry is before expired_before, the
     * highest cut made (check.c), whatever its clock and high-water mark
     * do later. And offpayd's lists no longer name them (a day after
     * expiry; 14 days in 0.20.0 and 0.21.0), so no list brings them back.
     * None with a held list dated after now + skew (a clock that ran
     * ahead, the issuer's or this one's: a cut is never taken back). */
    cut = t->high_water < t->revlist_issued_at ? t->high_water
                                               : t->revlist_issued_at;
    if (now < cut)
        cut = now;
    if (t->revlist_seq == 0 || cut <= OFFPAY_TERMINAL_EXPIRED_KEEP ||
        (uint64_t)t->revlist_issued_at > (uint64_t)now + t->risk.skew)
        return OFFPAY_OK;
    if ((rc = expiry_columns(t->db, &cols)) != OFFPAY_OK || !cols)
        return rc; /* no column: no expiry learnt yet */
    cut -= OFFPAY_TERMINAL_EXPIRED_KEEP;
    /* Most syncs have nothing to let go: then no write transaction, whose
     * commit costs an fsync and holds the lock that an acceptance's
     * journal write would wait for. The cut is stored only with what it
     * let go, which is all the EEXPIRED rule must cover. */
    if ((rc = meta_opt_u32(t->db, "expired_before", &held)) != OFFPAY_OK ||
        (rc = query_i64(t->db,
                        "SELECT count(*) FROM (SELECT 1 FROM revoked"
                        " WHERE expires < ?1 LIMIT 1)",
                        cut > held ? cut : held, &any)) != OFFPAY_OK)
        return rc;
    if (held > t->expired_before)
        t->expired_before = held;
    if (any == 0)
        return OFFPAY_OK;
    if ((rc = exec(t->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    /* never below the cut stored (another process's, maybe) */
    if ((rc = meta_opt_u32(t->db, "expired_before", &held)) != OFFPAY_OK)
        goto fail;
    if (cut < held)
        cut = held;
    rc = OFFPAY_EJOURNAL;
    if (sqlite3_prepare_v2(t->db, "DELETE FROM revoked WHERE expires < ?1", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, cut) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    *dropped = (size_t)sqlite3_changes(t->db);
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = meta_put_u64(t->db, "expired_before", cut)) != OFFPAY_OK ||
        (rc = exec(t->db, "COMMIT")) != OFFPAY_OK)
        goto fail;
    t->expired_before = cut;
    /* the set read again only when it changed (a million rows, sorted) */
    return *dropped > 0 ? load_revoked(t) : OFFPAY_OK;
fail:
    if (rc == OFFPAY_EJOURNAL)
        rc = sqlite_cause(t->db);
    sqlite3_finalize(st);
    exec(t->db, "ROLLBACK");
    *dropped = 0;
    return rc;
}

offpay_err offpay_terminal_sync(offpay_terminal *t, const uint8_t *bundle,
                                size_t bundle_len, const uint8_t *revlist,
                                size_t revlist_len, uint32_t now)
{
    return offpay__terminal_sync_seen(t, bundle, bundle_len, revlist,
                                      revlist_len, now, now, INT64_MAX);
}

offpay_err offpay__terminal_sync_seen(offpay_terminal *t, const uint8_t *bundle,
                                      size_t bundle_len, const uint8_t *revlist,
                                      size_t revlist_len, uint32_t now,
                                      uint32_t seen, int64_t upto)
{
    offpay_trust_bundle b;
    offpay_revlist      l;
    int                 have_l = 0, fresh_b = 0, fresh_l = 0, held_future;
    int                 went_back = 0;
    uint64_t            latest;
    int64_t             sync_seq = 0;
    uint32_t            hw, hw_sync, rl_at, since = 0, newest = 0;
    offpay_err          rc;

    if (t == NULL || (bundle == NULL && revlist == NULL))
        return OFFPAY_EINVAL;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    latest = (uint64_t)now + t->risk.skew;
    memset(&l, 0, sizeof l);
    b = t->bundle;
    if (bundle != NULL) {
        rc = offpay_bundle_verify(bundle, bundle_len, t->root_pk, &b);
        if (rc != OFFPAY_OK)
            return rc;
        /* Dated in the future, it would outrank every genuine file for as
         * long (and vouch for a clock that is wrong). */
        if (b.issued_at > latest)
            return OFFPAY_EFUTURE_DATED;
        if (b.seq < t->bundle.seq)
            return OFFPAY_EBUNDLE_OLD;
        fresh_b = b.seq > t->bundle.seq;
    }
    if (revlist != NULL) {
        rc = offpay_revlist_decode(revlist, revlist_len, &l);
        if (rc != OFFPAY_OK)
            return rc;
        have_l = 1;
        rc = offpay_revlist_verify(&b, &l);
        if (rc != OFFPAY_OK)
            goto out;
        if (l.issued_at > latest) {
            rc = OFFPAY_EFUTURE_DATED;
            goto out;
        }
        /* A held list dated after now + skew, by this clock or by
         * offpayd's when that is behind it (seen: the list came when the
         * issuer's clock ran ahead, or this one was set back since)
         * yields to any valid list of its sequence or later. */
        held_future = t->revlist_issued_at >
                      (uint64_t)(seen < now ? seen : now) + t->risk.skew;
        if (l.base_seq != 0 && l.base_seq != t->revlist_seq) {
            rc = OFFPAY_EREVLIST_SEQ;
            goto out;
        }
        /* A full list numbered below the one held: an older list (which
         * would un-revoke), unless the issuer signed it after the one held
         * — then its numbering went back, as a ledger restored from an
         * older copy's does (docs/operations.md §5). That one is taken,
         * keeping every serial held (as every list does, store_revlist),
         * and the deltas follow the issuer's numbering again. */
        if (l.base_seq == 0 && l.seq < t->revlist_seq) {
            if (l.issued_at <= t->revlist_issued_at && !held_future) {
                rc = OFFPAY_EREVLIST_SEQ;
                goto out;
            }
            went_back = 1;
        }
        /* Newer: a later sequence, or the same list signed again later. */
        fresh_l = went_back || l.seq > t->revlist_seq ||
                  (l.seq == t->revlist_seq &&
                   (l.issued_at > t->revlist_issued_at || held_future));
    }
    /* Only something new from the issuer proves contact with it: files the
     * terminal already holds change nothing (replaying them must not reset
     * the offline limits). Not an error: a terminal may sync more often
     * than its issuer publishes. */
    if (!fresh_b && !fresh_l) {
        rc = OFFPAY_OK;
        goto out;
    }
    /* The time the serials held are complete for: a list leaves out a
     * credential a day past its expiry by its own issued_at (§2.8), so
     * the terminal must not work at a clock more than its skew before
     * that (the high-water mark, below). A full list is complete by its
     * own. A delta adds the serials revoked after the list held, and one
     * signed before it (offpayd's clock went back) does not make up for
     * what the lists held left out; nor does a full list numbered below
     * the one held (a ledger gone back to an older copy: it lacks the
     * revocations numbered after it). Those keep the time held, as a sync
     * without a list does, even when it is after now + skew (a clock ran
     * ahead): then the terminal refuses (ECLOCK_BEHIND) until a full list
     * of a right clock comes, which an online sync asks for (upload.c). */
    rl_at = fresh_l ? l.issued_at : t->revlist_complete_at;
    if (fresh_l && (l.base_seq != 0 || went_back) &&
        t->revlist_complete_at > rl_at)
        rl_at = t->revlist_complete_at;
    /* The high-water mark after contact with the issuer: the newest of now
     * and what it signed (both checked against now + skew above, but for
     * a list held dated after it). It may go down here, and only here: a
     * clock that ran ahead by mistake is forgiven by a full list, but
     * never back past the newest list or bundle held. */
    hw = seen < now ? seen : now;
    hw_sync = hw;
    if (b.issued_at > hw && b.issued_at <= latest) /* idem, a held bundle */
        hw = b.issued_at;
    if (rl_at > hw)
        hw = rl_at;
    if ((rc = exec(t->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        goto out;
    /* The offline count restarts: payments since this sync are the
     * journal rows after its highest seq now, or after upto (an online
     * sync's: the rows accepted while it talked to offpayd were not sent,
     * and still count); the hours since it count from the time seen
     * (offpayd's, when the terminal's clock ran ahead: a clock set right
     * later does not get those hours for nothing). */
    if ((fresh_b &&
         (rc = meta_put(t->db, "bundle", bundle, bundle_len)) != OFFPAY_OK) ||
        (fresh_l && (rc = store_revlist(t, &l, rl_at)) != OFFPAY_OK) ||
        (rc = query_i64(t->db,
                        "SELECT coalesce(max(seq), 0) FROM journal"
                        " WHERE seq <= ?1",
                        upto, &sync_seq)) != OFFPAY_OK ||
        (rc = journal_after(t->db, sync_seq, &since, &newest)) != OFFPAY_OK ||
        (rc = meta_put_u64(t->db, "last_sync", hw_sync)) != OFFPAY_OK ||
        (rc = meta_put_u64(t->db, "sync_seq", (uint64_t)sync_seq)) !=
            OFFPAY_OK ||
        (rc = meta_put_u64(t->db, "high_water", hw)) != OFFPAY_OK ||
        (rc = exec(t->db, "COMMIT")) != OFFPAY_OK) {
        exec(t->db, "ROLLBACK");
        goto out;
    }
    if (fresh_b) {
        t->bundle = b;
        offpay_terminal_set_cred_cache(t, t->cache_on);
    }
    /* as load_state will: the saved mark raised by what came after */
    t->high_water = newest > hw ? newest : hw;
    t->last_sync = hw_sync;
    t->sync_seq = sync_seq;
    t->payments_since_sync = since;
    if (went_back)
        offpay__log("offpay: the revocation list's number went back from %u "
                    "to %u in a list signed later (was offpayd's ledger "
                    "restored from an older copy?): taken, and the %zu "
                    "serial(s) this terminal held revoked stay revoked\n",
                    (unsigned)t->revlist_seq, (unsigned)l.seq,
                    (size_t)t->n_revoked);
    rc = load_revoked(t);
out:
    if (have_l)
        offpay_revlist_free(&l);
    return rc;
}

/* ---- requests, acceptance, receipts --------------------------------- */

offpay_err offpay_terminal_request(offpay_terminal *t, int64_t amount,
                                   uint32_t now, char **text,
                                   offpay_request *q_out)
{
    offpay_request q;
    uint8_t        msg[OFFPAY_SIGNED_MAX];
    uint8_t        code[OFFPAY_SIGNED_MAX + OFFPAY_SIG_BYTES];
    size_t         len = 0;
    sqlite3_stmt  *st = NULL;
    offpay_err     rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (t == NULL || amount <= 0 || amount > OFFPAY_WIRE_AMOUNT_MAX)
        return OFFPAY_EINVAL;
    /* Never ask for what this terminal would then refuse: the payer's
     * allowance would stay reserved for nothing. */
    if (amount > t->risk.floor_bound)
        return OFFPAY_EOVER_FLOOR;
    if (amount > t->risk.cumulative)
        return OFFPAY_EOVER_CUMULATIVE;
    rc = offpay__terminal_self_ok(t, now);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__terminal_offline_ok(t, now);
    if (rc != OFFPAY_OK)
        return rc;
    if (!t->has_key)
        return OFFPAY_EPASSPHRASE;
    memset(&q, 0, sizeof q);
    q.tcred = t->cred;
    q.amount = (uint32_t)amount;
    q.currency = t->currency;
    randombytes_buf(q.nonce, sizeof q.nonce);
    q.time = now;
    if ((rc = offpay__request_signed_bytes(&q, msg, sizeof msg, &len)) !=
            OFFPAY_OK ||
        (rc = offpay__terminal_sign(t, OFFPAY_DS_REQUEST, msg, len, q.sig)) !=
            OFFPAY_OK ||
        (rc = offpay_request_encode(&q, code, sizeof code, &len)) != OFFPAY_OK)
        return rc;
    /* Requests that can no longer be paid are forgotten (paid ones stay, as
     * the record of which payment answered which request). */
    if (sqlite3_prepare_v2(t->db,
                           "DELETE FROM requests WHERE paid_seq IS NULL"
                           " AND created + ?1 < ?2",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, t->risk.request_ttl) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        rc = OFFPAY_EJOURNAL;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* The request is remembered durably before its code is shown, so a
     * payment made against it is recognized after a restart. */
    rc = OFFPAY_EJOURNAL;
    if (sqlite3_prepare_v2(t->db,
                           "INSERT INTO requests(nonce, amount, created)"
                           " VALUES(?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_blob(st, 1, q.nonce, OFFPAY_NONCE_BYTES, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 2, q.amount) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, q.time) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        goto out;
    if ((rc = load_requests(t)) != OFFPAY_OK)
        goto out;
    rc = offpay_text_encode(code, len, text);
    if (rc == OFFPAY_OK && q_out != NULL)
        *q_out = q;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Rebuilds the seen-set and sums from the journal when an earlier
 * post-commit update of them failed. */
static offpay_err fresh_tables(offpay_terminal *t)
{
    offpay_err rc;

    if (!t->tables_stale)
        return OFFPAY_OK;
    offpay__tables_free(&t->tables);
    rc = load_journal(t, NULL);
    if (rc == OFFPAY_OK)
        t->tables_stale = 0;
    return rc == OFFPAY_OK ? OFFPAY_OK : OFFPAY_EJOURNAL;
}

offpay_err offpay__terminal_carry_sums(offpay_terminal *next,
                                       offpay_terminal *from)
{
    sqlite3_stmt *ins = NULL;
    offpay_err    rc;

    if (next == NULL || from == NULL)
        return OFFPAY_EINVAL;
    if (next->frozen != OFFPAY_OK)
        return next->frozen;
    if ((rc = fresh_tables(from)) != OFFPAY_OK)
        return rc;
    if ((rc = exec(next->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    rc = exec(next->db, CARRIED_TABLE "; DELETE FROM main.carried;");
    if (rc != OFFPAY_OK)
        goto out;
    if (sqlite3_prepare_v2(next->db,
                           "INSERT INTO main.carried(serial, charged)"
                           " VALUES (?1, ?2)",
                           -1, &ins, NULL) != SQLITE_OK) {
        rc = db_err(next->db);
        goto out;
    }
    for (size_t k = 0; k < from->tables.cumul_cap; k++) {
        const offpay__cumul *c = &from->tables.cumul[k];

        if (!c->used || c->sum <= 0)
            continue;
        sqlite3_reset(ins);
        if (sqlite3_bind_int64(ins, 1, (sqlite3_int64)c->serial) != SQLITE_OK ||
            sqlite3_bind_int64(ins, 2, c->sum) != SQLITE_OK ||
            sqlite3_step(ins) != SQLITE_DONE) {
            rc = db_err(next->db);
            goto out;
        }
    }
    rc = exec(next->db, "COMMIT");
out:
    sqlite3_finalize(ins);
    if (rc != OFFPAY_OK)
        exec(next->db, "ROLLBACK");
    /* the sums next judges by: its journal's and these, read again
     * before its next verdict */
    offpay__tables_free(&next->tables);
    next->tables_stale = 1;
    return rc;
}

/* What the journal holds for (serial, counter), outside any transaction:
 * JOURNAL_NONE, JOURNAL_SAME (exactly these code bytes), JOURNAL_OTHER
 * (another code with the same key: double-spend evidence), or
 * JOURNAL_UNKNOWN when the database cannot answer. For SAME and OTHER,
 * prior (may be NULL) receives the journal row's seq, charge and time. */
enum { JOURNAL_NONE, JOURNAL_SAME, JOURNAL_OTHER, JOURNAL_UNKNOWN };

static int journal_holds(offpay_terminal *t, const offpay_payment *p,
                         const uint8_t *code, size_t len,
                         offpay_acceptance *prior)
{
    sqlite3_stmt *st = NULL;
    int           what = JOURNAL_UNKNOWN, step;

    if (sqlite3_prepare_v2(t->db,
                           "SELECT code, seq, charged, accepted_at FROM journal"
                           " WHERE serial = ?1 AND counter = ?2",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, (sqlite3_int64)p->cred.serial) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, p->counter) != SQLITE_OK)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        what = JOURNAL_NONE;
    } else if (step == SQLITE_ROW) {
        what = (size_t)sqlite3_column_bytes(st, 0) == len &&
                       memcmp(sqlite3_column_blob(st, 0), code, len) == 0
                   ? JOURNAL_SAME
                   : JOURNAL_OTHER;
        if (prior != NULL) {
            prior->payment = *p;
            prior->seq = sqlite3_column_int64(st, 1);
            prior->charged = sqlite3_column_int64(st, 2);
            prior->time = (uint32_t)sqlite3_column_int64(st, 3);
        }
    }
out:
    sqlite3_finalize(st);
    return what;
}

/* The verdict on a seen (serial, counter): the same code again (a rescan:
 * EREPLAY) or another one (EDOUBLE_SPEND), as the journal says; EREPLAY
 * when it cannot say. */
static offpay_err replay_kind(int held)
{
    return held == JOURNAL_OTHER ? OFFPAY_EDOUBLE_SPEND : OFFPAY_EREPLAY;
}

/* Decodes a code's text into p and code[0..*len) and judges it: the one
 * path both offpay_terminal_check and offpay_terminal_accept take. A seen
 * (serial, counter) is looked up in the journal (rare: only then): *held
 * receives what it holds (JOURNAL_NONE otherwise) and prior (may be NULL)
 * the earlier acceptance. */
static offpay_err judge(offpay_terminal *t, const char *text, size_t n,
                        int64_t charge, uint32_t now, offpay_payment *p,
                        uint8_t code[OFFPAY_PAYMENT_BOUND_BYTES], size_t *len,
                        int64_t *charged, long *req, int *held,
                        offpay_acceptance *prior)
{
    offpay_err rc;

    *held = JOURNAL_NONE;
    if (t == NULL || text == NULL || charge < 0)
        return OFFPAY_EINVAL;
    rc = offpay__terminal_decode(text, n, code, OFFPAY_PAYMENT_BOUND_BYTES, len,
                                 p);
    if (rc != OFFPAY_OK)
        return rc;
    if ((rc = fresh_tables(t)) != OFFPAY_OK)
        return rc;
    rc = offpay__terminal_verdict(t, p, code, *len, charge, now, charged, req);
    if (rc == OFFPAY_EREPLAY) {
        *held = journal_holds(t, p, code, *len, prior);
        rc = replay_kind(*held);
    }
    return rc;
}

offpay_err offpay_terminal_check(offpay_terminal *t, const char *text, size_t n,
                                 int64_t charge, uint32_t now,
                                 offpay_payment *p_out)
{
    offpay_payment p;
    uint8_t        code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         len = 0;
    int64_t        charged = 0;
    long           req = -1;
    int            held;
    offpay_err     rc;

    memset(&p, 0, sizeof p);
    rc = judge(t, text, n, charge, now, &p, code, &len, &charged, &req, &held,
               NULL);
    if (p_out != NULL && len > 0)
        *p_out = p;
    return rc;
}

/* Keeps a second code for a seen (serial, counter) with other bytes: the
 * evidence of a double spend (DESIGN.md invariant 6). */
static void keep_evidence(offpay_terminal *t, const offpay_payment *p,
                          const uint8_t *code, size_t len, uint32_t now)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(t->db,
                           "INSERT INTO evidence(serial, counter, code,"
                           " seen_at) VALUES(?1, ?2, ?3, ?4)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(st, 1, (sqlite3_int64)p->cred.serial) == SQLITE_OK &&
        sqlite3_bind_int64(st, 2, p->counter) == SQLITE_OK &&
        sqlite3_bind_blob(st, 3, code, (int)len, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(st, 4, now) == SQLITE_OK)
        (void)sqlite3_step(st);
    sqlite3_finalize(st);
}

/* Closes and reopens the database connection (after a failed COMMIT), so
 * that SQLite recovers whatever the WAL holds. */
static offpay_err reopen_db(offpay_terminal *t)
{
    sqlite3_finalize(t->st_insert);
    sqlite3_finalize(t->st_paid);
    sqlite3_finalize(t->st_begin);
    sqlite3_finalize(t->st_commit);
    t->st_insert = t->st_paid = t->st_begin = t->st_commit = NULL;
    sqlite3_close(t->db);
    t->db = NULL;
    return db_open(t, 0);
}

/* A statement of the accept path: prepared on first use and kept for the
 * life of the handle (preparing costs about as much as the insert itself),
 * reset and unbound on every later use. NULL on failure. */
static sqlite3_stmt *stmt(offpay_terminal *t, sqlite3_stmt **slot,
                          const char *sql)
{
    if (*slot == NULL) {
        if (sqlite3_prepare_v3(t->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot,
                               NULL) != SQLITE_OK) {
            sqlite3_finalize(*slot);
            *slot = NULL;
        }
        return *slot;
    }
    sqlite3_reset(*slot);
    sqlite3_clear_bindings(*slot);
    return *slot;
}

/* Runs the kept statement of slot (BEGIN, COMMIT: parsing them costs
 * more than running them). OFFPAY_OK once it is done, else
 * OFFPAY_EJOURNAL. */
static offpay_err run_stmt(offpay_terminal *t, sqlite3_stmt **slot,
                           const char *sql)
{
    sqlite3_stmt *st = stmt(t, slot, sql);
    offpay_err    rc;
    int           step;

    if (st == NULL)
        return OFFPAY_EJOURNAL;
    step = sqlite3_step(st);
    /* the cause, named, before reset clears it */
    rc = step == SQLITE_DONE ? OFFPAY_OK : db_err(t->db);
    sqlite3_reset(st);
    return rc;
}

/* OFFPAY_EOUTCOME, with the code in out (seq 0: the journal cannot say),
 * so that the caller can ask offpay_terminal_journal_find for its serial
 * and counter once the journal reads again. */
static offpay_err outcome_unknown(offpay_acceptance    *out,
                                  const offpay_payment *p, int64_t charged,
                                  uint32_t now)
{
    if (out != NULL) {
        out->payment = *p;
        out->charged = charged;
        out->seq = 0;
        out->time = now;
    }
    return OFFPAY_EOUTCOME;
}

offpay_err offpay_terminal_accept(offpay_terminal *t, const char *text,
                                  size_t n, int64_t charge, uint32_t now,
                                  offpay_acceptance *out)
{
    offpay_payment p;
    uint8_t        code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         len = 0;
    int64_t        charged = 0;
    long           req = -1;
    sqlite3_stmt  *ins, *upd = NULL;
    int64_t        seq;
    int            step, held;
    uint32_t       hw;
    offpay_err     rc;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    rc = judge(t, text, n, charge, now, &p, code, &len, &charged, &req, &held,
               out);
    /* Another code under a seen counter: the evidence of a double spend. */
    if (held == JOURNAL_OTHER)
        keep_evidence(t, &p, code, len, now);
    if (rc != OFFPAY_OK)
        return rc;
    hw = now > t->high_water ? now : t->high_water;

    if ((rc = run_stmt(t, &t->st_begin, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    rc = OFFPAY_EJOURNAL;
    ins = stmt(t, &t->st_insert,
               "INSERT INTO journal(serial, counter, charged, authorized,"
               " currency, bound, accepted_at, code)"
               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (ins == NULL ||
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)p.cred.serial) != SQLITE_OK ||
        sqlite3_bind_int64(ins, 2, p.counter) != SQLITE_OK ||
        sqlite3_bind_int64(ins, 3, charged) != SQLITE_OK ||
        sqlite3_bind_int64(ins, 4, p.amount) != SQLITE_OK ||
        sqlite3_bind_int64(ins, 5, p.cred.currency) != SQLITE_OK ||
        sqlite3_bind_int64(ins, 6, p.bound) != SQLITE_OK ||
        sqlite3_bind_int64(ins, 7, now) != SQLITE_OK ||
        sqlite3_bind_blob(ins, 8, code, (int)len, SQLITE_STATIC) != SQLITE_OK)
        goto fail;
    /* The UNIQUE(serial, counter) key is the durable seen-set: it refuses a
     * replay even if the in-memory table missed it. */
    step = sqlite3_step(ins);
    if (step == SQLITE_CONSTRAINT) {
        exec(t->db, "ROLLBACK");
        held = journal_holds(t, &p, code, len, out);
        if (held == JOURNAL_OTHER)
            keep_evidence(t, &p, code, len, now);
        rc = replay_kind(held);
        goto out;
    }
    if (step != SQLITE_DONE)
        goto fail;
    seq = sqlite3_last_insert_rowid(t->db);
    if (req >= 0) {
        upd = stmt(t, &t->st_paid,
                   "UPDATE requests SET paid_seq = ?1"
                   " WHERE nonce = ?2 AND paid_seq IS NULL");
        if (upd == NULL || sqlite3_bind_int64(upd, 1, seq) != SQLITE_OK ||
            sqlite3_bind_blob(upd, 2, p.nonce, OFFPAY_NONCE_BYTES,
                              SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(upd) != SQLITE_DONE || sqlite3_changes(t->db) != 1)
            goto fail;
    }
    /* Nothing else is written: the offline count (rows after sync_seq) and
     * the clock's high-water mark (the newest row's time) are the journal
     * row itself, so a payment costs the WAL frames of its row and its
     * unique key's index entry, and no other page. */
    /* The durable commit: after it returns, the payment survives a crash.
     * A COMMIT that fails (an I/O error while syncing the WAL) has an
     * unknown outcome; the journal itself says whether the row is there. */
    if ((rc = run_stmt(t, &t->st_commit, "COMMIT")) != OFFPAY_OK) {
        exec(t->db, "ROLLBACK");
        /* This connection no longer sees the row, but the WAL may hold the
         * committed frames: reopening runs SQLite's recovery, and then the
         * journal answers for what the next start would see. */
        held = reopen_db(t) == OFFPAY_OK ? journal_holds(t, &p, code, len, NULL)
                                         : JOURNAL_UNKNOWN;
        if (held == JOURNAL_UNKNOWN) {
            rc = outcome_unknown(out, &p, charged, now);
            goto out;
        }
        if (held != JOURNAL_SAME)
            goto out; /* not committed: the COMMIT's own reason */
        /* The row reads back, but the sync that failed may have left it in
         * the page cache only, which a power cut loses: "accepted" only
         * once a checkpoint has synced the WAL again (test_powerloss). */
        if (sqlite3_wal_checkpoint_v2(t->db, NULL, SQLITE_CHECKPOINT_FULL, NULL,
                                      NULL) != SQLITE_OK) {
            rc = outcome_unknown(out, &p, charged, now);
            goto out;
        }
    }

    /* Committed: the payment is accepted whatever happens next. Should
     * memory run out here, the in-memory tables are marked stale and rebuilt
     * from the journal before the next code is judged. */
    t->payments_since_sync++;
    if (t->oldest_waiting == 0 || now < t->oldest_waiting)
        t->oldest_waiting = now;
    t->high_water = hw;
    t->max_seq = seq;
    if (offpay__cumul_add(&t->tables, p.cred.serial, charged) != OFFPAY_OK ||
        offpay__seen_add(&t->tables, p.cred.serial, p.counter) != OFFPAY_OK)
        t->tables_stale = 1; /* rebuilt before the next verdict */
    if (req >= 0) {
        t->requests[req] = t->requests[t->n_requests - 1];
        t->n_requests--;
    }
    if (out != NULL) {
        out->payment = p;
        out->charged = charged;
        out->seq = seq;
        out->time = now;
    }
    rc = OFFPAY_OK;
    goto out;
fail:
    rc = db_err(t->db); /* before the ROLLBACK clears it */
    exec(t->db, "ROLLBACK");
out:
    /* Reset, so that no statement holds the database between calls. */
    if (t->st_insert != NULL)
        sqlite3_reset(t->st_insert);
    if (t->st_paid != NULL)
        sqlite3_reset(t->st_paid);
    return rc;
}

offpay_err offpay_terminal_receipt(offpay_terminal *t, int64_t seq,
                                   uint32_t now, char **text)
{
    sqlite3_stmt  *st = NULL;
    offpay_receipt r;
    uint8_t        msg[OFFPAY_SIGNED_MAX];
    uint8_t        code[OFFPAY_SIGNED_MAX + OFFPAY_SIG_BYTES];
    size_t         len = 0;
    offpay_err     rc = OFFPAY_EJOURNAL;
    int            step;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (t == NULL)
        return OFFPAY_EINVAL;
    if (!t->has_key)
        return OFFPAY_EPASSPHRASE;
    if (!t->has_cred)
        return OFFPAY_ENO_TERMINAL_CRED;
    if (sqlite3_prepare_v2(t->db,
                           "SELECT serial, counter, charged, currency FROM"
                           " journal WHERE seq = ?1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, seq) != SQLITE_OK)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = OFFPAY_ENOTFOUND;
        goto out;
    }
    if (step != SQLITE_ROW)
        goto out;
    memset(&r, 0, sizeof r);
    r.tcred = t->cred;
    r.serial = (uint64_t)sqlite3_column_int64(st, 0);
    r.counter = (uint32_t)sqlite3_column_int64(st, 1);
    r.amount = (uint32_t)sqlite3_column_int64(st, 2);
    r.currency = (uint16_t)sqlite3_column_int64(st, 3);
    r.time = now;
    if ((rc = offpay__receipt_signed_bytes(&r, msg, sizeof msg, &len)) !=
            OFFPAY_OK ||
        (rc = offpay__terminal_sign(t, OFFPAY_DS_RECEIPT, msg, len, r.sig)) !=
            OFFPAY_OK ||
        (rc = offpay_receipt_encode(&r, code, sizeof code, &len)) != OFFPAY_OK)
        goto out;
    rc = offpay_text_encode(code, len, text);
out:
    sqlite3_finalize(st);
    return rc;
}

/* One journal row of the walks below, from columns seq .. code. */
/* The columns entry_of reads, in its order: the journal's, and the kept
 * result's from the results table, or from an empty stand-in when the
 * file has none yet (an older terminal.db, opened read-only or not yet
 * synced since) or the walk needs none (with_results 0: the entries still
 * to upload have none). sql receives the statement with tail appended. */
static void journal_select(const offpay_terminal *t, int with_results,
                           const char *tail, char *sql, size_t cap)
{
    int n = snprintf(sql, cap,
             "SELECT seq, serial, counter, charged, authorized, currency,"
             " bound, accepted_at, code, uploaded, outcome, paid, covered,"
             " reason, case_id, decided_at, was_outcome, was_paid, redone_at"
             " FROM journal LEFT JOIN %s USING (seq) LEFT JOIN %s USING (seq)"
             " %s",
             t->has_results && with_results
                 ? "main.results"
                 : "(SELECT NULL AS seq, NULL AS outcome, NULL AS paid,"
                   " NULL AS covered, NULL AS reason, NULL AS case_id,"
                   " NULL AS decided_at LIMIT 0)",
             t->has_lost && with_results
                 ? "main.lost"
                 : "(SELECT NULL AS seq, NULL AS was_outcome, NULL AS"
                   " was_paid, NULL AS redone_at LIMIT 0)",
             tail);

    if (n < 0 || (size_t)n >= cap) /* too long: fails to prepare, not cut */
        snprintf(sql, cap, "%s", "statement too long");
}

int offpay__token_copy(char *dst, size_t cap, const char *v,
                       const char *allowed)
{
    size_t n = v != NULL ? strlen(v) : 0;
    int    ok = n < cap && (v == NULL || strspn(v, allowed) == n);

    if (!ok)
        n = 0;
    memcpy(dst, ok && v != NULL ? v : "", n);
    dst[n] = '\0';
    return ok;
}

/* Column i as text into dst (cap bytes): "" for NULL, or for a value
 * too long or with a character outside allowed (a file written by
 * something else: its text goes to terminals and CSV files). */
static void column_token(sqlite3_stmt *st, int i, char *dst, size_t cap,
                         const char *allowed)
{
    (void)offpay__token_copy(dst, cap, (const char *)sqlite3_column_text(st, i),
                             allowed);
}

static void entry_of(sqlite3_stmt *st, offpay_journal_entry *e)
{
    e->seq = sqlite3_column_int64(st, 0);
    e->serial = (uint64_t)sqlite3_column_int64(st, 1);
    e->counter = (uint32_t)sqlite3_column_int64(st, 2);
    e->charged = sqlite3_column_int64(st, 3);
    e->authorized = (uint32_t)sqlite3_column_int64(st, 4);
    e->currency = (uint16_t)sqlite3_column_int64(st, 5);
    e->bound = (int)sqlite3_column_int64(st, 6);
    e->accepted_at = (uint32_t)sqlite3_column_int64(st, 7);
    e->code = sqlite3_column_blob(st, 8);
    e->code_len = (size_t)sqlite3_column_bytes(st, 8);
    e->uploaded = sqlite3_column_int64(st, 9) != 0;
    column_token(st, 10, e->outcome, sizeof e->outcome,
                 OFFPAY__OUTCOME_CHARS);
    e->paid = sqlite3_column_int64(st, 11);
    e->covered = sqlite3_column_int64(st, 12);
    column_token(st, 13, e->reason, sizeof e->reason, OFFPAY__REASON_CHARS);
    column_token(st, 14, e->case_id, sizeof e->case_id, OFFPAY__CASE_CHARS);
    e->decided_at = (uint32_t)sqlite3_column_int64(st, 15);
    e->lost = sqlite3_column_type(st, 16) == SQLITE_NULL ? 0
              : sqlite3_column_type(st, 18) == SQLITE_NULL ? 1
                                                           : 2;
    column_token(st, 16, e->lost_outcome, sizeof e->lost_outcome,
                 OFFPAY__OUTCOME_CHARS);
    e->lost_paid = sqlite3_column_int64(st, 17);
}

/* Walks the rows of sql (journal_select's), ?1 and ?2 bound to a and b,
 * through fn until it returns non-zero. */
static offpay_err walk(offpay_terminal *t, const char *sql, int64_t a,
                       int64_t b,
                       int (*fn)(const offpay_journal_entry *e, void *ctx),
                       void *ctx)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step = SQLITE_DONE;

    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(st) >= 1 &&
         sqlite3_bind_int64(st, 1, a) != SQLITE_OK) ||
        (sqlite3_bind_parameter_count(st) >= 2 &&
         sqlite3_bind_int64(st, 2, b) != SQLITE_OK))
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        offpay_journal_entry e;

        entry_of(st, &e);
        if (fn(&e, ctx) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    rc = step == SQLITE_DONE ? OFFPAY_OK : OFFPAY_EJOURNAL;
out:
    sqlite3_finalize(st);
    return rc;
}

offpay_err
offpay__terminal_pending(offpay_terminal *t, int64_t after_seq, size_t max,
                         int (*fn)(const offpay_journal_entry *e, void *ctx),
                         void *ctx)
{
    char sql[1024];

    if (t == NULL || fn == NULL)
        return OFFPAY_EINVAL;
    journal_select(t, 0,
                   "WHERE uploaded = 0 AND seq > ?1 ORDER BY seq LIMIT ?2",
                   sql, sizeof sql);
    return walk(t, sql, after_seq,
                max > INT64_MAX ? INT64_MAX : (int64_t)max, fn, ctx);
}

/* Marks the n entries of res uploaded and keeps their results, inside the
 * caller's transaction (the first makes the results and order tables);
 * with lost, the entries also leave the list of what a ledger lost
 * (decided again: history). */
static offpay_err keep_results(offpay_terminal             *t,
                               const offpay__upload_result *res, size_t n,
                               uint32_t now, int lost)
{
    sqlite3_stmt *up = NULL, *keep = NULL, *order = NULL, *redone = NULL;
    offpay_err    rc;

    if (!t->has_results &&
        (rc = exec(t->db, "CREATE TABLE IF NOT EXISTS main.results"
                          RESULTS_COLUMNS ";")) != OFFPAY_OK)
        return rc;
    /* results kept before the order (0.3.0's) come first, by seq: each
     * kept result then has its place in it */
    if (!t->has_order &&
        ((rc = exec(t->db, RESULT_ORDER_TABLE ";")) != OFFPAY_OK ||
         (rc = exec(t->db, "INSERT OR IGNORE INTO main.result_order(seq)"
                           " SELECT seq FROM main.results ORDER BY seq;")) !=
             OFFPAY_OK))
        return rc;
    rc = OFFPAY_EJOURNAL;
    if (lost && sqlite3_prepare_v2(t->db,
                                   "UPDATE main.lost SET redone_at = ?2 WHERE"
                                   " seq = ?1 AND redone_at IS NULL",
                                   -1, &redone, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(t->db,
                           "UPDATE journal SET uploaded = 1 WHERE seq = ?1", -1,
                           &up, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(t->db,
                           "INSERT OR REPLACE INTO main.results(seq, outcome,"
                           " paid, covered, reason, case_id, decided_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &keep, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(t->db,
                           "INSERT OR REPLACE INTO main.result_order(seq)"
                           " VALUES (?1)",
                           -1, &order, NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const offpay__upload_result *r = &res[i];

        sqlite3_reset(up);
        sqlite3_reset(keep);
        if (sqlite3_bind_int64(up, 1, r->seq) != SQLITE_OK ||
            sqlite3_step(up) != SQLITE_DONE) {
            rc = db_err(t->db);
            goto out;
        }
        if (sqlite3_changes(t->db) != 1) { /* no such entry */
            rc = OFFPAY_EJOURNAL;
            goto out;
        }
        if (sqlite3_bind_int64(keep, 1, r->seq) != SQLITE_OK ||
            sqlite3_bind_text(keep, 2, r->outcome, -1, SQLITE_STATIC) !=
                SQLITE_OK ||
            sqlite3_bind_int64(keep, 3, r->paid) != SQLITE_OK ||
            sqlite3_bind_int64(keep, 4, r->covered) != SQLITE_OK ||
            sqlite3_bind_text(keep, 5, r->reason, -1, SQLITE_STATIC) !=
                SQLITE_OK ||
            sqlite3_bind_text(keep, 6, r->case_id, -1, SQLITE_STATIC) !=
                SQLITE_OK ||
            sqlite3_bind_int64(keep, 7, now) != SQLITE_OK ||
            sqlite3_step(keep) != SQLITE_DONE) {
            rc = db_err(t->db);
            goto out;
        }
        sqlite3_reset(order);
        if (sqlite3_bind_int64(order, 1, r->seq) != SQLITE_OK ||
            sqlite3_step(order) != SQLITE_DONE) {
            rc = db_err(t->db);
            goto out;
        }
        if (redone == NULL)
            continue;
        sqlite3_reset(redone);
        if (sqlite3_bind_int64(redone, 1, r->seq) != SQLITE_OK ||
            sqlite3_bind_int64(redone, 2, now) != SQLITE_OK ||
            sqlite3_step(redone) != SQLITE_DONE) {
            rc = db_err(t->db);
            goto out;
        }
    }
    rc = OFFPAY_OK;
out:
    sqlite3_finalize(up);
    sqlite3_finalize(keep);
    sqlite3_finalize(order);
    sqlite3_finalize(redone);
    return rc;
}

/* Runs sql once for each of the n seqs (?1), now as ?2. */
static offpay_err each_seq(sqlite3 *db, const char *sql, const int64_t *seqs,
                           size_t n, uint32_t now)
{
    sqlite3_stmt *st = NULL;
    offpay_err    rc = OFFPAY_OK;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return OFFPAY_EJOURNAL;
    for (size_t i = 0; i < n && rc == OFFPAY_OK; i++) {
        sqlite3_reset(st);
        if (sqlite3_bind_int64(st, 1, seqs[i]) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(db);
    }
    sqlite3_finalize(st);
    return rc;
}

/* keep_results in a transaction of its own. */
static offpay_err keep_tx(offpay_terminal *t, const offpay__upload_result *res,
                          size_t n, uint32_t now, int lost)
{
    int64_t    wseq = 0;
    uint32_t   wat = 0;
    offpay_err rc;

    if (t == NULL || (res == NULL && n > 0))
        return OFFPAY_EINVAL;
    if (n == 0)
        return OFFPAY_OK;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    if ((rc = exec(t->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    /* with them, the first entry still waiting for offpayd, saved so that
     * the next open reads on from there (waiting_load) */
    if ((rc = keep_results(t, res, n, now, lost)) == OFFPAY_OK &&
        (rc = waiting_find(t, t->waiting_seq, &wseq, &wat)) == OFFPAY_OK &&
        (rc = meta_put_u64(t->db, "waiting_seq", (uint64_t)wseq)) ==
            OFFPAY_OK &&
        (rc = exec(t->db, "COMMIT")) == OFFPAY_OK) {
        t->has_results = t->has_order = 1;
        t->waiting_seq = wseq;
        t->oldest_waiting = wat;
        return OFFPAY_OK;
    }
    exec(t->db, "ROLLBACK");
    return rc;
}

offpay_err offpay__terminal_mark_uploaded(offpay_terminal             *t,
                                          const offpay__upload_result *res,
                                          size_t n, uint32_t now)
{
    return keep_tx(t, res, n, now, 0);
}

offpay_err
offpay__terminal_paid_walk(offpay_terminal *t, size_t max, size_t skip,
                           int (*fn)(const offpay_journal_entry *e, void *ctx),
                           void *ctx)
{
    char sql[1024];

    if (t == NULL || fn == NULL)
        return OFFPAY_EINVAL;
    if (!t->has_results)
        return OFFPAY_OK; /* no result kept: nothing paid to check */
    /* Every kept result has its row in result_order (keep_results);
     * driven by it, the newest come first without a walk of the whole
     * journal. A file of 0.3.0 not synced since has no order yet: by
     * seq. */
    journal_select(t, 1,
                   t->has_order ? "JOIN main.result_order USING (seq) WHERE"
                                  " outcome <> 'rejected' ORDER BY ord DESC"
                                  " LIMIT ?1 OFFSET ?2"
                                : "WHERE outcome <> 'rejected' ORDER BY seq"
                                  " DESC LIMIT ?1 OFFSET ?2",
                   sql, sizeof sql);
    return walk(t, sql, max > INT64_MAX ? INT64_MAX : (int64_t)max,
                skip > INT64_MAX ? INT64_MAX : (int64_t)skip, fn, ctx);
}

offpay_err
offpay__terminal_lost_walk(offpay_terminal *t, size_t max,
                           int (*fn)(const offpay_journal_entry *e, void *ctx),
                           void *ctx)
{
    char sql[1024];

    if (t == NULL || fn == NULL)
        return OFFPAY_EINVAL;
    if (!t->has_lost) /* no loss ever found: nothing listed */
        return OFFPAY_OK;
    /* driven by the lost table, not a walk of the whole journal */
    journal_select(t, 1,
                   "WHERE seq IN (SELECT seq FROM main.lost WHERE redone_at"
                   " IS NULL) ORDER BY seq LIMIT ?1",
                   sql, sizeof sql);
    return walk(t, sql, max > INT64_MAX ? INT64_MAX : (int64_t)max, 0, fn,
                ctx);
}

offpay_err offpay__terminal_lost_count(offpay_terminal *t, size_t *n)
{
    int64_t    c = 0;
    offpay_err rc = OFFPAY_OK;

    if (t == NULL || n == NULL)
        return OFFPAY_EINVAL;
    if (t->has_lost) /* no loss ever found: nothing listed */
        rc = query_i64(t->db,
                       "SELECT count(*) FROM main.lost WHERE redone_at IS NULL",
                       0, &c);
    *n = rc == OFFPAY_OK ? (size_t)c : 0;
    return rc;
}

offpay_err offpay__terminal_lost_list(offpay_terminal *t, const int64_t *seqs,
                                      size_t n, uint32_t now)
{
    offpay_err rc;

    if (t == NULL || (seqs == NULL && n > 0))
        return OFFPAY_EINVAL;
    if (n == 0)
        return OFFPAY_OK;
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    if ((rc = exec(t->db, "BEGIN IMMEDIATE")) != OFFPAY_OK)
        return rc;
    /* the result offpayd had given, kept; listed again if a later loss
     * finds it once more (redone_at set back to NULL) */
    if ((rc = exec(t->db, LOST_TABLE ";")) == OFFPAY_OK &&
        (rc = each_seq(t->db,
                       "INSERT INTO main.lost(seq, was_outcome, was_paid,"
                       " found_at, redone_at) SELECT seq, outcome, paid, ?2,"
                       " NULL FROM main.results WHERE seq = ?1"
                       " ON CONFLICT(seq) DO UPDATE SET"
                       " was_outcome = excluded.was_outcome,"
                       " was_paid = excluded.was_paid,"
                       " found_at = excluded.found_at, redone_at = NULL"
                       " WHERE redone_at IS NOT NULL",
                       seqs, n, now)) == OFFPAY_OK &&
        (rc = exec(t->db, "COMMIT")) == OFFPAY_OK) {
        t->has_lost = 1;
        return OFFPAY_OK;
    }
    exec(t->db, "ROLLBACK");
    return rc;
}

offpay_err offpay__terminal_lost_decided(offpay_terminal             *t,
                                         const offpay__upload_result *res,
                                         size_t n, uint32_t now)
{
    return keep_tx(t, res, n, now, 1);
}

offpay_err offpay_terminal_journal_find(offpay_terminal *t, uint64_t serial,
                                        uint32_t              counter,
                                        offpay_journal_entry *out)
{
    sqlite3_stmt *st = NULL;
    char          sql[1024];
    offpay_err    rc = OFFPAY_EJOURNAL;
    int           step;

    if (t == NULL || out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    journal_select(t, 1, "WHERE serial = ?1 AND counter = ?2", sql,
                   sizeof sql);
    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, (sqlite3_int64)serial) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)counter) != SQLITE_OK)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        entry_of(st, out);
        out->code = NULL; /* the statement's: gone with it */
        rc = OFFPAY_OK;
    } else if (step == SQLITE_DONE) {
        rc = OFFPAY_ENOTFOUND;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

offpay_err offpay_terminal_journal(offpay_terminal *t,
                                   int (*fn)(const offpay_journal_entry *e,
                                             void                       *ctx),
                                   void *ctx)
{
    char sql[1024];

    if (t == NULL || fn == NULL)
        return OFFPAY_EINVAL;
    journal_select(t, 1, "ORDER BY seq", sql, sizeof sql);
    /* stopped by the caller: a complete walk; ended on an error: not */
    return walk(t, sql, 0, 0, fn, ctx);
}
