/*
 * unixtime.c — a unix time in seconds as a person gives it (unixtime.h):
 * offpayd's period parameters and the command line's time options.
 */
#include "core/unixtime.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int offpay__unix_time_parse(const char *name, const char *v, int period,
                            uint32_t *t, char *hint, size_t cap)
{
    size_t   n = v != NULL ? strlen(v) : 0;
    size_t   digits = v != NULL ? strspn(v, "0123456789") : 0;
    uint64_t x = 0;

    if (cap > 0)
        hint[0] = '\0';
    if (n > 0 && n <= 10 && digits == n && (n == 1 || v[0] != '0')) {
        for (size_t i = 0; i < n; i++)
            x = x * 10 + (uint64_t)(v[i] - '0');
        if (x <= UINT32_MAX) {
            *t = (uint32_t)x;
            return 0;
        }
    }
    if (n == 13 && digits == n) /* a JavaScript Date.now(), say */
        snprintf(hint, cap,
                 "%s: %s is a time in milliseconds: give unix seconds, not "
                 "milliseconds (%.10s)",
                 name, v, v);
    else if (n > 4 && digits == 4 && v[4] == '-')
        snprintf(hint, cap,
                 "%s: a date: give a unix time in seconds (2026-12-01T00:00Z "
                 "is 1796083200: date -u +%%s -d 2026-12-01)%s",
                 name, period ? ", both ends of the period included" : "");
    else
        snprintf(hint, cap,
                 "%s: a unix time in seconds, 0..4294967295, without sign "
                 "or leading zeros (date -u +%%s -d 2027-01-01 gives one)",
                 name);
    return -1;
}

const char *offpay__unix_time_iso(uint32_t t, char out[32])
{
    time_t    tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%u", t);
    return out;
}
