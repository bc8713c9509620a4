/*
 * upload.c — the terminal's uploader (offpay_terminal_upload, terminal.h):
 * its journal to offpayd's POST /v1/terminal/upload in signed batches
 * (upload_sign.c), each entry marked uploaded only after its result came
 * back, then the newest trust bundle and revocation list from offpayd,
 * taken through offpay_terminal_sync. HTTP through libcurl.
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
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jsonutil.h"
#include "offpay/core.h"
#include "terminal/upload_int.h"

#define BATCH_DEFAULT 500
#define REPLY_MAX     (8u << 20) /* bytes of one reply */
#define URL_MAX       2048
#define TRIES         3

/* A reply being received, capped. */
typedef struct reply {
    char  *buf;
    size_t len;
    int    too_big;
} reply;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    size_t k = size * n;
    char  *nb;

    if (r->len + k > REPLY_MAX) {
        r->too_big = 1;
        return 0;
    }
    nb = realloc(r->buf, r->len + k + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, p, k);
    r->buf = nb;
    r->len += k;
    r->buf[r->len] = '\0';
    return k;
}

/* The time requests are signed at: the caller's now, plus offpayd's
 * offset once known, plus the seconds gone since the call began. */
typedef struct clockref {
    uint32_t now;
    time_t   t0;
    int64_t  offset;
} clockref;

static uint32_t sign_time(const clockref *ck)
{
    int64_t at = (int64_t)ck->now + ck->offset + (int64_t)(time(NULL) - ck->t0);

    return at < 1 ? 1 : at > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)at;
}

/*
 * One request: signed with the terminal's key when body is set. *status
 * is the HTTP status (0: no answer). Retries a missing answer or a 5xx
 * after 1, 2 s (tries of them). Errors: OFFPAY_EIO (no usable answer),
 * OFFPAY_ENOMEM, the signing's.
 */
static offpay_err request(offpay_terminal *t, const char *base,
                          const char *method, const char *path,
                          const char *body, const clockref *ck, int tries,
                          reply *out, long *status)
{
    char       url[URL_MAX];
    offpay_err rc = OFFPAY_EIO;

    *status = 0;
    if (snprintf(url, sizeof url, "%s%s", base, path) >= (int)sizeof url)
        return OFFPAY_EINVAL;
    for (int attempt = 0; attempt < tries; attempt++) {
        CURL                  *c = curl_easy_init();
        struct curl_slist     *h = NULL;
        offpay__http_auth      a;
        offpay__http_auth_text at;
        char                   line[160];
        CURLcode               cc;

        if (attempt > 0) {
            struct timespec ts = {1L << (attempt - 1), 0};

            nanosleep(&ts, NULL);
        }
        free(out->buf);
        memset(out, 0, sizeof *out);
        if (c == NULL)
            return OFFPAY_ENOMEM;
        if (body != NULL) {
            /* a fresh nonce and time for every try: a resend is a new
             * request to offpayd, and the items in it are replays */
            rc = offpay__terminal_sign_http(t, method, path, sign_time(ck),
                                            (const uint8_t *)body, strlen(body),
                                            &a);
            if (rc != OFFPAY_OK) {
                curl_easy_cleanup(c);
                return rc;
            }
            offpay__http_auth_format(&a, &at);
            snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_KEY, at.key);
            h = curl_slist_append(h, line);
            snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_TIME,
                     at.time);
            h = curl_slist_append(h, line);
            snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_NONCE,
                     at.nonce);
            h = curl_slist_append(h, line);
            snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_SIG, at.sig);
            h = curl_slist_append(h, line);
            h = curl_slist_append(h, "Content-Type: application/json");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(c);
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (cc == CURLE_OK && *status < 500 && !out->too_big)
            return OFFPAY_OK;
        if (cc != CURLE_OK)
            fprintf(stderr, "offpay: %s: %s\n", url, curl_easy_strerror(cc));
        rc = OFFPAY_EIO;
    }
    return rc;
}

/* Collects one batch of pending entries into a JSON array. */
typedef struct batch {
    json_t  *items;
    int64_t *seqs;
    size_t   n, cap;
} batch;

static int add_entry(const offpay_journal_entry *e, void *ctx)
{
    batch *b = ctx;
    size_t cap64 =
        sodium_base64_encoded_len(e->code_len, sodium_base64_VARIANT_ORIGINAL);
    char    seq[24], *b64 = malloc(cap64);
    json_t *it;

    if (b64 == NULL || b->n == b->cap) {
        free(b64);
        return 1;
    }
    sodium_bin2base64(b64, cap64, e->code, e->code_len,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
    it = json_pack("{s:s, s:s, s:I, s:I}", "seq", seq, "code", b64, "charged",
                   (json_int_t)e->charged, "accepted_at",
                   (json_int_t)e->accepted_at);
    free(b64);
    if (it == NULL || json_array_append_new(b->items, it) != 0)
        return 1;
    b->seqs[b->n++] = e->seq;
    return 0;
}

/* The results of one upload reply: the seqs offpayd decided (every
 * outcome but "error"), and the report's sums. */
static offpay_err read_results(const reply *r, const batch *b, int64_t *done,
                               size_t *n_done, offpay_upload_report *rep)
{
    json_error_t jerr;
    json_t      *doc = json_loadb(r->buf, r->len, 0, &jerr), *res;
    offpay_err   rc = OFFPAY_EIO;

    *n_done = 0;
    res = json_object_get(doc, "results");
    if (!json_is_array(res) || json_array_size(res) != b->n)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        json_t     *it = json_array_get(res, i);
        const char *outcome = json_string_value(json_object_get(it, "outcome"));
        const char *seq = json_string_value(json_object_get(it, "seq"));
        json_t *paid = json_object_get(json_object_get(it, "paid"), "minor");
        char    want[24];

        snprintf(want, sizeof want, "%lld", (long long)b->seqs[i]);
        if (outcome == NULL || seq == NULL || strcmp(seq, want) != 0)
            goto out;
        if (strcmp(outcome, "error") == 0) {
            const char *why = json_string_value(json_object_get(it, "reason"));

            fprintf(stderr,
                    "offpay: journal entry %s not decided by offpayd (%s): "
                    "it is sent again at the next sync\n",
                    seq, why != NULL ? why : "no reason given");
            continue;
        }
        done[(*n_done)++] = b->seqs[i];
        if (strcmp(outcome, "rejected") == 0) {
            rep->rejected++;
            fprintf(stderr, "offpay: journal entry %s refused by offpayd: %s\n",
                    seq,
                    json_string_value(json_object_get(it, "reason")) != NULL
                        ? json_string_value(json_object_get(it, "reason"))
                        : "no reason given");
        } else {
            rep->settled++;
            if (json_is_integer(paid))
                rep->paid += (int64_t)json_integer_value(paid);
        }
    }
    rc = OFFPAY_OK;
out:
    json_decref(doc);
    return rc;
}

/* GETs path and base64-decodes its field into *bytes (malloc'd). */
static offpay_err fetch(offpay_terminal *t, const char *base, const char *path,
                        const char *field, const clockref *ck, uint8_t **bytes,
                        size_t *len)
{
    reply        r = {0};
    long         status = 0;
    json_error_t jerr;
    json_t      *doc = NULL;
    const char  *b64;
    offpay_err   rc;

    *bytes = NULL;
    *len = 0;
    rc = request(t, base, "GET", path, NULL, ck, TRIES, &r, &status);
    if (rc != OFFPAY_OK)
        goto out;
    rc = OFFPAY_EIO;
    if (status != 200 || (doc = json_loadb(r.buf, r.len, 0, &jerr)) == NULL ||
        (b64 = json_string_value(json_object_get(doc, field))) == NULL)
        goto out;
    *bytes = malloc(strlen(b64) + 1);
    if (*bytes == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    if (sodium_base642bin(*bytes, strlen(b64) + 1, b64, strlen(b64), NULL, len,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(*bytes);
        *bytes = NULL;
        goto out;
    }
    rc = OFFPAY_OK;
out:
    json_decref(doc);
    free(r.buf);
    return rc;
}

/*
 * Reads offpayd's clock from GET /v1/health and records its offset from
 * the terminal's (ck->now, corrected by the request's own duration: half
 * of it is taken as the way back). Tried once: offpayd unreachable is
 * OFFPAY_EIO, and the upload does not wait for it three times. A reply
 * without a usable time leaves the offset unknown (0) and is no error.
 */
static offpay_err read_clock(offpay_terminal *t, const char *base, clockref *ck,
                             offpay_upload_report *rep)
{
    reply           r = {0};
    long            status = 0;
    json_error_t    jerr;
    json_t         *doc = NULL, *tv;
    struct timespec a, b;
    int64_t         server, rtt_ms, half_rtt, offset;
    offpay_err      rc;

    clock_gettime(CLOCK_MONOTONIC, &a);
    rc = request(t, base, "GET", "/v1/health", NULL, ck, 1, &r, &status);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc != OFFPAY_OK)
        goto out;
    if (status != 200 || (doc = json_loadb(r.buf, r.len, 0, &jerr)) == NULL ||
        !json_is_integer(tv = json_object_get(doc, "time")) ||
        json_integer_value(tv) < 1 || json_integer_value(tv) > UINT32_MAX)
        goto out; /* an offpayd without a clock to show: offset unknown */
    server = (int64_t)json_integer_value(tv);
    rtt_ms = (int64_t)(b.tv_sec - a.tv_sec) * 1000 +
             (int64_t)(b.tv_nsec - a.tv_nsec) / 1000000;
    half_rtt = (rtt_ms + 1000) / 2000; /* whole seconds, rounded */
    offset =
        server - ((int64_t)ck->now + (int64_t)(time(NULL) - ck->t0)) - half_rtt;
    if (offset > OFFPAY__CLOCK_OFFSET_MAX || offset < -OFFPAY__CLOCK_OFFSET_MAX)
        goto out;
    if ((rc = offpay__terminal_record_clock(t, ck->now, offset)) != OFFPAY_OK)
        goto out;
    ck->offset = offset;
    rep->clock_known = 1;
    rep->clock_offset = offset;
out:
    json_decref(doc);
    free(r.buf);
    return rc;
}

offpay_err offpay_terminal_upload(offpay_terminal *t, const char *base_url,
                                  size_t batch_max, uint32_t now,
                                  offpay_upload_report *rep)
{
    offpay_upload_report mine;
    offpay_sync_state    st;
    clockref             ck;
    batch                b = {0};
    int64_t             *done = NULL, after = 0;
    uint8_t             *bundle = NULL, *revlist = NULL;
    size_t               bundle_len = 0, revlist_len = 0, n_done;
    char                 path[64];
    offpay_err           rc = OFFPAY_ENOMEM;

    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    if (t == NULL || base_url == NULL ||
        (strncmp(base_url, "http://", 7) != 0 &&
         strncmp(base_url, "https://", 8) != 0))
        return OFFPAY_EINVAL;
    if (batch_max == 0)
        batch_max = BATCH_DEFAULT;
    curl_global_init(CURL_GLOBAL_DEFAULT);
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
    for (;;) {
        reply   r = {0};
        long    status = 0;
        char   *body = NULL;
        json_t *doc;

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
        doc = json_pack("{s:o}", "items", b.items);
        body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (body == NULL) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
        rc = request(t, base_url, "POST", "/v1/terminal/upload", body, &ck,
                     TRIES, &r, &status);
        offpay__json_free(body); /* Jansson's allocator is offpay's */
        if (rc == OFFPAY_OK && status != 200) {
            fprintf(stderr,
                    "offpay: offpayd refused the upload (HTTP %ld): "
                    "%.300s\n",
                    status, r.buf != NULL ? r.buf : "");
            rc = OFFPAY_EIO;
        }
        if (rc == OFFPAY_OK)
            rc = read_results(&r, &b, done, &n_done, rep);
        free(r.buf);
        if (rc != OFFPAY_OK)
            goto out;
        rep->sent += b.n;
        /* Durable on offpayd before its reply: marked here after it. */
        rc = offpay__terminal_mark_uploaded(t, done, n_done);
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
        rc = fetch(t, base_url, "/v1/bundle", "bundle", &ck, &bundle,
                   &bundle_len);
    snprintf(path, sizeof path, "/v1/revlist?since=%u", st.revlist_seq);
    if (rc == OFFPAY_OK)
        rc = fetch(t, base_url, path, "revlist", &ck, &revlist, &revlist_len);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_sync(t, bundle, bundle_len, revlist, revlist_len,
                                  now);
    if (rc == OFFPAY_OK)
        rep->synced = 1;
out:
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
