/*
 * wallet_upload.c — POST /v1/wallet/upload: a wallet's own spend log, its
 * codes each with every receipt it holds, signed by the wallet's key
 * (docs/api.md; docs/settlement.md §3, §7). The request is authenticated
 * as a terminal's is (the same signed-request format), except that the
 * key must be one the ledger issued a credential to. Each code is judged
 * by the engine in its own transaction and gets its own result; every
 * result is durable before the reply. As a terminal's upload, it starts
 * no transaction SRV_COMMIT_WITHIN after the request's time: the codes
 * left are answered "error" EBUSY, and the wallet sends them again (so
 * that a period's statement is final a bounded time after its end).
 * Also the body's strict parser (fuzzed: fuzz/fuzz_server_wallet_upload.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/testhook.h"
#include "server/server.h"

#define CODE_B64_MAX    (4 * ((SRV_CODE_MAX + 2) / 3))
#define RECEIPT_B64_MAX (4 * ((OFFPAY_SETTLE_RECEIPT_MAX_BYTES + 2) / 3))
/* One item's bytes: its code and its receipts. */
#define ITEM_BYTES                                                             \
    (SRV_CODE_MAX +                                                            \
     OFFPAY_SETTLE_RECEIPTS_MAX * (size_t)OFFPAY_SETTLE_RECEIPT_MAX_BYTES)

/* ---- the body ------------------------------------------------------ */

void srv_wallet_upload_free(srv_wallet_upload *u)
{
    if (u == NULL)
        return;
    free(u->items);
    free(u->bytes);
    memset(u, 0, sizeof *u);
}

/* j, a JSON string of canonical base64 (it encodes back to itself) of
 * 1..cap bytes in at most text_max characters, into buf; its length, or
 * 0. */
static size_t b64_field(const json_t *j, uint8_t *buf, size_t cap,
                        size_t text_max)
{
    const char *s = json_string_value(j);
    size_t      n = json_string_length(j);

    if (s == NULL || n > text_max || strlen(s) != n)
        return 0;
    return offpay__base64_decode(s, n, buf, cap);
}

/* srv_parse_items' start for a wallet upload: room for n items. */
static int upload_start(void *ctx, size_t n)
{
    srv_wallet_upload *out = ctx;

    out->items = calloc(n, sizeof *out->items);
    out->bytes = malloc(n * ITEM_BYTES);
    out->n = n;
    return out->items != NULL && out->bytes != NULL ? 0 : -1;
}

/* One item object into item index (its bytes at its ITEM_BYTES). */
static int parse_item(void *ctx, json_t *obj, size_t index, char *hint_buf,
                      size_t hint_cap)
{
    srv_wallet_upload  *up = ctx;
    offpay_wallet_item *it = &up->items[index];
    uint8_t            *buf = up->bytes + index * ITEM_BYTES;
    const char         *key;
    json_t             *val, *code = NULL, *receipts = NULL;
    size_t              n;

    if (!json_is_object(obj)) {
        snprintf(hint_buf, hint_cap, "item %zu is not an object", index);
        return SRV_E_BAD_FIELD;
    }
    json_object_foreach(obj, key, val)
    {
        if (strcmp(key, "code") == 0) {
            code = val;
        } else if (strcmp(key, "receipts") == 0) {
            receipts = val;
        } else {
            char q[SRV_QUOTE_MAX + 1];

            snprintf(hint_buf, hint_cap, "item %zu: field '%s' is unknown",
                     index, srv_quote(key, q));
            return SRV_E_BAD_FIELD;
        }
    }
    if (code == NULL) {
        snprintf(hint_buf, hint_cap, "item %zu: field 'code' is missing",
                 index);
        return SRV_E_BAD_FIELD;
    }
    n = b64_field(code, buf, SRV_CODE_MAX, CODE_B64_MAX);
    if (n == 0) {
        snprintf(hint_buf, hint_cap, "item %zu: field 'code' is not base64",
                 index);
        return SRV_E_BAD_FIELD;
    }
    it->code = buf;
    it->code_len = n;
    buf += SRV_CODE_MAX;
    if (receipts == NULL)
        return 0;
    if (!json_is_array(receipts) ||
        json_array_size(receipts) > OFFPAY_SETTLE_RECEIPTS_MAX) {
        snprintf(hint_buf, hint_cap,
                 "item %zu: field 'receipts' must be an array of at most %d",
                 index, OFFPAY_SETTLE_RECEIPTS_MAX);
        return SRV_E_BAD_FIELD;
    }
    for (size_t k = 0; k < json_array_size(receipts); k++) {
        n = b64_field(json_array_get(receipts, k), buf,
                      OFFPAY_SETTLE_RECEIPT_MAX_BYTES, RECEIPT_B64_MAX);
        if (n == 0) {
            snprintf(hint_buf, hint_cap, "item %zu: receipt %zu is not base64",
                     index, k);
            return SRV_E_BAD_FIELD;
        }
        it->receipt[k] = buf;
        it->receipt_len[k] = n;
        it->n_receipts = k + 1;
        buf += OFFPAY_SETTLE_RECEIPT_MAX_BYTES;
    }
    return 0;
}

int srv_parse_wallet_upload(const uint8_t *body, size_t len, size_t batch_max,
                            srv_wallet_upload *out, char *hint_buf,
                            size_t hint_cap)
{
    int e;

    memset(out, 0, sizeof *out);
    e = srv_parse_items(body, len, batch_max, upload_start, parse_item, out,
                        hint_buf, hint_cap);
    if (e != 0)
        srv_wallet_upload_free(out);
    return e;
}

/* ---- authentication ------------------------------------------------ */

/* A key the ledger issued a credential to (srv_auth_signed, auth.c). */
static offpay_err find_wallet(srv_req *r, const uint8_t pk[OFFPAY_PK_BYTES],
                              void *ctx)
{
    (void)ctx;
    return offpay_ledger_wallet_known(r->l, pk);
}

static const srv_signer_kind wallet_kind = {find_wallet, SRV_E_UNKNOWN_WALLET,
                                            "wallet look-up"};

/* ---- the results --------------------------------------------------- */

static const char *receipt_outcome_name(offpay_receipt_outcome o)
{
    switch (o) {
    case OFFPAY_RECEIPT_REJECTED:
        return "rejected";
    case OFFPAY_RECEIPT_SETTLED:
        return "settled";
    case OFFPAY_RECEIPT_WAITING:
        return "waiting";
    case OFFPAY_RECEIPT_AGREED:
        return "agreed";
    case OFFPAY_RECEIPT_MISMATCH:
        return "mismatch";
    }
    return "unknown";
}

static const char *reason_of(offpay_err rc)
{
    return rc == OFFPAY_OK ? NULL : offpay_errname(rc);
}

static json_t *receipt_json(const offpay_receipt_result *rr, uint16_t cur)
{
    const offpay_settle_result *s = &rr->settle;
    json_t                     *settlement = NULL;

    if (rr->outcome == OFFPAY_RECEIPT_SETTLED)
        settlement = json_pack(
            "{s:s, s:s?, s:o, s:o, s:o, s:o?, s:b}", "outcome",
            srv_outcome_name(s->outcome), "reason", reason_of(s->reason),
            "paid", srv_json_amount(s->paid, cur), "covered",
            srv_json_amount(s->covered, cur), "presentment",
            srv_json_id(s->presentment), "case",
            s->case_id ? srv_json_id(s->case_id) : NULL, "replay", s->replay);
    return json_pack("{s:s, s:s?, s:I, s:o, s:o?, s:o?, s:b, s:o?}", "outcome",
                     receipt_outcome_name(rr->outcome), "reason",
                     reason_of(rr->reason), "terminal_id",
                     (json_int_t)rr->terminal_id, "amount",
                     srv_json_amount(rr->amount, cur), "claimed",
                     rr->outcome == OFFPAY_RECEIPT_AGREED ||
                             rr->outcome == OFFPAY_RECEIPT_MISMATCH
                         ? srv_json_amount(rr->claimed, cur)
                         : NULL,
                     "case", rr->case_id ? srv_json_id(rr->case_id) : NULL,
                     "replay", rr->replay, "settlement", settlement);
}

/* One item's result; rc != OK: nothing was decided for it (resend),
 * late: because the upload reached its time's bound (rc EBUSY). */
static json_t *item_json(const offpay_wallet_item   *it,
                         const offpay_wallet_result *res, offpay_err rc,
                         int late)
{
    offpay_payment p;
    uint16_t       cur = 0;
    const char    *status;
    char           hint[SRV_TOO_LATE_HINT_MAX];
    json_t        *receipts = json_array(), *j;

    memset(&p, 0, sizeof p);
    if (offpay_payment_decode(it->code, it->code_len, &p) == OFFPAY_OK)
        cur = p.cred.currency;
    if (receipts == NULL)
        return NULL;
    if (rc != OFFPAY_OK) {
        json_decref(receipts);
        return json_pack("{s:o?, s:I, s:s, s:s, s:s}", "serial",
                         cur ? srv_json_id(p.cred.serial) : NULL, "counter",
                         cur ? (json_int_t)p.counter : (json_int_t)0, "status",
                         "error", "reason", offpay_errname(rc), "hint",
                         late ? srv_too_late_hint(hint)
                              : srv_engine_detail(rc));
    }
    for (size_t k = 0; k < res->n_receipts; k++)
        if (json_array_append_new(receipts,
                                  receipt_json(&res->receipt[k], cur)) != 0) {
            json_decref(receipts);
            return NULL;
        }
    status = res->reason == OFFPAY_ENOT_SETTLED ? "not_settled"
             : res->reason != OFFPAY_OK         ? "rejected"
                                        : srv_outcome_name(res->outcome);
    j = json_pack(
        "{s:o?, s:I, s:s, s:s?, s:I, s:o?, s:o?, s:o?, s:o}", "serial",
        cur ? srv_json_id(p.cred.serial) : NULL, "counter",
        cur ? (json_int_t)p.counter : (json_int_t)0, "status", status, "reason",
        res->reason == OFFPAY_OK ? NULL : offpay_errname(res->reason),
        "presentments", (json_int_t)res->presentments, "paid",
        cur ? srv_json_amount(res->paid, cur) : NULL, "covered",
        cur ? srv_json_amount(res->covered, cur) : NULL, "refunded",
        cur ? srv_json_amount(res->refunded, cur) : NULL, "receipts", receipts);
    return j;
}

void srv_upload_wallet(srv_req *r, srv_reply *out)
{
    srv_wallet_upload     up;
    offpay_wallet_result *res = NULL;
    uint8_t               pk[OFFPAY_PK_BYTES];
    char                  hint[160];
    json_t               *results = NULL;
    size_t                done = 0, cases = 0;
    offpay_err            rc = OFFPAY_OK;
    int                   e, late = 0;

    /* who sent it first, so a body no known wallet sent is not parsed */
    if (srv_auth_signed(r, &wallet_kind, NULL, pk, out) != 0)
        return;
    e = srv_parse_wallet_upload(r->body, r->body_len, SRV_WALLET_BATCH_MAX, &up,
                                hint, sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    res = calloc(up.n, sizeof *res);
    results = json_array();
    if (res == NULL || results == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        goto out;
    }
    /* one code a transaction, each dated r->now: none started long after
     * it (upload.c), the codes left undecided, sent again */
    for (; done < up.n; done++) {
        if (srv_commit_too_late(r)) {
            late = 1;
            rc = OFFPAY_EBUSY;
            break;
        }
#ifdef OFFPAY_TEST_HOOKS
        /* a slow transaction (offpayd_wallet.sh) */
        offpay__test_delay_ms("OFFPAYD_TEST_CHUNK_MS");
#endif
        rc = offpay_ledger_wallet_upload(r->l, pk, up.items + done, 1, r->now,
                                         res + done, NULL);
        if (rc != OFFPAY_OK)
            break;
    }
    if (done < up.n)
        srv_batch_engine_error(1, rc, up.n - done, up.n);
    for (size_t i = 0; i < up.n; i++) {
        offpay_err item_rc = i < done ? OFFPAY_OK : rc;

        if (item_rc == OFFPAY_OK)
            for (size_t k = 0; k < res[i].n_receipts; k++) {
                const offpay_receipt_result *rr = &res[i].receipt[k];

                if (rr->outcome == OFFPAY_RECEIPT_SETTLED && !rr->replay)
                    srv_metrics_settled(rr->settle.outcome, rr->settle.reason,
                                        0);
                if (rr->case_id != 0 && !rr->replay) {
                    srv_metrics_case();
                    cases++;
                }
            }
        if (json_array_append_new(results, item_json(&up.items[i], &res[i],
                                                     item_rc, late)) != 0) {
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    srv_ok(out, json_pack("{s:o, s:I, s:o}", "wallet_key",
                          srv_json_hex(pk, sizeof pk), "decided",
                          (json_int_t)done, "results", results));
    results = NULL;
out:
    if (cases > 0)
        srv_cases_count(r->l);
    json_decref(results);
    free(res);
    srv_wallet_upload_free(&up);
}
