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

static uint32_t older(uint32_t a, uint32_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

/* Adds e to f, a live terminal. */
static void add(srv_fleet *f, const offpay_ledger_terminal_entry *e)
{
    const offpay_terminal_report *r = &e->report;
    size_t                        i;

    f->live++;
    if (!r->reported) {
        f->never_reported++;
        return;
    }
    f->oldest_report = older(f->oldest_report, r->reported_at);
    f->pending += r->pending;
    if (!r->state_known)
        return;
    if (strcmp(r->state, "OK") != 0)
        f->refusing++;
    f->oldest_lists = older(
        f->oldest_lists, offpay_terminal_report_lists_time(r, e->created_at));
    for (i = 0; i < f->n_amounts && f->amount[i].currency != e->currency; i++)
        ;
    if (i == f->n_amounts) {
        if (i == SRV_FLEET_CURRENCIES) { /* never seen: so many currencies */
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

/* The fleet on l, a page of terminals at a time. */
static offpay_err count(offpay_ledger *l, srv_fleet *f)
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
                add(f, &page[i]);
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
    offpay_err             rc;

    if (pthread_mutex_trylock(&mu) != 0) /* one count at a time */
        return;
    /* cleared before the read: a report after it is counted next time */
    __atomic_store_n(&due, 0, __ATOMIC_SEQ_CST);
    rc = count(l, &f);
    if (rc == OFFPAY_OK) {
        f.counted_at = srv_now();
        srv_metrics_fleet(&f);
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
