/*
 * check.c — the terminal's offline verification pipeline: every check of
 * docs/protocol.md §5.3, in its order, on in-memory state only.
 *
 * The order matters twice: the first failing check names the error, and
 * signatures come before anything that trusts a field, so a code with any
 * byte changed fails at a signature (or earlier) and never reaches a rule
 * that would read the changed field.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/core.h"
#include "core/credcache.h"
#include "core/verify_int.h"
#include "offpay/verify.h"
#include "terminal/terminal_int.h"

offpay_err offpay__terminal_decode(const char *text, size_t n, uint8_t *code,
                                   size_t cap, size_t *len, offpay_payment *p)
{
    uint8_t   *bytes = NULL;
    size_t     blen = 0;
    offpay_err rc;

    if (n > 5 + OFFPAY_BASE45_ENCODED_LEN(OFFPAY_PAYMENT_BOUND_BYTES)) {
        /* longer than any payment: a request or a receipt scanned by
         * mistake says so (ETYPE, from its first two bytes), anything else
         * is too big */
        rc = offpay_text_decode(text, 8, &bytes, &blen);
        if (rc == OFFPAY_OK && blen == 2 &&
            (bytes[1] == OFFPAY_MSG_REQUEST || bytes[1] == OFFPAY_MSG_RECEIPT))
            rc = OFFPAY_ETYPE;
        else
            rc = OFFPAY_ETOOBIG;
        free(bytes);
        return rc;
    }
    rc = offpay_text_decode(text, n, &bytes, &blen);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_payment_decode(bytes, blen, p);
    if (rc == OFFPAY_OK) {
        if (blen > cap) {
            rc = OFFPAY_ETOOBIG;
        } else {
            memcpy(code, bytes, blen);
            *len = blen;
        }
    }
    free(bytes);
    return rc;
}

/*
 * The wallet credential, in offpay_wallet_cred_verify's order: key window,
 * issuer signature (skipped when these exact credential bytes were verified
 * before under the current bundle), validity window.
 */
static offpay_err check_cred(offpay_terminal *t, const offpay_wallet_cred *c,
                             const uint8_t *code, uint32_t now)
{
    /* The credential's body and signature sit right after the header. */
    const uint8_t *cbytes = code + 2;
    const uint8_t *pk = NULL;
    offpay_err     rc;
    int            cached;

    rc = offpay_bundle_key_for(&t->bundle, c->kid, now, &pk);
    if (rc != OFFPAY_OK)
        return rc;
    cached = t->cache_on && t->cache != NULL &&
             offpay__cred_cache_hit(t->cache, cbytes);
    if (!cached) {
        rc = offpay__wallet_cred_sig(c, pk);
        if (rc != OFFPAY_OK)
            return rc;
        if (t->cache_on && t->cache != NULL)
            offpay__cred_cache_put(t->cache, cbytes);
    }
    rc = offpay__window_check(c->valid_from, c->expires, now, t->risk.skew);
    /* expired before the cut revoked serials were let go by: its serial
     * may be one of them (offpay__terminal_revoked_drop), so refused
     * whatever the clock says */
    if (rc == OFFPAY_OK && c->expires < t->expired_before)
        rc = OFFPAY_EEXPIRED;
    return rc;
}

static int is_revoked(const offpay_terminal *t, uint64_t serial)
{
    size_t lo = 0, hi = t->n_revoked;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->revoked[mid] == serial)
            return 1;
        if (t->revoked[mid] < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

offpay_err offpay__terminal_verdict(offpay_terminal *t, const offpay_payment *p,
                                    const uint8_t *code, size_t code_len,
                                    int64_t charge, uint32_t now,
                                    int64_t *charge_out, long *req_index)
{
    const offpay_risk *r = &t->risk;
    offpay__seen      *seen;
    int64_t            floor, cumul, cap;
    offpay_err         rc;

    *req_index = -1;
    /* 0. the terminal itself: a credential, a sane clock, in its window */
    rc = offpay__terminal_self_ok(t, now);
    if (rc != OFFPAY_OK)
        return rc;

    /* 1. credential, 2. the wallet's signature on the code */
    rc = check_cred(t, &p->cred, code, now);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_verify(OFFPAY_DS_PAYMENT, code, code_len - OFFPAY_SIG_BYTES,
                       p->sig, p->cred.wallet_pk, OFFPAY_ECODE_SIG);
    if (rc != OFFPAY_OK)
        return rc;

    /* 3. replay: this (serial, counter) was accepted here before (the
     * caller asks the journal whether it is these bytes or a double
     * spend) */
    seen = offpay__seen_find(&t->tables, p->cred.serial, p->counter);
    if (seen != NULL)
        return OFFPAY_EREPLAY;

    /* 4. revocation, 5. currency, 6. the code's age */
    if (is_revoked(t, p->cred.serial))
        return OFFPAY_EREVOKED;
    if (p->cred.currency != t->currency)
        return OFFPAY_ECURRENCY;
    /* An unbound code is a bearer token for as long as it is acceptable:
     * it gets its own, shorter age. */
    rc = offpay_code_time_check(p->time, now, r->skew,
                                p->bound ? r->max_code_age
                                         : r->max_code_age_unbound);
    if (rc != OFFPAY_OK)
        return rc;

    /* 7. binding */
    if (p->bound) {
        const offpay__request *q = NULL;

        if (p->merchant_id != t->cred.merchant_id)
            return OFFPAY_EWRONG_MERCHANT;
        for (size_t i = 0; i < t->n_requests; i++)
            if (sodium_memcmp(t->requests[i].nonce, p->nonce,
                              OFFPAY_NONCE_BYTES) == 0) {
                q = &t->requests[i];
                *req_index = (long)i;
            }
        if (q == NULL)
            return OFFPAY_EWRONG_NONCE;
        if ((uint64_t)now > (uint64_t)q->created + r->request_ttl)
            return OFFPAY_EREQUEST_EXPIRED;
        if (p->amount != q->amount || (charge != 0 && charge != q->amount))
            return OFFPAY_EAMOUNT_MISMATCH;
        charge = q->amount;
    } else {
        if (!(p->cred.flags & OFFPAY_CRED_ALLOW_UNBOUND))
            return OFFPAY_EUNBOUND_REFUSED;
        if (charge <= 0)
            return OFFPAY_EINVAL;
    }

    /* 8. amounts: the credential's limit, the payer's authorization, the
     * per-payment floor, the cumulative limit here */
    if (p->amount > p->cred.limit)
        return OFFPAY_EOVER_LIMIT;
    if (charge > (int64_t)p->amount)
        return OFFPAY_EOVER_AUTHORIZED;
    floor = p->bound ? r->floor_bound : r->floor_unbound;
    if (charge > floor)
        return OFFPAY_EOVER_FLOOR;
    cumul = offpay__cumul_get(&t->tables, p->cred.serial);
    cap = r->cumulative < (int64_t)p->cred.limit ? r->cumulative
                                                 : (int64_t)p->cred.limit;
    if (cumul > cap || charge > cap - cumul)
        return OFFPAY_EOVER_CUMULATIVE;

    /* 9. the terminal's own offline limits */
    rc = offpay__terminal_offline_ok(t, now);
    if (rc != OFFPAY_OK)
        return rc;

    *charge_out = charge;
    return OFFPAY_OK;
}

offpay_err offpay__terminal_self_ok(const offpay_terminal *t, uint32_t now)
{
    const uint8_t *pk = NULL;
    offpay_risk    d;

    /* An exported copy, or a file that could not be upgraded: reading
     * only (terminal.c, journal_upgrade). */
    if (t->frozen != OFFPAY_OK)
        return t->frozen;
    if (!t->has_cred)
        return OFFPAY_ENO_TERMINAL_CRED;
    if (t->key_missing)
        return OFFPAY_ETERMINAL_KEY_MISSING;
    /* offpayd revoked this terminal: what it accepts now is never paid
     * (docs/settlement.md §8) */
    if (t->revoked_at != 0 && t->revoked_id == t->cred.terminal_id)
        return OFFPAY_ETERMINAL_REVOKED;
    /* its rotation or decommission went unanswered: offpayd may have
     * revoked it (lifecycle.c) */
    if (t->retiring_at != 0 && t->retiring_id == t->cred.terminal_id)
        return OFFPAY_ETERMINAL_RETIRING;
    /* A clock set back would reopen expired credentials, old codes and a
     * stale list: refuse until it is fixed (or a sync vouches for it). */
    if ((uint64_t)now + t->risk.skew < t->high_water)
        return OFFPAY_ECLOCK_BEHIND;
    /* its own credential's term is settlement's to judge, with the
     * default skew, however wide this terminal's is set (settlement.md §8)
     */
    offpay_risk_defaults(t->currency, &d);
    if (offpay__window_check(t->cred.valid_from, t->cred.expires, now,
                             t->risk.skew < d.skew ? t->risk.skew : d.skew) !=
        OFFPAY_OK)
        return OFFPAY_ETERMINAL_EXPIRED;
    /* the issuer key that signed the credential, as settlement and a
     * case's evidence judge it (docs/settlement.md §8): a retired key, or
     * a time outside its window, and nothing accepted would be paid */
    if (offpay_bundle_key_for(&t->bundle, t->cred.kid, now, &pk) != OFFPAY_OK)
        return OFFPAY_ETERMINAL_EXPIRED;
    return OFFPAY_OK;
}

offpay_err offpay__terminal_offline_ok(const offpay_terminal *t, uint32_t now)
{
    const offpay_risk *r = &t->risk;

    if (r->max_offline_payments != 0 &&
        t->payments_since_sync >= r->max_offline_payments)
        return OFFPAY_ESYNC_REQUIRED;
    if (r->max_offline_hours != 0 &&
        (uint64_t)now > (uint64_t)t->last_sync + 3600ULL * r->max_offline_hours)
        return OFFPAY_ESYNC_REQUIRED;
    if (r->max_revlist_age != 0 &&
        (uint64_t)now > (uint64_t)t->revlist_issued_at + r->max_revlist_age)
        return OFFPAY_EREVLIST_STALE;
    /* payments offpayd has not decided for too long: only an upload ends
     * it (a list carried in does not), before they pass its late window */
    if (r->max_upload_days != 0 && t->oldest_waiting != 0 &&
        (uint64_t)now >
            (uint64_t)t->oldest_waiting + 86400ULL * r->max_upload_days)
        return OFFPAY_ESYNC_REQUIRED;
    return OFFPAY_OK;
}
