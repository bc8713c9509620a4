/*
 * test_qr.c — unit tests of the qr module: render (PNG, SVG, UTF-8) and scan
 * (PNG files of every colour type, grey buffers, noisy camera-like frames),
 * and how both fail.
 */
#define _POSIX_C_SOURCE 200809L /* access() */

#include "../../bench/frame.c" /* offpay_bench_noisy_frame, shared with bench */

#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "qr/scan_int.h"

#define FRAME_W 640
#define FRAME_H 480

static const char b45_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/* "OPPY:" + n pseudo-random Base45 characters (n + 6 bytes in buf). */
static void make_b45_text(char *buf, size_t n, uint32_t seed)
{
    memcpy(buf, "OPPY:", 5);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[5 + i] = b45_alphabet[(seed >> 16) % 45u];
    }
    buf[5 + n] = '\0';
}

/* A realistic payment code: 305 characters in all. */
static void make_code_text(char text[306], uint32_t seed)
{
    make_b45_text(text, 300, seed);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", offpay_test_tmpdir(), name);
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Writes bytes to path; 0 on success. */
static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int   ok;

    if (f == NULL)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Writes an 8-bit grey buffer as a PNG through libpng's simplified API
 * (independent of the code under test). 0 on success. */
static int write_gray_png(const char *path, const uint8_t *px, int w, int h)
{
    png_image img;

    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_GRAY;
    return png_image_write_to_file(&img, path, 0, px, 0, NULL) ? 0 : -1;
}

/* Reads any PNG as 8-bit grey through the simplified API; malloc'd. */
static uint8_t *read_gray_png(const char *path, int *w, int *h)
{
    png_image img;
    uint8_t  *px;

    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return NULL;
    img.format = PNG_FORMAT_GRAY;
    px = malloc(PNG_IMAGE_SIZE(img));
    if (px == NULL || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        png_image_free(&img);
        free(px);
        return NULL;
    }
    *w = (int)img.width;
    *h = (int)img.height;
    return px;
}

static void check_png_round_trip(const char *text, const char *name)
{
    char  path[512], tmp[520];
    char *got = NULL;

    tmp_path(path, sizeof path, name);
    REQUIRE_OK(offpay_qr_write_png(text, path, 4, 4));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp)); /* renamed into place */
    REQUIRE_OK(offpay_qr_scan_file(path, &got));
    REQUIRE(got != NULL);
    CHECK(strcmp(got, text) == 0);
    free(got);
}

static void test_png_round_trip_short(void)
{
    check_png_round_trip("offpay: lower-case, UTF-8 \xc3\xa9 & 123",
                         "short.png");
    check_png_round_trip("A", "one.png");
}

static void test_png_round_trip_code(void)
{
    char text[306];

    for (uint32_t seed = 1; seed <= 3; seed++) {
        make_code_text(text, seed);
        REQUIRE(strlen(text) == 305);
        check_png_round_trip(text, "code.png");
    }
}

static void test_png_geometry(void)
{
    char     path[512];
    uint8_t *px;
    int      w = 0, h = 0, version = 0, modules;

    tmp_path(path, sizeof path, "geom.png");
    REQUIRE_OK(offpay_qr_version("HELLO", &version));
    CHECK(version == 1);
    modules = 17 + 4 * version;
    REQUIRE_OK(offpay_qr_write_png("HELLO", path, 3, 4));
    px = read_gray_png(path, &w, &h);
    REQUIRE(px != NULL);
    CHECK(w == (modules + 8) * 3 && h == w);
    CHECK(px[0] == 255);                                 /* quiet zone */
    CHECK(px[(size_t)(4 * 3) * (size_t)w + 4 * 3] == 0); /* finder corner */
    for (int i = 0; i < w * h; i++)
        if (px[i] != 0 && px[i] != 255) {
            CHECK(0 && "pixel neither black nor white");
            break;
        }
    free(px);
}

static void test_version(void)
{
    char text[306];
    int  version = -1;

    make_code_text(text, 42);
    REQUIRE_OK(offpay_qr_version(text, &version));
    CHECK(version >= 1 && version <= 10);
    /* 305 alphanumeric characters need 10-M (capacity 311); lower-case
     * forces byte mode and a bigger symbol. */
    CHECK(version == 10);
    text[7] = 'a';
    REQUIRE_OK(offpay_qr_version(text, &version));
    CHECK(version > 10);
}

static void test_svg(void)
{
    char   path[512];
    char  *svg;
    size_t len = 0;

    tmp_path(path, sizeof path, "code.svg");
    REQUIRE_OK(offpay_qr_write_svg("OPPY:SVG TEST", path, 4));
    svg = offpay_test_read_file(path, &len);
    REQUIRE(svg != NULL);
    CHECK(strstr(svg, "<svg") != NULL);
    CHECK(strstr(svg, "viewBox=\"0 0 29 29\"") != NULL); /* 21 + 2 * 4 */
    CHECK(strstr(svg, "M4 4h7v1h-7z") != NULL);          /* finder's top edge */
    CHECK(len > 4 && strcmp(svg + len - 7, "</svg>\n") == 0);
    free(svg);
}

/* Decodes the UTF-8 art back into pixels, as a terminal shows it, and scans
 * it: on a dark background blocks are light and blanks and surroundings
 * dark; on a light background (light_theme) everything is the other way. */
static void check_utf8_scans(const char *art, int n, const char *text,
                             int light_theme)
{
    const int            px_mod = 4, pad = 8; /* terminal around the art */
    int                  w = n * px_mod + 2 * pad, lines = (n + 1) / 2;
    int                  h = 2 * lines * px_mod + 2 * pad;
    uint8_t             *img = malloc((size_t)w * (size_t)h);
    char                *got = NULL;
    const unsigned char *p = (const unsigned char *)art;

    REQUIRE(img != NULL);
    memset(img, light_theme ? 255 : 0, (size_t)w * (size_t)h);
    for (int l = 0; l < lines; l++) {
        for (int x = 0; x < n; x++) {
            int top, bot;
            if (p[0] == ' ') {
                top = bot = 0;
                p += 1;
            } else {
                CHECK(p[0] == 0xe2 && p[1] == 0x96);
                top = p[2] == 0x88 || p[2] == 0x80;
                bot = p[2] == 0x88 || p[2] == 0x84;
                p += 3;
            }
            for (int dy = 0; dy < 2 * px_mod; dy++)
                for (int dx = 0; dx < px_mod; dx++) {
                    int light = (dy < px_mod ? top : bot) != light_theme;
                    img[(size_t)(pad + (2 * l) * px_mod + dy) * (size_t)w +
                        (size_t)(pad + x * px_mod + dx)] =
                        (uint8_t)(light ? 255 : 0);
                }
        }
        CHECK(*p == '\n');
        p++;
    }
    CHECK(*p == '\0');
    CHECK_ERR(offpay_qr_scan_gray(img, w, h, w, &got), OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, text) == 0);
    free(got);
    free(img);
}

static void test_utf8(void)
{
    char  text[306];
    char *art = NULL;
    int   version = 0, n, newlines = 0;

    make_code_text(text, 7);
    REQUIRE_OK(offpay_qr_version(text, &version));
    REQUIRE_OK(offpay_qr_render_utf8(text, &art));
    REQUIRE(art != NULL);
    n = 17 + 4 * version + 2 * OFFPAY_QR_UTF8_MARGIN;
    for (const char *c = art; *c; c++)
        newlines += *c == '\n';
    CHECK(newlines == (n + 1) / 2); /* 57 + 4 = 61 rows -> 31 lines */
    CHECK(newlines == 31);
    /* First line is all quiet zone: n full blocks. */
    CHECK(strncmp(art, "\xe2\x96\x88\xe2\x96\x88", 6) == 0);
    check_utf8_scans(art, n, text, 0);
    check_utf8_scans(art, n, text, 1); /* inverted, read by the 2nd pass */
    free(art);

    CHECK_ERR(offpay_qr_render_utf8("x", &art), OFFPAY_OK);
    free(art);
}

static void test_noisy_frame(void)
{
    static const double angles[] = {5.0, -5.0, 12.0, 30.0};
    uint8_t            *frame = malloc(FRAME_W * FRAME_H);
    char                text[306];

    REQUIRE(frame != NULL);
    for (unsigned seed = 1; seed <= 4; seed++) {
        char *got = NULL;
        make_code_text(text, seed);
        REQUIRE(offpay_bench_noisy_frame(text, frame, FRAME_W, FRAME_H,
                                         angles[seed - 1], seed) == 0);
        CHECK_ERR(offpay_qr_scan_gray(frame, FRAME_W, FRAME_H, FRAME_W, &got),
                  OFFPAY_OK);
        if (got == NULL || strcmp(got, text) != 0)
            fprintf(stderr, "noisy frame seed %u angle %g not decoded\n", seed,
                    angles[seed - 1]);
        CHECK(got != NULL && strcmp(got, text) == 0);
        free(got);
    }
    free(frame);
}

/* A light-on-dark code (dark-mode screen) is read by the inverted pass. */
static void test_inverted_frame(void)
{
    uint8_t *frame = malloc(FRAME_W * FRAME_H);
    char     text[306];
    char    *got = NULL;

    REQUIRE(frame != NULL);
    make_code_text(text, 17);
    if (offpay_bench_noisy_frame(text, frame, FRAME_W, FRAME_H, -8.0, 17) !=
        0) {
        free(frame);
        REQUIRE(0 && "cannot make the frame");
    }
    for (int i = 0; i < FRAME_W * FRAME_H; i++)
        frame[i] = (uint8_t)(255 - frame[i]);
    CHECK_ERR(offpay_qr_scan_gray(frame, FRAME_W, FRAME_H, FRAME_W, &got),
              OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, text) == 0);
    free(got);
    free(frame);
}

/* A stride wider than the image: only width bytes of each row count. */
static void test_scan_stride(void)
{
    const int stride = FRAME_W + 37;
    uint8_t  *frame = malloc(FRAME_W * FRAME_H);
    uint8_t  *wide = malloc((size_t)stride * FRAME_H);
    char      text[306];
    char     *got = NULL;

    if (frame == NULL || wide == NULL) {
        free(frame);
        free(wide);
        REQUIRE(0 && "out of memory");
    }
    make_code_text(text, 23);
    CHECK(offpay_bench_noisy_frame(text, frame, FRAME_W, FRAME_H, 3.0, 23) ==
          0);
    memset(wide, 0, (size_t)stride * FRAME_H); /* black padding */
    for (int y = 0; y < FRAME_H; y++)
        memcpy(wide + (size_t)y * (size_t)stride, frame + y * FRAME_W, FRAME_W);
    CHECK_ERR(offpay_qr_scan_gray(wide, FRAME_W, FRAME_H, stride, &got),
              OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, text) == 0);
    free(got);
    free(frame);
    free(wide);
}

static void test_noisy_frame_png(void)
{
    uint8_t *frame = malloc(FRAME_W * FRAME_H);
    char     text[306], path[512];
    char    *got = NULL;

    REQUIRE(frame != NULL);
    make_code_text(text, 99);
    tmp_path(path, sizeof path, "frame.png");
    if (offpay_bench_noisy_frame(text, frame, FRAME_W, FRAME_H, 5.0, 99) != 0 ||
        write_gray_png(path, frame, FRAME_W, FRAME_H) != 0) {
        free(frame);
        REQUIRE(0 && "cannot make the frame");
    }
    free(frame);
    REQUIRE_OK(offpay_qr_scan_file(path, &got));
    CHECK(strcmp(got, text) == 0);
    free(got);
}

static void test_frame_deterministic(void)
{
    uint8_t *a = malloc(FRAME_W * FRAME_H), *b = malloc(FRAME_W * FRAME_H);
    char     text[306];

    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        REQUIRE(0 && "out of memory");
    }
    make_code_text(text, 5);
    CHECK(offpay_bench_noisy_frame(text, a, FRAME_W, FRAME_H, 5.0, 3) == 0);
    CHECK(offpay_bench_noisy_frame(text, b, FRAME_W, FRAME_H, 5.0, 3) == 0);
    CHECK(memcmp(a, b, FRAME_W * FRAME_H) == 0);
    CHECK(offpay_bench_noisy_frame(text, b, FRAME_W, FRAME_H, 5.0, 4) == 0);
    CHECK(memcmp(a, b, FRAME_W * FRAME_H) != 0);
    CHECK(offpay_bench_noisy_frame(NULL, b, FRAME_W, FRAME_H, 5.0, 4) == -1);
    CHECK(offpay_bench_noisy_frame(text, b, 10, 10, 5.0, 4) == -1);
    free(a);
    free(b);
}

/* The same code saved in other PNG flavours must scan the same. */
static void test_png_color_types(void)
{
    const char *text = "OPPY:COLOUR TYPES 0123";
    char        src[512], path[512];
    uint8_t    *gray;
    int         w = 0, h = 0;
    size_t      n;

    tmp_path(src, sizeof src, "flavour-src.png");
    REQUIRE_OK(offpay_qr_write_png(text, src, 3, 4));
    gray = read_gray_png(src, &w, &h);
    REQUIRE(gray != NULL);
    n = (size_t)w * (size_t)h;

    for (int kind = 0; kind < 5; kind++) {
        png_image img;
        void     *buf = NULL;
        char     *got = NULL;
        uint8_t   cmap[2 * 3] = {10, 20, 30, 250, 240, 230};
        int       ok = 0;

        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        img.width = (png_uint_32)w;
        img.height = (png_uint_32)h;
        switch (kind) {
        case 0: { /* RGB, tinted */
            uint8_t *p = buf = malloc(n * 3);
            img.format = PNG_FORMAT_RGB;
            for (size_t i = 0; p && i < n; i++) {
                p[3 * i] = gray[i] ? 240 : 30;
                p[3 * i + 1] = gray[i] ? 230 : 0;
                p[3 * i + 2] = gray[i] ? 200 : 60;
            }
            break;
        }
        case 1: { /* RGBA, light modules fully transparent black */
            uint8_t *p = buf = malloc(n * 4);
            img.format = PNG_FORMAT_RGBA;
            for (size_t i = 0; p && i < n; i++) {
                p[4 * i] = p[4 * i + 1] = p[4 * i + 2] = 0;
                p[4 * i + 3] = gray[i] ? 0 : 255;
            }
            break;
        }
        case 2: { /* 16-bit grey */
            uint16_t *p = buf = malloc(n * 2);
            img.format = PNG_FORMAT_LINEAR_Y;
            for (size_t i = 0; p && i < n; i++)
                p[i] = gray[i] ? 65535 : 0;
            break;
        }
        case 3: { /* palette of two colours (1-bit indices) */
            uint8_t *p = buf = malloc(n);
            img.format = PNG_FORMAT_RGB_COLORMAP;
            img.colormap_entries = 2;
            for (size_t i = 0; p && i < n; i++)
                p[i] = gray[i] ? 1 : 0;
            break;
        }
        default: { /* grey + alpha, half-transparent ink */
            uint8_t *p = buf = malloc(n * 2);
            img.format = PNG_FORMAT_GA;
            for (size_t i = 0; p && i < n; i++) {
                p[2 * i] = 0;
                p[2 * i + 1] = gray[i] ? 0 : 200;
            }
            break;
        }
        }
        snprintf(path, sizeof path, "%s/flavour-%d.png", offpay_test_tmpdir(),
                 kind);
        if (buf != NULL)
            ok = png_image_write_to_file(&img, path, 0, buf, 0,
                                         kind == 3 ? cmap : NULL);
        free(buf);
        CHECK(ok);
        if (!ok)
            continue;
        CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_OK);
        if (got == NULL || strcmp(got, text) != 0)
            fprintf(stderr, "PNG flavour %d not decoded\n", kind);
        CHECK(got != NULL && strcmp(got, text) == 0);
        free(got);
    }
    free(gray);
}

/* Writes a black-and-white image (px: 0 or 255) as a grey PNG of bit_depth
 * 1, 2, 4 or 8, optionally Adam7-interlaced, with libpng's classic API (the
 * simplified API can do neither). 0 on success. */
static int write_classic_png(const char *path, const uint8_t *px, int w, int h,
                             int bit_depth, int interlace)
{
    FILE       *f = fopen(path, "wb");
    png_structp png = NULL;
    png_infop   info = NULL;
    uint8_t    *rows = malloc((size_t)w * (size_t)h);
    png_bytep  *rowp = malloc(sizeof *rowp * (size_t)h);
    uint8_t     light = (uint8_t)((1 << bit_depth) - 1);
    int         rc = -1;

    if (f == NULL || rows == NULL || rowp == NULL)
        goto out;
    for (int i = 0; i < w * h; i++)
        rows[i] = px[i] ? light : 0;
    for (int y = 0; y < h; y++)
        rowp[y] = rows + (size_t)y * (size_t)w;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (png == NULL)
        goto out;
    info = png_create_info_struct(png);
    if (info == NULL || setjmp(png_jmpbuf(png)))
        goto out; /* png and info are never reassigned after setjmp, and rc
                   * only after the last call that can jump */
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth,
                 PNG_COLOR_TYPE_GRAY,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (bit_depth < 8)
        png_set_packing(png);
    png_write_image(png, rowp);
    png_write_end(png, info);
    rc = 0;
out:
    if (png != NULL)
        png_destroy_write_struct(&png, info ? &info : NULL);
    free(rowp);
    free(rows);
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    return rc;
}

static void test_png_classic_gray(void)
{
    static const int variants[][2] = {{1, 0}, {2, 1}, {4, 0}, {8, 1}};
    const char      *text = "OPPY:LOW BIT DEPTHS AND ADAM7";
    char             src[512], path[512];
    uint8_t         *gray;
    int              w = 0, h = 0;

    tmp_path(src, sizeof src, "classic-src.png");
    REQUIRE_OK(offpay_qr_write_png(text, src, 2, 4));
    gray = read_gray_png(src, &w, &h);
    REQUIRE(gray != NULL);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char *got = NULL;
        snprintf(path, sizeof path, "%s/classic-%zu.png", offpay_test_tmpdir(),
                 v);
        CHECK(write_classic_png(path, gray, w, h, variants[v][0],
                                variants[v][1]) == 0);
        CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_OK);
        CHECK(got != NULL && strcmp(got, text) == 0);
        free(got);
    }
    free(gray);
}

static void test_scan_no_code(void)
{
    uint8_t *px = malloc(200 * 150);
    char     path[512];
    char    *got = (char *)1;

    REQUIRE(px != NULL);
    for (int i = 0; i < 200 * 150; i++)
        px[i] = (uint8_t)(i % 200 + (i / 200) / 2); /* a plain gradient */
    tmp_path(path, sizeof path, "blank.png");
    CHECK(write_gray_png(path, px, 200, 150) == 0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_ESCAN);
    CHECK(got == NULL);
    got = (char *)1;
    CHECK_ERR(offpay_qr_scan_gray(px, 200, 150, 200, &got), OFFPAY_ESCAN);
    CHECK(got == NULL);
    free(px);
}

static void test_scan_not_png(void)
{
    static const char junk[] = "this is not a PNG file, just some text\n";
    char              path[512];
    char             *got = (char *)1;

    tmp_path(path, sizeof path, "junk.png");
    REQUIRE(write_bytes(path, junk, sizeof junk - 1) == 0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE);
    CHECK(got == NULL);
    tmp_path(path, sizeof path, "empty.png");
    REQUIRE(write_bytes(path, "", 0) == 0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE);
    /* A directory opens but does not read: named, not an image error. */
    CHECK_ERR(offpay_qr_scan_file(offpay_test_tmpdir(), &got), OFFPAY_EISDIR);
}

/* A file that cannot be opened is named by its reason, not an image error. */
static void test_scan_missing(void)
{
    char  path[512];
    char *got = (char *)1;

    tmp_path(path, sizeof path, "does-not-exist.png");
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_ENOENT);
    CHECK(got == NULL);
}

/* Every proper prefix of a valid PNG (IEND included) is rejected cleanly. */
static void test_scan_truncated(void)
{
    char   path[512], cut[512];
    char  *png, *got = NULL;
    size_t len = 0;

    tmp_path(path, sizeof path, "whole.png");
    tmp_path(cut, sizeof cut, "cut.png");
    REQUIRE_OK(offpay_qr_write_png("OPPY:TRUNCATED", path, 2, 4));
    png = offpay_test_read_file(path, &len);
    REQUIRE(png != NULL && len > 60);
    for (size_t n = 0; n < len; n++) {
        offpay_err rc;
        if (write_bytes(cut, png, n) != 0) {
            CHECK(0 && "cannot write the cut file");
            break;
        }
        rc = offpay_qr_scan_file(cut, &got);
        if (rc != OFFPAY_EIMAGE)
            fprintf(stderr, "prefix of %zu/%zu bytes: %s\n", n, len,
                    offpay_errname(rc));
        CHECK(rc == OFFPAY_EIMAGE);
        CHECK(got == NULL);
        free(got);
        got = NULL;
    }
    /* A flipped bit inside the image data fails its CRC. */
    png[len / 2] ^= 0x10;
    REQUIRE(write_bytes(cut, png, len) == 0);
    CHECK_ERR(offpay_qr_scan_file(cut, &got), OFFPAY_EIMAGE);
    free(png);
}

/* Writes a w x h PNG of the given simplified-API format, every byte of its
 * pixels zero (compresses to almost nothing). 0 on success. */
static int write_blank_png(const char *path, int w, int h, png_uint_32 format)
{
    png_image img;
    void     *px;
    int       ok;

    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = format;
    px = calloc(PNG_IMAGE_SIZE(img), 1);
    if (px == NULL)
        return -1;
    ok = png_image_write_to_file(&img, path, 0, px, 0, NULL);
    free(px);
    return ok ? 0 : -1;
}

/* Images over the caps are refused on their header or size, before any
 * pixel is inflated, with the specific error. */
static void test_scan_too_big(void)
{
    char       path[512];
    char      *got = NULL;
    FILE      *f;
    offpay_err rc;

    /* More than OFFPAY_QR_MAX_DIM on a side. */
    tmp_path(path, sizeof path, "wide.png");
    REQUIRE(write_blank_png(path, OFFPAY_QR_MAX_DIM + 1, 1, PNG_FORMAT_GRAY) ==
            0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE_TOO_LARGE);
    CHECK(got == NULL);
    /* 8192 x 8192 grey: within the side limit, 64 MiB decoded. */
    tmp_path(path, sizeof path, "square.png");
    REQUIRE(write_blank_png(path, 8192, 8192, PNG_FORMAT_GRAY) == 0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE_TOO_LARGE);
    /* 1100 x 1000 16-bit RGBA: 8.8 MB decoded, over the cap. */
    tmp_path(path, sizeof path, "deep.png");
    REQUIRE(write_blank_png(path, 1100, 1000, PNG_FORMAT_LINEAR_RGB_ALPHA) ==
            0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE_TOO_LARGE);
    /* Exactly at the cap (4096 x 2048 grey, 8 MiB) is read, and holds no
     * code (in an unoptimized sanitizer build, reading and searching it can
     * take longer than the scan's CPU budget: the deadline error then). */
    tmp_path(path, sizeof path, "at-cap.png");
    REQUIRE(write_blank_png(path, 4096, 2048, PNG_FORMAT_GRAY) == 0);
    rc = offpay_qr_scan_file(path, &got);
    CHECK(rc == OFFPAY_ESCAN || rc == OFFPAY_EIMAGE_DEADLINE);
    /* A file longer than OFFPAY_QR_SCAN_MAX_BYTES, whatever it holds. */
    tmp_path(path, sizeof path, "long.png");
    f = fopen(path, "wb");
    REQUIRE(f != NULL);
    CHECK(fseek(f, OFFPAY_QR_SCAN_MAX_BYTES, SEEK_SET) == 0);
    CHECK(fputc(0, f) == 0);
    CHECK(fclose(f) == 0);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE_TOO_LARGE);
    CHECK(got == NULL);
}

/*
 * The hostile images of the security review: a grey frame tiled edge to
 * edge with small QR codes. Before the scan was bounded, 640x480 of them
 * took 30 s (1-pixel modules) or decoded one tile (2 and 3 pixels), and
 * 1920x1080 ran for minutes, all inside ZXing's finder-pattern search.
 * Now the scanner counts the candidates, refuses the passes that would
 * meet too many, and says so: OFFPAY_EIMAGE_DEADLINE. 1-pixel modules are
 * mostly lost with the one-pixel specks the scanner removes: no code, or
 * refused.
 */
static void test_hostile_tiles_refused(void)
{
    static const struct {
        int        w, h, module_px;
        offpay_err want;
    } cases[] = {
        {640, 480, 1, OFFPAY_ESCAN}, /* or OFFPAY_EIMAGE_DEADLINE */
        {640, 480, 2, OFFPAY_EIMAGE_DEADLINE},
        {640, 480, 3, OFFPAY_EIMAGE_DEADLINE},
        {640, 480, 4, OFFPAY_EIMAGE_DEADLINE},
        {1920, 1080, 2, OFFPAY_EIMAGE_DEADLINE},
        {1920, 1080, 3, OFFPAY_EIMAGE_DEADLINE},
    };
    uint8_t *px = malloc(1920 * 1080);

    REQUIRE(px != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        offpay__qr_scan_report rep;
        char                  *got = (char *)1;
        offpay_err             rc;

        REQUIRE(offpay_bench_tiled_frame(px, cases[i].w, cases[i].h,
                                         cases[i].module_px, 1, 1) == 0);
        rc = offpay__qr_scan_bounded(px, cases[i].w, cases[i].h, cases[i].w,
                                     (int64_t)OFFPAY_QR_SCAN_BUDGET_MS * 1000,
                                     &got, &rep);
        if (cases[i].want == OFFPAY_ESCAN && rc == OFFPAY_EIMAGE_DEADLINE)
            rc = OFFPAY_ESCAN; /* both mean: not a code, refused quickly */
        if (rc != cases[i].want)
            fprintf(stderr, "tiles %dx%d, %d px a module: %s\n", cases[i].w,
                    cases[i].h, cases[i].module_px, offpay_errname(rc));
        CHECK(rc == cases[i].want);
        CHECK(got == NULL);
        if (cases[i].want == OFFPAY_EIMAGE_DEADLINE)
            CHECK(rep.skipped > 0 &&
                  rep.max_candidates > OFFPAY__QR_CANDIDATES_MAX);
        free(got);
    }
    free(px);
}

/* Scans a picture of two QR codes side by side, each written as a PNG by
 * liboffpay, at 4 pixels a module, on a white canvas; the grey buffer and
 * the PNG of it both. Returns the gray buffer's error and sets *got. */
static offpay_err scan_two_as(const char *left, const char *right,
                              int invert_right, char **got)
{
    const char *texts[2] = {left, right};
    uint8_t    *part[2] = {NULL, NULL}, *canvas = NULL;
    int         pw[2] = {0, 0}, ph[2] = {0, 0}, w, h;
    char        path[512], *from_file = NULL;
    offpay_err  rc = OFFPAY_EINVAL, file_rc;

    *got = NULL;
    for (int i = 0; i < 2; i++) {
        tmp_path(path, sizeof path, i == 0 ? "left.png" : "right.png");
        if (offpay_qr_write_png(texts[i], path, 4, 4) != OFFPAY_OK)
            goto out;
        part[i] = read_gray_png(path, &pw[i], &ph[i]);
        if (part[i] == NULL)
            goto out;
    }
    w = pw[0] + pw[1] + 40;
    h = (ph[0] > ph[1] ? ph[0] : ph[1]) + 40;
    canvas = malloc((size_t)w * (size_t)h);
    if (canvas == NULL)
        goto out;
    memset(canvas, 255, (size_t)w * (size_t)h);
    for (int i = 0; i < 2; i++)
        for (int y = 0; y < ph[i]; y++) {
            uint8_t *row = canvas + (size_t)(y + 20) * (size_t)w + 10 +
                           (i == 0 ? 0 : pw[0] + 20);

            memcpy(row, part[i] + (size_t)y * (size_t)pw[i], (size_t)pw[i]);
            for (int x = 0; i == 1 && invert_right && x < pw[i]; x++)
                row[x] = (uint8_t)(255 - row[x]); /* a dark-mode screen */
        }
    rc = offpay_qr_scan_gray(canvas, w, h, w, got);
    tmp_path(path, sizeof path, "two.png");
    CHECK(write_gray_png(path, canvas, w, h) == 0);
    file_rc = offpay_qr_scan_file(path, &from_file);
    CHECK(file_rc == rc);
    CHECK((from_file == NULL) == (*got == NULL));
    CHECK(from_file == NULL || strcmp(from_file, *got) == 0);
    free(from_file);
out:
    free(canvas);
    free(part[0]);
    free(part[1]);
    return rc;
}

static offpay_err scan_two(const char *left, const char *right, char **got)
{
    return scan_two_as(left, right, 0, got);
}

/* A picture is taken for one code. Two different offpay codes in it are
 * refused, whichever the scanner meets first: which one was meant is not
 * for it to guess. The same code twice is that code. An offpay code beside
 * another kind of QR code (a poster's web address) is the offpay code,
 * left or right; two foreign codes give one of them (the caller says it is
 * no offpay code). */
static void test_scan_several_codes(void)
{
    static const char web[] = "https://example.org/menu";
    char              a[306], b[306], *got = NULL;

    make_code_text(a, 41);
    make_code_text(b, 42);
    CHECK_ERR(scan_two(a, b, &got), OFFPAY_ESCAN_SEVERAL);
    CHECK(got == NULL);
    CHECK_ERR(scan_two(b, a, &got), OFFPAY_ESCAN_SEVERAL);
    CHECK(got == NULL);
    /* a payment code beside a request: two offpay texts all the same */
    CHECK_ERR(scan_two(a, "OPRQ:ABC", &got), OFFPAY_ESCAN_SEVERAL);
    CHECK(got == NULL);

    /* the second one shown light-on-dark (a dark-mode screen): read by
     * the other pass, and refused all the same */
    CHECK_ERR(scan_two_as(a, b, 1, &got), OFFPAY_ESCAN_SEVERAL);
    CHECK(got == NULL);
    CHECK_ERR(scan_two_as(web, b, 1, &got), OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, b) == 0);
    free(got);

    CHECK_ERR(scan_two(a, a, &got), OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, a) == 0);
    free(got);
    CHECK_ERR(scan_two(a, web, &got), OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, a) == 0);
    free(got);
    CHECK_ERR(scan_two(web, b, &got), OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, b) == 0);
    free(got);
    CHECK_ERR(scan_two(web, "OPPY is not a prefix", &got), OFFPAY_OK);
    CHECK(got != NULL &&
          (strcmp(got, web) == 0 || strcmp(got, "OPPY is not a prefix") == 0));
    free(got);
}

/* The same through a PNG file, as `offpay terminal accept --image` reads
 * it; the 1920x1080 image is the review's size (tens of KB). */
static void test_hostile_png_refused(void)
{
    uint8_t *px = malloc(1920 * 1080);
    char     path[512];
    char    *got = NULL;

    REQUIRE(px != NULL);
    tmp_path(path, sizeof path, "tiles.png");
    if (offpay_bench_tiled_frame(px, 1920, 1080, 4, 1, 7) != 0 ||
        write_gray_png(path, px, 1920, 1080) != 0) {
        free(px);
        REQUIRE(0 && "cannot make the image");
    }
    free(px);
    CHECK_ERR(offpay_qr_scan_file(path, &got), OFFPAY_EIMAGE_DEADLINE);
    CHECK(got == NULL);
}

/* Genuine camera frames, up to 4K, stay far below the candidate limit and
 * decode in the first pass at full resolution. (What is asserted is the
 * work, not the time: the budget here is 10 s so that an unoptimized
 * sanitizer build, ten times slower, proves the same.) */
static void test_genuine_frames_first_pass(void)
{
    static const int sizes[][2] = {{640, 480}, {1920, 1080}, {3840, 2160}};
    uint8_t         *frame = malloc(3840 * 2160);
    char             text[306];

    REQUIRE(frame != NULL);
    make_code_text(text, 31);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        offpay__qr_scan_report rep;
        char                  *got = NULL;
        int                    w = sizes[i][0], h = sizes[i][1];

        REQUIRE(offpay_bench_noisy_frame(text, frame, w, h, 7.0, 31) == 0);
        CHECK_ERR(offpay__qr_scan_bounded(frame, w, h, w, 10000000, &got, &rep),
                  OFFPAY_OK);
        CHECK(got != NULL && strcmp(got, text) == 0);
        /* the first pass reads it; the inverted one, when the frame has
         * light-centred look-alikes, looks for a second code (0.26.0) */
        CHECK(rep.levels == 1 && rep.passes >= 1 && rep.passes <= 2 &&
              rep.skipped == 0);
        CHECK(rep.max_candidates < OFFPAY__QR_CANDIDATES_MAX / 2);
        free(got);
    }
    free(frame);
}

/* No pass starts once the budget is spent: with none at all the scan stops
 * before the first, with the deadline error. */
static void test_scan_budget(void)
{
    uint8_t               *frame = malloc(FRAME_W * FRAME_H);
    char                   text[306];
    char                  *got = (char *)1;
    offpay__qr_scan_report rep;

    REQUIRE(frame != NULL);
    make_code_text(text, 41);
    CHECK(offpay_bench_noisy_frame(text, frame, FRAME_W, FRAME_H, 5.0, 41) ==
          0);
    CHECK_ERR(offpay__qr_scan_bounded(frame, FRAME_W, FRAME_H, FRAME_W, 0, &got,
                                      &rep),
              OFFPAY_EIMAGE_DEADLINE);
    CHECK(got == NULL && rep.passes == 0);
    CHECK_ERR(offpay__qr_scan_bounded(frame, FRAME_W, FRAME_H, FRAME_W, -1,
                                      &got, &rep),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay__qr_scan_bounded(frame, FRAME_W, FRAME_H, FRAME_W,
                                      (int64_t)OFFPAY_QR_SCAN_BUDGET_MS * 1000,
                                      &got, &rep),
              OFFPAY_OK);
    CHECK(got != NULL && strcmp(got, text) == 0);
    free(got);
    free(frame);
}

static void test_bad_arguments(void)
{
    char    path[512], tmp[520];
    char   *s = (char *)1;
    char   *big = malloc(8001);
    uint8_t px[64] = {0};
    int     v = 0;

    tmp_path(path, sizeof path, "bad.png");
    CHECK_ERR(offpay_qr_version(NULL, &v), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_version("", &v), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_version("A", NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_png("A", path, 0, 4), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_png("A", path, 1, -1), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_png("A", NULL, 1, 4), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_png("A", path, 400, 4), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_png("A", path, 1, 2000000000), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_svg("A", path, -1), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_write_svg("", path, 4), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_render_utf8("A", NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_render_utf8(NULL, &s), OFFPAY_EINVAL);
    CHECK(s == NULL);
    s = (char *)1;
    CHECK_ERR(offpay_qr_scan_file(NULL, &s), OFFPAY_EINVAL);
    CHECK(s == NULL);
    CHECK_ERR(offpay_qr_scan_file(path, NULL), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_scan_gray(NULL, 8, 8, 8, &s), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_scan_gray(px, 8, 8, 7, &s), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_scan_gray(px, 0, 8, 8, &s), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_scan_gray(px, 8, 8192, 1 << 20, &s), OFFPAY_EINVAL);
    CHECK_ERR(offpay_qr_scan_gray(px, 8, 8, 8, NULL), OFFPAY_EINVAL);
    CHECK(!file_exists(path));

    /* Too long for any QR code (alphanumeric capacity at 40-M is 3391). */
    REQUIRE(big != NULL);
    memset(big, 'A', 8000);
    big[8000] = '\0';
    CHECK_ERR(offpay_qr_version(big, &v), OFFPAY_EQRENCODE);
    CHECK_ERR(offpay_qr_write_png(big, path, 1, 4), OFFPAY_EQRENCODE);
    CHECK_ERR(offpay_qr_render_utf8(big, &s), OFFPAY_EQRENCODE);
    free(big);

    /* Unwritable destination: image error, nothing left behind. */
    snprintf(path, sizeof path, "%s/no-such-dir/x.png", offpay_test_tmpdir());
    CHECK_ERR(offpay_qr_write_png("A", path, 1, 4), OFFPAY_EIMAGE);
    CHECK_ERR(offpay_qr_write_svg("A", path, 4), OFFPAY_EIMAGE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp));
}

int main(void)
{
    static const offpay_test tests[] = {
        {"png_round_trip_short", test_png_round_trip_short},
        {"png_round_trip_code", test_png_round_trip_code},
        {"png_geometry", test_png_geometry},
        {"version", test_version},
        {"svg", test_svg},
        {"utf8", test_utf8},
        {"noisy_frame", test_noisy_frame},
        {"noisy_frame_png", test_noisy_frame_png},
        {"inverted_frame", test_inverted_frame},
        {"scan_stride", test_scan_stride},
        {"png_classic_gray", test_png_classic_gray},
        {"frame_deterministic", test_frame_deterministic},
        {"png_color_types", test_png_color_types},
        {"scan_no_code", test_scan_no_code},
        {"scan_several_codes", test_scan_several_codes},
        {"scan_not_png", test_scan_not_png},
        {"scan_missing", test_scan_missing},
        {"scan_truncated", test_scan_truncated},
        {"scan_too_big", test_scan_too_big},
        {"hostile_tiles_refused", test_hostile_tiles_refused},
        {"hostile_png_refused", test_hostile_png_refused},
        {"genuine_frames_first_pass", test_genuine_frames_first_pass},
        {"scan_budget", test_scan_budget},
        {"bad_arguments", test_bad_arguments},
        {NULL, NULL},
    };
    return offpay_test_main(tests);
}
