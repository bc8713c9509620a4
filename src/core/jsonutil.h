/*
 * jsonutil.h — internal: Jansson helpers for the sealed state files of the
 * issuer, the wallet and the terminal (hex fields, checked integers), and
 * the wiping allocator that offpay_init() installs so that JSON buffers
 * which held secrets are zeroed when freed.
 */
#ifndef OFFPAY_CORE_JSONUTIL_H
#define OFFPAY_CORE_JSONUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "offpay/error.h"

/* Installs the wiping allocator (idempotent). */
void offpay__json_install_allocator(void);

/* Frees a string from json_dumps() with Jansson's current allocator (the
 * wiping one after offpay_init). Never free() such a string directly. */
void offpay__json_free(void *p);

/* obj[key] = lowercase hex of b[0..n). Errors: OFFPAY_ENOMEM. */
offpay_err offpay__json_set_hex(json_t *obj, const char *key, const uint8_t *b,
                                size_t n);
/* obj[key] = v as a JSON integer (v <= INT64_MAX). */
offpay_err offpay__json_set_u64(json_t *obj, const char *key, uint64_t v);

/* Reads exactly n bytes of hex from obj[key]. OFFPAY_ECORRUPT if missing,
 * not a string, or not exactly 2n hex digits. */
offpay_err offpay__json_get_hex(const json_t *obj, const char *key, uint8_t *b,
                                size_t n);
/* Reads hex of any length up to cap; *n receives the length. */
offpay_err offpay__json_get_hexv(const json_t *obj, const char *key, uint8_t *b,
                                 size_t cap, size_t *n);
/* Reads a non-negative integer <= max. OFFPAY_ECORRUPT otherwise. */
offpay_err offpay__json_get_u64(const json_t *obj, const char *key,
                                uint64_t max, uint64_t *v);

#endif
