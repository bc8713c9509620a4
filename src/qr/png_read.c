/*
 * png_read.c — QR scanning: read any PNG with libpng into 8-bit grey, within
 * the size caps, and hand it to the bounded scanner (scan.c). Contracts in
 * offpay/qr.h.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */

#include "offpay/qr.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/oserr.h"

/* libpng's default handlers print to stderr; a library must stay quiet.
 * The error handler must not return: it jumps back to a setjmp below. */
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

/*
 * Everything the reader allocates lives here, owned by offpay_qr_scan_file,
 * which frees it at one exit. The two libpng phases below each arm their own
 * setjmp and only write through this pointer, never to their own locals
 * after setjmp, so nothing is clobbered by the longjmp and nothing leaks.
 */
typedef struct png_in {
    FILE       *f;
    png_structp png;
    png_infop   info;
    uint32_t    width, height;
    int         channels; /* after transforms: 1 (grey) or 2 (grey + alpha) */
    uint8_t    *pix;      /* width * height * channels bytes */
    png_bytep  *rows;     /* height pointers into pix */
} png_in;

/* Phase 1: signature, header, size caps, transforms to 8-bit grey(+alpha).
 * Returns 0, -1 on any libpng error (bad signature, truncation...), or -2
 * when the image is beyond OFFPAY_QR_MAX_DIM or OFFPAY_QR_SCAN_MAX_RAW
 * (decided on the header, before any pixel is inflated). */
static int read_header(png_in *in)
{
    png_uint_32 w, h;
    uint64_t    raw;

    if (setjmp(png_jmpbuf(in->png)))
        return -1;
    png_init_io(in->png, in->f);
    png_read_info(in->png, in->info); /* libpng refuses > 1000000 a side */
    w = png_get_image_width(in->png, in->info);
    h = png_get_image_height(in->png, in->info);
    png_byte color = png_get_color_type(in->png, in->info);
    png_byte depth = png_get_bit_depth(in->png, in->info);

    /* Bytes of decoded pixels in the file's own format, rounded up to
     * whole bytes a pixel: what libpng inflates and converts. */
    raw = (uint64_t)w * h * png_get_channels(in->png, in->info) *
          (depth > 8 ? 2u : 1u);
    if (w > OFFPAY_QR_MAX_DIM || h > OFFPAY_QR_MAX_DIM ||
        raw > OFFPAY_QR_SCAN_MAX_RAW)
        return -2;

    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(in->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(in->png);
    if (png_get_valid(in->png, in->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(in->png);
    if (depth == 16)
        png_set_scale_16(in->png);
    if (color & PNG_COLOR_MASK_COLOR)
        png_set_rgb_to_gray(in->png, PNG_ERROR_ACTION_NONE, -1, -1);
    png_set_interlace_handling(in->png);
    png_read_update_info(in->png, in->info);

    in->width = png_get_image_width(in->png, in->info);
    in->height = png_get_image_height(in->png, in->info);
    in->channels = png_get_channels(in->png, in->info);
    if (png_get_bit_depth(in->png, in->info) != 8 ||
        (in->channels != 1 && in->channels != 2) ||
        png_get_rowbytes(in->png, in->info) !=
            (size_t)in->width * (size_t)in->channels)
        return -1; /* a combination the transforms above did not cover */
    return 0;
}

/* Phase 2: the pixels, then the chunks after them (a file cut after the
 * image data is still truncated). Returns 0 or -1. */
static int read_pixels(png_in *in)
{
    if (setjmp(png_jmpbuf(in->png)))
        return -1;
    png_read_image(in->png, in->rows);
    png_read_end(in->png, NULL);
    return 0;
}

/* Folds grey + alpha into grey, compositing over white, in place. */
static void composite_on_white(uint8_t *pix, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned g = pix[2 * i], a = pix[2 * i + 1];
        pix[i] = (uint8_t)((g * a + 255u * (255u - a) + 127u) / 255u);
    }
}

offpay_err offpay_qr_scan_file(const char *path, char **text)
{
    png_in      in = {0};
    struct stat st;
    size_t      row_bytes;
    int         hr;
    offpay_err  rc;

    if (text == NULL)
        return OFFPAY_EINVAL;
    *text = NULL;
    if (path == NULL)
        return OFFPAY_EINVAL;
    in.f = fopen(path, "rb");
    if (in.f == NULL)
        return offpay__errno_err(errno);
    if (fstat(fileno(in.f), &st) != 0) {
        rc = offpay__errno_err(errno);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = OFFPAY_EISDIR; /* fopen opens a directory; reads fail */
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > OFFPAY_QR_SCAN_MAX_BYTES) {
        rc = OFFPAY_EIMAGE_TOO_LARGE;
        goto out;
    }
    in.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL,
                                    png_error_quiet, png_warning_quiet);
    if (in.png == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    in.info = png_create_info_struct(in.png);
    if (in.info == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    hr = read_header(&in);
    if (hr != 0) {
        rc = hr == -2 ? OFFPAY_EIMAGE_TOO_LARGE : OFFPAY_EIMAGE;
        goto out;
    }
    /* Bounded by read_header: at most 2 * OFFPAY_QR_SCAN_MAX_RAW bytes. */
    row_bytes = (size_t)in.width * (size_t)in.channels;
    in.pix = malloc(row_bytes * in.height);
    in.rows = malloc(sizeof *in.rows * in.height);
    if (in.pix == NULL || in.rows == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    for (uint32_t y = 0; y < in.height; y++)
        in.rows[y] = in.pix + (size_t)y * row_bytes;
    if (read_pixels(&in) != 0) {
        rc = OFFPAY_EIMAGE;
        goto out;
    }
    if (in.channels == 2)
        composite_on_white(in.pix, (size_t)in.width * in.height);
    rc = offpay_qr_scan_gray(in.pix, (int)in.width, (int)in.height,
                             (int)in.width, text);
out:
    if (in.png != NULL)
        png_destroy_read_struct(&in.png, in.info ? &in.info : NULL, NULL);
    free(in.rows);
    free(in.pix);
    fclose(in.f);
    return rc;
}
