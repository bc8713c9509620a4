/*
 * shards.c — the shard map of a sharded ledger (docs/scaling.md "Sharding
 * by credential serial"): its strict, bounded parser and the routing of an
 * id (a credential serial, an account or case id) to the shard whose range
 * holds it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offpay/settle.h"

#define ID_MAX ((uint64_t)INT64_MAX) /* PostgreSQL's BIGINT */

static int blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The next word of [*p, end): its start and length; *p moves past it. */
static size_t word(const char **p, const char *end, const char **w)
{
    const char *s = *p;

    while (s < end && blank(*s))
        s++;
    *w = s;
    while (s < end && !blank(*s))
        s++;
    *p = s;
    return (size_t)(s - *w);
}

/* A canonical decimal of [w, w+n) into *v: no sign, no leading zero. */
static int decimal(const char *w, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    if (n == 0 || n > 19 || (w[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(w[i] - '0'); /* 19 digits cannot wrap */
    }
    *v = x;
    return 0;
}

/* One non-blank, non-comment line into c->shard[c->n]; *why on error. */
static offpay_err parse_line(const char *s, const char *end,
                             offpay_shard_config *c, const char **why)
{
    offpay_shard_spec *sp;
    const char        *w, *dash;
    size_t             n;

    n = word(&s, end, &w);
    if (n != 5 || memcmp(w, "shard", 5) != 0) {
        *why = "a line must read \"shard FIRST-LAST URL\"";
        return OFFPAY_EMALFORMED;
    }
    if (c->n == OFFPAY_SHARDS_MAX) {
        *why = "more shards than OFFPAY_SHARDS_MAX (16)";
        return OFFPAY_ETOOBIG;
    }
    sp = &c->shard[c->n];
    n = word(&s, end, &w);
    dash = memchr(w, '-', n);
    if (dash == NULL || decimal(w, (size_t)(dash - w), &sp->first) != 0 ||
        decimal(dash + 1, n - (size_t)(dash - w) - 1, &sp->last) != 0) {
        *why = "the range must be FIRST-LAST, two decimals without sign or "
               "leading zero";
        return OFFPAY_EMALFORMED;
    }
    if (sp->first < 1 || sp->first > sp->last || sp->last > ID_MAX) {
        *why = "the range must satisfy 1 <= FIRST <= LAST <= "
               "9223372036854775807";
        return OFFPAY_EMALFORMED;
    }
    if (c->n > 0 && sp->first <= c->shard[c->n - 1].last) {
        *why = "ranges must ascend without overlapping the previous shard's";
        return OFFPAY_EMALFORMED;
    }
    n = word(&s, end, &w);
    if (n == 0) {
        *why = "the shard's URL is missing";
        return OFFPAY_EMALFORMED;
    }
    if (n > OFFPAY_SHARD_URL_MAX) {
        *why = "the URL is longer than OFFPAY_SHARD_URL_MAX (512) bytes";
        return OFFPAY_ETOOBIG;
    }
    if (!(n > 13 && memcmp(w, "postgresql://", 13) == 0) &&
        !(n > 11 && memcmp(w, "postgres://", 11) == 0)) {
        *why = "a shard is a PostgreSQL URL (postgresql://...)";
        return OFFPAY_EMALFORMED;
    }
    for (size_t i = 0; i < n; i++)
        if (w[i] < 0x21 || w[i] > 0x7e) {
            *why = "the URL must be printable ASCII";
            return OFFPAY_EMALFORMED;
        }
    memcpy(sp->url, w, n);
    sp->url[n] = '\0';
    for (size_t k = 0; k < c->n; k++)
        if (strcmp(c->shard[k].url, sp->url) == 0) {
            *why = "two shards name the same URL";
            return OFFPAY_EMALFORMED;
        }
    n = word(&s, end, &w);
    if (n != 0) {
        *why = "unexpected words after the URL";
        return OFFPAY_EMALFORMED;
    }
    c->n++;
    return OFFPAY_OK;
}

offpay_err offpay_shard_config_parse(const char *text, size_t len,
                                     offpay_shard_config *c, size_t *line,
                                     const char **why)
{
    const char *p, *end, *why_ = NULL;
    size_t      line_ = 0;
    offpay_err  rc = OFFPAY_OK;

    if (text == NULL || c == NULL)
        return OFFPAY_EINVAL;
    memset(c, 0, sizeof *c);
    if (len > OFFPAY_SHARD_FILE_MAX) {
        why_ = "the shard map is larger than 65536 bytes";
        rc = OFFPAY_ETOOBIG;
        goto out;
    }
    for (p = text, end = text + len; p < end && rc == OFFPAY_OK;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *e = eol != NULL ? eol : end, *q = p;

        line_++;
        if ((size_t)(e - p) > OFFPAY_SHARD_LINE_MAX) {
            why_ = "the line is longer than 1024 bytes";
            rc = OFFPAY_ETOOBIG;
            break;
        }
        if (e > p && e[-1] == '\r')
            e--;
        for (const char *k = p; k < e; k++)
            if (*k == '\0' || *k == '\r') {
                why_ = "the line holds a NUL or CR byte";
                rc = OFFPAY_EMALFORMED;
            }
        while (q < e && blank(*q))
            q++;
        if (rc == OFFPAY_OK && q < e && *q != '#')
            rc = parse_line(q, e, c, &why_);
        p = eol != NULL ? eol + 1 : end;
    }
    if (rc == OFFPAY_OK && c->n == 0) {
        line_ = 0;
        why_ = "the shard map names no shard";
        rc = OFFPAY_EMALFORMED;
    }
out:
    if (rc != OFFPAY_OK)
        memset(c, 0, sizeof *c);
    if (line != NULL)
        *line = rc == OFFPAY_OK ? 0 : line_;
    if (why != NULL)
        *why = why_;
    return rc;
}

offpay_err offpay_shard_config_load(const char *path, offpay_shard_config *c,
                                    size_t *line, const char **why)
{
    char      *buf = NULL;
    FILE      *f = NULL;
    size_t     n;
    offpay_err rc = OFFPAY_EIO;

    if (line != NULL)
        *line = 0;
    if (why != NULL)
        *why = "the shard map cannot be read";
    if (path == NULL || c == NULL)
        return OFFPAY_EINVAL;
    buf = malloc(OFFPAY_SHARD_FILE_MAX + 1);
    if (buf == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    f = fopen(path, "rb");
    if (f == NULL)
        goto out;
    n = fread(buf, 1, OFFPAY_SHARD_FILE_MAX + 1, f);
    if (ferror(f))
        goto out;
    rc = offpay_shard_config_parse(buf, n, c, line, why);
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    return rc;
}

int offpay_shard_config_route(const offpay_shard_config *c, uint64_t id)
{
    size_t lo = 0, hi;

    if (c == NULL)
        return -1;
    /* ranges ascend: a binary search for the last first <= id */
    hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->shard[mid].first <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || id > c->shard[lo - 1].last)
        return -1;
    return (int)(lo - 1);
}

int offpay_shard_config_covers(const offpay_shard_config *c, uint64_t first,
                               uint64_t last)
{
    uint64_t id = first;

    if (c == NULL || first > last)
        return 0;
    /* ranges ascend without overlapping: walk them from first's */
    for (int k = offpay_shard_config_route(c, id); k >= 0;
         k = offpay_shard_config_route(c, id)) {
        if (c->shard[k].last >= last)
            return 1;
        id = c->shard[k].last + 1;
    }
    return 0;
}
