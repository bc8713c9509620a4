/*
 * terminal_check.c — POST /v1/terminal/check: which of a terminal's
 * payments the ledger holds, signed by the terminal like its upload and
 * with the upload's body ({"items":[{"seq","code","charged",
 * "accepted_at"}, ...]}, only the codes read). Each result says whether
 * the ledger holds this terminal's presentment of exactly that code, as
 * an upload would find it for an exact replay. Nothing is settled or
 * written (but the request's nonce): a terminal asks it of the payments
 * offpayd paid it, and one the ledger no longer holds means the ledger
 * was taken back to an older copy (docs/operations.md §5); the terminal
 * then uploads those again.
 */
#include <stdlib.h>

#include "server/server.h"

void srv_terminal_check(srv_req *r, srv_reply *out)
{
    srv_upload                  up;
    offpay_ledger_terminal_info t;
    offpay_settle_item         *items = NULL;
    int                        *held = NULL;
    json_t                     *results = NULL;
    size_t                      n_held = 0, n_junk = 0;
    offpay_err                  rc;

    if (srv_terminal_batch(r, &t, &up, out) != 0)
        return;
    items = calloc(up.n, sizeof *items);
    held = calloc(up.n, sizeof *held);
    results = json_array();
    if (items == NULL || held == NULL || results == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < up.n; i++) {
        items[i].code = up.items[i].code;
        items[i].code_len = up.items[i].code_len;
    }
    rc = offpay_ledger_held(r->l, t.terminal_id, items, up.n, held);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal check");
        goto out;
    }
    for (size_t i = 0; i < up.n; i++) {
        n_held += held[i] > 0;
        /* no payment code at all (-1): nothing the ledger could have
         * paid, so no sign that it lost one */
        n_junk += held[i] < 0;
        if (json_array_append_new(
                results, json_pack("{s:o, s:b}", "seq",
                                   srv_json_id((uint64_t)up.items[i].seq),
                                   "held", held[i] > 0)) != 0) {
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    srv_metrics_check(up.n - n_junk, up.n - n_held - n_junk);
    if (n_held + n_junk < up.n) /* the operator hears of it */
        srv_log("terminal %u asked about %zu payment(s) it says the ledger "
                "paid it: %zu are not in the ledger (was it taken back to an "
                "older copy? docs/operations.md section 5); the terminal "
                "uploads them again",
                (unsigned)t.terminal_id, up.n - n_junk, up.n - n_held - n_junk);
    if (n_junk > 0)
        srv_log("terminal %u asked about %zu code(s) that are no payment "
                "code: not counted as lost",
                (unsigned)t.terminal_id, n_junk);
    srv_ok(out, json_pack("{s:I, s:I, s:I, s:I, s:o}", "terminal_id",
                          (json_int_t)t.terminal_id, "checked",
                          (json_int_t)up.n, "held", (json_int_t)n_held,
                          "malformed", (json_int_t)n_junk, "results", results));
    results = NULL;
out:
    json_decref(results);
    free(items);
    free(held);
    srv_upload_free(&up);
}
