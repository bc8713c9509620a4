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
    int      already;       /* the target held rows: only compared (the
                               copy made before, or another ledger) */
    int commit_unknown;     /* the target's COMMIT failed: it may have
                               committed (run the copy again) */
    size_t   n_tables;
    struct {
        char     name[OFFPAY__COPY_NAME_MAX + 1];
        uint64_t rows;
        uint64_t next_id; /* the id the next row takes (0: no id) */
    } table[OFFPAY__COPY_TABLES_MAX];
    offpay_audit_report audit; /* the source's: the target's is the same */
    char differ[512]; /* on OFFPAY_EEXISTS, OFFPAY_EAUDIT, a schema that
                         differs, OFFPAY_ERETRY: what, in words */
    /* the seal's reason: the one the copy put on the file, or on
     * OFFPAY_ELEDGER_SEALED the one a copy before put there, or the one
     * offpay__ledger_unseal_same took off */
    char sealed[OFFPAY__SEAL_REASON_MAX + 1];
    /* after a copy committed into PostgreSQL: OFFPAY_OK when the file was
     * sealed, else the error that left it unsealed */
    offpay_err unsealed;
} offpay__copy_report;

/*
 * offpay__ledger_copy — copies the SQLite ledger at `from` into the
 * PostgreSQL database at the libpq URL `to`, proves the copy, and seals
 * the file (020_ledger_sealed), at time `now`. `from` is read in one read
 * transaction; once the copy is proved, the seal is written in that
 * transaction before the target commits, which SQLite refuses when
 * anything was committed to the file since the read began (an offpayd
 * still running on it: OFFPAY_ERETRY, r->differ saying so, nothing
 * committed on either side). From the seal's commit on, every write to
 * the file is refused (OFFPAY_ELEDGER_SEALED), so what the copy holds is
 * all the file will ever hold. A sealed file is not copied again
 * (OFFPAY_ELEDGER_SEALED, the seal's reason in r->sealed). A target that
 * holds rows is only compared with the file (r->already): when it is the
 * same (a copy committed before whose seal was lost: a kill between the
 * two commits, a failed seal), the file is sealed and OFFPAY_OK; else
 * OFFPAY_EEXISTS with the first difference in r->differ. `to` is a database
 * without the ledger's schema (it is given the schema first, as offpayd's first
 * start would) or an empty ledger; every table's rows go in with their ids, in
 * one transaction, and each id sequence is set to continue after the
 * source's next id (floors raised by skip-ids included). Before the
 * commit each table's row count and a digest of its rows (a sum of one
 * BLAKE2b hash a row, whatever the order), each next id and every figure
 * of the audit must be the same on both sides, and the source's audit
 * must pass; else nothing is committed.
 *
 * r is filled as far as the copy went; after OFFPAY_OK, r->unsealed is
 * not OFFPAY_OK when the copy is committed but the seal's commit failed
 * (the file stays writable). Errors: OFFPAY_EINVAL (from not a SQLite
 * file or to not a PostgreSQL URL), OFFPAY_ENOENT (no ledger at from),
 * OFFPAY_EVERSION (from, or a ledger at to, at another schema version
 * than this offpay's: r->schema, r->target_schema),
 * OFFPAY_ELEDGER_SEALED (from was copied before; nothing written),
 * OFFPAY_ERETRY (from was written during the copy: rolled back),
 * OFFPAY_EBUSY (another process held from's write lock through the busy
 * wait: rolled back), a store's error with r->commit_unknown (the
 * target's COMMIT failed: it may have committed; the file not sealed),
 * OFFPAY_EEXISTS (to holds rows: r->differ names a table; nothing
 * written),
 * OFFPAY_EAUDIT (the source's audit fails, or the copy differs: r->differ
 * says what; rolled back), OFFPAY_ESTORE (the two schemas differ, said in
 * r->differ, or a store's failure), OFFPAY_ENOMEM, the stores'. After an
 * error other than EINVAL, ENOENT, EVERSION and EEXISTS the target may
 * hold the empty ledger's schema this copy gave it, and its id sequences
 * may have moved (a rollback does not move them back); a second copy
 * takes it.
 */
offpay_err offpay__ledger_copy(const char *from, const char *to, uint32_t now,
                               offpay__copy_report *r);

/*
 * offpay__ledger_unseal_same — takes the seal of offpay__ledger_copy off
 * the SQLite ledger at `from` (`offpay admin unseal --into URL`) only
 * while the PostgreSQL ledger at `to` is still its copy: the same rows,
 * next ids and audit (compared as the copy proves itself; the seal's own
 * table aside), so nothing was settled there since. r->sealed says what
 * the seal said (also on OFFPAY_EEXISTS: offpay__seal_into reads the
 * database it names). Errors: OFFPAY_ENOTFOUND (not sealed: nothing
 * changed; also when `to` holds no ledger),
 * OFFPAY_EEXISTS (to is not, or no longer, the copy: r->differ says how;
 * nothing changed), OFFPAY_ERETRY and OFFPAY_EBUSY (from written or
 * locked meanwhile), and offpay__ledger_copy's others. Nothing is
 * written to `to`.
 *
 * offpay__ledger_unseal_forced — takes the seal off whatever became of
 * the copy (`--force`), its reason into reason[0..cap). Errors:
 * OFFPAY_EINVAL (not a SQLite path), OFFPAY_ENOENT (no ledger there),
 * OFFPAY_ENOTFOUND (not sealed: nothing changed), the store's. Neither
 * migrates anything.
 */
offpay_err offpay__ledger_unseal_same(const char *from, const char *to,
                                      offpay__copy_report *r);
offpay_err offpay__ledger_unseal_forced(const char *path, char *reason,
                                        size_t cap);

/*
 * offpay__seal_into — the database and the time a seal's reason names,
 * as offpay__ledger_copy writes it ("copied into URL by 'offpay admin
 * copy-ledger' at TIME"; the URL without its password): into[0..cap) and
 * at[0..at_cap). 0, or -1 for a reason of another form (a seal put there
 * by hand, or cut): then both are "". Pure.
 */
int offpay__seal_into(const char *reason, char *into, size_t cap, char *at,
                      size_t at_cap);

#endif
