/*
 * sign.c — the issuer's pure signing functions (issuer.h): each one writes
 * the message's signed bytes and signs them under the message's domain.
 */
#include <sodium.h>
#include <stdlib.h>

#include "core/message_int.h"
#include "offpay/issuer.h"
#include "offpay/pkcs11.h"

offpay_err offpay_issuer_sign_bundle_by(const offpay_signer *sk,
                                        offpay_trust_bundle *b)
{
    uint8_t    msg[OFFPAY_SIGNED_MAX + OFFPAY_BUNDLE_KEYS_MAX * 42];
    size_t     len = 0;
    offpay_err rc;

    if (sk == NULL || b == NULL)
        return OFFPAY_EINVAL;
    rc = offpay__bundle_signed_bytes(b, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay_signer_sign(sk, OFFPAY_DS_BUNDLE, msg, len, b->sig);
}

offpay_err offpay_issuer_sign_wallet_cred_by(const offpay_signer *sk,
                                             offpay_wallet_cred  *c)
{
    uint8_t msg[OFFPAY_WALLET_CRED_SIGNED_BYTES];
    uint8_t check[OFFPAY_WALLET_CRED_BYTES];
    size_t  len = 0;

    if (sk == NULL || c == NULL)
        return OFFPAY_EINVAL;
    if (!offpay_pk_usable(c->wallet_pk))
        return OFFPAY_EWEAK_KEY;
    /* The encoder validates every field; refuse to sign what it refuses. */
    if (offpay_wallet_cred_encode(c, check, sizeof check, &len) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    offpay__wallet_cred_signed_bytes(c, msg);
    return offpay_signer_sign(sk, OFFPAY_DS_WALLET_CRED, msg, sizeof msg,
                              c->sig);
}

offpay_err offpay_issuer_sign_terminal_cred_by(const offpay_signer  *sk,
                                               offpay_terminal_cred *c)
{
    uint8_t    msg[OFFPAY_SIGNED_MAX];
    size_t     len = 0;
    offpay_err rc;

    if (sk == NULL || c == NULL)
        return OFFPAY_EINVAL;
    if (!offpay_pk_usable(c->terminal_pk))
        return OFFPAY_EWEAK_KEY;
    /* The encoder validates every field; refuse to sign what it refuses. */
    if (offpay_terminal_cred_encode(c, msg, sizeof msg, &len) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    rc = offpay__terminal_cred_signed_bytes(c, msg, sizeof msg, &len);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay_signer_sign(sk, OFFPAY_DS_TERMINAL_CRED, msg, len, c->sig);
}

offpay_err offpay_issuer_sign_revlist_by(const offpay_signer *sk,
                                         offpay_revlist      *l)
{
    uint8_t   *msg;
    size_t     len = 0, cap;
    offpay_err rc;

    if (sk == NULL || l == NULL || l->n_serials > OFFPAY_REVLIST_MAX)
        return OFFPAY_EINVAL;
    cap = OFFPAY_REVLIST_HEADER_BYTES + (size_t)l->n_serials * 8;
    msg = malloc(cap);
    if (msg == NULL)
        return OFFPAY_ENOMEM;
    rc = offpay__revlist_signed_bytes(l, msg, cap, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_signer_sign(sk, OFFPAY_DS_REVLIST, msg, len, l->sig);
    free(msg);
    return rc;
}

offpay_err offpay_issuer_sign_bundle(const uint8_t        sk[OFFPAY_SK_BYTES],
                                     offpay_trust_bundle *b)
{
    offpay_signer s = {sk, NULL};

    if (sk == NULL)
        return OFFPAY_EINVAL;
    return offpay_issuer_sign_bundle_by(&s, b);
}

offpay_err offpay_issuer_sign_wallet_cred(const uint8_t sk[OFFPAY_SK_BYTES],
                                          offpay_wallet_cred *c)
{
    offpay_signer s = {sk, NULL};

    if (sk == NULL)
        return OFFPAY_EINVAL;
    return offpay_issuer_sign_wallet_cred_by(&s, c);
}

offpay_err offpay_issuer_sign_terminal_cred(const uint8_t sk[OFFPAY_SK_BYTES],
                                            offpay_terminal_cred *c)
{
    offpay_signer s = {sk, NULL};

    if (sk == NULL)
        return OFFPAY_EINVAL;
    return offpay_issuer_sign_terminal_cred_by(&s, c);
}

offpay_err offpay_issuer_sign_revlist(const uint8_t   sk[OFFPAY_SK_BYTES],
                                      offpay_revlist *l)
{
    offpay_signer s = {sk, NULL};

    if (sk == NULL)
        return OFFPAY_EINVAL;
    return offpay_issuer_sign_revlist_by(&s, l);
}
