/*
 * pool.c — offpayd's ledger handles. A ledger handle is not thread-safe
 * (settle.h), so each request borrows one for its whole run; every handle
 * is its own connection to the same store, whose transactions serialize.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

struct srv_pool {
    pthread_mutex_t mu;
    pthread_cond_t  freed;
    size_t          n;
    offpay_ledger **l;
    int            *busy;
};

void srv_pool_close(srv_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        offpay_ledger_close(p->l[i]);
    free(p->l);
    free(p->busy);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->freed);
    free(p);
}

offpay_err srv_pool_open(const char *path, size_t n,
                         const offpay_trust_bundle *b, uint16_t kid,
                         const uint8_t      sk[OFFPAY_SK_BYTES],
                         offpay_pkcs11_key *key, srv_pool **out)
{
    srv_pool  *p;
    offpay_err rc = OFFPAY_ENOMEM;

    *out = NULL;
    if (n == 0)
        return OFFPAY_EINVAL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return OFFPAY_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->l = calloc(n, sizeof *p->l);
    p->busy = calloc(n, sizeof *p->busy);
    if (p->l == NULL || p->busy == NULL)
        goto out;
    for (; p->n < n; p->n++) {
        rc = offpay_ledger_open(path, NULL, &p->l[p->n]);
        if (rc == OFFPAY_OK)
            rc = key != NULL
                     ? offpay_ledger_set_trust_token(p->l[p->n], b, kid, key)
                     : offpay_ledger_set_trust(p->l[p->n], b, kid, sk);
        if (rc != OFFPAY_OK) {
            p->n++; /* close this one too */
            goto out;
        }
    }
    *out = p;
    return OFFPAY_OK;
out:
    srv_pool_close(p);
    return rc;
}

offpay_ledger *srv_pool_get(srv_pool *p)
{
    offpay_ledger *l = NULL;

    pthread_mutex_lock(&p->mu);
    while (l == NULL) {
        for (size_t i = 0; i < p->n && l == NULL; i++)
            if (!p->busy[i]) {
                p->busy[i] = 1;
                l = p->l[i];
            }
        if (l == NULL)
            pthread_cond_wait(&p->freed, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return l;
}

void srv_pool_put(srv_pool *p, offpay_ledger *l)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++)
        if (p->l[i] == l)
            p->busy[i] = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}
