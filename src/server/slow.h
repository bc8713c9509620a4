/*
 * slow.h — deadlines for slow clients (slow.c), for http.c: a request's
 * headers within SRV_HEADERS_WAIT_S of its connection's start, or
 * SRV_IDLE_WAIT_S of its previous answer, its body at SRV_BODY_RATE bytes
 * a second after SRV_BODY_GRACE_S, never SRV_BODY_SILENCE_S without a
 * byte and whole within SRV_BODY_MAX_S; a connection past them is closed.
 */
#ifndef OFFPAY_SERVER_SLOW_H
#define OFFPAY_SERVER_SLOW_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_HEADERS_WAIT_S 30 /* a new connection's first request */
#define SRV_IDLE_WAIT_S                                                        \
    65 /* after an answer: past libmicrohttpd's 60 s                           \
          idle timeout, so a kept-alive connection                             \
          idle is closed by it as before, and only a                           \
          trickled request here */
#define SRV_BODY_GRACE_S   10
#define SRV_BODY_RATE      1024 /* bytes a second, on average */
/* The most a body may go without a byte: past a lossy mobile link's TCP
 * retransmission backoff (1 + 2 + 4 + 8 s), which a terminal on it meets
 * in the middle of an upload */
#define SRV_BODY_SILENCE_S 20
/* The most a body may take, whole: a 1 MiB body at the 1 KiB/s average
 * with its grace (a terminal's 1,000-payment batch on a slow link is a
 * few hundred KiB: at 300 s it was cut off though it kept the average) */
#define SRV_BODY_MAX_S 1050

/* Starts and stops the thread that closes connections past their
 * deadlines (one per process). srv_slow_start: 0, or -1. */
int  srv_slow_start(void);
void srv_slow_stop(void);

/* Connections closed so far for being late. */
uint64_t srv_slow_closed(void);
/* Connections open now (started, not closed; those the watch could not
 * take, for want of memory, not counted). */
unsigned srv_slow_open(void);

/* MHD_OPTION_NOTIFY_CONNECTION: watches a connection from its start to
 * its close. */
void srv_slow_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                     enum MHD_ConnectionNotificationCode toe);

/* A request's headers arrived (its body's clock starts), n more bytes of
 * its body arrived, its body is whole (no deadline until its answer is
 * out), its answer is out (the next request's clock starts). */
void srv_slow_headers(struct MHD_Connection *c);
void srv_slow_body(struct MHD_Connection *c, size_t n);
void srv_slow_busy(struct MHD_Connection *c);
void srv_slow_done(struct MHD_Connection *c);

#endif
