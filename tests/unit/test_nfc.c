/*
 * test_nfc.c — the NFC application and BLE framing in pure code (nfc.h):
 * APDU parsing, every refusal status word of the card state machine,
 * chaining and GET RESPONSE, and whole payments between a real terminal
 * and a real wallet's card role over an in-memory link that can lose the
 * card at any APDU (docs/nfc.md §6: nothing half-done on either side).
 * BLE: fragmentation at every MTU, strict reassembly, the timeout, and an
 * exchange of APDUs framed over a socket pair.
 *
 * The PC/SC reader and the vpcd card side are exercised end to end by
 * tests/e2e/nfc.sh with a real pcscd.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nfc/nfc_int.h"

#define NOW  1700000000u
#define DAY  86400u
#define EUR  978
#define USD  840
#define PASS "nfc test passphrase"

/* --------------------------------------------------------------- APDUs */

static void test_apdu_parse_cases(void)
{
    static const uint8_t c1[] = {0x80, 0x20, 0, 0};
    static const uint8_t c2[] = {0x00, 0xC0, 0, 0, 0x00};
    static const uint8_t c3[] = {0x80, 0x20, 0, 0, 2, 0xAA, 0xBB};
    static const uint8_t c4[] = {0x00, 0xA4, 4, 0, 1, 0xF0, 0x10};
    static const uint8_t ext[] = {0x80, 0x20, 0, 0, 0, 0, 1, 0xAA};
    static const uint8_t shortlc[] = {0x80, 0x20, 0, 0, 3, 0xAA};
    static const uint8_t trail[] = {0x80, 0x20, 0, 0, 1, 0xAA, 0, 0};
    offpay_apdu          a;

    REQUIRE_OK(offpay_apdu_parse(c1, sizeof c1, &a));
    CHECK(a.lc == 0 && a.le == 0 && a.data == NULL);
    REQUIRE_OK(offpay_apdu_parse(c2, sizeof c2, &a));
    CHECK(a.lc == 0 && a.le == 256);
    REQUIRE_OK(offpay_apdu_parse(c3, sizeof c3, &a));
    CHECK(a.lc == 2 && a.le == 0 && a.data == c3 + 5);
    REQUIRE_OK(offpay_apdu_parse(c4, sizeof c4, &a));
    CHECK(a.cla == 0 && a.ins == 0xA4 && a.p1 == 4 && a.lc == 1 && a.le == 16);
    CHECK_ERR(offpay_apdu_parse(c1, 3, &a), OFFPAY_ETRUNCATED);
    CHECK_ERR(offpay_apdu_parse(ext, sizeof ext, &a), OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_apdu_parse(shortlc, sizeof shortlc, &a),
              OFFPAY_ETRUNCATED);
    CHECK_ERR(offpay_apdu_parse(trail, sizeof trail, &a), OFFPAY_ETRAILING);
    CHECK_ERR(offpay_apdu_parse(NULL, 4, &a), OFFPAY_EINVAL);
}

static void test_apdu_build_round_trip(void)
{
    uint8_t     data[255], buf[OFFPAY_APDU_CMD_MAX];
    size_t      n = 0, lc, le;
    offpay_apdu a;

    for (lc = 0; lc < sizeof data; lc++)
        data[lc] = (uint8_t)(lc * 7);
    for (lc = 0; lc <= 255; lc += 51)
        for (le = 0; le <= 256; le += 64) {
            REQUIRE_OK(offpay_apdu_build(0x90, 0x20, 1, 2, data, lc, le, buf,
                                         sizeof buf, &n));
            REQUIRE_OK(offpay_apdu_parse(buf, n, &a));
            CHECK(a.cla == 0x90 && a.ins == 0x20 && a.p1 == 1 && a.p2 == 2);
            CHECK(a.lc == lc && a.le == le);
            CHECK(lc == 0 || memcmp(a.data, data, lc) == 0);
        }
    CHECK_ERR(offpay_apdu_build(0, 0, 0, 0, data, 256, 0, buf, sizeof buf, &n),
              OFFPAY_EINVAL);
    CHECK_ERR(offpay_apdu_build(0, 0, 0, 0, data, 10, 0, buf, 10, &n),
              OFFPAY_ERANGE);
}

/* ------------------------------------------- card state machine, alone */

/* A card whose wallet echoes the request reversed (so its answer can be
 * longer than one response) and takes any receipt starting with 0x30. */
typedef struct echo {
    int      pays, receipts;
    uint16_t refuse; /* pay's answer when nonzero */
    size_t   answer_len;
} echo;

static uint16_t echo_pay(void *ctx, const uint8_t *req, size_t len,
                         uint8_t *code, size_t cap, size_t *code_len)
{
    echo  *e = ctx;
    size_t i, n = e->answer_len != 0 ? e->answer_len : len;

    if (e->refuse != 0)
        return e->refuse;
    if (n > cap)
        return OFFPAY_SW_INTERNAL;
    for (i = 0; i < n; i++)
        code[i] = req[(len - 1 - i) % len];
    *code_len = n;
    e->pays++;
    return OFFPAY_SW_OK;
}

static uint16_t echo_receipt(void *ctx, const uint8_t *r, size_t len)
{
    echo *e = ctx;

    if (len == 0 || r[0] != 0x30)
        return OFFPAY_SW_BAD_DATA;
    e->receipts++;
    return OFFPAY_SW_OK;
}

static const offpay_nfc_card_ops echo_ops = {echo_pay, echo_receipt};

/* Sends hex-free bytes to the card; returns the status word and copies the
 * data (if any) into data/dlen. */
static uint16_t card_send(offpay_nfc_card *c, const uint8_t *cmd, size_t len,
                          uint8_t *data, size_t *dlen)
{
    uint8_t resp[OFFPAY_APDU_RESP_MAX];
    size_t  n = offpay_nfc_card_process(c, cmd, len, resp);

    if (data != NULL && dlen != NULL) {
        *dlen = n - 2;
        memcpy(data, resp, n - 2);
    }
    return (uint16_t)(resp[n - 2] << 8 | resp[n - 1]);
}

static uint16_t apdu(offpay_nfc_card *c, uint8_t cla, uint8_t ins, uint8_t p1,
                     uint8_t p2, const uint8_t *d, size_t lc, size_t le)
{
    uint8_t buf[OFFPAY_APDU_CMD_MAX];
    size_t  n = 0;

    if (offpay_apdu_build(cla, ins, p1, p2, d, lc, le, buf, sizeof buf, &n) !=
        OFFPAY_OK)
        return 0;
    return card_send(c, buf, n, NULL, NULL);
}

static uint16_t select_app(offpay_nfc_card *c)
{
    return apdu(c, 0x00, 0xA4, 0x04, 0x00, offpay_nfc_aid, OFFPAY_NFC_AID_LEN,
                256);
}

static void test_card_refusals_have_status_words(void)
{
    echo                 e = {0};
    offpay_nfc_card     *c = NULL;
    static const uint8_t other_aid[] = {0xA0, 0, 0, 0, 3, 0x10, 0x10};
    static const uint8_t msg[] = {0x30, 1, 2, 3};
    uint8_t              big[200];

    memset(big, 0x11, sizeof big);
    REQUIRE_OK(offpay_nfc_card_new(&echo_ops, &e, &c));
    /* Before SELECT, PAY and RECEIPT are out of order. */
    CHECK(apdu(c, 0x80, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_ORDER);
    CHECK(apdu(c, 0x80, 0x30, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_ORDER);
    /* Another application. */
    CHECK(apdu(c, 0x00, 0xA4, 4, 0, other_aid, sizeof other_aid, 0) ==
          OFFPAY_SW_NOT_FOUND);
    CHECK(apdu(c, 0x80, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_ORDER);
    CHECK(apdu(c, 0x00, 0xA4, 0, 0, offpay_nfc_aid, OFFPAY_NFC_AID_LEN, 0) ==
          OFFPAY_SW_WRONG_P1P2);
    CHECK(apdu(c, 0x00, 0xA4, 4, 0, NULL, 0, 0) == OFFPAY_SW_WRONG_LENGTH);
    CHECK(apdu(c, 0x10, 0xA4, 4, 0, offpay_nfc_aid, OFFPAY_NFC_AID_LEN, 0) ==
          OFFPAY_SW_CHAINING);
    REQUIRE(select_app(c) == OFFPAY_SW_OK);
    /* Class, instruction, parameters, length. */
    CHECK(apdu(c, 0x84, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_CLA);
    CHECK(apdu(c, 0x00, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_CLA);
    CHECK(apdu(c, 0x80, 0x99, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_INS);
    CHECK(apdu(c, 0x00, 0xB0, 0, 0, NULL, 0, 16) == OFFPAY_SW_INS);
    CHECK(apdu(c, 0x80, 0x20, 1, 0, msg, sizeof msg, 0) ==
          OFFPAY_SW_WRONG_P1P2);
    CHECK(apdu(c, 0x80, 0x20, 0, 0, NULL, 0, 0) == OFFPAY_SW_WRONG_LENGTH);
    CHECK(card_send(c, msg, 3, NULL, NULL) == OFFPAY_SW_WRONG_LENGTH);
    /* GET RESPONSE with nothing to fetch, or with bad parameters. */
    CHECK(apdu(c, 0x00, 0xC0, 0, 0, NULL, 0, 0) == OFFPAY_SW_ORDER);
    CHECK(apdu(c, 0x00, 0xC0, 1, 0, NULL, 0, 0) == OFFPAY_SW_WRONG_P1P2);
    CHECK(apdu(c, 0x10, 0xC0, 0, 0, NULL, 0, 0) == OFFPAY_SW_CLA);
    /* A chain longer than the cap is refused and forgotten. */
    {
        int      i;
        uint16_t sw = 0;

        for (i = 0; i < 6; i++) {
            sw = apdu(c, 0x90, 0x20, 0, 0, big, sizeof big, 0);
            if (sw != OFFPAY_SW_OK)
                break;
        }
        CHECK(sw == OFFPAY_SW_TOO_LARGE);
        CHECK(e.pays == 0);
    }
    /* A chain interrupted by another command is void. */
    CHECK(apdu(c, 0x90, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_OK);
    CHECK(apdu(c, 0x80, 0x30, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_ORDER);
    CHECK(apdu(c, 0x80, 0x30, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_OK);
    CHECK(e.receipts == 1 && e.pays == 0);
    /* The wallet's own refusal comes through, and nothing is paid. */
    e.refuse = OFFPAY_SW_OVER_MAX;
    CHECK(apdu(c, 0x80, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_OVER_MAX);
    e.refuse = 0;
    /* One PAY per session; a new SELECT starts a new session. */
    CHECK(apdu(c, 0x80, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_OK);
    CHECK(apdu(c, 0x80, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_ORDER);
    CHECK(select_app(c) == OFFPAY_SW_OK);
    CHECK(apdu(c, 0x80, 0x20, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_OK);
    CHECK(e.pays == 2);
    /* A reset (the field lost) forgets the selection. */
    offpay_nfc_card_reset(c);
    CHECK(apdu(c, 0x80, 0x30, 0, 0, msg, sizeof msg, 0) == OFFPAY_SW_ORDER);
    offpay_nfc_card_free(c);
}

static void test_card_chaining_and_get_response(void)
{
    echo             e = {0};
    offpay_nfc_card *c = NULL;
    uint8_t          req[600], got[700], d[300], cmd[OFFPAY_APDU_CMD_MAX];
    size_t           i, off, n = 0, dl = 0, total = 0;
    uint16_t         sw;

    for (i = 0; i < sizeof req; i++)
        req[i] = (uint8_t)(i * 13 + 1);
    e.answer_len = 600; /* more than two full responses */
    REQUIRE_OK(offpay_nfc_card_new(&echo_ops, &e, &c));
    REQUIRE(select_app(c) == OFFPAY_SW_OK);
    for (off = 0; off < sizeof req; off += 100) {
        int last = off + 100 >= sizeof req;

        REQUIRE_OK(offpay_apdu_build(last ? 0x80 : 0x90, 0x20, 0, 0, req + off,
                                     100, last ? 256 : 0, cmd, sizeof cmd, &n));
        sw = card_send(c, cmd, n, d, &dl);
        if (!last)
            CHECK(sw == OFFPAY_SW_OK && dl == 0);
    }
    /* 600 bytes: 256 now, 61 00 (256 or more left), 256, then 61 58. */
    CHECK(sw == 0x6100 && dl == 256);
    memcpy(got, d, dl);
    total = dl;
    while ((sw & 0xFF00) == 0x6100) {
        REQUIRE_OK(offpay_apdu_build(0, 0xC0, 0, 0, NULL, 0, 256, cmd,
                                     sizeof cmd, &n));
        sw = card_send(c, cmd, n, d, &dl);
        REQUIRE(total + dl <= sizeof got);
        memcpy(got + total, d, dl);
        total += dl;
        CHECK(sw == OFFPAY_SW_OK || sw == 0x6100 || sw == 0x6158);
    }
    CHECK(sw == OFFPAY_SW_OK && total == 600);
    for (i = 0; i < 600; i++)
        if (got[i] != req[599 - i])
            break;
    CHECK(i == 600);
    /* Nothing left to fetch. */
    CHECK(apdu(c, 0x00, 0xC0, 0, 0, NULL, 0, 256) == OFFPAY_SW_ORDER);
    offpay_nfc_card_free(c);
}

/* ------------------------------------------ in-memory link, real roles */

/* A link to a card in memory. The card "leaves the field" when it gets
 * the drop_at-th APDU of the whole exchange: it processes the APDU and the
 * answer is lost (with silent, the link says so as a PC/SC reader does of
 * a card that stopped answering: OFFPAY_ECARD_SILENT). It comes back for
 * the next connect if come_back, as back_as if set (the payer's app
 * started again in between). */
typedef struct memlink {
    offpay_nfc_card *card, *back_as;
    uint32_t         sent, drop_at, connects;
    int              present, come_back, dropped, silent;
} memlink;

static offpay_err ml_connect(void *ctx, uint32_t timeout_ms)
{
    memlink *m = ctx;

    (void)timeout_ms;
    if (!m->present && !(m->dropped && m->come_back))
        return OFFPAY_EIO;
    if (!m->present && m->back_as != NULL)
        m->card = m->back_as;
    m->present = 1;
    m->connects++;
    offpay_nfc_card_reset(m->card); /* power on */
    return OFFPAY_OK;
}

static offpay_err ml_transmit(void *ctx, const uint8_t *cmd, size_t len,
                              uint8_t *resp, size_t cap, size_t *rlen)
{
    memlink *m = ctx;
    uint8_t  r[OFFPAY_APDU_RESP_MAX];
    size_t   n;

    *rlen = 0;
    if (!m->present)
        return OFFPAY_EIO;
    n = offpay_nfc_card_process(m->card, cmd, len, r);
    if (++m->sent == m->drop_at) {
        m->present = 0;
        m->dropped = 1;
        offpay_nfc_card_reset(m->card);
        return m->silent ? OFFPAY_ECARD_SILENT : OFFPAY_EIO;
    }
    if (n > cap)
        return OFFPAY_EIO;
    memcpy(resp, r, n);
    *rlen = n;
    return OFFPAY_OK;
}

static void ml_disconnect(void *ctx)
{
    memlink *m = ctx;

    offpay_nfc_card_reset(m->card); /* power off */
}

typedef struct world {
    char             dir[512];
    offpay_issuer   *is;
    uint8_t          root_pk[OFFPAY_PK_BYTES];
    uint8_t         *bundle;
    size_t           bundle_len;
    offpay_wallet   *w;
    offpay_terminal *t;
} world;

static void world_free(world *x)
{
    offpay_terminal_close(x->t);
    offpay_wallet_close(x->w);
    offpay_issuer_close(x->is);
    free(x->bundle);
    memset(x, 0, sizeof *x);
}

/* Issuer, a wallet holding a 100.00 EUR credential, a terminal of
 * merchant 7 in EUR, in tmpdir/name. */
static int world_init(world *x, const char *name)
{
    char                 path[600];
    uint8_t              pk[OFFPAY_PK_BYTES], buf[512], *rl = NULL;
    size_t               n = 0, rllen = 0;
    offpay_wallet_cred   wc;
    offpay_terminal_cred tc;
    int                  ok;

    memset(x, 0, sizeof *x);
    setenv("OFFPAY_KDF_COST", "test", 1);
    snprintf(x->dir, sizeof x->dir, "%s/%s", offpay_test_tmpdir(), name);
    if (mkdir(x->dir, 0700) != 0 && errno != EEXIST)
        return 0;
    snprintf(path, sizeof path, "%s/issuer", x->dir);
    if (offpay_issuer_create(path, PASS, NOW - DAY, &x->is) != OFFPAY_OK)
        return 0;
    offpay_issuer_root_pk(x->is, x->root_pk);
    if (offpay_issuer_bundle(x->is, &x->bundle, &x->bundle_len) != OFFPAY_OK)
        return 0;
    snprintf(path, sizeof path, "%s/wallet", x->dir);
    if (offpay_wallet_create(path, PASS, x->root_pk, x->bundle, x->bundle_len,
                             &x->w) != OFFPAY_OK)
        return 0;
    offpay_wallet_public_key(x->w, pk);
    if (offpay_issuer_issue_wallet(x->is, pk, 10000, EUR, NOW - DAY,
                                   NOW + 30 * DAY, OFFPAY_CRED_ALLOW_UNBOUND,
                                   &wc) != OFFPAY_OK ||
        offpay_wallet_cred_encode(&wc, buf, sizeof buf, &n) != OFFPAY_OK ||
        offpay_wallet_add_credential(x->w, buf, n, NOW) != OFFPAY_OK)
        return 0;
    snprintf(path, sizeof path, "%s/terminal", x->dir);
    if (offpay_terminal_create(path, PASS, x->root_pk, x->bundle, x->bundle_len,
                               EUR, &x->t) != OFFPAY_OK)
        return 0;
    offpay_terminal_public_key(x->t, pk);
    ok = offpay_issuer_issue_terminal(x->is, 7, pk, EUR, "NFC Shop", NOW - DAY,
                                      NOW + 365 * DAY, &tc) == OFFPAY_OK &&
         offpay_terminal_cred_encode(&tc, buf, sizeof buf, &n) == OFFPAY_OK &&
         offpay_terminal_set_credential(x->t, buf, n, NOW) == OFFPAY_OK &&
         offpay_issuer_revlist(x->is, NOW, &rl, &rllen) == OFFPAY_OK &&
         offpay_terminal_sync(x->t, NULL, 0, rl, rllen, NOW) == OFFPAY_OK;
    free(rl);
    return ok;
}

static uint32_t fixed_now(void *ctx)
{
    (void)ctx;
    return NOW;
}

static int count_entry(const offpay_journal_entry *e, void *ctx)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

static int journal_rows(offpay_terminal *t)
{
    int n = 0;

    if (offpay_terminal_journal(t, count_entry, &n) != OFFPAY_OK)
        return -1;
    return n;
}

/* The wallet armed for pays payments of at most max EUR, its clock now. */
static offpay_nfc_wallet_card *armed_at(world *x, int64_t max, uint32_t pays,
                                        uint32_t (*now)(void *ctx))
{
    offpay_nfc_wallet_cfg   cfg;
    offpay_nfc_wallet_card *wc = NULL;

    memset(&cfg, 0, sizeof cfg);
    cfg.max_amount = max;
    cfg.currency = EUR;
    cfg.payments = pays;
    cfg.now = now;
    if (offpay_nfc_wallet_card_new(x->w, &cfg, &wc) != OFFPAY_OK)
        return NULL;
    return wc;
}

static offpay_nfc_wallet_card *armed(world *x, int64_t max, uint32_t pays)
{
    return armed_at(x, max, pays, fixed_now);
}

static offpay_nfc_link link_of(memlink *m)
{
    offpay_nfc_link l = {ml_connect, ml_transmit, ml_disconnect, m};

    return l;
}

static void test_payment_over_memory_link(void)
{
    world                   x;
    offpay_nfc_wallet_card *wc;
    memlink                 m = {0};
    offpay_nfc_link         l;
    offpay_nfc_term_opts    o = {64, 1000, 0, NOW};
    offpay_nfc_outcome      res;
    offpay_wallet_balance   b;

    REQUIRE(world_init(&x, "plain"));
    wc = armed(&x, 2000, 1);
    REQUIRE(wc != NULL);
    m.card = offpay_nfc_wallet_card_card(wc);
    m.present = 1;
    l = link_of(&m);
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 1250, &l, &o, &res), OFFPAY_OK);
    CHECK(res.accepted && res.receipt && res.taps == 1);
    CHECK(res.acc.charged == 1250 && res.acc.payment.bound);
    CHECK(journal_rows(x.t) == 1);
    CHECK(offpay_nfc_wallet_card_paid(wc) == 1);
    CHECK(offpay_nfc_wallet_card_receipts(wc) == 1);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b));
    CHECK(b.confirmed == 1250 && b.pending == 0 && b.codes == 1);
    /* 64-byte chunks: SELECT, 4 PAY, 4 answers (1 + 3 GET RESPONSE),
     * 4 RECEIPT. */
    CHECK(m.sent == 12);
    /* The receipt given again (the card came back for it, or a reader
     * replays it): the wallet keeps it, but it counts once. */
    {
        char    *rt = NULL;
        uint8_t *rb = NULL;
        size_t   rl = 0;
        uint16_t sw = 0;

        REQUIRE_OK(offpay_terminal_receipt(x.t, res.acc.seq, NOW, &rt));
        REQUIRE_OK(offpay_text_decode(rt, strlen(rt), &rb, &rl));
        REQUIRE_OK(offpay_nfc_select(&l, &sw));
        REQUIRE_OK(offpay_nfc_command(&l, OFFPAY_NFC_INS_RECEIPT, rb, rl, 64,
                                      NULL, 0, NULL, &sw));
        CHECK(sw == OFFPAY_SW_OK);
        CHECK(offpay_nfc_wallet_card_receipts(wc) == 1);
        free(rt);
        free(rb);
        m.sent = 12;
    }

    /* A second tap of the same card for a new payment: armed for one. */
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 100, &l, &o, &res),
              OFFPAY_EINSUFFICIENT);
    CHECK(!res.accepted && res.sw == OFFPAY_SW_NOT_ARMED);
    CHECK(journal_rows(x.t) == 1);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b));
    CHECK(b.codes == 1);
    offpay_nfc_wallet_card_free(wc);

    /* Above the armed maximum: refused before anything is reserved. */
    wc = armed(&x, 500, 1);
    REQUIRE(wc != NULL);
    m.card = offpay_nfc_wallet_card_card(wc);
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 501, &l, &o, &res),
              OFFPAY_EOVER_AUTHORIZED);
    CHECK(res.sw == OFFPAY_SW_OVER_MAX && !res.accepted);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b));
    CHECK(b.codes == 1 && journal_rows(x.t) == 1);
    offpay_nfc_wallet_card_free(wc);
    world_free(&x);
}

/*
 * The card leaves the field at every APDU k of the exchange. With the card
 * coming back (a second tap) the payment completes, with exactly one code
 * made. With the card gone for good, the terminal says accepted iff the
 * journal has the payment, and the wallet holds at most one reservation.
 */
static void test_card_pulled_at_every_step(void)
{
    world    x;
    uint32_t k;
    int      rows = 0;
    uint32_t codes = 0, last_counter = 0;

    REQUIRE(world_init(&x, "pulled"));
    for (k = 1; k <= 12; k++) {
        int back;

        for (back = 1; back >= 0; back--) {
            offpay_nfc_wallet_card *wc = armed(&x, 2000, 1);
            memlink                 m = {0};
            offpay_nfc_link         l;
            offpay_nfc_term_opts    o = {64, 1000, 1000, NOW};
            offpay_nfc_outcome      res;
            offpay_wallet_balance   b;
            offpay_err              rc;
            size_t                  ns;

            REQUIRE(wc != NULL);
            m.card = offpay_nfc_wallet_card_card(wc);
            m.present = 1;
            m.drop_at = k;
            m.come_back = back;
            l = link_of(&m);
            rc = offpay_nfc_terminal_pay(x.t, 300, &l, &o, &res);
            if (rc == OFFPAY_OK)
                rows++;
            CHECK(journal_rows(x.t) == rows);
            CHECK((rc == OFFPAY_OK) == res.accepted);
            if (back) {
                CHECK(rc == OFFPAY_OK && res.receipt &&
                      res.taps == (k == 1 ? 1u : 2u));
            } else {
                /* Gone before the code: nothing. After: accepted, no
                 * receipt. (k <= 5: SELECT or PAY; 6..8 GET RESPONSE.) */
                CHECK(rc == (k <= 8 ? OFFPAY_EIO : OFFPAY_OK));
                CHECK(!res.receipt);
            }
            /* At most one new code per exchange, counters only grow. */
            REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b));
            CHECK(b.codes == codes || b.codes == codes + 1);
            CHECK(offpay_nfc_wallet_card_paid(wc) <= 1);
            CHECK(res.accepted ? b.codes == codes + 1 : 1);
            codes = b.codes;
            ns = offpay_wallet_n_spends(x.w);
            if (ns > 0) {
                offpay_wallet_spend s;

                REQUIRE_OK(offpay_wallet_get_spend(x.w, ns - 1, &s));
                CHECK(s.counter >= last_counter);
                last_counter = s.counter;
            }
            offpay_nfc_wallet_card_free(wc);
        }
    }
    world_free(&x);
}

/* The card leaves the field after the wallet made the code (its answer
 * lost), and comes back as another card object on the same wallet (the
 * app started again): the wallet's log gives the same code, counted as
 * resent, not as a second payment; one code, one reservation. */
static void test_card_back_as_another(void)
{
    world                   x;
    offpay_nfc_wallet_card *first, *second;
    memlink                 m = {0};
    offpay_nfc_link         l;
    offpay_nfc_term_opts    o = {64, 1000, 1000, NOW};
    offpay_nfc_outcome      res;
    offpay_wallet_balance   b;

    REQUIRE(world_init(&x, "back_as"));
    first = armed(&x, 2000, 1);
    second = armed(&x, 2000, 1);
    REQUIRE(first != NULL && second != NULL);
    m.card = offpay_nfc_wallet_card_card(first);
    m.back_as = offpay_nfc_wallet_card_card(second);
    m.present = 1;
    m.drop_at = 5; /* the PAY's last chunk: the code made, its answer lost */
    m.come_back = 1;
    l = link_of(&m);
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 300, &l, &o, &res), OFFPAY_OK);
    CHECK(res.accepted && res.taps == 2 && res.receipt);
    CHECK(offpay_nfc_wallet_card_paid(first) == 1);
    CHECK(offpay_nfc_wallet_card_paid(second) == 0);
    CHECK(journal_rows(x.t) == 1);
    REQUIRE_OK(offpay_wallet_get_balance(x.w, 0, NOW, &b));
    CHECK(b.codes == 1 && b.confirmed == 300 && b.pending == 0);
    CHECK(offpay_wallet_n_spends(x.w) == 1);
    offpay_nfc_wallet_card_free(first);
    offpay_nfc_wallet_card_free(second);
    world_free(&x);
}

/* A card that stops answering (the reader gives the command up) is taken
 * as gone: at the SELECT or after the wallet made its code, it is paid
 * when it answers again, with one code; when it does not come back,
 * nothing is recorded. Each silence is counted. */
static void test_silent_card_taken_as_gone(void)
{
    static const struct {
        uint32_t   drop_at;
        int        back;
        offpay_err want;
    } cases[] = {
        {1, 1, OFFPAY_OK},  /* SELECT */
        {5, 1, OFFPAY_OK},  /* the PAY's last chunk: the code made */
        {3, 0, OFFPAY_EIO}, /* mid-request, never back */
    };
    world  x;
    size_t i;
    int    rows = 0;

    REQUIRE(world_init(&x, "silent"));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        offpay_nfc_wallet_card *wc = armed(&x, 2000, 1);
        memlink                 m = {0};
        offpay_nfc_link         l;
        offpay_nfc_term_opts    o = {64, 1000, 1000, NOW};
        offpay_nfc_outcome      res;

        REQUIRE(wc != NULL);
        m.card = offpay_nfc_wallet_card_card(wc);
        m.present = 1;
        m.drop_at = cases[i].drop_at;
        m.come_back = cases[i].back;
        m.silent = 1;
        l = link_of(&m);
        CHECK_ERR(offpay_nfc_terminal_pay(x.t, 300, &l, &o, &res),
                  cases[i].want);
        CHECK(res.silent == 1);
        CHECK(res.accepted == (cases[i].want == OFFPAY_OK));
        CHECK(offpay_nfc_wallet_card_paid(wc) <= 1);
        rows += res.accepted;
        CHECK(journal_rows(x.t) == rows);
        offpay_nfc_wallet_card_free(wc);
    }
    world_free(&x);
}

/* A hostile card: answers every APDU with the same bytes, at most limit
 * times (then the link fails, as a card leaving). */
typedef struct hostile {
    uint8_t  answer[OFFPAY_APDU_RESP_MAX];
    size_t   len;
    uint32_t calls, limit;
} hostile;

static offpay_err h_transmit(void *ctx, const uint8_t *cmd, size_t len,
                             uint8_t *resp, size_t cap, size_t *rlen)
{
    hostile *h = ctx;

    (void)cmd;
    (void)len;
    *rlen = 0;
    if (++h->calls > h->limit || h->len > cap)
        return OFFPAY_EIO;
    memcpy(resp, h->answer, h->len);
    *rlen = h->len;
    return OFFPAY_OK;
}

static void test_terminal_survives_a_hostile_card(void)
{
    hostile         h;
    offpay_nfc_link l = {ml_connect, h_transmit, ml_disconnect, &h};
    uint8_t         msg[300], out[OFFPAY_NFC_MSG_MAX];
    size_t          n = 0;
    uint16_t        sw = 0;

    memset(msg, 0x42, sizeof msg);
    /* "More to come" with no data, forever: refused, not looped on. */
    memset(&h, 0, sizeof h);
    h.answer[0] = 0x61;
    h.answer[1] = 0x00;
    h.len = 2;
    h.limit = 100000;
    CHECK_ERR(offpay_nfc_command(&l, OFFPAY_NFC_INS_PAY, msg, 10, 255, out,
                                 sizeof out, &n, &sw),
              OFFPAY_EMALFORMED);
    CHECK(h.calls == 1);
    /* "More to come" with data, forever: stops at the cap. */
    memset(&h, 0, sizeof h);
    memset(h.answer, 0xAB, 256);
    h.answer[256] = 0x61;
    h.len = 258;
    h.limit = 100000;
    CHECK_ERR(offpay_nfc_command(&l, OFFPAY_NFC_INS_PAY, msg, 10, 255, out,
                                 sizeof out, &n, &sw),
              OFFPAY_ETOOBIG);
    CHECK(h.calls <= 5);
    /* No status word; data with a chain piece's 9000. */
    memset(&h, 0, sizeof h);
    h.len = 1;
    h.limit = 10;
    CHECK_ERR(offpay_nfc_command(&l, OFFPAY_NFC_INS_PAY, msg, 10, 255, out,
                                 sizeof out, &n, &sw),
              OFFPAY_EMALFORMED);
    memset(&h, 0, sizeof h);
    h.answer[1] = 0x90;
    h.len = 3;
    h.limit = 10;
    CHECK_ERR(offpay_nfc_command(&l, OFFPAY_NFC_INS_PAY, msg, sizeof msg, 100,
                                 out, sizeof out, &n, &sw),
              OFFPAY_EMALFORMED);
    /* A SELECT answered by another application. */
    memset(&h, 0, sizeof h);
    h.answer[0] = 0x6A;
    h.answer[1] = 0x82;
    h.len = 2;
    h.limit = 10;
    CHECK_ERR(offpay_nfc_select(&l, &sw), OFFPAY_ENOTFOUND);
    CHECK(sw == OFFPAY_SW_NOT_FOUND);
}

/* ----------------------------------------------------------------- BLE */

static void test_ble_fragments_every_mtu(void)
{
    uint8_t        msg[OFFPAY_BLE_MSG_MAX], frag[OFFPAY_BLE_MTU_MAX];
    size_t         mtu, len, i, fl = 0, count, ml = 0;
    const uint8_t *out;
    offpay_ble_rx  rx;
    int            bad = 0;

    for (i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i ^ (i >> 3));
    for (mtu = OFFPAY_BLE_MTU_MIN; mtu <= OFFPAY_BLE_MTU_MAX; mtu += 7)
        for (len = 1; len <= OFFPAY_BLE_MSG_MAX; len += 61) {
            offpay_ble_rx_init(&rx);
            count = offpay_ble_fragments(len, mtu);
            if (count == 0 || count > 255)
                bad++;
            for (i = 0; i < count; i++) {
                out = NULL;
                if (offpay_ble_fragment(msg, len, mtu, i, frag, sizeof frag,
                                        &fl) != OFFPAY_OK ||
                    fl > mtu - 3 ||
                    offpay_ble_rx_push(&rx, frag, fl, 10, &out, &ml) !=
                        OFFPAY_OK)
                    bad++;
                if ((out != NULL) != (i + 1 == count))
                    bad++;
            }
            if (out == NULL || ml != len || memcmp(out, msg, len) != 0)
                bad++;
        }
    CHECK(bad == 0);
    CHECK(offpay_ble_fragments(0, 23) == 0);
    CHECK(offpay_ble_fragments(OFFPAY_BLE_MSG_MAX + 1, 23) == 0);
    CHECK(offpay_ble_fragments(10, 22) == 0);
}

static void test_ble_reassembly_is_strict(void)
{
    offpay_ble_rx        rx;
    const uint8_t       *out = NULL;
    size_t               ml = 0;
    static const uint8_t first[] = {0, 0, 5, 'a', 'b'};
    static const uint8_t second[] = {1, 'c', 'd', 'e'};
    static const uint8_t skip[] = {2, 'c', 'd', 'e'};
    static const uint8_t tail[] = {1, 'c', 'd', 'e', 'f'};
    static const uint8_t huge[] = {0, 0x04, 0x01, 'x'};
    static const uint8_t zero[] = {0, 0, 0};

    offpay_ble_rx_init(&rx);
    CHECK_ERR(offpay_ble_rx_push(&rx, second, sizeof second, 0, &out, &ml),
              OFFPAY_EMALFORMED); /* continuation of nothing */
    CHECK_ERR(offpay_ble_rx_push(&rx, huge, sizeof huge, 0, &out, &ml),
              OFFPAY_ETOOBIG);
    CHECK_ERR(offpay_ble_rx_push(&rx, zero, sizeof zero, 0, &out, &ml),
              OFFPAY_EMALFORMED);
    CHECK_ERR(offpay_ble_rx_push(&rx, first, 2, 0, &out, &ml),
              OFFPAY_ETRUNCATED);
    REQUIRE_OK(offpay_ble_rx_push(&rx, first, sizeof first, 0, &out, &ml));
    CHECK(out == NULL);
    CHECK_ERR(offpay_ble_rx_push(&rx, skip, sizeof skip, 10, &out, &ml),
              OFFPAY_EMALFORMED);
    REQUIRE_OK(offpay_ble_rx_push(&rx, first, sizeof first, 20, &out, &ml));
    CHECK_ERR(offpay_ble_rx_push(&rx, tail, sizeof tail, 30, &out, &ml),
              OFFPAY_ETRAILING);
    /* A sender silent for longer than the timeout: the part is dropped. */
    REQUIRE_OK(offpay_ble_rx_push(&rx, first, sizeof first, 40, &out, &ml));
    CHECK_ERR(offpay_ble_rx_push(&rx, second, sizeof second,
                                 40 + OFFPAY_BLE_TIMEOUT_MS + 1, &out, &ml),
              OFFPAY_EMALFORMED);
    REQUIRE_OK(offpay_ble_rx_push(&rx, first, sizeof first, 5000, &out, &ml));
    REQUIRE_OK(offpay_ble_rx_push(&rx, second, sizeof second, 5001, &out, &ml));
    CHECK(out != NULL && ml == 5 && memcmp(out, "abcde", 5) == 0);
}

/* Sends msg over a SOCK_SEQPACKET socket, one datagram per ATT PDU. */
static int ble_send(int fd, const uint8_t *msg, size_t len, size_t mtu)
{
    uint8_t frag[OFFPAY_BLE_MTU_MAX];
    size_t  i, fl = 0, count = offpay_ble_fragments(len, mtu);

    if (count == 0)
        return -1;
    for (i = 0; i < count; i++)
        if (offpay_ble_fragment(msg, len, mtu, i, frag, sizeof frag, &fl) !=
                OFFPAY_OK ||
            send(fd, frag, fl, 0) != (ssize_t)fl)
            return -1;
    return 0;
}

/* Receives one whole message into out. Returns its length or -1. */
static long ble_recv(int fd, offpay_ble_rx *rx, uint8_t *out, size_t cap)
{
    uint8_t        frag[OFFPAY_BLE_MTU_MAX];
    const uint8_t *msg = NULL;
    size_t         ml = 0;

    while (msg == NULL) {
        ssize_t n = recv(fd, frag, sizeof frag, 0);

        if (n <= 0 ||
            offpay_ble_rx_push(rx, frag, (size_t)n, 0, &msg, &ml) != OFFPAY_OK)
            return -1;
    }
    if (ml > cap)
        return -1;
    memcpy(out, msg, ml);
    return (long)ml;
}

/* The card role answers APDUs framed over BLE (a socket pair standing in
 * for the write and notify characteristics), at the smallest MTU. */
static void test_ble_apdus_over_socketpair(void)
{
    int              sv[2];
    echo             e = {0};
    offpay_nfc_card *c = NULL;
    offpay_ble_rx    rx_card, rx_term;
    uint8_t          cmd[OFFPAY_APDU_CMD_MAX], buf[OFFPAY_BLE_MSG_MAX],
        resp[OFFPAY_APDU_RESP_MAX], req[200];
    size_t n = 0, i;
    long   got;

    for (i = 0; i < sizeof req; i++)
        req[i] = (uint8_t)i;
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
    REQUIRE_OK(offpay_nfc_card_new(&echo_ops, &e, &c));
    offpay_ble_rx_init(&rx_card);
    offpay_ble_rx_init(&rx_term);
    /* SELECT, then PAY with a 200-byte request: 11+ fragments each way. */
    REQUIRE_OK(offpay_apdu_build(0, 0xA4, 4, 0, offpay_nfc_aid,
                                 OFFPAY_NFC_AID_LEN, 256, cmd, sizeof cmd, &n));
    for (i = 0; i < 2; i++) {
        size_t rl;

        REQUIRE(ble_send(sv[0], cmd, n, OFFPAY_BLE_MTU_MIN) == 0);
        got = ble_recv(sv[1], &rx_card, buf, sizeof buf);
        REQUIRE(got > 0);
        rl = offpay_nfc_card_process(c, buf, (size_t)got, resp);
        REQUIRE(ble_send(sv[1], resp, rl, OFFPAY_BLE_MTU_MIN) == 0);
        got = ble_recv(sv[0], &rx_term, buf, sizeof buf);
        REQUIRE(got >= 2);
        CHECK(buf[got - 2] == 0x90 && buf[got - 1] == 0x00);
        if (i == 1) {
            CHECK(got == 202);
            CHECK(buf[0] == 199 && buf[199] == 0);
        }
        REQUIRE_OK(offpay_apdu_build(0x80, 0x20, 0, 0, req, sizeof req, 256,
                                     cmd, sizeof cmd, &n));
    }
    CHECK(e.pays == 1);
    offpay_nfc_card_free(c);
    close(sv[0]);
    close(sv[1]);
}

/* A card that answers any request with the code it holds (code, len). */
typedef struct replay {
    uint8_t code[OFFPAY_NFC_MSG_MAX];
    size_t  len;
} replay;

static uint16_t replay_pay(void *ctx, const uint8_t *req, size_t len,
                           uint8_t *code, size_t cap, size_t *code_len)
{
    replay *r = ctx;

    (void)req;
    (void)len;
    if (r->len > cap)
        return OFFPAY_SW_INTERNAL;
    memcpy(code, r->code, r->len);
    *code_len = r->len;
    return OFFPAY_SW_OK;
}

static const offpay_nfc_card_ops replay_ops = {replay_pay, echo_receipt};

/*
 * The gate asks 50.00; the card answers with a code a real wallet made
 * for a 1.00 request of the same terminal (a cheaper fare it asked
 * earlier, still open): refused, nothing in the journal, the cheap
 * request still open. Without the check the gate took it as payment of
 * the cheap request and opened.
 */
static void test_code_for_another_request_refused(void)
{
    world                x;
    replay               r;
    offpay_nfc_card     *c = NULL;
    memlink              m = {0};
    offpay_nfc_link      l;
    offpay_nfc_term_opts o = {0, 1000, 0, NOW};
    offpay_nfc_outcome   res;
    offpay_request       q;
    char                *req = NULL, *code = NULL;
    uint8_t             *bytes = NULL;

    REQUIRE(world_init(&x, "other_request"));
    REQUIRE_OK(offpay_terminal_request(x.t, 100, NOW, &req, NULL));
    REQUIRE_OK(offpay_wallet_read_request(x.w, req, NOW, &q));
    REQUIRE_OK(offpay_wallet_pay_request(x.w, &q, NOW, &code, NULL));
    REQUIRE_OK(offpay_text_decode(code, strlen(code), &bytes, &r.len));
    REQUIRE(r.len <= sizeof r.code);
    memcpy(r.code, bytes, r.len);
    REQUIRE_OK(offpay_nfc_card_new(&replay_ops, &r, &c));
    m.card = c;
    m.present = 1;
    l = link_of(&m);
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 5000, &l, &o, &res),
              OFFPAY_EWRONG_NONCE);
    CHECK(!res.accepted && journal_rows(x.t) == 0);
    /* the cheap request's own code is still good for it */
    {
        offpay_acceptance acc;

        CHECK_ERR(offpay_terminal_accept(x.t, code, strlen(code), 0, NOW, &acc),
                  OFFPAY_OK);
        CHECK(acc.charged == 100 && journal_rows(x.t) == 1);
    }
    offpay_nfc_card_free(c);
    free(req);
    free(code);
    free(bytes);
    world_free(&x);
}

/* A card that takes 4.5 s (just inside the answer limit) over every
 * command, answers SELECT, and answers PAY and every GET RESPONSE with
 * one byte and "more" (61 01): it would have the terminal fetch its 1024
 * bytes a byte at a time, for over an hour. */
static offpay_err slow_connect(void *ctx, uint32_t timeout_ms)
{
    (void)ctx;
    (void)timeout_ms;
    return OFFPAY_OK;
}

static offpay_err slow_transmit(void *ctx, const uint8_t *cmd, size_t len,
                                uint8_t *resp, size_t cap, size_t *rlen)
{
    uint32_t *calls = ctx;

    (void)len;
    (*calls)++;
    offpay__nfc_clock_ahead_ms += 4500; /* the time it took */
    if (cap < 3)
        return OFFPAY_EIO;
    if (cmd[1] == OFFPAY_NFC_INS_SELECT) {
        memcpy(resp, "\x01\x90\x00", 3);
    } else {
        memcpy(resp, "\xAB\x61\x01", 3);
    }
    *rlen = 3;
    return OFFPAY_OK;
}

static void slow_disconnect(void *ctx)
{
    (void)ctx;
}

/* Each session with a card has OFFPAY_NFC_EXCHANGE_MS in all: the slow
 * card is given up as silent after three commands, and the gate, whose
 * --wait has passed meanwhile, returns: nothing recorded. */
static void test_slow_card_given_up(void)
{
    world           x;
    uint32_t        calls = 0;
    offpay_nfc_link l = {slow_connect, slow_transmit, slow_disconnect, &calls};
    offpay_nfc_term_opts o = {0, 5000, 1000, NOW};
    offpay_nfc_outcome   res;

    REQUIRE(world_init(&x, "slow_card"));
    offpay__nfc_clock_ahead_ms = 0;
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 300, &l, &o, &res), OFFPAY_EIO);
    offpay__nfc_clock_ahead_ms = 0;
    CHECK(calls == 3 && res.silent == 1 && !res.accepted);
    CHECK(journal_rows(x.t) == 0);
    world_free(&x);
}

static uint32_t later_now(void *ctx)
{
    (void)ctx;
    return NOW + 150;
}

/* The card comes 150 s after the gate began waiting. */
static offpay_err late_connect(void *ctx, uint32_t timeout_ms)
{
    offpay__nfc_clock_ahead_ms = 150000;
    return ml_connect(ctx, timeout_ms);
}

/*
 * A gate waits 150 s for a phone (more than the 120 s skew), whose clock
 * says so: the code it makes is dated then. The gate's clock moved on
 * while it waited, and its request was made again when the card came, so
 * the payment is accepted. (With the clock stopped at the start, the code
 * looked early: ECODE_FUTURE, after the wallet had reserved it.)
 */
static void test_late_tap_accepted(void)
{
    world                   x;
    offpay_nfc_wallet_card *wc;
    memlink                 m = {0};
    offpay_nfc_link         l;
    offpay_nfc_term_opts    o = {0, 1000, 0, NOW};
    offpay_nfc_outcome      res;

    REQUIRE(world_init(&x, "late_tap"));
    wc = armed_at(&x, 2000, 1, later_now);
    REQUIRE(wc != NULL);
    m.card = offpay_nfc_wallet_card_card(wc);
    m.present = 1;
    l = link_of(&m);
    l.connect = late_connect;
    CHECK_ERR(offpay_nfc_terminal_pay(x.t, 1250, &l, &o, &res), OFFPAY_OK);
    offpay__nfc_clock_ahead_ms = 0;
    CHECK(res.accepted && res.receipt && journal_rows(x.t) == 1);
    CHECK(res.acc.payment.time >= NOW + 150);
    offpay_nfc_wallet_card_free(wc);
    world_free(&x);
}

int main(void)
{
    static const offpay_test tests[] = {
        {"apdu_parse_cases", test_apdu_parse_cases},
        {"apdu_build_round_trip", test_apdu_build_round_trip},
        {"card_refusals_have_status_words",
         test_card_refusals_have_status_words},
        {"card_chaining_and_get_response", test_card_chaining_and_get_response},
        {"payment_over_memory_link", test_payment_over_memory_link},
        {"card_pulled_at_every_step", test_card_pulled_at_every_step},
        {"card_back_as_another", test_card_back_as_another},
        {"silent_card_taken_as_gone", test_silent_card_taken_as_gone},
        {"slow_card_given_up", test_slow_card_given_up},
        {"code_for_another_request_refused",
         test_code_for_another_request_refused},
        {"late_tap_accepted", test_late_tap_accepted},
        {"terminal_survives_a_hostile_card",
         test_terminal_survives_a_hostile_card},
        {"ble_fragments_every_mtu", test_ble_fragments_every_mtu},
        {"ble_reassembly_is_strict", test_ble_reassembly_is_strict},
        {"ble_apdus_over_socketpair", test_ble_apdus_over_socketpair},
        {NULL, NULL},
    };

    return offpay_test_main(tests);
}
