/*
 * terminal_status.c — POST /v1/terminal/status: a terminal, during its
 * sync, reports how many journal entries it still holds un-uploaded and
 * its own clock then, signed by its key like an upload
 * ({"pending": N, "synced_at": T}); from 0.27.0 also what a payment meets
 * there ("state": "OK" or an error name), when it last took offpayd's
 * lists ("lists_at") and the money its pending payments hold
 * ("pending_amount", decimal text in its currency). offpayd keeps the
 * newest report per terminal for the operator (GET /v1/admin/overview,
 * /v1/admin/terminals, /metrics). Older terminals send the first two
 * only, or nothing: the dashboard then shows what they sent, or their
 * last upload only. A revoked terminal may still report (its last upload
 * may be due); the reply tells it that it is revoked
 * ("terminal_revoked"), so that it stops accepting even when it had
 * nothing to upload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static const srv_field status_fields[5] = {
    /* a journal never holds more rows than a JSON number keeps exact */
    {"pending", SRV_FT_UINT, 1, (1ULL << 53) - 1},
    {"synced_at", SRV_FT_UINT, 1, UINT32_MAX},
    {"state", SRV_FT_STRING, 0, OFFPAY_TERMINAL_STATE_MAX - 1},
    {"lists_at", SRV_FT_UINT, 0, UINT32_MAX},
    {"pending_amount", SRV_FT_AMOUNT, 0, 24},
};

json_t *srv_json_report(const offpay_terminal_report *rp, uint16_t currency)
{
    int known = rp->state_known;

    if (!rp->reported)
        return json_null();
    return json_pack(
        "{s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "reported_at",
        (json_int_t)rp->reported_at, "synced_at", (json_int_t)rp->synced_at,
        "pending", (json_int_t)rp->pending,
        /* null: an older terminal, which said none of these */
        "state", known ? json_string(rp->state) : json_null(), "accepting",
        known ? json_boolean(strcmp(rp->state, "OK") == 0) : json_null(),
        /* 0: it never took them */
        "lists_at",
        known ? json_integer((json_int_t)rp->lists_at) : json_null(),
        "pending_amount",
        known ? srv_json_amount(rp->pending_amount, currency) : json_null());
}

int srv_parse_terminal_status(const uint8_t *body, size_t len,
                              offpay_terminal_report *rp, const char **amount,
                              json_t **doc, char *hint, size_t cap)
{
    srv_value v[SRV_N(status_fields)];
    size_t    n_fields = SRV_N(status_fields);
    int       e, n_new;

#ifdef OFFPAY_TEST_HOOKS
    /* an offpayd before 0.27.0, which knew the first two fields only (a
     * newer terminal's fallback is tested against it) */
    if (getenv("OFFPAY_TEST_STATUS_BEFORE_0_27") != NULL)
        n_fields = 2;
#endif
    memset(rp, 0, sizeof *rp);
    memset(v, 0, sizeof v);
    *amount = NULL;
    e = srv_parse_object(body, len, status_fields, n_fields, v, doc, hint, cap);
    if (e != 0)
        return e;
    /* the three of 0.27.0 come together, or none (an older terminal) */
    n_new = v[2].present + v[3].present + v[4].present;
    if (n_new != 0 && n_new != 3) {
        snprintf(hint, cap,
                 "fields 'state', 'lists_at' and "
                 "'pending_amount' come together, or none of "
                 "them");
        return SRV_E_BAD_FIELD;
    }
    rp->pending = v[0].u;
    rp->synced_at = (uint32_t)v[1].u;
    if (n_new == 3) {
        if (!offpay__terminal_state_ok(v[2].s)) {
            snprintf(hint, cap,
                     "field 'state' is malformed: \"OK\" or an "
                     "error name such as \"ESYNC_REQUIRED\" "
                     "(capitals, digits and '_')");
            return SRV_E_BAD_FIELD;
        }
        rp->state_known = 1;
        snprintf(rp->state, sizeof rp->state, "%s", v[2].s);
        rp->lists_at = (uint32_t)v[3].u;
        *amount = v[4].s;
    }
    return 0;
}

void srv_terminal_status(srv_req *r, srv_reply *out)
{
    offpay_ledger_terminal_info t;
    offpay_terminal_report      rp;
    json_t                     *doc = NULL;
    const char                 *amount;
    char                        hint[128];
    offpay_err                  rc;
    int                         e;

    e = srv_parse_terminal_status(r->body, r->body_len, &rp, &amount, &doc,
                                  hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        goto out;
    }
    if (srv_auth_terminal(r, &t, out) != 0)
        goto out;
    rp.reported_at = r->now;
    /* in the terminal's currency, which is its merchant's */
    if (amount != NULL &&
        (rc = offpay_amount_parse(amount, t.currency, &rp.pending_amount)) !=
            OFFPAY_OK) {
        srv_fail_amount(out, rc, "pending_amount", amount, t.currency);
        goto out;
    }
    if (rp.pending == 0 && rp.pending_amount != 0) {
        srv_fail(out, SRV_E_BAD_FIELD,
                 "field 'pending_amount': the charges of the pending "
                 "payments summed, so 0 when 'pending' is 0");
        goto out;
    }
    rc = offpay_ledger_terminal_report(r->l, t.terminal_id, &rp);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal report");
        goto out;
    }
    srv_terminals_due();
    srv_ok(out, json_pack("{s:I, s:I, s:I, s:b}", "terminal_id",
                          (json_int_t)t.terminal_id, "pending",
                          (json_int_t)rp.pending, "reported_at",
                          (json_int_t)r->now, "terminal_revoked", t.revoked));
out:
    json_decref(doc);
}
