/*
 * base64.c — base64 for offpay's JSON bodies (base64.h): encode to a JSON
 * string; decode the canonical form only; and the public decoders an
 * integrator needs for what offpayd and the issuer hand out
 * (offpay_base64_decode, offpay_key_from_hex: message.h). Pure, no I/O.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "offpay/offpay.h"

/* Bytes re-encoded at a time by the canonical check: a multiple of 3, so
 * each chunk encodes to exactly its part of the whole text. */
#define CHUNK 48

json_t *offpay__json_base64(const uint8_t *b, size_t n)
{
    size_t  cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char   *buf = malloc(cap);
    json_t *j;

    if (buf == NULL)
        return NULL;
    sodium_bin2base64(buf, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    j = json_string(buf);
    free(buf);
    return j;
}

/* 1 when text[0..len) is exactly the base64 of b[0..n). */
static int canonical(const uint8_t *b, size_t n, const char *text, size_t len)
{
    char   chunk[4 * (CHUNK / 3) + 1];
    size_t off = 0;

    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        size_t t = 4 * ((k + 2) / 3);

        sodium_bin2base64(chunk, sizeof chunk, b + i, k,
                          sodium_base64_VARIANT_ORIGINAL);
        if (t > len - off || memcmp(chunk, text + off, t) != 0)
            return 0;
        off += t;
    }
    return off == len;
}

size_t offpay__base64_decode(const char *text, size_t len, uint8_t *buf,
                             size_t cap)
{
    size_t got = 0;

    if (text == NULL || len == 0 ||
        sodium_base642bin(buf, cap, text, len, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got == 0 || !canonical(buf, got, text, len))
        return 0;
    return got;
}

offpay_err offpay_base64_decode(const char *text, size_t n, uint8_t **bytes,
                                size_t *len)
{
    uint8_t *buf;
    size_t   got, most = n / 4 * 3; /* what n characters can decode to */

    if (bytes != NULL)
        *bytes = NULL;
    if (text == NULL || bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    *len = 0;
    if (most > (size_t)OFFPAY_BASE64_MAX + 2) /* padding takes up to 2 */
        return OFFPAY_ETOOBIG;
    if (most == 0 || memchr(text, '\0', n) != NULL)
        return OFFPAY_EMALFORMED;
    buf = malloc(most);
    if (buf == NULL)
        return OFFPAY_ENOMEM;
    got = offpay__base64_decode(text, n, buf, most);
    if (got == 0 || got > OFFPAY_BASE64_MAX) {
        free(buf);
        return got == 0 ? OFFPAY_EMALFORMED : OFFPAY_ETOOBIG;
    }
    *bytes = buf;
    *len = got;
    return OFFPAY_OK;
}

offpay_err offpay_key_from_hex(const char *text, size_t n,
                               uint8_t pk[OFFPAY_PK_BYTES])
{
    size_t got = 0;

    if (text == NULL || pk == NULL)
        return OFFPAY_EINVAL;
    if (n == 2 * OFFPAY_PK_BYTES + 1 && text[n - 1] == '\n')
        n--;
    if (n != 2 * OFFPAY_PK_BYTES || memchr(text, '\0', n) != NULL ||
        sodium_hex2bin(pk, OFFPAY_PK_BYTES, text, n, NULL, &got, NULL) != 0 ||
        got != OFFPAY_PK_BYTES)
        return OFFPAY_EMALFORMED;
    return OFFPAY_OK;
}
