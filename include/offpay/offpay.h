/*
 * offpay/offpay.h — umbrella header of liboffpay: include this one.
 *
 * Call offpay_init() once before anything else (it initializes libsodium);
 * it is safe to call again and from several threads.
 */
#ifndef OFFPAY_OFFPAY_H
#define OFFPAY_OFFPAY_H

#include "offpay/error.h"
#include "offpay/core.h"
#include "offpay/message.h"
#include "offpay/crypto.h"
#include "offpay/verify.h"
#include "offpay/issuer.h"
#include "offpay/wallet.h"
#include "offpay/terminal.h"
#include "offpay/qr.h"
#include "offpay/settle.h"
#include "offpay/nfc.h"
#include "offpay/pkcs11.h"

#ifdef __cplusplus
extern "C" {
#endif

/* offpay_init — initialize the library. Errors: OFFPAY_ECRYPTO. */
offpay_err offpay_init(void);

/* The library version as "MAJOR.MINOR.PATCH". Static string. */
const char *offpay_version(void);

/* The version these headers belong to (CMakeLists.txt checks that it is
 * the project's). While the version is 0.x a release may change the
 * structures a caller allocates: a program compares it with
 * offpay_version() at start-up and refuses to run on a mismatch. */
#define OFFPAY_HEADER_VERSION "0.31.0"

#ifdef __cplusplus
}
#endif
#endif
