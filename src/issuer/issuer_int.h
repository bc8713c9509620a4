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

/*
 * offpay__issuer_token_key_is — whether key, opened from the URI that
 * issuer key kid is kept under, is that key (the public key issuer.sealed
 * records for it). OFFPAY_OK; else OFFPAY_EPKCS11 with
 * offpay_pkcs11_detail() naming the URI and both public keys (the token
 * replaced, or the label reused for another key); OFFPAY_ENOTFOUND when
 * kid is no key of is kept in a token. For offpayd, which opens that URI
 * itself; the issuer's own signing checks the same.
 */
offpay_err offpay__issuer_token_key_is(const offpay_issuer *is, uint16_t kid,
                                       const offpay_pkcs11_key *key);

#endif /* OFFPAY_ISSUER_INT_H */
