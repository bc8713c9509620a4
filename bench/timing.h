/*
 * timing.h — what the ledger benchmarks share (marks_bench, creds_bench):
 * wall and thread CPU time in milliseconds, the median of a sample
 * (sorted in place), and the raw figure they stand beside: SQLite's own
 * durable write (synchronous FULL, WAL as the ledger's) to the ledger's
 * file, one row a transaction.
 */
#ifndef OFFPAY_BENCH_TIMING_H
#define OFFPAY_BENCH_TIMING_H

#include <sqlite3.h>
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

/* A second connection to the ledger's file at path for the raw write
 * (its own table); 0, or -1. */
static inline int bench_raw_open(const char *path, sqlite3 **raw)
{
    return sqlite3_open(path, raw) == SQLITE_OK &&
                   sqlite3_exec(*raw,
                                "PRAGMA synchronous = FULL;"
                                " CREATE TABLE IF NOT EXISTS bench_raw"
                                " (x INTEGER)",
                                NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
}

/* One durable write of a row in its own transaction; 0, or -1. */
static inline int bench_raw_write(sqlite3 *raw)
{
    return sqlite3_exec(raw,
                        "BEGIN IMMEDIATE; INSERT INTO bench_raw VALUES (1);"
                        " COMMIT",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
}

#endif
