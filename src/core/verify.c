/*
 * verify.c — offline checks of bundles, credentials and codes (verify.h).
 * The order of checks is the one of docs/protocol.md §5: the first failing
 * check names the error, so equal inputs always give equal errors.
 */
#include "offpay/verify.h"

#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "core/verify_int.h"

offpay_err offpay_bundle_verify(const uint8_t *bytes, size_t len,
                                const uint8_t        root_pk[OFFPAY_PK_BYTES],
                                offpay_trust_bundle *out)
{
    offpay_err rc;

    if (bytes == NULL || root_pk == NULL || out == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_bundle_decode(bytes, len, out);
    if (rc != OFFPAY_OK)
        return rc;
    /* The signature covers every byte before it. */
    return offpay_verify(OFFPAY_DS_BUNDLE, bytes, len - OFFPAY_SIG_BYTES,
                         out->sig, root_pk, OFFPAY_EBUNDLE_SIG);
}

offpay_err offpay_bundle_key_for(const offpay_trust_bundle *b, uint16_t kid,
                                 uint32_t now, const uint8_t **pk)
{
    if (b == NULL || pk == NULL)
        return OFFPAY_EINVAL;
    for (unsigned i = 0; i < b->n_keys; i++) {
        const offpay_bundle_key *k = &b->keys[i];

        if (k->kid != kid)
            continue;
        if (now < k->valid_from || now > k->valid_until)
            return OFFPAY_EKID_EXPIRED;
        *pk = k->pk;
        return OFFPAY_OK;
    }
    return OFFPAY_EUNKNOWN_KID;
}

/* Validity window [from, until] widened by skew on both sides. */
offpay_err offpay__window_check(uint32_t from, uint32_t until, uint32_t now,
                                uint32_t skew)
{
    if ((uint64_t)now + skew < from)
        return OFFPAY_ENOT_YET_VALID;
    if (now > (uint64_t)until + skew)
        return OFFPAY_EEXPIRED;
    return OFFPAY_OK;
}

offpay_err offpay__wallet_cred_sig(const offpay_wallet_cred *c,
                                   const uint8_t pk[OFFPAY_PK_BYTES])
{
    uint8_t msg[OFFPAY_WALLET_CRED_SIGNED_BYTES];

    offpay__wallet_cred_signed_bytes(c, msg);
    return offpay_verify(OFFPAY_DS_WALLET_CRED, msg, sizeof msg, c->sig, pk,
                         OFFPAY_ECRED_SIG);
}

offpay_err offpay_wallet_cred_verify(const offpay_trust_bundle *b,
                                     const offpay_wallet_cred *c, uint32_t now,
                                     uint32_t skew)
{
    const uint8_t *pk = NULL;
    offpay_err     rc;

    if (b == NULL || c == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_bundle_key_for(b, c->kid, now, &pk);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__wallet_cred_sig(c, pk);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay__window_check(c->valid_from, c->expires, now, skew);
}

offpay_err offpay_terminal_cred_verify(const offpay_trust_bundle  *b,
                                       const offpay_terminal_cred *c,
                                       uint32_t now, uint32_t skew)
{
    uint8_t        msg[OFFPAY_SIGNED_MAX];
    size_t         len = 0;
    const uint8_t *pk = NULL;
    offpay_err     rc;

    if (b == NULL || c == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_bundle_key_for(b, c->kid, now, &pk);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__terminal_cred_signed_bytes(c, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_verify(OFFPAY_DS_TERMINAL_CRED, msg, len, c->sig, pk,
                       OFFPAY_ECRED_SIG);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay__window_check(c->valid_from, c->expires, now, skew);
}

offpay_err offpay_payment_verify_sig(const offpay_payment *p)
{
    uint8_t    msg[OFFPAY_SIGNED_MAX];
    size_t     len = 0;
    offpay_err rc;

    if (p == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__payment_signed_bytes(p, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay_verify(OFFPAY_DS_PAYMENT, msg, len, p->sig, p->cred.wallet_pk,
                         OFFPAY_ECODE_SIG);
}

offpay_err offpay_code_time_check(uint32_t t, uint32_t now, uint32_t skew,
                                  uint32_t max_age)
{
    if ((uint64_t)t > (uint64_t)now + skew)
        return OFFPAY_ECODE_FUTURE;
    if ((uint64_t)now > (uint64_t)t + max_age)
        return OFFPAY_ECODE_TOO_OLD;
    return OFFPAY_OK;
}

offpay_err offpay_request_verify(const offpay_trust_bundle *b,
                                 const offpay_request *q, uint32_t now,
                                 uint32_t skew, uint32_t max_age)
{
    uint8_t    msg[OFFPAY_SIGNED_MAX];
    size_t     len = 0;
    offpay_err rc;

    if (b == NULL || q == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_terminal_cred_verify(b, &q->tcred, now, skew);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__request_signed_bytes(q, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_verify(OFFPAY_DS_REQUEST, msg, len, q->sig,
                       q->tcred.terminal_pk, OFFPAY_ECODE_SIG);
    if (rc != OFFPAY_OK)
        return rc;
    if (q->currency != q->tcred.currency)
        return OFFPAY_ECURRENCY;
    return offpay_code_time_check(q->time, now, skew, max_age);
}

offpay_err offpay_receipt_verify(const offpay_trust_bundle *b,
                                 const offpay_receipt *t, uint32_t now,
                                 uint32_t skew)
{
    uint8_t    msg[OFFPAY_SIGNED_MAX];
    size_t     len = 0;
    offpay_err rc;

    if (b == NULL || t == NULL)
        return OFFPAY_EINVAL;
    /* The terminal credential may have expired since: check it at the
     * receipt's own time, which its signature covers. */
    rc = offpay_terminal_cred_verify(b, &t->tcred, t->time, skew);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay__receipt_signed_bytes(t, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    rc = offpay_verify(OFFPAY_DS_RECEIPT, msg, len, t->sig,
                       t->tcred.terminal_pk, OFFPAY_ECODE_SIG);
    if (rc != OFFPAY_OK)
        return rc;
    if (t->currency != t->tcred.currency)
        return OFFPAY_ECURRENCY;
    /* A receipt dated after now cannot be judged at its own time. */
    if ((uint64_t)t->time > (uint64_t)now + skew)
        return OFFPAY_ECODE_FUTURE;
    return OFFPAY_OK;
}

offpay_err offpay_revlist_verify(const offpay_trust_bundle *b,
                                 const offpay_revlist      *l)
{
    uint8_t       *msg = NULL;
    size_t         len = 0, cap;
    const uint8_t *pk = NULL;
    offpay_err     rc;
    uint8_t        stack[OFFPAY_SIGNED_MAX];

    if (b == NULL || l == NULL)
        return OFFPAY_EINVAL;
    rc = offpay_bundle_key_for(b, l->kid, l->issued_at, &pk);
    if (rc != OFFPAY_OK)
        return rc;
    cap = OFFPAY_REVLIST_HEADER_BYTES + (size_t)l->n_serials * 8;
    msg = cap <= sizeof stack ? stack : malloc(cap);
    if (msg == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__revlist_signed_bytes(l, msg, cap, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_verify(OFFPAY_DS_REVLIST, msg, len, l->sig, pk,
                           OFFPAY_EREVLIST_SIG);
    if (msg != stack)
        free(msg);
    return rc;
}
