/*
 * health.c — GET /v1/health: the server is up and its ledger usable; its
 * version and clock.
 */
#include "server/server.h"

/* The ledger is touched (offpay_ledger_check: a trivial read, and a SQLite
 * file still where it was opened), so a ledger offpayd cannot use is
 * answered 503 with the error that says why, not "ok": one moved or
 * deleted under it would otherwise be found only at the next restart,
 * with everything acknowledged since lost. The check waits for a ledger
 * connection as any request does. */
void srv_health(srv_req *r, srv_reply *out)
{
    offpay_ledger *l = srv_pool_get(r->srv->pool);
    offpay_err     rc = offpay_ledger_check(l);

    srv_pool_put(r->srv->pool, l);
    if (rc != OFFPAY_OK) {
        json_t *more =
            json_pack("{s:s, s:s, s:I}", "status", "unavailable", "version",
                      offpay_version(), "time", (json_int_t)r->now);

        srv_fail_engine(out, rc, "ledger");
        if (out->json != NULL && more != NULL)
            json_object_update(out->json, more);
        json_decref(more);
        return;
    }
    srv_ok(out, json_pack("{s:s, s:s, s:I}", "status", "ok", "version",
                          offpay_version(), "time", (json_int_t)r->now));
}
