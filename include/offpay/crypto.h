/*
 * offpay/crypto.h — the only door to cryptography: thin wrappers over
 * libsodium's Ed25519 with offpay's domain separation.
 *
 * Every offpay signature covers  domain || 0x00 || bytes,  where domain is
 * one of the OFFPAY_DS_* strings of message.h; a signature made for one
 * message type can never verify as another.
 */
#ifndef OFFPAY_CRYPTO_H
#define OFFPAY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"
#include "offpay/message.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OFFPAY_WUR __attribute__((warn_unused_result))
#else
#define OFFPAY_WUR
#endif

/* An Ed25519 key pair. sk is secret: wipe it with offpay_keypair_wipe(). */
typedef struct offpay_keypair {
    uint8_t pk[OFFPAY_PK_BYTES];
    uint8_t sk[OFFPAY_SK_BYTES];
} offpay_keypair;

/* Fresh key pair from the system's random source. Errors: OFFPAY_ECRYPTO. */
offpay_err offpay_keypair_generate(offpay_keypair *kp);

/* Deterministic key pair from a 32-byte seed (test vectors, key backup). */
offpay_err offpay_keypair_from_seed(const uint8_t   seed[OFFPAY_SEED_BYTES],
                                    offpay_keypair *kp);

/* 1 when pk is a public key libsodium accepts as a verifier (a canonical
 * encoding of a point of the main subgroup, not of small order), else 0.
 * Nothing is ever signed for, or trusted from, a key that is not.
 * Thread-safe. */
int offpay_pk_usable(const uint8_t pk[OFFPAY_PK_BYTES]);

/* Wipes the key pair (sodium_memzero). NULL is a no-op. */
void offpay_keypair_wipe(offpay_keypair *kp);

/*
 * offpay_sign — sig = Ed25519(sk, domain || 0x00 || msg[0..len)).
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_ECRYPTO.
 */
offpay_err offpay_sign(const char *domain, const uint8_t *msg, size_t len,
                       const uint8_t sk[OFFPAY_SK_BYTES],
                       uint8_t       sig[OFFPAY_SIG_BYTES]);

/*
 * offpay_verify — OFFPAY_OK when sig is pk's signature of
 * domain || 0x00 || msg; otherwise bad_sig_err (the caller names which
 * signature failed), or OFFPAY_ENOMEM.
 */
OFFPAY_WUR offpay_err offpay_verify(const char *domain, const uint8_t *msg,
                                    size_t        len,
                                    const uint8_t sig[OFFPAY_SIG_BYTES],
                                    const uint8_t pk[OFFPAY_PK_BYTES],
                                    offpay_err    bad_sig_err);

#ifdef __cplusplus
}
#endif
#endif
