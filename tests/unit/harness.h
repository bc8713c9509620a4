/*
 * harness.h — the small test harness of offpay's unit tests.
 *
 * A test file defines test functions, lists them in a TESTS table and calls
 * offpay_test_main(). CHECK records a failure with file and line and goes on;
 * REQUIRE stops the current test. Each executable prints
 * "N passed, N failed" and exits non-zero if anything failed.
 */
#ifndef OFFPAY_TEST_HARNESS_H
#define OFFPAY_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "offpay/offpay.h"

extern int offpay_test_failures; /* failed checks in the running test */

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            offpay_test_failures++;                                            \
        }                                                                      \
    } while (0)

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            offpay_test_failures++;                                            \
            return;                                                            \
        }                                                                      \
    } while (0)

/* CHECK_ERR(expr, OFFPAY_EXXX): expr returns exactly that error. */
#define CHECK_ERR(expr, want)                                                  \
    do {                                                                       \
        offpay_err got_ = (expr);                                              \
        if (got_ != (want)) {                                                  \
            fprintf(stderr, "%s:%d: %s returned %s (%s), want %s\n", __FILE__, \
                    __LINE__, #expr, offpay_errname(got_),                     \
                    offpay_strerror(got_), offpay_errname(want));              \
            offpay_test_failures++;                                            \
        }                                                                      \
    } while (0)

#define REQUIRE_OK(expr)                                                       \
    do {                                                                       \
        offpay_err got_ = (expr);                                              \
        if (got_ != OFFPAY_OK) {                                               \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,      \
                    #expr, offpay_strerror(got_));                             \
            offpay_test_failures++;                                            \
            return;                                                            \
        }                                                                      \
    } while (0)

typedef struct offpay_test {
    const char *name;
    void (*fn)(void);
} offpay_test;

/* Runs every test of the NULL-terminated table; returns the exit status. */
int offpay_test_main(const offpay_test *tests);

/* A fresh temporary directory for this test process (created on first use,
 * removed by the harness at exit when every test passed). */
const char *offpay_test_tmpdir(void);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on error. */
char *offpay_test_read_file(const char *path, size_t *len);

/* 1 when the wallet holds a credential of that serial (read at now). */
int offpay_test_wallet_holds(offpay_wallet *w, uint64_t serial, uint32_t now);

#endif
