/*
 * timing.h — the clocks and the median the ledger benchmarks share
 * (marks_bench, creds_bench): wall and thread CPU time in milliseconds,
 * and the median of a sample (sorted in place).
 */
#ifndef OFFPAY_BENCH_TIMING_H
#define OFFPAY_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double bench_ms(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Milliseconds of wall time, and of this thread's CPU time. */
static inline double wall_ms(void)
{
    return bench_ms(CLOCK_MONOTONIC);
}

static inline double cpu_ms(void)
{
    return bench_ms(CLOCK_THREAD_CPUTIME_ID);
}

static inline int bench_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The median of v[0..n), n > 0 (v is sorted). */
static inline double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_d);
    return v[n / 2];
}

#endif
