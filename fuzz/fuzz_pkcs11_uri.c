/*
 * fuzz_pkcs11_uri.c — libFuzzer target for the strict RFC 7512 PKCS#11 URI
 * parser (offpay/pkcs11.h). The input, cut at its first NUL, is parsed:
 *   - the result is OFFPAY_OK or OFFPAY_EPKCS11_URI, nothing else, and a
 *     refusal leaves the output all zero (no half-parsed PIN);
 *   - what parses names a key (object or id) and every text attribute is
 *     free of control characters;
 *   - the parsed URI, written back with every byte outside RFC 3986's
 *     unreserved set percent-encoded, parses to exactly the same value.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/pkcs11.h"

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* Appends name=value (bytes v[0..n)) to out, percent-encoded. */
static void put(char *out, size_t cap, size_t *at, const char *sep,
                const char *name, const uint8_t *v, size_t n)
{
    int w;

    if (n == 0)
        return;
    w = snprintf(out + *at, cap - *at, "%s%s=", sep, name);
    if (w < 0 || (size_t)w >= cap - *at)
        abort();
    *at += (size_t)w;
    for (size_t i = 0; i < n; i++) {
        if (*at + 4 >= cap)
            abort();
        if (unreserved(v[i]))
            out[(*at)++] = (char)v[i];
        else
            *at += (size_t)snprintf(out + *at, 4, "%%%02X", v[i]);
    }
    out[*at] = '\0';
}

static void put_text(char *out, size_t cap, size_t *at, int *first_q, int query,
                     const char *name, const char *v)
{
    const char *sep;

    if (v[0] == '\0')
        return;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
    if (query)
        sep = *first_q ? "?" : "&";
    else
        sep = *at == strlen("pkcs11:") ? "" : ";";
    put(out, cap, at, sep, name, (const uint8_t *)v, strlen(v));
    if (query)
        *first_q = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char             *text = malloc(size + 1);
    static char       again[8 * OFFPAY_PKCS11_URI_MAX];
    offpay_pkcs11_uri u, v;
    size_t            at;
    int               first_q = 1;
    offpay_err        rc;

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    rc = offpay_pkcs11_uri_parse(text, &u);
    if (rc != OFFPAY_OK) {
        if (rc != OFFPAY_EPKCS11_URI ||
            !sodium_is_zero((const unsigned char *)&u, sizeof u))
            abort();
        goto out;
    }
    if (u.object[0] == '\0' && u.id_len == 0)
        abort();
    if (u.pin_value[0] != '\0' && u.pin_source[0] != '\0')
        abort();
    strcpy(again, "pkcs11:");
    at = strlen(again);
    put_text(again, sizeof again, &at, &first_q, 0, "token", u.token);
    put_text(again, sizeof again, &at, &first_q, 0, "serial", u.serial);
    put_text(again, sizeof again, &at, &first_q, 0, "object", u.object);
    put(again, sizeof again, &at, at == strlen("pkcs11:") ? "" : ";", "id",
        u.id, u.id_len);
    put_text(again, sizeof again, &at, &first_q, 0, "type", u.type);
    put_text(again, sizeof again, &at, &first_q, 1, "pin-value", u.pin_value);
    put_text(again, sizeof again, &at, &first_q, 1, "pin-source", u.pin_source);
    put_text(again, sizeof again, &at, &first_q, 1, "module-path",
             u.module_path);
    /* Encoding may make the text longer than the cap: then it is refused,
     * and otherwise it must give the same value back. */
    rc = offpay_pkcs11_uri_parse(again, &v);
    if (strlen(again) <= OFFPAY_PKCS11_URI_MAX &&
        (rc != OFFPAY_OK || memcmp(&u, &v, sizeof u) != 0))
        abort();
    if (strlen(again) > OFFPAY_PKCS11_URI_MAX && rc != OFFPAY_EPKCS11_URI)
        abort();
    offpay_pkcs11_uri_wipe(&v);
out:
    offpay_pkcs11_uri_wipe(&u);
    free(text);
    return 0;
}
