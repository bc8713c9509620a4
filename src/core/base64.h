/*
 * base64.h — internal: base64 (RFC 4648, with padding) as offpay's JSON
 * bodies carry bytes: the one encoder of a byte string into a JSON string,
 * and the one strict decoder of such a string that accepts only the
 * canonical form (the text must encode back to itself), shared by the
 * wallet's upload and offpayd's body parsers.
 */
#ifndef OFFPAY_CORE_BASE64_H
#define OFFPAY_CORE_BASE64_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A new JSON string holding the base64 of b[0..n), or NULL when out of
 * memory. The caller owns the reference. */
json_t *offpay__json_base64(const uint8_t *b, size_t n);

/*
 * offpay__base64_decode — decodes text[0..len) into buf (cap bytes) and
 * returns the number of bytes, or 0 when the text is not base64, decodes
 * to nothing or to more than cap bytes, or is not the canonical base64 of
 * what it decodes to (other padding bits, missing padding). text must be
 * NUL-free in its first len bytes; it is only read.
 */
size_t offpay__base64_decode(const char *text, size_t len, uint8_t *buf,
                             size_t cap);

/* offpay__base64_decode's last check, apart for its test: 1 when
 * text[0..len), which the decoder took whole (no character ignored,
 * padding required) as b[0..n), is exactly the base64 of b. */
int offpay__base64_canonical(const uint8_t *b, size_t n, const char *text,
                             size_t len);

#endif
