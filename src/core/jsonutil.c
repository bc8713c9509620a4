/*
 * jsonutil.c — Jansson helpers and the wiping allocator (jsonutil.h).
 */
#include "core/jsonutil.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Each block carries its size in front so that free can wipe it. */
typedef union {
    size_t      n;
    max_align_t align;
} wipe_hdr;

static void *wipe_malloc(size_t n)
{
    wipe_hdr *h;

    if (n > SIZE_MAX - sizeof *h)
        return NULL;
    h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->n = n;
    return h + 1;
}

static void wipe_free(void *p)
{
    wipe_hdr *h;

    if (p == NULL)
        return;
    h = (wipe_hdr *)p - 1;
    sodium_memzero(p, h->n);
    free(h);
}

void offpay__json_install_allocator(void)
{
    json_set_alloc_funcs(wipe_malloc, wipe_free);
}

void offpay__json_free(void *p)
{
    json_malloc_t m = NULL;
    json_free_t   f = NULL;

    json_get_alloc_funcs(&m, &f);
    if (f != NULL)
        f(p);
    else
        free(p);
}

offpay_err offpay__json_set_hex(json_t *obj, const char *key, const uint8_t *b,
                                size_t n)
{
    char      *hex = malloc(2 * n + 1);
    offpay_err rc = OFFPAY_OK;

    if (hex == NULL)
        return OFFPAY_ENOMEM;
    sodium_bin2hex(hex, 2 * n + 1, b, n);
    if (json_object_set_new(obj, key, json_string(hex)) != 0)
        rc = OFFPAY_ENOMEM;
    sodium_memzero(hex, 2 * n + 1);
    free(hex);
    return rc;
}

offpay_err offpay__json_set_u64(json_t *obj, const char *key, uint64_t v)
{
    if (v > INT64_MAX)
        return OFFPAY_ERANGE;
    return json_object_set_new(obj, key, json_integer((json_int_t)v)) == 0
               ? OFFPAY_OK
               : OFFPAY_ENOMEM;
}

offpay_err offpay__json_get_hexv(const json_t *obj, const char *key, uint8_t *b,
                                 size_t cap, size_t *n)
{
    const json_t *v = json_object_get(obj, key);
    const char   *s, *end = NULL;
    size_t        slen;

    if (!json_is_string(v))
        return OFFPAY_ECORRUPT;
    s = json_string_value(v);
    slen = json_string_length(v);
    if (slen % 2 != 0 || slen / 2 > cap)
        return OFFPAY_ECORRUPT;
    if (sodium_hex2bin(b, cap, s, slen, NULL, n, &end) != 0 || end != s + slen)
        return OFFPAY_ECORRUPT;
    return OFFPAY_OK;
}

offpay_err offpay__json_get_hex(const json_t *obj, const char *key, uint8_t *b,
                                size_t n)
{
    size_t     got = 0;
    offpay_err rc = offpay__json_get_hexv(obj, key, b, n, &got);

    if (rc != OFFPAY_OK)
        return rc;
    return got == n ? OFFPAY_OK : OFFPAY_ECORRUPT;
}

offpay_err offpay__json_get_u64(const json_t *obj, const char *key,
                                uint64_t max, uint64_t *v)
{
    const json_t *j = json_object_get(obj, key);
    json_int_t    i;

    if (!json_is_integer(j))
        return OFFPAY_ECORRUPT;
    i = json_integer_value(j);
    if (i < 0 || (uint64_t)i > max)
        return OFFPAY_ECORRUPT;
    *v = (uint64_t)i;
    return OFFPAY_OK;
}
