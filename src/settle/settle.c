/*
 * settle.c — settlement of one uploaded payment, exactly once, by the
 * rules of docs/settlement.md §4-§6.
 *
 * The signature checks are pure and run before the transaction, so the
 * transaction that holds the store's write lock stays short. Everything
 * that depends on the ledger's state — the terminal, the credential, what
 * was presented before, the escrow — is read and changed inside one
 * transaction; the unique keys (serial, counter) on payments and (serial,
 * counter, terminal) on presentments, and the conditional escrow debit,
 * make a concurrent second settlement of the same item fail and rerun as
 * an exact replay. Each transaction first locks the rows of the
 * credentials it settles (store.h, row locks), so that what settle_tx
 * reads of a credential stays true until it commits; the wallet and
 * guarantee accounts are locked before their balance is read and debited.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount_int.h"
#include "core/log.h"
#include "core/verify_int.h"
#include "offpay/core.h"
#include "offpay/terminal.h"
#include "offpay/verify.h"
#include "settle/settle_int.h"

enum kind { FIRST, DUPLICATE, DOUBLE_SPEND };

/* The uploading terminal as a transaction sees it, shared by the items of
 * a batch: its row (merchant, revocation), read once per transaction, and
 * the validity of its own credential, read once (a terminal's credential
 * never changes once issued). */
struct term_state {
    int                  row_read; /* cleared when a transaction starts */
    offpay__terminal_row row;
    int                  win_read;
    uint32_t             valid_from, expires;
    uint16_t             kid; /* the issuer key that signed it */
};

struct settle_ctx {
    uint32_t                  terminal;
    struct term_state        *term; /* NULL: own_term */
    struct term_state         own_term;
    const offpay_settle_item *item;
    uint32_t                  now;
    offpay_payment            p;
    uint8_t                   hash[32];
    offpay_settle_result      res;
    int                       pure_rejected; /* batch: decided before the tx */
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* presentments_of callback: the terminals that presented the payment */
struct dup_terms {
    uint32_t id[16];
    size_t   n;
};

static int dup_term(const offpay__presentment_row *p, void *ctx)
{
    struct dup_terms *d = ctx;

    d->id[d->n++] = p->terminal;
    return d->n == sizeof d->id / sizeof d->id[0];
}

/* For a duplicate presentment: *same 1 when a terminal of merchant (the
 * uploading terminal's) presented the code before. The merchant was paid
 * for it then, and both terminals are its own: the code is paid again at
 * most what remains of its authorized amount, and the guarantee does not
 * cover it (OFFPAY_EDUPLICATE_MERCHANT, settlement.md §4, §5). */
static offpay_err same_merchant_before(offpay_ledger           *l,
                                       const struct settle_ctx *c,
                                       uint64_t merchant, int *same)
{
    struct dup_terms     d = {{0}, 0};
    offpay__terminal_row t;
    offpay_err           rc;

    *same = 0;
    rc = l->ops->presentments_of(l->store, c->p.cred.serial, c->p.counter, 0,
                                 INT64_MAX, dup_term, &d);
    for (size_t i = 0; rc == OFFPAY_OK && i < d.n && !*same; i++) {
        rc = l->ops->terminal_get(l->store, d.id[i], &t);
        *same = rc == OFFPAY_OK && t.merchant == merchant;
    }
    return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
}

/* The guarantee rules (docs/settlement.md §5), judged at the terminal's
 * acceptance time against the defaults terminals ship with. */
static offpay_err guarantee_rules(offpay_ledger *l, const struct settle_ctx *c,
                                  const offpay__cred_row *cred)
{
    const offpay_payment *p = &c->p;
    uint32_t              at = c->item->accepted_at;
    offpay_risk           r;
    int64_t               floor, sum = 0, cap;
    offpay_err            rc;

    offpay_risk_defaults(cred->currency, &r);
    floor = p->bound ? r.floor_bound : r.floor_unbound;
    if (c->item->charged > floor)
        return OFFPAY_EOVER_FLOOR;
    rc = offpay_code_time_check(p->time, at, r.skew,
                                p->bound ? r.max_code_age
                                         : r.max_code_age_unbound);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__window_check(p->cred.valid_from, p->cred.expires, at, r.skew);
    if (rc != OFFPAY_OK)
        return rc;
    if (cred->revoked &&
        (uint64_t)at > (uint64_t)cred->revoked_at + r.max_revlist_age)
        return OFFPAY_EREVOKED;
    rc = l->ops->charged_at(l->store, cred->serial, c->terminal, &sum);
    if (rc != OFFPAY_OK)
        return rc;
    cap = min64(r.cumulative, cred->limit);
    if (sum > cap || c->item->charged > cap - sum)
        return OFFPAY_EOVER_CUMULATIVE;
    return OFFPAY_OK;
}

/* Rule errors are results; store failures are not. */
static int is_store_error(offpay_err rc)
{
    return rc == OFFPAY_ERETRY || rc == OFFPAY_ESTORE || rc == OFFPAY_ENOSPC ||
           rc == OFFPAY_EROFS || rc == OFFPAY_EACCES || rc == OFFPAY_EIO ||
           rc == OFFPAY_ENOMEM || rc == OFFPAY_EBUSY; /* EBUSY: a lock or a
                                                        statement timeout */
}

static offpay_err reject(struct settle_ctx *c, offpay_err why)
{
    memset(&c->res, 0, sizeof c->res);
    c->res.outcome = OFFPAY_SETTLE_REJECTED;
    c->res.reason = why;
    return OFFPAY_OK;
}

/* A terminal's own upload of a payment, checked against the receipts
 * wallets uploaded for it (receipts.c, docs/settlement.md §7); not when a
 * receipt stands for the upload (terminal_seq OFFPAY__SEQ_RECEIPT). */
static offpay_err receipts_hook(offpay_ledger *l, const struct settle_ctx *c,
                                uint64_t payment, uint64_t pid, int stood,
                                offpay_settle_result *res)
{
    uint64_t   case_id = 0;
    offpay_err rc;

    if (c->item->terminal_seq < 0)
        return OFFPAY_OK;
    rc = offpay__receipts_on_upload(
        l, c->p.cred.serial, c->p.counter, c->terminal, payment, pid, stood,
        c->item->terminal_seq, c->item->charged, c->now, &case_id);
    if (rc == OFFPAY_OK && case_id != 0 && res->case_id == 0) {
        res->case_id = case_id;
        rc = l->ops->presentment_set_case(l->store, pid, case_id);
    }
    return rc;
}

/* The charge_mismatch case opened for presentment pr before, or 0. */
static offpay_err mismatch_case_of(offpay_ledger                 *l,
                                   const offpay__presentment_row *pr,
                                   uint64_t                      *case_id)
{
    offpay_case_filter f;
    offpay_case_info   page[16];
    size_t             n = 0;
    offpay_err         rc;

    *case_id = 0;
    memset(&f, 0, sizeof f);
    f.serial = pr->serial;
    f.kind = OFFPAY_CASE_CHARGE_MISMATCH;
    do {
        rc = l->ops->cases(l->store, &f, "charge_mismatch", 16, page, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            if (page[i].presentment == pr->id) {
                *case_id = page[i].id;
                return OFFPAY_OK;
            }
            f.after_id = page[i].id;
        }
    } while (rc == OFFPAY_OK && n == 16);
    return rc;
}

/* The terminal's key uploaded this payment before with another charge
 * (settlement.md §4, "another charge"): the first upload was paid and
 * stands; this one is no replay to pass over in silence. Nothing moves;
 * the result is the stored one with reason OFFPAY_ECONFLICT, and a
 * charge_mismatch case against the terminal's presentment holds its
 * charge, the log both (once: an upload sent again finds the case).
 * own: the terminal's earlier charge (a receipt's presentment: the
 * terminal's own upload, §7, not the receipt's amount). */
static offpay_err charge_mismatch(offpay_ledger *l, const struct settle_ctx *c,
                                  const offpay__presentment_row *pr,
                                  int64_t own, offpay_settle_result *res)
{
    offpay_case_info info;
    uint64_t         case_id = 0;
    offpay_err       rc;

    res->reason = OFFPAY_ECONFLICT;
    if (pr->case_id != 0) {
        rc = l->ops->case_get(l->store, pr->case_id, &info);
        if (rc != OFFPAY_OK)
            return rc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : rc;
        if (info.kind == OFFPAY_CASE_CHARGE_MISMATCH)
            return OFFPAY_OK;
        /* the presentment names another case (a duplicate, a receipt's):
         * one of the credential's charge_mismatch cases may be its */
        rc = mismatch_case_of(l, pr, &case_id);
        if (rc != OFFPAY_OK || case_id != 0) {
            res->case_id = case_id;
            return rc;
        }
    }
    rc = l->ops->case_add(l->store, pr->serial, "charge_mismatch", pr->payment,
                          pr->id, c->now, &case_id);
    if (rc == OFFPAY_OK && pr->case_id == 0)
        rc = l->ops->presentment_set_case(l->store, pr->id, case_id);
    if (rc != OFFPAY_OK)
        return rc;
    res->case_id = case_id;
    {
        const uint16_t cur = c->p.cred.currency;
        char           m[3][OFFPAY__MONEY_TEXT_MAX];

        offpay__log("offpay: terminal %u uploaded serial %llu counter %u "
                    "charged %s, after its key uploaded it charged %s "
                    "(paid %s): case %llu (charge_mismatch), nothing moved",
                    (unsigned)c->terminal, (unsigned long long)pr->serial,
                    (unsigned)pr->counter,
                    offpay__money_text(c->item->charged, cur, m[0]),
                    offpay__money_text(own, cur, m[1]),
                    offpay__money_text(pr->paid, cur, m[2]),
                    (unsigned long long)case_id);
    }
    return OFFPAY_OK;
}

int offpay__cred_is_issued(const offpay__cred_row   *row,
                           const offpay_wallet_cred *c)
{
    /* not the expiry: a revocation moves the ledger's (settlement.md
     * §12) and the code still carries the one signed */
    return row->limit == (int64_t)c->limit && row->currency == c->currency &&
           row->valid_from == c->valid_from && row->flags == c->flags &&
           sodium_memcmp(row->wallet_pk, c->wallet_pk, OFFPAY_PK_BYTES) == 0;
}

/* When the payment was accepted, at the earliest: the terminal's word
 * (accepted_at), but never before the wallet made the code, less the
 * clocks' skew. A revoked terminal's key cannot date a payment it takes
 * after its revocation to before it (settlement.md §8). */
static uint64_t accepted_no_earlier(const struct settle_ctx *c)
{
    offpay_risk r;
    uint64_t    made;

    offpay_risk_defaults(c->p.cred.currency, &r);
    made = c->p.time > r.skew ? (uint64_t)c->p.time - r.skew : 0;
    return c->item->accepted_at > made ? c->item->accepted_at : made;
}

static offpay_err term_read(offpay_ledger *l, struct settle_ctx *c,
                            struct term_state **out)
{
    struct term_state   *w = c->term != NULL ? c->term : &c->own_term;
    uint8_t              buf[OFFPAY_TERMINAL_CRED_MAX_BYTES];
    size_t               len = 0;
    offpay_terminal_cred tc;
    offpay_err           rc;

    *out = w;
    if (!w->row_read) {
        rc = l->ops->terminal_get(l->store, c->terminal, &w->row);
        if (rc != OFFPAY_OK)
            return rc;
        w->row_read = 1;
    }
    if (w->win_read)
        return OFFPAY_OK;
    rc = l->ops->terminal_cred(l->store, c->terminal, buf, sizeof buf, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_cred_decode(buf, len, &tc);
    if (rc != OFFPAY_OK) /* its row is there: never sound */
        return OFFPAY_ESTORE;
    w->valid_from = tc.valid_from;
    w->expires = tc.expires;
    w->kid = tc.kid;
    w->win_read = 1;
    return OFFPAY_OK;
}

/* Whether kid was made after the ledger's view of the issuer was read: a
 * key another offpayd on the same ledger, or the terminal, already holds
 * and this one has not read yet (SIGHUP). Its codes are not decided until
 * it has (settlement.md §4), where a key made before and missing from the
 * bundle was retired, and refuses them. */
static int newer_key(const offpay_ledger *l, uint32_t kid)
{
    return l->next_kid != 0 && kid >= l->next_kid;
}

/* Whether the item was accepted within the term of the terminal's own
 * credential (settlement.md §8): its validity window, the clocks' skew
 * allowed either side, and the window of the issuer key that signed it in
 * the ledger's bundle (a retired key has none). Outside it an honest
 * terminal refuses every code, and a case's evidence could not prove the
 * presentment (§9.3): OFFPAY_ETERMINAL_EXPIRED. Judged at the stated
 * acceptance time and at the earliest time the code allows, so a
 * terminal's key cannot date a payment back into its term. A key made
 * after the ledger read the issuer (another offpayd signed the terminal's
 * credential with it) decides nothing yet: OFFPAY_EBUNDLE_OLD. */
static offpay_err term_check(const offpay_ledger *l, const struct settle_ctx *c,
                             const struct term_state *w)
{
    const uint8_t *pk = NULL;
    offpay_risk    r;
    uint64_t       late = accepted_no_earlier(c);
    offpay_err     a, b;

    offpay_risk_defaults(c->p.cred.currency, &r);
    a = offpay_bundle_key_for(&l->bundle, w->kid, c->item->accepted_at, &pk);
    b = offpay_bundle_key_for(&l->bundle, w->kid, (uint32_t)late, &pk);
    if (a == OFFPAY_EUNKNOWN_KID && newer_key(l, w->kid))
        return OFFPAY_EBUNDLE_OLD;
    if ((uint64_t)c->item->accepted_at + r.skew < w->valid_from ||
        late > (uint64_t)w->expires + r.skew || a != OFFPAY_OK ||
        b != OFFPAY_OK)
        return OFFPAY_ETERMINAL_EXPIRED;
    return OFFPAY_OK;
}

/* A refused payment kept once per terminal and code (030_refusals), so
 * that the merchant's statement and the operator's report say it: the
 * merchant's terminal took it and nothing will pay it. Not for a receipt
 * standing for the upload (the wallet's, settlement.md §7). */
static offpay_err keep_refusal(offpay_ledger *l, const struct settle_ctx *c,
                               offpay_err why)
{
    offpay__refusal_row f;

    if (c->item->terminal_seq < 0 || c->item->charged < 0)
        return OFFPAY_OK;
    memset(&f, 0, sizeof f);
    f.r.terminal_id = c->terminal;
    f.r.serial = c->p.cred.serial;
    f.r.counter = c->p.counter;
    f.r.charged = c->item->charged;
    f.r.reason = why;
    f.r.accepted_at = c->item->accepted_at;
    f.r.uploaded_at = c->now;
    memcpy(f.code_hash, c->hash, sizeof f.code_hash);
    return l->ops->refusal_add(l->store, &f);
}

/* A payment the uploading terminal accepted after its revocation: refused
 * (ETERMINAL_REVOKED) and kept; not for a code of a credential this
 * ledger did not issue (a revoked terminal's word on a payer no escrow
 * stands for). */
static offpay_err refuse_revoked(offpay_ledger *l, struct settle_ctx *c)
{
    offpay__cred_row cred;
    offpay_err       rc;

    rc = l->ops->cred_get(l->store, c->p.cred.serial, &cred);
    if (rc != OFFPAY_OK && rc != OFFPAY_ENOTFOUND)
        return rc;
    if (rc == OFFPAY_OK && offpay__cred_is_issued(&cred, &c->p.cred) &&
        (rc = keep_refusal(l, c, OFFPAY_ETERMINAL_REVOKED)) != OFFPAY_OK)
        return rc;
    return reject(c, OFFPAY_ETERMINAL_REVOKED);
}

/* A code whose credential the issuer signed but this ledger did not issue
 * (ENOT_ISSUED: one issued after the backup a ledger was restored from,
 * or outside offpayd): refused, and kept (since 0.28.0) when the terminal
 * took it within its own term (one outside it is no sale of the
 * merchant's, as its other payments are not), so that the merchants whose
 * terminals took such codes are seen, with what each was charged
 * (docs/operations.md §5, after a restore). */
static offpay_err refuse_not_issued(offpay_ledger *l, struct settle_ctx *c,
                                    const struct term_state *term)
{
    offpay_err rc = OFFPAY_OK;

    if (term_check(l, c, term) == OFFPAY_OK)
        rc = keep_refusal(l, c, OFFPAY_ENOT_ISSUED);
    return rc != OFFPAY_OK ? rc : reject(c, OFFPAY_ENOT_ISSUED);
}

/* Whether a released credential's escrow paid so much before that want
 * takes its charges over its limit (an overspend the evidence proves: it
 * counts every presentment's charge, at least what the escrow paid). */
static offpay_err late_over_limit(offpay_ledger          *l,
                                  const offpay__cred_row *cred, int64_t want,
                                  int *over)
{
    int64_t    flows[OFFPAY__ESCROW_FLOWS];
    offpay_err rc = l->ops->escrow_flows(l->store, cred->escrow_account, flows);

    /* flows[3]: what the escrow paid merchants (settle), at most the
     * limit plus the guarantee's cover: no overflow */
    *over = rc == OFFPAY_OK && flows[3] > cred->limit - want;
    return rc;
}

static offpay_err settle_tx(offpay_ledger *l, void *arg)
{
    struct settle_ctx          *c = arg;
    const offpay_payment       *p = &c->p;
    const int64_t               want = c->item->charged;
    offpay_settle_result       *res = &c->res;
    const offpay__terminal_row *t;
    struct term_state          *term;
    offpay__cred_row            cred;
    offpay__presentment_row     pr;
    offpay__payment_row         pay;
    enum kind                   kind;
    int                         bound_again; /* a bound code presented again */
    int again_here = 0; /* a duplicate at the merchant paid for it before */
    const char                 *case_kind = NULL;
    int64_t                     avail, from_escrow, shortfall, covered = 0;
    int64_t                     payable;
    int64_t                     late = 0, paid;
    uint64_t                    guarantee = 0, case_id = 0, pid = 0;
    offpay_err                  rc, rule = OFFPAY_OK, unpaid = OFFPAY_OK;

    memset(res, 0, sizeof *res);
    rc = term_read(l, c, &term);
    if (rc != OFFPAY_OK)
        return rc;
    t = &term->row;

    /* What the uploading terminal may present. */
    if (p->cred.currency != t->currency)
        return reject(c, OFFPAY_ECURRENCY);
    if (p->bound && p->merchant_id != t->merchant)
        return reject(c, OFFPAY_EWRONG_MERCHANT);
    if (t->revoked && accepted_no_earlier(c) >= t->revoked_at) {
        /* a replay of what this terminal uploaded before its revocation
         * (dated at or after it: its clock ahead, or the same second)
         * answers what was stored, as any replay does: the terminal was
         * told that result, and a resent upload whose answer was lost
         * must not read "refused" for a payment paid */
        rc = l->ops->presentment_get(l->store, p->cred.serial, p->counter,
                                     c->terminal, &pr);
        if (rc != OFFPAY_OK && rc != OFFPAY_ENOTFOUND)
            return rc;
        if (rc != OFFPAY_OK ||
            sodium_memcmp(pr.code_hash, c->hash, sizeof c->hash) != 0)
            return refuse_revoked(l, c);
        /* the same code: the replay below answers, its charge compared
         * as for any terminal (the kept charge of a presentment a
         * receipt made; another charge: ECONFLICT, nothing moves) */
    }
    rc = l->ops->cred_get(l->store, p->cred.serial, &cred);
    if (rc == OFFPAY_ENOTFOUND)
        return refuse_not_issued(l, c, term);
    if (rc != OFFPAY_OK)
        return rc;
    if (!offpay__cred_is_issued(&cred, &p->cred))
        return refuse_not_issued(l, c, term);

    /* First presentment, duplicate (same bytes) or double spend: a
     * presentment is of a payment, so a new payment (most uploads) needs
     * no look-up of a replay. */
    rc = l->ops->payment_get(l->store, p->cred.serial, p->counter, &pay);
    if (rc == OFFPAY_ENOTFOUND)
        kind = FIRST;
    else if (rc == OFFPAY_OK)
        kind = pay.code_len == c->item->code_len &&
                       memcmp(pay.code, c->item->code, pay.code_len) == 0
                   ? DUPLICATE
                   : DOUBLE_SPEND;
    else
        return rc;

    /* Exact replay: this terminal uploaded this payment before. */
    rc = kind == FIRST ? OFFPAY_ENOTFOUND
                       : l->ops->presentment_get(l->store, p->cred.serial,
                                                 p->counter, c->terminal, &pr);
    if (rc == OFFPAY_OK) {
        if (sodium_memcmp(pr.code_hash, c->hash, sizeof c->hash) != 0)
            return reject(c, OFFPAY_ECONFLICT);
        res->outcome = (offpay_settle_outcome)pr.outcome;
        res->reason = (offpay_err)pr.reason;
        res->paid = pr.paid;
        res->covered = pr.covered;
        res->presentment = pr.id;
        res->case_id = pr.case_id;
        res->replay = 1;
        if (pr.terminal_seq >= 0 && c->item->terminal_seq >= 0 &&
            pr.charged != c->item->charged) {
            int64_t    own = -1;
            uint64_t   claim_of = 0;
            offpay_err crc;

            /* the terminal's own earlier charge: the claim kept beside a
             * presentment a receipt stood for (§7), else the charge */
            crc = l->ops->claim_get(l->store, pr.serial, pr.counter,
                                    c->terminal, &claim_of, &own);
            if (crc != OFFPAY_OK)
                return crc == OFFPAY_ENOTFOUND ? OFFPAY_ESTORE : crc;
            if (own != c->item->charged)
                return charge_mismatch(l, c, &pr, own, res);
        }
        return receipts_hook(l, c, pr.payment, pr.id, pr.terminal_seq < 0, res);
    }
    if (rc != OFFPAY_ENOTFOUND)
        return rc;
    /* A new presentment: within the terminal's term (after the replay,
     * whose stored result stands whatever became of the terminal's key) */
    rc = term_check(l, c, term);
    if (rc != OFFPAY_OK)
        return reject(c, rc);

    if (kind == FIRST) { /* its row is made with the result, below */
        pay.id = 0;
        pay.charged = 0;
    }

    /* A bound code answers one request of one terminal and was paid to
     * its merchant at its first presentment: presented again, by another
     * terminal of the merchant, it is paid nothing and the payer's
     * credential opens no case (settlement.md §4). */
    bound_again = kind == DUPLICATE && p->bound;
    /* what this presentment may take of the escrow (or, late, of the
     * account): its charge, or, presented again by the merchant that was
     * paid for the code, what remains of the code's authorized amount */
    payable = want;
    if (kind == DUPLICATE && !bound_again) {
        rc = same_merchant_before(l, c, t->merchant, &again_here);
        if (rc != OFFPAY_OK)
            return rc;
        if (again_here) {
            payable = min64(want, (int64_t)p->amount - pay.charged);
            payable = payable > 0 ? payable : 0;
            rule = OFFPAY_EDUPLICATE_MERCHANT;
            unpaid = OFFPAY_EDUPLICATE_MERCHANT;
        }
    }
    if (bound_again) {
        avail = 0;
        rule = OFFPAY_EREPLAY;
        unpaid = OFFPAY_EREPLAY;
    } else if (cred.released) {
        int64_t wallet = 0;

        if ((uint64_t)c->now >
            (uint64_t)cred.released_at + l->cfg.late_window) {
            avail = 0;
            unpaid = OFFPAY_ELATE;
            rule = OFFPAY_ELATE;
        } else if (cred.revoked && !cred.revoked_for_case &&
                   accepted_no_earlier(c) >= cred.revoked_at) {
            /* accepted after a lost wallet's (or the operator's)
             * revocation: never the payer's account; the guarantee rules
             * judge it like any shortfall (settlement.md §6). The later of
             * the terminal's time and the code's own (less the skew): a
             * terminal that dates its acceptance back does not move the
             * payment onto the payer's account. A credential with a case
             * of fraud against it (however it was revoked first: a payer
             * who reports a wallet lost and then double-spends it) stays
             * its owner's to pay. */
            avail = 0;
        } else {
            rc = l->ops->account_lock(l->store, cred.wallet_account);
            if (rc == OFFPAY_OK)
                rc = l->ops->balance(l->store, cred.wallet_account, &wallet);
            if (rc != OFFPAY_OK)
                return rc;
            late = min64(payable, wallet > 0 ? wallet : 0);
            avail = late;
        }
    } else {
        avail = cred.remaining;
    }
    from_escrow = min64(payable, avail);
    shortfall = want - from_escrow;
    /* The guarantee rules decide only what the escrow cannot pay, so they
     * are judged only then: their cumulative sum reads every presentment
     * of the credential at this terminal. */
    if (shortfall > 0 && rule == OFFPAY_OK) {
        rule = guarantee_rules(l, c, &cred);
        if (is_store_error(rule))
            return rule;
    }
    if (shortfall > 0 && rule != OFFPAY_OK) {
        unpaid = rule;
    } else if (shortfall > 0) {
        int64_t gbal = 0;

        rc = l->ops->account_singleton(l->store, OFFPAY_ACCOUNT_GUARANTEE,
                                       cred.currency, c->now, &guarantee);
        if (rc == OFFPAY_OK)
            rc = l->ops->account_lock(l->store, guarantee);
        if (rc == OFFPAY_OK)
            rc = l->ops->balance(l->store, guarantee, &gbal);
        if (rc != OFFPAY_OK)
            return rc;
        covered = min64(shortfall, gbal > 0 ? gbal : 0);
        if (covered < shortfall) {
            /* the operator hears of it: what the guarantee could not
             * cover is a claim on it (the presentment, reason EFUNDS),
             * paid to the merchant once the guarantee is funded
             * (claims.c, settlement.md §5) */
            char where[32] = "", m[4][OFFPAY__MONEY_TEXT_MAX];

            unpaid = OFFPAY_EFUNDS;
            if (l->n_shards > 1)
                snprintf(where, sizeof where, " on shard %zu", l->cur);
            offpay__log(
                "offpay: the guarantee of %s%s holds %s: serial %llu "
                "counter %u, owed %s under the guarantee, is covered %s "
                "(EFUNDS): the %s left is a claim on the guarantee, paid to "
                "the merchant once the guarantee is funded (a deposit into "
                "it pays it at once)",
                offpay_currency_alpha(cred.currency), where,
                offpay__money_text(gbal, cred.currency, m[0]),
                (unsigned long long)cred.serial, (unsigned)p->counter,
                offpay__money_text(shortfall, cred.currency, m[1]),
                offpay__money_text(covered, cred.currency, m[2]),
                offpay__money_text(shortfall - covered, cred.currency, m[3]));
        }
    }
    paid = from_escrow + covered;

    if (kind == DOUBLE_SPEND)
        res->outcome = OFFPAY_SETTLE_DOUBLE_SPEND, case_kind = "double_spend";
    else if (bound_again)
        res->outcome = OFFPAY_SETTLE_DUPLICATE;
    else if (kind == DUPLICATE && again_here) /* the merchant's, no case */
        res->outcome = OFFPAY_SETTLE_DUPLICATE;
    else if (kind == DUPLICATE)
        res->outcome = OFFPAY_SETTLE_DUPLICATE, case_kind = "duplicate";
    else if (paid < want)
        res->outcome = OFFPAY_SETTLE_UNPAID;
    else if (covered > 0)
        res->outcome = OFFPAY_SETTLE_GUARANTEED;
    else
        res->outcome = OFFPAY_SETTLE_SETTLED;
    /* an overspend is of the escrow: a released credential's shortfall is
     * the wallet account's, emptied after the release as it may be (a lost
     * wallet's balance moved to the payer's new account), and evidence of
     * an overspend would not verify, unless its charges, this one with
     * what its escrow paid before, exceed its limit (a copy's codes held
     * back past the release: the evidence proves it, settlement.md §6) */
    if (case_kind == NULL && shortfall > 0 && unpaid != OFFPAY_ELATE &&
        !bound_again && !again_here) {
        int over = !cred.released;

        if (!over) {
            rc = late_over_limit(l, &cred, want, &over);
            if (rc != OFFPAY_OK)
                return rc;
        }
        if (over)
            case_kind = "overspend";
    }
    res->reason = paid < want ? unpaid : OFFPAY_OK;
    res->paid = paid;
    res->covered = covered;

    /* Record the result, then move the money: a new payment's row with
     * what its first presentment paid. */
    if (kind == FIRST) {
        rc = l->ops->payment_add(l->store, p->cred.serial, p->counter,
                                 c->item->code, c->item->code_len, p->amount,
                                 paid, c->now, &pay.id);
        if (rc != OFFPAY_OK)
            return rc;
    }
    memset(&pr, 0, sizeof pr);
    pr.payment = pay.id;
    pr.serial = p->cred.serial;
    pr.counter = p->counter;
    pr.terminal = c->terminal;
    memcpy(pr.code_hash, c->hash, sizeof c->hash);
    if (kind == DOUBLE_SPEND) { /* the other bytes are evidence */
        pr.code = c->item->code;
        pr.code_len = c->item->code_len;
    }
    pr.charged = want;
    pr.accepted_at = c->item->accepted_at;
    pr.terminal_seq = c->item->terminal_seq;
    pr.uploaded_at = c->now;
    pr.outcome = (int)res->outcome;
    pr.reason = (int)res->reason;
    pr.paid = paid;
    pr.covered = covered;
    rc = l->ops->presentment_add(l->store, &pr, &pid);
    if (rc == OFFPAY_OK && case_kind != NULL) {
        rc = l->ops->case_add(l->store, p->cred.serial, case_kind, pay.id, pid,
                              c->now, &case_id);
        if (rc == OFFPAY_OK)
            rc = l->ops->presentment_set_case(l->store, pid, case_id);
    }
    if (rc == OFFPAY_OK && late > 0) {
        rc = offpay__ledger_move(l, cred.wallet_account, cred.escrow_account,
                                 late, "late", pid, 0, NULL, c->now);
        if (rc == OFFPAY_OK)
            rc = l->ops->escrow_credit(l->store, cred.serial, late);
    }
    if (rc == OFFPAY_OK && covered > 0) {
        rc = offpay__ledger_move(l, guarantee, cred.escrow_account, covered,
                                 "cover", pid, case_id, NULL, c->now);
        if (rc == OFFPAY_OK)
            rc = l->ops->escrow_credit(l->store, cred.serial, covered);
    }
    if (rc == OFFPAY_OK && paid > 0) {
        rc = l->ops->escrow_debit(l->store, cred.serial, paid);
        if (rc == OFFPAY_EFUNDS)
            rc = OFFPAY_ESTORE; /* the escrow was just checked: a bug */
        if (rc == OFFPAY_OK)
            rc =
                offpay__ledger_move(l, cred.escrow_account, t->merchant_account,
                                    paid, "settle", pid, 0, NULL, c->now);
    }
    if (rc == OFFPAY_OK && paid > 0 && kind != FIRST)
        rc = l->ops->payment_charge(l->store, pay.id, paid);
    if (rc != OFFPAY_OK)
        return rc;

    /* Revocation: at once for a double spend or an overspend, after the
     * configured number of duplicate presentments. */
    if (case_kind != NULL && !cred.revoked) {
        uint64_t n = 0;

        if (kind == DUPLICATE) {
            rc = l->ops->case_count(l->store, p->cred.serial, "duplicate", &n);
            if (rc != OFFPAY_OK)
                return rc;
        }
        if (kind != DUPLICATE || n >= l->cfg.duplicates_to_revoke)
            rc = l->ops->cred_revoke(l->store, p->cred.serial, case_kind,
                                     c->now);
        if (rc == OFFPAY_EEXISTS)
            rc = OFFPAY_OK;
    }
    res->presentment = pid;
    res->case_id = case_id;
    if (rc == OFFPAY_OK)
        rc = receipts_hook(l, c, pay.id, pid, 0, res);
    return rc;
}

/* One item in its own transaction: its credential's row locked first. */
static offpay_err settle_one_tx(offpay_ledger *l, void *arg)
{
    struct settle_ctx *c = arg;
    offpay_err         rc;

    c->own_term.row_read = 0; /* a rerun reads it again */
    rc = l->ops->creds_lock(l->store, &c->p.cred.serial, 1);
    return rc == OFFPAY_OK ? settle_tx(l, c) : rc;
}

/* The checks that need no ledger state: the code decodes, its credential
 * was signed by an issuer key valid at the acceptance time, the wallet
 * signed the code, and the charge is within what the payer authorized. */
static offpay_err pure_checks(offpay_ledger *l, struct settle_ctx *c)
{
    const offpay_settle_item *it = c->item;
    offpay_risk               r;
    offpay_err                rc;

    rc = offpay_payment_decode(it->code, it->code_len, &c->p);
    if (rc != OFFPAY_OK)
        return rc;
    offpay_risk_defaults(c->p.cred.currency, &r);
    if ((uint64_t)it->accepted_at > (uint64_t)c->now + r.skew)
        return OFFPAY_ECODE_FUTURE;
    if (it->charged <= 0)
        return OFFPAY_EINVAL;
    if (it->charged > (int64_t)c->p.amount)
        return OFFPAY_EOVER_AUTHORIZED;
    return offpay__ledger_code_sigs(l, &c->p, it->code, it->accepted_at);
}

/* settle_int.h */
offpay_err offpay__ledger_code_sigs(offpay_ledger *l, const offpay_payment *p,
                                    const uint8_t *code, uint32_t at)
{
    const uint8_t *pk = NULL;
    offpay_err     rc;

    rc = offpay_bundle_key_for(&l->bundle, p->cred.kid, at, &pk);
    if (rc == OFFPAY_EUNKNOWN_KID && newer_key(l, p->cred.kid))
        return OFFPAY_EBUNDLE_OLD;
    if (rc != OFFPAY_OK)
        return rc;
    /* The issuer's signature once per credential (the cache is emptied
     * when the trust bundle changes); the wallet's on every code. */
    if (l->cache == NULL || !offpay__cred_cache_hit(l->cache, code + 2)) {
        rc = offpay__wallet_cred_sig(&p->cred, pk);
        if (rc != OFFPAY_OK)
            return rc;
        if (l->cache != NULL)
            offpay__cred_cache_put(l->cache, code + 2);
    }
    return offpay_payment_verify_sig(p);
}

offpay_err offpay__settle_pure(offpay_ledger *l, const offpay_settle_item *item,
                               uint32_t now, offpay_payment *p)
{
    struct settle_ctx c;
    offpay_err        rc;

    memset(&c, 0, sizeof c);
    c.item = item;
    c.now = now;
    rc = pure_checks(l, &c);
    *p = c.p;
    return rc;
}

offpay_err offpay__settle_in_tx(offpay_ledger *l, uint32_t terminal_id,
                                const offpay_settle_item *item,
                                const offpay_payment *p, uint32_t now,
                                offpay_settle_result *res)
{
    struct settle_ctx c;
    offpay_err        rc;

    memset(&c, 0, sizeof c);
    c.terminal = terminal_id;
    c.item = item;
    c.now = now;
    c.p = *p;
    crypto_generichash(c.hash, sizeof c.hash, item->code, item->code_len, NULL,
                       0);
    rc = settle_tx(l, &c);
    *res = c.res;
    return rc;
}

offpay_err offpay_ledger_settle(offpay_ledger *l, uint32_t terminal_id,
                                const offpay_settle_item *item, uint32_t now,
                                offpay_settle_result *res)
{
    struct settle_ctx c;
    offpay_err        rc;

    if (l == NULL || item == NULL || item->code == NULL || res == NULL)
        return OFFPAY_EINVAL;
    memset(res, 0, sizeof *res);
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    memset(&c, 0, sizeof c);
    c.terminal = terminal_id;
    c.item = item;
    c.now = now;
    rc = pure_checks(l, &c);
    if (rc != OFFPAY_OK) {
        res->outcome = OFFPAY_SETTLE_REJECTED;
        res->reason = rc;
        return OFFPAY_OK;
    }
    crypto_generichash(c.hash, sizeof c.hash, item->code, item->code_len, NULL,
                       0);
    rc = offpay__ledger_tx_serials(l, &c.p.cred.serial, 1, settle_one_tx, &c);
    if (rc == OFFPAY_OK)
        *res = c.res;
    return rc;
}

struct batch_ctx {
    struct settle_ctx *c;
    struct term_state  term; /* the terminal's, for all its items */
    size_t             n;
    uint64_t          *serials; /* of the items to settle */
    size_t             n_serials;
};

static offpay_err batch_tx(offpay_ledger *l, void *arg)
{
    struct batch_ctx *b = arg;
    offpay_err        rc;

    b->term.row_read = 0; /* each transaction (a rerun, a shard) reads it */
    /* every credential of the batch at once, in serial order, so that two
     * batches never wait for each other's credentials in a cycle */
    rc = l->ops->creds_lock(l->store, b->serials, b->n_serials);
    if (rc != OFFPAY_OK)
        return rc;
    for (size_t i = 0; i < b->n; i++) {
        /* one transaction per shard: this shard's items only */
        if (b->c[i].pure_rejected ||
            !offpay__ledger_on_shard(l, b->c[i].p.cred.serial))
            continue;
        rc = settle_tx(l, &b->c[i]);
        if (rc != OFFPAY_OK)
            return rc;
    }
    return OFFPAY_OK;
}

offpay_err offpay_ledger_settle_batch(offpay_ledger *l, uint32_t terminal_id,
                                      const offpay_settle_item *items, size_t n,
                                      uint32_t now, offpay_settle_result *res)
{
    struct batch_ctx b;
    offpay_err       rc;

    if (l == NULL || items == NULL || res == NULL || n == 0)
        return OFFPAY_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (items[i].code == NULL)
            return OFFPAY_EINVAL;
    memset(res, 0, n * sizeof *res);
    if (!l->has_trust)
        return OFFPAY_ECRYPTO;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.c = calloc(n, sizeof *b.c);
    b.serials = calloc(n, sizeof *b.serials);
    if (b.c == NULL || b.serials == NULL) {
        free(b.c);
        free(b.serials);
        return OFFPAY_ENOMEM;
    }
    /* The signature checks first, outside the store's write lock. */
    for (size_t i = 0; i < n; i++) {
        struct settle_ctx *c = &b.c[i];

        c->terminal = terminal_id;
        c->term = &b.term;
        c->item = &items[i];
        c->now = now;
        rc = pure_checks(l, c);
        if (rc != OFFPAY_OK) {
            c->pure_rejected = 1;
            c->res.outcome = OFFPAY_SETTLE_REJECTED;
            c->res.reason = rc;
            continue;
        }
        crypto_generichash(c->hash, sizeof c->hash, items[i].code,
                           items[i].code_len, NULL, 0);
        b.serials[b.n_serials++] = c->p.cred.serial;
    }
    rc = offpay__ledger_tx_serials(l, b.serials, b.n_serials, batch_tx, &b);
    if (rc == OFFPAY_OK)
        for (size_t i = 0; i < n; i++)
            res[i] = b.c[i].res;
    free(b.c);
    free(b.serials);
    return rc;
}
