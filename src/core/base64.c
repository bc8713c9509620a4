/*
 * base64.c — base64 for offpay's JSON bodies (base64.h): encode to a JSON
 * string; decode the canonical form only. Pure, no I/O.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

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
