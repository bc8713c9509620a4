/*
 * scan_int.h — internal: the bounded QR scanner behind offpay_qr_scan_gray()
 * and offpay_qr_scan_file() (scan.c), exposed to the unit tests and the
 * benchmark with an explicit time budget and a report of the work done.
 */
#ifndef OFFPAY_QR_SCAN_INT_H
#define OFFPAY_QR_SCAN_INT_H

#include <stdint.h>

#include "offpay/error.h"

/* Longest side, in pixels, of the first level searched: bigger images are
 * box-downscaled by an integer factor to fit before anything else. */
#define OFFPAY__QR_WORK_SIDE 4096

/* Most finder-pattern candidates (see scan.c) of one polarity that one
 * ZXing pass may meet. Above it the pass is not run at that level. A genuine
 * camera frame has about 20 (each finder pattern counts once per row read
 * through its centre, plus look-alikes in the data); ZXing's search costs
 * the cube of what it keeps, about 50 ms at 150 on the reference machine. */
#define OFFPAY__QR_CANDIDATES_MAX 150

/* Most different texts one ZXing pass keeps: enough to see a second offpay
 * code beside foreign QR codes (scan.c refuses a picture of two offpay
 * codes). Reading on after the first code costs no more than a pass that
 * finds nothing. */
#define OFFPAY__QR_TEXTS_MAX 8

/* What one scan did, for tests and the benchmark. */
typedef struct offpay__qr_scan_report {
    int levels;         /* levels binarized and counted */
    int passes;         /* ZXing passes run */
    int skipped;        /* passes not run: too many candidates */
    int max_candidates; /* most candidates of one polarity at one level */
} offpay__qr_scan_report;

/*
 * offpay__qr_scan_bounded — offpay_qr_scan_gray() with the time budget
 * given in microseconds (>= 0) instead of OFFPAY_QR_SCAN_BUDGET_MS. No new
 * level or pass starts once budget_us has passed since the call began.
 * report may be NULL. Arguments are validated as offpay_qr_scan_gray()
 * does, with the same errors, plus OFFPAY_EIMAGE_DEADLINE (the budget ran
 * out, or a pass was refused for too many candidates, before a code was
 * found).
 */
offpay_err offpay__qr_scan_bounded(const uint8_t *pixels, int width, int height,
                                   int stride, int64_t budget_us, char **text,
                                   offpay__qr_scan_report *report);

#endif
