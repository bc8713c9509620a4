/*
 * fuzz_revlist.c — libFuzzer target for offpay_revlist_decode (message.h),
 * the issuer-signed revocation list (type 0x40): the only decoder that
 * allocates, with an attacker-chosen count of up to OFFPAY_REVLIST_MAX
 * serials.
 *
 * Contract checked on every input:
 *   - decoding never crashes, never leaks (LeakSanitizer runs under
 *     libFuzzer), and fails only with a decoding error or OFFPAY_ENOMEM,
 *     leaving serials NULL and the count 0 on failure;
 *   - the length is checked before the allocation: a decoded list's size is
 *     exactly header + 8 * count + signature;
 *   - serials are strictly ascending and base_seq < seq;
 *   - a decoded list is canonical: re-encoding gives exactly the input, and
 *     does not fit in one byte less;
 *   - the bytes the issuer signs (offpay__revlist_signed_bytes) are exactly
 *     the input minus its final signature;
 *   - offpay_msg_decode_any agrees with the typed decoder.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

/* The errors offpay_revlist_decode may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED || rc == OFFPAY_ENOMEM;
}

/* Aborts unless l encodes to exactly data[0..size); buf has size + 1 bytes. */
static void check_encodes_to(const offpay_revlist *l, const uint8_t *data,
                             size_t size, uint8_t *buf)
{
    size_t len = 0;

    if (offpay_revlist_encode(l, buf, size + 1, &len) != OFFPAY_OK ||
        len != size || memcmp(buf, data, size) != 0)
        abort();
    if (offpay_revlist_encode(l, buf, size - 1, &len) != OFFPAY_ERANGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    offpay_revlist       l;
    offpay_msg           m;
    uint8_t             *buf = NULL;
    size_t               len = 0;
    offpay_err           rc, rc_any;

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_revlist_decode(data, size, &l);
    rc_any = offpay_msg_decode_any(data, size, &m);
    if (size >= 2 && data[0] == OFFPAY_PROTOCOL_VERSION &&
        data[1] == OFFPAY_MSG_REVLIST && rc_any != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc) || l.serials != NULL || l.n_serials != 0)
            abort();
        goto out;
    }
    if (m.type != OFFPAY_MSG_REVLIST || l.base_seq >= l.seq ||
        l.n_serials > OFFPAY_REVLIST_MAX ||
        (l.n_serials > 0) != (l.serials != NULL) ||
        size != OFFPAY_REVLIST_HEADER_BYTES + (size_t)l.n_serials * 8 +
                    OFFPAY_SIG_BYTES)
        abort();
    for (uint32_t i = 1; i < l.n_serials; i++)
        if (l.serials[i] <= l.serials[i - 1])
            abort();
    buf = malloc(size + 1);
    if (buf == NULL)
        abort();
    check_encodes_to(&l, data, size, buf);
    check_encodes_to(&m.u.revlist, data, size, buf);
    if (offpay__revlist_signed_bytes(&l, buf, size, &len) != OFFPAY_OK ||
        len != size - OFFPAY_SIG_BYTES || memcmp(buf, data, len) != 0 ||
        memcmp(l.sig, data + len, OFFPAY_SIG_BYTES) != 0)
        abort();
out:
    free(buf);
    offpay_revlist_free(&l);
    offpay_msg_free(&m);
    return 0;
}
