/*
 * upload.c — the wallet's upload of its own spend log to offpayd
 * (offpay_wallet_upload, wallet.h; POST /v1/wallet/upload in docs/api.md):
 * every code's exact bytes with the receipts kept for it, in batches
 * signed by the wallet's key (the request format of terminal/upload_int.h),
 * and offpayd's answer per code. HTTP through terminal/upload_http.c.
 *
 * It changes nothing in the wallet, so it is safe to stop and to repeat:
 * offpayd keeps each receipt once and settles each payment once. The
 * wallet is let go while it runs (offpay__wallet_let_go): a payment
 * meanwhile does not wait, and goes at the next upload. The
 * settlement sync (offpay_wallet_sync, online.c) builds on it.
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
#include "offpay/settle.h"
#include "terminal/upload_int.h"
#include "wallet/wallet_int.h"

#define BATCH_DEFAULT 100
#define BATCH_CAP     200 /* offpayd's (SRV_WALLET_BATCH_MAX) */
#define TRIES         3
#define PATH          "/v1/wallet/upload"

uint32_t offpay__wallet_signing_time(void *ctx, int attempt)
{
    const offpay__wallet_signing *sg = ctx;
    int64_t t = (int64_t)sg->now + sg->offset +
                (attempt == 0 ? 0 : (int64_t)(time(NULL) - sg->t0));

    return t < 1 || t > UINT32_MAX ? sg->now : (uint32_t)t;
}

static int clock_warned;

int64_t offpay__wallet_clock_offset(const char *base, uint32_t now)
{
    return offpay__wallet_clock_read(base, now, NULL);
}

int64_t offpay__wallet_clock_read(const char *base, uint32_t now, int *known)
{
    int64_t server, offset, off;

    if (known != NULL)
        *known = 0;
    if (offpay__http_server_time(base, 1, &server) != OFFPAY_OK || server == 0)
        return 0;
    offset = server - (int64_t)now;
    if (offset > OFFPAY__CLOCK_OFFSET_MAX || offset < -OFFPAY__CLOCK_OFFSET_MAX)
        return 0;
    if (known != NULL)
        *known = 1;
    off = offset < 0 ? -offset : offset;
    /* said once per process: a sync reads the clock again for its upload
     * and a renewal */
    if (off > 60 && !__atomic_exchange_n(&clock_warned, 1, __ATOMIC_SEQ_CST))
        offpay__log("offpay: this device's clock is %lld s %s offpayd's: its "
                    "requests are signed at offpayd's time, but its codes are "
                    "dated by its clock, and terminals refuse codes that far "
                    "off: set the clock right\n",
                    (long long)off, offset < 0 ? "ahead of" : "behind");
    return offset;
}

offpay_err offpay__wallet_signing_sign(void *ctx, const char *method,
                                       const char *path, uint32_t time,
                                       const uint8_t *body, size_t len,
                                       offpay__http_auth *out)
{
    const offpay__wallet_signing *sg = ctx;

    return offpay__wallet_sign_http(sg->w, method, path, time, body, len, out);
}

/* POSTs body signed by the wallet (offpay__http_request, upload_http.c):
 * a missing answer or a 5xx is tried again after 1, 2 s, each try with a
 * fresh time and nonce. */
static offpay_err post(const offpay_wallet *w, const char *base,
                       const char *body, uint32_t now, int64_t offset,
                       offpay__http_reply *out, long *status)
{
    offpay__wallet_signing sg = {w, now, offset, time(NULL)};
    offpay__http_signer    s = {
           offpay__wallet_signing_time, offpay__wallet_signing_sign, &sg,
           offpay__wallet_bundle(w),    offpay__wallet_root(w),      now};

    return offpay__http_request(base, "POST", PATH, body, &s, TRIES, out,
                                status);
}

/* Spend log entry i as an upload item; *skip when its credential is no
 * longer in the wallet (its code cannot be made again). */
static offpay_err item_of(const offpay_wallet *w, size_t i, json_t **out,
                          uint32_t *n_receipts, int *skip)
{
    offpay_wallet_spend s;
    offpay_receipt      r;
    uint8_t             rb[OFFPAY_SETTLE_RECEIPT_MAX_BYTES];
    uint8_t            *code = NULL;
    char               *text = NULL;
    size_t              len = 0;
    json_t             *receipts = NULL;
    offpay_err          rc;

    *out = NULL;
    *skip = 0;
    rc = offpay_wallet_get_spend(w, i, &s);
    if (rc == OFFPAY_OK)
        rc = offpay_wallet_code_text(w, i, &text);
    if (rc == OFFPAY_ENOTFOUND) {
        *skip = 1;
        return OFFPAY_OK;
    }
    if (rc == OFFPAY_OK)
        rc = offpay_text_decode(text, strlen(text), &code, &len);
    if (rc != OFFPAY_OK)
        goto out;
    rc = OFFPAY_ENOMEM;
    receipts = json_array();
    if (receipts == NULL)
        goto out;
    for (uint32_t j = 0; j < s.n_receipts; j++) {
        size_t rlen = 0;

        rc = offpay_wallet_get_receipt(w, i, j, &r);
        if (rc == OFFPAY_OK)
            rc = offpay_receipt_encode(&r, rb, sizeof rb, &rlen);
        if (rc != OFFPAY_OK)
            goto out;
        if (json_array_append_new(receipts, offpay__json_base64(rb, rlen)) !=
            0) {
            rc = OFFPAY_ENOMEM;
            goto out;
        }
    }
    *n_receipts = s.n_receipts;
    *out = json_pack("{s:o, s:o}", "code", offpay__json_base64(code, len),
                     "receipts", receipts);
    receipts = NULL;
    rc = *out != NULL ? OFFPAY_OK : OFFPAY_ENOMEM;
out:
    json_decref(receipts);
    free(code);
    free(text);
    return rc;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* An amount object's minor units, or -1 (null, absent, or not one). */
static int64_t minor_of(const json_t *o, const char *key)
{
    const json_t *m = json_object_get(json_object_get(o, key), "minor");

    return json_is_integer(m) && json_integer_value(m) >= 0
               ? (int64_t)json_integer_value(m)
               : -1;
}

/* A decimal id in a string ("7"), or 0. */
static uint64_t id_of(const json_t *o, const char *key)
{
    const char *t = json_string_value(json_object_get(o, key));

    return t != NULL && t[0] >= '1' && t[0] <= '9' ? strtoull(t, NULL, 10) : 0;
}

/* One receipt's answer (outcome o) into rs. */
static void receipt_of(const json_t *r, const char *o,
                       offpay_wallet_receipt_status *rs)
{
    json_t *tid = json_object_get(r, "terminal_id");
    int64_t amount = minor_of(r, "amount");

    copy_text(rs->outcome, sizeof rs->outcome, o);
    copy_text(rs->reason, sizeof rs->reason,
              json_string_value(json_object_get(r, "reason")));
    if (json_is_integer(tid) && json_integer_value(tid) > 0)
        rs->terminal_id = (uint64_t)json_integer_value(tid);
    rs->amount = amount > 0 ? amount : 0;
    rs->claimed = minor_of(r, "claimed");
    rs->case_id = id_of(r, "case");
}

/* Reads one result of offpayd's reply into st (index, receipts preset). */
static int read_result(json_t *it, offpay_wallet_upload_status *st)
{
    json_t     *rs = json_object_get(it, "receipts");
    json_t     *paid = json_object_get(json_object_get(it, "paid"), "minor");
    json_t     *refunded =
        json_object_get(json_object_get(it, "refunded"), "minor");
    const char *status = json_string_value(json_object_get(it, "status"));
    const char *serial = json_string_value(json_object_get(it, "serial"));
    json_t     *counter = json_object_get(it, "counter");

    if (status == NULL)
        return -1;
    copy_text(st->status, sizeof st->status, status);
    copy_text(st->reason, sizeof st->reason,
              json_string_value(json_object_get(it, "reason")));
    if (serial != NULL)
        st->serial = strtoull(serial, NULL, 10);
    if (json_is_integer(counter))
        st->counter = (uint32_t)json_integer_value(counter);
    if (json_is_integer(paid))
        st->paid = (int64_t)json_integer_value(paid);
    if (json_is_integer(refunded) && json_integer_value(refunded) >= 0)
        st->refunded = (int64_t)json_integer_value(refunded);
    for (size_t k = 0; k < json_array_size(rs); k++) {
        const json_t *r = json_array_get(rs, k);
        const char   *o = json_string_value(json_object_get(r, "outcome"));

        if (o == NULL)
            return -1;
        if (k < sizeof st->receipt / sizeof st->receipt[0])
            receipt_of(r, o, &st->receipt[st->n_receipt++]);
        if (strcmp(o, "settled") == 0)
            st->receipts_settled++;
        else if (strcmp(o, "agreed") == 0)
            st->receipts_agreed++;
        else if (strcmp(o, "waiting") == 0)
            st->receipts_waiting++;
        else if (strcmp(o, "mismatch") == 0)
            st->receipts_mismatch++;
        else
            st->receipts_rejected++;
    }
    return 0;
}

void offpay__wallet_say(const char *line)
{
    offpay__log("%s", line);
}

offpay_err offpay__wallet_upload_body(const offpay_wallet *w, size_t from,
                                      size_t max, char **body, size_t *index,
                                      uint32_t *receipts, size_t *n,
                                      size_t *next, size_t *skipped)
{
    json_t    *items = json_array(), *doc;
    size_t     i, total = offpay_wallet_n_spends(w);
    offpay_err rc = OFFPAY_OK;

    *body = NULL;
    *n = 0;
    if (items == NULL)
        return OFFPAY_ENOMEM;
    for (i = from; i < total && *n < max && rc == OFFPAY_OK; i++) {
        json_t  *item = NULL;
        uint32_t nr = 0;
        int      skip = 0;

        rc = item_of(w, i, &item, &nr, &skip);
        if (rc == OFFPAY_OK && skip) {
            if (skipped != NULL)
                (*skipped)++;
            continue;
        }
        if (rc == OFFPAY_OK && json_array_append_new(items, item) != 0)
            rc = OFFPAY_ENOMEM;
        if (rc != OFFPAY_OK)
            break;
        if (index != NULL)
            index[*n] = i;
        if (receipts != NULL)
            receipts[*n] = nr;
        (*n)++;
    }
    *next = i;
    if (rc != OFFPAY_OK || *n == 0) {
        json_decref(items);
        *n = 0;
        return rc;
    }
    doc = json_pack("{s:o}", "items", items);
    *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return *body != NULL ? OFFPAY_OK : OFFPAY_ENOMEM;
}

offpay_err offpay_wallet_upload(offpay_wallet *w, const char *base_url,
                                size_t from, size_t batch_max, uint32_t now,
                                int (*fn)(const offpay_wallet_upload_status *s,
                                          void *ctx),
                                void *ctx, offpay_wallet_upload_report *rep)
{
    offpay_wallet_upload_report  mine;
    offpay_wallet_upload_status *st = NULL;
    char                         buf[OFFPAY_WALLET_URL_MAX + 1];
    size_t                      *index = NULL;
    uint32_t                    *nrec = NULL;
    size_t                       i = from;
    int                          stop = 0, let = 0;
    int64_t                      offset;
    offpay_err                   rc = OFFPAY_OK, rt;

    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    if (w == NULL)
        return OFFPAY_EINVAL;
    if ((rc = offpay__wallet_base(w, base_url, buf, &base_url)) != OFFPAY_OK)
        return rc;
    if (batch_max == 0)
        batch_max = BATCH_DEFAULT;
    if (batch_max > BATCH_CAP)
        batch_max = BATCH_CAP;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* it writes nothing: the wallet is let go all along (a sync that let
     * it go already keeps it so) */
    if ((rc = offpay__wallet_let_go(w, &let)) != OFFPAY_OK)
        return rc;
    offset = offpay__wallet_clock_offset(base_url, now);
    st = calloc(batch_max, sizeof *st);
    index = calloc(batch_max, sizeof *index);
    nrec = calloc(batch_max, sizeof *nrec);
    if (st == NULL || index == NULL || nrec == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    while (rc == OFFPAY_OK && !stop) {
        json_t            *doc = NULL, *res;
        char              *body = NULL;
        offpay__http_reply r = {0};
        long               status = 0;
        size_t             n = 0;
        json_error_t       jerr;

        /* One batch: up to batch_max codes the wallet can still show. */
        rc = offpay__wallet_upload_body(w, i, batch_max, &body, index, nrec, &n,
                                        &i, &rep->skipped);
        if (rc != OFFPAY_OK || n == 0)
            break;
        rc = post(w, base_url, body, now, offset, &r, &status);
        offpay__json_free(body);
        if (rc == OFFPAY_OK && status != 200)
            rc = offpay__http_refused("the wallet upload", status, &r);
        doc = rc == OFFPAY_OK ? json_loadb(r.buf, r.len, 0, &jerr) : NULL;
        res = json_object_get(doc, "results");
        if (rc == OFFPAY_OK &&
            (!json_is_array(res) || json_array_size(res) != n)) {
            offpay__log("offpay: offpayd's answer has no result per "
                        "code\n");
            rc = OFFPAY_EIO;
        }
        for (size_t k = 0; rc == OFFPAY_OK && k < n; k++) {
            memset(&st[k], 0, sizeof st[k]);
            st[k].index = index[k];
            st[k].receipts = nrec[k];
            if (read_result(json_array_get(res, k), &st[k]) != 0) {
                rc = OFFPAY_EIO;
                break;
            }
            rep->sent++;
            if (strcmp(st[k].status, "error") != 0)
                rep->decided++;
            if (strcmp(st[k].status, "not_settled") == 0)
                rep->not_settled++;
            else if (strcmp(st[k].status, "rejected") == 0)
                rep->rejected++;
            else if (strcmp(st[k].status, "error") != 0)
                rep->settled++;
            if (strcmp(st[k].status, "duplicate") == 0 ||
                strcmp(st[k].status, "double_spend") == 0)
                rep->cases++;
            rep->mismatches += st[k].receipts_mismatch;
            if (fn != NULL && !stop && fn(&st[k], ctx) != 0)
                stop = 1;
        }
        json_decref(doc);
        free(r.buf);
    }
out:
    rt = offpay__wallet_take_back(w, &let);
    free(st);
    free(index);
    free(nrec);
    return rc != OFFPAY_OK ? rc : rt;
}
