/*
 * zxing_shim.h — internal: the one C-linkage door into ZXing-C++
 * (zxing_shim.cpp), so that the rest of liboffpay stays C.
 */
#ifndef OFFPAY_QR_ZXING_SHIM_H
#define OFFPAY_QR_ZXING_SHIM_H

#include <stdint.h>

#include "offpay/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * offpay__zxing_decode_bits — one ZXing pass looking for QR codes in a
 * binarized image: bits[y * w + x] is 0 for a dark pixel and 255 for a light
 * one (scan.c binarizes and counts finder-pattern candidates first; ZXing's
 * own binarizer is bypassed so that the finder-pattern search sees exactly
 * the pixels that were counted). Dark-on-light only; no rotation, no
 * downscaling. At most max (>= 1) different texts are kept, in the order
 * ZXing found them, in texts[0 .. *found - 1], each a malloc'd
 * NUL-terminated UTF-8 string; a symbol whose text equals one kept already,
 * or holds a NUL byte, is not kept again. The caller has validated the
 * arguments: bits != NULL, w >= 1, h >= 1, w * h fits an int, texts has max
 * slots, max <= 255. Never throws. On success *found >= 1; on an error *found
 * is 0 and nothing is left allocated. Errors: OFFPAY_ESCAN (no valid QR code
 * with a text kept, or any ZXing failure), OFFPAY_ENOMEM.
 */
offpay_err offpay__zxing_decode_bits(const uint8_t *bits, int w, int h, int max,
                                     char **texts, int *found);

#ifdef __cplusplus
}
#endif
#endif
