/*
 * migrations.h — internal: the ledger schema's numbered migrations
 * (src/store/migrations/NNN_*.sql, compiled in by src/CMakeLists.txt), in
 * the SQL subset every backend shares, with @BLOB@ where a backend spells
 * its byte-string type (SQLite BLOB, PostgreSQL BYTEA).
 */
#ifndef OFFPAY_STORE_MIGRATIONS_H
#define OFFPAY_STORE_MIGRATIONS_H

#include <stddef.h>

/* The migrations' text, in order; migration i brings the schema to
 * version i + 1. Generated. */
extern const char *const offpay__migration_text[];
extern const size_t      offpay__n_migrations;

/* Migration i with @BLOB@ replaced by blob_type; malloc'd (free it), NULL
 * when out of memory or i is out of range. */
char *offpay__migration_sql(size_t i, const char *blob_type);

#endif
