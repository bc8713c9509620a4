/*
 * merchants.c — POST /v1/admin/merchants: a merchant (the name its
 * terminal credentials carry) and its account; GET /v1/admin/merchants:
 * the merchants, a page at a time, with their accounts (and balances) and
 * terminals; POST /v1/admin/merchants/N/close: a merchant leaving.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server/server.h"

/* A merchant registered in a currency whose guarantee holds nothing (on
 * some shard): its terminals' overspends would wait as claims until the
 * guarantee is funded (settlement.md §5). The warning's text, or NULL. */
static const char *guarantee_warning(srv_req *r, uint16_t currency, char *buf,
                                     size_t cap)
{
    int64_t parts[OFFPAY_SHARDS_MAX];
    size_t  n = 0, empty = 0;

    if (offpay_ledger_guarantee_parts(r->l, currency, parts, &n) != OFFPAY_OK)
        return NULL;
    for (size_t k = 0; k < n; k++)
        empty += parts[k] <= 0;
    if (empty == 0)
        return NULL;
    snprintf(buf, cap,
             "the guarantee of %s holds nothing%s: an overspend at this "
             "merchant's terminals is paid only once it is funded (POST "
             "/v1/admin/guarantee, then a deposit into it; "
             "docs/operations.md, \"Funding the guarantee\")",
             offpay_currency_alpha(currency), n > 1 ? " on some shard" : "");
    return buf;
}

void srv_merchant_new(srv_req *r, srv_reply *out)
{
    srv_value   v[SRV_N(srv_fields_merchant)];
    json_t     *doc = NULL, *j;
    char        hint[128];
    uint16_t    currency;
    uint64_t    merchant = 0, account = 0;
    offpay_err  rc;
    int         e, replayed = 0;
    const char *key;

    if (srv_request_key(r, out, &key) != 0)
        return;
    e = srv_parse_object(r->body, r->body_len, srv_fields_merchant,
                         SRV_N(srv_fields_merchant), v, &doc, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    rc = offpay_currency_from_alpha(v[1].s, &currency);
    /* once under an Idempotency-Key: a resend after a lost reply makes
     * no second merchant */
    if (rc == OFFPAY_OK)
        rc =
            offpay_ledger_merchant_add_once(r->l, key, v[0].s, currency, r->now,
                                            &merchant, &account, &replayed);
    if (rc == OFFPAY_EEXISTS && key != NULL) {
        srv_fail(out, SRV_E_IDEMPOTENCY_KEY_REUSED,
                 "this Idempotency-Key was used for a different request "
                 "(another name or currency, or another kind of request): "
                 "nothing was done");
    } else if (rc != OFFPAY_OK) {
        srv_fail_engine_currency(out, rc, "new merchant", v[1].s);
    } else {
        char name[OFFPAY_NAME_MAX * 4 + 1];

        srv_log_text(v[0].s, name, sizeof name);
        srv_log_request(
            r, replayed, "new merchant %llu \"%s\" (%s), account %llu",
            (unsigned long long)merchant, name, offpay_currency_alpha(currency),
            (unsigned long long)account);
        char        why[320];
        const char *warning = guarantee_warning(r, currency, why, sizeof why);

        if (warning != NULL)
            srv_log("merchant %llu: %s", (unsigned long long)merchant, warning);
        j = json_pack("{s:o, s:o, s:s, s:s, s:o}", "merchant",
                      srv_json_id(merchant), "account", srv_json_id(account),
                      "name", v[0].s, "currency",
                      offpay_currency_alpha(currency), "warning",
                      warning != NULL ? json_string(warning) : json_null());
        if (j != NULL && key != NULL)
            json_object_set_new(j, "replayed", json_boolean(replayed));
        srv_ok(out, j);
    }
    json_decref(doc);
}

void srv_merchants_list(srv_req *r, srv_reply *out)
{
    uint64_t              after, limit;
    offpay_merchant_info *v = NULL;
    size_t                n = 0;
    json_t               *arr, *j;
    offpay_err            rc;

    if (srv_parse_page(r->query(r->conn, "after"), r->query(r->conn, "limit"),
                       &after, &limit) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "after: a merchant id; limit: 1..1000");
        return;
    }
    rc = offpay_ledger_merchants(r->l, after, (size_t)limit, &v, &n);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "merchants");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(
            arr,
            json_pack("{s:o, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:o}",
                      "merchant", srv_json_id(v[i].id), "name", v[i].name,
                      "currency", offpay_currency_alpha(v[i].currency),
                      "account", srv_json_id(v[i].account), "balance",
                      srv_json_amount(v[i].balance, v[i].currency),
                      "created_at", (json_int_t)v[i].created_at, "terminals",
                      (json_int_t)v[i].terminals, "terminals_active",
                      (json_int_t)v[i].terminals_active, "closed_at",
                      v[i].closed_at != 0 ? json_integer(v[i].closed_at)
                                          : json_null()));
    /* null once a page is not full, as the other lists */
    j = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)n, "merchants",
                  arr != NULL ? arr : json_null(), "next_after",
                  srv_json_next_after(n, limit, n > 0 ? v[n - 1].id : 0));
    srv_ok(out, j);
    free(v);
}

/* POST /v1/admin/merchants/N/close (body empty or {}): the merchant gets
 * no new terminal and its active ones are revoked ("merchant closed");
 * again, the first closing's time, and any terminal a call that stopped
 * part way left active revoked (settlement.md §8). */
void srv_merchant_close(srv_req *r, srv_reply *out)
{
    uint64_t   id;
    uint32_t   closed_at = 0;
    size_t     revoked = 0;
    int        replayed = 0;
    offpay_err rc;

    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &id) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "merchant: a decimal id from 1");
        return;
    }
    if (r->body_len != 0) {
        json_t   *doc = NULL;
        srv_value none[1]; /* no field is taken: {} */
        char      hint[128];
        int e = srv_parse_object(r->body, r->body_len, NULL, 0, none, &doc,
                                 hint, sizeof hint);

        json_decref(doc);
        if (e != 0) {
            srv_fail(out, (srv_err)e, hint);
            return;
        }
    }
    rc = offpay_ledger_merchant_close(r->l, id, r->now, &closed_at, &revoked,
                                      &replayed);
    if (rc == OFFPAY_ENOTFOUND) {
        srv_fail_engine_hint(out, rc, "merchant %llu: no such merchant",
                             (unsigned long long)id);
        return;
    }
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "merchant closing");
        return;
    }
    {
        char when[32];

        srv_iso_time(closed_at, when);
        srv_log_request(r, replayed,
                        "merchant %llu %sclosed at %s: %zu terminal(s) "
                        "revoked (\"merchant closed\")",
                        (unsigned long long)id, replayed ? "already " : "",
                        when, revoked);
    }
    srv_ok(out,
           json_pack("{s:o, s:I, s:I, s:b}", "merchant", srv_json_id(id),
                     "closed_at", (json_int_t)closed_at, "terminals_revoked",
                     (json_int_t)revoked, "replayed", replayed));
}
