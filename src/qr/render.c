/*
 * render.c — QR rendering: text -> libqrencode symbol -> 8-bit grey PNG
 * (libpng), SVG, or UTF-8 half-block terminal art. Contracts in offpay/qr.h.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync */

#include "offpay/qr.h"

#include <errno.h>
#include <png.h>
#include <qrencode.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Encodes text at level M, mode chosen by libqrencode (8-bit hint, so it
 * picks numeric/alphanumeric/8-bit segments itself), case-sensitive. On
 * success *out must be released with QRcode_free(). */
static offpay_err encode(const char *text, QRcode **out)
{
    QRcode *qr;

    *out = NULL;
    if (text == NULL || text[0] == '\0')
        return OFFPAY_EINVAL;
    errno = 0;
    qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return errno == ENOMEM ? OFFPAY_ENOMEM : OFFPAY_EQRENCODE;
    *out = qr;
    return OFFPAY_OK;
}

/* Whether module (x, y) of the symbol is dark; outside the symbol (quiet
 * zone and beyond) everything is light. */
static int is_dark(const QRcode *qr, int x, int y)
{
    if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
        return 0;
    return qr->data[(size_t)y * (size_t)qr->width + (size_t)x] & 1;
}

offpay_err offpay_qr_version(const char *text, int *version)
{
    QRcode    *qr = NULL;
    offpay_err rc;

    if (version == NULL)
        return OFFPAY_EINVAL;
    *version = 0;
    rc = encode(text, &qr);
    if (rc != OFFPAY_OK)
        return rc;
    *version = qr->version;
    QRcode_free(qr);
    return OFFPAY_OK;
}

/* ---- atomic file: write "<path>.tmp", fsync, rename over path ---------- */

typedef struct atomic_file {
    FILE       *f;
    char       *tmp;  /* owned */
    const char *path; /* borrowed */
} atomic_file;

static offpay_err af_open(atomic_file *af, const char *path)
{
    size_t n = strlen(path);

    af->f = NULL;
    af->path = path;
    af->tmp = malloc(n + sizeof ".tmp");
    if (af->tmp == NULL)
        return OFFPAY_ENOMEM;
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp", sizeof ".tmp");
    af->f = fopen(af->tmp, "wb");
    if (af->f == NULL) {
        free(af->tmp);
        af->tmp = NULL;
        return OFFPAY_EIMAGE;
    }
    return OFFPAY_OK;
}

/* Discards the temporary file. Safe after a failed af_open or af_commit. */
static void af_abort(atomic_file *af)
{
    if (af->f != NULL)
        fclose(af->f);
    if (af->tmp != NULL)
        unlink(af->tmp);
    free(af->tmp);
    af->f = NULL;
    af->tmp = NULL;
}

/* Flushes, syncs, closes and renames into place; on any failure removes the
 * temporary file. Either way the atomic_file is finished afterwards. */
static offpay_err af_commit(atomic_file *af)
{
    int ok;

    ok = fflush(af->f) == 0 && !ferror(af->f) && fsync(fileno(af->f)) == 0;
    ok = (fclose(af->f) == 0) && ok;
    af->f = NULL;
    if (ok)
        ok = rename(af->tmp, af->path) == 0;
    if (!ok) {
        af_abort(af);
        return OFFPAY_EIMAGE;
    }
    free(af->tmp);
    af->tmp = NULL;
    return OFFPAY_OK;
}

/* ---- PNG -------------------------------------------------------------- */

/* libpng's default handlers print to stderr; a library must stay quiet.
 * The error handler must not return: it jumps back to the setjmp below. */
static void png_error_quiet(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void png_warning_quiet(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

typedef struct png_job {
    FILE         *f;
    const QRcode *qr;
    int           scale, margin;
    uint32_t      dim; /* pixels a side */
    uint8_t      *row; /* dim bytes, owned by the caller */
} png_job;

static void fill_row(const png_job *j, uint32_t y)
{
    int my = (int)(y / (uint32_t)j->scale) - j->margin;

    for (uint32_t x = 0; x < j->dim; x++) {
        int mx = (int)(x / (uint32_t)j->scale) - j->margin;
        j->row[x] = is_dark(j->qr, mx, my) ? 0 : 255;
    }
}

/*
 * Writes the PNG stream; 0 on success, -1 on any libpng error. Everything
 * that outlives a longjmp is either owned by the caller (file, row buffer)
 * or created before setjmp and never reassigned after it (png, info), so no
 * local needs to be volatile.
 */
static int png_write_job(const png_job *j)
{
    png_structp png;
    png_infop   info;

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_error_quiet,
                                  png_warning_quiet);
    if (png == NULL)
        return -1;
    info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, j->f);
    png_set_IHDR(png, info, j->dim, j->dim, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < j->dim; y++) {
        fill_row(j, y);
        png_write_row(png, j->row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

offpay_err offpay_qr_write_png(const char *text, const char *path, int scale,
                               int margin)
{
    QRcode     *qr = NULL;
    atomic_file af = {0};
    png_job     job = {0};
    int64_t     dim;
    offpay_err  rc;

    if (path == NULL || path[0] == '\0' || scale < 1 || margin < 0)
        return OFFPAY_EINVAL;
    rc = encode(text, &qr);
    if (rc != OFFPAY_OK)
        goto out;
    dim = ((int64_t)qr->width + 2 * (int64_t)margin) * scale;
    if (dim > OFFPAY_QR_MAX_DIM) {
        rc = OFFPAY_EINVAL;
        goto out;
    }
    job.qr = qr;
    job.scale = scale;
    job.margin = margin;
    job.dim = (uint32_t)dim;
    job.row = malloc(job.dim);
    if (job.row == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    rc = af_open(&af, path);
    if (rc != OFFPAY_OK)
        goto out;
    job.f = af.f;
    if (png_write_job(&job) != 0) {
        af_abort(&af);
        rc = OFFPAY_EIMAGE;
        goto out;
    }
    rc = af_commit(&af);
out:
    free(job.row);
    QRcode_free(qr);
    return rc;
}

/* ---- SVG -------------------------------------------------------------- */

offpay_err offpay_qr_write_svg(const char *text, const char *path, int margin)
{
    QRcode     *qr = NULL;
    atomic_file af = {0};
    int         n;
    offpay_err  rc;

    if (path == NULL || path[0] == '\0' || margin < 0 ||
        margin > OFFPAY_QR_MAX_DIM)
        return OFFPAY_EINVAL;
    rc = encode(text, &qr);
    if (rc != OFFPAY_OK)
        goto out;
    n = qr->width + 2 * margin;
    rc = af_open(&af, path);
    if (rc != OFFPAY_OK)
        goto out;
    /* One module is one user unit; the default display size is 4 px a
     * module and the viewBox lets any viewer scale it without blurring. */
    fprintf(af.f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "shape-rendering=\"crispEdges\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
            "<path fill=\"#000\" d=\"",
            4 * n, 4 * n, n, n, n, n);
    /* One subpath per horizontal run of dark modules. */
    for (int y = 0; y < qr->width; y++) {
        int x = 0;
        while (x < qr->width) {
            int run;
            if (!is_dark(qr, x, y)) {
                x++;
                continue;
            }
            for (run = 1; is_dark(qr, x + run, y); run++)
                ;
            fprintf(af.f, "M%d %dh%dv1h-%dz", x + margin, y + margin, run, run);
            x += run;
        }
    }
    fputs("\"/>\n</svg>\n", af.f);
    rc = af_commit(&af); /* catches any fprintf error through ferror() */
out:
    QRcode_free(qr);
    return rc;
}

/* ---- UTF-8 terminal art ----------------------------------------------- */

offpay_err offpay_qr_render_utf8(const char *text, char **out)
{
    static const char full[] = "\xe2\x96\x88";  /* U+2588 █ */
    static const char upper[] = "\xe2\x96\x80"; /* U+2580 ▀ */
    static const char lower[] = "\xe2\x96\x84"; /* U+2584 ▄ */
    const int         m = OFFPAY_QR_UTF8_MARGIN;
    QRcode           *qr = NULL;
    char             *buf = NULL, *p;
    int               n, lines;
    size_t            cap;
    offpay_err        rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    rc = encode(text, &qr);
    if (rc != OFFPAY_OK)
        goto out;
    n = qr->width + 2 * m;
    lines = (n + 1) / 2;
    /* At most 3 bytes a cell, a newline a line, one NUL. */
    cap = (size_t)lines * ((size_t)n * 3 + 1) + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    p = buf;
    /* Light modules are drawn (foreground blocks), dark ones left blank,
     * exactly as "qrencode -t UTF8" does; a row past the bottom is light. */
    for (int l = 0; l < lines; l++) {
        int y = 2 * l - m;
        for (int x = -m; x < n - m; x++) {
            int         top = !is_dark(qr, x, y);
            int         bot = !is_dark(qr, x, y + 1);
            const char *cell = top && bot ? full
                               : top      ? upper
                               : bot      ? lower
                                          : " ";
            size_t      len = strlen(cell);
            memcpy(p, cell, len);
            p += len;
        }
        *p++ = '\n';
    }
    *p = '\0';
    *out = buf;
    buf = NULL;
out:
    free(buf);
    QRcode_free(qr);
    return rc;
}
