/*
 * limits.c — GET /v1/limits: the caps a client must respect (body sizes,
 * items per upload, the signed-request time window).
 */
#include "server/server.h"

void srv_limits(srv_req *r, srv_reply *out)
{
    const srv_config *c = &r->srv->cfg;

    srv_ok(out,
           json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "upload_body_max", (json_int_t)c->body_max,
                     "admin_body_max", (json_int_t)SRV_ADMIN_BODY_MAX,
                     "batch_max", (json_int_t)c->batch_max, "clock_window",
                     (json_int_t)c->window, "code_max",
                     (json_int_t)SRV_CODE_MAX, "wallet_batch_max",
                     (json_int_t)SRV_WALLET_BATCH_MAX, "wallet_receipts_max",
                     (json_int_t)OFFPAY_SETTLE_RECEIPTS_MAX, "receipt_max",
                     (json_int_t)OFFPAY_SETTLE_RECEIPT_MAX_BYTES,
                     "expiries_max", (json_int_t)SRV_EXPIRIES_MAX));
}
