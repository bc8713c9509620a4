/*
 * refund.c — a merchant's refund of a settled payment (docs/settlement.md
 * §13): money out of the merchant's account, back to where the payment
 * came from. What the guarantee paid or owes for the presentment's
 * credential (cover, claims) and was not given back yet goes back to the
 * guarantee first (the payer never had that money), the rest to the payer's
 * wallet account. A presentment is refunded in parts, in all at most what it
 * was paid; the audit (§10) checks both rules. A merchant whose money was paid
 * out may pay a refund's amount in with it (funded).
 */
#include <string.h>

#include "core/log.h"
#include "offpay/core.h"
#include "settle/settle_int.h"

struct refund_ctx {
    uint64_t      presentment;
    int64_t       amount;
    int           funded; /* the merchant paid the amount in */
    const char   *ref;
    const char   *key; /* as stored (offpay__request_key), or NULL */
    uint32_t      now;
    offpay_refund r;
    int           replayed;
};

/* The part of a refund of amount that goes back to the guarantee, when
 * out of what the guarantee paid or owes for the credential is not back
 * yet (cover and claims paid or not, less refunds into it: §13). */
static int64_t guarantee_part(int64_t amount, int64_t out)
{
    if (out <= 0)
        return 0;
    return out < amount ? out : amount;
}

static int op_of(const struct refund_ctx *c)
{
    return c->funded ? OFFPAY__REQ_REFUND_FUNDED : OFFPAY__REQ_REFUND;
}

/* What the request key booked, as c->r: its first transfer, and the
 * split it booked (that transfer's part into the guarantee, the rest the
 * wallet's). */
static offpay_err replay(offpay_ledger *l, struct refund_ctx *c,
                         const offpay__request *rq)
{
    offpay__refund_base booked;
    offpay_err          rc;

    if (rq->op != op_of(c) || rq->account != c->presentment ||
        rq->amount != c->amount)
        return OFFPAY_EEXISTS;
    rc = l->ops->refund_base(l->store, c->presentment, rq->result, &booked);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    /* its first transfer, into the guarantee or not (the wallet's part
     * follows it) */
    c->r.to_guarantee = booked.first_to_guarantee;
    c->r.to_wallet = c->amount - c->r.to_guarantee;
    c->r.transfer = rq->result;
    c->r.deposited = c->funded ? c->amount : 0;
    c->replayed = 1;
    if (c->r.to_guarantee == 0)
        return OFFPAY_OK;
    /* there since the refund's transfer into it: nothing is created */
    return l->ops->account_singleton(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                     c->r.currency, c->now,
                                     &c->r.guarantee_account);
}

/* The presentment, its merchant and payer, and its refunds so far, as
 * c->r (amount 0). With lock, the credential's row is locked first, as
 * settlement takes it (store.h): two refunds of one presentment queue,
 * and the second reads what the first booked; then its currency's
 * guarantee, as a claim's payment takes it (claims.c): what the guarantee
 * paid for the credential is read whole, never beside a claim being paid
 * (a cover is paid under the credential's lock already). */
static offpay_err read_state(offpay_ledger *l, struct refund_ctx *c, int lock,
                             offpay__refund_base *b)
{
    offpay__terminal_row t;
    offpay__cred_row     cred;
    uint64_t             guarantee;
    offpay_err           rc;

    memset(&c->r, 0, sizeof c->r);
    c->replayed = 0;
    rc = l->ops->refund_base(l->store, c->presentment, 0, b);
    if (rc == OFFPAY_OK && lock)
        rc = l->ops->creds_lock(l->store, &b->serial, 1);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_get(l->store, b->terminal, &t);
    if (rc == OFFPAY_OK && lock) {
        rc = l->ops->account_singleton_find(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                            t.currency, &guarantee);
        if (rc == OFFPAY_OK)
            rc = l->ops->account_lock(l->store, guarantee);
        else if (rc == OFFPAY_ENOTFOUND) /* none: nothing of it to read */
            rc = OFFPAY_OK;
    }
    if (rc == OFFPAY_OK && lock)
        rc = l->ops->refund_base(l->store, c->presentment, 0, b);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_get(l->store, b->serial, &cred);
    /* the balance read next is the balance debited */
    if (rc == OFFPAY_OK && lock)
        rc = l->ops->account_lock(l->store, t.merchant_account);
    if (rc != OFFPAY_OK)
        return rc;
    c->r.presentment = c->presentment;
    c->r.currency = t.currency;
    c->r.merchant_account = t.merchant_account;
    c->r.wallet_account = cred.wallet_account;
    c->r.paid = b->paid;
    c->r.covered = b->covered;
    c->r.refunded = b->refunded;
    return OFFPAY_OK;
}

static offpay_err state_tx(offpay_ledger *l, void *p)
{
    offpay__refund_base b;

    return read_state(l, p, 0, &b);
}

static offpay_err refund_tx(offpay_ledger *l, void *p)
{
    struct refund_ctx  *c = p;
    offpay__refund_base b;
    offpay__request     rq;
    offpay__transfer    x;
    int64_t             balance;
    uint64_t            id;
    offpay_err          rc = read_state(l, c, 1, &b);

    if (rc != OFFPAY_OK)
        return rc;
    c->r.amount = c->amount;
    if (c->key != NULL) {
        rc = l->ops->request_get(l->store, c->key, &rq);
        if (rc == OFFPAY_OK)
            return replay(l, c, &rq);
        if (rc != OFFPAY_ENOTFOUND)
            return rc;
    }
    if (c->amount > b.paid - b.refunded)
        return OFFPAY_EOVER_REFUND;
    rc = l->ops->balance(l->store, c->r.merchant_account, &balance);
    if (rc != OFFPAY_OK)
        return rc;
    if (c->funded) { /* paid in first, so the account never goes below 0 */
        uint64_t world;

        /* bounded as every deposit is (ledger.c), though the refund takes
         * it out again in the same transaction */
        if (balance > OFFPAY_LEDGER_BALANCE_MAX - c->amount)
            return OFFPAY_EOVERFLOW;
        rc = l->ops->account_singleton(l->store, OFFPAY_ACCOUNT_WORLD,
                                       c->r.currency, c->now, &world);
        x.debit = world;
        x.credit = c->r.merchant_account;
        x.amount = c->amount;
        x.kind = "deposit";
        x.presentment = c->presentment;
        x.case_id = 0;
        x.ref = c->ref;
        x.at = c->now;
        if (rc == OFFPAY_OK)
            rc = offpay__ledger_book(l, &x, NULL);
        if (rc != OFFPAY_OK)
            return rc;
        c->r.deposited = c->amount;
        balance += c->amount;
    }
    if (balance < c->amount)
        return OFFPAY_EFUNDS;

    c->r.to_guarantee = guarantee_part(c->amount, b.guarantee_out);
    c->r.to_wallet = c->amount - c->r.to_guarantee;
    x.debit = c->r.merchant_account;
    x.kind = "refund";
    x.presentment = c->presentment;
    x.case_id = 0;
    x.ref = c->ref;
    x.at = c->now;
    if (c->r.to_guarantee > 0) {
        rc = l->ops->account_singleton(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                       c->r.currency, c->now,
                                       &c->r.guarantee_account);
        x.credit = c->r.guarantee_account;
        x.amount = c->r.to_guarantee;
        if (rc == OFFPAY_OK)
            rc = offpay__ledger_book(l, &x, &c->r.transfer);
    }
    if (rc == OFFPAY_OK && c->r.to_wallet > 0) {
        x.credit = c->r.wallet_account;
        x.amount = c->r.to_wallet;
        rc = offpay__ledger_book(l, &x, &id);
        if (c->r.transfer == 0)
            c->r.transfer = id;
    }
    if (rc == OFFPAY_OK && c->key != NULL) {
        offpay__request mine = {op_of(c), c->presentment, c->amount,
                                c->r.transfer, ""};

        rc = l->ops->request_add(l->store, c->key, &mine, c->now);
        if (rc == OFFPAY_EEXISTS) /* the same key at once: rerun, find it */
            rc = OFFPAY_ERETRY;
    }
    c->r.refunded += c->amount;
    return rc;
}

offpay_err offpay_ledger_refund_state(offpay_ledger *l, uint64_t presentment,
                                      offpay_refund *out)
{
    struct refund_ctx c;
    int               shard;
    offpay_err        rc;

    if (l == NULL || presentment == 0 || out == NULL)
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.presentment = presentment;
    shard = offpay__ledger_shard_of(l, presentment);
    if (shard < 0)
        return OFFPAY_ENOTFOUND;
    rc = offpay__ledger_read_on(l, (size_t)shard, state_tx, &c);
    if (rc == OFFPAY_OK)
        *out = c.r;
    return rc;
}

offpay_err offpay_ledger_refund(offpay_ledger *l, uint64_t presentment,
                                int64_t amount, int funded, const char *ref,
                                const char *key, uint32_t now,
                                offpay_refund *out, int *replayed)
{
    struct refund_ctx c;
    char              stored[OFFPAY__REQUEST_KEY_STORED_MAX];
    int               shard;
    offpay_err        rc;

    if (l == NULL || presentment == 0 || amount <= 0 || !offpay__ref_ok(ref) ||
        (key != NULL && !offpay_ledger_request_key_ok(key)))
        return OFFPAY_EINVAL;
    memset(&c, 0, sizeof c);
    c.presentment = presentment;
    c.amount = amount;
    c.funded = funded != 0;
    c.ref = ref;
    c.now = now;
    /* a presentment id names its shard (docs/settlement.md §11) */
    shard = offpay__ledger_shard_of(l, presentment);
    if (shard < 0)
        return OFFPAY_ENOTFOUND;
    if (key != NULL) {
        offpay__request_key(stored, "operator", 0, key);
        c.key = stored;
        rc = offpay__request_check_shards(l, stored, op_of(&c), presentment,
                                          amount, now);
        if (rc != OFFPAY_OK)
            return rc;
    }
    rc = offpay__ledger_tx_on(l, (size_t)shard, refund_tx, &c);
    if (rc != OFFPAY_OK)
        return rc;
    /* money a refund gave back to the guarantee pays what it owes, oldest
     * first, as a deposit into it does (settlement.md §5); the refund
     * stands whatever becomes of that: the release job pays the rest */
    if (!c.replayed && c.r.to_guarantee > 0 &&
        offpay__ledger_claims_pay(l, c.r.currency, now, NULL) != OFFPAY_OK)
        offpay__log("offpay: the claims on the guarantee of %s were not paid "
                    "after a refund into it: the release job pays them",
                    offpay_currency_alpha(c.r.currency));
    if (out != NULL)
        *out = c.r;
    if (replayed != NULL)
        *replayed = c.replayed;
    return OFFPAY_OK;
}
