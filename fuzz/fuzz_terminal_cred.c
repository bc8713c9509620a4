/*
 * fuzz_terminal_cred.c — libFuzzer target for offpay_terminal_cred_decode
 * (message.h), the issuer-signed terminal credential (type 0x03), the only
 * message with a variable-length text field (the merchant's name).
 *
 * Contract checked on every input:
 *   - decoding never crashes and fails only with a decoding error;
 *   - a decoded credential is canonical: re-encoding gives exactly the
 *     input, and does not fit in one byte less;
 *   - the name is 1..OFFPAY_NAME_MAX bytes, NUL-terminated at name_len,
 *     with no NUL inside (it is shown to payers as a C string);
 *   - the bytes the issuer signs (offpay__terminal_cred_signed_bytes) are
 *     exactly the input minus its final signature;
 *   - offpay_msg_decode_any agrees with the typed decoder.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

/* Largest encoded terminal credential (a full-length name). */
#define TCRED_MAX (2 + 57 + OFFPAY_NAME_MAX + OFFPAY_SIG_BYTES)

/* The errors offpay_terminal_cred_decode may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED || rc == OFFPAY_ECURRENCY_UNKNOWN;
}

/* Aborts unless c encodes to exactly data[0..size). */
static void check_encodes_to(const offpay_terminal_cred *c, const uint8_t *data,
                             size_t size)
{
    uint8_t again[TCRED_MAX + 1];
    size_t  len = 0;

    if (offpay_terminal_cred_encode(c, again, sizeof again, &len) !=
            OFFPAY_OK ||
        len != size || memcmp(again, data, size) != 0)
        abort();
    if (offpay_terminal_cred_encode(c, again, size - 1, &len) != OFFPAY_ERANGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    offpay_terminal_cred c;
    offpay_msg           m;
    uint8_t              msg[OFFPAY_SIGNED_MAX];
    size_t               len = 0;
    offpay_err           rc, rc_any;

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_terminal_cred_decode(data, size, &c);
    rc_any = offpay_msg_decode_any(data, size, &m);
    if (size >= 2 && data[0] == OFFPAY_PROTOCOL_VERSION &&
        data[1] == OFFPAY_MSG_TERMINAL_CRED && rc_any != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc))
            abort();
        goto out;
    }
    if (size > TCRED_MAX || m.type != OFFPAY_MSG_TERMINAL_CRED ||
        c.name_len == 0 || c.name_len > OFFPAY_NAME_MAX ||
        c.name[c.name_len] != '\0' || strlen(c.name) != c.name_len)
        abort();
    check_encodes_to(&c, data, size);
    check_encodes_to(&m.u.tcred, data, size);
    if (offpay__terminal_cred_signed_bytes(&c, msg, sizeof msg, &len) !=
            OFFPAY_OK ||
        len != size - OFFPAY_SIG_BYTES || memcmp(msg, data, len) != 0 ||
        memcmp(c.sig, data + len, OFFPAY_SIG_BYTES) != 0)
        abort();
out:
    offpay_msg_free(&m);
    return 0;
}
