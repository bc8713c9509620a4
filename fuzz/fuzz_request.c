/*
 * fuzz_request.c — libFuzzer target for offpay_request_decode (message.h),
 * the terminal-signed request code (type 0x20) a wallet scans and shows to
 * the payer before confirming.
 *
 * Contract checked on every input:
 *   - decoding never crashes and fails only with a decoding error;
 *   - a decoded request is canonical: re-encoding gives exactly the input,
 *     and does not fit in one byte less;
 *   - the merchant's name is NUL-terminated with no NUL inside;
 *   - the bytes the terminal signs (offpay__request_signed_bytes, used by
 *     offpay_request_verify) are exactly the input minus its final
 *     signature;
 *   - offpay_msg_decode_any agrees with the typed decoder.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

#define BUF_MAX (OFFPAY_SIGNED_MAX + OFFPAY_SIG_BYTES)

/* The errors offpay_request_decode may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED || rc == OFFPAY_ECURRENCY_UNKNOWN;
}

/* Aborts unless q encodes to exactly data[0..size). */
static void check_encodes_to(const offpay_request *q, const uint8_t *data,
                             size_t size)
{
    uint8_t again[BUF_MAX];
    size_t  len = 0;

    if (offpay_request_encode(q, again, sizeof again, &len) != OFFPAY_OK ||
        len != size || memcmp(again, data, size) != 0)
        abort();
    if (offpay_request_encode(q, again, size - 1, &len) != OFFPAY_ERANGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    offpay_request       q;
    offpay_msg           m;
    uint8_t              msg[OFFPAY_SIGNED_MAX];
    size_t               len = 0;
    offpay_err           rc, rc_any;

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_request_decode(data, size, &q);
    rc_any = offpay_msg_decode_any(data, size, &m);
    if (size >= 2 && data[0] == OFFPAY_PROTOCOL_VERSION &&
        data[1] == OFFPAY_MSG_REQUEST && rc_any != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc))
            abort();
        goto out;
    }
    if (size > BUF_MAX || m.type != OFFPAY_MSG_REQUEST || q.amount == 0 ||
        strlen(q.tcred.name) != q.tcred.name_len)
        abort();
    check_encodes_to(&q, data, size);
    check_encodes_to(&m.u.request, data, size);
    if (offpay__request_signed_bytes(&q, msg, sizeof msg, &len) != OFFPAY_OK ||
        len != size - OFFPAY_SIG_BYTES || memcmp(msg, data, len) != 0 ||
        memcmp(q.sig, data + len, OFFPAY_SIG_BYTES) != 0)
        abort();
out:
    offpay_msg_free(&m);
    return 0;
}
