/*
 * offpay/qr.h — QR codes: render text as PNG, SVG or terminal art, and scan
 * text back out of an image.
 *
 * Rendering uses libqrencode at error-correction level M with automatic mode
 * selection (case-sensitive): text made only of the 45 QR alphanumeric
 * characters, as "OPPY:" + Base45 is, is packed in alphanumeric mode (5.5 bits
 * a character), so a 305-character payment code fits in version 10 (57x57).
 * Scanning uses ZXing-C++ restricted to QR codes.
 *
 * Text is a NUL-terminated string; it is encoded byte for byte (no ECI). A
 * scanned code is returned as UTF-8, which for offpay's ASCII codes is the
 * exact text that was rendered.
 *
 * Strings returned through `char **` are malloc'd and NUL-terminated: free()
 * them. Every such output is set to NULL on entry and stays NULL on error.
 *
 * Files are written atomically: to "<path>.tmp", flushed and fsync'd, then
 * renamed over path, so a reader never sees a half-written image; on error
 * the temporary file is removed and path is untouched.
 *
 * Limits: images read or written are at most OFFPAY_QR_MAX_DIM pixels on a
 * side. A PNG file scanned is at most OFFPAY_QR_SCAN_MAX_BYTES long and
 * decodes to at most OFFPAY_QR_SCAN_MAX_RAW bytes (checked on its header,
 * before any pixel is inflated).
 *
 * Scanning does bounded work, whatever the image: a decoder's search for
 * finder patterns costs the cube of the patterns it meets, so an image tiled
 * with small codes could otherwise pin a CPU for minutes. The scanner
 * binarizes the image itself, counts what could be finder patterns, and runs
 * ZXing only on levels (the image, then halved) where they are few; it
 * starts no new pass once it has used OFFPAY_QR_SCAN_BUDGET_MS of CPU time. A scan that
 * stops for either reason before finding a code fails with
 * OFFPAY_EIMAGE_DEADLINE. On the reference machine any image accepted is
 * decoded or refused within 250 ms (docs/benchmarks.md).
 *
 * Thread safety: every function is safe to call from several threads at once
 * on different arguments (libqrencode is built with pthread support; libpng
 * and ZXing keep no global state).
 */
#ifndef OFFPAY_QR_H
#define OFFPAY_QR_H

#include <stdint.h>

#include "offpay/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest width or height, in pixels, of an image read or written here. */
#define OFFPAY_QR_MAX_DIM 8192

/* Largest PNG file offpay_qr_scan_file() reads, in bytes (16 MiB). */
#define OFFPAY_QR_SCAN_MAX_BYTES (16L * 1024 * 1024)

/* Largest decoded size of a PNG offpay_qr_scan_file() reads: width x height
 * x bytes a pixel in the file's own format (1 for 8-bit grey, 3 for RGB, 8
 * for 16-bit RGBA...), 8 MiB: a 3840x2160 grey frame or a 1920x1080 RGBA
 * screenshot. Inflating and converting more would by itself overrun the
 * scan's time budget on the reference machine (about 10 ms a MiB). */
#define OFFPAY_QR_SCAN_MAX_RAW (8L * 1024 * 1024)

/* After this many milliseconds of the calling thread's CPU time a scan
 * starts no new level or decoding pass. One level or pass already started
 * runs to its end (each is bounded: at most 4096 pixels a side and at most
 * a few hundred finder-pattern candidates), so a scan takes at most about
 * 1.5 times this; reading the PNG comes on top. */
#define OFFPAY_QR_SCAN_BUDGET_MS 100

/* Quiet zone, in modules, of offpay_qr_render_utf8(). */
#define OFFPAY_QR_UTF8_MARGIN 2

/*
 * offpay_qr_version — the QR version (1..40) libqrencode picks for text at
 * level M, i.e. the size of the symbol: 17 + 4 * version modules a side.
 * Errors: OFFPAY_EINVAL (NULL argument, empty text), OFFPAY_EQRENCODE (text
 * too long for a version-40 code), OFFPAY_ENOMEM.
 */
offpay_err offpay_qr_version(const char *text, int *version);

/*
 * offpay_qr_write_png — render text as an 8-bit grayscale PNG at path: black
 * modules on white, scale pixels per module (>= 1), with a quiet zone of
 * margin modules (>= 0; 4 is the standard). The image is
 * (modules + 2 * margin) * scale pixels a side.
 * Errors: OFFPAY_EINVAL (NULL or empty argument, scale < 1, margin < 0, or an
 * image larger than OFFPAY_QR_MAX_DIM), OFFPAY_EQRENCODE (text too long),
 * OFFPAY_ENOMEM, OFFPAY_EIMAGE (any failure to create, write, sync or rename
 * the file, or any libpng error).
 */
offpay_err offpay_qr_write_png(const char *text, const char *path, int scale,
                               int margin);

/*
 * offpay_qr_write_svg — render text as an SVG document at path: one module is
 * one user unit (the viewBox is modules + 2 * margin wide), black modules on
 * a white background, crisp edges; scale it freely. margin >= 0 modules.
 * Errors: OFFPAY_EINVAL (NULL or empty argument, margin < 0 or above
 * OFFPAY_QR_MAX_DIM), OFFPAY_EQRENCODE, OFFPAY_ENOMEM, OFFPAY_EIMAGE (any
 * failure to create, write, sync or rename the file).
 */
offpay_err offpay_qr_write_svg(const char *text, const char *path, int margin);

/*
 * offpay_qr_render_utf8 — draw text as a QR code for a terminal, the way
 * "qrencode -t UTF8" does: each character cell holds two module rows using
 * U+2588 FULL BLOCK, U+2580 UPPER HALF, U+2584 LOWER HALF and space, and the
 * LIGHT modules are the ones drawn as blocks (in the terminal's foreground
 * colour) while dark modules are left as background. This is the right
 * polarity for the usual light-text-on-dark terminal. On a dark-on-light
 * terminal the code shows inverted: offpay_qr_scan_gray() and many phone
 * scanners still read it, but not every scanner does, so print it on a dark
 * background. A quiet zone of OFFPAY_QR_UTF8_MARGIN modules surrounds the code;
 * rows below the last one count as light. The result has
 * (n + 1) / 2 lines, n = modules + 2 * OFFPAY_QR_UTF8_MARGIN, each n
 * characters wide and ended by '\n'.
 * *out is malloc'd, NUL-terminated UTF-8; free() it.
 * Errors: OFFPAY_EINVAL, OFFPAY_EQRENCODE, OFFPAY_ENOMEM.
 */
offpay_err offpay_qr_render_utf8(const char *text, char **out);

/*
 * offpay_qr_scan_file — read the PNG at path (any colour type and bit depth:
 * grey, RGB, palette, with or without alpha, 1 to 16 bits, interlaced or not;
 * transparent pixels are composited over white), convert it to 8-bit grey and
 * decode the QR code in it as offpay_qr_scan_gray() does.
 * *text is malloc'd, NUL-terminated; free() it.
 * Errors: OFFPAY_EINVAL (NULL argument), the reason the file cannot be
 * opened (OFFPAY_ENOENT: missing; OFFPAY_EACCES, OFFPAY_ENOTDIR,
 * OFFPAY_EISDIR: a directory; else OFFPAY_EIO), OFFPAY_EIMAGE_TOO_LARGE (a
 * file longer than OFFPAY_QR_SCAN_MAX_BYTES, an image above
 * OFFPAY_QR_MAX_DIM on a side or decoding to more than
 * OFFPAY_QR_SCAN_MAX_RAW bytes), OFFPAY_EIMAGE (the file is open but is not
 * a readable PNG: wrong signature, truncated, corrupt), OFFPAY_ENOMEM,
 * OFFPAY_ESCAN (no QR code), OFFPAY_ESCAN_SEVERAL, OFFPAY_EIMAGE_DEADLINE
 * (as for offpay_qr_scan_gray).
 */
offpay_err offpay_qr_scan_file(const char *path, char **text);

/*
 * offpay_qr_scan_gray — decode the QR code in an 8-bit greyscale image:
 * pixels[y * stride + x] for 0 <= x < width, 0 <= y < height (stride >=
 * width, in bytes). The buffer is only read, and only during the call. It
 * copes with camera frames: uneven lighting, noise, any rotation, mild
 * perspective. Light-on-dark (inverted) codes are read by a second pass
 * (since 0.26.0 run also after the first read a code, to see a second code
 * in the picture; before, only when the first found nothing). An image
 * longer than 4096 pixels
 * on a side is first box-downscaled by a whole factor to fit 4096 (so its
 * modules should be at least ~2 pixels for each unit of that factor).
 * Specks one pixel wide are removed before the search (so are modules one
 * pixel wide: render at 2 pixels a module or more), and areas with less
 * than 40 grey levels of contrast read as background. If the image
 * holds several QR codes, the one whose text begins with an offpay prefix
 * ("OP??:", protocol.md §4) is returned, and another kind's (a poster's
 * web address) is passed over; two different offpay texts read at the
 * same scale, by either pass (a code beside one shown light-on-dark too),
 * are OFFPAY_ESCAN_SEVERAL (since 0.26.0; one of them was returned
 * before), and with none, one of the foreign ones is returned. So the
 * inverted pass also runs after the first read a code, when the image
 * has shapes it could read.
 * Work is bounded (see the top of this file); the call allocates about 2.1
 * bytes a pixel of the (downscaled) image.
 * *text is malloc'd, NUL-terminated UTF-8; free() it.
 * Errors: OFFPAY_EINVAL (NULL argument, width or height < 1 or above
 * OFFPAY_QR_MAX_DIM, stride < width or stride * height above INT_MAX),
 * OFFPAY_ENOMEM, OFFPAY_ESCAN (no readable QR code, or its text holds a NUL
 * byte), OFFPAY_ESCAN_SEVERAL (two different offpay codes in the image),
 * OFFPAY_EIMAGE_DEADLINE (no code found, and the image held too many
 * finder-pattern-like shapes to search them all, or the time budget ran
 * out).
 */
offpay_err offpay_qr_scan_gray(const uint8_t *pixels, int width, int height,
                               int stride, char **text);

#ifdef __cplusplus
}
#endif
#endif /* OFFPAY_QR_H */
