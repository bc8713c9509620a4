/*
 * verify_int.h — internal: the steps of a wallet credential's check
 * (verify.h), for the terminal, whose cache of verified credentials skips
 * the signature step and nothing else.
 */
#ifndef OFFPAY_CORE_VERIFY_INT_H
#define OFFPAY_CORE_VERIFY_INT_H

#include <stdint.h>

#include "offpay/message.h"

/* The issuer's signature on c under pk: OFFPAY_OK or OFFPAY_ECRED_SIG. */
offpay_err offpay__wallet_cred_sig(const offpay_wallet_cred *c,
                                   const uint8_t pk[OFFPAY_PK_BYTES]);

/* A validity window [from, until] widened by skew on both sides:
 * OFFPAY_ENOT_YET_VALID, OFFPAY_EEXPIRED or OFFPAY_OK. */
offpay_err offpay__window_check(uint32_t from, uint32_t until, uint32_t now,
                                uint32_t skew);

#endif
