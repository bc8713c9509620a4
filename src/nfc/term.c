/*
 * term.c — the terminal's side of one NFC payment (docs/nfc.md §6): a
 * request made once, sent to the card (again, after the card left the
 * field and came back), the bound code accepted under the terminal's
 * durability rule, the receipt delivered if the card is still there.
 *
 * The transport is an offpay_nfc_link, so the same code drives a PC/SC
 * reader (pcsc.c) or, in tests, a card state machine in memory.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "nfc/nfc_int.h"
#include "offpay/message.h"
#include "offpay/nfc.h"

int64_t offpay__nfc_clock_ahead_ms;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           offpay__nfc_clock_ahead_ms;
}

/* The terminal's clock now: opts->now as the payment began, moved on by
 * the monotonic time since (a gate may wait minutes for a card). */
static uint32_t clock_at(const offpay_nfc_term_opts *opts, int64_t began)
{
    int64_t t = (int64_t)opts->now + (mono_ms() - began) / 1000;

    return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* A request sent to cards is made again when no card was sent it within
 * this long (the wallet refuses requests older than 600 s, and a code
 * dated beyond the terminal's skew after the request's time looks early). */
#define REQUEST_FRESH_MS 60000

/* A request for amount at now, as text (*text) and bytes (*req), both
 * replacing what they held; *q its fields. */
static offpay_err make_request(offpay_terminal *t, int64_t amount, uint32_t now,
                               char **text, uint8_t **req, size_t *len,
                               offpay_request *q)
{
    offpay_err rc;

    free(*text);
    free(*req);
    *text = NULL;
    *req = NULL;
    rc = offpay_terminal_request(t, amount, now, text, q);
    if (rc == OFFPAY_OK)
        rc = offpay_text_decode(*text, strlen(*text), req, len);
    return rc;
}

/* The caller's link, each session with a card limited to
 * OFFPAY_NFC_EXCHANGE_MS from its connect: a command asked after that is
 * not sent (OFFPAY_ECARD_SILENT, as from a card that stopped answering). */
typedef struct timed_link {
    const offpay_nfc_link *link;
    int64_t                until;
} timed_link;

static offpay_err timed_connect(void *ctx, uint32_t timeout_ms)
{
    timed_link *tl = ctx;
    offpay_err  rc = tl->link->connect(tl->link->ctx, timeout_ms);

    if (rc == OFFPAY_OK)
        tl->until = mono_ms() + OFFPAY_NFC_EXCHANGE_MS;
    return rc;
}

static offpay_err timed_transmit(void *ctx, const uint8_t *cmd, size_t len,
                                 uint8_t *resp, size_t cap, size_t *resp_len)
{
    timed_link *tl = ctx;

    *resp_len = 0;
    if (mono_ms() > tl->until)
        return OFFPAY_ECARD_SILENT;
    return tl->link->transmit(tl->link->ctx, cmd, len, resp, cap, resp_len);
}

static void timed_disconnect(void *ctx)
{
    timed_link *tl = ctx;

    tl->link->disconnect(tl->link->ctx);
}

static uint32_t left_ms(int64_t deadline)
{
    int64_t left = deadline - mono_ms();

    return left <= 0 ? 0 : (uint32_t)left;
}

/* The link's verdict that the card is gone for now: it left, or it
 * stopped answering (counted in *silent). Either way it may come back. */
static int card_gone(offpay_err rc, uint32_t *silent)
{
    if (rc == OFFPAY_ECARD_SILENT)
        (*silent)++;
    return rc == OFFPAY_EIO || rc == OFFPAY_ECARD_SILENT;
}

/* Waits for a card and selects offpay on it. OFFPAY_EIO: no card in time;
 * OFFPAY_ENOTFOUND: a card without offpay (*sw set). A card leaving (or
 * falling silent) during the SELECT is waited for again (a reader may
 * still report a card that has just left: look again after a short pause
 * rather than spin). */
static offpay_err tap(const offpay_nfc_link *link, int64_t deadline,
                      offpay_nfc_outcome *out, uint16_t *sw)
{
    offpay_err rc;

    for (;;) {
        uint32_t        left = left_ms(deadline);
        struct timespec pause = {0, 20 * 1000000L};

        if (left == 0)
            return OFFPAY_EIO;
        rc = link->connect(link->ctx, left);
        if (rc != OFFPAY_OK)
            return OFFPAY_EIO;
        rc = offpay_nfc_select(link, sw);
        if (rc == OFFPAY_OK) {
            out->taps++;
            return OFFPAY_OK;
        }
        link->disconnect(link->ctx);
        if (!card_gone(rc, &out->silent))
            return OFFPAY_ENOTFOUND;
        nanosleep(&pause, NULL);
    }
}

offpay_err offpay_nfc_terminal_pay(offpay_terminal *t, int64_t amount,
                                   const offpay_nfc_link      *card_link,
                                   const offpay_nfc_term_opts *opts,
                                   offpay_nfc_outcome         *out)
{
    timed_link      tl = {card_link, 0};
    offpay_nfc_link timed = {timed_connect, timed_transmit, timed_disconnect,
                             &tl};
    const offpay_nfc_link *link = &timed;
    char          *req_text = NULL, *code_text = NULL, *rcpt_text = NULL;
    uint8_t       *req = NULL, *rcpt = NULL, code[OFFPAY_NFC_MSG_MAX];
    size_t         req_len = 0, rcpt_len = 0, code_len = 0, chunk;
    int            connected = 0, have_code = 0, sent = 0;
    int64_t        deadline, began = mono_ms(), made = 0;
    uint16_t       sw = 0;
    offpay_request q;
    offpay_payment p;
    offpay_err     rc;

    if (out == NULL)
        return OFFPAY_EINVAL;
    memset(out, 0, sizeof *out);
    if (t == NULL || card_link == NULL || card_link->connect == NULL ||
        card_link->transmit == NULL || card_link->disconnect == NULL ||
        opts == NULL || opts->chunk > 255)
        return OFFPAY_EINVAL;
    chunk = opts->chunk == 0 ? 255 : opts->chunk;
    deadline = mono_ms() + opts->wait_ms;

    rc = make_request(t, amount, clock_at(opts, began), &req_text, &req,
                      &req_len, &q);
    made = mono_ms();
    if (rc != OFFPAY_OK)
        goto out;

    /* Until the code is in hand, a card leaving is not a verdict. The
     * request is made first (a terminal that cannot make one says so at
     * once), and again when the first card comes more than a minute later:
     * a gate may wait long, and the card's clock would find it old. Once
     * sent, it is sent as it is to a card that comes back: that card
     * answers it again with the same code, where a new request would have
     * it reserve a second. */
    while (!have_code) {
        rc = tap(link, deadline, out, &sw);
        if (rc != OFFPAY_OK) {
            out->sw = sw;
            goto out;
        }
        connected = 1;
        if (!sent && mono_ms() - made > REQUEST_FRESH_MS) {
            rc = make_request(t, amount, clock_at(opts, began), &req_text, &req,
                              &req_len, &q);
            made = mono_ms();
            if (rc != OFFPAY_OK)
                goto out;
        }
        sent = 1;
        rc = offpay_nfc_command(link, OFFPAY_NFC_INS_PAY, req, req_len, chunk,
                                code, sizeof code, &code_len, &sw);
        if (card_gone(rc, &out->silent)) {
            link->disconnect(link->ctx);
            connected = 0;
            continue;
        }
        if (rc != OFFPAY_OK)
            goto out;
        if (sw != OFFPAY_SW_OK) {
            out->sw = sw;
            rc = offpay_nfc_sw_error(sw);
            goto out;
        }
        have_code = 1;
    }

    /* The card's part is done: the code is judged on its merits, and
     * "accepted" means durable in the journal. It must answer the request
     * just sent: a code the card kept for another open request of this
     * terminal (a fare asked earlier) is refused here, where accept would
     * take it for that one; and it is charged the amount asked, which a
     * code authorizing less cannot pay (EOVER_AUTHORIZED). */
    rc = offpay_payment_decode(code, code_len, &p);
    if (rc == OFFPAY_OK &&
        (!p.bound || sodium_memcmp(p.nonce, q.nonce, sizeof q.nonce) != 0))
        rc = OFFPAY_EWRONG_NONCE;
    if (rc == OFFPAY_OK)
        rc = offpay_text_encode(code, code_len, &code_text);
    if (rc == OFFPAY_OK)
        rc = offpay_terminal_accept(t, code_text, strlen(code_text), amount,
                                    clock_at(opts, began), &out->acc);
    if (rc != OFFPAY_OK)
        goto out;
    out->accepted = 1;

    /* The receipt: best effort, the payment stands either way. */
    if (offpay_terminal_receipt(t, out->acc.seq, clock_at(opts, began),
                                &rcpt_text) != OFFPAY_OK ||
        offpay_text_decode(rcpt_text, strlen(rcpt_text), &rcpt, &rcpt_len) !=
            OFFPAY_OK)
        goto out;
    deadline = mono_ms() + opts->receipt_wait_ms;
    for (;;) {
        offpay_err r2;

        if (!connected) {
            r2 = tap(link, deadline, out, &sw);
            if (r2 != OFFPAY_OK) {
                out->receipt_sw = sw;
                break;
            }
            connected = 1;
        }
        r2 = offpay_nfc_command(link, OFFPAY_NFC_INS_RECEIPT, rcpt, rcpt_len,
                                chunk, NULL, 0, NULL, &sw);
        if (card_gone(r2, &out->silent)) {
            link->disconnect(link->ctx);
            connected = 0;
            continue;
        }
        if (r2 == OFFPAY_OK && sw == OFFPAY_SW_OK)
            out->receipt = 1;
        else
            out->receipt_sw = sw != 0 ? sw : OFFPAY_SW_INTERNAL;
        break;
    }
out:
    if (connected)
        link->disconnect(link->ctx);
    free(req_text);
    free(code_text);
    free(rcpt_text);
    free(req);
    free(rcpt);
    return rc;
}
