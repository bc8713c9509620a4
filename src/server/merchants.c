/*
 * merchants.c — POST /v1/admin/merchants: a merchant (the name its
 * terminal credentials carry) and its account.
 */
#include "server/server.h"

void srv_merchant_new(srv_req *r, srv_reply *out)
{
    srv_value  v[SRV_N(srv_fields_merchant)];
    json_t    *doc = NULL;
    char       hint[128];
    uint16_t   currency;
    uint64_t   merchant = 0, account = 0;
    offpay_err rc;
    int        e;

    e = srv_parse_object(r->body, r->body_len, srv_fields_merchant,
                         SRV_N(srv_fields_merchant), v, &doc, hint,
                         sizeof hint);
    if (e != 0) {
        srv_fail(out, (srv_err)e, hint);
        return;
    }
    rc = offpay_currency_from_alpha(v[1].s, &currency);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_merchant_add(r->l, v[0].s, currency, r->now,
                                        &merchant, &account);
    if (rc != OFFPAY_OK)
        srv_fail_engine(out, rc, "new merchant");
    else
        srv_ok(out, json_pack("{s:o, s:o, s:s, s:s}", "merchant",
                              srv_json_id(merchant), "account",
                              srv_json_id(account), "name", v[0].s, "currency",
                              offpay_currency_alpha(currency)));
    json_decref(doc);
}
