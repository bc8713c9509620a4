/*
 * overview.c — what the operator's dashboard shows (docs/dashboard.md),
 * read from the ledger in one read transaction through the store's
 * function table: money by account kind, settlement over time, each
 * terminal's uploads and last report, revoked credentials. And the one
 * write the dashboard needs: a terminal's report of what it has not
 * uploaded yet, made when it syncs.
 */
#include <stdlib.h>
#include <string.h>

#include "settle/settle_int.h"

/* Rows of one overview array: grown by doubling up to a cap. */
typedef struct rows {
    void  *v;
    size_t n, cap, size, max;
    int    full; /* a row arrived beyond max */
} rows;

/* Room for one more row of r, or NULL (r->full set at the cap). */
static void *row_next(rows *r)
{
    if (r->n == r->max) {
        r->full = 1;
        return NULL;
    }
    if (r->n == r->cap) {
        size_t want = r->cap ? r->cap * 2 : 16;
        void  *nv;

        if (want > r->max)
            want = r->max;
        nv = realloc(r->v, want * r->size);
        if (nv == NULL)
            return NULL;
        r->v = nv;
        r->cap = want;
    }
    return (char *)r->v + r->n++ * r->size;
}

typedef struct overview_ctx {
    uint32_t from, to, width;
    rows     kinds, buckets, terminals, revoked;
    int      nomem;
} overview_ctx;

/* One callback per row kind: copy the row, or stop the walk. */
#define ROW_COPY(name, type, field)                                            \
    static int name(const type *row, void *arg)                                \
    {                                                                          \
        overview_ctx *c = arg;                                                 \
        type         *dst = row_next(&c->field);                               \
                                                                               \
        if (dst == NULL) {                                                     \
            c->nomem = !c->field.full;                                         \
            return 1;                                                          \
        }                                                                      \
        *dst = *row;                                                           \
        return 0;                                                              \
    }
ROW_COPY(kind_add, offpay_overview_kind, kinds)
ROW_COPY(bucket_add, offpay_overview_bucket, buckets)
ROW_COPY(terminal_add, offpay_overview_terminal, terminals)
ROW_COPY(revoked_add, offpay_overview_revoked, revoked)
#undef ROW_COPY

static void rows_reset(overview_ctx *c)
{
    rows *all[4] = {&c->kinds, &c->buckets, &c->terminals, &c->revoked};

    for (size_t i = 0; i < 4; i++) {
        all[i]->n = 0;
        all[i]->full = 0;
    }
    c->nomem = 0;
}

static offpay_err overview_tx(offpay_ledger *l, void *arg)
{
    overview_ctx *c = arg;
    offpay_err    rc;

    rows_reset(c); /* a rerun starts over */
    rc = l->ops->kind_totals(l->store, kind_add, c);
    if (rc == OFFPAY_OK && !c->nomem)
        rc = l->ops->settle_buckets(l->store, c->from, c->to, c->width,
                                    bucket_add, c);
    if (rc == OFFPAY_OK && !c->nomem)
        rc = l->ops->terminal_stats(l->store, OFFPAY_OVERVIEW_TERMINALS_MAX,
                                    terminal_add, c);
    if (rc == OFFPAY_OK && !c->nomem)
        rc = l->ops->revoked_list(l->store, OFFPAY_OVERVIEW_REVOKED_MAX,
                                  revoked_add, c);
    if (rc == OFFPAY_OK && c->nomem)
        rc = OFFPAY_ENOMEM;
    return rc;
}

void offpay_overview_free(offpay_overview *o)
{
    if (o == NULL)
        return;
    free(o->kinds);
    free(o->buckets);
    free(o->terminals);
    free(o->revoked);
    free(o);
}

offpay_err offpay_ledger_overview(offpay_ledger *l, uint32_t from,
                                  uint32_t width, uint32_t now,
                                  offpay_overview **out)
{
    overview_ctx     c;
    offpay_overview *o = NULL;
    offpay_err       rc = OFFPAY_EINVAL;

    if (out != NULL)
        *out = NULL;
    if (l == NULL || out == NULL || width == 0)
        return OFFPAY_EINVAL;
    from -= from % width;
    if (from > now || (now - from) / width >= OFFPAY_OVERVIEW_BUCKETS_MAX)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.from = from;
    c.to = now;
    c.width = width;
    c.kinds.size = sizeof(offpay_overview_kind);
    c.kinds.max = 64; /* 5 kinds times a few currencies */
    /* a row per (bucket, currency, outcome): room for 5 outcomes of 4
     * currencies in every bucket */
    c.buckets.size = sizeof(offpay_overview_bucket);
    c.buckets.max = OFFPAY_OVERVIEW_BUCKETS_MAX * 20;
    c.terminals.size = sizeof(offpay_overview_terminal);
    c.terminals.max = OFFPAY_OVERVIEW_TERMINALS_MAX;
    c.revoked.size = sizeof(offpay_overview_revoked);
    c.revoked.max = OFFPAY_OVERVIEW_REVOKED_MAX;
    rc = offpay__ledger_read(l, overview_tx, &c);
    if (rc != OFFPAY_OK)
        goto out;
    o = calloc(1, sizeof *o);
    if (o == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    o->now = now;
    o->from = from;
    o->width = width;
    o->kinds = c.kinds.v;
    o->n_kinds = c.kinds.n;
    o->buckets = c.buckets.v;
    o->n_buckets = c.buckets.n;
    o->terminals = c.terminals.v;
    o->n_terminals = c.terminals.n;
    o->revoked = c.revoked.v;
    o->n_revoked = c.revoked.n;
    memset(&c, 0, sizeof c); /* o owns the arrays now */
    *out = o;
out:
    free(c.kinds.v);
    free(c.buckets.v);
    free(c.terminals.v);
    free(c.revoked.v);
    return rc;
}

typedef struct report_ctx {
    uint32_t terminal_id, synced_at, now;
    uint64_t pending;
} report_ctx;

static offpay_err report_tx(offpay_ledger *l, void *arg)
{
    report_ctx          *c = arg;
    offpay__terminal_row t;
    offpay_err           rc;

    rc = l->ops->terminal_get(l->store, c->terminal_id, &t);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_report(l->store, c->terminal_id, c->pending,
                                     c->synced_at, c->now);
    return rc;
}

offpay_err offpay_ledger_terminal_report(offpay_ledger *l, uint32_t terminal_id,
                                         uint64_t pending, uint32_t synced_at,
                                         uint32_t now)
{
    report_ctx c = {terminal_id, synced_at, now, pending};

    if (l == NULL || terminal_id == 0 || pending > INT64_MAX)
        return OFFPAY_EINVAL;
    return offpay__ledger_tx(l, report_tx, &c);
}
