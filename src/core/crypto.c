/*
 * crypto.c — Ed25519 with domain separation, over libsodium (crypto.h).
 */
#include "offpay/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonutil.h"
#include "offpay/offpay.h"

offpay_err offpay_init(void)
{
    if (sodium_init() < 0)
        return OFFPAY_ECRYPTO;
    offpay__json_install_allocator();
    return OFFPAY_OK;
}

const char *offpay_version(void)
{
    return OFFPAY_VERSION_STRING;
}

int offpay_pk_usable(const uint8_t pk[OFFPAY_PK_BYTES])
{
    return pk != NULL && crypto_core_ed25519_is_valid_point(pk) == 1;
}

offpay_err offpay_keypair_generate(offpay_keypair *kp)
{
    if (kp == NULL)
        return OFFPAY_EINVAL;
    return crypto_sign_keypair(kp->pk, kp->sk) == 0 ? OFFPAY_OK
                                                    : OFFPAY_ECRYPTO;
}

offpay_err offpay_keypair_from_seed(const uint8_t   seed[OFFPAY_SEED_BYTES],
                                    offpay_keypair *kp)
{
    if (seed == NULL || kp == NULL)
        return OFFPAY_EINVAL;
    return crypto_sign_seed_keypair(kp->pk, kp->sk, seed) == 0 ? OFFPAY_OK
                                                               : OFFPAY_ECRYPTO;
}

void offpay_keypair_wipe(offpay_keypair *kp)
{
    if (kp != NULL)
        sodium_memzero(kp, sizeof *kp);
}

/* Builds domain || 0x00 || msg in stack (small messages) or heap memory. */
static uint8_t *framed(const char *domain, const uint8_t *msg, size_t len,
                       uint8_t *stack, size_t stack_cap, size_t *out_len)
{
    size_t   dlen = strlen(domain);
    size_t   n = dlen + 1 + len;
    uint8_t *buf = n <= stack_cap ? stack : malloc(n);

    if (buf == NULL)
        return NULL;
    memcpy(buf, domain, dlen);
    buf[dlen] = 0;
    if (len > 0)
        memcpy(buf + dlen + 1, msg, len);
    *out_len = n;
    return buf;
}

offpay_err offpay_sign(const char *domain, const uint8_t *msg, size_t len,
                       const uint8_t sk[OFFPAY_SK_BYTES],
                       uint8_t       sig[OFFPAY_SIG_BYTES])
{
    uint8_t    stack[1024];
    uint8_t   *buf;
    size_t     n = 0;
    offpay_err rc = OFFPAY_OK;

    if (domain == NULL || (msg == NULL && len > 0) || sk == NULL || sig == NULL)
        return OFFPAY_EINVAL;
    buf = framed(domain, msg, len, stack, sizeof stack, &n);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    if (crypto_sign_detached(sig, NULL, buf, n, sk) != 0)
        rc = OFFPAY_ECRYPTO;
    if (buf != stack)
        free(buf);
    return rc;
}

offpay_err offpay_verify(const char *domain, const uint8_t *msg, size_t len,
                         const uint8_t sig[OFFPAY_SIG_BYTES],
                         const uint8_t pk[OFFPAY_PK_BYTES],
                         offpay_err    bad_sig_err)
{
    uint8_t    stack[1024];
    uint8_t   *buf;
    size_t     n = 0;
    offpay_err rc = OFFPAY_OK;

    if (domain == NULL || (msg == NULL && len > 0) || sig == NULL || pk == NULL)
        return OFFPAY_EINVAL;
    buf = framed(domain, msg, len, stack, sizeof stack, &n);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    if (crypto_sign_verify_detached(sig, buf, n, pk) != 0)
        rc = bad_sig_err;
    if (buf != stack)
        free(buf);
    return rc;
}
