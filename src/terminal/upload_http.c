/*
 * upload_http.c — the one HTTP client of offpay's signed requests
 * (upload_int.h), through libcurl: what the terminal's uploader
 * (upload.c) and the wallet's upload (wallet/upload.c) send to offpayd.
 * The caller brings the key and the time to sign at (offpay__http_signer),
 * so a terminal's key, a wallet's and a PKCS#11 token's all go through it,
 * and a terminal's clock correction stays the terminal's.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "offpay/verify.h"
#include "terminal/upload_int.h"

#define URL_MAX 2048

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    offpay__http_reply *r = ctx;
    size_t              k = size * n;
    char               *nb;

    if (r->len + k > OFFPAY__HTTP_REPLY_MAX) {
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

/* Keeps the value of X-Offpay-Answer from the answer's header lines (a
 * status line starts the headers of another answer: a 100 Continue's
 * are not the final one's). */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    offpay__http_reply *r = ctx;
    size_t              k = size * n, name = strlen(OFFPAY__HTTP_HDR_ANSWER);
    const char         *v, *e = p + k;

    if (k >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        r->answer[0] = '\0';
        r->answer_long = 0;
    } else if (k > name && p[name] == ':' &&
               strncasecmp(p, OFFPAY__HTTP_HDR_ANSWER, name) == 0) {
        v = p + name + 1;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' ||
                         e[-1] == '\t'))
            e--;
        if ((size_t)(e - v) >= sizeof r->answer) {
            r->answer_long = 1;
        } else {
            memcpy(r->answer, v, (size_t)(e - v));
            r->answer[e - v] = '\0';
        }
    }
    return k;
}

/* The check of an answer under offpayd's own bundle, when it is signed
 * by a key the signer's bundle does not hold yet (added since its last
 * sync): that bundle is taken only if it verifies under the pinned root
 * and is newer than the one held (the issuer numbers every change). */
static offpay_err answer_fresh_keys(const char                *base,
                                    const offpay__http_signer *s,
                                    const offpay__http_reply  *out,
                                    const char *path, const uint8_t *asked,
                                    long status, const offpay__http_auth *a)
{
    offpay_trust_bundle b;
    uint8_t            *bytes = NULL;
    size_t              len = 0;
    offpay_err          rc;

    rc = offpay__http_get_b64(base, "/v1/bundle", "bundle", 1, &bytes, &len);
    if (rc == OFFPAY_OK)
        rc = offpay_bundle_verify(bytes, len, s->root_pk, &b);
    free(bytes);
    if (rc != OFFPAY_OK)
        return rc;
    if (b.seq <= s->bundle->seq)
        return OFFPAY_EBUNDLE_OLD;
    return offpay__http_answer_verify(&b, out->answer, s->now, status, path, a,
                                      asked, (const uint8_t *)out->buf,
                                      out->len, NULL);
}

/* The answer to a signed request (upload_int.h, offpay__http_request):
 * OFFPAY_OK when offpayd signed it (out->answer_ok set), or when it is an
 * unsigned refusal, which the caller only prints; else OFFPAY_EANSWER,
 * said in the log. */
static offpay_err answer_check(const char *base, const char *method,
                               const char *path, const char *asked,
                               const offpay__http_signer *s,
                               const offpay__http_auth *a, long status,
                               offpay__http_reply *out)
{
    uint8_t    digest[OFFPAY__HTTP_DIGEST_BYTES];
    offpay_err rc;

    if (out->answer[0] == '\0' && !out->answer_long) {
        if (status != 200)
            return OFFPAY_OK; /* refused before it was known: not acted on */
        offpay__log("offpay: offpayd's answer to %s %s is not signed (an "
                    "offpayd older than 0.10.0, one that could not sign it "
                    "(its log says why), or something between this device "
                    "and offpayd answered in its place): nothing of it is "
                    "kept\n",
                    method, path);
        return OFFPAY_EANSWER;
    }
    rc =
        offpay__http_body_digest((const uint8_t *)asked, strlen(asked), digest);
    if (rc == OFFPAY_OK)
        rc = out->answer_long
                 ? OFFPAY_EMALFORMED
                 : offpay__http_answer_verify(
                       s->bundle, out->answer, s->now, status, path, a, digest,
                       (const uint8_t *)out->buf, out->len, NULL);
    if (rc == OFFPAY_EUNKNOWN_KID && s->root_pk != NULL)
        rc = answer_fresh_keys(base, s, out, path, digest, status, a);
    if (rc != OFFPAY_OK) {
        offpay__log("offpay: offpayd's answer to %s %s fails its signature "
                    "check (%s): something between this device and offpayd "
                    "changed it or answered in its place; nothing of it is "
                    "kept (where the path to offpayd is not your own, give "
                    "an https:// URL)\n",
                    method, path, offpay_errname(rc));
        return OFFPAY_EANSWER;
    }
    out->answer_ok = 1;
    return OFFPAY_OK;
}

/* The four signature headers of a, and the body's type. */
static struct curl_slist *auth_headers(const offpay__http_auth *a)
{
    offpay__http_auth_text at;
    struct curl_slist     *h = NULL;
    char                   line[160];

    offpay__http_auth_format(a, &at);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_KEY, at.key);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_TIME, at.time);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_NONCE, at.nonce);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "%s: %s", OFFPAY__HTTP_HDR_SIG, at.sig);
    h = curl_slist_append(h, line);
    return curl_slist_append(h, "Content-Type: application/json");
}

/* offpayd's reason for this thread's last refused request
 * (offpay_server_detail). */
static __thread char server_detail[400];

const char *offpay_server_detail(void)
{
    return server_detail;
}

/* Whether this thread's last request never connected on any try
 * (offpay_server_unreached). */
static __thread int unreached;

int offpay_server_unreached(void)
{
    return unreached;
}

/* Whether curl's error came before a connection was made, so that nothing
 * of the request was sent: a name that does not resolve, an address that
 * refuses or cannot be routed to. */
static int before_connect(CURLcode cc)
{
    return cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_COULDNT_CONNECT;
}

/* Before try attempt (from 1): 1 s, then 2 s, 4 s…, each drawn at random
 * between half and one and a half of it, so that a fleet refused together
 * (every gate syncing the minute the network came back) does not come
 * back together. */
static void backoff(int attempt)
{
    long            ms = 1000L << (attempt - 1);
    struct timespec ts;

    ms = ms / 2 + (long)randombytes_uniform((uint32_t)ms);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

offpay_err offpay__http_server_time(const char *base, int tries,
                                    int64_t *server)
{
    offpay__http_reply r = {0};
    long               status = 0;
    json_error_t       jerr;
    json_t            *doc = NULL, *tv;
    struct timespec    a, b;
    int64_t            rtt_ms;
    offpay_err         rc = OFFPAY_EIO;

    *server = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* each try timed alone: the way back is half of the one answered */
    for (int attempt = 0; attempt < tries && rc != OFFPAY_OK; attempt++) {
        if (attempt > 0)
            backoff(attempt);
        clock_gettime(CLOCK_MONOTONIC, &a);
        rc = offpay__http_request(base, "GET", "/v1/health", NULL, NULL, 1, &r,
                                  &status);
        clock_gettime(CLOCK_MONOTONIC, &b);
    }
    if (rc == OFFPAY_OK && status == 200 &&
        (doc = json_loadb(r.buf, r.len, 0, &jerr)) != NULL &&
        json_is_integer(tv = json_object_get(doc, "time")) &&
        json_integer_value(tv) >= 1 && json_integer_value(tv) <= UINT32_MAX) {
        rtt_ms = (int64_t)(b.tv_sec - a.tv_sec) * 1000 +
                 (int64_t)(b.tv_nsec - a.tv_nsec) / 1000000;
        /* half the request's time is taken as the way back (rounded) */
        *server = (int64_t)json_integer_value(tv) + (rtt_ms + 1000) / 2000;
    }
    json_decref(doc);
    free(r.buf);
    return rc;
}

int offpay__http_base_ok(const char *base)
{
    return base != NULL && (strncmp(base, "http://", 7) == 0 ||
                            strncmp(base, "https://", 8) == 0);
}

offpay_err offpay__http_request(const char *base, const char *method,
                                const char *path, const char *body,
                                const offpay__http_signer *s, int tries,
                                offpay__http_reply *out, long *status)
{
    char       url[URL_MAX];
    size_t     blen = strlen(base);
    offpay_err rc = OFFPAY_EIO;

    *status = 0;
    server_detail[0] = '\0'; /* offpay_server_detail: this request's */
    unreached = 0;
    /* "http://host:port/" too; never into the scheme's "://" */
    while (blen > 3 && base[blen - 1] == '/' &&
           !(base[blen - 2] == '/' && base[blen - 3] == ':'))
        blen--;
    if (blen > URL_MAX ||
        snprintf(url, sizeof url, "%.*s%s", (int)blen, base, path) >=
            (int)sizeof url)
        return OFFPAY_EINVAL;
    unreached = 1; /* until a try gets further than connecting */
    for (int attempt = 0; attempt < tries; attempt++) {
        CURL              *c = curl_easy_init();
        struct curl_slist *h = NULL;
        offpay__http_auth  a;
        CURLcode           cc;

        if (attempt > 0)
            backoff(attempt);
        free(out->buf);
        memset(out, 0, sizeof *out);
        out->signed_req = body != NULL;
        if (c == NULL)
            return OFFPAY_ENOMEM;
        if (body != NULL) {
            /* a fresh nonce and time for every try: a resend is a new
             * request to offpayd, and the items in it are replays */
            rc = s->sign(s->ctx, method, path, s->at(s->ctx, attempt),
                         (const uint8_t *)body, strlen(body), &a);
            if (rc != OFFPAY_OK) {
                curl_easy_cleanup(c);
                return rc;
            }
            h = auth_headers(&a);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(c);
        if (!before_connect(cc))
            unreached = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (cc == CURLE_OK && *status < 500 && !out->too_big)
            return body != NULL ? answer_check(base, method, path, body, s, &a,
                                               *status, out)
                                : OFFPAY_OK;
        if (cc != CURLE_OK)
            offpay__log("offpay: %s: %s\n", url, curl_easy_strerror(cc));
        else if (attempt == tries - 1 && out->too_big)
            offpay__log("offpay: %s: offpayd's answer is larger than "
                        "the client takes\n",
                        url);
        else if (attempt == tries - 1) { /* a 5xx every time: the last */
            snprintf(server_detail, sizeof server_detail, "HTTP %ld: %.200s",
                     *status, out->buf != NULL ? out->buf : "");
            offpay__log("offpay: %s: offpayd failed (%s)\n", url,
                        server_detail);
        }
        rc = OFFPAY_EIO;
    }
    return rc;
}

offpay_err offpay__http_get_b64(const char *base, const char *path,
                                const char *field, int tries, uint8_t **bytes,
                                size_t *len)
{
    offpay__http_reply r = {0};
    long               status = 0;
    json_error_t       jerr;
    json_t            *doc = NULL;
    const char        *b64;
    offpay_err         rc;

    *bytes = NULL;
    *len = 0;
    rc =
        offpay__http_request(base, "GET", path, NULL, NULL, tries, &r, &status);
    if (rc != OFFPAY_OK)
        goto out;
    if (status != 200) {
        char what[160];

        snprintf(what, sizeof what, "GET %.140s", path);
        rc = offpay__http_refused(what, status, &r); /* says why */
        goto out;
    }
    rc = OFFPAY_EIO;
    if ((doc = json_loadb(r.buf, r.len, 0, &jerr)) == NULL ||
        (b64 = json_string_value(json_object_get(doc, field))) == NULL ||
        b64[0] == '\0') {
        offpay__log("offpay: offpayd's answer to GET %.140s has no "
                    "'%s'\n",
                    path, field);
        goto out;
    }
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

offpay_err offpay__http_refused(const char *what, long status,
                                const offpay__http_reply *r)
{
    json_error_t jerr;
    json_t      *doc = r->buf != NULL && r->len > 0
                           ? json_loadb(r->buf, r->len, 0, &jerr)
                           : NULL;
    const char  *e = json_string_value(json_object_get(doc, "error"));
    const char  *hint = json_string_value(json_object_get(doc, "hint"));

    if (e != NULL)
        snprintf(server_detail, sizeof server_detail, "%.60s%s%.300s (HTTP %ld)",
                 e, hint != NULL ? ": " : "", hint != NULL ? hint : "", status);
    else
        snprintf(server_detail, sizeof server_detail, "HTTP %ld: %.300s",
                 status, r->buf != NULL ? r->buf : "");
    /* offpayd saw this request before: it did it then, and that answer was
     * lost on the way (or kept back by something between): the outcome is
     * not known here, so this is no refusal; the next run asks again */
    if (e != NULL && strcmp(e, "NONCE_REPLAYED") == 0) {
        offpay__log("offpay: offpayd had %s already (its answer then did "
                    "not arrive): what it did is not known here; run the "
                    "command again, which asks anew\n",
                    what);
        json_decref(doc);
        return OFFPAY_EIO;
    }
    /* an answer to a signed request that offpayd did not sign may come
     * from anything between: said, and never acted on */
    if (r->signed_req && !r->answer_ok)
        snprintf(server_detail + strlen(server_detail),
                 sizeof server_detail - strlen(server_detail),
                 " (unsigned: not known to be offpayd's)");
    if (e != NULL)
        offpay__log("offpay: offpayd refused %s: %s\n", what, server_detail);
    else
        offpay__log("offpay: offpayd answered %s with %s\n", what,
                    server_detail);
    json_decref(doc);
    return status >= 400 && status < 500 ? OFFPAY_EREFUSED : OFFPAY_EIO;
}

offpay_err offpay__http_post_json(const char *base, const char *path,
                                  const char                *body,
                                  const offpay__http_signer *s, int tries,
                                  json_t **doc, char *err_name, size_t err_cap)
{
    return offpay__http_post_json_status(base, path, body, s, tries, doc,
                                         err_name, err_cap, NULL);
}

offpay_err offpay__http_post_json_status(const char *base, const char *path,
                                         const char                *body,
                                         const offpay__http_signer *s,
                                         int tries, json_t **doc,
                                         char *err_name, size_t err_cap,
                                         long *status_out)
{
    offpay__http_reply r = {0};
    json_error_t       jerr;
    long               status = 0;
    offpay_err         rc;

    *doc = NULL;
    if (status_out != NULL)
        *status_out = 0;
    if (err_name != NULL && err_cap > 0)
        err_name[0] = '\0';
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = offpay__http_request(base, "POST", path, body, s, tries, &r, &status);
    if (status_out != NULL)
        *status_out = status;
    if (rc == OFFPAY_OK) {
        *doc = json_loadb(r.buf != NULL ? r.buf : "", r.len, 0, &jerr);
        if (status != 200) {
            const char *e = json_string_value(json_object_get(*doc, "error"));
            char        what[160];

            snprintf(what, sizeof what, "POST %s", path);
            rc = offpay__http_refused(what, status, &r);
            /* an unsigned refusal is printed, never acted on */
            if (err_name != NULL && err_cap > 0 && e != NULL && r.answer_ok)
                snprintf(err_name, err_cap, "%s", e);
        } else if (!json_is_object(*doc)) {
            offpay__log("offpay: offpayd's answer to %s is not JSON\n", path);
            rc = OFFPAY_EIO;
        }
    }
    if (rc != OFFPAY_OK) {
        json_decref(*doc);
        *doc = NULL;
    }
    free(r.buf);
    return rc;
}
