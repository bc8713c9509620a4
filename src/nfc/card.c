/*
 * card.c — the wallet's card role (what a phone's host card emulation
 * does): the card state machine of apdu.c with an offpay_wallet behind it,
 * armed beforehand with a maximum amount, so a tap never asks the payer
 * anything (docs/nfc.md §5).
 *
 * The wallet's reservation rule is the wallet's own: the code's counter and
 * reservation are on disk before offpay_wallet_pay_request returns, hence
 * before the first byte of the code leaves, and the same request again
 * (same merchant, same nonce: the card left the field before the terminal
 * had the code) gets the same code from the wallet's log. This file adds
 * one thing: it keeps the last code made, so a second tap is answered
 * with it even once the card's armed payments are used up, and counts it
 * as resent, not as another payment.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offpay/nfc.h"

struct offpay_nfc_wallet_card {
    offpay_wallet        *w;
    offpay_nfc_wallet_cfg cfg;
    offpay_nfc_card      *card;
    offpay_nfc_card_ops   ops;
    uint32_t              paid, receipts;
    /* The last code made, for the same request again. */
    int            have_last;
    uint64_t       last_merchant;
    uint8_t        last_nonce[OFFPAY_NONCE_BYTES];
    uint8_t        last_code[OFFPAY_PAYMENT_BOUND_BYTES];
    size_t         last_len;
    offpay_payment last_payment;
    int            last_receipted; /* its receipt counted */
};

static uint32_t card_now(const offpay_nfc_wallet_card *wc)
{
    return wc->cfg.now != NULL ? wc->cfg.now(wc->cfg.ctx)
                               : (uint32_t)time(NULL);
}

static void emit(const offpay_nfc_wallet_card *wc, offpay_nfc_event_kind kind,
                 uint16_t sw, offpay_err rc, const offpay_request *q,
                 const offpay_receipt *r, const offpay_payment *p)
{
    offpay_nfc_event e;

    if (wc->cfg.event == NULL)
        return;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.sw = sw;
    e.rc = rc;
    e.request = q;
    e.receipt = r;
    e.payment = p;
    wc->cfg.event(wc->cfg.ctx, &e);
}

/* The status word refusing a request or receipt the wallet rejected. */
static uint16_t sw_for(offpay_err rc)
{
    switch (rc) {
    case OFFPAY_OK:
        return OFFPAY_SW_OK;
    case OFFPAY_EPREFIX:
    case OFFPAY_EBASE45:
    case OFFPAY_ETOOBIG:
    case OFFPAY_ETRUNCATED:
    case OFFPAY_ETRAILING:
    case OFFPAY_EVERSION:
    case OFFPAY_ETYPE:
    case OFFPAY_EMALFORMED:
    case OFFPAY_ECURRENCY_UNKNOWN:
        return OFFPAY_SW_BAD_DATA;
    case OFFPAY_EREQUEST_EXPIRED:
    case OFFPAY_ECODE_TOO_OLD:
    case OFFPAY_ECODE_FUTURE:
        return OFFPAY_SW_STALE;
    case OFFPAY_EINSUFFICIENT:
    case OFFPAY_ENO_CREDENTIAL:
    case OFFPAY_ECOUNTER:
    case OFFPAY_ERANGE:
    case OFFPAY_EUNBOUND_REFUSED:
        return OFFPAY_SW_CANNOT_PAY;
    case OFFPAY_ECURRENCY:
        return OFFPAY_SW_CURRENCY;
    case OFFPAY_ERECEIPT_MISMATCH:
        return OFFPAY_SW_RECEIPT;
    case OFFPAY_EIO:
    case OFFPAY_ENOSPC:
    case OFFPAY_EROFS:
    case OFFPAY_EACCES:
    case OFFPAY_ENOENT:
    case OFFPAY_EISDIR:
    case OFFPAY_ENOTDIR:
    case OFFPAY_ELINKED:
        return OFFPAY_SW_MEMORY_FAILURE;
    case OFFPAY_ENOMEM:
    case OFFPAY_EINVAL:
    case OFFPAY_ECRYPTO:
        return OFFPAY_SW_INTERNAL;
    default:
        return OFFPAY_SW_SECURITY; /* signature, trust, expiry, revocation */
    }
}

/* A binary message as the wallet's text API takes it. */
static offpay_err as_text(const uint8_t *msg, size_t len, uint8_t type,
                          char **text)
{
    *text = NULL;
    if (len < 2 || msg[1] != type)
        return OFFPAY_ETYPE;
    return offpay_text_encode(msg, len, text);
}

static uint16_t wallet_pay(void *ctx, const uint8_t *req, size_t len,
                           uint8_t *code, size_t cap, size_t *code_len)
{
    offpay_nfc_wallet_card *wc = ctx;
    offpay_request          q;
    offpay_payment          p;
    char                   *text = NULL, *out = NULL;
    uint8_t                *bytes = NULL;
    size_t                  blen = 0, before;
    int                     resent;
    uint32_t                now = card_now(wc);
    offpay_err              rc;
    uint16_t                sw;

    *code_len = 0;
    memset(&q, 0, sizeof q);
    rc = as_text(req, len, OFFPAY_MSG_REQUEST, &text);
    if (rc == OFFPAY_OK)
        rc = offpay_wallet_read_request(wc->w, text, now, &q);
    if (rc != OFFPAY_OK) {
        sw = sw_for(rc);
        emit(wc, OFFPAY_NFC_REFUSED, sw, rc, NULL, NULL, NULL);
        goto out;
    }
    if (wc->have_last && q.tcred.merchant_id == wc->last_merchant &&
        sodium_memcmp(q.nonce, wc->last_nonce, sizeof q.nonce) == 0) {
        /* The same request again: the same code, nothing reserved. */
        if (wc->last_len > cap) {
            sw = OFFPAY_SW_INTERNAL;
            goto out;
        }
        memcpy(code, wc->last_code, wc->last_len);
        *code_len = wc->last_len;
        sw = OFFPAY_SW_OK;
        emit(wc, OFFPAY_NFC_RESENT, sw, OFFPAY_OK, &q, NULL, &wc->last_payment);
        goto out;
    }
    if (wc->paid >= wc->cfg.payments)
        sw = OFFPAY_SW_NOT_ARMED;
    else if (q.currency != wc->cfg.currency)
        sw = OFFPAY_SW_CURRENCY;
    else if ((int64_t)q.amount > wc->cfg.max_amount)
        sw = OFFPAY_SW_OVER_MAX;
    else
        sw = OFFPAY_SW_OK;
    if (sw != OFFPAY_SW_OK) {
        emit(wc, OFFPAY_NFC_REFUSED, sw, offpay_nfc_sw_error(sw), &q, NULL,
             NULL);
        goto out;
    }
    before = offpay_wallet_n_spends(wc->w);
    rc = offpay_wallet_pay_request(wc->w, &q, now, &out, &p);
    if (rc == OFFPAY_OK)
        rc = offpay_text_decode(out, strlen(out), &bytes, &blen);
    if (rc == OFFPAY_OK && (blen > cap || blen > sizeof wc->last_code))
        rc = OFFPAY_ERANGE;
    if (rc != OFFPAY_OK) {
        sw = sw_for(rc);
        emit(wc, OFFPAY_NFC_REFUSED, sw, rc, &q, NULL, NULL);
        goto out;
    }
    /* A request the wallet answered before this card was armed (its log
     * gave the same code again): resent, not another payment. */
    resent = offpay_wallet_n_spends(wc->w) == before;
    if (!resent) {
        wc->paid++;
        wc->last_receipted = 0;
    }
    wc->have_last = 1;
    wc->last_merchant = q.tcred.merchant_id;
    memcpy(wc->last_nonce, q.nonce, sizeof q.nonce);
    memcpy(wc->last_code, bytes, blen);
    wc->last_len = blen;
    wc->last_payment = p;
    memcpy(code, bytes, blen);
    *code_len = blen;
    sw = OFFPAY_SW_OK;
    emit(wc, resent ? OFFPAY_NFC_RESENT : OFFPAY_NFC_PAID, sw, OFFPAY_OK, &q,
         NULL, &p);
out:
    free(text);
    free(out);
    free(bytes);
    return sw;
}

static uint16_t wallet_receipt(void *ctx, const uint8_t *msg, size_t len)
{
    offpay_nfc_wallet_card *wc = ctx;
    offpay_receipt          r;
    char                   *text = NULL;
    offpay_err              rc;
    uint16_t                sw;

    memset(&r, 0, sizeof r);
    rc = as_text(msg, len, OFFPAY_MSG_RECEIPT, &text);
    if (rc == OFFPAY_OK)
        rc = offpay_wallet_take_receipt(wc->w, text, card_now(wc), &r);
    sw = sw_for(rc);
    if (rc == OFFPAY_OK) {
        /* counted once, and only for the code this card just made: a
         * receipt given again (the card came back for it), or an old one
         * a reader replays, is kept by the wallet but ends no session */
        if (wc->have_last && !wc->last_receipted &&
            r.serial == wc->last_payment.cred.serial &&
            r.counter == wc->last_payment.counter) {
            wc->receipts++;
            wc->last_receipted = 1;
        }
        emit(wc, OFFPAY_NFC_RECEIPT, sw, rc, NULL, &r, NULL);
    } else {
        emit(wc, OFFPAY_NFC_REFUSED, sw, rc, NULL, NULL, NULL);
    }
    free(text);
    return sw;
}

offpay_err offpay_nfc_wallet_card_new(offpay_wallet               *w,
                                      const offpay_nfc_wallet_cfg *cfg,
                                      offpay_nfc_wallet_card     **out)
{
    offpay_nfc_wallet_card *wc;
    offpay_err              rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    *out = NULL;
    if (w == NULL || cfg == NULL || cfg->max_amount < 1)
        return OFFPAY_EINVAL;
    wc = calloc(1, sizeof *wc);
    if (wc == NULL)
        return OFFPAY_ENOMEM;
    wc->w = w;
    wc->cfg = *cfg;
    if (wc->cfg.payments == 0)
        wc->cfg.payments = 1;
    wc->ops.pay = wallet_pay;
    wc->ops.receipt = wallet_receipt;
    rc = offpay_nfc_card_new(&wc->ops, wc, &wc->card);
    if (rc != OFFPAY_OK) {
        free(wc);
        return rc;
    }
    *out = wc;
    return OFFPAY_OK;
}

void offpay_nfc_wallet_card_free(offpay_nfc_wallet_card *wc)
{
    if (wc == NULL)
        return;
    offpay_nfc_card_free(wc->card);
    free(wc);
}

offpay_nfc_card *offpay_nfc_wallet_card_card(offpay_nfc_wallet_card *wc)
{
    return wc != NULL ? wc->card : NULL;
}

uint32_t offpay_nfc_wallet_card_paid(const offpay_nfc_wallet_card *wc)
{
    return wc != NULL ? wc->paid : 0;
}

uint32_t offpay_nfc_wallet_card_receipts(const offpay_nfc_wallet_card *wc)
{
    return wc != NULL ? wc->receipts : 0;
}
