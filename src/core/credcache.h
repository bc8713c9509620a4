/*
 * credcache.h — internal: a cache of wallet credentials whose issuer
 * signature was verified, shared by the terminal (check.c) and the
 * settlement engine (settle.c). A code from a credential seen before then
 * costs one signature verification (the wallet's) instead of two. A hit
 * needs every byte of the credential (body and signature) to match, so it
 * is never a security boundary by itself; the owner empties the cache
 * whenever its trust bundle changes (a retired key must not be trusted
 * from memory).
 */
#ifndef OFFPAY_CORE_CREDCACHE_H
#define OFFPAY_CORE_CREDCACHE_H

#include <stdint.h>

#include "offpay/message.h"

#define OFFPAY__CACHE_SLOTS 4096 /* verified wallet credentials */
#define OFFPAY__CRED_SIGNED_BYTES                                              \
    (OFFPAY_WALLET_CRED_BODY_BYTES + OFFPAY_SIG_BYTES)

typedef struct offpay__cache_slot {
    uint8_t used;
    uint8_t bytes[OFFPAY__CRED_SIGNED_BYTES];
} offpay__cache_slot;

/* 1 when the credential bytes b (OFFPAY__CRED_SIGNED_BYTES: body and
 * signature, as they sit in a code after its 2-byte header) are in the
 * cache of OFFPAY__CACHE_SLOTS slots. */
int offpay__cred_cache_hit(const offpay__cache_slot *cache, const uint8_t *b);

/* Remembers b as verified (evicting a random way of its set if full). */
void offpay__cred_cache_put(offpay__cache_slot *cache, const uint8_t *b);

#endif
