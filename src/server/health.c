/*
 * health.c — GET /v1/health: the server is up and its ledger usable; its
 * version and clock.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "store/lockwait.h"

/* The ledger is touched (offpay_ledger_check: a trivial read, and a SQLite
 * file still where it was opened), so a ledger offpayd cannot use is
 * answered 503 with the error that says why, not "ok": one moved or
 * deleted under it would otherwise be found only at the next restart,
 * with everything acknowledged since lost. A health check never waits
 * for a ledger connection (a load balancer's probe would time out behind
 * a busy offpayd's uploads): with none free it answers the last check's
 * result, the connections' work being checked by each write itself, or
 * 503 when each has been held past the longest lock wait a request makes
 * (ledger_busy). A ledger whose lock another process holds answers its
 * reads and refuses its writes (ledger_lock). */
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

/* While the last signature by the issuer's daily key failed (its token
 * gone: every signed answer is then 503), a probe signs a fixed text that
 * is no answer of any request, so that a load balancer that took offpayd
 * out on the 503 sees it back once the token is: the only signature a
 * health check makes, and only after a failure. */
static void signing_probe(offpay_ledger *l, uint32_t now)
{
    static const char probe[] = "offpayd /v1/health: the daily key signs";
    uint8_t           sig[OFFPAY_SIG_BYTES];
    uint16_t          kid = 0;
    uint32_t          at = 0;
    char              detail[160];

    if (srv_metrics_last_signature(&at, detail) == OFFPAY_OK)
        return;
    srv_metrics_signature(offpay_ledger_sign_answer(
        l, now, (const uint8_t *)probe, sizeof probe - 1, &kid, sig));
}

/* The last signature's failure as 503 (the daily key cannot sign: no
 * signed request is answered), or 0 when it signs. */
static int signing_failed(srv_req *r, srv_reply *out)
{
    uint32_t   at = 0;
    char       detail[160], hint[256];
    offpay_err rc = srv_metrics_last_signature(&at, detail);

    if (rc == OFFPAY_OK)
        return 0;
    snprintf(hint, sizeof hint,
             "the issuer's daily key cannot sign: %s%s%s (signed requests "
             "are answered 503 until it can)",
             offpay_strerror(rc), detail[0] ? ": " : "", detail);
    json_decref(out->json);
    out->status = 503;
    out->json = json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:s, s:I}}", "error",
                          offpay_errname(rc), "hint", hint, "status",
                          "unavailable", "version", offpay_version(), "time",
                          (json_int_t)r->now, "last_signing_error", "error",
                          offpay_errname(rc), "at", (json_int_t)at);
    return 1;
}

/* out as 503 EBUSY, its hint hint, "reason" reason. */
static void busy(srv_req *r, srv_reply *out, const char *reason,
                 const char *hint)
{
    json_t *more = json_pack("{s:s, s:s, s:s, s:I}", "reason", reason, "status",
                             "unavailable", "version", offpay_version(), "time",
                             (json_int_t)r->now);

    srv_fail_engine_hint(out, OFFPAY_EBUSY, "ledger: %s", hint);
    if (out->json != NULL && more != NULL)
        json_object_update(out->json, more);
    json_decref(more);
}

/* A lock another process holds on the ledger (store/lockwait.h), as 503
 * (1) while a transaction has waited for it past the time such a wait is
 * said (ledger_lock_wait), and while the last one that waited gave up
 * (EBUSY) with nothing written since (ledger_locked) and the lock is not
 * known free: on SQLite, probed (the write lock taken without a wait and
 * let go: free is 200 again, even with no traffic); where no probe
 * tells (PostgreSQL), for one bound after that give-up. Else 0. */
static int lock_held(srv_req *r, srv_reply *out, int probed)
{
    offpay__lockwait_state ls;
    char                   hint[1024];

    offpay__lockwait_state_get(&ls);
    if (ls.waiting > 0 && ls.longest >= offpay__lockwait_say_ms()) {
        snprintf(hint, sizeof hint,
                 "a transaction has waited %ld s so far for a lock another "
                 "process holds on the ledger: %s; writes waiting for it are "
                 "answered 503 EBUSY after %ld s, nothing changed",
                 ls.longest / 1000, ls.what, offpay__lockwait_ms() / 1000);
        busy(r, out, "ledger_lock_wait", hint);
        return 1;
    }
    if (ls.locked && (probed == 0 ||
                      (probed < 0 && ls.locked_ago < offpay__lockwait_ms()))) {
        snprintf(hint, sizeof hint,
                 "the last transaction that waited for the ledger's lock "
                 "gave up: %s",
                 ls.what);
        busy(r, out, "ledger_locked", hint);
        return 1;
    }
    return 0;
}

/* Every ledger connection held by its request past the longest lock wait
 * a request makes: a new request waits for one (503, 1), else 0. */
static int connections_held(srv_req *r, srv_reply *out)
{
    size_t n = 0;
    long   ms = srv_pool_held_for(r->srv->pool, &n);
    char   hint[256];

    if (ms <= offpay__lockwait_ms())
        return 0;
    snprintf(hint, sizeof hint,
             "each of its %zu connection(s) has been held by its request "
             "for over %ld s (the longest a request waits for a lock): a new "
             "request waits for one, and is answered 503 EBUSY after %ld s",
             n, offpay__lockwait_ms() / 1000, offpay__lockwait_ms() / 1000);
    busy(r, out, "ledger_connections_busy", hint);
    return 1;
}

/* Health's 5xx in the log. A load balancer probes every few seconds, so
 * each answer would be a line all through an incident: each kind (its
 * error and reason) is said when it starts, then once a minute at most
 * while it lasts, with how many answers like it were not said (the
 * answers say it every time). Kinds that alternate (a lock waited for,
 * then given up on) are each bounded so; a 200 ends the incident, and
 * the next one's first answer is said again. */
#define HEALTH_KINDS 8

static struct {
    pthread_mutex_t mu;
    struct {
        char               kind[96];
        time_t             at; /* CLOCK_MONOTONIC of its last line */
        unsigned long long held;
    } k[HEALTH_KINDS];
} health_log = {PTHREAD_MUTEX_INITIALIZER, {{"", 0, 0}}};

static void health_logged(srv_reply *out)
{
    const char *e = json_string_value(json_object_get(out->json, "error"));
    const char *reason =
        json_string_value(json_object_get(out->json, "reason"));
    const char *hint = json_string_value(json_object_get(out->json, "hint"));
    char        kind[96];
    struct timespec t;
    size_t          i, oldest = 0;
    unsigned long long held = 0;
    int                say = 1;

    if (e == NULL)
        return; /* http.c logs it */
    snprintf(kind, sizeof kind, "%s%s%s%s", e, reason ? " (" : "",
             reason ? reason : "", reason ? ")" : "");
    clock_gettime(CLOCK_MONOTONIC, &t);
    pthread_mutex_lock(&health_log.mu);
    for (i = 0; i < HEALTH_KINDS; i++) {
        if (strcmp(health_log.k[i].kind, kind) == 0)
            break;
        if (health_log.k[i].at < health_log.k[oldest].at)
            oldest = i; /* a free one's is 0 */
    }
    if (i < HEALTH_KINDS && t.tv_sec - health_log.k[i].at < 60) {
        health_log.k[i].held++;
        say = 0;
    } else {
        if (i == HEALTH_KINDS) { /* a new kind, in a free or the oldest slot */
            i = oldest;
            snprintf(health_log.k[i].kind, sizeof health_log.k[i].kind, "%s",
                     kind);
            health_log.k[i].held = 0;
        }
        held = health_log.k[i].held;
        health_log.k[i].at = t.tv_sec;
        health_log.k[i].held = 0;
    }
    pthread_mutex_unlock(&health_log.mu);
    if (say && held > 0)
        srv_log("GET /v1/health answered %u %s: %s (and %llu answer(s) like "
                "it since the last such line)",
                out->status, kind, hint ? hint : "", held);
    else if (say)
        srv_log("GET /v1/health answered %u %s: %s", out->status, kind,
                hint ? hint : "");
    out->logged = 1;
}

/* A 200: the incident is over; its kinds are said again when they come
 * back. */
static void health_log_reset(void)
{
    pthread_mutex_lock(&health_log.mu);
    memset(health_log.k, 0, sizeof health_log.k);
    pthread_mutex_unlock(&health_log.mu);
}

static void health_answer(srv_req *r, srv_reply *out);

void srv_health(srv_req *r, srv_reply *out)
{
    health_answer(r, out);
    if (out->status >= 500 && out->json != NULL)
        health_logged(out);
    else
        health_log_reset();
}

static void health_answer(srv_req *r, srv_reply *out)
{
    offpay_ledger         *l = srv_pool_try_get(r->srv->pool);
    offpay_err             rc;
    offpay__lockwait_state ls;
    int                    probed = -1, had = l != NULL;

    if (l != NULL) {
        rc = offpay_ledger_check(l);
        if (rc == OFFPAY_OK)
            signing_probe(l, r->now);
        offpay__lockwait_state_get(&ls);
        if (rc == OFFPAY_OK && ls.locked)
            probed = offpay__ledger_lock_probe(l);
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
    if (lock_held(r, out, probed))
        return;
    if (!had && connections_held(r, out))
        return;
    if (signing_failed(r, out))
        return;
    srv_ok(out, json_pack("{s:s, s:s, s:I, s:o, s:n}", "status", "ok",
                          "version", offpay_version(), "time",
                          (json_int_t)r->now, "last_ledger_error",
                          last_ledger_error(), "last_signing_error"));
}
