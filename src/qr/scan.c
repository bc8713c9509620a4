/*
 * scan.c — QR scanning with bounded work: grey image -> levels -> our own
 * binarization -> a count of finder-pattern candidates -> ZXing passes
 * (zxing_shim.cpp) only where that count is small. Contracts in
 * offpay/qr.h and qr/scan_int.h.
 *
 * Why: ZXing's QR detector tries every three finder patterns it finds
 * (GenerateFinderPatternSets), which is cubic in their number, and it has no
 * way to stop. An image tiled with small codes or bare finder patterns
 * holds thousands of them: 640x480 of 1-pixel-module codes took 30 s, full
 * HD ones minutes. So this file binarizes the image itself (ZXing's local
 * average method), removes one-pixel specks, counts every run window that
 * could pass ZXing's finder-pattern checks (row, column, diagonals; in the
 * rows ZXing reads, with looser tolerances than ZXing's: ZXing keeps at most
 * one pattern per such window, so the count bounds what it can meet), and
 * hands ZXing
 * exactly those pixels (its "BoolCast" binarizer) only when the count is
 * between 3 (a code has three finder patterns) and
 * OFFPAY__QR_CANDIDATES_MAX. Each pass is then bounded: linear in pixels
 * plus a cubic term of at most that many patterns.
 *
 * The stages, cheapest and likeliest first, each started only while the
 * calling thread has used less than the budget of CPU time:
 *   level 0  the image, box-downscaled to at most OFFPAY__QR_WORK_SIDE a side
 *            pass 1 dark-on-light, pass 2 light-on-dark (inverted bits)
 *   level k  level k-1 halved, tried when a pass was refused (a large code
 *            in a close-up brings many candidates; halving divides them) or
 *            when the level is big (a blurred code reads better smaller),
 *            down to OFFPAY__QR_MIN_SIDE pixels.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "qr/scan_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offpay/qr.h"
#include "qr/zxing_shim.h"

/* Smallest side of a level: a version-1 code needs about 40 pixels. */
#define OFFPAY__QR_MIN_SIDE 64
/* Levels at least this small on their shorter side are not halved just in
 * case (ZXing's own downscale threshold): only a refused pass goes lower. */
#define OFFPAY__QR_HALVE_SIDE 500
/* Binarizer: 8x8 blocks, thresholds averaged over 5x5 blocks, blocks with
 * less contrast than MIN_DYNAMIC taken as background (ZXing's
 * HybridBinarizer, which uses 24: camera noise of a few grey levels then
 * binarizes into specks that look like tiny finder patterns, hundreds in a
 * frame; at 40 a flat noisy area is background, and a code still needs
 * only 16 % contrast). */
#define BLOCK       8
#define MIN_DYNAMIC 40
/* ZXing's finder-pattern search, trying harder, reads rows 2, 5, 8...
 * (FindFinderPatterns: y = skip - 1, y += skip, skip = MIN_SKIP = 3). */
#define ZXING_SKIP 3
#define DARK       0
#define LIGHT      255

/* CPU time of the calling thread: the budget bounds the work done, the
 * same on an idle machine and on a busy one (where wall time stretches
 * but no one else's CPU is taken). */
static int64_t now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* dst (dw x dh, dense) = src box-averaged by factor f (dw = w / f,
 * dh = h / f); f = 1 is a copy. */
static void downscale(const uint8_t *src, int stride, int f, uint8_t *dst,
                      int dw, int dh)
{
    unsigned area = (unsigned)(f * f);

    for (int y = 0; y < dh; y++) {
        uint8_t *out = dst + (size_t)y * (size_t)dw;
        if (f == 1) {
            memcpy(out, src + (size_t)y * (size_t)stride, (size_t)dw);
            continue;
        }
        for (int x = 0; x < dw; x++) {
            unsigned sum = 0;
            for (int j = 0; j < f; j++) {
                const uint8_t *p = src + (size_t)(y * f + j) * (size_t)stride +
                                   (size_t)x * (size_t)f;
                for (int i = 0; i < f; i++)
                    sum += p[i];
            }
            out[x] = (uint8_t)((sum + area / 2) / area);
        }
    }
}

/* Halves the dense w x h image g in place (2x2 box average) into
 * (w / 2) x (h / 2): output row y only reads input rows 2y and 2y + 1, at
 * or after where it writes. */
static void halve(uint8_t *g, int w, int h)
{
    const int dw = w / 2, dh = h / 2;

    for (int y = 0; y < dh; y++) {
        const uint8_t *a = g + (size_t)(2 * y) * (size_t)w, *b = a + w;
        uint8_t       *out = g + (size_t)y * (size_t)dw;
        for (int x = 0; x < dw; x++)
            out[x] = (uint8_t)((a[2 * x] + a[2 * x + 1] + b[2 * x] +
                                b[2 * x + 1] + 2) >>
                               2);
    }
}

/* Images too small for 8x8 blocks: one threshold halfway between the
 * darkest and lightest pixel; an image without contrast is all light. */
static void binarize_global(const uint8_t *g, size_t n, uint8_t *bits)
{
    unsigned lo = 255, hi = 0, t;
    int      flat;

    for (size_t i = 0; i < n; i++) {
        lo = g[i] < lo ? g[i] : lo;
        hi = g[i] > hi ? g[i] : hi;
    }
    flat = hi - lo < MIN_DYNAMIC;
    t = (lo + hi) / 2;
    for (size_t i = 0; i < n; i++)
        bits[i] = (!flat && g[i] <= t) ? DARK : LIGHT;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Local-average binarization, as ZXing's HybridBinarizer does it (so
 * camera frames with lighting gradients and noise read as well as before):
 * each 8x8 block's black point is its mean, or for a flat block half its
 * minimum (background) unless its neighbours say it is inside a dark area;
 * a pixel is dark when at most the mean black point of the 5x5 blocks
 * around its block. bp holds sw * sh ints. w, h >= 40.
 */
static void binarize_local(const uint8_t *g, int w, int h, int *bp,
                           uint8_t *bits)
{
    const int sw = (w + BLOCK - 1) / BLOCK, sh = (h + BLOCK - 1) / BLOCK;

    for (int by = 0; by < sh; by++) {
        int y0 = by * BLOCK < h - BLOCK ? by * BLOCK : h - BLOCK;
        for (int bx = 0; bx < sw; bx++) {
            int      x0 = bx * BLOCK < w - BLOCK ? bx * BLOCK : w - BLOCK;
            unsigned sum = 0, lo = 255, hi = 0;
            int      avg;
            for (int y = 0; y < BLOCK; y++) {
                const uint8_t *p = g + (size_t)(y0 + y) * (size_t)w + x0;
                for (int x = 0; x < BLOCK; x++) {
                    sum += p[x];
                    lo = p[x] < lo ? p[x] : lo;
                    hi = p[x] > hi ? p[x] : hi;
                }
            }
            avg = (int)(sum >> 6);
            if (hi - lo <= MIN_DYNAMIC) {
                avg = (int)lo / 2;
                if (by > 0 && bx > 0) {
                    int nb =
                        (bp[(by - 1) * sw + bx] + 2 * bp[by * sw + bx - 1] +
                         bp[(by - 1) * sw + bx - 1]) /
                        4;
                    if ((int)lo < nb)
                        avg = nb;
                }
            }
            bp[by * sw + bx] = avg;
        }
    }
    for (int by = 0; by < sh; by++) {
        int y0 = by * BLOCK < h - BLOCK ? by * BLOCK : h - BLOCK;
        int top = clamp(by, 2, sh - 3);
        for (int bx = 0; bx < sw; bx++) {
            int x0 = bx * BLOCK < w - BLOCK ? bx * BLOCK : w - BLOCK;
            int left = clamp(bx, 2, sw - 3);
            int sum = 0, t;
            for (int z = -2; z <= 2; z++)
                for (int k = -2; k <= 2; k++)
                    sum += bp[(top + z) * sw + left + k];
            t = sum / 25;
            for (int y = 0; y < BLOCK; y++) {
                const uint8_t *p = g + (size_t)(y0 + y) * (size_t)w + x0;
                uint8_t       *q = bits + (size_t)(y0 + y) * (size_t)w + x0;
                for (int x = 0; x < BLOCK; x++)
                    q[x] = p[x] <= t ? DARK : LIGHT;
            }
        }
    }
}

static uint64_t load8(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof v);
    return v;
}

/* Per pixel of 0 or 255 (so per bit): the majority of a, b and c. */
static uint64_t majority(uint64_t a, uint64_t b, uint64_t c)
{
    return (a & b) | (a & c) | (b & c);
}

/*
 * Sets every pixel to the majority of itself and its left and right
 * neighbours, then of itself and its neighbours above and below: a pixel
 * whose two neighbours agree takes their colour, so runs one pixel long
 * mostly disappear from rows and columns. Sensor noise binarizes into such
 * specks, and speck clusters can look like tiny finder patterns, hundreds
 * in a frame; a real module is about two pixels wide or more anyway.
 * Branch-free, eight pixels a step. line holds w bytes (the row pass reads
 * a copy of the row).
 */
static void despeckle(uint8_t *bits, int w, int h, uint8_t *line)
{
    for (int y = 0; y < h; y++) {
        uint8_t *row = bits + (size_t)y * (size_t)w;
        int      x = 1;
        memcpy(line, row, (size_t)w);
        for (; x + 8 < w; x += 8) {
            uint64_t m = majority(load8(line + x - 1), load8(line + x),
                                  load8(line + x + 1));
            memcpy(row + x, &m, sizeof m);
        }
        for (; x + 1 < w; x++)
            row[x] = (uint8_t)majority(line[x - 1], line[x], line[x + 1]);
    }
    for (int y = 1; y + 1 < h; y++) {
        uint8_t       *row = bits + (size_t)y * (size_t)w;
        const uint8_t *up = row - w, *dn = row + w;
        int            x = 0;
        for (; x + 8 <= w; x += 8) {
            uint64_t m = majority(load8(up + x), load8(row + x), load8(dn + x));
            memcpy(row + x, &m, sizeof m);
        }
        for (; x < w; x++)
            row[x] = (uint8_t)majority(up[x], row[x], dn[x]);
    }
}

/*
 * Whether five consecutive runs r[0..4] could pass ZXing's finder-pattern
 * row test (runs of 1:1:3:1:1 modules, each within 0.5 module + 0.5 pixel
 * of the ideal, 0.75 module in its relaxed form). This accepts each run
 * within 0.75 module + 1 pixel: a superset, so the count bounds ZXing's.
 * In integers: |7 r - p W| <= 0.75 W + 7, W the sum of the five runs.
 */
static int finder_like(const int *r)
{
    static const int pat[5] = {1, 1, 3, 1, 1};
    int              sum = r[0] + r[1] + r[2] + r[3] + r[4];

    if (sum < 7)
        return 0;
    for (int j = 0; j < 5; j++) {
        int d = 7 * r[j] - pat[j] * sum;
        if (4 * (d < 0 ? -d : d) > 3 * sum + 28)
            return 0;
    }
    return 1;
}

/* Length of the run of colour c from (x, y) on, stepping (dx, dy), (x, y)
 * included, at most cap steps. */
static int run_len(const uint8_t *bits, int w, int h, int x, int y, int dx,
                   int dy, uint8_t c, int cap)
{
    int n = 0;

    while (x >= 0 && x < w && y >= 0 && y < h && n < cap &&
           bits[(size_t)y * (size_t)w + (size_t)x] == c) {
        n++;
        x += dx;
        y += dy;
    }
    return n;
}

/*
 * Whether the line through (x, y) in direction (dx, dy) could pass ZXing's
 * symmetric check of a finder pattern there: the centre run (both ways),
 * then the next two runs each way, judged as loosely as the row windows.
 * ZXing bounds its walk by a few times the row window's width; a walk here
 * that reaches cap steps without seeing the five runs counts as a pass, so
 * the test stays a superset and costs O(cap). On return *centre holds the
 * offset, in steps from (x, y), of the middle of the centre run.
 */
static int line_like(const uint8_t *bits, int w, int h, int x, int y, int dx,
                     int dy, int cap, int *centre)
{
    const uint8_t c = bits[(size_t)y * (size_t)w + (size_t)x];
    const uint8_t o = (uint8_t)(LIGHT - c);
    int           r[5], back, fwd, bx, by, fx, fy;

    back = run_len(bits, w, h, x, y, -dx, -dy, c, cap);
    fwd = run_len(bits, w, h, x + dx, y + dy, dx, dy, c, cap);
    *centre = (fwd - (back - 1)) / 2;
    r[2] = back + fwd;
    if (r[2] >= cap)
        return 1;
    bx = x - back * dx;
    by = y - back * dy;
    r[1] = run_len(bits, w, h, bx, by, -dx, -dy, o, cap);
    r[0] =
        run_len(bits, w, h, bx - r[1] * dx, by - r[1] * dy, -dx, -dy, c, cap);
    fx = x + (fwd + 1) * dx;
    fy = y + (fwd + 1) * dy;
    r[3] = run_len(bits, w, h, fx, fy, dx, dy, o, cap);
    r[4] = run_len(bits, w, h, fx + r[3] * dx, fy + r[3] * dy, dx, dy, c, cap);
    for (int j = 0; j < 5; j++)
        if (r[j] >= cap)
            return 1;
    return r[0] > 0 && r[1] > 0 && r[3] > 0 && r[4] > 0 && finder_like(r);
}

/*
 * Whether the row window of width sum centred on (x, y) could be kept by
 * ZXing as a finder pattern: it checks the column through that point, then
 * the row and both diagonals through the re-centred point, and drops the
 * pattern if any fails. The same checks here, looser: the diagonals are
 * tried from the re-centred pixel and its four neighbours (ZXing works on
 * sub-pixel positions), and any one passing counts.
 */
static int pattern_like(const uint8_t *bits, int w, int h, int x, int y,
                        int sum)
{
    int              cy, cx, d1 = 0, d2 = 0;
    static const int near[5][2] = {{0, 0}, {1, 0}, {-1, 0}, {0, 1}, {0, -1}};

    if (!line_like(bits, w, h, x, y, 0, 1, 4 * sum, &cy))
        return 0;
    cy += y;
    if (!line_like(bits, w, h, x, cy, 1, 0, 4 * sum, &cx))
        return 0;
    cx += x;
    for (int k = 0; k < 5 && !(d1 && d2); k++) {
        int px = cx + near[k][0], py = cy + near[k][1], unused;
        if (px < 0 || px >= w || py < 0 || py >= h)
            continue;
        d1 = d1 || line_like(bits, w, h, px, py, 1, 1, 8 * sum, &unused);
        d2 = d2 || line_like(bits, w, h, px, py, 1, -1, 8 * sum, &unused);
    }
    return d1 && d2;
}

/*
 * Counts finder-pattern candidates in bits: windows of five runs, in the
 * rows ZXing's search reads, that look like a finder pattern in the row and
 * pass pattern_like(). counts[0]
 * holds those whose centre is dark (what the dark-on-light pass can find),
 * counts[1] light (the inverted pass). ZXing keeps at most one pattern per such
 * window (it looks at every third row when trying harder), so the counts bound
 * what a pass can meet. Stops counting a polarity past cap. runs holds w ints.
 */
static void count_candidates(const uint8_t *bits, int w, int h, int *runs,
                             int cap, int counts[2])
{
    counts[0] = counts[1] = 0;
    for (int y = ZXING_SKIP - 1;
         y < h && (counts[0] <= cap || counts[1] <= cap); y += ZXING_SKIP) {
        const uint8_t *row = bits + (size_t)y * (size_t)w;
        int            n = 0, len = 1;
        int            first_dark = row[0] == DARK;

        for (int x = 1; x < w; x++) {
            if (row[x] == row[x - 1]) {
                len++;
            } else {
                runs[n++] = len;
                len = 1;
            }
        }
        runs[n++] = len;
        for (int i = 0, x0 = 0; i + 5 <= n; x0 += runs[i], i++) {
            int pol = ((i & 1) == 0) == first_dark ? 0 : 1;
            int sum, mid;
            if (counts[pol] > cap || !finder_like(runs + i))
                continue;
            sum =
                runs[i] + runs[i + 1] + runs[i + 2] + runs[i + 3] + runs[i + 4];
            /* ZXing's centre: pixels before + two runs + half the third. */
            mid = x0 + runs[i] + runs[i + 1] + runs[i + 2] / 2;
            if (pattern_like(bits, w, h, mid, y, sum))
                counts[pol]++;
        }
    }
}

/* Whether c may stand for a "?" of "OP??:": a capital or a digit, the
 * characters QR alphanumeric mode and every offpay prefix use. */
static int prefix_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether text begins with a prefix reserved for offpay ("OP??:",
 * protocol.md §4): a payment code, a request, a receipt and the rest. */
static int offpay_text(const char *text)
{
    return strlen(text) >= 5 && text[0] == 'O' && text[1] == 'P' &&
           prefix_char(text[2]) && prefix_char(text[3]) && text[4] == ':';
}

/* Keeps what a pass read (t, malloc'd) beside what the passes before it
 * at this level read (*text, or NULL): the offpay text over a foreign
 * one, the first of two foreign ones; two different offpay texts are
 * OFFPAY_ESCAN_SEVERAL (*text freed and NULL). t is taken over. */
static offpay_err keep(char **text, char *t)
{
    if (*text == NULL) {
        *text = t;
        return OFFPAY_OK;
    }
    if (offpay_text(*text) && offpay_text(t) && strcmp(*text, t) != 0) {
        free(t);
        free(*text);
        *text = NULL;
        return OFFPAY_ESCAN_SEVERAL;
    }
    if (!offpay_text(*text) && offpay_text(t)) {
        free(*text);
        *text = t;
    } else {
        free(t);
    }
    return OFFPAY_OK;
}

/* One ZXing pass over bits. Of the different texts it reads, *text is the
 * only offpay one (another QR code in the picture, a poster's web address,
 * is not what the picture was taken for), else the first;
 * OFFPAY_ESCAN_SEVERAL when two different offpay texts are read: which one
 * the picture was meant to show is not for the scanner to guess. */
static offpay_err pass(const uint8_t *bits, int w, int h, char **text)
{
    char      *texts[OFFPAY__QR_TEXTS_MAX];
    int        found = 0, pick = 0, ours = 0;
    offpay_err rc;

    rc = offpay__zxing_decode_bits(bits, w, h, OFFPAY__QR_TEXTS_MAX, texts,
                                   &found);
    if (rc != OFFPAY_OK)
        return rc;
    for (int i = found - 1; i >= 0; i--)
        if (offpay_text(texts[i])) {
            ours++;
            pick = i;
        }
    if (ours > 1)
        rc = OFFPAY_ESCAN_SEVERAL;
    else
        *text = texts[pick];
    for (int i = 0; i < found; i++)
        if (rc != OFFPAY_OK || i != pick)
            free(texts[i]);
    return rc;
}

offpay_err offpay__qr_scan_bounded(const uint8_t *pixels, int width, int height,
                                   int stride, int64_t budget_us, char **text,
                                   offpay__qr_scan_report *report)
{
    const int64_t          t0 = now_us();
    offpay__qr_scan_report rep = {0, 0, 0, 0};
    uint8_t               *grey = NULL, *bits = NULL, *line = NULL;
    int                   *bp = NULL, *runs = NULL;
    int                    f, w, h, side;
    offpay_err             rc = OFFPAY_ESCAN;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (pixels == NULL || width < 1 || height < 1 ||
        width > OFFPAY_QR_MAX_DIM || height > OFFPAY_QR_MAX_DIM ||
        stride < width || (int64_t)stride * height > INT_MAX || budget_us < 0)
        return OFFPAY_EINVAL;

    side = width > height ? width : height;
    f = (side + OFFPAY__QR_WORK_SIDE - 1) / OFFPAY__QR_WORK_SIDE;
    w = width / f;
    h = height / f;
    if (w < 1 || h < 1) { /* a sliver: keep one pixel a side */
        f = 1;
        w = width;
        h = height;
    }
    grey = malloc((size_t)w * (size_t)h);
    bits = malloc((size_t)w * (size_t)h);
    bp = malloc(sizeof *bp * (size_t)((w + BLOCK - 1) / BLOCK) *
                (size_t)((h + BLOCK - 1) / BLOCK));
    runs = malloc(sizeof *runs * (size_t)w);
    line = malloc((size_t)w);
    if (grey == NULL || bits == NULL || bp == NULL || runs == NULL ||
        line == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    downscale(pixels, stride, f, grey, w, h);

    for (;;) {
        int counts[2], refused = 0;

        if (now_us() - t0 >= budget_us) {
            rc = OFFPAY_EIMAGE_DEADLINE;
            goto out;
        }
        rep.levels++;
        if (w < 40 || h < 40)
            binarize_global(grey, (size_t)w * (size_t)h, bits);
        else
            binarize_local(grey, w, h, bp, bits);
        despeckle(bits, w, h, line);
        count_candidates(bits, w, h, runs, OFFPAY__QR_CANDIDATES_MAX, counts);
        /* Both polarities, even once a code is read: a payer's code
         * beside one shown inverted (a terminal's screen, qr.h) is two
         * codes in the picture all the same. */
        for (int pol = 0; pol < 2; pol++) {
            char *t = NULL;

            if (counts[pol] > rep.max_candidates)
                rep.max_candidates = counts[pol];
            if (pol == 1) /* light-on-dark: ZXing 1.4 reads dark only */
                for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
                    bits[i] = (uint8_t)(LIGHT - bits[i]);
            if (counts[pol] > OFFPAY__QR_CANDIDATES_MAX) {
                refused = 1;
                rep.skipped++;
                continue;
            }
            if (counts[pol] < 3) /* a QR code shows three finder patterns */
                continue;
            if (now_us() - t0 >= budget_us) {
                /* what the first pass read stands: the budget is spent */
                rc = *text != NULL ? OFFPAY_OK : OFFPAY_EIMAGE_DEADLINE;
                goto out;
            }
            rep.passes++;
            rc = pass(bits, w, h, &t);
            if (rc == OFFPAY_OK)
                rc = keep(text, t);
            if (rc != OFFPAY_OK && rc != OFFPAY_ESCAN) /* several, no memory */
                goto out;
        }
        if (*text != NULL) { /* found at this level */
            rc = OFFPAY_OK;
            goto out;
        }
        if (w / 2 < OFFPAY__QR_MIN_SIDE || h / 2 < OFFPAY__QR_MIN_SIDE ||
            (!refused &&
             (w < OFFPAY__QR_HALVE_SIDE || h < OFFPAY__QR_HALVE_SIDE)))
            break;
        halve(grey, w, h);
        w /= 2;
        h /= 2;
    }
    rc = rep.skipped > 0 ? OFFPAY_EIMAGE_DEADLINE : OFFPAY_ESCAN;
out:
    if (rc != OFFPAY_OK) { /* a text read before an error is not given */
        free(*text);
        *text = NULL;
    }
    if (report != NULL)
        *report = rep;
    free(line);
    free(runs);
    free(bp);
    free(bits);
    free(grey);
    return rc;
}

offpay_err offpay_qr_scan_gray(const uint8_t *pixels, int width, int height,
                               int stride, char **text)
{
    return offpay__qr_scan_bounded(pixels, width, height, stride,
                                   (int64_t)OFFPAY_QR_SCAN_BUDGET_MS * 1000,
                                   text, NULL);
}
