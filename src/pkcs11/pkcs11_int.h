/*
 * pkcs11/pkcs11_int.h — internals of the PKCS#11 keys (token.c) for the
 * library's other parts (internal to liboffpay; not installed).
 */
#ifndef OFFPAY_PKCS11_INT_H
#define OFFPAY_PKCS11_INT_H

#include "offpay/pkcs11.h"

/*
 * offpay__pkcs11_detail_set — sets what offpay_pkcs11_detail() returns to
 * the calling thread (printf's fmt, truncated to its buffer): for a
 * failure found about a token's key outside token.c, such as an issuer's
 * key that is another key than the one it recorded, so that the CLI and
 * offpayd print it beside the error as they print the token's own.
 */
void offpay__pkcs11_detail_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * offpay__pkcs11_unmake — deletes from the token the key pair that
 * offpay_pkcs11_generate made for k (C_DestroyObject of both halves), for
 * a caller whose own step after the generation failed (terminal init
 * writing its directory), so that the failure leaves nothing in the token
 * and the next --generate-key under the label is not refused EEXISTS. A
 * key only opened, or NULL: nothing, OFFPAY_OK. k stays open (its handle
 * no longer signs). offpay_pkcs11_detail() is kept as it was (the failure
 * the caller reports); a pair the token would not delete is said on the
 * log, naming its label: OFFPAY_EPKCS11. Thread-safe as
 * offpay_pkcs11_sign.
 */
offpay_err offpay__pkcs11_unmake(offpay_pkcs11_key *k);

#endif /* OFFPAY_PKCS11_INT_H */
