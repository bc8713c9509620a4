/*
 * offpay/core.h — amounts, currencies and Base45 text (RFC 9285).
 *
 * Money is always an int64_t count of minor units (cents, yen, fils) beside
 * an ISO 4217 numeric currency code. Nothing here uses floating point.
 * Everything here is pure: no I/O, no allocation, thread-safe.
 */
#ifndef OFFPAY_CORE_H
#define OFFPAY_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest amount a payment code or credential can carry on the wire (u32). */
#define OFFPAY_WIRE_AMOUNT_MAX 4294967295LL

/* Longest text offpay_amount_format() writes, with its NUL
 * ("-92233720368547758.07"). */
#define OFFPAY_AMOUNT_TEXT_MAX 32

/*
 * offpay_currency_from_alpha — ISO 4217 numeric code for an alphabetic code
 * ("EUR" -> 978). Case-sensitive, exactly three upper-case letters.
 * Errors: OFFPAY_EINVAL (NULL), OFFPAY_ECURRENCY_UNKNOWN.
 */
offpay_err offpay_currency_from_alpha(const char *alpha, uint16_t *numeric);

/*
 * offpay_currency_alpha — alphabetic code for a numeric one ("978" -> "EUR"),
 * or NULL when the currency is not in offpay's table. Static string.
 */
const char *offpay_currency_alpha(uint16_t numeric);

/*
 * offpay_currency_exponent — digits after the decimal point (EUR 2, JPY 0,
 * KWD 3), or -1 for an unknown currency.
 */
int offpay_currency_exponent(uint16_t numeric);

/*
 * offpay_currency_risk_unit — the minor units the default risk rules
 * (offpay_risk_defaults) and the settlement guarantee count as one unit in
 * a currency: one major unit for a currency worth within a few times a euro
 * (EUR 100, KWD 1000), and for one worth far less a round number of major
 * units near a euro's worth (JPY 100, KRW 1000, IDR 10,000.00 = 1000000);
 * the list is docs/protocol.md §5.4. Never less than one major unit;
 * approximate by design. -1 for an unknown currency. (Since 0.15.0;
 * up to 0.14.0 every currency's unit was one major unit.)
 */
int64_t offpay_currency_risk_unit(uint16_t numeric);

/*
 * offpay_amount_parse — parse decimal text in the currency's major unit
 * ("12.50" in EUR -> 1250). Accepts digits, one optional '.', and at most the
 * currency's exponent of fraction digits ("12.5" is 1250, "12.505" is an
 * error); no sign, no spaces, no exponent, no leading '+'. Zero is allowed.
 * Errors: OFFPAY_EINVAL (NULL), OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_EAMOUNT
 * (syntax or too many fraction digits), OFFPAY_EOVERFLOW (beyond INT64_MAX).
 */
offpay_err offpay_amount_parse(const char *text, uint16_t currency,
                               int64_t *minor);

/*
 * offpay_amount_format — print minor units in the major unit with exactly the
 * currency's exponent of fraction digits (1250 EUR -> "12.50", negative
 * amounts get a leading '-'). buf receives a NUL-terminated string.
 * Errors: OFFPAY_EINVAL, OFFPAY_ECURRENCY_UNKNOWN, OFFPAY_ERANGE (cap too
 * small; OFFPAY_AMOUNT_TEXT_MAX always suffices).
 */
offpay_err offpay_amount_format(int64_t minor, uint16_t currency, char *buf,
                                size_t cap);

/* Checked arithmetic: *out = a + b (or a - b); OFFPAY_EOVERFLOW on overflow,
 * in which case *out is left unchanged. */
offpay_err offpay_amount_add(int64_t a, int64_t b, int64_t *out);
offpay_err offpay_amount_sub(int64_t a, int64_t b, int64_t *out);

/* Characters offpay_base45_encode() writes for n bytes, without the NUL. */
#define OFFPAY_BASE45_ENCODED_LEN(n) (((n) / 2) * 3 + ((n) % 2) * 2)

/*
 * offpay_base45_encode — RFC 9285 Base45 of in[0..n). out receives
 * OFFPAY_BASE45_ENCODED_LEN(n) characters and a NUL; *out_len (may be NULL)
 * the number of characters. Errors: OFFPAY_EINVAL, OFFPAY_ERANGE (cap too
 * small).
 */
offpay_err offpay_base45_encode(const uint8_t *in, size_t n, char *out,
                                size_t cap, size_t *out_len);

/*
 * offpay_base45_decode — strict RFC 9285 decoding of text[0..n): only the 45
 * characters of the alphabet, length not 1 mod 3, every triple < 65536 and
 * every final pair < 256 (so each byte string has exactly one text form).
 * Errors: OFFPAY_EINVAL, OFFPAY_EBASE45, OFFPAY_ERANGE (cap too small).
 */
offpay_err offpay_base45_decode(const char *text, size_t n, uint8_t *out,
                                size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* OFFPAY_CORE_H */
