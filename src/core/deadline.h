/*
 * deadline.h — internal: the time ms milliseconds from now on a clock, as
 * pthread's timed waits take it (pthread_cond_timedwait on a condition
 * made for CLOCK_MONOTONIC, pthread_mutex_timedlock on CLOCK_REALTIME).
 */
#ifndef OFFPAY_CORE_DEADLINE_H
#define OFFPAY_CORE_DEADLINE_H

#include <time.h>

/* *at = now on clock + ms (ms >= 0). Thread-safe. */
void offpay__deadline(clockid_t clock, long ms, struct timespec *at);

#endif
