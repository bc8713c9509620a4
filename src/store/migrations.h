/*
 * migrations.h — internal: the ledger schema's numbered migrations
 * (src/store/migrations/NNN_*.sql, compiled in by src/CMakeLists.txt), in
 * the SQL subset every backend shares, with three placeholders each
 * backend spells its own way: @ID@ (a 64-bit row id assigned from 1
 * upwards), @INT@ (a 64-bit integer) and @BLOB@ (a byte string).
 */
#ifndef OFFPAY_STORE_MIGRATIONS_H
#define OFFPAY_STORE_MIGRATIONS_H

#include <stddef.h>

/* The migrations' text, in order; migration i brings the schema to
 * version i + 1. Generated. */
extern const char *const offpay__migration_text[];
extern const size_t      offpay__n_migrations;

/* A backend's spelling of the placeholders. */
typedef struct offpay__dialect {
    const char *id, *integer, *blob;
} offpay__dialect;

/* Migration i with the placeholders spelled by d; malloc'd (free it),
 * NULL when out of memory or i is out of range. */
char *offpay__migration_sql(size_t i, const offpay__dialect *d);

#endif
