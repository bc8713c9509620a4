/*
 * fuzz_base45.c — libFuzzer target for RFC 9285 Base45 (core.h).
 *
 * The input is used twice:
 *   - as text: whatever decodes must re-encode to exactly the same text
 *     (strict decoding means one text per byte string), and must not fit in
 *     one byte less;
 *   - as bytes: encoding then decoding must give them back, and the text
 *     must have the advertised length.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

/* Text decodes canonically, or is rejected. */
static void fuzz_decode(const uint8_t *data, size_t size)
{
    uint8_t   *bytes = malloc(size + 1); /* decoded length <= size */
    char      *again = NULL;
    size_t     blen = 0, tlen = 0;
    offpay_err rc;

    if (bytes == NULL)
        abort();
    rc = offpay_base45_decode((const char *)data, size, bytes, size + 1, &blen);
    if (rc == OFFPAY_EBASE45)
        goto out;
    if (rc != OFFPAY_OK || blen > size)
        abort();
    /* The same text into a buffer one byte short is OFFPAY_ERANGE. */
    if (blen > 0 && offpay_base45_decode((const char *)data, size, bytes,
                                         blen - 1, NULL) != OFFPAY_ERANGE)
        abort();
    again = malloc(OFFPAY_BASE45_ENCODED_LEN(blen) + 1);
    if (again == NULL)
        abort();
    if (offpay_base45_encode(bytes, blen, again,
                             OFFPAY_BASE45_ENCODED_LEN(blen) + 1,
                             &tlen) != OFFPAY_OK)
        abort();
    if (tlen != size || memcmp(again, data, size) != 0)
        abort();
out:
    free(again);
    free(bytes);
}

/* Bytes survive encode then decode. */
static void fuzz_encode(const uint8_t *data, size_t size)
{
    size_t   need = OFFPAY_BASE45_ENCODED_LEN(size);
    char    *text = malloc(need + 1);
    uint8_t *back = malloc(size + 1);
    size_t   tlen = 0, blen = 0;

    if (text == NULL || back == NULL)
        abort();
    if (offpay_base45_encode(data, size, text, need, NULL) != OFFPAY_ERANGE)
        abort(); /* no room for the NUL */
    if (offpay_base45_encode(data, size, text, need + 1, &tlen) != OFFPAY_OK ||
        tlen != need || text[tlen] != '\0')
        abort();
    if (offpay_base45_decode(text, tlen, back, size, &blen) != OFFPAY_OK ||
        blen != size || (size > 0 && memcmp(back, data, size) != 0))
        abort();
    free(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    fuzz_encode(data, size);
    return 0;
}
