/*
 * terminal_status.c — POST /v1/terminal/status: a terminal, at the end of
 * its sync, reports how many journal entries it still holds un-uploaded
 * and its own clock then, signed by its key like an upload
 * ({"pending": N, "synced_at": T}). offpayd keeps the newest report per
 * terminal for the operator's dashboard (GET /v1/admin/overview). Older
 * terminals never send it: the dashboard then shows their last upload
 * only. A revoked terminal may still report (its last upload may be due);
 * the reply tells it that it is revoked ("terminal_revoked"), so that it
 * stops accepting even when it had nothing to upload.
 */
#include <stdio.h>

#include "server/server.h"

static const srv_field status_fields[2] = {
    /* a journal never holds more rows than a JSON number keeps exact */
    {"pending", SRV_FT_UINT, 1, (1ULL << 53) - 1},
    {"synced_at", SRV_FT_UINT, 1, UINT32_MAX},
};

void srv_terminal_status(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_info t;
    srv_value                   v[2];
    json_t                     *doc = NULL;
    char                        hint[96];
    offpay_err                  rc;
    int                         e;

    e = srv_parse_object(r->body, r->body_len, status_fields,
                         SRV_N(status_fields), v, &doc, hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        goto out;
    }
    if (srv_auth_terminal(r, &t, out) != 0)
        goto out;
    rc = offpay_ledger_terminal_report(r->l, t.terminal_id, v[0].u,
                                       (uint32_t)v[1].u, r->now);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal report");
        goto out;
    }
    srv_ok(out, json_pack("{s:I, s:I, s:I, s:b}", "terminal_id",
                          (json_int_t)t.terminal_id, "pending",
                          (json_int_t)v[0].u, "reported_at",
                          (json_int_t)r->now, "terminal_revoked", t.revoked));
out:
    json_decref(doc);
}
