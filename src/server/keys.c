/*
 * keys.c — GET /v1/admin/keys: each issuer key of the trust bundle
 * offpayd serves, and each other key that signed a live terminal's
 * credential or a wallet credential the ledger still holds
 * (offpay_ledger_keys): what retiring it now would stop and strand, read
 * before `offpay issuer retire-key` (docs/operations.md §6).
 */
#include <stdlib.h>

#include "server/server.h"
#include "settle/render.h"

void srv_keys(srv_req *r, srv_reply *out)
{
    offpay_ledger_key_use *v = NULL;
    size_t                 n = 0;
    json_t                *arr;
    json_int_t             signing = -1;
    offpay_err             rc;

    rc = offpay_ledger_keys(r->l, r->now, 1, &v, &n);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "keys");
        return;
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *k = offpay__json_key_use(&v[i]);

        if (v[i].signing)
            signing = (json_int_t)v[i].kid;
        if (k == NULL || json_array_append_new(arr, k) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(v);
    if (arr == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    srv_ok(out, json_pack("{s:I, s:I, s:o, s:o}", "now", (json_int_t)r->now,
                          "bundle_seq", (json_int_t)srv_bundle_seq(r->srv),
                          "signing_kid",
                          signing >= 0 ? json_integer(signing) : json_null(),
                          "keys", arr));
}
