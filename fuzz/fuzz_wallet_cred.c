/*
 * fuzz_wallet_cred.c — libFuzzer target for offpay_wallet_cred_decode
 * (message.h), the issuer-signed wallet credential (type 0x02).
 *
 * Contract checked on every input:
 *   - decoding never crashes and fails only with a decoding error;
 *   - a decoded credential is canonical: re-encoding gives exactly the
 *     input (OFFPAY_WALLET_CRED_BYTES long), and does not fit in one byte
 *     less;
 *   - the bytes the issuer signs (offpay__wallet_cred_signed_bytes) are
 *     exactly the input minus its final signature;
 *   - offpay_msg_decode_any agrees with the typed decoder.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

/* The errors offpay_wallet_cred_decode may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED || rc == OFFPAY_ECURRENCY_UNKNOWN;
}

/* Aborts unless c encodes to exactly data[0..size). */
static void check_encodes_to(const offpay_wallet_cred *c, const uint8_t *data,
                             size_t size)
{
    uint8_t again[OFFPAY_WALLET_CRED_BYTES + 1];
    size_t  len = 0;

    if (offpay_wallet_cred_encode(c, again, sizeof again, &len) != OFFPAY_OK ||
        len != size || memcmp(again, data, size) != 0)
        abort();
    if (offpay_wallet_cred_encode(c, again, size - 1, &len) != OFFPAY_ERANGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    offpay_wallet_cred   c;
    offpay_msg           m;
    uint8_t              msg[OFFPAY_WALLET_CRED_SIGNED_BYTES];
    offpay_err           rc, rc_any;

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_wallet_cred_decode(data, size, &c);
    rc_any = offpay_msg_decode_any(data, size, &m);
    if (size >= 2 && data[0] == OFFPAY_PROTOCOL_VERSION &&
        data[1] == OFFPAY_MSG_WALLET_CRED && rc_any != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc))
            abort();
        goto out;
    }
    if (size != OFFPAY_WALLET_CRED_BYTES || m.type != OFFPAY_MSG_WALLET_CRED)
        abort();
    check_encodes_to(&c, data, size);
    check_encodes_to(&m.u.wcred, data, size);
    offpay__wallet_cred_signed_bytes(&c, msg);
    if (sizeof msg != size - OFFPAY_SIG_BYTES ||
        memcmp(msg, data, sizeof msg) != 0 ||
        memcmp(c.sig, data + sizeof msg, OFFPAY_SIG_BYTES) != 0)
        abort();
out:
    offpay_msg_free(&m);
    return 0;
}
