/*
 * message.c — canonical binary encoding and strict decoding of every
 * protocol message (docs/protocol.md §2), and the text form (§4).
 *
 * Every layout is fixed-width big-endian except the merchant name (one
 * length byte) and the lists of the trust bundle and revocation list (one
 * count). With fixed widths, minimal lengths and ordered lists, each value
 * has exactly one encoding, so "decode then encode" gives back the input.
 */
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/message_int.h"
#include "offpay/core.h"
#include "offpay/message.h"

/* ---- shared pieces --------------------------------------------------- */

static void put_header(offpay__writer *w, offpay_msg_type type)
{
    offpay__put_u8(w, OFFPAY_PROTOCOL_VERSION);
    offpay__put_u8(w, (uint8_t)type);
}

/* Reads and checks the version and type bytes. */
static offpay_err get_header(offpay__reader *r, offpay_msg_type want)
{
    uint8_t version = offpay__get_u8(r);
    uint8_t type = offpay__get_u8(r);

    if (r->err != OFFPAY_OK)
        return r->err;
    if (version != OFFPAY_PROTOCOL_VERSION)
        return OFFPAY_EVERSION;
    if (type != (uint8_t)want)
        return OFFPAY_ETYPE;
    return OFFPAY_OK;
}

static int currency_known(uint16_t currency)
{
    return offpay_currency_exponent(currency) >= 0;
}

size_t offpay__utf8_cut(const char *s, size_t max)
{
    size_t n = max;

    while (n > 0 && ((unsigned char)s[n] & 0xc0u) == 0x80u)
        n--;
    return n;
}

/*
 * 1 for a character that shows nothing, beyond the ones the name rule of
 * docs/protocol.md §2.3 refuses in every decoded name: Unicode's other
 * default-ignorable code points and the fillers that render blank (but not
 * the variation selectors, U+FE00..U+FE0F and U+E0100..U+E01EF, which an
 * emoji's own form needs, nor Mongolian's free ones, U+180B..U+180D and
 * U+180F, which its letters' shapes need: offpay__utf8_input_ok says where
 * they may stand). New text is refused with them since 0.28.0; a name
 * signed before stays decodable.
 */
static int invisible_more(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        {0x034f, 0x034f},   {0x115f, 0x1160},   {0x17b4, 0x17b5},
        {0x180e, 0x180e},   {0x2065, 0x2065},   {0x206a, 0x206f},
        {0x3164, 0x3164},   {0xffa0, 0xffa0},   {0xfff0, 0xfffb},
        {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0000, 0xe00ff},
        {0xe01f0, 0xe0fff},
    };

    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++)
        if (cp >= ranges[k][0] && cp <= ranges[k][1])
            return 1;
    return 0;
}

static int variation_selector(uint32_t cp)
{
    return (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

/* The code point at s[i] of valid UTF-8, and its length into *len. */
static uint32_t utf8_at(const uint8_t *s, size_t i, size_t *len)
{
    uint8_t c = s[i];

    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c < 0xe0) {
        *len = 2;
        return ((uint32_t)(c & 0x1f) << 6) | (s[i + 1] & 0x3fu);
    }
    if (c < 0xf0) {
        *len = 3;
        return ((uint32_t)(c & 0x0f) << 12) |
               ((uint32_t)(s[i + 1] & 0x3f) << 6) | (s[i + 2] & 0x3fu);
    }
    *len = 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3f) << 12) |
           ((uint32_t)(s[i + 2] & 0x3f) << 6) | (s[i + 3] & 0x3fu);
}

/* Mongolian's free variation selectors, which its letters' shapes need. */
static int mongolian_selector(uint32_t cp)
{
    return (cp >= 0x180b && cp <= 0x180d) || cp == 0x180f;
}

int offpay__utf8_input_ok(const uint8_t *s, size_t n)
{
    uint32_t prev = 0;
    size_t   len, next_len;

    if (!offpay__utf8_display_ok(s, n))
        return 0;
    for (size_t i = 0; i < n; i += len) {
        uint32_t cp = utf8_at(s, i, &len);
        uint32_t next = i + len < n ? utf8_at(s, i + len, &next_len) : 0;

        if (invisible_more(cp))
            return 0;
        /* a variation selector only right after a character beyond ASCII
         * that is not one itself (an emoji's form), or in a keycap (a
         * digit, # or *, U+FE0F, U+20E3): not a hidden mark after a
         * letter, nor a run of them */
        if (variation_selector(cp) &&
            (variation_selector(prev) || (prev < 0x80 && next != 0x20e3)))
            return 0;
        /* Mongolian's only after a Mongolian letter */
        if (mongolian_selector(cp) && !(prev >= 0x1820 && prev <= 0x18af))
            return 0;
        prev = cp;
    }
    return 1;
}

int offpay__utf8_display_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t   extra;
        uint8_t  c = s[i];

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1fu;
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0fu;
            extra = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07u;
            extra = 3;
        } else {
            return 0;
        }
        if (n - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        /* Overlong forms, surrogates, beyond Unicode, C1 controls, and the
         * invisible or direction-changing format characters that could make
         * one merchant's name look like another's on the payer's screen. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
            (cp >= 0x80 && cp <= 0x9f) || cp == 0xad || cp == 0x61c ||
            (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) ||
            cp == 0xfeff)
            return 0;
        i += extra + 1;
    }
    return 1;
}

/*
 * write_msg — runs a message's put function into buf: with_sig 0 gives the
 * exact bytes its signature covers, 1 the whole message. Every such pair of
 * functions below (offpay__X_signed_bytes, offpay_X_encode) shares it, so
 * signer and verifier can never encode differently.
 */
typedef offpay_err (*put_fn)(offpay__writer *w, const void *v, int with_sig);

static offpay_err write_msg(put_fn put, const void *v, int with_sig,
                            uint8_t *buf, size_t cap, size_t *len)
{
    offpay__writer w;
    offpay_err     rc;

    if (v == NULL || buf == NULL || len == NULL)
        return OFFPAY_EINVAL;
    offpay__writer_init(&w, buf, cap);
    rc = put(&w, v, with_sig);
    *len = w.len;
    return rc;
}

/* ---- wallet credential ---------------------------------------------- */

static offpay_err wcred_check(const offpay_wallet_cred *c)
{
    if ((c->flags & ~OFFPAY_CRED_FLAGS_KNOWN) != 0 || c->limit == 0 ||
        c->valid_from > c->expires)
        return OFFPAY_EMALFORMED;
    if (!currency_known(c->currency))
        return OFFPAY_ECURRENCY_UNKNOWN;
    return OFFPAY_OK;
}

static void wcred_put_body(offpay__writer *w, const offpay_wallet_cred *c)
{
    offpay__put_u16(w, c->kid);
    offpay__put_u64(w, c->serial);
    offpay__put_bytes(w, c->wallet_pk, OFFPAY_PK_BYTES);
    offpay__put_u32(w, c->limit);
    offpay__put_u16(w, c->currency);
    offpay__put_u32(w, c->valid_from);
    offpay__put_u32(w, c->expires);
    offpay__put_u8(w, c->flags);
}

static offpay_err wcred_get_body(offpay__reader *r, offpay_wallet_cred *c)
{
    c->kid = offpay__get_u16(r);
    c->serial = offpay__get_u64(r);
    offpay__get_bytes(r, c->wallet_pk, OFFPAY_PK_BYTES);
    c->limit = offpay__get_u32(r);
    c->currency = offpay__get_u16(r);
    c->valid_from = offpay__get_u32(r);
    c->expires = offpay__get_u32(r);
    c->flags = offpay__get_u8(r);
    offpay__get_bytes(r, c->sig, OFFPAY_SIG_BYTES);
    if (r->err != OFFPAY_OK)
        return r->err;
    return wcred_check(c);
}

void offpay__wallet_cred_signed_bytes(
    const offpay_wallet_cred *c, uint8_t out[OFFPAY_WALLET_CRED_SIGNED_BYTES])
{
    offpay__writer w;

    offpay__writer_init(&w, out, OFFPAY_WALLET_CRED_SIGNED_BYTES);
    put_header(&w, OFFPAY_MSG_WALLET_CRED);
    wcred_put_body(&w, c);
}

offpay_err offpay_wallet_cred_encode(const offpay_wallet_cred *c, uint8_t *buf,
                                     size_t cap, size_t *len)
{
    offpay__writer w;

    if (c == NULL || buf == NULL || len == NULL)
        return OFFPAY_EINVAL;
    if (wcred_check(c) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    offpay__writer_init(&w, buf, cap);
    put_header(&w, OFFPAY_MSG_WALLET_CRED);
    wcred_put_body(&w, c);
    offpay__put_bytes(&w, c->sig, OFFPAY_SIG_BYTES);
    *len = w.len;
    return w.err;
}

offpay_err offpay_wallet_cred_decode(const uint8_t *buf, size_t len,
                                     offpay_wallet_cred *c)
{
    offpay__reader r;
    offpay_err     rc;

    if (buf == NULL || c == NULL)
        return OFFPAY_EINVAL;
    memset(c, 0, sizeof *c);
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, OFFPAY_MSG_WALLET_CRED)) != OFFPAY_OK)
        return rc;
    if ((rc = wcred_get_body(&r, c)) != OFFPAY_OK)
        return rc;
    return offpay__reader_finish(&r);
}

/* ---- terminal credential -------------------------------------------- */

static offpay_err tcred_check(const offpay_terminal_cred *c)
{
    if (c->name_len == 0 || c->name_len > OFFPAY_NAME_MAX ||
        !offpay__utf8_display_ok((const uint8_t *)c->name, c->name_len) ||
        c->valid_from > c->expires)
        return OFFPAY_EMALFORMED;
    if (!currency_known(c->currency))
        return OFFPAY_ECURRENCY_UNKNOWN;
    return OFFPAY_OK;
}

static void tcred_put_body(offpay__writer *w, const offpay_terminal_cred *c)
{
    offpay__put_u16(w, c->kid);
    offpay__put_u64(w, c->merchant_id);
    offpay__put_u32(w, c->terminal_id);
    offpay__put_bytes(w, c->terminal_pk, OFFPAY_PK_BYTES);
    offpay__put_u16(w, c->currency);
    offpay__put_u32(w, c->valid_from);
    offpay__put_u32(w, c->expires);
    offpay__put_u8(w, c->name_len);
    offpay__put_bytes(w, (const uint8_t *)c->name, c->name_len);
}

static offpay_err tcred_get_body(offpay__reader *r, offpay_terminal_cred *c)
{
    c->kid = offpay__get_u16(r);
    c->merchant_id = offpay__get_u64(r);
    c->terminal_id = offpay__get_u32(r);
    offpay__get_bytes(r, c->terminal_pk, OFFPAY_PK_BYTES);
    c->currency = offpay__get_u16(r);
    c->valid_from = offpay__get_u32(r);
    c->expires = offpay__get_u32(r);
    c->name_len = offpay__get_u8(r);
    if (r->err == OFFPAY_OK && c->name_len > OFFPAY_NAME_MAX)
        return OFFPAY_EMALFORMED;
    offpay__get_bytes(r, (uint8_t *)c->name, c->name_len);
    c->name[c->name_len] = '\0';
    offpay__get_bytes(r, c->sig, OFFPAY_SIG_BYTES);
    if (r->err != OFFPAY_OK)
        return r->err;
    return tcred_check(c);
}

offpay_err offpay__terminal_cred_signed_bytes(const offpay_terminal_cred *c,
                                              uint8_t *out, size_t cap,
                                              size_t *len)
{
    offpay__writer w;

    offpay__writer_init(&w, out, cap);
    put_header(&w, OFFPAY_MSG_TERMINAL_CRED);
    tcred_put_body(&w, c);
    *len = w.len;
    return w.err;
}

offpay_err offpay_terminal_cred_encode(const offpay_terminal_cred *c,
                                       uint8_t *buf, size_t cap, size_t *len)
{
    offpay__writer w;

    if (c == NULL || buf == NULL || len == NULL)
        return OFFPAY_EINVAL;
    if (tcred_check(c) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    offpay__writer_init(&w, buf, cap);
    put_header(&w, OFFPAY_MSG_TERMINAL_CRED);
    tcred_put_body(&w, c);
    offpay__put_bytes(&w, c->sig, OFFPAY_SIG_BYTES);
    *len = w.len;
    return w.err;
}

offpay_err offpay_terminal_cred_decode(const uint8_t *buf, size_t len,
                                       offpay_terminal_cred *c)
{
    offpay__reader r;
    offpay_err     rc;

    if (buf == NULL || c == NULL)
        return OFFPAY_EINVAL;
    memset(c, 0, sizeof *c);
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, OFFPAY_MSG_TERMINAL_CRED)) != OFFPAY_OK)
        return rc;
    if ((rc = tcred_get_body(&r, c)) != OFFPAY_OK)
        return rc;
    return offpay__reader_finish(&r);
}

/* ---- payment code --------------------------------------------------- */

static offpay_err payment_put(offpay__writer *w, const void *v, int with_sig)
{
    const offpay_payment *p = v;

    if (wcred_check(&p->cred) != OFFPAY_OK || p->counter == 0 || p->amount == 0)
        return OFFPAY_EINVAL;
    put_header(w, p->bound ? OFFPAY_MSG_PAYMENT_BOUND : OFFPAY_MSG_PAYMENT);
    wcred_put_body(w, &p->cred);
    offpay__put_bytes(w, p->cred.sig, OFFPAY_SIG_BYTES);
    offpay__put_u32(w, p->counter);
    offpay__put_u32(w, p->amount);
    offpay__put_u32(w, p->time);
    if (p->bound) {
        offpay__put_u64(w, p->merchant_id);
        offpay__put_bytes(w, p->nonce, OFFPAY_NONCE_BYTES);
    }
    if (with_sig)
        offpay__put_bytes(w, p->sig, OFFPAY_SIG_BYTES);
    return w->err;
}

offpay_err offpay__payment_signed_bytes(const offpay_payment *p, uint8_t *out,
                                        size_t cap, size_t *len)
{
    return write_msg(payment_put, p, 0, out, cap, len);
}

offpay_err offpay_payment_encode(const offpay_payment *p, uint8_t *buf,
                                 size_t cap, size_t *len)
{
    return write_msg(payment_put, p, 1, buf, cap, len);
}

offpay_err offpay_payment_decode(const uint8_t *buf, size_t len,
                                 offpay_payment *p)
{
    offpay__reader r;
    offpay_err     rc;
    uint8_t        type;

    if (buf == NULL || p == NULL)
        return OFFPAY_EINVAL;
    memset(p, 0, sizeof *p);
    if (len < 2)
        return OFFPAY_ETRUNCATED;
    if (buf[0] != OFFPAY_PROTOCOL_VERSION)
        return OFFPAY_EVERSION;
    type = buf[1];
    if (type != OFFPAY_MSG_PAYMENT && type != OFFPAY_MSG_PAYMENT_BOUND)
        return OFFPAY_ETYPE;
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, (offpay_msg_type)type)) != OFFPAY_OK)
        return rc;
    if ((rc = wcred_get_body(&r, &p->cred)) != OFFPAY_OK)
        return rc;
    p->counter = offpay__get_u32(&r);
    p->amount = offpay__get_u32(&r);
    p->time = offpay__get_u32(&r);
    p->bound = type == OFFPAY_MSG_PAYMENT_BOUND;
    if (p->bound) {
        p->merchant_id = offpay__get_u64(&r);
        offpay__get_bytes(&r, p->nonce, OFFPAY_NONCE_BYTES);
    }
    offpay__get_bytes(&r, p->sig, OFFPAY_SIG_BYTES);
    if ((rc = offpay__reader_finish(&r)) != OFFPAY_OK)
        return rc;
    if (p->counter == 0 || p->amount == 0)
        return OFFPAY_EMALFORMED;
    return OFFPAY_OK;
}

/* ---- request code --------------------------------------------------- */

static offpay_err request_put(offpay__writer *w, const void *v, int with_sig)
{
    const offpay_request *q = v;

    if (tcred_check(&q->tcred) != OFFPAY_OK || q->amount == 0 ||
        !currency_known(q->currency))
        return OFFPAY_EINVAL;
    put_header(w, OFFPAY_MSG_REQUEST);
    tcred_put_body(w, &q->tcred);
    offpay__put_bytes(w, q->tcred.sig, OFFPAY_SIG_BYTES);
    offpay__put_u32(w, q->amount);
    offpay__put_u16(w, q->currency);
    offpay__put_bytes(w, q->nonce, OFFPAY_NONCE_BYTES);
    offpay__put_u32(w, q->time);
    if (with_sig)
        offpay__put_bytes(w, q->sig, OFFPAY_SIG_BYTES);
    return w->err;
}

offpay_err offpay__request_signed_bytes(const offpay_request *q, uint8_t *out,
                                        size_t cap, size_t *len)
{
    return write_msg(request_put, q, 0, out, cap, len);
}

offpay_err offpay_request_encode(const offpay_request *q, uint8_t *buf,
                                 size_t cap, size_t *len)
{
    return write_msg(request_put, q, 1, buf, cap, len);
}

offpay_err offpay_request_decode(const uint8_t *buf, size_t len,
                                 offpay_request *q)
{
    offpay__reader r;
    offpay_err     rc;

    if (buf == NULL || q == NULL)
        return OFFPAY_EINVAL;
    memset(q, 0, sizeof *q);
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, OFFPAY_MSG_REQUEST)) != OFFPAY_OK)
        return rc;
    if ((rc = tcred_get_body(&r, &q->tcred)) != OFFPAY_OK)
        return rc;
    q->amount = offpay__get_u32(&r);
    q->currency = offpay__get_u16(&r);
    offpay__get_bytes(&r, q->nonce, OFFPAY_NONCE_BYTES);
    q->time = offpay__get_u32(&r);
    offpay__get_bytes(&r, q->sig, OFFPAY_SIG_BYTES);
    if ((rc = offpay__reader_finish(&r)) != OFFPAY_OK)
        return rc;
    if (q->amount == 0)
        return OFFPAY_EMALFORMED;
    if (!currency_known(q->currency))
        return OFFPAY_ECURRENCY_UNKNOWN;
    return OFFPAY_OK;
}

/* ---- receipt code --------------------------------------------------- */

static offpay_err receipt_put(offpay__writer *w, const void *v, int with_sig)
{
    const offpay_receipt *t = v;

    if (tcred_check(&t->tcred) != OFFPAY_OK || t->counter == 0 ||
        t->amount == 0 || !currency_known(t->currency))
        return OFFPAY_EINVAL;
    put_header(w, OFFPAY_MSG_RECEIPT);
    tcred_put_body(w, &t->tcred);
    offpay__put_bytes(w, t->tcred.sig, OFFPAY_SIG_BYTES);
    offpay__put_u64(w, t->serial);
    offpay__put_u32(w, t->counter);
    offpay__put_u32(w, t->amount);
    offpay__put_u16(w, t->currency);
    offpay__put_u32(w, t->time);
    if (with_sig)
        offpay__put_bytes(w, t->sig, OFFPAY_SIG_BYTES);
    return w->err;
}

offpay_err offpay__receipt_signed_bytes(const offpay_receipt *t, uint8_t *out,
                                        size_t cap, size_t *len)
{
    return write_msg(receipt_put, t, 0, out, cap, len);
}

offpay_err offpay_receipt_encode(const offpay_receipt *t, uint8_t *buf,
                                 size_t cap, size_t *len)
{
    return write_msg(receipt_put, t, 1, buf, cap, len);
}

offpay_err offpay_receipt_decode(const uint8_t *buf, size_t len,
                                 offpay_receipt *t)
{
    offpay__reader r;
    offpay_err     rc;

    if (buf == NULL || t == NULL)
        return OFFPAY_EINVAL;
    memset(t, 0, sizeof *t);
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, OFFPAY_MSG_RECEIPT)) != OFFPAY_OK)
        return rc;
    if ((rc = tcred_get_body(&r, &t->tcred)) != OFFPAY_OK)
        return rc;
    t->serial = offpay__get_u64(&r);
    t->counter = offpay__get_u32(&r);
    t->amount = offpay__get_u32(&r);
    t->currency = offpay__get_u16(&r);
    t->time = offpay__get_u32(&r);
    offpay__get_bytes(&r, t->sig, OFFPAY_SIG_BYTES);
    if ((rc = offpay__reader_finish(&r)) != OFFPAY_OK)
        return rc;
    if (t->counter == 0 || t->amount == 0)
        return OFFPAY_EMALFORMED;
    if (!currency_known(t->currency))
        return OFFPAY_ECURRENCY_UNKNOWN;
    return OFFPAY_OK;
}

/* ---- trust bundle --------------------------------------------------- */

static offpay_err bundle_check(const offpay_trust_bundle *b)
{
    if (b->n_keys == 0 || b->n_keys > OFFPAY_BUNDLE_KEYS_MAX)
        return OFFPAY_EMALFORMED;
    for (unsigned i = 0; i < b->n_keys; i++) {
        if (b->keys[i].valid_from > b->keys[i].valid_until)
            return OFFPAY_EMALFORMED;
        if (i > 0 && b->keys[i].kid <= b->keys[i - 1].kid)
            return OFFPAY_EMALFORMED;
    }
    return OFFPAY_OK;
}

static offpay_err bundle_put(offpay__writer *w, const void *v, int with_sig)
{
    const offpay_trust_bundle *b = v;

    if (bundle_check(b) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    put_header(w, OFFPAY_MSG_TRUST_BUNDLE);
    offpay__put_u32(w, b->seq);
    offpay__put_u32(w, b->issued_at);
    offpay__put_u8(w, b->n_keys);
    for (unsigned i = 0; i < b->n_keys; i++) {
        offpay__put_u16(w, b->keys[i].kid);
        offpay__put_bytes(w, b->keys[i].pk, OFFPAY_PK_BYTES);
        offpay__put_u32(w, b->keys[i].valid_from);
        offpay__put_u32(w, b->keys[i].valid_until);
    }
    if (with_sig)
        offpay__put_bytes(w, b->sig, OFFPAY_SIG_BYTES);
    return w->err;
}

offpay_err offpay__bundle_signed_bytes(const offpay_trust_bundle *b,
                                       uint8_t *out, size_t cap, size_t *len)
{
    return write_msg(bundle_put, b, 0, out, cap, len);
}

offpay_err offpay_bundle_encode(const offpay_trust_bundle *b, uint8_t *buf,
                                size_t cap, size_t *len)
{
    return write_msg(bundle_put, b, 1, buf, cap, len);
}

offpay_err offpay_bundle_decode(const uint8_t *buf, size_t len,
                                offpay_trust_bundle *b)
{
    offpay__reader r;
    offpay_err     rc;

    if (buf == NULL || b == NULL)
        return OFFPAY_EINVAL;
    memset(b, 0, sizeof *b);
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, OFFPAY_MSG_TRUST_BUNDLE)) != OFFPAY_OK)
        return rc;
    b->seq = offpay__get_u32(&r);
    b->issued_at = offpay__get_u32(&r);
    b->n_keys = offpay__get_u8(&r);
    if (r.err == OFFPAY_OK &&
        (b->n_keys == 0 || b->n_keys > OFFPAY_BUNDLE_KEYS_MAX))
        return OFFPAY_EMALFORMED;
    for (unsigned i = 0; i < b->n_keys; i++) {
        b->keys[i].kid = offpay__get_u16(&r);
        offpay__get_bytes(&r, b->keys[i].pk, OFFPAY_PK_BYTES);
        b->keys[i].valid_from = offpay__get_u32(&r);
        b->keys[i].valid_until = offpay__get_u32(&r);
    }
    offpay__get_bytes(&r, b->sig, OFFPAY_SIG_BYTES);
    if ((rc = offpay__reader_finish(&r)) != OFFPAY_OK)
        return rc;
    return bundle_check(b);
}

/* ---- revocation list ------------------------------------------------ */

static offpay_err revlist_check(const offpay_revlist *l)
{
    if (l->base_seq >= l->seq || l->n_serials > OFFPAY_REVLIST_MAX ||
        (l->n_serials > 0 && l->serials == NULL))
        return OFFPAY_EMALFORMED;
    for (uint32_t i = 1; i < l->n_serials; i++)
        if (l->serials[i] <= l->serials[i - 1])
            return OFFPAY_EMALFORMED;
    return OFFPAY_OK;
}

static offpay_err revlist_put(offpay__writer *w, const void *v, int with_sig)
{
    const offpay_revlist *l = v;

    if (revlist_check(l) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    put_header(w, OFFPAY_MSG_REVLIST);
    offpay__put_u16(w, l->kid);
    offpay__put_u32(w, l->seq);
    offpay__put_u32(w, l->base_seq);
    offpay__put_u32(w, l->issued_at);
    offpay__put_u16(w, (uint16_t)l->n_serials);
    for (uint32_t i = 0; i < l->n_serials; i++)
        offpay__put_u64(w, l->serials[i]);
    if (with_sig)
        offpay__put_bytes(w, l->sig, OFFPAY_SIG_BYTES);
    return w->err;
}

offpay_err offpay__revlist_signed_bytes(const offpay_revlist *l, uint8_t *out,
                                        size_t cap, size_t *len)
{
    return write_msg(revlist_put, l, 0, out, cap, len);
}

offpay_err offpay_revlist_encode(const offpay_revlist *l, uint8_t *buf,
                                 size_t cap, size_t *len)
{
    return write_msg(revlist_put, l, 1, buf, cap, len);
}

offpay_err offpay_revlist_decode(const uint8_t *buf, size_t len,
                                 offpay_revlist *l)
{
    offpay__reader r;
    offpay_err     rc;
    uint64_t      *serials = NULL;

    if (buf == NULL || l == NULL)
        return OFFPAY_EINVAL;
    memset(l, 0, sizeof *l);
    offpay__reader_init(&r, buf, len);
    if ((rc = get_header(&r, OFFPAY_MSG_REVLIST)) != OFFPAY_OK)
        goto out;
    l->kid = offpay__get_u16(&r);
    l->seq = offpay__get_u32(&r);
    l->base_seq = offpay__get_u32(&r);
    l->issued_at = offpay__get_u32(&r);
    l->n_serials = offpay__get_u16(&r);
    if (r.err != OFFPAY_OK) {
        rc = r.err;
        goto out;
    }
    /* Check the length before allocating: the count is attacker-chosen. */
    if (r.left != (size_t)l->n_serials * 8 + OFFPAY_SIG_BYTES) {
        rc = r.left < (size_t)l->n_serials * 8 + OFFPAY_SIG_BYTES
                 ? OFFPAY_ETRUNCATED
                 : OFFPAY_ETRAILING;
        goto out;
    }
    if (l->n_serials > 0) {
        serials = malloc(l->n_serials * sizeof *serials);
        if (serials == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
    }
    for (uint32_t i = 0; i < l->n_serials; i++)
        serials[i] = offpay__get_u64(&r);
    offpay__get_bytes(&r, l->sig, OFFPAY_SIG_BYTES);
    l->serials = serials;
    if ((rc = offpay__reader_finish(&r)) != OFFPAY_OK)
        goto out;
    rc = revlist_check(l);
out:
    if (rc != OFFPAY_OK) {
        free(serials);
        l->serials = NULL;
        l->n_serials = 0;
    }
    return rc;
}

void offpay_revlist_free(offpay_revlist *l)
{
    if (l == NULL)
        return;
    free(l->serials);
    l->serials = NULL;
    l->n_serials = 0;
}

/* ---- any message, text form ----------------------------------------- */

offpay_err offpay_msg_decode_any(const uint8_t *buf, size_t len, offpay_msg *m)
{
    if (buf == NULL || m == NULL)
        return OFFPAY_EINVAL;
    memset(m, 0, sizeof *m);
    if (len < 2)
        return OFFPAY_ETRUNCATED;
    if (buf[0] != OFFPAY_PROTOCOL_VERSION)
        return OFFPAY_EVERSION;
    m->type = (offpay_msg_type)buf[1];
    switch (buf[1]) {
    case OFFPAY_MSG_TRUST_BUNDLE:
        return offpay_bundle_decode(buf, len, &m->u.bundle);
    case OFFPAY_MSG_WALLET_CRED:
        return offpay_wallet_cred_decode(buf, len, &m->u.wcred);
    case OFFPAY_MSG_TERMINAL_CRED:
        return offpay_terminal_cred_decode(buf, len, &m->u.tcred);
    case OFFPAY_MSG_PAYMENT:
    case OFFPAY_MSG_PAYMENT_BOUND:
        return offpay_payment_decode(buf, len, &m->u.payment);
    case OFFPAY_MSG_REQUEST:
        return offpay_request_decode(buf, len, &m->u.request);
    case OFFPAY_MSG_RECEIPT:
        return offpay_receipt_decode(buf, len, &m->u.receipt);
    case OFFPAY_MSG_REVLIST:
        return offpay_revlist_decode(buf, len, &m->u.revlist);
    default:
        return OFFPAY_ETYPE;
    }
}

void offpay_msg_free(offpay_msg *m)
{
    if (m != NULL && m->type == OFFPAY_MSG_REVLIST)
        offpay_revlist_free(&m->u.revlist);
}

static const struct {
    offpay_msg_type type;
    const char     *prefix;
    const char     *name;
} kinds[] = {
    {OFFPAY_MSG_TRUST_BUNDLE, "OPTB:", "trust bundle"},
    {OFFPAY_MSG_WALLET_CRED, "OPWC:", "wallet credential"},
    {OFFPAY_MSG_TERMINAL_CRED, "OPTC:", "terminal credential"},
    {OFFPAY_MSG_PAYMENT, "OPPY:", "payment"},
    {OFFPAY_MSG_PAYMENT_BOUND, "OPPY:", "bound payment"},
    {OFFPAY_MSG_REQUEST, "OPRQ:", "request"},
    {OFFPAY_MSG_RECEIPT, "OPRC:", "receipt"},
    {OFFPAY_MSG_REVLIST, "OPRL:", "revocation list"},
};
#define N_KINDS    (sizeof kinds / sizeof kinds[0])
#define PREFIX_LEN 5

const char *offpay_msg_prefix(offpay_msg_type type)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].type == type)
            return kinds[i].prefix;
    return NULL;
}

const char *offpay_msg_type_name(offpay_msg_type type)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].type == type)
            return kinds[i].name;
    return "unknown";
}

size_t offpay_msg_max_bytes(offpay_msg_type type)
{
    switch (type) {
    case OFFPAY_MSG_TRUST_BUNDLE:
        return 75 + 42 * OFFPAY_BUNDLE_KEYS_MAX;
    case OFFPAY_MSG_WALLET_CRED:
        return OFFPAY_WALLET_CRED_BYTES;
    case OFFPAY_MSG_TERMINAL_CRED:
        return 123 + OFFPAY_NAME_MAX;
    case OFFPAY_MSG_PAYMENT:
        return OFFPAY_PAYMENT_BYTES;
    case OFFPAY_MSG_PAYMENT_BOUND:
        return OFFPAY_PAYMENT_BOUND_BYTES;
    case OFFPAY_MSG_REQUEST:
    case OFFPAY_MSG_RECEIPT:
        return 209 + OFFPAY_NAME_MAX;
    case OFFPAY_MSG_REVLIST:
        return OFFPAY_MSG_MAX_BYTES;
    default:
        return 0;
    }
}

size_t offpay_text_max_len(const char *text, size_t n)
{
    size_t most = 0;

    if (text == NULL || n < PREFIX_LEN)
        return OFFPAY_TEXT_MAX;
    /* A prefix may name several types (OPPY: both payments). */
    for (size_t i = 0; i < N_KINDS; i++)
        if (memcmp(text, kinds[i].prefix, PREFIX_LEN) == 0 &&
            offpay_msg_max_bytes(kinds[i].type) > most)
            most = offpay_msg_max_bytes(kinds[i].type);
    return most == 0 ? OFFPAY_TEXT_MAX
                     : PREFIX_LEN + OFFPAY_BASE45_ENCODED_LEN(most);
}

offpay_err offpay_text_encode(const uint8_t *bytes, size_t len, char **text)
{
    const char *prefix;
    size_t      n;
    char       *out;
    offpay_err  rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (bytes == NULL || len < 2 || len > OFFPAY_MSG_MAX_BYTES)
        return OFFPAY_EINVAL;
    prefix = offpay_msg_prefix((offpay_msg_type)bytes[1]);
    if (prefix == NULL)
        return OFFPAY_ETYPE;
    n = PREFIX_LEN + OFFPAY_BASE45_ENCODED_LEN(len) + 1;
    out = malloc(n);
    if (out == NULL)
        return OFFPAY_ENOMEM;
    memcpy(out, prefix, PREFIX_LEN);
    rc = offpay_base45_encode(bytes, len, out + PREFIX_LEN, n - PREFIX_LEN,
                              NULL);
    if (rc != OFFPAY_OK) {
        free(out);
        return rc;
    }
    *text = out;
    return OFFPAY_OK;
}

offpay_err offpay_text_decode(const char *text, size_t n, uint8_t **bytes,
                              size_t *len)
{
    size_t     i, cap, got = 0;
    uint8_t   *out = NULL;
    offpay_err rc;
    int        prefix_ok = 0;

    if (bytes == NULL || len == NULL)
        return OFFPAY_EINVAL;
    *bytes = NULL;
    *len = 0;
    if (text == NULL)
        return OFFPAY_EINVAL;
    if (n < PREFIX_LEN)
        return OFFPAY_EPREFIX;
    for (i = 0; i < N_KINDS; i++)
        if (memcmp(text, kinds[i].prefix, PREFIX_LEN) == 0)
            break;
    if (i == N_KINDS)
        return OFFPAY_EPREFIX;
    /* Bound before decoding: at most 2 bytes per 3 characters. */
    cap = (n - PREFIX_LEN) / 3 * 2 + 1;
    if (cap > OFFPAY_MSG_MAX_BYTES + 1)
        return OFFPAY_ETOOBIG;
    out = malloc(cap > 0 ? cap : 1);
    if (out == NULL)
        return OFFPAY_ENOMEM;
    rc =
        offpay_base45_decode(text + PREFIX_LEN, n - PREFIX_LEN, out, cap, &got);
    if (rc != OFFPAY_OK)
        goto out;
    /* cap allows one byte more than the limit (a final Base45 pair). */
    if (got > OFFPAY_MSG_MAX_BYTES) {
        rc = OFFPAY_ETOOBIG;
        goto out;
    }
    if (got < 2) {
        rc = OFFPAY_ETRUNCATED;
        goto out;
    }
    for (size_t k = 0; k < N_KINDS; k++)
        if (kinds[k].type == (offpay_msg_type)out[1] &&
            memcmp(kinds[k].prefix, text, PREFIX_LEN) == 0)
            prefix_ok = 1;
    if (!prefix_ok) {
        rc = OFFPAY_EPREFIX;
        goto out;
    }
    *bytes = out;
    *len = got;
    out = NULL;
out:
    free(out);
    return rc;
}
