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
 * beyond that it only dates the sync when the terminal's clock runs ahead
 * of offpayd's (it comes in an unsigned answer): acceptance, the lists'
 * dates and the check of offpayd's answers keep the terminal's own clock.
 * Every answer to a signed request is checked against offpayd's signature
 * (upload_http.c; docs/api.md, "Signed answers"): nothing is kept of one
 * that fails.
 *
 * Safe to stop at any moment: the server makes every result durable
 * before it replies, an entry is marked only after that reply, and an
 * entry sent again is an exact replay that moves nothing
 * (docs/settlement.md §4).
 *
 * The terminal is not held while offpayd is asked (request() and online()
 * below): a slow or unreachable offpayd would otherwise keep the till from
 * accepting for as long as the sync waits. The handle lets its lock go for
 * each request and takes it again after, reloading what an accept or a
 * request changed meanwhile; what was accepted after the sync's first look
 * at the journal goes at the next sync, and still counts toward the
 * offline limits. Two syncs of one terminal do not run at once
 * (terminal.sync.lock: the second stops with OFFPAY_EBUSY).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base64.h"
#include "core/jsonutil.h"
#include "core/log.h"
#include "offpay/core.h"
#include "terminal/upload_int.h"
#include "wallet/wallet_file.h"

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

/* The end of a wait on offpayd (see the top of this file): the terminal
 * taken again. rc is the request's result; a terminal that cannot be
 * taken again (held by another process past the wait) fails the sync
 * there, with nothing kept of the answer: it goes again next time. */
static offpay_err online(offpay_terminal *t, offpay_err rc, int report)
{
    offpay_err held = offpay__terminal_retake(t);

    if (held == OFFPAY_EBUSY && report) /* its answer changes nothing */
        offpay__log("offpay: another process held the terminal past the "
                    "wait after offpayd answered the status report: waiting "
                    "for it once more\n");
    else if (held == OFFPAY_EBUSY)
        offpay__log("offpay: another process held the terminal past the "
                    "wait after offpayd answered: the sync stops here, and "
                    "what it did not keep of the answer is asked for again "
                    "at the next sync\n");
    return held != OFFPAY_OK ? held : rc;
}

/* One request through offpay__http_request (upload_http.c), signed by ck
 * when body is set, without holding the terminal meanwhile. */
static offpay_err request_as(const char *base, const char *method,
                             const char *path, const char *body,
                             offpay__terminal_signing *ck, int tries,
                             offpay__http_reply *out, long *status, int report)
{
    offpay__http_signer s = {offpay__terminal_signing_time,
                             offpay__terminal_signing_sign,
                             ck,
                             offpay__terminal_bundle(ck->t),
                             offpay__terminal_root(ck->t),
                             ck->now + (uint32_t)(time(NULL) - ck->t0)};

    offpay__terminal_let_go(ck->t);
    return online(
        ck->t,
        offpay__http_request(base, method, path, body, &s, tries, out, status),
        report);
}

static offpay_err request(const char *base, const char *method,
                          const char *path, const char *body,
                          offpay__terminal_signing *ck, int tries,
                          offpay__http_reply *out, long *status)
{
    return request_as(base, method, path, body, ck, tries, out, status, 0);
}

/* GET path's base64 field (offpay__http_get_b64), without holding the
 * terminal meanwhile. */
static offpay_err get_b64(offpay_terminal *t, const char *base,
                          const char *path, const char *field, uint8_t **bytes,
                          size_t *len)
{
    offpay__terminal_let_go(t);
    return online(t, offpay__http_get_b64(base, path, field, TRIES, bytes, len),
                  0);
}

/* Collects one batch of pending entries into a JSON array. */
typedef struct batch {
    json_t  *items;
    int64_t *seqs;
    size_t   n, cap;
    int64_t  upto; /* with bounded: rows after it are not taken */
    int      bounded;
} batch;

static int add_entry(const offpay_journal_entry *e, void *ctx)
{
    batch  *b = ctx;
    char    seq[24];
    json_t *it;

    if (b->n == b->cap || (b->bounded && e->seq > b->upto))
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

/* What the operator reads after a shortfall's line, for a reason whose
 * name alone does not say what to do: "" for the others. */
static const char *unpaid_why(const char *why)
{
    /* settlement.md §4, "the merchant's duplicate": a gate that did not
     * open, the same code shown at the next one */
    if (why != NULL && strcmp(why, "EDUPLICATE_MERCHANT") == 0)
        return ": this merchant was already paid for this code, when one "
               "of its terminals presented it before, so it is not paid "
               "again beyond what the code authorized; do not refund that "
               "first charge to make up for it: this one would still not "
               "be paid, and the fare would be lost";
    /* settlement.md §5: a payment the guarantee rules cover, which the
     * guarantee could not pay in full: the rest is a claim on it */
    if (why != NULL && strcmp(why, "EFUNDS") == 0)
        return ": the rest is owed by the issuer's guarantee, which pays it "
               "to the merchant once it is funded (the merchant's "
               "statement shows it: paid_later)";
    return "";
}

/* The results of one upload reply: those offpayd decided (every outcome
 * but "error"), and the report's sums (into a report of the batch's own,
 * added to the sync's once the results are kept). A result of a form the
 * terminal does not know makes the whole reply unreadable (OFFPAY_EIO):
 * nothing is marked, and the batch goes again at the next sync. With
 * resend (entries the ledger had lost), each decided one is said to be
 * one. */
static offpay_err read_results(const offpay__http_reply *r, const batch *b,
                               offpay__upload_result *done, size_t *n_done,
                               offpay_upload_report *rep, int resend)
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
            /* dated after offpayd's clock: the terminal's ran ahead when
             * it accepted it; said so, or it reads as a fault that never
             * ends */
            if (why != NULL && strcmp(why, "ECODE_FUTURE") == 0)
                offpay__log("offpay: journal entry %s not decided by "
                            "offpayd yet (ECODE_FUTURE): it was accepted "
                            "at a time after offpayd's clock now (this "
                            "terminal's clock ran ahead then); it is sent "
                            "again at each sync and decided once offpayd's "
                            "clock passes that time\n",
                            seq);
            else
                offpay__log("offpay: journal entry %s not decided by offpayd "
                            "(%s): it is sent again at the next sync\n",
                            seq, why != NULL ? why : "no reason given");
            continue;
        }
        if (!keep_result(b->seqs[i], outcome, it, &done[*n_done]))
            goto out;
        if (resend)
            offpay__log("offpay: journal entry %s: offpayd had paid it, and "
                        "its ledger no longer held it: sent again\n",
                        seq);
        if (strcmp(outcome, "rejected") != 0)
            rep->paid += done[*n_done].paid;
        (*n_done)++;
        if (strcmp(outcome, "rejected") == 0) {
            rep->rejected++;
            offpay__log("offpay: journal entry %s refused by offpayd: %s\n",
                        seq, why != NULL ? why : "no reason given");
        } else if (why != NULL && strcmp(why, "ECONFLICT") == 0) {
            /* settlement.md §4, "another charge": the terminal's key
             * uploaded this payment before with another charge, which
             * offpayd paid; a case names it */
            rep->mismatched++;
            offpay__log("offpay: warning: journal entry %s: offpayd holds "
                        "another charge for this payment (paid %s %s, case "
                        "%s): was this terminal's key copied? tell offpayd's "
                        "operator\n",
                        seq, dec != NULL ? dec : "?", cur != NULL ? cur : "",
                        case_id != NULL ? case_id : "?");
        } else if (strcmp(outcome, "unpaid") == 0 || why != NULL) {
            /* settlement.md §4: late, or an overspend the guarantee does
             * not cover; a duplicate or double spend can fall short too,
             * and then names its reason as well */
            rep->unpaid++;
            offpay__log("offpay: journal entry %s not paid in full by offpayd "
                        "(%s): paid %s %s of its charge%s%s%s%s%s\n",
                        seq, why != NULL ? why : "no reason given",
                        dec != NULL ? dec : "?", cur != NULL ? cur : "",
                        strcmp(outcome, "unpaid") != 0 ? ", " : "",
                        strcmp(outcome, "unpaid") != 0 ? outcome : "",
                        case_id != NULL ? ", case " : "",
                        case_id != NULL ? case_id : "", unpaid_why(why));
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

/* The terminal's time now, by its own clock (ck->now moved on). */
static uint32_t clock_now(const offpay__terminal_signing *ck)
{
    return ck->now + (uint32_t)(time(NULL) - ck->t0);
}

/* Sends batch b (its items are taken) as one signed request to path:
 * offpayd's 200 reply in *r (the caller frees r->buf), a refusal said
 * (what names the request). */
static offpay_err send_batch(const char *base, const char *path,
                             const char *what, offpay__terminal_signing *ck,
                             batch *b, offpay__http_reply *r)
{
    long       status = 0;
    json_t    *doc = json_pack("{s:o}", "items", b->items);
    char      *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    offpay_err rc;

    b->items = NULL;
    json_decref(doc);
    if (body == NULL)
        return OFFPAY_ENOMEM;
    rc = request(base, "POST", path, body, ck, TRIES, r, &status);
    offpay__json_free(body); /* Jansson's allocator is offpay's */
    if (rc == OFFPAY_OK && status != 200)
        rc = offpay__http_refused(what, status, r);
    return rc;
}

/* Adds a batch's sums to the sync's, once its results are kept. */
static void add_sums(offpay_upload_report *rep, const offpay_upload_report *b)
{
    rep->settled += b->settled;
    rep->rejected += b->rejected;
    rep->unpaid += b->unpaid;
    rep->mismatched += b->mismatched;
    rep->paid += b->paid;
}

/* Uploads batch b (its items are taken) and keeps the results offpayd
 * decided: new entries are marked uploaded; with resend, entries the
 * ledger had lost leave its list. *n_done: how many were decided. */
static offpay_err upload_batch(offpay_terminal *t, const char *base,
                               offpay__terminal_signing *ck, batch *b,
                               offpay__upload_result *done, size_t *n_done,
                               offpay_upload_report *rep, int resend)
{
    offpay__http_reply   r = {0};
    offpay_upload_report part;
    offpay_err           rc;

    memset(&part, 0, sizeof part);
    *n_done = 0;
    rc = send_batch(base, "/v1/terminal/upload", "the upload", ck, b, &r);
    if (rc == OFFPAY_OK)
        rc = read_results(&r, b, done, n_done, &part, resend);
    free(r.buf);
    if (rc != OFFPAY_OK)
        return rc;
    rep->sent += b->n;
    rep->revoked |= part.revoked; /* recorded even if what follows fails */
    /* Durable on offpayd before its reply: kept here after it. */
    rc = resend ? offpay__terminal_lost_decided(t, done, *n_done, clock_now(ck))
                : offpay__terminal_mark_uploaded(t, done, *n_done,
                                                 clock_now(ck));
    if (rc != OFFPAY_OK)
        return rc;
    add_sums(rep, &part);
    rep->decided += *n_done;
    return OFFPAY_OK;
}

/* The held flags of a check's reply, one per item of b, into held. */
static offpay_err read_held(const offpay__http_reply *r, const batch *b,
                            int *held)
{
    json_error_t jerr;
    json_t      *doc = json_loadb(r->buf, r->len, 0, &jerr);
    json_t      *res = json_object_get(doc, "results");
    offpay_err   rc = OFFPAY_EIO;

    if (!json_is_array(res) || json_array_size(res) != b->n)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        json_t     *it = json_array_get(res, i);
        json_t     *h = json_object_get(it, "held");
        const char *seq = json_string_value(json_object_get(it, "seq"));
        char        want[24];

        snprintf(want, sizeof want, "%lld", (long long)b->seqs[i]);
        if (seq == NULL || strcmp(seq, want) != 0 || !json_is_boolean(h))
            goto out;
        held[i] = json_is_true(h);
    }
    rc = OFFPAY_OK;
out:
    json_decref(doc);
    return rc;
}

/* How many paid entries the check's first page asks about (fewer with a
 * smaller batch: no request carries more than the batch). */
#define CHECK_FIRST 20

/*
 * Asks offpayd which paid entries its ledger holds (POST
 * /v1/terminal/check, which changes nothing): the newest CHECK_FIRST (at
 * most page), then, while a page lacks some, the following pages of page,
 * until one comes back held whole. What the ledger lacks goes into *lost
 * (*n, grown with realloc). An offpayd without the endpoint (older than
 * 0.4.0) signs none of its answers either, which this terminal refuses.
 */
static offpay_err ask_ledger(offpay_terminal *t, const char *base,
                             offpay__terminal_signing *ck, batch *chk,
                             size_t page, int64_t **lost, size_t *n,
                             offpay_upload_report *rep)
{
    int       *held = malloc(chk->cap * sizeof *held);
    size_t     cap_lost = 0, skip = 0;
    offpay_err rc = OFFPAY_ENOMEM;

    *n = 0;
    if (held == NULL)
        return rc;
    for (;;) {
        offpay__http_reply r = {0};
        int                whole = 1;

        chk->n = 0;
        if ((chk->items = json_array()) == NULL) {
            rc = OFFPAY_ENOMEM;
            break;
        }
        rc = offpay__terminal_paid_walk(
            t, skip == 0 && CHECK_FIRST < page ? CHECK_FIRST : page, skip,
            add_entry, chk);
        if (rc != OFFPAY_OK || chk->n == 0)
            break; /* every paid entry asked about */
        rc = send_batch(base, "/v1/terminal/check", "the check", ck, chk, &r);
        if (rc == OFFPAY_OK)
            rc = read_held(&r, chk, held);
        free(r.buf);
        if (rc != OFFPAY_OK)
            break;
        rep->rechecked += chk->n;
        for (size_t i = 0; i < chk->n && rc == OFFPAY_OK; i++) {
            if (held[i])
                continue;
            whole = 0;
            if (*n == cap_lost) {
                size_t   c = cap_lost ? 2 * cap_lost : 64;
                int64_t *more = realloc(*lost, c * sizeof **lost);

                if (more == NULL) {
                    rc = OFFPAY_ENOMEM;
                    break;
                }
                *lost = more;
                cap_lost = c;
            }
            (*lost)[(*n)++] = chk->seqs[i];
        }
        if (rc != OFFPAY_OK || whole)
            break; /* what the ledger recorded before is older */
        skip += chk->n;
    }
    json_decref(chk->items);
    chk->items = NULL;
    free(held);
    return rc;
}

/*
 * The ledger's check (upload_int.h): asks offpayd about the paid entries
 * (ask_ledger), lists what its ledger lacks in one transaction (cut off
 * before, nothing is kept and the next sync asks again), then uploads
 * again what is listed, this sync's or an earlier one's: each leaves the
 * list with the result offpayd gives it, a replay too (a sync cut off
 * after offpayd decided it). rep->lost: the listed entries.
 */
static offpay_err check_ledger(offpay_terminal *t, const char *base,
                               offpay__terminal_signing *ck, batch *b,
                               offpay__upload_result *done,
                               offpay_upload_report  *rep)
{
    batch      chk = {0};
    int64_t   *lost = NULL;
    size_t     n_lost = 0, n_done;
    offpay_err rc = OFFPAY_ENOMEM;

    chk.cap = b->cap;
    if ((chk.seqs = malloc(chk.cap * sizeof *chk.seqs)) == NULL)
        goto out;
    rc = ask_ledger(t, base, ck, &chk, b->cap, &lost, &n_lost, rep);
    if (rc != OFFPAY_OK ||
        (rc = offpay__terminal_lost_list(t, lost, n_lost, clock_now(ck))) !=
            OFFPAY_OK ||
        (rc = offpay__terminal_lost_count(t, &rep->lost)) != OFFPAY_OK)
        goto out;
    while (rc == OFFPAY_OK) {
        b->n = 0;
        if ((b->items = json_array()) == NULL) {
            rc = OFFPAY_ENOMEM;
            break;
        }
        rc = offpay__terminal_lost_walk(t, b->cap, add_entry, b);
        if (rc != OFFPAY_OK || b->n == 0)
            break;
        rc = upload_batch(t, base, ck, b, done, &n_done, rep, 1);
        if (rc == OFFPAY_OK && n_done < b->n)
            break; /* what offpayd did not decide waits for the next sync */
    }
out:
    json_decref(b->items);
    b->items = NULL;
    free(chk.seqs);
    free(lost);
    return rc;
}

/*
 * Reads offpayd's clock from GET /v1/health and records its offset from
 * the terminal's (ck->now, corrected by the request's own duration: half
 * of it is taken as the way back). Tried three times, as the upload's
 * requests are, with random backoff: a fleet syncing together after an
 * outage has many of its first connections shed, and a sync given up at
 * its first refused request left a third of the gates unsynced minute
 * after minute. offpayd unreachable is OFFPAY_EIO after the third. A
 * reply without a usable time leaves the offset unknown (0), no error.
 */
static offpay_err read_clock(offpay_terminal *t, const char *base,
                             offpay__terminal_signing *ck,
                             offpay_upload_report     *rep)
{
    int64_t    server = 0, offset;
    offpay_err rc;

    offpay__terminal_let_go(t);
    rc = online(t, offpay__http_server_time(base, TRIES, &server), 0);
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

/* The time now by this clock, or by offpayd's when the sync found that
 * behind it (the newest time this terminal may count as seen). */
static uint32_t seen_now(const offpay__terminal_signing *ck,
                         const offpay_upload_report     *rep)
{
    uint32_t now = clock_now(ck);

    return rep->clock_known && ck->offset < 0
               ? (uint32_t)((int64_t)now + ck->offset)
               : now;
}

static int count_entry(const offpay_journal_entry *e, void *ctx)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* The entries up to a seq (upto: the sync's first look at the journal). */
struct upto_count {
    int64_t upto;
    size_t  n;
};

static int count_upto(const offpay_journal_entry *e, void *ctx)
{
    struct upto_count *c = ctx;

    c->n += e->seq <= c->upto;
    return 0;
}

/* The pending entries counted, and their charges in the terminal's
 * currency summed (capped at INT64_MAX, never reached by real money). */
struct pending_sum {
    uint16_t currency;
    uint64_t n;
    int64_t  minor;
};

static int sum_entry(const offpay_journal_entry *e, void *ctx)
{
    struct pending_sum *c = ctx;

    c->n++;
    if (e->currency == c->currency && e->charged > 0 &&
        offpay_amount_add(c->minor, e->charged, &c->minor) != OFFPAY_OK)
        c->minor = INT64_MAX;
    return 0;
}

/* 1 when r is offpayd's refusal of a field it does not know (400
 * BAD_FIELD "unknown field '...'"). */
static int unknown_field(const offpay__http_reply *r)
{
    json_error_t jerr;
    json_t      *doc = json_loadb(r->buf, r->len, 0, &jerr);
    const char  *hint = json_string_value(json_object_get(doc, "hint"));
    int          yes = hint != NULL && strncmp(hint, "unknown field", 13) == 0;

    json_decref(doc);
    return yes;
}

/*
 * Tells offpayd how many journal entries are still not uploaded, what
 * they hold, the terminal's clock, what a payment meets here now ("OK" or
 * an error name: offpay_terminal_status.state) and when it last took
 * offpayd's lists (POST /v1/terminal/status, signed like an upload), for
 * the operator's dashboard and /metrics. Sent twice a sync: once the
 * uploads are done, before the lists are taken, and again once they are
 * (a terminal whose clock makes it refuse them is thus seen with its old
 * lists and, once its window runs out, refusing). Best effort, tried once:
 * an offpayd without the endpoint (404) or unreachable now changes
 * nothing for the sync. But a signed answer UNKNOWN_TERMINAL fails it
 * (OFFPAY_ETERMINAL_UNKNOWN): a terminal with nothing to upload or check
 * learns only here that offpayd's ledger does not know it (restored from
 * a copy older than its registration), which its operator must hear
 * before it takes payments no ledger would pay.
 */
static offpay_err report_status(offpay_terminal *t, const char *base,
                                offpay__terminal_signing *ck,
                                offpay_upload_report     *rep)
{
    offpay__http_reply     r = {0};
    long                   status = 0;
    offpay_terminal_status st;
    struct pending_sum     sum = {0, 0, 0};
    uint32_t               now = clock_now(ck);
    char                   body[256], money[OFFPAY_AMOUNT_TEXT_MAX];
    json_error_t           jerr;
    json_t                *doc;
    const char            *e;
    offpay_err             rc = OFFPAY_OK;
    int                    n, older;
    char                   old_body[sizeof body + 1];

    if (offpay_terminal_get_status(t, now, &st) != OFFPAY_OK)
        return OFFPAY_OK;
    sum.currency = st.currency;
    if (offpay__terminal_pending(t, 0, SIZE_MAX, sum_entry, &sum) != OFFPAY_OK)
        return OFFPAY_OK;
    n = snprintf(body, sizeof body, "{\"pending\":%llu,\"synced_at\":%u",
                 (unsigned long long)sum.n, (unsigned)now);
    snprintf(old_body, sizeof old_body, "%s}", body);
    /* a terminal without its currency (no credential) says no more; its
     * lists: 0 while it holds no revocation list (only a credential) */
    if (offpay_amount_format(sum.minor, st.currency, money, sizeof money) ==
        OFFPAY_OK)
        n += snprintf(body + n, sizeof body - (size_t)n,
                      ",\"state\":\"%s\",\"lists_at\":%u,"
                      "\"pending_amount\":\"%s\"",
                      offpay_errname(st.state),
                      st.revlist_seq != 0 ? (unsigned)st.last_sync : 0u, money);
    snprintf(body + n, sizeof body - (size_t)n, "}");
    /* an offpayd before 0.27.0 refuses the fields it does not know (400
     * BAD_FIELD "unknown field"): it is sent the two it knows, so that
     * it still hears the count, and answers UNKNOWN_TERMINAL */
    for (older = 0; older < 2; older++) {
        rc = request_as(base, "POST", "/v1/terminal/status",
                        older ? old_body : body, ck, 1, &r, &status, 1);
        if (rc == OFFPAY_EBUSY) { /* the sync goes on: holding the terminal */
            free(r.buf);
            return offpay__terminal_retake(t);
        }
        if (older || rc != OFFPAY_OK || status != 400 ||
            strcmp(body, old_body) == 0 || !unknown_field(&r))
            break;
        free(r.buf);
        memset(&r, 0, sizeof r);
    }
    if (rc == OFFPAY_OK && (status == 200 || (status == 403 && r.answer_ok)) &&
        (doc = json_loadb(r.buf, r.len, 0, &jerr)) != NULL) {
        e = json_string_value(json_object_get(doc, "error"));
        if (status == 200 &&
            json_is_true(json_object_get(doc, "terminal_revoked")))
            rep->revoked = 1;
        else if (status == 403 && e != NULL &&
                 strcmp(e, "UNKNOWN_TERMINAL") == 0)
            rc = OFFPAY_ETERMINAL_UNKNOWN;
        json_decref(doc);
    }
    free(r.buf);
    return rc == OFFPAY_ETERMINAL_UNKNOWN ? rc : OFFPAY_OK;
}

/* A serial as offpayd writes it: decimal, from 1, without sign or
 * leading zeros; 0 when it is not one. */
static uint64_t serial_of(const char *s)
{
    uint64_t v = 0;

    if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 20)
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' ||
            v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    return v;
}

static int cmp_serial(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Reads offpayd's answer to POST /v1/terminal/expiries into serials and
 * expires: OFFPAY_EANSWER when it is not what offpayd sends, or names a
 * serial not among asked[0..n_asked) (ascending). */
static offpay_err expiries_of(const offpay__http_reply *r,
                              const uint64_t *asked, size_t n_asked,
                              uint64_t *serials, uint32_t *expires, size_t *n)
{
    json_error_t jerr;
    json_t      *doc = json_loadb(r->buf, r->len, 0, &jerr);
    json_t      *list = json_object_get(doc, "expires");
    offpay_err   rc = OFFPAY_EANSWER;

    *n = 0;
    if (!json_is_array(list) || json_array_size(list) > n_asked)
        goto out;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t    *o = json_array_get(list, i);
        json_int_t e = json_integer_value(json_object_get(o, "expires"));

        serials[i] = serial_of(json_string_value(json_object_get(o, "serial")));
        if (serials[i] == 0 || e <= 0 || e > UINT32_MAX ||
            bsearch(&serials[i], asked, n_asked, sizeof *asked, cmp_serial) ==
                NULL)
            goto out;
        expires[i] = (uint32_t)e;
    }
    *n = json_array_size(list);
    rc = OFFPAY_OK;
out:
    json_decref(doc);
    return rc;
}

/* One page of ask_expiries: asks offpayd about asked[0..n_asked) and
 * records what it answers (serials and expires: room for n_asked). */
static offpay_err ask_page(offpay_terminal *t, const char *base,
                           offpay__terminal_signing *ck, const uint64_t *asked,
                           size_t n_asked, uint32_t mark, uint64_t *serials,
                           uint32_t *expires)
{
    json_t            *list = json_array(), *body = NULL;
    char              *text = NULL;
    offpay__http_reply r = {0};
    long               status = 0;
    size_t             n = 0;
    offpay_err         rc = OFFPAY_ENOMEM;

    if (list == NULL || (body = json_pack("{s:O}", "serials", list)) == NULL)
        goto out;
    for (size_t i = 0; i < n_asked; i++) {
        char id[24];

        snprintf(id, sizeof id, "%llu", (unsigned long long)asked[i]);
        if (json_array_append_new(list, json_string(id)) != 0)
            goto out;
    }
    if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
        goto out;
    rc = request(base, "POST", "/v1/terminal/expiries", text, ck, 1, &r,
                 &status);
    if (rc == OFFPAY_OK && status == 404)
        rc = OFFPAY_ENOTFOUND; /* an offpayd before 0.21.0 */
    else if (rc == OFFPAY_OK && (status != 200 || !r.answer_ok))
        rc = OFFPAY_EREFUSED;
    else if (rc == OFFPAY_OK)
        rc = expiries_of(&r, asked, n_asked, serials, expires, &n);
    /* refused or not understood: asked all the same, so that the next
     * sync starts with other serials (one page cannot hold up the rest) */
    if (rc == OFFPAY_EREFUSED || rc == OFFPAY_EANSWER)
        n = 0;
    if (rc == OFFPAY_OK || rc == OFFPAY_EREFUSED || rc == OFFPAY_EANSWER) {
        offpay_err kept = offpay__terminal_revoked_learn(
            t, asked, n_asked, mark, serials, expires, n);

        if (rc == OFFPAY_OK)
            rc = kept;
    }
out:
    free(r.buf);
    offpay__json_free(text); /* Jansson's, from its allocator */
    json_decref(list);
    json_decref(body);
    return rc;
}

/*
 * Asks offpayd the expiries of the revoked serials this terminal holds
 * whose expiry it does not know (EXPIRIES_PAGE a request, which a body
 * cap of 4096 bytes takes, EXPIRIES_PAGES requests at most, the least
 * lately asked first), then lets go of those expired more than
 * OFFPAY_TERMINAL_EXPIRED_KEEP before (docs/protocol.md §5.7). Without it
 * a terminal kept every serial it ever took: a gate of a large transit
 * operator reached the 1,000,000 it can hold in weeks. Not the sync's
 * failure: what is not learnt now is asked at a later sync, and an
 * offpayd before 0.21.0 (404) tells none. *dropped (may be NULL): how
 * many were let go.
 */
#define EXPIRIES_PAGE  150u
#define EXPIRIES_PAGES 50u
static void ask_expiries(offpay_terminal *t, const char *base,
                         offpay__terminal_signing *ck, size_t *dropped)
{
    uint64_t   asked[EXPIRIES_PAGE], serials[EXPIRIES_PAGE];
    uint32_t   expires[EXPIRIES_PAGE];
    uint32_t   mark = clock_now(ck);
    size_t     n_asked = 0, gone = 0;
    offpay_err rc = OFFPAY_OK;

    for (unsigned page = 0; rc == OFFPAY_OK && page < EXPIRIES_PAGES; page++) {
        rc = offpay__terminal_revoked_unknown(t, EXPIRIES_PAGE, mark, asked,
                                              &n_asked);
        if (rc != OFFPAY_OK || n_asked == 0)
            break;
        rc = ask_page(t, base, ck, asked, n_asked, mark, serials, expires);
    }
    if (rc == OFFPAY_ENOTFOUND)
        rc = OFFPAY_OK; /* an offpayd before 0.21.0: none learnt */
    if (rc != OFFPAY_OK)
        offpay__log("offpay: the expiries of the revoked serials this "
                    "terminal holds were not all learnt (%s): the rest "
                    "stay held, and are asked for at a later sync\n",
                    offpay_errname(rc));
    /* and what was learnt, now or before, may be past now */
    rc = offpay__terminal_revoked_drop(t, clock_now(ck), &gone);
    if (rc != OFFPAY_OK)
        offpay__log("offpay: the revoked serials long expired were not let "
                    "go (%s): they stay held\n",
                    offpay_errname(rc));
    else if (gone > 0)
        offpay__log("offpay: let go of %zu revoked serial(s) whose "
                    "credentials expired more than 15 days ago: no code "
                    "of theirs passes this terminal any more\n",
                    gone);
    if (dropped != NULL)
        *dropped = gone;
}

/*
 * After a refusal UNKNOWN_TERMINAL (unsigned when offpayd gave it before
 * the body of an upload or check was read): asks offpayd again with a
 * small signed report (POST /v1/terminal/status, whose signature offpayd
 * verifies before it looks the key up, and counts and logs for its
 * operator; docs/operations.md §5). OFFPAY_ETERMINAL_UNKNOWN when its
 * signed answer says UNKNOWN_TERMINAL too, else rc unchanged: an unsigned
 * refusal alone is not acted on.
 */
static offpay_err confirm_unknown(offpay_terminal *t, const char *base,
                                  offpay__terminal_signing *ck, offpay_err rc)
{
    offpay__http_reply r = {0};
    long               status = 0;
    char               body[96];
    json_error_t       jerr;
    json_t            *doc;
    uint64_t           pending = 0;
    const char        *e;

    if (rc != OFFPAY_EREFUSED ||
        strncmp(offpay_server_detail(), "UNKNOWN_TERMINAL", 16) != 0 ||
        offpay__terminal_pending(t, 0, SIZE_MAX, count_entry, &pending) !=
            OFFPAY_OK)
        return rc;
    snprintf(body, sizeof body, "{\"pending\":%llu,\"synced_at\":%u}",
             (unsigned long long)pending, (unsigned)clock_now(ck));
    if (request(base, "POST", "/v1/terminal/status", body, ck, 1, &r,
                &status) == OFFPAY_OK &&
        status == 403 && r.answer_ok &&
        (doc = json_loadb(r.buf, r.len, 0, &jerr)) != NULL) {
        e = json_string_value(json_object_get(doc, "error"));
        if (e != NULL && strcmp(e, "UNKNOWN_TERMINAL") == 0)
            rc = OFFPAY_ETERMINAL_UNKNOWN;
        json_decref(doc);
    }
    free(r.buf);
    return rc;
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
    int64_t                  after = 0, upto = INT64_MAX;
    int                      sync_fd = -1;
    uint8_t                 *bundle = NULL, *revlist = NULL;
    size_t                   bundle_len = 0, revlist_len = 0, n_done;
    int                      asked = 0; /* ask_expiries ran */
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
    if ((rc = offpay__terminal_sync_lock(t, &sync_fd)) != OFFPAY_OK) {
        if (rc == OFFPAY_EBUSY)
            offpay__log("offpay: another sync of this terminal with offpayd "
                        "is running: this one stops (nothing is lost; the "
                        "other uploads what is pending)\n");
        return rc;
    }
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
    if ((rc = check_ledger(t, base_url, &ck, &b, done, rep)) != OFFPAY_OK)
        goto out;
    for (;;) {
        b.items = json_array();
        b.n = 0;
        if (b.items == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        if (!b.bounded) {
            /* the first look: what this sync takes. Rows accepted after
             * it (the till goes on while offpayd is asked) go at the next
             * sync, so a busy till on a slow link cannot keep it going */
            upto = b.upto = offpay__terminal_max_seq(t);
            b.bounded = 1;
        }
        rc = offpay__terminal_pending(t, after, batch_max, add_entry, &b);
        if (rc != OFFPAY_OK || b.n == 0) {
            json_decref(b.items);
            break;
        }
        rc = upload_batch(t, base_url, &ck, &b, done, &n_done, rep, 0);
        if (rc != OFFPAY_OK)
            goto out;
        after = b.seqs[b.n - 1]; /* undecided ones wait for the next call */
    }
    if (rc != OFFPAY_OK)
        goto out;
    /* The newest bundle and list; a sync takes only what is newer. The
     * list held is read after the bundle's request (a file sync may have
     * installed a newer one meanwhile), so the delta asked for is from
     * it. */
    rc = get_b64(t, base_url, "/v1/bundle", "bundle", &bundle, &bundle_len);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_sync_state(t, &st);
    /* Serials held complete for a time after now + skew, now by this
     * clock or by offpayd's if that is behind it (the issuer's clock ran
     * ahead when it signed a list held, and this one's with it): only a
     * full list brings that time back, and after a delta the terminal
     * would refuse (ECLOCK_BEHIND) until real time reached it
     * (terminal.c) */
    if (rc == OFFPAY_OK &&
        offpay__terminal_wants_full_list(t, seen_now(&ck, rep)))
        st.revlist_seq = 0;
    snprintf(path, sizeof path, "/v1/revlist?since=%u",
             rc == OFFPAY_OK ? st.revlist_seq : 0);
    if (rc == OFFPAY_OK)
        rc = get_b64(t, base_url, path, "revlist", &revlist, &revlist_len);
    /* a delta from a number offpayd has not reached (EREVLIST_SEQ): its
     * ledger went back to an older copy. Its full list, signed now, is
     * taken keeping what this terminal held revoked (terminal.c). */
    if (rc == OFFPAY_EREFUSED && st.revlist_seq != 0) {
        offpay__log("offpay: offpayd's revocation list is numbered below "
                    "this terminal's (%u): asking its full list\n",
                    (unsigned)st.revlist_seq);
        rc = get_b64(t, base_url, "/v1/revlist?since=0", "revlist", &revlist,
                     &revlist_len);
    }
    /* The status report, before the lists are taken: its signed answer
     * UNKNOWN_TERMINAL (offpayd's ledger does not know this terminal)
     * fails the sync before it is recorded as one, which would renew the
     * terminal's offline window for payments no ledger would pay. */
    if (rc == OFFPAY_OK)
        rc = report_status(t, base_url, &ck, rep);
    /* A clock found ahead of offpayd's: the newest time seen, and the time
     * of this sync, are offpayd's, so that once the terminal's clock is set
     * right it is not "behind the newest time seen" (ECLOCK_BEHIND) until
     * its next sync, nor given the hours it ran ahead as time online. */
    if (rc == OFFPAY_OK) {
        /* the lists were signed at offpayd's time of this moment, not of
         * the sync's start: judged at the terminal's clock now */
        uint32_t end = clock_now(&ck);
        uint32_t seen = seen_now(&ck, rep);
        size_t   gone = 0;

        rc = offpay__terminal_sync_seen(t, bundle, bundle_len, revlist,
                                        revlist_len, end, seen, upto);
        /* a list that would take the terminal past the serials it can
         * hold: taken once those long expired are let go, if any are */
        if (rc == OFFPAY_ETOOBIG) {
            ask_expiries(t, base_url, &ck, &gone);
            asked = 1;
            if (gone > 0)
                rc = offpay__terminal_sync_seen(t, bundle, bundle_len, revlist,
                                                revlist_len, end, seen, upto);
        }
    }
    if (rc == OFFPAY_OK) {
        rep->synced = 1;
        if (!asked) /* each serial once a sync */
            ask_expiries(t, base_url, &ck, NULL);
        /* again, with the lists just taken and what a payment meets now */
        (void)report_status(t, base_url, &ck, rep);
    }
out:
    rc = confirm_unknown(t, base_url, &ck, rc);
    /* report_status keeps no result of its request, and an error may have
     * left the terminal let go: a sync returns holding it, or fails */
    {
        offpay_err held = offpay__terminal_retake(t);

        if (rc == OFFPAY_OK)
            rc = held;
    }
    /* What was accepted before the revocation is paid (settlement.md §8);
     * what this terminal would accept from now on would not be. */
    if (rep->revoked) {
        offpay_err e = offpay__terminal_record_revoked(t, now);

        if (rc == OFFPAY_OK)
            rc = e;
    }
    if (b.seqs != NULL) {
        /* count what is still to go: what an error stopped (the batches
         * not sent included), or what offpayd did not decide; apart, what
         * was accepted after the sync's first look at the journal */
        struct upto_count rest = {upto, 0};
        size_t            listed = 0;
        uint64_t          during = 0;

        if (offpay__terminal_pending(t, 0, SIZE_MAX, count_upto, &rest) ==
            OFFPAY_OK)
            rep->left = rest.n;
        if (upto < INT64_MAX)
            (void)offpay__terminal_pending(t, upto, SIZE_MAX, count_entry,
                                           &during);
        rep->accepted_during = (size_t)during;
        /* and what the ledger lost, not decided again yet */
        if (offpay__terminal_lost_count(t, &listed) == OFFPAY_OK)
            rep->left += listed;
    }
    offpay__lock_release(sync_fd);
    free(bundle);
    free(revlist);
    free(b.seqs);
    free(done);
    return rc;
}
