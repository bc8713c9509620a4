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

/* Frees the texts found so far and says there are none. */
static void drop_texts(char **texts, int *found)
{
    for (int i = 0; i < *found; i++) {
        std::free(texts[i]);
        texts[i] = nullptr;
    }
    *found = 0;
}

/* texts[*found] = a malloc'd copy of utf8, unless it is one of the texts
 * found already (the same symbol met twice), or holds a NUL (no offpay
 * text does: a C string cannot carry it). */
static offpay_err keep_text(const std::string &utf8, char **texts, int *found)
{
    if (utf8.find('\0') != std::string::npos)
        return OFFPAY_OK;
    for (int i = 0; i < *found; i++)
        if (utf8 == texts[i])
            return OFFPAY_OK;
    char *copy = static_cast<char *>(std::malloc(utf8.size() + 1));
    if (copy == nullptr)
        return OFFPAY_ENOMEM;
    std::memcpy(copy, utf8.data(), utf8.size());
    copy[utf8.size()] = '\0';
    texts[(*found)++] = copy;
    return OFFPAY_OK;
}

extern "C" offpay_err offpay__zxing_decode_bits(const uint8_t *bits, int w,
                                                int h, int max, char **texts,
                                                int *found)
{
    *found = 0;
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
        // After the first code the detector goes on through the finder
        // patterns it has not used yet: no more than a pass that finds
        // nothing, which scan.c has bounded.
        hints.setMaxNumberOfSymbols(static_cast<uint8_t>(max));
        // The image is already binarized: dark pixels are 0, "BoolCast"
        // reads exactly those as dark.
        hints.setBinarizer(ZXing::Binarizer::BoolCast);

        const ZXing::Results results = ZXing::ReadBarcodes(view, hints);
        offpay_err           rc = OFFPAY_OK;
        for (const ZXing::Result &result : results) {
            if (rc != OFFPAY_OK || *found == max)
                break;
            if (result.isValid())
                rc = keep_text(result.text(), texts, found);
        }
        if (rc == OFFPAY_OK && *found > 0)
            return OFFPAY_OK;
        drop_texts(texts, found);
        return rc == OFFPAY_OK ? OFFPAY_ESCAN : rc;
    } catch (const std::bad_alloc &) {
        drop_texts(texts, found);
        return OFFPAY_ENOMEM;
    } catch (...) {
        drop_texts(texts, found);
        return OFFPAY_ESCAN;
    }
}
