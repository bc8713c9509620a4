/*
 * fuzz_bundle.c — libFuzzer target for offpay_bundle_decode (message.h),
 * the root-signed trust bundle (type 0x01): the issuer's signing keys with
 * their validity windows, a counted list.
 *
 * Contract checked on every input:
 *   - decoding never crashes and fails only with a decoding error;
 *   - a decoded bundle is canonical: re-encoding gives exactly the input,
 *     and does not fit in one byte less;
 *   - it holds 1..OFFPAY_BUNDLE_KEYS_MAX keys in strictly ascending kid
 *     order, each with valid_from <= valid_until, and its length is exactly
 *     what that count implies;
 *   - the bytes the root key signs (offpay__bundle_signed_bytes) are
 *     exactly the input minus its final signature, which is what
 *     offpay_bundle_verify checks;
 *   - offpay_msg_decode_any agrees with the typed decoder.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/message_int.h"
#include "offpay/offpay.h"

/* Encoded size of one key entry: kid, pk, valid_from, valid_until. */
#define KEY_BYTES (2 + OFFPAY_PK_BYTES + 4 + 4)
/* Header, seq, issued_at, count. */
#define HEAD_BYTES (2 + 4 + 4 + 1)
#define BUNDLE_MAX                                                             \
    (HEAD_BYTES + OFFPAY_BUNDLE_KEYS_MAX * KEY_BYTES + OFFPAY_SIG_BYTES)

/* The errors offpay_bundle_decode may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED;
}

/* Aborts unless b encodes to exactly data[0..size). */
static void check_encodes_to(const offpay_trust_bundle *b, const uint8_t *data,
                             size_t size)
{
    uint8_t again[BUNDLE_MAX + 1];
    size_t  len = 0;

    if (offpay_bundle_encode(b, again, sizeof again, &len) != OFFPAY_OK ||
        len != size || memcmp(again, data, size) != 0)
        abort();
    if (offpay_bundle_encode(b, again, size - 1, &len) != OFFPAY_ERANGE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    offpay_trust_bundle  b;
    offpay_msg           m;
    uint8_t              msg[BUNDLE_MAX];
    size_t               len = 0;
    offpay_err           rc, rc_any;

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    rc = offpay_bundle_decode(data, size, &b);
    rc_any = offpay_msg_decode_any(data, size, &m);
    if (size >= 2 && data[0] == OFFPAY_PROTOCOL_VERSION &&
        data[1] == OFFPAY_MSG_TRUST_BUNDLE && rc_any != rc)
        abort();
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc))
            abort();
        goto out;
    }
    if (m.type != OFFPAY_MSG_TRUST_BUNDLE || b.n_keys == 0 ||
        b.n_keys > OFFPAY_BUNDLE_KEYS_MAX ||
        size != HEAD_BYTES + (size_t)b.n_keys * KEY_BYTES + OFFPAY_SIG_BYTES)
        abort();
    for (unsigned i = 0; i < b.n_keys; i++)
        if (b.keys[i].valid_from > b.keys[i].valid_until ||
            (i > 0 && b.keys[i].kid <= b.keys[i - 1].kid))
            abort();
    check_encodes_to(&b, data, size);
    check_encodes_to(&m.u.bundle, data, size);
    if (offpay__bundle_signed_bytes(&b, msg, sizeof msg, &len) != OFFPAY_OK ||
        len != size - OFFPAY_SIG_BYTES || memcmp(msg, data, len) != 0 ||
        memcmp(b.sig, data + len, OFFPAY_SIG_BYTES) != 0)
        abort();
out:
    offpay_msg_free(&m);
    return 0;
}
