/*
 * issuer/issuer_int.h — internals of the issuer's state (store.c), for the
 * fuzz target and tests (internal to liboffpay; not installed).
 */
#ifndef OFFPAY_ISSUER_INT_H
#define OFFPAY_ISSUER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/issuer.h"

/*
 * offpay__issuer_state_check — run the loader of issuer.sealed's plaintext
 * (the JSON document described in store.c) over text[0..len), as
 * offpay_issuer_open does after decrypting; on success, serialize the
 * parsed state and parse that again (it must round-trip). No file is
 * touched. Errors: OFFPAY_ECORRUPT (anything not a well-formed state),
 * OFFPAY_EVERSION (the first format, which holds the root key),
 * OFFPAY_ENOMEM.
 */
offpay_err offpay__issuer_state_check(const uint8_t *text, size_t len);

/*
 * offpay__issuer_revoke_any — offpay_issuer_revoke without the check that
 * serial was issued: for tests of terminals and wallets that need serials
 * no issuer hands out (0, 2^63 and above). Never used by the CLI.
 */
offpay_err offpay__issuer_revoke_any(offpay_issuer *is, uint64_t serial,
                                     uint32_t now);

#endif /* OFFPAY_ISSUER_INT_H */
