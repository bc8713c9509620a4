/*
 * copy.c — a ledger moved from SQLite to PostgreSQL (copy.h): every table
 * of the schema (listed from the stores, never from a list here, so a
 * table a later migration adds is copied too), in an order that meets the
 * foreign keys, with ids unchanged; the ids' sequences moved past them;
 * then proved: rows, ids and the audit the same on both sides before the
 * one transaction on the target commits. Knows no SQL: the stores' copy
 * operations (store.h) do the reading and writing.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/testhook.h"
#include "core/unixtime.h"
#include "offpay/offpay.h"
#include "settle/copy.h"
#include "settle/settle_int.h"
#include "store/migrations.h"

/* Rows written to the target at a time, and the bytes they may hold. */
#define BATCH_ROWS  1000
#define BATCH_BYTES (4u << 20)

/* A table's rows as a count and an order-free digest: the sum, lane by
 * lane (mod 2^64), of one BLAKE2b-256 hash a row. */
typedef struct digest {
    uint64_t rows;
    uint64_t lane[4];
} digest;

static void digest_row(digest *d, const offpay__copy_value *v, size_t n)
{
    crypto_generichash_state st;
    uint8_t                  h[32];

    crypto_generichash_init(&st, NULL, 0, sizeof h);
    for (size_t k = 0; k < n; k++) {
        uint8_t  head[9];
        uint64_t x = v[k].type == OFFPAY__COPY_INT    ? (uint64_t)v[k].i
                     : v[k].type == OFFPAY__COPY_NULL ? 0
                                                      : (uint64_t)v[k].len;

        head[0] = (uint8_t)v[k].type;
        for (int b = 0; b < 8; b++)
            head[1 + b] = (uint8_t)(x >> (8 * b));
        crypto_generichash_update(&st, head, sizeof head);
        if (v[k].type == OFFPAY__COPY_TEXT || v[k].type == OFFPAY__COPY_BLOB)
            crypto_generichash_update(&st, v[k].len > 0 ? v[k].p : head,
                                      v[k].len);
    }
    crypto_generichash_final(&st, h, sizeof h);
    for (int l = 0; l < 4; l++) {
        uint64_t x = 0;

        for (int b = 0; b < 8; b++)
            x |= (uint64_t)h[8 * l + b] << (8 * b);
        d->lane[l] += x;
    }
    d->rows++;
}

/* The rows read from the source, held until they are written. */
typedef struct batch {
    const offpay__store_ops *ops;
    offpay__store           *to;
    const char              *table;
    const char *const       *cols;
    size_t                   n;
    offpay__copy_value      *v; /* BATCH_ROWS * n; TEXT and BLOB hold the
                                   offset of their bytes in i */
    size_t     rows;
    uint8_t   *bytes;
    size_t     used, cap;
    digest     d;
    offpay_err rc;
} batch;

static offpay_err batch_flush(batch *b)
{
    offpay_err rc;

    for (size_t i = 0; i < b->rows * b->n; i++)
        if (b->v[i].type == OFFPAY__COPY_TEXT ||
            b->v[i].type == OFFPAY__COPY_BLOB)
            b->v[i].p = b->bytes + b->v[i].i;
    rc = b->ops->copy_write(b->to, b->table, b->cols, b->n, b->v, b->rows);
    b->rows = 0;
    b->used = 0;
    return rc;
}

static int batch_add(const offpay__copy_value *v, void *ctx)
{
    batch *b = ctx;
    size_t need = 0;

    for (size_t k = 0; k < b->n; k++)
        if (v[k].type == OFFPAY__COPY_TEXT || v[k].type == OFFPAY__COPY_BLOB)
            need += v[k].len;
    if (b->used + need > b->cap) {
        size_t   cap = (b->used + need) * 2;
        uint8_t *grown = realloc(b->bytes, cap);

        if (grown == NULL) {
            b->rc = OFFPAY_ENOMEM;
            return 1;
        }
        b->bytes = grown;
        b->cap = cap;
    }
    for (size_t k = 0; k < b->n; k++) {
        offpay__copy_value *o = &b->v[b->rows * b->n + k];

        *o = v[k];
        if (v[k].type == OFFPAY__COPY_TEXT || v[k].type == OFFPAY__COPY_BLOB) {
            if (v[k].len > 0)
                memcpy(b->bytes + b->used, v[k].p, v[k].len);
            o->i = (int64_t)b->used;
            o->p = NULL;
            b->used += v[k].len;
        }
    }
    digest_row(&b->d, v, b->n);
    b->rows++;
    if (b->rows == BATCH_ROWS || b->used >= BATCH_BYTES)
        b->rc = batch_flush(b);
    return b->rc != OFFPAY_OK;
}

static int digest_add(const offpay__copy_value *v, void *ctx)
{
    struct {
        digest *d;
        size_t  n;
    } *c = ctx;

    digest_row(c->d, v, c->n);
    return 0;
}

static int any_row(const offpay__copy_value *v, void *ctx)
{
    (void)v;
    *(int *)ctx = 1;
    return 1;
}

static const offpay__copy_table *find_table(const offpay__copy_table *t,
                                            size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

static int has_col(const offpay__copy_table *t, const char *col)
{
    for (size_t k = 0; k < t->n_cols; k++)
        if (strcmp(t->col[k], col) == 0)
            return 1;
    return 0;
}

/* The two schemas hold the same tables, each with the same columns and
 * id; else what differs, in r->differ. An id is the target's: a column
 * whose value the store gives a new row there (PostgreSQL's identity);
 * SQLite's INTEGER PRIMARY KEY that the target does not number itself
 * (shard_map's first, which the rows give) is no id (a's id cleared). */
static offpay_err same_schema(offpay__copy_table *a, size_t na,
                              const offpay__copy_table *b, size_t nb,
                              offpay__copy_report *r)
{
    for (size_t i = 0; i < na; i++) {
        const offpay__copy_table *o = find_table(b, nb, a[i].name);

        if (o != NULL && o->id[0] == '\0')
            a[i].id[0] = '\0';
    }
    for (int side = 0; side < 2; side++) {
        const offpay__copy_table *x = side == 0 ? a : b, *y = side == 0 ? b : a;
        size_t nx = side == 0 ? na : nb, ny = side == 0 ? nb : na;

        for (size_t i = 0; i < nx; i++) {
            const offpay__copy_table *o = find_table(y, ny, x[i].name);

            if (o == NULL) {
                snprintf(r->differ, sizeof r->differ,
                         "table %s is in the %s ledger only", x[i].name,
                         side == 0 ? "SQLite" : "PostgreSQL");
                return OFFPAY_ESTORE;
            }
            for (size_t k = 0; k < x[i].n_cols; k++)
                if (!has_col(o, x[i].col[k])) {
                    snprintf(r->differ, sizeof r->differ,
                             "column %s.%s is in the %s ledger only", x[i].name,
                             x[i].col[k], side == 0 ? "SQLite" : "PostgreSQL");
                    return OFFPAY_ESTORE;
                }
            if (strcmp(x[i].id, o->id) != 0) {
                snprintf(r->differ, sizeof r->differ,
                         "table %s's id column differs ('%s', '%s')", x[i].name,
                         a == x ? x[i].id : o->id, a == x ? o->id : x[i].id);
                return OFFPAY_ESTORE;
            }
        }
    }
    return OFFPAY_OK;
}

/* order[0..n): the tables, each after the other tables it references. */
static offpay_err fk_order(const offpay__copy_table *t, size_t n, size_t *order,
                           offpay__copy_report *r)
{
    int placed[OFFPAY__COPY_TABLES_MAX] = {0};

    for (size_t done = 0; done < n; done++) {
        size_t i;

        for (i = 0; i < n; i++) {
            size_t k;

            if (placed[i])
                continue;
            for (k = 0; k < t[i].n_refs; k++) {
                const offpay__copy_table *o = find_table(t, n, t[i].ref[k]);

                if (o == NULL || !placed[o - t])
                    break;
            }
            if (k == t[i].n_refs)
                break;
        }
        if (i == n) {
            snprintf(r->differ, sizeof r->differ,
                     "the tables' foreign keys name a missing table or "
                     "go round in a circle");
            return OFFPAY_ESTORE;
        }
        placed[i] = 1;
        order[done] = i;
    }
    return OFFPAY_OK;
}

/* The first figure of the two audits that differs, into r->differ. */
static int audits_differ(const offpay_audit_report *a,
                         const offpay_audit_report *b, offpay__copy_report *r)
{
    const struct {
        const char *name;
        uint64_t    x, y;
    } f[] = {
        {"accounts", a->accounts, b->accounts},
        {"transfers", a->transfers, b->transfers},
        {"currencies", a->n_money, b->n_money},
        {"money_more", (uint64_t)a->money_more, (uint64_t)b->money_more},
        {"money_mismatch", a->money_mismatch, b->money_mismatch},
        {"imbalanced", a->imbalanced, b->imbalanced},
        {"negative", a->negative, b->negative},
        {"escrow_mismatch", a->escrow_mismatch, b->escrow_mismatch},
        {"settle_mismatch", a->settle_mismatch, b->settle_mismatch},
        {"release_mismatch", a->release_mismatch, b->release_mismatch},
        {"request_mismatch", a->request_mismatch, b->request_mismatch},
        {"refund_mismatch", a->refund_mismatch, b->refund_mismatch},
        {"mark_mismatch", a->mark_mismatch, b->mark_mismatch},
        {"case_mismatch", a->case_mismatch, b->case_mismatch},
        {"result_mismatch", a->result_mismatch, b->result_mismatch},
        {"fund_mismatch", a->fund_mismatch, b->fund_mismatch},
        {"trail_mismatch", a->trail_mismatch, b->trail_mismatch},
        {"newest_transfer_at", a->newest_transfer_at, b->newest_transfer_at},
    };

    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].x != f[i].y) {
            snprintf(r->differ, sizeof r->differ,
                     "the audit's %s: %llu in SQLite, %llu in PostgreSQL",
                     f[i].name, (unsigned long long)f[i].x,
                     (unsigned long long)f[i].y);
            return 1;
        }
    for (size_t i = 0; i < a->n_money; i++) {
        const offpay_audit_money *x = &a->money[i], *y = &b->money[i];

        if (x->currency != y->currency || x->inside != y->inside ||
            x->deposits_net != y->deposits_net) {
            snprintf(r->differ, sizeof r->differ,
                     "the audit's money of currency %u: inside %lld, "
                     "deposits less withdrawals %lld in SQLite; currency "
                     "%u: %lld, %lld in PostgreSQL",
                     (unsigned)x->currency, (long long)x->inside,
                     (long long)x->deposits_net, (unsigned)y->currency,
                     (long long)y->inside, (long long)y->deposits_net);
            return 1;
        }
    }
    return 0;
}

/* The seal's table is the file's own: a sealed file's seal is not
 * compared with the target's (empty) table. */
#define SEAL_TABLE "ledger_sealed"

/* The copy itself, both stores open, the source in its read transaction
 * and the target in its write transaction. Into an empty target the rows
 * are copied, then proved; a target that holds rows is only compared
 * (r->already: the copy was committed before, or it is another ledger:
 * OFFPAY_EEXISTS with the first difference), and with compare_only
 * (unseal) a target without rows is refused too. */
static offpay_err copy_in_tx(offpay__store *from, const offpay__store_ops *fo,
                             offpay__store *to, const offpay__store_ops *to_ops,
                             int compare_only, offpay__copy_report *r)
{
    char held[OFFPAY__COPY_NAME_MAX + 1] = "";
    int  differs = 0; /* the two sides' rows, ids or audits differ */
    offpay__copy_table *st = NULL, *tt = NULL;
    size_t              ns = 0, nt = 0, order[OFFPAY__COPY_TABLES_MAX];
    digest             *src = NULL;
    batch               b;
    offpay__audit_facts ff, tf;
    offpay_audit_report tr;
    offpay_err          rc;

    memset(&b, 0, sizeof b);
    st = calloc(OFFPAY__COPY_TABLES_MAX, sizeof *st);
    tt = calloc(OFFPAY__COPY_TABLES_MAX, sizeof *tt);
    src = calloc(OFFPAY__COPY_TABLES_MAX, sizeof *src);
    b.v = calloc((size_t)BATCH_ROWS * OFFPAY__COPY_COLS_MAX, sizeof *b.v);
    if (st == NULL || tt == NULL || src == NULL || b.v == NULL) {
        rc = OFFPAY_ENOMEM;
        goto out;
    }
    rc = fo->copy_tables(from, st, OFFPAY__COPY_TABLES_MAX, &ns);
    if (rc == OFFPAY_OK)
        rc = to_ops->copy_tables(to, tt, OFFPAY__COPY_TABLES_MAX, &nt);
    if (rc == OFFPAY_OK)
        rc = same_schema(st, ns, tt, nt, r);
    if (rc == OFFPAY_OK)
        rc = fk_order(st, ns, order, r);
    /* an empty ledger to copy into; one with rows only compared: a copy
     * never mixes two ledgers */
    for (size_t i = 0; rc == OFFPAY_OK && held[0] == '\0' && i < nt; i++) {
        const char *cols[1] = {tt[i].col[0]};
        int         any = 0;

        rc = to_ops->copy_rows(to, tt[i].name, cols, 1, any_row, &any);
        if (rc == OFFPAY_OK && any)
            snprintf(held, sizeof held, "%s", tt[i].name);
    }
    r->already = held[0] != '\0';
    if (rc == OFFPAY_OK && compare_only && !r->already) {
        snprintf(r->differ, sizeof r->differ,
                 "it holds no ledger rows: not the database the file was "
                 "copied into?");
        rc = OFFPAY_EEXISTS;
    }
    /* the source's rows only read, their digests taken */
    for (size_t i = 0; rc == OFFPAY_OK && r->already && i < ns; i++) {
        const char *cols[OFFPAY__COPY_COLS_MAX];
        struct {
            digest *d;
            size_t  n;
        } c = {&src[i], st[i].n_cols};

        for (size_t k = 0; k < st[i].n_cols; k++)
            cols[k] = st[i].col[k];
        rc =
            fo->copy_rows(from, st[i].name, cols, st[i].n_cols, digest_add, &c);
    }
    /* else the rows, table by table, each row's digest taken as it goes */
    b.ops = to_ops;
    b.to = to;
    for (size_t j = 0; rc == OFFPAY_OK && !r->already && j < ns; j++) {
        const offpay__copy_table *t = &st[order[j]];
        const char               *cols[OFFPAY__COPY_COLS_MAX];

        for (size_t k = 0; k < t->n_cols; k++)
            cols[k] = t->col[k];
        b.table = t->name;
        b.cols = cols;
        b.n = t->n_cols;
        b.rows = b.used = 0;
        memset(&b.d, 0, sizeof b.d);
        b.rc = OFFPAY_OK;
        rc = fo->copy_rows(from, t->name, cols, t->n_cols, batch_add, &b);
        if (rc == OFFPAY_OK)
            rc = b.rc;
        if (rc == OFFPAY_OK && b.rows > 0)
            rc = batch_flush(&b);
        src[order[j]] = b.d;
        b.cols = NULL;
    }
    /* the ids the target gives next continue after the source's */
    for (size_t i = 0; rc == OFFPAY_OK && !r->already && i < ns; i++) {
        uint64_t next = 0;

        if (st[i].id[0] == '\0')
            continue;
        rc = fo->next_id(from, st[i].name, st[i].id, &next);
        if (rc == OFFPAY_OK)
            rc = to_ops->next_id_set(to, st[i].name, st[i].id, next);
    }
    /* the proof: each table read back from the target, its next id, and
     * the audit of each side */
    r->n_tables = ns;
    for (size_t i = 0; rc == OFFPAY_OK && i < ns; i++) {
        const char *cols[OFFPAY__COPY_COLS_MAX];
        digest      d;
        uint64_t    mine = 0, theirs = 0;
        struct {
            digest *d;
            size_t  n;
        } c = {&d, st[i].n_cols};

        for (size_t k = 0; k < st[i].n_cols; k++)
            cols[k] = st[i].col[k];
        memset(&d, 0, sizeof d);
        snprintf(r->table[i].name, sizeof r->table[i].name, "%s", st[i].name);
        r->table[i].rows = src[i].rows;
        if (compare_only && strcmp(st[i].name, SEAL_TABLE) == 0)
            continue;
        rc = to_ops->copy_rows(to, st[i].name, cols, st[i].n_cols, digest_add,
                               &c);
        if (rc != OFFPAY_OK)
            break;
        if (d.rows != src[i].rows ||
            memcmp(d.lane, src[i].lane, sizeof d.lane) != 0) {
            snprintf(r->differ, sizeof r->differ,
                     "table %s: %llu rows in SQLite, %llu in PostgreSQL%s",
                     st[i].name, (unsigned long long)src[i].rows,
                     (unsigned long long)d.rows,
                     d.rows == src[i].rows ? ", and their contents differ"
                                           : "");
            rc = OFFPAY_EAUDIT;
            differs = 1;
            break;
        }
        if (st[i].id[0] == '\0')
            continue;
        rc = fo->next_id(from, st[i].name, st[i].id, &mine);
        if (rc == OFFPAY_OK)
            rc = to_ops->next_id(to, st[i].name, st[i].id, &theirs);
        if (rc == OFFPAY_OK && mine != theirs) {
            snprintf(r->differ, sizeof r->differ,
                     "table %s's next %s: %llu in SQLite, %llu in PostgreSQL",
                     st[i].name, st[i].id, (unsigned long long)mine,
                     (unsigned long long)theirs);
            rc = OFFPAY_EAUDIT;
            differs = 1;
        }
        r->table[i].next_id = mine;
    }
    memset(&ff, 0, sizeof ff);
    memset(&tf, 0, sizeof tf);
    if (rc == OFFPAY_OK)
        rc = fo->audit(from, &ff);
    if (rc == OFFPAY_OK &&
        offpay__audit_report_from(&ff, &r->audit) == OFFPAY_EAUDIT) {
        snprintf(r->differ, sizeof r->differ,
                 "the SQLite ledger's own audit fails ('offpay admin audit' "
                 "says where): a ledger is moved only when it passes");
        rc = OFFPAY_EAUDIT;
    }
    if (rc == OFFPAY_OK)
        rc = to_ops->audit(to, &tf);
    if (rc == OFFPAY_OK) {
        (void)offpay__audit_report_from(&tf, &tr);
        if (audits_differ(&r->audit, &tr, r)) {
            rc = OFFPAY_EAUDIT;
            differs = 1;
        }
    }
    /* a target that held rows and differs is another ledger, or the copy
     * moved on there: never the copy of this file */
    if (r->already && rc == OFFPAY_EAUDIT && differs) {
        char d[sizeof r->differ];

        snprintf(d, sizeof d, "%s", r->differ);
        snprintf(
            r->differ, sizeof r->differ,
            "its table %s holds rows, and they are not this file's: %.380s",
            held, d);
        rc = OFFPAY_EEXISTS;
    }
out:
    free(b.bytes);
    free(b.v);
    free(src);
    free(tt);
    free(st);
    return rc;
}

/* Keeps the seal's reason a copy of a sealed file finds (its only row). */
static int seal_reason(const offpay__copy_value *v, void *ctx)
{
    offpay__copy_report *r = ctx;
    size_t               n =
        v[0].len < sizeof r->sealed - 1 ? v[0].len : sizeof r->sealed - 1;

    if (n > 0)
        memcpy(r->sealed, v[0].p, n);
    r->sealed[n] = '\0';
    if (n == 0) /* a row put there by hand */
        snprintf(r->sealed, sizeof r->sealed, "(no reason given)");
    return 1;
}

/* The words a seal's reason puts around the URL and the time (seal_says,
 * offpay__seal_into). */
#define SEAL_HEAD "copied into "
#define SEAL_MID  " by 'offpay admin copy-ledger' at "

/* The seal's reason for a copy into `to` at `now` (its password never
 * in it). */
static void seal_says(const char *to, uint32_t now,
                      char out[OFFPAY__SEAL_REASON_MAX + 1])
{
    char shown[OFFPAY__SEAL_REASON_MAX - 96], when[32];

    (void)offpay_ledger_redact(to, shown, sizeof shown, NULL);
    offpay__unix_time_iso(now, when);
    snprintf(out, OFFPAY__SEAL_REASON_MAX + 1, SEAL_HEAD "%s" SEAL_MID "%s",
             shown, when);
}

int offpay__seal_into(const char *reason, char *into, size_t cap, char *at,
                      size_t at_cap)
{
    const char *mid;
    size_t      n;

    if (cap > 0)
        into[0] = '\0';
    if (at_cap > 0)
        at[0] = '\0';
    if (reason == NULL || strncmp(reason, SEAL_HEAD, strlen(SEAL_HEAD)) != 0 ||
        (mid = strstr(reason, SEAL_MID)) == NULL)
        return -1;
    n = (size_t)(mid - reason) - strlen(SEAL_HEAD);
    if (n == 0 || n >= cap || strlen(mid + strlen(SEAL_MID)) >= at_cap ||
        mid[strlen(SEAL_MID)] == '\0')
        return -1;
    memcpy(into, reason + strlen(SEAL_HEAD), n);
    into[n] = '\0';
    snprintf(at, at_cap, "%s", mid + strlen(SEAL_MID));
    return 0;
}

/* offpay__ledger_copy (unseal 0) and offpay__ledger_unseal_same
 * (unseal 1): the source read in one transaction, the target compared
 * (or first filled), then the seal put on the file or taken off it in
 * that same transaction. */
static offpay_err copy_run(const char *from, const char *to, uint32_t now,
                           int unseal, offpay__copy_report *r)
{
    char                     reason[OFFPAY__SEAL_REASON_MAX + 1];
    offpay__store           *fs = NULL, *ts = NULL;
    const offpay__store_ops *fo = NULL, *to_ops = NULL;
    offpay_err               rc;
    int                      no_ledger = 0; /* unseal: none at `to` */

    if (r == NULL)
        return OFFPAY_EINVAL;
    memset(r, 0, sizeof *r);
    r->want = (unsigned)offpay__n_migrations;
    if (from == NULL || to == NULL ||
        offpay_ledger_backend_of(from) != OFFPAY_LEDGER_SQLITE ||
        offpay_ledger_backend_of(to) != OFFPAY_LEDGER_POSTGRES)
        return OFFPAY_EINVAL;
    rc = offpay_ledger_exists(from);
    if (rc == OFFPAY_OK)
        rc = offpay__store_sqlite_version(from, &r->schema);
    if (rc != OFFPAY_OK)
        return rc;
    if (r->schema != r->want)
        return OFFPAY_EVERSION;
    rc = offpay__store_postgres_exists(to);
    if (rc == OFFPAY_OK)
        rc = offpay__store_postgres_version(to, &r->target_schema);
    else if (rc == OFFPAY_ENOENT && unseal) {
        no_ledger = 1; /* refused once the seal is read (what it names) */
        rc = OFFPAY_OK;
    } else if (rc == OFFPAY_ENOENT)
        rc = OFFPAY_OK;
    if (rc != OFFPAY_OK)
        return rc;
    if (r->target_schema != 0 && r->target_schema != r->want)
        return OFFPAY_EVERSION;
    rc = offpay__store_sqlite_open(from, &fs, &fo);
    if (rc != OFFPAY_OK)
        goto out;
    /* one moment of the source: everything below reads in this one
     * transaction, which the seal then turns into a write */
    rc = fo->begin_read(fs);
    if (rc != OFFPAY_OK)
        goto out;
    {
        const char *col[1] = {"reason"};

        rc = fo->copy_rows(fs, SEAL_TABLE, col, 1, seal_reason, r);
    }
    if (rc == OFFPAY_OK && !unseal && r->sealed[0] != '\0')
        rc = OFFPAY_ELEDGER_SEALED; /* copied before: never twice */
    if (rc == OFFPAY_OK && unseal && r->sealed[0] == '\0')
        rc = OFFPAY_ENOTFOUND; /* nothing to take off */
    if (rc == OFFPAY_OK && no_ledger) {
        snprintf(r->differ, sizeof r->differ,
                 "it holds no ledger: not the database the file was copied "
                 "into?");
        rc = OFFPAY_EEXISTS; /* nothing made there */
    }
    if (rc == OFFPAY_OK)
        rc = offpay__store_postgres_open(to, &ts, &to_ops); /* the schema */
    r->created = rc == OFFPAY_OK && r->target_schema == 0;
    if (rc == OFFPAY_OK)
        rc = to_ops->begin(ts);
    if (rc == OFFPAY_OK) {
        rc = copy_in_tx(fs, fo, ts, to_ops, unseal, r);
        if (rc == OFFPAY_ERETRY) /* a conflict: another writer there */
            rc = OFFPAY_ESTORE;
#ifdef OFFPAY_TEST_HOOKS
        /* held between the copy's proof and the seal (a write to the
         * file meanwhile makes the seal fail) */
        if (rc == OFFPAY_OK)
            offpay__test_delay_ms("OFFPAY_TEST_COPY_SEAL_DELAY_MS");
#endif
        /* the seal first (or its removal): it fails if anything was
         * committed to the file since the copy's read began, and then
         * nothing is committed there either */
        if (rc == OFFPAY_OK) {
            if (!unseal)
                seal_says(to, now, reason);
            rc = fo->seal(fs, now, unseal ? NULL : reason);
            if (rc == OFFPAY_ERETRY)
                snprintf(r->differ, sizeof r->differ,
                         "the file was written while it was %s (by an "
                         "offpayd or another offpay command running on it)",
                         unseal ? "compared" : "copied");
            else if (rc == OFFPAY_EBUSY)
                snprintf(r->differ, sizeof r->differ,
                         "another process held the file's write lock "
                         "through the busy wait (an offpayd or another "
                         "offpay command running on it)");
        }
        if (rc == OFFPAY_OK && !unseal) {
            rc = to_ops->commit(ts);
            /* a COMMIT that failed (a connection lost with it) may have
             * committed: the copy run again finds out */
            r->commit_unknown = rc != OFFPAY_OK;
        }
        if (rc != OFFPAY_OK || unseal)
            to_ops->rollback(ts);
    }
    if (rc != OFFPAY_OK) {
        fo->rollback(fs); /* the seal as it was */
        goto out;
    }
    /* the copy is committed: the file's seal now (a failure here leaves
     * both ledgers writable, said in r->unsealed; the copy run again finds
     * the copy the same and seals the file) */
    r->unsealed = fo->commit(fs);
    if (r->unsealed != OFFPAY_OK)
        fo->rollback(fs);
    else if (!unseal)
        snprintf(r->sealed, sizeof r->sealed, "%s", reason);
out:
    if (ts != NULL)
        to_ops->close(ts);
    if (fs != NULL)
        fo->close(fs);
    return rc;
}

offpay_err offpay__ledger_copy(const char *from, const char *to, uint32_t now,
                               offpay__copy_report *r)
{
    return copy_run(from, to, now, 0, r);
}

offpay_err offpay__ledger_unseal_same(const char *from, const char *to,
                                      offpay__copy_report *r)
{
    offpay_err rc = copy_run(from, to, 0, 1, r);

    /* the seal's removal is the one write: its commit failing is the
     * command's failure */
    return rc == OFFPAY_OK ? r->unsealed : rc;
}

offpay_err offpay__ledger_unseal_forced(const char *path, char *reason,
                                        size_t cap)
{
    offpay_err rc;

    if (path == NULL || reason == NULL || cap == 0 ||
        offpay_ledger_backend_of(path) != OFFPAY_LEDGER_SQLITE)
        return OFFPAY_EINVAL;
    reason[0] = '\0';
    rc = offpay_ledger_exists(path);
    return rc == OFFPAY_OK ? offpay__store_sqlite_unseal(path, reason, cap)
                           : rc;
}
