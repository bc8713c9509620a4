/*
 * deadline.h — internal: a time ms milliseconds from another, and the end
 * of a timed wait as pthread's timed waits take it
 * (pthread_cond_timedwait on a condition made for CLOCK_MONOTONIC,
 * pthread_mutex_timedlock on CLOCK_REALTIME).
 */
#ifndef OFFPAY_CORE_DEADLINE_H
#define OFFPAY_CORE_DEADLINE_H

#include <time.h>

/* t + ms (ms may be negative), normalized. Pure. */
struct timespec offpay__time_plus_ms(struct timespec t, long ms);

/* *at = now on clock + ms. Thread-safe. */
void offpay__deadline(clockid_t clock, long ms, struct timespec *at);

#endif
