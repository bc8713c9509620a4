/*
 * fuzz_payment.c — libFuzzer target for offpay_payment_decode (message.h),
 * both consumer-presented (type 0x10) and bound (type 0x11) payment codes.
 *
 * Contract checked on every input:
 *   - decoding never crashes and fails only with a decoding error;
 *   - a decoded code is canonical: re-encoding gives exactly the input,
 *     and does not fit in one byte less;
 *   - bound is set exactly for type 0x11, and the length is the fixed one;
 *   - the bytes the wallet signs (offpay__payment_signed_bytes, used by
 *     offpay_payment_verify_sig) are exactly the input minus its final
 *     signature, which is what the terminal verifies (check.c);
 *   - offpay_msg_decode_any agrees with the typed decoder.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

/* The errors offpay_payment_decode may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED || rc == OFFPAY_ECURRENCY_UNKNOWN;
}

/* Aborts unless p encodes to exactly data[0..size). */
static void check_encodes_to(const offpay_payment *p, const uint8_t *data,
                             size_t size)
{
    uint8_t again[OFFPAY_PAYMENT_BOUND_BYTES + 1];
    size_t  len = 0;

    if (offpay_payment_encode(p, again, sizeof again, &len) != OFFPAY_OK ||
        len != size || memcmp(again, data, size) != 0)
        abort();
    if (offpay_payment_encode(p, again, size - 1, &len) != OFFPAY_ERANGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    offpay_payment       p;
    offpay_msg           m;
    uint8_t              msg[OFFPAY_SIGNED_MAX];
    size_t               len = 0;
    offpay_err           rc, rc_any;

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_payment_decode(data, size, &p);
    rc_any = offpay_msg_decode_any(data, size, &m);
    if (size >= 2 && data[0] == OFFPAY_PROTOCOL_VERSION &&
        (data[1] == OFFPAY_MSG_PAYMENT ||
         data[1] == OFFPAY_MSG_PAYMENT_BOUND) &&
        rc_any != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc))
            abort();
        goto out;
    }
    if (size != (p.bound ? OFFPAY_PAYMENT_BOUND_BYTES : OFFPAY_PAYMENT_BYTES) ||
        p.bound != (data[1] == OFFPAY_MSG_PAYMENT_BOUND) ||
        m.type != (offpay_msg_type)data[1])
        abort();
    check_encodes_to(&p, data, size);
    check_encodes_to(&m.u.payment, data, size);
    if (offpay__payment_signed_bytes(&p, msg, sizeof msg, &len) != OFFPAY_OK ||
        len != size - OFFPAY_SIG_BYTES || memcmp(msg, data, len) != 0 ||
        memcmp(p.sig, data + len, OFFPAY_SIG_BYTES) != 0)
        abort();
out:
    offpay_msg_free(&m);
    return 0;
}
