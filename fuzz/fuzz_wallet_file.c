/*
 * fuzz_wallet_file.c — fuzz target for the sealed file format
 * (src/wallet/wallet_file.c): the header parser, the decryption and the
 * sealing, past the header.
 *
 * A mutated file image almost never authenticates, so a target that only
 * opens raw images stays in the header (the review measured 64 coverage
 * points in 2.3 million runs). The low bit of the first input byte picks a
 * mode:
 *
 *   0  RAW: the rest is a file image, opened with offpay__wallet_open and a
 *      fixed passphrase (the KDF really runs, at the minimum cost; images
 *      asking for a higher in-bounds cost are skipped to stay fast).
 *   1  SEAL-EDIT-OPEN: byte 1 is the number of edits k (0..4), then k edits
 *      of 4 bytes (offset u16 big-endian, op, value), then the plaintext.
 *      The plaintext is sealed with a sealer derived once per process from
 *      the fixed passphrase (test KDF cost), the edits are applied to the
 *      image (op % 4: 0 xor a byte, 1 truncate, 2 append bytes, 3 set a
 *      byte), and the result is opened with offpay__wallet_sealer_open and
 *      the same key. Oracle: an image the edits left unchanged opens to
 *      exactly the plaintext; any changed image is refused with
 *      OFFPAY_ECORRUPT or OFFPAY_EPASSPHRASE and no output.
 *
 * Any other outcome abort()s. Seeds (fuzz/corpus/wallet_file/): raw images
 * prefixed with 00 (one of them a valid minimum-cost file sealed with the
 * passphrase below), and mode-1 inputs whose plaintext decrypts.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"
#include "wallet/wallet_file.h"

#define FUZZ_PASSPHRASE "offpay fuzz passphrase"
#define MAX_EDITS       4

/* Big-endian u32 at p. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* True when the header would make the KDF run above its minimum cost. */
static int costly(const uint8_t *data, size_t size)
{
    uint32_t ops, mem;

    if (size < OFFPAY__WALLET_HEADER_BYTES)
        return 0;
    ops = be32(data + OFFPAY__WALLET_OFF_OPSLIMIT);
    mem = be32(data + OFFPAY__WALLET_OFF_MEMLIMIT);
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > OFFPAY__WALLET_OPSLIMIT_MAX ||
        mem < OFFPAY__WALLET_MEMLIMIT_KIB_MIN ||
        mem > OFFPAY__WALLET_MEMLIMIT_KIB_MAX)
        return 0; /* out of bounds: rejected before the KDF */
    return ops != crypto_pwhash_OPSLIMIT_MIN ||
           mem != OFFPAY__WALLET_MEMLIMIT_KIB_MIN;
}

/* Aborts unless rc and the output obey the open functions' contract;
 * file_len is the size of the image that was opened. */
static void check_open(offpay_err rc, const uint8_t *plain, size_t plain_len,
                       size_t file_len)
{
    switch (rc) {
    case OFFPAY_OK:
        if (plain == NULL || plain_len + OFFPAY__WALLET_HEADER_BYTES +
                                     OFFPAY__WALLET_TAG_BYTES !=
                                 file_len)
            abort();
        break;
    case OFFPAY_ECORRUPT:
    case OFFPAY_EPASSPHRASE:
    case OFFPAY_ENOMEM:
        if (plain != NULL || plain_len != 0)
            abort();
        break;
    default:
        abort();
    }
}

static void fuzz_raw(const uint8_t *data, size_t size)
{
    uint8_t   *plain = NULL;
    size_t     plain_len = 0;
    offpay_err rc;

    if (costly(data, size))
        return;
    rc = offpay__wallet_open(data, size, FUZZ_PASSPHRASE, &plain, &plain_len);
    check_open(rc, plain, plain_len, size);
    offpay__wallet_plain_free(plain, plain_len);
}

/* The per-process sealer: the fixed passphrase at the test KDF cost. */
static const offpay__wallet_sealer *the_sealer(void)
{
    static offpay__wallet_sealer *s;

    if (s == NULL) {
        setenv("OFFPAY_KDF_COST", "test", 1); /* honoured in test builds */
        if (offpay__wallet_sealer_new(FUZZ_PASSPHRASE, &s) != OFFPAY_OK)
            abort();
    }
    return s;
}

static void fuzz_seal_edit_open(const uint8_t *data, size_t size)
{
    const uint8_t *edits, *text;
    size_t         k, text_len, img_len = 0, len, cap;
    uint8_t       *img = NULL, *buf = NULL, *plain = NULL;
    size_t         plain_len = 0;
    int            changed = 0;
    offpay_err     rc;

    if (size < 1)
        return;
    k = data[0] % (MAX_EDITS + 1);
    if (size < 1 + 4 * k)
        return;
    edits = data + 1;
    text = data + 1 + 4 * k;
    text_len = size - 1 - 4 * k;
    if (text_len > OFFPAY__WALLET_PLAIN_MAX)
        return;
    rc = offpay__wallet_sealer_seal(the_sealer(), text, text_len, &img,
                                    &img_len);
    if (rc == OFFPAY_ENOMEM)
        return;
    if (rc != OFFPAY_OK)
        abort();
    /* Room for every append (v + 1 bytes, at most 256 each). */
    cap = img_len + 256 * MAX_EDITS;
    buf = malloc(cap);
    if (buf == NULL)
        abort();
    memcpy(buf, img, img_len);
    len = img_len;
    for (size_t i = 0; i < k; i++) {
        const uint8_t *e = edits + 4 * i;
        size_t         off = ((size_t)e[0] << 8 | e[1]) % (len + 1);
        uint8_t        v = e[3];

        switch (e[2] % 4) {
        case 0: /* xor a byte (never with 0) */
            if (off < len)
                buf[off] ^= (uint8_t)(v | 1u);
            break;
        case 1: /* truncate */
            len = off;
            break;
        case 2: /* append v + 1 bytes of value v */
            memset(buf + len, v, (size_t)v + 1);
            len += (size_t)v + 1;
            break;
        default: /* set a byte */
            if (off < len)
                buf[off] = v;
            break;
        }
    }
    changed = len != img_len || memcmp(buf, img, len) != 0;
    rc = offpay__wallet_sealer_open(the_sealer(), buf, len, &plain, &plain_len);
    check_open(rc, plain, plain_len, len);
    if (!changed && (rc != OFFPAY_OK || plain_len != text_len ||
                     (text_len > 0 && memcmp(plain, text, text_len) != 0)))
        abort();
    if (changed && rc == OFFPAY_OK)
        abort(); /* a changed image authenticated */
    offpay__wallet_plain_free(plain, plain_len);
    free(buf);
    free(img);
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;

    if (!inited) {
        if (offpay_init() != OFFPAY_OK)
            abort();
        inited = 1;
    }
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_seal_edit_open(data + 1, size - 1);
    else
        fuzz_raw(data + 1, size - 1);
    return 0;
}
