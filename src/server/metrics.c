/*
 * metrics.c — GET /metrics: Prometheus text exposition of offpayd's
 * counters (requests by route and status, request latency, payments by
 * outcome, cases opened, batch sizes, terminals' payments the ledger no
 * longer holds, refunds, the daily key's end, the escrow release job,
 * the ledger's storage failures, the waits for a lock another process
 * holds on it), and the functions that count them.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/pkcs11.h"
#include "server/server.h"
#include "server/slow.h"
#include "store/lockwait.h"

#define MAX_ROUTES   32
#define MAX_STATUSES 12

static const double lat_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1,
                                    0.25,  0.5,   1,    2.5,  10};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const double batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 5000};
#define N_BATCH (sizeof batch_bounds / sizeof batch_bounds[0])

/* The ledger's storage failures counted by offpayd_ledger_errors_total,
 * each always rendered (0 until it happens), so a rate can be taken; and
 * ECLOCK_BEHIND, a transfer refused because offpayd's clock is behind the
 * ledger's newest (offpay__ledger_book). */
static const offpay_err ledger_errs[] = {
    OFFPAY_ESTORE,       OFFPAY_ERETRY,        OFFPAY_EBUSY,
    OFFPAY_ENOSPC,       OFFPAY_EROFS,         OFFPAY_EACCES,
    OFFPAY_EIO,          OFFPAY_ELEDGER_MOVED, OFFPAY_ELEDGER_SEALED,
    OFFPAY_ECLOCK_BEHIND};
#define N_LEDGER_ERRS (sizeof ledger_errs / sizeof ledger_errs[0])

typedef struct counter {
    const char *route; /* a routing table pattern: static */
    unsigned    status;
    uint64_t    n;
} counter;

static struct {
    pthread_mutex_t mu;
    counter         req[MAX_ROUTES * MAX_STATUSES];
    size_t          n_req;
    uint64_t        lat[N_LAT + 1];
    double          lat_sum;
    uint64_t        lat_count;
    uint64_t        outcome[6], replays;
    uint64_t        cases;
    /* the open cases as last counted (srv_cases_count): how many, the
     * earliest opened, when counted (0: never) */
    uint64_t        cases_open;
    uint32_t        cases_oldest, cases_counted_at;
    uint64_t        claims; /* results unpaid EFUNDS: claims on the guarantee */
    uint64_t        checked, missing, invalid, revoked;
    uint64_t        refunds, refund_replays;
    uint64_t        batch[N_BATCH + 1];
    double          batch_sum;
    uint64_t        batch_count;
    uint16_t        key_kid; /* 0: not set yet */
    uint32_t        key_until;
    uint32_t        release_ok_at; /* 0: no run succeeded yet */
    uint64_t        release_failures;
    uint64_t        release_held[2]; /* clock ahead, clock behind */
    /* --operators-file: the operators in use; reloads refused (SIGHUP) */
    uint32_t        operators;
    uint64_t        operators_refused;
    uint32_t        revlist_serials; /* in the last full list signed */
    uint32_t        marks_ok_at;     /* 0: no marking run succeeded yet */
    uint64_t        marks_failures, marked;
    uint64_t        refused_conn[2]; /* the 256 in all, one address's */
    uint64_t        pool_gave_up;    /* requests no ledger handle freed for */
    /* codes refused ENOT_ISSUED, EUNKNOWN_KID at settlement */
    uint64_t        rejected_forged[2];
    uint64_t        ledger_errors[N_LEDGER_ERRS];
    offpay_err      last_error; /* the latest of them, OFFPAY_OK: none */
    uint32_t        last_error_at;
    uint64_t        sign_failures;
    offpay_err      sign_last; /* the last signing attempt's result */
    uint32_t        sign_last_at;
    char            sign_detail[160]; /* the token's word on it */
    srv_fleet       fleet; /* the terminals as last counted (fleet.c) */
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

void srv_metrics_request(const char *route, unsigned status, double seconds)
{
    size_t i, b;

    pthread_mutex_lock(&m.mu);
    for (i = 0; i < m.n_req; i++)
        if (m.req[i].route == route && m.req[i].status == status)
            break;
    if (i == m.n_req && m.n_req < MAX_ROUTES * MAX_STATUSES) {
        m.req[i].route = route;
        m.req[i].status = status;
        m.n_req++;
    }
    if (i < m.n_req)
        m.req[i].n++;
    for (b = 0; b < N_LAT && seconds > lat_bounds[b]; b++)
        ;
    m.lat[b]++;
    m.lat_sum += seconds;
    m.lat_count++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_settled(offpay_settle_outcome o, offpay_err reason, int replay)
{
    pthread_mutex_lock(&m.mu);
    if (replay)
        m.replays++;
    else if ((unsigned)o < 6)
        m.outcome[o]++;
    if (!replay && reason == OFFPAY_EFUNDS)
        m.claims++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_case(void)
{
    pthread_mutex_lock(&m.mu);
    m.cases++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_cases_open(uint64_t n, uint32_t oldest, uint32_t now)
{
    pthread_mutex_lock(&m.mu);
    m.cases_open = n;
    m.cases_oldest = oldest;
    m.cases_counted_at = now;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_fleet(const srv_fleet *f)
{
    pthread_mutex_lock(&m.mu);
    m.fleet = *f;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_refund(int replayed)
{
    pthread_mutex_lock(&m.mu);
    if (replayed)
        m.refund_replays++;
    else
        m.refunds++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_check(size_t held, size_t missing, size_t invalid,
                       size_t revoked)
{
    pthread_mutex_lock(&m.mu);
    m.checked += held + missing;
    m.missing += missing;
    m.invalid += invalid;
    m.revoked += revoked;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_batch(size_t n)
{
    size_t b;

    pthread_mutex_lock(&m.mu);
    for (b = 0; b < N_BATCH && (double)n > batch_bounds[b]; b++)
        ;
    m.batch[b]++;
    m.batch_sum += (double)n;
    m.batch_count++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_signing_key(uint16_t kid, uint32_t until)
{
    pthread_mutex_lock(&m.mu);
    m.key_kid = kid;
    m.key_until = until;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_revlist(uint32_t serials)
{
    pthread_mutex_lock(&m.mu);
    m.revlist_serials = serials;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_release(int ok, uint32_t now)
{
    pthread_mutex_lock(&m.mu);
    if (ok)
        m.release_ok_at = now;
    else
        m.release_failures++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_marks(int ok, uint32_t now, uint64_t marked)
{
    pthread_mutex_lock(&m.mu);
    if (ok && now != 0)
        m.marks_ok_at = now;
    else if (!ok)
        m.marks_failures++;
    m.marked += marked;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_release_held(int behind)
{
    pthread_mutex_lock(&m.mu);
    m.release_failures++;
    m.release_held[behind != 0]++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_operators(int taken, size_t n)
{
    pthread_mutex_lock(&m.mu);
    if (taken)
        m.operators = (uint32_t)n;
    else
        m.operators_refused++;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_connection_refused(int per_ip)
{
    pthread_mutex_lock(&m.mu);
    m.refused_conn[per_ip != 0]++;
    pthread_mutex_unlock(&m.mu);
}

unsigned long long srv_metrics_pool_gave_up(void)
{
    unsigned long long n;

    pthread_mutex_lock(&m.mu);
    n = ++m.pool_gave_up;
    pthread_mutex_unlock(&m.mu);
    return n;
}

void srv_metrics_rejected_forged(size_t not_issued, size_t unknown_kid)
{
    pthread_mutex_lock(&m.mu);
    m.rejected_forged[0] += not_issued;
    m.rejected_forged[1] += unknown_kid;
    pthread_mutex_unlock(&m.mu);
}

void srv_metrics_engine_error(offpay_err rc, unsigned status)
{
    if (status < 500)
        return;
    for (size_t i = 0; i < N_LEDGER_ERRS; i++)
        if (ledger_errs[i] == rc) {
            uint32_t now = srv_now();

            pthread_mutex_lock(&m.mu);
            m.ledger_errors[i]++;
            m.last_error = rc;
            m.last_error_at = now;
            pthread_mutex_unlock(&m.mu);
        }
}

void srv_metrics_signature(offpay_err rc)
{
    uint32_t now;

    /* every signed answer says its signature went through: no lock taken
     * for the state it leaves as it was */
    if (rc == OFFPAY_OK &&
        __atomic_load_n(&m.sign_last, __ATOMIC_ACQUIRE) == OFFPAY_OK)
        return;
    now = srv_now();
    pthread_mutex_lock(&m.mu);
    if (rc != OFFPAY_OK) {
        m.sign_failures++;
        snprintf(m.sign_detail, sizeof m.sign_detail, "%s",
                 offpay_pkcs11_detail());
    }
    m.sign_last_at = rc != OFFPAY_OK ? now : 0;
    __atomic_store_n(&m.sign_last, rc, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&m.mu);
}

offpay_err srv_metrics_last_signature(uint32_t *at, char detail[160])
{
    offpay_err rc;

    pthread_mutex_lock(&m.mu);
    rc = m.sign_last;
    *at = m.sign_last_at;
    memcpy(detail, m.sign_detail, sizeof m.sign_detail);
    if (rc == OFFPAY_OK)
        detail[0] = '\0';
    pthread_mutex_unlock(&m.mu);
    return rc;
}

offpay_err srv_metrics_last_ledger_error(uint32_t *at)
{
    offpay_err rc;

    pthread_mutex_lock(&m.mu);
    rc = m.last_error;
    *at = m.last_error_at;
    pthread_mutex_unlock(&m.mu);
    return rc;
}

/* Appends to a growing text buffer; returns -1 when out of memory. */
typedef struct buf {
    char  *p;
    size_t len, cap;
} buf;

static int add(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add(buf *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    for (;;) {
        size_t room = b->cap - b->len;

        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        char *np = realloc(b->p, b->cap * 2 + (size_t)n);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

/* A gauge of the fleet by srv_fleet_hours: name, its help, n[i]. */
static void by_hours(buf *b, const char *name, const char *help,
                     const uint64_t n[SRV_FLEET_AGES])
{
    add(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < SRV_FLEET_AGES; i++)
        add(b, "%s{hours=\"%u\"} %llu\n", name, srv_fleet_hours[i],
            (unsigned long long)n[i]);
}

/* The fleet's lines (m.mu held). */
static void fleet_lines(buf *b)
{
    const srv_fleet *f = &m.fleet;

    add(b,
        "# HELP offpayd_terminals_live Terminals not revoked, as last "
        "counted.\n"
        "# TYPE offpayd_terminals_live gauge\n"
        "offpayd_terminals_live %llu\n"
        "# HELP offpayd_terminals_refusing Live terminals whose last report "
        "said they refuse payments (their clock, their offline limits, or "
        "their lists: GET /v1/admin/terminals says which).\n"
        "# TYPE offpayd_terminals_refusing gauge\n"
        "offpayd_terminals_refusing %llu\n"
        "# HELP offpayd_terminals_never_reported Live terminals that never "
        "reported (none synced online yet).\n"
        "# TYPE offpayd_terminals_never_reported gauge\n"
        "offpayd_terminals_never_reported %llu\n"
        "# HELP offpayd_terminals_oldest_report_timestamp_seconds The "
        "oldest last report among live terminals (Unix time; 0: none "
        "reported): a terminal silent since.\n"
        "# TYPE offpayd_terminals_oldest_report_timestamp_seconds gauge\n"
        "offpayd_terminals_oldest_report_timestamp_seconds %lu\n"
        "# HELP offpayd_terminals_oldest_lists_timestamp_seconds The oldest "
        "trust bundle and revocation list a live terminal held at its last "
        "report, on offpayd's clock (Unix time; its registration for one "
        "that never took them; 0: none known, terminals before 0.27.0 do "
        "not say).\n"
        "# TYPE offpayd_terminals_oldest_lists_timestamp_seconds gauge\n"
        "offpayd_terminals_oldest_lists_timestamp_seconds %lu\n"
        "# HELP offpayd_terminals_pending_payments Payments the live "
        "terminals held not uploaded, as each last reported.\n"
        "# TYPE offpayd_terminals_pending_payments gauge\n"
        "offpayd_terminals_pending_payments %llu\n",
        (unsigned long long)f->live, (unsigned long long)f->refusing,
        (unsigned long long)f->never_reported, (unsigned long)f->oldest_report,
        (unsigned long)f->oldest_lists, (unsigned long long)f->pending);
    by_hours(b, "offpayd_terminals_silent",
             "Live terminals that have not reported (or, never reported, "
             "been registered) for longer than the hours given, as of the "
             "count: alert on the count, which rises again for each "
             "terminal that falls silent.",
             f->silent);
    by_hours(b, "offpayd_terminals_old_lists",
             "Live terminals whose lists, at their last report, are older "
             "than the hours given now (their age as the terminal counts "
             "it; from terminals of 0.27.0 on).",
             f->old_lists);
    add(b,
        "# HELP offpayd_terminals_clock_off Live terminals whose clock, at "
        "their last report, was more than 120 s from offpayd's: behind, "
        "they refuse offpayd's lists; ahead, their payments wait.\n"
        "# TYPE offpayd_terminals_clock_off gauge\n"
        "offpayd_terminals_clock_off %llu\n",
        (unsigned long long)f->clock_off);
    add(b, "# HELP offpayd_terminals_pending_minor The money of those "
           "payments by currency, in minor units (cents), as reported by "
           "terminals of 0.27.0 and later.\n"
           "# TYPE offpayd_terminals_pending_minor gauge\n");
    for (size_t i = 0; i < f->n_amounts; i++) {
        const char *alpha = offpay_currency_alpha(f->amount[i].currency);

        add(b, "offpayd_terminals_pending_minor{currency=\"%s\"} %lld\n",
            alpha != NULL ? alpha : "unknown", (long long)f->amount[i].minor);
    }
    add(b,
        "# HELP offpayd_terminals_counted_timestamp_seconds When the "
        "terminals were last counted (Unix time; 0: not yet): every "
        "minute, and at a scrape after a terminal reported.\n"
        "# TYPE offpayd_terminals_counted_timestamp_seconds gauge\n"
        "offpayd_terminals_counted_timestamp_seconds %lu\n",
        (unsigned long)f->counted_at);
}

static void histogram(buf *b, const char *name, const double *bounds, size_t n,
                      const uint64_t *counts, double sum, uint64_t count)
{
    uint64_t cum = 0;

    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        add(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
            (unsigned long long)cum);
    }
    add(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
        (unsigned long long)count, name, sum, name, (unsigned long long)count);
}

char *srv_metrics_render(size_t pool_waiting)
{
    static const offpay_settle_outcome outs[] = {
        OFFPAY_SETTLE_REJECTED,     OFFPAY_SETTLE_SETTLED,
        OFFPAY_SETTLE_GUARANTEED,   OFFPAY_SETTLE_DUPLICATE,
        OFFPAY_SETTLE_DOUBLE_SPEND, OFFPAY_SETTLE_UNPAID};
    buf                    b = {malloc(4096), 0, 4096};
    uint64_t               unknown[2];
    offpay__lockwait_state ls;

    if (b.p == NULL)
        return NULL;
    offpay__lockwait_state_get(&ls);
    b.p[0] = '\0';
    pthread_mutex_lock(&m.mu);
    add(&b, "# HELP offpayd_requests_total HTTP requests by route and "
            "status.\n# TYPE offpayd_requests_total counter\n");
    for (size_t i = 0; i < m.n_req; i++)
        add(&b, "offpayd_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
            m.req[i].route, m.req[i].status, (unsigned long long)m.req[i].n);
    add(&b, "# HELP offpayd_request_seconds Request latency.\n"
            "# TYPE offpayd_request_seconds histogram\n");
    histogram(&b, "offpayd_request_seconds", lat_bounds, N_LAT, m.lat,
              m.lat_sum, m.lat_count);
    add(&b, "# HELP offpayd_payments_total Uploaded payments by outcome "
            "(first uploads; replays apart).\n"
            "# TYPE offpayd_payments_total counter\n");
    for (size_t i = 0; i < 6; i++)
        add(&b, "offpayd_payments_total{outcome=\"%s\"} %llu\n",
            srv_outcome_name(outs[i]), (unsigned long long)m.outcome[outs[i]]);
    add(&b, "offpayd_payments_total{outcome=\"replay\"} %llu\n",
        (unsigned long long)m.replays);
    add(&b,
        "# HELP offpayd_guarantee_claims_total Settlement results the "
        "guarantee could not cover in full (EFUNDS): each a claim on it, "
        "paid once it is funded; what is still owed: GET /v1/admin/audit "
        "(guarantee_owed).\n"
        "# TYPE offpayd_guarantee_claims_total counter\n"
        "offpayd_guarantee_claims_total %llu\n",
        (unsigned long long)m.claims);
    add(&b,
        "# HELP offpayd_cases_opened_total Settlement results that "
        "opened or joined a case.\n"
        "# TYPE offpayd_cases_opened_total counter\n"
        "offpayd_cases_opened_total %llu\n",
        (unsigned long long)m.cases);
    add(&b,
        "# HELP offpayd_cases_open Cases open in the ledger (never closed, "
        "or reopened), as last counted: at the start, every minute, and "
        "after a case step or an upload that opened a case.\n"
        "# TYPE offpayd_cases_open gauge\n"
        "offpayd_cases_open %llu\n"
        "# HELP offpayd_cases_open_oldest_timestamp_seconds When the "
        "longest-open case was opened (Unix time; 0: none open).\n"
        "# TYPE offpayd_cases_open_oldest_timestamp_seconds gauge\n"
        "offpayd_cases_open_oldest_timestamp_seconds %lu\n"
        "# HELP offpayd_cases_counted_timestamp_seconds When the open "
        "cases were last counted (Unix time; 0: not yet, the ledger did not "
        "answer).\n"
        "# TYPE offpayd_cases_counted_timestamp_seconds gauge\n"
        "offpayd_cases_counted_timestamp_seconds %lu\n",
        (unsigned long long)m.cases_open, (unsigned long)m.cases_oldest,
        (unsigned long)m.cases_counted_at);
    add(&b,
        "# HELP offpayd_terminal_checked_total Payments terminals asked "
        "about (POST /v1/terminal/check), and of those the ledger did not "
        "hold: above 0, the ledger lost payments it had paid (taken back "
        "to an older copy?); apart, codes that do not verify or name "
        "another merchant, and those a revoked terminal asked about that "
        "the ledger did not hold (no sign of a loss).\n"
        "# TYPE offpayd_terminal_checked_total counter\n"
        "offpayd_terminal_checked_total{held=\"yes\"} %llu\n"
        "offpayd_terminal_checked_total{held=\"no\"} %llu\n"
        "offpayd_terminal_checked_total{held=\"invalid\"} %llu\n"
        "offpayd_terminal_checked_total{held=\"revoked\"} %llu\n",
        (unsigned long long)(m.checked - m.missing),
        (unsigned long long)m.missing, (unsigned long long)m.invalid,
        (unsigned long long)m.revoked);
    srv_unknown_terminal_counts(unknown);
    add(&b,
        "# HELP offpayd_unknown_terminal_total Requests refused "
        "UNKNOWN_TERMINAL, their signature verified or unchecked (refused "
        "before the body): above 0, a terminal offpayd does not know "
        "(registered after the backup a restored ledger came from?).\n"
        "# TYPE offpayd_unknown_terminal_total counter\n"
        "offpayd_unknown_terminal_total{signature=\"verified\"} %llu\n"
        "offpayd_unknown_terminal_total{signature=\"unchecked\"} %llu\n",
        (unsigned long long)unknown[1], (unsigned long long)unknown[0]);
    add(&b,
        "# HELP offpayd_refunds_total Refunds booked, and requests that "
        "found theirs booked under the same Idempotency-Key.\n"
        "# TYPE offpayd_refunds_total counter\n"
        "offpayd_refunds_total{replayed=\"false\"} %llu\n"
        "offpayd_refunds_total{replayed=\"true\"} %llu\n",
        (unsigned long long)m.refunds, (unsigned long long)m.refund_replays);
    add(&b,
        "# HELP offpayd_slow_connections_closed_total Connections closed "
        "because their request did not arrive in time (docs/api.md, "
        "Connections).\n"
        "# TYPE offpayd_slow_connections_closed_total counter\n"
        "offpayd_slow_connections_closed_total %llu\n",
        (unsigned long long)srv_slow_closed());
    add(&b, "# HELP offpayd_ledger_errors_total Requests answered 5xx because "
            "the ledger's storage failed, by error.\n"
            "# TYPE offpayd_ledger_errors_total counter\n");
    for (size_t i = 0; i < N_LEDGER_ERRS; i++)
        add(&b, "offpayd_ledger_errors_total{error=\"%s\"} %llu\n",
            offpay_errname(ledger_errs[i]),
            (unsigned long long)m.ledger_errors[i]);
    add(&b,
        "# HELP offpayd_ledger_lock_waits_total Transactions that waited "
        "past 2 s for a lock another process held on the ledger (each "
        "logged), by how the wait ended: the lock had, or given up after "
        "--lock-wait (answered 503 EBUSY, nothing changed).\n"
        "# TYPE offpayd_ledger_lock_waits_total counter\n"
        "offpayd_ledger_lock_waits_total{outcome=\"acquired\"} %llu\n"
        "offpayd_ledger_lock_waits_total{outcome=\"gave_up\"} %llu\n"
        "# HELP offpayd_ledger_lock_waiting Transactions waiting now for a "
        "lock another process holds on the ledger.\n"
        "# TYPE offpayd_ledger_lock_waiting gauge\n"
        "offpayd_ledger_lock_waiting %u\n"
        "# HELP offpayd_ledger_lock_wait_seconds How long the longest of "
        "them has waited so far (0: none waits).\n"
        "# TYPE offpayd_ledger_lock_wait_seconds gauge\n"
        "offpayd_ledger_lock_wait_seconds %.3f\n",
        (unsigned long long)ls.acquired, (unsigned long long)ls.gave_up,
        ls.waiting, (double)ls.longest / 1000.0);
    if (m.key_kid != 0)
        add(&b,
            "# HELP offpayd_signing_key_expiry_timestamp_seconds When the "
            "issuer's daily key offpayd signs with ends (Unix time): past "
            "it offpayd signs nothing.\n"
            "# TYPE offpayd_signing_key_expiry_timestamp_seconds gauge\n"
            "offpayd_signing_key_expiry_timestamp_seconds{kid=\"%u\"} %lu\n",
            (unsigned)m.key_kid, (unsigned long)m.key_until);
    add(&b,
        "# HELP offpayd_sign_failures_total Signatures by the issuer's "
        "daily key that failed (a signed answer, a credential, a list): "
        "its token gone or failing. Each such request was answered 503.\n"
        "# TYPE offpayd_sign_failures_total counter\n"
        "offpayd_sign_failures_total %llu\n",
        (unsigned long long)m.sign_failures);
    add(&b,
        "# HELP offpayd_release_last_success_timestamp_seconds When the "
        "escrow release job last ran through (Unix time; 0: not yet).\n"
        "# TYPE offpayd_release_last_success_timestamp_seconds gauge\n"
        "offpayd_release_last_success_timestamp_seconds %lu\n"
        "# HELP offpayd_release_failures_total Runs of the escrow release "
        "job that failed.\n"
        "# TYPE offpayd_release_failures_total counter\n"
        "offpayd_release_failures_total %llu\n"
        "# HELP offpayd_release_held_total Runs of the escrow release job "
        "that released nothing because offpayd's clock jumped (counted "
        "among the failures too): an operator's release runs it.\n"
        "# TYPE offpayd_release_held_total counter\n"
        "offpayd_release_held_total{reason=\"clock_ahead\"} %llu\n"
        "offpayd_release_held_total{reason=\"clock_behind\"} %llu\n",
        (unsigned long)m.release_ok_at, (unsigned long long)m.release_failures,
        (unsigned long long)m.release_held[0],
        (unsigned long long)m.release_held[1]);
    add(&b,
        "# HELP offpayd_operators Operators by name in use (--operators-file; "
        "docs/operations.md §1).\n"
        "# TYPE offpayd_operators gauge\n"
        "offpayd_operators %lu\n"
        "# HELP offpayd_operators_reload_refused_total Readings of "
        "--operators-file at SIGHUP that were refused (a line not right, "
        "the file unreadable): the operators before stay in use, an "
        "operator taken out of the file too.\n"
        "# TYPE offpayd_operators_reload_refused_total counter\n"
        "offpayd_operators_reload_refused_total %llu\n",
        (unsigned long)m.operators, (unsigned long long)m.operators_refused);
    add(&b,
        "# HELP offpayd_marks_last_success_timestamp_seconds When the "
        "marking job (balances read from marks, docs/settlement.md §10) "
        "last ran through (Unix time; 0: not yet).\n"
        "# TYPE offpayd_marks_last_success_timestamp_seconds gauge\n"
        "offpayd_marks_last_success_timestamp_seconds %lu\n"
        "# HELP offpayd_marks_failures_total Runs of the marking job that "
        "failed.\n"
        "# TYPE offpayd_marks_failures_total counter\n"
        "offpayd_marks_failures_total %llu\n"
        "# HELP offpayd_marks_ids_total Transfer ids this process's "
        "marking job marked (its transfers, and any gaps between their "
        "ids).\n"
        "# TYPE offpayd_marks_ids_total counter\n"
        "offpayd_marks_ids_total %llu\n",
        (unsigned long)m.marks_ok_at, (unsigned long long)m.marks_failures,
        (unsigned long long)m.marked);
    add(&b,
        "# HELP offpayd_rejected_total Uploaded codes refused at settlement "
        "for a credential the ledger did not issue: ENOT_ISSUED (a "
        "credential the ledger never issued under its serial, signed by an "
        "issuer key: one may have leaked), EUNKNOWN_KID (signed by a key "
        "not in the trust bundle: retired, or foreign).\n"
        "# TYPE offpayd_rejected_total counter\n"
        "offpayd_rejected_total{reason=\"ENOT_ISSUED\"} %llu\n"
        "offpayd_rejected_total{reason=\"EUNKNOWN_KID\"} %llu\n",
        (unsigned long long)m.rejected_forged[0],
        (unsigned long long)m.rejected_forged[1]);
    add(&b,
        "# HELP offpayd_connections_refused_total Connections closed "
        "unanswered at their start: all (offpayd held its 256) or per_ip "
        "(one client address held --max-per-ip: behind a proxy or NAT, "
        "run with --max-per-ip 0).\n"
        "# TYPE offpayd_connections_refused_total counter\n"
        "offpayd_connections_refused_total{limit=\"all\"} %llu\n"
        "offpayd_connections_refused_total{limit=\"per_ip\"} %llu\n",
        (unsigned long long)m.refused_conn[0],
        (unsigned long long)m.refused_conn[1]);
    add(&b,
        "# HELP offpayd_ledger_connection_timeouts_total Requests answered "
        "503 EBUSY, nothing done, after every ledger connection stayed busy "
        "for the --lock-wait they may wait for one.\n"
        "# TYPE offpayd_ledger_connection_timeouts_total counter\n"
        "offpayd_ledger_connection_timeouts_total %llu\n"
        "# HELP offpayd_ledger_connection_waiters Requests (and offpayd's "
        "own jobs) waiting now for a free ledger connection, served in the "
        "order they came.\n"
        "# TYPE offpayd_ledger_connection_waiters gauge\n"
        "offpayd_ledger_connection_waiters %zu\n",
        (unsigned long long)m.pool_gave_up, pool_waiting);
    add(&b,
        "# HELP offpayd_revocation_list_serials Serials in the last full "
        "revocation list offpayd signed (0 before the first): a list holds "
        "at most %u, past which GET /v1/revlist is refused ETOOBIG.\n"
        "# TYPE offpayd_revocation_list_serials gauge\n"
        "offpayd_revocation_list_serials %u\n",
        (unsigned)OFFPAY_REVLIST_MAX, (unsigned)m.revlist_serials);
    add(&b, "# HELP offpayd_batch_items Items per terminal upload.\n"
            "# TYPE offpayd_batch_items histogram\n");
    histogram(&b, "offpayd_batch_items", batch_bounds, N_BATCH, m.batch,
              m.batch_sum, m.batch_count);
    fleet_lines(&b);
    pthread_mutex_unlock(&m.mu);
    return b.p;
}

void srv_metrics(srv_req *r, srv_reply *out)
{
    /* a terminal reported since the last count: counted now, if a handle
     * is free (a scrape never waits behind the signed requests) */
    if (srv_terminals_are_due()) {
        offpay_ledger *l = srv_pool_try_get(r->srv->pool);

        if (l != NULL) {
            srv_terminals_count(l);
            srv_pool_put(r->srv->pool, l);
        }
    }
    out->text = srv_metrics_render(srv_pool_waiting(r->srv->pool));
    if (out->text == NULL)
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
    else
        out->status = 200;
}
