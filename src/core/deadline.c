/*
 * deadline.c — times ms apart, the end of a timed wait (deadline.h).
 */
#include "core/deadline.h"

struct timespec offpay__time_plus_ms(struct timespec t, long ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    } else if (t.tv_nsec < 0) {
        t.tv_sec--;
        t.tv_nsec += 1000000000L;
    }
    return t;
}

void offpay__deadline(clockid_t clock, long ms, struct timespec *at)
{
    struct timespec now;

    clock_gettime(clock, &now);
    *at = offpay__time_plus_ms(now, ms);
}
