/*
 * migrations.c — the backend-neutral part of applying the schema: each
 * migration's text in a backend's spelling of its types.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "offpay/offpay.h"
#include "settle/store.h"
#include "store/migrations.h"

/* The newer schema version a running process found (0: none yet). */
static atomic_ulong newer_seen;

offpay_err offpay__store_schema_newer(unsigned long version)
{
    unsigned long none = 0;

    if (atomic_compare_exchange_strong(&newer_seen, &none, version))
        offpay__log("offpay: the ledger's schema went to version %lu while "
                    "this offpay %s (which knows up to %zu) ran on it: a "
                    "newer offpay upgraded it; nothing more is written from "
                    "here (EVERSION): stop this process and start the new "
                    "version",
                    version, offpay_version(), offpay__n_migrations);
    return OFFPAY_EVERSION;
}

unsigned long offpay__store_schema_newer_seen(void)
{
    return atomic_load(&newer_seen);
}

char *offpay__migration_sql(size_t i, const offpay__dialect *d)
{
    const char *marks[3] = {"@ID@", "@INT@", "@BLOB@"};
    const char *words[3] = {d->id, d->integer, d->blob};
    size_t      cap = 1, n;
    const char *src, *p;
    char       *out, *o;

    if (i >= offpay__n_migrations)
        return NULL;
    src = offpay__migration_text[i];
    /* an upper bound: every character could start the longest word */
    n = 0;
    for (int k = 0; k < 3; k++)
        if (strlen(words[k]) > n)
            n = strlen(words[k]);
    cap += strlen(src) * (n > 1 ? n : 1);
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (o = out, p = src; *p != '\0';) {
        int k;

        for (k = 0; k < 3; k++)
            if (strncmp(p, marks[k], strlen(marks[k])) == 0)
                break;
        if (k < 3) {
            memcpy(o, words[k], strlen(words[k]));
            o += strlen(words[k]);
            p += strlen(marks[k]);
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}
