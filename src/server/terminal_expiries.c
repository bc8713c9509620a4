/*
 * terminal_expiries.c — POST /v1/terminal/expiries: the signed expiries
 * of revoked credentials, asked by a terminal about the serials it holds
 * revoked ({"serials":["S1","S2",...]}: 1 to SRV_EXPIRIES_MAX, strictly
 * ascending), signed by its key like its upload. The answer names, for
 * each serial the ledger holds revoked, its credential's own expiry (from
 * its signed bytes): {"expires":[{"serial":"S1","expires":T},...]}; a
 * serial the ledger does not hold revoked (never issued, not revoked,
 * revoked in a ledger copy this one lacks) or without its signed bytes
 * is left out. The answer is signed like every answer to a signed
 * request. Serials up to 2^64 - 1 are taken (a list may name any u64):
 * one no ledger issued is simply left out.
 *
 * A terminal lets a serial go once that expiry is more than 15 days
 * before its held list's issued_at, and refuses from then on every
 * credential that expired before that cut (docs/protocol.md §5.7).
 * Nothing is written (but the request's nonce).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int bad(char *hint_buf, size_t hint_cap)
{
    snprintf(hint_buf, hint_cap,
             "serials: 1 to %u serials, each a decimal string from 1, "
             "strictly ascending",
             (unsigned)SRV_EXPIRIES_MAX);
    return SRV_E_BAD_FIELD;
}

int srv_parse_expiries(const uint8_t *body, size_t len,
                       uint64_t serials[SRV_EXPIRIES_MAX], size_t *n,
                       char *hint_buf, size_t hint_cap)
{
    json_error_t jerr;
    json_t      *root, *list;
    size_t       count;
    int          e = 0;

    *n = 0;
    snprintf(hint_buf, hint_cap, "the body is not one JSON object");
    if (body == NULL || len == 0)
        return SRV_E_MALFORMED_JSON;
    root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return SRV_E_MALFORMED_JSON;
    }
    list = json_object_get(root, "serials");
    if (list == NULL || json_object_size(root) != 1) {
        snprintf(hint_buf, hint_cap,
                 list == NULL
                     ? "field 'serials' is missing"
                     : "unknown field: the body is {\"serials\":[...]}");
        e = SRV_E_BAD_FIELD;
        goto out;
    }
    count = json_array_size(list);
    if (!json_is_array(list) || count == 0 || count > SRV_EXPIRIES_MAX) {
        e = bad(hint_buf, hint_cap);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const char *s = json_string_value(json_array_get(list, i));

        if (s == NULL || srv_parse_id(s, UINT64_MAX, &serials[i]) != 0 ||
            (i > 0 && serials[i] <= serials[i - 1])) {
            e = bad(hint_buf, hint_cap);
            goto out;
        }
    }
    *n = count;
out:
    json_decref(root);
    return e;
}

void srv_terminal_expiries(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_info t;
    uint64_t                    serials[SRV_EXPIRIES_MAX];
    uint32_t                    expires[SRV_EXPIRIES_MAX];
    json_t                     *list = NULL;
    char                        hint[96];
    size_t                      n = 0;
    offpay_err                  rc;
    int                         e;

    e = srv_parse_expiries(r->body, r->body_len, serials, &n, hint,
                           sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (srv_auth_terminal(r, &t, out) != 0)
        return;
    rc = offpay_ledger_revoked_expiries(r->l, serials, n, expires);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "revoked expiries");
        return;
    }
    if ((list = json_array()) == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (expires[i] != 0 &&
            json_array_append_new(
                list, json_pack("{s:o, s:I}", "serial", srv_json_id(serials[i]),
                                "expires", (json_int_t)expires[i])) != 0)
            goto oom;
    srv_ok(out,
           json_pack("{s:I, s:o}", "asked", (json_int_t)n, "expires", list));
    return;
oom:
    json_decref(list);
    srv_fail(out, SRV_E_INTERNAL, "out of memory");
}
