/*
 * offpay/verify.h — offline checks shared by terminals and wallets: trust
 * bundles, credentials, codes and revocation lists (docs/protocol.md §5).
 *
 * Pure functions: no I/O, no allocation, thread-safe. Each returns
 * OFFPAY_OK or the specific error of the first check that failed, in the
 * order docs/protocol.md gives. Times are unix seconds (u32).
 */
#ifndef OFFPAY_VERIFY_H
#define OFFPAY_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/crypto.h"
#include "offpay/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * offpay_bundle_verify — decode bytes as a trust bundle and check the root
 * signature. Errors: the decoder's, OFFPAY_EBUNDLE_SIG.
 */
OFFPAY_WUR offpay_err offpay_bundle_verify(
    const uint8_t *bytes, size_t len, const uint8_t root_pk[OFFPAY_PK_BYTES],
    offpay_trust_bundle *out);

/*
 * offpay_bundle_key_for — the public key of kid usable at time now.
 * *pk points into b (valid while b is). Errors: OFFPAY_EUNKNOWN_KID,
 * OFFPAY_EKID_EXPIRED (now outside the key's window).
 */
OFFPAY_WUR offpay_err offpay_bundle_key_for(const offpay_trust_bundle *b,
                                            uint16_t kid, uint32_t now,
                                            const uint8_t **pk);

/*
 * Credential checks, in order: issuer key (EUNKNOWN_KID, EKID_EXPIRED),
 * issuer signature (ECRED_SIG), validity window widened by skew seconds
 * (ENOT_YET_VALID, EEXPIRED).
 */
OFFPAY_WUR offpay_err offpay_wallet_cred_verify(const offpay_trust_bundle *b,
                                                const offpay_wallet_cred  *c,
                                                uint32_t now, uint32_t skew);
OFFPAY_WUR offpay_err offpay_terminal_cred_verify(const offpay_trust_bundle  *b,
                                                  const offpay_terminal_cred *c,
                                                  uint32_t now, uint32_t skew);

/* The wallet's signature on a payment code (ECODE_SIG). Credential not
 * checked: call offpay_wallet_cred_verify too (or use a cache). */
OFFPAY_WUR offpay_err offpay_payment_verify_sig(const offpay_payment *p);

/*
 * offpay_code_time_check — a code made at time t, seen at now: ECODE_FUTURE
 * when t > now + skew, ECODE_TOO_OLD when now > t + max_age.
 */
OFFPAY_WUR offpay_err offpay_code_time_check(uint32_t t, uint32_t now,
                                             uint32_t skew, uint32_t max_age);

/*
 * offpay_request_verify — what a wallet checks before showing a request:
 * the terminal credential (as above), the terminal's signature (ECODE_SIG),
 * currency equal to the credential's (ECURRENCY), and the code's time.
 */
OFFPAY_WUR offpay_err offpay_request_verify(const offpay_trust_bundle *b,
                                            const offpay_request      *q,
                                            uint32_t now, uint32_t skew,
                                            uint32_t max_age);

/* offpay_receipt_verify — terminal credential (judged at the receipt's own
 * time: a receipt may be read long after), signature (ECODE_SIG), currency
 * (ECURRENCY), and a receipt time not after now + skew (ECODE_FUTURE). */
OFFPAY_WUR offpay_err offpay_receipt_verify(const offpay_trust_bundle *b,
                                            const offpay_receipt      *t,
                                            uint32_t now, uint32_t skew);

/* offpay_revlist_verify — issuer key at issued_at and signature
 * (EREVLIST_SIG). */
OFFPAY_WUR offpay_err offpay_revlist_verify(const offpay_trust_bundle *b,
                                            const offpay_revlist      *l);

#ifdef __cplusplus
}
#endif
#endif
