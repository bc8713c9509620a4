/*
 * log.c — the library's diagnostic lines (offpay_set_log, error.h): what
 * offpayd refused and why, a failing database, a clock far off. They go
 * to stderr unless the program routes them elsewhere or silences them: a
 * program embedding the library (a gate's controller) decides what its
 * operators see; every such line repeats something the return codes and
 * offpay_server_detail() already carry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "offpay/error.h"

void offpay_log_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

static offpay_log_fn *sink = offpay_log_stderr;
static void          *sink_ctx;

void offpay_set_log(offpay_log_fn *fn, void *ctx)
{
    sink = fn;
    sink_ctx = ctx;
}

void offpay__log(const char *fmt, ...)
{
    char    line[2048];
    va_list ap;
    size_t  n;

    if (sink == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') /* the sink ends the line */
        line[--n] = '\0';
    sink(sink_ctx, line);
}
