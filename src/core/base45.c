/*
 * base45.c — RFC 9285 Base45, the text form offpay puts in QR codes
 * (alphanumeric mode). Decoding is strict so that every byte string has
 * exactly one accepted text form (see offpay_base45_decode in core.h).
 */
#include "offpay/core.h"

#include <stdint.h>

#define B45_BASE  45u
#define B45_BASE2 (45u * 45u)

static const char b45_alphabet[46] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/*
 * Character -> digit value + 1 (0 marks a character outside the alphabet),
 * indexed by unsigned char so any byte of untrusted text is a valid index.
 */
static const uint8_t b45_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16, ['G'] = 17, ['H'] = 18,
    ['I'] = 19, ['J'] = 20, ['K'] = 21, ['L'] = 22, ['M'] = 23, ['N'] = 24,
    ['O'] = 25, ['P'] = 26, ['Q'] = 27, ['R'] = 28, ['S'] = 29, ['T'] = 30,
    ['U'] = 31, ['V'] = 32, ['W'] = 33, ['X'] = 34, ['Y'] = 35, ['Z'] = 36,
    [' '] = 37, ['$'] = 38, ['%'] = 39, ['*'] = 40, ['+'] = 41, ['-'] = 42,
    ['.'] = 43, ['/'] = 44, [':'] = 45,
};

/*
 * Accumulates the digits text[0..k) (least significant first) into *v.
 * Returns 0 if one of them is not in the alphabet, 1 otherwise.
 */
static int b45_digits(const char *text, size_t k, uint32_t *v)
{
    uint32_t acc = 0;
    uint32_t weight = 1;

    for (size_t i = 0; i < k; i++) {
        uint8_t d = b45_value[(unsigned char)text[i]];

        if (d == 0)
            return 0;
        acc += (uint32_t)(d - 1u) * weight;
        weight *= B45_BASE;
    }
    *v = acc;
    return 1;
}

offpay_err offpay_base45_encode(const uint8_t *in, size_t n, char *out,
                                size_t cap, size_t *out_len)
{
    size_t     need;
    size_t     o = 0;
    offpay_err rc = OFFPAY_OK;

    if (out_len != NULL)
        *out_len = 0;
    if ((in == NULL && n > 0) || out == NULL) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    /* OFFPAY_BASE45_ENCODED_LEN(n) + 1 must not wrap around. */
    if (n / 2 > (SIZE_MAX - 3) / 3) {
        rc = OFFPAY_ERANGE;
        goto out;
    }
    need = OFFPAY_BASE45_ENCODED_LEN(n);
    if (cap < need + 1) {
        rc = OFFPAY_ERANGE;
        goto out;
    }
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t v = ((uint32_t)in[i] << 8) | in[i + 1];

        out[o++] = b45_alphabet[v % B45_BASE];
        out[o++] = b45_alphabet[(v / B45_BASE) % B45_BASE];
        out[o++] = b45_alphabet[v / B45_BASE2];
    }
    if (n % 2 == 1) {
        uint32_t v = in[n - 1];

        out[o++] = b45_alphabet[v % B45_BASE];
        out[o++] = b45_alphabet[v / B45_BASE];
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
out:
    /* Never leave a caller's buffer looking like a valid (stale) result. */
    if (rc != OFFPAY_OK && out != NULL && cap > 0)
        out[0] = '\0';
    return rc;
}

offpay_err offpay_base45_decode(const char *text, size_t n, uint8_t *out,
                                size_t cap, size_t *out_len)
{
    size_t     need;
    size_t     o = 0;
    int        fits;
    offpay_err rc = OFFPAY_OK;

    if (out_len != NULL)
        *out_len = 0;
    if ((text == NULL && n > 0) || (out == NULL && cap > 0)) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    if (n % 3 == 1) {
        rc = OFFPAY_EBASE45;
        goto out;
    }
    need = (n / 3) * 2 + (n % 3 == 2 ? 1 : 0);
    /*
     * Malformed text is reported as such whatever cap is, so the whole text
     * is checked; bytes are written only when all of them fit.
     */
    fits = need <= cap;
    for (size_t i = 0; i + 3 <= n; i += 3) {
        uint32_t v;

        if (!b45_digits(text + i, 3, &v) || v > 0xFFFFu) {
            rc = OFFPAY_EBASE45;
            goto out;
        }
        if (fits) {
            out[o++] = (uint8_t)(v >> 8);
            out[o++] = (uint8_t)(v & 0xFFu);
        }
    }
    if (n % 3 == 2) {
        uint32_t v;

        if (!b45_digits(text + n - 2, 2, &v) || v > 0xFFu) {
            rc = OFFPAY_EBASE45;
            goto out;
        }
        if (fits)
            out[o++] = (uint8_t)v;
    }
    if (!fits) {
        rc = OFFPAY_ERANGE;
        goto out;
    }
    if (out_len != NULL)
        *out_len = o;
out:
    return rc;
}
