/*
 * codec.c — bounded big-endian reader and writer (see codec.h).
 */
#include "core/codec.h"

#include <string.h>

void offpay__reader_init(offpay__reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->left = len;
    r->err = OFFPAY_OK;
}

/* Takes n bytes, or fails the reader; returns NULL on failure. */
static const uint8_t *take(offpay__reader *r, size_t n)
{
    const uint8_t *at;

    if (r->err != OFFPAY_OK)
        return NULL;
    if (r->left < n) {
        r->err = OFFPAY_ETRUNCATED;
        return NULL;
    }
    at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static uint64_t get_be(offpay__reader *r, size_t n)
{
    const uint8_t *b = take(r, n);
    uint64_t       v = 0;

    if (b == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

uint8_t offpay__get_u8(offpay__reader *r)
{
    return (uint8_t)get_be(r, 1);
}

uint16_t offpay__get_u16(offpay__reader *r)
{
    return (uint16_t)get_be(r, 2);
}

uint32_t offpay__get_u32(offpay__reader *r)
{
    return (uint32_t)get_be(r, 4);
}

uint64_t offpay__get_u64(offpay__reader *r)
{
    return get_be(r, 8);
}

void offpay__get_bytes(offpay__reader *r, uint8_t *out, size_t n)
{
    const uint8_t *b = take(r, n);

    if (b == NULL)
        memset(out, 0, n);
    else
        memcpy(out, b, n);
}

const uint8_t *offpay__reader_pos(const offpay__reader *r)
{
    return r->p;
}

offpay_err offpay__reader_finish(const offpay__reader *r)
{
    if (r->err != OFFPAY_OK)
        return r->err;
    return r->left == 0 ? OFFPAY_OK : OFFPAY_ETRAILING;
}

void offpay__writer_init(offpay__writer *w, uint8_t *buf, size_t cap)
{
    w->p = buf;
    w->cap = cap;
    w->len = 0;
    w->err = OFFPAY_OK;
}

static uint8_t *room(offpay__writer *w, size_t n)
{
    uint8_t *at;

    if (w->err != OFFPAY_OK)
        return NULL;
    if (w->cap - w->len < n) {
        w->err = OFFPAY_ERANGE;
        return NULL;
    }
    at = w->p + w->len;
    w->len += n;
    return at;
}

static void put_be(offpay__writer *w, uint64_t v, size_t n)
{
    uint8_t *b = room(w, n);

    if (b == NULL)
        return;
    for (size_t i = n; i > 0; i--) {
        b[i - 1] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

void offpay__put_u8(offpay__writer *w, uint8_t v)
{
    put_be(w, v, 1);
}

void offpay__put_u16(offpay__writer *w, uint16_t v)
{
    put_be(w, v, 2);
}

void offpay__put_u32(offpay__writer *w, uint32_t v)
{
    put_be(w, v, 4);
}

void offpay__put_u64(offpay__writer *w, uint64_t v)
{
    put_be(w, v, 8);
}

void offpay__put_bytes(offpay__writer *w, const uint8_t *b, size_t n)
{
    uint8_t *at = room(w, n);

    if (at != NULL && n > 0)
        memcpy(at, b, n);
}
