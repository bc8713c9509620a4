/*
 * migrations.c — the backend-neutral part of applying the schema: each
 * migration's text with the backend's spelling of a byte string.
 */
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"

char *offpay__migration_sql(size_t i, const char *blob_type)
{
    static const char mark[] = "@BLOB@";
    const char       *src, *p;
    size_t            n = 0, blen = strlen(blob_type);
    char             *out, *o;

    if (i >= offpay__n_migrations)
        return NULL;
    src = offpay__migration_text[i];
    for (p = src; (p = strstr(p, mark)) != NULL; p += sizeof mark - 1)
        n++;
    out = malloc(strlen(src) + n * blen + 1);
    if (out == NULL)
        return NULL;
    for (o = out, p = src;;) {
        const char *m = strstr(p, mark);
        size_t      k = m != NULL ? (size_t)(m - p) : strlen(p);

        memcpy(o, p, k);
        o += k;
        if (m == NULL)
            break;
        memcpy(o, blob_type, blen);
        o += blen;
        p = m + sizeof mark - 1;
    }
    *o = '\0';
    return out;
}
