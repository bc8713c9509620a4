/*
 * fuzz_apdu.c — libFuzzer target for the NFC application's APDU parser and
 * the card state machine (nfc.h), what a terminal (or anything in the
 * field) can send to a wallet.
 *
 * The input is a sequence of command APDUs, each preceded by its length
 * (2 bytes, big-endian). Contract checked on every input:
 *   - offpay_apdu_parse never crashes, fails only with its documented
 *     errors, and a parsed APDU rebuilds to exactly the input;
 *   - offpay_nfc_card_process answers every APDU (2..258 bytes ending with
 *     a status word), whatever came before; a response with data ends with
 *     9000 or 61XX;
 *   - the wallet behind the card only ever sees complete messages no
 *     larger than OFFPAY_NFC_MSG_MAX.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/offpay.h"

static uint16_t fz_pay(void *ctx, const uint8_t *req, size_t len, uint8_t *code,
                       size_t cap, size_t *code_len)
{
    (void)ctx;
    if (len == 0 || len > OFFPAY_NFC_MSG_MAX || cap < len)
        abort();
    if (req[0] & 1)
        return OFFPAY_SW_OVER_MAX;
    memcpy(code, req, len); /* any length: exercises GET RESPONSE */
    *code_len = len;
    return OFFPAY_SW_OK;
}

static uint16_t fz_receipt(void *ctx, const uint8_t *r, size_t len)
{
    (void)ctx;
    if (len == 0 || len > OFFPAY_NFC_MSG_MAX)
        abort();
    return r[0] & 1 ? OFFPAY_SW_RECEIPT : OFFPAY_SW_OK;
}

static void check_parse(const uint8_t *apdu, size_t n)
{
    offpay_apdu a;
    uint8_t     again[OFFPAY_APDU_CMD_MAX];
    size_t      len = 0;
    offpay_err  rc = offpay_apdu_parse(apdu, n, &a);

    if (rc != OFFPAY_OK) {
        if (rc != OFFPAY_ETRUNCATED && rc != OFFPAY_ETRAILING &&
            rc != OFFPAY_EMALFORMED)
            abort();
        return;
    }
    if (offpay_apdu_build(a.cla, a.ins, a.p1, a.p2, a.data, a.lc, a.le, again,
                          sizeof again, &len) != OFFPAY_OK ||
        len != n || memcmp(again, apdu, n) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const offpay_nfc_card_ops ops = {fz_pay, fz_receipt};
    offpay_nfc_card                 *c = NULL;
    uint8_t                          resp[OFFPAY_APDU_RESP_MAX];
    size_t                           off = 0;

    if (offpay_nfc_card_new(&ops, NULL, &c) != OFFPAY_OK)
        abort();
    while (off + 2 <= size) {
        size_t   n = (size_t)data[off] << 8 | data[off + 1], rl;
        uint16_t sw;

        off += 2;
        if (n > size - off)
            n = size - off;
        check_parse(data + off, n);
        rl = offpay_nfc_card_process(c, n > 0 ? data + off : resp, n, resp);
        if (rl < 2 || rl > OFFPAY_APDU_RESP_MAX)
            abort();
        sw = (uint16_t)(resp[rl - 2] << 8 | resp[rl - 1]);
        if (rl > 2 && sw != OFFPAY_SW_OK && (sw & 0xFF00) != OFFPAY_SW_MORE)
            abort();
        if (n > 0 && data[off] == 0xFF)
            offpay_nfc_card_reset(c); /* the field lost, now and then */
        off += n;
    }
    offpay_nfc_card_free(c);
    return 0;
}
