/*
 * pool.c — offpayd's ledger handles. A ledger handle is not thread-safe
 * (settle.h), so each request borrows one for its whole run; every handle
 * is its own connection to the same store, whose transactions serialize.
 * When the issuer is read again (SIGHUP), each handle takes the new trust
 * at its next hand-over (srv_pool_retrust).
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/deadline.h"
#include "server/server.h"

/* A request waiting for a handle. A freed handle goes to the oldest
 * waiter, handed over under the pool's lock: never left for a request
 * that came later to take first, so under a long rush the requests are
 * served in the order they came, and the one that gives up at its
 * --lock-wait is the one that has waited longest for no handle. */
typedef struct waiter {
    pthread_cond_t handed; /* signalled once l is set */
    offpay_ledger *l;      /* the handle handed over, or NULL */
    struct waiter *next;
} waiter;

struct srv_pool {
    pthread_mutex_t mu;
    waiter         *head, *tail; /* the queue, oldest first */
    size_t          waiting;     /* its length */
    size_t          n;
    offpay_ledger **l;
    int            *busy;
    /* since when each busy handle is held (CLOCK_MONOTONIC): health's
     * "every connection held too long" (srv_pool_held_for) */
    struct timespec *since;
    /* the trust every handle signs and verifies with, and its generation:
     * a handle whose gen_of is older takes it when it is free */
    offpay_trust_bundle b;
    uint16_t            kid;
    uint32_t            next_kid;
    uint8_t             sk[OFFPAY_SK_BYTES];
    offpay_pkcs11_key  *key;
    unsigned            gen;
    unsigned           *gen_of;
};

/* Handle l signs with kid's key (sk, or key in a token) and verifies
 * under b, knowing the issuer's next key id. */
static offpay_err trust_as(offpay_ledger *l, const offpay_trust_bundle *b,
                           uint16_t kid, uint32_t next_kid,
                           const uint8_t      sk[OFFPAY_SK_BYTES],
                           offpay_pkcs11_key *key)
{
    offpay_err rc = key != NULL ? offpay_ledger_set_trust_token(l, b, kid, key)
                                : offpay_ledger_set_trust(l, b, kid, sk);

    if (rc == OFFPAY_OK)
        offpay_ledger_set_next_kid(l, next_kid);
    return rc;
}

/* l takes the pool's trust. */
static offpay_err trust(srv_pool *p, offpay_ledger *l)
{
    return trust_as(l, &p->b, p->kid, p->next_kid, p->sk, p->key);
}

/* Under p->mu: handle i, free or being handed to a waiter (no request
 * uses it), takes the pool's trust if it is older.
 * Cannot fail: the trust was taken by another handle first. */
static void refresh(srv_pool *p, size_t i)
{
    if (p->gen_of[i] != p->gen && trust(p, p->l[i]) == OFFPAY_OK)
        p->gen_of[i] = p->gen;
}

void srv_pool_close(srv_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        offpay_ledger_close(p->l[i]);
    free(p->l);
    free(p->busy);
    free(p->since);
    free(p->gen_of);
    sodium_memzero(p->sk, sizeof p->sk);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

offpay_err srv_pool_open(const char *path, size_t n,
                         const offpay_ledger_config *cfg,
                         const offpay_trust_bundle *b, uint16_t kid,
                         uint32_t next_kid, const uint8_t sk[OFFPAY_SK_BYTES],
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
    p->l = calloc(n, sizeof *p->l);
    p->busy = calloc(n, sizeof *p->busy);
    p->since = calloc(n, sizeof *p->since);
    p->gen_of = calloc(n, sizeof *p->gen_of);
    if (p->l == NULL || p->busy == NULL || p->since == NULL ||
        p->gen_of == NULL)
        goto out;
    p->b = *b;
    p->kid = kid;
    p->next_kid = next_kid;
    p->key = key;
    if (key == NULL)
        memcpy(p->sk, sk, sizeof p->sk);
    for (; p->n < n; p->n++) {
        rc = offpay_ledger_open(path, cfg, &p->l[p->n]);
        /* a SQLite file copy-ledger sealed: offpayd does not start on it
         * (its every write would be refused) */
        if (rc == OFFPAY_OK && p->n == 0)
            rc = offpay_ledger_check(p->l[0]);
        if (rc == OFFPAY_OK)
            rc = trust(p, p->l[p->n]);
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

/* Under p->mu: a free handle taken, or NULL. None is free while a
 * request waits: srv_pool_put hands it over. */
static offpay_ledger *take(srv_pool *p)
{
    if (p->head != NULL)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (!p->busy[i]) {
            p->busy[i] = 1;
            clock_gettime(CLOCK_MONOTONIC, &p->since[i]);
            return p->l[i];
        }
    return NULL;
}

/* Under p->mu: w out of the queue. */
static void unqueue(srv_pool *p, waiter *w)
{
    waiter **pp = &p->head, *prev = NULL;

    while (*pp != NULL && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = w->next;
    if (p->tail == w)
        p->tail = prev;
    p->waiting--;
}

/* A handle, waiting in the queue for one at most ms milliseconds (< 0:
 * without end); NULL once they passed. */
static offpay_ledger *get(srv_pool *p, long ms)
{
    offpay_ledger  *l;
    struct timespec until;

    if (ms >= 0)
        offpay__deadline(CLOCK_MONOTONIC, ms, &until);
    pthread_mutex_lock(&p->mu);
    l = take(p);
    if (l == NULL) {
        waiter             w = {.l = NULL, .next = NULL};
        pthread_condattr_t ca;

        /* on the monotonic clock: a wall clock set back does not
         * stretch the wait */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w.handed, &ca);
        pthread_condattr_destroy(&ca);
        if (p->tail != NULL)
            p->tail->next = &w;
        else
            p->head = &w;
        p->tail = &w;
        p->waiting++;
        while (w.l == NULL)
            if (ms < 0)
                pthread_cond_wait(&w.handed, &p->mu);
            else if (pthread_cond_timedwait(&w.handed, &p->mu, &until) ==
                         ETIMEDOUT &&
                     w.l == NULL) {
                unqueue(p, &w); /* gave up; none was handed over */
                break;
            }
        l = w.l;
        pthread_cond_destroy(&w.handed);
    }
    pthread_mutex_unlock(&p->mu);
    return l;
}

offpay_ledger *srv_pool_get(srv_pool *p)
{
    return get(p, -1);
}

offpay_ledger *srv_pool_get_within(srv_pool *p, long ms)
{
    return get(p, ms < 0 ? 0 : ms);
}

offpay_ledger *srv_pool_try_get(srv_pool *p)
{
    offpay_ledger *l;

    pthread_mutex_lock(&p->mu);
    l = take(p);
    pthread_mutex_unlock(&p->mu);
    return l;
}

size_t srv_pool_waiting(srv_pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->mu);
    n = p->waiting;
    pthread_mutex_unlock(&p->mu);
    return n;
}

long srv_pool_held_for(srv_pool *p, size_t *n)
{
    struct timespec now;
    long            least = -1;

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&p->mu);
    *n = p->n;
    for (size_t i = 0; i < p->n; i++) {
        long ms = (long)(now.tv_sec - p->since[i].tv_sec) * 1000L +
                  (now.tv_nsec - p->since[i].tv_nsec) / 1000000L;

        if (!p->busy[i]) {
            least = 0;
            break;
        }
        if (least < 0 || ms < least)
            least = ms;
    }
    pthread_mutex_unlock(&p->mu);
    return least < 0 ? 0 : least;
}

void srv_pool_put(srv_pool *p, offpay_ledger *l)
{
    /* whoever booked through it, the next holder is not */
    offpay_ledger_set_actor(l, NULL);
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++)
        if (p->l[i] == l) {
            waiter *w = p->head;

            refresh(p, i);
            if (w == NULL) {
                p->busy[i] = 0;
                break;
            }
            /* handed to the oldest waiter: still busy, held from now */
            unqueue(p, w);
            w->l = l;
            clock_gettime(CLOCK_MONOTONIC, &p->since[i]);
            pthread_cond_signal(&w->handed);
            break;
        }
    pthread_mutex_unlock(&p->mu);
}

offpay_err srv_pool_retrust(srv_pool *p, const offpay_trust_bundle *b,
                            uint16_t kid, uint32_t next_kid,
                            const uint8_t      sk[OFFPAY_SK_BYTES],
                            offpay_pkcs11_key *key)
{
    /* tried first on one handle, taken as a request takes it: a key that
     * is not kid's in b is refused there, with nothing changed */
    offpay_ledger *l = srv_pool_get(p);
    offpay_err     rc = trust_as(l, b, kid, next_kid, sk, key);

    pthread_mutex_lock(&p->mu);
    if (rc == OFFPAY_OK) {
        p->b = *b;
        p->kid = kid;
        p->next_kid = next_kid;
        p->key = key;
        if (key == NULL)
            memcpy(p->sk, sk, sizeof p->sk);
        else
            sodium_memzero(p->sk, sizeof p->sk);
        p->gen++;
        for (size_t i = 0; i < p->n; i++)
            if (p->l[i] == l)
                p->gen_of[i] = p->gen;
            else if (!p->busy[i])
                refresh(p, i);
    }
    pthread_mutex_unlock(&p->mu);
    srv_pool_put(p, l);
    return rc;
}
