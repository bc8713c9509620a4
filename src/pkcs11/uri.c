/*
 * uri.c — the strict RFC 7512 PKCS#11 URI parser (offpay/pkcs11.h). Pure:
 * no module, no file; fuzzed by fuzz/fuzz_pkcs11_uri.c.
 *
 *   pk11-URI  = "pkcs11:" pk11-path [ "?" pk11-query ]
 *   pk11-path = attr *(";" attr)      attr = name "=" value
 *   pk11-query = attr *("&" attr)
 *
 * Values use RFC 7512's unencoded characters (the query also allows
 * "/", "?" and "|") and %XX; decoded text attributes must be UTF-8-ish
 * printable (no control characters, no NUL); id is raw bytes.
 */
#include <sodium.h>
#include <string.h>

#include "offpay/pkcs11.h"

#define SCHEME "pkcs11:"

static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* RFC 7512 pk11-path-res-avail, and for the query pk11-query-res-avail. */
static int is_allowed(unsigned char c, int query)
{
    if (is_unreserved(c) || c == '%')
        return 1;
    if (strchr(":[]@!$'()*+,=", c) != NULL && c != '\0')
        return 1;
    return query && c != '\0' && strchr("/?|", c) != NULL;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes v[0..n) into out (cap bytes); text: no control byte, no NUL, and
 * out gets a terminating NUL (so cap counts it). */
static offpay_err decode(const char *v, size_t n, int query, int text,
                         uint8_t *out, size_t cap, size_t *out_len)
{
    size_t o = 0;

    if (n == 0)
        return OFFPAY_EPKCS11_URI;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        int           hi, lo;

        if (!is_allowed(c, query))
            return OFFPAY_EPKCS11_URI;
        if (c == '%') {
            if (n - i < 3 || (hi = hexval((unsigned char)v[i + 1])) < 0 ||
                (lo = hexval((unsigned char)v[i + 2])) < 0)
                return OFFPAY_EPKCS11_URI;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (text && (c < 0x20 || c == 0x7f))
            return OFFPAY_EPKCS11_URI;
        if (o + (text ? 1u : 0u) >= cap)
            return OFFPAY_EPKCS11_URI;
        out[o++] = c;
    }
    if (text)
        out[o] = 0;
    *out_len = o;
    return OFFPAY_OK;
}

/* The slot of name, or NULL if unknown; *seen tracks duplicates. */
enum { A_TOKEN, A_SERIAL, A_OBJECT, A_ID, A_TYPE, A_PINV, A_PINS, A_MOD };

static int attr_index(const char *name, size_t n, int query)
{
    static const char *const path_names[] = {"token", "serial", "object", "id",
                                             "type"};
    static const char *const query_names[] = {"pin-value", "pin-source",
                                              "module-path"};

    if (!query) {
        for (int i = 0; i < 5; i++)
            if (strlen(path_names[i]) == n &&
                memcmp(path_names[i], name, n) == 0)
                return i;
    } else {
        for (int i = 0; i < 3; i++)
            if (strlen(query_names[i]) == n &&
                memcmp(query_names[i], name, n) == 0)
                return A_PINV + i;
    }
    return -1;
}

static offpay_err set_attr(offpay_pkcs11_uri *u, int a, const char *v, size_t n,
                           int query)
{
    size_t     len = 0;
    offpay_err rc;

    switch (a) {
    case A_TOKEN:
        return decode(v, n, query, 1, (uint8_t *)u->token, sizeof u->token,
                      &len);
    case A_SERIAL:
        return decode(v, n, query, 1, (uint8_t *)u->serial, sizeof u->serial,
                      &len);
    case A_OBJECT:
        return decode(v, n, query, 1, (uint8_t *)u->object, sizeof u->object,
                      &len);
    case A_ID:
        return decode(v, n, query, 0, u->id, sizeof u->id, &u->id_len);
    case A_TYPE:
        rc = decode(v, n, query, 1, (uint8_t *)u->type, sizeof u->type, &len);
        if (rc == OFFPAY_OK && strcmp(u->type, "private") != 0 &&
            strcmp(u->type, "public") != 0)
            rc = OFFPAY_EPKCS11_URI;
        return rc;
    case A_PINV:
        return decode(v, n, query, 1, (uint8_t *)u->pin_value,
                      sizeof u->pin_value, &len);
    case A_PINS:
        rc = decode(v, n, query, 1, (uint8_t *)u->pin_source,
                    sizeof u->pin_source, &len);
        if (rc == OFFPAY_OK && u->pin_source[0] != '/' &&
            strncmp(u->pin_source, "file:/", 6) != 0)
            rc = OFFPAY_EPKCS11_URI;
        return rc;
    case A_MOD:
        rc = decode(v, n, query, 1, (uint8_t *)u->module_path,
                    sizeof u->module_path, &len);
        if (rc == OFFPAY_OK && u->module_path[0] != '/')
            rc = OFFPAY_EPKCS11_URI;
        return rc;
    default:
        return OFFPAY_EPKCS11_URI;
    }
}

offpay_err offpay_pkcs11_uri_parse(const char *text, offpay_pkcs11_uri *out)
{
    size_t     len, i;
    int        seen[8] = {0};
    int        query = 0;
    offpay_err rc = OFFPAY_EPKCS11_URI;

    if (text == NULL || out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    len = strnlen(text, OFFPAY_PKCS11_URI_MAX + 1);
    if (len > OFFPAY_PKCS11_URI_MAX || len <= strlen(SCHEME) ||
        memcmp(text, SCHEME, strlen(SCHEME)) != 0)
        goto out;
    i = strlen(SCHEME);
    while (i < len) {
        size_t start = i, eq = 0, end;
        int    a;

        /* One attribute up to ';' (path), '&' (query) or '?' (path end). */
        while (i < len && text[i] != (query ? '&' : ';') &&
               (query || text[i] != '?')) {
            if (eq == 0 && text[i] == '=')
                eq = i;
            i++;
        }
        end = i;
        if (eq == 0 || eq == start)
            goto out;
        a = attr_index(text + start, eq - start, query);
        if (a < 0 || seen[a])
            goto out;
        seen[a] = 1;
        if (set_attr(out, a, text + eq + 1, end - eq - 1, query) != OFFPAY_OK)
            goto out;
        if (i == len)
            break;
        if (!query && text[i] == '?')
            query = 1;
        i++;
        if (i == len) /* a trailing separator */
            goto out;
    }
    if (!seen[A_OBJECT] && !seen[A_ID])
        goto out;
    if (seen[A_PINV] && seen[A_PINS])
        goto out;
    rc = OFFPAY_OK;
out:
    if (rc != OFFPAY_OK)
        sodium_memzero(out, sizeof *out);
    return rc;
}

void offpay_pkcs11_uri_wipe(offpay_pkcs11_uri *u)
{
    if (u != NULL)
        sodium_memzero(u, sizeof *u);
}

int offpay_pkcs11_uri_storable(const char *text)
{
    offpay_pkcs11_uri u;
    int               ok;

    ok = offpay_pkcs11_uri_parse(text, &u) == OFFPAY_OK &&
         u.pin_value[0] == '\0';
    offpay_pkcs11_uri_wipe(&u);
    return ok;
}
