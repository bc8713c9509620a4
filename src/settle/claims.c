/*
 * claims.c — what the guarantee owes, paid when it can be (docs/
 * settlement.md §5, 015_guarantee_claims).
 *
 * A presentment a terminal that followed the risk rules made, which the
 * guarantee could not cover in full at settlement (reason EFUNDS), is a
 * claim on the guarantee of charged - paid in its credential's currency.
 * Nothing records it twice: the claim is the presentment, and what was
 * paid of it since are the `claim` transfers (guarantee -> the
 * presentment's merchant) tagged with it. Claims are paid oldest first
 * (by presentment id), each as far as the guarantee holds, by the escrow
 * release's run and right after each deposit into a guarantee.
 *
 * Exactly once: each currency's claims are paid in one transaction that
 * first locks the guarantee account (store.h, row locks; SQLite's writer
 * holds the whole store) and only then reads the open claims and the
 * balance, so two processes (or a run and a settlement, which locks the
 * guarantee too before it reads it) never pay from one reading; what a
 * claim still owes is derived from the transfers in that transaction,
 * and a transaction that does not commit paid nothing. On a sharded
 * ledger each shard's guarantee pays that shard's claims (§11).
 */
#include <stdio.h>
#include <string.h>

#include "core/amount_int.h"
#include "core/log.h"
#include "offpay/core.h"
#include "settle/settle_int.h"

#define OWED_CURRENCIES 64

struct claims_ctx {
    uint16_t currency;
    uint32_t now;
    size_t   paid;    /* claim transfers booked (committed: counted) */
    int64_t  amount;  /* their sum */
    /* the currencies with open claims: room for every one offpay knows
     * (src/core/amount.c's table holds 61), so none waits behind others */
    uint16_t seen[OWED_CURRENCIES];
    size_t   n_seen;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* One currency's claims on this shard, as far as its guarantee holds. */
static offpay_err claims_tx(offpay_ledger *l, void *p)
{
    struct claims_ctx *c = p;
    offpay__owed_row   rows[OFFPAY__OWED_BATCH];
    uint64_t           guarantee, after = 0;
    int64_t            bal = 0;
    size_t             n = 0;
    offpay_err         rc;

    c->paid = 0; /* a transaction run again starts over */
    c->amount = 0;
    rc = l->ops->account_singleton_find(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                        c->currency, &guarantee);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK; /* no guarantee: nothing to pay from */
    /* the lock before the claims and the balance are read */
    if (rc == OFFPAY_OK)
        rc = l->ops->account_lock(l->store, guarantee);
    if (rc == OFFPAY_OK)
        rc = l->ops->balance(l->store, guarantee, &bal);
    while (rc == OFFPAY_OK && bal > 0) {
        rc = l->ops->owed_open(l->store, c->currency, after, rows,
                               OFFPAY__OWED_BATCH, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n && bal > 0; i++) {
            int64_t pay = min64(rows[i].open, bal);

            after = rows[i].presentment;
            if (pay <= 0)
                continue;
            rc = offpay__ledger_move(l, guarantee, rows[i].merchant_account,
                                     pay, "claim", rows[i].presentment,
                                     rows[i].case_id, NULL, c->now);
            if (rc != OFFPAY_OK)
                break;
            bal -= pay;
            c->paid++;
            c->amount += pay;
        }
        if (n < OFFPAY__OWED_BATCH)
            break;
    }
    return rc;
}

/* The currencies with open claims on this shard (each once). */
static offpay_err owed_currencies_tx(offpay_ledger *l, void *p)
{
    struct claims_ctx *c = p;
    offpay__owed_row   rows[OFFPAY__OWED_BATCH];
    uint64_t           after = 0;
    size_t             n = 0;
    offpay_err         rc;

    c->n_seen = 0;
    do {
        rc =
            l->ops->owed_open(l->store, 0, after, rows, OFFPAY__OWED_BATCH, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            size_t k = 0;

            after = rows[i].presentment;
            while (k < c->n_seen && c->seen[k] != rows[i].currency)
                k++;
            if (k == c->n_seen &&
                c->n_seen < sizeof c->seen / sizeof c->seen[0])
                c->seen[c->n_seen++] = rows[i].currency;
        }
    } while (rc == OFFPAY_OK && n == OFFPAY__OWED_BATCH);
    return rc;
}

/* settle_int.h */
offpay_err offpay__ledger_claims_pay(offpay_ledger *l, uint16_t currency,
                                     uint32_t now, size_t *paid)
{
    offpay_err rc = OFFPAY_OK;

    if (paid != NULL)
        *paid = 0;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        struct claims_ctx c;
        uint16_t          cur[OWED_CURRENCIES];
        size_t            n_cur = 0;
        char              where[32] = "", m[OFFPAY__MONEY_TEXT_MAX];

        memset(&c, 0, sizeof c);
        c.now = now;
        if (currency != 0) {
            cur[n_cur++] = currency;
        } else {
            rc = offpay__ledger_read_on(l, k, owed_currencies_tx, &c);
            memcpy(cur, c.seen, c.n_seen * sizeof cur[0]);
            n_cur = c.n_seen;
        }
        for (size_t i = 0; rc == OFFPAY_OK && i < n_cur; i++) {
            c.currency = cur[i];
            rc = offpay__ledger_tx_on(l, k, claims_tx, &c);
            if (rc != OFFPAY_OK || c.paid == 0)
                continue;
            if (paid != NULL)
                *paid += c.paid;
            if (l->n_shards > 1)
                snprintf(where, sizeof where, " on shard %zu", k);
            offpay__log("offpay: the guarantee of %s%s paid %zu claim(s) on "
                        "it, %s, to their merchants (settlement.md §5)",
                        offpay_currency_alpha(c.currency), where, c.paid,
                        offpay__money_text(c.amount, c.currency, m));
        }
    }
    return rc;
}

/* ---- the guarantee over a period ------------------------------------ */

struct period_ctx {
    uint16_t currency;
    uint32_t from, to;
    int (*move)(const offpay_account_transfer *t, void *ctx);
    int (*claim)(const offpay_open_claim *c, void *ctx);
    int (*period_claim)(const offpay_open_claim *c, void *ctx);
    void                    *ctx;
    offpay_guarantee_period *out;
    offpay_guarantee_period  base;      /* of the shards read before this one */
    int                      delivered; /* a row of this shard went out */
    int moves_done, claims_done, period_done; /* asked to stop */
};

static int add_to(int64_t *sum, int64_t v)
{
    return __builtin_add_overflow(*sum, v, sum);
}

/* A transfer of the period: counted by its kind, then to move. */
static int period_move(const offpay_account_transfer *t, void *p)
{
    struct period_ctx       *c = p;
    offpay_guarantee_period *o = c->out;
    int                      bad;

    if (strcmp(t->kind, "cover") == 0) {
        bad = add_to(&o->covered, t->amount);
        o->n_covered++;
    } else if (strcmp(t->kind, "claim") == 0) {
        bad = add_to(&o->claims_paid, t->amount);
        o->n_claims_paid++;
    } else if (strcmp(t->kind, "refund") == 0) {
        bad = add_to(&o->refunds, t->amount);
        o->n_refunds++;
    } else if (strcmp(t->kind, "deposit") == 0) {
        bad = add_to(&o->deposits, t->amount);
    } else if (strcmp(t->kind, "withdraw") == 0) {
        bad = add_to(&o->withdrawals, t->amount);
    } else {
        bad = add_to(&o->other, t->amount);
    }
    if (bad) {
        c->moves_done = -1; /* an overflow: the read fails */
        return 1;
    }
    if (c->move != NULL && !c->moves_done) {
        c->delivered = 1;
        if (c->move(t, c->ctx) != 0)
            c->moves_done = 1;
    }
    return 0;
}

static void claim_of(const offpay__owed_row *r, offpay_open_claim *x)
{
    memset(x, 0, sizeof *x);
    x->presentment = r->presentment;
    x->case_id = r->case_id;
    x->merchant = r->merchant;
    x->merchant_account = r->merchant_account;
    x->serial = r->serial;
    x->currency = r->currency;
    x->uploaded_at = r->uploaded_at;
    x->charged = r->charged;
    x->owed = r->open > 0 ? r->open : 0;
}

/* This shard's guarantee of the currency: its period, and its open claims.
 * Rerun after a conflict before a row went out, it starts over from the
 * shards before it; after, it fails (ESTORE) rather than give rows twice. */
static offpay_err period_tx(offpay_ledger *l, void *p)
{
    struct period_ctx       *c = p;
    offpay_guarantee_period *o = c->out;
    offpay__owed_row         rows[OFFPAY__OWED_BATCH];
    int64_t                  b = 0, sums[OFFPAY__PERIOD_SUMS] = {0};
    uint64_t                 account = 0, after = 0;
    size_t                   n = 0;
    offpay_err               rc;

    if (c->delivered)
        return OFFPAY_ESTORE;
    *o = c->base;
    rc = l->ops->account_singleton_find(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                        c->currency, &account);
    /* no guarantee on this shard: no money of it here, but its claims
     * still wait (an overspend in a currency without a guarantee is owed) */
    if (rc == OFFPAY_ENOTFOUND) {
        rc = OFFPAY_OK;
        account = 0;
    }
    if (rc == OFFPAY_OK && account != 0)
        rc = l->ops->balance(l->store, account, &b);
    if (rc == OFFPAY_OK && account != 0)
        rc = l->ops->account_period(l->store, account, c->from, c->to, sums,
                                    period_move, c);
    if (rc == OFFPAY_OK && c->moves_done < 0)
        rc = OFFPAY_EOVERFLOW;
    if (rc == OFFPAY_OK && o->account == 0)
        o->account = account;
    if (rc == OFFPAY_OK &&
        (add_to(&o->balance, b) || add_to(&o->opening_balance, sums[0]) ||
         add_to(&o->closing_balance, sums[1])))
        rc = OFFPAY_EOVERFLOW;
    /* the claims open now, oldest first */
    while (rc == OFFPAY_OK) {
        rc = l->ops->owed_open(l->store, c->currency, after, rows,
                               OFFPAY__OWED_BATCH, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            offpay_open_claim x;

            after = rows[i].presentment;
            if (add_to(&o->owed, rows[i].open)) {
                rc = OFFPAY_EOVERFLOW;
                break;
            }
            o->n_owed++;
            if (c->claim == NULL || c->claims_done)
                continue;
            claim_of(&rows[i], &x);
            c->delivered = 1;
            if (c->claim(&x, c->ctx) != 0)
                c->claims_done = 1;
        }
        if (n < OFFPAY__OWED_BATCH)
            break;
    }
    /* what was owed at the period's end, and the period's own claims */
    after = 0;
    while (rc == OFFPAY_OK) {
        rc = l->ops->owed_at(l->store, c->currency, c->to, after, rows,
                             OFFPAY__OWED_BATCH, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            offpay_open_claim x;

            after = rows[i].presentment;
            if (rows[i].open > 0) {
                if (add_to(&o->owed_at_close, rows[i].open)) {
                    rc = OFFPAY_EOVERFLOW;
                    break;
                }
                o->n_owed_at_close++;
            }
            if (rows[i].uploaded_at < c->from || c->period_claim == NULL ||
                c->period_done)
                continue;
            claim_of(&rows[i], &x);
            c->delivered = 1;
            if (c->period_claim(&x, c->ctx) != 0)
                c->period_done = 1;
        }
        if (n < OFFPAY__OWED_BATCH)
            break;
    }
    return rc;
}

offpay_err offpay_ledger_guarantee_period(
    offpay_ledger *l, uint16_t currency, uint32_t from, uint32_t to,
    int (*move)(const offpay_account_transfer *t, void *ctx),
    int (*claim)(const offpay_open_claim *c, void *ctx),
    int (*period_claim)(const offpay_open_claim *c, void *ctx), void *ctx,
    offpay_guarantee_period *out)
{
    struct period_ctx c;
    offpay_err        rc = OFFPAY_OK;

    if (l == NULL || out == NULL || from > to ||
        offpay_currency_exponent(currency) < 0)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    c.currency = currency;
    c.from = from;
    c.to = to;
    c.move = move;
    c.claim = claim;
    c.period_claim = period_claim;
    c.ctx = ctx;
    c.out = out;
    c.base.currency = currency;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        c.base = *out;
        c.base.currency = currency;
        c.delivered = 0;
        rc = offpay__ledger_read_on(l, k, period_tx, &c);
    }
    if (rc != OFFPAY_OK)
        memset(out, 0, sizeof *out);
    out->currency = currency;
    return rc;
}
