/*
 * fuzz_image.c — libFuzzer target for the QR scanner on hostile images
 * (offpay_qr_scan_file, offpay_qr_scan_gray; offpay/qr.h).
 *
 * The input is used twice:
 *   - as a PNG file, read with offpay_qr_scan_file;
 *   - as a grey image: the first byte gives the width (64 + data[0]), the
 *     rest are the pixels, row after row (as many whole rows as there are),
 *     scanned with offpay_qr_scan_gray.
 * Either call must return one of its documented errors, set the text
 * exactly when it succeeds, and finish within a time bound: a decode that
 * runs away (the cubic finder-pattern search the scanner now bounds) takes
 * seconds to minutes on the seed images, far past MAX_SCAN_S. Any violation
 * abort()s, which libFuzzer and the replay runner report. The seed corpus
 * (fuzz/corpus/image) holds the security review's kind of image: QR codes
 * tiled edge to edge, bare finder patterns, and a header claiming 8192x8192;
 * and two offpay codes side by side (OFFPAY_ESCAN_SEVERAL, since 0.26.0).
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, clock_gettime */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "offpay/offpay.h"

/* Generous (sanitizers, a busy machine); bounded scans take milliseconds. */
#define MAX_SCAN_S 10.0

static double cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Aborts unless rc and text agree with the scanner's contract. */
static void check(offpay_err rc, char *text, double seconds, int file)
{
    int known = rc == OFFPAY_OK || rc == OFFPAY_ESCAN ||
                rc == OFFPAY_ESCAN_SEVERAL || rc == OFFPAY_EIMAGE_DEADLINE ||
                rc == OFFPAY_ENOMEM ||
                (file && (rc == OFFPAY_EIMAGE ||
                          rc == OFFPAY_EIMAGE_TOO_LARGE || rc == OFFPAY_EIO));

    if (!known || (rc == OFFPAY_OK) != (text != NULL) || seconds > MAX_SCAN_S)
        abort();
    free(text);
}

static void fuzz_as_png(const uint8_t *data, size_t size)
{
    static char path[64];
    char       *text = (char *)1;
    FILE       *f;
    double      t0;
    offpay_err  rc;

    if (path[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        int         fd;
        snprintf(path, sizeof path, "%s/offpay-fuzz-image.XXXXXX",
                 tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
        fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
    }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    t0 = cpu_s();
    rc = offpay_qr_scan_file(path, &text);
    check(rc, text, cpu_s() - t0, 1);
    unlink(path);
}

static void fuzz_as_gray(const uint8_t *data, size_t size)
{
    char      *text = (char *)1;
    int        w, h;
    double     t0;
    offpay_err rc;

    if (size < 1)
        return;
    w = 64 + data[0];
    h = (int)((size - 1) / (size_t)w);
    if (h < 1)
        return;
    if (h > OFFPAY_QR_MAX_DIM)
        h = OFFPAY_QR_MAX_DIM;
    t0 = cpu_s();
    rc = offpay_qr_scan_gray(data + 1, w, h, w, &text);
    check(rc, text, cpu_s() - t0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];

    if (data == NULL)
        data = empty; /* libFuzzer may pass NULL with size 0 */
    fuzz_as_png(data, size);
    fuzz_as_gray(data, size);
    return 0;
}
