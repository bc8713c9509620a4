/*
 * credcache.c — the verified-credential cache (credcache.h).
 *
 * The cache is set-associative: OFFPAY__CACHE_SLOTS slots in sets of
 * CACHE_WAYS, and a credential may sit in any way of its set. A
 * direct-mapped cache (one slot per hash) let two returning credentials
 * that share a slot evict each other on every code: with 256 credentials,
 * about 1 code in 10 missed and paid a second verification.
 */
#include <sodium.h>
#include <string.h>

#include "core/credcache.h"

#define CACHE_WAYS 4
#define CACHE_SETS (OFFPAY__CACHE_SLOTS / CACHE_WAYS)
_Static_assert(OFFPAY__CACHE_SLOTS % CACHE_WAYS == 0, "whole sets");

/* The first slot of the credential's set: FNV-1a over its bytes, high bits
 * folded in. Not a security boundary (a hit is confirmed by comparing
 * every byte). */
static size_t cache_set(const uint8_t *b)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < OFFPAY__CRED_SIGNED_BYTES; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 32;
    return (size_t)(h % CACHE_SETS) * CACHE_WAYS;
}

int offpay__cred_cache_hit(const offpay__cache_slot *cache, const uint8_t *b)
{
    size_t set = cache_set(b);

    for (size_t w = 0; w < CACHE_WAYS; w++)
        if (cache[set + w].used &&
            memcmp(cache[set + w].bytes, b, OFFPAY__CRED_SIGNED_BYTES) == 0)
            return 1;
    return 0;
}

void offpay__cred_cache_put(offpay__cache_slot *cache, const uint8_t *b)
{
    size_t set = cache_set(b), victim = CACHE_WAYS;

    /* An empty way, else a random one: no fixed pair can thrash. */
    for (size_t w = 0; w < CACHE_WAYS && victim == CACHE_WAYS; w++)
        if (!cache[set + w].used)
            victim = w;
    if (victim == CACHE_WAYS)
        victim = randombytes_uniform(CACHE_WAYS);
    memcpy(cache[set + victim].bytes, b, OFFPAY__CRED_SIGNED_BYTES);
    cache[set + victim].used = 1;
}
