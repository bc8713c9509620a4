/*
 * testhook.c — the test hooks' shared wait (testhook.h).
 */
#include <stdlib.h>
#include <time.h>

#include "core/testhook.h"

void offpay__test_delay_ms(const char *env)
{
    const char *v = getenv(env);
    long        ms = v != NULL ? atol(v) : 0;

    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
}
