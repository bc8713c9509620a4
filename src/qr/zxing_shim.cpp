/*
 * zxing_shim.cpp — the C-linkage shim over ZXing-C++ 1.4 used by
 * offpay_qr_scan_gray(). No C++ type or exception crosses this file's edge.
 */

// Make Result::text() return UTF-8 std::string (the 1.4 transition switch,
// default in ZXing 2.x) instead of std::wstring; it also silences the
// library's "#pragma message" about the change.
#define ZX_USE_UTF8 1

#include "qr/zxing_shim.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <ZXing/BarcodeFormat.h>
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/ReadBarcode.h>
#include <ZXing/Result.h>

extern "C" offpay_err offpay__zxing_decode_gray(const uint8_t *px, int w, int h,
                                                int stride, char **text)
{
    *text = nullptr;
    try {
        const ZXing::ImageView view(px, w, h, ZXing::ImageFormat::Lum, stride);
        ZXing::DecodeHints     hints;
        hints.setFormats(ZXing::BarcodeFormat::QRCode);
        hints.setTryHarder(true);
        hints.setTryRotate(true);
        hints.setTryDownscale(true);
        hints.setIsPure(false);
        // LocalAverage (ZXing's hybrid binarizer) thresholds each block
        // against its neighbourhood, so it copes with the lighting gradients
        // and noise of camera frames where one global threshold fails.
        hints.setBinarizer(ZXing::Binarizer::LocalAverage);

        ZXing::Result result = ZXing::ReadBarcode(view, hints);
        if (!result.isValid()) {
            // ZXing 1.4 reads dark-on-light only. A code drawn light-on-dark
            // (offpay_qr_render_utf8 in a light-themed terminal, dark-mode
            // screens) reads once the image is inverted. Costs a second pass
            // only when the first found nothing.
            const std::size_t    uw = static_cast<std::size_t>(w);
            std::vector<uint8_t> inv(uw * static_cast<std::size_t>(h));
            for (std::size_t y = 0; y < static_cast<std::size_t>(h); y++) {
                const uint8_t *row = px + y * static_cast<std::size_t>(stride);
                for (std::size_t x = 0; x < uw; x++)
                    inv[y * uw + x] = static_cast<uint8_t>(255 - row[x]);
            }
            const ZXing::ImageView inv_view(inv.data(), w, h,
                                            ZXing::ImageFormat::Lum);
            result = ZXing::ReadBarcode(inv_view, hints);
            if (!result.isValid())
                return OFFPAY_ESCAN;
        }
        const std::string utf8 = result.text();
        // A C string cannot carry an embedded NUL; no offpay code has one.
        if (utf8.find('\0') != std::string::npos)
            return OFFPAY_ESCAN;
        char *copy = static_cast<char *>(std::malloc(utf8.size() + 1));
        if (copy == nullptr)
            return OFFPAY_ENOMEM;
        std::memcpy(copy, utf8.data(), utf8.size());
        copy[utf8.size()] = '\0';
        *text = copy;
        return OFFPAY_OK;
    } catch (const std::bad_alloc &) {
        return OFFPAY_ENOMEM;
    } catch (...) {
        return OFFPAY_ESCAN;
    }
}
