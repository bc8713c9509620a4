/*
 * sheet.c — the ledger's balances by account kind at past dates, and how a
 * period moved them (offpay_ledger_balance_sheet; docs/settlement.md §10,
 * "Balances at past dates"): what an auditor asks of a month's end, read
 * from the transfers alone, each by its own time. A sharded ledger's
 * shards are read one after the other, each in one read transaction, and
 * summed: every transfer is on one shard, and its two accounts with it.
 */
#include <stdlib.h>
#include <string.h>

#include "settle/settle_int.h"

struct sheet_ctx {
    offpay_balance_sheet *out;
    offpay_balance_sheet *before; /* the shards' sums before this one */
    int                   overflow;
};

static int add_to(int64_t *sum, int64_t v)
{
    return __builtin_add_overflow(*sum, v, sum);
}

static int sub_from(int64_t *sum, int64_t v)
{
    return __builtin_sub_overflow(*sum, v, sum);
}

/* The currency's row, made in order of its code; NULL when full. */
static offpay_sheet_currency *currency_row(offpay_balance_sheet *o,
                                           uint16_t              currency)
{
    size_t i = 0;

    while (i < o->n_currencies && o->currencies[i].currency < currency)
        i++;
    if (i < o->n_currencies && o->currencies[i].currency == currency)
        return &o->currencies[i];
    if (o->n_currencies == OFFPAY_SHEET_CURRENCIES_MAX)
        return NULL;
    memmove(&o->currencies[i + 1], &o->currencies[i],
            (o->n_currencies - i) * sizeof o->currencies[0]);
    o->n_currencies++;
    memset(&o->currencies[i], 0, sizeof o->currencies[i]);
    o->currencies[i].currency = currency;
    return &o->currencies[i];
}

/* -1, 0, 1 as flow a sorts before, with or after the row's. */
static int flow_cmp(const offpay_sheet_flow *a, const offpay__sheet_row *r)
{
    int k;

    if (a->currency != r->currency)
        return a->currency < r->currency ? -1 : 1;
    k = strcmp(a->kind, r->kind);
    if (k != 0)
        return k < 0 ? -1 : 1;
    if ((int)a->from != r->from_kind)
        return (int)a->from < r->from_kind ? -1 : 1;
    if ((int)a->to != r->to_kind)
        return (int)a->to < r->to_kind ? -1 : 1;
    return 0;
}

/* The movement's row, made in order; NULL when full. */
static offpay_sheet_flow *flow_row(offpay_balance_sheet    *o,
                                   const offpay__sheet_row *r)
{
    size_t i = 0;
    int    c = -1;

    while (i < o->n_flows && (c = flow_cmp(&o->flows[i], r)) < 0)
        i++;
    if (i < o->n_flows && c == 0)
        return &o->flows[i];
    if (o->n_flows == OFFPAY_SHEET_FLOWS_MAX)
        return NULL;
    memmove(&o->flows[i + 1], &o->flows[i],
            (o->n_flows - i) * sizeof o->flows[0]);
    o->n_flows++;
    memset(&o->flows[i], 0, sizeof o->flows[i]);
    o->flows[i].currency = r->currency;
    memcpy(o->flows[i].kind, r->kind, sizeof o->flows[i].kind);
    o->flows[i].from = (offpay_account_kind)r->from_kind;
    o->flows[i].to = (offpay_account_kind)r->to_kind;
    return &o->flows[i];
}

/* A group of transfers: into its currency's balances, and, in the period,
 * into its movement. */
static int sheet_add(const offpay__sheet_row *r, void *p)
{
    struct sheet_ctx      *c = p;
    offpay_sheet_currency *cur;
    offpay_sheet_flow     *f;
    int                    d = r->from_kind - 1, k = r->to_kind - 1;

    if (d < 0 || d > 4 || k < 0 || k > 4 || r->amount < 0) {
        c->overflow = -1; /* no such kind: a ledger offpay did not write */
        return 1;
    }
    cur = currency_row(c->out, r->currency);
    if (cur == NULL) {
        c->out->more = 1;
        return 0;
    }
    if (r->part == 0) {
        if (sub_from(&cur->opening[d], r->amount) ||
            add_to(&cur->opening[k], r->amount))
            c->overflow = 1;
        return c->overflow;
    }
    if (add_to(&cur->out[d], r->amount) || add_to(&cur->in[k], r->amount) ||
        __builtin_add_overflow(cur->transfers, r->count, &cur->transfers))
        c->overflow = 1;
    f = flow_row(c->out, r);
    if (f == NULL)
        c->out->more = 1;
    else if (add_to(&f->amount, r->amount) ||
             __builtin_add_overflow(f->count, r->count, &f->count))
        c->overflow = 1;
    return c->overflow;
}

/* One shard's transfers; a read rerun after a conflict starts the shard
 * over from the sums of the shards before it. */
static offpay_err sheet_tx(offpay_ledger *l, void *p)
{
    struct sheet_ctx *c = p;

    *c->out = *c->before;
    c->overflow = 0;
    return l->ops->sheet(l->store, c->out->from, c->out->to, sheet_add, c);
}

offpay_err offpay_ledger_balance_sheet(offpay_ledger *l, uint32_t from,
                                       uint32_t to, offpay_balance_sheet *out)
{
    struct sheet_ctx c;
    offpay_err       rc = OFFPAY_OK;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (l == NULL || out == NULL || from > to)
        return OFFPAY_EINVAL;
    out->from = from;
    out->to = to;
    c.out = out;
    c.overflow = 0;
    c.before = malloc(sizeof *c.before); /* 35 kB: not on a thread's stack */
    if (c.before == NULL)
        return OFFPAY_ENOMEM;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        *c.before = *out;
        rc = offpay__ledger_read_on(l, k, sheet_tx, &c);
        if (rc == OFFPAY_OK && c.overflow != 0)
            rc = c.overflow < 0 ? OFFPAY_ESTORE : OFFPAY_EOVERFLOW;
    }
    free(c.before);
    for (size_t i = 0; rc == OFFPAY_OK && i < out->n_currencies; i++) {
        offpay_sheet_currency *x = &out->currencies[i];

        for (int k = 0; k < 5; k++) {
            x->closing[k] = x->opening[k];
            if (add_to(&x->closing[k], x->in[k]) ||
                sub_from(&x->closing[k], x->out[k]))
                rc = OFFPAY_EOVERFLOW;
        }
    }
    if (rc != OFFPAY_OK) {
        memset(out, 0, sizeof *out);
        out->from = from;
        out->to = to;
    }
    return rc;
}
