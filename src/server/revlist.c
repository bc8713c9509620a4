/*
 * revlist.c — GET /v1/revlist?since=N: the revocation list signed now, in
 * full (since absent or 0, or the current list) or as a delta after list N.
 */
#include <stdlib.h>

#include "server/server.h"

void srv_revlist(srv_req *r, srv_reply *out)
{
    const char    *since = r->query(r->conn, "since");
    uint64_t       seq = 0;
    uint8_t       *bytes = NULL;
    size_t         len = 0;
    offpay_revlist rl;
    offpay_err     rc;

    if (since != NULL && srv_parse_u64(since, UINT32_MAX, &seq) != 0) {
        srv_fail(out, SRV_E_BAD_PARAMETER, "since: a list number");
        return;
    }
    rc = offpay_ledger_revlist(r->l, (uint32_t)seq, r->now, &bytes, &len);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "revocation list");
        return;
    }
    rc = offpay_revlist_decode(bytes, len, &rl);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "revocation list");
    } else {
        if (rl.base_seq == 0)
            srv_metrics_revlist(rl.n_serials);
        srv_ok(out, json_pack("{s:I, s:I, s:I, s:o}", "seq", (json_int_t)rl.seq,
                              "base_seq", (json_int_t)rl.base_seq, "serials",
                              (json_int_t)rl.n_serials, "revlist",
                              srv_json_b64(bytes, len)));
        offpay_revlist_free(&rl);
    }
    free(bytes);
}
