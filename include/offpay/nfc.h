/*
 * offpay/nfc.h — offpay over NFC (an ISO 7816-4 application) and the
 * framing of Bluetooth LE. docs/nfc.md is the normative description; this
 * header is its C mirror.
 *
 * The NFC layer only carries the protocol's existing signed messages (the
 * request, the bound payment code, the receipt: docs/protocol.md §2) in
 * their binary form; it adds no cryptography. Pieces:
 *
 *   - APDU parsing and building (short APDUs only), pure;
 *   - the card role: a state machine that answers command APDUs, pure, with
 *     the wallet's decisions behind a small function table; and the wallet
 *     binding of that table (offpay_nfc_wallet_card_*), armed beforehand
 *     with a maximum amount like a phone's "tap to pay up to X";
 *   - the terminal role: the exchange (SELECT, request, bound code,
 *     receipt) over any link that can wait for a card and transmit APDUs,
 *     with the terminal's durability rule kept whatever the card does;
 *   - two links: a PC/SC reader (libpcsclite, the terminal side) and the
 *     card side of vsmartcard's virtual reader (vpcd's socket protocol);
 *   - Bluetooth LE framing of messages larger than one ATT payload, pure.
 *
 * Nothing here is thread-safe per object; distinct objects may be used from
 * distinct threads.
 */
#ifndef OFFPAY_NFC_H
#define OFFPAY_NFC_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"
#include "offpay/message.h"
#include "offpay/terminal.h"
#include "offpay/wallet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The application identifier: F0 (proprietary, ISO 7816-5 category F),
 * "offpay" in ASCII, application version 01. */
#define OFFPAY_NFC_AID_LEN 8
extern const uint8_t offpay_nfc_aid[OFFPAY_NFC_AID_LEN];
/* The one data byte answering SELECT: this document's protocol version. */
#define OFFPAY_NFC_VERSION 1

/* Classes and instructions (docs/nfc.md §2). */
#define OFFPAY_NFC_CLA_ISO      0x00 /* SELECT, GET RESPONSE */
#define OFFPAY_NFC_CLA_PROP     0x80 /* PAY, RECEIPT: last (or only) APDU */
#define OFFPAY_NFC_CLA_CHAIN    0x10 /* bit: more APDUs of this command */
#define OFFPAY_NFC_INS_SELECT   0xA4
#define OFFPAY_NFC_INS_GET_RESP 0xC0
#define OFFPAY_NFC_INS_PAY      0x20 /* data: request; answer: bound code */
#define OFFPAY_NFC_INS_RECEIPT  0x30 /* data: receipt; answer: none */

/* Status words (docs/nfc.md §4): every refusal has its own. */
#define OFFPAY_SW_OK             0x9000
#define OFFPAY_SW_MORE           0x6100 /* | count: GET RESPONSE */
#define OFFPAY_SW_WRONG_LENGTH   0x6700
#define OFFPAY_SW_MEMORY_FAILURE 0x6581 /* the wallet could not save */
#define OFFPAY_SW_CHAINING       0x6884 /* chaining on SELECT/GET RESPONSE */
#define OFFPAY_SW_SECURITY       0x6982 /* a message failed verification */
#define OFFPAY_SW_ORDER          0x6985 /* command out of sequence */
#define OFFPAY_SW_BAD_DATA       0x6A80 /* a message does not decode */
#define OFFPAY_SW_NOT_FOUND      0x6A82 /* SELECT of another AID */
#define OFFPAY_SW_TOO_LARGE      0x6A84 /* chained message above the cap */
#define OFFPAY_SW_WRONG_P1P2     0x6A86
#define OFFPAY_SW_INS            0x6D00
#define OFFPAY_SW_CLA            0x6E00
#define OFFPAY_SW_INTERNAL       0x6F00
#define OFFPAY_SW_OVER_MAX       0x9301 /* above the armed maximum */
#define OFFPAY_SW_CANNOT_PAY     0x9302 /* no allowance or credential */
#define OFFPAY_SW_CURRENCY       0x9303 /* not the armed currency */
#define OFFPAY_SW_RECEIPT        0x9304 /* receipt names no payment here */
#define OFFPAY_SW_NOT_ARMED      0x9305 /* the armed payments are used */
#define OFFPAY_SW_STALE          0x9306 /* request too old or future-dated */

/* How long a card has to answer one command APDU (the PC/SC reader gives
 * up on it then, docs/nfc.md §6; since 0.12.0). A wallet answers in
 * milliseconds; a card that takes longer has stalled. */
#define OFFPAY_NFC_ANSWER_MS 5000
/* How long one session with a card (from its connect: SELECT, the request
 * and the code in pieces, the receipt) may take in all before the
 * terminal gives it up as a card that stopped answering (since 0.12.0):
 * a card that answers each command just inside OFFPAY_NFC_ANSWER_MS, or
 * keeps asking to be asked for more, cannot hold a gate. */
#define OFFPAY_NFC_EXCHANGE_MS 10000

/* Largest message a PAY or RECEIPT may chain (docs/nfc.md §3). */
#define OFFPAY_NFC_MSG_MAX 1024
/* Largest command APDU (short: 4 + 1 + 255 + 1) and response (256 + 2). */
#define OFFPAY_APDU_CMD_MAX  261
#define OFFPAY_APDU_RESP_MAX 258

/* A short-form command APDU as parsed: data points into the parsed buffer.
 * le is 0 when absent, else 1..256. */
typedef struct offpay_apdu {
    uint8_t        cla, ins, p1, p2;
    const uint8_t *data;
    size_t         lc;
    size_t         le;
} offpay_apdu;

/*
 * offpay_apdu_parse — parse a short command APDU (ISO 7816-3 cases 1-4).
 * Strict: Lc must match the bytes present exactly; Lc = 0 followed by more
 * bytes (the extended form) is refused. Errors: OFFPAY_EINVAL (NULL),
 * OFFPAY_ETRUNCATED (fewer than 4 bytes, or fewer than Lc), OFFPAY_ETRAILING
 * (more than one Le byte after the data), OFFPAY_EMALFORMED (extended).
 */
offpay_err offpay_apdu_parse(const uint8_t *buf, size_t len, offpay_apdu *a);

/*
 * offpay_apdu_build — write a short command APDU into buf (capacity cap):
 * the header, Lc and data when lc > 0, and Le when le > 0 (256 is written
 * as 00). Errors: OFFPAY_EINVAL (lc > 255, le > 256, data NULL with
 * lc > 0), OFFPAY_ERANGE (cap too small).
 */
offpay_err offpay_apdu_build(uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
                             const uint8_t *data, size_t lc, size_t le,
                             uint8_t *buf, size_t cap, size_t *len);

/* A short English meaning of a status word (static string). */
const char *offpay_nfc_sw_text(uint16_t sw);
/* The protocol error closest to a refusal status word (OFFPAY_EIO for a
 * status word this document does not define). */
offpay_err offpay_nfc_sw_error(uint16_t sw);

/* ---------------------------------------------------------------- card */

/*
 * What the card role asks of the wallet behind it. Each returns a status
 * word: OFFPAY_SW_OK or one refusal.
 *   pay:     req is a complete request message (binary); on OK, write the
 *            bound payment code (binary) into code (capacity cap) and set
 *            *code_len. The wallet's reservation rule applies: the code's
 *            reservation is on disk before pay returns OK.
 *   receipt: rcpt is a complete receipt message (binary).
 */
typedef struct offpay_nfc_card_ops {
    uint16_t (*pay)(void *ctx, const uint8_t *req, size_t len, uint8_t *code,
                    size_t cap, size_t *code_len);
    uint16_t (*receipt)(void *ctx, const uint8_t *rcpt, size_t len);
} offpay_nfc_card_ops;

typedef struct offpay_nfc_card offpay_nfc_card;

/* A card role answering through ops (borrowed: must outlive the card).
 * Errors: OFFPAY_EINVAL, OFFPAY_ENOMEM. */
offpay_err offpay_nfc_card_new(const offpay_nfc_card_ops *ops, void *ctx,
                               offpay_nfc_card **out);
void       offpay_nfc_card_free(offpay_nfc_card *c); /* NULL: no-op */

/*
 * offpay_nfc_card_process — answer one command APDU: resp receives the
 * response data followed by the status word; returns its length (2 to
 * OFFPAY_APDU_RESP_MAX). Never fails: malformed or unexpected input gets a
 * refusal status word (docs/nfc.md §4). c, cmd (when len > 0) and resp must
 * not be NULL.
 */
size_t offpay_nfc_card_process(offpay_nfc_card *c, const uint8_t *cmd,
                               size_t len, uint8_t resp[OFFPAY_APDU_RESP_MAX]);

/* The card left the field, lost power or was reset: forget the session
 * (selection, a half-received chain, response bytes not yet fetched). */
void offpay_nfc_card_reset(offpay_nfc_card *c);

/* What happened in a wallet card role, for display (offpay_nfc_wallet_cfg
 * event). request is set for PAID and RESENT, receipt for RECEIPT. */
typedef enum offpay_nfc_event_kind {
    OFFPAY_NFC_PAID = 1,    /* a new bound code was made and sent */
    OFFPAY_NFC_RESENT = 2,  /* the same request again: the same code */
    OFFPAY_NFC_REFUSED = 3, /* a request or receipt refused: sw, rc */
    OFFPAY_NFC_RECEIPT = 4, /* a receipt was taken */
} offpay_nfc_event_kind;

typedef struct offpay_nfc_event {
    offpay_nfc_event_kind kind;
    uint16_t              sw;
    offpay_err            rc;
    const offpay_request *request;
    const offpay_receipt *receipt;
    const offpay_payment *payment; /* PAID, RESENT */
} offpay_nfc_event;

/* How a wallet card role is armed. */
typedef struct offpay_nfc_wallet_cfg {
    int64_t  max_amount; /* minor units: larger requests get OVER_MAX */
    uint16_t currency;   /* ISO 4217 numeric of max_amount */
    uint32_t payments;   /* new codes it may make (0 means 1) */
    /* The clock (NULL: time(NULL)). */
    uint32_t (*now)(void *ctx);
    /* Called after each decision (may be NULL). */
    void (*event)(void *ctx, const offpay_nfc_event *e);
    void *ctx;
} offpay_nfc_wallet_cfg;

typedef struct offpay_nfc_wallet_card offpay_nfc_wallet_card;

/*
 * offpay_nfc_wallet_card_new — the card role of wallet w (borrowed: it must
 * stay open while the card is used), armed by cfg (copied). A request is
 * verified offline (offpay_wallet_read_request), checked against the armed
 * currency and maximum, then paid with offpay_wallet_pay_request (so the
 * reservation is on disk before the code leaves). The same request again
 * (same merchant and nonce, say after the card left the field before the
 * terminal had the code) gets the same code back, with no new reservation.
 * Errors: OFFPAY_EINVAL (max_amount < 1), OFFPAY_ENOMEM.
 */
offpay_err offpay_nfc_wallet_card_new(offpay_wallet               *w,
                                      const offpay_nfc_wallet_cfg *cfg,
                                      offpay_nfc_wallet_card     **out);
void       offpay_nfc_wallet_card_free(offpay_nfc_wallet_card *wc);
/* The state machine to feed APDUs to; valid while wc lives. */
offpay_nfc_card *offpay_nfc_wallet_card_card(offpay_nfc_wallet_card *wc);
/* Codes made, and receipts taken, so far. */
uint32_t offpay_nfc_wallet_card_paid(const offpay_nfc_wallet_card *wc);
uint32_t offpay_nfc_wallet_card_receipts(const offpay_nfc_wallet_card *wc);

/* ------------------------------------------------------------ terminal */

/*
 * A link to a card, as the terminal sees it.
 *   connect:    wait up to timeout_ms for a card in the field and open a
 *               session with it (power on). OFFPAY_OK, or OFFPAY_EIO (no
 *               card in time, or the reader failed).
 *   transmit:   one command APDU, one response (data + status word) into
 *               resp (capacity cap). OFFPAY_EIO when the card left the
 *               field or the reader failed; OFFPAY_ECARD_SILENT when the
 *               card did not answer within OFFPAY_NFC_ANSWER_MS (the
 *               session is over, as after disconnect; since 0.12.0).
 *   disconnect: end the session (power off); the card may come back.
 */
typedef struct offpay_nfc_link {
    offpay_err (*connect)(void *ctx, uint32_t timeout_ms);
    offpay_err (*transmit)(void *ctx, const uint8_t *cmd, size_t len,
                           uint8_t *resp, size_t cap, size_t *resp_len);
    void (*disconnect)(void *ctx);
    void *ctx;
} offpay_nfc_link;

/*
 * offpay_nfc_command — send one PAY or RECEIPT command carrying msg, split
 * into APDUs of at most chunk data bytes (1..255) chained with
 * OFFPAY_NFC_CLA_CHAIN, then collect the answer, fetching with GET RESPONSE
 * while the card says 61XX (asking at most chunk bytes at a time).
 * *sw receives the card's final status word; out (capacity cap) the data
 * when it is OFFPAY_SW_OK. Errors: OFFPAY_EINVAL, OFFPAY_EIO (the link
 * failed: the card left), OFFPAY_ECARD_SILENT (the card did not answer in
 * time), OFFPAY_EMALFORMED (a response without a status
 * word, a 61XX without data, or data with a non-final chain piece),
 * OFFPAY_ETOOBIG (the answer exceeds cap). So a hostile card can neither
 * overflow out nor keep the terminal fetching forever.
 */
offpay_err offpay_nfc_command(const offpay_nfc_link *link, uint8_t ins,
                              const uint8_t *msg, size_t len, size_t chunk,
                              uint8_t *out, size_t cap, size_t *out_len,
                              uint16_t *sw);

/* SELECT the offpay application. Errors: OFFPAY_EIO (link), and
 * OFFPAY_ENOTFOUND when the card answers anything but 9000 with a known
 * version (*sw set). */
offpay_err offpay_nfc_select(const offpay_nfc_link *link, uint16_t *sw);

/* Options of offpay_nfc_terminal_pay. */
typedef struct offpay_nfc_term_opts {
    size_t   chunk;           /* APDU data bytes, 1..255 (0: 255) */
    uint32_t wait_ms;         /* for a card (and its return), in total */
    uint32_t receipt_wait_ms; /* for the card's return to take a receipt */
    uint32_t now; /* the terminal's clock at the call: it moves on by the
                     monotonic time while the call waits */
} offpay_nfc_term_opts;

/* The outcome of offpay_nfc_terminal_pay. */
typedef struct offpay_nfc_outcome {
    int               accepted;   /* 1: durable in the journal (acc) */
    offpay_acceptance acc;        /* when accepted */
    uint16_t          sw;         /* the card's refusal status word, or 0 */
    int               receipt;    /* 1: the wallet took the receipt */
    uint16_t          receipt_sw; /* its status word when not taken, or 0 */
    uint32_t          taps;       /* card sessions opened */
    uint32_t          silent;     /* commands a card left unanswered past
                                     OFFPAY_NFC_ANSWER_MS (since 0.12.0) */
} offpay_nfc_outcome;

/*
 * offpay_nfc_terminal_pay — one payment over NFC: make a request for
 * amount (offpay_terminal_request), and until opts->wait_ms passes: wait
 * for a card, SELECT, send the request, take the bound code, accept it
 * (offpay_terminal_accept: durable before OFFPAY_OK), send the receipt.
 * The card leaving the field before the terminal has the code is not a
 * verdict: the terminal waits for it to come back and sends the SAME
 * request again (a request no card was sent within a minute is made
 * anew). Once the code is in hand the card is no longer needed: the code
 * is accepted or refused on its merits, charged amount, and it must be
 * bound to the request sent (else OFFPAY_EWRONG_NONCE, since 0.11.0; a
 * code authorizing less is OFFPAY_EOVER_AUTHORIZED); the receipt is then
 * delivered if the card stays (or comes back within receipt_wait_ms).
 * Each session with a card has OFFPAY_NFC_EXCHANGE_MS from its connect:
 * a command past it is not sent, and the card is taken as one that
 * stopped answering (out->silent), as one silent past
 * OFFPAY_NFC_ANSWER_MS is (since 0.12.0).
 * Returns OFFPAY_OK iff the payment was accepted (out->accepted); else the
 * reason: the card's refusal mapped by offpay_nfc_sw_error (out->sw set),
 * the terminal's refusal of the code (offpay_terminal_accept's errors),
 * OFFPAY_EIO (no card, or it left or stopped answering, out->silent,
 * and did not come back in time), the
 * request's errors. Nothing is recorded unless OFFPAY_OK (and
 * OFFPAY_EOUTCOME: as offpay_terminal_accept).
 */
offpay_err offpay_nfc_terminal_pay(offpay_terminal *t, int64_t amount,
                                   const offpay_nfc_link      *link,
                                   const offpay_nfc_term_opts *opts,
                                   offpay_nfc_outcome         *out);

/* ---------------------------------------------------------- PC/SC link */

typedef struct offpay_nfc_reader offpay_nfc_reader;

/*
 * offpay_nfc_reader_open — a PC/SC reader through pcscd (libpcsclite):
 * the first reader whose name contains name (NULL: the first reader).
 * *link is set to drive it (valid while the reader is open).
 * Errors: OFFPAY_EIO (pcscd not reachable), OFFPAY_ENOTFOUND (no such
 * reader), OFFPAY_ENOMEM.
 */
offpay_err offpay_nfc_reader_open(const char *name, offpay_nfc_reader **out,
                                  offpay_nfc_link *link);
void       offpay_nfc_reader_close(offpay_nfc_reader *r); /* NULL: no-op */
/* The reader's name as PC/SC knows it. */
const char *offpay_nfc_reader_name(const offpay_nfc_reader *r);

/* ------------------------------------------------------ vpcd card side */

/* Options of offpay_nfc_vpcd_tap. */
typedef struct offpay_nfc_vpcd_opts {
    uint32_t connect_ms; /* how long to retry connecting to vpcd */
    uint32_t idle_ms;    /* leave the field after this long with no APDU
                            once an exchange began (0: never) */
    uint32_t max_ms;     /* leave the field after this long (0: never) */
    uint32_t drop_at;    /* leave the field on receiving the drop_at-th
                            APDU of this tap, after processing it and
                            before answering (0: never; tests) */
    /* Leave the field when this returns non-zero, checked after each
     * answer (may be NULL). */
    int (*done)(void *ctx);
    void *ctx;
} offpay_nfc_vpcd_opts;

/*
 * offpay_nfc_vpcd_tap — one tap: connect to vsmartcard's virtual reader
 * (vpcd) at host:port as a card, answer its power, ATR and APDU messages
 * with card c until vpcd closes the connection, opts->done says so, the
 * idle or maximum time passes or drop_at is reached; then leave (close). The
 * card is reset at every power change and at the end. *apdus (may be NULL)
 * receives the number of APDUs received.
 * Errors: OFFPAY_EINVAL, OFFPAY_EIO (cannot connect, or a malformed
 * message from vpcd).
 */
offpay_err offpay_nfc_vpcd_tap(const char *host, uint16_t port,
                               offpay_nfc_card            *c,
                               const offpay_nfc_vpcd_opts *opts,
                               uint32_t                   *apdus);

/* ------------------------------------------------------------ BLE */

/* GATT service and characteristics (docs/nfc.md §7). */
#define OFFPAY_BLE_SERVICE_UUID "6f666670-6179-4000-8000-00000000a001"
#define OFFPAY_BLE_WRITE_UUID   "6f666670-6179-4000-8000-00000000a002"
#define OFFPAY_BLE_NOTIFY_UUID  "6f666670-6179-4000-8000-00000000a003"
#define OFFPAY_BLE_MTU_MIN      23   /* ATT MTU every device supports */
#define OFFPAY_BLE_MTU_MAX      517  /* largest ATT MTU */
#define OFFPAY_BLE_MSG_MAX      1024 /* largest framed message */
#define OFFPAY_BLE_TIMEOUT_MS   2000 /* between fragments of a message */

/* Fragments of a len-byte message at ATT MTU mtu (23..517); 0 when len is
 * 0 or above OFFPAY_BLE_MSG_MAX, or mtu out of range. */
size_t offpay_ble_fragments(size_t len, size_t mtu);

/*
 * offpay_ble_fragment — fragment index (from 0) of msg at ATT MTU mtu into
 * frag (capacity cap, at most mtu - 3 bytes are written).
 * Errors: OFFPAY_EINVAL (index out of range, bad mtu or len), OFFPAY_ERANGE
 * (cap too small).
 */
offpay_err offpay_ble_fragment(const uint8_t *msg, size_t len, size_t mtu,
                               size_t index, uint8_t *frag, size_t cap,
                               size_t *frag_len);

/* Reassembly state: caller-allocated; offpay_ble_rx_init before use. */
typedef struct offpay_ble_rx {
    uint8_t  buf[OFFPAY_BLE_MSG_MAX];
    size_t   want, have;
    uint8_t  next_seq;
    int      active;
    uint64_t last_ms;
} offpay_ble_rx;

void offpay_ble_rx_init(offpay_ble_rx *rx);

/*
 * offpay_ble_rx_push — take one received fragment at time now_ms. When it
 * completes a message, *msg (pointing into rx, valid until the next push)
 * and *msg_len are set; otherwise *msg is NULL. A partial message older
 * than OFFPAY_BLE_TIMEOUT_MS is dropped first. On any error the partial
 * message is dropped. Errors: OFFPAY_EINVAL, OFFPAY_ETRUNCATED (a fragment
 * shorter than its header), OFFPAY_EMALFORMED (unexpected sequence number,
 * zero length, a continuation with no message started), OFFPAY_ETOOBIG
 * (declared length above OFFPAY_BLE_MSG_MAX), OFFPAY_ETRAILING (more bytes
 * than declared).
 */
offpay_err offpay_ble_rx_push(offpay_ble_rx *rx, const uint8_t *frag,
                              size_t len, uint64_t now_ms, const uint8_t **msg,
                              size_t *msg_len);

#ifdef __cplusplus
}
#endif
#endif
