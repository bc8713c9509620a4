/*
 * upload.c — the terminal's uploader (offpay_terminal_upload, terminal.h):
 * its journal to offpayd's POST /v1/terminal/upload in signed batches
 * (upload_sign.c), each entry marked uploaded only after its result came
 * back, then the newest trust bundle and revocation list from offpayd,
 * taken through offpay_terminal_sync, and last a signed report of what is
 * still not uploaded (POST /v1/terminal/status; best effort, for the
 * operator's dashboard). HTTP through upload_http.c.
 *
 * It first reads offpayd's clock (GET /v1/health) and records durably how
 * far the terminal's own clock is from it, for the merchant and for
 * disputes over acceptance times. Requests are then signed at the
 * terminal's time corrected by that offset, so a terminal whose clock
 * drifted beyond offpayd's request window can still deliver its payments;
 * the offset is never trusted for anything else (offpayd's answer is not
 * signed): acceptance, the high-water mark and the lists' dates keep the
 * terminal's own clock.
 *
 * Safe to stop at any moment: the server makes every result durable
 * before it replies, an entry is marked only after that reply, and an
 * entry sent again is an exact replay that moves nothing
 * (docs/settlement.md §4).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/base64.h"
#include "core/jsonutil.h"
#include "offpay/core.h"
#include "terminal/upload_int.h"

#define BATCH_DEFAULT 500
#define TRIES         3

uint32_t offpay__terminal_signing_time(void *ctx, int attempt)
{
    const offpay__terminal_signing *sg = ctx;
    int64_t at = (int64_t)sg->now + sg->offset + (int64_t)(time(NULL) - sg->t0);

    (void)attempt; /* the time moves on with the clock by itself */
    return at < 1 ? 1 : at > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)at;
}

offpay_err offpay__terminal_signing_sign(void *ctx, const char *method,
                                         const char *path, uint32_t time,
                                         const uint8_t *body, size_t len,
                                         offpay__http_auth *out)
{
    const offpay__terminal_signing *sg = ctx;

    return offpay__terminal_sign_http(sg->t, method, path, time, body, len,
                                      out);
}

/* One request through offpay__http_request (upload_http.c): signed by
 * ck when body is set. */
static offpay_err request(const char *base, const char *method,
                          const char *path, const char *body,
                          offpay__terminal_signing *ck, int tries,
                          offpay__http_reply *out, long *status)
{
    offpay__http_signer s = {offpay__terminal_signing_time,
                             offpay__terminal_signing_sign, ck};

    return offpay__http_request(base, method, path, body, &s, tries, out,
                                status);
}

/* Collects one batch of pending entries into a JSON array. */
typedef struct batch {
    json_t  *items;
    int64_t *seqs;
    size_t   n, cap;
} batch;

static int add_entry(const offpay_journal_entry *e, void *ctx)
{
    batch  *b = ctx;
    char    seq[24];
    json_t *it;

    if (b->n == b->cap)
        return 1;
    snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
    it = json_pack("{s:s, s:o, s:I, s:I}", "seq", seq, "code",
                   offpay__json_base64(e->code, e->code_len), "charged",
                   (json_int_t)e->charged, "accepted_at",
                   (json_int_t)e->accepted_at);
    if (it == NULL || json_array_append_new(b->items, it) != 0)
        return 1;
    b->seqs[b->n++] = e->seq;
    return 0;
}

/* The outcomes offpayd decides (docs/api.md), "error" aside. */
static int known_outcome(const char *o)
{
    static const char *const known[] = {
        "settled", "settled_guaranteed", "duplicate", "double_spend",
        "unpaid",  "rejected"};

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(o, known[i]) == 0)
            return 1;
    return 0;
}

/* One decided result into *out (its paid and covered amounts, when
 * given, in minor units), or 0 for a result the terminal cannot keep as
 * it is: an unknown outcome, a reason or case of another form. */
static int keep_result(int64_t seq, const char *outcome, json_t *it,
                       offpay__upload_result *out)
{
    json_t *paid = json_object_get(json_object_get(it, "paid"), "minor");
    json_t *cov = json_object_get(json_object_get(it, "covered"), "minor");

    memset(out, 0, sizeof *out);
    out->seq = seq;
    out->paid = json_is_integer(paid) ? (int64_t)json_integer_value(paid) : 0;
    out->covered = json_is_integer(cov) ? (int64_t)json_integer_value(cov) : 0;
    out->replay = json_is_true(json_object_get(it, "replay"));
    return known_outcome(outcome) &&
           offpay__token_copy(out->outcome, sizeof out->outcome, outcome,
                      OFFPAY__OUTCOME_CHARS) &&
           offpay__token_copy(out->reason, sizeof out->reason,
                      json_string_value(json_object_get(it, "reason")),
                      OFFPAY__REASON_CHARS) &&
           offpay__token_copy(out->case_id, sizeof out->case_id,
                      json_string_value(json_object_get(it, "case")),
                      OFFPAY__CASE_CHARS) &&
           out->paid >= 0 && out->covered >= 0 && out->covered <= out->paid;
}

/* Whether an entry sent again to check the ledger was lost by it: offpayd
 * decided it anew (no replay of its stored result) and paid it, or refused
 * it for a credential the ledger does not know (ENOT_ISSUED: issued after
 * the copy the ledger went back to). Any other refusal of an entry it paid
 * once says nothing of the ledger (a trust bundle that no longer has the
 * key of a code this old, say): the entry keeps its result. */
static int lost_again(const offpay__upload_result *r)
{
    return !r->replay && (strcmp(r->outcome, "rejected") != 0 ||
                          strcmp(r->reason, "ENOT_ISSUED") == 0);
}

/* The results of one upload reply: those offpayd decided (every outcome
 * but "error"), and the report's sums. A result of a form the terminal
 * does not know makes the whole reply unreadable (OFFPAY_EIO): nothing is
 * marked, and the batch goes again at the next sync. With recheck (entries
 * sent again to check the ledger), only what the ledger lost (lost_again)
 * is counted and said; the rest is in done all the same. */
static offpay_err read_results(const offpay__http_reply *r, const batch *b,
                               offpay__upload_result *done, size_t *n_done,
                               offpay_upload_report *rep, int recheck)
{
    json_error_t jerr;
    json_t      *doc = json_loadb(r->buf, r->len, 0, &jerr), *res;
    offpay_err   rc = OFFPAY_EIO;

    *n_done = 0;
    if (json_is_true(json_object_get(doc, "terminal_revoked")))
        rep->revoked = 1;
    res = json_object_get(doc, "results");
    if (!json_is_array(res) || json_array_size(res) != b->n)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        json_t     *it = json_array_get(res, i);
        const char *outcome = json_string_value(json_object_get(it, "outcome"));
        const char *seq = json_string_value(json_object_get(it, "seq"));
        json_t     *po = json_object_get(it, "paid");
        const char *dec = json_string_value(json_object_get(po, "decimal"));
        const char *cur = json_string_value(json_object_get(po, "currency"));
        const char *case_id = json_string_value(json_object_get(it, "case"));
        const char *why;
        char        want[24];

        snprintf(want, sizeof want, "%lld", (long long)b->seqs[i]);
        if (outcome == NULL || seq == NULL || strcmp(seq, want) != 0)
            goto out;
        why = json_string_value(json_object_get(it, "reason"));
        if (strcmp(outcome, "error") == 0) {
            offpay__log("offpay: journal entry %s not decided by offpayd (%s): "
                        "it is sent again at the next sync\n",
                        seq, why != NULL ? why : "no reason given");
            continue;
        }
        if (!keep_result(b->seqs[i], outcome, it, &done[*n_done]))
            goto out;
        if (recheck && !lost_again(&done[*n_done])) {
            (*n_done)++;
            continue;
        }
        if (recheck)
            offpay__log(
                "offpay: journal entry %s: offpayd had paid it, and its "
                "ledger no longer holds it: sent again\n",
                seq);
        if (strcmp(outcome, "rejected") != 0)
            rep->paid += done[*n_done].paid;
        (*n_done)++;
        if (strcmp(outcome, "rejected") == 0) {
            rep->rejected++;
            offpay__log("offpay: journal entry %s refused by offpayd: %s\n",
                        seq, why != NULL ? why : "no reason given");
        } else if (strcmp(outcome, "unpaid") == 0 || why != NULL) {
            /* settlement.md §4: late, or an overspend the guarantee does
             * not cover; a duplicate or double spend can fall short too,
             * and then names its reason as well */
            rep->unpaid++;
            offpay__log("offpay: journal entry %s not paid in full by offpayd "
                        "(%s): paid %s %s of its charge%s%s%s%s\n",
                        seq, why != NULL ? why : "no reason given",
                        dec != NULL ? dec : "?", cur != NULL ? cur : "",
                        strcmp(outcome, "unpaid") != 0 ? ", " : "",
                        strcmp(outcome, "unpaid") != 0 ? outcome : "",
                        case_id != NULL ? ", case " : "",
                        case_id != NULL ? case_id : "");
        } else {
            rep->settled++;
            if (strcmp(outcome, "settled") != 0) /* paid, with a case */
                offpay__log("offpay: journal entry %s: %s, paid %s %s%s%s\n",
                            seq, outcome, dec != NULL ? dec : "?",
                            cur != NULL ? cur : "",
                            case_id != NULL ? ", case " : "",
                            case_id != NULL ? case_id : "");
        }
    }
    rc = OFFPAY_OK;
out:
    json_decref(doc);
    return rc;
}

/* Sends batch b (its items are taken) as one signed upload and reads its
 * results into done (*n_done of them) and rep (read_results). */
static offpay_err send_batch(const char *base, offpay__terminal_signing *ck,
                             batch *b, offpay__upload_result *done,
                             size_t *n_done, offpay_upload_report *rep,
                             int recheck)
{
    offpay__http_reply r = {0};
    long               status = 0;
    json_t            *doc = json_pack("{s:o}", "items", b->items);
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    offpay_err         rc;

    b->items = NULL;
    json_decref(doc);
    if (body == NULL)
        return OFFPAY_ENOMEM;
    rc = request(base, "POST", "/v1/terminal/upload", body, ck, TRIES, &r,
                 &status);
    offpay__json_free(body); /* Jansson's allocator is offpay's */
    if (rc == OFFPAY_OK && status != 200)
        rc = offpay__http_refused("the upload", status, &r);
    if (rc == OFFPAY_OK)
        rc = read_results(&r, b, done, n_done, rep, recheck);
    free(r.buf);
    return rc;
}

/* The terminal's time now, by its own clock (ck->now moved on). */
static uint32_t clock_now(const offpay__terminal_signing *ck)
{
    return ck->now + (uint32_t)(time(NULL) - ck->t0);
}

/*
 * The ledger's check (upload_int.h): the newest paid entry sent again, and
 * when offpayd's ledger no longer holds it, every paid entry, newest
 * first, until a batch is held whole; a list left by a sync cut off
 * halfway is taken up first. What the ledger lost is decided again and
 * counted in rep like a new upload (and in rep->lost); the rest counts in
 * rep->rechecked only. A batch with an entry offpayd did not decide
 * ("error") ends the check for this sync, its list kept for the next.
 */
static offpay_err recheck(offpay_terminal *t, const char *base,
                          offpay__terminal_signing *ck, batch *b,
                          offpay__upload_result *done,
                          offpay_upload_report  *rep)
{
    offpay__upload_result *lost = malloc(b->cap * sizeof *lost);
    int64_t               *decided = malloc(b->cap * sizeof *decided);
    size_t                 unclear;
    int                    listed = 0, start = 0;
    offpay_err             rc = OFFPAY_ENOMEM;

    if (lost == NULL || decided == NULL)
        goto out;
    /* a list left by a cut-off sync goes first */
    b->n = 0;
    b->items = json_array();
    if (b->items == NULL)
        goto out;
    rc = offpay__terminal_recheck_walk(t, 1, 1, add_entry, b);
    listed = rc == OFFPAY_OK && b->n > 0;
    json_decref(b->items);
    b->items = NULL;
    while (rc == OFFPAY_OK) {
        size_t n_done = 0, n_lost = 0, n_decided = 0;
        int    held;

        b->n = 0;
        if ((b->items = json_array()) == NULL) {
            rc = OFFPAY_ENOMEM;
            break;
        }
        rc = offpay__terminal_recheck_walk(t, listed, listed ? b->cap : 1,
                                           add_entry, b);
        if (rc != OFFPAY_OK || b->n == 0)
            break;
        if ((rc = send_batch(base, ck, b, done, &n_done, rep, 1)) !=
            OFFPAY_OK)
            break;
        unclear = 0;
        for (size_t i = 0; i < n_done; i++) {
            decided[n_decided++] = done[i].seq;
            if (lost_again(&done[i]))
                lost[n_lost++] = done[i];
            else if (!done[i].replay)
                unclear++;
        }
        rep->rechecked += b->n;
        /* the probe held, or told nothing: nothing to go on with */
        if (!listed && n_lost == 0)
            break;
        start = !listed;
        held = n_lost == 0 && unclear == 0 && n_decided == b->n;
        rc = offpay__terminal_rechecked(t, lost, n_lost, decided, n_decided,
                                        start, held, clock_now(ck));
        if (rc != OFFPAY_OK)
            break;
        rep->lost += n_lost;
        rep->sent += n_lost;
        rep->decided += n_lost;
        if (held || n_decided < b->n)
            break; /* done, or what was not decided waits for the next sync */
        listed = 1;
    }
out:
    json_decref(b->items);
    b->items = NULL;
    free(lost);
    free(decided);
    return rc;
}

/*
 * Reads offpayd's clock from GET /v1/health and records its offset from
 * the terminal's (ck->now, corrected by the request's own duration: half
 * of it is taken as the way back). Tried once: offpayd unreachable is
 * OFFPAY_EIO, and the upload does not wait for it three times. A reply
 * without a usable time leaves the offset unknown (0) and is no error.
 */
static offpay_err read_clock(offpay_terminal *t, const char *base,
                             offpay__terminal_signing *ck,
                             offpay_upload_report     *rep)
{
    int64_t    server, offset;
    offpay_err rc = offpay__http_server_time(base, &server);

    if (rc != OFFPAY_OK || server == 0)
        return rc; /* an offpayd without a clock to show: offset unknown */
    offset = server - ((int64_t)ck->now + (int64_t)(time(NULL) - ck->t0));
    if (offset > OFFPAY__CLOCK_OFFSET_MAX || offset < -OFFPAY__CLOCK_OFFSET_MAX)
        return OFFPAY_OK;
    if ((rc = offpay__terminal_record_clock(t, ck->now, offset)) != OFFPAY_OK)
        return rc;
    ck->offset = offset;
    rep->clock_known = 1;
    rep->clock_offset = offset;
    return OFFPAY_OK;
}

static int count_entry(const offpay_journal_entry *e, void *ctx)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}

/*
 * Tells offpayd, after a sync, how many journal entries are still not
 * uploaded and the terminal's clock then (POST /v1/terminal/status, signed
 * like an upload), for the operator's dashboard. Best effort, tried once:
 * an offpayd without the endpoint (404) or unreachable now changes
 * nothing for the sync, which has already succeeded.
 */
static void report_status(offpay_terminal *t, const char *base,
                          offpay__terminal_signing *ck,
                          offpay_upload_report     *rep)
{
    offpay__http_reply r = {0};
    long               status = 0;
    uint64_t           pending = 0;
    char               body[96];
    json_error_t       jerr;
    json_t            *doc;

    if (offpay__terminal_pending(t, 0, SIZE_MAX, count_entry, &pending) !=
        OFFPAY_OK)
        return;
    snprintf(body, sizeof body, "{\"pending\":%llu,\"synced_at\":%u}",
             (unsigned long long)pending,
             (unsigned)clock_now(ck));
    if (request(base, "POST", "/v1/terminal/status", body, ck, 1, &r,
                &status) == OFFPAY_OK &&
        status == 200 &&
        (doc = json_loadb(r.buf, r.len, 0, &jerr)) != NULL) {
        if (json_is_true(json_object_get(doc, "terminal_revoked")))
            rep->revoked = 1;
        json_decref(doc);
    }
    free(r.buf);
}

offpay_err offpay_terminal_upload(offpay_terminal *t, const char *base_url,
                                  size_t batch_max, uint32_t now,
                                  offpay_upload_report *rep)
{
    offpay_upload_report     mine;
    offpay_sync_state        st;
    offpay__terminal_signing ck;
    batch                    b = {0};
    offpay__upload_result   *done = NULL;
    int64_t                  after = 0;
    uint8_t                 *bundle = NULL, *revlist = NULL;
    size_t                   bundle_len = 0, revlist_len = 0, n_done;
    char                     path[64];
    offpay_err               rc = OFFPAY_ENOMEM;

    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    if (t == NULL || !offpay__http_base_ok(base_url))
        return OFFPAY_EINVAL;
    /* its requests are signed: refused at once without the key, whether
     * or not anything is pending */
    if (!offpay__terminal_can_sign(t))
        return OFFPAY_EPASSPHRASE;
    if (batch_max == 0)
        batch_max = BATCH_DEFAULT;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ck.t = t;
    ck.now = now;
    ck.t0 = time(NULL);
    ck.offset = 0;
    b.cap = batch_max;
    b.seqs = malloc(batch_max * sizeof *b.seqs);
    done = malloc(batch_max * sizeof *done);
    if (b.seqs == NULL || done == NULL)
        goto out;
    if ((rc = read_clock(t, base_url, &ck, rep)) != OFFPAY_OK)
        goto out;
    if ((rc = recheck(t, base_url, &ck, &b, done, rep)) != OFFPAY_OK)
        goto out;
    for (;;) {
        b.items = json_array();
        b.n = 0;
        if (b.items == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        rc = offpay__terminal_pending(t, after, batch_max, add_entry, &b);
        if (rc != OFFPAY_OK || b.n == 0) {
            json_decref(b.items);
            break;
        }
        if ((rc = send_batch(base_url, &ck, &b, done, &n_done, rep, 0)) !=
            OFFPAY_OK)
            goto out;
        rep->sent += b.n;
        /* Durable on offpayd before its reply: marked here after it. */
        rc = offpay__terminal_mark_uploaded(t, done, n_done, clock_now(&ck));
        if (rc != OFFPAY_OK)
            goto out;
        rep->decided += n_done;
        after = b.seqs[b.n - 1]; /* undecided ones wait for the next call */
    }
    if (rc != OFFPAY_OK)
        goto out;
    /* The newest bundle and list; a sync takes only what is newer. */
    rc = offpay_terminal_sync_state(t, &st);
    if (rc == OFFPAY_OK)
        rc = offpay__http_get_b64(base_url, "/v1/bundle", "bundle", TRIES,
                                  &bundle, &bundle_len);
    snprintf(path, sizeof path, "/v1/revlist?since=%u", st.revlist_seq);
    if (rc == OFFPAY_OK)
        rc = offpay__http_get_b64(base_url, path, "revlist", TRIES, &revlist,
                                  &revlist_len);
    /* A clock found ahead of offpayd's: the newest time seen is offpayd's,
     * so that once the terminal's clock is set right it is not "behind the
     * newest time seen" (ECLOCK_BEHIND) until its next sync; the offline
     * limits still count from the terminal's own clock. */
    if (rc == OFFPAY_OK)
        rc = offpay__terminal_sync_seen(
            t, bundle, bundle_len, revlist, revlist_len, now,
            rep->clock_known && ck.offset < 0
                ? (uint32_t)((int64_t)now + ck.offset)
                : now);
    if (rc == OFFPAY_OK) {
        rep->synced = 1;
        report_status(t, base_url, &ck, rep);
    }
out:
    /* What was accepted before the revocation is paid (settlement.md §8);
     * what this terminal would accept from now on would not be. */
    if (rep->revoked) {
        offpay_err e = offpay__terminal_record_revoked(t, now);

        if (rc == OFFPAY_OK)
            rc = e;
    }
    if (b.seqs != NULL) {
        /* count what is still to go: what an error stopped, or what
         * offpayd did not decide */
        batch rest = {json_array(), b.seqs, 0, b.cap};

        if (rest.items != NULL &&
            offpay__terminal_pending(t, 0, b.cap, add_entry, &rest) ==
                OFFPAY_OK)
            rep->left = rest.n;
        json_decref(rest.items);
    }
    free(bundle);
    free(revlist);
    free(b.seqs);
    free(done);
    return rc;
}
