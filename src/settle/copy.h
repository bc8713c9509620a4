/*
 * copy.h — internal: a ledger moved from its SQLite file to PostgreSQL
 * (`offpay admin copy-ledger`, docs/operations.md "Moving from SQLite to
 * PostgreSQL"), through the store's function table: every table the
 * schema holds, its rows with their ids, in one PostgreSQL transaction,
 * proved by each table's rows and the audit on both sides.
 */
#ifndef OFFPAY_SETTLE_COPY_H
#define OFFPAY_SETTLE_COPY_H

#include "offpay/settle.h"
#include "settle/store.h"

typedef struct offpay__copy_report {
    unsigned schema;        /* the source's schema version */
    unsigned want;          /* this offpay's */
    unsigned target_schema; /* the target's before the copy (0: none) */
    int      created;       /* the target got the schema from this copy */
    size_t   n_tables;
    struct {
        char     name[OFFPAY__COPY_NAME_MAX + 1];
        uint64_t rows;
        uint64_t next_id; /* the id the next row takes (0: no id) */
    } table[OFFPAY__COPY_TABLES_MAX];
    offpay_audit_report audit; /* the source's: the target's is the same */
    char differ[512]; /* on OFFPAY_EEXISTS, OFFPAY_EAUDIT, a schema that
                         differs: what, in words */
} offpay__copy_report;

/*
 * offpay__ledger_copy — copies the SQLite ledger at `from` into the
 * PostgreSQL database at the libpq URL `to`, and proves the copy. `from`
 * is read in one read transaction (offpayd may run on it: what it writes
 * after that read began is not copied). `to` is a database without the
 * ledger's schema (it is given the schema first, as offpayd's first start
 * would) or an empty ledger; every table's rows go in with their ids, in
 * one transaction, and each id sequence is set to continue after the
 * source's next id (floors raised by skip-ids included). Before the
 * commit each table's row count and a digest of its rows (a sum of one
 * BLAKE2b hash a row, whatever the order), each next id and every figure
 * of the audit must be the same on both sides, and the source's audit
 * must pass; else nothing is committed.
 *
 * r is filled as far as the copy went. Errors: OFFPAY_EINVAL (from not a
 * SQLite file or to not a PostgreSQL URL), OFFPAY_ENOENT (no ledger at
 * from), OFFPAY_EVERSION (from, or a ledger at to, at another schema
 * version than this offpay's: r->schema, r->target_schema), OFFPAY_EEXISTS
 * (to holds rows: r->differ names a table; nothing written),
 * OFFPAY_EAUDIT (the source's audit fails, or the copy differs: r->differ
 * says what; rolled back), OFFPAY_ESTORE (the two schemas differ, said in
 * r->differ, or a store's failure), OFFPAY_ENOMEM, the stores'. After an
 * error other than EINVAL, ENOENT, EVERSION and EEXISTS the target may
 * hold the empty ledger's schema this copy gave it, and its id sequences
 * may have moved (a rollback does not move them back); a second copy
 * takes it.
 */
offpay_err offpay__ledger_copy(const char *from, const char *to,
                               offpay__copy_report *r);

#endif
