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
 * offpay__zxing_decode_gray — decode one QR code from the 8-bit grey image
 * px[y * stride + x] (w x h). The caller has validated the arguments (see
 * offpay_qr_scan_gray): px != NULL, 1 <= w <= stride, h >= 1, stride * h fits
 * an int. Dark-on-light first; if nothing is found, once more on an inverted
 * copy. *text is set to NULL, then on success to a malloc'd NUL-terminated
 * UTF-8 string. Never throws.
 * Errors: OFFPAY_ESCAN (no valid QR code, text with a NUL byte, or any
 * ZXing failure), OFFPAY_ENOMEM.
 */
offpay_err offpay__zxing_decode_gray(const uint8_t *px, int w, int h,
                                     int stride, char **text);

#ifdef __cplusplus
}
#endif
#endif
