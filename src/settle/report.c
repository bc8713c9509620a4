/*
 * report.c — the settlement report (GET /v1/admin/report, `offpay admin
 * report`): for a period, each merchant's figures side by side, and their
 * totals per currency, so that an operator reconciles a day against the
 * bank without a statement per merchant. Each merchant's row is read as
 * its statement is (offpay_ledger_statement_with: the lines uploaded in
 * the period, and the account's movements by their own time, in one read
 * a shard), and its refusals (offpay_ledger_refusals: a revoked
 * terminal's, a credential the ledger did not issue) counted among its
 * payments, so a row and the merchant's
 * statement of the same period always agree (its payments, refused and
 * charged are the statement's lines plus its refused); the JSON is
 * rendered here for both (render.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/testhook.h"
#include "offpay/core.h"
#include "settle/render.h"

/* a + b into *sum; non-zero on overflow (nothing written then) */
static int add(int64_t *sum, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(*sum, b, &r))
        return 1;
    *sum = r;
    return 0;
}

struct row_ctx {
    offpay__report_row *row;
    int                 overflow;
};

static int line(const offpay_statement_line *x, void *p)
{
    struct row_ctx     *c = p;
    offpay__report_row *r = c->row;
    int64_t             owed = offpay__line_owed(x);

    r->payments++;
    if (x->outcome == OFFPAY_SETTLE_REJECTED)
        r->rejected++;
    if (x->late) {
        r->late++;
        c->overflow |= add(&r->late_paid, x->paid);
    }
    c->overflow |=
        add(&r->charged, x->charged) | add(&r->paid, x->paid) |
        add(&r->covered, x->covered) | add(&r->refunded, x->refunded) |
        add(&r->paid_later, x->paid_later) | add(&r->owed, owed) |
        /* what is left of the charge: no one pays it (offpay__line_owed) */
        add(&r->unpaid, x->charged - x->paid - x->paid_later - owed);
    return c->overflow;
}

/* A refused payment (offpay_ledger_refusals: a revoked terminal's, a
 * credential the ledger did not issue): a payment of the period, refused,
 * charged by the terminal and paid nothing. */
static int refused(const offpay_refusal *f, void *p)
{
    struct row_ctx     *c = p;
    offpay__report_row *r = c->row;

    r->payments++;
    r->rejected++;
    c->overflow |= add(&r->charged, f->charged) | add(&r->unpaid, f->charged);
    return c->overflow;
}

offpay_err offpay__report_merchant(offpay_ledger              *l,
                                   const offpay_merchant_info *m, uint32_t from,
                                   uint32_t to, offpay__report_row *row)
{
    struct row_ctx c = {row, 0};
    offpay_err     rc;

    if (l == NULL || m == NULL || row == NULL || from > to)
        return OFFPAY_EINVAL;
    memset(row, 0, sizeof *row);
    row->merchant = m->id;
    memcpy(row->name, m->name, sizeof row->name);
    row->name[sizeof row->name - 1] = '\0';
    row->currency = m->currency;
    rc = offpay_ledger_statement_with(l, m->id, from, to, line, &c, &row->acct);
    if (rc == OFFPAY_OK && !c.overflow)
        rc = offpay_ledger_refusals(l, m->id, from, to, refused, &c);
    if (c.overflow)
        return OFFPAY_EOVERFLOW;
    return rc;
}

/* The figures a row and a currency's total both carry, in one order. */
#define REPORT_SUMS(X)                                                         \
    X(charged)                                                                 \
    X(paid) X(covered) X(late_paid) X(owed) X(paid_later) X(refunded) X(unpaid)

offpay_err offpay__report_total_add(offpay__report_total *t, size_t *n,
                                    size_t max, const offpay__report_row *r)
{
    const offpay_statement_account *a = &r->acct;
    offpay__report_total           *x = NULL;
    int                             over = 0;

    for (size_t i = 0; i < *n && x == NULL; i++)
        if (t[i].currency == r->currency)
            x = &t[i];
    if (x == NULL) {
        if (*n == max)
            return OFFPAY_ENOMEM;
        x = &t[(*n)++];
        memset(x, 0, sizeof *x);
        x->currency = r->currency;
    }
    x->merchants++;
    x->payments += r->payments;
    x->rejected += r->rejected;
    x->late += r->late;
#define ADD(f) over |= add(&x->f, r->f);
    REPORT_SUMS(ADD)
#undef ADD
    over |= add(&x->opening_balance, a->opening_balance) |
            add(&x->closing_balance, a->closing_balance) |
            add(&x->settled, a->settled) | add(&x->refunds, a->refunds) |
            add(&x->deposits, a->deposits) |
            add(&x->withdrawals, a->withdrawals) | add(&x->other, a->other);
    return over ? OFFPAY_EOVERFLOW : OFFPAY_OK;
}

/* The figures of a row or a total, in the currency's amounts. */
static void sums_json(json_t *j, uint16_t cur, uint64_t payments,
                      uint64_t rejected, uint64_t late, const int64_t *v)
{
    static const char *const names[] = {
#define NAME(f) #f,
        REPORT_SUMS(NAME)
#undef NAME
    };

    json_object_set_new(j, "payments", json_integer((json_int_t)payments));
    json_object_set_new(j, "rejected", json_integer((json_int_t)rejected));
    json_object_set_new(j, "late", json_integer((json_int_t)late));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_object_set_new(j, names[i], offpay__json_amount(v[i], cur));
}

/* The account's side: opening, the movements by kind, closing. */
static void account_json(json_t *j, uint16_t cur, int64_t opening,
                         int64_t settled, int64_t refunds, int64_t deposits,
                         int64_t withdrawals, int64_t other, int64_t closing)
{
    json_object_set_new(j, "opening_balance",
                        offpay__json_amount(opening, cur));
    json_object_set_new(j, "movement_sums",
                        json_pack("{s:o, s:o, s:o, s:o, s:o}", "settled",
                                  offpay__json_amount(settled, cur), "refunds",
                                  offpay__json_amount(refunds, cur), "deposits",
                                  offpay__json_amount(deposits, cur),
                                  "withdrawals",
                                  offpay__json_amount(withdrawals, cur),
                                  "other", offpay__json_amount(other, cur)));
    json_object_set_new(j, "closing_balance",
                        offpay__json_amount(closing, cur));
}

json_t *offpay__report_row_json(const offpay__report_row *r)
{
    const offpay_statement_account *a = &r->acct;
    const char                     *alpha = offpay_currency_alpha(r->currency);
    int64_t                         v[] = {
#define VAL(f) r->f,
        REPORT_SUMS(VAL)
#undef VAL
    };
    json_t *j = json_pack("{s:o, s:s, s:s, s:o}", "merchant",
                          offpay__json_id(r->merchant), "name", r->name,
                          "currency", alpha != NULL ? alpha : "", "account",
                          offpay__json_id(a->account));

    if (j == NULL)
        return NULL;
    sums_json(j, r->currency, r->payments, r->rejected, r->late, v);
    account_json(j, r->currency, a->opening_balance, a->settled, a->refunds,
                 a->deposits, a->withdrawals, a->other, a->closing_balance);
    return j;
}

json_t *offpay__report_total_json(const offpay__report_total *t)
{
    const char *alpha = offpay_currency_alpha(t->currency);
    int64_t     v[] = {
#define VAL(f) t->f,
        REPORT_SUMS(VAL)
#undef VAL
    };
    json_t *j = json_pack("{s:s, s:I}", "currency", alpha != NULL ? alpha : "",
                          "merchants", (json_int_t)t->merchants);

    if (j == NULL)
        return NULL;
    sums_json(j, t->currency, t->payments, t->rejected, t->late, v);
    account_json(j, t->currency, t->opening_balance, t->settled, t->refunds,
                 t->deposits, t->withdrawals, t->other, t->closing_balance);
    return j;
}

offpay_err offpay__report_walk(offpay_ledger *l, uint32_t from, uint32_t to,
                               uint64_t after, uint64_t limit,
                               offpay_err (*each)(const offpay__report_row *r,
                                                  void *ctx),
                               void *ctx, uint64_t *last, int *more)
{
    offpay_merchant_info *v = NULL;
    offpay__report_row    row;
    uint64_t              listed = 0;
    size_t                n = 0, want;
    offpay_err            rc = OFFPAY_OK;

    *last = 0;
    *more = 0;
    if (l == NULL || each == NULL || from > to || limit == 0)
        return OFFPAY_EINVAL;
#ifdef OFFPAY_TEST_HOOKS
    {
        /* Test hook: OFFPAY_TEST_REPORT_FAIL_AT=N fails the process's N-th
         * walk with OFFPAY_ESTORE (a day of `admin report --by-day` whose
         * read fails: tests/e2e/offpayd_report.sh) */
        static long walks;

        if (offpay__test_number("OFFPAY_TEST_REPORT_FAIL_AT") == ++walks)
            return OFFPAY_ESTORE;
    }
#endif
    do {
        /* one more than the page needs: is there a next page? */
        want = limit - listed < OFFPAY_LEDGER_MERCHANTS_MAX - 1
                   ? (size_t)(limit - listed) + 1
                   : OFFPAY_LEDGER_MERCHANTS_MAX;
        free(v);
        v = NULL;
        rc = offpay_ledger_merchants(l, after, want, &v, &n);
        for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
            if (listed == limit) {
                *more = 1;
                break;
            }
            rc = offpay__report_merchant(l, &v[i], from, to, &row);
            if (rc == OFFPAY_OK)
                rc = each(&row, ctx);
            if (rc == OFFPAY_OK) {
                listed++;
                *last = after = v[i].id;
            }
        }
    } while (rc == OFFPAY_OK && !*more && n == want && listed < limit);
    free(v);
    return rc;
}

struct page_ctx {
    json_t              *rows;
    offpay__report_total totals[OFFPAY__REPORT_CURRENCIES];
    size_t               n_totals;
};

static offpay_err page_row(const offpay__report_row *r, void *p)
{
    struct page_ctx *c = p;
    json_t          *j = offpay__report_row_json(r);
    offpay_err       rc = offpay__report_total_add(c->totals, &c->n_totals,
                                                   OFFPAY__REPORT_CURRENCIES, r);

    if (j == NULL || json_array_append_new(c->rows, j) != 0)
        return OFFPAY_ENOMEM;
    return rc;
}

offpay_err offpay__report_page(offpay_ledger *l, uint32_t from, uint32_t to,
                               uint64_t after, uint64_t limit, uint32_t now,
                               json_t **out)
{
    struct page_ctx *c = calloc(1, sizeof *c);
    json_t          *totals, *j;
    uint64_t         last;
    int              more;
    offpay_err       rc;

    *out = NULL;
    if (c == NULL || (c->rows = json_array()) == NULL) {
        free(c);
        return OFFPAY_ENOMEM;
    }
    rc = offpay__report_walk(l, from, to, after, limit, page_row, c, &last,
                             &more);
    totals = json_array();
    for (size_t i = 0; rc == OFFPAY_OK && totals != NULL && i < c->n_totals;
         i++)
        json_array_append_new(totals, offpay__report_total_json(&c->totals[i]));
    j = rc == OFFPAY_OK && totals != NULL
            ? json_pack("{s:I, s:I, s:b, s:I, s:O, s:o, s:b, s:O}", "from",
                        (json_int_t)from, "to", (json_int_t)to, "final",
                        offpay__period_final(to, now), "count",
                        (json_int_t)json_array_size(c->rows), "merchants",
                        c->rows, "next_after",
                        more ? offpay__json_id(last) : json_null(), "complete",
                        after == 0 && !more, "totals", totals)
            : NULL;
    if (rc == OFFPAY_OK && j == NULL)
        rc = OFFPAY_ENOMEM;
    json_decref(totals);
    json_decref(c->rows);
    free(c);
    *out = j;
    return rc;
}
