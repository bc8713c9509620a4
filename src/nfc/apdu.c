/*
 * apdu.c — the offpay ISO 7816-4 application in pure code (docs/nfc.md):
 * short APDU parsing and building, the status words, the card role's state
 * machine (SELECT, chained PAY and RECEIPT, GET RESPONSE), and the
 * terminal's half of one chained command over an offpay_nfc_link.
 *
 * No I/O: the card's decisions are behind offpay_nfc_card_ops, the
 * terminal's transport behind offpay_nfc_link.
 */
#include <stdlib.h>
#include <string.h>

#include "offpay/nfc.h"

const uint8_t offpay_nfc_aid[OFFPAY_NFC_AID_LEN] = {0xF0, 'o', 'f', 'f',
                                                    'p',  'a', 'y', 0x01};

offpay_err offpay_apdu_parse(const uint8_t *buf, size_t len, offpay_apdu *a)
{
    size_t lc;

    if (buf == NULL || a == NULL)
        return OFFPAY_EINVAL;
    memset(a, 0, sizeof *a);
    if (len < 4)
        return OFFPAY_ETRUNCATED;
    a->cla = buf[0];
    a->ins = buf[1];
    a->p1 = buf[2];
    a->p2 = buf[3];
    if (len == 4) /* case 1 */
        return OFFPAY_OK;
    if (len == 5) { /* case 2: Le only */
        a->le = buf[4] == 0 ? 256 : buf[4];
        return OFFPAY_OK;
    }
    lc = buf[4];
    if (lc == 0) /* 00 then more bytes: the extended form, not supported */
        return OFFPAY_EMALFORMED;
    if (len < 5 + lc)
        return OFFPAY_ETRUNCATED;
    if (len > 5 + lc + 1)
        return OFFPAY_ETRAILING;
    a->data = buf + 5;
    a->lc = lc;
    if (len == 5 + lc + 1) /* case 4 */
        a->le = buf[5 + lc] == 0 ? 256 : buf[5 + lc];
    return OFFPAY_OK;
}

offpay_err offpay_apdu_build(uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
                             const uint8_t *data, size_t lc, size_t le,
                             uint8_t *buf, size_t cap, size_t *len)
{
    size_t n = 4 + (lc > 0 ? 1 + lc : 0) + (le > 0 ? 1 : 0);

    if (buf == NULL || len == NULL || lc > 255 || le > 256 ||
        (lc > 0 && data == NULL))
        return OFFPAY_EINVAL;
    *len = 0;
    if (cap < n)
        return OFFPAY_ERANGE;
    buf[0] = cla;
    buf[1] = ins;
    buf[2] = p1;
    buf[3] = p2;
    if (lc > 0) {
        buf[4] = (uint8_t)lc;
        memcpy(buf + 5, data, lc);
    }
    if (le > 0)
        buf[n - 1] = (uint8_t)(le == 256 ? 0 : le);
    *len = n;
    return OFFPAY_OK;
}

const char *offpay_nfc_sw_text(uint16_t sw)
{
    if ((sw & 0xFF00) == OFFPAY_SW_MORE)
        return "more response bytes available";
    switch (sw) {
    case OFFPAY_SW_OK:
        return "success";
    case OFFPAY_SW_WRONG_LENGTH:
        return "wrong length";
    case OFFPAY_SW_MEMORY_FAILURE:
        return "the wallet could not save its state: no code was made";
    case OFFPAY_SW_CHAINING:
        return "command chaining not supported for this command";
    case OFFPAY_SW_SECURITY:
        return "the message failed verification";
    case OFFPAY_SW_ORDER:
        return "command out of sequence";
    case OFFPAY_SW_BAD_DATA:
        return "the message does not decode";
    case OFFPAY_SW_NOT_FOUND:
        return "application not found";
    case OFFPAY_SW_TOO_LARGE:
        return "message too large";
    case OFFPAY_SW_WRONG_P1P2:
        return "wrong P1 P2";
    case OFFPAY_SW_INS:
        return "instruction not supported";
    case OFFPAY_SW_CLA:
        return "class not supported";
    case OFFPAY_SW_INTERNAL:
        return "internal error of the card";
    case OFFPAY_SW_OVER_MAX:
        return "amount above what the payer armed the wallet for";
    case OFFPAY_SW_CANNOT_PAY:
        return "the wallet cannot pay: no allowance or credential";
    case OFFPAY_SW_CURRENCY:
        return "not the currency the wallet is armed for";
    case OFFPAY_SW_RECEIPT:
        return "the receipt names no payment of this wallet";
    case OFFPAY_SW_NOT_ARMED:
        return "the wallet is not armed for another payment";
    case OFFPAY_SW_STALE:
        return "the request is too old or dated in the future";
    default:
        return "unknown status word";
    }
}

offpay_err offpay_nfc_sw_error(uint16_t sw)
{
    switch (sw) {
    case OFFPAY_SW_OK:
        return OFFPAY_OK;
    case OFFPAY_SW_SECURITY:
        return OFFPAY_ECODE_SIG;
    case OFFPAY_SW_BAD_DATA:
        return OFFPAY_EMALFORMED;
    case OFFPAY_SW_TOO_LARGE:
        return OFFPAY_ETOOBIG;
    case OFFPAY_SW_NOT_FOUND:
        return OFFPAY_ENOTFOUND;
    case OFFPAY_SW_OVER_MAX:
        return OFFPAY_EOVER_AUTHORIZED;
    case OFFPAY_SW_CANNOT_PAY:
    case OFFPAY_SW_NOT_ARMED:
        return OFFPAY_EINSUFFICIENT;
    case OFFPAY_SW_CURRENCY:
        return OFFPAY_ECURRENCY;
    case OFFPAY_SW_RECEIPT:
        return OFFPAY_ERECEIPT_MISMATCH;
    case OFFPAY_SW_STALE:
        return OFFPAY_EREQUEST_EXPIRED;
    default:
        return OFFPAY_EIO;
    }
}

/* ------------------------------------------------------------ card role */

enum { CARD_IDLE, CARD_SELECTED };

struct offpay_nfc_card {
    const offpay_nfc_card_ops *ops;
    void                      *ctx;
    int                        state;
    int                        paid;      /* a PAY answered in this session */
    uint8_t                    chain_ins; /* 0: no chain open */
    size_t                     chain_len;
    uint8_t                    chain[OFFPAY_NFC_MSG_MAX];
    size_t                     out_len, out_off; /* response to fetch */
    uint8_t                    out[OFFPAY_NFC_MSG_MAX];
};

offpay_err offpay_nfc_card_new(const offpay_nfc_card_ops *ops, void *ctx,
                               offpay_nfc_card **out)
{
    offpay_nfc_card *c;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (ops == NULL || ops->pay == NULL || ops->receipt == NULL)
        return OFFPAY_EINVAL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return OFFPAY_ENOMEM;
    c->ops = ops;
    c->ctx = ctx;
    *out = c;
    return OFFPAY_OK;
}

void offpay_nfc_card_free(offpay_nfc_card *c)
{
    free(c);
}

static void drop_chain(offpay_nfc_card *c)
{
    c->chain_ins = 0;
    c->chain_len = 0;
}

static void drop_output(offpay_nfc_card *c)
{
    c->out_len = 0;
    c->out_off = 0;
}

void offpay_nfc_card_reset(offpay_nfc_card *c)
{
    if (c == NULL)
        return;
    c->state = CARD_IDLE;
    c->paid = 0;
    drop_chain(c);
    drop_output(c);
}

static size_t put_sw(uint8_t *resp, size_t n, uint16_t sw)
{
    resp[n] = (uint8_t)(sw >> 8);
    resp[n + 1] = (uint8_t)sw;
    return n + 2;
}

/* The next piece of the pending output: at most le bytes, then 9000 when
 * it is the last, else 61XX with what remains (00: 256 or more). */
static size_t emit_output(offpay_nfc_card *c, size_t le, uint8_t *resp)
{
    size_t n = c->out_len - c->out_off, left;

    if (le == 0 || le > 256)
        le = 256;
    if (n > le)
        n = le;
    memcpy(resp, c->out + c->out_off, n);
    c->out_off += n;
    left = c->out_len - c->out_off;
    if (left == 0) {
        drop_output(c);
        return put_sw(resp, n, OFFPAY_SW_OK);
    }
    return put_sw(resp, n,
                  (uint16_t)(OFFPAY_SW_MORE | (left >= 256 ? 0 : left)));
}

static size_t do_select(offpay_nfc_card *c, const offpay_apdu *a, uint8_t *resp)
{
    offpay_nfc_card_reset(c); /* any SELECT ends the session */
    if (a->cla & OFFPAY_NFC_CLA_CHAIN)
        return put_sw(resp, 0, OFFPAY_SW_CHAINING);
    if (a->p1 != 0x04 || (a->p2 != 0x00 && a->p2 != 0x0C))
        return put_sw(resp, 0, OFFPAY_SW_WRONG_P1P2);
    if (a->lc == 0)
        return put_sw(resp, 0, OFFPAY_SW_WRONG_LENGTH);
    if (a->lc != OFFPAY_NFC_AID_LEN ||
        memcmp(a->data, offpay_nfc_aid, OFFPAY_NFC_AID_LEN) != 0)
        return put_sw(resp, 0, OFFPAY_SW_NOT_FOUND);
    c->state = CARD_SELECTED;
    if (a->p2 == 0x0C) /* no response data asked */
        return put_sw(resp, 0, OFFPAY_SW_OK);
    resp[0] = OFFPAY_NFC_VERSION;
    return put_sw(resp, 1, OFFPAY_SW_OK);
}

/* PAY or RECEIPT: one APDU of a (possibly chained) message. */
static size_t do_message(offpay_nfc_card *c, const offpay_apdu *a,
                         uint8_t *resp)
{
    int      last = (a->cla & OFFPAY_NFC_CLA_CHAIN) == 0;
    uint16_t sw;
    size_t   code_len = 0, len;

    if (c->state != CARD_SELECTED) {
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_ORDER);
    }
    if (a->p1 != 0 || a->p2 != 0) {
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_WRONG_P1P2);
    }
    if (a->lc == 0) {
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_WRONG_LENGTH);
    }
    if (a->ins == OFFPAY_NFC_INS_PAY && c->paid) {
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_ORDER);
    }
    if (c->chain_ins == 0)
        c->chain_ins = a->ins;
    if (c->chain_len + a->lc > sizeof c->chain) {
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_TOO_LARGE);
    }
    memcpy(c->chain + c->chain_len, a->data, a->lc);
    c->chain_len += a->lc;
    if (!last)
        return put_sw(resp, 0, OFFPAY_SW_OK);

    len = c->chain_len;
    drop_chain(c);
    if (a->ins == OFFPAY_NFC_INS_RECEIPT) {
        sw = c->ops->receipt(c->ctx, c->chain, len);
        return put_sw(resp, 0, sw);
    }
    sw = c->ops->pay(c->ctx, c->chain, len, c->out, sizeof c->out, &code_len);
    if (sw != OFFPAY_SW_OK)
        return put_sw(resp, 0, sw);
    if (code_len == 0 || code_len > sizeof c->out)
        return put_sw(resp, 0, OFFPAY_SW_INTERNAL);
    c->paid = 1;
    c->out_len = code_len;
    c->out_off = 0;
    return emit_output(c, a->le, resp);
}

size_t offpay_nfc_card_process(offpay_nfc_card *c, const uint8_t *cmd,
                               size_t len, uint8_t resp[OFFPAY_APDU_RESP_MAX])
{
    offpay_apdu a;
    offpay_err  rc;
    int         chain_cla;

    rc = offpay_apdu_parse(cmd, len, &a);
    if (rc != OFFPAY_OK) {
        drop_chain(c);
        drop_output(c);
        return put_sw(resp, 0, OFFPAY_SW_WRONG_LENGTH);
    }
    /* The class first (ISO 7816-4 checks CLA, then INS). */
    chain_cla = (a.cla & ~OFFPAY_NFC_CLA_CHAIN) == OFFPAY_NFC_CLA_PROP;
    if (a.ins == OFFPAY_NFC_INS_SELECT &&
        (a.cla & ~OFFPAY_NFC_CLA_CHAIN) == OFFPAY_NFC_CLA_ISO)
        return do_select(c, &a, resp);
    if (a.cla != OFFPAY_NFC_CLA_ISO && !chain_cla) {
        drop_chain(c);
        drop_output(c);
        return put_sw(resp, 0, OFFPAY_SW_CLA);
    }
    if (a.ins == OFFPAY_NFC_INS_GET_RESP && a.cla == OFFPAY_NFC_CLA_ISO) {
        if (c->chain_ins != 0) {
            drop_chain(c);
            drop_output(c);
            return put_sw(resp, 0, OFFPAY_SW_ORDER);
        }
        if (a.p1 != 0 || a.p2 != 0)
            return put_sw(resp, 0, OFFPAY_SW_WRONG_P1P2);
        if (a.lc != 0)
            return put_sw(resp, 0, OFFPAY_SW_WRONG_LENGTH);
        if (c->out_len == 0)
            return put_sw(resp, 0, OFFPAY_SW_ORDER);
        return emit_output(c, a.le, resp);
    }
    /* Anything but GET RESPONSE ends the pending output. */
    drop_output(c);
    if (!chain_cla) {
        drop_chain(c);
        return put_sw(resp, 0,
                      a.ins == OFFPAY_NFC_INS_GET_RESP ||
                              a.ins == OFFPAY_NFC_INS_PAY ||
                              a.ins == OFFPAY_NFC_INS_RECEIPT
                          ? OFFPAY_SW_CLA
                          : OFFPAY_SW_INS);
    }
    if (a.ins != OFFPAY_NFC_INS_PAY && a.ins != OFFPAY_NFC_INS_RECEIPT) {
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_INS);
    }
    if (c->chain_ins != 0 && c->chain_ins != a.ins) {
        /* Another command in the middle of a chain: the chain is void. */
        drop_chain(c);
        return put_sw(resp, 0, OFFPAY_SW_ORDER);
    }
    return do_message(c, &a, resp);
}

/* ------------------------------------------------------- terminal side */

static uint16_t sw_of(const uint8_t *resp, size_t n)
{
    return (uint16_t)((resp[n - 2] << 8) | resp[n - 1]);
}

offpay_err offpay_nfc_command(const offpay_nfc_link *link, uint8_t ins,
                              const uint8_t *msg, size_t len, size_t chunk,
                              uint8_t *out, size_t cap, size_t *out_len,
                              uint16_t *sw)
{
    uint8_t    cmd[OFFPAY_APDU_CMD_MAX], resp[OFFPAY_APDU_RESP_MAX];
    size_t     off = 0, n, clen = 0, rlen = 0, got = 0, le;
    uint16_t   s = 0;
    offpay_err rc = OFFPAY_OK;

    if (link == NULL || link->transmit == NULL || msg == NULL || len == 0 ||
        chunk == 0 || chunk > 255 || sw == NULL || (cap > 0 && out == NULL))
        return OFFPAY_EINVAL;
    *sw = 0;
    if (out_len != NULL)
        *out_len = 0;
    le = chunk == 255 ? 256 : chunk;
    while (off < len) {
        int last;

        n = len - off > chunk ? chunk : len - off;
        last = off + n == len;
        rc = offpay_apdu_build(
            (uint8_t)(OFFPAY_NFC_CLA_PROP | (last ? 0 : OFFPAY_NFC_CLA_CHAIN)),
            ins, 0, 0, msg + off, n, last ? le : 0, cmd, sizeof cmd, &clen);
        if (rc != OFFPAY_OK)
            goto out;
        rc = link->transmit(link->ctx, cmd, clen, resp, sizeof resp, &rlen);
        if (rc != OFFPAY_OK)
            goto out;
        if (rlen < 2 || rlen > sizeof resp) {
            rc = OFFPAY_EMALFORMED;
            goto out;
        }
        s = sw_of(resp, rlen);
        off += n;
        if (!last) {
            if (s != OFFPAY_SW_OK) {
                *sw = s; /* refused mid-chain */
                goto out;
            }
            if (rlen != 2) {
                rc = OFFPAY_EMALFORMED;
                goto out;
            }
            continue;
        }
    }
    /* The answer: data + 9000, or data + 61XX and more to fetch. */
    for (;;) {
        size_t d = rlen - 2;

        if (got + d > cap) {
            rc = OFFPAY_ETOOBIG;
            goto out;
        }
        if (d > 0)
            memcpy(out + got, resp, d);
        got += d;
        if ((s & 0xFF00) != OFFPAY_SW_MORE)
            break;
        if (d == 0) {
            /* "More" with nothing now: a card that never finishes. */
            rc = OFFPAY_EMALFORMED;
            goto out;
        }
        rc = offpay_apdu_build(OFFPAY_NFC_CLA_ISO, OFFPAY_NFC_INS_GET_RESP, 0,
                               0, NULL, 0, le, cmd, sizeof cmd, &clen);
        if (rc != OFFPAY_OK)
            goto out;
        rc = link->transmit(link->ctx, cmd, clen, resp, sizeof resp, &rlen);
        if (rc != OFFPAY_OK)
            goto out;
        if (rlen < 2 || rlen > sizeof resp) {
            rc = OFFPAY_EMALFORMED;
            goto out;
        }
        s = sw_of(resp, rlen);
    }
    *sw = s;
    if (s == OFFPAY_SW_OK && out_len != NULL)
        *out_len = got;
out:
    return rc;
}

offpay_err offpay_nfc_select(const offpay_nfc_link *link, uint16_t *sw)
{
    uint8_t    cmd[OFFPAY_APDU_CMD_MAX], resp[OFFPAY_APDU_RESP_MAX];
    size_t     clen = 0, rlen = 0;
    offpay_err rc;

    if (link == NULL || link->transmit == NULL || sw == NULL)
        return OFFPAY_EINVAL;
    *sw = 0;
    rc = offpay_apdu_build(OFFPAY_NFC_CLA_ISO, OFFPAY_NFC_INS_SELECT, 0x04,
                           0x00, offpay_nfc_aid, OFFPAY_NFC_AID_LEN, 256, cmd,
                           sizeof cmd, &clen);
    if (rc != OFFPAY_OK)
        return rc;
    rc = link->transmit(link->ctx, cmd, clen, resp, sizeof resp, &rlen);
    if (rc != OFFPAY_OK)
        return rc;
    if (rlen < 2 || rlen > sizeof resp)
        return OFFPAY_EMALFORMED;
    *sw = sw_of(resp, rlen);
    if (*sw != OFFPAY_SW_OK || rlen != 3 || resp[0] != OFFPAY_NFC_VERSION)
        return OFFPAY_ENOTFOUND;
    return OFFPAY_OK;
}
