/*
 * fuzz_terminal_settings.c — libFuzzer target for what a terminal parses
 * from its terminal.db when it opens (src/terminal/terminal.c, load_state):
 * the meta values (root key, trust bundle, currency, risk rules, its own
 * credential, sync state, revocation list header, clock high-water mark)
 * and the rows it mirrors in memory (revoked serials, open requests, the
 * journal's keys and sums).
 *
 * Input: records [tag u8][len u16 big-endian][len bytes], up to the end
 * (a cut record ends the input). Tags 0..11 set a meta value (KEYS below);
 * 0x40 adds a revoked serial (8 bytes, big-endian); 0x41 an open request
 * (nonce = the bytes, amount and time from their length); 0x42 a journal
 * row (serial u64, counter u32, charged u32, accepted_at u32, big-endian:
 * 20 bytes). Unknown tags are skipped. The rows go into an in-memory
 * SQLite database with the terminal's schema, and offpay__terminal_from_db
 * loads it exactly as offpay_terminal_open does.
 *
 * Contract checked on every input:
 *   - loading never crashes and fails only with OFFPAY_ECORRUPT,
 *     OFFPAY_EJOURNAL or OFFPAY_ENOMEM;
 *   - a loaded terminal has a known currency, non-negative risk amounts, a
 *     credential (if any) in its currency, its revoked serials in strictly
 *     ascending order, at most 1024 open requests;
 *   - its risk rules survive a save and a reload unchanged;
 *   - the checks of its own state and offline limits run on any clock
 *     (sanitizers catch an overflow).
 * Any violation abort()s.
 *
 * The seeds in fuzz/corpus/terminal_settings/ are the tables of real
 * terminals made by the CLI (after init; provisioned, synced, with
 * payments and a request) turned into this format, and damaged variants.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"
#include "terminal/terminal_int.h"

static const char *const KEYS[] = {
    "root_pk",
    "bundle",
    "currency",
    "risk",
    "credential",
    "last_sync",
    "payments_since_sync",
    "revlist_seq",
    "revlist_issued_at",
    "high_water",
    "sync_seq",
    "exported_at",
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Runs sql with up to three bound values (a blob, two integers). */
static void put(sqlite3 *db, const char *sql, const char *key,
                const uint8_t *blob, size_t n, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    int           i = 1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        abort();
    if (key != NULL)
        sqlite3_bind_text(st, i++, key, -1, SQLITE_STATIC);
    if (blob != NULL)
        sqlite3_bind_blob(st, i++, n ? blob : (const uint8_t *)"", (int)n,
                          SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= i)
        sqlite3_bind_int64(st, i++, a);
    if (sqlite3_bind_parameter_count(st) >= i)
        sqlite3_bind_int64(st, i, b);
    (void)sqlite3_step(st); /* a repeated key is simply not inserted */
    sqlite3_finalize(st);
}

/* Fills db from the records of data. */
static void fill(sqlite3 *db, const uint8_t *data, size_t size)
{
    size_t at = 0;

    while (size - at >= 3) {
        uint8_t        tag = data[at];
        size_t         n = (size_t)be(data + at + 1, 2);
        const uint8_t *v = data + at + 3;

        if (n > size - at - 3)
            break;
        at += 3 + n;
        if (tag < N_KEYS)
            put(db,
                "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                " ON CONFLICT(key) DO UPDATE SET value = ?2",
                KEYS[tag], v, n, 0, 0);
        else if (tag == 0x40 && n == 8)
            put(db, "INSERT OR IGNORE INTO revoked(serial) VALUES(?1)", NULL,
                NULL, 0, (int64_t)be(v, 8), 0);
        else if (tag == 0x41)
            put(db,
                "INSERT OR IGNORE INTO requests(nonce, amount, created)"
                " VALUES(?1, ?2, ?3)",
                NULL, v, n, (int64_t)n - 8, (int64_t)n * 1000);
        else if (tag == 0x42 && n == 20) {
            sqlite3_stmt *st = NULL;

            if (sqlite3_prepare_v2(db,
                                   "INSERT OR IGNORE INTO journal(serial,"
                                   " counter, charged, authorized, currency,"
                                   " bound, accepted_at, code)"
                                   " VALUES(?1, ?2, ?3, ?3, 978, 0, ?4, x'00')",
                                   -1, &st, NULL) != SQLITE_OK)
                abort();
            sqlite3_bind_int64(st, 1, (int64_t)be(v, 8));
            sqlite3_bind_int64(st, 2, (int64_t)be(v + 8, 4));
            sqlite3_bind_int64(st, 3, (int64_t)be(v + 12, 4));
            sqlite3_bind_int64(st, 4, (int64_t)be(v + 16, 4));
            (void)sqlite3_step(st);
            sqlite3_finalize(st);
        }
    }
}

static int risk_eq(const offpay_risk *a, const offpay_risk *b)
{
    return a->floor_unbound == b->floor_unbound &&
           a->floor_bound == b->floor_bound && a->cumulative == b->cumulative &&
           a->max_offline_payments == b->max_offline_payments &&
           a->max_offline_hours == b->max_offline_hours &&
           a->max_code_age == b->max_code_age && a->skew == b->skew &&
           a->max_revlist_age == b->max_revlist_age &&
           a->request_ttl == b->request_ttl &&
           a->max_code_age_unbound == b->max_code_age_unbound;
}

static void check_loaded(offpay_terminal *t)
{
    offpay_risk           r, again;
    offpay_terminal_cred  c;
    static const uint32_t clocks[] = {0, 1, 1700000000u, UINT32_MAX - 1,
                                      UINT32_MAX};

    if (offpay_currency_exponent(offpay_terminal_currency(t)) < 0)
        abort();
    if (offpay_terminal_get_risk(t, &r) != OFFPAY_OK || r.floor_unbound < 0 ||
        r.floor_bound < 0 || r.cumulative < 0)
        abort();
    if (offpay_terminal_credential(t, &c) == OFFPAY_OK &&
        c.currency != offpay_terminal_currency(t))
        abort();
    for (uint32_t i = 1; i < t->n_revoked; i++)
        if (t->revoked[i - 1] >= t->revoked[i])
            abort();
    if (t->n_requests > 1024)
        abort();
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        (void)offpay__terminal_self_ok(t, clocks[i]);
        (void)offpay__terminal_offline_ok(t, clocks[i]);
    }
    /* An exported copy (or a file that could not be upgraded) changes
     * nothing: saving is refused with the cause. */
    if (t->frozen != OFFPAY_OK) {
        if (offpay_terminal_set_risk(t, &r) != t->frozen)
            abort();
        return;
    }
    /* Saved and read back (by a second load of the same database), the
     * rules are the same. */
    if (offpay_terminal_set_risk(t, &r) != OFFPAY_OK)
        abort();
    if (offpay_terminal_get_risk(t, &again) != OFFPAY_OK ||
        !risk_eq(&r, &again))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sqlite3         *db = NULL, *copy = NULL;
    offpay_terminal *t = NULL, *t2 = NULL;
    offpay_risk      r1, r2;
    offpay_err       rc;

    if (offpay_init() != OFFPAY_OK)
        abort();
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        offpay__terminal_schema(db) != OFFPAY_OK)
        abort();
    fill(db, data, size);
    /* A copy for the reload after the rules are saved. */
    if (sqlite3_open(":memory:", &copy) != SQLITE_OK)
        abort();
    rc = offpay__terminal_from_db(db, &t); /* takes db over */
    if (rc != OFFPAY_OK) {
        if (t != NULL || (rc != OFFPAY_ECORRUPT && rc != OFFPAY_EJOURNAL &&
                          rc != OFFPAY_ENOMEM))
            abort();
        sqlite3_close(copy);
        return 0;
    }
    check_loaded(t);
    {
        sqlite3_backup *bk = sqlite3_backup_init(copy, "main", t->db, "main");

        if (bk == NULL || sqlite3_backup_step(bk, -1) != SQLITE_DONE)
            abort();
        sqlite3_backup_finish(bk);
    }
    if (offpay__terminal_from_db(copy, &t2) != OFFPAY_OK ||
        offpay_terminal_get_risk(t, &r1) != OFFPAY_OK ||
        offpay_terminal_get_risk(t2, &r2) != OFFPAY_OK || !risk_eq(&r1, &r2))
        abort();
    offpay_terminal_close(t2);
    offpay_terminal_close(t);
    return 0;
}
