/*
 * frame.c — synthesize camera-like grey frames holding a QR code (frame.h).
 * Image synthesis, so floating point is fine here; nothing here is money.
 */
#include "frame.h"

#include <math.h>
#include <qrencode.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Numerical Recipes LCG; deterministic on every platform, unlike rand(). */
static uint32_t frame_lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

/* Uniform in [0, 1) from the high bits, which are the good ones. */
static double frame_uniform(uint32_t *s)
{
    return (double)(frame_lcg(s) >> 8) / 16777216.0;
}

/* Roughly normal, mean 0, standard deviation 1 (Irwin–Hall of 4). */
static double frame_gauss(uint32_t *s)
{
    double sum = 0.0;
    for (int i = 0; i < 4; i++)
        sum += frame_uniform(s);
    return (sum - 2.0) * 1.7320508075688772; /* sqrt(12 / 4) */
}

/* Reflectance at code coordinates (u, v) in modules, (0, 0) the symbol's
 * top-left corner: dark module, paper (symbol and quiet zone), or table. */
static double frame_reflectance(const QRcode *qr, double u, double v)
{
    const double quiet = 4.0;
    int          w = qr->width;

    if (u < -quiet || v < -quiet || u >= w + quiet || v >= w + quiet)
        return 0.45; /* table around the sheet */
    if (u >= 0.0 && v >= 0.0 && u < w && v < w &&
        (qr->data[(size_t)v * (size_t)w + (size_t)u] & 1))
        return 0.22; /* dark module: ink, not black (contrast reduced) */
    return 0.82;     /* paper */
}

int offpay_bench_noisy_frame(const char *text, uint8_t *gray, int width,
                             int height, double angle_deg, unsigned seed)
{
    const double pi = 3.14159265358979323846;
    QRcode      *qr;
    uint32_t     s = (uint32_t)seed ^ 0x9e3779b9u;
    double       mod_px, cx, cy, ca, sa, half;

    if (text == NULL || gray == NULL || width < 64 || height < 64 ||
        width > 8192 || height > 8192)
        return -1;
    qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return -1;

    mod_px = OFFPAY_BENCH_CODE_PX / (qr->width + 8.0);
    half = qr->width / 2.0;
    /* Centre shifted by up to 1/8 of the frame each way. */
    cx = width / 2.0 + (frame_uniform(&s) - 0.5) * width / 4.0;
    cy = height / 2.0 + (frame_uniform(&s) - 0.5) * height / 4.0;
    ca = cos(angle_deg * pi / 180.0);
    sa = sin(angle_deg * pi / 180.0);

    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            double r = 0.0, light, val;
            /* 2x2 area sampling: the pixel averages what it sees. */
            for (int k = 0; k < 4; k++) {
                double px = x + 0.25 + 0.5 * (k & 1) - cx;
                double py = y + 0.25 + 0.5 * (k >> 1) - cy;
                /* Inverse rotation into the code's frame, in modules. */
                double u = (ca * px + sa * py) / mod_px + half;
                double v = (-sa * px + ca * py) / mod_px + half;
                r += frame_reflectance(qr, u, v);
            }
            r /= 4.0;
            /* Light falls off left to right and top to bottom, with a
             * soft vignette: about 0.45 .. 1.0 of full light. */
            {
                double fx = (double)x / width, fy = (double)y / height;
                double dx = fx - 0.5, dy = fy - 0.5;
                light =
                    1.0 - 0.25 * fx - 0.12 * fy - 0.35 * (dx * dx + dy * dy);
            }
            val = 255.0 * r * light + 7.0 * frame_gauss(&s);
            if (val < 0.0)
                val = 0.0;
            if (val > 255.0)
                val = 255.0;
            gray[(size_t)y * (size_t)width + (size_t)x] = (uint8_t)(val + 0.5);
        }
    }
    QRcode_free(qr);
    return 0;
}

int offpay_bench_tiled_frame(uint8_t *gray, int width, int height,
                             int module_px, int gap_modules, unsigned seed)
{
    uint32_t s = (uint32_t)seed ^ 0x85ebca6bu;
    int      tile, cols, rows, side = 21; /* version 1 */

    if (gray == NULL || width < 64 || height < 64 || width > 8192 ||
        height > 8192 || module_px < 1 || module_px > 16 || gap_modules < 0 ||
        gap_modules > 8)
        return -1;
    memset(gray, 128, (size_t)width * (size_t)height);
    tile = (side + 2 * gap_modules) * module_px;
    cols = width / tile;
    rows = height / tile;
    for (int ty = 0; ty < rows; ty++) {
        for (int tx = 0; tx < cols; tx++) {
            char    text[16];
            QRcode *qr;

            snprintf(text, sizeof text, "T%u", (unsigned)(frame_lcg(&s) >> 12));
            qr = QRcode_encodeString(text, 1, QR_ECLEVEL_M, QR_MODE_8, 1);
            if (qr == NULL)
                return -1;
            for (int y = 0; y < tile; y++) {
                uint8_t *row = gray + (size_t)(ty * tile + y) * (size_t)width +
                               (size_t)tx * (size_t)tile;
                int my = y / module_px - gap_modules;
                for (int x = 0; x < tile; x++) {
                    int mx = x / module_px - gap_modules;
                    int dark =
                        mx >= 0 && my >= 0 && mx < qr->width &&
                        my < qr->width &&
                        (qr->data[(size_t)my * (size_t)qr->width + (size_t)mx] &
                         1);
                    row[x] = dark ? 0 : 255;
                }
            }
            QRcode_free(qr);
        }
    }
    return 0;
}

int offpay_bench_finder_frame(uint8_t *gray, int width, int height,
                              int module_px, int pitch_modules)
{
    int pitch;

    if (gray == NULL || width < 64 || height < 64 || width > 8192 ||
        height > 8192 || module_px < 1 || module_px > 16 || pitch_modules < 9 ||
        pitch_modules > 64)
        return -1;
    memset(gray, 128, (size_t)width * (size_t)height);
    pitch = pitch_modules * module_px;
    for (int ty = 0; ty + 9 * module_px <= height; ty += pitch) {
        for (int tx = 0; tx + 9 * module_px <= width; tx += pitch) {
            for (int y = 0; y < 9 * module_px; y++) {
                uint8_t *row =
                    gray + (size_t)(ty + y) * (size_t)width + (size_t)tx;
                int my = y / module_px - 1;
                for (int x = 0; x < 9 * module_px; x++) {
                    int mx = x / module_px - 1;
                    int d = mx; /* modules to the pattern's nearest edge */
                    d = my < d ? my : d;
                    d = 6 - mx < d ? 6 - mx : d;
                    d = 6 - my < d ? 6 - my : d;
                    /* d < 0: light border; 0: dark ring; 1: light ring;
                     * 2 and 3: the dark 3x3 centre */
                    row[x] = d == 0 || d >= 2 ? 0 : 255;
                }
            }
        }
    }
    return 0;
}
