/*
 * fuzz_server_params.c — libFuzzer target for the parts of a request line
 * offpayd parses: the routing table's look-up of (method, path) and the
 * decimal ids of path segments and query parameters (srv_parse_u64,
 * srv_parse_id). The
 * input is "METHOD PATH" or any bytes.
 *
 * Contract checked on every input:
 *   - look-up never crashes; it finds a route, or answers NOT_FOUND or
 *     METHOD_NOT_ALLOWED; matched segments are 1..SRV_SEG_MAX bytes
 *     without '/';
 *   - srv_parse_u64 accepts exactly the canonical decimal form: printing
 *     the value gives back the input;
 *   - srv_parse_id accepts exactly what srv_parse_u64 does, less 0;
 *   - srv_parse_page, given the input as after and as limit, accepts it
 *     only as one value within both bounds (1..SRV_PAGE_MAX);
 *   - offpay_action_cursor_parse (GET /v1/admin/actions' after) accepts
 *     exactly the canonical AT.SHARD.ID: printing what it read with
 *     offpay_action_cursor gives back the input, and the shard is below
 *     OFFPAY_SHARDS_MAX;
 *   - srv_quote (a parameter's or a field's name in a hint) gives at most
 *     SRV_QUOTE_MAX bytes that Jansson takes as a string (valid UTF-8):
 *     an answer's hint that is not would turn a 400 into a 500.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char       *buf = malloc(size + 1), *path;
    char        seg[2][SRV_SEG_MAX + 1];
    char        back[24];
    const char *pattern = NULL;
    uint64_t    v, id, after, limit;
    int         e;

    if (buf == NULL)
        abort();
    if (size > 0)
        memcpy(buf, data, size);
    buf[size] = '\0';
    if (srv_parse_u64(buf, UINT64_MAX, &v) == 0) {
        snprintf(back, sizeof back, "%llu", (unsigned long long)v);
        if (strcmp(back, buf) != 0)
            abort();
    }
    if ((srv_parse_id(buf, UINT64_MAX, &id) == 0) !=
            (srv_parse_u64(buf, UINT64_MAX, &v) == 0 && v != 0) ||
        (srv_parse_id(buf, UINT64_MAX, &id) == 0 && id != v))
        abort();
    if (srv_parse_page(buf, buf, &after, &limit) == 0 &&
        (after != limit || limit == 0 || limit > SRV_PAGE_MAX ||
         srv_parse_u64(buf, SRV_PAGE_MAX, &v) != 0 || v != limit))
        abort();
    {
        offpay_action_filter   f;
        offpay_operator_action a;
        char                   c[OFFPAY_ACTION_CURSOR_MAX];

        memset(&f, 0, sizeof f);
        if (offpay_action_cursor_parse(buf, &f)) {
            memset(&a, 0, sizeof a);
            a.at = f.after_at;
            a.shard = f.after_shard;
            a.id = f.after_id;
            offpay_action_cursor(&a, c);
            if (!f.after_set || f.after_shard >= OFFPAY_SHARDS_MAX ||
                f.after_id > INT64_MAX || strcmp(c, buf) != 0)
                abort();
        } else if (f.after_set) {
            abort(); /* a refused cursor leaves the filter as it was */
        }
    }
    {
        char    q[SRV_QUOTE_MAX + 1];
        json_t *j = json_string(srv_quote(buf, q));

        if (j == NULL || strlen(q) > SRV_QUOTE_MAX)
            abort();
        json_decref(j);
    }
    path = strchr(buf, ' ');
    if (path != NULL) {
        *path++ = '\0';
        memset(seg, 0, sizeof seg);
        e = srv_route_lookup(buf, path, &pattern, seg);
        if (e == 0) {
            if (pattern == NULL)
                abort();
            for (int i = 0; i < 2; i++)
                if (strlen(seg[i]) > SRV_SEG_MAX || strchr(seg[i], '/'))
                    abort();
        } else if (e != SRV_E_NOT_FOUND && e != SRV_E_METHOD_NOT_ALLOWED) {
            abort();
        }
    }
    free(buf);
    return 0;
}
