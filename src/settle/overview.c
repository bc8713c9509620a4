/*
 * overview.c — what the operator's dashboard shows (docs/dashboard.md),
 * read from the ledger in one read transaction (one per shard of a sharded
 * ledger, their rows then summed) through the store's function table: money by
 * account kind, settlement over time, each terminal's uploads and last report,
 * revoked credentials. And the one write the dashboard needs: a terminal's
 * report of what it has not uploaded yet, made when it syncs, and that
 * report read back for one terminal (what revoking it warns of).
 */
#include <stdlib.h>
#include <string.h>

#include "settle/render.h"
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

/* Rows of money by kind: every kind of account in every currency. */
#define KINDS_MAX 4096u

typedef struct overview_ctx {
    uint32_t from, to, width;
    rows     kinds, buckets, terminals, revoked;
    int      nomem;
    size_t   kept[4]; /* rows of the shards read before it */
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

/* Back to the rows of the shards read before this one: a rerun of the
 * current shard's read starts over. */
static void rows_reset(overview_ctx *c)
{
    rows *all[4] = {&c->kinds, &c->buckets, &c->terminals, &c->revoked};

    for (size_t i = 0; i < 4; i++) {
        all[i]->n = c->kept[i];
        all[i]->full = 0;
    }
    c->nomem = 0;
}

static void rows_keep(overview_ctx *c)
{
    c->kept[0] = c->kinds.n;
    c->kept[1] = c->buckets.n;
    c->kept[2] = c->terminals.n;
    c->kept[3] = c->revoked.n;
}

/* ---- a sharded ledger (docs/scaling.md): each shard read in turn, then
 * the rows of one account kind, bucket or terminal summed ------------- */

static int kind_cmp(const void *a, const void *b)
{
    const offpay_overview_kind *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->currency > y->currency) - (x->currency < y->currency);
}

static int bucket_cmp(const void *a, const void *b)
{
    const offpay_overview_bucket *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->currency != y->currency)
        return x->currency < y->currency ? -1 : 1;
    return (x->outcome > y->outcome) - (x->outcome < y->outcome);
}

static int terminal_cmp(const void *a, const void *b)
{
    const offpay_overview_terminal *x = a, *y = b;

    return (x->terminal_id > y->terminal_id) -
           (x->terminal_id < y->terminal_id);
}

/* the order listed: live terminals first (the ones an operator watches),
 * each group by id, as the store's query reads them */
static int terminal_live_cmp(const void *a, const void *b)
{
    const offpay_overview_terminal *x = a, *y = b;

    if (x->revoked != y->revoked)
        return x->revoked ? 1 : -1;
    return terminal_cmp(a, b);
}

/* newest first; the higher serial first at the same second */
static int revoked_cmp(const void *a, const void *b)
{
    const offpay_overview_revoked *x = a, *y = b;

    if (x->revoked_at != y->revoked_at)
        return x->revoked_at > y->revoked_at ? -1 : 1;
    return (x->serial < y->serial) - (x->serial > y->serial);
}

/* Sorts r by cmp and folds each run of equal rows into its first with
 * fold(into, row). */
static void rows_merge(rows *r, int (*cmp)(const void *, const void *),
                       void (*fold)(void *into, const void *row))
{
    size_t out = 0;

    if (r->n == 0)
        return;
    qsort(r->v, r->n, r->size, cmp);
    for (size_t i = 1; i < r->n; i++) {
        char *last = (char *)r->v + out * r->size;
        char *row = (char *)r->v + i * r->size;

        if (cmp(last, row) == 0) {
            fold(last, row);
        } else {
            out++;
            if (out != i)
                memcpy((char *)r->v + out * r->size, row, r->size);
        }
    }
    r->n = out + 1;
}

/* A merchant's account has a row on every shard (one account): it counts
 * once; every other kind's accounts are each shard's own. */
static void kind_fold(void *into, const void *row)
{
    offpay_overview_kind       *a = into;
    const offpay_overview_kind *b = row;

    if (a->kind != OFFPAY_ACCOUNT_MERCHANT)
        a->accounts += b->accounts;
    a->balance += b->balance;
}

static void bucket_fold(void *into, const void *row)
{
    offpay_overview_bucket       *a = into;
    const offpay_overview_bucket *b = row;

    a->count += b->count;
    a->charged += b->charged;
    a->paid += b->paid;
    a->covered += b->covered;
}

/* The directory (shard 0) holds the terminal and its reports; each shard
 * the presentments of its credentials. */
static void terminal_fold(void *into, const void *row)
{
    offpay_overview_terminal       *a = into;
    const offpay_overview_terminal *b = row;

    a->presentments += b->presentments;
    if (b->last_upload > a->last_upload)
        a->last_upload = b->last_upload;
    if (!a->report.reported && b->report.reported)
        a->report = b->report;
    if (a->label[0] == '\0') /* the directory's, held there only */
        memcpy(a->label, b->label, sizeof a->label);
}

static void revoked_fold(void *into, const void *row)
{
    (void)into; /* a credential lives on one shard: never two rows */
    (void)row;
}

static void rows_merge_all(overview_ctx *c)
{
    rows_merge(&c->kinds, kind_cmp, kind_fold);
    rows_merge(&c->buckets, bucket_cmp, bucket_fold);
    rows_merge(&c->terminals, terminal_cmp, terminal_fold);
    rows_merge(&c->revoked, revoked_cmp, revoked_fold);
    if (c->terminals.n > 1)
        qsort(c->terminals.v, c->terminals.n, c->terminals.size,
              terminal_live_cmp);
}

/* Cuts r to its cap, saying whether anything was left out. */
static int rows_cap(rows *r, size_t cap)
{
    if (r->n > cap) {
        r->n = cap;
        r->full = 1;
    }
    return r->full;
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
    /* one row past the cap, to tell that there are more */
    if (rc == OFFPAY_OK && !c->nomem)
        rc = l->ops->terminal_stats(l->store, OFFPAY_OVERVIEW_TERMINALS_MAX + 1,
                                    terminal_add, c);
    if (rc == OFFPAY_OK && !c->nomem)
        rc = l->ops->revoked_list(l->store, OFFPAY_OVERVIEW_REVOKED_MAX + 1,
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
    c.kinds.max = KINDS_MAX;
    /* a row per (bucket, currency, outcome): room for 5 outcomes of 4
     * currencies in every bucket */
    c.buckets.size = sizeof(offpay_overview_bucket);
    c.buckets.max = OFFPAY_OVERVIEW_BUCKETS_MAX * 20;
    c.terminals.size = sizeof(offpay_overview_terminal);
    /* room for the row past the cap (overview_tx), cut after */
    c.terminals.max = OFFPAY_OVERVIEW_TERMINALS_MAX + 1;
    c.revoked.size = sizeof(offpay_overview_revoked);
    c.revoked.max = OFFPAY_OVERVIEW_REVOKED_MAX + 1;
    /* On a sharded ledger each shard is read in its own transaction: the
     * figures of one shard are consistent, those of two are each their
     * shard's at its read. Room for every shard's rows, merged after. */
    if (l->n_shards > 1) {
        c.kinds.max *= l->n_shards;
        c.buckets.max *= l->n_shards;
        c.terminals.max *= l->n_shards;
        c.revoked.max *= l->n_shards;
    }
    for (size_t k = 0; k < l->n_shards; k++) {
        rc = l->n_shards > 1 ? offpay__ledger_read_on(l, k, overview_tx, &c)
                             : offpay__ledger_read(l, overview_tx, &c);
        if (rc != OFFPAY_OK)
            goto out;
        rows_keep(&c);
    }
    if (l->n_shards > 1)
        rows_merge_all(&c);
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
    o->kinds_more = c.kinds.full;
    o->buckets_more = c.buckets.full;
    o->terminals_more = rows_cap(&c.terminals, OFFPAY_OVERVIEW_TERMINALS_MAX);
    o->revoked_more = rows_cap(&c.revoked, OFFPAY_OVERVIEW_REVOKED_MAX);
    o->n_terminals = c.terminals.n;
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
    uint32_t                      terminal_id;
    const offpay_terminal_report *r;
} report_ctx;

static offpay_err report_tx(offpay_ledger *l, void *arg)
{
    report_ctx          *c = arg;
    offpay__terminal_row t;
    offpay_err           rc;

    rc = l->ops->terminal_get(l->store, c->terminal_id, &t);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_report(l->store, c->terminal_id, c->r);
    return rc;
}

int offpay__terminal_state_ok(const char *s)
{
    size_t n = strnlen(s, OFFPAY_TERMINAL_STATE_MAX);

    if (n == 0 || n >= OFFPAY_TERMINAL_STATE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return 0;
    return 1;
}

offpay_err offpay_ledger_terminal_report(offpay_ledger *l, uint32_t terminal_id,
                                         const offpay_terminal_report *r)
{
    report_ctx c = {terminal_id, r};

    if (l == NULL || terminal_id == 0 || r == NULL || r->pending > INT64_MAX ||
        (r->state_known && (r->pending_amount < 0 ||
                            (r->pending == 0 && r->pending_amount != 0) ||
                            !offpay__terminal_state_ok(r->state))))
        return OFFPAY_EINVAL;
    return offpay__ledger_tx(l, report_tx, &c);
}

typedef struct label_ctx {
    uint32_t    terminal_id, now;
    const char *label; /* NULL: cleared */
} label_ctx;

/* The terminal, then its label (on the directory, as its report) */
static offpay_err label_tx(offpay_ledger *l, void *arg)
{
    label_ctx           *c = arg;
    offpay__terminal_row t;
    int                  changed = 0;
    offpay_err           rc;

    rc = l->ops->terminal_get(l->store, c->terminal_id, &t);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_label(l->store, c->terminal_id, c->label, c->now,
                                    &changed);
    /* kept when it changed the label */
    if (rc == OFFPAY_OK && changed)
        rc = offpay__ledger_journal(l, c->now, "label-terminal", c->terminal_id,
                                    c->label);
    return rc;
}

int offpay__terminal_label_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n > 0 && offpay__text_ok(s, OFFPAY_TERMINAL_LABEL_MAX) &&
           s[0] != ' ' && s[n - 1] != ' ' &&
           strstr(s, "\xe2\x80\xa8") == NULL && /* U+2028, U+2029: */
           strstr(s, "\xe2\x80\xa9") == NULL;   /* lines of their own */
}

offpay_err offpay_ledger_terminal_label(offpay_ledger *l, uint32_t terminal_id,
                                        const char *label, uint32_t now)
{
    label_ctx c = {terminal_id, now, label};

    if (label != NULL && label[0] == '\0')
        c.label = NULL;
    if (l == NULL || terminal_id == 0 ||
        (c.label != NULL && !offpay__terminal_label_ok(c.label)))
        return OFFPAY_EINVAL;
    return offpay__ledger_tx(l, label_tx, &c);
}

uint32_t offpay_terminal_report_lists_time(const offpay_terminal_report *r,
                                           uint32_t created_at)
{
    uint32_t then, age;

    if (r == NULL || !r->reported || !r->state_known)
        return 0;
    if (r->lists_at == 0)
        return created_at;
    /* their age at the report: on the terminal's clock, or on offpayd's
     * when the terminal's ran ahead (its sync is then recorded at
     * offpayd's time); the earlier of the two is the clock lists_at is on */
    then = r->synced_at < r->reported_at ? r->synced_at : r->reported_at;
    age = then > r->lists_at ? then - r->lists_at : 0;
    return r->reported_at > age ? r->reported_at - age : 1;
}

typedef struct last_report_ctx {
    uint32_t                terminal_id;
    offpay_terminal_report *out;
} last_report_ctx;

/* The terminal, then its report (on the directory, where reports are
 * kept); a rerun sets again what it set. */
static offpay_err last_report_tx(offpay_ledger *l, void *arg)
{
    last_report_ctx     *c = arg;
    offpay__terminal_row t;
    offpay_err           rc;

    memset(c->out, 0, sizeof *c->out);
    rc = l->ops->terminal_get(l->store, c->terminal_id, &t);
    if (rc != OFFPAY_OK)
        return rc;
    rc = l->ops->terminal_report_get(l->store, c->terminal_id, c->out);
    if (rc == OFFPAY_OK)
        c->out->reported = 1;
    else if (rc == OFFPAY_ENOTFOUND) /* the terminal never reported */
        rc = OFFPAY_OK;
    return rc;
}

offpay_err offpay_ledger_terminal_last_report(offpay_ledger *l,
                                              uint32_t       terminal_id,
                                              offpay_terminal_report *out)
{
    last_report_ctx c = {terminal_id, out};

    if (l == NULL || terminal_id == 0 || out == NULL)
        return OFFPAY_EINVAL;
    return offpay__ledger_read(l, last_report_tx, &c);
}
