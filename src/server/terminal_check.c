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
 *
 * A terminal's word alone does not make a loss: only a code that verifies
 * (its credential under the issuer's bundle, the wallet's signature) and,
 * bound to a merchant, names this terminal's, counts as not held; the rest
 * are counted apart (invalid), as are the codes a revoked terminal asks
 * about. The operator's warning is one line a minute at most per
 * terminal, with what it held back.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* What a terminal's checks found since its last log line: asked,
 * missing, junk, invalid. */
static srv_tally said = SRV_TALLY_INIT;

/* Logs what one check found for terminal t (one line a minute at most per
 * terminal: the counts add up until then). */
static void say(const offpay_ledger_terminal_info *t, size_t asked,
                size_t missing, size_t junk, size_t invalid)
{
    size_t add[4] = {asked, missing, junk, invalid}, n[4];
    size_t checks = srv_tally_add(&said, t->terminal_id, add, 4, n);

    if (checks == 0)
        return;
    if (n[1] > 0 && !t->revoked)
        srv_log("terminal %u asked about %zu payment(s) it says the ledger "
                "paid it: %zu are not in the ledger (was it taken back to an "
                "older copy? docs/operations.md section 5); the terminal "
                "uploads them again (%zu check(s) since its last such line, "
                "one a minute at most)",
                (unsigned)t->terminal_id, n[0], n[1], checks);
    else if (n[1] > 0)
        srv_log("terminal %u, revoked, asked about %zu payment(s) it says the "
                "ledger paid it: %zu are not in the ledger; not counted as "
                "lost (a revoked terminal's word; %zu check(s), one line a "
                "minute at most)",
                (unsigned)t->terminal_id, n[0], n[1], checks);
    if (n[2] + n[3] > 0)
        srv_log("terminal %u asked about %zu code(s) that are no payment "
                "code and %zu that do not verify or name another merchant: "
                "not counted as lost (%zu check(s), one line a minute at "
                "most)",
                (unsigned)t->terminal_id, n[2], n[3], checks);
}

void srv_terminal_check(srv_req *r, srv_reply *out)
{
    srv_upload                  up;
    offpay_ledger_terminal_info t;
    offpay_settle_item         *items = NULL;
    int                        *held = NULL;
    json_t                     *results = NULL;
    size_t                      n_held = 0, n_junk = 0, n_invalid = 0;
    size_t                      asked, missing;
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
        items[i].accepted_at = up.items[i].accepted_at;
    }
    rc = offpay_ledger_held(r->l, t.terminal_id, items, up.n, held);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "terminal check");
        goto out;
    }
    for (size_t i = 0; i < up.n; i++) {
        offpay_payment p;

        /* a code bound to another merchant's request: this terminal
         * could not have been paid for it */
        if (held[i] == 0 &&
            (offpay_payment_decode(up.items[i].code, up.items[i].code_len,
                                   &p) != OFFPAY_OK ||
             (p.bound && p.merchant_id != t.merchant_id)))
            held[i] = -2;
        n_held += held[i] > 0;
        /* no payment code at all (-1), or none the ledger could have
         * paid this terminal (-2): no sign that it lost one */
        n_junk += held[i] == -1;
        n_invalid += held[i] == -2;
        if (json_array_append_new(
                results, json_pack("{s:o, s:b}", "seq",
                                   srv_json_id((uint64_t)up.items[i].seq),
                                   "held", held[i] > 0)) != 0) {
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    asked = up.n - n_junk - n_invalid;
    missing = asked - n_held;
    srv_metrics_check(n_held, t.revoked ? 0 : missing, n_invalid,
                      t.revoked ? missing : 0);
    if (missing + n_junk + n_invalid > 0) /* the operator hears of it */
        say(&t, asked, missing, n_junk, n_invalid);
    srv_ok(out, json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "terminal_id",
                          (json_int_t)t.terminal_id, "checked",
                          (json_int_t)up.n, "held", (json_int_t)n_held,
                          "malformed", (json_int_t)n_junk, "invalid",
                          (json_int_t)n_invalid, "results", results));
    results = NULL;
out:
    json_decref(results);
    free(items);
    free(held);
    srv_upload_free(&up);
}
