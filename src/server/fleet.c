/*
 * fleet.c — the terminals as a fleet, for /metrics: how many are live,
 * how many reported at their last sync that they refuse payments, how
 * many never reported, the oldest last report and the oldest lists among
 * them, and what their pending payments hold (docs/operations.md,
 * "Watching the terminals"). Counted from the ledger's terminal list
 * every minute, and by a scrape of /metrics after a terminal reported or
 * was registered or revoked, if a ledger handle is free then (a scrape
 * never waits for one): as fresh as the last report at every scrape,
 * and one count a scrape at most however many terminals report.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

const unsigned srv_fleet_hours[SRV_FLEET_AGES] = {1, 24, 72};

/* Adds 1 to n[i] for each age of srv_fleet_hours that since, a time,
 * is older than at now (0: not known, nothing added). */
static void count_ages(uint64_t n[SRV_FLEET_AGES], uint32_t since, uint32_t now)
{
    for (size_t i = 0; since != 0 && i < SRV_FLEET_AGES; i++)
        if (now > since && now - since > 3600u * srv_fleet_hours[i])
            n[i]++;
}

static uint32_t older(uint32_t a, uint32_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

/* Adds e to f, a live terminal, as of now. */
static void add(srv_fleet *f, const offpay_ledger_terminal_entry *e,
                uint32_t now)
{
    const offpay_terminal_report *r = &e->report;
    uint32_t                      lists;
    size_t                        i;

    f->live++;
    if (!r->reported) {
        f->never_reported++;
        count_ages(f->silent, e->created_at, now);
        return;
    }
    count_ages(f->silent, r->reported_at, now);
    f->oldest_report = older(f->oldest_report, r->reported_at);
    f->pending += r->pending;
    if (r->reported_at > r->synced_at + OFFPAY__CLOCK_OFF_MAX ||
        r->synced_at > r->reported_at + OFFPAY__CLOCK_OFF_MAX)
        f->clock_off++;
    if (!r->state_known)
        return;
    if (strcmp(r->state, "OK") != 0)
        f->refusing++;
    lists = offpay_terminal_report_lists_time(r, e->created_at);
    count_ages(f->old_lists, lists, now);
    f->oldest_lists = older(f->oldest_lists, lists);
    for (i = 0; i < f->n_amounts && f->amount[i].currency != e->currency; i++)
        ;
    if (i == f->n_amounts) {
        if (i == SRV_FLEET_CURRENCIES) { /* said on the log, once */
            f->currencies_left_out = 1;
            return;
        }
        f->amount[i].currency = e->currency;
        f->amount[i].minor = 0;
        f->n_amounts++;
    }
    /* a sum past what a gauge holds exact says so by its cap */
    if (offpay_amount_add(f->amount[i].minor, r->pending_amount,
                          &f->amount[i].minor) != OFFPAY_OK)
        f->amount[i].minor = INT64_MAX;
}

/* The fleet on l as of now, a page of terminals at a time. */
static offpay_err count(offpay_ledger *l, srv_fleet *f, uint32_t now)
{
    uint32_t   after = 0;
    offpay_err rc;

    memset(f, 0, sizeof *f);
    for (;;) {
        offpay_ledger_terminal_entry *page = NULL;
        size_t                        n = 0;

        rc = offpay_ledger_terminals(l, 0, after, OFFPAY_LEDGER_TERMINALS_MAX,
                                     &page, &n);
        if (rc != OFFPAY_OK)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (page[i].state == OFFPAY_TERMINAL_ACTIVE)
                add(f, &page[i], now);
        if (n > 0)
            after = page[n - 1].terminal_id;
        free(page);
        if (n < OFFPAY_LEDGER_TERMINALS_MAX)
            return OFFPAY_OK;
    }
}

static int due = 1; /* a report came since the last count */

void srv_terminals_due(void)
{
    __atomic_store_n(&due, 1, __ATOMIC_SEQ_CST);
}

int srv_terminals_are_due(void)
{
    return __atomic_load_n(&due, __ATOMIC_SEQ_CST);
}

void srv_terminals_count(offpay_ledger *l)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int             failing;
    srv_fleet              f;
    uint32_t               now;
    offpay_err             rc;

    if (pthread_mutex_trylock(&mu) != 0) /* one count at a time */
        return;
    /* cleared before the read: a report after it is counted next time */
    __atomic_store_n(&due, 0, __ATOMIC_SEQ_CST);
    now = srv_now();
    rc = count(l, &f, now);
    if (rc == OFFPAY_OK) {
        static int said;

        f.counted_at = now;
        srv_metrics_fleet(&f);
        if (f.currencies_left_out && !said) {
            said = 1;
            srv_log("the terminals hold payments in more than %d currencies: "
                    "offpayd_terminals_pending_minor gives the first %d it "
                    "met only",
                    SRV_FLEET_CURRENCIES, SRV_FLEET_CURRENCIES);
        }
    } else {
        __atomic_store_n(&due, 1, __ATOMIC_SEQ_CST);
        if (!failing)
            srv_log("counting the terminals: %s (offpayd_terminals_* keep "
                    "the last count; offpayd_terminals_counted_timestamp_"
                    "seconds says when it was)",
                    offpay_strerror(rc));
    }
    failing = rc != OFFPAY_OK;
    pthread_mutex_unlock(&mu);
}
