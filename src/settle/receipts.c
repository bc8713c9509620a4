/*
 * receipts.c — a wallet's upload of its own spend log: each code with
 * every terminal-signed receipt the wallet holds for it, judged by
 * docs/settlement.md §3 and §7.
 *
 * A receipt is the terminal's own signed word of what it charged, so it
 * is compared with the terminal's upload of the same code, or, when the
 * terminal has not uploaded it, stands for that upload and settles the
 * payment by the rules of §4 (a lost terminal's payments still settle).
 * The terminal's later upload is then an exact replay: the money moved
 * once, at the receipt's amount; if its charge differs, a receipt_mismatch
 * case is opened (settle.c calls offpay__receipts_on_upload).
 *
 * Signatures are checked before the transaction; each item is one
 * transaction. Exactly once rests on the store: a receipt is kept once
 * (unique hash), a receipt that stands for an upload makes the
 * presentment keyed (serial, counter, terminal), and a concurrent second
 * attempt reruns and finds them.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/verify_int.h"
#include "offpay/terminal.h"
#include "offpay/verify.h"
#include "settle/settle_int.h"

#define WAITING_BATCH 16

/* ---- the terminal's side (called by settle.c) ----------------------- */

offpay_err offpay__receipts_on_upload(offpay_ledger *l, uint64_t serial,
                                      uint32_t counter, uint32_t terminal,
                                      uint64_t payment, uint64_t pid, int stood,
                                      int64_t seq, int64_t charged,
                                      uint32_t now, uint64_t *case_id)
{
    uint64_t   ids[WAITING_BATCH];
    int64_t    amounts[WAITING_BATCH];
    size_t     n = 0;
    offpay_err rc = OFFPAY_OK;

    *case_id = 0;
    /* The terminal turns up after a receipt stood for it: its own charge
     * is recorded; the money moved once, at the receipt's amount. */
    if (stood)
        rc = l->ops->claim_set(l->store, pid, seq, charged);
    /* Each pass marks what it read, so the next reads the rest. */
    do {
        if (rc == OFFPAY_OK)
            rc = l->ops->receipts_waiting(l->store, serial, counter, terminal,
                                          ids, amounts, WAITING_BATCH, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            uint64_t c = 0;

            if (amounts[i] != charged) {
                if (*case_id == 0)
                    rc = l->ops->case_add(l->store, serial, "receipt_mismatch",
                                          payment, pid, now, case_id);
                c = *case_id;
            }
            if (rc == OFFPAY_OK)
                rc = l->ops->receipt_checked(l->store, ids[i], c);
        }
    } while (rc == OFFPAY_OK && n == WAITING_BATCH);
    return rc;
}

/* ---- the wallet's side ---------------------------------------------- */

/* One uploaded item: what was decided before the transaction, and the
 * result the transaction fills. */
struct item_ctx {
    const offpay_wallet_item *it;
    uint32_t                  now;
    offpay_payment            p; /* the code, decoded and verified */
    offpay_receipt            r[OFFPAY_SETTLE_RECEIPTS_MAX];
    uint8_t                   rhash[OFFPAY_SETTLE_RECEIPTS_MAX][32];
    offpay_err pre[OFFPAY_SETTLE_RECEIPTS_MAX];   /* receipt checks before the
                                                     transaction */
    offpay_err stand[OFFPAY_SETTLE_RECEIPTS_MAX]; /* may it stand for an
                                                     upload (settle.c's
                                                     pure checks) */
    offpay_wallet_result res;
};

/* The code: decodes, its credential verifies under the bundle at the
 * code's own time, the wallet signed it, and the signer is its wallet. */
static offpay_err check_code(offpay_ledger *l, const uint8_t *wallet_pk,
                             struct item_ctx *c)
{
    const offpay_wallet_item *it = c->it;
    const uint8_t            *pk = NULL;
    offpay_err                rc;

    rc = offpay_payment_decode(it->code, it->code_len, &c->p);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_bundle_key_for(&l->bundle, c->p.cred.kid, c->p.time, &pk);
    if (rc != OFFPAY_OK)
        return rc;
    if (l->cache == NULL || !offpay__cred_cache_hit(l->cache, it->code + 2)) {
        rc = offpay__wallet_cred_sig(&c->p.cred, pk);
        if (rc != OFFPAY_OK)
            return rc;
        if (l->cache != NULL)
            offpay__cred_cache_put(l->cache, it->code + 2);
    }
    rc = offpay_payment_verify_sig(&c->p);
    if (rc != OFFPAY_OK)
        return rc;
    /* Another wallet's code: its credential was not issued to the signer. */
    if (sodium_memcmp(c->p.cred.wallet_pk, wallet_pk, OFFPAY_PK_BYTES) != 0)
        return OFFPAY_ENOT_ISSUED;
    return OFFPAY_OK;
}

/* Receipt i: decodes, verifies (issuer chain at its own time, the
 * terminal's signature, not dated beyond the skew) and names this code. */
static offpay_err check_receipt(offpay_ledger *l, struct item_ctx *c, size_t i)
{
    const offpay_payment *p = &c->p;
    offpay_receipt       *r = &c->r[i];
    offpay_risk           risk;
    offpay_err            rc;

    rc = offpay_receipt_decode(c->it->receipt[i], c->it->receipt_len[i], r);
    if (rc != OFFPAY_OK)
        return rc;
    offpay_risk_defaults(p->cred.currency, &risk);
    rc = offpay_receipt_verify(&l->bundle, r, c->now, risk.skew);
    if (rc != OFFPAY_OK)
        return rc;
    if (r->serial != p->cred.serial || r->counter != p->counter ||
        r->currency != p->cred.currency || r->amount > p->amount ||
        (p->bound && r->tcred.merchant_id != p->merchant_id))
        return OFFPAY_ERECEIPT_MISMATCH;
    crypto_generichash(c->rhash[i], sizeof c->rhash[i], c->it->receipt[i],
                       c->it->receipt_len[i], NULL, 0);
    return OFFPAY_OK;
}

/* The settle item a receipt stands for: the terminal's upload as the
 * receipt tells it (its amount, accepted at its time). */
static offpay_settle_item standing_item(const struct item_ctx *c, size_t i)
{
    offpay_settle_item s;

    memset(&s, 0, sizeof s);
    s.code = c->it->code;
    s.code_len = c->it->code_len;
    s.charged = (int64_t)c->r[i].amount;
    s.accepted_at = c->r[i].time;
    s.terminal_seq = OFFPAY__SEQ_RECEIPT;
    return s;
}

/* A receipt uploaded before: what it is now (a waiting receipt may have
 * been checked since), nothing moves. */
static offpay_err receipt_again(offpay_ledger *l, const struct item_ctx *c,
                                const offpay__receipt_row *row,
                                offpay_receipt_result     *out)
{
    offpay__presentment_row pr;
    uint64_t                pid = 0;
    int64_t                 claimed = -1;
    offpay_err              rc;

    out->replay = 1;
    out->terminal_id = row->terminal;
    out->amount = row->amount;
    out->case_id = row->case_id;
    if (row->checked) {
        rc = l->ops->claim_get(l->store, row->serial, row->counter,
                               row->terminal, &pid, &claimed);
        if (rc != OFFPAY_OK)
            return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
        out->claimed = claimed;
        out->outcome =
            row->case_id != 0 ? OFFPAY_RECEIPT_MISMATCH : OFFPAY_RECEIPT_AGREED;
        return OFFPAY_OK;
    }
    if (!row->stood) {
        out->outcome = OFFPAY_RECEIPT_WAITING;
        return OFFPAY_OK;
    }
    out->outcome = OFFPAY_RECEIPT_SETTLED;
    rc = l->ops->presentment_get(l->store, c->p.cred.serial, c->p.counter,
                                 row->terminal, &pr);
    if (rc != OFFPAY_OK)
        return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
    out->settle.outcome = (offpay_settle_outcome)pr.outcome;
    out->settle.reason = (offpay_err)pr.reason;
    out->settle.paid = pr.paid;
    out->settle.covered = pr.covered;
    out->settle.presentment = pr.id;
    out->settle.case_id = pr.case_id;
    out->settle.replay = 1;
    return OFFPAY_OK;
}

/* A new receipt: compared with its terminal's upload, or standing for it,
 * or waiting for it. Rejections are results. */
static offpay_err receipt_new(offpay_ledger *l, struct item_ctx *c, size_t i,
                              offpay_receipt_result *out)
{
    const offpay_receipt *r = &c->r[i];
    offpay__terminal_row  t;
    offpay__receipt_row   row;
    offpay__payment_row   pay;
    uint32_t              tid = 0;
    uint64_t              pid = 0;
    int64_t               claimed = -1;
    offpay_err            rc;

    /* Its terminal: registered, with this key, id and merchant. */
    rc = l->ops->terminal_by_pk(l->store, r->tcred.terminal_pk, &tid);
    if (rc == OFFPAY_OK)
        rc = l->ops->terminal_get(l->store, tid, &t);
    if (rc == OFFPAY_ENOTFOUND ||
        (rc == OFFPAY_OK &&
         (tid != r->tcred.terminal_id || t.merchant != r->tcred.merchant_id))) {
        out->reason = OFFPAY_ENOTFOUND;
        return OFFPAY_OK;
    }
    if (rc != OFFPAY_OK)
        return rc;
    out->terminal_id = tid;

    memset(&row, 0, sizeof row);
    memcpy(row.hash, c->rhash[i], sizeof row.hash);
    row.serial = r->serial;
    row.counter = r->counter;
    row.terminal = tid;
    row.amount = (int64_t)r->amount;
    row.made_at = r->time;
    row.bytes = c->it->receipt[i];
    row.len = c->it->receipt_len[i];
    row.uploaded_at = c->now;

    rc =
        l->ops->claim_get(l->store, r->serial, r->counter, tid, &pid, &claimed);
    if (rc == OFFPAY_OK && claimed >= 0) {
        /* The terminal uploaded it: the amounts must agree. */
        out->claimed = claimed;
        row.presentment = pid;
        row.checked = 1;
        if (claimed != row.amount) {
            rc = l->ops->payment_get(l->store, r->serial, r->counter, &pay);
            if (rc == OFFPAY_OK)
                rc = l->ops->case_add(l->store, r->serial, "receipt_mismatch",
                                      pay.id, pid, c->now, &row.case_id);
            if (rc != OFFPAY_OK)
                return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
            out->case_id = row.case_id;
            out->outcome = OFFPAY_RECEIPT_MISMATCH;
        } else {
            out->outcome = OFFPAY_RECEIPT_AGREED;
        }
    } else if (rc == OFFPAY_OK) {
        /* Another receipt of this terminal stood for its upload. */
        row.presentment = pid;
        out->outcome = OFFPAY_RECEIPT_WAITING;
    } else if (rc == OFFPAY_ENOTFOUND) {
        /* No upload of its terminal yet: the receipt stands for it. */
        offpay_settle_item s = standing_item(c, i);

        if (c->stand[i] != OFFPAY_OK) {
            out->reason = c->stand[i];
            return OFFPAY_OK;
        }
        rc = offpay__settle_in_tx(l, tid, &s, &c->p, c->now, &out->settle);
        if (rc != OFFPAY_OK)
            return rc;
        if (out->settle.outcome == OFFPAY_SETTLE_REJECTED) {
            out->reason = out->settle.reason;
            return OFFPAY_OK;
        }
        row.stood = 1;
        row.presentment = out->settle.presentment;
        out->outcome = OFFPAY_RECEIPT_SETTLED;
    } else {
        return rc;
    }
    rc = l->ops->receipt_add(l->store, &row, NULL);
    return rc == OFFPAY_EEXISTS ? OFFPAY_ERETRY : rc;
}

/* The code's standing after its receipts: who presented it, how it
 * settled. */
static offpay_err code_status(offpay_ledger *l, struct item_ctx *c)
{
    offpay_wallet_result   *res = &c->res;
    offpay__payment_row     pay;
    offpay__payment_summary sum;
    int                     same;
    offpay_err              rc;

    rc = l->ops->payment_get(l->store, c->p.cred.serial, c->p.counter, &pay);
    if (rc == OFFPAY_ENOTFOUND) {
        res->reason = OFFPAY_ENOT_SETTLED;
        return OFFPAY_OK;
    }
    if (rc != OFFPAY_OK)
        return rc;
    same = pay.code_len == c->it->code_len &&
           memcmp(pay.code, c->it->code, pay.code_len) == 0;
    memset(&sum, 0, sizeof sum);
    rc =
        l->ops->payment_summary(l->store, c->p.cred.serial, c->p.counter, &sum);
    if (rc != OFFPAY_OK)
        return rc;
    res->presentments = (uint32_t)sum.presentments;
    res->paid = sum.paid;
    res->covered = sum.covered;
    res->refunded = sum.refunded;
    if (!same || sum.double_spend > 0)
        res->outcome = OFFPAY_SETTLE_DOUBLE_SPEND;
    else if (sum.duplicate > 0)
        res->outcome = OFFPAY_SETTLE_DUPLICATE;
    else if (sum.unpaid > 0)
        res->outcome = OFFPAY_SETTLE_UNPAID;
    else if (sum.guaranteed > 0)
        res->outcome = OFFPAY_SETTLE_GUARANTEED;
    else
        res->outcome = OFFPAY_SETTLE_SETTLED;
    return OFFPAY_OK;
}

static offpay_err item_tx(offpay_ledger *l, void *arg)
{
    struct item_ctx      *c = arg;
    offpay_wallet_result *res = &c->res;
    offpay__cred_row      cred;
    offpay_err            rc;

    /* A rerun starts from the checks made before the transaction. */
    memset(res, 0, sizeof *res);
    res->serial = c->p.cred.serial;
    res->counter = c->p.counter;
    res->n_receipts = c->it->n_receipts;
    for (size_t i = 0; i < res->n_receipts; i++)
        res->receipt[i].reason = c->pre[i];

    /* one transaction at a time on the credential (store.h, row locks) */
    rc = l->ops->creds_lock(l->store, &c->p.cred.serial, 1);
    if (rc == OFFPAY_OK)
        rc = l->ops->cred_get(l->store, c->p.cred.serial, &cred);
    if (rc == OFFPAY_OK && !offpay__cred_is_issued(&cred, &c->p.cred))
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_ENOTFOUND) {
        res->reason = OFFPAY_ENOT_ISSUED;
        for (size_t i = 0; i < res->n_receipts; i++)
            res->receipt[i].reason = OFFPAY_ENOT_ISSUED;
        return OFFPAY_OK;
    }
    /* the wallet signed this counter: a restored copy starts past it */
    if (rc == OFFPAY_OK)
        rc =
            l->ops->cred_counter_seen(l->store, c->p.cred.serial, c->p.counter);
    if (rc != OFFPAY_OK)
        return rc;

    for (size_t i = 0; i < res->n_receipts; i++) {
        offpay_receipt_result *out = &res->receipt[i];
        offpay__receipt_row    row;

        out->amount = (int64_t)c->r[i].amount;
        if (c->pre[i] != OFFPAY_OK)
            continue;
        rc = l->ops->receipt_get(l->store, c->rhash[i], &row);
        if (rc == OFFPAY_OK)
            rc = receipt_again(l, c, &row, out);
        else if (rc == OFFPAY_ENOTFOUND)
            rc = receipt_new(l, c, i, out);
        if (rc != OFFPAY_OK)
            return rc;
        if (out->reason != OFFPAY_OK)
            out->outcome = OFFPAY_RECEIPT_REJECTED;
    }
    return code_status(l, c);
}

offpay_err offpay_ledger_wallet_upload(offpay_ledger *l,
                                       const uint8_t wallet_pk[OFFPAY_PK_BYTES],
                                       const offpay_wallet_item *items,
                                       size_t n, uint32_t now,
                                       offpay_wallet_result *res, size_t *done)
{
    struct item_ctx *c = NULL;
    offpay_err       rc = OFFPAY_OK;
    size_t           i;

    if (done != NULL)
        *done = 0;
    if (l == NULL || wallet_pk == NULL || items == NULL || res == NULL ||
        n == 0)
        return OFFPAY_EINVAL;
    for (i = 0; i < n; i++) {
        if (items[i].code == NULL ||
            items[i].n_receipts > OFFPAY_SETTLE_RECEIPTS_MAX)
            return OFFPAY_EINVAL;
        for (size_t k = 0; k < items[i].n_receipts; k++)
            if (items[i].receipt[k] == NULL)
                return OFFPAY_EINVAL;
    }
    memset(res, 0, n * sizeof *res);
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return OFFPAY_ENOMEM;
    for (i = 0; i < n && rc == OFFPAY_OK; i++) {
        offpay_err code_rc;

        memset(c, 0, sizeof *c);
        c->it = &items[i];
        c->now = now;
        /* The signatures first, outside the store's write lock. */
        code_rc = check_code(l, wallet_pk, c);
        if (code_rc != OFFPAY_OK) {
            res[i].reason = code_rc;
            res[i].n_receipts = items[i].n_receipts;
            for (size_t k = 0; k < items[i].n_receipts; k++)
                res[i].receipt[k].reason = code_rc;
            if (done != NULL)
                *done = i + 1;
            continue;
        }
        for (size_t k = 0; k < items[i].n_receipts; k++) {
            c->pre[k] = check_receipt(l, c, k);
            if (c->pre[k] == OFFPAY_OK) {
                offpay_settle_item s = standing_item(c, k);
                offpay_payment     again;

                c->stand[k] = offpay__settle_pure(l, &s, now, &again);
            }
        }
        rc = offpay__ledger_tx_serials(l, &c->p.cred.serial, 1, item_tx, c);
        if (rc == OFFPAY_OK) {
            res[i] = c->res;
            if (done != NULL)
                *done = i + 1;
        }
    }
    if (rc != OFFPAY_OK)
        memset(res + (i - 1), 0, (n - (i - 1)) * sizeof *res);
    free(c);
    return rc;
}

static offpay_err known_tx(offpay_ledger *l, void *pk)
{
    return l->ops->wallet_known(l->store, pk);
}

offpay_err offpay_ledger_wallet_known(offpay_ledger *l,
                                      const uint8_t  pk[OFFPAY_PK_BYTES])
{
    offpay_err rc = OFFPAY_ENOTFOUND;

    if (l == NULL || pk == NULL)
        return OFFPAY_EINVAL;
    /* a wallet's credentials live on its account's shard */
    for (size_t k = 0; rc == OFFPAY_ENOTFOUND && k < l->n_shards; k++)
        rc = offpay__ledger_read_on(l, k, known_tx, (void *)pk);
    return rc;
}
