/*
 * fuzz_nfc_term.c — libFuzzer target for the terminal's side of the NFC
 * application (offpay_nfc_select, offpay_nfc_command in nfc.h): what a
 * hostile card in the reader's field can answer.
 *
 * The input: one byte of chunk size, then the card's answers, each
 * preceded by its length (one byte; at most 258 are used). When the
 * answers run out the card "leaves the field" (OFFPAY_EIO). Contract:
 *   - no crash, no read or write out of bounds, and termination;
 *   - the errors are only the documented ones;
 *   - an answer reported OK fits the caller's buffer and comes with 9000.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

typedef struct feed {
    const uint8_t *data;
    size_t         size, off;
} feed;

static offpay_err f_connect(void *ctx, uint32_t timeout_ms)
{
    (void)ctx;
    (void)timeout_ms;
    return OFFPAY_OK;
}

static void f_disconnect(void *ctx)
{
    (void)ctx;
}

static offpay_err f_transmit(void *ctx, const uint8_t *cmd, size_t len,
                             uint8_t *resp, size_t cap, size_t *rlen)
{
    feed  *f = ctx;
    size_t n;

    if (len < 4 || len > OFFPAY_APDU_CMD_MAX)
        abort(); /* the terminal only ever sends short APDUs */
    (void)cmd;
    *rlen = 0;
    if (f->off >= f->size)
        return OFFPAY_EIO;
    n = f->data[f->off++];
    if (n > f->size - f->off)
        n = f->size - f->off;
    if (n > cap)
        n = cap;
    memcpy(resp, f->data + f->off, n);
    f->off += n;
    *rlen = n;
    return OFFPAY_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    feed            f = {data, size, 1};
    offpay_nfc_link l = {f_connect, f_transmit, f_disconnect, &f};
    static uint8_t  msg[600];
    uint8_t         out[OFFPAY_NFC_MSG_MAX];
    size_t          chunk, n = 0;
    uint16_t        sw = 0;
    offpay_err      rc;

    if (size == 0)
        return 0;
    chunk = data[0] == 0 ? 255 : data[0];
    memset(msg, 0x5A, sizeof msg);
    rc = offpay_nfc_select(&l, &sw);
    if (rc != OFFPAY_OK && rc != OFFPAY_EIO && rc != OFFPAY_EMALFORMED &&
        rc != OFFPAY_ENOTFOUND)
        abort();
    rc = offpay_nfc_command(&l, OFFPAY_NFC_INS_PAY, msg, sizeof msg, chunk, out,
                            sizeof out, &n, &sw);
    if (rc != OFFPAY_OK && rc != OFFPAY_EIO && rc != OFFPAY_EMALFORMED &&
        rc != OFFPAY_ETOOBIG)
        abort();
    if (rc == OFFPAY_OK && sw == OFFPAY_SW_OK && n > sizeof out)
        abort();
    if (rc == OFFPAY_OK && sw != OFFPAY_SW_OK && n != 0)
        abort();
    rc = offpay_nfc_command(&l, OFFPAY_NFC_INS_RECEIPT, msg, 249, chunk, NULL,
                            0, NULL, &sw);
    if (rc != OFFPAY_OK && rc != OFFPAY_EIO && rc != OFFPAY_EMALFORMED &&
        rc != OFFPAY_ETOOBIG)
        abort();
    return 0;
}
