/*
 * serve.c — what offpayd hands out from the ledger: the signature of its
 * answers to signed requests, the signed revocation
 * list (full or delta), terminal look-ups for authenticating uploads, the
 * request nonces that stop replayed requests, the merchants and their
 * statements, an account's transfers, and which of a terminal's payments
 * the ledger holds (its check for a ledger taken back to an older copy).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/verify_int.h"
#include "offpay/issuer.h"
#include "offpay/verify.h"
#include "settle/settle_int.h"

struct revlist_ctx {
    uint64_t  from_seq;
    uint32_t  live_since;
    uint64_t *serials;
    size_t    n;
    uint64_t  max_seq;
    uint32_t  nonces_mark; /* OFFPAY__MARK_NONCES, 0: none */
};

static offpay_err revlist_tx(offpay_ledger *l, void *p)
{
    struct revlist_ctx *c = p;
    offpay_err          rc;

    free(c->serials);
    c->serials = NULL;
    rc = l->ops->mark_get(l->store, OFFPAY__MARK_NONCES, &c->nonces_mark);
    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_OK;
    if (rc != OFFPAY_OK)
        return rc;
    return l->ops->revocations(l->store, c->from_seq, c->live_since,
                               &c->serials, &c->n, &c->max_seq);
}

offpay_err offpay_ledger_sign_answer(offpay_ledger *l, uint32_t now,
                                     const uint8_t *text, size_t n,
                                     uint16_t *kid,
                                     uint8_t   sig[OFFPAY_SIG_BYTES])
{
    offpay_signer sg;
    uint32_t      until = UINT32_MAX;
    offpay_err    rc;

    if (l == NULL || text == NULL || kid == NULL || sig == NULL)
        return OFFPAY_EINVAL;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    if ((rc = offpay__ledger_within_key(l, now, &until)) != OFFPAY_OK)
        return rc;
    *kid = l->kid;
    sg = offpay__ledger_signer(l);
    return offpay_signer_sign(&sg, OFFPAY_DS_HTTP_ANSWER, text, n, sig);
}

/*
 * List seq = 1 + the highest revocation seq (1 while nothing is revoked).
 * A delta since list S carries the revocations numbered S and above, which
 * are exactly those list S did not hold.
 *
 * Either names only the credentials a terminal could still accept: a
 * revocation leaves the lists once its credential's signed expiry is more
 * than OFFPAY_REVLIST_LIVE_AFTER (a day) before now, the list's issued_at
 * (docs/protocol.md §2.8). A terminal that holds the list has a high-water
 * time of at least issued_at, refuses while its clock is more than its
 * skew behind that, and refuses a credential more than its skew past its
 * expiry: the credential's codes are refused there unless the skew
 * exceeded half a day (a terminal's is 120 s by default and at most 12
 * hours, OFFPAY_RISK_SKEW_MAX). Before 0.22.0 the window was the upload
 * grace (14 days), which settlement still needs for late uploads but a
 * list does not: it kept a lost wallet's credentials, renewed 4 times a
 * day, listed for two weeks. A list holds at most OFFPAY_REVLIST_MAX
 * serials, and every revocation ever made would have passed that within
 * months for a transit operator.
 */
offpay_err offpay_ledger_revlist(offpay_ledger *l, uint32_t since_seq,
                                 uint32_t now, uint8_t **bytes, size_t *len)
{
    offpay_signer      sg;
    struct revlist_ctx c;
    offpay_revlist     rl;
    offpay_err         rc;
    uint64_t           current;
    size_t             cap;

    if (l == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    *bytes = NULL;
    *len = 0;
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    memset(&c, 0, sizeof c);
    c.from_seq = since_seq;
    c.live_since =
        now > OFFPAY_REVLIST_LIVE_AFTER ? now - OFFPAY_REVLIST_LIVE_AFTER : 0;
    rc = offpay__ledger_read(l, revlist_tx, &c);
    if (rc != OFFPAY_OK)
        goto out;
    current = c.max_seq + 1;
    if (current > UINT32_MAX) {
        rc = OFFPAY_ERANGE;
        goto out;
    }
    if (since_seq > current) {
        rc = OFFPAY_EREVLIST_SEQ;
        goto out;
    }
    /* the full list: every revocation still live (read above when asked
     * with 0; a delta would have nothing to add to list current). Also
     * when the clock is behind a time it read before (the nonces' mark,
     * twice the request window behind the newest clock read that moved
     * it: the clock went back by more than about ten minutes): a list
     * the asking terminal holds may have been signed ahead, and left out
     * credentials by that time, which a delta signed now would not make
     * up for at a terminal before 0.22.0 (docs/protocol.md §5.7) */
    if (since_seq != 0 && (since_seq == current || now < c.nonces_mark)) {
        c.from_seq = 0;
        rc = offpay__ledger_read(l, revlist_tx, &c);
        if (rc != OFFPAY_OK)
            goto out;
        since_seq = 0;
    }
    if (c.n > OFFPAY_REVLIST_MAX) {
        rc = OFFPAY_ETOOBIG;
        goto out;
    }
    {
        uint32_t until = UINT32_MAX; /* a list has no end: the key's now */

        rc = offpay__ledger_within_key(l, now, &until);
        if (rc != OFFPAY_OK)
            goto out;
    }
    memset(&rl, 0, sizeof rl);
    rl.kid = l->kid;
    rl.seq = (uint32_t)current;
    rl.base_seq = since_seq;
    rl.issued_at = now;
    rl.n_serials = (uint32_t)c.n;
    rl.serials = c.serials;
    sg = offpay__ledger_signer(l);
    rc = offpay_issuer_sign_revlist_by(&sg, &rl);
    if (rc != OFFPAY_OK)
        goto out;
    cap = OFFPAY_REVLIST_HEADER_BYTES + c.n * 8 + OFFPAY_SIG_BYTES;
    *bytes = malloc(cap);
    if (*bytes == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    rc = offpay_revlist_encode(&rl, *bytes, cap, len);
    if (rc != OFFPAY_OK) {
        free(*bytes);
        *bytes = NULL;
        *len = 0;
    }
out:
    free(c.serials);
    return rc;
}

struct terminal_ctx {
    uint32_t                     id;
    const uint8_t               *pk;
    offpay_ledger_terminal_info *out;
};

static offpay_err terminal_tx(offpay_ledger *l, void *p)
{
    struct terminal_ctx *c = p;
    offpay__terminal_row t;
    offpay_err           rc = OFFPAY_OK;

    if (c->id == 0)
        rc = l->ops->terminal_by_pk(l->store, c->pk, &c->id);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_get(l->store, c->id, &t);
    if (rc != OFFPAY_OK)
        return rc;
    memset(c->out, 0, sizeof *c->out);
    c->out->terminal_id = t.id;
    c->out->merchant_id = t.merchant;
    c->out->merchant_account = t.merchant_account;
    c->out->currency = t.currency;
    memcpy(c->out->pk, t.pk, OFFPAY_PK_BYTES);
    c->out->revoked = t.revoked;
    c->out->revoked_at = t.revoked_at;
    return OFFPAY_OK;
}

offpay_err offpay_ledger_terminal(offpay_ledger *l, uint32_t terminal_id,
                                  const uint8_t               *pk,
                                  offpay_ledger_terminal_info *out)
{
    struct terminal_ctx c = {terminal_id, pk, out};

    if (l == NULL || out == NULL || (terminal_id == 0 && pk == NULL))
        return OFFPAY_EINVAL;
    return offpay__ledger_read(l, terminal_tx, &c);
}

/* The nonces' prune runs once the cut-off has passed the mark by this
 * much, not at every request: the mark moves with each prune, so the
 * common request reads it and writes only its nonce (nonces are kept for
 * twice the window and at most this much more). */
#define NONCE_PRUNE_STEP 60u

struct nonce_ctx {
    const uint8_t *pk, *nonce;
    uint32_t       at, cutoff;
};

static offpay_err nonce_tx(offpay_ledger *l, void *p)
{
    struct nonce_ctx *c = p;
    uint32_t          mark = 0;
    offpay_err        rc;

    /* the nonce first, then the mark: on PostgreSQL a prune committing
     * meanwhile either still holds the nonce (EEXISTS) or has committed
     * its mark with the delete, which the read after sees */
    rc = l->ops->nonce_take(l->store, c->pk, c->nonce, c->at);
    if (rc == OFFPAY_EEXISTS)
        return OFFPAY_EREPLAY;
    if (rc == OFFPAY_OK)
        rc = l->ops->mark_get(l->store, OFFPAY__MARK_NONCES, &mark);
    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_OK; /* no nonce forgotten yet */
    if (rc != OFFPAY_OK)
        return rc;
    /* a nonce made before the mark may have been forgotten by a prune on
     * a clock that ran ahead: taking it proves nothing */
    if (c->at < mark)
        return OFFPAY_ECLOCK_BEHIND;
    if (c->cutoff < mark + (uint64_t)NONCE_PRUNE_STEP)
        return OFFPAY_OK;
    rc = l->ops->nonce_prune(l->store, c->cutoff);
    if (rc == OFFPAY_OK)
        rc = l->ops->mark_put(l->store, OFFPAY__MARK_NONCES, c->cutoff, 1);
    return rc;
}

offpay_err offpay_ledger_nonce(offpay_ledger *l,
                               const uint8_t  pk[OFFPAY_PK_BYTES],
                               const uint8_t nonce[16], uint32_t at,
                               uint32_t now, uint32_t window)
{
    /* kept for twice the window: a request is judged on a clock read
     * before it waited for its ledger connection, and other offpayd
     * processes on the same ledger prune by their own clocks, so a nonce
     * pruned at now - window could still be replayed to a process whose
     * clock read lags (docs/api.md, "Signed requests") */
    uint64_t         keep = 2 * (uint64_t)window;
    struct nonce_ctx c = {pk, nonce, at, now > keep ? now - (uint32_t)keep : 0};

    if (l == NULL || pk == NULL || nonce == NULL)
        return OFFPAY_EINVAL;
    return offpay__ledger_tx(l, nonce_tx, &c);
}

static offpay_err nonce_mark_tx(offpay_ledger *l, void *p)
{
    offpay_err rc = l->ops->mark_get(l->store, OFFPAY__MARK_NONCES, p);

    return rc == OFFPAY_ENOTFOUND ? OFFPAY_OK : rc;
}

offpay_err offpay_ledger_nonce_mark(offpay_ledger *l, uint32_t *before)
{
    if (l == NULL || before == NULL)
        return OFFPAY_EINVAL;
    *before = 0;
    return offpay__ledger_read(l, nonce_mark_tx, before);
}

struct merchant_ctx {
    uint64_t id, account;
    uint16_t currency;
};

static offpay_err merchant_tx(offpay_ledger *l, void *p)
{
    struct merchant_ctx *c = p;
    char                 name[OFFPAY_NAME_MAX + 1];

    return l->ops->merchant_get(l->store, c->id, &c->account, &c->currency,
                                name, NULL);
}

offpay_err offpay_ledger_merchant(offpay_ledger *l, uint64_t merchant_id,
                                  uint64_t *account, uint16_t *currency)
{
    struct merchant_ctx c = {merchant_id, 0, 0};
    offpay_err          rc;

    if (l == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__ledger_read(l, merchant_tx, &c);
    if (rc == OFFPAY_OK && account != NULL)
        *account = c.account;
    if (rc == OFFPAY_OK && currency != NULL)
        *currency = c.currency;
    return rc;
}

struct statement_ctx {
    uint64_t merchant;
    uint32_t from, to;
    int (*fn)(const offpay_statement_line *line, void *ctx);
    int (*move)(const offpay_account_transfer *t, void *ctx);
    void                     *ctx;
    offpay_statement_account *acct; /* its balance summed over the shards */
    offpay_statement_account  base; /* of the shards read before this one */
    int                       delivered; /* a line of this shard went to fn */
    int                       moves_done; /* move asked to stop */
};

static int deliver_move(const offpay_account_transfer *t, void *p)
{
    struct statement_ctx *c = p;

    c->delivered = 1;
    if (c->move(t, c->ctx) != 0)
        c->moves_done = 1;
    return c->moves_done;
}

static int deliver(const offpay_statement_line *line, void *p)
{
    struct statement_ctx *c = p;

    c->delivered = 1;
    return c->fn(line, c->ctx);
}

/* The merchant's lines on this shard and its account's balance there, in
 * one read: the balance holds what the lines paid. Rerun after a conflict
 * before any line went out, it sets what it set; after, it fails instead
 * (ESTORE): the caller's lines cannot be taken back, and a rerun would
 * give them twice. */
static offpay_err statement_tx(offpay_ledger *l, void *p)
{
    struct statement_ctx *c = p;
    char                  name[OFFPAY_NAME_MAX + 1];
    int64_t               b = 0, sums[OFFPAY__PERIOD_SUMS] = {0};
    offpay_err            rc;

    if (c->delivered)
        return OFFPAY_ESTORE;
    rc = l->ops->merchant_get(l->store, c->merchant, &c->acct->account,
                              &c->acct->currency, name, NULL);
    if (rc == OFFPAY_OK)
        rc = l->ops->statement(l->store, c->merchant, c->from, c->to, deliver,
                               c);
    if (rc == OFFPAY_OK)
        rc = l->ops->balance(l->store, c->acct->account, &b);
    if (rc == OFFPAY_OK)
        rc = l->ops->account_period(
            l->store, c->acct->account, c->from, c->to, sums,
            c->move != NULL && !c->moves_done ? deliver_move : NULL, c);
    /* this shard's part added to the shards' before it */
    if (rc == OFFPAY_OK &&
        (__builtin_add_overflow(c->base.balance, b, &c->acct->balance) ||
         __builtin_add_overflow(c->base.opening_balance, sums[0],
                                &c->acct->opening_balance) ||
         __builtin_add_overflow(c->base.closing_balance, sums[1],
                                &c->acct->closing_balance) ||
         __builtin_add_overflow(c->base.settled, sums[2], &c->acct->settled) ||
         __builtin_add_overflow(c->base.refunds, sums[3], &c->acct->refunds) ||
         __builtin_add_overflow(c->base.deposits, sums[4],
                                &c->acct->deposits) ||
         __builtin_add_overflow(c->base.withdrawals, sums[5],
                                &c->acct->withdrawals) ||
         __builtin_add_overflow(c->base.other, sums[6], &c->acct->other)))
        rc = OFFPAY_EOVERFLOW;
    return rc;
}

offpay_err offpay_ledger_statement_with(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx,
    offpay_statement_account *acct)
{
    return offpay_ledger_statement_period(l, merchant_id, from, to, fn, NULL,
                                          ctx, acct);
}

offpay_err offpay_ledger_statement_period(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx),
    int (*move)(const offpay_account_transfer *t, void *ctx), void *ctx,
    offpay_statement_account *acct)
{
    offpay_statement_account mine;
    struct statement_ctx     c;
    offpay_err               rc = OFFPAY_OK;

    if (l == NULL || fn == NULL || from > to)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.merchant = merchant_id;
    c.from = from;
    c.to = to;
    c.fn = fn;
    c.move = move;
    c.ctx = ctx;
    c.acct = acct != NULL ? acct : &mine;
    memset(c.acct, 0, sizeof *c.acct);
    /* the merchant's rows on every shard, shard by shard */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        c.base = *c.acct;
        c.delivered = 0;
        rc = offpay__ledger_read_on(l, k, statement_tx, &c);
    }
    return rc;
}

offpay_err offpay_ledger_statement(
    offpay_ledger *l, uint64_t merchant_id, uint32_t from, uint32_t to,
    int (*fn)(const offpay_statement_line *line, void *ctx), void *ctx)
{
    return offpay_ledger_statement_with(l, merchant_id, from, to, fn, ctx,
                                        NULL);
}

struct refusals_ctx {
    uint64_t merchant;
    uint32_t from, to;
    int (*fn)(const offpay_refusal *r, void *ctx);
    void *ctx;
    int   delivered; /* a row went out on this shard: no rerun */
};

static int deliver_refusal(const offpay_refusal *r, void *p)
{
    struct refusals_ctx *c = p;

    c->delivered = 1;
    return c->fn(r, c->ctx);
}

/* This shard's; rerun after a conflict only before a row went out. */
static offpay_err refusals_tx(offpay_ledger *l, void *p)
{
    struct refusals_ctx *c = p;

    if (c->delivered)
        return OFFPAY_ESTORE;
    return l->ops->refusals(l->store, c->merchant, c->from, c->to,
                            deliver_refusal, c);
}

offpay_err offpay_ledger_refusals(offpay_ledger *l, uint64_t merchant_id,
                                  uint32_t from, uint32_t to,
                                  int (*fn)(const offpay_refusal *r, void *ctx),
                                  void *ctx)
{
    struct refusals_ctx c = {merchant_id, from, to, fn, ctx, 0};
    offpay_err          rc = OFFPAY_OK;

    if (l == NULL || fn == NULL || merchant_id == 0 || from > to)
        return OFFPAY_EINVAL;
    /* kept on the shard of each refused code's credential */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        c.delivered = 0;
        rc = offpay__ledger_read_on(l, k, refusals_tx, &c);
    }
    return rc;
}

struct transfers_ctx {
    uint64_t                 account; /* its id on the shard read */
    uint32_t                 from, to; /* the transfers' own time */
    uint64_t                 after;
    size_t                   max, n;
    offpay_account_transfer *out;
    offpay_account_kind      kind;
    uint16_t                 currency;
    uint64_t                 serial;  /* an escrow's credential */
    int64_t                  balance; /* summed over the shards read */
    size_t                   base_n;  /* n and balance before this shard */
    int64_t                  base_balance;
};

static offpay_err account_tx(offpay_ledger *l, void *p)
{
    struct transfers_ctx *c = p;
    int64_t               flows[OFFPAY__ESCROW_FLOWS];
    offpay_err            rc;

    rc = l->ops->account_get(l->store, c->account, &c->kind, &c->currency);
    c->serial = 0;
    if (rc == OFFPAY_OK && c->kind == OFFPAY_ACCOUNT_ESCROW &&
        (rc = l->ops->escrow_flows(l->store, c->account, flows)) == OFFPAY_OK)
        c->serial = (uint64_t)flows[6];
    return rc;
}

/* The account's row on this shard: its balance and, while the page has
 * room, its transfers, in one read. */
static offpay_err transfers_tx(offpay_ledger *l, void *p)
{
    struct transfers_ctx *c = p;
    int64_t               b = 0;
    size_t                got = 0;
    offpay_err            rc;

    /* from what the shards before gave: a rerun (a conflict) sets again
     * what its first run set */
    rc = l->ops->balance(l->store, c->account, &b);
    if (rc == OFFPAY_OK &&
        __builtin_add_overflow(c->base_balance, b, &c->balance))
        rc = OFFPAY_EOVERFLOW;
    if (rc == OFFPAY_OK && c->base_n < c->max)
        rc =
            l->ops->transfers_of(l->store, c->account, c->from, c->to, c->after,
                                 c->max - c->base_n, c->out + c->base_n, &got);
    c->n = c->base_n + got;
    return rc;
}

offpay_err offpay_ledger_transfers(offpay_ledger *l, uint64_t account,
                                   uint64_t after, size_t max,
                                   offpay_account_transfer **out, size_t *n,
                                   offpay_account_state *acct)
{
    return offpay_ledger_transfers_period(l, account, 0, UINT32_MAX, after, max,
                                          out, n, acct);
}

/* An account's period on one shard (its id there): the balance and the
 * period's sums in one read, added to what the shards before gave. */
struct period_sums_ctx {
    uint64_t                  account;
    uint32_t                  from, to;
    offpay_statement_account *out, base;
};

static offpay_err period_sums_tx(offpay_ledger *l, void *p)
{
    struct period_sums_ctx   *c = p;
    offpay_statement_account *o = c->out;
    int64_t                   b = 0, sums[OFFPAY__PERIOD_SUMS] = {0};
    offpay_err                rc;

    rc = l->ops->balance(l->store, c->account, &b);
    if (rc == OFFPAY_OK)
        rc = l->ops->account_period(l->store, c->account, c->from, c->to, sums,
                                    NULL, NULL);
    if (rc == OFFPAY_OK &&
        (__builtin_add_overflow(c->base.balance, b, &o->balance) ||
         __builtin_add_overflow(c->base.opening_balance, sums[0],
                                &o->opening_balance) ||
         __builtin_add_overflow(c->base.closing_balance, sums[1],
                                &o->closing_balance) ||
         __builtin_add_overflow(c->base.settled, sums[2], &o->settled) ||
         __builtin_add_overflow(c->base.refunds, sums[3], &o->refunds) ||
         __builtin_add_overflow(c->base.deposits, sums[4], &o->deposits) ||
         __builtin_add_overflow(c->base.withdrawals, sums[5],
                                &o->withdrawals) ||
         __builtin_add_overflow(c->base.other, sums[6], &o->other)))
        rc = OFFPAY_EOVERFLOW;
    return rc;
}

offpay_err offpay_ledger_account_period(offpay_ledger *l, uint64_t account,
                                        uint32_t from, uint32_t to,
                                        offpay_statement_account *out)
{
    struct transfers_ctx   t;
    struct period_sums_ctx c;
    size_t                 home;
    offpay_err             rc;

    if (l == NULL || out == NULL || from > to)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    memset(&t, 0, sizeof t);
    t.account = account;
    home = offpay__ledger_home(l, account);
    rc = offpay__ledger_read_on(l, home, account_tx, &t);
    if (rc != OFFPAY_OK)
        return rc;
    memset(&c, 0, sizeof c);
    c.from = from;
    c.to = to;
    c.out = out;
    /* a merchant's or guarantee's row on every shard, each in turn (a
     * guarantee under each shard's own id; a shard without one has none
     * of its money); any other account on its own shard */
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++) {
        if (k != home && !offpay__ledger_spread(l, t.kind))
            continue;
        c.account = account;
        if (t.kind == OFFPAY_ACCOUNT_GUARANTEE && k != home) {
            rc = offpay__ledger_guarantee_find_on(l, k, t.currency, &c.account);
            if (rc == OFFPAY_ENOTFOUND) {
                rc = OFFPAY_OK;
                continue;
            }
        }
        c.base = *out;
        if (rc == OFFPAY_OK)
            rc = offpay__ledger_read_on(l, k, period_sums_tx, &c);
    }
    out->account = account;
    out->currency = t.currency;
    if (rc != OFFPAY_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

offpay_err offpay_ledger_transfers_period(offpay_ledger *l, uint64_t account,
                                          uint32_t from, uint32_t to,
                                          uint64_t after, size_t max,
                                          offpay_account_transfer **out,
                                          size_t *n, offpay_account_state *acct)
{
    struct transfers_ctx c;
    size_t               home = 0;
    offpay_err           rc;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max == 0 ||
        max > OFFPAY_LEDGER_TRANSFERS_MAX || from > to)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.account = account;
    c.from = from;
    c.to = to;
    c.after = after;
    c.max = max;
    home = offpay__ledger_home(l, account);
    rc = offpay__ledger_read_on(l, home, account_tx, &c);
    if (rc != OFFPAY_OK)
        return rc;
    c.out = calloc(max, sizeof *c.out);
    if (c.out == NULL)
        return OFFPAY_ENOMEM;
    if (!offpay__ledger_spread(l, c.kind)) {
        c.base_n = 0;
        c.base_balance = 0;
        rc = offpay__ledger_read_on(l, home, transfers_tx, &c);
    }
    /* A row on every shard (settlement.md §11): each shard's in turn,
     * whose ids ascend with the shards; a merchant account has the same id
     * on each, a guarantee each shard's own (a shard without one yet has
     * nothing to list, and this read makes none). */
    for (size_t k = 0; offpay__ledger_spread(l, c.kind) && rc == OFFPAY_OK &&
                       k < l->n_shards;
         k++) {
        c.account = account;
        if (c.kind == OFFPAY_ACCOUNT_GUARANTEE && k != home) {
            rc = offpay__ledger_guarantee_find_on(l, k, c.currency, &c.account);
            if (rc == OFFPAY_ENOTFOUND) {
                rc = OFFPAY_OK;
                continue;
            }
        }
        c.base_n = c.n;
        c.base_balance = c.balance;
        if (rc == OFFPAY_OK)
            rc = offpay__ledger_read_on(l, k, transfers_tx, &c);
    }
    if (rc == OFFPAY_OK && acct != NULL) {
        acct->kind = c.kind;
        acct->currency = c.currency;
        acct->balance = c.balance;
        acct->serial = c.serial;
    }
    if (rc != OFFPAY_OK || c.n == 0) {
        free(c.out);
        return rc;
    }
    *out = c.out;
    *n = c.n;
    return OFFPAY_OK;
}

struct merchants_ctx {
    uint64_t              after;
    size_t                max, n;
    offpay_merchant_info *out;
};

static offpay_err merchants_tx(offpay_ledger *l, void *p)
{
    struct merchants_ctx *c = p;

    return l->ops->merchants(l->store, c->after, c->max, c->out, &c->n);
}

/* Read on the directory (shard 0 outside a shard's transaction), which
 * holds every merchant and terminal (settlement.md §11); on a sharded
 * ledger each account's rows on the other shards are added to the
 * directory's, as a statement's balance sums them (one read a shard: the
 * sum is of parts read at slightly different times). */
offpay_err offpay_ledger_merchants(offpay_ledger *l, uint64_t after, size_t max,
                                   offpay_merchant_info **out, size_t *n)
{
    struct merchants_ctx      c = {after, max, 0, NULL};
    /* the page's merchants as shard k's copy of the directory holds them
     * (the same ids on every shard), with their accounts' rows there:
     * one read a shard; a rerun sets again what it set */
    struct merchants_ctx      parts = {0, 0, 0, NULL};
    offpay_err                rc;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max == 0 ||
        max > OFFPAY_LEDGER_MERCHANTS_MAX)
        return OFFPAY_EINVAL;
    c.out = calloc(max, sizeof *c.out);
    if (c.out == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__ledger_read(l, merchants_tx, &c);
    if (rc == OFFPAY_OK && c.n > 0 &&
        offpay__ledger_spread(l, OFFPAY_ACCOUNT_MERCHANT)) {
        parts.after = after;
        parts.max = max;
        parts.out = calloc(max, sizeof *parts.out);
        if (parts.out == NULL)
            rc = OFFPAY_ENOMEM;
        for (size_t k = 1; rc == OFFPAY_OK && k < l->n_shards; k++) {
            size_t j = 0;

            rc = offpay__ledger_read_on(l, k, merchants_tx, &parts);
            /* both ascending by id; a merchant a shard's copy lacks yet
             * has nothing there (settlement there needs the copy) */
            for (size_t i = 0; rc == OFFPAY_OK && i < c.n; i++) {
                while (j < parts.n && parts.out[j].id < c.out[i].id)
                    j++;
                if (j < parts.n && parts.out[j].id == c.out[i].id &&
                    __builtin_add_overflow(c.out[i].balance,
                                           parts.out[j].balance,
                                           &c.out[i].balance))
                    rc = OFFPAY_EOVERFLOW;
            }
        }
        free(parts.out);
    }
    if (rc != OFFPAY_OK || c.n == 0) {
        free(c.out);
        return rc;
    }
    *out = c.out;
    *n = c.n;
    return OFFPAY_OK;
}

struct terminals_ctx {
    uint64_t                   merchant;
    uint32_t                   after;
    size_t                     max, n;
    offpay__terminal_list_row *rows;
};

/* The merchant first (ENOTFOUND for none), then its terminals, on the
 * directory; a rerun sets again what it set. */
static offpay_err terminals_tx(offpay_ledger *l, void *p)
{
    struct terminals_ctx *c = p;
    char                  name[OFFPAY_NAME_MAX + 1];
    uint64_t              account;
    uint16_t              currency;
    offpay_err            rc = OFFPAY_OK;

    c->n = 0;
    if (c->merchant != 0)
        rc = l->ops->merchant_get(l->store, c->merchant, &account, &currency,
                                  name, NULL);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminals(l->store, c->merchant, c->after, c->max, c->rows,
                               &c->n);
    return rc;
}

offpay_err offpay_ledger_terminals(offpay_ledger *l, uint64_t merchant_id,
                                   uint32_t after, size_t max,
                                   offpay_ledger_terminal_entry **out,
                                   size_t                        *n)
{
    struct terminals_ctx          c = {merchant_id, after, max, 0, NULL};
    offpay_ledger_terminal_entry *v = NULL;
    offpay_err                    rc;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max == 0 ||
        max > OFFPAY_LEDGER_TERMINALS_MAX)
        return OFFPAY_EINVAL;
    c.rows = calloc(max, sizeof *c.rows);
    if (c.rows == NULL)
        return OFFPAY_ENOMEM;
    /* the directory (shard 0 outside a shard's transaction) holds every
     * terminal, its revocation and its reports (settlement.md §11) */
    rc = offpay__ledger_read(l, terminals_tx, &c);
    if (rc == OFFPAY_OK && c.n > 0) {
        v = calloc(c.n, sizeof *v);
        if (v == NULL)
            rc = OFFPAY_ENOMEM;
    }
    for (size_t i = 0; rc == OFFPAY_OK && i < c.n; i++) {
        offpay_terminal_cred cred;

        v[i] = c.rows[i].e;
        v[i].kid = -1;
        /* its term and key as its credential says (the ledger signed
         * it): a credential that does not decode leaves both 0, kid -1 */
        if (c.rows[i].cred_len > 0 &&
            offpay_terminal_cred_decode(c.rows[i].cred, c.rows[i].cred_len,
                                        &cred) == OFFPAY_OK) {
            v[i].valid_from = cred.valid_from;
            v[i].expires = cred.expires;
            v[i].kid = cred.kid;
        }
    }
    free(c.rows);
    if (rc != OFFPAY_OK || c.n == 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = c.n;
    return OFFPAY_OK;
}

/* ---- what each issuer key signed ------------------------------------ */

/* The keys offpay_ledger_keys gathers, ascending by kid. */
struct key_uses {
    offpay_ledger_key_use *v;
    size_t                 n, cap;
};

/* kid's entry in k, made (zeroed) where it belongs when missing; NULL:
 * no memory. */
static offpay_ledger_key_use *key_use(struct key_uses *k, uint16_t kid)
{
    size_t lo = 0, hi = k->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (k->v[mid].kid == kid)
            return &k->v[mid];
        if (k->v[mid].kid < kid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (k->n == k->cap) {
        size_t                 cap = k->cap != 0 ? 2 * k->cap : 16;
        offpay_ledger_key_use *grown = realloc(k->v, cap * sizeof *grown);

        if (grown == NULL)
            return NULL;
        k->v = grown;
        k->cap = cap;
    }
    memmove(&k->v[lo + 1], &k->v[lo], (k->n - lo) * sizeof *k->v);
    memset(&k->v[lo], 0, sizeof *k->v);
    k->v[lo].kid = kid;
    k->n++;
    return &k->v[lo];
}

/* Terminals read a page at a time for offpay_ledger_keys (each page its
 * own read transaction, so a read never holds the directory long). */
#define KEYS_TERMINALS_PAGE 100u

/* The live terminals of each key into k: every registered terminal read
 * from the directory, a page at a time (terminals_tx), each not revoked
 * whose credential decodes and has not expired at now counted under the
 * credential's kid. */
static offpay_err keys_terminals(offpay_ledger *l, uint32_t now,
                                 struct key_uses *k)
{
    struct terminals_ctx c = {0, 0, KEYS_TERMINALS_PAGE, 0, NULL};
    offpay_err           rc = OFFPAY_OK;

    c.rows = calloc(c.max, sizeof *c.rows);
    if (c.rows == NULL)
        return OFFPAY_ENOMEM;
    do {
        rc = offpay__ledger_read(l, terminals_tx, &c);
        for (size_t i = 0; rc == OFFPAY_OK && i < c.n; i++) {
            const offpay__terminal_list_row *row = &c.rows[i];
            offpay_terminal_cred             cred;
            offpay_ledger_key_use           *u;

            if (row->e.state != OFFPAY_TERMINAL_ACTIVE || row->cred_len == 0 ||
                offpay_terminal_cred_decode(row->cred, row->cred_len, &cred) !=
                    OFFPAY_OK ||
                cred.expires < now)
                continue;
            u = key_use(k, cred.kid);
            if (u == NULL) {
                rc = OFFPAY_ENOMEM;
                break;
            }
            if (u->terminals < OFFPAY_LEDGER_KEY_TERMINALS_SHOWN)
                u->terminal_ids[u->terminals] = row->e.terminal_id;
            u->terminals++;
        }
        if (c.n > 0)
            c.after = c.rows[c.n - 1].e.terminal_id;
    } while (rc == OFFPAY_OK && c.n == c.max);
    free(c.rows);
    return rc;
}

struct cred_kids_ctx {
    uint32_t              now;
    offpay__cred_kid_row *rows;
    size_t                n;
    int                   more;
};

static offpay_err cred_kids_tx(offpay_ledger *l, void *p)
{
    struct cred_kids_ctx *c = p;

    return l->ops->cred_kids(l->store, c->now, c->rows, OFFPAY__CRED_KIDS_MAX,
                             &c->n, &c->more);
}

/* The unreleased credentials of each key into k, each shard's added. */
static offpay_err keys_credentials(offpay_ledger *l, uint32_t now,
                                   struct key_uses *k)
{
    struct cred_kids_ctx c = {now, NULL, 0, 0};
    offpay_err           rc = OFFPAY_OK;

    c.rows = calloc(OFFPAY__CRED_KIDS_MAX, sizeof *c.rows);
    if (c.rows == NULL)
        return OFFPAY_ENOMEM;
    for (size_t s = 0; rc == OFFPAY_OK && s < l->n_shards; s++) {
        rc = offpay__ledger_read_on(l, s, cred_kids_tx, &c);
        if (rc == OFFPAY_OK && c.more)
            rc = OFFPAY_ESTORE; /* more groups than kids and NULL */
        for (size_t i = 0; rc == OFFPAY_OK && i < c.n; i++) {
            const offpay__cred_kid_row *row = &c.rows[i];
            offpay_ledger_key_use      *u;

            if (!row->has_kid) /* a credential without bytes: none is
                                  made, the issue signs in its own
                                  transaction */
                continue;
            u = key_use(k, row->kid);
            if (u == NULL) {
                rc = OFFPAY_ENOMEM;
                break;
            }
            u->credentials += row->n;
            u->credentials_live += row->live;
            if (row->expires > u->credentials_expire)
                u->credentials_expire = row->expires;
        }
    }
    free(c.rows);
    for (size_t i = 0; rc == OFFPAY_OK && i < k->n; i++)
        if (k->v[i].credentials > 0)
            k->v[i].release_due = offpay__time_clamp(
                (uint64_t)k->v[i].credentials_expire + l->cfg.upload_grace);
    return rc;
}

offpay_err offpay_ledger_keys(offpay_ledger *l, uint32_t now, int credentials,
                              offpay_ledger_key_use **out, size_t *n)
{
    struct key_uses k = {NULL, 0, 0};
    offpay_err      rc = OFFPAY_OK;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL)
        return OFFPAY_EINVAL;
    for (size_t i = 0; l->has_trust && i < l->bundle.n_keys; i++) {
        offpay_ledger_key_use *u = key_use(&k, l->bundle.keys[i].kid);

        if (u == NULL) {
            rc = OFFPAY_ENOMEM;
            break;
        }
        u->in_bundle = 1;
        u->signing = l->bundle.keys[i].kid == l->kid;
        u->valid_from = l->bundle.keys[i].valid_from;
        u->valid_until = l->bundle.keys[i].valid_until;
    }
    if (rc == OFFPAY_OK)
        rc = keys_terminals(l, now, &k);
    if (rc == OFFPAY_OK && credentials)
        rc = keys_credentials(l, now, &k);
    if (rc != OFFPAY_OK || k.n == 0) {
        free(k.v);
        return rc;
    }
    *out = k.v;
    *n = k.n;
    return OFFPAY_OK;
}

struct cred_bytes_ctx {
    uint64_t serial;
    uint8_t *bytes;
};

static offpay_err cred_bytes_tx(offpay_ledger *l, void *p)
{
    struct cred_bytes_ctx *c = p;
    offpay_err rc = l->ops->cred_bytes(l->store, c->serial, c->bytes);

    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ENOT_ISSUED : rc;
}

offpay_err
offpay_ledger_credential_bytes(offpay_ledger *l, uint64_t serial,
                               uint8_t bytes[OFFPAY_WALLET_CRED_BYTES])
{
    struct cred_bytes_ctx c = {serial, bytes};
    int                   k;

    if (l == NULL || bytes == NULL)
        return OFFPAY_EINVAL;
    k = offpay__ledger_shard_of(l, serial);
    if (k < 0)
        return OFFPAY_ENOT_ISSUED; /* in no shard's range */
    return offpay__ledger_read_on(l, (size_t)k, cred_bytes_tx, &c);
}

struct expiries_ctx {
    const uint64_t *serials;
    const int      *shard; /* each serial's */
    uint32_t       *expires;
    size_t          n;
    int             k; /* the shard read */
};

/* The signed expiry of credential serial if l holds it revoked, else 0. */
static offpay_err revoked_expiry(offpay_ledger *l, uint64_t serial,
                                 uint32_t *expires)
{
    offpay__cred_row   row;
    uint8_t            bytes[OFFPAY_WALLET_CRED_BYTES];
    offpay_wallet_cred wc;
    offpay_err         rc;

    *expires = 0;
    rc = l->ops->cred_get(l->store, serial, &row);
    if (rc == OFFPAY_OK && !row.revoked)
        return OFFPAY_OK;
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_bytes(l->store, serial, bytes);
    if (rc == OFFPAY_ENOTFOUND)
        return OFFPAY_OK; /* unknown here, or held without its bytes */
    if (rc == OFFPAY_OK &&
        offpay_wallet_cred_decode(bytes, sizeof bytes, &wc) == OFFPAY_OK &&
        wc.serial == serial)
        *expires = wc.expires;
    return rc;
}

static offpay_err expiries_tx(offpay_ledger *l, void *p)
{
    struct expiries_ctx *c = p;
    offpay_err           rc = OFFPAY_OK;

    for (size_t i = 0; rc == OFFPAY_OK && i < c->n; i++)
        if (c->shard[i] == c->k)
            rc = revoked_expiry(l, c->serials[i], &c->expires[i]);
    return rc;
}

offpay_err offpay_ledger_revoked_expiries(offpay_ledger  *l,
                                          const uint64_t *serials, size_t n,
                                          uint32_t *expires)
{
    struct expiries_ctx c = {serials, NULL, expires, n, 0};
    int                *shard;
    int                 top = -1;
    offpay_err          rc = OFFPAY_OK;

    if (l == NULL || (n > 0 && (serials == NULL || expires == NULL)))
        return OFFPAY_EINVAL;
    if (n == 0)
        return OFFPAY_OK;
    if ((shard = malloc(n * sizeof *shard)) == NULL)
        return OFFPAY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        expires[i] = 0;
        shard[i] = offpay__ledger_shard_of(l, serials[i]); /* -1: none */
        if (shard[i] > top)
            top = shard[i];
    }
    c.shard = shard;
    /* one read a shard, of the serials in its range */
    for (c.k = 0; rc == OFFPAY_OK && c.k <= top; c.k++)
        rc = offpay__ledger_read_on(l, (size_t)c.k, expiries_tx, &c);
    free(shard);
    return rc;
}

struct wallet_accounts_ctx {
    const char                 *ref;
    uint64_t                    after;
    size_t                      max, n;
    offpay_wallet_account_info *out;
    offpay__wallet_late        *late; /* out's, one for one */
    uint32_t                    now;  /* 0: no late hold asked */
};

static offpay_err wallet_accounts_tx(offpay_ledger *l, void *p)
{
    struct wallet_accounts_ctx *c = p;
    size_t                      got = 0;
    offpay_err                  rc;

    rc = l->ops->wallet_accounts(l->store, c->ref, c->after, c->max - c->n,
                                 c->out + c->n, c->late + c->n, &got);
    /* what each holds for late presentments, in the same read: its
     * credentials' escrows are on its shard */
    for (size_t i = 0; rc == OFFPAY_OK && c->now != 0 && i < got; i++) {
        offpay_wallet_account_info *a = &c->out[c->n + i];

        rc = offpay__ledger_late_held(l, a->id, c->now, &a->late_held,
                                      &a->late_held_until);
    }
    if (rc == OFFPAY_OK) /* (a read run again starts where it began) */
        c->n += got;
    return rc;
}

/* A wallet account lives on one shard, and a shard's ids lie above the
 * shard's before it: reading the shards in turn until the page is full
 * gives the ids in ascending order. */
offpay_err offpay_ledger_wallet_accounts(offpay_ledger *l, const char *ref,
                                         uint64_t after, size_t max,
                                         offpay_wallet_account_info **out,
                                         size_t                      *n)
{
    return offpay_ledger_wallet_accounts_at(l, ref, after, max, 0, out, n);
}

offpay_err offpay_ledger_wallet_accounts_at(offpay_ledger *l, const char *ref,
                                            uint64_t after, size_t max,
                                            uint32_t                     now,
                                            offpay_wallet_account_info **out,
                                            size_t                      *n)
{
    struct wallet_accounts_ctx c = {ref, after, max, 0, NULL, NULL, now};
    offpay_err                 rc = OFFPAY_OK;

    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (l == NULL || out == NULL || n == NULL || max == 0 ||
        max > OFFPAY_LEDGER_ACCOUNTS_MAX ||
        (ref != NULL && strlen(ref) > OFFPAY_LEDGER_REF_MAX))
        return OFFPAY_EINVAL;
    c.out = calloc(max, sizeof *c.out);
    c.late = calloc(max, sizeof *c.late);
    if (c.out == NULL || c.late == NULL)
        rc = OFFPAY_ENOMEM;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards && c.n < max; k++)
        rc = offpay__ledger_read_on(l, k, wallet_accounts_tx, &c);
    if (rc != OFFPAY_OK || c.n == 0) {
        free(c.out);
        free(c.late);
        return rc;
    }
    /* each credential's dues by the one rule (offpay__ledger_cred_dues):
     * the escrow back once the latest expiry of one not released is
     * upload_grace past; the latest late window's end, a released
     * credential's from its release, another's from its release due */
    for (size_t i = 0; i < c.n; i++) {
        offpay_ledger_cred_info d;
        uint32_t                end = 0;

        if (c.out[i].escrow_back != 0) {
            memset(&d, 0, sizeof d);
            d.expires = c.out[i].escrow_back;
            offpay__ledger_cred_dues(l, &d);
            c.out[i].escrow_back = d.release_due;
        }
        if (c.late[i].released_at != 0) {
            memset(&d, 0, sizeof d);
            d.released = 1;
            d.released_at = c.late[i].released_at;
            offpay__ledger_cred_dues(l, &d);
            end = d.late_until;
        }
        if (c.late[i].expires != 0) {
            memset(&d, 0, sizeof d);
            d.expires = c.late[i].expires;
            offpay__ledger_cred_dues(l, &d);
            end = d.late_until > end ? d.late_until : end;
        }
        c.out[i].late_until = end;
    }
    free(c.late);
    *out = c.out;
    *n = c.n;
    return OFFPAY_OK;
}

struct held_ctx {
    uint32_t                  terminal;
    const offpay_settle_item *items;
    const offpay_payment     *p;  /* decoded */
    const uint8_t            *ok; /* ok[i]: items[i] decoded */
    uint8_t (*hash)[32];
    size_t n;
    int   *held;
};

static offpay_err held_tx(offpay_ledger *l, void *p)
{
    struct held_ctx        *c = p;
    offpay__presentment_row pr;
    offpay_err              rc;

    for (size_t i = 0; i < c->n; i++) {
        if (!c->ok[i] || !offpay__ledger_on_shard(l, c->p[i].cred.serial))
            continue;
        rc = l->ops->presentment_get(l->store, c->p[i].cred.serial,
                                     c->p[i].counter, c->terminal, &pr);
        if (rc == OFFPAY_OK)
            c->held[i] = sodium_memcmp(pr.code_hash, c->hash[i], 32) == 0;
        else if (rc != OFFPAY_ENOTFOUND)
            return rc;
    }
    return OFFPAY_OK;
}

offpay_err offpay_ledger_held(offpay_ledger *l, uint32_t terminal_id,
                              const offpay_settle_item *items, size_t n,
                              int *held)
{
    struct held_ctx c = {terminal_id, items, NULL, NULL, NULL, n, held};
    offpay_payment *p;
    uint8_t        *ok;
    offpay_err      rc = OFFPAY_ENOMEM;

    if (l == NULL || (n > 0 && (items == NULL || held == NULL)))
        return OFFPAY_EINVAL;
    p = calloc(n > 0 ? n : 1, sizeof *p);
    ok = calloc(n > 0 ? n : 1, 1);
    c.hash = calloc(n > 0 ? n : 1, sizeof *c.hash);
    if (p == NULL || ok == NULL || c.hash == NULL)
        goto out;
    c.p = p;
    c.ok = ok;
    for (size_t i = 0; i < n; i++) {
        /* a code that does not decode is held nowhere, and said (-1) */
        ok[i] = offpay_payment_decode(items[i].code, items[i].code_len,
                                      &p[i]) == OFFPAY_OK;
        held[i] = ok[i] ? 0 : -1;
        crypto_generichash(c.hash[i], 32, items[i].code, items[i].code_len,
                           NULL, 0);
    }
    /* each code on the shard its serial belongs to, shard by shard */
    rc = OFFPAY_OK;
    for (size_t k = 0; rc == OFFPAY_OK && k < l->n_shards; k++)
        rc = offpay__ledger_read_on(l, k, held_tx, &c);
    /* A code the ledger holds is held, whatever the bundle says of it now
     * (its key retired since, or the code dated at a key window's edge
     * that settlement judged by the acceptance time). One it does not
     * hold is a loss only if the ledger could have paid it: signed by a
     * wallet under a credential of the issuer's; else -2. */
    for (size_t i = 0; rc == OFFPAY_OK && i < n; i++)
        if (ok[i] && held[i] == 0 &&
            offpay__ledger_code_sigs(l, &p[i], items[i].code,
                                     items[i].accepted_at != 0
                                         ? items[i].accepted_at
                                         : p[i].time) != OFFPAY_OK)
            held[i] = -2;
out:
    free(p);
    free(ok);
    free(c.hash);
    return rc;
}
