/*
 * fuzz_text.c — libFuzzer target for the text form of messages
 * (offpay_text_decode / offpay_text_encode, message.h): what a camera or a
 * keyboard-wedge scanner hands the library, then offpay_msg_decode_any on
 * the bytes.
 *
 * The input is used twice:
 *   - as text: offpay_text_decode never crashes, fails only with its
 *     documented errors, and never yields more than OFFPAY_MSG_MAX_BYTES or
 *     a type byte that does not match the prefix; when the bytes then
 *     decode as a message, offpay_text_encode of them gives exactly the
 *     input text (one text per message) and the decoded value re-encodes to
 *     exactly those bytes;
 *   - as bytes: when they decode as a message, their text form decodes back
 *     to the same bytes.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

/* The errors offpay_text_decode may return for non-NULL input. */
static int text_error(offpay_err rc)
{
    return rc == OFFPAY_EPREFIX || rc == OFFPAY_EBASE45 ||
           rc == OFFPAY_ETOOBIG || rc == OFFPAY_ETRUNCATED ||
           rc == OFFPAY_ENOMEM;
}

/* The errors offpay_msg_decode_any may return for non-NULL input. */
static int decode_error(offpay_err rc)
{
    return rc == OFFPAY_ETRUNCATED || rc == OFFPAY_ETRAILING ||
           rc == OFFPAY_EVERSION || rc == OFFPAY_ETYPE ||
           rc == OFFPAY_EMALFORMED || rc == OFFPAY_ECURRENCY_UNKNOWN ||
           rc == OFFPAY_ENOMEM;
}

/* Aborts unless the decoded message m encodes back to bytes[0..len). */
static void check_value(const offpay_msg *m, const uint8_t *bytes, size_t len)
{
    uint8_t   *buf = malloc(len + 1);
    size_t     out = 0;
    offpay_err rc;

    if (buf == NULL)
        abort();
    switch (m->type) {
    case OFFPAY_MSG_TRUST_BUNDLE:
        rc = offpay_bundle_encode(&m->u.bundle, buf, len + 1, &out);
        break;
    case OFFPAY_MSG_WALLET_CRED:
        rc = offpay_wallet_cred_encode(&m->u.wcred, buf, len + 1, &out);
        break;
    case OFFPAY_MSG_TERMINAL_CRED:
        rc = offpay_terminal_cred_encode(&m->u.tcred, buf, len + 1, &out);
        break;
    case OFFPAY_MSG_PAYMENT:
    case OFFPAY_MSG_PAYMENT_BOUND:
        rc = offpay_payment_encode(&m->u.payment, buf, len + 1, &out);
        break;
    case OFFPAY_MSG_REQUEST:
        rc = offpay_request_encode(&m->u.request, buf, len + 1, &out);
        break;
    case OFFPAY_MSG_RECEIPT:
        rc = offpay_receipt_encode(&m->u.receipt, buf, len + 1, &out);
        break;
    case OFFPAY_MSG_REVLIST:
        rc = offpay_revlist_encode(&m->u.revlist, buf, len + 1, &out);
        break;
    default:
        abort(); /* decode_any succeeded on a type it does not know */
    }
    if (rc != OFFPAY_OK || out != len || memcmp(buf, bytes, len) != 0)
        abort();
    free(buf);
}

/* data as scanned text. */
static void fuzz_as_text(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    uint8_t    *bytes = NULL;
    char       *again = NULL;
    size_t      len = 0;
    offpay_msg  m;
    const char *prefix;
    offpay_err  rc;

    rc = offpay_text_decode(text, size, &bytes, &len);
    if (rc != OFFPAY_OK) {
        if (!text_error(rc) || bytes != NULL || len != 0)
            abort();
        return;
    }
    if (bytes == NULL || len < 2 || len > OFFPAY_MSG_MAX_BYTES)
        abort();
    prefix = offpay_msg_prefix((offpay_msg_type)bytes[1]);
    if (prefix == NULL || size < strlen(prefix) ||
        memcmp(prefix, text, strlen(prefix)) != 0)
        abort();
    rc = offpay_msg_decode_any(bytes, len, &m);
    if (rc != OFFPAY_OK) {
        if (!decode_error(rc))
            abort();
        goto out;
    }
    if ((uint8_t)m.type != bytes[1])
        abort();
    check_value(&m, bytes, len);
    if (offpay_text_encode(bytes, len, &again) != OFFPAY_OK || again == NULL ||
        strlen(again) != size || memcmp(again, text, size) != 0)
        abort();
out:
    offpay_msg_free(&m);
    free(again);
    free(bytes);
}

/* data as message bytes: a valid message's text form decodes back. */
static void fuzz_as_bytes(const uint8_t *data, size_t size)
{
    offpay_msg m;
    char      *text = NULL;
    uint8_t   *back = NULL;
    size_t     len = 0;

    if (offpay_msg_decode_any(data, size, &m) != OFFPAY_OK)
        return; /* offpay_msg_decode_any on bytes is fuzzed by the others */
    offpay_msg_free(&m);
    if (offpay_text_encode(data, size, &text) != OFFPAY_OK || text == NULL ||
        offpay_text_decode(text, strlen(text), &back, &len) != OFFPAY_OK ||
        len != size || memcmp(back, data, size) != 0)
        abort();
    free(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    fuzz_as_text(data, size);
    fuzz_as_bytes(data, size);
    return 0;
}
