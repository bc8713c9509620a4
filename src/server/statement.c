/*
 * statement.c — GET /v1/admin/merchants/ID/statement?from=T&to=T
 * [&terminal=N][&after=P]: every presentment at the merchant's terminals
 * (or at terminal N) uploaded in [from, to] (default: everything until
 * now), with totals (paid, covered, refunded) and the merchant account's
 * balance. At most STATEMENT_LINES lines are listed, those with an id
 * above P; the totals cover every line of the range, and next_after pages
 * on. Then the account's movements in [from, to] by each transfer's own
 * time: the balances at from and at to, the sums by kind between them
 * (whatever terminal= says: they are the account's), and its transfers
 * other than payments (refunds, deposits, withdrawals), at most
 * STATEMENT_MOVES of them, the rest in the account's history.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define STATEMENT_LINES 10000
#define STATEMENT_MOVES 1000

typedef struct walk {
    offpay_statement_line *lines;
    size_t                 n;
    uint64_t               count, beyond;
    int64_t                paid, covered, refunded;
    uint64_t               terminal; /* 0: every terminal */
    uint64_t               after;    /* lines with a presentment id above */
    offpay_account_transfer *moves;    /* the period's movements, in order */
    size_t                   n_moves;
    uint64_t                 moves_count;
} walk;

static int on_move(const struct offpay_account_transfer *t, void *ctx)
{
    walk *w = ctx;

    w->moves_count++;
    if (w->n_moves < STATEMENT_MOVES)
        w->moves[w->n_moves++] = *t;
    return 0;
}

static int on_line(const offpay_statement_line *line, void *ctx)
{
    walk *w = ctx;

    if (w->terminal != 0 && line->terminal_id != w->terminal)
        return 0;
    w->count++;
    w->paid += line->paid;
    w->covered += line->covered;
    w->refunded += line->refunded;
    if (line->presentment <= w->after)
        return 0;
    if (w->n < STATEMENT_LINES)
        w->lines[w->n++] = *line;
    else
        w->beyond++;
    return 0;
}

static json_t *line_json(const offpay_statement_line *x, uint16_t currency)
{
    json_t *j =
        json_pack("{s:o, s:I, s:o, s:I, s:o, s:o, s:o, s:s, s:s?, s:I, s:I}",
                  "presentment", srv_json_id(x->presentment), "terminal",
                  (json_int_t)x->terminal_id, "serial", srv_json_id(x->serial),
                  "counter", (json_int_t)x->counter, "charged",
                  srv_json_amount(x->charged, currency), "paid",
                  srv_json_amount(x->paid, currency), "covered",
                  srv_json_amount(x->covered, currency), "outcome",
                  srv_outcome_name(x->outcome), "reason",
                  x->reason == OFFPAY_OK ? NULL : offpay_errname(x->reason),
                  "accepted_at", (json_int_t)x->accepted_at, "uploaded_at",
                  (json_int_t)x->uploaded_at);

    /* given back of paid so far (settlement.md §13), whenever */
    if (j != NULL)
        json_object_set_new(j, "refunded",
                            srv_json_amount(x->refunded, currency));
    return j;
}

/* The account's movements in [from, to] by each transfer's own time:
 * opening_balance + the movement sums = closing_balance. */
static void period_json(json_t *j, const offpay_statement_account *a,
                        const walk *w)
{
    json_t *moves = json_array();

    json_object_set_new(j, "opening_balance",
                        srv_json_amount(a->opening_balance, a->currency));
    json_object_set_new(
        j, "movement_sums",
        json_pack("{s:o, s:o, s:o, s:o, s:o}", "settled",
                  srv_json_amount(a->settled, a->currency), "refunds",
                  srv_json_amount(a->refunds, a->currency), "deposits",
                  srv_json_amount(a->deposits, a->currency), "withdrawals",
                  srv_json_amount(a->withdrawals, a->currency), "other",
                  srv_json_amount(a->other, a->currency)));
    json_object_set_new(j, "closing_balance",
                        srv_json_amount(a->closing_balance, a->currency));
    for (size_t i = 0; moves != NULL && i < w->n_moves; i++)
        json_array_append_new(moves,
                              srv_json_transfer(&w->moves[i], a->currency));
    json_object_set_new(j, "movements", moves);
    json_object_set_new(j, "movements_count",
                        json_integer((json_int_t)w->moves_count));
    json_object_set_new(j, "movements_truncated",
                        json_boolean(w->moves_count > w->n_moves));
}

void srv_statement(srv_req *r, srv_reply *out)
{
    const char                 *qf = r->query(r->conn, "from");
    const char                 *qt = r->query(r->conn, "to");
    const char                 *qm = r->query(r->conn, "terminal");
    const char                 *qa = r->query(r->conn, "after");
    uint64_t                    merchant, from = 0, to = r->now;
    walk                        w;
    offpay_statement_account    acct;
    json_t                     *lines = NULL, *j;
    offpay_err                  rc;

    memset(&w, 0, sizeof w);
    if (srv_parse_id(r->cap[0], SRV_ID_MAX, &merchant) != 0 ||
        (qf != NULL && srv_parse_u64(qf, UINT32_MAX, &from) != 0) ||
        (qt != NULL && srv_parse_u64(qt, UINT32_MAX, &to) != 0) || from > to) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "merchant: a decimal id from 1; from <= to: unix times");
        return;
    }
    if ((qm != NULL && (srv_parse_u64(qm, UINT32_MAX, &w.terminal) != 0 ||
                        w.terminal == 0)) ||
        (qa != NULL && srv_parse_u64(qa, SRV_ID_MAX, &w.after) != 0)) {
        srv_fail(out, SRV_E_BAD_PARAMETER,
                 "terminal: a terminal id from 1; after: a presentment id");
        return;
    }
    w.lines = malloc(STATEMENT_LINES * sizeof *w.lines);
    w.moves = malloc(STATEMENT_MOVES * sizeof *w.moves);
    if (w.lines == NULL || w.moves == NULL) {
        srv_fail(out, SRV_E_INTERNAL, "out of memory");
        return;
    }
    /* the lines and the balance in one read: it holds what they paid */
    rc = offpay_ledger_statement_period(r->l, merchant, (uint32_t)from,
                                        (uint32_t)to, on_line, on_move, &w,
                                        &acct);
    if (rc != OFFPAY_OK) {
        srv_fail_engine(out, rc, "statement");
        goto out;
    }
    lines = json_array();
    for (size_t i = 0; lines != NULL && i < w.n; i++)
        json_array_append_new(lines, line_json(&w.lines[i], acct.currency));
    j = json_pack("{s:o, s:I, s:I, s:I, s:b, s:o}", "merchant",
                  srv_json_id(merchant), "from", (json_int_t)from, "to",
                  (json_int_t)to, "count", (json_int_t)w.count, "truncated",
                  w.beyond > 0, "lines", lines);
    if (j != NULL) { /* the totals and balance even with no line */
        json_object_set_new(j, "terminal",
                            w.terminal != 0 ? json_integer((json_int_t)w.terminal)
                                            : json_null());
        /* the page after this one: ?after=next_after */
        json_object_set_new(j, "next_after",
                            w.beyond > 0
                                ? srv_json_id(w.lines[w.n - 1].presentment)
                                : json_null());
        json_object_set_new(j, "account", srv_json_id(acct.account));
        json_object_set_new(j, "paid", srv_json_amount(w.paid, acct.currency));
        json_object_set_new(j, "covered",
                            srv_json_amount(w.covered, acct.currency));
        json_object_set_new(j, "refunded",
                            srv_json_amount(w.refunded, acct.currency));
        json_object_set_new(j, "balance",
                            srv_json_amount(acct.balance, acct.currency));
        period_json(j, &acct, &w);
    }
    srv_ok(out, j);
out:
    free(w.lines);
    free(w.moves);
}
