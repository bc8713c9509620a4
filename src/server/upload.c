/*
 * upload.c — POST /v1/terminal/upload: a terminal's batch of journal
 * entries, signed by the terminal's own key. Each item is settled by the
 * engine in its own transaction (docs/settlement.md §3-§4) and gets its own
 * result; an item's result is durable before the reply, so the terminal
 * marks each entry from its result and resends the rest. A revoked
 * terminal is still authenticated: the engine refuses only what it
 * accepted after its revocation (§8).
 */
#include <stdio.h>

#include "server/server.h"

static json_t *result_json(const srv_upload_item      *it,
                           const offpay_settle_result *res, offpay_err rc,
                           uint16_t currency)
{
    if (rc != OFFPAY_OK) /* nothing decided: the terminal must resend */
        return json_pack("{s:o, s:s, s:s, s:s}", "seq",
                         srv_json_id((uint64_t)it->seq), "outcome", "error",
                         "reason", offpay_errname(rc), "hint",
                         offpay_strerror(rc));
    return json_pack("{s:o, s:s, s:s?, s:o, s:o, s:b, s:o, s:o?}", "seq",
                     srv_json_id((uint64_t)it->seq), "outcome",
                     srv_outcome_name(res->outcome), "reason",
                     res->reason == OFFPAY_OK ? NULL
                                              : offpay_errname(res->reason),
                     "paid", srv_json_amount(res->paid, currency), "covered",
                     srv_json_amount(res->covered, currency), "replay",
                     res->replay, "presentment", srv_json_id(res->presentment),
                     "case", res->case_id ? srv_json_id(res->case_id) : NULL);
}

void srv_upload_batch(srv_req *r, srv_reply *out)
{
    srv_upload                  up;
    offpay_ledger_terminal_info t;
    char                        hint[160];
    json_t                     *results = NULL;
    size_t                      settled = 0;
    int                         e;

    e = srv_parse_upload(r->body, r->body_len, r->srv->cfg.batch_max, &up, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    if (srv_auth_terminal(r, &t, out) != 0)
        goto out;
    srv_metrics_batch(up.n);
    results = json_array();
    if (results == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < up.n; i++) {
        offpay_settle_item   item;
        offpay_settle_result res = {0};
        offpay_err           rc;

        item.code = up.items[i].code;
        item.code_len = up.items[i].code_len;
        item.charged = up.items[i].charged;
        item.accepted_at = up.items[i].accepted_at;
        item.terminal_seq = up.items[i].seq;
        rc = offpay_ledger_settle(r->l, t.terminal_id, &item, r->now, &res);
        if (rc == OFFPAY_OK) {
            settled++;
            srv_metrics_settled(res.outcome, res.replay);
            if (res.case_id != 0 && !res.replay)
                srv_metrics_case();
        }
        if (json_array_append_new(results, result_json(&up.items[i], &res, rc,
                                                       t.currency)) != 0) {
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    srv_ok(out,
           json_pack("{s:I, s:o, s:b, s:I, s:o}", "terminal_id",
                     (json_int_t)t.terminal_id, "merchant",
                     srv_json_id(t.merchant_id), "terminal_revoked", t.revoked,
                     "decided", (json_int_t)settled, "results", results));
    results = NULL;
out:
    json_decref(results);
    srv_upload_free(&up);
}
