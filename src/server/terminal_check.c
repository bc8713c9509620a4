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

/* What a terminal's checks found since its last log line. */
typedef struct said {
    uint32_t terminal;
    time_t   at; /* of its last line; 0: none yet */
    size_t   checks, asked, missing, junk, invalid;
    int      revoked;
} said;

#define SAID_SLOTS                                                             \
    64 /* terminals at once; past them, the one said                           \
          longest ago gives its slot up */

static pthread_mutex_t said_mu = PTHREAD_MUTEX_INITIALIZER;
static said            said_of[SAID_SLOTS];

/* Logs what check n found for terminal t (one line a minute at most per
 * terminal: the counts add up until then). */
static void say(const offpay_ledger_terminal_info *t, const said *n)
{
    said  *s, out;
    time_t now = time(NULL);

    pthread_mutex_lock(&said_mu);
    /* its own slot, else a free one, else the one said longest ago (by
     * id alone, two terminals sharing a slot reset each other's minute,
     * and every check of theirs was logged) */
    s = NULL;
    for (size_t i = 0; i < SAID_SLOTS && s == NULL; i++)
        if (said_of[i].terminal == t->terminal_id)
            s = &said_of[i];
    for (size_t i = 0; i < SAID_SLOTS && s == NULL; i++)
        if (said_of[i].terminal == 0)
            s = &said_of[i];
    if (s == NULL) {
        s = &said_of[0];
        for (size_t i = 1; i < SAID_SLOTS; i++)
            if (said_of[i].at < s->at)
                s = &said_of[i];
    }
    if (s->terminal != t->terminal_id)
        memset(s, 0, sizeof *s);
    s->terminal = t->terminal_id;
    s->checks++;
    s->asked += n->asked;
    s->missing += n->missing;
    s->junk += n->junk;
    s->invalid += n->invalid;
    s->revoked = t->revoked;
    out = *s;
    if (s->at != 0 && now - s->at < 60)
        out.checks = 0; /* said within the minute: held back */
    else {
        s->at = now;
        s->checks = s->asked = s->missing = s->junk = s->invalid = 0;
    }
    pthread_mutex_unlock(&said_mu);
    if (out.checks == 0)
        return;
    if (out.missing > 0 && !out.revoked)
        srv_log("terminal %u asked about %zu payment(s) it says the ledger "
                "paid it: %zu are not in the ledger (was it taken back to an "
                "older copy? docs/operations.md section 5); the terminal "
                "uploads them again (%zu check(s) since its last such line, "
                "one a minute at most)",
                (unsigned)out.terminal, out.asked, out.missing, out.checks);
    else if (out.missing > 0)
        srv_log("terminal %u, revoked, asked about %zu payment(s) it says the "
                "ledger paid it: %zu are not in the ledger; not counted as "
                "lost (a revoked terminal's word; %zu check(s), one line a "
                "minute at most)",
                (unsigned)out.terminal, out.asked, out.missing, out.checks);
    if (out.junk + out.invalid > 0)
        srv_log("terminal %u asked about %zu code(s) that are no payment "
                "code and %zu that do not verify or name another merchant: "
                "not counted as lost (%zu check(s), one line a minute at "
                "most)",
                (unsigned)out.terminal, out.junk, out.invalid, out.checks);
}

void srv_terminal_check(srv_req *r, srv_reply *out)
{
    srv_upload                  up;
    offpay_ledger_terminal_info t;
    offpay_settle_item         *items = NULL;
    int                        *held = NULL;
    json_t                     *results = NULL;
    size_t                      n_held = 0, n_junk = 0, n_invalid = 0;
    said                        found;
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
    memset(&found, 0, sizeof found);
    found.asked = up.n - n_junk - n_invalid;
    found.missing = found.asked - n_held;
    found.junk = n_junk;
    found.invalid = n_invalid;
    srv_metrics_check(n_held, t.revoked ? 0 : found.missing, n_invalid,
                      t.revoked ? found.missing : 0);
    if (found.missing + n_junk + n_invalid > 0) /* the operator hears of it */
        say(&t, &found);
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
