/*
 * testhook.c — the test hooks' shared wait (testhook.h).
 */
#include <stdlib.h>
#include <time.h>

#include "core/testhook.h"

long offpay__test_number(const char *env)
{
    const char *v = getenv(env);
    long        n = v != NULL ? atol(v) : 0;

    return n > 0 ? n : 0;
}

void offpay__test_delay_ms(const char *env)
{
    long ms = offpay__test_number(env);

    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}
