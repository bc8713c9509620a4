/*
 * fuzz_shard_map.c — libFuzzer target for the shard map parser
 * (offpay_shard_config_parse, settle.h; docs/scaling.md). The input is
 * parsed as it is (NUL bytes included):
 *   - the result is OFFPAY_OK, OFFPAY_EMALFORMED or OFFPAY_ETOOBIG; a
 *     refusal leaves the map empty and names a reason and a line no later
 *     than the input's last;
 *   - what parses has 1..OFFPAY_SHARDS_MAX shards with ascending, disjoint
 *     ranges within 1..2^63-1 and distinct PostgreSQL URLs;
 *   - written back one line per shard, it parses to exactly the same map;
 *   - routing sends every range's ends to its shard and the ids around
 *     them where the ranges say.
 * Any violation abort()s, which libFuzzer and the replay runner report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/settle.h"

static int owner(const offpay_shard_config *c, uint64_t id)
{
    for (size_t k = 0; k < c->n; k++)
        if (id >= c->shard[k].first && id <= c->shard[k].last)
            return (int)k;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static offpay_shard_config c, again;
    static char                text[OFFPAY_SHARDS_MAX * 600];
    const char                *why = NULL;
    size_t                     line = 0, lines = 1, at = 0;
    offpay_err                 rc;

    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    rc = offpay_shard_config_parse((const char *)data, size, &c, &line, &why);
    if (rc != OFFPAY_OK) {
        if ((rc != OFFPAY_EMALFORMED && rc != OFFPAY_ETOOBIG) || c.n != 0 ||
            why == NULL || line > lines)
            abort();
        return 0;
    }
    if (c.n == 0 || c.n > OFFPAY_SHARDS_MAX || why != NULL || line != 0)
        abort();
    for (size_t k = 0; k < c.n; k++) {
        const offpay_shard_spec *s = &c.shard[k];

        if (s->first < 1 || s->first > s->last || s->last > INT64_MAX ||
            (k > 0 && s->first <= c.shard[k - 1].last) ||
            (strncmp(s->url, "postgresql://", 13) != 0 &&
             strncmp(s->url, "postgres://", 11) != 0))
            abort();
        for (size_t j = 0; j < k; j++)
            if (strcmp(c.shard[j].url, s->url) == 0)
                abort();
        at += (size_t)snprintf(
            text + at, sizeof text - at, "shard %llu-%llu %s\n",
            (unsigned long long)s->first, (unsigned long long)s->last, s->url);
        for (int d = -1; d <= 1; d++) {
            uint64_t ids[2] = {s->first + (uint64_t)d, s->last + (uint64_t)d};

            for (int e = 0; e < 2; e++)
                if (offpay_shard_config_route(&c, ids[e]) != owner(&c, ids[e]))
                    abort();
        }
    }
    if (offpay_shard_config_parse(text, at, &again, NULL, NULL) != OFFPAY_OK ||
        memcmp(&c, &again, sizeof c) != 0)
        abort();
    return 0;
}
