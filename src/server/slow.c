/*
 * slow.c — deadlines for slow clients. libmicrohttpd's connection timeout
 * counts silence only, so a client that sends its request a byte at a time
 * (one every few seconds) holds its connection, and its thread, for ever;
 * a few addresses doing so fill SRV_CONNECTIONS_MAX and nobody else is
 * served. Here every open connection is watched by one thread:
 *
 *   - a request's headers must have arrived SRV_HEADERS_WAIT_S after the
 *     connection opened, or SRV_IDLE_WAIT_S after its previous answer went
 *     out (longer than libmicrohttpd's idle timeout: a kept-alive
 *     connection with nothing to send is closed by that, as before);
 *   - its body must then arrive at SRV_BODY_RATE bytes a second on
 *     average, after SRV_BODY_GRACE_S (a 1 MiB upload on a slow link has
 *     minutes; a trickle does not), with no SRV_BODY_SILENCE_S without a
 *     byte, and whole within SRV_BODY_MAX_S: bytes sent up front buy no
 *     credit for silence after them beyond SRV_BODY_SILENCE_S
 *     (libmicrohttpd's idle timeout starts again at every byte). A body's
 *     large routes (uploads, checks) are read only for a registered
 *     signer's key at a fresh time (http.c), so what a trickle can hold
 *     for up to SRV_BODY_MAX_S takes a registered device's key;
 *   - from the end of the body until the answer is out there is no
 *     deadline: the request's work may be done, and its answer must go.
 *
 * A connection past its deadline is shut down (shutdown(2) on its socket:
 * its own thread sees the end and closes it, as for a client gone). The
 * registry's mutex is held from the look-up to the shutdown, and
 * libmicrohttpd says a connection is closed (MHD_CONNECTION_NOTIFY_CLOSED,
 * which removes it here under the same mutex) before it closes its socket:
 * a socket number taken again by a new connection is never shut.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "server/server.h"
#include "server/slow.h"

enum { FIRST, WAITING, BODY, BUSY }; /* FIRST: no request yet */

typedef struct watch {
    struct watch *prev, *next;
    int           fd;
    int           phase; /* FIRST, WAITING, BODY or BUSY */
    double        since; /* when the phase began, monotonic seconds */
    double        last;  /* when its body last grew (BODY) */
    uint64_t      bytes; /* of the body so far */
} watch;

/* The deadlines; a test build takes shorter ones from
 * OFFPAYD_TEST_SLOW="HEADERS_S,IDLE_S,GRACE_S,RATE[,SILENCE_S,MAX_S]"
 * (tests/e2e/offpayd_slow.sh). */
static int headers_wait = SRV_HEADERS_WAIT_S, idle_wait = SRV_IDLE_WAIT_S,
           body_grace = SRV_BODY_GRACE_S, body_rate = SRV_BODY_RATE,
           body_silence = SRV_BODY_SILENCE_S, body_max = SRV_BODY_MAX_S;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  wake = PTHREAD_COND_INITIALIZER;
static watch          *head;
static int             running, stop;
static pthread_t       thread;
static uint64_t        closed_total, closed_logged;
static unsigned        open_now; /* connections started, not yet closed */

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Whether w is past its deadline at t. */
static int late(const watch *w, double t)
{
    double waited = t - w->since;

    if (w->phase == FIRST)
        return waited > headers_wait;
    if (w->phase == WAITING)
        return waited > idle_wait;
    if (w->phase == BODY)
        return waited > body_grace + (double)w->bytes / body_rate ||
               t - w->last > body_silence || waited > body_max;
    return 0;
}

static void *watch_run(void *arg)
{
    double last_log = 0;

    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stop) {
        struct timespec until;
        double          t = now_s();
        uint64_t        to_log = 0;

        for (watch *w = head; w != NULL; w = w->next)
            if (w->fd >= 0 && late(w, t)) {
                shutdown(w->fd, SHUT_RDWR);
                w->fd = -1; /* shut once */
                closed_total++;
            }
        /* one log line at most every 10 s, however many were closed;
         * written without the lock, which new connections wait for */
        if (closed_total > closed_logged && t - last_log >= 10) {
            to_log = closed_total - closed_logged;
            closed_logged = closed_total;
            last_log = t;
        }
        if (to_log > 0) {
            pthread_mutex_unlock(&mu);
            srv_log("closed %llu connection(s) whose request did not arrive "
                    "in time (headers within %d s of the connection, %d s "
                    "of an answer; a body at %d bytes/s after %d s, never "
                    "%d s without a byte, whole within %d s)",
                    (unsigned long long)to_log, headers_wait, idle_wait,
                    body_rate, body_grace, body_silence, body_max);
            pthread_mutex_lock(&mu);
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&wake, &mu, &until);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int srv_slow_start(void)
{
#ifdef OFFPAY_TEST_HOOKS
    const char *env = getenv("OFFPAYD_TEST_SLOW");
    int         h, i, g, r, q = SRV_BODY_SILENCE_S, m = SRV_BODY_MAX_S, n = 0;

    if (env != NULL)
        n = sscanf(env, "%d,%d,%d,%d,%d,%d", &h, &i, &g, &r, &q, &m);
    if ((n == 4 || n == 6) && h > 0 && i > 0 && g >= 0 && r > 0 && q > 0 &&
        m > 0) {
        headers_wait = h, idle_wait = i, body_grace = g, body_rate = r;
        body_silence = q, body_max = m;
        fprintf(stderr,
                "offpayd: test hook: headers within %d s of the connection, "
                "%d s of an answer, a body at %d bytes/s after %d s, never "
                "%d s without a byte, whole within %d s\n",
                headers_wait, idle_wait, body_rate, body_grace, body_silence,
                body_max);
    }
#endif
    pthread_mutex_lock(&mu);
    stop = 0;
    running = pthread_create(&thread, NULL, watch_run, NULL) == 0;
    pthread_mutex_unlock(&mu);
    return running ? 0 : -1;
}

void srv_slow_stop(void)
{
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
    if (running)
        pthread_join(thread, NULL);
    running = 0;
}

unsigned srv_slow_open(void)
{
    unsigned n;

    pthread_mutex_lock(&mu);
    n = open_now;
    pthread_mutex_unlock(&mu);
    return n;
}

uint64_t srv_slow_closed(void)
{
    uint64_t n;

    pthread_mutex_lock(&mu);
    n = closed_total;
    pthread_mutex_unlock(&mu);
    return n;
}

void srv_slow_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                     enum MHD_ConnectionNotificationCode toe)
{
    watch *w = *socket_ctx;

    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

        w = calloc(1, sizeof *w);
        if (w == NULL || info == NULL) { /* not watched: MHD's timeout */
            free(w);
            return;
        }
        w->fd = info->connect_fd;
        w->phase = FIRST;
        w->since = now_s();
        pthread_mutex_lock(&mu);
        w->next = head;
        if (head != NULL)
            head->prev = w;
        head = w;
        open_now++;
        pthread_mutex_unlock(&mu);
        *socket_ctx = w;
        return;
    }
    if (w == NULL)
        return;
    pthread_mutex_lock(&mu);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    open_now--;
    pthread_mutex_unlock(&mu);
    free(w);
    *socket_ctx = NULL;
}

/* c's watch, or NULL when it has none. */
static watch *watch_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info != NULL ? info->socket_context : NULL;
}

/* c enters phase (its clock starts again), after n more body bytes. */
static void set_phase(struct MHD_Connection *c, int phase, size_t n)
{
    watch *w = watch_of(c);

    if (w == NULL)
        return;
    pthread_mutex_lock(&mu);
    if (phase != w->phase) {
        w->phase = phase;
        w->since = w->last = now_s();
        w->bytes = 0;
    }
    if (n > 0)
        w->last = now_s();
    w->bytes += n;
    pthread_mutex_unlock(&mu);
}

void srv_slow_headers(struct MHD_Connection *c)
{
    set_phase(c, BODY, 0);
}

void srv_slow_body(struct MHD_Connection *c, size_t n)
{
    set_phase(c, BODY, n);
}

void srv_slow_busy(struct MHD_Connection *c)
{
    set_phase(c, BUSY, 0);
}

void srv_slow_done(struct MHD_Connection *c)
{
    set_phase(c, WAITING, 0);
}
