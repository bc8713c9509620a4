/*
 * deadline.c — the end of a timed wait (deadline.h).
 */
#include "core/deadline.h"

void offpay__deadline(clockid_t clock, long ms, struct timespec *at)
{
    clock_gettime(clock, at);
    at->tv_sec += ms / 1000;
    at->tv_nsec += (ms % 1000) * 1000000L;
    if (at->tv_nsec >= 1000000000L) {
        at->tv_sec++;
        at->tv_nsec -= 1000000000L;
    }
}
