/*
 * message_int.h — internal: the exact bytes each signature covers, for the
 * signers (issuer, wallet, terminal) and the verifiers.
 */
#ifndef OFFPAY_CORE_MESSAGE_INT_H
#define OFFPAY_CORE_MESSAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/message.h"

#define OFFPAY_WALLET_CRED_SIGNED_BYTES (2 + OFFPAY_WALLET_CRED_BODY_BYTES)
/* Largest signed part of any fixed message (a request with a full name). */
#define OFFPAY_SIGNED_MAX 512

/* The wallet credential's signed bytes: header + body (no signature). */
void offpay__wallet_cred_signed_bytes(
    const offpay_wallet_cred *c, uint8_t out[OFFPAY_WALLET_CRED_SIGNED_BYTES]);

/* Each writes the message without its final signature into out.
 * Errors: OFFPAY_EINVAL (a field out of range), OFFPAY_ERANGE. */
offpay_err offpay__terminal_cred_signed_bytes(const offpay_terminal_cred *c,
                                              uint8_t *out, size_t cap,
                                              size_t *len);
offpay_err offpay__payment_signed_bytes(const offpay_payment *p, uint8_t *out,
                                        size_t cap, size_t *len);
offpay_err offpay__request_signed_bytes(const offpay_request *q, uint8_t *out,
                                        size_t cap, size_t *len);
offpay_err offpay__receipt_signed_bytes(const offpay_receipt *t, uint8_t *out,
                                        size_t cap, size_t *len);
offpay_err offpay__bundle_signed_bytes(const offpay_trust_bundle *b,
                                       uint8_t *out, size_t cap, size_t *len);
offpay_err offpay__revlist_signed_bytes(const offpay_revlist *l, uint8_t *out,
                                        size_t cap, size_t *len);

/* 1 when s[0..n) is valid UTF-8 without control characters or invisible
 * format characters (docs/protocol.md §2.3, the name rule). */
int offpay__utf8_display_ok(const uint8_t *s, size_t n);

/* 1 when s[0..n) is also fit as new text a person will read (a merchant's
 * name at its registration, a label, a reference, a case's words): the name
 * rule, and none of the other characters that show nothing (Unicode's
 * default-ignorable code points, the Hangul fillers), and a variation
 * selector only right after a character beyond ASCII that is not one.
 * Since 0.28.0; what was signed or stored before is read by the name rule
 * alone. */
int offpay__utf8_input_ok(const uint8_t *s, size_t n);

/* How many of the first max bytes of UTF-8 text s (longer than max) to
 * keep so that no character is cut in two: max, or less, back to the
 * start of the character s[max] continues. */
size_t offpay__utf8_cut(const char *s, size_t max);

#endif
