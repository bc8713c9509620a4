/*
 * fuzz_server_admin.c — libFuzzer target for srv_parse_object with every
 * operator body's field table (src/server/parse.c), and srv_parse_key.
 *
 * Contract checked on every input:
 *   - parsing never crashes or leaks; it fails only with MALFORMED_JSON or
 *     BAD_FIELD, with every value cleared and no document kept, and a hint
 *     Jansson takes as a string (valid UTF-8: the answer's body quotes it);
 *   - on success every required field is present, each string is 1..max
 *     bytes without NUL, each id and integer within its maximum;
 *   - srv_parse_key accepts exactly 64 lowercase hex digits;
 *   - offpay_ledger_request_key_ok (the Idempotency-Key header) accepts
 *     exactly 1..OFFPAY_REQUEST_KEY_MAX printable ASCII characters without
 *     space.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static const struct {
    const srv_field *f;
    size_t           n;
} tables[] = {
    {srv_fields_account, SRV_N(srv_fields_account)},
    {srv_fields_money, SRV_N(srv_fields_money)},
    {srv_fields_guarantee, SRV_N(srv_fields_guarantee)},
    {srv_fields_merchant, SRV_N(srv_fields_merchant)},
    {srv_fields_terminal, SRV_N(srv_fields_terminal)},
    {srv_fields_terminal_label, SRV_N(srv_fields_terminal_label)},
    {srv_fields_credential, SRV_N(srv_fields_credential)},
    {srv_fields_revoke, SRV_N(srv_fields_revoke)},
    {srv_fields_refund, SRV_N(srv_fields_refund)},
    {srv_fields_terminal_revoke, SRV_N(srv_fields_terminal_revoke)},
    {srv_fields_release, SRV_N(srv_fields_release)},
    {srv_fields_case_note, SRV_N(srv_fields_case_note)},
    {srv_fields_case_close, SRV_N(srv_fields_case_close)},
    {srv_fields_case_reopen, SRV_N(srv_fields_case_reopen)},
};

static void check_table(const uint8_t *data, size_t size, const srv_field *f,
                        size_t n)
{
    srv_value v[8];
    json_t   *doc = NULL;
    char      hint[128];
    int e = srv_parse_object(data, size, f, n, v, &doc, hint, sizeof hint);

    if (e != 0) {
        if ((e != SRV_E_MALFORMED_JSON && e != SRV_E_BAD_FIELD) || doc != NULL)
            abort();
        json_t *h = json_string(hint);

        for (size_t i = 0; i < n; i++)
            if (v[i].present || v[i].s != NULL)
                abort();
        if (h == NULL)
            abort();
        json_decref(h);
        return;
    }
    if (doc == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (f[i].required && !v[i].present)
            abort();
        if (!v[i].present)
            continue;
        if (f[i].type == SRV_FT_STRING &&
            (v[i].s == NULL || strlen(v[i].s) == 0 ||
             strlen(v[i].s) > f[i].max))
            abort();
        if ((f[i].type == SRV_FT_ID || f[i].type == SRV_FT_UINT) &&
            v[i].u > f[i].max)
            abort();
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t pk[OFFPAY_PK_BYTES];
    char   *s;

    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        check_table(data, size, tables[t].f, tables[t].n);
    s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    if (srv_parse_key(s, pk) == 0) {
        if (strlen(s) != 64)
            abort();
        for (size_t i = 0; i < 64; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                abort();
    }
    if (offpay_ledger_request_key_ok(s)) {
        size_t n = strlen(s);

        if (n == 0 || n > OFFPAY_REQUEST_KEY_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if (s[i] < 0x21 || s[i] > 0x7e)
                abort();
    } else if (size > 0 && size <= OFFPAY_REQUEST_KEY_MAX &&
               memchr(data, 0, size) == NULL) {
        size_t i = 0;

        while (i < size && data[i] >= 0x21 && data[i] <= 0x7e)
            i++;
        if (i == size) /* a well-formed key refused */
            abort();
    }
    free(s);
    return 0;
}
