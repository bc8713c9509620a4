/*
 * wallet/wallet_int.h — internal to liboffpay (not installed): the wallet's
 * state loader and writer on their own, without a file, a lock or a
 * passphrase, for the fuzz target (fuzz/fuzz_wallet_state.c) and tests.
 */
#ifndef OFFPAY_WALLET_INT_H
#define OFFPAY_WALLET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/wallet.h"

/*
 * offpay__wallet_state_load — parse a decrypted wallet state (the JSON
 * described at the top of wallet.c, format 1 or 2) into a new wallet
 * handle that has no file: every call that would save fails. The parser is
 * strict: exact key sets, types and ranges, no duplicate credentials or
 * codes, every code's counter below its credential's next counter, every
 * receipt decodable and matching its code, at most
 * OFFPAY_WALLET_RECEIPTS_PER_CODE per code. Needs offpay_init().
 * On success *out is the handle (offpay_wallet_close it); else NULL.
 * Errors: OFFPAY_EINVAL (NULL out, or NULL plain with len > 0),
 * OFFPAY_ECORRUPT (anything malformed, or len above the wallet file's
 * plaintext limit), OFFPAY_ENOMEM.
 */
offpay_err offpay__wallet_state_load(const uint8_t *plain, size_t len,
                                     offpay_wallet **out);

/*
 * offpay__wallet_state_dump — the state of w as the JSON the wallet file
 * holds (always the current format, 2). *text is NUL-terminated, *len its
 * length; it holds the wallet's secret key seed: free it with
 * offpay__json_free (core/jsonutil.h), which wipes it after offpay_init().
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM, OFFPAY_ECRYPTO.
 */
offpay_err offpay__wallet_state_dump(const offpay_wallet *w, char **text,
                                     size_t *len);

#endif
