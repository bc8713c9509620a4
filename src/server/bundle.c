/*
 * bundle.c — the trust bundle offpayd serves (signed by the root key,
 * verified when the issuer is read: at start-up and on SIGHUP), and
 * GET /v1/bundle, which gives it as base64 of its exact bytes. A reload
 * replaces the bundle while requests run, so they take a copy under the
 * lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static pthread_mutex_t bundle_mu = PTHREAD_MUTEX_INITIALIZER;

void srv_bundle_set(srv_ctx *srv, uint8_t *bundle, size_t len, uint32_t seq)
{
    uint8_t *old;

    pthread_mutex_lock(&bundle_mu);
    old = srv->bundle;
    srv->bundle = bundle;
    srv->bundle_len = len;
    srv->bundle_seq = seq;
    pthread_mutex_unlock(&bundle_mu);
    free(old);
}

offpay_err srv_bundle_copy(srv_ctx *srv, uint8_t **bundle, size_t *len,
                           uint32_t *seq)
{
    offpay_err rc = OFFPAY_ENOMEM;

    pthread_mutex_lock(&bundle_mu);
    *bundle = malloc(srv->bundle_len);
    if (*bundle != NULL) {
        memcpy(*bundle, srv->bundle, srv->bundle_len);
        *len = srv->bundle_len;
        if (seq != NULL)
            *seq = srv->bundle_seq;
        rc = OFFPAY_OK;
    }
    pthread_mutex_unlock(&bundle_mu);
    return rc;
}

uint32_t srv_bundle_seq(srv_ctx *srv)
{
    uint32_t seq;

    pthread_mutex_lock(&bundle_mu);
    seq = srv->bundle_seq;
    pthread_mutex_unlock(&bundle_mu);
    return seq;
}

void srv_bundle(srv_req *r, srv_reply *out)
{
    uint8_t *bundle;
    size_t   len;
    uint32_t seq;

    if (srv_bundle_copy(r->srv, &bundle, &len, &seq) != OFFPAY_OK) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    srv_ok(out, json_pack("{s:I, s:o}", "seq", (json_int_t)seq, "bundle",
                          srv_json_b64(bundle, len)));
    free(bundle);
}
