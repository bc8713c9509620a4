/*
 * upload.c — the terminal's uploader (offpay_terminal_upload, terminal.h):
 * its journal to offpayd's POST /v1/terminal/upload in signed batches
 * (upload_sign.c), each entry marked uploaded only after its result came
 * back, then the newest trust bundle and revocation list from offpayd,
 * taken through offpay_terminal_sync. HTTP through libcurl.
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

/*
 * One request: signed with the terminal's key when sign is set. *status
 * is the HTTP status (0: no answer). Retries a missing answer or a 5xx
 * after 1, 2 s. Errors: OFFPAY_EIO (no usable answer), OFFPAY_ENOMEM, the
 * signing's.
 */
static offpay_err request(offpay_terminal *t, const char *base,
                          const char *method, const char *path,
                          const char *body, uint32_t now, reply *out,
                          long *status)
{
    char       url[URL_MAX];
    offpay_err rc = OFFPAY_EIO;

    *status = 0;
    if (snprintf(url, sizeof url, "%s%s", base, path) >= (int)sizeof url)
        return OFFPAY_EINVAL;
    for (int attempt = 0; attempt < TRIES; attempt++) {
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
            rc = offpay__terminal_sign_http(
                t, method, path, attempt == 0 ? now : (uint32_t)time(NULL),
                (const uint8_t *)body, strlen(body), &a);
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
        if (strcmp(outcome, "error") == 0)
            continue; /* nothing decided: sent again next time */
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
                        const char *field, uint32_t now, uint8_t **bytes,
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
    rc = request(t, base, "GET", path, NULL, now, &r, &status);
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

offpay_err offpay_terminal_upload(offpay_terminal *t, const char *base_url,
                                  size_t batch_max, uint32_t now,
                                  offpay_upload_report *rep)
{
    offpay_upload_report mine;
    offpay_sync_state    st;
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
    b.cap = batch_max;
    b.seqs = malloc(batch_max * sizeof *b.seqs);
    done = malloc(batch_max * sizeof *done);
    if (b.seqs == NULL || done == NULL)
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
        rc = request(t, base_url, "POST", "/v1/terminal/upload", body, now, &r,
                     &status);
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
        rc = fetch(t, base_url, "/v1/bundle", "bundle", now, &bundle,
                   &bundle_len);
    snprintf(path, sizeof path, "/v1/revlist?since=%u", st.revlist_seq);
    if (rc == OFFPAY_OK)
        rc = fetch(t, base_url, path, "revlist", now, &revlist, &revlist_len);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_sync(t, bundle, bundle_len, revlist, revlist_len,
                                  now);
    if (rc == OFFPAY_OK)
        rep->synced = 1;
out:
    if (rc != OFFPAY_OK) {
        /* count what is still to go */
        batch rest = {json_array(), b.seqs, 0, b.cap};

        if (rest.items != NULL && b.seqs != NULL &&
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
