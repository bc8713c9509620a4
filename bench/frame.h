/*
 * frame.h — synthetic camera frames holding a QR code, for the QR benchmark
 * and the scanner's unit tests (tests/unit/test_qr.c includes frame.c).
 */
#ifndef OFFPAY_BENCH_FRAME_H
#define OFFPAY_BENCH_FRAME_H

#include <stdint.h>

/* Width of the code in the frame, quiet zone included, in pixels. */
#define OFFPAY_BENCH_CODE_PX 250.0

/*
 * offpay_bench_noisy_frame — fill gray[y * width + x] (width x height, no row
 * padding) with a camera-like view of text as a QR code (level M, as
 * offpay_qr_write_png renders it): the code with its 4-module quiet zone on a
 * sheet of paper, about OFFPAY_BENCH_CODE_PX pixels wide (≈4 px a module for
 * a version-10 code), rotated by angle_deg about its centre and shifted from
 * the frame centre by a seed-dependent offset, over a background with a
 * lighting gradient; reduced contrast (dark modules are dark grey, paper is
 * light grey) and additive pseudo-random noise. Edges are area-sampled (2x2
 * per pixel, like a sensor) but not blurred.
 * The same arguments always give the same frame (a private LCG, not rand()).
 * Returns 0, or -1 if an argument is invalid (NULL, a frame smaller than
 * 64x64 or larger than 8192x8192) or libqrencode cannot encode text.
 */
int offpay_bench_noisy_frame(const char *text, uint8_t *gray, int width,
                             int height, double angle_deg, unsigned seed);

/*
 * offpay_bench_tiled_frame — fill gray[y * width + x] (width x height, no row
 * padding) with a hostile image: a mid-grey background (value 128) covered
 * edge to edge by small version-1 QR codes (level M), each of module_px
 * pixels a module (1..16) and gap_modules light modules around it (0..8),
 * so every tile brings three finder patterns and the finder-pattern search
 * of a decoder sees thousands. Tile i holds the text "T" + a seed-dependent
 * number, so neighbouring codes differ. This is what an attacker hands a
 * terminal that scans images: cheap to make, tiny as a PNG (it compresses
 * to a few hundred KB even at 8192x8192), and costly to search.
 * The same arguments always give the same frame.
 * Returns 0, or -1 if an argument is invalid (NULL, a frame smaller than
 * 64x64 or larger than 8192x8192, module_px or gap_modules out of range) or
 * libqrencode fails.
 */
int offpay_bench_tiled_frame(uint8_t *gray, int width, int height,
                             int module_px, int gap_modules, unsigned seed);

/*
 * offpay_bench_finder_frame — like offpay_bench_tiled_frame, but the tiles
 * are bare finder patterns (7x7 modules in a 1-module light border) on a
 * grid every pitch_modules modules (9..64), module_px pixels a module
 * (1..16): patterns without a code, so every set of three a decoder tries
 * fails and it goes on trying. Returns 0 or -1 (as above).
 */
int offpay_bench_finder_frame(uint8_t *gray, int width, int height,
                              int module_px, int pitch_modules);

#endif
