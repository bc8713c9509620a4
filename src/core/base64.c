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

/* Given that the decoder took the text whole with no character ignored
 * and padding required (so no '=' or other character can stand inside
 * it), every character before the last group of four stands for six
 * bits of b and nothing else. Only two things can then differ from the
 * canonical text: its length, and the unused low bits of the last
 * group's last character ("AB==" would decode as "AA==" does). The last
 * group is encoded again and compared. (libsodium 1.0.18 refuses a
 * non-canonical last group itself; checked here too, for ~100
 * instructions where encoding the whole text again took ~8,600 for a
 * payment code, so that the unused bits are checked whatever the
 * decoder does with them. unit.test_base45 tests this function alone,
 * and the decoder's verdict against the whole text encoded again.) */
int offpay__base64_canonical(const uint8_t *b, size_t n, const char *text,
                             size_t len)
{
    char   last[4 + 1];
    size_t tail = n % 3 ? n % 3 : 3;

    if (n == 0 || len != 4 * ((n + 2) / 3))
        return 0;
    sodium_bin2base64(last, sizeof last, b + n - tail, tail,
                      sodium_base64_VARIANT_ORIGINAL);
    return memcmp(last, text + len - 4, 4) == 0;
}

size_t offpay__base64_decode(const char *text, size_t len, uint8_t *buf,
                             size_t cap)
{
    size_t got = 0;

    if (text == NULL || len == 0 ||
        sodium_base642bin(buf, cap, text, len, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got == 0 || !offpay__base64_canonical(buf, got, text, len))
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
