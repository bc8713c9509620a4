/*
 * tables.c — the terminal's in-memory seen-set and per-credential sums:
 * open addressing with linear probing, grown at half load. They mirror the
 * journal in terminal.db (rebuilt from it at open, the sums with those a
 * rotation carried over: terminal.c, CARRIED_TABLE), so a replay is
 * caught without a database round trip.
 */
#include <stdlib.h>
#include <string.h>

#include "terminal/terminal_int.h"

/* A 64-bit mix (splitmix64's finalizer): spreads serials and counters. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static size_t seen_slot(uint64_t serial, uint32_t counter, size_t cap)
{
    return (size_t)(mix(serial ^ mix(counter)) & (cap - 1));
}

void offpay__tables_free(offpay__tables *tb)
{
    free(tb->seen);
    free(tb->cumul);
    memset(tb, 0, sizeof *tb);
}

offpay__seen *offpay__seen_find(const offpay__tables *tb, uint64_t serial,
                                uint32_t counter)
{
    size_t i;

    if (tb->seen_cap == 0)
        return NULL;
    i = seen_slot(serial, counter, tb->seen_cap);
    while (tb->seen[i].used) {
        if (tb->seen[i].serial == serial && tb->seen[i].counter == counter)
            return &tb->seen[i];
        i = (i + 1) & (tb->seen_cap - 1);
    }
    return NULL;
}

static offpay_err seen_grow(offpay__tables *tb)
{
    size_t        ncap = tb->seen_cap ? tb->seen_cap * 2 : 1024;
    offpay__seen *n = calloc(ncap, sizeof *n);

    if (n == NULL)
        return OFFPAY_ENOMEM;
    for (size_t k = 0; k < tb->seen_cap; k++) {
        size_t i;

        if (!tb->seen[k].used)
            continue;
        i = seen_slot(tb->seen[k].serial, tb->seen[k].counter, ncap);
        while (n[i].used)
            i = (i + 1) & (ncap - 1);
        n[i] = tb->seen[k];
    }
    free(tb->seen);
    tb->seen = n;
    tb->seen_cap = ncap;
    return OFFPAY_OK;
}

offpay_err offpay__seen_add(offpay__tables *tb, uint64_t serial,
                            uint32_t counter)
{
    size_t i;

    if ((tb->seen_n + 1) * 2 > tb->seen_cap && seen_grow(tb) != OFFPAY_OK)
        return OFFPAY_ENOMEM;
    i = seen_slot(serial, counter, tb->seen_cap);
    while (tb->seen[i].used) {
        if (tb->seen[i].serial == serial && tb->seen[i].counter == counter)
            return OFFPAY_EEXISTS;
        i = (i + 1) & (tb->seen_cap - 1);
    }
    tb->seen[i].used = 1;
    tb->seen[i].serial = serial;
    tb->seen[i].counter = counter;
    tb->seen_n++;
    return OFFPAY_OK;
}

static size_t cumul_slot(uint64_t serial, size_t cap)
{
    return (size_t)(mix(serial) & (cap - 1));
}

int64_t offpay__cumul_get(const offpay__tables *tb, uint64_t serial)
{
    size_t i;

    if (tb->cumul_cap == 0)
        return 0;
    i = cumul_slot(serial, tb->cumul_cap);
    while (tb->cumul[i].used) {
        if (tb->cumul[i].serial == serial)
            return tb->cumul[i].sum;
        i = (i + 1) & (tb->cumul_cap - 1);
    }
    return 0;
}

static offpay_err cumul_grow(offpay__tables *tb)
{
    size_t         ncap = tb->cumul_cap ? tb->cumul_cap * 2 : 256;
    offpay__cumul *n = calloc(ncap, sizeof *n);

    if (n == NULL)
        return OFFPAY_ENOMEM;
    for (size_t k = 0; k < tb->cumul_cap; k++) {
        size_t i;

        if (!tb->cumul[k].used)
            continue;
        i = cumul_slot(tb->cumul[k].serial, ncap);
        while (n[i].used)
            i = (i + 1) & (ncap - 1);
        n[i] = tb->cumul[k];
    }
    free(tb->cumul);
    tb->cumul = n;
    tb->cumul_cap = ncap;
    return OFFPAY_OK;
}

offpay_err offpay__cumul_add(offpay__tables *tb, uint64_t serial,
                             int64_t amount)
{
    size_t i;

    if ((tb->cumul_n + 1) * 2 > tb->cumul_cap && cumul_grow(tb) != OFFPAY_OK)
        return OFFPAY_ENOMEM;
    i = cumul_slot(serial, tb->cumul_cap);
    while (tb->cumul[i].used) {
        if (tb->cumul[i].serial == serial)
            return __builtin_add_overflow(tb->cumul[i].sum, amount,
                                          &tb->cumul[i].sum)
                       ? OFFPAY_EOVERFLOW
                       : OFFPAY_OK;
        i = (i + 1) & (tb->cumul_cap - 1);
    }
    tb->cumul[i].used = 1;
    tb->cumul[i].serial = serial;
    tb->cumul[i].sum = amount;
    tb->cumul_n++;
    return OFFPAY_OK;
}
