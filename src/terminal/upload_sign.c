/*
 * upload_sign.c — the signed HTTP request format of offpayd (upload_int.h):
 * the bytes a request signature covers, signing, verification, and the
 * strict parse of the four headers that carry it.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "terminal/terminal_int.h"
#include "terminal/upload_int.h"

/* Longest signed text: method, path, time, nonce and digest, 4 newlines. */
#define SIGNED_MAX                                                             \
    (OFFPAY__HTTP_METHOD_MAX + OFFPAY__HTTP_PATH_MAX + 10 +                    \
     2 * OFFPAY__HTTP_NONCE_BYTES + 2 * crypto_hash_sha256_BYTES + 4 + 1)

static int method_ok(const char *m)
{
    size_t n = m == NULL ? 0 : strlen(m);

    if (n == 0 || n > OFFPAY__HTTP_METHOD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return 0;
    return 1;
}

static int path_ok(const char *p)
{
    size_t n = p == NULL ? 0 : strlen(p);

    if (n == 0 || n > OFFPAY__HTTP_PATH_MAX || p[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return 0;
    return 1;
}

offpay_err offpay__http_body_digest(const uint8_t *body, size_t len,
                                    uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES])
{
    if (body == NULL && len != 0)
        return OFFPAY_EINVAL;
    crypto_hash_sha256(digest, body == NULL ? (const uint8_t *)"" : body, len);
    return OFFPAY_OK;
}

/* The text the signature covers into buf (SIGNED_MAX); *n its length. */
static offpay_err signed_text(const char *method, const char *path,
                              uint32_t      time,
                              const uint8_t nonce[OFFPAY__HTTP_NONCE_BYTES],
                              const uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES],
                              char *buf, size_t *n)
{
    char nonce_hex[OFFPAY__HTTP_NONCE_TEXT];
    char digest_hex[2 * OFFPAY__HTTP_DIGEST_BYTES + 1];
    int  w;

    if (!method_ok(method) || !path_ok(path))
        return OFFPAY_EINVAL;
    sodium_bin2hex(nonce_hex, sizeof nonce_hex, nonce,
                   OFFPAY__HTTP_NONCE_BYTES);
    sodium_bin2hex(digest_hex, sizeof digest_hex, digest,
                   OFFPAY__HTTP_DIGEST_BYTES);
    w = snprintf(buf, SIGNED_MAX, "%s\n%s\n%u\n%s\n%s", method, path,
                 (unsigned)time, nonce_hex, digest_hex);
    if (w < 0 || (size_t)w >= SIGNED_MAX)
        return OFFPAY_EINVAL;
    *n = (size_t)w;
    return OFFPAY_OK;
}

offpay_err offpay__http_sign_by(const offpay_signer *s,
                                const uint8_t        pk[OFFPAY_PK_BYTES],
                                const char *method, const char *path,
                                uint32_t time, const uint8_t *body, size_t len,
                                offpay__http_auth *out)
{
    char       text[SIGNED_MAX];
    uint8_t    digest[OFFPAY__HTTP_DIGEST_BYTES];
    size_t     n = 0;
    offpay_err rc;

    if (s == NULL || pk == NULL || out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    memcpy(out->pk, pk, OFFPAY_PK_BYTES);
    out->time = time;
    randombytes_buf(out->nonce, sizeof out->nonce);
    rc = offpay__http_body_digest(body, len, digest);
    if (rc == OFFPAY_OK)
        rc = signed_text(method, path, time, out->nonce, digest, text, &n);
    if (rc == OFFPAY_OK)
        rc = offpay_signer_sign(s, OFFPAY_DS_HTTP_REQUEST,
                                (const uint8_t *)text, n, out->sig);
    return rc;
}

offpay_err offpay__http_sign(const uint8_t sk[OFFPAY_SK_BYTES],
                             const uint8_t pk[OFFPAY_PK_BYTES],
                             const char *method, const char *path,
                             uint32_t time, const uint8_t *body, size_t len,
                             offpay__http_auth *out)
{
    offpay_signer s = {sk, NULL};

    if (sk == NULL)
        return OFFPAY_EINVAL;
    return offpay__http_sign_by(&s, pk, method, path, time, body, len, out);
}

offpay_err offpay__http_verify(const offpay__http_auth *a, const char *method,
                               const char *path, const uint8_t *body,
                               size_t len)
{
    uint8_t    digest[OFFPAY__HTTP_DIGEST_BYTES];
    offpay_err rc = offpay__http_body_digest(body, len, digest);

    return rc != OFFPAY_OK
               ? rc
               : offpay__http_verify_digest(a, method, path, digest);
}

offpay_err
offpay__http_verify_digest(const offpay__http_auth *a, const char *method,
                           const char   *path,
                           const uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES])
{
    char       text[SIGNED_MAX];
    size_t     n = 0;
    offpay_err rc;

    if (a == NULL || digest == NULL)
        return OFFPAY_EINVAL;
    rc = signed_text(method, path, a->time, a->nonce, digest, text, &n);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay_verify(OFFPAY_DS_HTTP_REQUEST, (const uint8_t *)text, n,
                         a->sig, a->pk, OFFPAY_ECODE_SIG);
}

void offpay__http_auth_format(const offpay__http_auth *a,
                              offpay__http_auth_text  *out)
{
    sodium_bin2hex(out->key, sizeof out->key, a->pk, OFFPAY_PK_BYTES);
    snprintf(out->time, sizeof out->time, "%u", (unsigned)a->time);
    sodium_bin2hex(out->nonce, sizeof out->nonce, a->nonce,
                   OFFPAY__HTTP_NONCE_BYTES);
    sodium_bin2base64(out->sig, sizeof out->sig, a->sig, OFFPAY_SIG_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* Exactly 2n lowercase hex digits into b[0..n). */
static int hex_exact(const char *s, uint8_t *b, size_t n)
{
    size_t got = 0;

    if (strlen(s) != 2 * n)
        return 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return sodium_hex2bin(b, n, s, 2 * n, NULL, &got, NULL) == 0 && got == n;
}

/* n bytes at s as a decimal without a leading zero, 1 to digits digits,
 * at most max, into *v: 1, or 0 for any other text. */
static int dec_exact(const char *s, size_t n, size_t digits, uint64_t max,
                     uint64_t *v)
{
    uint64_t x = 0;

    if (n == 0 || n > digits || (n > 1 && s[0] == '0'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return x <= max;
}

/* upload_int.h */
int offpay__sig_b64(const char *s, uint8_t sig[OFFPAY_SIG_BYTES])
{
    char   back[OFFPAY__HTTP_SIG_TEXT];
    size_t got = 0;

    if (strlen(s) != OFFPAY__HTTP_SIG_TEXT - 1 ||
        sodium_base642bin(sig, OFFPAY_SIG_BYTES, s, strlen(s), NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != OFFPAY_SIG_BYTES)
        return 0;
    sodium_bin2base64(back, sizeof back, sig, OFFPAY_SIG_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    return strcmp(back, s) == 0;
}

offpay_err offpay__http_auth_parse(const char *key, const char *time,
                                   const char *nonce, const char *sig,
                                   offpay__http_auth *out)
{
    uint64_t t = 0;

    if (out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    if (key == NULL || time == NULL || nonce == NULL || sig == NULL)
        return OFFPAY_ENOTFOUND;
    if (!hex_exact(key, out->pk, OFFPAY_PK_BYTES) ||
        !hex_exact(nonce, out->nonce, OFFPAY__HTTP_NONCE_BYTES))
        return OFFPAY_EMALFORMED;
    if (!dec_exact(time, strlen(time), 10, UINT32_MAX, &t))
        return OFFPAY_EMALFORMED;
    out->time = (uint32_t)t;
    if (!offpay__sig_b64(sig, out->sig))
        return OFFPAY_EMALFORMED;
    return OFFPAY_OK;
}

/* ---- answers ----------------------------------------------------------- */

offpay_err
offpay__http_answer_text(long status, const char *path,
                         const offpay__http_auth *req,
                         const uint8_t  req_digest[OFFPAY__HTTP_DIGEST_BYTES],
                         const uint8_t *body, size_t len, char *buf, size_t *n)
{
    char    key_hex[2 * OFFPAY_PK_BYTES + 1];
    char    nonce_hex[OFFPAY__HTTP_NONCE_TEXT];
    char    asked_hex[2 * OFFPAY__HTTP_DIGEST_BYTES + 1];
    char    digest_hex[2 * OFFPAY__HTTP_DIGEST_BYTES + 1];
    uint8_t digest[OFFPAY__HTTP_DIGEST_BYTES];
    int     w;

    if (status < 100 || status > 599 || !path_ok(path) || req == NULL ||
        req_digest == NULL || buf == NULL || n == NULL ||
        offpay__http_body_digest(body, len, digest) != OFFPAY_OK)
        return OFFPAY_EINVAL;
    sodium_bin2hex(nonce_hex, sizeof nonce_hex, req->nonce,
                   OFFPAY__HTTP_NONCE_BYTES);
    sodium_bin2hex(key_hex, sizeof key_hex, req->pk, OFFPAY_PK_BYTES);
    sodium_bin2hex(asked_hex, sizeof asked_hex, req_digest,
                   OFFPAY__HTTP_DIGEST_BYTES);
    sodium_bin2hex(digest_hex, sizeof digest_hex, digest, sizeof digest);
    w = snprintf(buf, OFFPAY__HTTP_ANSWER_SIGNED, "%ld\n%s\n%s\n%u\n%s\n%s\n%s",
                 status, path, key_hex, (unsigned)req->time, nonce_hex,
                 asked_hex, digest_hex);
    if (w < 0 || (size_t)w >= OFFPAY__HTTP_ANSWER_SIGNED)
        return OFFPAY_EINVAL;
    *n = (size_t)w;
    return OFFPAY_OK;
}

void offpay__http_answer_format(uint16_t      kid,
                                const uint8_t sig[OFFPAY_SIG_BYTES],
                                char          out[OFFPAY__HTTP_ANSWER_TEXT])
{
    char b64[OFFPAY__HTTP_SIG_TEXT];

    sodium_bin2base64(b64, sizeof b64, sig, OFFPAY_SIG_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, OFFPAY__HTTP_ANSWER_TEXT, "%u %s", (unsigned)kid, b64);
}

offpay_err offpay__http_answer_verify(
    const offpay_trust_bundle *b, const char *header, uint32_t now, long status,
    const char *path, const offpay__http_auth *req, const uint8_t *req_digest,
    const uint8_t *body, size_t len, uint16_t *kid)
{
    char           text[OFFPAY__HTTP_ANSWER_SIGNED];
    uint8_t        sig[OFFPAY_SIG_BYTES];
    const char    *sp;
    const uint8_t *pk = NULL;
    size_t         n = 0;
    uint64_t       k = 0;
    offpay_err     rc;

    if (kid != NULL)
        *kid = 0;
    if (b == NULL || req == NULL)
        return OFFPAY_EINVAL;
    if (header == NULL)
        return OFFPAY_ENOTFOUND;
    /* KID: 1 to 5 digits, no leading zero, at most 65535; one space; the
     * signature's canonical base64 */
    sp = strchr(header, ' ');
    if (sp == NULL ||
        !dec_exact(header, (size_t)(sp - header), 5, UINT16_MAX, &k) ||
        !offpay__sig_b64(sp + 1, sig))
        return OFFPAY_EMALFORMED;
    if (kid != NULL)
        *kid = (uint16_t)k;
    for (size_t i = 0; i < b->n_keys; i++) {
        const offpay_bundle_key *bk = &b->keys[i];

        if (bk->kid != k)
            continue;
        /* a key long over by the device's own clock signs nothing (one
         * not begun yet may: the device's clock may be behind) */
        if ((uint64_t)bk->valid_until + OFFPAY__HTTP_ANSWER_SLACK <
            (uint64_t)now)
            return OFFPAY_EKID_EXPIRED;
        pk = bk->pk;
    }
    if (pk == NULL)
        return OFFPAY_EUNKNOWN_KID;
    rc = offpay__http_answer_text(status, path, req, req_digest, body, len,
                                  text, &n);
    if (rc != OFFPAY_OK)
        return rc;
    return offpay_verify(OFFPAY_DS_HTTP_ANSWER, (const uint8_t *)text, n, sig,
                         pk, OFFPAY_ECODE_SIG);
}

void offpay__rotate_message(const uint8_t old_pk[OFFPAY_PK_BYTES],
                            uint32_t      old_id,
                            const uint8_t new_pk[OFFPAY_PK_BYTES],
                            uint8_t       msg[OFFPAY__ROTATE_MSG_BYTES])
{
    memcpy(msg, old_pk, OFFPAY_PK_BYTES);
    msg[OFFPAY_PK_BYTES] = (uint8_t)(old_id >> 24);
    msg[OFFPAY_PK_BYTES + 1] = (uint8_t)(old_id >> 16);
    msg[OFFPAY_PK_BYTES + 2] = (uint8_t)(old_id >> 8);
    msg[OFFPAY_PK_BYTES + 3] = (uint8_t)old_id;
    memcpy(msg + OFFPAY_PK_BYTES + 4, new_pk, OFFPAY_PK_BYTES);
}

const offpay_trust_bundle *offpay__terminal_bundle(const offpay_terminal *t)
{
    return &t->bundle;
}

const uint8_t *offpay__terminal_root(const offpay_terminal *t)
{
    return t->root_pk;
}

int offpay__terminal_can_sign(const offpay_terminal *t)
{
    return t != NULL && t->has_key;
}

offpay_err offpay__terminal_sign_http(const offpay_terminal *t,
                                      const char *method, const char *path,
                                      uint32_t time, const uint8_t *body,
                                      size_t len, offpay__http_auth *out)
{
    if (t == NULL)
        return OFFPAY_EINVAL;
    if (!t->has_key)
        return OFFPAY_EPASSPHRASE;
    return offpay__http_sign_by(
        &(offpay_signer){t->p11 ? NULL : t->kp.sk, t->p11}, t->kp.pk, method,
        path, time, body, len, out);
}
