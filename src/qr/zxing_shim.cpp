/*
 * zxing_shim.cpp — the C-linkage shim over ZXing-C++ 1.4 used by scan.c.
 * No C++ type or exception crosses this file's edge.
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

#include <ZXing/BarcodeFormat.h>
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/ReadBarcode.h>
#include <ZXing/Result.h>

extern "C" offpay_err offpay__zxing_decode_bits(const uint8_t *bits, int w,
                                                int h, char **text)
{
    *text = nullptr;
    try {
        const ZXing::ImageView view(bits, w, h, ZXing::ImageFormat::Lum, w);
        ZXing::DecodeHints     hints;
        hints.setFormats(ZXing::BarcodeFormat::QRCode);
        // Try-harder makes the finder-pattern search look at every third
        // row, so small codes are found; scan.c has bounded what that
        // search can meet (its cost is cubic in the patterns it finds).
        hints.setTryHarder(true);
        // The QR detector finds codes at any angle by itself; rotation only
        // repeats the search. Downscaled layers are scan.c's job, on the
        // grey image: layers of a binarized image would be grey mush.
        hints.setTryRotate(false);
        hints.setTryDownscale(false);
        hints.setIsPure(false);
        hints.setMaxNumberOfSymbols(1);
        // The image is already binarized: dark pixels are 0, "BoolCast"
        // reads exactly those as dark.
        hints.setBinarizer(ZXing::Binarizer::BoolCast);

        ZXing::Result result = ZXing::ReadBarcode(view, hints);
        if (!result.isValid())
            return OFFPAY_ESCAN;
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
