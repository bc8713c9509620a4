/*
 * pkcs11/pkcs11_int.h — internals of the PKCS#11 keys (token.c) for the
 * library's other parts (internal to liboffpay; not installed).
 */
#ifndef OFFPAY_PKCS11_INT_H
#define OFFPAY_PKCS11_INT_H

/*
 * offpay__pkcs11_detail_set — sets what offpay_pkcs11_detail() returns to
 * the calling thread (printf's fmt, truncated to its buffer): for a
 * failure found about a token's key outside token.c, such as an issuer's
 * key that is another key than the one it recorded, so that the CLI and
 * offpayd print it beside the error as they print the token's own.
 */
void offpay__pkcs11_detail_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* OFFPAY_PKCS11_INT_H */
