/*
 * ops.c — what a merchant asks of the terminal besides payments
 * (terminal.h): its status against its limits, and a consistent copy of
 * its journal for the merchant's records.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/dbcopy.h"
#include "offpay/verify.h"
#include "terminal/terminal_int.h"

#define OPS_PATH_MAX 4096
#define PCT_CAP      9999u

/* floor(100 * used / limit), capped; 0 for a limit that is off. */
static uint32_t pct(uint64_t used, uint64_t limit)
{
    uint64_t p;

    if (limit == 0)
        return 0;
    if (used > UINT64_MAX / 100)
        return PCT_CAP;
    p = used * 100 / limit;
    return p > PCT_CAP ? PCT_CAP : (uint32_t)p;
}

/* Bytes of path on disk, 0 if it does not exist. */
static uint64_t file_bytes(const char *dir, const char *name)
{
    char        path[OPS_PATH_MAX];
    struct stat st;
    int         n = snprintf(path, sizeof path, "%s/%s", dir, name);

    if (n <= 0 || n >= (int)sizeof path || stat(path, &st) != 0)
        return 0;
    return (uint64_t)st.st_size;
}

offpay_err offpay_terminal_get_status(const offpay_terminal *t, uint32_t now,
                                      offpay_terminal_status *s)
{
    const offpay_risk *r;
    sqlite3_stmt      *st = NULL;
    offpay_err         rc;

    if (s == NULL)
        return OFFPAY_EINVAL;
    memset(s, 0, sizeof *s);
    if (t == NULL)
        return OFFPAY_EINVAL;
    r = &t->risk;
    s->now = now;
    s->currency = t->currency;
    s->has_cred = t->has_cred;
    if (t->has_cred) {
        uint64_t span = t->cred.expires > t->cred.valid_from
                            ? (uint64_t)t->cred.expires - t->cred.valid_from
                            : 0;

        s->cred = t->cred;
        if (now >= t->cred.expires || span == 0)
            s->credential_pct = 100;
        else if (now > t->cred.valid_from)
            s->credential_pct = pct((uint64_t)now - t->cred.valid_from, span);
    }
    s->last_sync = t->last_sync;
    s->payments_since_sync = t->payments_since_sync;
    s->max_offline_payments = r->max_offline_payments;
    s->payments_pct = pct(t->payments_since_sync, r->max_offline_payments);
    /* never synced has no offline time: the state says a sync is needed */
    s->seconds_since_sync =
        t->last_sync != 0 && now > t->last_sync ? now - t->last_sync : 0;
    s->max_offline_hours = r->max_offline_hours;
    s->hours_pct =
        pct(s->seconds_since_sync, 3600ULL * (uint64_t)r->max_offline_hours);
    s->revlist_seq = t->revlist_seq;
    s->revlist_issued_at = t->revlist_issued_at;
    /* no list yet has no age: the state says a sync is needed */
    s->revlist_age = t->revlist_seq != 0 && now > t->revlist_issued_at
                         ? now - t->revlist_issued_at
                         : 0;
    s->max_revlist_age = r->max_revlist_age;
    s->revlist_pct = pct(s->revlist_age, r->max_revlist_age);
    s->revoked_held = t->n_revoked;
    s->revoked_pct = pct(t->n_revoked, offpay__terminal_revoked_max);
    s->oldest_waiting = t->oldest_waiting;
    s->waiting_age = t->oldest_waiting != 0 && now > t->oldest_waiting
                         ? now - t->oldest_waiting
                         : 0;
    s->max_upload_days = r->max_upload_days;
    s->upload_pct = pct(s->waiting_age, 86400ULL * r->max_upload_days);
    for (size_t i = 0; i < t->n_requests; i++)
        if ((uint64_t)now <= (uint64_t)t->requests[i].created + r->request_ttl)
            s->open_requests++;
    s->high_water = t->high_water;
    s->skew = r->skew;
    s->copied_at = t->copied_at;
    s->clock_seen_at = t->clock_seen_at;
    s->clock_offset = t->clock_offset;

    /* A copy never accepts: its limits warn of nothing. */
    if (t->copied_at != 0)
        goto judged;
    if (s->payments_pct >= OFFPAY_STATUS_WARN_PERCENT)
        s->warnings |= OFFPAY_STATUS_WARN_PAYMENTS;
    if (s->hours_pct >= OFFPAY_STATUS_WARN_PERCENT)
        s->warnings |= OFFPAY_STATUS_WARN_HOURS;
    if (s->revlist_pct >= OFFPAY_STATUS_WARN_PERCENT)
        s->warnings |= OFFPAY_STATUS_WARN_REVLIST;
    if (s->revoked_pct >= OFFPAY_STATUS_WARN_PERCENT)
        s->warnings |= OFFPAY_STATUS_WARN_REVOKED;
    if (s->upload_pct >= OFFPAY_STATUS_WARN_PERCENT)
        s->warnings |= OFFPAY_STATUS_WARN_UPLOAD;
    /* at 80 % of its window, or 14 days before its end whatever the
     * window: a credential issued short (its issuer key's last days) left
     * no time for a renewal by the percentage alone */
    if (t->has_cred && (s->credential_pct >= OFFPAY_STATUS_WARN_PERCENT ||
                        (uint64_t)now + OFFPAY_STATUS_WARN_CRED_DAYS * 86400u >=
                            t->cred.expires))
        s->warnings |= OFFPAY_STATUS_WARN_CREDENTIAL;
    if (t->has_cred) {
        const uint8_t *pk;

        if (offpay_bundle_key_for(&t->bundle, t->cred.kid, now, &pk) ==
            OFFPAY_EUNKNOWN_KID)
            s->warnings |= OFFPAY_STATUS_WARN_CRED_KEY;
    }

judged:
    /* The terminal's own checks, in the order a payment meets them. */
    s->state = offpay__terminal_self_ok(t, now);
    if (s->state == OFFPAY_OK)
        s->state = offpay__terminal_offline_ok(t, now);

    rc = OFFPAY_EJOURNAL;
    if (sqlite3_prepare_v2(t->db, "SELECT count(*), coalesce(sum(uploaded = 0), 0) FROM journal", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    s->journal_entries = (uint64_t)sqlite3_column_int64(st, 0);
    s->not_uploaded = (uint64_t)sqlite3_column_int64(st, 1);
    s->disk_free = UINT64_MAX;
    if (t->dir != NULL && t->dir[0] != '\0') {
        struct statvfs fs;

        s->journal_bytes = file_bytes(t->dir, "terminal.db") +
                           file_bytes(t->dir, "terminal.db-wal");
        if (statvfs(t->dir, &fs) == 0)
            s->disk_free = (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize;
        if (t->copied_at == 0 && s->disk_free < OFFPAY_STATUS_DISK_LOW)
            s->warnings |= OFFPAY_STATUS_WARN_DISK;
    }
    rc = OFFPAY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Marks the copy as an export: every handle on it is then read-only
 * (load_state). */
static offpay_err mark_export(sqlite3 *dst, void *ctx)
{
    sqlite3_stmt *st = NULL;
    char          when[16];
    int           n = snprintf(when, sizeof when, "%u", *(uint32_t *)ctx);
    offpay_err    rc = OFFPAY_OK;

    if (sqlite3_prepare_v2(dst,
                           "INSERT INTO meta(key, value) VALUES('exported_at',"
                           " ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_blob(st, 1, when, n, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = offpay__db_error(dst, OFFPAY_EJOURNAL);
    sqlite3_finalize(st);
    return rc;
}

offpay_err offpay_terminal_export(offpay_terminal *t, const char *path,
                                  uint32_t now)
{
    if (t == NULL || path == NULL || path[0] == '\0')
        return OFFPAY_EINVAL;
    return offpay__db_copy(t->db, path, mark_export, &now, OFFPAY_EJOURNAL);
}
