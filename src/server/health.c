/*
 * health.c — GET /v1/health: the server is up and its ledger usable; its
 * version and clock.
 */
#include <pthread.h>

#include "server/server.h"

/* The ledger is touched (offpay_ledger_check: a trivial read, and a SQLite
 * file still where it was opened), so a ledger offpayd cannot use is
 * answered 503 with the error that says why, not "ok": one moved or
 * deleted under it would otherwise be found only at the next restart,
 * with everything acknowledged since lost. A health check never waits
 * for a ledger connection (a load balancer's probe would time out behind
 * a busy offpayd's uploads): with none free it answers the last check's
 * result, the connections' work being checked by each write itself. */
static pthread_mutex_t health_mu = PTHREAD_MUTEX_INITIALIZER;
static offpay_err      health_last = OFFPAY_OK;

/* A read can pass while every write fails (a full disk): the latest
 * storage failure any request met, and when, so a probe sees it too. */
static json_t *last_ledger_error(void)
{
    uint32_t   at;
    offpay_err rc = srv_metrics_last_ledger_error(&at);

    if (rc == OFFPAY_OK)
        return json_null();
    return json_pack("{s:s, s:I}", "error", offpay_errname(rc), "at",
                     (json_int_t)at);
}

void srv_health(srv_req *r, srv_reply *out)
{
    offpay_ledger *l = srv_pool_try_get(r->srv->pool);
    offpay_err     rc;

    if (l != NULL) {
        rc = offpay_ledger_check(l);
        srv_pool_put(r->srv->pool, l);
        pthread_mutex_lock(&health_mu);
        health_last = rc;
        pthread_mutex_unlock(&health_mu);
    } else {
        pthread_mutex_lock(&health_mu);
        rc = health_last;
        pthread_mutex_unlock(&health_mu);
    }
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
    srv_ok(out, json_pack("{s:s, s:s, s:I, s:o}", "status", "ok", "version",
                          offpay_version(), "time", (json_int_t)r->now,
                          "last_ledger_error", last_ledger_error()));
}
